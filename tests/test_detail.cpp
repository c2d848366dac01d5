// The detail layer (codec/detail.hpp): its transform coder alone, and through the codec with a
// small (untrained) model, whose poor reconstruction leaves the layer plenty to code.
#include <algorithm>
#include <cmath>

#include "catch_compat.hpp"
#include "codec/codec.hpp"
#include "codec/detail.hpp"
#include "cosae/error.hpp"
#include "eval/metrics.hpp"
#include "image_test_util.hpp"
#include "temp_dir.hpp"

using namespace cosae;
using cosae_test::contains;
using cosae_test::expect_error;

namespace {

codec::CodecModel tiny_codec_model(const std::string& dir) {
  torch::manual_seed(1);
  model::CosAE net(model::load_config("tiny"));
  const std::string path = dir + "/tiny.safetensors";
  codec::save_codec_model(path, *net);
  return codec::load_codec_model(path, torch::kCPU);
}

// Smooth gradients, an edge and some texture, like a small photo.
Image photo_like(int width, int height, int channels, int bit_depth, uint32_t seed = 5) {
  Image image = cosae_test::random_image(width, height, channels, bit_depth, seed);
  const double peak = image.max_value();
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < channels; ++c) {
        auto& v = image.samples[(static_cast<std::size_t>(y) * width + x) * channels + c];
        if (image.has_alpha() && c == channels - 1) {
          v = static_cast<uint16_t>(peak);
          continue;
        }
        const double noise = v / peak - 0.5;
        const double smooth = 0.45 + 0.3 * std::sin(0.05 * x + 0.9 * c) * std::cos(0.04 * y) + (x > width / 2 ? 0.15 : 0);
        v = static_cast<uint16_t>(std::clamp(smooth + 0.08 * noise, 0.0, 1.0) * peak + 0.5);
      }
  return image;
}

Image flat(int width, int height, int channels, int bit_depth, uint16_t value) {
  Image image{width, height, channels, bit_depth, {}};
  image.samples.assign(image.sample_count(), value);
  return image;
}

std::vector<ByteSpan> spans_of(const std::vector<std::vector<uint8_t>>& streams) {
  std::vector<ByteSpan> spans;
  for (const auto& s : streams) spans.push_back({s.data(), s.size()});
  return spans;
}

std::size_t total_bytes(const std::vector<std::vector<uint8_t>>& streams) {
  std::size_t n = 0;
  for (const auto& s : streams) n += s.size();
  return n;
}

}  // namespace

TEST_CASE("detail steps halve every four levels", "[detail]") {
  CHECK(codec::detail_step(4) == 512.0);
  CHECK(codec::detail_step(16) == 64.0);
  CHECK(codec::detail_step(40) == 1.0);
  CHECK(codec::detail_step(kMaxDetailLevel) == 0.25);
  CHECK(expect_error([] { codec::detail_step(0); }).kind() == ErrorKind::usage);
  CHECK(expect_error([] { codec::detail_step(kMaxDetailLevel + 1); }).kind() == ErrorKind::usage);
}

TEST_CASE("the detail layer alone: finer levels, more bytes and less error", "[detail]") {
  const Image original = photo_like(77, 45, 3, 8);
  const Image base = flat(77, 45, 3, 8, 128);
  double last_psnr = 0;
  std::size_t last_bytes = 0;
  for (int level : {8, 16, 24, 32, 40}) {
    INFO("level " << level);
    const auto streams = codec::encode_detail(original, base, level);
    CHECK(static_cast<int>(streams.size()) == codec::detail_streams(3));
    Image decoded = base;
    codec::decode_detail(spans_of(streams), level, decoded);
    const double psnr = eval::psnr(original, decoded);
    CHECK(psnr > last_psnr + 2);
    CHECK(total_bytes(streams) > last_bytes);
    last_psnr = psnr;
    last_bytes = total_bytes(streams);
  }
  CHECK(last_psnr > 50);  // a step of one 8-bit level

  // Nothing to code: a few bytes, and the base comes back unchanged.
  const auto none = codec::encode_detail(base, base, 30);
  CHECK(total_bytes(none) <= 3 * 8 + 192 / 8);  // each stream's flush, and a bit for each all-zero plane
  Image same = base;
  codec::decode_detail(spans_of(none), 30, same);
  CHECK(same.samples == base.samples);
}

TEST_CASE("the detail layer codes grey and 16-bit images, and alpha is not its business", "[detail]") {
  struct Shape {
    int w, h, channels, depth;
  };
  for (const Shape s : {Shape{1, 1, 3, 8}, Shape{33, 9, 1, 8}, Shape{20, 31, 2, 16}, Shape{16, 16, 4, 16}}) {
    INFO(s.w << "x" << s.h << " channels " << s.channels << " depth " << s.depth);
    const Image original = photo_like(s.w, s.h, s.channels, s.depth);
    const int coded = s.channels <= 2 ? 1 : 3;
    const Image base = flat(s.w, s.h, coded, s.depth, static_cast<uint16_t>(original.max_value() / 3));
    Image decoded = base;
    codec::decode_detail(spans_of(codec::encode_detail(original, base, 36)), 36, decoded);
    // Level 36 is a step of two 8-bit levels: every sample within a few of them.
    int worst = 0;
    for (int i = 0; i < s.w * s.h; ++i)
      for (int c = 0; c < coded; ++c)
        worst = std::max(worst, std::abs(int(decoded.samples[i * coded + c]) - int(original.samples[i * s.channels + c])));
    CHECK(worst <= 6 * (s.depth == 16 ? 257 : 1));
  }
  const Image original = photo_like(8, 8, 3, 8);
  CHECK(expect_error([&] { codec::encode_detail(original, flat(8, 8, 1, 8, 0), 10); }).kind() == ErrorKind::usage);
  CHECK(expect_error([&] { codec::encode_detail(original, flat(8, 9, 3, 8, 0), 10); }).kind() == ErrorKind::usage);
  CHECK(expect_error([&] { codec::encode_detail(original, flat(8, 8, 3, 16, 0), 10); }).kind() == ErrorKind::usage);
}

TEST_CASE("damaged detail streams are refused", "[detail]") {
  const Image original = photo_like(64, 40, 3, 8);
  const Image base = flat(64, 40, 3, 8, 100);
  const auto streams = codec::encode_detail(original, base, 28);
  REQUIRE(streams.size() == 3);
  const auto& stream = streams[0];
  int refused = 0, tried = 0;
  for (std::size_t cut = 0; cut < stream.size(); cut += std::max<std::size_t>(1, stream.size() / 40)) {
    std::vector<uint8_t> truncated(stream.begin(), stream.begin() + static_cast<std::ptrdiff_t>(cut));
    Image decoded = base;
    ++tried;
    try {
      codec::decode_detail({{truncated.data(), truncated.size()}, {streams[1].data(), streams[1].size()},
                            {streams[2].data(), streams[2].size()}},
                           28, decoded);
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::bad_input);
      ++refused;
    }
  }
  CHECK(refused == tried);
  Image decoded = base;
  CHECK(expect_error([&] { codec::decode_detail({}, 28, decoded); }).kind() == ErrorKind::bad_input);
  const auto all = spans_of(streams);
  const std::vector<ByteSpan> two(all.begin(), all.begin() + 2);
  CHECK(contains(expect_error([&] { codec::decode_detail(two, 28, decoded); }).what(), "2 streams for 3 channels"));
}

TEST_CASE("encode with a detail layer: version 2, finer is better, and the decoder agrees", "[detail][codec]") {
  cosae_test::TemporaryDirectory dir;
  auto m = tiny_codec_model(dir.path);
  const Image image = photo_like(70, 52, 3, 8);
  codec::EncodeOptions options;
  options.quality = 3;
  const auto plain = codec::encode(image, m, options);
  const auto plain_decoded = codec::decode(plain.data(), plain.size(), m);
  CHECK(plain_decoded.header.format_version == 1);
  double last_psnr = eval::psnr(image, plain_decoded.image);
  std::size_t last_size = plain.size();
  for (int level : {12, 24, 36}) {
    INFO("level " << level);
    options.detail_level = level;
    const auto bytes = codec::encode(image, m, options);
    CHECK(bytes == codec::encode(image, m, options));
    const auto decoded = codec::decode(bytes.data(), bytes.size(), m);
    CHECK(decoded.header.format_version == 2);
    CHECK(decoded.header.detail_level == level);
    CHECK(decoded.header.detail_streams == 3);
    // The base part of the stream is the plain encode's payload: same base image below the layer.
    const auto parsed = parse_bitstream(bytes.data(), bytes.size());
    const auto plain_parsed = parse_bitstream(plain.data(), plain.size());
    REQUIRE(parsed.streams.size() == plain_parsed.streams.size() + 3);
    CHECK(std::equal(plain_parsed.streams[0].begin(), plain_parsed.streams[0].end(), parsed.streams[0].begin(),
                     parsed.streams[0].end()));
    const double psnr = eval::psnr(image, decoded.image);
    CHECK(psnr > last_psnr + 1);
    CHECK(bytes.size() > last_size);
    last_psnr = psnr;
    last_size = bytes.size();
    // Every truncation of the detail stream that keeps the container intact is refused.
    const auto detail = parsed.streams.back();
    for (std::size_t keep : {std::size_t{0}, detail.size / 2, detail.size - 4}) {
      std::vector<std::vector<uint8_t>> streams;
      for (const auto& s : parsed.streams) streams.emplace_back(s.begin(), s.end());
      streams.back().resize(keep);
      const auto damaged = write_bitstream(parsed.header, streams);
      CHECK(expect_error([&] { codec::decode(damaged.data(), damaged.size(), m); }).kind() == ErrorKind::bad_input);
    }
  }
  CHECK(last_psnr > 40);

  // Grey with alpha, 16-bit: the layer codes the grey channel.
  const Image grey = photo_like(30, 21, 2, 16);
  options.detail_level = 30;
  const auto bytes = codec::encode(grey, m, options);
  const auto decoded = codec::decode(bytes.data(), bytes.size(), m);
  CHECK(decoded.image.channels == 1);
  CHECK(decoded.image.bit_depth == 16);
  CHECK(eval::psnr(grey, decoded.image) > 35);

  options.detail_level = kMaxDetailLevel + 1;
  CHECK(expect_error([&] { codec::encode(image, m, options); }).kind() == ErrorKind::usage);
}
