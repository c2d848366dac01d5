// JPEG and WebP through OpenCV (built only with COSAE_WITH_OPENCV; see baselines.hpp).
#include <chrono>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "cosae/error.hpp"
#include "eval/baselines.hpp"

namespace cosae::eval {

BaselineCoded detail::code_with_opencv(const std::string& codec, const Image& rgb8, int quality) {
  std::string extension;
  int flag = 0;
  if (codec == "jpeg") {
    extension = ".jpg";
    flag = cv::IMWRITE_JPEG_QUALITY;
  } else if (codec == "webp") {
    extension = ".webp";
    flag = cv::IMWRITE_WEBP_QUALITY;
  } else {
    COSAE_FAIL(internal, "OpenCV codes jpeg and webp, not ", codec);
  }
  cv::Mat rgb(rgb8.height, rgb8.width, CV_8UC3);
  for (std::size_t i = 0; i < rgb8.sample_count(); ++i) rgb.data[i] = static_cast<uint8_t>(rgb8.samples[i]);
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);

  BaselineCoded out;
  const auto t0 = std::chrono::steady_clock::now();
  COSAE_CHECK(cv::imencode(extension, bgr, out.bytes, {flag, quality}), unavailable, "OpenCV cannot encode ",
              codec);
  const auto t1 = std::chrono::steady_clock::now();
  cv::Mat back = cv::imdecode(out.bytes, cv::IMREAD_COLOR);
  const auto t2 = std::chrono::steady_clock::now();
  COSAE_CHECK(!back.empty() && back.rows == rgb8.height && back.cols == rgb8.width, internal, "OpenCV could not ",
              "decode its own ", codec);
  out.encode_s = std::chrono::duration<double>(t1 - t0).count();
  out.decode_s = std::chrono::duration<double>(t2 - t1).count();
  cv::cvtColor(back, rgb, cv::COLOR_BGR2RGB);
  out.decoded = Image{rgb8.width, rgb8.height, 3, 8, {}};
  out.decoded.samples.assign(rgb.data, rgb.data + rgb8.sample_count());
  return out;
}

}  // namespace cosae::eval
