// Training progress on stderr: a one-line bar redrawn in place on a terminal, plain lines
// every `plain_every` steps otherwise.
#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

namespace cosae::train {

class Progress {
 public:
  Progress(std::ostream& out, int64_t first_step, int64_t total_steps, int64_t plain_every);
  // After step `step` (1-based count of steps done) with its metrics.
  void update(int64_t step, double loss, double bpp, double psnr);
  // A line that must not be overwritten (warnings, validation results).
  void message(const std::string& line);
  void finish();
  double steps_per_second() const;

 private:
  std::ostream& out_;
  bool terminal_;
  int64_t first_, total_, plain_every_, last_step_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool drawn_ = false;
};

}  // namespace cosae::train
