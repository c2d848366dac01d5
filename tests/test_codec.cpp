// Encode -> decode with a small (untrained) model on the CPU: any size, grey and 16-bit,
// determinism, agreement with the network's own reconstruction, hostile streams.
#include <random>

#include "catch_compat.hpp"
#include "codec/codec.hpp"
#include "eval/metrics.hpp"
#include "cosae/error.hpp"
#include "image_test_util.hpp"
#include "temp_dir.hpp"

using namespace cosae;

namespace {

// A tiny D = 16 model with its tables, written to and loaded from a real model file.
codec::CodecModel tiny_codec_model(const std::string& dir, uint64_t seed = 1) {
  torch::manual_seed(seed);
  model::CosAE net(model::load_config("tiny"));
  const std::string path = dir + "/tiny-" + std::to_string(seed) + ".safetensors";
  codec::save_codec_model(path, *net);
  return codec::load_codec_model(path, torch::kCPU);
}

Image smooth_image(int width, int height, int channels, int bit_depth) {
  Image image{width, height, channels, bit_depth, {}};
  image.samples.resize(image.sample_count());
  const double peak = image.max_value();
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < channels; ++c)
        image.samples[(static_cast<std::size_t>(y) * width + x) * channels + c] = static_cast<uint16_t>(
            (image.has_alpha() && c == channels - 1) ? peak : peak * (0.5 + 0.4 * std::sin(0.1 * x + 0.07 * y + c)));
  return image;
}

}  // namespace

TEST_CASE("round trips at any size, grey and 16-bit", "[codec]") {
  cosae_test::TemporaryDirectory dir;
  auto m = tiny_codec_model(dir.path);
  struct Shape {
    int w, h, channels, depth;
  };
  for (const Shape s : {Shape{1, 1, 3, 8}, Shape{63, 65, 3, 8}, Shape{40, 17, 1, 8}, Shape{33, 16, 4, 16},
                        Shape{16, 16, 2, 8}}) {
    INFO(s.w << "x" << s.h << " channels " << s.channels << " depth " << s.depth);
    const auto image = smooth_image(s.w, s.h, s.channels, s.depth);
    for (int q : {1, 6}) {
      const auto bytes = codec::encode(image, m, {q});
      CHECK(bytes == codec::encode(image, m, {q}));  // same input, same bytes
      const auto decoded = codec::decode(bytes.data(), bytes.size(), m);
      CHECK(decoded.image.width == s.w);
      CHECK(decoded.image.height == s.h);
      CHECK(decoded.image.channels == (s.channels <= 2 ? 1 : 3));
      CHECK(decoded.image.bit_depth == s.depth);
      CHECK(int(decoded.header.quality) == q);
    }
  }
}

TEST_CASE("the decoder reproduces the network's reconstruction, and the rate its estimate", "[codec]") {
  cosae_test::TemporaryDirectory dir;
  auto m = tiny_codec_model(dir.path, 3);
  const auto image = smooth_image(64, 48, 3, 8);
  codec::EncodeOptions cartesian;  // the network's own rounding
  cartesian.quality = 4;
  cartesian.coding = codec::Coding::cartesian;
  const auto bytes = codec::encode(image, m, cartesian);
  const auto decoded = codec::decode(bytes.data(), bytes.size(), m);
  torch::NoGradGuard no_grad;
  const auto out = m.net->forward_eval(image_to_tensor(image), 3);
  const auto expected = tensor_to_image(out.reconstruction, 3, 8);
  CHECK(decoded.image.samples == expected.samples);
  // Real bits: the estimate from the prior plus the header and the coder's flush.
  const double estimate = out.bits.sum().item<double>();
  const double real = 8.0 * static_cast<double>(bytes.size());
  INFO("estimate " << estimate << " bits, real " << real);
  CHECK(real >= estimate * 0.95);
  CHECK(real <= estimate * 1.05 + 8.0 * 100);
  // No quality asked for: the model's default level, recorded in the header.
  const auto plain = codec::encode(image, m, {});
  CHECK(int(codec::decode(plain.data(), plain.size(), m).header.quality) == m.net->config.default_quality());
}

TEST_CASE("the unquantised reconstruction is the network's own, without rounding", "[codec]") {
  cosae_test::TemporaryDirectory dir;
  auto m = tiny_codec_model(dir.path, 3);
  const auto image = smooth_image(64, 48, 3, 8);  // whole cells: no padding
  const auto ceiling = codec::reconstruct_unquantized(image, m, 4);
  torch::NoGradGuard no_grad;
  const auto x = image_to_tensor(image);
  const auto expected = tensor_to_image(m.net->synthesis(m.net->analysis(x, 3), 3), 3, 8);
  CHECK(ceiling.samples == expected.samples);
  const auto rounded = tensor_to_image(m.net->forward_eval(x, 3).reconstruction, 3, 8);
  CHECK(ceiling.samples != rounded.samples);  // rounding the latent changes the image
  // Any size and grey: cropped back to the image and its channels.
  const auto grey = codec::reconstruct_unquantized(smooth_image(40, 17, 1, 16), m, 1);
  CHECK(grey.width == 40);
  CHECK(grey.height == 17);
  CHECK(grey.channels == 1);
  CHECK(grey.bit_depth == 16);
  CHECK_THROWS_AS(codec::reconstruct_unquantized(image, m, 7), Error);  // tiny has 6 levels
}

TEST_CASE("hostile streams: truncation, bit flips, another model, bad options", "[codec]") {
  cosae_test::TemporaryDirectory dir;
  auto m = tiny_codec_model(dir.path, 1);
  auto other = tiny_codec_model(dir.path, 2);
  const auto bytes = codec::encode(smooth_image(48, 32, 3, 8), m, {2});
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    INFO("truncated to " << n);
    CHECK_THROWS_AS(codec::decode(bytes.data(), n, m), Error);
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    auto damaged = bytes;
    damaged[rng() % damaged.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
    CHECK_THROWS_AS(codec::decode(damaged.data(), damaged.size(), m), Error);
  }
  const auto wrong_model = cosae_test::expect_error([&] { codec::decode(bytes.data(), bytes.size(), other); });
  CHECK(wrong_model.kind() == ErrorKind::model);
  CHECK_THROWS_AS(codec::encode(smooth_image(8, 8, 3, 8), m, {-1}), Error);  // 0 is the default level
  CHECK_THROWS_AS(codec::encode(smooth_image(8, 8, 3, 8), m, {7}), Error);

  auto translucent = smooth_image(8, 8, 4, 8);
  translucent.samples[3] = 10;
  CHECK(cosae_test::expect_error([&] { codec::encode(translucent, m, {1}); }).kind() == ErrorKind::bad_input);
  CHECK_NOTHROW(codec::encode(translucent, m, {1, AlphaPolicy::discard}));

  const std::string not_a_model = dir / "x.safetensors";
  const std::string text = "not a model";
  write_file_atomic(not_a_model, reinterpret_cast<const uint8_t*>(text.data()), text.size());
  CHECK(cosae_test::expect_error([&] { codec::load_codec_model(not_a_model, torch::kCPU); }).kind() ==
        ErrorKind::model);
}

TEST_CASE("a tiled decode matches the untiled one", "[codec]") {
  cosae_test::TemporaryDirectory dir;
  auto m = tiny_codec_model(dir.path, 5);
  const auto image = smooth_image(320, 256, 3, 8);  // 20 x 16 cells at D = 16
  const auto bytes = codec::encode(image, m, {3});
  const auto whole = codec::decode(bytes.data(), bytes.size(), m);  // fits one default tile
  CHECK(codec::decoder_reach_cells(model::load_config("default")) == 3);
  CHECK(codec::decoder_reach_cells(model::load_config("tiny")) == 2);
  auto wide_windows = model::load_config("tiny");
  wide_windows.window = 8;
  CHECK(codec::decoder_reach_cells(wide_windows) == -1);  // window 8 does not divide T = 4
  REQUIRE(m.decode_margin_cells == 2);  // set from the config at load
  m.decode_tile_cells = 4;
  const auto tiled = codec::decode(bytes.data(), bytes.size(), m);
  const double psnr_whole = eval::psnr(image, whole.image), psnr_tiled = eval::psnr(image, tiled.image);
  INFO("untiled " << psnr_whole << " dB, tiled " << psnr_tiled << " dB, between them "
                  << eval::psnr(whole.image, tiled.image) << " dB");
  CHECK(std::abs(psnr_whole - psnr_tiled) < 0.05);
  CHECK(eval::psnr(whole.image, tiled.image) > 50.0);
  // Without context the seams show: the margin is what makes tiles agree.
  m.decode_margin_cells = 0;
  const auto seams = codec::decode(bytes.data(), bytes.size(), m);
  CHECK(eval::psnr(whole.image, seams.image) < eval::psnr(whole.image, tiled.image));
}

TEST_CASE("half-precision model files: half the size, the same stream format, close output", "[codec]") {
  cosae_test::TemporaryDirectory dir;
  torch::manual_seed(9);
  model::CosAE net(model::load_config("tiny"));
  const std::string f32 = dir.path + "/f32.safetensors", f16 = dir.path + "/f16.safetensors";
  codec::save_codec_model(f32, *net);
  codec::save_codec_model(f16, *net, DType::f16);
  const auto size_of = [](const std::string& p) { return read_file(p).size(); };
  CHECK(size_of(f16) < size_of(f32) * 0.6);
  auto full = codec::load_codec_model(f32, torch::kCPU), half = codec::load_codec_model(f16, torch::kCPU);
  CHECK(full.id != half.id);  // other weights, another identity
  const auto image = smooth_image(96, 64, 3, 8);
  const auto a = codec::encode(image, full, {4}), b = codec::encode(image, half, {4});
  const auto da = codec::decode(a.data(), a.size(), full), db = codec::decode(b.data(), b.size(), half);
  INFO("f32 " << eval::psnr(image, da.image) << " dB, f16 " << eval::psnr(image, db.image) << " dB");
  CHECK(std::abs(eval::psnr(image, da.image) - eval::psnr(image, db.image)) < 0.1);
  CHECK(codec::encode(image, half, {4}) == b);  // deterministic with widened weights too
  CHECK_THROWS_AS(codec::decode(b.data(), b.size(), full), Error);  // a stream names its model
}

TEST_CASE("the ablation's decoder tiles exactly too", "[codec]") {
  cosae_test::TemporaryDirectory dir;
  torch::manual_seed(3);
  auto config = model::load_config("tiny");
  config.harmonic = false;
  model::CosAE net(config);
  const std::string path = dir.path + "/ablation.safetensors";
  codec::save_codec_model(path, *net);
  auto m = codec::load_codec_model(path, torch::kCPU);
  CHECK(m.decode_margin_cells == codec::decoder_reach_cells(config));
  const auto image = smooth_image(320, 256, 3, 8);
  const auto bytes = codec::encode(image, m, {2});
  const auto whole = codec::decode(bytes.data(), bytes.size(), m);
  m.decode_tile_cells = 4;
  const auto tiled = codec::decode(bytes.data(), bytes.size(), m);
  CHECK(eval::psnr(whole.image, tiled.image) > 50.0);
}

TEST_CASE("a tiled encode matches the untiled one", "[codec]") {
  cosae_test::TemporaryDirectory dir;
  auto m = tiny_codec_model(dir.path, 6);
  CHECK(codec::encoder_reach_cells(model::load_config("tiny")) == 5);     // 75 px at D = 16
  CHECK(codec::encoder_reach_cells(model::load_config("default")) == 5);  // 315 px at D = 64
  REQUIRE(m.encode_margin_cells == 5);
  torch::NoGradGuard no_grad;
  const auto x = torch::rand({1, 3, 256, 320});  // 16 x 20 cells
  const auto whole = m.net->analysis(x, 2);
  const auto tiled = codec::analyze_tiled(*m.net, x, 2, 4, m.encode_margin_cells);
  REQUIRE(tiled.sizes() == whole.sizes());
  const double scale = whole.abs().max().item<double>();
  CHECK((tiled - whole).abs().max().item<double>() <= 1e-5 * scale);
  // Without context the tiles disagree: the margin is what makes them exact.
  const auto seams = codec::analyze_tiled(*m.net, x, 2, 4, 0);
  CHECK((seams - whole).abs().max().item<double>() > 1e-3 * scale);
  // And through the codec: small tiles give the same stream as one tile.
  const auto image = smooth_image(320, 256, 3, 8);
  const auto one = codec::encode(image, m, {3});
  m.encode_tile_cells = 4;
  CHECK(codec::encode(image, m, {3}) == one);
}
