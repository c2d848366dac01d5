#include "entropy/integer_network.hpp"

#include <algorithm>
#include <cstdlib>

#include "common/parallel.hpp"
#include "cosae/error.hpp"

namespace cosae::entropy {

void IntegerConv::validate() const {
  COSAE_CHECK(kernel == 1 || kernel == 3, model, "integer layer ", name, ": kernel ", kernel, " (1 or 3)");
  COSAE_CHECK(outputs >= 1 && inputs >= 1 && outputs <= 65536 && inputs <= 65536, model, "integer layer ", name,
              ": ", outputs, " outputs, ", inputs, " inputs");
  COSAE_CHECK(weight.size() == static_cast<std::size_t>(outputs * inputs * kernel * kernel) &&
                  bias.size() == static_cast<std::size_t>(outputs) && shift.size() == static_cast<std::size_t>(outputs),
              model, "integer layer ", name, ": tensor sizes do not match its shape");
  COSAE_CHECK(low <= high && low >= -(1 << 30) && high <= (1 << 30), model, "integer layer ", name, ": clamp [", low,
              ", ", high, "]");
  const int64_t taps = inputs * kernel * kernel;
  for (int64_t o = 0; o < outputs; ++o) {
    COSAE_CHECK(shift[static_cast<std::size_t>(o)] <= kMaxIntegerShift, model, "integer layer ", name, ": shift ",
                int(shift[static_cast<std::size_t>(o)]), " > ", kMaxIntegerShift);
    int64_t bound = std::abs(static_cast<int64_t>(bias[static_cast<std::size_t>(o)]));
    for (int64_t t = 0; t < taps; ++t)
      bound += std::abs(static_cast<int64_t>(weight[static_cast<std::size_t>(o * taps + t)])) * kMaxIntegerInput;
    // The rounding adds up to 2^(shift - 1) more, done in 64 bits.
    COSAE_CHECK(bound <= INT32_MAX, model, "integer layer ", name, ": output ", o,
                " could overflow its 32-bit accumulator");
  }
}

void IntegerConv::forward(const int32_t* x, int64_t h, int64_t w, int32_t* y) const {
  const int64_t n = h * w, r = kernel / 2;
  // Output channels are independent: split them over threads in chunks of about 2^20
  // multiply-adds (each output's integers are the same whichever thread computes them).
  const int64_t work = std::max<int64_t>(1, n * inputs * kernel * kernel);
  parallel_for(0, outputs, std::max<int64_t>(1, (int64_t{1} << 20) / work), [&](int64_t first, int64_t last) {
    std::vector<int32_t> acc(static_cast<std::size_t>(n));
    for (int64_t o = first; o < last; ++o) {
      std::fill(acc.begin(), acc.end(), bias[static_cast<std::size_t>(o)]);
      const int8_t* wo = weight.data() + o * inputs * kernel * kernel;
      for (int64_t i = 0; i < inputs; ++i) {
        const int32_t* xi = x + i * n;
        for (int64_t ky = 0; ky < kernel; ++ky)
          for (int64_t kx = 0; kx < kernel; ++kx) {
            const int32_t wv = wo[(i * kernel + ky) * kernel + kx];
            if (wv == 0) continue;
            const int64_t dy = ky - r, dx = kx - r;
            const int64_t y0 = std::max<int64_t>(0, -dy), y1 = std::min(h, h - dy);
            const int64_t x0 = std::max<int64_t>(0, -dx), x1 = std::min(w, w - dx);
            for (int64_t yy = y0; yy < y1; ++yy) {
              int32_t* a = acc.data() + yy * w;
              const int32_t* src = xi + (yy + dy) * w + dx;
              for (int64_t xx = x0; xx < x1; ++xx) a[xx] += wv * src[xx];
            }
          }
      }
      const int s = shift[static_cast<std::size_t>(o)];
      int32_t* yo = y + o * n;
      for (int64_t p = 0; p < n; ++p)
        yo[p] = static_cast<int32_t>(std::clamp<int64_t>(round_shift(acc[static_cast<std::size_t>(p)], s), low, high));
    }
  });
}

}  // namespace cosae::entropy
