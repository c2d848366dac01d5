#include "train/progress.hpp"

#include <cmath>

#include <unistd.h>

#include <cstdio>

namespace cosae::train {

Progress::Progress(std::ostream& out, int64_t first_step, int64_t total_steps, int64_t plain_every)
    : out_(out),
      terminal_(::isatty(STDERR_FILENO) == 1),
      first_(first_step),
      total_(total_steps),
      plain_every_(plain_every > 0 ? plain_every : 100),
      last_step_(first_step),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

double Progress::steps_per_second() const {
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  return seconds > 0 ? static_cast<double>(last_step_ - first_) / seconds : 0.0;
}

void Progress::update(int64_t step, double loss, double bpp, double psnr) {
  last_step_ = step;
  const auto now = std::chrono::steady_clock::now();
  const double rate = steps_per_second();
  const double eta = rate > 0 ? static_cast<double>(total_ - step) / rate : 0;
  char line[256], quality[32] = "";
  if (std::isfinite(psnr)) std::snprintf(quality, sizeof quality, "  PSNR %.2f dB", psnr);  // none when only the rate trains
  if (terminal_) {
    if (step != total_ && now - last_draw_ < std::chrono::milliseconds(200)) return;
    last_draw_ = now;
    const int width = 24;
    const int filled = total_ > 0 ? static_cast<int>(width * step / total_) : width;
    std::string bar(static_cast<std::size_t>(filled), '#');
    bar.resize(width, '.');
    std::snprintf(line, sizeof line, "\r[%s] %lld/%lld  %.2f it/s  ETA %.0fs  loss %.4f  bpp %.3f%s ", bar.c_str(),
                  static_cast<long long>(step), static_cast<long long>(total_), rate, eta, loss, bpp, quality);
    out_ << line << std::flush;
    drawn_ = true;
  } else if (step % plain_every_ == 0 || step == total_) {
    std::snprintf(line, sizeof line, "step %lld/%lld  %.2f it/s  ETA %.0fs  loss %.4f  bpp %.3f%s\n",
                  static_cast<long long>(step), static_cast<long long>(total_), rate, eta, loss, bpp, quality);
    out_ << line << std::flush;
  }
}

void Progress::message(const std::string& line) {
  if (terminal_ && drawn_) out_ << "\r\033[K";
  out_ << line << "\n" << std::flush;
  drawn_ = false;
}

void Progress::finish() {
  if (terminal_ && drawn_) out_ << "\n" << std::flush;
  drawn_ = false;
}

}  // namespace cosae::train
