#include "entropy/cdf_table.hpp"

#include <algorithm>
#include <cmath>
#include <queue>
#include <utility>

#include "cosae/error.hpp"

namespace cosae::entropy {
namespace {

// Change in coded size (bits per coded symbol, weighted by probability) when a frequency grows
// from f to f + 1; the same quantity for f - 1 -> f is what shrinking it back costs.
double bits_saved_by_increment(double probability, int64_t frequency) {
  return probability * std::log2(static_cast<double>(frequency + 1) / static_cast<double>(frequency));
}

// Quantises probabilities (already checked, summing to `total` > 0) into frequencies >= 1
// that sum to exactly kTotalFrequency. Rounding first, then unit steps chosen greedily: the
// coded size -sum p log2 f is separable and convex in each f, so always taking the step with
// the best marginal effect reaches the best table reachable from the rounded start.
std::vector<int64_t> quantise(const std::vector<double>& probability, double total) {
  const size_t count = probability.size();
  std::vector<int64_t> frequency(count);
  int64_t sum = 0;
  for (size_t i = 0; i < count; ++i) {
    const double scaled = probability[i] / total * static_cast<double>(kTotalFrequency);
    frequency[i] = std::max<int64_t>(1, std::llround(scaled));
    sum += frequency[i];
  }
  using Candidate = std::pair<double, size_t>;  // (score, symbol); ties go to the lower symbol
  if (sum < static_cast<int64_t>(kTotalFrequency)) {
    auto worse = [](const Candidate& a, const Candidate& b) {
      return a.first < b.first || (a.first == b.first && a.second > b.second);
    };
    std::priority_queue<Candidate, std::vector<Candidate>, decltype(worse)> best_gain(worse);
    for (size_t i = 0; i < count; ++i) best_gain.push({bits_saved_by_increment(probability[i], frequency[i]), i});
    for (; sum < static_cast<int64_t>(kTotalFrequency); ++sum) {
      const size_t symbol = best_gain.top().second;
      best_gain.pop();
      ++frequency[symbol];
      best_gain.push({bits_saved_by_increment(probability[symbol], frequency[symbol]), symbol});
    }
  } else if (sum > static_cast<int64_t>(kTotalFrequency)) {
    auto worse = [](const Candidate& a, const Candidate& b) {
      return a.first > b.first || (a.first == b.first && a.second > b.second);
    };
    std::priority_queue<Candidate, std::vector<Candidate>, decltype(worse)> least_loss(worse);
    for (size_t i = 0; i < count; ++i) {
      if (frequency[i] > 1) least_loss.push({bits_saved_by_increment(probability[i], frequency[i] - 1), i});
    }
    // Terminates: count <= kMaxSymbols, so the sum reaches the total before all are 1.
    for (; sum > static_cast<int64_t>(kTotalFrequency); --sum) {
      const size_t symbol = least_loss.top().second;
      least_loss.pop();
      --frequency[symbol];
      if (frequency[symbol] > 1) {
        least_loss.push({bits_saved_by_increment(probability[symbol], frequency[symbol] - 1), symbol});
      }
    }
  }
  return frequency;
}

template <typename Real>
CdfTable table_from_pmf(int32_t offset, const std::vector<Real>& pmf, double tail_mass) {
  const int64_t value_count = static_cast<int64_t>(pmf.size());
  COSAE_CHECK(value_count >= 1 && value_count + 1 <= kMaxSymbols, usage, "CDF table: pmf has ", value_count,
              " values; expected 1..", kMaxSymbols - 1);
  COSAE_CHECK(offset >= -kMaxMagnitude && offset + value_count - 1 <= kMaxMagnitude, usage,
              "CDF table: value range [", offset, ", ", offset + value_count - 1, "] exceeds +-", kMaxMagnitude);
  std::vector<double> probability(pmf.begin(), pmf.end());
  probability.push_back(tail_mass);
  double total = 0.0;
  for (size_t i = 0; i < probability.size(); ++i) {
    COSAE_CHECK(std::isfinite(probability[i]) && probability[i] >= 0.0, usage, "CDF table: probability ",
                probability[i], " at symbol ", i, " is negative or not finite");
    total += probability[i];
  }
  COSAE_CHECK(total > 0.0 && std::isfinite(total), usage, "CDF table: probabilities sum to ", total);
  const std::vector<int64_t> frequency = quantise(probability, total);
  std::vector<uint32_t> cdf(frequency.size() + 1, 0);
  for (size_t i = 0; i < frequency.size(); ++i) cdf[i + 1] = cdf[i] + static_cast<uint32_t>(frequency[i]);
  return CdfTable::from_cdf(offset, std::move(cdf));
}

}  // namespace

CdfTable CdfTable::from_cdf(int32_t offset, std::vector<uint32_t> cdf) {
  validate(offset, cdf);
  return CdfTable(offset, std::move(cdf));
}

CdfTable CdfTable::from_pmf(int32_t offset, const std::vector<double>& pmf, double tail_mass) {
  return table_from_pmf(offset, pmf, tail_mass);
}

CdfTable CdfTable::from_pmf(int32_t offset, const std::vector<float>& pmf, double tail_mass) {
  return table_from_pmf(offset, pmf, tail_mass);
}

void CdfTable::validate(int32_t offset, const std::vector<uint32_t>& cdf) {
  const int64_t symbols = static_cast<int64_t>(cdf.size()) - 1;
  COSAE_CHECK(symbols >= 2 && symbols <= kMaxSymbols, model, "CDF table: ", symbols,
              " symbols; expected 2..", kMaxSymbols);
  COSAE_CHECK(cdf.front() == 0, model, "CDF table: starts at ", cdf.front(), ", not 0");
  COSAE_CHECK(cdf.back() == kTotalFrequency, model, "CDF table: total ", cdf.back(), ", expected ",
              kTotalFrequency);
  for (size_t i = 0; i + 1 < cdf.size(); ++i) {
    COSAE_CHECK(cdf[i + 1] > cdf[i], model, "CDF table: symbol ", i, " has frequency <= 0 (cdf ", cdf[i],
                " then ", cdf[i + 1], ")");
  }
  // One in-range value fewer than symbols (the last is ESCAPE).
  const int64_t max_value = static_cast<int64_t>(offset) + symbols - 2;
  COSAE_CHECK(offset >= -kMaxMagnitude && max_value <= kMaxMagnitude, model, "CDF table: value range [", offset,
              ", ", max_value, "] exceeds +-", kMaxMagnitude);
}

int32_t CdfTable::symbol_for_slot(uint32_t slot) const {
  // Branch-free binary search for the last symbol whose start is <= slot (the answer stays in
  // [first, first + count); cdf[0] = 0 <= slot): data-dependent branches would mispredict on
  // every other step, since slots are as random as the coded data.
  const uint32_t* first = cdf_.data();
  size_t count = cdf_.size() - 1;
  while (count > 1) {
    const size_t half = count / 2;
    first = first[half] <= slot ? first + half : first;
    count -= half;
  }
  return static_cast<int32_t>(first - cdf_.data());
}

double CdfTable::cost_bits(int32_t value) const {
  COSAE_CHECK(!empty(), usage, "CDF table: cost of a value under an empty table");
  COSAE_CHECK(value >= -kMaxMagnitude && value <= kMaxMagnitude, usage, "CDF table: value ", value,
              " exceeds +-", kMaxMagnitude);
  if (in_range(value)) return kPrecisionBits - std::log2(static_cast<double>(frequency(value - offset_)));
  const int64_t distance = value > max_value() ? int64_t{value} - max_value() - 1 : int64_t{min_value()} - value - 1;
  const int length = bit_length(static_cast<uint64_t>(distance) + 1);
  return kPrecisionBits - std::log2(static_cast<double>(frequency(escape_symbol()))) + 1 + kEscapeLengthFieldBits +
         (length - 1);
}

}  // namespace cosae::entropy
