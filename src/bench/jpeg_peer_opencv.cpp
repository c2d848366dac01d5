// The JPEG peer of `cosae bench codec`, through OpenCV (built only with OpenCV).
#include <algorithm>
#include <chrono>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "bench/codec_bench.hpp"
#include "bench/timer.hpp"

namespace cosae::bench {

bool time_jpeg(int width, int height, const std::vector<uint8_t>& rgb, int quality, int warmup, int repeats,
               CodecBenchRow& row) {
  cv::Mat image(height, width, CV_8UC3, const_cast<uint8_t*>(rgb.data()));
  cv::Mat bgr;
  cv::cvtColor(image, bgr, cv::COLOR_RGB2BGR);
  // libjpeg's default chroma subsampling for colour images is 4:2:0.
  const std::vector<int> params = {cv::IMWRITE_JPEG_QUALITY, quality};
  std::vector<uchar> bytes;
  std::vector<double> enc, dec;
  for (int i = 0; i < warmup + repeats; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    cv::imencode(".jpg", bgr, bytes, params);
    auto t1 = std::chrono::steady_clock::now();
    cv::Mat back = cv::imdecode(bytes, cv::IMREAD_COLOR);
    auto t2 = std::chrono::steady_clock::now();
    if (i >= warmup) {
      enc.push_back(std::chrono::duration<double>(t1 - t0).count());
      dec.push_back(std::chrono::duration<double>(t2 - t1).count());
    }
  }
  row.bytes = bytes.size();
  row.encode_s = median(enc);
  row.decode_s = median(dec);
  return true;
}

}  // namespace cosae::bench
