// What `cosae prepare` reads a corpus from: Eet and Qt resource containers (built here, byte
// by byte, as the formats lay them out), picture fingerprints, the standard-test-image rules
// and corpus recipes.
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catch_compat.hpp"
#include "cosae/error.hpp"
#include "cosae/image.hpp"
#include "image_test_util.hpp"
#include "temp_dir.hpp"
#include "train/containers.hpp"
#include "train/fingerprint.hpp"
#include "train/prepare.hpp"
#include "train/recipe.hpp"

using cosae::ErrorKind;
using cosae::Image;
using cosae_test::contains;
using cosae_test::expect_error;
using cosae_test::random_image;
using cosae_test::TemporaryDirectory;
using namespace cosae::train;

namespace {

using Bytes = std::vector<uint8_t>;

void put32(Bytes& out, std::size_t at, uint32_t value) {
  for (int i = 0; i < 4; ++i) out[at + i] = static_cast<uint8_t>(value >> (24 - 8 * i));
}
void append16(Bytes& out, uint16_t value) {
  out.push_back(static_cast<uint8_t>(value >> 8));
  out.push_back(static_cast<uint8_t>(value));
}
void append32(Bytes& out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(value >> (24 - 8 * i)));
}
void append(Bytes& out, const Bytes& more) { out.insert(out.end(), more.begin(), more.end()); }

Bytes small_png(uint32_t seed) { return cosae::encode_png(random_image(6, 5, 3, 8, seed)); }

struct EetEntry {
  std::string name;
  Bytes data;
  uint32_t flags = 0;
};

// Eet: magic, entry count, dictionary size (0 here), one 24-byte record per entry, then the
// names, then the data.
Bytes make_eet(const std::vector<EetEntry>& entries) {
  Bytes out(12 + 24 * entries.size(), 0);
  put32(out, 0, 0x1ee70f42);
  put32(out, 4, static_cast<uint32_t>(entries.size()));
  std::vector<std::size_t> name_at;
  for (const auto& entry : entries) {
    name_at.push_back(out.size());
    out.insert(out.end(), entry.name.begin(), entry.name.end());
    out.push_back(0);
  }
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const std::size_t record = 12 + 24 * i;
    put32(out, record, static_cast<uint32_t>(out.size()));
    put32(out, record + 4, static_cast<uint32_t>(entries[i].data.size()));
    put32(out, record + 8, static_cast<uint32_t>(entries[i].data.size()));
    put32(out, record + 12, static_cast<uint32_t>(name_at[i]));
    put32(out, record + 16, static_cast<uint32_t>(entries[i].name.size() + 1));
    put32(out, record + 20, entries[i].flags);
    append(out, entries[i].data);
  }
  return out;
}

Bytes q_compress(const Bytes& data) {
  uLongf size = compressBound(static_cast<uLong>(data.size()));
  Bytes packed(size);
  REQUIRE(compress(packed.data(), &size, data.data(), static_cast<uLong>(data.size())) == Z_OK);
  packed.resize(size);
  Bytes out;
  append32(out, static_cast<uint32_t>(data.size()));
  append(out, packed);
  return out;
}

struct QtFile {
  std::string name;
  Bytes data;
  bool zlib = false;
};

// A Qt resource bundle (format 1, 2 or 3): root -> folder "res" -> files.
Bytes make_rcc(int version, const std::vector<QtFile>& files) {
  const uint32_t node_size = version == 1 ? 14 : 22;
  Bytes names;
  auto add_name = [&](const std::string& name) {
    const auto offset = static_cast<uint32_t>(names.size());
    append16(names, static_cast<uint16_t>(name.size()));
    append32(names, 0);  // hash, unused by the reader
    for (char c : name) append16(names, static_cast<uint16_t>(c));
    return offset;
  };
  Bytes data;
  Bytes tree;
  auto add_node = [&](uint32_t name, uint16_t flags, uint32_t a, uint32_t b) {
    append32(tree, name);
    append16(tree, flags);
    append32(tree, a);
    append32(tree, b);
    if (version >= 2) tree.insert(tree.end(), 8, 0);  // modification time
  };
  add_node(0, 2, 1, 1);                                               // root: 1 child at node 1
  add_node(add_name("res"), 2, static_cast<uint32_t>(files.size()), 2);  // "res": children from node 2
  for (const auto& file : files) {
    const Bytes stored = file.zlib ? q_compress(file.data) : file.data;
    const auto offset = static_cast<uint32_t>(data.size());
    append32(data, static_cast<uint32_t>(stored.size()));
    append(data, stored);
    // A file: name, flags, locale (country, language: 0), data offset.
    append32(tree, add_name(file.name));
    append16(tree, file.zlib ? 1 : 0);
    append32(tree, 0);
    append32(tree, offset);
    if (version >= 2) tree.insert(tree.end(), 8, 0);
  }
  const uint32_t header = version >= 3 ? 24 : 20;
  Bytes out;
  append(out, Bytes{'q', 'r', 'e', 's'});
  append32(out, static_cast<uint32_t>(version));
  append32(out, header);                                                       // tree
  append32(out, header + static_cast<uint32_t>(tree.size()));                 // data
  append32(out, header + static_cast<uint32_t>(tree.size() + data.size()));  // names
  if (version >= 3) append32(out, 0);
  append(out, tree);
  append(out, data);
  append(out, names);
  (void)node_size;
  return out;
}

}  // namespace

TEST_CASE("Eet containers give their plain image entries", "[prepare][containers]") {
  const Bytes png_a = small_png(1);
  const Bytes png_b = small_png(2);
  const Bytes eet = make_eet({{"edje/images/0", png_a},
                              {"edje/data/x", Bytes{'t', 'e', 'x', 't'}},
                              {"edje/images/1", png_b},
                              {"edje/images/2", png_a, 0x1}});  // compressed: Eet's own pixels, passed over
  REQUIRE(container_format(eet.data(), eet.size()) == ContainerFormat::eet);
  const auto images = list_embedded_images(eet);
  REQUIRE(images.size() == 2);
  CHECK(images[0].name == "edje/images/0");
  CHECK(embedded_image_bytes(eet, images[0]) == png_a);
  CHECK(images[1].name == "edje/images/1");
  CHECK(embedded_image_bytes(eet, images[1]) == png_b);

  TemporaryDirectory directory;
  const std::string path = directory / "theme.edj";
  cosae::write_file_atomic(path, eet.data(), eet.size());
  CHECK(read_embedded_image(path, images[1]) == png_b);

  SECTION("a truncated or forged directory is refused") {
    Bytes truncated(eet.begin(), eet.end() - 10);
    CHECK(expect_error([&] { list_embedded_images(truncated); }).kind() == ErrorKind::bad_input);
    Bytes forged = eet;
    put32(forged, 4, 0x7fffffff);  // entry count far past the file
    CHECK(expect_error([&] { list_embedded_images(forged); }).kind() == ErrorKind::bad_input);
    forged = eet;
    put32(forged, 12, 0xfffffff0);  // first entry's offset past the end
    CHECK(contains(expect_error([&] { list_embedded_images(forged); }).what(), "past the end"));
  }
}

TEST_CASE("Qt resource bundles give their images, qCompress'd ones unpacked", "[prepare][containers]") {
  const Bytes png_a = small_png(3);
  const Bytes png_b = small_png(4);
  for (int version : {1, 2, 3}) {
    CAPTURE(version);
    const Bytes rcc = make_rcc(version, {{"a.png", png_a}, {"notes.txt", Bytes{'h', 'i'}}, {"b.png", png_b, true}});
    REQUIRE(container_format(rcc.data(), rcc.size()) == ContainerFormat::qt_resources);
    const auto images = list_embedded_images(rcc);
    REQUIRE(images.size() == 2);
    CHECK(images[0].name == "/res/a.png");
    CHECK(embedded_image_bytes(rcc, images[0]) == png_a);
    CHECK(images[1].name == "/res/b.png");
    CHECK(images[1].zlib);
    CHECK(embedded_image_bytes(rcc, images[1]) == png_b);
  }
  SECTION("hostile bundles are refused") {
    Bytes rcc = make_rcc(2, {{"a.png", png_a}});
    Bytes bad = rcc;
    put32(bad, 4, 9);  // unknown format
    CHECK(expect_error([&] { list_embedded_images(bad); }).kind() == ErrorKind::bad_input);
    bad = rcc;
    put32(bad, 8, 0xffffff00);  // tree past the end
    CHECK(expect_error([&] { list_embedded_images(bad); }).kind() == ErrorKind::bad_input);
    bad = rcc;
    put32(bad, 20 + 6, 5);  // the root claims five children: past the end of the tree
    CHECK(expect_error([&] { list_embedded_images(bad); }).kind() == ErrorKind::bad_input);
    bad = rcc;
    put32(bad, 20 + 22 + 10, 0);  // "res" names the root as its child: a loop
    CHECK(contains(expect_error([&] { list_embedded_images(bad); }).what(), "reached twice"));
    Bytes lying = make_rcc(2, {{"b.png", png_b, true}});
    const auto images = list_embedded_images(lying);
    REQUIRE(images.size() == 1);
    put32(lying, images[0].offset, 1u << 31);  // qCompress header claims 2 GiB unpacked
    CHECK(expect_error([&] { embedded_image_bytes(lying, images[0]); }).kind() == ErrorKind::bad_input);
  }
  SECTION("other files are no container") {
    const Bytes png = small_png(5);
    CHECK(container_format(png.data(), png.size()) == ContainerFormat::none);
    CHECK(expect_error([&] { list_embedded_images(png); }).kind() == ErrorKind::bad_input);
  }
}

namespace {

// A smooth picture with structure at several scales (noise would average away in a thumbnail).
Image scene(int width, int height, uint32_t seed) {
  Image image{width, height, 3, 8, {}};
  image.samples.resize(image.sample_count());
  const double a = 1.0 + seed % 5;
  const double b = 2.0 + seed % 7;
  const double phase = seed * 0.7;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      const double u = double(x) / width;
      const double v = double(y) / height;
      const double value = 0.5 + 0.25 * std::sin(6.28 * a * u + phase) + 0.2 * std::cos(6.28 * b * v * u + 2 * phase);
      for (int c = 0; c < 3; ++c)
        image.samples[(std::size_t(y) * width + x) * 3 + c] =
            static_cast<uint16_t>(std::clamp(255.0 * value * (0.8 + 0.1 * c), 0.0, 255.0));
    }
  return image;
}

}  // namespace

TEST_CASE("fingerprints find a picture again at another size, and tell pictures apart", "[prepare][fingerprint]") {
  const Image big = scene(480, 320, 7);
  const Image half = area_downscale(big, 240, 160);
  const Fingerprint a = fingerprint(big);
  const Fingerprint b = fingerprint(half);
  CHECK_FALSE(a.flat);
  CHECK(fingerprint_distance(a, b) <= 2);
  CHECK(same_picture(a, b));

  // Another picture, the same picture mirrored, and the same picture squeezed to 2:1.
  CHECK(fingerprint_distance(a, fingerprint(scene(480, 320, 11))) > kNearBits);
  Image mirrored = big;
  for (int y = 0; y < big.height; ++y)
    for (int x = 0; x < big.width; ++x)
      for (int c = 0; c < 3; ++c)
        mirrored.samples[(std::size_t(y) * big.width + x) * 3 + c] =
            big.samples[(std::size_t(y) * big.width + big.width - 1 - x) * 3 + c];
  CHECK_FALSE(resembles(fingerprint(mirrored), a));
  const Fingerprint squeezed = fingerprint(area_downscale(big, 480, 240));
  CHECK(resembles(squeezed, a));     // a reference is matched whatever the aspect
  CHECK_FALSE(same_picture(squeezed, a));  // but a duplicate keeps its aspect

  // Flat and tiny images resemble nothing, not even themselves.
  Image flat{64, 64, 1, 8, std::vector<uint16_t>(64 * 64, 128)};
  CHECK(fingerprint(flat).flat);
  CHECK_FALSE(resembles(fingerprint(flat), fingerprint(flat)));
  CHECK(fingerprint(random_image(20, 40, 3, 8, 1)).flat);
}

TEST_CASE("standard test images are known by name and by content", "[prepare][fingerprint]") {
  CHECK_FALSE(standard_test_image_name("/data/kodak/kodim05.png").empty());
  CHECK_FALSE(standard_test_image_name("/x/KODIM23.PNG").empty());
  CHECK_FALSE(standard_test_image_name("/x/Tecnick/RGB/img1.png").empty());
  CHECK_FALSE(standard_test_image_name("/x/clic2020/val/a.png").empty());
  CHECK_FALSE(standard_test_image_name("/x/DIV2K_valid_HR/0801.png").empty());
  CHECK_FALSE(standard_test_image_name("/sipi/4.2.03.tiff").empty());
  CHECK_FALSE(standard_test_image_name("/w/lena_std.tif").empty());
  CHECK_FALSE(standard_test_image_name("/w/peppers3.png").empty());
  CHECK_FALSE(standard_test_image_name("/w/pics.rcc:/res/mandrill.webp").empty());
  CHECK(standard_test_image_name("/usr/share/wallpapers/Autumn/contents/images/1920x1080.jpg").empty());
  CHECK(standard_test_image_name("/x/clicking-sounds.png").empty());
  CHECK(standard_test_image_name("/x/pepperoni.png").empty());
  CHECK(standard_test_image_name("/x/helena/boat.png").empty());

  const auto& pictures = standard_test_pictures();
  int kodak = 0;
  for (const auto& picture : pictures) {
    kodak += contains(picture.name, "kodak/kodim");
    CHECK_FALSE(picture.fingerprint.flat);
  }
  CHECK(kodak == 24);
  CHECK(pictures.size() >= 150);
}

TEST_CASE("corpus recipes are read strictly", "[prepare][recipe]") {
  TemporaryDirectory directory;
  const std::string path = directory / "recipe.json";
  auto write = [&](const std::string& text) { cosae::write_file_atomic(path, text); };

  write(R"({"format": "cosae-corpus-recipe", "version": 1, "sources": [
      {"name": "a", "packages": ["pkg-b", "pkg-a"], "paths": ["/x"], "kind": "graphics", "downscale": 3,
       "min_downscale": 2, "alpha": "white", "heldout": 0.25, "include": ["*.jpg"], "exclude": ["*mask*"]},
      {"name": "b", "packages": ["pkg-a"], "paths": ["/y", "/z"]}]})");
  const auto sources = read_recipe(path);
  REQUIRE(sources.size() == 2);
  CHECK(sources[0].kind == "graphics");
  CHECK(sources[0].downscale == 3.0);
  CHECK(sources[0].min_downscale == 2.0);
  CHECK(sources[0].alpha_on_white);
  CHECK(sources[0].heldout == 0.25);
  CHECK(sources[0].include == std::vector<std::string>{"*.jpg"});
  CHECK(sources[1].kind == "photo");
  CHECK(sources[1].paths.size() == 2);
  CHECK(recipe_packages(sources) == std::vector<std::string>{"pkg-a", "pkg-b"});

  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"({"format": "other", "version": 1, "sources": []})", "not a corpus recipe"},
      {R"({"format": "cosae-corpus-recipe", "version": 2, "sources": []})", "version 2"},
      {R"({"format": "cosae-corpus-recipe", "version": 1, "sources": [{"name": "a"}]})", "no \"paths\""},
      {R"({"format": "cosae-corpus-recipe", "version": 1, "sources": [{"name": "a", "paths": ["/x"], "dowscale": 2}]})",
       "unknown key \"dowscale\""},
      {R"({"format": "cosae-corpus-recipe", "version": 1, "sources": [{"name": "a", "paths": ["/x"], "heldout": 2}]})",
       "heldout"},
      {R"({"format": "cosae-corpus-recipe", "version": 1, "sources": [{"name": "a", "paths": ["/x"]},
          {"name": "a", "paths": ["/y"]}]})",
       "two sources"},
      {"{not json", "not valid JSON"},
  };
  for (const auto& [text, message] : bad) {
    CAPTURE(text);
    write(text);
    const auto error = expect_error([&] { read_recipe(path); });
    CHECK(error.kind() == ErrorKind::usage);
    CHECK(contains(error.what(), message));
  }
}

TEST_CASE("over_white composites translucent pixels over white", "[prepare]") {
  const Image rgba{3, 1, 4, 8, {10, 20, 30, 255, 0, 0, 0, 0, 0, 100, 200, 128}};
  const Image out = over_white(rgba);
  REQUIRE(out.channels == 3);
  CHECK(out.samples == std::vector<uint16_t>{10, 20, 30, 255, 255, 255, 127, 177, 227});
  const Image grey_alpha{1, 1, 2, 16, {0, 0}};
  CHECK(over_white(grey_alpha).samples == std::vector<uint16_t>{65535});
  const Image rgb = random_image(4, 4, 3, 8, 1);
  CHECK(over_white(rgb).samples == rgb.samples);
}

TEST_CASE("prepare takes images out of containers, once per picture, and holds some out", "[prepare]") {
  TemporaryDirectory directory;
  cosae_test::make_dirs(directory / "in");
  // Four pictures in a bundle; the first also as a loose file at half size (a duplicate: the
  // larger copy in the bundle is kept).
  std::vector<Image> pictures;
  std::vector<QtFile> files;
  for (int i = 0; i < 4; ++i) {
    pictures.push_back(random_image(400, 300, 3, 8, 50 + i));
    files.push_back({"p" + std::to_string(i) + ".png", cosae::encode_png(pictures.back()), i % 2 == 1});
  }
  const Bytes bundle = make_rcc(3, files);
  cosae::write_file_atomic(directory / "in/bundle.rcc", bundle.data(), bundle.size());
  cosae::write_png(directory / "in/a-copy.png", area_downscale(pictures[0], 200, 150));

  SourceSpec source;
  source.name = "bundle";
  source.paths = {directory / "in"};
  source.heldout = 0.5;
  source.downscale = 1.0;
  PrepareOptions options;
  options.sources = {source};
  options.out = directory / "out";
  options.min_side = 16;
  options.threads = 2;
  std::vector<std::string> messages;
  const auto summary = prepare_dataset(options, [&](Notice kind, const std::string& message) {
    CHECK(kind == Notice::duplicate);
    messages.push_back(message);
  });
  CHECK(summary.sources == 5);
  CHECK(summary.written == 4);
  CHECK(summary.heldout == 2);
  REQUIRE(messages.size() == 1);
  CHECK(contains(messages[0], "a-copy.png: the same picture as "));
  CHECK(contains(messages[0], "bundle.rcc:/res/p0.png"));
  REQUIRE(summary.per_source.size() == 1);
  CHECK(summary.per_source[0].train == 2);
  CHECK(summary.per_source[0].heldout == 2);
  CHECK(summary.per_source[0].duplicates == 1);

  const auto bytes = cosae::read_file(directory / "out/manifest.json");
  const auto manifest = nlohmann::json::parse(bytes.begin(), bytes.end());
  std::vector<std::string> held;
  for (const auto& entry : manifest["images"]) {
    const std::string file = entry["file"];
    CHECK(file.rfind(entry["split"] == "heldout" ? "heldout/" : "train/shard-0000/", 0) == 0);
    if (entry["split"] == "heldout") held.push_back(entry["source"]);
    // The pixels are the container's picture's, unchanged at factor 1.
    const std::string name = entry["source"];
    const int index = name.back() == 'g' ? name[name.size() - 5] - '0' : -1;
    REQUIRE(index >= 0);
    CHECK(cosae::read_png(directory / ("out/" + file)).samples == pictures[index].samples);
  }
  REQUIRE(held.size() == 2);

  // The rule is fixed: a smaller share holds out a subset of the same pictures.
  options.sources[0].heldout = 0.25;
  options.out = directory / "out2";
  CHECK(prepare_dataset(options, {}).heldout == 1);
  const auto bytes2 = cosae::read_file(directory / "out2/manifest.json");
  for (const auto& entry : nlohmann::json::parse(bytes2.begin(), bytes2.end())["images"])
    if (entry["split"] == "heldout") CHECK(std::find(held.begin(), held.end(), entry["source"]) != held.end());
}

TEST_CASE("prepare leaves out what resembles an evaluation image, and says why", "[prepare]") {
  TemporaryDirectory directory;
  cosae_test::make_dirs(directory / "in");
  cosae_test::make_dirs(directory / "eval");
  const Image kept = random_image(300, 200, 3, 8, 70);
  const Image evaluated = random_image(300, 200, 3, 8, 71);
  cosae::write_png(directory / "in/a.png", kept);
  cosae::write_png(directory / "in/b.png", evaluated);
  cosae::write_png(directory / "in/kodim07.png", random_image(300, 200, 3, 8, 72));
  cosae::write_png(directory / "eval/ref.png", area_downscale(evaluated, 150, 100));
  PrepareOptions options;
  options.inputs = {directory / "in"};
  options.exclude_like = {directory / "eval"};
  options.out = directory / "out";
  options.min_side = 16;
  options.threads = 1;
  std::vector<std::string> excluded;
  const auto summary = prepare_dataset(options, [&](Notice kind, const std::string& message) {
    if (kind == Notice::excluded) excluded.push_back(message);
  });
  CHECK(summary.written == 1);
  REQUIRE(excluded.size() == 2);
  CHECK(contains(excluded[0], "b.png: resembles "));
  CHECK(contains(excluded[0], "eval/ref.png"));
  CHECK(contains(excluded[1], "kodim07.png: a Kodak test image name"));

  options.exclude_like = {directory / "missing"};
  CHECK(expect_error([&] { prepare_dataset(options, {}); }).kind() == ErrorKind::usage);
}

TEST_CASE("the shipped corpus recipe reads, and holds photos out of at least four sources", "[prepare][recipe]") {
  const auto sources = read_recipe(std::string(COSAE_TEST_SAMPLES_DIR) + "/../models/corpus-v2.json");
  int heldout_sources = 0;
  for (const auto& source : sources) {
    CHECK_FALSE(source.packages.empty());
    CHECK_FALSE(source.licence.empty());
    if (source.heldout > 0) {
      ++heldout_sources;
      CHECK(source.kind == "photo");
    }
  }
  CHECK(heldout_sources >= 4);
  CHECK(recipe_packages(sources).size() >= 10);
}
