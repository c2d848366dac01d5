// CUDA kernels of the harmonic synthesis (maths in synthesis/synthesis_math.hpp).
//
// Layout: amplitude/phase [B, K, h, w], harmonic [B, K, hT, wT], all contiguous. A "cell row"
// is one (b, k, i): T output rows of wT pixels, fed by the w cells of row i.
//
// Forward: one block per (cell row, chunk of <= 256 columns). The block puts the T cos/sin
// pairs of each separable basis angle and the chunk's cell coefficients (a, b) in shared
// memory; every thread then writes VEC consecutive pixels of a row with 2 FMAs each.
//
// Backward: block (k, slice s) walks a fixed slice of the cell rows of frequency k. Each
// thread owns one column of one cell row, sums G against the row basis down its column, and
// the T columns of a cell combine with warp shuffles in a fixed tree. Per-cell dA and dphase
// are written directly; the cells' frequency-gradient terms are summed by thread 0 in a fixed
// order into one partial per block, and a second kernel sums the S partials of each k in order.
// Same input, same bits, every run.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "common/cuda_check.hpp"
#include "synthesis/cuda/synthesis_kernels.hpp"
#include "synthesis/synthesis_math.hpp"

namespace cosae::synthesis::cuda_kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kChunk = 256;          // forward: columns per block
constexpr int kMaxForwardTile = 256;  // the op's limit on T
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

// grid.x: cell rows (B*K*h); grid.y: column chunks of kChunk. VEC = 4 needs T % 4 == 0.
template <typename T, int VEC>
__global__ void __launch_bounds__(kThreads) synthesis_forward_kernel(const T* __restrict__ amplitude,
                                                                     const T* __restrict__ phase,
                                                                     const typename AccType<T>::type* __restrict__ freqs,
                                                                     T* __restrict__ harmonic, int64_t K, int64_t h,
                                                                     int64_t w, int tile) {
  using Acc = typename AccType<T>::type;
  __shared__ Acc cos_a[kMaxForwardTile], sin_a[kMaxForwardTile], cos_b[kMaxForwardTile], sin_b[kMaxForwardTile];
  __shared__ Acc coef_a[kChunk + 2], coef_b[kChunk + 2];

  const int64_t row = blockIdx.x;  // (b * K + k) * h + i
  const int64_t k = (row / h) % K;
  const int64_t width = w * tile;
  const int64_t c0 = int64_t(blockIdx.y) * kChunk;
  const int cw = static_cast<int>(min(int64_t(kChunk), width - c0));
  const int64_t j0 = c0 / tile;
  const int cells = static_cast<int>((c0 + cw - 1) / tile - j0 + 1);

  basis_tables(freqs, k, tile, cos_a, sin_a, cos_b, sin_b);
  for (int c = threadIdx.x; c < cells; c += blockDim.x) {
    const int64_t idx = row * w + j0 + c;
    cell_coefficients(to_acc(amplitude[idx]), to_acc(phase[idx]), &coef_a[c], &coef_b[c]);
  }
  __syncthreads();

  const int vecs_per_row = cw / VEC;
  const int n = tile * vecs_per_row;
  T* out = harmonic + row * tile * width + c0;
  for (int v = threadIdx.x; v < n; v += blockDim.x) {
    const int y = v / vecs_per_row;
    const int X = (v - y * vecs_per_row) * VEC;  // column within the chunk
    const Acc cb = cos_b[y], sb = sin_b[y];
    Acc vals[VEC];
    const int64_t col0 = c0 + X;
    if (VEC > 1) {  // the VEC columns share one cell (T % VEC == 0, chunk starts are aligned)
      const int64_t j = col0 / tile;
      const int x0 = static_cast<int>(col0 - j * tile);
      const Acc a = coef_a[j - j0], b = coef_b[j - j0];
#pragma unroll
      for (int e = 0; e < VEC; ++e) {
        Acc p, q;
        column_terms(a, b, cos_a[x0 + e], sin_a[x0 + e], &p, &q);
        vals[e] = harmonic_value(p, q, cb, sb);
      }
    } else {
      const int64_t j = col0 / tile;
      const int x = static_cast<int>(col0 - j * tile);
      Acc p, q;
      column_terms(coef_a[j - j0], coef_b[j - j0], cos_a[x], sin_a[x], &p, &q);
      vals[0] = harmonic_value(p, q, cb, sb);
    }
    store_vec<T, VEC>(out + int64_t(y) * width + X, vals);
  }
}

struct BackwardPlan {
  int slices;          // S: blocks per frequency
  int chunk_cells;     // cells per work item (a divisor of w, chunk_cells * T <= kThreads)
  int chunk_cols;      // CW = chunk_cells * T
  int items_per_pass;  // P = kThreads / CW work items at once
};

BackwardPlan plan_backward(const Shape& s) {
  BackwardPlan plan{};
  const int64_t rows = s.batch * s.cells_y;
  const int64_t max_cells = kThreads / s.tile;
  plan.chunk_cells = 1;
  for (int64_t c = std::min<int64_t>(max_cells, s.cells_x); c >= 1; --c)
    if (s.cells_x % c == 0) {
      plan.chunk_cells = static_cast<int>(c);
      break;
    }
  plan.chunk_cols = plan.chunk_cells * static_cast<int>(s.tile);
  plan.items_per_pass = kThreads / plan.chunk_cols;
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

// grid.x = K * S. Block (k, s) owns cell rows [s*R/S, (s+1)*R/S) of frequency k, R = B*h.
template <typename T>
__global__ void __launch_bounds__(kThreads) synthesis_backward_kernel(
    const T* __restrict__ grad, const T* __restrict__ amplitude, const T* __restrict__ phase,
    const typename AccType<T>::type* __restrict__ freqs, T* __restrict__ dL_dA, T* __restrict__ dL_dphase,
    typename AccType<T>::type* __restrict__ partials, int64_t K, int64_t h, int64_t w, int tile, int slices,
    int chunk_cols, int items_per_pass, int64_t rows) {
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

  const int item_in_pass = threadIdx.x / chunk_cols;
  const int col_in_chunk = threadIdx.x % chunk_cols;
  const int x = col_in_chunk % tile;
  const int slot = threadIdx.x / tile;  // one cell per group of T lanes
  const int slots_used = items_per_pass * chunk_cols / tile;
  const bool active_lane = item_in_pass < items_per_pass;
  Acc du = 0, dv = 0;

  for (int64_t pass = 0; pass < items; pass += items_per_pass) {
    // Every lane runs the shuffles (full-warp masks); lanes without an item sum zeros.
    const int64_t item = pass + item_in_pass;
    const bool valid = active_lane && item < items;
    int64_t row = 0, X = 0;
    Acc r_c = 0, r_s = 0, r_cy = 0, r_sy = 0;
    if (valid) {
      const int64_t r = row_begin + item / chunks_per_row;  // r = b * h + i
      const int64_t chunk = item % chunks_per_row;
      const int64_t b = r / h, i = r % h;
      row = (b * K + k) * h + i;
      X = chunk * chunk_cols + col_in_chunk;
      const T* g = grad + row * tile * width + X;
#pragma unroll 8
      for (int y = 0; y < tile; ++y) {
        const Acc gv = to_acc(g[int64_t(y) * width]);
        r_c += gv * cos_b[y];
        r_s += gv * sin_b[y];
        r_cy += gv * cos_by[y];
        r_sy += gv * sin_by[y];
      }
    }
    Acc gc, gs, gcy, gsy;
    column_grad_sums(cos_a[x], sin_a[x], r_c, r_s, &gc, &gs);
    column_grad_sums(cos_a[x], sin_a[x], r_cy, r_sy, &gcy, &gsy);
    const Acc xw = Acc(x) + Acc(0.5);
    TileGradSums<Acc> sums;
    sums.g_c = group_sum(gc, tile);
    sums.g_s = group_sum(gs, tile);
    sums.g_cx = group_sum(gc * xw, tile);
    sums.g_sx = group_sum(gs * xw, tile);
    sums.g_cy = group_sum(gcy, tile);
    sums.g_sy = group_sum(gsy, tile);
    Acc my_du = 0, my_dv = 0;
    if (valid && x == 0) {
      const int64_t cell = row * w + X / tile;
      Acc dA, dphase;
      cell_gradients(sums, to_acc(amplitude[cell]), to_acc(phase[cell]), tile, &dA, &dphase, &my_du, &my_dv);
      dL_dA[cell] = from_acc<T>(dA);
      dL_dphase[cell] = from_acc<T>(dphase);
    }
    if (x == 0) {
      cell_du[slot] = my_du;
      cell_dv[slot] = my_dv;
    }
    __syncthreads();
    if (threadIdx.x == 0)
      for (int c = 0; c < slots_used; ++c) du += cell_du[c], dv += cell_dv[c];
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    partials[2 * blockIdx.x] = du;
    partials[2 * blockIdx.x + 1] = dv;
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
void launch_forward(const Shape& s, const void* amplitude, const void* phase, const void* freqs, void* harmonic,
                    cudaStream_t stream) {
  using Acc = typename AccType<T>::type;
  const int64_t rows = s.batch * s.freqs * s.cells_y;
  const int64_t chunks = (s.cells_x * s.tile + kChunk - 1) / kChunk;
  COSAE_CHECK(rows < (int64_t(1) << 31) && chunks < 65536, usage, "harmonic synthesis: input too large");
  const dim3 grid(static_cast<unsigned>(rows), static_cast<unsigned>(chunks));
  auto args = [&](auto kernel) {
    kernel<<<grid, kThreads, 0, stream>>>(static_cast<const T*>(amplitude), static_cast<const T*>(phase),
                                          static_cast<const Acc*>(freqs), static_cast<T*>(harmonic), s.freqs,
                                          s.cells_y, s.cells_x, static_cast<int>(s.tile));
  };
  if (s.tile % 4 == 0)
    args(synthesis_forward_kernel<T, 4>);
  else
    args(synthesis_forward_kernel<T, 1>);
  CUDA_CHECK_LAUNCH();
}

template <typename T>
void launch_backward(const Shape& s, const void* grad, const void* amplitude, const void* phase, const void* freqs,
                     void* dA, void* dphase, void* dfreq, void* scratch, cudaStream_t stream) {
  using Acc = typename AccType<T>::type;
  COSAE_CHECK(backward_supports_tile(s.tile), usage,
              "harmonic synthesis backward on CUDA: tile size must be 1, 2, 4, 8, 16 or 32, got ", s.tile);
  const BackwardPlan plan = plan_backward(s);
  const int64_t blocks = s.freqs * plan.slices;
  COSAE_CHECK(blocks < (int64_t(1) << 31), usage, "harmonic synthesis: input too large");
  synthesis_backward_kernel<T><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
      static_cast<const T*>(grad), static_cast<const T*>(amplitude), static_cast<const T*>(phase),
      static_cast<const Acc*>(freqs), static_cast<T*>(dA), static_cast<T*>(dphase), static_cast<Acc*>(scratch),
      s.freqs, s.cells_y, s.cells_x, static_cast<int>(s.tile), plan.slices, plan.chunk_cols, plan.items_per_pass,
      s.batch * s.cells_y);
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

void forward(DType dtype, const Shape& s, const void* amplitude, const void* phase, const void* freqs,
             void* harmonic, cudaStream_t stream) {
  COSAE_CHECK(s.tile >= 1 && s.tile <= kMaxForwardTile, usage, "harmonic synthesis: tile size ", s.tile,
              " outside [1, ", kMaxForwardTile, "]");
  if (s.batch * s.freqs * s.cells_y * s.cells_x == 0) return;
  switch (dtype) {
    case DType::f32: return launch_forward<float>(s, amplitude, phase, freqs, harmonic, stream);
    case DType::f64: return launch_forward<double>(s, amplitude, phase, freqs, harmonic, stream);
    case DType::f16: return launch_forward<__half>(s, amplitude, phase, freqs, harmonic, stream);
    case DType::bf16: return launch_forward<__nv_bfloat16>(s, amplitude, phase, freqs, harmonic, stream);
  }
}

void backward(DType dtype, const Shape& s, const void* grad, const void* amplitude, const void* phase,
              const void* freqs, void* dA, void* dphase, void* dfreq, void* scratch, cudaStream_t stream) {
  if (s.freqs == 0) return;
  switch (dtype) {
    case DType::f32: return launch_backward<float>(s, grad, amplitude, phase, freqs, dA, dphase, dfreq, scratch, stream);
    case DType::f64: return launch_backward<double>(s, grad, amplitude, phase, freqs, dA, dphase, dfreq, scratch, stream);
    case DType::f16: return launch_backward<__half>(s, grad, amplitude, phase, freqs, dA, dphase, dfreq, scratch, stream);
    case DType::bf16:
      return launch_backward<__nv_bfloat16>(s, grad, amplitude, phase, freqs, dA, dphase, dfreq, scratch, stream);
  }
}

}  // namespace cosae::synthesis::cuda_kernels
