// libFuzzer target for the whole decoder: rANS decoding of arbitrary payloads with a real
// model's tables, dequantisation, the network and the output image. The input's first bytes
// choose the header fields (size up to 200x200, channels, bit depth, quality, coding mode, the
// stream count, a detail layer); the rest is the payload. The model has a conditional entropy
// model too, so the conditional coding (bitstream version 3) is fuzzed with the others. The header names the loaded model, so inputs get
// past the identity check into the decoder proper. Every input must decode to an image of
// the header's size or throw cosae::Error (bad_input); never crash, hang or trip a sanitizer.
// (fuzz_bitstream covers the container's own parsing of arbitrary bytes.)
//
// LibTorch is built with GCC and not instrumented, so only the code the stream drives is:
// build the bitstream, entropy and codec sources with clang and link the rest from libcosae.a
// (a CPU build in build/):
//   T=/usr/include/torch/csrc/api/include; F="-std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all"
//   clang++ $F -Iinclude -Isrc -Ibuild/generated -isystem $T tests/fuzz/fuzz_codec.cpp src/codec/*.cpp \
//     src/entropy/*.cpp src/bitstream/*.cpp build/libcosae.a -ltorch -ltorch_cpu -lc10 -lpng -lgloo \
//     $(pkg-config --libs opencv4) -o /tmp/fuzz_codec
//   mkdir -p /tmp/codec_corpus && head -c 64 /dev/urandom > /tmp/codec_corpus/seed
//   OMP_NUM_THREADS=1 /tmp/fuzz_codec -runs=1000000 -rss_limit_mb=4096 /tmp/codec_corpus
#include <cstddef>
#include <cstdio>
#include <cstdint>
#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include <ATen/Parallel.h>
#include <unistd.h>

#include "codec/codec.hpp"
#include "codec/conditional.hpp"
#include "codec/payload.hpp"
#include "cosae/bitstream.hpp"
#include "cosae/error.hpp"
#include "entropy/rans.hpp"
#include "model/config.hpp"

namespace {

cosae::codec::CodecModel* g_model = nullptr;
// How far inputs get, printed every 10,000 inputs: decoded, refused.
std::size_t g_decoded = 0, g_refused = 0;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  at::set_num_threads(1);
  torch::manual_seed(1);
  auto config = cosae::model::load_config("tiny");
  config.conditional.hyper_channels = 4;  // 2 slices of 4 frequencies, hyper-latent at stride 2
  config.conditional.slices = 2;
  config.conditional.features = 8;
  config.conditional.hidden = 6;
  cosae::model::CosAE net(config);
  const std::string path = "/tmp/cosae-fuzz-codec-" + std::to_string(::getpid()) + ".safetensors";
  cosae::codec::save_codec_model(path, *net);
  g_model = new cosae::codec::CodecModel(cosae::codec::load_codec_model(path, torch::kCPU));
  ::unlink(path.c_str());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 7) return 0;
  cosae::BitstreamHeader header;
  header.model_id = g_model->id;
  header.model_sha256 = g_model->file_sha256;
  header.width = 1 + data[0] % 200;
  header.height = 1 + data[1] % 200;
  header.channels = 1 + data[2] % 4;
  header.bit_depth = data[2] & 0x80 ? 16 : 8;
  header.quality = data[3] % 8;  // 0 and 7 are out of the tiny model's range 1..6
  if (header.quality == 0) header.quality = 7;
  header.mode = data[5] & 2   ? (data[5] & 4 ? cosae::CodingMode::cell_gains : cosae::CodingMode::adaptive)
                : data[4] & 1 ? cosae::CodingMode::cartesian
                              : cosae::CodingMode::polar;
  if (data[5] & 16) header.mode = cosae::CodingMode::conditional;
  // 1 to 4 streams (the tiny model's K allows up to its frequency count; 0 and too many are
  // refused), raw bytes split evenly, or real rANS streams below.
  const int stream_count = 1 + ((data[4] >> 1) & 3);
  std::vector<std::vector<uint8_t>> streams(static_cast<std::size_t>(stream_count));
  for (int g = 0; g < stream_count; ++g)
    streams[static_cast<std::size_t>(g)].assign(data + 6 + (size - 6) * g / stream_count,
                                                data + 6 + (size - 6) * (g + 1) / stream_count);
  if (data[5] & 1) {  // real rANS streams of symbols drawn from the payload bytes
    const auto& config = g_model->net->config;
    const int64_t D = config.downsampling, C = config.latent_channels();
    const int64_t cells = ((header.height + D - 1) / D) * ((header.width + D - 1) / D);
    std::vector<float> values(static_cast<std::size_t>(C * cells));
    for (int64_t j = 0; j < C * cells; ++j) {
      const std::size_t at = 6 + static_cast<std::size_t>(j) % (size - 6);
      const int32_t v = static_cast<int8_t>(data[at]);
      const int32_t scale = data[at] & 0x40 ? (data[at] & 0x20 ? 132105 : 257) : 1;  // escapes, up to the limit
      values[static_cast<std::size_t>(j)] = static_cast<float>(
          std::max(-cosae::entropy::kMaxMagnitude, std::min(cosae::entropy::kMaxMagnitude, v * scale)));
    }
    if (header.mode == cosae::CodingMode::conditional) {
      const auto& coder = *g_model->conditional;
      const int64_t h = (header.height + D - 1) / D, w = (header.width + D - 1) / D;
      std::vector<int32_t> z(static_cast<std::size_t>(coder.config.hyper_channels * coder.hyper_rows(h) * coder.hyper_cols(w)));
      for (std::size_t j = 0; j < z.size(); ++j) z[j] = static_cast<int8_t>(data[6 + j % (size - 6)]) / 8;
      // Symbols are the values less a mean of up to +-2048: keep them within the coder's range.
      const float limit = static_cast<float>(cosae::entropy::kMaxMagnitude - cosae::model::kMaxMean16 / cosae::model::kMeanUnits - 1);
      for (auto& v : values) v = std::max(-limit, std::min(limit, v));
      streams = cosae::codec::encode_conditional(coder, values.data(), z.data(), h, w);
    } else {
      const cosae::codec::PayloadShape shape{C / 2, cells};
      const auto& tables =
          header.mode == cosae::CodingMode::polar ? g_model->polar_tables() : g_model->tables;
      streams = cosae::codec::encode_payloads(values.data(), shape, {{header.mode, &tables}},
                                              std::min<int64_t>(stream_count, C / 2))[0];
    }
  }
  if (data[3] & 0x80) {  // a detail layer: one stream per coded channel, the payload bytes again
    header.detail_level = 1 + (data[3] >> 3) % 16 * 3;
    header.detail_streams = header.channels <= 2 ? 1 : (data[5] & 8 ? 2 : 3);  // 2: a wrong count
    for (int t = 0; t < header.detail_streams; ++t)
      streams.emplace_back(data + 6 + (size - 6) * t / header.detail_streams,
                           data + 6 + (size - 6) * (t + 1) / header.detail_streams);
  }
  const auto bytes = cosae::write_bitstream(header, streams);
  try {
    const auto decoded = cosae::codec::decode(bytes.data(), bytes.size(), *g_model);
    const auto& image = decoded.image;
    if (image.width != header.width || image.height != header.height) std::abort();
    if (image.bit_depth != header.bit_depth || image.samples.size() != image.sample_count()) std::abort();
    if (image.channels != (header.channels <= 2 ? 1 : 3)) std::abort();
    for (uint16_t v : image.samples)
      if (v > image.max_value()) std::abort();
    ++g_decoded;
  } catch (const cosae::Error& error) {
    if (error.kind() != cosae::ErrorKind::bad_input) std::abort();
    ++g_refused;
  }
  if ((g_decoded + g_refused) % 10000 == 0)
    std::fprintf(stderr, "fuzz_codec: %zu decoded, %zu refused\n", g_decoded, g_refused);
  return 0;
}
