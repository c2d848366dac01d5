#include "eval/linear_bound.hpp"

#include <cmath>

#include "common/block_transform.hpp"
#include "cosae/error.hpp"

namespace cosae::eval {

namespace {

torch::Tensor to_tensor(const Image& rgb8) {  // [3, H, W] float64 in [0, 255]
  COSAE_CHECK(rgb8.channels == 3 && rgb8.bit_depth == 8, usage, "linear bound: expects 8-bit RGB");
  std::vector<double> values(rgb8.samples.begin(), rgb8.samples.end());
  return torch::tensor(values, torch::kDouble).view({rgb8.height, rgb8.width, 3}).permute({2, 0, 1}).contiguous();
}

}  // namespace

LinearBound::LinearBound(int block) : block_(block) {
  COSAE_CHECK(block >= 1 && block <= 1024, usage, "linear bound: block side ", block, " outside 1..1024");
  dct_ = torch::tensor(orthonormal_dct_matrix(block), torch::kDouble).view({block, block});
  std::vector<double> colour;
  for (const auto& row : orthonormal_colour_basis()) colour.insert(colour.end(), row.begin(), row.end());
  colour_ = torch::tensor(colour, torch::kDouble).view({3, 3});
  energy_ = torch::zeros({3, block, block}, torch::kDouble);
}

torch::Tensor LinearBound::squares(const Image& rgb8) const {
  const int64_t b = block_, h = rgb8.height, w = rgb8.width;
  const int64_t rows = (h + b - 1) / b, cols = (w + b - 1) / b;
  auto x = torch::nn::functional::pad(
      to_tensor(rgb8).unsqueeze(0),
      torch::nn::functional::PadFuncOptions({0, cols * b - w, 0, rows * b - h}).mode(torch::kReplicate));
  auto y = colour_.matmul(x.view({3, -1})).view({3, rows, b, cols, b}).permute({1, 3, 0, 2, 4});
  return dct_.matmul(y).matmul(dct_.t());
}

void LinearBound::add(const Image& rgb8) {
  energy_ += squares(rgb8).pow(2).mean(std::vector<int64_t>{0, 1});
  ++images_;
}

Image LinearBound::reconstruct(const Image& rgb8, int count) const {
  COSAE_CHECK(count >= 1 && count <= coefficients(), usage, "linear bound: ", count, " coefficients outside 1..",
              coefficients());
  COSAE_CHECK(images_ > 0, usage, "linear bound: no image added to choose the coefficients from");
  // Positions by falling energy; a stable sort keeps the lower position first among equals.
  const auto order = std::get<1>(energy_.flatten().sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
  auto mask = torch::zeros({coefficients()}, torch::kDouble);
  mask.index_fill_(0, order.slice(0, 0, count), 1.0);
  const int64_t b = block_, h = rgb8.height, w = rgb8.width;
  const int64_t rows = (h + b - 1) / b, cols = (w + b - 1) / b;
  auto kept = squares(rgb8) * mask.view({3, b, b});
  auto y = dct_.t().matmul(kept).matmul(dct_).permute({2, 0, 3, 1, 4}).reshape({3, rows * b * cols * b});
  auto x = colour_.t().matmul(y).view({3, rows * b, cols * b}).slice(1, 0, h).slice(2, 0, w);
  auto samples = x.round().clamp(0, 255).permute({1, 2, 0}).contiguous().to(torch::kInt);
  Image out{rgb8.width, rgb8.height, 3, 8, {}};
  const int* p = samples.data_ptr<int>();
  out.samples.assign(p, p + out.sample_count());
  return out;
}

}  // namespace cosae::eval
