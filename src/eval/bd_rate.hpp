// Bjøntegaard delta rate and delta PSNR between two rate-distortion curves (VCEG-M33).
//
// Each curve is 4 or more {bpp, psnr} points in any order. Rates are compared in the log
// domain. Two ways to turn the points into a curve:
// - BdMethod::cubic: Bjøntegaard's original least-squares cubic polynomial (log-rate as a
//   function of PSNR for BD-rate; PSNR as a function of log-rate for BD-PSNR).
// - BdMethod::pchip: piecewise cubic Hermite interpolation through the points (Fritsch-Carlson
//   slopes, as scipy's PchipInterpolator), which JVET's CTC sheets and CompressAI recommend:
//   it never overshoots between points, where a global cubic can.
// Either curve is integrated exactly over the range both curves cover (PSNR for BD-rate,
// log-rate for BD-PSNR), and the mean difference is reported:
// - bd_rate: percent rate change of `test` against `anchor` at equal quality
//   (negative = test needs fewer bits; rates all scaled by r give (r - 1) * 100).
// - bd_psnr: mean PSNR gain of `test` over `anchor` in dB at equal rate.
//
// Throws cosae::Error (usage) for a curve with fewer than 4 points, a rate that is not
// positive, a value that is not finite, two points sharing a rate or a PSNR, (pchip only) a
// curve whose PSNR does not rise strictly with rate, or curves whose ranges do not overlap.
#pragma once

#include <vector>

namespace cosae::eval {

struct RdPoint {
  double bpp = 0;   // rate, bits per pixel (any positive rate unit works: only ratios matter)
  double psnr = 0;  // quality, dB
};

enum class BdMethod { cubic, pchip };

double bd_rate(const std::vector<RdPoint>& anchor, const std::vector<RdPoint>& test,
               BdMethod method = BdMethod::pchip);
double bd_psnr(const std::vector<RdPoint>& anchor, const std::vector<RdPoint>& test,
               BdMethod method = BdMethod::pchip);

}  // namespace cosae::eval
