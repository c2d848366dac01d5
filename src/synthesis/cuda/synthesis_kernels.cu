// CUDA kernels of the harmonic synthesis (maths in synthesis/synthesis_math.hpp).
//
// Layout: amplitude/phase [B, K, h, w], harmonic [B, K, hT, wT], all contiguous. A "cell row"
// is one (b, k, i): T output rows of wT pixels, fed by the w cells of row i.
//
// Forward: one block per (k, chunk of <= 256 columns, group of G cell rows (b, i)). The block
// puts the T cos/sin pairs of each separable basis angle, the coefficients (a, b) of its
// cells and each row's output offset in shared memory; every thread then owns fixed
// positions (VEC consecutive pixels of a row), forms their basis pairs once, and writes them
// for every cell row of the group with 2 FMAs per value. All rows of a block share k, hence
// the basis: grouping rows amortises the tables and the index arithmetic over more output,
// also when B = 1.
//
// Backward: block (k, slice s) walks a fixed slice of the cell rows of frequency k. Each
// thread owns VEC columns of one cell row, sums G against the row basis down them, and the
// T / VEC threads of a cell combine with warp shuffles in a fixed tree. Per-cell dA and dphase
// are written directly. Each cell's first thread keeps a running sum of its cells'
// frequency-gradient terms; at the end thread 0 adds those in thread order into one partial
// per block, and a second kernel sums the S partials of each k in order. No atomics: the same
// input gives the same bits on every run.
#include <algorithm>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "common/cuda_check.hpp"
#include "synthesis/cuda/synthesis_kernels.hpp"
#include "synthesis/synthesis_math.hpp"

namespace cosae::synthesis::cuda_kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kChunk = 256;            // forward: columns per block
constexpr int kMaxForwardTile = 256;   // the op's limit on T
constexpr int kMaxForwardCoefs = 1024; // forward: cells (x cell rows) per block
constexpr int kTargetForwardBlocks = 512;  // fewer, longer blocks: measured best (NOTES.md)
constexpr int kTargetBackwardBlocks = 1024;

template <typename T>
struct AccType {
  using type = float;
};
template <>
struct AccType<double> {
  using type = double;
};

__device__ __forceinline__ float to_acc(float v) { return v; }
__device__ __forceinline__ double to_acc(double v) { return v; }
__device__ __forceinline__ float to_acc(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_acc(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T>
__device__ __forceinline__ T from_acc(typename AccType<T>::type v);
template <>
__device__ __forceinline__ float from_acc<float>(float v) { return v; }
template <>
__device__ __forceinline__ double from_acc<double>(double v) { return v; }
template <>
__device__ __forceinline__ __half from_acc<__half>(float v) { return __float2half_rn(v); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_acc<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

// Stores VEC consecutive values; 16-byte stores for float x 4.
template <typename T, int VEC>
__device__ __forceinline__ void store_vec(T* dst, const typename AccType<T>::type* vals) {
#pragma unroll
  for (int e = 0; e < VEC; ++e) dst[e] = from_acc<T>(vals[e]);
}
template <>
__device__ __forceinline__ void store_vec<float, 4>(float* dst, const float* vals) {
  *reinterpret_cast<float4*>(dst) = make_float4(vals[0], vals[1], vals[2], vals[3]);
}

template <typename Acc>
__device__ __forceinline__ void basis_tables(const Acc* freqs, int64_t k, int tile, Acc* cos_a, Acc* sin_a,
                                             Acc* cos_b, Acc* sin_b) {
  for (int t = threadIdx.x; t < tile; t += blockDim.x) {
    sincos_pi(basis_angle_over_pi(freqs[2 * k], t, tile), &sin_a[t], &cos_a[t]);
    sincos_pi(basis_angle_over_pi(freqs[2 * k + 1], t, tile), &sin_b[t], &cos_b[t]);
  }
}

struct ForwardPlan {
  int64_t chunks;      // column chunks of kChunk per cell row
  int row_group;       // G: cell rows (b, i) of one frequency per block
  int64_t row_groups;  // ceil(B * h / G)
};

ForwardPlan plan_forward(const Shape& s) {
  ForwardPlan plan{};
  const int64_t width = s.cells_x * s.tile;
  plan.chunks = (width + kChunk - 1) / kChunk;
  const int64_t cells_per_chunk = std::min<int64_t>(s.cells_x, kChunk / s.tile + 2);
  const int64_t rows = s.batch * s.cells_y;
  const int64_t per_row = s.freqs * plan.chunks;  // blocks per cell row when G = 1
  int64_t group = std::max<int64_t>(1, per_row * rows / kTargetForwardBlocks);
  group = std::min<int64_t>({group, rows, std::max<int64_t>(1, kMaxForwardCoefs / cells_per_chunk)});
  plan.row_group = static_cast<int>(std::max<int64_t>(group, 1));
  plan.row_groups = (rows + plan.row_group - 1) / plan.row_group;
  return plan;
}

// grid.x = (k * chunks + chunk) * row_groups + group; cell row r = b * h + i. VEC = 4 needs
// T % 4 == 0. Column indices are 32-bit (the launcher checks the width).
template <typename T, int VEC>
__global__ void __launch_bounds__(kThreads) synthesis_forward_kernel(const T* __restrict__ amplitude,
                                                                     const T* __restrict__ phase,
                                                                     const typename AccType<T>::type* __restrict__ freqs,
                                                                     T* __restrict__ harmonic, int64_t K, int64_t h,
                                                                     int w, int tile, int64_t chunks, int row_group,
                                                                     int64_t row_groups, int64_t rows,
                                                                     Coefficients mode) {
  using Acc = typename AccType<T>::type;
  __shared__ Acc cos_a[kMaxForwardTile], sin_a[kMaxForwardTile], cos_b[kMaxForwardTile], sin_b[kMaxForwardTile];
  __shared__ Acc coef_a[kMaxForwardCoefs], coef_b[kMaxForwardCoefs];
  __shared__ int64_t row_offset[kMaxForwardCoefs];

  int64_t idx = blockIdx.x;
  const int64_t group = idx % row_groups;
  idx /= row_groups;
  const int chunk = static_cast<int>(idx % chunks);
  const int64_t k = idx / chunks;
  const int64_t r0 = group * row_group;
  const int nr = static_cast<int>(min(int64_t(row_group), rows - r0));

  const int width = w * tile;
  const int c0 = chunk * kChunk;
  const int cw = min(kChunk, width - c0);
  const int j0 = c0 / tile;
  const int cells = (c0 + cw - 1) / tile - j0 + 1;
  const int64_t row_pixels = int64_t(tile) * width;

  basis_tables(freqs, k, tile, cos_a, sin_a, cos_b, sin_b);
  for (int c = threadIdx.x; c < nr * cells; c += blockDim.x) {
    const int rl = c / cells, cell = c - rl * cells;
    const int64_t r = r0 + rl, b = r / h, i = r - b * h;
    const int64_t row = (b * K + k) * h + i;
    cell_coefficients(mode, to_acc(amplitude[row * w + j0 + cell]), to_acc(phase[row * w + j0 + cell]), &coef_a[c],
                      &coef_b[c]);
    if (cell == 0) row_offset[rl] = row * row_pixels + c0;
  }
  __syncthreads();

  const int vecs_per_row = cw / VEC;
  const int per_row = tile * vecs_per_row;
  // Each thread keeps fixed pixel positions of the chunk and writes them for every cell row
  // of the group (all share frequency k, hence the basis): the index arithmetic and the basis
  // products are done once per position; the row loop is two shared loads, 2 FMAs per value
  // and a store.
  for (int pos = threadIdx.x; pos < per_row; pos += blockDim.x) {
    const int y = pos / vecs_per_row;
    const int X = (pos - y * vecs_per_row) * VEC;
    const int j = (c0 + X) / tile;
    const int x0 = c0 + X - j * tile;
    const int cell = j - j0;
    Acc basis_c[VEC], basis_s[VEC];
#pragma unroll
    for (int e = 0; e < VEC; ++e) pixel_basis(cos_a[x0 + e], sin_a[x0 + e], cos_b[y], sin_b[y], &basis_c[e], &basis_s[e]);
    T* const out = harmonic + int64_t(y) * width + X;
#pragma unroll 4
    for (int rl = 0; rl < nr; ++rl) {
      const Acc a = coef_a[rl * cells + cell], b = coef_b[rl * cells + cell];
      Acc vals[VEC];
#pragma unroll
      for (int e = 0; e < VEC; ++e) vals[e] = a * basis_c[e] + b * basis_s[e];
      store_vec<T, VEC>(out + row_offset[rl], vals);
    }
  }
}

struct BackwardPlan {
  int vec;               // columns per thread: 4 when T % 4 == 0, else 1
  int slices;            // S: blocks per frequency
  int chunk_cols;        // columns per work item: a whole number of cells dividing the row
  int threads_per_item;  // chunk_cols / vec (<= kThreads)
  int items_per_pass;    // kThreads / threads_per_item work items at once
};

BackwardPlan plan_backward(const Shape& s) {
  BackwardPlan plan{};
  plan.vec = s.tile % 4 == 0 ? 4 : 1;
  const int64_t rows = s.batch * s.cells_y;
  const int64_t max_cells = std::max<int64_t>(1, kThreads * plan.vec / s.tile);
  int64_t chunk_cells = 1;
  for (int64_t c = std::min<int64_t>(max_cells, s.cells_x); c >= 1; --c)
    if (s.cells_x % c == 0) {
      chunk_cells = c;
      break;
    }
  plan.chunk_cols = static_cast<int>(chunk_cells * s.tile);
  plan.threads_per_item = plan.chunk_cols / plan.vec;
  plan.items_per_pass = kThreads / plan.threads_per_item;
  // Only the shape decides S, so a given input always reduces in the same order.
  const int64_t wanted = (kTargetBackwardBlocks + s.freqs - 1) / std::max<int64_t>(s.freqs, 1);
  plan.slices = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(wanted, rows)));
  return plan;
}

// Sum over the `group` lanes of an aligned lane group (group divides 32), fixed tree.
template <typename Acc>
__device__ __forceinline__ Acc group_sum(Acc v, int group) {
  for (int offset = group / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Loads VEC consecutive values as the accumulation type (one 16-byte load for float x 4).
template <typename T, int VEC>
__device__ __forceinline__ void load_vec(const T* src, typename AccType<T>::type* vals) {
#pragma unroll
  for (int e = 0; e < VEC; ++e) vals[e] = to_acc(src[e]);
}
template <>
__device__ __forceinline__ void load_vec<float, 4>(const float* src, float* vals) {
  const float4 v = __ldg(reinterpret_cast<const float4*>(src));
  vals[0] = v.x, vals[1] = v.y, vals[2] = v.z, vals[3] = v.w;
}

// grid.x = K * S. Block (k, s) owns cell rows [s*R/S, (s+1)*R/S) of frequency k, R = B*h.
template <typename T, int VEC>
__global__ void __launch_bounds__(kThreads) synthesis_backward_kernel(
    const T* __restrict__ grad, const T* __restrict__ amplitude, const T* __restrict__ phase,
    const typename AccType<T>::type* __restrict__ freqs, T* __restrict__ dL_dA, T* __restrict__ dL_dphase,
    typename AccType<T>::type* __restrict__ partials, int64_t K, int64_t h, int64_t w, int tile, int slices,
    int chunk_cols, int threads_per_item, int items_per_pass, int64_t rows, Coefficients mode) {
  using Acc = typename AccType<T>::type;
  __shared__ Acc cos_a[32], sin_a[32], cos_b[32], sin_b[32], cos_by[32], sin_by[32];
  __shared__ Acc cell_du[kThreads], cell_dv[kThreads];

  const int64_t k = blockIdx.x / slices;
  const int s = static_cast<int>(blockIdx.x % slices);
  const int64_t row_begin = rows * s / slices, row_end = rows * (s + 1) / slices;
  const int64_t width = w * tile;
  const int64_t chunks_per_row = width / chunk_cols;
  const int64_t items = (row_end - row_begin) * chunks_per_row;

  basis_tables(freqs, k, tile, cos_a, sin_a, cos_b, sin_b);
  for (int t = threadIdx.x; t < tile; t += blockDim.x) {
    cos_by[t] = cos_b[t] * (Acc(t) + Acc(0.5));
    sin_by[t] = sin_b[t] * (Acc(t) + Acc(0.5));
  }
  __syncthreads();

  const int lanes_per_cell = tile / VEC;
  const int item_in_pass = threadIdx.x / threads_per_item;
  const int col_in_chunk = (threadIdx.x % threads_per_item) * VEC;
  const int x0 = col_in_chunk % tile;
  const bool cell_leader = x0 == 0;
  const bool active_lane = item_in_pass < items_per_pass;
  Acc du = 0, dv = 0;  // this thread's cells (leaders only), in pass order

  for (int64_t pass = 0; pass < items; pass += items_per_pass) {
    // Every lane runs the shuffles (full-warp masks); lanes without an item sum zeros.
    const int64_t item = pass + item_in_pass;
    const bool valid = active_lane && item < items;
    int64_t row = 0, X = 0;
    Acc r_c[VEC], r_s[VEC], r_cy[VEC], r_sy[VEC];
#pragma unroll
    for (int e = 0; e < VEC; ++e) r_c[e] = r_s[e] = r_cy[e] = r_sy[e] = 0;
    if (valid) {
      const int64_t r = row_begin + item / chunks_per_row;  // r = b * h + i
      const int64_t chunk = item % chunks_per_row;
      const int64_t b = r / h, i = r % h;
      row = (b * K + k) * h + i;
      X = chunk * chunk_cols + col_in_chunk;
      const T* g = grad + row * tile * width + X;
#pragma unroll 4
      for (int y = 0; y < tile; ++y) {
        Acc gv[VEC];
        load_vec<T, VEC>(g + int64_t(y) * width, gv);
        const Acc cb = cos_b[y], sb = sin_b[y], cby = cos_by[y], sby = sin_by[y];
#pragma unroll
        for (int e = 0; e < VEC; ++e) {
          r_c[e] += gv[e] * cb;
          r_s[e] += gv[e] * sb;
          r_cy[e] += gv[e] * cby;
          r_sy[e] += gv[e] * sby;
        }
      }
    }
    Acc g_c = 0, g_s = 0, g_cx = 0, g_sx = 0, g_cy = 0, g_sy = 0;
#pragma unroll
    for (int e = 0; e < VEC; ++e) {
      Acc gc, gs, gcy, gsy;
      column_grad_sums(cos_a[x0 + e], sin_a[x0 + e], r_c[e], r_s[e], &gc, &gs);
      column_grad_sums(cos_a[x0 + e], sin_a[x0 + e], r_cy[e], r_sy[e], &gcy, &gsy);
      const Acc xw = Acc(x0 + e) + Acc(0.5);
      g_c += gc, g_s += gs, g_cx += gc * xw, g_sx += gs * xw, g_cy += gcy, g_sy += gsy;
    }
    TileGradSums<Acc> sums;
    sums.g_c = group_sum(g_c, lanes_per_cell);
    sums.g_s = group_sum(g_s, lanes_per_cell);
    sums.g_cx = group_sum(g_cx, lanes_per_cell);
    sums.g_sx = group_sum(g_sx, lanes_per_cell);
    sums.g_cy = group_sum(g_cy, lanes_per_cell);
    sums.g_sy = group_sum(g_sy, lanes_per_cell);
    if (valid && cell_leader) {
      const int64_t cell = row * w + X / tile;
      Acc dA, dphase, cell_du_term, cell_dv_term;
      cell_gradients(mode, sums, to_acc(amplitude[cell]), to_acc(phase[cell]), tile, &dA, &dphase, &cell_du_term,
                     &cell_dv_term);
      dL_dA[cell] = from_acc<T>(dA);
      dL_dphase[cell] = from_acc<T>(dphase);
      du += cell_du_term;
      dv += cell_dv_term;
    }
  }
  cell_du[threadIdx.x] = du;  // zero for non-leaders
  cell_dv[threadIdx.x] = dv;
  __syncthreads();
  if (threadIdx.x == 0) {
    Acc total_u = 0, total_v = 0;
    for (int t = 0; t < kThreads; t += lanes_per_cell) total_u += cell_du[t], total_v += cell_dv[t];
    partials[2 * blockIdx.x] = total_u;
    partials[2 * blockIdx.x + 1] = total_v;
  }
}

// One thread per frequency: sums its S partials in order.
template <typename Acc>
__global__ void sum_partials_kernel(const Acc* __restrict__ partials, Acc* __restrict__ dL_dfreq, int64_t K,
                                    int slices) {
  const int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= K) return;
  Acc du = 0, dv = 0;
  for (int s = 0; s < slices; ++s) {
    du += partials[2 * (k * slices + s)];
    dv += partials[2 * (k * slices + s) + 1];
  }
  dL_dfreq[2 * k] = du;
  dL_dfreq[2 * k + 1] = dv;
}

template <typename T>
void launch_forward(Coefficients mode, const Shape& s, const void* amplitude, const void* phase, const void* freqs, void* harmonic,
                    cudaStream_t stream) {
  using Acc = typename AccType<T>::type;
  const ForwardPlan plan = plan_forward(s);
  const int64_t blocks = s.freqs * plan.chunks * plan.row_groups;
  COSAE_CHECK(blocks < (int64_t(1) << 31) && s.cells_x * s.tile < (int64_t(1) << 30), usage,
              "harmonic synthesis: input too large");
  auto launch = [&](auto kernel) {
    kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
        static_cast<const T*>(amplitude), static_cast<const T*>(phase), static_cast<const Acc*>(freqs),
        static_cast<T*>(harmonic), s.freqs, s.cells_y, static_cast<int>(s.cells_x), static_cast<int>(s.tile),
        plan.chunks, plan.row_group, plan.row_groups, s.batch * s.cells_y, mode);
  };
  if (s.tile % 4 == 0)
    launch(synthesis_forward_kernel<T, 4>);
  else
    launch(synthesis_forward_kernel<T, 1>);
  CUDA_CHECK_LAUNCH();
}

template <typename T>
void launch_backward(Coefficients mode, const Shape& s, const void* grad, const void* amplitude, const void* phase, const void* freqs,
                     void* dA, void* dphase, void* dfreq, void* scratch, cudaStream_t stream) {
  using Acc = typename AccType<T>::type;
  COSAE_CHECK(backward_supports_tile(s.tile), usage,
              "harmonic synthesis backward on CUDA: tile size must be 1, 2, 4, 8, 16 or 32, got ", s.tile);
  const BackwardPlan plan = plan_backward(s);
  const int64_t blocks = s.freqs * plan.slices;
  COSAE_CHECK(blocks < (int64_t(1) << 31), usage, "harmonic synthesis: input too large");
  auto launch = [&](auto kernel) {
    kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
        static_cast<const T*>(grad), static_cast<const T*>(amplitude), static_cast<const T*>(phase),
        static_cast<const Acc*>(freqs), static_cast<T*>(dA), static_cast<T*>(dphase), static_cast<Acc*>(scratch),
        s.freqs, s.cells_y, s.cells_x, static_cast<int>(s.tile), plan.slices, plan.chunk_cols,
        plan.threads_per_item, plan.items_per_pass, s.batch * s.cells_y, mode);
  };
  if (plan.vec == 4)
    launch(synthesis_backward_kernel<T, 4>);
  else
    launch(synthesis_backward_kernel<T, 1>);
  CUDA_CHECK_LAUNCH();
  const int threads = 128;
  sum_partials_kernel<Acc><<<static_cast<unsigned>((s.freqs + threads - 1) / threads), threads, 0, stream>>>(
      static_cast<const Acc*>(scratch), static_cast<Acc*>(dfreq), s.freqs, plan.slices);
  CUDA_CHECK_LAUNCH();
}

}  // namespace

bool backward_supports_tile(int64_t tile) { return tile >= 1 && tile <= 32 && (32 % tile) == 0; }

int64_t backward_scratch_elements(const Shape& shape) {
  if (!backward_supports_tile(shape.tile) || shape.freqs == 0) return 0;
  return 2 * shape.freqs * plan_backward(shape).slices;
}

void forward(DType dtype, Coefficients mode, const Shape& s, const void* amplitude, const void* phase, const void* freqs,
             void* harmonic, cudaStream_t stream) {
  COSAE_CHECK(s.tile >= 1 && s.tile <= kMaxForwardTile, usage, "harmonic synthesis: tile size ", s.tile,
              " outside [1, ", kMaxForwardTile, "]");
  if (s.batch * s.freqs * s.cells_y * s.cells_x == 0) return;
  switch (dtype) {
    case DType::f32: return launch_forward<float>(mode, s, amplitude, phase, freqs, harmonic, stream);
    case DType::f64: return launch_forward<double>(mode, s, amplitude, phase, freqs, harmonic, stream);
    case DType::f16: return launch_forward<__half>(mode, s, amplitude, phase, freqs, harmonic, stream);
    case DType::bf16: return launch_forward<__nv_bfloat16>(mode, s, amplitude, phase, freqs, harmonic, stream);
  }
}

void backward(DType dtype, Coefficients mode, const Shape& s, const void* grad, const void* amplitude, const void* phase,
              const void* freqs, void* dA, void* dphase, void* dfreq, void* scratch, cudaStream_t stream) {
  if (s.freqs == 0) return;
  switch (dtype) {
    case DType::f32: return launch_backward<float>(mode, s, grad, amplitude, phase, freqs, dA, dphase, dfreq, scratch, stream);
    case DType::f64: return launch_backward<double>(mode, s, grad, amplitude, phase, freqs, dA, dphase, dfreq, scratch, stream);
    case DType::f16: return launch_backward<__half>(mode, s, grad, amplitude, phase, freqs, dA, dphase, dfreq, scratch, stream);
    case DType::bf16:
      return launch_backward<__nv_bfloat16>(mode, s, grad, amplitude, phase, freqs, dA, dphase, dfreq, scratch, stream);
  }
}

}  // namespace cosae::synthesis::cuda_kernels
