#include "eval/baselines.hpp"

#include <algorithm>

#include "cosae/error.hpp"

namespace cosae::eval {

const std::vector<std::string>& known_baselines() {
  static const std::vector<std::string> names = {"jpeg", "webp", "avif", "jxl"};
  return names;
}

bool baseline_available(const std::string& codec) {
#ifdef COSAE_WITH_OPENCV
  if (codec == "jpeg" || codec == "webp") return true;
#endif
#ifdef COSAE_WITH_AVIF
  if (codec == "avif") return true;
#endif
#ifdef COSAE_WITH_JXL
  if (codec == "jxl") return true;
#endif
  return false;
}

std::vector<std::string> available_baselines() {
  std::vector<std::string> out;
  for (const auto& name : known_baselines())
    if (baseline_available(name)) out.push_back(name);
  return out;
}

std::vector<int> default_baseline_qualities(const std::string& codec) {
  if (codec == "jpeg") return {5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95};
  if (codec == "webp") return {1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95};
  return {10, 20, 30, 40, 50, 60, 70, 80, 90, 95};  // avif, jxl
}

namespace {

std::string known_list() {
  std::string list;
  for (const auto& name : known_baselines()) list += (list.empty() ? "" : ", ") + name;
  return list;
}

const char* library_of(const std::string& codec) {
  if (codec == "avif") return "libavif";
  if (codec == "jxl") return "libjxl";
  return "OpenCV";
}

}  // namespace

BaselineCoded code_with_baseline(const std::string& codec, const Image& rgb8, int quality) {
  const auto& known = known_baselines();
  COSAE_CHECK(std::find(known.begin(), known.end(), codec) != known.end(), usage, "unknown baseline '", codec, "' (",
              known_list(), ")");
  COSAE_CHECK(baseline_available(codec), unavailable, "baseline '", codec, "' needs ", library_of(codec),
              ": this cosae was built without it");
  COSAE_CHECK(rgb8.channels == 3 && rgb8.bit_depth == 8, usage, "baselines take 8-bit RGB");
  COSAE_CHECK(quality >= 1 && quality <= 100, usage, codec, " quality ", quality, " outside 1..100");
#ifdef COSAE_WITH_AVIF
  if (codec == "avif") return detail::code_with_avif(rgb8, quality);
#endif
#ifdef COSAE_WITH_JXL
  if (codec == "jxl") return detail::code_with_jxl(rgb8, quality);
#endif
#ifdef COSAE_WITH_OPENCV
  return detail::code_with_opencv(codec, rgb8, quality);
#else
  COSAE_FAIL(internal, "baseline '", codec, "' has no coder");
#endif
}

}  // namespace cosae::eval
