#include "train/foreach_adamw.hpp"

#include <cmath>
#include <map>
#include <sstream>
#include <string>
#include <type_traits>

#include "cosae/error.hpp"

namespace cosae::train {

namespace {

// The optimizer's key for a parameter's state: the TensorImpl address (LibTorch 2.x keys by
// pointer; 1.13 by the address printed as text).
template <typename Map>
typename Map::key_type state_key(const Map&, const torch::Tensor& p) {
  using Key = typename Map::key_type;
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream text;
    text << p.unsafeGetTensorImpl();
    return text.str();
  } else {
    return static_cast<Key>(p.unsafeGetTensorImpl());
  }
}

struct Bucket {  // parameters at one step count share one bias correction
  std::vector<torch::Tensor> params, grads, exp_avg, exp_avg_sq;
};

}  // namespace

void foreach_adamw_step(torch::optim::AdamW& optimizer) {
  torch::NoGradGuard no_grad;
  auto& state = optimizer.state();
  for (auto& group : optimizer.param_groups()) {
    const auto& options = static_cast<const torch::optim::AdamWOptions&>(group.options());
    COSAE_CHECK(!options.amsgrad(), internal, "foreach_adamw_step: amsgrad is not supported");
    std::map<int64_t, Bucket> buckets;  // by the step count after this step
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      const auto key = state_key(state, p);
      auto found = state.find(key);
      if (found == state.end()) {
        auto fresh = std::make_unique<torch::optim::AdamWParamState>();
        fresh->step(0);
        fresh->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        fresh->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        found = state.insert({key, std::move(fresh)}).first;
      }
      auto& s = static_cast<torch::optim::AdamWParamState&>(*found->second);
      s.step(s.step() + 1);
      auto& bucket = buckets[s.step()];
      bucket.params.push_back(p);
      bucket.grads.push_back(p.grad());
      bucket.exp_avg.push_back(s.exp_avg());
      bucket.exp_avg_sq.push_back(s.exp_avg_sq());
    }
    const double lr = options.lr(), eps = options.eps();
    const double beta1 = std::get<0>(options.betas()), beta2 = std::get<1>(options.betas());
    for (auto& [step, b] : buckets) {
      if (options.weight_decay() != 0) at::_foreach_mul_(b.params, 1 - lr * options.weight_decay());
      const double bias_correction1 = 1 - std::pow(beta1, static_cast<double>(step));
      const double bias_correction2 = 1 - std::pow(beta2, static_cast<double>(step));
      at::_foreach_mul_(b.exp_avg, beta1);
      at::_foreach_add_(b.exp_avg, b.grads, 1 - beta1);
      at::_foreach_mul_(b.exp_avg_sq, beta2);
      at::_foreach_addcmul_(b.exp_avg_sq, b.grads, b.grads, 1 - beta2);
      auto denom = at::_foreach_sqrt(b.exp_avg_sq);
      at::_foreach_div_(denom, std::sqrt(bias_correction2));
      at::_foreach_add_(denom, eps);
      at::_foreach_addcdiv_(b.params, b.exp_avg, denom, -lr / bias_correction1);
    }
  }
}

}  // namespace cosae::train
