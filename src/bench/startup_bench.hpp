// `cosae bench startup`: what a user waits for to code one small image. Each run is a fresh
// `cosae encode` or `cosae decode` process on a 64x64 image (cold: the process starts, loads
// the model, codes, writes and exits), timed from outside, with its peak resident memory; a
// `cosae --version` process gives the floor every command pays before main() (loading and
// initialising the shared libraries). The model load and the coding itself come from the
// processes' own --json reports.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cosae::bench {

struct StartupBenchOptions {
  std::string model_path;  // "" = the default model
  std::string program;     // the cosae binary to run; "" = this one
  int size = 64;           // image side, pixels
  int repeats = 3;
  std::vector<std::string> extra;  // more arguments for encode (e.g. -q 3, -d 0)
};

struct StartupBenchRow {
  std::string command;                   // "version", "encode", "decode"
  double wall_s = 0;                     // median over the runs, whole process
  double load_s = 0, code_s = 0;         // medians, as the process reports them (0 for version)
  double peak_mb = 0;                    // the largest peak resident memory of the runs
  std::size_t bytes = 0;                 // encode: the stream's size
};

std::vector<StartupBenchRow> run_startup_bench(const StartupBenchOptions& options);
nlohmann::json to_json(const std::vector<StartupBenchRow>& rows, const StartupBenchOptions& options);
std::string format_table(const std::vector<StartupBenchRow>& rows, const StartupBenchOptions& options);

}  // namespace cosae::bench
