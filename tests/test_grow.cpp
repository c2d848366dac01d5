// Growing a trained CosAE into a larger architecture (more frequencies, encoder width, levels
// and decoder blocks): the old levels reconstruct exactly as before (also where new levels go
// below or between them), the new latent channels start at 0 and can learn, and configs that
// cannot grow are refused with a clear error.
#include <cmath>

#include "catch_compat.hpp"
#include "cosae/error.hpp"
#include "model/config.hpp"
#include "model/cosae_model.hpp"
#include "model/grow.hpp"

using namespace cosae::model;

namespace {

ModelConfig grown_config(const ModelConfig& c) {
  ModelConfig g = c;
  g.frequencies = c.frequencies + 4;
  g.encoder_channels.back() += 8;
  g.lambdas.push_back(2 * c.lambdas.back());
  g.decoder_blocks += 2;  // a plain and a shifted window block
  return g;
}

// A model away from its initialisation, so that copying only some weights would show.
CosAE perturbed_model(const ModelConfig& config) {
  torch::manual_seed(3);
  CosAE net(config);
  torch::NoGradGuard no_grad;
  for (auto& p : net->parameters()) p.add_(0.05 * torch::randn_like(p));
  return net;
}

// `old_net` (a perturbed model of its config) grown into `bigger`, both in eval mode.
CosAE grown_eval(CosAE& old_net, const ModelConfig& bigger) {
  torch::manual_seed(4);
  CosAE net(bigger);
  grow_into(*old_net, *net);
  old_net->eval();
  net->eval();
  return net;
}

}  // namespace

TEST_CASE("grow: the old levels reconstruct as before; new latent channels start at 0", "[model]") {
  const auto config = load_config("tiny");
  const auto bigger = grown_config(config);
  auto old_net = perturbed_model(config);
  auto net = grown_eval(old_net, bigger);
  torch::NoGradGuard no_grad;
  const auto image = torch::rand({1, 3, 48, 32});
  const int64_t K = config.frequencies, grown_K = bigger.frequencies;
  for (int64_t q = 0; q < config.quality_levels(); ++q) {
    const auto old_latent = old_net->analysis(image, q), latent = net->analysis(image, q);
    INFO("level " << q);
    CHECK(torch::allclose(latent.narrow(1, 0, K), old_latent.narrow(1, 0, K), 1e-5, 1e-6));
    CHECK(torch::allclose(latent.narrow(1, grown_K, K), old_latent.narrow(1, K, K), 1e-5, 1e-6));
    CHECK(torch::equal(latent.narrow(1, K, grown_K - K), torch::zeros_like(latent.narrow(1, K, grown_K - K))));
    CHECK(torch::allclose(net->synthesis(latent, q), old_net->synthesis(old_latent, q), 1e-4, 1e-5));
    // The codec's path: the same symbols for the old channels, 0 for the new ones.
    const auto old_symbols = old_net->quantize(old_latent), symbols = net->quantize(latent);
    CHECK(torch::equal(symbols.narrow(1, 0, K), old_symbols.narrow(1, 0, K)));
    CHECK(torch::equal(symbols.narrow(1, grown_K, K), old_symbols.narrow(1, K, K)));
    CHECK(symbols.narrow(1, K, grown_K - K).abs().max().item<float>() == 0.0f);
  }
  // The new level quantises more finely than the last old one.
  CHECK((net->log_gains[config.quality_levels()] > net->log_gains[config.quality_levels() - 1]).all().item<bool>());
  CHECK(torch::allclose(net->decoder->frequencies.narrow(0, 0, K), old_net->decoder->frequencies));
}

TEST_CASE("grow: new levels below and between the old ones; each old level keeps its reconstruction",
          "[model]") {
  const auto config = load_config("tiny");
  const auto& lambdas = config.lambdas;
  REQUIRE(lambdas.size() >= 3);
  auto bigger = config;
  bigger.lambdas.insert(bigger.lambdas.begin() + 1, std::sqrt(lambdas[0] * lambdas[1]));  // between q1 and q2
  bigger.lambdas.insert(bigger.lambdas.begin(), lambdas[0] / 4);                            // below q1
  auto old_net = perturbed_model(config);
  auto net = grown_eval(old_net, bigger);
  torch::NoGradGuard no_grad;
  const auto image = torch::rand({1, 3, 32, 48});
  for (int64_t q = 0; q < config.quality_levels(); ++q) {
    const int64_t now = q == 0 ? 1 : q + 2;  // old q1 is now q2, old q2 and up move by two
    INFO("old level " << q << ", now " << now);
    CHECK(torch::allclose(net->log_gains[now], old_net->log_gains[q]));
    CHECK(torch::allclose(net->log_inverse_gains[now], old_net->log_inverse_gains[q]));
    const auto latent = net->analysis(image, now), old_latent = old_net->analysis(image, q);
    CHECK(torch::equal(net->quantize(latent), old_net->quantize(old_latent)));
    CHECK(torch::allclose(net->synthesis(latent, now), old_net->synthesis(old_latent, q), 1e-4, 1e-5));
  }
  // The level below q1 quantises more coarsely than q1 (by sqrt of the lambda ratio: a factor
  // of 2 in the gains); the one between q1 and q2 lies between them on average.
  CHECK(torch::allclose(net->log_gains[0], old_net->log_gains[0] - std::log(2.0), 1e-5, 1e-6));
  CHECK(torch::allclose(net->log_inverse_gains[0], old_net->log_inverse_gains[0] + std::log(2.0), 1e-5, 1e-6));
  const double middle = net->log_gains[2].mean().item<double>();
  CHECK(middle > old_net->log_gains[0].mean().item<double>());
  CHECK(middle < old_net->log_gains[1].mean().item<double>());
}

TEST_CASE("grow: gradients reach the new latent channels", "[model]") {
  const auto config = load_config("tiny");
  auto old_net = perturbed_model(config);
  CosAE net(grown_config(config));
  grow_into(*old_net, *net);
  torch::manual_seed(5);
  const auto image = torch::rand({2, 3, 32, 32});
  const auto out = net->forward_train(image, torch::tensor({0, 6}, torch::kLong));
  ((out.reconstruction - image).pow(2).mean() * 100 + out.bits.mean() / 1024).backward();
  const auto latent_layer = "encoder.layers." + std::to_string(3 * config.stages()) + ".weight";
  const auto grad = net->named_parameters()[latent_layer].grad();
  REQUIRE(grad.defined());
  const int64_t K = config.frequencies;
  CHECK(grad.narrow(0, K, 4).abs().sum().item<float>() > 0);  // the new a_k
}

TEST_CASE("grow: a conditional model keeps its entropy model at the same K, starts a fresh one at a larger K",
          "[model]") {
  auto config = load_config("tiny");
  config.conditional.hyper_channels = 4;
  config.conditional.hyper_stride = 1;
  config.conditional.slices = 2;
  config.conditional.features = 8;
  config.conditional.hidden = 6;
  auto old_net = perturbed_model(config);
  auto same = config;
  same.lambdas.push_back(2 * config.lambdas.back());
  auto kept = grown_eval(old_net, same);
  for (const auto& item : old_net->conditional->named_parameters())
    CHECK(torch::equal(item.value(), kept->conditional->named_parameters()[item.key()]));
  const auto bigger = grown_config(config);
  auto net = grown_eval(old_net, bigger);
  torch::NoGradGuard no_grad;
  const auto image = torch::rand({1, 3, 48, 32});
  const int64_t K = config.frequencies;
  for (int64_t q = 0; q < config.quality_levels(); ++q) {
    const auto old_latent = old_net->analysis(image, q), latent = net->analysis(image, q);
    INFO("level " << q);
    CHECK(torch::allclose(latent.narrow(1, 0, K), old_latent.narrow(1, 0, K), 1e-5, 1e-6));
    CHECK(torch::allclose(net->synthesis(latent, q), old_net->synthesis(old_latent, q), 1e-4, 1e-5));
  }
  // The fresh entropy model is shaped for 2K' channels and gives a finite rate.
  const auto out = net->forward_train(image, torch::tensor({int64_t{0}}, torch::kLong));
  CHECK(std::isfinite(out.bits.sum().item<double>()));
  CHECK(out.bits.sum().item<double>() > 0);
}

TEST_CASE("grow: refuses what it cannot bridge", "[model]") {
  const auto config = load_config("tiny");
  auto check_refused = [&](ModelConfig to) { CHECK_THROWS_AS(check_growable(config, to), cosae::Error); };
  CHECK_NOTHROW(check_growable(config, config));
  auto fewer = config;
  fewer.frequencies -= 1;
  check_refused(fewer);
  auto decoder = config;
  decoder.decoder_channels *= 2;
  check_refused(decoder);
  auto fewer_blocks = config;
  fewer_blocks.decoder_blocks -= 1;
  check_refused(fewer_blocks);
  auto narrower = config;
  narrower.encoder_channels[0] -= 1;
  check_refused(narrower);
  auto lambdas = config;
  lambdas.lambdas[0] *= 1.5;  // an old level missing from the new list
  check_refused(lambdas);
  auto fewer_levels = config;
  fewer_levels.lambdas.pop_back();
  check_refused(fewer_levels);
  auto below = config;
  below.lambdas.insert(below.lambdas.begin(), config.lambdas[0] / 2);
  CHECK_NOTHROW(check_growable(config, below));
  auto stages = config;
  stages.downsampling *= 2;
  stages.encoder_channels.push_back(16);
  check_refused(stages);
  auto ablation = config;
  ablation.harmonic = false;
  check_refused(ablation);
}
