#include "codec/detail.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>

#include "codec/adaptive.hpp"
#include "common/block_transform.hpp"
#include "common/parallel.hpp"
#include "cosae/error.hpp"
#include "entropy/rans.hpp"

namespace cosae::codec {
namespace {

constexpr int B = kDetailBlock;
constexpr int kBlockCoefficients = B * B;
// The encoder's rounding: |symbol| = floor(|coefficient| / step + kRounding). Below 1/2 it
// zeroes coefficients that would cost more bits than their error saves (at equal rate, about
// 0.5 dB more than plain rounding in an estimate on the natural validation photos; 0.25 did
// no better).
constexpr double kRounding = 0.35;

// The 8x8 DCT-II and the colour basis (common/block_transform.hpp), built once.
const std::vector<double>& dct_matrix() {
  static const std::vector<double> t = orthonormal_dct_matrix(B);
  return t;
}
const std::array<std::array<double, 3>, 3>& colour_matrix() {
  static const auto m = orthonormal_colour_basis();
  return m;
}

// out = T in T^T (forward) or T^T in T (inverse) for one block.
void dct2(const double* in, double* out, bool inverse) {
  const auto& t = dct_matrix();
  double tmp[kBlockCoefficients];
  for (int u = 0; u < B; ++u)  // rows: tmp = T in (or T^T in)
    for (int x = 0; x < B; ++x) {
      double s = 0;
      for (int k = 0; k < B; ++k) s += (inverse ? t[k * B + u] : t[u * B + k]) * in[k * B + x];
      tmp[u * B + x] = s;
    }
  for (int u = 0; u < B; ++u)  // columns: out = tmp T^T (or tmp T)
    for (int v = 0; v < B; ++v) {
      double s = 0;
      for (int k = 0; k < B; ++k) s += tmp[u * B + k] * (inverse ? t[k * B + v] : t[v * B + k]);
      out[u * B + v] = s;
    }
}

struct Layout {
  int channels;        // coded channels: 1 or 3
  int64_t bw, bh;      // blocks across and down
  int64_t blocks() const { return bw * bh; }
  int64_t planes() const { return int64_t(channels) * kBlockCoefficients; }
};

Layout layout_of(int width, int height, int channels) {
  return {channels, (width + B - 1) / B, (height + B - 1) / B};
}

double channel_step(double step, int c) { return c == 0 ? step : step * kDetailChromaFactor; }

// A symbol's context: from the magnitudes of its left and upper neighbours in its plane (sum
// 0, 1..2, or 3 and more), and from how many of the same block's earlier planes of its
// channel are non-zero (0, 1..2, 3..7, 8 and more): 3 x 4 classes.
constexpr int kContexts = 12;
int context_of(const int32_t* plane, int64_t i, int64_t bx, int64_t by, int64_t bw, int32_t earlier_non_zero) {
  const int64_t s = (bx > 0 ? std::abs(int64_t(plane[i - 1])) : 0) + (by > 0 ? std::abs(int64_t(plane[i - bw])) : 0);
  const int neighbours = s == 0 ? 0 : s <= 2 ? 1 : 2;
  const int block = earlier_non_zero == 0 ? 0 : earlier_non_zero <= 2 ? 1 : earlier_non_zero <= 7 ? 2 : 3;
  return neighbours * 4 + block;
}

// The encoder's decisions for one plane: whether it holds any non-zero symbol, each context's
// adaptive choice, and each block's context.
struct PlanePlan {
  bool any = false;
  int32_t choice[kContexts] = {};
};

// Plans every plane of `symbols` (planes x blocks, channel-major) at once, in parallel: a
// block's count of earlier non-zero planes comes from the symbols themselves, so no plane
// waits for another. contexts[p * blocks + b] is block b's context in plane p.
std::vector<PlanePlan> plan_planes(const std::vector<int32_t>& symbols, const Layout& l, std::vector<uint8_t>& contexts) {
  const int64_t n = l.blocks();
  std::vector<uint8_t> earlier(symbols.size());  // non-zero planes before this one in the block's channel
  parallel_for(0, l.channels * n, 1 << 12, [&](int64_t begin, int64_t end) {
    for (int64_t cb = begin; cb < end; ++cb) {
      const int64_t c = cb / n, b = cb % n;
      uint8_t count = 0;
      for (int p = 0; p < kBlockCoefficients; ++p) {
        const auto i = static_cast<std::size_t>((c * kBlockCoefficients + p) * n + b);
        earlier[i] = count;
        count = static_cast<uint8_t>(count + (symbols[i] != 0));
      }
    }
  });
  contexts.resize(symbols.size());
  std::vector<PlanePlan> plans(static_cast<std::size_t>(l.planes()));
  parallel_for(0, l.planes(), 1, [&](int64_t p0, int64_t p1) {
    std::vector<int32_t> by_context[kContexts];
    for (int64_t p = p0; p < p1; ++p) {
      const int32_t* plane = symbols.data() + p * n;
      auto& plan = plans[static_cast<std::size_t>(p)];
      plan.any = std::any_of(plane, plane + n, [](int32_t v) { return v != 0; });
      if (!plan.any) continue;
      for (auto& v : by_context) v.clear();
      for (int64_t by = 0, i = 0; by < l.bh; ++by)
        for (int64_t bx = 0; bx < l.bw; ++bx, ++i) {
          const auto at = static_cast<std::size_t>(p * n + i);
          const int k = context_of(plane, i, bx, by, l.bw, earlier[at]);
          contexts[at] = static_cast<uint8_t>(k);
          by_context[k].push_back(plane[i]);
        }
      for (int k = 0; k < kContexts; ++k)
        plan.choice[k] = laplace_choice(by_context[k].data(), static_cast<int64_t>(by_context[k].size()));
    }
  });
  return plans;
}

// One channel's 64 planes in raster (u, v) order. Each plane: whether it holds any non-zero
// symbol (the adaptive choice table's 0 or 1: a bit for an all-zero plane), then, if so, the
// choices of its contexts and its symbols.
void put_channel(entropy::RansEncoder& coder, const int32_t* planes, const PlanePlan* plans, const uint8_t* contexts,
                 const Layout& l) {
  for (int p = 0; p < kBlockCoefficients; ++p) {
    const PlanePlan& plan = plans[p];
    coder.put(plan.any ? 1 : 0, adaptive_choice_table());
    if (!plan.any) continue;
    for (int k = 0; k < kContexts; ++k) coder.put(plan.choice[k], adaptive_choice_table());
    const int32_t* plane = planes + p * l.blocks();
    const uint8_t* context = contexts + p * l.blocks();
    for (int64_t i = 0; i < l.blocks(); ++i) {
      const int32_t c = plan.choice[context[i]];
      if (c != 0) coder.put(plane[i], adaptive_laplace_table(c - 2));
    }
  }
}

void get_channel(entropy::RansDecoder& coder, int32_t* planes, const Layout& l) {
  std::vector<int32_t> earlier(static_cast<std::size_t>(l.blocks()), 0);
  for (int p = 0; p < kBlockCoefficients; ++p) {
    int32_t* plane = planes + p * l.blocks();
    const int32_t any = coder.get(adaptive_choice_table());
    COSAE_CHECK(any == 0 || any == 1, bad_input, "detail layer: plane flag ", any, " is not 0 or 1");
    if (any == 0) {
      std::fill(plane, plane + l.blocks(), 0);
      continue;
    }
    int32_t choice[kContexts];
    for (int k = 0; k < kContexts; ++k) {
      choice[k] = coder.get(adaptive_choice_table());
      COSAE_CHECK(choice[k] == 0 || (choice[k] >= 2 && choice[k] < 2 + kAdaptiveScales), bad_input,
                  "detail layer: table choice ", choice[k], " outside 0 and 2..", 1 + kAdaptiveScales);
    }
    for (int64_t by = 0, i = 0; by < l.bh; ++by)
      for (int64_t bx = 0; bx < l.bw; ++bx, ++i) {
        auto& e = earlier[static_cast<std::size_t>(i)];
        const int32_t c = choice[context_of(plane, i, bx, by, l.bw, e)];
        plane[i] = c == 0 ? 0 : coder.get(adaptive_laplace_table(c - 2));
        e += plane[i] != 0;
      }
  }
}

int coded_channels(const Image& image) { return image.channels <= 2 ? 1 : 3; }

}  // namespace

double detail_step(int level) {
  COSAE_CHECK(level >= 1 && level <= kMaxDetailLevel, usage, "detail level ", level, " outside 1..", kMaxDetailLevel);
  return 1024.0 * std::exp2(-level / 4.0);
}

int detail_streams(int channels) {
  COSAE_CHECK(channels == 1 || channels == 3, usage, "detail layer: ", channels, " channels, not 1 or 3");
  return channels;
}

std::vector<std::vector<uint8_t>> encode_detail(const Image& original, const Image& base, int level) {
  const double step = detail_step(level);
  const int C = coded_channels(original);
  COSAE_CHECK(base.width == original.width && base.height == original.height && base.channels == C &&
                  base.bit_depth == original.bit_depth && base.sample_count() == base.samples.size() &&
                  original.sample_count() == original.samples.size(),
              usage, "detail layer: the base image does not match the original");
  const Layout l = layout_of(original.width, original.height, C);
  const int64_t W = original.width, H = original.height;
  const double to_8bit = 255.0 / original.max_value();
  const auto& colour = colour_matrix();
  // symbols[p * blocks + b]: plane p = c * 64 + u * 8 + v.
  std::vector<int32_t> symbols(static_cast<std::size_t>(l.planes() * l.blocks()));
  parallel_for(0, l.bh, 1, [&](int64_t by0, int64_t by1) {
    double block[3][kBlockCoefficients], coefficients[kBlockCoefficients];
    for (int64_t by = by0; by < by1; ++by)
      for (int64_t bx = 0; bx < l.bw; ++bx) {
        for (int y = 0; y < B; ++y)
          for (int x = 0; x < B; ++x) {
            // Outside the image, the nearest pixel's residual.
            const int64_t py = std::min(H - 1, by * B + y), px = std::min(W - 1, bx * B + x);
            double r[3];
            for (int c = 0; c < C; ++c)
              r[c] = (double(original.samples[static_cast<std::size_t>((py * W + px) * original.channels + c)]) -
                      double(base.samples[static_cast<std::size_t>((py * W + px) * C + c)])) *
                     to_8bit;
            for (int c = 0; c < C; ++c)
              block[c][y * B + x] = C == 1 ? r[0] : colour[c][0] * r[0] + colour[c][1] * r[1] + colour[c][2] * r[2];
          }
        for (int c = 0; c < C; ++c) {
          dct2(block[c], coefficients, false);
          const double s = channel_step(step, c);
          for (int k = 0; k < kBlockCoefficients; ++k) {
            const double m = std::min(std::floor(std::abs(coefficients[k]) / s + kRounding),
                                      double(entropy::kMaxMagnitude));
            symbols[static_cast<std::size_t>((c * kBlockCoefficients + k) * l.blocks() + by * l.bw + bx)] =
                static_cast<int32_t>(coefficients[k] < 0 ? -m : m);
          }
        }
      }
  });
  std::vector<uint8_t> contexts;
  const auto plans = plan_planes(symbols, l, contexts);
  std::vector<std::vector<uint8_t>> streams(static_cast<std::size_t>(C));
  parallel_for(0, C, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      entropy::RansEncoder coder;
      const int64_t first = c * kBlockCoefficients;
      put_channel(coder, symbols.data() + first * l.blocks(), plans.data() + first,
                  contexts.data() + first * l.blocks(), l);
      streams[static_cast<std::size_t>(c)] = coder.finish();
    }
  });
  return streams;
}

void decode_detail(const std::vector<ByteSpan>& streams, int level, Image& base) {
  const double step = detail_step(level);
  const int C = coded_channels(base);
  COSAE_CHECK(C == base.channels && base.sample_count() == base.samples.size(), usage,
              "detail layer: the base image must be grey or RGB");
  const Layout l = layout_of(base.width, base.height, C);
  COSAE_CHECK(static_cast<int64_t>(streams.size()) == C, bad_input, "detail layer: ", streams.size(),
              " streams for ", C, C == 1 ? " channel" : " channels");
  std::vector<int32_t> symbols(static_cast<std::size_t>(l.planes() * l.blocks()));
  parallel_for(0, C, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const auto& span = streams[static_cast<std::size_t>(c)];
      entropy::RansDecoder coder(span.data, span.size);
      get_channel(coder, symbols.data() + c * kBlockCoefficients * l.blocks(), l);
      coder.finish();
    }
  });
  const int64_t W = base.width, H = base.height;
  const double from_8bit = base.max_value() / 255.0;
  const auto& colour = colour_matrix();
  parallel_for(0, l.bh, 1, [&](int64_t by0, int64_t by1) {
    double coefficients[kBlockCoefficients], block[3][kBlockCoefficients];
    for (int64_t by = by0; by < by1; ++by)
      for (int64_t bx = 0; bx < l.bw; ++bx) {
        for (int c = 0; c < C; ++c) {
          const double s = channel_step(step, c);
          for (int k = 0; k < kBlockCoefficients; ++k)
            coefficients[k] =
                s * symbols[static_cast<std::size_t>((c * kBlockCoefficients + k) * l.blocks() + by * l.bw + bx)];
          dct2(coefficients, block[c], true);
        }
        for (int y = 0; y < B && by * B + y < H; ++y)
          for (int x = 0; x < B && bx * B + x < W; ++x) {
            const int k = y * B + x;
            for (int c = 0; c < C; ++c) {
              const double r = C == 1 ? block[0][k]
                                      : colour[0][c] * block[0][k] + colour[1][c] * block[1][k] + colour[2][c] * block[2][k];
              auto& sample = base.samples[static_cast<std::size_t>(((by * B + y) * W + bx * B + x) * C + c)];
              sample = static_cast<uint16_t>(
                  std::clamp(std::nearbyint(double(sample) + r * from_8bit), 0.0, double(base.max_value())));
            }
          }
      }
  });
}

}  // namespace cosae::codec
