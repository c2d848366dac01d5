#!/usr/bin/env bash
# GPU check in one call: configure against a Python torch's CUDA LibTorch, build with ninja,
# run the [cuda] tests (and the rest), then the benchmarks; a short summary table prints last.
# Logs and JSON go to $BUILD/out; when $OUT is set they are also packed into $OUT/cuda-run.tgz
# (one file, for machines that return only a few).
#   usage: tests/cuda/run.sh [--no-bench | --no-train-bench | --build-only | --train-bench | --train-speed]
#   (--no-train-bench: the tests, then the synthesis and codec benchmarks only;
#    --train-bench: build, then only the training benchmarks and the Python peer;
#    --train-speed: build cosae alone, then only the training benchmarks (float32, bf16, and
#    float32 with one intra-op CPU thread) and the peer;
#    --scaling: build cosae alone, then the training benchmark under torchrun on 1, 2, 4, 8
#    GPUs, as many as there are, and the scaling efficiency)
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build-cuda}
RESULTS=${OUT:-}
OUT=$BUILD/out
rm -rf "$OUT" && mkdir -p "$OUT"
pack() { [[ -n "$RESULTS" ]] && tar czf "$RESULTS/cuda-run.tgz" -C "$OUT" .; }
trap pack EXIT
run_tests=1 run_bench=1 run_train=1 build_only=0 targets="" precisions=("" --bf16) quick=0 scaling=0
case "${1:-}" in
  --no-bench) run_bench=0 ;;
  --no-train-bench) run_train=0 ;;
  --build-only) build_only=1 ;;
  --train-bench) run_tests=0 ;;
  --train-speed) run_tests=0 targets=cosae quick=1 ;;
  --scaling) run_tests=0 run_bench=0 targets=cosae quick=1 scaling=1 ;;
esac

prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
nvcc_path=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"

step() { echo "== $1"; }
status=0
step configure
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
  -DCOSAE_WITH_OPENCV=OFF -DCOSAE_CUDA_ARCHITECTURES=90 -DCMAKE_CUDA_COMPILER="$nvcc_path" \
  >"$OUT/configure.log" 2>&1 || { tail -40 "$OUT/configure.log"; exit 1; }
grep "cosae: LibTorch" "$OUT/configure.log"
if grep -q "NCCL OFF" "$OUT/configure.log"; then  # where is (or isn't) nccl.h?
  torch_dir=$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))')
  find "$torch_dir/.." -maxdepth 4 -name nccl.h 2>/dev/null | head -3
  ls "$torch_dir/include/torch/csrc/distributed/c10d" 2>/dev/null | grep -c hpp
fi
step build
start=$(date +%s)
ninja -C "$BUILD" -j16 $targets >"$OUT/build.log" 2>&1 || { grep -E "error|FAILED" -A3 "$OUT/build.log" | head -60; exit 1; }
echo "build: $(( $(date +%s) - start )) s"
"$BUILD/cosae" info
[[ $build_only -eq 1 ]] && exit 0

if [[ $run_tests -eq 1 ]]; then
  step "tests [cuda]"
  timeout 300 "$BUILD/cosae_tests" "[cuda]" >"$OUT/tests_cuda.log" 2>&1 || status=1
  tail -3 "$OUT/tests_cuda.log"
  [[ $status -ne 0 ]] && grep -B3 -A12 FAILED "$OUT/tests_cuda.log" | head -80
  step "tests (all others)"
  if ! timeout 300 "$BUILD/cosae_tests" "~[cuda]" >"$OUT/tests_cpu.log" 2>&1; then
    status=1
    grep -B3 -A12 FAILED "$OUT/tests_cpu.log" | head -60
    debugger=$(command -v gdb || command -v cuda-gdb || ls /usr/local/cuda/bin/cuda-gdb 2>/dev/null || true)
    if [[ -n "$debugger" ]]; then  # where did it crash?
      for tag in "[cli]" "[io]"; do
        timeout 120 "$debugger" -batch -ex run -ex bt --args "$BUILD/cosae_tests" "$tag" 2>&1 | grep -E "^#|signal" | head -25
      done
    fi
  fi
  tail -3 "$OUT/tests_cpu.log"
elif [[ $quick -eq 0 ]]; then  # the training code's own tests (on the CPU device), quick
  step "tests [train] [spectrum] [distributed]"
  timeout 300 "$BUILD/cosae_tests" "[train],[spectrum],[distributed]" >"$OUT/tests_train.log" 2>&1 || status=1
  tail -2 "$OUT/tests_train.log"
fi

if [[ $run_bench -eq 1 && $run_tests -eq 1 ]]; then
  step "bench synthesis"
  timeout 300 "$BUILD/cosae" bench synthesis --device cuda --json "$OUT/bench_synthesis.json" \
    >"$OUT/bench_synthesis.txt" 2>&1 || status=1
  step "bench codec"
  timeout 300 "$BUILD/cosae" bench codec --device cuda --json "$OUT/bench_codec.json" \
    >"$OUT/bench_codec.txt" 2>&1 || status=1
fi
if [[ $run_bench -eq 1 && $run_train -eq 0 ]]; then
  echo "== summary"
  grep -h "cross-device" "$OUT/tests_cuda.log" 2>/dev/null || true
  cat "$OUT"/bench_synthesis.txt "$OUT"/bench_codec.txt 2>/dev/null
fi
if [[ $run_bench -eq 1 && $run_train -eq 1 ]]; then
  step "bench train"
  # GPU busy share: nvidia-smi's utilisation (time with a kernel running), sampled every
  # 100 ms, averaged over each benchmark's timed window (its JSON gives the wall-clock span).
  bench_train() {  # NAME [cosae bench train options...]
    local name=$1
    shift
    nvidia-smi --query-gpu=timestamp,utilization.gpu --format=csv,noheader,nounits -lms 100 \
      >"$OUT/gpu_busy_$name.txt" 2>/dev/null &
    local sampler=$!
    timeout 300 "$BUILD/cosae" bench train --device cuda --json "$OUT/bench_$name.json" "$@" \
      >>"$OUT/bench_train.txt" 2>&1 || status=1
    kill $sampler 2>/dev/null
    python3 - "$OUT/bench_$name.json" "$OUT/gpu_busy_$name.txt" <<'PY' | tee -a "$OUT/bench_train.txt"
import datetime, json, sys
bench = json.load(open(sys.argv[1]))
lo, hi = bench["timed_from_unix"], bench["timed_to_unix"]
busy = []
for line in open(sys.argv[2]):
    stamp, value = [f.strip() for f in line.split(",")]
    t = datetime.datetime.strptime(stamp, "%Y/%m/%d %H:%M:%S.%f").timestamp()
    if lo <= t <= hi:
        busy.append(float(value))
if busy:
    print(f"GPU busy during the timed steps: {sum(busy) / len(busy):.1f}% (mean of {len(busy)} nvidia-smi samples over {hi - lo:.1f} s)")
PY
  }
  bench_train train --steps 300
  bench_train train_bf16 --steps 300 --bf16
  # Does LibTorch's intra-op CPU thread pool compete with the loader's threads?
  [[ $quick -eq 1 ]] && OMP_NUM_THREADS=1 bench_train train_omp1 --steps 300
  if [[ $quick -eq 0 ]] && "$BUILD/cosae" info | grep -q nccl; then
    step "bench train under torchrun (one rank, NCCL)"
    timeout 300 python3 -m torch.distributed.run --nproc-per-node 1 --no-python "$BUILD/cosae" bench train \
      --device cuda --steps 30 --json "$OUT/bench_train_nccl.json" >>"$OUT/bench_train.txt" 2>&1 || status=1
  fi
  step "peer: the same training step in Python PyTorch"
  for precision in "${precisions[@]}"; do
    timeout 300 python3 tests/peer/train_step_peer.py --device cuda $precision \
      --json "$OUT/peer_train${precision/--/_}.json" >>"$OUT/peer_train.txt" 2>&1 || status=1
  done
  echo
  echo "== summary"
  grep -h "cross-device" "$OUT/tests_cuda.log" 2>/dev/null || true
  cat "$OUT"/bench_synthesis.txt "$OUT"/bench_codec.txt "$OUT/bench_train.txt" "$OUT/peer_train.txt" 2>/dev/null
fi
if [[ $scaling -eq 1 ]]; then
  # NVLink multicast stays off (shared hosts); torchrun passes the environment on.
  export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
  gpus=$(nvidia-smi -L | wc -l)
  for n in 1 2 4 8; do
    (( n <= gpus )) || break
    step "bench train under torchrun, $n GPU(s)"
    timeout 240 python3 -m torch.distributed.run --nproc-per-node "$n" --no-python "$BUILD/cosae" bench train \
      --device cuda --steps 50 --json "$OUT/scaling_$n.json" >>"$OUT/scaling.txt" 2>&1 || status=1
  done
  echo "== summary"
  python3 - "$OUT" <<'PY'
import glob, json, os, sys
runs = sorted((json.load(open(f)) for f in glob.glob(os.path.join(sys.argv[1], "scaling_*.json"))), key=lambda r: r["world_size"])
base = next((r["images_per_s"] for r in runs if r["world_size"] == 1), None)
print(f"{'GPUs':>4} {'batch/GPU':>9} {'step ms':>8} {'images/s':>9} {'per GPU':>8} {'efficiency':>10}")
for r in runs:
    n, ips = r["world_size"], r["images_per_s"]
    eff = f"{100 * ips / (n * base):.1f}%" if base else "-"
    print(f"{n:>4} {r['batch_per_rank']:>9} {r['step_ms']:>8.1f} {ips:>9.1f} {ips / n:>8.1f} {eff:>10}")
PY
fi
exit $status
