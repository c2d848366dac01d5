// parallel_for on std::threads.
//
// LibTorch's at::parallel_for is header code: with its OpenMP backend it parallelises only
// in translation units compiled with -fopenmp, and runs serially everywhere else, which is
// how our sources are built (one OpenMP runtime in the process: LibTorch's). This helper
// splits [begin, end) into contiguous chunks of at least `grain` items over at most
// at::get_num_threads() threads (so `--threads` and OMP_NUM_THREADS still bound it); the
// calling thread runs the first chunk. The first exception thrown by any chunk is rethrown
// once all have finished.
#pragma once

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace cosae {

template <typename F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, const F& f) {
  if (begin >= end) return;
  const int64_t items = end - begin;
  const int64_t chunks =
      std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), items / std::max<int64_t>(1, grain)));
  if (chunks == 1) {
    f(begin, end);
    return;
  }
  std::exception_ptr error;
  std::mutex error_mutex;
  auto run = [&](int64_t chunk) {
    try {
      f(begin + items * chunk / chunks, begin + items * (chunk + 1) / chunks);
    } catch (...) {
      const std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(chunks - 1));
  for (int64_t chunk = 1; chunk < chunks; ++chunk) threads.emplace_back(run, chunk);
  run(0);
  for (auto& thread : threads) thread.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace cosae
