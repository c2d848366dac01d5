// The HTML report of `cosae eval`, from hand-made results: plots with one group per curve,
// escaping, tables, inline PNG crops; then, where a Chromium is installed, the page rendered
// headless: its script runs without errors and the screenshot is not blank.
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "catch_compat.hpp"
#include "cosae/image.hpp"
#include "eval/evaluate.hpp"
#include "temp_dir.hpp"

using namespace cosae;
using namespace cosae::eval;

namespace {

const std::string kOddImage = "dir/odd <&\"> name.png";
const std::string kOddImageEscaped = "dir/odd &lt;&amp;&quot;&gt; name.png";

// A small RGB PNG: a gradient tinted by `tint`, so the panels differ.
std::vector<uint8_t> gradient_png(int side, int tint) {
  Image image{side, side, 3, 8, {}};
  image.samples.resize(image.sample_count());
  for (int y = 0; y < side; ++y)
    for (int x = 0; x < side; ++x) {
      uint16_t* pixel = &image.samples[(static_cast<std::size_t>(y) * side + x) * 3];
      pixel[0] = static_cast<uint16_t>(x * 255 / (side - 1));
      pixel[1] = static_cast<uint16_t>(y * 255 / (side - 1));
      pixel[2] = static_cast<uint16_t>((tint + (x / 8 + y / 8) % 2 * 60) % 256);
    }
  return encode_png(image);
}

CurvePoint point(const std::string& setting, double bpp, double psnr, double ms_ssim, double encode_s = 0,
                 double decode_s = 0) {
  CurvePoint p;
  p.setting = setting;
  p.bpp = bpp;
  p.psnr = psnr;
  p.ms_ssim = ms_ssim;
  p.encode_s = encode_s;
  p.decode_s = decode_s;
  p.images = encode_s > 0 ? 2 : 0;
  return p;
}

// One cosae model, JPEG and WebP baselines and an anchor without MS-SSIM; a BD table with
// one figure and one error; one crop set; per-image samples, one with an awkward name.
EvalResults synthetic_results() {
  EvalResults r;
  r.data = "/data/kodak <test>";
  r.device = "cpu";
  r.images = {"kodim01.png", kOddImage};

  Curve cosae{"cosae-d64-0123abcd", "cosae", {}};
  Curve jpeg{"jpeg", "baseline", {}};
  Curve webp{"webp", "baseline", {}};
  Curve anchor{"bmshj2018-factorized", "anchor", {}};
  for (int i = 0; i < 6; ++i) {
    const double t = i / 5.0;
    cosae.points.push_back(point("q" + std::to_string(i + 1), 0.12 + 1.1 * t, 27.0 + 10.5 * std::sqrt(t),
                                 0.93 + 0.065 * std::sqrt(t), 0.05 + 0.01 * i, 0.04 + 0.01 * i));
    anchor.points.push_back(point("", 0.10 + 1.2 * t, 26.5 + 11.0 * std::sqrt(t), 0));
  }
  for (int i = 0; i < 8; ++i) {
    const double t = i / 7.0;
    jpeg.points.push_back(point(std::to_string(10 + 12 * i), 0.25 + 1.9 * t, 24.0 + 13.0 * std::sqrt(t),
                                0.88 + 0.11 * std::sqrt(t), 0.003, 0.002));
    webp.points.push_back(point(std::to_string(5 + 12 * i), 0.15 + 1.5 * t, 25.5 + 12.5 * std::sqrt(t),
                                0.90 + 0.09 * std::sqrt(t), 0.02, 0.004));
  }
  r.curves = {cosae, jpeg, webp, anchor};

  for (const auto& curve : {cosae, jpeg, webp})
    for (const auto& p : curve.points)
      for (const auto& image : r.images) {
        Sample s;
        s.codec = curve.codec;
        s.setting = p.setting;
        s.image = image;
        s.width = 768;
        s.height = 512;
        s.bytes = static_cast<std::size_t>(p.bpp * 768 * 512 / 8);
        s.bpp = p.bpp;
        s.psnr = p.psnr;
        s.ms_ssim = p.ms_ssim;
        s.encode_s = p.encode_s;
        s.decode_s = p.decode_s;
        r.samples.push_back(s);
      }

  BdEntry good;
  good.test = cosae.codec;
  good.anchor = "jpeg";
  good.bd_rate = -31.4159;
  good.bd_psnr = 2.7183;
  BdEntry bad;
  bad.test = cosae.codec;
  bad.anchor = anchor.codec;
  bad.error = "BD: the curves' rates do not overlap (<none>)";
  BdEntry half;  // better everywhere: a BD-PSNR but no BD-rate
  half.test = cosae.codec;
  half.anchor = "webp";
  half.bd_psnr = 0.5772;
  half.error = "BD-rate: no shared <PSNR>";
  r.bd = {good, bad, half};

  CropSet crops;
  crops.image = kOddImage;
  crops.target_bpp = 0.5;
  crops.panels = {{"original", gradient_png(64, 0)},
                  {"cosae-d64-0123abcd q3: 0.48 bpp, 33.10 dB", gradient_png(64, 90)},
                  {"jpeg 40: 0.52 bpp, 29.80 dB", gradient_png(64, 180)}};
  r.crops = {crops};
  return r;
}

std::size_t count(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (std::size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++n;
  return n;
}

// The <svg> element with this id, up to its end tag.
std::string svg_by_id(const std::string& html, const std::string& id) {
  const std::size_t begin = html.find("<svg id=\"" + id + "\"");
  REQUIRE(begin != std::string::npos);
  const std::size_t end = html.find("</svg>", begin);
  REQUIRE(end != std::string::npos);
  return html.substr(begin, end - begin);
}

std::vector<uint8_t> base64_decode(const std::string& text) {
  static const std::string kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::vector<uint8_t> bytes;
  uint32_t bits = 0;
  int count = 0;
  for (const char c : text) {
    if (c == '=') break;
    const std::size_t value = kAlphabet.find(c);
    if (value == std::string::npos) return {};  // not base64: fails the comparison
    bits = bits << 6 | static_cast<uint32_t>(value);
    if ((count += 6) >= 8) {
      count -= 8;
      bytes.push_back(static_cast<uint8_t>(bits >> count));
    }
  }
  return bytes;
}

// The first Chromium on PATH, or "".
std::string find_chromium() {
  const char* path = std::getenv("PATH");
  const std::string dirs = path ? path : "";
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
    std::size_t begin = 0;
    while (begin <= dirs.size()) {
      const std::size_t end = std::min(dirs.find(':', begin), dirs.size());
      const std::string candidate = dirs.substr(begin, end - begin) + "/" + name;
      if (end > begin && ::access(candidate.c_str(), X_OK) == 0) return candidate;
      begin = end + 1;
    }
  }
  return "";
}

// Runs a shell command and returns its standard output.
std::string capture(const std::string& command) {
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  char buffer[4096];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
  const int status = ::pclose(pipe);
  INFO(command);
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  return output;
}

std::string quoted(const std::string& path) { return "'" + path + "'"; }  // temp paths: no quotes in them

std::string text_file(const std::string& path) {
  const auto bytes = read_file(path);
  return std::string(bytes.begin(), bytes.end());
}

}  // namespace

TEST_CASE("html report: one curve group per plotted curve, escaped names, tables and crops", "[report]") {
  const EvalResults results = synthetic_results();
  const std::string html = html_report(results);

  REQUIRE(html.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(count(html, "<svg ") == 2);

  // Every curve in the PSNR plot; the anchor (no MS-SSIM) only there.
  const std::string psnr = svg_by_id(html, "rd-psnr");
  const std::string msssim = svg_by_id(html, "rd-msssim");
  CHECK(count(psnr, "class=\"curve\"") == 4);
  CHECK(count(msssim, "class=\"curve\"") == 3);
  for (const auto& curve : results.curves) {
    INFO(curve.codec);
    CHECK(count(psnr, "data-codec=\"" + curve.codec + "\"") == 1);
    CHECK(count(msssim, "data-codec=\"" + curve.codec + "\"") == (curve.kind == "anchor" ? 0 : 1));
  }
  CHECK(count(psnr, "stroke-dasharray") == 2);  // the anchor's line and its legend entry
  CHECK(count(msssim, "stroke-dasharray") == 0);
  CHECK(count(psnr, "<circle") == (6 + 8 + 8 + 6) + 4);  // a marker per point, one per legend entry
  CHECK(count(msssim, "<circle") == (6 + 8 + 8) + 3);

  // Data strings are escaped everywhere, raw nowhere.
  CHECK(html.find(kOddImageEscaped) != std::string::npos);
  CHECK(html.find("odd <&\">") == std::string::npos);
  CHECK(html.find("/data/kodak &lt;test&gt;") != std::string::npos);
  CHECK(html.find("<test>") == std::string::npos);

  // BD table: the figure with its sign, and the error in place of figures.
  CHECK(html.find("-31.42") != std::string::npos);
  CHECK(html.find("+2.72") != std::string::npos);
  CHECK(html.find("BD: the curves&#39; rates do not overlap (&lt;none&gt;)") != std::string::npos);
  CHECK(html.find("+0.58") != std::string::npos);  // the half entry's BD-PSNR, beside its n/a
  CHECK(html.find("title=\"BD-rate: no shared &lt;PSNR&gt;\">n/a</td>") != std::string::npos);

  // Tables: per setting (4 curves), per image (in a <details>), with formatted numbers.
  CHECK(count(html, "<table class=\"curve-table\"") == 4);
  CHECK(html.find("<details") != std::string::npos);
  CHECK(count(html, "<td>" + kOddImageEscaped + "</td>") == 6 + 8 + 8);  // its samples
  CHECK(html.find(">0.1200<") != std::string::npos);   // cosae q1 bpp, 4 decimals
  CHECK(html.find(">27.00<") != std::string::npos);    // its PSNR, 2 decimals
  CHECK(html.find(">0.9300<") != std::string::npos);   // its MS-SSIM, 4 decimals

  // Crops: each panel's PNG, base64 in a data URI, shown at twice its size.
  CHECK(count(html, "image-rendering: pixelated") == 1);
  CHECK(count(html, "width=\"128\" height=\"128\"") == 3);
  const std::string prefix = "src=\"data:image/png;base64,";
  std::size_t at = 0;
  for (const auto& panel : results.crops[0].panels) {
    INFO(panel.label);
    at = html.find(prefix, at);
    REQUIRE(at != std::string::npos);
    at += prefix.size();
    const std::size_t end = html.find('"', at);
    REQUIRE(end != std::string::npos);
    CHECK(base64_decode(html.substr(at, end - at)) == panel.png);
    CHECK(html.find("<figcaption>" + panel.label + "</figcaption>") != std::string::npos);
  }

  // The page stands alone: nothing is fetched.
  CHECK(html.find("http://") == html.find("http://www.w3.org/2000/svg"));
  CHECK(html.find("https://") == std::string::npos);
}

TEST_CASE("html report: empty results still give a page", "[report]") {
  const std::string html = html_report(EvalResults{});
  CHECK(count(svg_by_id(html, "rd-psnr"), "class=\"curve\"") == 0);
  CHECK(count(html, "no data") == 2);
  CHECK(html.find("nan") == std::string::npos);
  CHECK(html.find("inf") == std::string::npos);
}

TEST_CASE("html report renders in headless Chromium, its script runs", "[report]") {
  const std::string chromium = find_chromium();
  if (chromium.empty()) COSAE_SKIP("no chromium, chromium-browser or google-chrome on PATH");

  cosae_test::TemporaryDirectory dir;
  const std::string page = dir / "report.html";
  const std::string html = html_report(synthetic_results());
  write_file_atomic(page, reinterpret_cast<const uint8_t*>(html.data()), html.size());
  const std::string browser = "timeout 120 " + quoted(chromium) +
                              " --headless --no-sandbox --disable-gpu --enable-logging=stderr --v=0";

  // The DOM after the script: its counts on <body>, and in the title.
  const std::string errors = dir / "dom-stderr.txt";
  const std::string dom =
      capture(browser + " --dump-dom " + quoted("file://" + page) + " 2>" + quoted(errors));
  CHECK(dom.find("data-curves=\"4,3\"") != std::string::npos);
  CHECK(dom.find("(curves=4)</title>") != std::string::npos);
  const std::string log = text_file(errors);
  INFO(log);
  CHECK(log.find("Uncaught") == std::string::npos);

  // A screenshot: a real picture, not one flat colour.
  const std::string shot = dir / "report.png";
  capture(browser + " --hide-scrollbars --window-size=1200,2400 --screenshot=" + quoted(shot) + " " +
          quoted("file://" + page) + " 2>/dev/null");
  REQUIRE(cosae_test::exists(shot));
  const Image image = read_png(shot);
  CHECK(image.width == 1200);
  CHECK(image.height == 2400);
  std::set<uint32_t> colours;
  for (std::size_t i = 0; i + 2 < image.samples.size() && colours.size() < 64; i += image.channels)
    colours.insert(uint32_t(image.samples[i]) << 16 | uint32_t(image.samples[i + 1]) << 8 | image.samples[i + 2]);
  CHECK(colours.size() >= 64);

  if (std::getenv("COSAE_KEEP_SCREENSHOT")) {
    const auto bytes = read_file(shot);
    write_file_atomic("/tmp/cosae_report_screenshot.png", bytes.data(), bytes.size());
  }
}

TEST_CASE("report legends tell a model's long curve names apart", "[report]") {
  EvalResults r = synthetic_results();
  Curve low = r.curves[0];
  Curve high = r.curves[0];
  low.codec = "cosae-d64-wide-998322e43ffc/q2+detail";
  high.codec = "cosae-d64-wide-998322e43ffc/q5+detail";
  r.curves = {low, high};
  const std::string html = html_report(r);
  CHECK(html.find(">cosae-d64-…ffc/q2+detail<") != std::string::npos);
  CHECK(html.find(">cosae-d64-…ffc/q5+detail<") != std::string::npos);
}
