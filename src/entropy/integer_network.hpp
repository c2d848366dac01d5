// Integer convolutions for the conditional entropy model's parameter path (after Ballé,
// Johnston and Minnen, "Integer networks for data compression with latent-variable models",
// ICLR 2019). Everything that selects a symbol's CDF is defined here with integers only, so
// the encoder and the decoder get the same numbers on any CPU, with any compiler and any
// LibTorch. forward() is the reference; the codec runs the same layers as exact float64
// matrix products on the model's device (codec/conditional.hpp, tested against it); the float
// network the trainer runs is a mirror of this arithmetic (model/conditional_entropy.hpp).
//
// One layer, per output channel o and cell p, with inputs x (|x| <= kMaxIntegerInput):
//   acc     = bias[o] + sum over inputs i and kernel taps t of weight[o][i][t] * x[i][p + t]
//   out     = floor((acc + 2^(shift[o] - 1)) / 2^shift[o])      (acc itself when shift is 0)
//   y[o][p] = clamp(out, low, high)
// Kernels are 1x1 or 3x3, stride 1, zero padding. validate() proves that acc fits in int32.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cosae::entropy {

// Inputs of every layer lie in [-kMaxIntegerInput, kMaxIntegerInput] (hidden layers clamp to
// [0, 255]; symbols are clamped to [-127, 127] before they enter).
constexpr int32_t kMaxIntegerInput = 255;
constexpr int kMaxIntegerShift = 30;

struct IntegerConv {
  std::string name;
  int64_t outputs = 0, inputs = 0, kernel = 1;  // kernel 1 or 3
  std::vector<int8_t> weight;                   // [outputs][inputs][kernel][kernel]
  std::vector<int32_t> bias;                    // [outputs]
  std::vector<uint8_t> shift;                   // [outputs], 0..kMaxIntegerShift
  int32_t low = 0, high = 255;                  // the output's clamp

  // Throws cosae::Error (model) naming the layer for inconsistent sizes, a shift out of range,
  // a clamp outside [-2^30, 2^30] or weights and bias for which acc could leave int32 with
  // inputs bounded by kMaxIntegerInput.
  void validate() const;

  // x: [inputs][h][w] -> y: [outputs][h][w] (row-major int32 arrays; y must not alias x).
  void forward(const int32_t* x, int64_t h, int64_t w, int32_t* y) const;
};

// Rounded division by 2^shift as the layers do it: floor((value + 2^(shift - 1)) / 2^shift).
inline int64_t round_shift(int64_t value, int shift) {
  if (shift == 0) return value;
  const int64_t v = value + (int64_t{1} << (shift - 1));
  // Floor division, whatever the platform's shift of negative numbers does.
  return v >= 0 ? v >> shift : -((-v + (int64_t{1} << shift) - 1) >> shift);
}

}  // namespace cosae::entropy
