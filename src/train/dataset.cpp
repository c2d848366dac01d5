// Training data loader; behaviour and determinism rules in dataset.hpp. Workers use no torch
// ops (plain loops into a preallocated tensor), so they never compete with the trainer for
// LibTorch's intra-op thread pool and give bit-identical results at any thread count.
#include "train/dataset.hpp"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <future>
#include <list>
#include <set>
#include <unordered_map>
#include <utility>

#include "cosae/error.hpp"
#include "cosae/image.hpp"
#include "train/dead_leaves.hpp"

namespace cosae::train {
namespace {

constexpr const char* kImageExtensions[] = {
    ".png",
#if defined(COSAE_WITH_OPENCV)
    ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".ppm", ".pgm",
#endif
};

// Random draws of a file before falling back to a linear scan, which bounds the search when
// most files are unreadable.
constexpr int kRandomFileDraws = 32;
// Seed offset of the stream that picks and draws dead-leaves samples, apart from the crops'.
constexpr uint64_t kDeadLeavesStream = 0xdead1eafULL;

bool has_image_extension(const std::string& name) {
  const std::size_t dot = name.rfind('.');
  if (dot == std::string::npos) return false;
  std::string extension = name.substr(dot);
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return std::any_of(std::begin(kImageExtensions), std::end(kImageExtensions),
                     [&](const char* known) { return extension == known; });
}

std::string join_path(const std::string& dir, const std::string& name) {
  return !dir.empty() && dir.back() == '/' ? dir + name : dir + "/" + name;
}

using DirectoryId = std::pair<dev_t, ino_t>;

// Depth first, subdirectories in name order, so which path reaches a directory linked twice
// does not depend on readdir's order.
void scan_directory(const std::string& dir, std::set<DirectoryId>& visited, const FileNameFilter& wanted,
                    std::vector<std::string>& images) {
  DIR* handle = ::opendir(dir.c_str());
  COSAE_CHECK(handle != nullptr, io, "cannot read directory ", dir, ": ", std::strerror(errno));
  std::vector<std::pair<std::string, DirectoryId>> subdirectories;
  while (const dirent* entry = ::readdir(handle)) {
    const std::string name = entry->d_name;
    if (name.empty() || name[0] == '.') continue;  // ".", "..", hidden files, "._x.jpg" forks
    const std::string path = join_path(dir, name);
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) continue;  // dangling link or vanished entry
    if (S_ISDIR(info.st_mode)) {
      subdirectories.emplace_back(path, DirectoryId{info.st_dev, info.st_ino});
    } else if (S_ISREG(info.st_mode) && wanted(name)) {
      images.push_back(path);
    }
  }
  ::closedir(handle);  // before recursing: deep trees must not hold one descriptor per level
  std::sort(subdirectories.begin(), subdirectories.end());
  for (const auto& [path, id] : subdirectories) {
    if (visited.insert(id).second) scan_directory(path, visited, wanted, images);
  }
}

// The deepest folder holding every file, for error messages.
std::string common_folder(const std::vector<std::string>& files) {
  auto parent = [](const std::string& path) {
    const std::size_t slash = path.rfind('/');
    return slash == std::string::npos ? std::string() : path.substr(0, slash);
  };
  std::string folder = files.empty() ? std::string() : parent(files.front());
  for (const std::string& file : files) {
    while (!folder.empty() && file.compare(0, folder.size() + 1, folder + "/") != 0) folder = parent(folder);
  }
  if (!folder.empty()) return folder;
  return !files.empty() && files.front().rfind('/', 0) == 0 ? "/" : ".";
}

// splitmix64's output function: a bijective 64-bit mix.
uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

std::vector<std::string> list_files(const std::string& dir, const FileNameFilter& wanted) {
  struct stat info {};
  COSAE_CHECK(!dir.empty(), usage, "no image folder given");
  if (::stat(dir.c_str(), &info) != 0) {
    COSAE_CHECK(errno != ENOENT, usage, "image folder ", dir, " does not exist");
    COSAE_FAIL(io, "cannot access image folder ", dir, ": ", std::strerror(errno));
  }
  COSAE_CHECK(S_ISDIR(info.st_mode), usage, dir, " is not a directory (expected a folder of images)");
  std::set<DirectoryId> visited{{info.st_dev, info.st_ino}};
  std::vector<std::string> files;
  scan_directory(dir, visited, wanted, files);
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<std::string> list_images(const std::string& dir) {
  COSAE_CHECK(!dir.empty(), usage, "no training image folder given");
  std::vector<std::string> images = list_files(dir, has_image_extension);
  std::string looked_for;
  for (const char* extension : kImageExtensions) looked_for += (looked_for.empty() ? "" : " ") + std::string(extension);
  COSAE_CHECK(!images.empty(), bad_input, "no images found in ", dir, " (looked for ", looked_for, ")");
  return images;
}

// ---------------------------------------------------------------- decoded images and their cache

struct BatchLoader::RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // row-major, interleaved R, G, B

  // Grey replicated, alpha dropped, 16-bit rounded to the nearest 8-bit level.
  static RgbImage from(const Image& image) {
    COSAE_CHECK(image.width > 0 && image.height > 0 && image.channels >= 1 && image.channels <= 4 &&
                    image.samples.size() == image.sample_count(),
                bad_input, "decoder returned a malformed image");
    RgbImage rgb;
    rgb.width = image.width;
    rgb.height = image.height;
    const std::size_t pixel_count = std::size_t(image.width) * image.height;
    rgb.pixels.resize(pixel_count * 3);
    const std::size_t stride = image.channels;
    const std::size_t green = image.is_grey() ? 0 : 1;
    const std::size_t blue = image.is_grey() ? 0 : 2;
    const bool sixteen_bit = image.bit_depth == 16;
    const uint16_t* in = image.samples.data();
    uint8_t* out = rgb.pixels.data();
    auto to_8_bits = [&](uint32_t v) { return static_cast<uint8_t>(sixteen_bit ? (v * 255 + 32767) / 65535 : v); };
    for (std::size_t i = 0; i < pixel_count; ++i, in += stride, out += 3) {
      out[0] = to_8_bits(in[0]);
      out[1] = to_8_bits(in[green]);
      out[2] = to_8_bits(in[blue]);
    }
    return rgb;
  }
};

// Least-recently-used cache of decoded files. A file asked for by several threads at once is
// decoded once: the others wait on the first one's future.
class BatchLoader::ImageCache {
 public:
  explicit ImageCache(int64_t capacity_bytes) : capacity_bytes_(capacity_bytes) {}

  std::shared_ptr<const RgbImage> get(int64_t file, const std::string& path) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (auto found = entries_.find(file); found != entries_.end()) {
      recency_.splice(recency_.begin(), recency_, found->second.recency);
      const auto image = found->second.image;
      lock.unlock();
      return image.get();  // rethrows the decoder's error
    }
    std::promise<std::shared_ptr<const RgbImage>> promise;
    recency_.push_front(file);
    entries_[file] = Entry{promise.get_future().share(), 0, true, recency_.begin()};
    lock.unlock();

    std::shared_ptr<const RgbImage> image;
    try {
      image = std::make_shared<const RgbImage>(RgbImage::from(read_image(path)));
    } catch (...) {
      lock.lock();
      forget_locked(file);  // not cached: the caller marks the file unreadable
      lock.unlock();
      promise.set_exception(std::current_exception());
      throw;
    }
    lock.lock();
    Entry& entry = entries_.at(file);  // loading entries are never evicted
    entry.bytes = static_cast<int64_t>(image->pixels.size());
    entry.loading = false;
    cached_bytes_ += entry.bytes;
    evict_locked();
    lock.unlock();
    promise.set_value(image);
    return image;
  }

 private:
  struct Entry {
    std::shared_future<std::shared_ptr<const RgbImage>> image;
    int64_t bytes;
    bool loading;
    std::list<int64_t>::iterator recency;
  };

  void forget_locked(int64_t file) {
    const auto found = entries_.find(file);
    cached_bytes_ -= found->second.bytes;
    recency_.erase(found->second.recency);
    entries_.erase(found);
  }

  // Images still in use stay alive through their shared_ptr; only the cache's hold is dropped.
  void evict_locked() {
    auto it = recency_.end();
    while (cached_bytes_ > capacity_bytes_ && it != recency_.begin()) {
      --it;
      const int64_t file = *it;
      if (entries_.at(file).loading) continue;
      ++it;  // stays valid: only the node of `file` is erased
      forget_locked(file);
    }
  }

  const int64_t capacity_bytes_;
  std::mutex mutex_;
  std::unordered_map<int64_t, Entry> entries_;
  std::list<int64_t> recency_;  // most recently used first
  int64_t cached_bytes_ = 0;
};

// ---------------------------------------------------------------- sampling

// splitmix64 stream: fixed arithmetic (no std:: distributions, whose results vary between
// standard libraries), so a seed means the same batches everywhere.
class BatchLoader::SampleRng {
 public:
  SampleRng(uint64_t seed, uint64_t sample_index) : state_(mix64(seed ^ mix64(sample_index + 0x632be59bd9b4e019ULL))) {}
  uint64_t next() { return mix64(state_ += 0x9e3779b97f4a7c15ULL); }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  int64_t below(int64_t bound) { return std::min<int64_t>(bound - 1, static_cast<int64_t>(uniform() * bound)); }
  bool coin() { return (next() >> 63) != 0; }

 private:
  uint64_t state_;
};

namespace {

// Source pixels and weights of each output pixel along one axis.
struct AxisTaps {
  std::vector<int32_t> begin;  // taps of output o: [begin[o], begin[o + 1])
  std::vector<int32_t> source;
  std::vector<float> weight;
};

// Exact area averaging when shrinking, bilinear with aligned pixel centres when enlarging
// (sizes differ).
AxisTaps make_taps(int source_size, int target_size, bool mirror) {
  AxisTaps taps;
  const double scale = static_cast<double>(source_size) / target_size;
  for (int output = 0; output < target_size; ++output) {
    taps.begin.push_back(static_cast<int32_t>(taps.source.size()));
    const int o = mirror ? target_size - 1 - output : output;
    auto add = [&](int source, double weight) {
      taps.source.push_back(source);
      taps.weight.push_back(static_cast<float>(weight));
    };
    if (source_size > target_size) {
      const double low = o * scale;
      const double high = (o + 1) * scale;
      for (int i = static_cast<int>(low); i < source_size && i < high; ++i) {
        const double overlap = std::min<double>(high, i + 1) - std::max<double>(low, i);
        if (overlap > 1e-9) add(i, overlap / scale);
      }
    } else {
      const double position = std::clamp((o + 0.5) * scale - 0.5, 0.0, source_size - 1.0);
      const int left = static_cast<int>(position);
      const double fraction = position - left;
      add(left, 1.0 - fraction);
      if (fraction > 0) add(left + 1, fraction);
    }
  }
  taps.begin.push_back(static_cast<int32_t>(taps.source.size()));
  return taps;
}

// Resamples the side x side square at (x0, y0) of an interleaved 8-bit RGB image to a planar
// [3, crop, crop] float sample in [0, 1]: rows first, then columns.
void resample_square(const uint8_t* pixels, int image_width, int x0, int y0, int side, int crop, bool mirror_x,
                     bool mirror_y, float* output) {
  const std::size_t plane = std::size_t(crop) * crop;
  if (side == crop) {  // the common case: a plain (mirrored) copy
    static const auto to_float = [] {
      std::array<float, 256> levels{};
      for (int v = 0; v < 256; ++v) levels[v] = static_cast<float>(v) / 255.0f;
      return levels;
    }();
    for (int y = 0; y < crop; ++y) {
      const uint8_t* in = pixels + (std::size_t(y0 + (mirror_y ? crop - 1 - y : y)) * image_width + x0) * 3;
      float* out = output + std::size_t(y) * crop;
      for (int x = 0; x < crop; ++x) {
        const uint8_t* pixel = in + 3 * (mirror_x ? crop - 1 - x : x);
        out[x] = to_float[pixel[0]];
        out[plane + x] = to_float[pixel[1]];
        out[2 * plane + x] = to_float[pixel[2]];
      }
    }
    return;
  }
  const AxisTaps columns = make_taps(side, crop, mirror_x);
  const AxisTaps rows = make_taps(side, crop, mirror_y);
  thread_local std::vector<float> row_pass;  // [side][crop][3]
  row_pass.resize(std::size_t(side) * crop * 3);
  for (int y = 0; y < side; ++y) {
    const uint8_t* in = pixels + (std::size_t(y0 + y) * image_width + x0) * 3;
    float* out = row_pass.data() + std::size_t(y) * crop * 3;
    for (int x = 0; x < crop; ++x) {
      float red = 0, green = 0, blue = 0;
      for (int32_t t = columns.begin[x]; t < columns.begin[x + 1]; ++t) {
        const uint8_t* pixel = in + columns.source[t] * 3;
        const float weight = columns.weight[t];
        red += weight * pixel[0];
        green += weight * pixel[1];
        blue += weight * pixel[2];
      }
      out[3 * x] = red;
      out[3 * x + 1] = green;
      out[3 * x + 2] = blue;
    }
  }
  thread_local std::vector<float> accumulator;
  accumulator.resize(std::size_t(crop) * 3);
  for (int y = 0; y < crop; ++y) {
    std::fill(accumulator.begin(), accumulator.end(), 0.0f);
    for (int32_t t = rows.begin[y]; t < rows.begin[y + 1]; ++t) {
      const float* in = row_pass.data() + std::size_t(rows.source[t]) * crop * 3;
      const float weight = rows.weight[t];
      for (int i = 0; i < crop * 3; ++i) accumulator[i] += weight * in[i];
    }
    float* out = output + std::size_t(y) * crop;
    for (int x = 0; x < crop; ++x) {
      for (int c = 0; c < 3; ++c) {
        out[c * plane + x] = std::clamp(accumulator[3 * x + c] * (1.0f / 255.0f), 0.0f, 1.0f);
      }
    }
  }
}

}  // namespace

// ---------------------------------------------------------------- the loader

// One step's batch: samples are handed out in order and written into `output` in place.
struct BatchLoader::StepWork {
  int64_t step = 0;
  torch::Tensor output;  // [batch, 3, crop, crop]
  float* data = nullptr;
  int next_sample = 0;  // guarded by schedule_mutex_, like the fields below
  int finished_samples = 0;
  int waiters = 0;  // batch() calls waiting for it: never cancelled then
  std::exception_ptr error;
};

BatchLoader::BatchLoader(std::vector<std::string> files, LoaderOptions options)
    : files_(std::move(files)), options_(options), source_name_(common_folder(files_)) {
  COSAE_CHECK(!files_.empty(), bad_input, "no image files to load");
  COSAE_CHECK(options_.batch >= 1, usage, "batch size must be at least 1, not ", options_.batch);
  COSAE_CHECK(options_.crop >= 1 && options_.crop <= kMaxImageSide, usage, "crop size must be in [1, ",
              kMaxImageSide, "], not ", options_.crop);
  COSAE_CHECK(options_.threads >= 0, usage, "loader threads must be 0 (all cores) or more, not ", options_.threads);
  COSAE_CHECK(std::isfinite(options_.max_downscale) && options_.max_downscale >= 1.0, usage,
              "maximum downscale factor must be a number >= 1, not ", options_.max_downscale);
  COSAE_CHECK(options_.prefetch >= 0 && options_.prefetch <= 1024, usage, "prefetch must be in [0, 1024] steps, not ",
              options_.prefetch);
  COSAE_CHECK(options_.world_size >= 1 && options_.rank >= 0 && options_.rank < options_.world_size, usage,
              "rank ", options_.rank, " is not in [0, world size ", options_.world_size, ")");
  COSAE_CHECK(options_.dead_leaves >= 0.0 && options_.dead_leaves <= 1.0, usage,
              "share of dead-leaves samples must be in [0, 1], not ", options_.dead_leaves);
  COSAE_CHECK(options_.cache_bytes >= 0, usage, "cache size must not be negative, not ", options_.cache_bytes);

  cache_ = std::make_unique<ImageCache>(options_.cache_bytes);
  unreadable_.assign(files_.size(), false);
  // More workers than samples in the prefetch window would only sleep.
  const int64_t available = options_.threads > 0 ? options_.threads : std::max(1u, std::thread::hardware_concurrency());
  const int64_t useful = int64_t(options_.batch) * (options_.prefetch + 1);
  const int64_t thread_count = std::min(available, useful);
  workers_.reserve(thread_count);
  for (int64_t i = 0; i < thread_count; ++i) workers_.emplace_back([this] { work(); });
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(schedule_mutex_);
    stopping_ = true;
  }
  work_available_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

torch::Tensor BatchLoader::batch(int64_t step) {
  COSAE_CHECK(step >= 0, usage, "training step must not be negative, not ", step);
  std::unique_lock<std::mutex> lock(schedule_mutex_);
  const int64_t last = step + options_.prefetch;
  cancel_outside_locked(step, last);
  const std::shared_ptr<StepWork> work = schedule_locked(step);
  for (int64_t ahead = step + 1; ahead <= last; ++ahead) schedule_locked(ahead);
  work_available_.notify_all();

  ++work->waiters;
  step_finished_.wait(lock, [&] { return work->finished_samples == options_.batch; });
  --work->waiters;
  if (const auto found = scheduled_.find(step); found != scheduled_.end() && found->second == work) {
    scheduled_.erase(found);
  }
  if (work->error) std::rethrow_exception(work->error);
  return work->output;
}

std::shared_ptr<BatchLoader::StepWork> BatchLoader::schedule_locked(int64_t step) {
  std::shared_ptr<StepWork>& work = scheduled_[step];
  if (!work) {
    work = std::make_shared<StepWork>();
    work->step = step;
    work->output = torch::empty({options_.batch, 3, options_.crop, options_.crop},
                                torch::TensorOptions(torch::kFloat32).pinned_memory(options_.pinned));
    work->data = work->output.data_ptr<float>();
  }
  return work;
}

// Steps outside the window are dropped (e.g. after a jump back): unstarted samples are never
// prepared; started ones finish into a tensor nobody reads.
void BatchLoader::cancel_outside_locked(int64_t first, int64_t last) {
  for (auto it = scheduled_.begin(); it != scheduled_.end();) {
    const bool outside = it->first < first || it->first > last;
    it = outside && it->second->waiters == 0 ? scheduled_.erase(it) : std::next(it);
  }
}

void BatchLoader::work() {
  std::unique_lock<std::mutex> lock(schedule_mutex_);
  while (true) {
    std::shared_ptr<StepWork> work;
    work_available_.wait(lock, [&] {
      if (stopping_) return true;
      for (const auto& [step, candidate] : scheduled_) {  // lowest step first
        if (candidate->next_sample < options_.batch) {
          work = candidate;
          return true;
        }
      }
      return false;
    });
    if (stopping_) return;
    const int index_in_batch = work->next_sample++;
    const bool failed_already = work->error != nullptr;
    lock.unlock();
    std::exception_ptr error;
    if (!failed_already) {
      try {
        prepare_sample(*work, index_in_batch);
      } catch (...) {
        error = std::current_exception();
      }
    }
    lock.lock();
    if (error && !work->error) work->error = error;
    if (++work->finished_samples == options_.batch) step_finished_.notify_all();
  }
}

void BatchLoader::prepare_sample(const StepWork& work, int index_in_batch) {
  const uint64_t global_index =
      (uint64_t(work.step) * options_.world_size + options_.rank) * options_.batch + index_in_batch;
  const int crop = options_.crop;
  float* output = work.data + std::size_t(index_in_batch) * 3 * crop * crop;
  if (options_.dead_leaves > 0) {
    SampleRng synthetic(options_.seed ^ kDeadLeavesStream, global_index);
    if (synthetic.uniform() < options_.dead_leaves) {
      render_dead_leaves([&synthetic] { return synthetic.uniform(); }, crop, output, options_.dead_leaves_shapes);
      return;
    }
  }
  SampleRng rng(options_.seed, global_index);
  const std::shared_ptr<const RgbImage> image = choose_image(rng);
  const double downscale = 1.0 + rng.uniform() * (options_.max_downscale - 1.0);
  const int shorter_side = std::min(image->width, image->height);
  const int side = static_cast<int>(std::clamp<double>(std::round(crop * downscale), 1.0, shorter_side));
  const int y0 = static_cast<int>(rng.below(image->height - side + 1));
  const int x0 = static_cast<int>(rng.below(image->width - side + 1));
  const bool mirror_x = rng.coin() && options_.flips;
  const bool mirror_y = rng.coin() && options_.flips;
  const bool transpose = rng.coin() && options_.rotations;
  resample_square(image->pixels.data(), image->width, x0, y0, side, crop, mirror_x, mirror_y, output);
  if (transpose)
    for (int c = 0; c < 3; ++c) {
      float* plane = output + std::size_t(c) * crop * crop;
      for (int y = 0; y < crop; ++y)
        for (int x = y + 1; x < crop; ++x) std::swap(plane[std::size_t(y) * crop + x], plane[std::size_t(x) * crop + y]);
    }
}

std::shared_ptr<const BatchLoader::RgbImage> BatchLoader::choose_image(SampleRng& rng) {
  const int64_t file_count = static_cast<int64_t>(files_.size());
  int64_t file = 0;
  for (int64_t attempt = 0; attempt < kRandomFileDraws + file_count; ++attempt) {
    file = attempt < kRandomFileDraws ? rng.below(file_count) : (file + 1) % file_count;
    if (is_unreadable(file)) continue;
    try {
      return cache_->get(file, files_[file]);
    } catch (const Error& error) {
      mark_unreadable(file, error.what());
    }
  }
  // Every file was tried in the scan above and failed.
  COSAE_FAIL(bad_input, "no readable images in ", source_name_, " (", file_count,
             file_count == 1 ? " file" : " files", " failed to decode)");
}

void BatchLoader::mark_unreadable(int64_t file, const std::string& message) {
  std::lock_guard<std::mutex> lock(unreadable_mutex_);
  if (unreadable_[file]) return;  // several samples may have failed on it at once
  unreadable_[file] = true;
  ++unreadable_count_;
  warnings_.push_back("skipped " + message);
}

bool BatchLoader::is_unreadable(int64_t file) const {
  std::lock_guard<std::mutex> lock(unreadable_mutex_);
  return unreadable_[file];
}

std::vector<std::string> BatchLoader::take_warnings() {
  std::lock_guard<std::mutex> lock(unreadable_mutex_);
  return std::exchange(warnings_, {});
}

int64_t BatchLoader::usable_files() const {
  std::lock_guard<std::mutex> lock(unreadable_mutex_);
  return static_cast<int64_t>(files_.size()) - unreadable_count_;
}

}  // namespace cosae::train
