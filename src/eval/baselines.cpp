// Builds without OpenCV have no baselines (baselines_opencv.cpp replaces this file).
#ifndef COSAE_WITH_OPENCV
#include "cosae/error.hpp"
#include "eval/baselines.hpp"

namespace cosae::eval {

bool baselines_available() { return false; }

BaselineCoded code_with_baseline(const std::string& codec, const Image&, int) {
  COSAE_FAIL(unavailable, "baseline '", codec, "' needs OpenCV: this cosae was built without it");
}

}  // namespace cosae::eval
#endif
