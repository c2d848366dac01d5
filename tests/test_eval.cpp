// `cosae eval` on tiny images with a tiny (untrained) model on the CPU: what it measures is
// what the bitstreams and decoded images give, curves are the means, the files parse.
#include <cmath>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "catch_compat.hpp"
#include "codec/codec.hpp"
#include "cosae/error.hpp"
#include "eval/baselines.hpp"
#include "eval/evaluate.hpp"
#include "eval/linear_bound.hpp"
#include "eval/metrics.hpp"
#include "image_test_util.hpp"
#include "temp_dir.hpp"

using namespace cosae;

namespace {

Image smooth(int width, int height, int channels, double phase) {
  Image image{width, height, channels, 8, {}};
  image.samples.resize(image.sample_count());
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < channels; ++c)
        image.samples[(static_cast<std::size_t>(y) * width + x) * channels + c] =
            static_cast<uint16_t>(127.5 + 100 * std::sin(0.11 * x + 0.05 * y + phase + c));
  return image;
}

struct Fixture {
  cosae_test::TemporaryDirectory dir;
  std::string data, model;
  Fixture() {
    data = dir / "data";
    cosae_test::make_dirs(data + "/sub");
    write_png(data + "/b.png", smooth(48, 40, 3, 0.0));
    write_png(data + "/sub/a grey.png", smooth(33, 20, 1, 1.0));  // grey, odd size, a space
    torch::manual_seed(4);
    model::CosAE net(model::load_config("tiny"));
    model = dir / "tiny.safetensors";
    codec::save_codec_model(model, *net);
  }
  eval::EvalOptions options() const {
    eval::EvalOptions o;
    o.data = data;
    o.models = {model};
    o.qualities = {1, 3, 5, 6};
    o.device = "cpu";
    return o;
  }
};

}  // namespace

TEST_CASE("eval measures real bitstreams and decoded images", "[eval]") {
  Fixture f;
  std::size_t calls = 0;
  const auto r = eval::evaluate(f.options(), [&](std::size_t done, std::size_t total, const std::string&) {
    ++calls;
    CHECK(done == calls);
    CHECK(total == 8);
  });
  CHECK(calls == 8);
  REQUIRE(r.images == std::vector<std::string>{"b.png", "sub/a grey.png"});
  REQUIRE(r.samples.size() == 8);  // 2 images x 4 levels

  // Recompute one sample by hand: encode, decode, bytes and PSNR on 8-bit RGB.
  auto m = codec::load_codec_model(f.model, torch::kCPU);
  const Image grey = read_png(f.data + "/sub/a grey.png");
  const auto bytes = codec::encode(grey, m, {5});
  const auto decoded = codec::decode(bytes.data(), bytes.size(), m);
  const auto it = std::find_if(r.samples.begin(), r.samples.end(), [](const eval::Sample& s) {
    return s.image == "sub/a grey.png" && s.setting == "q5";
  });
  REQUIRE(it != r.samples.end());
  CHECK(it->codec == m.id);
  CHECK(it->bytes == bytes.size());
  CHECK(it->bpp == Approx(8.0 * bytes.size() / (33 * 20)));
  CHECK(it->psnr == Approx(eval::psnr(grey, decoded.image)).epsilon(1e-9));  // grey replicated either way
  CHECK(it->ms_ssim > 0);
  CHECK(it->ms_ssim <= 1);

  // One cosae curve, the means of its samples, sorted by bpp.
  REQUIRE(r.curves.size() == 1);
  CHECK(r.curves[0].kind == "cosae");
  REQUIRE(r.curves[0].points.size() == 4);
  for (const auto& p : r.curves[0].points) {
    double bpp = 0;
    for (const auto& s : r.samples)
      if (s.setting == p.setting) bpp += s.bpp / 2;
    CHECK(p.bpp == Approx(bpp));
    CHECK(p.images == 2);
  }
  for (std::size_t i = 1; i < 4; ++i) CHECK(r.curves[0].points[i - 1].bpp <= r.curves[0].points[i].bpp);
  CHECK(r.bd.empty());  // nothing to compare against

  // The crops: the original and one panel per codec, all decodable PNGs of the same size.
  REQUIRE(r.crops.size() == 2);
  REQUIRE(r.crops[0].panels.size() == 2);
  const Image original = decode_png(r.crops[0].panels[0].png.data(), r.crops[0].panels[0].png.size());
  const Image coded = decode_png(r.crops[0].panels[1].png.data(), r.crops[0].panels[1].png.size());
  CHECK(original.width == 40);  // min(crop side, width, height)
  CHECK(coded.width == original.width);
}

TEST_CASE("eval JSON and CSV hold every sample", "[eval]") {
  Fixture f;
  auto o = f.options();
  o.qualities = {2, 4};
  const auto r = eval::evaluate(o);
  const auto j = nlohmann::json::parse(eval::results_json(r));
  CHECK(j["format"] == "cosae-eval");
  CHECK(j["samples"].size() == 4);
  CHECK(j["curves"][0]["points"].size() == 2);
  CHECK(j["samples"][0]["bytes"].get<std::size_t>() == r.samples[0].bytes);
  const auto csv = eval::results_csv(r);
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 5);  // header + 4 rows
  CHECK(csv.rfind("codec,setting,image,", 0) == 0);
}

TEST_CASE("eval --detail makes each quality level a curve over the detail levels", "[eval][detail]") {
  Fixture f;
  auto o = f.options();
  o.qualities = {2, 5};
  o.detail_levels = {0, 24};
  const auto r = eval::evaluate(o);
  REQUIRE(r.samples.size() == 8);  // 2 images x 2 levels x 2 detail levels
  auto m = codec::load_codec_model(f.model, torch::kCPU);
  REQUIRE(r.curves.size() == 2);
  CHECK(r.curves[0].codec == m.id + "/q2+detail");
  CHECK(r.curves[1].codec == m.id + "/q5+detail");
  for (const auto& c : r.curves) {
    REQUIRE(c.points.size() == 2);
    CHECK(c.points[0].setting == "d0");
    CHECK(c.points[1].setting == "d24");
    CHECK(c.points[1].bpp > c.points[0].bpp);
    CHECK(c.points[1].psnr > c.points[0].psnr);
  }
  // d0 is the level alone: the same bytes as the plain sweep's point.
  const Image image = read_png(f.data + "/b.png");
  const auto it = std::find_if(r.samples.begin(), r.samples.end(), [&](const eval::Sample& s) {
    return s.image == "b.png" && s.codec == m.id + "/q5+detail" && s.setting == "d0";
  });
  REQUIRE(it != r.samples.end());
  CHECK(it->bytes == codec::encode(image, m, {5}).size());
  // Detail levels without quality levels: encode's default base, one curve.
  o.qualities.clear();
  const auto base = eval::evaluate(o);
  REQUIRE(base.curves.size() == 1);
  CHECK(base.curves[0].codec ==
        m.id + "/q" + std::to_string(codec::default_quality(m.net->config, codec::kDefaultDetailLevel)) + "+detail");
  o.qualities = {2, 5};
  // The report's crops are kept for detail curves too, one panel per curve.
  REQUIRE(r.crops.size() == 2);
  CHECK(r.crops[0].panels.size() == 3);  // the original, q2+detail, q5+detail
  o.detail_levels = {kMaxDetailLevel + 1};
  CHECK(cosae_test::expect_error([&] { eval::evaluate(o); }).kind() == ErrorKind::usage);
}

TEST_CASE("eval --unquantized decodes each image from its unrounded latent at the top level", "[eval]") {
  Fixture f;
  auto o = f.options();
  o.qualities = {2, 5};
  o.unquantized = true;
  const auto r = eval::evaluate(o);
  REQUIRE(r.samples.size() == 4);  // the coded samples are unchanged
  REQUIRE(r.unquantized.size() == 2);  // one per image, at q5
  auto m = codec::load_codec_model(f.model, torch::kCPU);
  const Image image = read_png(f.data + "/b.png");
  const auto& s = r.unquantized[0];
  CHECK(s.codec == m.id + "/unquantized");
  CHECK(s.setting == "q5");
  CHECK(s.image == "b.png");
  CHECK(s.bytes == 0);
  CHECK(s.psnr == Approx(eval::psnr(image, codec::reconstruct_unquantized(image, m, 5))).epsilon(1e-9));
  const auto j = nlohmann::json::parse(eval::results_json(r));
  CHECK(j["unquantized"].size() == 2);
  CHECK(j["curves"].size() == 1);  // not a curve: it has no rate
}

namespace {

Image cosine_rows(int side, int block, int frequency) {  // grey as RGB: one DCT basis along x
  Image image{side, side, 3, 8, {}};
  image.samples.resize(image.sample_count());
  for (int y = 0; y < side; ++y)
    for (int x = 0; x < side; ++x)
      for (int c = 0; c < 3; ++c)
        image.samples[(static_cast<std::size_t>(y) * side + x) * 3 + c] = static_cast<uint16_t>(
            std::lround(128 + 60 * std::cos(M_PI * (2 * (x % block) + 1) * frequency / (2.0 * block))));
  return image;
}

}  // namespace

TEST_CASE("the linear bound keeps the coefficients of highest energy over the images", "[eval]") {
  eval::LinearBound bound(16);
  CHECK(bound.coefficients() == 3 * 16 * 16);
  const Image wave = cosine_rows(32, 16, 5);
  const Image other = smooth(40, 24, 3, 0.3);  // not a multiple of the block: padded
  bound.add(wave);
  bound.add(other);
  CHECK(bound.images() == 2);
  // All coefficients: the transform is orthonormal and inverted exactly.
  CHECK(bound.reconstruct(other, bound.coefficients()).samples == other.samples);
  CHECK(bound.reconstruct(wave, bound.coefficients()).samples == wave.samples);
  // The wave's energy is in its DC and one horizontal frequency, both among the first few
  // positions chosen; the smooth image's error falls as positions are added.
  double last = 0;
  for (int count : {1, 4, 16, 64, 256}) {
    const double p = eval::psnr(other, bound.reconstruct(other, count));
    INFO(count << " coefficients: " << p << " dB");
    CHECK(p >= last - 0.05);  // rounding aside, more positions never lose
    last = p;
  }
  CHECK(eval::psnr(wave, bound.reconstruct(wave, 1)) < 20);
  eval::LinearBound alone(16);
  alone.add(wave);
  CHECK(eval::psnr(wave, alone.reconstruct(wave, 2)) > 50);  // DC + the wave's coefficient
  CHECK(eval::psnr(wave, alone.reconstruct(wave, 1)) < 20);  // DC alone: the wave is lost

  auto kind_of = [](auto&& body) { return cosae_test::expect_error(body).kind(); };
  CHECK(kind_of([&] { eval::LinearBound(16).reconstruct(wave, 2); }) == ErrorKind::usage);  // nothing added
  CHECK(kind_of([&] { bound.reconstruct(wave, 0); }) == ErrorKind::usage);
  CHECK(kind_of([&] { bound.reconstruct(wave, bound.coefficients() + 1); }) == ErrorKind::usage);
  CHECK(kind_of([] { eval::LinearBound(0); }) == ErrorKind::usage);
}

TEST_CASE("eval --linear-bound measures the bound on every image with the model's block", "[eval]") {
  Fixture f;
  auto o = f.options();
  o.qualities = {2};
  const int all = 3 * 16 * 16;  // the tiny model's D = 16
  o.linear_bound = {1, all};
  const auto r = eval::evaluate(o);
  REQUIRE(r.samples.size() == 2);  // the coded samples are unchanged
  REQUIRE(r.linear_bound.size() == 4);  // per image, per count
  for (const auto& s : r.linear_bound) {
    CHECK(s.codec == "linear-dct-16");
    CHECK(s.bytes == 0);
    if (s.setting == std::to_string(all)) CHECK(std::isinf(s.psnr));  // every coefficient: exact
  }
  // The same number as the bound itself gives, its positions chosen over both images.
  eval::LinearBound bound(16);
  const Image b = read_png(f.data + "/b.png");
  const Image grey = read_png(f.data + "/sub/a grey.png");
  Image a{grey.width, grey.height, 3, 8, {}};
  for (auto v : grey.samples) a.samples.insert(a.samples.end(), {v, v, v});
  bound.add(b);
  bound.add(a);
  const auto& first = r.linear_bound[0];
  REQUIRE(first.image == "b.png");
  REQUIRE(first.setting == "1");
  CHECK(first.psnr == Approx(eval::psnr(b, bound.reconstruct(b, 1))).epsilon(1e-12));
  const auto j = nlohmann::json::parse(eval::results_json(r));
  CHECK(j["linear_bound"].size() == 4);
  CHECK(j["curves"].size() == 1);  // not a curve: it has no rate
  o.linear_bound = {all + 1};
  CHECK(cosae_test::expect_error([&] { eval::evaluate(o); }).kind() == ErrorKind::usage);
}

TEST_CASE("eval refuses bad options with the right error kinds", "[eval]") {
  Fixture f;
  auto kind_of = [](auto&& body) { return cosae_test::expect_error(body).kind(); };
  auto o = f.options();
  o.qualities = {7};  // the tiny model has 6 levels
  CHECK(kind_of([&] { eval::evaluate(o); }) == ErrorKind::usage);
  o = f.options();
  o.baselines = {"bmp"};
  CHECK(kind_of([&] { eval::evaluate(o); }) == ErrorKind::usage);
  o = f.options();
  o.models = {f.model, f.model};
  CHECK(kind_of([&] { eval::evaluate(o); }) == ErrorKind::usage);
  o = f.options();
  o.data = f.dir / "nothing-here";
  CHECK(kind_of([&] { eval::evaluate(o); }) == ErrorKind::usage);
  o = f.options();
  o.baselines = {"gif"};
  CHECK(kind_of([&] { eval::evaluate(o); }) == ErrorKind::usage);
  for (const auto& codec : eval::known_baselines())
    if (!eval::baseline_available(codec)) {
      o = f.options();
      o.baselines = {codec};
      CHECK(kind_of([&] { eval::evaluate(o); }) == ErrorKind::unavailable);
    }
}

TEST_CASE("anchors join the curves and the BD table", "[eval]") {
  Fixture f;
  const std::string path = f.dir / "anchors.json";
  std::ofstream(path) << R"({"paper": [{"bpp": 0.1, "psnr": 20}, {"bpp": 0.2, "psnr": 22},
                          {"bpp": 0.4, "psnr": 24}, {"bpp": 0.8, "psnr": 26}, {"bpp": 1.6, "psnr": 28}]})";
  auto o = f.options();
  o.anchors = path;
  const auto r = eval::evaluate(o);
  REQUIRE(r.curves.size() == 2);
  CHECK(r.curves[1].kind == "anchor");
  CHECK(r.curves[1].codec == "paper");
  REQUIRE(r.bd.size() == 1);
  CHECK(r.bd[0].anchor == "paper");
  CHECK(((r.bd[0].bd_rate && r.bd[0].bd_psnr) || !r.bd[0].error.empty()));  // an untrained model may not overlap the anchor

  const std::string bad = f.dir / "bad.json";
  std::ofstream(bad) << R"({"paper": [{"bpp": -1, "psnr": 20}]})";
  CHECK(cosae_test::expect_error([&] { eval::read_anchors(bad); }).kind() == ErrorKind::bad_input);
  std::ofstream(bad) << "not json";
  CHECK(cosae_test::expect_error([&] { eval::read_anchors(bad); }).kind() == ErrorKind::bad_input);
}

TEST_CASE("BD-rate and BD-PSNR are each given where their ranges overlap", "[eval]") {
  auto curve = [](const std::string& name, std::vector<std::pair<double, double>> points) {
    eval::Curve c{name, "cosae", {}};
    for (const auto& [bpp, psnr] : points) c.points.push_back({"q", bpp, psnr});
    return c;
  };
  const auto anchor = curve("a", {{0.2, 24.0}, {0.3, 24.5}, {0.4, 24.8}, {0.5, 25.0}});
  // The same rates, 1 dB better everywhere: the rates overlap, the PSNRs barely.
  const auto shifted = curve("b", {{0.2, 25.0}, {0.3, 25.5}, {0.4, 25.8}, {0.5, 26.0}});
  // Above the anchor's whole PSNR range: only BD-PSNR exists.
  const auto above = curve("c", {{0.2, 26.0}, {0.3, 26.5}, {0.4, 26.8}, {0.5, 27.0}});
  // At rates the anchor never reaches: only BD-rate exists.
  const auto cheap = curve("d", {{0.02, 24.0}, {0.03, 24.5}, {0.04, 24.8}, {0.05, 25.0}});

  const auto both = eval::compare_curves(anchor, anchor);
  REQUIRE(both.bd_rate);
  REQUIRE(both.bd_psnr);
  CHECK(*both.bd_rate == Approx(0.0).margin(1e-9));
  CHECK(*both.bd_psnr == Approx(0.0).margin(1e-9));
  CHECK(both.error.empty());

  const auto better = eval::compare_curves(anchor, shifted);
  REQUIRE(better.bd_psnr);
  CHECK(*better.bd_psnr == Approx(1.0).margin(1e-9));

  const auto only_psnr = eval::compare_curves(anchor, above);
  CHECK_FALSE(only_psnr.bd_rate);
  REQUIRE(only_psnr.bd_psnr);
  CHECK(*only_psnr.bd_psnr == Approx(2.0).margin(1e-9));
  CHECK(only_psnr.error == "BD-rate: the curves do not overlap in PSNR");

  const auto only_rate = eval::compare_curves(anchor, cheap);
  REQUIRE(only_rate.bd_rate);
  CHECK(*only_rate.bd_rate == Approx(-90.0).margin(1e-9));  // a tenth of the bits
  CHECK_FALSE(only_rate.bd_psnr);
  CHECK(only_rate.error == "BD-PSNR: the curves do not overlap in rate");
}

TEST_CASE("baselines are coded for real", "[eval]") {
  if (!eval::baseline_available("jpeg")) COSAE_SKIP("built without OpenCV");
  Fixture f;
  auto o = f.options();
  o.qualities = {1, 2, 3, 4};
  o.baselines = {"jpeg", "webp"};
  o.baseline_qualities["jpeg"] = {10, 50, 90};
  o.baseline_qualities["webp"] = {10, 90};
  const auto r = eval::evaluate(o);
  REQUIRE(r.curves.size() == 3);
  CHECK(r.curves[1].codec == "jpeg");
  CHECK(r.curves[1].points.size() == 3);
  CHECK(r.curves[2].points.size() == 2);
  // Higher JPEG quality: more bytes and a better PSNR.
  CHECK(r.curves[1].points.front().setting == "10");
  CHECK(r.curves[1].points.back().setting == "90");
  CHECK(r.curves[1].points.back().psnr > r.curves[1].points.front().psnr);
  // The JPEG of an image decodes to the PSNR the sample reports.
  const Image image = read_png(f.data + "/b.png");
  const auto coded = eval::code_with_baseline("jpeg", image, 50);
  const auto s = std::find_if(r.samples.begin(), r.samples.end(), [](const eval::Sample& x) {
    return x.codec == "jpeg" && x.setting == "50" && x.image == "b.png";
  });
  REQUIRE(s != r.samples.end());
  CHECK(s->bytes == coded.bytes.size());
  CHECK(s->psnr == Approx(eval::psnr(image, coded.decoded)));
  CHECK(r.bd.size() == 2);  // the model against each baseline
}

TEST_CASE("AVIF and JPEG XL peers code for real where the build has them", "[eval]") {
  auto kind_of = [](auto&& body) { return cosae_test::expect_error(body).kind(); };
  // A smooth gradient with an edge: every codec gets it nearly right at a high quality.
  Image image{96, 64, 3, 8, {}};
  for (int y = 0; y < image.height; ++y)
    for (int x = 0; x < image.width; ++x)
      for (int c = 0; c < 3; ++c)
        image.samples.push_back(static_cast<uint16_t>(30 + x + y * (c + 1) / 2 + (x > 48 ? 30 : 0)));
  const std::size_t raw = image.sample_count();
  int tried = 0;
  for (const std::string codec : {"avif", "jxl"}) {
    if (!eval::baseline_available(codec)) continue;
    ++tried;
    INFO(codec);
    const auto low = eval::code_with_baseline(codec, image, 20), high = eval::code_with_baseline(codec, image, 90);
    REQUIRE(low.decoded.width == image.width);
    REQUIRE(high.decoded.height == image.height);
    CHECK(low.bytes.size() < high.bytes.size());
    CHECK(high.bytes.size() < raw);
    CHECK(eval::psnr(image, high.decoded) > eval::psnr(image, low.decoded));
    CHECK(eval::psnr(image, high.decoded) > 35.0);
    CHECK(kind_of([&] { eval::code_with_baseline(codec, image, 0); }) == ErrorKind::usage);
  }
  if (eval::baseline_available("jxl")) {  // quality 100: lossless
    const auto lossless = eval::code_with_baseline("jxl", image, 100);
    CHECK(lossless.decoded.samples == image.samples);
  }
  if (tried == 0) COSAE_SKIP("built without libavif and libjxl");
}

TEST_CASE("a second model is compared with the first", "[eval]") {
  Fixture f;
  torch::manual_seed(11);
  model::CosAE other(model::load_config("tiny"));
  const std::string second = f.dir / "other.safetensors";
  codec::save_codec_model(second, *other);
  auto o = f.options();
  o.models = {f.model, second};
  const auto r = eval::evaluate(o);
  REQUIRE(r.curves.size() == 2);
  REQUIRE(r.bd.size() == 1);
  CHECK(r.bd[0].test == r.curves[1].codec);
  CHECK(r.bd[0].anchor == r.curves[0].codec);
}
