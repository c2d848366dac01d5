// The self-contained HTML report of `cosae eval`: one file with inline SVG plots, tables and
// base64 PNG crops; no external resources. A short script at the end counts the plotted curves
// (a check that the page's script ran); the page reads the same without it.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <iomanip>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "eval/evaluate.hpp"

namespace cosae::eval {
namespace {

// ----------------------------------------------------------------------------- text helpers

// Escapes text for HTML element content and double- or single-quoted attribute values.
std::string escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string base64(const std::vector<uint8_t>& bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
    uint32_t group = uint32_t(bytes[i]) << 16;
    if (n > 1) group |= uint32_t(bytes[i + 1]) << 8;
    if (n > 2) group |= uint32_t(bytes[i + 2]);
    out += kAlphabet[(group >> 18) & 63];
    out += kAlphabet[(group >> 12) & 63];
    out += n > 1 ? kAlphabet[(group >> 6) & 63] : '=';
    out += n > 2 ? kAlphabet[group & 63] : '=';
  }
  return out;
}

// A number with a fixed count of decimals; "∞" / "—" for infinities and NaN, no "-0.00".
std::string fixed(double value, int decimals) {
  if (std::isnan(value)) return "—";
  if (std::isinf(value)) return value > 0 ? "∞" : "−∞";
  std::ostringstream out;
  out << std::fixed << std::setprecision(decimals) << value;
  std::string text = out.str();
  if (text[0] == '-' && text.find_first_not_of("-0.") == std::string::npos) text.erase(0, 1);
  return text;
}

// As fixed(), with a "+" on positive values (differences).
std::string signed_fixed(double value, int decimals) {
  const std::string text = fixed(value, decimals);
  const bool shows_nonzero = text.find_first_not_of("0.") != std::string::npos;
  return value > 0 && std::isfinite(value) && shows_nonzero ? "+" + text : text;
}

// Seconds, or "—" where none were measured (anchors).
std::string seconds(double value) { return value > 0 ? fixed(value, 4) : "—"; }

// MS-SSIM, or "—" where the curve has none (anchors without it).
std::string ms_ssim_text(double value) { return value > 0 ? fixed(value, 4) : "—"; }

// ----------------------------------------------------------------------------- plots

// A "nice" axis: [lo, hi] in whole steps of 1, 2, 2.5 or 5 x 10^k, about `ticks` of them.
struct Axis {
  double lo = 0, hi = 1, step = 0.2;
  int decimals = 1;  // enough to tell the tick labels apart
};

Axis nice_axis(double lo, double hi, int ticks = 6) {
  if (!(hi > lo)) {  // one value (or none): a unit-wide window around it
    const double pad = lo == 0 ? 1 : std::abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const double raw = (hi - lo) / std::max(1, ticks - 1);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = 10 * magnitude;
  for (const double m : {1.0, 2.0, 2.5, 5.0})
    if (raw <= m * magnitude * (1 + 1e-9)) {
      step = m * magnitude;
      break;
    }
  Axis axis;
  axis.step = step;
  axis.lo = std::floor(lo / step + 1e-9) * step;
  axis.hi = std::ceil(hi / step - 1e-9) * step;
  if (axis.hi <= axis.lo) axis.hi = axis.lo + step;
  const double exponent = -std::floor(std::log10(step) + 1e-9);
  axis.decimals = std::max(0, static_cast<int>(exponent) + (std::abs(step / magnitude - 2.5) < 1e-9 ? 1 : 0));
  return axis;
}

// What a plot shows on its y axis.
struct Metric {
  const char* id;      // element id of the plot
  const char* title;   // heading
  const char* label;   // y axis title
  const char* unit;    // in tooltips
  double (*value)(const CurvePoint&);
  int decimals;        // in tooltips
};

double psnr_value(const CurvePoint& p) { return p.psnr; }
// MS-SSIM in dB, -10 log10(1 - MS-SSIM): spreads the high-quality end that raw values crowd
// just below 1. Points without MS-SSIM (0) give NaN and are left out.
double ms_ssim_db_value(const CurvePoint& p) {
  if (!(p.ms_ssim > 0)) return std::nan("");
  return -10 * std::log10(std::max(1e-10, 1 - p.ms_ssim));
}

const Metric kPsnr{"rd-psnr", "PSNR vs rate", "PSNR (dB)", "dB", psnr_value, 2};
const Metric kMsSsim{"rd-msssim", "MS-SSIM vs rate", "MS-SSIM (dB) = −10·log10(1 − MS-SSIM)", "dB",
                     ms_ssim_db_value, 2};

// Colour of the i-th curve: a qualitative palette, then hues spread by the golden angle.
std::string curve_colour(std::size_t index) {
  static const char* const kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                         "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};
  constexpr std::size_t kCount = sizeof(kPalette) / sizeof(kPalette[0]);
  if (index < kCount) return kPalette[index];
  std::ostringstream out;
  out << "hsl(" << static_cast<int>(std::fmod(index * 137.508, 360.0)) << ",65%,42%)";
  return out.str();
}

// A curve's plottable points in one metric (finite rate and value).
struct PlotPoint {
  double x, y;
  const CurvePoint* source;
};
std::vector<PlotPoint> plot_points(const Curve& curve, const Metric& metric) {
  std::vector<PlotPoint> points;
  for (const auto& p : curve.points) {
    const double y = metric.value(p);
    if (std::isfinite(p.bpp) && std::isfinite(y)) points.push_back({p.bpp, y, &p});
  }
  return points;
}

// Legend text: long codec names are shortened in the middle, keeping the start and the end
// (where "/q5+detail" or "+refine20" tell a model's curves apart); the full name is in the
// tooltip.
std::string legend_name(const std::string& name) {
  constexpr std::size_t kHead = 10, kTail = 13;
  if (name.size() <= kHead + kTail + 1) return name;
  auto boundary = [&](std::size_t at) {  // not inside a UTF-8 character
    while (at > 0 && (static_cast<unsigned char>(name[at]) & 0xC0) == 0x80) --at;
    return at;
  };
  return name.substr(0, boundary(kHead)) + "…" + name.substr(boundary(name.size() - kTail));
}

// One RD plot as inline SVG: axes with nice ticks, one <g class="curve"> per curve that has
// points in this metric, and a legend to the right of the plot area.
void svg_plot(std::ostringstream& out, const EvalResults& results, const Metric& metric) {
  constexpr double kWidth = 680, kHeight = 440;
  constexpr double kLeft = 64, kRight = 460, kTop = 12, kBottom = 384;  // plot area
  constexpr double kLegendX = kRight + 18;

  struct Plotted {
    std::size_t index;
    std::vector<PlotPoint> points;
  };
  std::vector<Plotted> plotted;
  constexpr double kInf = std::numeric_limits<double>::infinity();
  double x_min = kInf, x_max = -kInf, y_min = kInf, y_max = -kInf;
  for (std::size_t i = 0; i < results.curves.size(); ++i) {
    auto points = plot_points(results.curves[i], metric);
    if (points.empty()) continue;
    for (const auto& p : points) {
      x_min = std::min(x_min, p.x), x_max = std::max(x_max, p.x);
      y_min = std::min(y_min, p.y), y_max = std::max(y_max, p.y);
    }
    plotted.push_back({i, std::move(points)});
  }
  if (plotted.empty()) x_min = x_max = y_min = y_max = 0;
  const Axis xa = nice_axis(std::min(0.0, x_min), x_max);  // rates from 0
  const Axis ya = nice_axis(y_min, y_max);
  const auto sx = [&](double x) { return kLeft + (x - xa.lo) / (xa.hi - xa.lo) * (kRight - kLeft); };
  const auto sy = [&](double y) { return kBottom - (y - ya.lo) / (ya.hi - ya.lo) * (kBottom - kTop); };
  const auto coord = [](double v) { return fixed(v, 1); };

  out << "<figure class=\"plot\">\n<figcaption>" << metric.title << "</figcaption>\n"
      << "<svg id=\"" << metric.id << "\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " << kWidth << ' '
      << kHeight << "\" width=\"" << kWidth << "\" height=\"" << kHeight << "\" role=\"img\" aria-label=\""
      << metric.title << "\">\n";

  // Grid, ticks and tick labels.
  out << "<g class=\"axes\">\n";
  const int x_ticks = static_cast<int>(std::lround((xa.hi - xa.lo) / xa.step));
  for (int i = 0; i <= x_ticks; ++i) {
    const double v = xa.lo + i * xa.step, x = sx(v);
    out << "<line class=\"grid\" x1=\"" << coord(x) << "\" y1=\"" << kTop << "\" x2=\"" << coord(x) << "\" y2=\""
        << kBottom << "\"/><text x=\"" << coord(x) << "\" y=\"" << kBottom + 18
        << "\" text-anchor=\"middle\">" << fixed(v, xa.decimals) << "</text>\n";
  }
  const int y_ticks = static_cast<int>(std::lround((ya.hi - ya.lo) / ya.step));
  for (int i = 0; i <= y_ticks; ++i) {
    const double v = ya.lo + i * ya.step, y = sy(v);
    out << "<line class=\"grid\" x1=\"" << kLeft << "\" y1=\"" << coord(y) << "\" x2=\"" << kRight << "\" y2=\""
        << coord(y) << "\"/><text x=\"" << kLeft - 8 << "\" y=\"" << coord(y + 4)
        << "\" text-anchor=\"end\">" << fixed(v, ya.decimals) << "</text>\n";
  }
  out << "<rect class=\"frame\" x=\"" << kLeft << "\" y=\"" << kTop << "\" width=\"" << kRight - kLeft
      << "\" height=\"" << kBottom - kTop << "\"/>\n"
      << "<text class=\"axis-title\" x=\"" << (kLeft + kRight) / 2 << "\" y=\"" << kBottom + 42
      << "\" text-anchor=\"middle\">rate (bits per pixel)</text>\n"
      << "<text class=\"axis-title\" transform=\"translate(16 " << (kTop + kBottom) / 2
      << ") rotate(-90)\" text-anchor=\"middle\">" << metric.label << "</text>\n</g>\n";

  if (plotted.empty())
    out << "<text x=\"" << (kLeft + kRight) / 2 << "\" y=\"" << (kTop + kBottom) / 2
        << "\" text-anchor=\"middle\">no data</text>\n";

  // Curves: a polyline and a marker per point, each marker with a tooltip.
  for (const auto& [index, points] : plotted) {
    const Curve& curve = results.curves[index];
    const std::string colour = curve_colour(index);
    const bool anchor = curve.kind == "anchor";
    out << "<g class=\"curve\" data-codec=\"" << escape(curve.codec) << "\" data-kind=\"" << escape(curve.kind)
        << "\" stroke=\"" << colour << "\">\n<polyline fill=\"none\" stroke-width=\"2\""
        << (anchor ? " stroke-dasharray=\"6 4\"" : "") << " points=\"";
    for (const auto& p : points) out << coord(sx(p.x)) << ',' << coord(sy(p.y)) << ' ';
    out << "\"/>\n";
    for (const auto& p : points)
      out << "<circle cx=\"" << coord(sx(p.x)) << "\" cy=\"" << coord(sy(p.y)) << "\" r=\"3.5\" fill=\""
          << (anchor ? "#fff" : colour) << "\"><title>" << escape(curve.codec) << ' '
          << escape(p.source->setting) << ": " << fixed(p.x, 4) << " bpp, " << fixed(p.y, metric.decimals)
          << ' ' << metric.unit << "</title></circle>\n";
    out << "</g>\n";
  }

  // Legend: 20 units a line, closer when there are many curves.
  const double spacing = std::min(20.0, (kBottom - kTop - 10) / std::max<double>(1, plotted.size()));
  out << "<g class=\"legend\">\n";
  for (std::size_t i = 0; i < plotted.size(); ++i) {
    const Curve& curve = results.curves[plotted[i].index];
    const bool anchor = curve.kind == "anchor";
    const std::string colour = curve_colour(plotted[i].index);
    const double y = kTop + 10 + spacing * static_cast<double>(i);
    out << "<g class=\"legend-item\"><title>" << escape(curve.codec) << " (" << escape(curve.kind)
        << ")</title><line x1=\"" << kLegendX << "\" y1=\"" << y << "\" x2=\"" << kLegendX + 24 << "\" y2=\""
        << y << "\" stroke=\"" << colour << "\" stroke-width=\"2\""
        << (anchor ? " stroke-dasharray=\"6 4\"" : "") << "/><circle cx=\"" << kLegendX + 12 << "\" cy=\"" << y
        << "\" r=\"3.5\" stroke=\"" << colour << "\" fill=\"" << (anchor ? "#fff" : colour) << "\"/><text x=\""
        << kLegendX + 32 << "\" y=\"" << y + 4 << "\">" << escape(legend_name(curve.codec)) << "</text></g>\n";
  }
  out << "</g>\n</svg>\n</figure>\n";
}

// ----------------------------------------------------------------------------- tables

void bd_table(std::ostringstream& out, const std::vector<BdEntry>& entries) {
  out << "<h2 id=\"bd\">BD-rate and BD-PSNR</h2>\n";
  if (entries.empty()) {
    out << "<p>No BD figures (they need a cosae model and a baseline or anchor).</p>\n";
    return;
  }
  out << "<p class=\"note\">On the mean curves. BD-rate: negative = the test codec needs fewer bits for the "
         "same PSNR. BD-PSNR: positive = it is better at the same rate.</p>\n"
         "<table id=\"bd-table\">\n<thead><tr><th>test</th><th>anchor</th><th>BD-rate (%)</th>"
         "<th>BD-PSNR (dB)</th></tr></thead>\n<tbody>\n";
  for (const auto& e : entries) {
    out << "<tr><td>" << escape(e.test) << "</td><td>" << escape(e.anchor) << "</td>";
    if (!e.bd_rate && !e.bd_psnr) {
      out << "<td colspan=\"2\" class=\"error\">" << escape(e.error) << "</td>";
    } else {
      for (const auto& value : {e.bd_rate, e.bd_psnr})
        if (value)
          out << "<td class=\"num\">" << signed_fixed(*value, 2) << "</td>";
        else
          out << "<td class=\"error\" title=\"" << escape(e.error) << "\">n/a</td>";
    }
    out << "</tr>\n";
  }
  out << "</tbody>\n</table>\n";
}

void curve_tables(std::ostringstream& out, const std::vector<Curve>& curves) {
  out << "<h2 id=\"curves\">Mean per setting</h2>\n<div class=\"curve-tables\">\n";
  for (std::size_t i = 0; i < curves.size(); ++i) {
    const Curve& curve = curves[i];
    out << "<table class=\"curve-table\" data-codec=\"" << escape(curve.codec) << "\">\n<caption><span "
        << "class=\"swatch\" style=\"background:" << curve_colour(i) << "\"></span>" << escape(curve.codec)
        << " <small>(" << escape(curve.kind) << ")</small></caption>\n<thead><tr><th>setting</th><th>images</th>"
        << "<th>bpp</th><th>PSNR (dB)</th><th>MS-SSIM</th><th>encode (s)</th><th>decode (s)</th></tr></thead>\n"
        << "<tbody>\n";
    for (const auto& p : curve.points)
      out << "<tr><td>" << escape(p.setting) << "</td><td class=\"num\">" << (p.images > 0 ? std::to_string(p.images) : "—") << "</td><td class=\"num\">"
          << fixed(p.bpp, 4) << "</td><td class=\"num\">" << fixed(p.psnr, 2) << "</td><td class=\"num\">"
          << ms_ssim_text(p.ms_ssim) << "</td><td class=\"num\">" << seconds(p.encode_s)
          << "</td><td class=\"num\">" << seconds(p.decode_s) << "</td></tr>\n";
    out << "</tbody>\n</table>\n";
  }
  out << "</div>\n";
}

void sample_table(std::ostringstream& out, const std::vector<Sample>& samples) {
  constexpr std::size_t kOpenUpTo = 40;  // longer tables start folded
  out << "<h2 id=\"samples\">Per image</h2>\n<details" << (samples.size() <= kOpenUpTo ? " open" : "")
      << ">\n<summary>" << samples.size() << " coded images</summary>\n<table id=\"sample-table\">\n<thead><tr>"
      << "<th>image</th><th>codec</th><th>setting</th><th>size</th><th>bytes</th><th>bpp</th><th>PSNR (dB)</th>"
      << "<th>MS-SSIM</th></tr></thead>\n<tbody>\n";
  for (const auto& s : samples)
    out << "<tr><td>" << escape(s.image) << "</td><td>" << escape(s.codec) << "</td><td>" << escape(s.setting)
        << "</td><td class=\"num\">" << s.width << "×" << s.height << "</td><td class=\"num\">" << s.bytes
        << "</td><td class=\"num\">" << fixed(s.bpp, 4) << "</td><td class=\"num\">" << fixed(s.psnr, 2)
        << "</td><td class=\"num\">" << ms_ssim_text(s.ms_ssim) << "</td></tr>\n";
  out << "</tbody>\n</table>\n</details>\n";
}

// ----------------------------------------------------------------------------- crops

// Width and height from a PNG's IHDR chunk; false if the bytes do not start like a PNG.
bool png_size(const std::vector<uint8_t>& png, uint32_t& width, uint32_t& height) {
  static constexpr uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (png.size() < 24 || !std::equal(kSignature, kSignature + 8, png.begin())) return false;
  const auto be32 = [&](std::size_t at) {
    return uint32_t(png[at]) << 24 | uint32_t(png[at + 1]) << 16 | uint32_t(png[at + 2]) << 8 | png[at + 3];
  };
  width = be32(16);
  height = be32(20);
  return width > 0 && height > 0;
}

void crop_sets(std::ostringstream& out, const std::vector<CropSet>& crops) {
  if (crops.empty()) return;
  out << "<h2 id=\"crops\">Crops</h2>\n<p class=\"note\">Each codec at its setting nearest the target rate; "
         "shown at 2× with no smoothing.</p>\n";
  for (const auto& set : crops) {
    out << "<section class=\"crop-set\">\n<h3>" << escape(set.image) << " <small>near " << fixed(set.target_bpp, 3)
        << " bpp</small></h3>\n<div class=\"panels\">\n";
    for (const auto& panel : set.panels) {
      out << "<figure><img alt=\"" << escape(panel.label) << "\"";
      uint32_t width = 0, height = 0;
      if (png_size(panel.png, width, height))
        out << " width=\"" << 2ull * width << "\" height=\"" << 2ull * height << "\"";
      out << " src=\"data:image/png;base64," << base64(panel.png) << "\"><figcaption>" << escape(panel.label)
          << "</figcaption></figure>\n";
    }
    out << "</div>\n</section>\n";
  }
}

// ----------------------------------------------------------------------------- page

constexpr const char* kStyle = R"css(
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; margin: 24px auto;
       max-width: 1200px; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; }
h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 16px 0 8px; }
dl.meta { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; margin: 8px 0; }
dl.meta dt { color: #666; } dl.meta dd { margin: 0; word-break: break-all; }
.plots { display: flex; flex-wrap: wrap; gap: 16px; }
figure { margin: 0; }
figure.plot figcaption { font-weight: 600; margin-bottom: 4px; }
figure.plot { flex: 1 1 540px; max-width: 680px; }
figure.plot svg { width: 100%; height: auto; font-size: 13px; }
svg text { fill: #333; }
svg .grid { stroke: #e5e5e5; stroke-width: 1; }
svg .frame { fill: none; stroke: #888; stroke-width: 1; }
svg .axis-title { font-size: 14px; fill: #222; }
svg .legend text { font-size: 12px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid #ddd; padding: 2px 7px; text-align: left; }
.curve-tables table, #sample-table { font-size: 13px; }
th { background: #f4f4f4; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.error { color: #a33; font-style: italic; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
.curve-tables { display: flex; flex-wrap: wrap; gap: 8px 24px; align-items: flex-start; }
.swatch { display: inline-block; width: 12px; height: 12px; margin-right: 6px; vertical-align: -1px; }
.note { color: #555; }
summary { cursor: pointer; }
.panels { display: flex; flex-wrap: wrap; gap: 12px; }
.panels img { image-rendering: pixelated; display: block; border: 1px solid #ccc; }
.panels figure { width: min-content; min-width: 160px; }
.panels figcaption { font-size: 12px; margin-top: 2px; }
)css";

// Counts the curves of each plot: body data-curves="<psnr>,<ms-ssim>" and "curves=N" in the title.
constexpr const char* kScript = R"js(
(function () {
  var count = function (id) { return document.querySelectorAll("#" + id + " .curve").length; };
  var psnr = count("rd-psnr"), msssim = count("rd-msssim");
  document.body.dataset.curves = psnr + "," + msssim;
  document.title = document.title + " (curves=" + psnr + ")";
})();
)js";

}  // namespace

std::string html_report(const EvalResults& results) {
  std::ostringstream out;
  const std::string title = "cosae evaluation: " + results.data;
  out << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>" << escape(title)
      << "</title>\n<style>" << kStyle << "</style>\n</head>\n<body>\n<h1>cosae evaluation</h1>\n<dl class=\"meta\">"
      << "<dt>data</dt><dd>" << escape(results.data) << "</dd><dt>device</dt><dd>" << escape(results.device)
      << "</dd><dt>images</dt><dd>" << results.images.size() << "</dd><dt>coded samples</dt><dd>"
      << results.samples.size() << "</dd><dt>curves</dt><dd>" << results.curves.size() << "</dd></dl>\n"
      << "<p class=\"note\">Rates count every byte of each file (headers included); quality on 8-bit RGB. "
         "Mean over the images at each setting. Dashed lines: published anchors.</p>\n";

  out << "<h2 id=\"plots\">Rate–distortion</h2>\n<div class=\"plots\">\n";
  for (const Metric* metric : {&kPsnr, &kMsSsim}) svg_plot(out, results, *metric);
  out << "</div>\n";

  bd_table(out, results.bd);
  curve_tables(out, results.curves);
  sample_table(out, results.samples);
  crop_sets(out, results.crops);

  out << "<script>" << kScript << "</script>\n</body>\n</html>\n";
  return out.str();
}

}  // namespace cosae::eval
