// Host memory policy for the cosae programs.
#pragma once

namespace cosae {

// Keeps freed memory in the process for reuse (glibc: no mmap for large blocks, no trimming
// of the heap). LibTorch allocates and frees tensors of tens of MB per operation on the CPU;
// by default glibc maps each one fresh and unmaps it on free, so every operation faults its
// pages in again. A 512x512 CPU decode took 2.6 s that way and 1.3 s without. The cost: the
// process keeps its peak heap until it exits. Call once, first thing in main(); a no-op
// elsewhere than glibc.
void keep_freed_memory();

}  // namespace cosae
