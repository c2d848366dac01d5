// JPEG XL through libjxl (built only with COSAE_WITH_JXL; see baselines.hpp): effort 7 (cjxl's
// default), the distance libjxl's cjxl gives a quality, lossless at quality 100.
#include <jxl/decode.h>
#include <jxl/encode.h>

#include <chrono>
#include <cmath>
#include <memory>

#include "cosae/error.hpp"
#include "eval/baselines.hpp"

namespace cosae::eval {

namespace {

struct EncoderDeleter {
  void operator()(JxlEncoder* p) const { JxlEncoderDestroy(p); }
};
struct DecoderDeleter {
  void operator()(JxlDecoder* p) const { JxlDecoderDestroy(p); }
};

// libjxl's JxlEncoderDistanceFromQuality (newer than the libjxl Debian 12 ships).
float distance_from_quality(int q) {
  if (q >= 100) return 0.0f;
  if (q >= 30) return 0.1f + static_cast<float>(100 - q) * 0.09f;
  const float x = static_cast<float>(q);
  return 53.0f / 3000.0f * x * x - 23.0f / 20.0f * x + 25.0f;
}

}  // namespace

BaselineCoded detail::code_with_jxl(const Image& rgb8, int quality) {
  const auto w = static_cast<uint32_t>(rgb8.width), h = static_cast<uint32_t>(rgb8.height);
  std::vector<uint8_t> pixels(rgb8.samples.begin(), rgb8.samples.end());
  const JxlPixelFormat format = {3, JXL_TYPE_UINT8, JXL_NATIVE_ENDIAN, 0};
  const float distance = distance_from_quality(quality);
  BaselineCoded out;

  const auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<JxlEncoder, EncoderDeleter> encoder(JxlEncoderCreate(nullptr));
  COSAE_CHECK(encoder, internal, "libjxl: cannot create an encoder");
  JxlBasicInfo info;
  JxlEncoderInitBasicInfo(&info);
  info.xsize = w;
  info.ysize = h;
  info.bits_per_sample = 8;
  info.num_color_channels = 3;
  info.uses_original_profile = distance == 0.0f ? JXL_TRUE : JXL_FALSE;
  COSAE_CHECK(JxlEncoderSetBasicInfo(encoder.get(), &info) == JXL_ENC_SUCCESS, internal, "libjxl: basic info");
  JxlColorEncoding colour;
  JxlColorEncodingSetToSRGB(&colour, JXL_FALSE);
  COSAE_CHECK(JxlEncoderSetColorEncoding(encoder.get(), &colour) == JXL_ENC_SUCCESS, internal, "libjxl: colour");
  JxlEncoderFrameSettings* settings = JxlEncoderFrameSettingsCreate(encoder.get(), nullptr);
  COSAE_CHECK(settings != nullptr, internal, "libjxl: frame settings");
  JxlEncoderFrameSettingsSetOption(settings, JXL_ENC_FRAME_SETTING_EFFORT, 7);
  if (distance == 0.0f)
    JxlEncoderSetFrameLossless(settings, JXL_TRUE);
  else
    JxlEncoderSetFrameDistance(settings, distance);
  COSAE_CHECK(JxlEncoderAddImageFrame(settings, &format, pixels.data(), pixels.size()) == JXL_ENC_SUCCESS, internal,
              "libjxl: cannot add the image");
  JxlEncoderCloseInput(encoder.get());
  out.bytes.resize(64 * 1024);
  uint8_t* next = out.bytes.data();
  size_t available = out.bytes.size();
  JxlEncoderStatus status;
  while ((status = JxlEncoderProcessOutput(encoder.get(), &next, &available)) == JXL_ENC_NEED_MORE_OUTPUT) {
    const std::size_t used = static_cast<std::size_t>(next - out.bytes.data());
    out.bytes.resize(out.bytes.size() * 2);
    next = out.bytes.data() + used;
    available = out.bytes.size() - used;
  }
  COSAE_CHECK(status == JXL_ENC_SUCCESS, internal, "libjxl: encoding failed");
  out.bytes.resize(static_cast<std::size_t>(next - out.bytes.data()));

  const auto t1 = std::chrono::steady_clock::now();
  std::unique_ptr<JxlDecoder, DecoderDeleter> decoder(JxlDecoderCreate(nullptr));
  COSAE_CHECK(decoder, internal, "libjxl: cannot create a decoder");
  COSAE_CHECK(JxlDecoderSubscribeEvents(decoder.get(), JXL_DEC_FULL_IMAGE) == JXL_DEC_SUCCESS, internal,
              "libjxl: events");
  JxlDecoderSetInput(decoder.get(), out.bytes.data(), out.bytes.size());
  JxlDecoderCloseInput(decoder.get());
  bool done = false;
  while (!done) {
    switch (JxlDecoderProcessInput(decoder.get())) {
      case JXL_DEC_NEED_IMAGE_OUT_BUFFER: {
        size_t size = 0;
        COSAE_CHECK(JxlDecoderImageOutBufferSize(decoder.get(), &format, &size) == JXL_DEC_SUCCESS &&
                        size == pixels.size(),
                    internal, "libjxl decoded another size");
        JxlDecoderSetImageOutBuffer(decoder.get(), &format, pixels.data(), pixels.size());
        break;
      }
      case JXL_DEC_FULL_IMAGE:
        break;
      case JXL_DEC_SUCCESS:
        done = true;
        break;
      default:
        COSAE_FAIL(internal, "libjxl could not decode its own stream");
    }
  }
  const auto t2 = std::chrono::steady_clock::now();

  out.encode_s = std::chrono::duration<double>(t1 - t0).count();
  out.decode_s = std::chrono::duration<double>(t2 - t1).count();
  out.decoded = Image{rgb8.width, rgb8.height, 3, 8, {}};
  out.decoded.samples.assign(pixels.begin(), pixels.end());
  return out;
}

}  // namespace cosae::eval
