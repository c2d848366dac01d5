// PNG decoding and encoding in memory through libpng.
//
// libpng reports errors by calling an error function that must not return; we make it record
// the message and longjmp back to the setjmp in run_png_decode/run_png_encode. Those two
// functions hold only trivially destructible locals (everything else lives in a context owned
// by the caller), so the longjmp skips no destructor, and the cosae::Error is thrown only
// after the longjmp has returned: no C++ exception ever crosses libpng's C frames.
//
// No LibTorch and no file access here: this file is also compiled alone into the PNG fuzzer
// (read_png/write_png live in image.cpp).
#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "cosae/error.hpp"
#include "cosae/image.hpp"
#include "io/io_detail.hpp"

namespace cosae {
namespace {

// What the libpng callbacks share with the code that called libpng.
struct PngContext {
  // Reading: the input bytes and how far libpng has consumed them.
  const uint8_t* input = nullptr;
  std::size_t input_size = 0;
  std::size_t input_offset = 0;
  bool truncated = false;
  // Writing: the encoded bytes.
  std::vector<uint8_t>* output = nullptr;
  bool out_of_memory = false;
  // The message of the libpng error that ended the operation (a fixed buffer: copying it must
  // not allocate or throw while libpng's frames are on the stack).
  char error_message[200] = {};
  // Buffers used between setjmp and longjmp live here, not on that function's stack.
  std::vector<png_bytep> row_pointers;
  std::vector<png_byte> row_bytes;
};

PngContext* context_of(png_structp png) { return static_cast<PngContext*>(png_get_error_ptr(png)); }

[[noreturn]] void on_png_error(png_structp png, png_const_charp message) {
  PngContext* context = context_of(png);
  std::snprintf(context->error_message, sizeof(context->error_message), "%s", message ? message : "");
  png_longjmp(png, 1);
}

void on_png_warning(png_structp, png_const_charp) {}  // the library never prints

void read_from_memory(png_structp png, png_bytep destination, png_size_t length) {
  auto* context = static_cast<PngContext*>(png_get_io_ptr(png));
  if (length > context->input_size - context->input_offset) {
    context->truncated = true;
    png_error(png, "truncated PNG data");
  }
  std::memcpy(destination, context->input + context->input_offset, length);
  context->input_offset += length;
}

void write_to_memory(png_structp png, png_bytep source, png_size_t length) {
  auto* context = static_cast<PngContext*>(png_get_io_ptr(png));
  try {
    context->output->insert(context->output->end(), source, source + length);
  } catch (...) {  // never let an exception unwind through libpng
    context->out_of_memory = true;
    png_error(png, "out of memory");
  }
}

void flush_memory(png_structp) {}

uint32_t read_big_endian_u32(const uint8_t* bytes) {
  return (uint32_t(bytes[0]) << 24) | (uint32_t(bytes[1]) << 16) | (uint32_t(bytes[2]) << 8) | bytes[3];
}

// IHDR must follow the signature; check its size claims ourselves, before libpng (or we)
// allocate anything, to give a clear message.
void check_header_dimensions(const uint8_t* data, std::size_t size) {
  constexpr std::size_t kIhdrEnd = 8 + 8 + 8;  // signature, length + type, width + height
  if (size < kIhdrEnd || std::memcmp(data + 12, "IHDR", 4) != 0) return;  // libpng will object
  io_detail::check_image_dimensions(read_big_endian_u32(data + 16), read_big_endian_u32(data + 20));
}

// zlib's documented worst-case compression ratio, rounded up.
constexpr uint64_t kMaxDeflateRatio = 1040;

// Ancillary chunks cosae has no use for: skipped unread (after their CRC check), which also
// keeps libpng from decompressing iCCP/zTXt/iTXt payloads.
constexpr png_byte kIgnoredChunks[] =
    "bKGD\0cHRM\0eXIf\0gAMA\0hIST\0iCCP\0iTXt\0oFFs\0pCAL\0pHYs\0sBIT\0sCAL\0sPLT\0sRGB\0sTER\0"
    "tEXt\0tIME\0zTXt";

void configure_reader(png_structp png) {
  png_set_user_limits(png, kMaxImageSide, kMaxImageSide);
  png_set_chunk_malloc_max(png, 8 << 20);
  // A CRC error in any chunk, critical or not, means the file is damaged: refuse it.
  png_set_crc_action(png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
  png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, nullptr, 0);
  png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, kIgnoredChunks,
                              static_cast<int>(sizeof(kIgnoredChunks) / 5));
}

// Widens the samples libpng left in `image.samples` (as PNG bytes) to native uint16 in place.
// 16-bit: each sample's two big-endian bytes sit where the sample goes. 8-bit: row y's bytes
// fill the first half of the row; widening from the row's end backwards never overwrites a
// byte not yet read.
void widen_png_rows(Image& image) {
  const std::size_t samples_per_row = static_cast<std::size_t>(image.width) * image.channels;
  for (int64_t y = 0; y < image.height; ++y) {
    uint16_t* row = image.samples.data() + y * samples_per_row;
    const auto* bytes = reinterpret_cast<const uint8_t*>(row);
    if (image.bit_depth == 16) {
      for (std::size_t i = 0; i < samples_per_row; ++i) {
        row[i] = static_cast<uint16_t>((bytes[2 * i] << 8) | bytes[2 * i + 1]);
      }
    } else {
      for (std::size_t i = samples_per_row; i-- > 0;) row[i] = bytes[i];
    }
  }
}

// Returns false after a libpng error (message in the context). Throws cosae::Error only from
// its own frame (size checks, allocation), never from inside a libpng call.
bool run_png_decode(png_structp png, png_infop info, PngContext* context, Image* image) {
  if (setjmp(png_jmpbuf(png))) return false;

  png_set_read_fn(png, context, read_from_memory);
  configure_reader(png);
  png_read_info(png, info);

  const png_uint_32 width = png_get_image_width(png, info);
  const png_uint_32 height = png_get_image_height(png, info);
  io_detail::check_image_dimensions(width, height);
  // Deflate expands at most 1032:1, so a file too small to hold the pixels its header claims
  // is refused before the image buffer is allocated (a tiny file cannot ask for gigabytes).
  const uint64_t bits_per_pixel = uint64_t(png_get_channels(png, info)) * png_get_bit_depth(png, info);
  const uint64_t min_pixel_bytes = uint64_t(height) * ((uint64_t(width) * bits_per_pixel + 7) / 8);
  if (min_pixel_bytes > uint64_t(context->input_size) * kMaxDeflateRatio) {
    png_error(png, "file too small for the image size in its header; truncated?");
  }

  const int color_type = png_get_color_type(png, info);
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color_type == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(png, info) < 8) {
    png_set_expand_gray_1_2_4_to_8(png);
  }
  if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
  png_set_interlace_handling(png);  // png_read_image then runs every Adam7 pass itself
  png_read_update_info(png, info);

  image->width = static_cast<int>(width);
  image->height = static_cast<int>(height);
  image->channels = png_get_channels(png, info);
  image->bit_depth = png_get_bit_depth(png, info);
  if (image->bit_depth != 8 && image->bit_depth != 16) png_error(png, "unexpected bit depth");
  if (image->channels < 1 || image->channels > 4) png_error(png, "unexpected channel count");

  // Each row of PNG bytes is read into the space its uint16 samples will occupy.
  const std::size_t sample_row_bytes = static_cast<std::size_t>(width) * image->channels * sizeof(uint16_t);
  const std::size_t png_row_bytes = static_cast<std::size_t>(width) * image->channels * (image->bit_depth / 8);
  if (png_get_rowbytes(png, info) != png_row_bytes) png_error(png, "unexpected row size");
  image->samples.resize(image->sample_count());
  context->row_pointers.resize(height);
  auto* base = reinterpret_cast<png_bytep>(image->samples.data());
  for (png_uint_32 y = 0; y < height; ++y) context->row_pointers[y] = base + y * sample_row_bytes;

  png_read_image(png, context->row_pointers.data());
  png_read_end(png, nullptr);  // reads to IEND: a file truncated after its pixels is still refused
  return true;
}

// Fills one row of PNG bytes (big-endian for 16-bit) from the image's samples.
void pack_png_row(const Image& image, int64_t y, std::vector<png_byte>& row) {
  const std::size_t samples_per_row = static_cast<std::size_t>(image.width) * image.channels;
  const uint16_t* samples = image.samples.data() + y * samples_per_row;
  if (image.bit_depth == 16) {
    for (std::size_t i = 0; i < samples_per_row; ++i) {
      row[2 * i] = static_cast<png_byte>(samples[i] >> 8);
      row[2 * i + 1] = static_cast<png_byte>(samples[i] & 0xff);
    }
  } else {
    for (std::size_t i = 0; i < samples_per_row; ++i) row[i] = static_cast<png_byte>(samples[i]);
  }
}

int png_color_type(int channels) {
  switch (channels) {
    case 1: return PNG_COLOR_TYPE_GRAY;
    case 2: return PNG_COLOR_TYPE_GRAY_ALPHA;
    case 3: return PNG_COLOR_TYPE_RGB;
    default: return PNG_COLOR_TYPE_RGB_ALPHA;
  }
}

bool run_png_encode(png_structp png, png_infop info, PngContext* context, const Image* image) {
  if (setjmp(png_jmpbuf(png))) return false;

  png_set_write_fn(png, context, write_to_memory, flush_memory);
  png_set_IHDR(png, info, static_cast<png_uint_32>(image->width), static_cast<png_uint_32>(image->height),
               image->bit_depth, png_color_type(image->channels), PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  context->row_bytes.resize(static_cast<std::size_t>(image->width) * image->channels * (image->bit_depth / 8));
  for (int64_t y = 0; y < image->height; ++y) {
    pack_png_row(*image, y, context->row_bytes);
    png_write_row(png, context->row_bytes.data());
  }
  png_write_end(png, nullptr);
  return true;
}

// Owns libpng's structures for one operation; frees them on every path.
class PngReadHandle {
 public:
  PngReadHandle() {
    png_ = png_create_read_struct(PNG_LIBPNG_VER_STRING, &context_, on_png_error, on_png_warning);
    if (png_) info_ = png_create_info_struct(png_);
    if (!png_ || !info_) throw std::bad_alloc();
  }
  ~PngReadHandle() { png_destroy_read_struct(&png_, info_ ? &info_ : nullptr, nullptr); }
  PngReadHandle(const PngReadHandle&) = delete;
  PngReadHandle& operator=(const PngReadHandle&) = delete;

  PngContext context_;
  png_structp png_ = nullptr;
  png_infop info_ = nullptr;
};

class PngWriteHandle {
 public:
  PngWriteHandle() {
    png_ = png_create_write_struct(PNG_LIBPNG_VER_STRING, &context_, on_png_error, on_png_warning);
    if (png_) info_ = png_create_info_struct(png_);
    if (!png_ || !info_) throw std::bad_alloc();
  }
  ~PngWriteHandle() { png_destroy_write_struct(&png_, info_ ? &info_ : nullptr); }
  PngWriteHandle(const PngWriteHandle&) = delete;
  PngWriteHandle& operator=(const PngWriteHandle&) = delete;

  PngContext context_;
  png_structp png_ = nullptr;
  png_infop info_ = nullptr;
};

}  // namespace

Image decode_png(const uint8_t* data, std::size_t size) {
  COSAE_CHECK(size > 0 && data != nullptr, bad_input, "empty input (0 bytes)");
  COSAE_CHECK(io_detail::has_png_signature(data, size), bad_input, "not a PNG file (no PNG signature)");
  check_header_dimensions(data, size);

  PngReadHandle handle;
  handle.context_.input = data;
  handle.context_.input_size = size;
  Image image;
  if (!run_png_decode(handle.png_, handle.info_, &handle.context_, &image)) {
    COSAE_CHECK(!handle.context_.truncated, bad_input, "truncated PNG data");
    COSAE_FAIL(bad_input, "corrupt PNG data (", handle.context_.error_message, ")");
  }
  widen_png_rows(image);
  return image;
}

std::vector<uint8_t> encode_png(const Image& image) {
  io_detail::check_image_for_encoding(image, "cannot encode PNG");

  std::vector<uint8_t> encoded;
  PngWriteHandle handle;
  handle.context_.output = &encoded;
  if (!run_png_encode(handle.png_, handle.info_, &handle.context_, &image)) {
    if (handle.context_.out_of_memory) throw std::bad_alloc();
    COSAE_FAIL(internal, "PNG encoding failed (", handle.context_.error_message, ")");
  }
  return encoded;
}

}  // namespace cosae
