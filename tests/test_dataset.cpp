// Training data: folder listing and the batch loader (determinism, pixels, bad files, shutdown).
//
// LibTorch comes first: Debian's LibTorch pulls in glog, whose CHECK (abort on failure, silent
// otherwise) would replace Catch's CHECK if it came after catch_compat.hpp.
#include "train/dataset.hpp"
#undef CHECK

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "catch_compat.hpp"
#include "cosae/error.hpp"
#include "cosae/image.hpp"
#include "image_test_util.hpp"
#include "temp_dir.hpp"

using cosae::ErrorKind;
using cosae::Image;
using cosae::train::BatchLoader;
using cosae::train::list_images;
using cosae::train::LoaderOptions;
using cosae_test::contains;
using cosae_test::expect_error;
using cosae_test::random_image;
using cosae_test::TemporaryDirectory;

namespace {

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  cosae::write_file_atomic(path, bytes.data(), bytes.size());
}

Image constant_image(int width, int height, uint16_t red, uint16_t green, uint16_t blue) {
  Image image{width, height, 3, 8, {}};
  for (int i = 0; i < width * height; ++i) image.samples.insert(image.samples.end(), {red, green, blue});
  return image;
}

// Several random RGB images of different sizes in `directory`; returns their paths.
std::vector<std::string> write_random_images(const TemporaryDirectory& directory, int count) {
  std::vector<std::string> paths;
  for (int i = 0; i < count; ++i) {
    paths.push_back(directory / ("image" + std::to_string(i) + ".png"));
    cosae::write_png(paths.back(), random_image(60 + 7 * i, 45 + 5 * i, 3, 8, 100 + i));
  }
  return paths;
}

LoaderOptions small_options(int threads) {
  LoaderOptions options;
  options.batch = 4;
  options.crop = 24;
  options.threads = threads;
  options.seed = 1234;
  options.max_downscale = 1.7;
  options.prefetch = 2;
  return options;
}

}  // namespace

TEST_CASE("list_images scans folders recursively, sorted, images only", "[train]") {
  TemporaryDirectory directory;
  cosae_test::make_dirs(directory / "a/sub");
  cosae_test::make_dirs(directory / "empty");
  const Image image = random_image(5, 4, 3, 8, 1);
  for (const char* name : {"b.png", "a/C.PNG", "a/sub/d.png", ".hidden.png", "a/sub/._fork.png"}) {
    cosae::write_png(directory / name, image);
  }
  write_bytes(directory / "notes.txt", {'h', 'i'});
  write_bytes(directory / "b.png.bak", {1});
  REQUIRE(::symlink("..", (directory / "a/sub/loop").c_str()) == 0);   // a cycle
  REQUIRE(::symlink("a", (directory / "alias").c_str()) == 0);        // "a" again: listed once
  REQUIRE(::symlink("missing.png", (directory / "dangling.png").c_str()) == 0);
  std::vector<std::string> expected = {directory / "a/C.PNG", directory / "a/sub/d.png", directory / "b.png"};
#if defined(COSAE_WITH_OPENCV)
  write_bytes(directory / "empty/x.JPG", {0xff, 0xd8, 0xff});  // listed by name; decoding is later
  expected.push_back(directory / "empty/x.JPG");
#endif
  CHECK(list_images(directory.path) == expected);
  CHECK(list_images(directory.path + "/") == expected);

  cosae::Error error = expect_error([&] { list_images(directory / "nowhere"); });
  CHECK(error.kind() == ErrorKind::usage);
  CHECK(contains(error.what(), "does not exist"));
  error = expect_error([&] { list_images(directory / "b.png"); });
  CHECK(error.kind() == ErrorKind::usage);
  CHECK(contains(error.what(), "not a directory"));
  cosae_test::make_dirs(directory / "text-only");
  write_bytes(directory / "text-only/readme.txt", {'x'});
  error = expect_error([&] { list_images(directory / "text-only"); });
  CHECK(error.kind() == ErrorKind::bad_input);
  CHECK(contains(error.what(), "no images found in " + (directory / "text-only")));
}

TEST_CASE("BatchLoader batches depend on seed and step only", "[train]") {
  TemporaryDirectory directory;
  const std::vector<std::string> files = write_random_images(directory, 4);
  std::vector<torch::Tensor> reference;
  {
    BatchLoader loader(files, small_options(1));
    for (int64_t step = 0; step < 6; ++step) reference.push_back(loader.batch(step));
    CHECK(loader.take_warnings().empty());
    CHECK(loader.usable_files() == 4);
  }
  const torch::Tensor& first = reference[0];
  CHECK(first.sizes() == torch::IntArrayRef({4, 3, 24, 24}));
  CHECK(first.scalar_type() == torch::kFloat32);
  CHECK(first.device() == torch::kCPU);
  CHECK(first.is_contiguous());
  for (const torch::Tensor& batch : reference) {
    CHECK(batch.min().item<float>() >= 0.0f);
    CHECK(batch.max().item<float>() <= 1.0f);
  }
  CHECK_FALSE(torch::equal(reference[0], reference[1]));
  CHECK_FALSE(torch::equal(reference[0][0], reference[0][1]));

  SECTION("two threads, steps out of order, no cache") {
    LoaderOptions options = small_options(2);
    options.cache_bytes = 0;
    BatchLoader loader(files, options);
    for (const int64_t step : {5, 3, 0, 1, 4, 2, 5}) {
      INFO("step " << step);
      CHECK(torch::equal(loader.batch(step), reference[step]));
    }
  }
  SECTION("a cache that holds one image, prefetch off") {
    LoaderOptions options = small_options(2);
    options.cache_bytes = 60 * 45 * 3;
    options.prefetch = 0;
    BatchLoader loader(files, options);
    for (const int64_t step : {2, 2, 0, 5}) CHECK(torch::equal(loader.batch(step), reference[step]));
  }
  SECTION("other seeds and ranks give other samples") {
    LoaderOptions options = small_options(2);
    options.seed = 1235;
    CHECK_FALSE(torch::equal(BatchLoader(files, options).batch(0), reference[0]));
    options = small_options(2);
    options.world_size = 2;
    BatchLoader rank0(files, options);
    options.rank = 1;
    BatchLoader rank1(files, options);
    const torch::Tensor batch0 = rank0.batch(3);
    const torch::Tensor batch1 = rank1.batch(3);
    for (int64_t i = 0; i < 4; ++i) {
      for (int64_t j = 0; j < 4; ++j) CHECK_FALSE(torch::equal(batch0[i], batch1[j]));
    }
  }
}

TEST_CASE("BatchLoader pixels: conversion, flips, rescaling", "[train]") {
  TemporaryDirectory directory;
  LoaderOptions options;
  options.batch = 16;
  options.crop = 12;
  options.threads = 2;
  options.prefetch = 1;

  SECTION("16-bit grey with alpha: grey replicated, alpha dropped, every flip seen") {
    Image grey = random_image(12, 12, 2, 16, 7);
    cosae::write_png(directory / "grey.png", grey);
    torch::Tensor expected = torch::empty({3, 12, 12});
    for (int i = 0; i < 144; ++i) {
      const float level = static_cast<float>((uint32_t(grey.samples[2 * i]) * 255 + 32767) / 65535);
      for (int c = 0; c < 3; ++c) expected[c][i / 12][i % 12] = level / 255.0f;
    }
    options.flips = false;
    const torch::Tensor plain = BatchLoader({directory / "grey.png"}, options).batch(0);
    for (int64_t i = 0; i < 16; ++i) CHECK(torch::equal(plain[i], expected));

    options.flips = true;
    const std::vector<torch::Tensor> variants = {expected, expected.flip({2}), expected.flip({1}),
                                                 expected.flip({1, 2})};
    // Each sample of `batch` is exactly one of `orientations`; counts which.
    auto tally = [](const torch::Tensor& batch, const std::vector<torch::Tensor>& orientations, std::vector<int>& seen) {
      for (int64_t i = 0; i < batch.size(0); ++i) {
        int matches = 0;
        for (std::size_t v = 0; v < orientations.size(); ++v) {
          if (torch::equal(batch[i], orientations[v])) ++seen[v], ++matches;
        }
        CHECK(matches == 1);
      }
    };
    std::vector<int> seen(4, 0);
    BatchLoader loader({directory / "grey.png"}, options);
    for (int64_t step = 0; step < 4; ++step) tally(loader.batch(step), variants, seen);
    for (int v = 0; v < 4; ++v) CHECK(seen[v] > 0);

    // Rotations add the transposes: all eight orientations, each sample exactly one of them,
    // and no other draw changes (a sample that is not transposed is the one flips alone gave).
    options.rotations = true;
    std::vector<torch::Tensor> all = variants;
    for (int v = 0; v < 4; ++v) all.push_back(variants[v].transpose(1, 2));
    std::vector<int> seen8(8, 0);
    BatchLoader rotating({directory / "grey.png"}, options);
    for (int64_t step = 0; step < 8; ++step) {
      const torch::Tensor batch = rotating.batch(step);
      const torch::Tensor flipped = loader.batch(step);
      tally(batch, all, seen8);
      for (int64_t i = 0; i < 16; ++i)
        CHECK((torch::equal(batch[i], flipped[i]) || torch::equal(batch[i], flipped[i].transpose(1, 2))));
    }
    for (int v = 0; v < 8; ++v) CHECK(seen8[v] > 0);
  }
  SECTION("a flat colour stays flat when shrunk or enlarged") {
    cosae::write_png(directory / "flat.png", constant_image(50, 31, 200, 100, 0));
    cosae::write_png(directory / "tiny.png", constant_image(10, 7, 200, 100, 0));
    options.max_downscale = 3.0;
    const torch::Tensor colour = torch::tensor({200.0f / 255, 100.0f / 255, 0.0f}).view({1, 3, 1, 1});
    for (const char* name : {"flat.png", "tiny.png"}) {
      INFO(name);
      const torch::Tensor batch = BatchLoader({directory / name}, options).batch(0);
      CHECK(batch.sizes() == torch::IntArrayRef({16, 3, 12, 12}));
      CHECK((batch - colour).abs().max().item<float>() < 1e-5f);
    }
  }
  SECTION("images smaller than the crop give crop-sized samples") {
    cosae::write_png(directory / "small.png", random_image(10, 7, 4, 8, 3));
    options.crop = 32;
    BatchLoader loader({directory / "small.png"}, options);
    const torch::Tensor batch = loader.batch(1);
    CHECK(batch.sizes() == torch::IntArrayRef({16, 3, 32, 32}));
    CHECK(batch.min().item<float>() >= 0.0f);
    CHECK(batch.max().item<float>() <= 1.0f);
    CHECK(loader.take_warnings().empty());
  }
}

TEST_CASE("BatchLoader dead-leaves samples: a share of synthetic images, the crops unmoved", "[train]") {
  TemporaryDirectory directory;
  cosae::write_png(directory / "flat.png", constant_image(300, 280, 200, 100, 0));
  LoaderOptions options;
  options.batch = 16;
  options.crop = 64;
  options.threads = 2;
  options.seed = 7;
  options.max_downscale = 2.0;
  options.rotations = true;
  BatchLoader crops({directory / "flat.png"}, options);
  options.dead_leaves = 0.5;
  BatchLoader mixed({directory / "flat.png"}, options);
  options.threads = 1;
  BatchLoader mixed_again({directory / "flat.png"}, options);

  int synthetic = 0, total = 0;
  double fine = 0, coarse = 0;  // summed over the synthetic samples
  for (int64_t step = 0; step < 8; ++step) {
    const torch::Tensor batch = mixed.batch(step);
    CHECK(torch::equal(batch, mixed_again.batch(step)));  // threads do not change a batch
    const torch::Tensor real = crops.batch(step);
    for (int64_t i = 0; i < 16; ++i, ++total) {
      // A crop of the flat image is flat; a dead-leaves image never is.
      if (torch::equal(batch[i], real[i])) continue;
      ++synthetic;
      const torch::Tensor sample = batch[i];
      CHECK(sample.min().item<float>() >= 0.0f);
      CHECK(sample.max().item<float>() <= 1.0f);
      CHECK(sample.std().item<float>() > 0.0f);
      // Structure at both ends of the scale: edges between neighbours, and 16x16 regions
      // whose means differ (one disc may fill a whole crop: these are checked on the mean).
      fine += (sample.narrow(2, 1, 63) - sample.narrow(2, 0, 63)).abs().mean().item<double>();
      coarse += torch::avg_pool2d(sample.unsqueeze(0), 16).std().item<double>();
    }
  }
  fine /= std::max(synthetic, 1);
  coarse /= std::max(synthetic, 1);
  INFO("mean over synthetic samples: fine " << fine << ", coarse " << coarse);
  CHECK(fine > 0.02);
  CHECK(coarse > 0.05);
  INFO(synthetic << " of " << total << " samples synthetic");
  CHECK(synthetic >= total / 4);
  CHECK(synthetic <= 3 * total / 4);

  // Different samples are different images.
  options.dead_leaves = 1.0;
  const torch::Tensor all = BatchLoader({directory / "flat.png"}, options).batch(0);
  for (int64_t i = 1; i < 16; ++i) CHECK_FALSE(torch::equal(all[i], all[0]));
}

TEST_CASE("Dead-leaves shapes: mixed outlines cover the canvas as discs do", "[train]") {
  using cosae::train::DeadLeavesShapes;
  constexpr int kSide = 96;
  // Renders image `index` from a seeded stream; `background` gets the first draw, the grey
  // the canvas starts from.
  auto render = [](DeadLeavesShapes shapes, int index, double& background) {
    std::mt19937_64 engine(1000 + index);
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    bool first = true;
    std::vector<float> image(3 * kSide * kSide);
    cosae::train::render_dead_leaves(
        [&] {
          const double u = uniform(engine);
          if (first) background = u, first = false;
          return u;
        },
        kSide, image.data(), shapes);
    return image;
  };
  for (const DeadLeavesShapes shapes : {DeadLeavesShapes::discs, DeadLeavesShapes::mixed}) {
    // About 5 leaves lie over each pixel, so about e^-5 of the canvas shows the background; a
    // shape that painted less than its area would leave more of it bare.
    int64_t bare = 0, total = 0;
    for (int index = 0; index < 8; ++index) {
      double background = -1;
      const std::vector<float> image = render(shapes, index, background);
      for (int p = 0; p < kSide * kSide; ++p, ++total) {
        bool is_background = true;
        for (int c = 0; c < 3; ++c)
          is_background = is_background && image[std::size_t(c) * kSide * kSide + p] == static_cast<float>(background);
        bare += is_background;
      }
      CHECK(*std::min_element(image.begin(), image.end()) >= 0.0f);
      CHECK(*std::max_element(image.begin(), image.end()) <= 1.0f);
    }
    INFO((shapes == DeadLeavesShapes::mixed ? "mixed" : "discs") << ": " << bare << " of " << total
                                                                  << " pixels show the background");
    CHECK(bare < total / 60);  // measured: 1.1% with either shapes; a quarter of the leaves empty: 2.4%
  }
  // The same stream draws other images with the mixed outlines.
  double unused = 0;
  CHECK(render(DeadLeavesShapes::discs, 0, unused) != render(DeadLeavesShapes::mixed, 0, unused));
  CHECK(cosae::train::parse_dead_leaves_shapes("mixed") == DeadLeavesShapes::mixed);
  CHECK(expect_error([] { cosae::train::parse_dead_leaves_shapes("squares"); }).kind() == ErrorKind::usage);
}

TEST_CASE("BatchLoader skips unreadable files with a warning", "[train]") {
  TemporaryDirectory directory;
  write_random_images(directory, 2);
  const std::vector<uint8_t> good = cosae::read_file(directory / "image0.png");
  write_bytes(directory / "garbage.png", {'n', 'o', 't', ' ', 'a', ' ', 'p', 'n', 'g'});
  write_bytes(directory / "truncated.png", std::vector<uint8_t>(good.begin(), good.begin() + good.size() / 2));
  const std::vector<std::string> files = list_images(directory.path);
  REQUIRE(files.size() == 4);

  LoaderOptions options = small_options(2);
  options.batch = 8;
  BatchLoader loader(files, options);
  std::vector<std::string> warnings;
  for (int64_t step = 0; step < 8; ++step) {
    const torch::Tensor batch = loader.batch(step);
    CHECK(batch.size(0) == 8);
    for (std::string& warning : loader.take_warnings()) warnings.push_back(std::move(warning));
  }
  REQUIRE(warnings.size() == 2);
  const bool garbage_first = contains(warnings[0], "garbage.png");
  CHECK(contains(warnings[garbage_first ? 0 : 1], directory / "garbage.png"));
  CHECK(contains(warnings[garbage_first ? 1 : 0], directory / "truncated.png"));
  CHECK(loader.usable_files() == 2);
  CHECK(loader.total_files() == 4);
  CHECK(loader.take_warnings().empty());

  // The bad files are a property of the folder: a fresh loader gives the same batches.
  BatchLoader again(files, small_options(1));
  BatchLoader reference(files, small_options(2));
  CHECK(torch::equal(again.batch(7), reference.batch(7)));
}

TEST_CASE("BatchLoader errors: no readable image, bad options", "[train]") {
  TemporaryDirectory directory;
  write_bytes(directory / "one.png", {1, 2, 3});
  write_bytes(directory / "two.png", {});
  BatchLoader loader(list_images(directory.path), small_options(2));
  for (int attempt = 0; attempt < 2; ++attempt) {
    const cosae::Error error = expect_error([&] { loader.batch(attempt); });
    CHECK(error.kind() == ErrorKind::bad_input);
    CHECK(contains(error.what(), "no readable images in " + directory.path));
  }
  CHECK(loader.usable_files() == 0);
  CHECK(loader.take_warnings().size() == 2);

  CHECK(expect_error([] { BatchLoader({}, LoaderOptions{}); }).kind() == ErrorKind::bad_input);
  const std::vector<std::string> files = {directory / "one.png"};
  auto options_error = [&](auto&& change) {
    LoaderOptions options;
    change(options);
    return expect_error([&] { BatchLoader(files, options); }).kind();
  };
  CHECK(options_error([](LoaderOptions& o) { o.batch = 0; }) == ErrorKind::usage);
  CHECK(options_error([](LoaderOptions& o) { o.crop = 0; }) == ErrorKind::usage);
  CHECK(options_error([](LoaderOptions& o) { o.threads = -1; }) == ErrorKind::usage);
  CHECK(options_error([](LoaderOptions& o) { o.max_downscale = 0.5; }) == ErrorKind::usage);
  CHECK(options_error([](LoaderOptions& o) { o.prefetch = -1; }) == ErrorKind::usage);
  CHECK(options_error([](LoaderOptions& o) { o.rank = 2, o.world_size = 2; }) == ErrorKind::usage);
  CHECK(options_error([](LoaderOptions& o) { o.cache_bytes = -1; }) == ErrorKind::usage);
  CHECK(options_error([](LoaderOptions& o) { o.dead_leaves = -0.1; }) == ErrorKind::usage);
  CHECK(options_error([](LoaderOptions& o) { o.dead_leaves = 1.5; }) == ErrorKind::usage);
  CHECK(expect_error([&] { loader.batch(-1); }).kind() == ErrorKind::usage);
}

TEST_CASE("BatchLoader shuts down promptly with work in flight", "[train]") {
  TemporaryDirectory directory;
  const std::vector<std::string> files = write_random_images(directory, 3);
  LoaderOptions options = small_options(2);
  options.prefetch = 64;
  options.cache_bytes = 0;  // every sample decodes, so the queue is long
  const auto start = std::chrono::steady_clock::now();
  for (int round = 0; round < 5; ++round) {
    BatchLoader loader(files, options);
    if (round % 2 == 0) loader.batch(round);  // leaves 64 steps queued
  }
  { BatchLoader unused(files, options); }
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(20));
}
