// Output naming shared by encode and decode: one input -> -o FILE (or "-"), several -> -o DIR.
#pragma once

#include <sys/stat.h>

#include <string>
#include <vector>

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

}  // namespace cosae::cli
