#!/usr/bin/env bash
# cosae set-up: installs what the build needs (Debian/Ubuntu packages), picks the best
# LibTorch available (a CUDA-enabled Python torch if there is one, else Debian's CPU
# libtorch-dev), configures and builds into build/. Safe to run again.
#
#   ./setup.sh          install + build
#   ./setup.sh demo     ... then encode and decode a sample image with the default model
#   ./setup.sh test     ... then run the test suite (ctest)
set -euo pipefail
cd "$(dirname "$0")"
action=${1:-build}
BUILD=${COSAE_BUILD_DIR:-build}
JOBS=${COSAE_JOBS:-$(nproc)}

log() { echo "setup: $*" >&2; }

# ----------------------------------------------------------------------------- packages
packages=(build-essential cmake ninja-build pkg-config libpng-dev libcli11-dev nlohmann-json3-dev
          catch2 libopencv-dev libtorch-dev libopenblas0-pthread libgloo-dev chromium libavif-dev libjxl-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
have_cuda_torch() {
  python3 -c 'import torch, sys; sys.exit(0 if torch.version.cuda else 1)' >/dev/null 2>&1
}
if have_cuda_torch; then
  # A CUDA Python torch brings its own LibTorch; Debian's CPU one is not needed.
  missing=("${missing[@]/libtorch-dev}")
fi
# (libopenblas0-pthread: Debian's LibTorch calls the system BLAS, and the reference BLAS it
# gets otherwise runs its matrix products ~15x slower.)
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ----------------------------------------------------------------------------- configure
cmake_args=(-S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release)
if have_cuda_torch; then
  prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
  log "using the CUDA LibTorch of Python torch ($prefix)"
  cmake_args+=(-DCMAKE_PREFIX_PATH="$prefix")
  export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
else
  log "using Debian's CPU LibTorch"
fi
if ! dpkg-query -W -f='${Status}' libopencv-dev 2>/dev/null | grep -q "install ok installed"; then
  cmake_args+=(-DCOSAE_WITH_OPENCV=OFF)
fi
cmake "${cmake_args[@]}" >/dev/null
log "building with $JOBS jobs"
cmake --build "$BUILD" -j "$JOBS"

# ----------------------------------------------------------------------------- action
case "$action" in
  build) ;;
  test)
    ctest --test-dir "$BUILD" --output-on-failure -j "$JOBS"
    ;;
  demo)
    sample=samples/astronaut.png
    mkdir -p "$BUILD/demo"
    "$BUILD/cosae" encode "$sample" -o "$BUILD/demo/astronaut.cosae"
    "$BUILD/cosae" decode "$BUILD/demo/astronaut.cosae" -o "$BUILD/demo/astronaut.png" --reference "$sample"
    ;;
  *)
    echo "usage: $0 [build|test|demo]" >&2
    exit 2
    ;;
esac
