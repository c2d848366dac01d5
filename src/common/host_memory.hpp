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

// CPU tensors of 2 MB and more in transparent huge pages, mapped ready (MADV_HUGEPAGE and
// MADV_POPULATE_WRITE) and kept for reuse when freed; smaller ones from LibTorch's allocator as
// before. Touching fresh memory page by page costs about 3 ms per MB on some virtual machines
// (a fault per 4 kB page, and a TLB that covers little of it): loading a model's float32
// weights cost more than reading and converting them. In huge pages it costs a fraction of a
// millisecond per MB. Where the kernel offers no huge pages, the blocks are ordinary memory.
// Like keep_freed_memory, the process keeps its peak until it exits. Call once, before the
// model is loaded; Linux only (elsewhere a no-op).
void use_huge_pages_for_large_tensors();

}  // namespace cosae
