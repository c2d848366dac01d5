// JPEG, WebP, TIFF, BMP and PPM/PGM through OpenCV's imgcodecs. OpenCV orders colour as
// BGR(A); cosae::Image as RGB(A). Torch-free.
#include "io/image_opencv.hpp"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <climits>
#include <string>
#include <vector>

#include "cosae/error.hpp"
#include "io/io_detail.hpp"

namespace cosae::opencv_io {
namespace {

// Copies samples between interleaved layouts: output channel c of each pixel takes input
// channel source_channel[c]. `scale_16_to_8` rounds 16-bit input to 8 bits.
template <typename In, typename Out>
void remap_row(const In* input, int input_channels, Out* output, const std::vector<int>& source_channel,
               int64_t width, bool scale_16_to_8) {
  const int output_channels = static_cast<int>(source_channel.size());
  for (int64_t x = 0; x < width; ++x) {
    for (int c = 0; c < output_channels; ++c) {
      const uint32_t value = input[x * input_channels + source_channel[c]];
      output[x * output_channels + c] = static_cast<Out>(scale_16_to_8 ? (value * 255 + 32767) / 65535 : value);
    }
  }
}

struct FormatCapabilities {
  bool alpha;        // can store an alpha channel
  bool sixteen_bit;  // can store 16-bit samples
  bool colour;       // can store RGB
  bool grey;         // can store a single grey channel
};

FormatCapabilities capabilities_of(const std::string& extension) {
  if (extension == ".tif" || extension == ".tiff") return {true, true, true, true};
  if (extension == ".webp") return {true, false, true, true};
  if (extension == ".ppm") return {false, true, true, false};
  if (extension == ".pgm") return {false, true, false, true};
  if (extension == ".jpg" || extension == ".jpeg" || extension == ".bmp") return {false, false, true, true};
  COSAE_FAIL(usage, "OpenCV output is not set up for the extension '", extension, "'");
}

// Which Image channel feeds each channel of the OpenCV (BGR/BGRA/grey) matrix.
std::vector<int> output_channel_sources(const Image& image, const FormatCapabilities& format,
                                        const std::string& extension) {
  const bool keep_alpha = image.has_alpha() && format.alpha;
  COSAE_CHECK(!image.has_alpha() || keep_alpha || io_detail::alpha_is_opaque(image), bad_input, extension,
              " cannot store an alpha channel and this image's alpha is not fully opaque"
              " (write .png, .webp or .tiff instead)");
  COSAE_CHECK(image.is_grey() || format.colour, usage, extension,
              " holds grey images only and this image is in colour (use .ppm or .png)");
  if (image.is_grey()) {
    const bool as_grey = format.grey && !keep_alpha;  // OpenCV has no grey+alpha layout
    if (as_grey) return {0};
    return keep_alpha ? std::vector<int>{0, 0, 0, 1} : std::vector<int>{0, 0, 0};
  }
  return keep_alpha ? std::vector<int>{2, 1, 0, 3} : std::vector<int>{2, 1, 0};
}

}  // namespace

Image decode_image(const uint8_t* data, std::size_t size) {
  COSAE_CHECK(size > 0, bad_input, "empty input (0 bytes)");
  COSAE_CHECK(size <= static_cast<std::size_t>(INT_MAX), bad_input, "file too large to decode (", size, " bytes)");
  const bool jpeg = size >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff;
  // IMREAD_UNCHANGED keeps alpha and 16-bit samples but ignores EXIF orientation; JPEG has no
  // alpha, so it is read in a mode that honours the orientation a camera recorded.
  const int flags = jpeg ? (cv::IMREAD_ANYCOLOR | cv::IMREAD_ANYDEPTH) : cv::IMREAD_UNCHANGED;
  const cv::Mat encoded(1, static_cast<int>(size), CV_8UC1, const_cast<uint8_t*>(data));
  cv::Mat decoded;
  try {
    decoded = cv::imdecode(encoded, flags);
  } catch (const cv::Exception& error) {
    COSAE_FAIL(bad_input, "corrupt or unsupported image data (", error.err, ")");
  }
  COSAE_CHECK(!decoded.empty(), bad_input, "corrupt image data or an unsupported image format");

  const int depth = decoded.depth();
  COSAE_CHECK(depth == CV_8U || depth == CV_16U, bad_input,
              "unsupported sample type (", depth == CV_32F || depth == CV_64F ? "floating point" : "signed integer",
              "); cosae reads 8- and 16-bit unsigned images only");
  const int channels = decoded.channels();
  COSAE_CHECK(channels == 1 || channels == 3 || channels == 4, bad_input, "unsupported channel count ", channels);
  io_detail::check_image_dimensions(decoded.cols, decoded.rows);

  Image image;
  image.width = decoded.cols;
  image.height = decoded.rows;
  image.channels = channels;
  image.bit_depth = depth == CV_16U ? 16 : 8;
  image.samples.resize(image.sample_count());
  const std::vector<int> source_channel = channels == 1   ? std::vector<int>{0}
                                          : channels == 3 ? std::vector<int>{2, 1, 0}
                                                          : std::vector<int>{2, 1, 0, 3};
  const std::size_t row_samples = static_cast<std::size_t>(image.width) * channels;
  for (int y = 0; y < image.height; ++y) {
    uint16_t* output = image.samples.data() + y * row_samples;
    if (depth == CV_16U) {
      remap_row(decoded.ptr<uint16_t>(y), channels, output, source_channel, image.width, false);
    } else {
      remap_row(decoded.ptr<uint8_t>(y), channels, output, source_channel, image.width, false);
    }
  }
  return image;
}

std::vector<uint8_t> encode_image(const Image& image, const std::string& extension) {
  io_detail::check_image_for_encoding(image, "cannot encode image");
  const FormatCapabilities format = capabilities_of(extension);
  const std::vector<int> source_channel = output_channel_sources(image, format, extension);
  const int channels = static_cast<int>(source_channel.size());
  const bool write_16_bit = image.bit_depth == 16 && format.sixteen_bit;
  const bool scale_16_to_8 = image.bit_depth == 16 && !write_16_bit;

  cv::Mat matrix(image.height, image.width, CV_MAKETYPE(write_16_bit ? CV_16U : CV_8U, channels));
  const std::size_t row_samples = static_cast<std::size_t>(image.width) * image.channels;
  for (int y = 0; y < image.height; ++y) {
    const uint16_t* input = image.samples.data() + y * row_samples;
    if (write_16_bit) {
      remap_row(input, image.channels, matrix.ptr<uint16_t>(y), source_channel, image.width, false);
    } else {
      remap_row(input, image.channels, matrix.ptr<uint8_t>(y), source_channel, image.width, scale_16_to_8);
    }
  }

  std::vector<uint8_t> encoded;
  bool ok = false;
  std::string reason = "the encoder reported a failure";
  try {
    ok = cv::imencode(extension, matrix, encoded);
  } catch (const cv::Exception& error) {
    reason = error.err;
  }
  COSAE_CHECK(ok && !encoded.empty(), unavailable, "OpenCV could not write ", extension, " (", reason, ")");
  return encoded;
}

}  // namespace cosae::opencv_io
