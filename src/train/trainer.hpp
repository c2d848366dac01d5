// `cosae train`: the training loop. Loss = lambda_q * 255^2 * (MSE + w FFL) + bpp per image, a random
// quality level q per image, AdamW with warm-up and cosine decay, gradient clipping, and an
// auxiliary Adam on the prior's quantiles. Checkpoints are atomic and resume exactly.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace cosae::train {

struct TrainOptions {
  std::string data;                // folder of training images
  std::string val;                 // folder of validation images ("" = none)
  std::string out;                 // run folder
  std::string config;              // preset name or JSON file; "" = "default", or --init's architecture
  std::string init_model;          // model file to start from (grown into `config` when one is given)
  int64_t steps = 100000;
  int batch = 16;
  int crop = 256;
  double lr = 1e-4;
  double aux_lr = 1e-3;
  double weight_decay = 0.0;
  double clip_norm = 1.0;
  int64_t warmup_steps = -1;      // -1: min(1000, steps / 20)
  double max_downscale = 1.0;
  bool rotations = false;         // random 90-degree rotations of the crops, besides the flips
  double dead_leaves = 0.0;       // share of samples replaced by synthetic dead-leaves images
  std::string dead_leaves_shapes = "discs";  // their leaves: "discs", or "mixed" (train/dead_leaves.hpp)
  std::string device = "auto";
  int threads = 0;                // loader threads (0 = all cores)
  bool resume = false;
  uint64_t seed = 0;
  int64_t val_every = 1000;
  int64_t checkpoint_every = 1000;
  int64_t log_every = 100;        // metrics.jsonl lines and plain progress lines
  int64_t stop_at_step = -1;      // save and stop once this step is reached (the schedule still spans `steps`)
  double time_limit_s = 0;        // save and stop after this much wall-clock time (0 = none)
  std::string export_dtype = "f32";  // weights of the exported model: f32, f16 or bf16
  bool bf16 = false;               // autocast convolutions and matrix products to bfloat16
  bool entropy_only = false;       // train the conditional entropy model alone (the rest frozen)
  int64_t latent_pool = 4096;      // --entropy-only: crops whose latents are kept (train/latent_pool.hpp)
  std::string freq_init = "spiral";  // "spiral", or "spectrum": drawn from the training set's mean tile spectrum
  double fft_loss = 0;             // weight of the focal frequency loss, added to the MSE
  double distributed_timeout_s = 300;  // bound on each collective with WORLD_SIZE > 1
};

struct TrainResult {
  int64_t step = 0;         // steps completed
  double last_loss = 0;     // of the last step run (NaN if none)
  bool interrupted = false; // stopped early: signal, --stop-at or --time-limit (checkpoint saved)
  int stop_signal = 0;      // the signal (SIGINT, SIGTERM) that stopped it, else 0
  std::string model_path;   // exported model file ("" when stopped by a signal, or not rank 0)
  std::string weights_sha256;  // of all parameters at the end (equal on every rank)
  // Per step run: wall time, and the parts of it the host spent waiting for the loader,
  // queueing the forward and backward passes, and waiting for the device to finish them (the
  // loop reads each step's loss back, so on a GPU a step's time includes its device work).
  // A device that outruns the host shows as little sync time and much queueing time.
  std::vector<double> step_seconds, data_wait_seconds, queue_seconds, sync_seconds;
  double first_step_unix = 0;  // wall-clock time (seconds since 1970) when the first step began
  int world_size = 1;
};

// Runs (or resumes) training; progress and warnings go to `log`. Files in `out`:
// config.json, metrics.jsonl, checkpoint.pt, model.safetensors (at the end).
TrainResult run_training(const TrainOptions& options, std::ostream& log);

}  // namespace cosae::train
