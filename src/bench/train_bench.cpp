#include "bench/train_bench.hpp"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <numeric>
#include <sstream>

#include "bench/timer.hpp"
#include "common/device.hpp"
#include "cosae/error.hpp"
#include "cosae/image.hpp"
#include "train/trainer.hpp"

namespace cosae::bench {

namespace {

// A temporary folder, removed with what it holds (flat or one level of subfolders).
struct ScratchDir {
  std::string path;
  ScratchDir() {
    char name[] = "/tmp/cosae-bench-XXXXXX";
    COSAE_CHECK(::mkdtemp(name), io, "bench train: cannot create a temporary folder");
    path = name;
  }
  ~ScratchDir() {
    const std::string command = "rm -rf '" + path + "'";
    if (std::system(command.c_str()) != 0) std::fprintf(stderr, "warning: could not remove %s\n", path.c_str());
  }
};

// Smooth random images: something a codec can learn, cheap to decode.
void write_synthetic_images(const std::string& dir, int count) {
  for (int i = 0; i < count; ++i) {
    Image image{512, 512, 3, 8, {}};
    image.samples.resize(image.sample_count());
    for (int y = 0; y < 512; ++y)
      for (int x = 0; x < 512; ++x)
        for (int c = 0; c < 3; ++c)
          image.samples[(static_cast<std::size_t>(y) * 512 + x) * 3 + c] = static_cast<uint16_t>(
              127.5 + 120 * std::sin(0.013 * (i + 1) * x + 0.021 * y + 0.7 * c + i) * std::cos(0.017 * y - 0.3 * i));
    write_png(dir + "/synthetic-" + std::to_string(i) + ".png", image);
  }
}

}  // namespace

TrainBenchResult run_train_bench(const TrainBenchOptions& o) {
  COSAE_CHECK(o.steps > 0 && o.warmup >= 0, usage, "bench train: --steps must be positive, --warmup >= 0");
  ScratchDir scratch;
  train::TrainOptions t;
  t.data = o.data;
  if (t.data.empty()) {
    t.data = scratch.path + "/data";
    COSAE_CHECK(::mkdir(t.data.c_str(), 0755) == 0, io, "bench train: cannot create ", t.data);
    write_synthetic_images(t.data, 8);
  }
  t.out = scratch.path + "/run";
  t.config = o.config;
  t.steps = o.warmup + o.steps;
  t.batch = o.batch;
  t.crop = o.crop;
  t.device = o.device;
  t.threads = o.threads;
  t.bf16 = o.bf16;
  t.checkpoint_every = t.steps + 1;  // only the final checkpoint, after the timed steps
  t.log_every = t.steps;

  const auto device = resolve_device(o.device);
  reset_peak_memory(device);
  std::ostringstream log;
  const auto r = train::run_training(t, log);
  COSAE_CHECK(static_cast<int>(r.step_seconds.size()) == t.steps, internal, "bench train: ran ",
              r.step_seconds.size(), " of ", t.steps, " steps");
  // The last step also writes the checkpoint and exports: leave it out with the warm-up (when
  // there is no step besides it, time that one).
  const std::size_t n = r.step_seconds.size();
  const std::size_t from = n > static_cast<std::size_t>(o.warmup) + 1 ? static_cast<std::size_t>(o.warmup) : n - 1;
  const std::size_t to = from < n - 1 ? n - 1 : n;
  auto timed_sum = [&](const std::vector<double>& v) { return std::accumulate(v.begin() + from, v.begin() + to, 0.0); };
  const std::vector<double> timed(r.step_seconds.begin() + from, r.step_seconds.begin() + to);
  const double total = timed_sum(r.step_seconds);
  const double mean = total / static_cast<double>(timed.size());

  TrainBenchResult b;
  b.device = describe_device(device);
  b.config = o.config;
  b.world_size = r.world_size;
  b.step_ms = 1e3 * median(timed);
  b.images_per_s = r.world_size * o.batch / mean;
  b.megapixels_per_s = b.images_per_s * o.crop * o.crop / 1e6;
  b.data_wait_share = timed_sum(r.data_wait_seconds) / total;
  b.queue_share = timed_sum(r.queue_seconds) / total;
  b.sync_share = timed_sum(r.sync_seconds) / total;
  b.timed_from_unix = r.first_step_unix + std::accumulate(r.step_seconds.begin(), r.step_seconds.begin() + from, 0.0);
  b.timed_to_unix = b.timed_from_unix + total;
  b.peak_mb = device.is_cuda() ? static_cast<double>(peak_memory_bytes(device)) / 1e6 : process_peak_rss_mb();
  return b;
}

nlohmann::json to_json(const TrainBenchResult& r, const TrainBenchOptions& o) {
  return {{"benchmark", "train"},  {"device", r.device},         {"config", r.config},
          {"world_size", r.world_size}, {"batch_per_rank", o.batch}, {"crop", o.crop},
          {"warmup_steps", o.warmup},   {"timed_steps", o.steps},    {"step_ms", r.step_ms},
          {"images_per_s", r.images_per_s}, {"megapixels_per_s", r.megapixels_per_s},
          {"data_wait_share", r.data_wait_share}, {"queue_share", r.queue_share},
          {"sync_share", r.sync_share},         {"peak_mb", r.peak_mb},
          {"timed_from_unix", r.timed_from_unix}, {"timed_to_unix", r.timed_to_unix},
          {"data", o.data.empty() ? "synthetic" : o.data}, {"precision", o.bf16 ? "bf16 autocast" : "fp32"}};
}

std::string format_table(const TrainBenchResult& r, const TrainBenchOptions& o) {
  char line[512];
  std::snprintf(line, sizeof line,
                "%-10s %5s %6s %5s %9s %10s %10s %9s %10s %9s %9s %9s\n"
                "%-10s %5d %6d %5d %9s %10.1f %10.1f %9.1f %9.1f%% %8.1f%% %8.1f%% %9.0f\n",
                "config", "ranks", "batch", "crop", "precision", "step ms", "images/s", "MP/s", "data wait", "queue",
                "sync", "peak MB", r.config.c_str(), r.world_size, o.batch, o.crop, o.bf16 ? "bf16" : "fp32", r.step_ms,
                r.images_per_s, r.megapixels_per_s, 100 * r.data_wait_share, 100 * r.queue_share, 100 * r.sync_share,
                r.peak_mb);
  return line;
}

}  // namespace cosae::bench
