// Golden streams (tests/golden/streams): conditional-coded streams written on a GPU decode on
// the CPU to the same symbols (a stream decoded to other symbols would not be consumed exactly
// and is refused) and to the PSNR the GPU's own decode gave, within 0.01 dB; streams written
// on the CPU decode on a GPU likewise ([cuda]).
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "catch_compat.hpp"
#include "codec/codec.hpp"
#include "common/device.hpp"
#include "cosae/image.hpp"
#include "eval/metrics.hpp"

using namespace cosae;

namespace {

const std::string kGolden = COSAE_TEST_GOLDEN_DIR;

// "gpu-chelsea-100x75-q3.cosae" -> tests/golden/chelsea-100x75.png
std::string source_of(const std::string& stream) {
  const auto name = stream.substr(4, stream.rfind("-q") - 4);
  return kGolden + "/" + name + ".png";
}

double decoded_psnr(const std::string& stream, codec::CodecModel& m) {
  const auto bytes = read_file(kGolden + "/streams/" + stream);
  const auto decoded = codec::decode(bytes.data(), bytes.size(), m);
  REQUIRE(decoded.header.mode == CodingMode::conditional);
  return eval::psnr(decoded.image, read_png(source_of(stream)));
}

std::vector<std::string> streams_from(const std::string& device) {
  std::vector<std::string> names;
  for (const char* image : {"chelsea-100x75", "coffee-grey-48x40"})
    for (int q : {1, 3, 6}) names.push_back(device + "-" + image + "-q" + std::to_string(q) + ".cosae");
  return names;
}

}  // namespace

TEST_CASE("GPU-written conditional streams decode on the CPU to the GPU's image", "[conditional][golden]") {
  auto m = codec::load_codec_model(kGolden + "/tiny-conditional.safetensors", torch::kCPU);
  std::ifstream in(kGolden + "/streams/gpu.json");
  const auto expected = nlohmann::json::parse(in).at("psnr");
  for (const auto& stream : streams_from("gpu")) {
    INFO(stream);
    CHECK(decoded_psnr(stream, m) == Approx(expected.at(stream).get<double>()).margin(0.01));
  }
}

TEST_CASE("CPU-written conditional streams decode on a GPU to the CPU's image", "[conditional][golden][cuda]") {
  if (!cuda_available()) COSAE_SKIP("no CUDA device");
  const auto path = kGolden + "/tiny-conditional.safetensors";
  auto cpu = codec::load_codec_model(path, torch::kCPU);
  auto gpu = codec::load_codec_model(path, torch::Device(torch::kCUDA, 0));
  for (const auto& stream : streams_from("cpu")) {
    INFO(stream);
    CHECK(decoded_psnr(stream, gpu) == Approx(decoded_psnr(stream, cpu)).margin(0.01));
  }
}
