#!/usr/bin/env bash
# Rate-distortion evaluation of a folder of images: cosae's default model (or -m MODEL...)
# against JPEG and WebP. Writes results.json, results.csv, report.html and summary.txt into
# OUT_DIR; extra options go to `cosae eval` (e.g. -q 1,3,6 or -m my-model.safetensors).
#   usage: samples/eval_folder.sh IMAGES_DIR [OUT_DIR] [cosae eval options...]
set -euo pipefail
images=${1:?usage: $0 IMAGES_DIR [OUT_DIR] [cosae eval options...]}
out=${2:-eval-$(date +%Y%m%d-%H%M%S)}
shift $(( $# >= 2 ? 2 : 1 ))
cosae=${COSAE:-$(dirname "$0")/../build/cosae}

# JPEG and WebP need a cosae built with OpenCV; without it, evaluate cosae alone.
baselines=(--baselines jpeg,webp)
if ! "$cosae" info --json | grep -q '"opencv": *true'; then
  echo "note: this cosae has no OpenCV; evaluating without JPEG/WebP baselines" >&2
  baselines=()
fi

mkdir -p "$out"
"$cosae" eval --data "$images" "${baselines[@]}" --json "$out/results.json" --csv "$out/results.csv" \
  --report "$out/report.html" "$@" | tee "$out/summary.txt"
echo "report: $out/report.html" >&2
