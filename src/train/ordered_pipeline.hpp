// Runs work(i) for i = 0, 1, ... count-1 on a pool of threads and hands the results back in
// index order. Workers run at most `window` items ahead of the consumer, which bounds memory
// (each result may be a whole encoded image) however slow the consumer is.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace cosae::train {

template <typename Result>
class OrderedPipeline {
 public:
  OrderedPipeline(int64_t count, int threads, std::function<Result(int64_t)> work)
      : count_(count), window_(std::max<int64_t>(2, 2 * int64_t(threads))), work_(std::move(work)),
        slots_(static_cast<std::size_t>(window_)), ready_(static_cast<std::size_t>(window_), false),
        failures_(static_cast<std::size_t>(window_)) {
    for (int i = 0; i < std::max(1, threads); ++i) workers_.emplace_back([this] { run_worker(); });
  }
  // Stops claiming new items, lets running ones finish, joins.
  ~OrderedPipeline() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    claim_allowed_.notify_all();
    for (auto& worker : workers_) worker.join();
  }
  OrderedPipeline(const OrderedPipeline&) = delete;
  OrderedPipeline& operator=(const OrderedPipeline&) = delete;

  // The result of item `index`; must be called for 0, 1, 2, ... in turn. Rethrows what
  // work(index) threw.
  Result take(int64_t index) {
    const std::size_t slot = static_cast<std::size_t>(index % window_);
    std::unique_lock<std::mutex> lock(mutex_);
    item_done_.wait(lock, [&] { return ready_[slot]; });
    Result result = std::move(slots_[slot]);
    std::exception_ptr failure = std::move(failures_[slot]);
    slots_[slot] = Result{};
    failures_[slot] = nullptr;
    ready_[slot] = false;
    consumed_ = index + 1;
    lock.unlock();
    claim_allowed_.notify_all();
    if (failure) std::rethrow_exception(failure);
    return result;
  }

 private:
  void run_worker() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (true) {
      claim_allowed_.wait(lock, [&] { return stopping_ || next_ >= count_ || next_ < consumed_ + window_; });
      if (stopping_ || next_ >= count_) return;
      const int64_t index = next_++;
      lock.unlock();
      Result result{};
      std::exception_ptr failure;
      try {
        result = work_(index);
      } catch (...) {
        failure = std::current_exception();
      }
      lock.lock();
      const std::size_t slot = static_cast<std::size_t>(index % window_);
      slots_[slot] = std::move(result);
      failures_[slot] = std::move(failure);
      ready_[slot] = true;
      item_done_.notify_all();
    }
  }

  const int64_t count_;
  const int64_t window_;
  const std::function<Result(int64_t)> work_;
  std::mutex mutex_;
  std::condition_variable claim_allowed_;
  std::condition_variable item_done_;
  std::vector<Result> slots_;  // item i lives in slot i % window until taken
  std::vector<bool> ready_;
  std::vector<std::exception_ptr> failures_;
  int64_t next_ = 0;      // next item to claim
  int64_t consumed_ = 0;  // items taken by the consumer
  bool stopping_ = false;
  std::vector<std::thread> workers_;  // last: started once everything above exists
};

}  // namespace cosae::train
