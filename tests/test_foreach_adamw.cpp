// The multi-tensor AdamW step gives the same bits as torch::optim::AdamW, and its state is the
// optimizer's own: LibTorch's step continues from it, and it from LibTorch's.
#include "catch_compat.hpp"
#include "train/foreach_adamw.hpp"

namespace {

std::vector<torch::Tensor> make_params(uint64_t seed) {
  torch::manual_seed(seed);
  std::vector<torch::Tensor> params;
  for (auto shape : std::vector<std::vector<int64_t>>{{7}, {3, 5}, {2, 3, 4, 4}, {1}})
    params.push_back(torch::randn(shape).requires_grad_(true));
  return params;
}

void set_grads(std::vector<torch::Tensor>& params, int step, bool skip_last) {
  torch::manual_seed(100 + step);
  for (std::size_t i = 0; i < params.size(); ++i) {
    auto g = torch::randn_like(params[i]);
    if (skip_last && i + 1 == params.size())
      params[i].mutable_grad() = torch::Tensor();  // no gradient this step: skipped
    else
      params[i].mutable_grad() = g;
  }
}

void check_same(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(torch::equal(a[i], b[i]));
}

}  // namespace

TEST_CASE("the multi-tensor AdamW step equals torch::optim::AdamW bit for bit", "[train]") {
  for (double weight_decay : {0.0, 0.05}) {
    auto reference = make_params(1), ours = make_params(1);
    auto options = torch::optim::AdamWOptions(3e-2).weight_decay(weight_decay);
    torch::optim::AdamW reference_opt(reference, options), our_opt(ours, options);
    for (int step = 0; step < 6; ++step) {
      const bool skip = step == 2;  // one parameter falls a step behind the others
      set_grads(reference, step, skip);
      set_grads(ours, step, skip);
      reference_opt.step();
      cosae::train::foreach_adamw_step(our_opt);
      check_same(reference, ours);
    }
    // The state is shared: each continues from the other's.
    set_grads(reference, 6, false);
    set_grads(ours, 6, false);
    reference_opt.step();
    our_opt.step();
    check_same(reference, ours);
    set_grads(reference, 7, false);
    set_grads(ours, 7, false);
    cosae::train::foreach_adamw_step(reference_opt);
    cosae::train::foreach_adamw_step(our_opt);
    check_same(reference, ours);
    CHECK(our_opt.state().size() == ours.size());
  }
}
