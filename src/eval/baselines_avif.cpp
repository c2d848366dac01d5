// AVIF through libavif (built only with COSAE_WITH_AVIF; see baselines.hpp): 4:2:0, speed 6,
// one quantizer for the whole image (min = max), as `avifenc -s 6 -y 420 --min Q --max Q`.
#include <avif/avif.h>

#include <chrono>
#include <memory>

#include "cosae/error.hpp"
#include "eval/baselines.hpp"

namespace cosae::eval {

namespace {

struct ImageDeleter {
  void operator()(avifImage* p) const { avifImageDestroy(p); }
};
struct EncoderDeleter {
  void operator()(avifEncoder* p) const { avifEncoderDestroy(p); }
};
struct DecoderDeleter {
  void operator()(avifDecoder* p) const { avifDecoderDestroy(p); }
};

void check(avifResult result, const char* what) {
  COSAE_CHECK(result == AVIF_RESULT_OK, internal, "libavif: ", what, ": ", avifResultToString(result));
}

}  // namespace

BaselineCoded detail::code_with_avif(const Image& rgb8, int quality) {
  const auto w = static_cast<uint32_t>(rgb8.width), h = static_cast<uint32_t>(rgb8.height);
  std::vector<uint8_t> pixels(rgb8.samples.begin(), rgb8.samples.end());
  BaselineCoded out;

  const auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<avifImage, ImageDeleter> image(avifImageCreate(w, h, 8, AVIF_PIXEL_FORMAT_YUV420));
  COSAE_CHECK(image, internal, "libavif: cannot create an image");
  avifRGBImage rgb;
  avifRGBImageSetDefaults(&rgb, image.get());
  rgb.format = AVIF_RGB_FORMAT_RGB;
  rgb.depth = 8;
  rgb.pixels = pixels.data();
  rgb.rowBytes = 3 * w;
  check(avifImageRGBToYUV(image.get(), &rgb), "RGB to YUV");
  std::unique_ptr<avifEncoder, EncoderDeleter> encoder(avifEncoderCreate());
  COSAE_CHECK(encoder, internal, "libavif: cannot create an encoder");
  const int quantizer = ((100 - quality) * 63 + 50) / 100;
  encoder->speed = 6;
  encoder->maxThreads = 1;
  encoder->minQuantizer = encoder->maxQuantizer = quantizer;
  avifRWData coded = AVIF_DATA_EMPTY;
  const avifResult written = avifEncoderWrite(encoder.get(), image.get(), &coded);
  if (written == AVIF_RESULT_OK) out.bytes.assign(coded.data, coded.data + coded.size);
  avifRWDataFree(&coded);
  check(written, "encode");

  const auto t1 = std::chrono::steady_clock::now();
  std::unique_ptr<avifDecoder, DecoderDeleter> decoder(avifDecoderCreate());
  COSAE_CHECK(decoder, internal, "libavif: cannot create a decoder");
  decoder->maxThreads = 1;
  std::unique_ptr<avifImage, ImageDeleter> back(avifImageCreateEmpty());
  check(avifDecoderReadMemory(decoder.get(), back.get(), out.bytes.data(), out.bytes.size()), "decode");
  COSAE_CHECK(back->width == w && back->height == h, internal, "libavif decoded another size");
  avifRGBImage decoded;
  avifRGBImageSetDefaults(&decoded, back.get());
  decoded.format = AVIF_RGB_FORMAT_RGB;
  decoded.depth = 8;
  decoded.pixels = pixels.data();
  decoded.rowBytes = 3 * w;
  check(avifImageYUVToRGB(back.get(), &decoded), "YUV to RGB");
  const auto t2 = std::chrono::steady_clock::now();

  out.encode_s = std::chrono::duration<double>(t1 - t0).count();
  out.decode_s = std::chrono::duration<double>(t2 - t1).count();
  out.decoded = Image{rgb8.width, rgb8.height, 3, 8, {}};
  out.decoded.samples.assign(pixels.begin(), pixels.end());
  return out;
}

}  // namespace cosae::eval
