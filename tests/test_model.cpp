// The CosAE network on the CPU: configs, shapes for D in {16, 32, 64}, attention blocks,
// the factorised prior, gradients reaching every part.
#include "catch_compat.hpp"
#include "cosae/error.hpp"
#include "model/config.hpp"
#include "model/cosae_model.hpp"

using namespace cosae::model;

namespace {

// A small config at downsampling D (channels kept tiny so the test runs in seconds).
ModelConfig small_config(int D, const std::string& attention = "window") {
  ModelConfig c = load_config("tiny");
  c.downsampling = D;
  c.encoder_channels.assign(static_cast<std::size_t>(c.stages()), 8);
  c.attention = attention;
  return c;
}

}  // namespace

TEST_CASE("model configs: presets, JSON round trip, validation", "[model]") {
  for (const auto& name : config_presets()) {
    INFO(name);
    const auto c = load_config(name);
    CHECK_NOTHROW(c.validate());
    const auto back = config_from_json(to_json(c));
    CHECK(to_json(back) == to_json(c));
  }
  CHECK(load_config("default").downsampling == 64);
  CHECK(load_config("default").tile() == 16);
  CHECK_FALSE(load_config("ablation").harmonic);

  auto j = to_json(load_config("tiny"));
  j["frequncies"] = 3;  // a typo is an error, not a silent default
  CHECK_THROWS_AS(config_from_json(j), cosae::Error);
  j = to_json(load_config("tiny"));
  j["downsampling"] = 48;
  CHECK_THROWS_AS(config_from_json(j), cosae::Error);
  j = to_json(load_config("default"));
  j["encoder_channels"] = {64, 64};  // D = 64 needs six stages
  CHECK_THROWS_AS(config_from_json(j), cosae::Error);
  j = to_json(load_config("default"));
  j["attention"] = "global";
  CHECK_THROWS_AS(config_from_json(j), cosae::Error);
  j = to_json(load_config("default"));
  j["lambdas"] = {0.01, 0.005};
  CHECK_THROWS_AS(config_from_json(j), cosae::Error);
  CHECK_THROWS_AS(load_config("/nonexistent/config.json"), cosae::Error);
}

TEST_CASE("the default quality is the level nearest one trade-off, whatever the level count", "[model]") {
  CHECK(load_config("default").default_quality() == 4);  // six levels
  CHECK(load_config("wide").default_quality() == 4);     // eight: two more above
  auto c = load_config("wide");
  c.lambdas.insert(c.lambdas.begin(), {0.0001, 0.0002, 0.0004, 0.0008});  // four more below
  CHECK(c.default_quality() == 8);
  CHECK(c.lambdas[c.default_quality() - 1] == kDefaultLambda);
  c.lambdas = {0.0001};
  CHECK(c.default_quality() == 1);
  c.lambdas = {0.001, 0.01, 0.02};  // 0.01 is nearer 0.013 than 0.02 is, in log
  CHECK(c.default_quality() == 2);
}

TEST_CASE("CosAE shapes for D = 16, 32, 64", "[model]") {
  torch::manual_seed(7);
  for (int D : {16, 32, 64}) {
    for (const char* attention : {"window", "latent", "none"}) {
      INFO("D=" << D << " attention=" << attention);
      auto config = small_config(D, attention);
      CosAE model(config);
      const auto image = torch::rand({2, 3, 2 * D, 3 * D});
      const auto levels = torch::tensor({0, 5}, torch::kLong);
      auto y = model->encoder(image);
      CHECK(y.sizes() == torch::IntArrayRef({2, 2 * config.frequencies, 2, 3}));
      auto h = model->decoder->harmonic_map(y);
      CHECK(h.sizes() == torch::IntArrayRef({2, config.frequencies, 2 * config.tile(), 3 * config.tile()}));
      auto out = model->forward_train(image, levels);
      CHECK(out.reconstruction.sizes() == image.sizes());
      CHECK(out.bits.sizes() == torch::IntArrayRef({2}));
      CHECK(torch::isfinite(out.bits).all().item<bool>());
      CHECK((out.bits > 0).all().item<bool>());
    }
  }
}

TEST_CASE("gradients reach the encoder, the frequencies, the gains and the prior", "[model]") {
  torch::manual_seed(3);
  CosAE model(small_config(16));
  const auto image = torch::rand({2, 3, 32, 32});
  auto out = model->forward_train(image, torch::tensor({1, 4}, torch::kLong));
  auto loss = (out.reconstruction - image).pow(2).mean() * 100 + out.bits.mean() / 1024;
  loss.backward();
  auto nonzero = [](const torch::Tensor& g) { return g.defined() && g.abs().sum().item<double>() > 0; };
  CHECK(nonzero(model->decoder->frequencies.grad()));
  CHECK(nonzero(model->log_gains.grad()));
  CHECK(nonzero(model->log_inverse_gains.grad()));
  CHECK(nonzero(model->entropy->matrices[0].grad()));
  for (const auto& p : model->encoder->parameters()) CHECK(nonzero(p.grad()));
}

TEST_CASE("ablation replaces the HCM by a transposed convolution", "[model]") {
  auto config = small_config(16);
  config.harmonic = false;
  CosAE model(config);
  CHECK_FALSE(model->decoder->frequencies.defined());
  const auto image = torch::rand({1, 3, 32, 48});
  auto out = model->forward_train(image, torch::tensor({2}, torch::kLong));
  CHECK(out.reconstruction.sizes() == image.sizes());
}

TEST_CASE("shifted-window attention handles sizes that are not window multiples", "[model]") {
  torch::manual_seed(5);
  for (bool shifted : {false, true}) {
    WindowAttentionBlock block(16, 4, 2, 4, shifted);
    for (auto [H, W] : {std::pair<int64_t, int64_t>{8, 8}, {5, 11}, {4, 13}, {3, 3}}) {
      const auto x = torch::randn({2, 16, H, W});
      const auto y = block(x);
      CHECK(y.sizes() == x.sizes());
      CHECK(torch::isfinite(y).all().item<bool>());
    }
  }
  // Windows are independent: changing one window leaves another's output unchanged.
  WindowAttentionBlock block(16, 4, 4, 4, false);
  auto x = torch::randn({1, 16, 8, 8});
  auto x2 = x.clone();
  x2.slice(2, 0, 4).slice(3, 0, 4) += 1.0;
  const auto d = (block(x) - block(x2)).abs();
  CHECK(d.slice(2, 4, 8).slice(3, 4, 8).max().item<double>() == 0.0);
  CHECK(d.slice(2, 0, 4).slice(3, 0, 4).max().item<double>() > 0.0);
}

TEST_CASE("factorised prior: a distribution over the integers", "[model]") {
  torch::manual_seed(11);
  EntropyBottleneck prior(4, std::vector<int>{3, 3});
  auto tables = prior->pmf_tables();
  for (int64_t c = 0; c < 4; ++c) {
    const double mass = tables.pmf[c].sum().item<double>() + tables.tail[c].item<double>();
    CHECK(mass == Approx(1.0).margin(1e-6));
  }
  // Likelihoods are in (0, 1].
  auto like = prior->likelihood(torch::randn({2, 4, 3, 3}) * 5);
  CHECK((like > 0).all().item<bool>());
  CHECK((like <= 1).all().item<bool>());
}
