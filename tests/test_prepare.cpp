// cosae prepare: area downscaling, shards, manifest, bad files, refusal to overwrite,
// independence from the thread count, and the command line.
//
// LibTorch (through dataset.hpp) comes first: glog's CHECK must not replace Catch's.
#include "train/dataset.hpp"
#undef CHECK

#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catch_compat.hpp"
#include "cosae/error.hpp"
#include "cosae/image.hpp"
#include "image_test_util.hpp"
#include "temp_dir.hpp"
#include "train/prepare.hpp"

#if defined(COSAE_WITH_OPENCV)
#include <opencv2/imgproc.hpp>
#endif

using cosae::ErrorKind;
using cosae::Image;
using cosae::train::area_downscale;
using cosae::train::prepare_dataset;
using cosae::train::PrepareOptions;
using cosae_test::contains;
using cosae_test::expect_error;
using cosae_test::random_image;
using cosae_test::TemporaryDirectory;

namespace {

Image grey_image(int width, int height, const std::vector<uint16_t>& samples, int bit_depth = 8) {
  Image image{width, height, 1, bit_depth, samples};
  REQUIRE(image.samples.size() == image.sample_count());
  return image;
}

nlohmann::json read_json(const std::string& path) {
  const auto bytes = cosae::read_file(path);
  return nlohmann::json::parse(bytes.begin(), bytes.end());
}

int64_t file_size(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_size;
}

// Random-noise RGB images (incompressible, so their PNG sizes are predictable) in `folder`.
void write_noise_images(const std::string& folder, int count, int width, int height) {
  cosae_test::make_dirs(folder);
  for (int i = 0; i < count; ++i)
    cosae::write_png(folder + "/photo" + std::to_string(i) + ".png", random_image(width, height, 3, 8, 700 + i));
}

PrepareOptions small_options(const std::string& input, const std::string& out) {
  PrepareOptions options;
  options.inputs = {input};
  options.out = out;
  options.downscale = 2.0;
  options.min_side = 8;
  options.threads = 2;
  return options;
}

struct Collected {
  std::vector<std::string> warnings;
  std::vector<cosae::train::Notice> kinds;
  cosae::train::NoticeSink sink() {
    return [this](cosae::train::Notice kind, const std::string& message) {
      kinds.push_back(kind);
      warnings.push_back(message);
    };
  }
};

// An image of the data set, from its manifest entry.
std::string output_path(const std::string& out, const nlohmann::json& entry) {
  return out + "/" + entry["file"].get<std::string>();
}
std::string shard_of(const nlohmann::json& entry) {
  const std::string file = entry["file"];
  return file.substr(0, file.find_last_of('/'));
}

}  // namespace

TEST_CASE("area downscale averages each output pixel's exact footprint", "[prepare]") {
  SECTION("4x4 to 2x2: plain 2x2 box means") {
    const Image source = grey_image(4, 4, {0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150});
    const Image result = area_downscale(source, 2, 2);
    CHECK(result.channels == 1);
    CHECK(result.bit_depth == 8);
    CHECK(result.samples == std::vector<uint16_t>{25, 45, 105, 125});
  }
  SECTION("3x3 to 2x2 (factor 1.5): the middle pixel is split between both outputs") {
    // v(x, y) = column[x] + row[y] is separable, so each output is column mean + row mean:
    // columns 0, 30, 90 -> (2*0 + 30)/3 = 10 and (30 + 2*90)/3 = 70; rows 0, 3, 9 -> 1 and 7.
    const int column[] = {0, 30, 90};
    const int row[] = {0, 3, 9};
    std::vector<uint16_t> samples;
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 3; ++x) samples.push_back(static_cast<uint16_t>(column[x] + row[y]));
    CHECK(cosae::train::downscaled_size(3, 1.5) == 2);
    const Image result = area_downscale(grey_image(3, 3, samples), 2, 2);
    CHECK(result.samples == std::vector<uint16_t>{11, 71, 17, 77});
  }
  SECTION("RGBA 16-bit: alpha dropped, 16 bits rounded to 8") {
    Image source{2, 1, 4, 16, {257 * 10, 257 * 100, 257 * 50, 65535, 257 * 20, 257 * 102, 257 * 54, 0}};
    const Image result = area_downscale(source, 1, 1);
    CHECK(result.channels == 3);
    CHECK(result.samples == std::vector<uint16_t>{15, 101, 52});
  }
  SECTION("factor 1 only converts") {
    const Image source = random_image(7, 5, 3, 8, 3);
    CHECK(area_downscale(source, 7, 5).samples == source.samples);
  }
#if defined(COSAE_WITH_OPENCV)
  SECTION("agrees with OpenCV's INTER_AREA to within rounding") {
    const Image source = random_image(37, 29, 3, 8, 4);
    cv::Mat input(29, 37, CV_8UC3);
    for (std::size_t i = 0; i < source.samples.size(); ++i) input.data[i] = static_cast<uint8_t>(source.samples[i]);
    cv::Mat expected;
    cv::resize(input, expected, cv::Size(15, 12), 0, 0, cv::INTER_AREA);
    const Image result = area_downscale(source, 15, 12);
    for (std::size_t i = 0; i < result.samples.size(); ++i) REQUIRE(std::abs(int(result.samples[i]) - int(expected.data[i])) <= 1);
  }
#endif
}

TEST_CASE("prepare writes shards within the byte limit and a manifest", "[prepare]") {
  TemporaryDirectory directory;
  write_noise_images(directory / "in/a", 5, 64, 48);  // ~2.3 kB each as 32x24 noise PNG
  write_noise_images(directory / "in/b", 1, 200, 160);  // ~30 kB: bigger than a shard alone
  auto options = small_options(directory / "in", directory / "out");
  options.max_shard_bytes = 5000;
  Collected collected;
  const auto summary = prepare_dataset(options, collected.sink());
  CHECK(summary.sources == 6);
  CHECK(summary.written == 6);
  CHECK(summary.skipped == 0);

  const auto manifest = read_json(directory / "out/manifest.json");
  REQUIRE(manifest["images"].size() == 6);
  std::map<std::string, int64_t> shard_bytes;
  int64_t total = 0;
  for (const auto& entry : manifest["images"]) {
    const std::string path = output_path(directory / "out", entry);
    CHECK(file_size(path) == entry["bytes"].get<int64_t>());
    const Image written = cosae::read_png(path);
    CHECK(written.width == entry["width"].get<int>());
    CHECK(written.height == entry["height"].get<int>());
    CHECK(shard_of(entry).rfind("train/shard-", 0) == 0);
    CHECK(entry["split"] == "train");
    shard_bytes[shard_of(entry)] += entry["bytes"].get<int64_t>();
    total += entry["bytes"].get<int64_t>();
  }
  // Sources in order: a/photo0..4 then b/photo0, which is alone in the last shard.
  CHECK(manifest["images"][0]["source"] == directory / "in/a/photo0.png");
  CHECK(manifest["images"][0]["width"] == 32);
  CHECK(manifest["images"][0]["height"] == 24);
  CHECK(manifest["images"][5]["width"] == 100);
  const std::string last_shard = shard_of(manifest["images"][5]);
  CHECK(shard_bytes[last_shard] == manifest["images"][5]["bytes"].get<int64_t>());
  for (const auto& [shard, bytes] : shard_bytes)
    if (shard != last_shard) CHECK(bytes <= options.max_shard_bytes);
  CHECK(shard_bytes.size() >= 3);
  CHECK(manifest["totals"]["shards"] == int64_t(shard_bytes.size()));
  CHECK(manifest["totals"]["bytes"] == total);
  CHECK(manifest["totals"]["images"] == 6);
  CHECK(manifest["options"]["downscale"] == 2.0);
  CHECK(manifest["options"]["max_shard_bytes"] == 5000);
  REQUIRE(collected.warnings.size() == 1);
  CHECK(contains(collected.warnings[0], "b/photo0.png"));
  CHECK(contains(collected.warnings[0], "a shard of its own"));
}

TEST_CASE("prepare skips corrupt and too-small files with a warning", "[prepare]") {
  TemporaryDirectory directory;
  write_noise_images(directory / "in", 2, 40, 40);
  const std::vector<uint8_t> garbage = {0x89, 'P', 'N', 'G', 1, 2, 3};
  cosae::write_file_atomic(directory / "in/broken.png", garbage.data(), garbage.size());
  cosae::write_png(directory / "in/tiny.png", random_image(10, 30, 3, 8, 9));  // 5x15 after /2
  Collected collected;
  const auto summary = prepare_dataset(small_options(directory / "in", directory / "out"), collected.sink());
  CHECK(summary.written == 2);
  CHECK(summary.skipped == 2);
  REQUIRE(collected.warnings.size() == 2);
  CHECK(contains(collected.warnings[0], "broken.png"));
  CHECK(contains(collected.warnings[1], "tiny.png"));
  CHECK(contains(collected.warnings[1], "min-side"));
  const auto manifest = read_json(directory / "out/manifest.json");
  CHECK(manifest["skipped"].size() == 2);
  CHECK(manifest["totals"]["skipped"] == 2);
}

TEST_CASE("prepare divides small images by less with --min-downscale and skips repeated pixels", "[prepare]") {
  TemporaryDirectory directory;
  const Image big = random_image(64, 48, 3, 8, 31);
  const Image middle = random_image(24, 24, 3, 8, 32);
  cosae_test::make_dirs(directory / "in");
  cosae::write_png(directory / "in/a-big.png", big);
  cosae::write_png(directory / "in/b-copy.png", big);  // the same pixels under another name
  cosae::write_png(directory / "in/c-middle.png", middle);
  cosae::write_png(directory / "in/d-small.png", random_image(12, 12, 3, 8, 33));
  auto options = small_options(directory / "in", directory / "out");
  options.downscale = 4.0;  // min_side 8: the middle image would be 6x6

  SECTION("off: only the full factor, the copy skipped") {
    Collected collected;
    const auto summary = prepare_dataset(options, collected.sink());
    CHECK(summary.written == 1);
    CHECK(summary.skipped == 3);
    REQUIRE(collected.warnings.size() == 3);
    CHECK(contains(collected.warnings[0], "b-copy.png: the same picture as "));
    CHECK(contains(collected.warnings[0], "a-big.png"));
    CHECK(contains(collected.warnings[1], "c-middle.png"));
    CHECK(contains(collected.warnings[1], "min-side"));
  }
  SECTION("on: the middle image divided by 3 to keep 8 pixels; the small one needs less than 2") {
    options.min_downscale = 2.0;
    Collected collected;
    const auto summary = prepare_dataset(options, collected.sink());
    CHECK(summary.written == 2);
    CHECK(summary.skipped == 2);
    const auto manifest = read_json(directory / "out/manifest.json");
    REQUIRE(manifest["images"].size() == 2);
    CHECK(manifest["images"][0]["downscale"] == 4.0);
    CHECK(manifest["images"][0]["width"] == 16);
    CHECK(manifest["images"][1]["downscale"] == 3.0);
    CHECK(manifest["images"][1]["width"] == 8);
    CHECK(manifest["options"]["min_downscale"] == 2.0);
    const std::string written = output_path(directory / "out", manifest["images"][1]);
    CHECK(cosae::read_png(written).samples == area_downscale(middle, 8, 8).samples);
    REQUIRE(collected.warnings.size() == 2);
    CHECK(contains(collected.warnings[1], "d-small.png: 6x6 after downscaling"));
  }
  SECTION("a floor above the factor is refused") {
    options.min_downscale = 5.0;
    CHECK(expect_error([&] { prepare_dataset(options, {}); }).kind() == ErrorKind::usage);
  }
}

TEST_CASE("prepare fails clearly when no usable image remains", "[prepare]") {
  TemporaryDirectory directory;
  cosae_test::make_dirs(directory / "empty");
  auto error = expect_error([&] { prepare_dataset(small_options(directory / "empty", directory / "out"), {}); });
  CHECK(error.kind() == ErrorKind::bad_input);

  cosae_test::make_dirs(directory / "bad");
  const std::vector<uint8_t> garbage = {1, 2, 3};
  cosae::write_file_atomic(directory / "bad/x.png", garbage.data(), garbage.size());
  error = expect_error([&] { prepare_dataset(small_options(directory / "bad", directory / "out"), {}); });
  CHECK(error.kind() == ErrorKind::bad_input);
  CHECK(contains(error.what(), "could be used"));
  CHECK_FALSE(cosae_test::exists(directory / "out/manifest.json"));

  error = expect_error([&] { prepare_dataset(small_options(directory / "missing", directory / "out"), {}); });
  CHECK(error.kind() == ErrorKind::usage);
  auto inside = small_options(directory / "bad", directory / "bad/out");
  CHECK(expect_error([&] { prepare_dataset(inside, {}); }).kind() == ErrorKind::usage);
  auto containing = small_options(directory / "bad/x", directory / "bad");
  CHECK(expect_error([&] { prepare_dataset(containing, {}); }).kind() == ErrorKind::usage);
}

TEST_CASE("prepare refuses an existing data set unless asked to overwrite", "[prepare]") {
  TemporaryDirectory directory;
  write_noise_images(directory / "in", 3, 40, 40);
  auto options = small_options(directory / "in", directory / "out");
  prepare_dataset(options, {});
  const auto before = cosae::read_file(directory / "out/manifest.json");
  const auto error = expect_error([&] { prepare_dataset(options, {}); });
  CHECK(error.kind() == ErrorKind::usage);
  CHECK(contains(error.what(), "--force"));
  CHECK(cosae::read_file(directory / "out/manifest.json") == before);

  // Overwriting with fewer sources removes the files only the old manifest listed.
  const std::string dropped = directory / "in/photo2.png";
  const auto old_manifest = read_json(directory / "out/manifest.json");
  const std::string dropped_output = output_path(directory / "out", old_manifest["images"][2]);
  REQUIRE(cosae_test::exists(dropped_output));
  REQUIRE(::unlink(dropped.c_str()) == 0);
  options.overwrite = true;
  CHECK(prepare_dataset(options, {}).written == 2);
  CHECK_FALSE(cosae_test::exists(dropped_output));
  CHECK(read_json(directory / "out/manifest.json")["images"].size() == 2);
}

TEST_CASE("prepare output does not depend on the thread count", "[prepare]") {
  TemporaryDirectory directory;
  write_noise_images(directory / "in/x", 6, 50 + 3, 40);
  write_noise_images(directory / "in/y", 5, 36, 70);
  auto options = small_options(directory / "in", directory / "one");
  options.downscale = 1.7;
  options.max_shard_bytes = 4000;
  options.threads = 1;
  prepare_dataset(options, {});
  options.out = directory / "two";
  options.threads = 2;
  prepare_dataset(options, {});
  const auto manifest = cosae::read_file(directory / "one/manifest.json");
  REQUIRE(manifest == cosae::read_file(directory / "two/manifest.json"));
  for (const auto& entry : read_json(directory / "one/manifest.json")["images"]) {
    CHECK(cosae::read_file(output_path(directory / "one", entry)) == cosae::read_file(output_path(directory / "two", entry)));
  }
}

TEST_CASE("cosae prepare on the command line", "[prepare][cli]") {
  TemporaryDirectory directory;
  write_noise_images(directory / "in", 2, 600, 520);
  const std::string command = std::string(COSAE_TEST_CLI) + " prepare --in " + (directory / "in") + " --out " +
                              (directory / "out") + " --threads 2 2>" + (directory / "log.txt");
  int status = std::system(command.c_str());
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(read_json(directory / "out/manifest.json")["images"][0]["width"] == 300);
  const auto log = cosae::read_file(directory / "log.txt");
  CHECK(contains(std::string(log.begin(), log.end()), "prepared 2 images (0 held out, 0 skipped) in 1 shards"));
  status = std::system(command.c_str());
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 2);  // usage: existing data set without --force
}

#if defined(COSAE_WITH_OPENCV)
TEST_CASE("prepare --format webp writes the same pixels, losslessly and smaller", "[prepare]") {
  TemporaryDirectory directory;
  cosae_test::make_dirs(directory / "in");
  // A smooth gradient with a little noise: compressible, as photos are.
  Image image{160, 120, 3, 8, {}};
  const Image noise = random_image(160, 120, 3, 8, 5);
  for (std::size_t i = 0; i < noise.samples.size(); ++i)
    image.samples.push_back(static_cast<uint16_t>((i / 3 % 160) + noise.samples[i] % 8));
  cosae::write_png(directory / "in/g.png", image);
  auto options = small_options(directory / "in", directory / "png");
  options.downscale = 1.0;
  prepare_dataset(options, {});
  options.out = directory / "webp";
  options.format = "webp";
  prepare_dataset(options, {});
  const auto png = read_json(directory / "png/manifest.json")["images"][0];
  const auto webp = read_json(directory / "webp/manifest.json")["images"][0];
  CHECK(webp["file"].get<std::string>().size() > 5);
  CHECK(webp["file"].get<std::string>().substr(webp["file"].get<std::string>().size() - 5) == ".webp");
  CHECK(webp["pixels_sha256"] == png["pixels_sha256"]);
  CHECK(webp["bytes"].get<int64_t>() < png["bytes"].get<int64_t>());
  CHECK(cosae::read_image(output_path(directory / "webp", webp)).samples == image.samples);
}
#endif
