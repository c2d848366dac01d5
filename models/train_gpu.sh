#!/usr/bin/env bash
# How the shipped models are trained on one GPU machine: the default CosAE and the
# plain-autoencoder ablation side by side on the same GPU, with the same steps, batch and
# wall-clock budget. Training runs in the background (its own process session), so one
# lease can span several commands of limited length:
#
#   models/train_gpu.sh start SECONDS   build (tests/cuda/run.sh --build-only), measure the
#                                        step rate of both runs together, then train both for
#                                        about SECONDS, the schedule sized to end in time
#   models/train_gpu.sh extend STEPS SECONDS
#                                        once both have ended: resume both to STEPS in total
#                                        (the cosine schedule restarts over the longer span),
#                                        in the foreground, stopping after SECONDS at most
#   models/train_gpu.sh watch SECONDS   sample GPU busy % and memory, print progress
#   models/train_gpu.sh finish          wait for both runs to end; pack models and logs
#
# Data: data/train (cosae prepare output, see README "Training data"); validation curve on
# samples/. Runs in runs/{default,ablation}; logs, metrics and models go to $OUT.
# Environment: NAMES="default" trains only the default model; INIT=models/default.safetensors
# starts the default run from that model's weights (checkpoints do not outlive a machine, the
# shipped model does).
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-cuda}
OUT=${OUT:-$BUILD/out}
DATA=${DATA:-data/train}
RUNS=${RUNS:-runs}
mkdir -p "$OUT" "$RUNS"
COSAE="$BUILD/cosae"
read -r -a NAMES <<< "${NAMES:-default ablation}"
INIT=${INIT:-}
# Shared by both runs; seed, batch, crop and learning rate are part of the recipe.
COMMON=(--data "$DATA" --batch 16 --crop 256 --lr 2e-4 --threads 7 --seed 1
        --checkpoint-every 1000)

# Anchored: the shell that started this script may hold the same words in its command line.
running() { pgrep -f "^$COSAE train" >/dev/null; }

progress() {
  for n in "${NAMES[@]}"; do
    printf '%-9s ' "$n"
    tail -c 400 "$RUNS/$n/train.log" 2>/dev/null | tr '\r' '\n' | grep -v '^\s*$' | tail -1
  done
}

collect() {  # small files: logs and metrics of both runs
  for n in "${NAMES[@]}"; do
    [[ -d "$RUNS/$n" ]] || continue
    cp "$RUNS/$n/train.log" "$OUT/$n.train.log" 2>/dev/null
    cp "$RUNS/$n/metrics.jsonl" "$OUT/$n.metrics.jsonl" 2>/dev/null
  done
}

case "${1:-}" in
  start)
    budget=${2:?seconds}
    began=$(date +%s)
    bash tests/cuda/run.sh --build-only || exit 1
    # The step rate of the runs together, between steps 100 and 200 (it_s in metrics.jsonl is
    # the mean since the start, which includes start-up and cuDNN autotuning).
    rm -rf "$RUNS/probe-"*
    for n in "${NAMES[@]}"; do
      "$COSAE" train "${COMMON[@]}" --config "$n" --out "$RUNS/probe-$n" --steps 200 --log-every 100 \
        >"$OUT/probe-$n.log" 2>&1 &
    done
    wait
    rate=$(python3 -c "
import json,sys
def rate(path):
    (s1, r1), (s2, r2) = [(j['step'], j['it_s']) for j in map(json.loads, open(path)) if 'it_s' in j][-2:]
    return (s2 - s1) / (s2 / r2 - s1 / r1)
print(min(rate(n) for n in sys.argv[1:]))" "$RUNS"/probe-*/metrics.jsonl) || { tail -5 "$OUT"/probe-*.log; exit 1; }
    left=$(( budget - ($(date +%s) - began) ))
    steps=$(python3 -c "print(int($rate * $left * 0.95 // 100 * 100))")
    echo "probe: $rate steps/s each with both running; $left s left -> $steps steps" | tee "$OUT/plan.txt"
    for n in "${NAMES[@]}"; do
      rm -rf "$RUNS/$n"
      mkdir -p "$RUNS/$n"
      dtype=f32
      [[ $n == ablation ]] && dtype=f16  # 5M more weights than CosAE's HCM: keep the file small
      init=()
      [[ $n == default && -n $INIT ]] && init=(--init "$INIT")
      setsid nohup "$COSAE" train "${COMMON[@]}" "${init[@]}" --val samples --config "$n" --out "$RUNS/$n" --steps "$steps" \
        --val-every $(( steps / 10 )) --log-every 100 --time-limit "$left" --export-dtype "$dtype" \
        >"$RUNS/$n/train.log" 2>&1 </dev/null &
    done
    sleep 20
    progress
    ;;
  extend)
    total=${2:?steps}
    seconds=${3:?seconds}
    for n in "${NAMES[@]}"; do
      dtype=f32
      [[ $n == ablation ]] && dtype=f16
      "$COSAE" train "${COMMON[@]}" --val samples --out "$RUNS/$n" --resume --steps "$total" \
        --val-every $(( total / 10 )) --log-every 100 --time-limit "$seconds" --export-dtype "$dtype" \
        >"$RUNS/$n/train2.log" 2>&1 </dev/null &
    done
    wait
    progress
    collect
    for n in "${NAMES[@]}"; do cp "$RUNS/$n/train2.log" "$OUT/$n.train2.log"; done
    ;;
  watch)
    seconds=${2:?seconds}
    end=$(( $(date +%s) + seconds ))
    while (( $(date +%s) < end )) && running; do
      nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader >>"$OUT/gpu_busy.csv"
      sleep 5
    done
    python3 -c "
import sys
u=[float(l.split(',')[1].split()[0]) for l in open(sys.argv[1]) if l.strip()]
print(f'GPU busy: mean {sum(u)/len(u):.1f}% over {len(u)} samples') if u else None" "$OUT/gpu_busy.csv"
    progress
    collect
    ;;
  finish)
    while running; do sleep 5; done
    progress
    collect
    for n in "${NAMES[@]}"; do
      m="$RUNS/$n/model.safetensors"
      [[ -f $m ]] || { echo "$n: no model"; continue; }
      ls -l "$m"
      split -b 15M -d "$m" "$OUT/$n.safetensors.part"  # files come back in pieces of <= 16 MiB
    done
    ;;
  *)
    sed -n 2,16p "$0"
    exit 2
    ;;
esac
