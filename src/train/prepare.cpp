// `cosae prepare`: see prepare.hpp. Plain POSIX for the file system (no std::filesystem: the
// pip LibTorch wheels export their own copy and binaries linking LibTorch crash,
// pytorch/pytorch#133437).
#include "train/prepare.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>

#include "bitstream/sha256.hpp"
#include "cosae/error.hpp"
#include "train/dataset.hpp"
#include "train/ordered_pipeline.hpp"

namespace cosae::train {
namespace {

constexpr int kManifestVersion = 1;

// One source file after decoding, downscaling and PNG encoding (or the reason it was skipped).
struct ProcessedImage {
  bool usable = false;
  std::string skip_reason;
  std::vector<uint8_t> png;
  int width = 0;
  int height = 0;
  double downscale = 1.0;  // the factor this image was divided by
};

bool path_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// mkdir -p; an existing non-directory on the way is an io error.
void make_directories(const std::string& path) {
  for (std::size_t end = path.find('/', 1);; end = path.find('/', end + 1)) {
    const std::string prefix = path.substr(0, end);
    if (!prefix.empty() && ::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST)
      COSAE_FAIL(io, prefix, ": cannot create the folder: ", std::strerror(errno));
    if (end == std::string::npos) break;
  }
  struct stat st {};
  COSAE_CHECK(::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode), io, path, ": not a folder");
}

// Absolute path with symbolic links resolved; for a path that does not exist yet, its
// nearest existing ancestor is resolved and the rest appended.
std::string resolved_path(const std::string& path) {
  std::string existing = path;
  std::string rest;
  while (true) {
    if (char* resolved = ::realpath(existing.empty() ? "." : existing.c_str(), nullptr)) {
      std::string result = resolved;
      std::free(resolved);
      return rest.empty() ? result : result + "/" + rest;
    }
    const std::size_t slash = existing.find_last_of('/');
    const std::string name = slash == std::string::npos ? existing : existing.substr(slash + 1);
    if (!name.empty()) rest = rest.empty() ? name : name + "/" + rest;
    if (slash == std::string::npos) existing.clear();
    else existing = slash == 0 ? "/" : existing.substr(0, slash);
  }
}

bool is_inside(const std::string& path, const std::string& folder) {
  return path == folder || (path.size() > folder.size() && path.compare(0, folder.size(), folder) == 0 &&
                            (folder == "/" || path[folder.size()] == '/'));
}

void check_options(const PrepareOptions& options) {
  COSAE_CHECK(!options.inputs.empty(), usage, "prepare: no input folder");
  COSAE_CHECK(!options.out.empty(), usage, "prepare: no output folder");
  COSAE_CHECK(options.downscale >= 1.0 && options.downscale <= 16.0, usage, "--downscale ", options.downscale,
              ": must be in [1, 16]");
  COSAE_CHECK(options.min_downscale == 0.0 || (options.min_downscale >= 1.0 && options.min_downscale <= options.downscale),
              usage, "--min-downscale ", options.min_downscale, ": must be in [1, --downscale ", options.downscale, "]");
  COSAE_CHECK(options.max_shard_bytes >= 1, usage, "--max-shard-mb: must be positive");
  COSAE_CHECK(options.min_side >= 1, usage, "--min-side ", options.min_side, ": must be positive");
  COSAE_CHECK(options.threads >= 0, usage, "--threads ", options.threads, ": must not be negative");
  // Outputs inside an input would be read back as sources on the next run; an input inside
  // the output could be replaced (--force) while it is being read.
  const std::string out = resolved_path(options.out);
  for (const auto& input : options.inputs) {
    const std::string folder = resolved_path(input);
    COSAE_CHECK(!is_inside(out, folder), usage, "--out ", options.out, ": is inside the input folder ", input);
    COSAE_CHECK(!is_inside(folder, out), usage, "--in ", input, ": is inside the output folder ", options.out);
  }
}

// Every image under the inputs, in the order given, each folder sorted; a file reached through
// two inputs is taken once. A folder without images only warns: others may have some.
std::vector<std::string> list_sources(const std::vector<std::string>& inputs, const WarningSink& warn) {
  std::vector<std::string> sources;
  std::set<std::string> seen;
  for (const auto& input : inputs) {
    std::vector<std::string> files;
    try {
      files = list_images(input);
    } catch (const Error& error) {
      if (error.kind() != ErrorKind::bad_input) throw;  // missing or unreadable folder
      if (warn) warn(error.what());
    }
    for (auto& file : files)
      if (seen.insert(resolved_path(file)).second) sources.push_back(std::move(file));
  }
  COSAE_CHECK(!sources.empty(), bad_input, "prepare: no images found in the input folders");
  return sources;
}

ProcessedImage process_source(const std::string& path, const PrepareOptions& options) {
  ProcessedImage result;
  Image source;
  try {
    source = read_image(path);
  } catch (const Error& error) {
    if (error.kind() == ErrorKind::internal) throw;
    result.skip_reason = error.what();  // starts with the path
    return result;
  }
  // The full factor, or less for an image that would fall below min_side, but never below
  // min_downscale (which hides the sources' JPEG artefacts).
  const double least = options.min_downscale > 0.0 ? options.min_downscale : options.downscale;
  const double fits = static_cast<double>(std::min(source.width, source.height)) / options.min_side;
  const double factor = std::max(least, std::min(options.downscale, fits));
  const int width = downscaled_size(source.width, factor);
  const int height = downscaled_size(source.height, factor);
  if (std::min(width, height) < options.min_side) {
    result.skip_reason = detail::concat(path, ": ", width, "x", height, " after downscaling, below --min-side ",
                                        options.min_side);
    return result;
  }
  const Image reduced = area_downscale(source, width, height);
  source = Image{};  // the full-size image is the big one: free it before encoding
  result.png = encode_png(reduced);
  result.width = width;
  result.height = height;
  result.downscale = factor;
  result.usable = true;
  return result;
}

// FNV-1a: a stable hash, the same on every platform and build.
uint64_t stable_hash(const std::string& text) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) hash = (hash ^ c) * 0x100000001b3ULL;
  return hash;
}

// "<8 hex digits of the source path's hash>-<file stem with unsafe characters as '_'>.png",
// with a counter added on the (unlikely) collision, so names are unique, portable and say
// where each image came from.
std::string output_name(const std::string& source, std::set<std::string>& used) {
  const std::size_t slash = source.find_last_of('/');
  std::string stem = slash == std::string::npos ? source : source.substr(slash + 1);
  stem = stem.substr(0, stem.find_last_of('.'));
  if (stem.size() > 48) stem.resize(48);
  for (char& c : stem)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) c = '_';
  char hash[9];
  std::snprintf(hash, sizeof hash, "%08x", static_cast<unsigned>(stable_hash(source) & 0xffffffffu));
  const std::string base = std::string(hash) + "-" + stem;
  std::string name = base + ".png";
  for (int copy = 2; !used.insert(name).second; ++copy) name = base + "-" + std::to_string(copy) + ".png";
  return name;
}

std::string shard_name(int64_t shard) {
  char name[32];
  std::snprintf(name, sizeof name, "shard-%04lld", static_cast<long long>(shard));
  return name;
}

// Files of a previous manifest in OUT that the new one does not list: removed once the new
// manifest is in place, so that --force leaves exactly one consistent training set.
void remove_stale_outputs(const std::string& out, const nlohmann::json& old_manifest,
                          const std::set<std::string>& kept, const WarningSink& warn) {
  std::set<std::string> shards;
  for (const auto& entry : old_manifest.value("images", nlohmann::json::array())) {
    const std::string shard = entry.value("shard", "");
    const std::string file = entry.value("file", "");
    // Only names this tool writes: a hand-edited manifest cannot reach outside OUT.
    if (shard.rfind("shard-", 0) != 0 || shard.find('/') != std::string::npos || file.empty() ||
        file.find('/') != std::string::npos || file[0] == '.')
      continue;
    const std::string relative = shard + "/" + file;
    if (kept.count(relative)) continue;
    if (::unlink((out + "/" + relative).c_str()) != 0 && errno != ENOENT && warn)
      warn(detail::concat(out, "/", relative, ": cannot remove the stale file: ", std::strerror(errno)));
    shards.insert(shard);
  }
  for (const auto& shard : shards) ::rmdir((out + "/" + shard).c_str());  // only if now empty
}

}  // namespace

PrepareSummary prepare_dataset(const PrepareOptions& options, const WarningSink& warn, const ProgressSink& progress) {
  check_options(options);
  const std::string manifest_path = options.out + "/manifest.json";
  nlohmann::json old_manifest;
  if (path_exists(manifest_path) || path_exists(options.out + "/" + shard_name(0))) {
    COSAE_CHECK(options.overwrite, usage, options.out,
                ": already holds a prepared data set (manifest.json or shard-0000); use --force to replace it");
    try {
      old_manifest = nlohmann::json::parse(read_file(manifest_path));
    } catch (const std::exception&) {
      old_manifest = nlohmann::json::object();  // unreadable: nothing known to clean up
    }
  }
  const std::vector<std::string> sources = list_sources(options.inputs, warn);
  make_directories(options.out);

  const int threads = options.threads > 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
  OrderedPipeline<ProcessedImage> pipeline(static_cast<int64_t>(sources.size()), threads,
                                           [&](int64_t i) { return process_source(sources[i], options); });

  PrepareSummary summary;
  summary.sources = static_cast<int64_t>(sources.size());
  nlohmann::json images = nlohmann::json::array();
  nlohmann::json skipped = nlohmann::json::array();
  std::set<std::string> used_names;
  std::set<std::string> written_files;  // "shard/file"
  std::map<Sha256Digest, std::string> written_pixels;  // PNG digest -> source (the encoder is deterministic)
  int64_t shard = -1;
  int64_t shard_bytes = 0;
  for (int64_t i = 0; i < summary.sources; ++i) {
    ProcessedImage image = pipeline.take(i);
    const std::string& source = sources[i];
    if (image.usable) {
      const auto [earlier, first] = written_pixels.emplace(sha256(image.png.data(), image.png.size()), source);
      if (!first) {
        image.usable = false;
        image.skip_reason = detail::concat(source, ": the same pixels as ", earlier->second);
      }
    }
    if (!image.usable) {
      ++summary.skipped;
      if (warn) warn("skipped " + image.skip_reason);
      skipped.push_back({{"source", source}, {"reason", image.skip_reason}});
    } else {
      const int64_t bytes = static_cast<int64_t>(image.png.size());
      if (bytes > options.max_shard_bytes && warn)
        warn(detail::concat(source, ": ", bytes, " bytes as PNG, more than the shard limit: a shard of its own"));
      // Shards are filled in input order, so their content does not depend on timing.
      if (shard < 0 || (shard_bytes > 0 && shard_bytes + bytes > options.max_shard_bytes)) {
        ++shard;
        shard_bytes = 0;
        make_directories(options.out + "/" + shard_name(shard));
      }
      const std::string name = output_name(source, used_names);
      write_file_atomic(options.out + "/" + shard_name(shard) + "/" + name, image.png.data(), image.png.size());
      written_files.insert(shard_name(shard) + "/" + name);
      shard_bytes += bytes;
      summary.bytes += bytes;
      ++summary.written;
      images.push_back({{"source", source},
                        {"shard", shard_name(shard)},
                        {"file", name},
                        {"width", image.width},
                        {"height", image.height},
                        {"downscale", image.downscale},
                        {"bytes", bytes}});
    }
    if (progress) progress(i + 1, summary.sources);
  }
  summary.shards = shard + 1;
  COSAE_CHECK(summary.written > 0, bad_input, "prepare: none of the ", summary.sources,
              " images found could be used (all unreadable or below --min-side)");

  // The thread count is left out: it does not change the output.
  const nlohmann::json manifest = {
      {"format", "cosae-prepared-images"},
      {"version", kManifestVersion},
      {"options",
       {{"inputs", options.inputs},
        {"downscale", options.downscale},
        {"min_downscale", options.min_downscale > 0.0 ? options.min_downscale : options.downscale},
        {"max_shard_bytes", options.max_shard_bytes},
        {"min_side", options.min_side},
        {"interpolation", "area"},
        {"pixels", "8-bit; alpha discarded; grey kept as grey"}}},
      {"totals",
       {{"sources", summary.sources},
        {"images", summary.written},
        {"skipped", summary.skipped},
        {"shards", summary.shards},
        {"bytes", summary.bytes}}},
      {"images", images},
      {"skipped", skipped},
  };
  const std::string text = manifest.dump(2) + "\n";
  write_file_atomic(manifest_path, text);
  if (old_manifest.is_object()) remove_stale_outputs(options.out, old_manifest, written_files, warn);
  return summary;
}

}  // namespace cosae::train
