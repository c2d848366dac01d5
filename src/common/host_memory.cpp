#include "common/host_memory.hpp"

#include <climits>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_map>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include <c10/core/CPUAllocator.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace cosae {

void keep_freed_memory() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, INT_MAX);
#endif
}

#if defined(__linux__)
namespace {

constexpr std::size_t kHugePage = std::size_t{2} << 20;
#ifndef MADV_POPULATE_WRITE
constexpr int MADV_POPULATE_WRITE = 23;  // Linux 5.14
#endif

// Blocks of whole huge pages, never unmapped: a freed block serves the next request that it
// fits without wasting more than half of it.
class HugePagePool {
 public:
  void* take(std::size_t size) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.lower_bound(size);
      if (it != free_.end() && it->first <= 2 * size) {
        void* block = it->second;
        free_.erase(it);
        return block;
      }
    }
    void* block = map(size);
    if (block) {
      std::lock_guard<std::mutex> relock(mutex_);
      sizes_[block] = size;
    }
    return block;
  }

  // False when `block` is not one of the pool's.
  bool give_back(void* block) {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = sizes_.find(block);
    if (it == sizes_.end()) return false;
    free_.emplace(it->second, block);
    return true;
  }

 private:
  static void* map(std::size_t size) {
    void* raw = ::mmap(nullptr, size + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return nullptr;
    // Aligned to a huge page, the rest unmapped.
    auto* start = static_cast<char*>(raw);
    auto* block = reinterpret_cast<char*>((reinterpret_cast<std::uintptr_t>(start) + kHugePage - 1) & ~(kHugePage - 1));
    if (block > start) ::munmap(start, static_cast<std::size_t>(block - start));
    const std::size_t tail = kHugePage - static_cast<std::size_t>(block - start);
    if (tail > 0) ::munmap(block + size, tail);
    ::madvise(block, size, MADV_HUGEPAGE);
    ::madvise(block, size, MADV_POPULATE_WRITE);  // one call rather than a fault per page (may be unsupported)
    return block;
  }

  std::mutex mutex_;
  std::multimap<std::size_t, void*> free_;     // size -> block
  std::unordered_map<void*, std::size_t> sizes_;  // every block the pool mapped
};

HugePagePool& pool() {
  static auto* instance = new HugePagePool;  // never destroyed: tensors may outlive main()
  return *instance;
}

c10::Allocator* fallback_allocator = nullptr;

void release(void* block) {
  if (!pool().give_back(block)) fallback_allocator->raw_deleter()(block);
}

class HugePageAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(std::size_t bytes) const override {
    if (bytes >= kHugePage) {
      const std::size_t size = (bytes + kHugePage - 1) / kHugePage * kHugePage;
      if (void* block = pool().take(size)) return {block, block, &release, c10::Device(c10::DeviceType::CPU)};
    }
    return fallback_allocator->allocate(bytes);
  }
  // raw_allocate's blocks come back through release, which hands the small ones to the fallback.
  c10::DeleterFnPtr raw_deleter() const override { return &release; }
};

}  // namespace
#endif

void use_huge_pages_for_large_tensors() {
#if defined(__linux__)
  static HugePageAllocator allocator;
  static std::once_flag once;
  std::call_once(once, [] {
    fallback_allocator = c10::GetCPUAllocator();
    if (!fallback_allocator->raw_deleter()) return;  // one we could not hand raw blocks back to
    c10::SetCPUAllocator(&allocator, /*priority=*/1);
  });
#endif
}

}  // namespace cosae
