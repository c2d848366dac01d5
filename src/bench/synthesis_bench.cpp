#include "bench/synthesis_bench.hpp"

#include <cstdio>
#include <functional>
#include <map>

#include "bench/timer.hpp"
#include "common/device.hpp"
#include "cosae/error.hpp"
#include "synthesis/formulations.hpp"
#include "synthesis/synthesis.hpp"

namespace cosae::bench {
namespace {

struct SynthesisSize {
  const char* name;
  int64_t batch, freqs, cells_y, cells_x, tile;
};

// training: B=16, K=256, 4x4 cells, T=16 (256x256 crops at D=64, U=4);
// 4k: one 3840x2160 frame at D=64 (60x34 cells), K=256, T=16.
const SynthesisSize kSizes[] = {
    {"train", 16, 256, 4, 4, 16},
    {"4k", 1, 256, 34, 60, 16},
};

double max_rel_err(const torch::Tensor& x, const torch::Tensor& ref) {
  const auto r = ref.to(torch::kDouble);
  const double scale = r.abs().max().item<double>();
  const double diff = (x.to(torch::kDouble) - r).abs().max().item<double>();
  return scale > 0 ? diff / scale : diff;
}

struct GradientsHolder {
  synthesis::SynthesisGradients g;
};

using Method = std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&)>;

}  // namespace

std::vector<SynthesisBenchRow> run_synthesis_bench(const SynthesisBenchOptions& opt) {
  std::vector<SynthesisBenchRow> rows;
  const auto dev = opt.device;
  for (const auto& size_name : opt.sizes) {
    const SynthesisSize* size = nullptr;
    for (const auto& s : kSizes)
      if (size_name == s.name) size = &s;
    COSAE_CHECK(size, usage, "bench synthesis: unknown size '", size_name, "' (train, 4k)");
    const int64_t B = size->batch, K = size->freqs, h = size->cells_y, w = size->cells_x, T = size->tile;
    const int64_t C = opt.projection_channels;

    torch::manual_seed(1234);
    const auto f32 = torch::TensorOptions().dtype(torch::kFloat).device(dev);
    const auto amplitude = torch::rand({B, K, h, w}, f32);
    const auto phase = (torch::rand({B, K, h, w}, f32) * 2 - 1) * 3.14159f;
    const auto freqs = (torch::rand({K, 2}, f32) - 0.5) * static_cast<double>(T);
    const auto grad_out = torch::randn({B, K, h * T, w * T}, f32);
    const auto proj_w = torch::randn({C, K}, f32) / std::sqrt(static_cast<double>(K));
    const auto proj_b = torch::randn({C}, f32);

    // float64 references: the broadcast formula and its autograd.
    torch::Tensor ref_out, ref_dA, ref_dphase, ref_dfreq;
    {
      auto A = amplitude.to(torch::kDouble).requires_grad_(true);
      auto P = phase.to(torch::kDouble).requires_grad_(true);
      auto F = freqs.to(torch::kDouble).requires_grad_(true);
      ref_out = synthesis::synthesis_naive(A, P, F, T);
      ref_out.backward(grad_out.to(torch::kDouble));
      ref_dA = A.grad(), ref_dphase = P.grad(), ref_dfreq = F.grad();
      ref_out = ref_out.detach();
    }

    const double es = 4.0;
    const double cells = static_cast<double>(B * K * h * w);
    const double pixels = cells * T * T;
    const double fwd_bytes = es * (2 * cells + pixels);
    const double fwdbwd_bytes = fwd_bytes + es * (pixels + 2 * cells + 2 * cells);
    const double io_mb = (fwd_bytes + es * (pixels + 4 * cells)) / 1e6;

    // The device's copy bandwidth in this run, for the "% of copy" column.
    {
      auto src = torch::rand({B, K, h * T, w * T}, f32);
      auto dst = torch::empty_like(src);
      const auto t = time_median([&] { dst.copy_(src); }, dev, opt.warmup, opt.repeats);
      rows.push_back({size->name, "copy", "read+write", t.median_ms, 2 * es * pixels, 2 * es * pixels / t.median_ms / 1e6,
                      0, 0});
      // A write-only fill of the output: the ceiling for an op that mostly writes.
      const auto f = time_median([&] { dst.fill_(1.0f); }, dev, opt.warmup, opt.repeats);
      rows.push_back({size->name, "fill", "write", f.median_ms, es * pixels, es * pixels / f.median_ms / 1e6, 0, 0});
    }

    const std::map<std::string, Method> methods = {
        {"cosae", [&](auto& A, auto& P, auto& F) { return synthesis::harmonic_synthesis(A, P, F, T); }},
        {"naive", [&](auto& A, auto& P, auto& F) { return synthesis::synthesis_naive(A, P, F, T); }},
        {"transposed_conv", [&](auto& A, auto& P, auto& F) { return synthesis::synthesis_transposed_conv(A, P, F, T); }},
    };
    for (const auto& [name, method] : methods) {
      {  // forward
        torch::NoGradGuard no_grad;
        torch::Tensor out;
        reset_peak_memory(dev);
        const auto before = allocated_memory_bytes(dev);
        const auto t = time_median(
            [&] {
              out = torch::Tensor();  // free the previous output first: peak = one output
              out = method(amplitude, phase, freqs);
            },
            dev, opt.warmup, opt.repeats);
        const double peak = static_cast<double>(peak_memory_bytes(dev) - before) / 1e6;
        rows.push_back({size->name, name, "forward", t.median_ms, fwd_bytes, fwd_bytes / t.median_ms / 1e6,
                        max_rel_err(out, ref_out), std::max(0.0, peak - es * pixels / 1e6)});
      }
      {  // forward + backward
        auto A = amplitude.clone().requires_grad_(true);
        auto P = phase.clone().requires_grad_(true);
        auto F = freqs.clone().requires_grad_(true);
        torch::Tensor out;
        auto step = [&] {
          A.mutable_grad() = torch::Tensor();
          P.mutable_grad() = torch::Tensor();
          F.mutable_grad() = torch::Tensor();
          out = torch::Tensor();
          out = method(A, P, F);
          out.backward(grad_out);
        };
        reset_peak_memory(dev);
        const auto before = allocated_memory_bytes(dev);
        const auto t = time_median(step, dev, opt.warmup, opt.repeats);
        const double peak = static_cast<double>(peak_memory_bytes(dev) - before) / 1e6;
        const double err = std::max({max_rel_err(out.detach(), ref_out), max_rel_err(A.grad(), ref_dA),
                                     max_rel_err(P.grad(), ref_dphase), max_rel_err(F.grad(), ref_dfreq)});
        rows.push_back({size->name, name, "forward+backward", t.median_ms, fwdbwd_bytes,
                        fwdbwd_bytes / t.median_ms / 1e6, err, std::max(0.0, peak - io_mb)});
      }
    }

    {  // the op's kernels called directly: forward + backward without the autograd engine
      torch::Tensor out;
      GradientsHolder grads;
      const auto t = time_median(
          [&] {
            out = torch::Tensor();
            out = synthesis::synthesis_forward(amplitude, phase, freqs, T);
            grads.g = synthesis::synthesis_backward(grad_out, amplitude, phase, freqs, T);
          },
          dev, opt.warmup, opt.repeats);
      const double err = std::max({max_rel_err(out, ref_out), max_rel_err(grads.g.amplitude, ref_dA),
                                   max_rel_err(grads.g.phase, ref_dphase), max_rel_err(grads.g.frequencies, ref_dfreq)});
      rows.push_back({size->name, "cosae_kernels", "forward+backward", t.median_ms, fwdbwd_bytes,
                      fwdbwd_bytes / t.median_ms / 1e6, err, 0});
    }

    // Synthesis + 1x1 projection K -> C: the custom kernel then a 1x1 convolution, against
    // the fused transposed-convolution (GEMM) form that never writes the K-channel map.
    {
      torch::NoGradGuard no_grad;
      const auto conv_w = proj_w.view({C, K, 1, 1});
      torch::Tensor unfused, fused;
      const auto t1 = time_median(
          [&] { unfused = torch::conv2d(synthesis::synthesis_forward(amplitude, phase, freqs, T), conv_w, proj_b); },
          dev, opt.warmup, opt.repeats);
      const auto t2 = time_median(
          [&] { fused = synthesis::synthesis_fused_projection(amplitude, phase, freqs, T, proj_w, proj_b); }, dev,
          opt.warmup, opt.repeats);
      const auto ref = torch::conv2d(ref_out, conv_w.to(torch::kDouble), proj_b.to(torch::kDouble));
      const double out_bytes = es * (2 * cells + pixels / K * C);
      rows.push_back({size->name, "cosae+1x1", "forward", t1.median_ms, out_bytes, out_bytes / t1.median_ms / 1e6,
                      max_rel_err(unfused, ref), 0});
      rows.push_back({size->name, "fused_gemm", "forward", t2.median_ms, out_bytes, out_bytes / t2.median_ms / 1e6,
                      max_rel_err(fused, ref), 0});
    }
  }
  return rows;
}

nlohmann::json to_json(const std::vector<SynthesisBenchRow>& rows, const SynthesisBenchOptions& opt) {
  nlohmann::json out;
  out["benchmark"] = "synthesis";
  out["device"] = describe_device(opt.device);
  out["warmup"] = opt.warmup;
  out["repeats"] = opt.repeats;
  out["rows"] = nlohmann::json::array();
  for (const auto& r : rows)
    out["rows"].push_back({{"size", r.size}, {"method", r.method}, {"pass", r.pass}, {"median_ms", r.median_ms},
                           {"bytes", r.bytes}, {"gbps", r.gbps}, {"max_rel_err", r.max_rel_err},
                           {"peak_extra_mb", r.peak_extra_mb}});
  return out;
}

std::string format_table(const std::vector<SynthesisBenchRow>& rows) {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-6s %-16s %-17s %10s %9s %7s %11s %9s\n", "size", "method", "pass", "ms", "GB/s",
                "%copy", "max_rel_err", "extra_MB");
  out += line;
  std::map<std::string, double> copy_gbps;
  for (const auto& r : rows)
    if (r.method == "copy") copy_gbps[r.size] = r.gbps;
  for (const auto& r : rows) {
    const double pct = copy_gbps[r.size] > 0 ? 100.0 * r.gbps / copy_gbps[r.size] : 0;
    std::snprintf(line, sizeof line, "%-6s %-16s %-17s %10.4f %9.1f %6.1f%% %11.2e %9.2f\n", r.size.c_str(),
                  r.method.c_str(), r.pass.c_str(), r.median_ms, r.gbps, pct, r.max_rel_err, r.peak_extra_mb);
    out += line;
  }
  // The op against its peers, same size and pass, same run.
  std::map<std::string, double> ms;
  for (const auto& r : rows) ms[r.size + "|" + r.method + "|" + r.pass] = r.median_ms;
  for (const auto& [size, gbps] : copy_gbps)
    for (const char* pass : {"forward", "forward+backward"}) {
      const double own = ms[size + "|cosae|" + pass];
      const double naive = ms[size + "|naive|" + pass];
      const double conv = ms[size + "|transposed_conv|" + pass];
      if (own <= 0) continue;
      std::snprintf(line, sizeof line, "%-6s cosae %-17s %6.1fx faster than naive, %6.1fx than transposed conv\n",
                    size.c_str(), pass, naive / own, conv / own);
      out += line;
    }
  return out;
}

}  // namespace cosae::bench
