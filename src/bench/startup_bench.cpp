#include "bench/startup_bench.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "bench/codec_bench.hpp"  // synthetic_photo
#include "bench/timer.hpp"        // median
#include "codec/model_package.hpp"
#include "codec/model_search.hpp"
#include "cosae/error.hpp"
#include "cosae/image.hpp"

extern char** environ;

namespace cosae::bench {

namespace {

struct ProcessRun {
  double wall_s = 0;
  double peak_mb = 0;
  std::string out;  // its standard output
};

// Runs `args` as a child process, its standard output into `out_path`, standard error into
// `err_path`; throws unless it exits with 0.
ProcessRun run_process(const std::vector<std::string>& args, const std::string& out_path, const std::string& err_path) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  const auto start = std::chrono::steady_clock::now();
  const int spawn_error = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  COSAE_CHECK(spawn_error == 0, io, "bench startup: cannot run ", args[0]);
  int status = 0;
  rusage usage{};
  COSAE_CHECK(::wait4(pid, &status, 0, &usage) == pid, io, "bench startup: lost the child process");
  ProcessRun run;
  run.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  run.peak_mb = static_cast<double>(usage.ru_maxrss) / 1024.0;  // KiB on Linux
  std::ifstream err(err_path);
  std::stringstream message;
  message << err.rdbuf();
  COSAE_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, internal, "bench startup: `", args[1], "` failed: ",
              message.str());
  std::ifstream out(out_path);
  std::stringstream text;
  text << out.rdbuf();
  run.out = text.str();
  return run;
}

std::string self_path() {
  char buffer[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buffer, sizeof buffer - 1);
  COSAE_CHECK(n > 0, io, "bench startup: cannot find this program (/proc/self/exe); pass --program");
  return std::string(buffer, static_cast<std::size_t>(n));
}

}  // namespace

std::vector<StartupBenchRow> run_startup_bench(const StartupBenchOptions& o) {
  COSAE_CHECK(o.repeats >= 1 && o.size >= 1, usage, "bench startup: repeats and size must be positive");
  const std::string program = o.program.empty() ? self_path() : o.program;
  const std::string model = o.model_path.empty() ? codec::find_default_model() : o.model_path;
  char dir_template[] = "/tmp/cosae-startup-XXXXXX";
  COSAE_CHECK(::mkdtemp(dir_template), io, "bench startup: cannot create a temporary folder");
  const std::filesystem::path dir = dir_template;
  const std::string image = dir / "image.png", stream = dir / "image.cosae", decoded = dir / "decoded.png";
  const std::string out = dir / "stdout", err = dir / "stderr";
  write_image(image, synthetic_photo(o.size, o.size));

  std::vector<std::string> encode = {program, "encode", image, "-o", stream, "-m", model, "--json", "--quiet"};
  encode.insert(encode.end(), o.extra.begin(), o.extra.end());
  const std::vector<std::string> decode = {program, "decode", stream, "-o", decoded, "-m", model, "--json", "--quiet"};
  const std::vector<std::string> version = {program, "--version"};
  std::vector<StartupBenchRow> rows;
  try {
    const std::vector<std::string>* commands[] = {&version, &encode, &decode};
    for (const auto* args : commands) {
      StartupBenchRow row;
      row.command = args->size() > 2 ? (*args)[1] : "version";
      std::vector<double> wall, load, code;
      for (int i = 0; i < o.repeats; ++i) {
        const auto run = run_process(*args, out, err);
        wall.push_back(run.wall_s);
        row.peak_mb = std::max(row.peak_mb, run.peak_mb);
        if (row.command == "version") continue;
        const auto j = nlohmann::json::parse(run.out);
        load.push_back(j.value("load_seconds", 0.0));
        code.push_back(j.value("seconds", 0.0));
        if (row.command == "encode") row.bytes = j.value("bytes", std::size_t{0});
      }
      row.wall_s = median(wall);
      row.load_s = median(load);
      row.code_s = median(code);
      rows.push_back(row);
    }
  } catch (...) {
    std::filesystem::remove_all(dir);
    throw;
  }
  std::filesystem::remove_all(dir);
  return rows;
}

nlohmann::json to_json(const std::vector<StartupBenchRow>& rows, const StartupBenchOptions& o) {
  nlohmann::json out{{"benchmark", "startup"}, {"size", o.size}, {"repeats", o.repeats}, {"arguments", o.extra},
                     {"rows", nlohmann::json::array()}};
  for (const auto& row : rows)
    out["rows"].push_back({{"command", row.command}, {"wall_s", row.wall_s}, {"load_s", row.load_s},
                           {"code_s", row.code_s}, {"peak_mb", row.peak_mb}, {"bytes", row.bytes}});
  return out;
}

std::string format_table(const std::vector<StartupBenchRow>& rows, const StartupBenchOptions& o) {
  char line[256];
  std::snprintf(line, sizeof line, "%dx%d image, fresh process per run, median of %d\n", o.size, o.size, o.repeats);
  std::string out = line;
  std::snprintf(line, sizeof line, "%-8s %8s %8s %8s %8s %9s\n", "command", "wall s", "load s", "code s", "rest s",
                "peak MB");
  out += line;
  for (const auto& row : rows) {
    // rest: starting the process (the version row's wall time), image I/O and exit.
    std::snprintf(line, sizeof line, "%-8s %8.3f %8.3f %8.3f %8.3f %9.0f\n", row.command.c_str(), row.wall_s,
                  row.load_s, row.code_s, row.wall_s - row.load_s - row.code_s, row.peak_mb);
    out += line;
  }
  return out;
}

}  // namespace cosae::bench
