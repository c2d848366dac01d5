#include "eval/evaluate.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <set>
#include <tuple>
#include <sstream>

#include <nlohmann/json.hpp>

#include "codec/codec.hpp"
#include "codec/model_search.hpp"
#include "common/device.hpp"
#include "cosae/error.hpp"
#include "eval/baselines.hpp"
#include "eval/linear_bound.hpp"
#include "eval/metrics.hpp"
#include "eval/ms_ssim.hpp"
#include "train/dataset.hpp"

namespace cosae::eval {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// What the metrics see: 8-bit RGB, grey replicated, alpha dropped, 16-bit rounded.
Image to_rgb8(const Image& in) {
  Image out{in.width, in.height, 3, 8, {}};
  out.samples.resize(out.sample_count());
  const std::size_t pixels = static_cast<std::size_t>(in.width) * in.height;
  for (std::size_t p = 0; p < pixels; ++p)
    for (int c = 0; c < 3; ++c) {
      const uint32_t v = in.samples[p * in.channels + (in.is_grey() ? 0 : c)];
      out.samples[p * 3 + c] =
          static_cast<uint16_t>(in.bit_depth == 8 ? v : (v * 255u + 32767u) / 65535u);  // rounded
    }
  return out;
}

Image crop(const Image& in, int x0, int y0, int w, int h) {
  Image out{w, h, in.channels, in.bit_depth, {}};
  out.samples.resize(out.sample_count());
  for (int y = 0; y < h; ++y)
    std::copy_n(in.samples.begin() + (static_cast<std::ptrdiff_t>(y0 + y) * in.width + x0) * in.channels,
                static_cast<std::ptrdiff_t>(w) * in.channels,
                out.samples.begin() + static_cast<std::ptrdiff_t>(y) * w * in.channels);
  return out;
}

std::string relative_to(const std::string& path, const std::string& dir) {
  std::string prefix = dir;
  if (!prefix.empty() && prefix.back() != '/') prefix += '/';
  return path.rfind(prefix, 0) == 0 ? path.substr(prefix.size()) : path;
}

Sample measure(const std::string& codec, const std::string& setting, const std::string& image,
               const Image& reference, const Image& decoded, std::size_t bytes, double encode_s, double decode_s) {
  Sample s;
  s.codec = codec;
  s.setting = setting;
  s.image = image;
  s.width = reference.width;
  s.height = reference.height;
  s.bytes = bytes;
  s.bpp = 8.0 * static_cast<double>(bytes) / (static_cast<double>(reference.width) * reference.height);
  s.psnr = psnr(reference, decoded);
  s.ms_ssim = std::min(reference.width, reference.height) >= kSsimWindow ? ms_ssim(reference, decoded) : 0.0;
  s.encode_s = encode_s;
  s.decode_s = decode_s;
  return s;
}

std::string fixed(double v, int digits) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

std::vector<RdPoint> rd_points(const Curve& c) {
  std::vector<RdPoint> points;
  for (const auto& p : c.points) points.push_back({p.bpp, p.psnr});
  return points;
}

}  // namespace

BdEntry compare_curves(const Curve& anchor, const Curve& test) {
  BdEntry e;
  e.test = test.codec;
  e.anchor = anchor.codec;
  const auto a = rd_points(anchor), t = rd_points(test);
  auto why = [&e](const char* figure, const Error& err) {  // "BD-rate: the curves do not ..."
    std::string message = err.what();
    if (message.rfind("BD: ", 0) == 0) message.erase(0, 4);
    e.error += (e.error.empty() ? "" : "; ") + std::string(figure) + ": " + message;
  };
  try {
    e.bd_rate = bd_rate(a, t);
  } catch (const Error& err) {
    why("BD-rate", err);
  }
  try {
    e.bd_psnr = bd_psnr(a, t);
  } catch (const Error& err) {
    why("BD-PSNR", err);
  }
  return e;
}

std::vector<CurvePoint> mean_curve(const std::vector<Sample>& samples) {
  std::vector<CurvePoint> points;
  for (const auto& s : samples) {
    auto it = std::find_if(points.begin(), points.end(), [&](const CurvePoint& p) { return p.setting == s.setting; });
    if (it == points.end()) {
      points.push_back({});
      it = points.end() - 1;
      it->setting = s.setting;
    }
    it->bpp += s.bpp;
    it->psnr += s.psnr;
    it->ms_ssim += s.ms_ssim;
    it->encode_s += s.encode_s;
    it->decode_s += s.decode_s;
    ++it->images;
  }
  for (auto& p : points) {
    const double n = p.images;
    p.bpp /= n;
    p.psnr /= n;
    p.ms_ssim /= n;
    p.encode_s /= n;
    p.decode_s /= n;
  }
  std::sort(points.begin(), points.end(), [](const CurvePoint& a, const CurvePoint& b) { return a.bpp < b.bpp; });
  return points;
}

std::vector<Curve> read_anchors(const std::string& path) {
  const auto bytes = read_file(path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(bytes.begin(), bytes.end());
  } catch (const nlohmann::json::exception& e) {
    COSAE_FAIL(bad_input, path, ": not JSON: ", e.what());
  }
  COSAE_CHECK(j.is_object() && !j.empty(), bad_input, path, ": expected {\"name\": [{\"bpp\": x, \"psnr\": y}, ...]}");
  std::vector<Curve> curves;
  for (const auto& [name, list] : j.items()) {
    COSAE_CHECK(list.is_array() && !list.empty(), bad_input, path, ": anchor '", name, "' is not a list of points");
    Curve c{name, "anchor", {}};
    for (const auto& p : list) {
      COSAE_CHECK(p.is_object() && p.contains("bpp") && p.contains("psnr") && p["bpp"].is_number() &&
                      p["psnr"].is_number(),
                  bad_input, path, ": anchor '", name, "': each point needs numeric \"bpp\" and \"psnr\"");
      CurvePoint cp;
      cp.bpp = p["bpp"].get<double>();
      cp.psnr = p["psnr"].get<double>();
      cp.ms_ssim = p.contains("ms_ssim") && p["ms_ssim"].is_number() ? p["ms_ssim"].get<double>() : 0.0;
      COSAE_CHECK(std::isfinite(cp.bpp) && cp.bpp > 0 && std::isfinite(cp.psnr), bad_input, path, ": anchor '",
                  name, "': bpp must be positive and values finite");
      cp.setting = fixed(cp.bpp, 3);
      c.points.push_back(cp);
    }
    std::sort(c.points.begin(), c.points.end(), [](const CurvePoint& a, const CurvePoint& b) { return a.bpp < b.bpp; });
    curves.push_back(std::move(c));
  }
  return curves;
}

EvalResults evaluate(const EvalOptions& o, const EvalProgress& progress) {
  for (const auto& b : o.baselines) {
    const auto& known = known_baselines();
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
    COSAE_CHECK(std::find(known.begin(), known.end(), b) != known.end(), usage, "unknown baseline '", b, "' (", list,
                ")");
    COSAE_CHECK(baseline_available(b), unavailable, "--baselines ", b, ": this cosae was built without its library");
  }
  auto qualities_of = [&](const std::string& b) {
    const auto found = o.baseline_qualities.find(b);
    return found != o.baseline_qualities.end() ? found->second : default_baseline_qualities(b);
  };
  std::vector<Curve> anchors;
  if (!o.anchors.empty()) anchors = read_anchors(o.anchors);

  EvalResults r;
  r.data = o.data;
  const auto files = train::list_images(o.data);
  const auto device = resolve_device(o.device);
  r.device = describe_device(device);

  std::vector<codec::CodecModel> models;
  for (const auto& path : o.models.empty() ? std::vector<std::string>{codec::find_default_model()} : o.models)
    models.push_back(codec::load_codec_model(path, device));
  std::vector<std::vector<int>> levels;  // per model
  for (auto& m : models) {
    const int n = m.net->config.quality_levels();
    std::vector<int> q = o.qualities;
    // No levels named: with detail levels, the base encode uses by default (as `encode -d D`
    // does without -q); without, every level.
    if (q.empty() && !o.detail_levels.empty()) q.push_back(codec::default_quality(m.net->config, codec::kDefaultDetailLevel));
    if (q.empty())
      for (int i = 1; i <= n; ++i) q.push_back(i);
    for (int level : q)
      COSAE_CHECK(level >= 1 && level <= n, usage, "quality ", level, " outside 1..", n, " of model ", m.id);
    levels.push_back(q);
  }
  for (std::size_t i = 0; i < models.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      COSAE_CHECK(models[i].id != models[j].id, usage, "model ", models[i].id, " given twice");
  LinearBound bound(models.front().net->config.downsampling);
  for (int count : o.linear_bound)
    COSAE_CHECK(count >= 1 && count <= bound.coefficients(), usage, "--linear-bound ", count, ": outside 1..",
                bound.coefficients(), " (3 x ", bound.block(), " x ", bound.block(), " coefficients per block)");

  // Per model, the curves to run: (codec name, coding mode).
  std::vector<codec::Coding> modes;
  for (const auto& c : o.codings) modes.push_back(codec::coding_from_name(c));
  if (modes.empty()) modes.push_back(codec::EncodeOptions().coding);
  // Each model's curves: one per coding and refinement effort, "<model id>[/<coding>][+refineN]",
  // over the quality levels; with detail levels, one per quality level instead,
  // "<...>/qN+detail", over the detail levels.
  struct CodedAs {
    std::string name;
    codec::Coding mode;
    int refine_steps;
    int quality;  // 0: the levels are the points; else the base level, the detail levels the points
  };
  std::vector<int> efforts = o.refine_steps.empty() ? std::vector<int>{0} : o.refine_steps;
  for (int steps : efforts) COSAE_CHECK(steps >= 0, usage, "--refine ", steps, ": steps must be >= 0");
  for (int d : o.detail_levels)
    COSAE_CHECK(d >= 0 && d <= kMaxDetailLevel, usage, "--detail ", d, ": outside 0..", kMaxDetailLevel);
  std::vector<std::vector<CodedAs>> coded_as;
  for (std::size_t m = 0; m < models.size(); ++m) {
    coded_as.emplace_back();
    for (int steps : efforts)
      for (auto mode : modes) {
        const std::string name = (modes.size() == 1 ? models[m].id : models[m].id + "/" + codec::coding_name(mode)) +
                                 (steps > 0 ? "+refine" + std::to_string(steps) : "");
        if (o.detail_levels.empty()) {
          coded_as.back().push_back({name, mode, steps, 0});
          continue;
        }
        for (int level : levels[m])
          coded_as.back().push_back({name + "/q" + std::to_string(level) + "+detail", mode, steps, level});
      }
  }

  std::size_t total = 0;
  for (const auto& q : levels)
    total += q.size() * modes.size() * efforts.size() * std::max<std::size_t>(1, o.detail_levels.size());
  if (o.unquantized) total += models.size();
  total += o.linear_bound.size();
  for (const auto& b : o.baselines) total += qualities_of(b).size();
  total *= files.size();
  std::size_t done = 0;
  auto tick = [&](const std::string& label) {
    ++done;
    if (progress) progress(done, total, label);
  };

  // Decoded images kept for the report's crops: codec -> setting -> image.
  std::map<std::string, std::map<std::string, std::map<std::string, Image>>> kept;
  std::vector<Image> crop_originals;
  for (std::size_t f = 0; f < files.size(); ++f) {
    const std::string name = relative_to(files[f], o.data);
    r.images.push_back(name);
    const Image original = read_image(files[f]);
    const Image reference = to_rgb8(original);
    if (!o.linear_bound.empty()) bound.add(reference);
    const bool keep = static_cast<int>(f) < o.crop_images;
    if (keep) crop_originals.push_back(reference);
    for (std::size_t m = 0; m < models.size(); ++m)
      for (const auto& [name_of_codec, mode, refine_steps, base_quality] : coded_as[m]) {
        // (quality, detail level, setting) of each point.
        std::vector<std::tuple<int, int, std::string>> points;
        if (base_quality == 0)
          for (int level : levels[m]) points.emplace_back(level, 0, "q" + std::to_string(level));
        else
          for (int d : o.detail_levels) points.emplace_back(base_quality, d, "d" + std::to_string(d));
        for (const auto& [level, detail, setting] : points) {
          codec::EncodeOptions encode_options;
          encode_options.quality = level;
          encode_options.alpha = AlphaPolicy::discard;
          encode_options.coding = mode;
          encode_options.refine_steps = refine_steps;
          encode_options.detail_level = detail;
          auto t0 = std::chrono::steady_clock::now();
          const auto bytes = codec::encode(original, models[m], encode_options);
          const double encode_s = seconds_since(t0);
          t0 = std::chrono::steady_clock::now();
          const auto decoded = codec::decode(bytes.data(), bytes.size(), models[m]);
          const double decode_s = seconds_since(t0);
          const Image rgb = to_rgb8(decoded.image);
          r.samples.push_back(measure(name_of_codec, setting, name, reference, rgb, bytes.size(), encode_s, decode_s));
          if (keep) kept[name_of_codec][setting][name] = rgb;
          tick(name + " " + name_of_codec + " " + setting);
        }
      }
    for (std::size_t m = 0; m < models.size() && o.unquantized; ++m) {
      const int level = *std::max_element(levels[m].begin(), levels[m].end());
      const Image rgb = to_rgb8(codec::reconstruct_unquantized(original, models[m], level, AlphaPolicy::discard));
      const std::string codec_name = models[m].id + "/unquantized", setting = "q" + std::to_string(level);
      r.unquantized.push_back(measure(codec_name, setting, name, reference, rgb, 0, 0, 0));
      tick(name + " " + codec_name);
    }
    for (const auto& b : o.baselines)
      for (int q : qualities_of(b)) {
        auto coded = code_with_baseline(b, reference, q);
        const std::string setting = std::to_string(q);
        r.samples.push_back(
            measure(b, setting, name, reference, coded.decoded, coded.bytes.size(), coded.encode_s, coded.decode_s));
        if (keep) kept[b][setting][name] = std::move(coded.decoded);
        tick(name + " " + b + " " + setting);
      }
  }

  // The linear bound's coefficients are chosen over all the images: a second pass.
  if (!o.linear_bound.empty()) {
    const std::string codec_name = "linear-dct-" + std::to_string(bound.block());
    for (std::size_t f = 0; f < files.size(); ++f) {
      const Image reference = to_rgb8(read_image(files[f]));
      for (int count : o.linear_bound) {
        r.linear_bound.push_back(measure(codec_name, std::to_string(count), r.images[f], reference,
                                         bound.reconstruct(reference, count), 0, 0, 0));
        tick(r.images[f] + " " + codec_name + " " + std::to_string(count));
      }
    }
  }

  // Curves: cosae models, baselines, anchors.
  std::vector<std::pair<std::string, std::string>> codecs;  // name, kind
  for (const auto& curves : coded_as)
    for (const auto& c : curves) codecs.push_back({c.name, "cosae"});
  for (const auto& b : o.baselines) codecs.push_back({b, "baseline"});
  for (const auto& [name, kind] : codecs) {
    std::vector<Sample> mine;
    std::copy_if(r.samples.begin(), r.samples.end(), std::back_inserter(mine),
                 [&](const Sample& s) { return s.codec == name; });
    r.curves.push_back({name, kind, mean_curve(mine)});
  }
  for (auto& a : anchors) r.curves.push_back(std::move(a));

  // BD-rate of each cosae model against every baseline and anchor, and of each later model
  // against the first (e.g. an ablation against the model it ablates).
  for (std::size_t t = 0; t < r.curves.size(); ++t) {
    const Curve& test = r.curves[t];
    if (test.kind != "cosae") continue;
    for (std::size_t a = 0; a < r.curves.size(); ++a) {
      const Curve& anchor = r.curves[a];
      if (anchor.kind == "cosae" && !(a == 0 && t > 0)) continue;
      r.bd.push_back(compare_curves(anchor, test));
    }
  }

  // Crops: each kept image at the first curve's middle bpp (the first model's; with --detail,
  // its first level's), every codec at its nearest setting.
  const std::string lead = coded_as.empty() || coded_as.front().empty() ? std::string() : coded_as.front().front().name;
  for (std::size_t i = 0; i < crop_originals.size() && !lead.empty(); ++i) {
    const std::string& name = r.images[i];
    const Image& ref = crop_originals[i];
    const int side = std::min({o.crop_side, ref.width, ref.height});
    const int x0 = (ref.width - side) / 2, y0 = (ref.height - side) / 2;
    std::vector<const Sample*> first;
    for (const auto& s : r.samples)
      if (s.image == name && s.codec == lead) first.push_back(&s);
    if (first.empty()) continue;
    std::sort(first.begin(), first.end(), [](const Sample* a, const Sample* b) { return a->bpp < b->bpp; });
    CropSet set;
    set.image = name;
    set.target_bpp = first[first.size() / 2]->bpp;
    set.panels.push_back({"original", encode_png(crop(ref, x0, y0, side, side))});
    for (const auto& [codec_name, kind] : codecs) {
      const Sample* best = nullptr;
      for (const auto& s : r.samples)
        if (s.image == name && s.codec == codec_name &&
            (!best || std::abs(s.bpp - set.target_bpp) < std::abs(best->bpp - set.target_bpp)))
          best = &s;
      if (!best) continue;
      const Image& decoded = kept[codec_name][best->setting][name];
      set.panels.push_back({codec_name + " " + best->setting + ": " + fixed(best->bpp, 3) + " bpp, " +
                                fixed(best->psnr, 2) + " dB",
                            encode_png(crop(decoded, x0, y0, side, side))});
    }
    r.crops.push_back(std::move(set));
  }
  return r;
}

std::string results_json(const EvalResults& r) {
  nlohmann::json j;
  j["format"] = "cosae-eval";
  j["version"] = 1;
  j["data"] = r.data;
  j["device"] = r.device;
  j["images"] = r.images;
  auto& samples = j["samples"] = nlohmann::json::array();
  for (const auto& s : r.samples)
    samples.push_back({{"codec", s.codec},       {"setting", s.setting}, {"image", s.image},
                       {"width", s.width},       {"height", s.height},   {"bytes", s.bytes},
                       {"bpp", s.bpp},           {"psnr", s.psnr},       {"ms_ssim", s.ms_ssim},
                       {"encode_s", s.encode_s}, {"decode_s", s.decode_s}});
  // Reconstructions without a bitstream: quality only.
  for (const auto& [key, list] : {std::pair{"unquantized", &r.unquantized}, std::pair{"linear_bound", &r.linear_bound}}) {
    if (list->empty()) continue;
    auto& rows = j[key] = nlohmann::json::array();
    for (const auto& s : *list)
      rows.push_back({{"codec", s.codec}, {"setting", s.setting}, {"image", s.image}, {"psnr", s.psnr},
                      {"ms_ssim", s.ms_ssim}});
  }
  auto& curves = j["curves"] = nlohmann::json::array();
  for (const auto& c : r.curves) {
    nlohmann::json points = nlohmann::json::array();
    for (const auto& p : c.points)
      points.push_back({{"setting", p.setting}, {"bpp", p.bpp}, {"psnr", p.psnr}, {"ms_ssim", p.ms_ssim},
                        {"encode_s", p.encode_s}, {"decode_s", p.decode_s}, {"images", p.images}});
    curves.push_back({{"codec", c.codec}, {"kind", c.kind}, {"points", points}});
  }
  auto& bd = j["bd"] = nlohmann::json::array();
  for (const auto& e : r.bd) {
    nlohmann::json row{{"test", e.test}, {"anchor", e.anchor}};
    if (e.bd_rate) row["bd_rate"] = *e.bd_rate;
    if (e.bd_psnr) row["bd_psnr"] = *e.bd_psnr;
    if (!e.error.empty()) row["error"] = e.error;
    bd.push_back(row);
  }
  return j.dump(2) + "\n";
}

std::string results_csv(const EvalResults& r) {
  auto quoted = [](const std::string& s) {
    if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  std::ostringstream out;
  out << "codec,setting,image,width,height,bytes,bpp,psnr,ms_ssim,encode_s,decode_s\n";
  out << std::setprecision(10);
  for (const auto& s : r.samples)
    out << quoted(s.codec) << ',' << quoted(s.setting) << ',' << quoted(s.image) << ',' << s.width << ','
        << s.height << ',' << s.bytes << ',' << s.bpp << ',' << s.psnr << ',' << s.ms_ssim << ',' << s.encode_s
        << ',' << s.decode_s << '\n';
  return out.str();
}

}  // namespace cosae::eval
