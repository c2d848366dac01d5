// What encode and decode share: output naming (one input -> -o FILE or "-", several -> -o
// DIR), the model/device/threads/json/quiet options, and how a file's result is reported.
#pragma once

#include <sys/stat.h>


#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "codec/model_package.hpp"
#include "codec/model_search.hpp"
#include "common/device.hpp"
#include "common/host_memory.hpp"
#include "cosae/error.hpp"
#include "cosae/image.hpp"

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

// (device, inode) of an existing file, to tell the same file behind two paths or a link.
inline bool same_file(const std::string& a, const std::string& b) {
  struct stat sa{}, sb{};
  return a != "-" && b != "-" && ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

// The output path of each input. -o names a folder when it is one, ends with '/', or there are
// several inputs; a missing folder is created. No output may be one of the inputs or
// `keep` (e.g. --reference), whatever path or link reaches it, nor serve two inputs.
inline std::vector<std::string> output_paths(const std::vector<std::string>& inputs, const std::string& output,
                                             const std::string& extension, const std::vector<std::string>& keep = {}) {
  std::vector<std::string> out;
  const bool to_dir = !output.empty() && output != "-" &&
                      (is_directory(output) || output.back() == '/' || inputs.size() > 1);
  std::string dir = output;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (to_dir) make_directories(dir);
  for (const auto& in : inputs) {
    if (to_dir) {
      COSAE_CHECK(in != "-", usage, "standard input needs -o FILE or -o -");
      out.push_back(replace_extension(in, extension, dir == "/" ? "" : dir));
      if (dir == "/") out.back() = "/" + out.back().substr(out.back().find_last_of('/') + 1);
    } else if (!output.empty()) {
      out.push_back(output);
    } else {
      COSAE_CHECK(in != "-", usage, "standard input needs -o FILE or -o -");
      out.push_back(replace_extension(in, extension));
    }
  }
  for (std::size_t i = 0; i < out.size(); ++i) {
    for (const auto& protect : inputs)
      COSAE_CHECK(out[i] == "-" || (!same_file(out[i], protect) && out[i] != protect), usage, out[i], ": is an input (", protect,
                  "); refusing to write over it");
    for (const auto& protect : keep)
      COSAE_CHECK(!same_file(out[i], protect), usage, out[i], ": is ", protect, "; refusing to write over it");
    for (std::size_t j = 0; j < i; ++j)
      COSAE_CHECK(out[i] == "-" || out[i] != out[j], usage, inputs[j], " and ", inputs[i],
                  " would both be written to ", out[i]);
  }
  return out;
}

// Codes each input with `code_one(i)`. A file that fails is reported on its own line and the
// others are still coded, as gzip does; the exit code is then the first failure's.
template <typename CodeOne>
int for_each_input(const std::vector<std::string>& inputs, CodeOne&& code_one) {
  int status = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    try {
      code_one(i);
    } catch (const Error& error) {
      if (inputs.size() == 1) throw;  // one file: main reports it as usual
      const std::string message = error.what();
      std::cerr << "cosae: " << (message.rfind(inputs[i], 0) == 0 ? "" : inputs[i] + ": ") << message << "\n";
      if (status == 0) status = exit_code(error.kind());
    }
  }
  return status;
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
  double load_seconds = 0;  // loading the model
};

// Checks the options, applies --threads and --device, and loads the model: only the networks
// `parts` now (model/config.hpp; the codec loads any other it turns out to need).
inline CodecRun start_codec_run(const CodecRunOptions& o, const std::string& extension, model::Parts parts,
                                const std::vector<std::string>& keep = {}) {
  CodecRun run;
  run.outputs = output_paths(o.inputs, o.output, extension, keep);
  for (const auto& out : run.outputs) COSAE_CHECK(!(o.json && out == "-"), usage, "--json and -o - both want stdout");
  if (o.threads > 0) at::set_num_threads(o.threads);
  use_huge_pages_for_large_tensors();
  const auto device = resolve_device(o.device);
  const auto start = std::chrono::steady_clock::now();
  run.model = codec::load_codec_model(o.model.empty() ? codec::find_default_model() : o.model, device, parts);
  run.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return run;
}

// One file's statistics: a line on stderr (unless --quiet), a JSON object on stdout (--json).
inline void report_file(const CodecRunOptions& o, const std::string& line, const nlohmann::json& j) {
  if (!o.quiet) std::cerr << line << "\n";
  if (o.json) std::cout << j.dump() << "\n";
}

}  // namespace cosae::cli
