// Image I/O: files, format dispatch, tensor conversion, OpenCV formats.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "catch_compat.hpp"
#include "cosae/error.hpp"
#include "cosae/image.hpp"
#include "image_test_util.hpp"
#include "temp_dir.hpp"
#include "common/device.hpp"
#include "io/tensor_image.hpp"
#if defined(COSAE_WITH_OPENCV)
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#endif

using cosae::ErrorKind;
using cosae::Image;
using cosae_test::contains;
using cosae_test::expect_error;
using cosae_test::random_image;
using cosae_test::TemporaryDirectory;

TEST_CASE("read_file and write_file_atomic", "[io]") {
  TemporaryDirectory directory;
  const std::string target = directory / "out.bin";
  const std::vector<uint8_t> data = {1, 2, 3, 0, 255};
  const std::vector<uint8_t> other = {9, 8, 7};

  cosae::write_file_atomic(target, data.data(), data.size());
  CHECK(cosae::read_file(target) == data);
  cosae::write_file_atomic(target, other.data(), other.size());  // replaces
  CHECK(cosae::read_file(target) == other);
  CHECK(directory.entries() == std::vector<std::string>{"out.bin"});  // no temporary left

  cosae::Error error = expect_error([&] { cosae::read_file(directory / "missing.png"); });
  CHECK(error.kind() == ErrorKind::io);
  CHECK(contains(error.what(), "missing.png"));
  error = expect_error([&] { cosae::read_file(directory.path); });
  CHECK(error.kind() == ErrorKind::io);
  CHECK(contains(error.what(), "directory"));

  // Nonexistent directory, a file used as a directory, and a directory in the way.
  const std::string in_missing_directory = directory / "no-such-dir/x.png";
  const std::string under_a_file = directory / "out.bin/x.png";
  cosae_test::make_dirs(directory / "occupied/child");
  const std::string onto_a_directory = directory / "occupied";
  for (const std::string& path : {in_missing_directory, under_a_file, onto_a_directory}) {
    INFO(path);
    error = expect_error([&] { cosae::write_file_atomic(path, data.data(), data.size()); });
    CHECK(error.kind() == ErrorKind::io);
    CHECK(contains(error.what(), path));
  }
  CHECK_FALSE(cosae_test::exists(in_missing_directory));
  CHECK(cosae::read_file(target) == other);
  std::vector<std::string> names = directory.entries();
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"occupied", "out.bin"});

  // Through a symbolic link the linked file is replaced; devices are written in place.
  const std::string link = directory / "link.bin";
  REQUIRE(::symlink("out.bin", link.c_str()) == 0);
  cosae::write_file_atomic(link, data.data(), data.size());
  CHECK(cosae_test::is_symlink(link));
  CHECK(cosae::read_file(target) == data);
  ::unlink(link.c_str());
  cosae::write_file_atomic("/dev/null", data.data(), data.size());
  if (cosae_test::exists("/dev/full")) {
    CHECK(expect_error([&] { cosae::write_file_atomic("/dev/full", data.data(), data.size()); }).kind() ==
          ErrorKind::io);
  }

  if (::geteuid() != 0) {  // root writes anywhere
    const std::string locked = directory / "locked";
    ::mkdir(locked.c_str(), 0500);
    const std::string path = locked + "/x.png";
    CHECK(expect_error([&] { cosae::write_file_atomic(path, data.data(), data.size()); }).kind() == ErrorKind::io);
    ::chmod(locked.c_str(), 0700);
    CHECK(cosae_test::entries(locked).empty());
  }
}

TEST_CASE("read_image trusts the bytes and write_image the extension", "[io]") {
  TemporaryDirectory directory;
  const Image image = random_image(10, 6, 3, 16, 9);
  const std::string misnamed = directory / "actually-png.jpg";
  const std::vector<uint8_t> encoded = cosae::encode_png(image);
  cosae::write_file_atomic(misnamed, encoded.data(), encoded.size());
  CHECK(cosae::read_image(misnamed).samples == image.samples);

  const std::string png_path = directory / "image.PNG";
  cosae::write_image(png_path, image);
  CHECK(cosae::read_png(png_path).samples == image.samples);

  const cosae::Error unknown = expect_error([&] { cosae::write_image(directory / "x.xyz", image); });
  CHECK(unknown.kind() == ErrorKind::usage);

  const std::string truncated = directory / "truncated.png";
  cosae::write_file_atomic(truncated, encoded.data(), encoded.size() / 2);
  const cosae::Error error = expect_error([&] { cosae::read_image(truncated); });
  CHECK(std::string(error.what()) == truncated + ": truncated PNG data");
  const std::string empty = directory / "empty.png";
  cosae::write_file_atomic(empty, nullptr, 0);
  CHECK(expect_error([&] { cosae::read_image(empty); }).kind() == ErrorKind::bad_input);
}

TEST_CASE("Images convert to tensors and back exactly", "[io]") {
  SECTION("8-bit RGB") {
    const Image image = random_image(17, 9, 3, 8, 21);
    const torch::Tensor tensor = cosae::image_to_tensor(image);
    CHECK(tensor.sizes() == torch::IntArrayRef({1, 3, 9, 17}));
    CHECK(tensor.scalar_type() == torch::kFloat32);
    CHECK(tensor[0][1][2][3].item<float>() == static_cast<float>(image.samples[(2 * 17 + 3) * 3 + 1]) / 255.0f);
    CHECK(cosae::tensor_to_image(tensor, 3, 8).samples == image.samples);
  }
  SECTION("16-bit grey, every level, replicated to RGB") {
    Image image{256, 256, 1, 16, {}};
    for (int v = 0; v < 65536; ++v) image.samples.push_back(static_cast<uint16_t>(v));
    const torch::Tensor tensor = cosae::image_to_tensor(image);
    CHECK(torch::equal(tensor[0][0], tensor[0][1]));
    CHECK(torch::equal(tensor[0][0], tensor[0][2]));
    CHECK(tensor[0][0][255][255].item<float>() == 1.0f);
    CHECK(tensor[0][0][128][0].item<float>() == 32768.0f / 65535.0f);
    const Image back = cosae::tensor_to_image(tensor, 1, 16);
    CHECK(back.channels == 1);
    CHECK(back.samples == image.samples);
  }
  SECTION("alpha policy") {
    Image rgba = random_image(5, 4, 4, 8, 4);
    for (std::size_t i = 3; i < rgba.samples.size(); i += 4) rgba.samples[i] = 255;
    const Image rgb = cosae::tensor_to_image(cosae::image_to_tensor(rgba), 3, 8);  // opaque: dropped
    for (std::size_t pixel = 0; pixel < 20; ++pixel) {
      for (int c = 0; c < 3; ++c) CHECK(rgb.samples[pixel * 3 + c] == rgba.samples[pixel * 4 + c]);
    }
    rgba.samples[7] = 254;
    const cosae::Error error = expect_error([&] { cosae::image_to_tensor(rgba); });
    CHECK(error.kind() == ErrorKind::bad_input);
    CHECK(contains(error.what(), "--drop-alpha"));
    CHECK(torch::equal(cosae::image_to_tensor(rgba, cosae::AlphaPolicy::discard),
                       cosae::image_to_tensor(rgb)));
  }
  SECTION("tensor_to_image clamps, rounds, and accepts [3, H, W] of any float type") {
    // Planes R = {-1, 2}, G = {NaN, 3.4/255}, B = {3.6/255, 0.5}.
    const std::vector<double> planes = {-1.0, 2.0, std::nan(""), 3.4 / 255, 3.6 / 255, 0.5};
    const torch::Tensor values = torch::tensor(planes, torch::dtype(torch::kFloat64)).reshape({3, 1, 2});
    const Image image = cosae::tensor_to_image(values, 3, 8);
    CHECK(image.samples == std::vector<uint16_t>{0, 0, 4, 255, 3, 128});  // RGB per pixel
    const Image grey = cosae::tensor_to_image(values.clamp(0, 1).nan_to_num(0), 1, 16);
    const auto expected_grey = [](double r, double g, double b) {
      return static_cast<uint16_t>(std::lround((r + g + b) / 3 * 65535));
    };
    CHECK(grey.samples == std::vector<uint16_t>{expected_grey(0, 0, 3.6 / 255), expected_grey(1, 3.4 / 255, 0.5)});
    CHECK(expect_error([] { cosae::tensor_to_image(torch::zeros({2, 3, 4, 4})); }).kind() == ErrorKind::internal);
    CHECK(expect_error([] { cosae::tensor_to_image(torch::zeros({1, 3, 4, 4}), 2); }).kind() == ErrorKind::usage);
  }
}

namespace {

// The tensor-operation conversions on `device` against the host ones: every channel count and
// bit depth, all 65536 16-bit levels, and floats at rounding boundaries, NaN and infinities.
void check_conversion_forms_agree(const torch::Device& device) {
  for (int channels = 1; channels <= 4; ++channels)
    for (int depth : {8, 16}) {
      Image image = random_image(256, 257, channels, depth, 7 * channels + depth);
      if (depth == 16 && channels == 1)
        for (int v = 0; v < 65536; ++v) image.samples[v] = static_cast<uint16_t>(v);
      const auto host = cosae::image_to_tensor(image, cosae::AlphaPolicy::discard);
      const auto ops = cosae::image_to_tensor_ops(image, cosae::AlphaPolicy::discard, device);
      CHECK(ops.device().type() == device.type());
      CHECK(torch::equal(ops.cpu(), host));
      CHECK(torch::equal(cosae::image_to_tensor(image, cosae::AlphaPolicy::discard, device).cpu(), host));
    }
  // Levels and the halfway points between them, each also nudged one step up and down;
  // then non-finite and out-of-range values.
  auto values = torch::arange(0, 2 * 65536, torch::kFloat32).div(2 * 65535.0);
  values = torch::cat({values, values.nextafter(torch::full({}, 2.0f)), values.nextafter(torch::full({}, -1.0f))});
  using torch::indexing::Slice;
  values.index_put_({Slice(0, 40, 5)}, std::nanf(""));
  values.index_put_({Slice(1, 40, 5)}, INFINITY);
  values.index_put_({Slice(2, 40, 5)}, -INFINITY);
  values.index_put_({Slice(3, 40, 5)}, -0.25f);
  values.index_put_({Slice(4, 40, 5)}, 1.75f);
  const auto rgb = values.reshape({1, 3, 512, 256});
  for (int channels : {1, 3})
    for (int depth : {8, 16}) {
      const Image host = cosae::tensor_to_image(rgb, channels, depth);
      CHECK(cosae::tensor_to_image_ops(rgb.to(device), channels, depth).samples == host.samples);
      CHECK(cosae::tensor_to_image(rgb.to(device), channels, depth).samples == host.samples);
    }
}

}  // namespace

TEST_CASE("Tensor-operation conversions match the host ones bit for bit", "[io]") {
  check_conversion_forms_agree(torch::kCPU);
}

TEST_CASE("Tensor-operation conversions on the GPU match the host ones bit for bit", "[io][cuda]") {
  if (!cosae::cuda_available()) COSAE_SKIP("no CUDA device");
  check_conversion_forms_agree(torch::Device(torch::kCUDA));
}

#if defined(COSAE_WITH_OPENCV)
TEST_CASE("OpenCV formats read and write through cosae::Image", "[io]") {
  TemporaryDirectory directory;
  auto write_bytes = [&](const std::string& name, const std::vector<uint8_t>& bytes) {
    const std::string path = directory / name;
    cosae::write_file_atomic(path, bytes.data(), bytes.size());
    return path;
  };
  const cv::Mat red(8, 16, CV_8UC3, cv::Scalar(0, 0, 255));  // BGR

  SECTION("JPEG, as RGB") {
    std::vector<uint8_t> jpeg;
    REQUIRE(cv::imencode(".jpg", red, jpeg));
    const Image image = cosae::read_image(write_bytes("red.jpg", jpeg));
    REQUIRE(image.channels == 3);
    CHECK(image.width == 16);
    CHECK(image.height == 8);
    CHECK(image.samples[0] > 240);  // red first
    CHECK(image.samples[2] < 15);
    jpeg.resize(jpeg.size() / 4);
    const cosae::Error error = expect_error([&] { cosae::read_image(write_bytes("cut.jpg", jpeg)); });
    CHECK(error.kind() == ErrorKind::bad_input);
  }
  SECTION("BMP, exactly") {
    std::vector<uint8_t> bmp;
    REQUIRE(cv::imencode(".bmp", red, bmp));
    const Image image = cosae::read_image(write_bytes("red.bmp", bmp));
    REQUIRE(image.channels == 3);
    CHECK(image.samples[0] == 255);
    CHECK(image.samples[1] == 0);
    CHECK(image.samples[2] == 0);
  }
  SECTION("write_image / read_image round trips") {
    for (const auto& [name, image] : {std::pair{"rgb.bmp", random_image(13, 7, 3, 8, 31)},
                                      std::pair{"grey.bmp", random_image(13, 7, 1, 8, 32)},
                                      std::pair{"rgba16.tiff", random_image(5, 6, 4, 16, 33)}}) {
      INFO(name);
      const std::string path = directory / name;
      cosae::write_image(path, image);
      const Image back = cosae::read_image(path);
      CHECK(back.channels == image.channels);
      CHECK(back.bit_depth == image.bit_depth);
      CHECK(back.samples == image.samples);
    }
    const Image translucent = random_image(4, 4, 4, 8, 34);
    const cosae::Error error =
        expect_error([&] { cosae::write_image(directory / "x.jpg", translucent); });
    CHECK(error.kind() == ErrorKind::bad_input);
    CHECK_FALSE(cosae_test::exists(directory / "x.jpg"));
  }
}
#endif
