// The model that ships in models/ (default.safetensors): it loads, and it codes a sample
// image on the CPU at a PSNR above a floor measured when it was trained (a regression guard,
// with margin), with more bits and no worse PSNR at the top quality than at the bottom.
#include "catch_compat.hpp"
#include "codec/codec.hpp"
#include "cosae/error.hpp"
#include "eval/metrics.hpp"

using namespace cosae;

TEST_CASE("the shipped default model codes a sample above its PSNR floor", "[shipped]") {
  std::string path;
  try {
    path = codec::find_default_model();
  } catch (const Error&) {
    FAIL("no default model in models/: the README's main command needs one");
  }
  auto model = codec::load_codec_model(path, torch::kCPU);
  const Image image = read_png(std::string(COSAE_TEST_SAMPLES_DIR) + "/astronaut.png");
  const int top = model.net->config.quality_levels();
  double bpp[2], psnr[2];
  for (int i = 0; i < 2; ++i) {
    const int level = i == 0 ? 1 : top;
    const auto bytes = codec::encode(image, model, {level});
    const auto decoded = codec::decode(bytes.data(), bytes.size(), model);
    bpp[i] = 8.0 * bytes.size() / (image.width * image.height);
    psnr[i] = eval::psnr(image, decoded.image);
    INFO("quality " << level << ": " << bpp[i] << " bpp, " << psnr[i] << " dB");
    CHECK(codec::encode(image, model, {level}) == bytes);  // deterministic
  }
  INFO("q1 " << bpp[0] << " bpp " << psnr[0] << " dB; q" << top << " " << bpp[1] << " bpp " << psnr[1] << " dB");
  // Measured with the shipped model: q1 0.127 bpp 21.50 dB, q6 0.505 bpp 21.92 dB.
  CHECK(psnr[0] > 20.5);
  CHECK(psnr[1] > 20.9);
  CHECK(psnr[1] >= psnr[0]);
  CHECK(bpp[1] > 2 * bpp[0]);
  CHECK(bpp[1] < 1.0);
}
