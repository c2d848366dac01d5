// PNG decoding of every layout libpng can write, and of damaged or hostile PNG data.
#include <png.h>

#include <csetjmp>
#include <random>
#include <string>
#include <vector>

#include "catch_compat.hpp"
#include "cosae/error.hpp"
#include "cosae/image.hpp"
#include "image_test_util.hpp"

using cosae::ErrorKind;
using cosae::Image;
using cosae_test::contains;
using cosae_test::expect_error;
using cosae_test::random_image;

namespace {

// ---- PNGs written directly with libpng, for layouts encode_png never produces.
struct RawPng {
  int width = 0, height = 0, bit_depth = 8, color_type = PNG_COLOR_TYPE_RGB;
  bool interlaced = false;
  std::vector<std::vector<uint8_t>> rows;  // PNG row bytes (packed, 16-bit big-endian)
  std::vector<png_color> palette;
  std::vector<uint8_t> palette_alpha;  // tRNS of a palette image
  bool has_transparent_colour = false;
  png_color_16 transparent_colour{};  // tRNS of a grey or RGB image
};

struct RawPngOutput {
  std::vector<uint8_t> bytes;
  std::vector<png_bytep> row_pointers;
};

void append_output(png_structp png, png_bytep data, png_size_t length) {
  auto* output = static_cast<RawPngOutput*>(png_get_io_ptr(png));
  output->bytes.insert(output->bytes.end(), data, data + length);
}

// Only trivially destructible locals between setjmp and a possible longjmp.
bool run_raw_png_write(png_structp png, png_infop info, const RawPng* raw, RawPngOutput* output) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_write_fn(png, output, append_output, nullptr);
  png_set_IHDR(png, info, raw->width, raw->height, raw->bit_depth, raw->color_type,
               raw->interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (!raw->palette.empty()) png_set_PLTE(png, info, raw->palette.data(), static_cast<int>(raw->palette.size()));
  if (!raw->palette_alpha.empty()) {
    png_set_tRNS(png, info, raw->palette_alpha.data(), static_cast<int>(raw->palette_alpha.size()), nullptr);
  }
  if (raw->has_transparent_colour) png_set_tRNS(png, info, nullptr, 0, &raw->transparent_colour);
  png_write_info(png, info);
  png_set_interlace_handling(png);
  png_write_image(png, output->row_pointers.data());
  png_write_end(png, nullptr);
  return true;
}

std::vector<uint8_t> write_raw_png(RawPng raw) {
  RawPngOutput output;
  for (auto& row : raw.rows) output.row_pointers.push_back(row.data());
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  const bool written = run_raw_png_write(png, info, &raw, &output);
  png_destroy_write_struct(&png, &info);
  REQUIRE(written);
  return output.bytes;
}

// Packs values of `bits` bits (1, 2, 4, 8) most significant first, as PNG rows do.
std::vector<uint8_t> pack_row(const std::vector<int>& values, int bits) {
  std::vector<uint8_t> row((values.size() * bits + 7) / 8, 0);
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::size_t bit = i * bits;
    row[bit / 8] |= static_cast<uint8_t>(values[i] << (8 - bits - bit % 8));
  }
  return row;
}

// Rows of PNG bytes for an Image (what libpng expects for an 8/16-bit colour type).
std::vector<std::vector<uint8_t>> png_rows_of(const Image& image) {
  std::vector<std::vector<uint8_t>> rows(image.height);
  const std::size_t row_samples = std::size_t(image.width) * image.channels;
  for (int y = 0; y < image.height; ++y) {
    for (std::size_t i = 0; i < row_samples; ++i) {
      const uint16_t value = image.samples[y * row_samples + i];
      if (image.bit_depth == 16) rows[y].push_back(static_cast<uint8_t>(value >> 8));
      rows[y].push_back(static_cast<uint8_t>(value & 0xff));
    }
  }
  return rows;
}

uint32_t crc32(const uint8_t* data, std::size_t size) {
  uint32_t crc = 0xffffffffu;
  for (std::size_t i = 0; i < size; ++i) {
    crc ^= data[i];
    for (int k = 0; k < 8; ++k) crc = (crc & 1) ? 0xedb88320u ^ (crc >> 1) : crc >> 1;
  }
  return crc ^ 0xffffffffu;
}

void put_u32(uint8_t* at, uint32_t value) {
  for (int i = 0; i < 4; ++i) at[i] = static_cast<uint8_t>(value >> (24 - 8 * i));
}

// A valid small PNG whose IHDR claims width x height (with a correct CRC).
std::vector<uint8_t> png_claiming_size(uint32_t width, uint32_t height) {
  std::vector<uint8_t> bytes = cosae::encode_png(random_image(4, 4, 3, 8, 1));
  put_u32(bytes.data() + 16, width);
  put_u32(bytes.data() + 20, height);
  put_u32(bytes.data() + 29, crc32(bytes.data() + 12, 17));
  return bytes;
}

}  // namespace

TEST_CASE("PNG round trip is lossless for every channel count and bit depth", "[io]") {
  const int sizes[][2] = {{1, 1}, {7, 3}, {63, 65}};
  uint32_t seed = 1;
  for (int channels = 1; channels <= 4; ++channels) {
    for (int bit_depth : {8, 16}) {
      for (const auto& size : sizes) {
        INFO(channels << " channels, " << bit_depth << " bits, " << size[0] << "x" << size[1]);
        const Image image = random_image(size[0], size[1], channels, bit_depth, seed++);
        const std::vector<uint8_t> encoded = cosae::encode_png(image);
        const Image decoded = cosae::decode_png(encoded.data(), encoded.size());
        CHECK(decoded.width == image.width);
        CHECK(decoded.height == image.height);
        CHECK(decoded.channels == channels);
        CHECK(decoded.bit_depth == bit_depth);
        CHECK(decoded.samples == image.samples);
      }
    }
  }
}

TEST_CASE("PNG palette images expand to RGB, or RGBA with tRNS", "[io]") {
  for (int bit_depth : {2, 8}) {
    for (bool with_alpha : {false, true}) {
      INFO(bit_depth << "-bit palette, tRNS " << with_alpha);
      RawPng raw;
      raw.width = 5, raw.height = 3, raw.bit_depth = bit_depth, raw.color_type = PNG_COLOR_TYPE_PALETTE;
      raw.palette = {{10, 20, 30}, {40, 50, 60}, {70, 80, 90}, {250, 0, 125}};
      if (with_alpha) raw.palette_alpha = {0, 128};  // entries 2 and 3 stay opaque
      std::vector<int> indexes;
      for (int y = 0; y < raw.height; ++y) {
        std::vector<int> row;
        for (int x = 0; x < raw.width; ++x) row.push_back((x + 2 * y) % 4);
        indexes.insert(indexes.end(), row.begin(), row.end());
        raw.rows.push_back(pack_row(row, bit_depth));
      }
      const std::vector<uint8_t> bytes = write_raw_png(raw);
      const Image image = cosae::decode_png(bytes.data(), bytes.size());
      const int channels = with_alpha ? 4 : 3;
      REQUIRE(image.channels == channels);
      REQUIRE(image.bit_depth == 8);
      for (std::size_t i = 0; i < indexes.size(); ++i) {
        const png_color& colour = raw.palette[indexes[i]];
        CHECK(image.samples[i * channels] == colour.red);
        CHECK(image.samples[i * channels + 1] == colour.green);
        CHECK(image.samples[i * channels + 2] == colour.blue);
        if (with_alpha) CHECK(image.samples[i * 4 + 3] == (indexes[i] < 2 ? raw.palette_alpha[indexes[i]] : 255));
      }
    }
  }
}

TEST_CASE("PNG grey below 8 bits expands to 8 bits", "[io]") {
  for (int bits : {1, 2, 4}) {
    INFO(bits << "-bit grey");
    const int levels = 1 << bits;
    RawPng raw;
    raw.width = 11, raw.height = 2, raw.bit_depth = bits, raw.color_type = PNG_COLOR_TYPE_GRAY;
    std::vector<int> values;
    for (int y = 0; y < raw.height; ++y) {
      std::vector<int> row;
      for (int x = 0; x < raw.width; ++x) row.push_back((x * 3 + y) % levels);
      values.insert(values.end(), row.begin(), row.end());
      raw.rows.push_back(pack_row(row, bits));
    }
    const std::vector<uint8_t> bytes = write_raw_png(raw);
    const Image image = cosae::decode_png(bytes.data(), bytes.size());
    REQUIRE(image.channels == 1);
    REQUIRE(image.bit_depth == 8);
    for (std::size_t i = 0; i < values.size(); ++i) CHECK(image.samples[i] == values[i] * 255 / (levels - 1));
  }
}

TEST_CASE("PNG tRNS on grey and RGB becomes an alpha channel", "[io]") {
  for (int bit_depth : {8, 16}) {
    for (int colour_channels : {1, 3}) {
      INFO(colour_channels << " channels, " << bit_depth << " bits");
      Image source = random_image(6, 4, colour_channels, bit_depth, 7);
      for (int c = 0; c < colour_channels; ++c) source.samples[c] = 5;  // pixel 0 is the transparent colour
      RawPng raw;
      raw.width = source.width, raw.height = source.height, raw.bit_depth = bit_depth;
      raw.color_type = colour_channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB;
      raw.rows = png_rows_of(source);
      raw.has_transparent_colour = true;
      raw.transparent_colour.gray = raw.transparent_colour.red = raw.transparent_colour.green =
          raw.transparent_colour.blue = 5;
      const std::vector<uint8_t> bytes = write_raw_png(raw);
      const Image image = cosae::decode_png(bytes.data(), bytes.size());
      REQUIRE(image.channels == colour_channels + 1);
      REQUIRE(image.bit_depth == bit_depth);
      for (std::size_t pixel = 0; pixel < std::size_t(source.width) * source.height; ++pixel) {
        bool transparent = true;
        for (int c = 0; c < colour_channels; ++c) {
          const uint16_t value = source.samples[pixel * colour_channels + c];
          CHECK(image.samples[pixel * image.channels + c] == value);
          transparent &= value == 5;
        }
        CHECK(image.samples[pixel * image.channels + colour_channels] == (transparent ? 0 : source.max_value()));
      }
    }
  }
}

TEST_CASE("Interlaced PNGs decode to the same samples", "[io]") {
  const int layouts[][4] = {{13, 11, 3, 8}, {13, 11, 4, 16}, {1, 1, 1, 8}, {9, 17, 2, 16}};
  for (const auto& layout : layouts) {
    INFO(layout[0] << "x" << layout[1] << ", " << layout[2] << " channels, " << layout[3] << " bits");
    const Image source = random_image(layout[0], layout[1], layout[2], layout[3], 11);
    RawPng raw;
    raw.width = source.width, raw.height = source.height, raw.bit_depth = source.bit_depth;
    raw.color_type = source.channels == 1   ? PNG_COLOR_TYPE_GRAY
                     : source.channels == 2 ? PNG_COLOR_TYPE_GRAY_ALPHA
                     : source.channels == 3 ? PNG_COLOR_TYPE_RGB
                                            : PNG_COLOR_TYPE_RGB_ALPHA;
    raw.interlaced = true;
    raw.rows = png_rows_of(source);
    const std::vector<uint8_t> bytes = write_raw_png(raw);
    const Image image = cosae::decode_png(bytes.data(), bytes.size());
    CHECK(image.channels == source.channels);
    CHECK(image.samples == source.samples);
  }
}

TEST_CASE("Corrupt PNG data throws cosae::Error and never crashes", "[io]") {
  const std::vector<uint8_t> valid = cosae::encode_png(random_image(9, 7, 4, 16, 3));

  SECTION("empty and foreign data") {
    CHECK(expect_error([] { cosae::decode_png(nullptr, 0); }).kind() == ErrorKind::bad_input);
    const uint8_t text[] = "hello, not a PNG at all";
    const cosae::Error error = expect_error([&] { cosae::decode_png(text, sizeof(text)); });
    CHECK(error.kind() == ErrorKind::bad_input);
    CHECK(contains(error.what(), "not a PNG"));
  }
  SECTION("truncated at every offset") {
    int failures = 0;
    for (std::size_t length = 0; length < valid.size(); ++length) {
      const std::string expected = length == 0 ? "empty input" : length < 8 ? "not a PNG" : "truncated PNG data";
      try {
        cosae::decode_png(valid.data(), length);
        ++failures;
        UNSCOPED_INFO("decoded when truncated to " << length << " bytes");
      } catch (const cosae::Error& error) {
        if (error.kind() != ErrorKind::bad_input || !contains(error.what(), expected)) {
          ++failures;
          UNSCOPED_INFO(length << " bytes: " << error.what());
        }
      }
    }
    CHECK(failures == 0);
  }
  SECTION("random bit flips") {
    std::mt19937 generator(2024);
    int failures = 0;
    for (int trial = 0; trial < 500; ++trial) {
      std::vector<uint8_t> damaged = valid;
      const std::size_t bit = generator() % (damaged.size() * 8);
      damaged[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
      try {
        cosae::decode_png(damaged.data(), damaged.size());
        ++failures;
        UNSCOPED_INFO("decoded with bit " << bit << " flipped");
      } catch (const cosae::Error& error) {
        if (error.kind() != ErrorKind::bad_input) ++failures;
      }
    }
    CHECK(failures == 0);
  }
  SECTION("zero-sized image") {
    const std::vector<uint8_t> bytes = png_claiming_size(0, 5);
    const cosae::Error error = expect_error([&] { cosae::decode_png(bytes.data(), bytes.size()); });
    CHECK(error.kind() == ErrorKind::bad_input);
    CHECK(contains(error.what(), "no pixels"));
  }
}

TEST_CASE("PNG headers claiming huge images are refused before allocation", "[io]") {
  const std::vector<uint8_t> huge = png_claiming_size(100000, 100000);
  cosae::Error error = expect_error([&] { cosae::decode_png(huge.data(), huge.size()); });
  CHECK(error.kind() == ErrorKind::bad_input);
  CHECK(contains(error.what(), "100000x100000"));

  const std::vector<uint8_t> too_many_pixels = png_claiming_size(60000, 60000);
  error = expect_error([&] { cosae::decode_png(too_many_pixels.data(), too_many_pixels.size()); });
  CHECK(contains(error.what(), "at most"));

  // Within the limits, but far more pixels than a file this small can hold.
  const std::vector<uint8_t> small_file = png_claiming_size(30000, 30000);
  error = expect_error([&] { cosae::decode_png(small_file.data(), small_file.size()); });
  CHECK(contains(error.what(), "too small"));
}

TEST_CASE("encode_png refuses inconsistent images", "[io]") {
  Image image = random_image(3, 2, 3, 8, 5);
  image.samples.pop_back();
  CHECK(expect_error([&] { cosae::encode_png(image); }).kind() == ErrorKind::bad_input);
  image = random_image(3, 2, 3, 8, 5);
  image.samples[4] = 300;
  CHECK(expect_error([&] { cosae::encode_png(image); }).kind() == ErrorKind::bad_input);
  image.channels = 5;
  CHECK(expect_error([&] { cosae::encode_png(image); }).kind() == ErrorKind::bad_input);
}

