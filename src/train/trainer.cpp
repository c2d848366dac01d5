#include "train/trainer.hpp"

#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "bitstream/sha256.hpp"
#include "common/device.hpp"
#include "common/torch_compat.hpp"
#include "cosae/error.hpp"
#include "cosae/image.hpp"
#include "io/tensor_image.hpp"
#include "codec/model_package.hpp"
#include "model/grow.hpp"
#include "model/model_io.hpp"
#include "train/checkpoint.hpp"
#include "train/dataset.hpp"
#include "train/distributed.hpp"
#include "train/foreach_adamw.hpp"
#include "train/latent_pool.hpp"
#include "train/progress.hpp"
#include "train/spectrum.hpp"

namespace cosae::train {

namespace {

std::atomic<int> g_stop_signal{0};
extern "C" void on_stop_signal(int signal) { g_stop_signal = signal; }

// SIGINT/SIGTERM ask the loop to save and stop; the previous handlers come back afterwards.
class StopSignals {
 public:
  StopSignals() {
    g_stop_signal = 0;
    previous_int_ = std::signal(SIGINT, on_stop_signal);
    previous_term_ = std::signal(SIGTERM, on_stop_signal);
  }
  ~StopSignals() {
    std::signal(SIGINT, previous_int_);
    std::signal(SIGTERM, previous_term_);
  }
  bool requested() const { return g_stop_signal != 0; }

 private:
  void (*previous_int_)(int);
  void (*previous_term_)(int);
};

bool exists(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0;
}

void make_run_dir(const std::string& dir) {
  struct stat st{};
  if (::stat(dir.c_str(), &st) == 0) {
    COSAE_CHECK(S_ISDIR(st.st_mode), io, "--out ", dir, ": exists and is not a folder");
    return;
  }
  COSAE_CHECK(::mkdir(dir.c_str(), 0755) == 0, io, "--out ", dir, ": cannot create the folder");
}

uint64_t mix_seed(uint64_t seed, uint64_t step) {  // splitmix64 of (seed, step)
  uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (step + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

double learning_rate(const TrainOptions& o, int64_t step) {
  const int64_t warmup = o.warmup_steps >= 0 ? o.warmup_steps : std::min<int64_t>(1000, o.steps / 20);
  const double ramp = warmup > 0 ? std::min(1.0, static_cast<double>(step + 1) / static_cast<double>(warmup)) : 1.0;
  const double progress = static_cast<double>(step) / static_cast<double>(std::max<int64_t>(o.steps, 1));
  return o.lr * ramp * (0.1 + 0.9 * 0.5 * (1.0 + std::cos(M_PI * progress)));
}

// SHA-256 over every parameter's float32 bytes, in order: equal on every rank after a step.
std::string weights_digest(model::CosAEImpl& net) {
  Sha256 hash;
  for (const auto& p : net.parameters()) {
    const auto t = p.detach().to(torch::kCPU, torch::kFloat).contiguous();
    hash.update(reinterpret_cast<const uint8_t*>(t.data_ptr<float>()), static_cast<std::size_t>(t.numel()) * 4);
  }
  return to_hex(hash.finish());
}

double psnr_from_mse(double mse) { return mse > 0 ? 10.0 * std::log10(1.0 / mse) : 99.0; }

struct ValidationImage {
  std::string name;
  torch::Tensor image;  // [1, 3, H, W]
};

std::vector<ValidationImage> load_validation(const std::string& dir, Progress& progress) {
  std::vector<ValidationImage> images;
  if (dir.empty()) return images;
  for (const auto& path : list_images(dir)) {
    try {
      images.push_back({path, image_to_tensor(read_image(path), AlphaPolicy::discard)});
    } catch (const Error& e) {
      progress.message(std::string("warning: validation image skipped: ") + e.what());
    }
  }
  COSAE_CHECK(!images.empty(), bad_input, "--val ", dir, ": no readable images");
  return images;
}

// Mean PSNR (8-bit rounding) and bpp (from the prior's likelihoods with real rounding) per level.
nlohmann::json validate(model::CosAEImpl& net, const std::vector<ValidationImage>& images,
                        const torch::Device& device) {
  torch::NoGradGuard no_grad;
  net.eval();
  const int64_t D = net.config.downsampling;
  nlohmann::json levels = nlohmann::json::array();
  for (int q = 0; q < net.config.quality_levels(); ++q) {
    double psnr = 0, bpp = 0;
    for (const auto& v : images) {
      const int64_t H = v.image.size(2), W = v.image.size(3);
      auto x = v.image.to(device);
      auto padded = torch::nn::functional::pad(
          x, torch::nn::functional::PadFuncOptions({0, (D - W % D) % D, 0, (D - H % D) % D}).mode(torch::kReplicate));
      auto out = net.forward_eval(padded, q);
      auto rec = torch::round(out.reconstruction.slice(2, 0, H).slice(3, 0, W).clamp(0, 1) * 255) / 255;
      psnr += psnr_from_mse((rec - x).pow(2).mean().item<double>());
      bpp += out.bits.sum().item<double>() / static_cast<double>(H * W);
    }
    const double n = static_cast<double>(images.size());
    levels.push_back({{"level", q + 1}, {"psnr", psnr / n}, {"bpp", bpp / n}});
  }
  net.train();
  return levels;
}

// torch::nn::utils::clip_grad_norm_'s arithmetic, without reading the norm back to the host:
// that read would stall the host until the backward pass had finished. On a GPU with LibTorch
// >= 2.1 the norms and the scaling are multi-tensor kernels (as Python's foreach clipping):
// two launches instead of two per parameter.
void clip_gradient_norm(const std::vector<torch::Tensor>& parameters, double max_norm) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads;
  for (const auto& p : parameters)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return;
#if defined(TORCH_VERSION_MAJOR) && (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1))
  if (grads.front().is_cuda()) {
    const auto total = torch::stack(at::_foreach_norm(grads, 2)).norm(2);
    at::_foreach_mul_(grads, torch::clamp(max_norm / (total + 1e-6), c10::nullopt, 1.0));
    return;
  }
#endif
  std::vector<torch::Tensor> norms;
  for (const auto& g : grads) norms.push_back(g.norm(2));
  const auto total = norms.size() == 1 ? norms[0] : torch::stack(norms).norm(2);
  const auto scale = torch::clamp(max_norm / (total + 1e-6), c10::nullopt, 1.0);
  for (auto& g : grads) g.mul_(scale);
}

// --freq-init spectrum: the decoder's frequencies drawn from the mean tile spectrum of
// 8 batches of training crops (their own sample stream, so training's is unchanged).
// The loader's share of the training options.
// The latent pool encodes this many new crops per step.
constexpr int64_t kPoolRefresh = 2;

LoaderOptions loader_options(const TrainOptions& o, uint64_t seed) {
  LoaderOptions lo;
  lo.batch = o.batch;
  lo.crop = o.crop;
  lo.threads = o.threads;
  lo.seed = seed;
  lo.max_downscale = o.max_downscale;
  lo.rotations = o.rotations;
  lo.dead_leaves = o.dead_leaves;
  lo.dead_leaves_shapes = parse_dead_leaves_shapes(o.dead_leaves_shapes);
  return lo;
}

void initialise_frequencies_from_data(model::CosAEImpl& net, const TrainOptions& o, uint64_t seed,
                                      const torch::Device& device, std::ostream& log) {
  LoaderOptions lo = loader_options(o, mix_seed(seed, 0x5eedf00dULL));
  BatchLoader loader(list_images(o.data), lo);
  std::vector<torch::Tensor> batches;
  for (int64_t step = 0; step < 8; ++step) batches.push_back(loader.batch(step));
  const auto images = torch::cat(batches).to(device);
  const int64_t T = net.config.tile();
  const auto power = mean_tile_spectrum(images, T, net.config.upsampling);
  const auto f = frequencies_from_spectrum(power, net.config.frequencies, seed);
  torch::NoGradGuard no_grad;
  net.decoder->frequencies.copy_(f.to(net.decoder->frequencies.device()));
  log << "frequencies drawn from the mean " << T << "x" << T << " spectrum of " << images.size(0) << " crops ("
      << images.size(0) * (o.crop / net.config.downsampling) * (o.crop / net.config.downsampling)
      << " tiles); mean radius " << f.norm(2, 1).mean().item<double>() << " cycles per tile\n";
}

}  // namespace

TrainResult run_training(const TrainOptions& o, std::ostream& log) {
  COSAE_CHECK(o.steps > 0 && o.batch > 0 && o.crop > 0 && o.lr > 0, usage, "train: steps, batch, crop and lr must be positive");
  const DType export_dtype = model::weight_dtype_from_name(o.export_dtype, "--export-dtype");
  parse_dead_leaves_shapes(o.dead_leaves_shapes);  // a usage error before any work
  // Data parallel when launched by torchrun (WORLD_SIZE > 1): each rank on its own GPU
  // (LOCAL_RANK), only rank 0 writes anything.
  const DistributedEnv env = distributed_env_from_environment();
  torch::Device device = resolve_device(o.device);
  if (env.active() && device.is_cuda()) device = resolve_device("cuda:" + std::to_string(env.local_rank));
  std::unique_ptr<DataParallel> group;
  if (env.active())
    group = std::make_unique<DataParallel>(env, device, std::chrono::milliseconds(
                                                            static_cast<int64_t>(o.distributed_timeout_s * 1000)));
  const bool writer = env.rank == 0;
  std::ostringstream quiet_log;
  std::ostream& out = writer ? log : quiet_log;
  if (device.is_cuda()) {
    // Fixed crop sizes: let cuDNN pick its fastest convolution algorithms; TF32 matmuls.
    at::globalContext().setBenchmarkCuDNN(true);
    at::globalContext().setAllowTF32CuBLAS(true);
    at::globalContext().setAllowTF32CuDNN(true);
  }
  const std::string checkpoint_path = o.out + "/checkpoint.pt";
  const std::string metrics_path = o.out + "/metrics.jsonl";

  // The config: from the checkpoint when resuming (a run keeps its architecture).
  CheckpointInfo resumed;
  model::ModelConfig config;
  if (o.resume) {
    COSAE_CHECK(exists(checkpoint_path), usage, "--resume: ", o.out, " holds no checkpoint.pt");
    resumed = read_checkpoint_info(checkpoint_path);
    config = model::config_from_json(nlohmann::json::parse(resumed.config_json));
  } else {
    COSAE_CHECK(!exists(checkpoint_path), usage, "--out ", o.out,
                " already holds a run (checkpoint.pt): pass --resume to continue it, or choose another folder");
    config = model::load_config(o.config.empty() ? "default" : o.config);
  }
  // --init: start from a model file's weights, e.g. to train a shipped model further when its
  // checkpoint is gone; the optimizer and schedule start afresh. The architecture is the
  // file's, or --config's when given: the model then grows into it (model/grow.hpp).
  model::CosAE initial{nullptr};
  if (!o.init_model.empty() && !o.resume) {
    initial = model::load_model(o.init_model);
    if (o.config.empty()) config = initial->config;
    else model::check_growable(initial->config, config);
  }
  COSAE_CHECK(o.crop % config.downsampling == 0, usage, "--crop ", o.crop, " must be a multiple of D = ",
              config.downsampling);
  const uint64_t seed = o.resume ? resumed.seed : o.seed;

  torch::manual_seed(seed);
  model::CosAE net(config);
  if (initial) model::grow_into(*initial, *net);  // a plain copy when the configs are equal
  COSAE_CHECK(o.freq_init == "spiral" || o.freq_init == "spectrum", usage, "--freq-init '", o.freq_init,
              "': spiral or spectrum");
  COSAE_CHECK(o.fft_loss >= 0 && std::isfinite(o.fft_loss), usage, "--fft-loss must be >= 0");
  const bool spectrum_init = o.freq_init == "spectrum" && !o.resume && !initial;
  COSAE_CHECK(o.freq_init != "spectrum" || !initial, usage, "--freq-init spectrum: --init already sets the frequencies");
  COSAE_CHECK(!spectrum_init || config.harmonic, usage, "--freq-init spectrum: the ablation has no frequencies");
  net->to(device);
  if (spectrum_init) initialise_frequencies_from_data(*net, o, seed, device, out);
  std::vector<torch::Tensor> main_params, aux_params;
  COSAE_CHECK(!o.entropy_only || config.conditional.enabled(), usage,
              "--entropy-only: the config has no conditional entropy model to train");
  COSAE_CHECK(!o.entropy_only || initial || o.resume, usage,
              "--entropy-only trains the coding of a trained transform: give it with --init MODEL");
  for (auto& item : net->named_parameters()) {
    if (o.entropy_only && item.key().rfind("conditional.", 0) != 0) {
      item.value().set_requires_grad(false);
      continue;
    }
    (item.key() == "entropy.quantiles" || item.key() == "conditional.hyper_prior.quantiles" ? aux_params : main_params)
        .push_back(item.value());
  }
  torch::optim::AdamW optimizer(main_params, torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));
  torch::optim::Adam aux_optimizer(aux_params, torch::optim::AdamOptions(o.aux_lr));
  int64_t step = 0;
  if (o.resume) step = load_checkpoint(checkpoint_path, *net, optimizer, aux_optimizer).step;
  if (group) {  // every rank starts from rank 0's weights (and its step, checked below)
    group->broadcast_from_root(main_params);
    group->broadcast_from_root(aux_params);
    const auto steps = group->sum(torch::tensor({static_cast<double>(step)}, torch::kDouble).to(device));
    COSAE_CHECK(steps.item<double>() == static_cast<double>(step) * env.world_size, usage,
                "ranks resumed from different steps: give them the same --out on one shared folder");
  }

  LoaderOptions lo = loader_options(o, seed);
  lo.pinned = device.is_cuda();
  lo.rank = env.rank;  // ranks draw disjoint samples of one stream
  lo.world_size = env.world_size;
  // --entropy-only trains on a pool of encoded crops (train/latent_pool.hpp) instead of
  // encoding every step's crops.
  std::unique_ptr<BatchLoader> loader;
  std::unique_ptr<LatentPool> pool;
  if (o.entropy_only) {
    COSAE_CHECK(o.latent_pool >= kPoolRefresh && o.latent_pool % kPoolRefresh == 0, usage,
                "--latent-pool must be a positive multiple of ", kPoolRefresh);
    LoaderOptions pool_lo = lo;  // its own stream of crops, per rank as the batches are
    pool_lo.seed = mix_seed(seed, 0x9001ULL);
    pool = std::make_unique<LatentPool>(*net, list_images(o.data), pool_lo, o.latent_pool, kPoolRefresh, o.crop,
                                        device);
  } else {
    loader = std::make_unique<BatchLoader>(list_images(o.data), lo);
  }
  Progress progress(out, step, o.steps, o.log_every);
  const auto validation = writer ? load_validation(o.val, progress) : std::vector<ValidationImage>{};
  // Only now, with the model, the data and the validation images ready, does the run folder
  // get anything: a start that fails leaves nothing behind.
  if (writer) {
    make_run_dir(o.out);
    write_file_atomic(o.out + "/config.json", model::to_json(config).dump(2) + "\n");
  }
  std::ofstream metrics;
  if (writer) {
    metrics.open(metrics_path, std::ios::app);
    COSAE_CHECK(metrics.good(), io, metrics_path, ": cannot write");
  }

  out << "cosae train: " << config.name << " (" << model::parameter_count(*net) << " parameters) on "
      << describe_device(device) << (env.active() ? " x " + std::to_string(env.world_size) + " ranks" : "")
      << ", steps " << step << " -> " << o.steps << "\n";
  const auto lambdas = torch::tensor(config.lambdas, torch::kDouble).to(device, torch::kFloat);
  StopSignals stop;
  TrainResult result;
  result.last_loss = std::numeric_limits<double>::quiet_NaN();
  auto save = [&] {
    if (writer) save_checkpoint(checkpoint_path, *net, optimizer, aux_optimizer, {step, seed, model::to_json(config).dump()});
  };

  const auto started = std::chrono::steady_clock::now();
  auto out_of_time = [&] {
    return o.time_limit_s > 0 &&
           std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() >= o.time_limit_s;
  };
  // Ranks stop together: a signal or the clock on any rank stops all of them.
  auto stop_now = [&] {
    bool local = stop.requested() || out_of_time() || (o.stop_at_step >= 0 && step >= o.stop_at_step);
    if (group) local = group->sum(torch::tensor({local ? 1.0 : 0.0}).to(device)).item<double>() > 0;
    return local;
  };
  // From pinned memory copies are asynchronous: the host goes on queueing the step (a copy
  // from pageable memory would wait for the device to finish all it was given).
  auto to_device = [&](const torch::Tensor& t) {
    return device.is_cuda() ? (t.is_pinned() ? t : t.pin_memory()).to(device, /*non_blocking=*/true) : t;
  };
  while (step < o.steps) {
    if (stop_now()) {
      save();
      progress.message(std::string(stop.requested() ? "interrupted" : "stopping") + ": checkpoint saved at step " +
                       std::to_string(step) + "; continue with --resume");
      result.interrupted = true;
      result.stop_signal = g_stop_signal;
      break;
    }
    const auto step_start = std::chrono::steady_clock::now();
    if (result.step_seconds.empty())
      result.first_step_unix =
          std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    torch::manual_seed(mix_seed(seed, static_cast<uint64_t>(step)));  // noise and levels of this step
    torch::Tensor x, latent;  // a batch of images, or with the pool of latents
    if (pool) {
      pool->advance(step);
      latent = pool->windows(o.batch);
    } else {
      for (const auto& w : loader->take_warnings()) progress.message("warning: " + w);
      x = loader->batch(step);
    }
    result.data_wait_seconds.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - step_start).count());
    const auto queue_start = std::chrono::steady_clock::now();
    if (x.defined()) x = to_device(x);
    auto levels = to_device(torch::randint(config.quality_levels(), {o.batch}, torch::kLong));
    const double lr = learning_rate(o, step);
    for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);

    model::CosAEImpl::TrainOutput out;
    {
      std::optional<compat::AutocastScope> autocast;
      if (o.bf16) autocast.emplace(device, true);
      out = pool ? net->forward_rate(latent, levels) : net->forward_train(x, levels);
    }
    // Without a reconstruction (--entropy-only) the distortion is a constant: NaN in the logs.
    auto mse = out.reconstruction.defined() ? (out.reconstruction - x).pow(2).flatten(1).mean(1)
                                            : torch::full({o.batch}, std::nan(""), out.bits.options());
    auto distortion = o.fft_loss > 0 && out.reconstruction.defined()
                          ? mse + o.fft_loss * focal_frequency_loss(out.reconstruction, x)
                          : mse;
    const double pixels = static_cast<double>(o.crop) * o.crop;
    auto bpp = out.bits / pixels;
    auto loss = out.reconstruction.defined()
                    ? (lambdas.index_select(0, levels) * (255.0 * 255.0) * distortion + bpp).mean()
                    : bpp.mean();
    // The factorised prior keeps learning the (detached) latent beside a conditional model.
    if (out.prior_bits.defined()) loss = loss + (out.prior_bits / pixels).mean();
    // The backward pass is queued before the step's one device-to-host copy (everything the
    // loop reports), so the device is not left idle while the host waits for the forward.
    optimizer.zero_grad();
    loss.backward();
    auto stats_local = torch::stack({loss.detach(), bpp.detach().mean(), mse.detach().mean()});
    if (group) stats_local = group->sum(stats_local) / env.world_size;  // means over all ranks
    const auto sync_start = std::chrono::steady_clock::now();
    const auto stats = stats_local.to(torch::kCPU, torch::kDouble);
    result.queue_seconds.push_back(std::chrono::duration<double>(sync_start - queue_start).count());
    result.sync_seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - sync_start).count());
    const double loss_value = stats[0].item<double>();
    ++step;
    if (!std::isfinite(loss_value)) {  // the gradients are discarded by the next zero_grad
      progress.message("warning: step " + std::to_string(step) + ": non-finite loss, step skipped");
      result.step_seconds.push_back(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - step_start).count());
      continue;
    }
    if (group) group->average_gradients(main_params);
    clip_gradient_norm(main_params, o.clip_norm);
    foreach_adamw_step(optimizer);
    aux_optimizer.zero_grad();
    auto aux = o.entropy_only ? net->conditional->hyper_prior->aux_loss() : net->entropy->aux_loss();
    if (net->conditional && !o.entropy_only) aux = aux + net->conditional->hyper_prior->aux_loss();
    aux.backward();
    if (group) group->average_gradients(aux_params);
    aux_optimizer.step();
    result.last_loss = loss_value;

    const double mean_bpp = stats[1].item<double>();
    const double psnr = out.reconstruction.defined() ? psnr_from_mse(stats[2].item<double>()) : std::nan("");
    progress.update(step, loss_value, mean_bpp, psnr);
    if (writer && (step % o.log_every == 0 || step == o.steps))
      metrics << nlohmann::json{{"step", step},          {"loss", loss_value},
                                {"bpp", mean_bpp},       {"psnr", psnr},
                                {"aux", aux.item<double>()}, {"lr", lr},
                                {"it_s", progress.steps_per_second()}}
                     .dump()
              << "\n"
              << std::flush;
    if (!validation.empty() && (step % o.val_every == 0 || step == o.steps)) {
      auto val = validate(*net, validation, device);
      metrics << nlohmann::json{{"step", step}, {"val", val}}.dump() << "\n" << std::flush;
      std::string line = "validation at step " + std::to_string(step) + ":";
      for (const auto& v : val) {
        char part[64];
        std::snprintf(part, sizeof part, "  q%d %.3f bpp %.2f dB", v["level"].get<int>(), v["bpp"].get<double>(),
                      v["psnr"].get<double>());
        line += part;
      }
      progress.message(line);
    }
    if (step % o.checkpoint_every == 0 || step == o.steps) save();
    result.step_seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - step_start).count());
  }
  progress.finish();
  result.step = step;
  // A planned stop (--time-limit, --stop-at) also exports, so every link of a chain of runs
  // leaves a usable model; a signal only checkpoints.
  result.weights_sha256 = weights_digest(*net);
  result.world_size = env.world_size;
  if (writer && (!result.interrupted || !stop.requested())) {
    result.model_path = o.out + "/model.safetensors";
    net->to(torch::kCPU);
    codec::save_codec_model(result.model_path, *net, export_dtype);
    out << "model written to " << result.model_path << "\n";
  }
  return result;
}

}  // namespace cosae::train
