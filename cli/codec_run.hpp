// What encode and decode share: output naming (one input -> -o FILE or "-", several -> -o
// DIR), the model/device/threads/json/quiet options, and how a file's result is reported.
#pragma once

#include <sys/stat.h>

#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "codec/model_package.hpp"
#include "common/device.hpp"
#include "cosae/error.hpp"

namespace cosae::cli {

inline bool is_directory(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// `input` with its extension replaced by `extension` (".cosae", ".png"), placed in `dir` if
// given.
inline std::string replace_extension(const std::string& input, const std::string& extension,
                                      const std::string& dir = "") {
  std::string base = input;
  const auto slash = base.find_last_of('/');
  const auto dot = base.find_last_of('.');
  if (dot != std::string::npos && (slash == std::string::npos || dot > slash)) base.erase(dot);
  if (!dir.empty()) base = dir + "/" + (slash == std::string::npos ? base : base.substr(slash + 1));
  return base + extension;
}

// The output path of each input.
inline std::vector<std::string> output_paths(const std::vector<std::string>& inputs, const std::string& output,
                                             const std::string& extension) {
  std::vector<std::string> out;
  const bool to_dir = !output.empty() && output != "-" && is_directory(output);
  if (inputs.size() > 1)
    COSAE_CHECK(output.empty() || to_dir, usage, "several inputs need -o to name an existing folder");
  for (const auto& in : inputs) {
    if (to_dir) {
      COSAE_CHECK(in != "-", usage, "standard input needs -o FILE or -o -");
      out.push_back(replace_extension(in, extension, output));
    } else if (!output.empty()) {
      out.push_back(output);
    } else {
      COSAE_CHECK(in != "-", usage, "standard input needs -o FILE or -o -");
      out.push_back(replace_extension(in, extension));
    }
  }
  return out;
}

struct CodecRunOptions {
  std::vector<std::string> inputs;
  std::string output;
  std::string model;
  std::string device = "auto";
  int threads = 0;
  bool json = false;
  bool quiet = false;
};

inline void add_codec_run_options(CLI::App& app, CodecRunOptions& o, const std::string& model_help) {
  app.add_option("-m,--model", o.model, model_help);
  app.add_option("--device", o.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--threads", o.threads, "CPU threads (0 = all cores)")->check(CLI::NonNegativeNumber);
  app.add_flag("--json", o.json, "Print one JSON object per file on stdout");
  app.add_flag("--quiet", o.quiet, "No statistics on stderr");
}

struct CodecRun {
  std::vector<std::string> outputs;  // one per input
  codec::CodecModel model;
};

// Checks the options, applies --threads and --device, and loads the model.
inline CodecRun start_codec_run(const CodecRunOptions& o, const std::string& extension) {
  CodecRun run;
  run.outputs = output_paths(o.inputs, o.output, extension);
  for (const auto& out : run.outputs) COSAE_CHECK(!(o.json && out == "-"), usage, "--json and -o - both want stdout");
  if (o.threads > 0) at::set_num_threads(o.threads);
  const auto device = resolve_device(o.device);
  run.model = codec::load_codec_model(o.model.empty() ? codec::find_default_model() : o.model, device);
  return run;
}

// One file's statistics: a line on stderr (unless --quiet), a JSON object on stdout (--json).
inline void report_file(const CodecRunOptions& o, const std::string& line, const nlohmann::json& j) {
  if (!o.quiet) std::cerr << line << "\n";
  if (o.json) std::cout << j.dump() << "\n";
}

}  // namespace cosae::cli
