#include "bench/codec_bench.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>

#include "bench/timer.hpp"
#include "codec/codec.hpp"
#include "codec/model_search.hpp"
#include "common/device.hpp"
#include "cosae/error.hpp"

namespace cosae::bench {

namespace {

struct BenchSize {
  const char* name;
  int width, height;
};
const BenchSize kSizes[] = {{"kodak", 768, 512}, {"4k", 3840, 2160}};

}  // namespace

Image synthetic_photo(int width, int height) {
  Image image{width, height, 3, 8, {}};
  image.samples.resize(image.sample_count());
  uint32_t noise = 12345;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      noise = noise * 1664525u + 1013904223u;
      const double t = 20.0 * ((noise >> 24) / 255.0 - 0.5);
      const double edge = ((x / 97 + y / 61) % 2) ? 40.0 : -40.0;
      for (int c = 0; c < 3; ++c) {
        const double v = 128 + 60 * std::sin(0.011 * x * (c + 1) + 0.017 * y) + edge + t;
        image.samples[(static_cast<std::size_t>(y) * width + x) * 3 + c] =
            static_cast<uint16_t>(std::min(255.0, std::max(0.0, v)));
      }
    }
  return image;
}

namespace {

codec::CodecModel open_model(const CodecBenchOptions& o, std::string& name) {
  std::string path = o.model_path;
  if (path.empty()) {
    try {
      path = codec::find_default_model();
    } catch (const Error&) {
      // No trained model: an untrained one of the same architecture runs at the same speed.
      char tmp[] = "/tmp/cosae-bench-XXXXXX";
      const int fd = ::mkstemp(tmp);
      COSAE_CHECK(fd >= 0, io, "bench: cannot create a temporary model file");
      ::close(fd);
      torch::manual_seed(0);
      model::CosAE net(model::load_config(o.config));
      codec::save_codec_model(tmp, *net);
      auto m = codec::load_codec_model(tmp, o.device);
      ::unlink(tmp);
      name = "untrained " + o.config;
      return m;
    }
  }
  auto m = codec::load_codec_model(path, o.device);
  name = m.id;
  return m;
}

}  // namespace

#ifndef COSAE_WITH_OPENCV
bool time_jpeg(int, int, const std::vector<uint8_t>&, int, int, int, CodecBenchRow&) { return false; }
#endif

CodecBenchResult run_codec_bench(const CodecBenchOptions& o) {
  CodecBenchResult result;
  auto model = open_model(o, result.model);
  result.quality = model.net->config.quality_or_default(o.quality);
  for (const auto& size_name : o.sizes) {
    const BenchSize* size = nullptr;
    for (const auto& s : kSizes)
      if (size_name == s.name) size = &s;
    COSAE_CHECK(size, usage, "bench codec: unknown size '", size_name, "' (kodak, 4k)");
    const Image image = synthetic_photo(size->width, size->height);
    // The default settings first (auto coding: the conditional coding where the model has one,
    // else every factorised mode with the smallest stream kept); on a GPU
    // also float32 networks; then each coding mode alone.
    struct Variant {
      const char* codec;
      bool half;
      codec::Coding coding;
      int detail = 0;
    };
    std::vector<Variant> variants = {{"cosae", model.half_precision, codec::Coding::automatic}};
    if (model.half_precision) variants.push_back({"cosae-fp32", false, codec::Coding::automatic});
    // With a conditional model the default is its coding: the factorised codings beside it.
    if (model.conditional) variants.push_back({"cosae-factorised", model.half_precision, codec::Coding::smaller});
    variants.push_back({"cosae-cart", model.half_precision, codec::Coding::cartesian});
    variants.push_back({"cosae-polar", model.half_precision, codec::Coding::polar});
    variants.push_back({"cosae-adaptive", model.half_precision, codec::Coding::adaptive});
    variants.push_back({"cosae-cell-gains", model.half_precision, codec::Coding::cell_gains});
    if (o.detail != 0) variants.push_back({"cosae-detail", model.half_precision, codec::Coding::automatic, o.detail});
    const bool default_half = model.half_precision;
    for (const auto& variant : variants) {
      model.half_precision = variant.half;
      CodecBenchRow row{size->name, variant.codec, size->width, size->height};
      std::vector<double> enc, dec, enc_entropy, dec_entropy, enc_network, dec_network, enc_image, dec_image;
      std::vector<uint8_t> bytes;
      reset_peak_memory(o.device);
      codec::EncodeOptions encode_options;
      encode_options.quality = result.quality;
      encode_options.coding = variant.coding;
      encode_options.detail_level = variant.detail;
      if (variant.detail != 0 && o.quality == 0) encode_options.quality = codec::default_quality(model.net->config, variant.detail);
      for (int i = 0; i < o.warmup + o.repeats; ++i) {
        codec::CodecTimings te, td;
        auto t0 = std::chrono::steady_clock::now();
        bytes = codec::encode(image, model, encode_options, &te);
        auto t1 = std::chrono::steady_clock::now();
        const auto decoded = codec::decode(bytes.data(), bytes.size(), model, &td);
        auto t2 = std::chrono::steady_clock::now();
        if (i < o.warmup) continue;
        enc.push_back(std::chrono::duration<double>(t1 - t0).count());
        dec.push_back(std::chrono::duration<double>(t2 - t1).count());
        enc_entropy.push_back(te.entropy_s / enc.back());
        dec_entropy.push_back(td.entropy_s / dec.back());
        enc_network.push_back(te.network_s / enc.back());
        dec_network.push_back(td.network_s / dec.back());
        enc_image.push_back(te.image_s / enc.back());
        dec_image.push_back(td.image_s / dec.back());
      }
      row.bytes = bytes.size();
      row.encode_s = median(enc);
      row.decode_s = median(dec);
      row.encode_entropy_share = median(enc_entropy);
      row.decode_entropy_share = median(dec_entropy);
      row.encode_network_share = median(enc_network);
      row.decode_network_share = median(dec_network);
      row.encode_image_share = median(enc_image);
      row.decode_image_share = median(dec_image);
      row.peak_mb =
          o.device.is_cuda() ? static_cast<double>(peak_memory_bytes(o.device)) / 1e6 : process_peak_rss_mb();
      result.rows.push_back(row);
    }
    model.half_precision = default_half;
    std::vector<uint8_t> rgb(image.samples.begin(), image.samples.end());
    CodecBenchRow jpeg{size->name, "jpeg-q90", size->width, size->height};
    if (time_jpeg(size->width, size->height, rgb, 90, o.warmup, o.repeats, jpeg)) result.rows.push_back(jpeg);
  }
  return result;
}

nlohmann::json to_json(const CodecBenchResult& r, const CodecBenchOptions& o) {
  nlohmann::json out{{"benchmark", "codec"}, {"device", describe_device(o.device)}, {"model", r.model},
                     {"quality", r.quality}, {"repeats", o.repeats}, {"rows", nlohmann::json::array()}};
  for (const auto& row : r.rows) {
    const double mp = row.width * static_cast<double>(row.height) / 1e6;
    out["rows"].push_back({{"size", row.size}, {"codec", row.codec}, {"width", row.width}, {"height", row.height},
                           {"bytes", row.bytes}, {"bpp", row.bpp()}, {"encode_s", row.encode_s},
                           {"decode_s", row.decode_s}, {"encode_mp_s", mp / row.encode_s},
                           {"decode_mp_s", mp / row.decode_s}, {"encode_entropy_share", row.encode_entropy_share},
                           {"decode_entropy_share", row.decode_entropy_share},
                           {"encode_network_share", row.encode_network_share},
                           {"decode_network_share", row.decode_network_share},
                           {"encode_image_share", row.encode_image_share},
                           {"decode_image_share", row.decode_image_share}, {"peak_mb", row.peak_mb}});
  }
  return out;
}

std::string format_table(const CodecBenchResult& r) {
  std::string out = "model: " + r.model + ", quality " + std::to_string(r.quality) + "\n";
  char line[256];
  std::snprintf(line, sizeof line, "%-6s %-16s %10s %8s %9s %9s %9s %9s  %-17s  %-17s %9s\n", "size", "codec", "WxH",
                "bpp", "enc s", "dec s", "enc MP/s", "dec MP/s", "enc net/rANS/img", "dec net/rANS/img", "peak MB");
  out += line;
  auto shares = [](double network, double entropy, double image) {
    char text[32];
    std::snprintf(text, sizeof text, "%3.0f%% /%3.0f%% /%3.0f%%", 100 * network, 100 * entropy, 100 * image);
    return std::string(text);
  };
  for (const auto& row : r.rows) {
    const double mp = row.width * static_cast<double>(row.height) / 1e6;
    const std::string wh = std::to_string(row.width) + "x" + std::to_string(row.height);
    std::snprintf(line, sizeof line, "%-6s %-16s %10s %8.4f %9.3f %9.3f %9.2f %9.2f  %-17s  %-17s %9.0f\n",
                  row.size.c_str(), row.codec.c_str(), wh.c_str(), row.bpp(), row.encode_s, row.decode_s,
                  mp / row.encode_s, mp / row.decode_s,
                  shares(row.encode_network_share, row.encode_entropy_share, row.encode_image_share).c_str(),
                  shares(row.decode_network_share, row.decode_entropy_share, row.decode_image_share).c_str(),
                  row.peak_mb);
    out += line;
  }
  return out;
}

}  // namespace cosae::bench
