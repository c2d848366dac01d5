// `cosae prepare`: see prepare.hpp. Plain POSIX for the file system (no std::filesystem: the
// pip LibTorch wheels export their own copy and binaries linking LibTorch crash,
// pytorch/pytorch#133437).
#include "train/prepare.hpp"

#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
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
#include "train/containers.hpp"
#include "train/dataset.hpp"
#include "train/fingerprint.hpp"
#include "train/ordered_pipeline.hpp"
#if defined(COSAE_WITH_OPENCV)
#include "io/image_opencv.hpp"
#endif

namespace cosae::train {
namespace {

constexpr int kManifestVersion = 2;
constexpr const char* kTrainFolder = "train";
constexpr const char* kHeldoutFolder = "heldout";

// Every extension prepare looks at, whatever the build: a JPEG found by a build without OpenCV
// is an error (a different corpus), not a silent skip.
constexpr const char* kImageExtensions[] = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".ppm", ".pgm"};
constexpr const char* kContainerExtensions[] = {".edj", ".eet", ".rcc"};

std::string lower_extension(const std::string& name) {
  const std::size_t dot = name.rfind('.');
  if (dot == std::string::npos) return "";
  std::string extension = name.substr(dot);
  for (char& c : extension) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return extension;
}

template <std::size_t N>
bool one_of(const std::string& extension, const char* const (&list)[N]) {
  return std::any_of(std::begin(list), std::end(list), [&](const char* known) { return extension == known; });
}

std::string base_name(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string stem_of(const std::string& path) {
  const std::string name = base_name(path);
  const std::size_t dot = name.find_last_of('.');
  return dot == std::string::npos || dot == 0 ? name : name.substr(0, dot);
}

bool path_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

bool is_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
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

// The sources to read: the plain folders first, each a source named after itself, then the
// recipe's. Factors left at 0 take the options'.
std::vector<SourceSpec> all_sources(const PrepareOptions& options) {
  std::vector<SourceSpec> sources;
  for (const auto& input : options.inputs) {
    SourceSpec source;
    source.name = input;
    source.paths = {input};
    sources.push_back(source);
  }
  sources.insert(sources.end(), options.sources.begin(), options.sources.end());
  for (auto& source : sources) {
    if (source.downscale == 0.0) source.downscale = options.downscale;
    if (source.min_downscale == 0.0) source.min_downscale = options.min_downscale;
  }
  return sources;
}

void check_options(const PrepareOptions& options, const std::vector<SourceSpec>& sources) {
  COSAE_CHECK(!sources.empty(), usage, "prepare: no input folder or recipe");
  COSAE_CHECK(!options.out.empty(), usage, "prepare: no output folder");
  COSAE_CHECK(options.downscale >= 1.0 && options.downscale <= 16.0, usage, "--downscale ", options.downscale,
              ": must be in [1, 16]");
  COSAE_CHECK(options.min_downscale == 0.0 || (options.min_downscale >= 1.0 && options.min_downscale <= options.downscale),
              usage, "--min-downscale ", options.min_downscale, ": must be in [1, --downscale ", options.downscale, "]");
  COSAE_CHECK(options.max_shard_bytes >= 1, usage, "--max-shard-mb: must be positive");
  COSAE_CHECK(options.min_side >= 1, usage, "--min-side ", options.min_side, ": must be positive");
  COSAE_CHECK(options.threads >= 0, usage, "--threads ", options.threads, ": must not be negative");
  COSAE_CHECK(options.format == "png" || options.format == "webp", usage, "--format ", options.format,
              ": must be png or webp");
#if !defined(COSAE_WITH_OPENCV)
  COSAE_CHECK(options.format == "png", unavailable, "--format webp: this build has no WebP encoder (built without OpenCV)");
#endif
  // Outputs inside an input would be read back as sources on the next run; an input inside
  // the output could be replaced (--force) while it is being read.
  const std::string out = resolved_path(options.out);
  auto check_apart = [&](const std::string& input) {
    const std::string folder = resolved_path(input);
    COSAE_CHECK(!is_inside(out, folder), usage, "--out ", options.out, ": is inside the input ", input);
    COSAE_CHECK(!is_inside(folder, out), usage, "input ", input, ": is inside the output folder ", options.out);
  };
  for (const auto& source : sources) {
    const double floor = source.min_downscale > 0.0 ? source.min_downscale : source.downscale;
    COSAE_CHECK(floor <= source.downscale, usage, "source ", source.name, ": min_downscale ", floor,
                " exceeds its downscale ", source.downscale);
    for (const auto& path : source.paths) {
      std::string packages;
      for (const auto& package : source.packages) packages += (packages.empty() ? "" : " ") + package;
      COSAE_CHECK(path_exists(path), usage, "source ", source.name, ": ", path, " does not exist",
                  packages.empty() ? std::string() : " (are its packages installed? " + packages + ")");
      check_apart(path);
    }
  }
  for (const auto& folder : options.exclude_like) {
    COSAE_CHECK(is_directory(folder), usage, "--exclude-like ", folder, ": not a folder");
    check_apart(folder);
  }
}

// One image to consider: a file, or an entry of a container file.
struct Candidate {
  int source = 0;
  std::string path;        // the file
  EmbeddedImage entry;     // inside it, when entry.name is set
  std::string name() const { return entry.name.empty() ? path : path + ":" + entry.name; }
  std::vector<uint8_t> bytes() const { return entry.name.empty() ? read_file(path) : read_embedded_image(path, entry); }
};

bool wanted(const SourceSpec& source, const std::string& file_name) {
  const std::string extension = lower_extension(file_name);
  if (!one_of(extension, kImageExtensions) && !one_of(extension, kContainerExtensions)) return false;
  auto matches = [&](const std::vector<std::string>& patterns) {
    return std::any_of(patterns.begin(), patterns.end(),
                       [&](const std::string& p) { return ::fnmatch(p.c_str(), file_name.c_str(), 0) == 0; });
  };
  return (source.include.empty() || matches(source.include)) && !matches(source.exclude);
}

// Every candidate of every source, in order; a file reached twice is taken once. A container
// that cannot be parsed is reported as unreadable.
std::vector<Candidate> list_candidates(const std::vector<SourceSpec>& sources,
                                       std::vector<std::pair<Candidate, std::string>>& unreadable) {
  std::vector<Candidate> candidates;
  std::set<std::string> seen;
  for (int s = 0; s < static_cast<int>(sources.size()); ++s) {
    const SourceSpec& source = sources[s];
    std::vector<std::string> files;
    for (const auto& path : source.paths) {
      if (is_directory(path)) {
        for (auto& file : list_files(path, [&](const std::string& name) { return wanted(source, name); }))
          files.push_back(std::move(file));
      } else if (wanted(source, base_name(path))) {
        files.push_back(path);
      }
    }
    for (const auto& file : files) {
      if (!seen.insert(resolved_path(file)).second) continue;
      if (!one_of(lower_extension(file), kContainerExtensions)) {
        candidates.push_back({s, file, {}});
        continue;
      }
      try {
        for (auto& entry : list_embedded_images(read_file(file))) candidates.push_back({s, file, std::move(entry)});
      } catch (const Error& error) {
        if (error.kind() != ErrorKind::bad_input) throw;
        unreadable.push_back({Candidate{s, file, {}}, file + ": " + error.what()});
      }
    }
  }
  return candidates;
}

// Decodes; a format this build cannot read is fatal, anything else wrong with the file is the
// file's problem, returned as the reason.
Image decode_candidate(const Candidate& candidate, std::string& failure) {
  try {
    const std::vector<uint8_t> bytes = candidate.bytes();
    try {
      return decode_image(bytes.data(), bytes.size());
    } catch (const Error& error) {
      throw Error(error.kind(), candidate.name() + ": " + error.what(), error.file(), error.line());
    }
  } catch (const Error& error) {
    if (error.kind() == ErrorKind::internal || error.kind() == ErrorKind::unavailable) throw;
    failure = error.what();
    return Image{};
  }
}

// FNV-1a: a stable hash, the same on every platform and build.
uint64_t stable_hash(const std::string& text) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) hash = (hash ^ c) * 0x100000001b3ULL;
  return hash;
}

// What the first pass learns of a candidate.
struct Scanned {
  std::string failure;      // why it cannot be used; "" when it can
  Notice reason = Notice::unreadable;
  int width = 0;            // of the source
  int height = 0;
  double factor = 1.0;      // it will be divided by
  int out_width = 0;
  int out_height = 0;
  Fingerprint print;
};

Scanned scan(const Candidate& candidate, const SourceSpec& source, const PrepareOptions& options) {
  Scanned result;
  if (const std::string why = standard_test_image_name(candidate.name()); !why.empty()) {
    result.failure = candidate.name() + ": " + why;
    result.reason = Notice::excluded;
    return result;
  }
  const Image image = decode_candidate(candidate, result.failure);
  if (!result.failure.empty()) return result;
  result.width = image.width;
  result.height = image.height;
  // The full factor, or less for an image that would fall below min_side, but never below
  // min_downscale (which hides the sources' JPEG artefacts).
  const double least = source.min_downscale > 0.0 ? source.min_downscale : source.downscale;
  const double fits = static_cast<double>(std::min(image.width, image.height)) / options.min_side;
  result.factor = std::max(least, std::min(source.downscale, fits));
  result.out_width = downscaled_size(image.width, result.factor);
  result.out_height = downscaled_size(image.height, result.factor);
  if (std::min(result.out_width, result.out_height) < options.min_side) {
    result.failure = detail::concat(candidate.name(), ": ", result.out_width, "x", result.out_height,
                                    " after downscaling, below --min-side ", options.min_side);
    result.reason = Notice::too_small;
    return result;
  }
  result.print = fingerprint(image);
  return result;
}

// An image as written, and the digest of its pixels as a loader sees them (8-bit RGB).
struct Written {
  std::vector<uint8_t> file;
  std::string pixels_sha256;
};

std::string rgb_digest(const Image& image) {
  Sha256 hash;
  std::vector<uint8_t> row(std::size_t(image.width) * 3);
  for (int y = 0; y < image.height; ++y) {
    const uint16_t* in = image.samples.data() + std::size_t(y) * image.width * image.channels;
    for (int x = 0; x < image.width; ++x)
      for (int c = 0; c < 3; ++c) row[std::size_t(x) * 3 + c] = static_cast<uint8_t>(in[x * image.channels + (image.channels == 1 ? 0 : c)]);
    hash.update(row.data(), row.size());
  }
  return to_hex(hash.finish());
}

Written process(const Candidate& candidate, const SourceSpec& source, const Scanned& scanned,
                const PrepareOptions& options) {
  std::string failure;
  Image image = decode_candidate(candidate, failure);
  // The file was read a moment ago: failing now means it changed under us.
  COSAE_CHECK(failure.empty(), io, failure, " (it decoded in the first pass)");
  COSAE_CHECK(image.width == scanned.width && image.height == scanned.height, io, candidate.name(),
              ": changed size since the first pass");
  if (source.alpha_on_white) image = over_white(image);
  const Image reduced = area_downscale(image, scanned.out_width, scanned.out_height);
  image = Image{};  // the full-size image is the big one: free it before encoding
  Written written;
#if defined(COSAE_WITH_OPENCV)
  if (options.format == "webp") written.file = opencv_io::encode_image(reduced, ".webp");  // lossless by default
#endif
  if (options.format == "png") written.file = encode_png(reduced);
  COSAE_CHECK(!written.file.empty(), internal, "prepare: no encoder for ", options.format);
  written.pixels_sha256 = rgb_digest(reduced);
  return written;
}

// "<8 hex digits of the name's hash>-<stem with unsafe characters as '_'>.<format>", with a
// counter added on the (unlikely) collision, so names are unique, portable and say where
// each image came from. A container entry's stem is the container's and the entry's.
std::string output_name(const Candidate& candidate, const std::string& format, std::set<std::string>& used) {
  std::string stem = stem_of(candidate.path);
  if (!candidate.entry.name.empty()) stem += "_" + stem_of(candidate.entry.name);
  if (stem.size() > 48) stem.resize(48);
  for (char& c : stem)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) c = '_';
  char hash[9];
  std::snprintf(hash, sizeof hash, "%08x", static_cast<unsigned>(stable_hash(candidate.name()) & 0xffffffffu));
  const std::string base = std::string(hash) + "-" + stem;
  std::string name = base + "." + format;
  for (int copy = 2; !used.insert(name).second; ++copy) name = base + "-" + std::to_string(copy) + "." + format;
  return name;
}

std::string shard_name(int64_t shard) {
  char name[32];
  std::snprintf(name, sizeof name, "shard-%04lld", static_cast<long long>(shard));
  return name;
}

// A relative path this tool writes: "train/shard-NNNN/file", "heldout/file", or (manifest
// version 1) "shard-NNNN/file". Anything else in a hand-edited manifest is ignored, so that
// it cannot reach outside OUT.
bool is_own_output(const std::string& relative) {
  if (relative.find("..") != std::string::npos || relative.empty() || relative[0] == '/') return false;
  const auto parts = std::count(relative.begin(), relative.end(), '/');
  return (relative.rfind("train/shard-", 0) == 0 && parts == 2) || (relative.rfind("heldout/", 0) == 0 && parts == 1) ||
         (relative.rfind("shard-", 0) == 0 && parts == 1);
}

std::vector<std::string> manifest_files(const nlohmann::json& manifest) {
  std::vector<std::string> files;
  for (const auto& entry : manifest.value("images", nlohmann::json::array())) {
    if (!entry.is_object()) continue;
    std::string relative = entry.value("file", "");
    if (entry.contains("shard")) relative = entry.value("shard", "") + "/" + relative;  // version 1
    if (is_own_output(relative)) files.push_back(relative);
  }
  return files;
}

// Files of a previous manifest in OUT that the new one does not list: removed once the new
// manifest is in place, so that --force leaves exactly one consistent data set.
void remove_stale_outputs(const std::string& out, const nlohmann::json& old_manifest,
                          const std::set<std::string>& kept, const NoticeSink& notice) {
  std::set<std::string> folders;
  for (const auto& relative : manifest_files(old_manifest)) {
    if (kept.count(relative)) continue;
    if (::unlink((out + "/" + relative).c_str()) != 0 && errno != ENOENT && notice)
      notice(Notice::warning,
              detail::concat(out, "/", relative, ": cannot remove the stale file: ", std::strerror(errno)));
    folders.insert(relative.substr(0, relative.find_last_of('/')));
  }
  for (const auto& folder : folders) ::rmdir((out + "/" + folder).c_str());  // only if now empty
  ::rmdir((out + "/" + kTrainFolder).c_str());
}

// Fingerprints of every image under the exclude_like folders.
std::vector<ReferencePicture> load_references(const std::vector<std::string>& folders, std::vector<std::string>& names) {
  std::vector<ReferencePicture> references;
  for (const auto& folder : folders) {
    for (const auto& file : list_files(folder, [](const std::string& name) {
           return one_of(lower_extension(name), kImageExtensions);
         })) {
      names.push_back(file);
      references.push_back({nullptr, fingerprint(read_image(file))});
    }
  }
  for (std::size_t i = 0; i < references.size(); ++i) references[i].name = names[i].c_str();
  return references;
}

}  // namespace

const char* to_string(Notice notice) {
  switch (notice) {
    case Notice::unreadable: return "unreadable";
    case Notice::too_small: return "too small";
    case Notice::duplicate: return "duplicate";
    case Notice::excluded: return "excluded";
    case Notice::warning: return "warning";
  }
  return "?";
}

Image over_white(const Image& image) {
  if (!image.has_alpha()) return image;
  const int colours = image.channels - 1;
  const uint32_t top = image.max_value();
  Image result{image.width, image.height, colours, image.bit_depth, {}};
  result.samples.resize(result.sample_count());
  const std::size_t pixels = std::size_t(image.width) * image.height;
  for (std::size_t i = 0; i < pixels; ++i) {
    const uint16_t* in = image.samples.data() + i * image.channels;
    const uint32_t alpha = in[colours];
    for (int c = 0; c < colours; ++c)
      result.samples[i * colours + c] = static_cast<uint16_t>((in[c] * alpha + top * (top - alpha) + top / 2) / top);
  }
  return result;
}

PrepareSummary prepare_dataset(const PrepareOptions& options, const NoticeSink& notice, const ProgressSink& progress) {
  const std::vector<SourceSpec> sources = all_sources(options);
  check_options(options, sources);
  const std::string manifest_path = options.out + "/manifest.json";
  nlohmann::json old_manifest;
  if (path_exists(manifest_path) || path_exists(options.out + "/" + kTrainFolder) ||
      path_exists(options.out + "/" + shard_name(0))) {
    COSAE_CHECK(options.overwrite, usage, options.out,
                ": already holds a prepared data set (manifest.json or train/); use --force to replace it");
    try {
      old_manifest = nlohmann::json::parse(read_file(manifest_path));
    } catch (const std::exception&) {
      old_manifest = nlohmann::json::object();  // unreadable: nothing known to clean up
    }
  }

  std::vector<std::string> reference_names;
  std::vector<ReferencePicture> references = load_references(options.exclude_like, reference_names);
  const auto& standard = standard_test_pictures();
  references.insert(references.end(), standard.begin(), standard.end());

  std::vector<std::pair<Candidate, std::string>> bad_containers;
  const std::vector<Candidate> candidates = list_candidates(sources, bad_containers);
  const int64_t count = static_cast<int64_t>(candidates.size());
  const int threads = options.threads > 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());

  PrepareSummary summary;
  summary.sources = count + static_cast<int64_t>(bad_containers.size());
  for (const auto& source : sources) summary.per_source.push_back({source.name, source.kind});
  nlohmann::json skipped_list = nlohmann::json::array();
  auto skip = [&](int source, const std::string& name, Notice reason, const std::string& message) {
    SourceSummary& own = summary.per_source[source];
    (reason == Notice::unreadable ? own.unreadable
     : reason == Notice::too_small ? own.too_small
     : reason == Notice::duplicate ? own.duplicates
                                       : own.excluded)++;
    ++summary.skipped;
    if (notice) notice(reason, message);
    skipped_list.push_back({{"source", name}, {"reason", to_string(reason)}, {"detail", message}});
  };
  for (const auto& [container, message] : bad_containers) {
    ++summary.per_source[container.source].found;
    skip(container.source, container.path, Notice::unreadable, message);
  }

  // First pass: decode and fingerprint everything.
  std::vector<Scanned> scanned(candidates.size());
  {
    OrderedPipeline<Scanned> pipeline(count, threads, [&](int64_t i) {
      return scan(candidates[i], sources[candidates[i].source], options);
    });
    for (int64_t i = 0; i < count; ++i) {
      scanned[i] = pipeline.take(i);
      if (progress) progress("reading", i + 1, count);
    }
  }

  // What stays: readable, large enough, not near a reference, and the largest copy of its picture.
  std::vector<bool> keep(candidates.size(), false);
  std::vector<int64_t> order;
  for (int64_t i = 0; i < count; ++i) {
    Scanned& item = scanned[i];
    if (item.failure.empty()) {
      for (const auto& reference : references)
        if (resembles(item.print, reference.fingerprint)) {
          item.failure = detail::concat(candidates[i].name(), ": resembles ", reference.name, " (",
                                        fingerprint_distance(item.print, reference.fingerprint), " bits apart)");
          item.reason = Notice::excluded;
          break;
        }
    }
    if (item.failure.empty()) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return int64_t(scanned[a].width) * scanned[a].height > int64_t(scanned[b].width) * scanned[b].height;
  });
  std::vector<int64_t> kept_pictures;
  for (const int64_t i : order) {
    const auto twin = std::find_if(kept_pictures.begin(), kept_pictures.end(),
                                   [&](int64_t k) { return same_picture(scanned[i].print, scanned[k].print); });
    if (twin == kept_pictures.end()) {
      kept_pictures.push_back(i);
      keep[i] = true;
    } else {
      scanned[i].failure = detail::concat(candidates[i].name(), ": the same picture as ", candidates[*twin].name(), " (",
                                          scanned[*twin].width, "x", scanned[*twin].height, ", ",
                                          fingerprint_distance(scanned[i].print, scanned[*twin].print), " bits apart)");
      scanned[i].reason = Notice::duplicate;
    }
  }
  for (int64_t i = 0; i < count; ++i) {
    ++summary.per_source[candidates[i].source].found;
    if (!keep[i]) skip(candidates[i].source, candidates[i].name(), scanned[i].reason, scanned[i].failure);
  }
  COSAE_CHECK(!kept_pictures.empty(), bad_input, "prepare: none of the ", summary.sources,
              " images found could be used (all unreadable, excluded or below --min-side)");

  // The held-out split: per source, the share of its pictures with the lowest name hashes.
  std::vector<bool> heldout(candidates.size(), false);
  for (int s = 0; s < static_cast<int>(sources.size()); ++s) {
    if (sources[s].heldout <= 0.0) continue;
    std::vector<std::pair<uint64_t, int64_t>> ranked;
    for (int64_t i = 0; i < count; ++i)
      if (keep[i] && candidates[i].source == s) ranked.push_back({stable_hash(candidates[i].name()), i});
    std::sort(ranked.begin(), ranked.end());
    const auto take = static_cast<std::size_t>(std::ceil(sources[s].heldout * ranked.size() - 1e-9));
    for (std::size_t r = 0; r < take && r < ranked.size(); ++r) heldout[ranked[r].second] = true;
  }

  // Second pass: downscale, encode and write, in input order.
  std::vector<int64_t> to_write;
  for (int64_t i = 0; i < count; ++i)
    if (keep[i]) to_write.push_back(i);
  make_directories(options.out);
  OrderedPipeline<Written> pipeline(static_cast<int64_t>(to_write.size()), threads, [&](int64_t k) {
    const int64_t i = to_write[k];
    return process(candidates[i], sources[candidates[i].source], scanned[i], options);
  });
  nlohmann::json images = nlohmann::json::array();
  std::set<std::string> used_names;
  std::set<std::string> written_files;  // relative to OUT
  int64_t shard = -1;
  int64_t shard_bytes = 0;
  for (std::size_t k = 0; k < to_write.size(); ++k) {
    const int64_t i = to_write[k];
    const Candidate& candidate = candidates[i];
    const Written written = pipeline.take(static_cast<int64_t>(k));
    const int64_t bytes = static_cast<int64_t>(written.file.size());
    std::string folder = kHeldoutFolder;
    if (!heldout[i]) {
      if (bytes > options.max_shard_bytes && notice)
        notice(Notice::warning, detail::concat(candidate.name(), ": ", bytes,
                                               " bytes as ", options.format, ", more than the shard limit: a shard of its own"));
      // Shards are filled in input order, so their content does not depend on timing.
      if (shard < 0 || (shard_bytes > 0 && shard_bytes + bytes > options.max_shard_bytes)) {
        ++shard;
        shard_bytes = 0;
      }
      shard_bytes += bytes;
      folder = std::string(kTrainFolder) + "/" + shard_name(shard);
    }
    make_directories(options.out + "/" + folder);
    const std::string relative = folder + "/" + output_name(candidate, options.format, used_names);
    write_file_atomic(options.out + "/" + relative, written.file.data(), written.file.size());
    written_files.insert(relative);
    const Scanned& item = scanned[i];
    SourceSummary& own = summary.per_source[candidate.source];
    (heldout[i] ? own.heldout : own.train)++;
    own.megapixels += item.out_width * double(item.out_height) / 1e6;
    own.bytes += bytes;
    summary.bytes += bytes;
    ++summary.written;
    if (heldout[i]) ++summary.heldout;
    images.push_back({{"source", candidate.name()},
                      {"origin", sources[candidate.source].name},
                      {"split", heldout[i] ? "heldout" : "train"},
                      {"file", relative},
                      {"width", item.out_width},
                      {"height", item.out_height},
                      {"downscale", item.factor},
                      {"bytes", bytes},
                      {"pixels_sha256", written.pixels_sha256}});
    if (progress) progress("writing", static_cast<int64_t>(k) + 1, static_cast<int64_t>(to_write.size()));
  }
  summary.shards = shard + 1;

  nlohmann::json source_list = nlohmann::json::array();
  for (std::size_t s = 0; s < sources.size(); ++s) {
    const SourceSpec& spec = sources[s];
    const SourceSummary& own = summary.per_source[s];
    source_list.push_back({{"name", spec.name},
                           {"packages", spec.packages},
                           {"licence", spec.licence},
                           {"kind", spec.kind},
                           {"paths", spec.paths},
                           {"downscale", spec.downscale},
                           {"min_downscale", spec.min_downscale > 0.0 ? spec.min_downscale : spec.downscale},
                           {"heldout_share", spec.heldout},
                           {"found", own.found},
                           {"train", own.train},
                           {"heldout", own.heldout},
                           {"megapixels", std::round(own.megapixels * 100.0) / 100.0},
                           {"bytes", own.bytes},
                           {"skipped",
                            {{"unreadable", own.unreadable},
                             {"too_small", own.too_small},
                             {"duplicate", own.duplicates},
                             {"excluded", own.excluded}}}});
  }
  // The thread count is left out: it does not change the output.
  const nlohmann::json manifest = {
      {"format", "cosae-prepared-images"},
      {"version", kManifestVersion},
      {"options",
       {{"inputs", options.inputs},
        {"exclude_like", options.exclude_like},
        {"downscale", options.downscale},
        {"min_downscale", options.min_downscale > 0.0 ? options.min_downscale : options.downscale},
        {"file_format", options.format},
        {"max_shard_bytes", options.max_shard_bytes},
        {"min_side", options.min_side},
        {"interpolation", "area"},
        {"pixels", "8-bit; alpha discarded or over white; grey kept as grey"}}},
      {"totals",
       {{"sources", summary.sources},
        {"images", summary.written},
        {"heldout", summary.heldout},
        {"skipped", summary.skipped},
        {"shards", summary.shards},
        {"bytes", summary.bytes}}},
      {"sources", source_list},
      {"images", images},
      {"skipped", skipped_list},
  };
  const std::string text = manifest.dump(2) + "\n";
  write_file_atomic(manifest_path, text);
  if (old_manifest.is_object()) remove_stale_outputs(options.out, old_manifest, written_files, notice);
  return summary;
}

}  // namespace cosae::train
