// cosae train --data DIR --out RUN_DIR [--val DIR] [--config FILE|PRESET] [--steps N] ...
#include <iostream>
#include <string>

#include "command.hpp"
#include "cosae/error.hpp"
#include "model/config.hpp"
#include "train/distributed.hpp"
#include "train/trainer.hpp"

namespace cosae::cli {
namespace {

class TrainCommand : public Command {
 public:
  void configure(CLI::App& app) override {
    auto& o = opt_;
    app.add_option("--data", o.data, "Folder of training images (searched recursively)")->required();
    app.add_option("--val", o.val, "Folder of validation images (PSNR and bpp with real rounding)");
    app.add_option("--out", o.out, "Run folder: config.json, metrics.jsonl, checkpoint.pt, model.safetensors")
        ->required();
    app.add_option("--config", o.config,
                   "Model config: a JSON file or a preset (" + model::config_preset_list() +
                       "); default: 'default', or with --init the model file's. With --init, a larger config "
                       "grows the model into it (more frequencies, wider encoder stages, added quality levels, "
                       "added decoder blocks)");
    app.add_option("--steps", o.steps, "Total training steps")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--batch", o.batch, "Images per step")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--crop", o.crop, "Random crop side in pixels (a multiple of D)")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--lr", o.lr, "Peak learning rate (AdamW; warm-up then cosine decay to 10%)")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--downscale", o.max_downscale, "Random downscale of training images by up to this factor")
        ->capture_default_str()
        ->check(CLI::Range(1.0, 16.0));
    app.add_flag("--rotations", o.rotations,
                 "Random 90-degree rotations of the crops (transposes), besides the flips: all eight orientations");
    app.add_option("--dead-leaves", o.dead_leaves,
                   "Share of the samples replaced by synthetic dead-leaves images: discs of power-law sizes, "
                   "some striped (0 = none)")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 1.0));
    app.add_option("--dead-leaves-shapes", o.dead_leaves_shapes,
                   "Their leaves: discs, or mixed (discs, ellipses, rectangles from squares to strokes, "
                   "polygons)")
        ->capture_default_str()
        ->check(CLI::IsMember({"discs", "mixed"}));
    app.add_option("--device", o.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
    app.add_option("--threads", o.threads, "Loader threads (0 = all cores)")->check(CLI::NonNegativeNumber);
    auto* init = app.add_option("--init", o.init_model,
                                "Start from this model file's weights (and architecture, unless --config is given)");
    app.add_flag("--resume", o.resume, "Continue the run in --out from its checkpoint")->excludes(init);
    app.add_option("--seed", o.seed, "Random seed (kept by the run; ignored with --resume)")->capture_default_str();
    app.add_option("--val-every", o.val_every, "Validate every N steps")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--checkpoint-every", o.checkpoint_every, "Checkpoint every N steps")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--log-every", o.log_every, "Metrics line every N steps")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--stop-at", o.stop_at_step, "Save and stop at this step (the schedule still spans --steps)");
    app.add_option("--export-dtype", o.export_dtype, "Weights of the exported model: f32, f16 or bf16 (half the size)")
        ->capture_default_str();
    app.add_option("--time-limit", o.time_limit_s, "Save and stop after this many seconds")
        ->check(CLI::NonNegativeNumber);
    app.add_flag("--bf16", o.bf16, "Mixed precision: convolutions and attention in bfloat16 (autocast)");
    app.add_flag("--entropy-only", o.entropy_only,
                 "Train only the conditional entropy model (the config's \"conditional\"), the transform and the "
                 "factorised prior kept as --init has them: the latent's coding improves, its images stay the same");
    app.add_option("--latent-pool", o.latent_pool,
                   "--entropy-only: crops (of --crop plus two cells) whose latents are kept, each cut into "
                   "training windows of --crop; two new crops are encoded per step")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--freq-init", o.freq_init,
                   "Initial frequencies: spiral, or spectrum (drawn from the training crops' mean tile spectrum)")
        ->capture_default_str()
        ->check(CLI::IsMember({"spiral", "spectrum"}));
    app.add_option("--fft-loss", o.fft_loss, "Weight of a focal frequency loss added to the MSE (0 = off)")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    app.add_option("--dist-timeout", o.distributed_timeout_s,
                   "With several ranks (torchrun): seconds before a silent rank ends the run")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.footer(
        "Several GPUs: torchrun --nproc-per-node N --no-python cosae train ... (each rank reads RANK,\n"
        "LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT; --batch is per rank; rank 0 writes).");
  }

  int run() override {
    const auto env = train::distributed_env_from_environment();
    const auto result = train::run_training(opt_, std::cerr);
    if (result.interrupted && env.rank == 0) std::cerr << "stopped at step " << result.step << "\n";
    if (env.active()) std::cerr << "rank " << env.rank << ": weights sha256 " << result.weights_sha256 << "\n";
    // As shells and schedulers expect of a program stopped by a signal: 128 + its number
    // (130 after Ctrl-C), the checkpoint saved all the same.
    return result.stop_signal ? 128 + result.stop_signal : 0;
  }

 private:
  train::TrainOptions opt_;
};

}  // namespace

std::unique_ptr<Command> make_train_command() { return std::make_unique<TrainCommand>(); }

}  // namespace cosae::cli
