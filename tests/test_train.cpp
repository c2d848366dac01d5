// Training on the CPU with the tiny config: the loss falls, resume is exact, the exported
// model loads back to the same network, and bad inputs give clear errors.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "catch_compat.hpp"
#include "cosae/error.hpp"
#include "cosae/image.hpp"
#include "model/model_io.hpp"
#include "temp_dir.hpp"
#include "train/trainer.hpp"

namespace {

// Smooth colour gradients with a little texture: learnable in a few dozen steps.
void write_synthetic_images(const std::string& dir, int count) {
  for (int n = 0; n < count; ++n) {
    cosae::Image image{96, 80, 3, 8, {}};
    image.samples.resize(image.sample_count());
    for (int y = 0; y < image.height; ++y)
      for (int x = 0; x < image.width; ++x)
        for (int c = 0; c < 3; ++c) {
          const double v = 128 + 90 * std::sin(0.05 * (x + 13 * n) * (c + 1) + 0.07 * y) + ((x * 7 + y * 3) % 5);
          image.samples[(static_cast<std::size_t>(y) * image.width + x) * 3 + c] =
              static_cast<uint16_t>(std::clamp(v, 0.0, 255.0));
        }
    cosae::write_png(dir + "/img" + std::to_string(n) + ".png", image);
  }
}

cosae::train::TrainOptions tiny_options(const std::string& data, const std::string& out, int64_t steps) {
  cosae::train::TrainOptions o;
  o.data = data;
  o.out = out;
  o.config = "tiny";
  o.steps = steps;
  o.batch = 2;
  o.crop = 32;
  o.lr = 2e-3;
  o.device = "cpu";
  o.threads = 1;
  o.seed = 42;
  o.log_every = 1;
  o.checkpoint_every = 1000;
  o.val_every = 1000;
  return o;
}

// A run that starts from `model` and stops at step 0, exporting the weights as loaded (a
// planned stop exports at once). `config`: "" keeps the file's architecture, else grows into it.
cosae::train::TrainOptions init_options(const std::string& data, const std::string& out, const std::string& model,
                                        const std::string& config) {
  auto o = tiny_options(data, out, 10);
  o.config = config;
  o.init_model = model;
  o.stop_at_step = 0;
  return o;
}

// One metric of every training line of metrics.jsonl.
std::vector<double> metric(const std::string& metrics_path, const char* name = "loss") {
  std::ifstream in(metrics_path);
  std::vector<double> out;
  std::string line;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    if (j.contains(name)) out.push_back(j[name].get<double>());
  }
  return out;
}

double mean(const std::vector<double>& v, std::size_t begin, std::size_t end) {
  double sum = 0;
  for (std::size_t i = begin; i < end; ++i) sum += v[i];
  return sum / static_cast<double>(end - begin);
}

}  // namespace

TEST_CASE("a few training steps lower the loss and export a model that loads", "[train]") {
  cosae_test::TemporaryDirectory dir;
  cosae_test::make_dirs(dir / "data");
  cosae_test::make_dirs(dir / "val");
  write_synthetic_images(dir / "data", 4);
  write_synthetic_images(dir / "val", 1);
  auto o = tiny_options(dir / "data", dir / "run", 300);
  o.batch = 4;
  o.val = dir / "val";
  o.val_every = 150;
  std::ostringstream log;
  const auto result = cosae::train::run_training(o, log);
  CHECK(result.step == 300);
  CHECK_FALSE(result.interrupted);
  // Per-step values are noisy (a random quality level per image): compare 40-step means.
  const auto loss = metric(dir / "run/metrics.jsonl", "loss");
  const auto psnr = metric(dir / "run/metrics.jsonl", "psnr");
  REQUIRE(loss.size() == 300);
  INFO(log.str());
  CHECK(mean(loss, 260, 300) < 0.7 * mean(loss, 0, 40));
  CHECK(mean(psnr, 260, 300) > mean(psnr, 0, 40) + 2.0);
  CHECK(log.str().find("validation at step 150") != std::string::npos);

  // The exported model loads to the same network: identical outputs.
  auto a = cosae::model::load_model(result.model_path);
  auto b = cosae::model::import_model(cosae::model::export_model(*a));
  torch::NoGradGuard no_grad;
  const auto x = torch::rand({1, 3, 32, 48});
  CHECK(torch::equal(a->forward_eval(x, 2).reconstruction, b->forward_eval(x, 2).reconstruction));
}

TEST_CASE("N steps straight equal N/2, resume, N/2", "[train]") {
  cosae_test::TemporaryDirectory dir;
  cosae_test::make_dirs(dir / "data");
  write_synthetic_images(dir / "data", 3);
  std::ostringstream log;
  const auto straight = cosae::train::run_training(tiny_options(dir / "data", dir / "a", 8), log);

  auto first_half = tiny_options(dir / "data", dir / "b", 8);
  first_half.stop_at_step = 4;
  const auto half = cosae::train::run_training(first_half, log);
  CHECK(half.interrupted);
  CHECK(half.step == 4);
  CHECK_FALSE(half.model_path.empty());  // a planned stop also exports
  auto second_half = tiny_options(dir / "data", dir / "b", 8);
  second_half.resume = true;
  const auto resumed = cosae::train::run_training(second_half, log);
  CHECK(resumed.step == 8);
  CHECK(std::abs(resumed.last_loss - straight.last_loss) <= 1e-6 * std::abs(straight.last_loss));
  const auto la = metric(dir / "a/metrics.jsonl"), lb = metric(dir / "b/metrics.jsonl");
  REQUIRE(la.size() == lb.size());
  for (std::size_t i = 0; i < la.size(); ++i) CHECK(std::abs(la[i] - lb[i]) <= 1e-6 * std::abs(la[i]));
}

TEST_CASE("training refuses bad folders and never overwrites a run", "[train]") {
  cosae_test::TemporaryDirectory dir;
  cosae_test::make_dirs(dir / "empty");
  cosae_test::make_dirs(dir / "data");
  write_synthetic_images(dir / "data", 1);
  std::ostringstream log;
  CHECK_THROWS_AS(cosae::train::run_training(tiny_options(dir / "empty", dir / "r1", 2), log), cosae::Error);
  CHECK_THROWS_AS(cosae::train::run_training(tiny_options(dir / "missing", dir / "r2", 2), log), cosae::Error);
  auto bad_crop = tiny_options(dir / "data", dir / "r3", 2);
  bad_crop.crop = 40;  // not a multiple of D = 16
  CHECK_THROWS_AS(cosae::train::run_training(bad_crop, log), cosae::Error);
  auto resume_nothing = tiny_options(dir / "data", dir / "r4", 2);
  resume_nothing.resume = true;
  CHECK_THROWS_AS(cosae::train::run_training(resume_nothing, log), cosae::Error);

  CHECK_NOTHROW(cosae::train::run_training(tiny_options(dir / "data", dir / "run", 2), log));
  // A second run into the same folder would overwrite the first: refused.
  CHECK_THROWS_AS(cosae::train::run_training(tiny_options(dir / "data", dir / "run", 2), log), cosae::Error);
}

TEST_CASE("init: training starts from a model file's weights and architecture", "[train]") {
  cosae_test::TemporaryDirectory dir;
  cosae_test::make_dirs(dir / "data");
  write_synthetic_images(dir / "data", 2);
  std::ostringstream log;
  const auto first = cosae::train::run_training(tiny_options(dir / "data", dir / "a", 3), log);
  const auto started = cosae::train::run_training(init_options(dir / "data", dir / "b", first.model_path, ""), log);
  auto a = cosae::model::load_model(first.model_path), b = cosae::model::load_model(started.model_path);
  CHECK(b->config.name == "cosae-tiny");
  auto pa = a->named_parameters(), pb = b->named_parameters();
  REQUIRE(pa.size() == pb.size());
  for (const auto& item : pa) CHECK(torch::equal(item.value(), pb[item.key()]));
}

TEST_CASE("init with a larger config grows the model into it", "[train]") {
  cosae_test::TemporaryDirectory dir;
  cosae_test::make_dirs(dir / "data");
  write_synthetic_images(dir / "data", 2);
  std::ostringstream log;
  const auto first = cosae::train::run_training(tiny_options(dir / "data", dir / "a", 3), log);
  auto config = cosae::model::load_config("tiny");
  config.frequencies += 4;
  config.lambdas.push_back(0.1);
  const std::string config_path = dir / "grown.json";
  std::ofstream(config_path) << cosae::model::to_json(config).dump();
  const auto started =
      cosae::train::run_training(init_options(dir / "data", dir / "b", first.model_path, config_path), log);
  auto a = cosae::model::load_model(first.model_path), b = cosae::model::load_model(started.model_path);
  CHECK(b->config.frequencies == a->config.frequencies + 4);
  CHECK(b->config.quality_levels() == a->config.quality_levels() + 1);
  CHECK(torch::equal(b->decoder->upsample->parameters()[0], a->decoder->upsample->parameters()[0]));

  config.decoder_channels += 8;  // the decoder cannot grow: refused before any step
  std::ofstream(config_path) << cosae::model::to_json(config).dump();
  CHECK_THROWS_AS(cosae::train::run_training(init_options(dir / "data", dir / "c", first.model_path, config_path), log),
                  cosae::Error);
}

TEST_CASE("bf16 autocast training: finite, and not the float32 numbers", "[train]") {
  cosae_test::TemporaryDirectory dir;
  cosae_test::make_dirs(dir / "data");
  write_synthetic_images(dir / "data", 2);
  std::ostringstream log;
  const auto full = cosae::train::run_training(tiny_options(dir / "data", dir / "f32", 3), log);
  auto o = tiny_options(dir / "data", dir / "bf16", 3);
  o.bf16 = true;
  const auto mixed = cosae::train::run_training(o, log);
  INFO("float32 loss " << full.last_loss << ", bfloat16 autocast loss " << mixed.last_loss);
  CHECK(std::isfinite(mixed.last_loss));
  CHECK(mixed.last_loss != full.last_loss);  // the convolutions really ran in bfloat16
  CHECK(std::abs(mixed.last_loss - full.last_loss) < 0.1 * std::abs(full.last_loss));
  // Autocast is off again after training: a convolution outside it stays float32.
  auto conv = torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 4, 3));
  CHECK(conv(torch::rand({1, 3, 8, 8})).scalar_type() == torch::kFloat);
  CHECK_FALSE(mixed.model_path.empty());
}

TEST_CASE("spectrum frequency init and the focal frequency loss train", "[train]") {
  cosae_test::TemporaryDirectory dir;
  cosae_test::make_dirs(dir / "data");
  write_synthetic_images(dir / "data", 2);
  std::ostringstream log;
  auto spiral = tiny_options(dir / "data", dir / "spiral", 3);
  spiral.stop_at_step = 0;  // exports the initial weights at once
  auto drawn = spiral;
  drawn.out = dir / "spectrum";
  drawn.freq_init = "spectrum";
  const auto a = cosae::model::load_model(cosae::train::run_training(spiral, log).model_path);
  const auto b = cosae::model::load_model(cosae::train::run_training(drawn, log).model_path);
  const auto fa = a->decoder->frequencies, fb = b->decoder->frequencies;
  CHECK_FALSE(torch::allclose(fa, fb));
  const double half = b->config.tile() / 2.0;
  CHECK(fb[0].abs().max().item<double>() == 0.0);  // DC stays
  CHECK(fb.abs().max().item<double>() <= half);
  CHECK(fb.select(1, 1).min().item<double>() >= 0.0);  // one half-plane
  CHECK(log.str().find("frequencies drawn from the mean") != std::string::npos);

  auto plain = tiny_options(dir / "data", dir / "plain", 3);
  auto focal = tiny_options(dir / "data", dir / "focal", 3);
  focal.fft_loss = 1.0;
  const auto r_plain = cosae::train::run_training(plain, log);
  const auto r_focal = cosae::train::run_training(focal, log);
  INFO("loss without " << r_plain.last_loss << ", with the focal frequency loss " << r_focal.last_loss);
  CHECK(std::isfinite(r_focal.last_loss));
  CHECK(r_focal.last_loss != r_plain.last_loss);

  auto both = tiny_options(dir / "data", dir / "bad", 3);
  both.freq_init = "spectrum";
  both.init_model = r_plain.model_path;
  CHECK_THROWS_AS(cosae::train::run_training(both, log), cosae::Error);
  auto unknown = tiny_options(dir / "data", dir / "bad2", 3);
  unknown.freq_init = "random";
  CHECK_THROWS_AS(cosae::train::run_training(unknown, log), cosae::Error);
}

TEST_CASE("entropy-only training: the conditional model alone, from a pool of latents, resumes exactly",
          "[train][conditional]") {
  cosae_test::TemporaryDirectory dir;
  cosae_test::make_dirs(dir / "data");
  write_synthetic_images(dir / "data", 3);
  const std::string init = std::string(COSAE_TEST_SAMPLES_DIR) + "/../tests/golden/tiny-conditional.safetensors";
  auto options = [&](const std::string& out, int64_t steps) {
    auto o = tiny_options(dir / "data", out, steps);
    o.config = "";
    o.init_model = init;
    o.entropy_only = true;
    o.latent_pool = 4;  // entries live two steps: the pool turns over within the run
    o.batch = 4;
    return o;
  };
  std::ostringstream log;
  const auto straight = cosae::train::run_training(options(dir / "a", 60), log);
  INFO(log.str());
  CHECK(straight.step == 60);
  const auto bpp = metric(dir / "a/metrics.jsonl", "bpp");
  REQUIRE(bpp.size() == 60);
  for (double b : bpp) CHECK((std::isfinite(b) && b > 0));
  // Only conditional.* moved.
  auto before = cosae::model::load_model(init), after = cosae::model::load_model(straight.model_path);
  int moved = 0;
  for (const auto& item : before->named_parameters()) {
    const bool same = torch::equal(item.value(), after->named_parameters()[item.key()]);
    if (item.key().rfind("conditional.", 0) == 0) moved += same ? 0 : 1;
    else CHECK(same);
  }
  CHECK(moved > 0);
  // The pool at a step does not depend on where the run started: stop and resume are exact.
  auto first = options(dir / "b", 60);
  first.stop_at_step = 27;
  cosae::train::run_training(first, log);
  auto second = options(dir / "b", 60);
  second.resume = true;
  const auto resumed = cosae::train::run_training(second, log);
  CHECK(std::abs(resumed.last_loss - straight.last_loss) <= 1e-6 * std::abs(straight.last_loss));
  // --latent-pool must hold whole refreshes.
  auto odd = options(dir / "c", 2);
  odd.latent_pool = 3;
  CHECK_THROWS_AS(cosae::train::run_training(odd, log), cosae::Error);
}
