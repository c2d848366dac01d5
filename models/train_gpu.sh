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
#   models/train_gpu.sh study STEPS SECONDS
#                                        the measurements behind training choices, from scratch,
#                                        side by side: spiral against spectrum-drawn frequencies,
#                                        the focal frequency loss, and one model for one quality
#                                        (lambda of q3) given a sixth of the steps, the same GPU
#                                        time per level as six such models
#   models/train_gpu.sh stage DIR...     bring DIR... (sent with this command) into place: a
#                                        training set larger than one command can receive
#                                        travels in parts, one command each, before "start"
#                                        (on the same machine). Corpus v2's lossless WebP shards
#                                        (docs/training.md, "Training data") are unpacked to PNG under
#                                        $CORPUS (/tmp/cosae-corpus): train with
#                                        DATA=/tmp/cosae-corpus/train; PNG folders are copied
#                                        into $DATA
#   models/train_gpu.sh watch SECONDS   sample GPU busy % and memory, print progress
#   models/train_gpu.sh evaluate DIR...  once the runs have ended: cosae eval of INIT's model (when
#                                        given) and each run's model on each DIR (held-out
#                                        images sent with the command), every quality and the
#                                        unquantised latent; BD-rate of each against the first
#   models/train_gpu.sh finish [NAME...] wait for the runs to end; pack logs, and the models of
#                                        NAME... (all runs when none are named) as float16
#
# Data: data/train (cosae prepare output, see README "Training data"); validation curve on
# samples/. Runs in runs/NAME; models go to $OUT (f16 exports whole, larger ones in pieces),
# logs and metrics to $OUT/train-logs.tgz.
# Environment: NAMES="default" trains only the default model; INIT=models/default.safetensors
# starts the default run from that model's weights (checkpoints do not outlive a machine, the
# shipped model does); CONFIG=wide trains the default run with that config instead, grown from
# INIT's weights when both are given (cosae train --init with --config). With several GPUs the
# runs are spread over them, run i on GPU i mod count (CUDA_VISIBLE_DEVICES), so that side by
# side runs do not share one. RANKS=N trains each run on N GPUs (torchrun, one process per
# GPU, --batch per process: N times the batch); LR sets the peak learning rate (default 2e-4);
# loader threads are the cores shared out among the processes. Run "deep" is the default
# run's config with two more decoder blocks (models/wide-deep.json), grown from INIT the same
# way. Run "conditional" trains the conditional entropy model of models/wide-conditional.json
# alone (--entropy-only) over INIT's transform (default: the shipped model); BATCH and CROP
# (default 16 and 256) set its windows, e.g. BATCH=64 CROP=320 LR=3e-4. A run named BASE.TAG is run BASE with the arguments in $ARGS_TAG added, and trained on
# the folder $DATA_TAG instead of $DATA when that is set, for side by side comparisons of a
# training option or a training set:
#   NAMES="default default.ds2" ARGS_ds2="--downscale 2" models/train_gpu.sh start 1250
#   NAMES="default.a default.b" ARGS_a="--rotations" ARGS_b="--rotations --downscale 6" \
#     DATA_b=/tmp/cosae-train-2x models/train_gpu.sh start 1250
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-cuda}
OUT=${OUT:-$BUILD/out}
LOGS=$BUILD/train-logs  # packed into $OUT/train-logs.tgz: the machine returns only a few files
DATA=${DATA:-data/train}
RUNS=${RUNS:-runs}
mkdir -p "$OUT" "$RUNS" "$LOGS"
COSAE="$BUILD/cosae"
STUDY="study-spiral study-spectrum study-fft study-q3"
default_names="default ablation"
[[ ${1:-} == study ]] && default_names=$STUDY
read -r -a NAMES <<< "${NAMES:-$default_names}"
INIT=${INIT:-}
CONFIG=${CONFIG:-default}
RANKS=${RANKS:-1}  # processes (GPUs) per run: more than one trains data-parallel under torchrun
LR=${LR:-2e-4}     # peak learning rate
# Loader threads per process: the cores shared out, one left to each process's own loop.
threads=$(( $(nproc) / (${#NAMES[@]} * RANKS) - 1 ))
(( threads > 0 )) || threads=1
# Shared by all runs; seed, batch (per process), crop and learning rate are part of the recipe.
COMMON=(--batch "${BATCH:-16}" --crop "${CROP:-256}" --lr "$LR" --threads $threads --seed 1
        --checkpoint-every 1000)
# NVLink multicast stays off (shared hosts); torchrun passes the environment on.
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1

gpu_count=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
(( gpu_count > 0 )) || gpu_count=1
gpu_of() {  # NAME: the GPUs its run uses (RANKS of them, comma-separated)
  local i=0 g list=""
  for n in "${NAMES[@]}"; do [[ $n == "$1" ]] && break; i=$(( i + 1 )); done
  for (( g = i * RANKS; g < (i + 1) * RANKS; g++ )); do list+="${list:+,}$(( g % gpu_count ))"; done
  echo "$list"
}
# The command that starts one run's training: cosae, or RANKS of it under torchrun.
TRAIN=("$COSAE" train)
(( RANKS > 1 )) &&
  TRAIN=(python3 -m torch.distributed.run --standalone --nproc-per-node "$RANKS" --no-python "$COSAE" train)

# Anchored: the shell that started this script may hold the same words in its command line.
running() { pgrep -f "^$COSAE train" >/dev/null; }

progress() {
  for n in "${NAMES[@]}"; do
    printf '%-9s ' "$n"
    tail -c 400 "$RUNS/$n/train.log" 2>/dev/null | tr '\r' '\n' | grep -v '^\s*$' | tail -1
  done
}

data_of() {  # NAME: the folder its run trains on
  local own="DATA_${1#*.}"
  if [[ $1 == *.* && -n ${!own:-} ]]; then echo "${!own}"; else echo "$DATA"; fi
}

# Each run's export precision, and its own options, by name.
export_args() {
  case ${1%%.*} in
    default|deep) echo "--export-dtype f32" ;;  # converted to f16 for shipping (cosae convert)
    *) echo "--export-dtype f16" ;;  # the ablation has 5M more weights than the HCM: keep files small
  esac
}
tag_args() {  # NAME: for BASE.TAG, the arguments in $ARGS_TAG (also given when a run resumes)
  [[ $1 == *.* ]] || return 0
  local extra="ARGS_${1#*.}" own="DATA_${1#*.}"
  [[ -n ${!extra:-} || -n ${!own:-} ]] ||
    { echo "run $1: set $extra to the arguments it adds, or $own to its training folder" >&2; exit 2; }
  echo "${!extra:-}"
}
run_args() {
  local base=${1%%.*}
  if [[ $base != "$1" ]]; then  # BASE.TAG: BASE's arguments, then those in $ARGS_TAG
    local extra
    extra=$(tag_args "$1") || exit 2
    echo "$(run_args "$base") $extra"
    return
  fi
  case $1 in
    default) echo "--config $CONFIG ${INIT:+--init $INIT}" ;;
    deep) echo "--config models/wide-deep.json ${INIT:+--init $INIT}" ;;
    conditional) echo "--config models/wide-conditional.json --init ${INIT:-models/default.safetensors} --entropy-only" ;;
    ablation) echo "--config ablation" ;;
    study-spiral) echo "--config default" ;;
    study-spectrum) echo "--config default --freq-init spectrum" ;;
    study-fft) echo "--config default --fft-loss 1" ;;
    study-q3) echo "--config $RUNS/q3.json" ;;
    *) echo "unknown run $1" >&2; exit 2 ;;
  esac
  export_args "$1"
}

for n in "${NAMES[@]}"; do (run_args "$n" >/dev/null) || exit 2; done  # unknown names stop here

# Starts run NAME in the background (its own process session) in a fresh folder.
launch() {  # NAME STEPS VAL_EVERY SECONDS
  rm -rf "$RUNS/$1"
  mkdir -p "$RUNS/$1"
  CUDA_VISIBLE_DEVICES=$(gpu_of "$1") setsid nohup "${TRAIN[@]}" --data "$(data_of "$1")" "${COMMON[@]}" $(run_args "$1") --val samples --out "$RUNS/$1" --steps "$2" \
    --val-every "$3" --log-every 100 --time-limit "$4" >"$RUNS/$1/train.log" 2>&1 </dev/null &
}

collect() {  # small files: logs and metrics of the runs, packed into one
  for n in "${NAMES[@]}"; do
    [[ -d "$RUNS/$n" ]] || continue
    for f in "$RUNS/$n"/*.log "$RUNS/$n/metrics.jsonl"; do
      [[ -f $f ]] && cp "$f" "$LOGS/$n.$(basename "$f")"
    done
  done
  tar czf "$OUT/train-logs.tgz" -C "$LOGS" .
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
      probe_config=${n%%.*}
      [[ $probe_config == default ]] && probe_config=$CONFIG
      [[ $probe_config == deep ]] && probe_config=models/wide-deep.json
      [[ $probe_config == conditional ]] && probe_config=models/wide-conditional.json
      CUDA_VISIBLE_DEVICES=$(gpu_of "$n") "${TRAIN[@]}" --data "$(data_of "$n")" "${COMMON[@]}" --config "$probe_config" --out "$RUNS/probe-$n" --steps 200 --log-every 100 \
        >"$LOGS/probe-$n.log" 2>&1 &
    done
    wait
    rate=$(python3 -c "
import json,sys
def rate(path):
    (s1, r1), (s2, r2) = [(j['step'], j['it_s']) for j in map(json.loads, open(path)) if 'it_s' in j][-2:]
    return (s2 - s1) / (s2 / r2 - s1 / r1)
print(min(rate(n) for n in sys.argv[1:]))" "$RUNS"/probe-*/metrics.jsonl) || { tail -5 "$LOGS"/probe-*.log; exit 1; }
    left=$(( budget - ($(date +%s) - began) ))
    steps=$(python3 -c "print(int($rate * $left * 0.95 // 100 * 100))")
    echo "probe: $rate steps/s each with both running; $left s left -> $steps steps" | tee "$LOGS/plan.txt"
    for n in "${NAMES[@]}"; do launch "$n" "$steps" $(( steps / 10 )) "$left"; done
    sleep 20
    progress
    ;;
  extend)
    total=${2:?steps}
    seconds=${3:?seconds}
    for n in "${NAMES[@]}"; do
      CUDA_VISIBLE_DEVICES=$(gpu_of "$n") "${TRAIN[@]}" --data "$(data_of "$n")" "${COMMON[@]}" --val samples --out "$RUNS/$n" --resume --steps "$total" \
        --val-every $(( total / 10 )) --log-every 100 --time-limit "$seconds" $(export_args "$n") $(tag_args "$n") \
        >"$RUNS/$n/train2.log" 2>&1 </dev/null &
    done
    wait
    progress
    collect
    ;;
  stage)
    # A corpus shard of lossless WebP (cosae prepare --format webp) is unpacked to PNG under
    # $CORPUS, keeping its place (train/shard-NNNN, heldout) and checked against the manifest
    # carried with the first part; a folder of PNG is copied into $DATA as it is.
    shift
    (( $# )) || { echo "stage: which folders?" >&2; exit 2; }
    CORPUS=${CORPUS:-/tmp/cosae-corpus}
    MANIFEST=${MANIFEST:-data/corpus-v2/manifest.json}
    for d in "$@"; do
      [[ -d $d ]] || { echo "stage: $d: no such folder (carried?)" >&2; exit 2; }
      if compgen -G "$d/*.webp" >/dev/null; then
        [[ -f $MANIFEST ]] || { echo "stage: $MANIFEST: carry the corpus manifest first" >&2; exit 2; }
        python3 models/stage_corpus.py "$MANIFEST" "$CORPUS" "$d" || exit 1
      else
        mkdir -p "$DATA/$(basename "$d")" && cp -r "$d/." "$DATA/$(basename "$d")/" || exit 1
      fi
    done
    for folder in "$CORPUS" "$DATA"; do
      if [[ -d $folder ]]; then
        echo "staged in $folder: $(find "$folder" -name '*.png' | wc -l) PNG files, $(du -sh "$folder" | cut -f1)"
      fi
    done
    ;;
  study)
    steps=${2:?steps}
    seconds=${3:?seconds}
    [[ -x $COSAE ]] || bash tests/cuda/run.sh --build-only || exit 1
    echo '{"name": "cosae-d64-q3", "lambdas": [0.0067]}' >"$RUNS/q3.json"  # the default's third quality
    for n in "${NAMES[@]}"; do
      s=$steps
      [[ $n == study-q3 ]] && s=$(( steps / 6 ))
      launch "$n" "$s" $(( s / 4 )) "$seconds"
    done
    sleep 30
    progress
    ;;
  watch)
    seconds=${2:?seconds}
    end=$(( $(date +%s) + seconds ))
    while (( $(date +%s) < end )) && running; do
      nvidia-smi --query-gpu=timestamp,index,utilization.gpu,memory.used --format=csv,noheader >>"$LOGS/gpu_busy.csv"
      sleep 5
    done
    python3 -c "
import sys, collections
u = collections.defaultdict(list)
for l in open(sys.argv[1]):
    f = [x.strip() for x in l.split(',')]
    if len(f) == 4: u[f[1]].append(float(f[2].split()[0]))
for g, v in sorted(u.items()): print(f'GPU {g} busy: mean {sum(v)/len(v):.1f}% over {len(v)} samples')" "$LOGS/gpu_busy.csv"
    progress
    collect
    ;;
  evaluate)
    shift
    (( $# )) || { echo "evaluate: which folders?" >&2; exit 2; }
    while running; do sleep 5; done
    models=(${INIT:+"$INIT"})
    for n in "${NAMES[@]}"; do
      [[ -f $RUNS/$n/model.safetensors ]] && models+=("$RUNS/$n/model.safetensors") || echo "$n: no model"
    done
    for d in "$@"; do
      [[ -d $d ]] || { echo "evaluate: $d: no such folder" >&2; exit 2; }
      echo "== $d (models in this order: ${models[*]})"
      "$COSAE" eval --data "$d" -m "${models[@]}" --unquantized --quiet \
        --json "$LOGS/eval-$(basename "$d").json" 2>"$LOGS/eval-$(basename "$d").err" || { tail -5 "$LOGS/eval-$(basename "$d").err"; exit 1; }
    done
    collect
    ;;
  finish)
    while running; do sleep 5; done
    progress
    collect
    shift
    packed=("$@")
    (( ${#packed[@]} )) || packed=("${NAMES[@]}")
    for n in "${packed[@]}"; do
      m="$RUNS/$n/model.safetensors"
      [[ -f $m ]] || { echo "$n: no model"; continue; }
      "$COSAE" convert "$m" -o "$RUNS/$n/model-f16.safetensors" --dtype f16 >/dev/null || exit 1
      m="$RUNS/$n/model-f16.safetensors"
      ls -l "$m"
      if (( $(stat -c %s "$m") < 16 * 1024 * 1024 )); then
        cp "$m" "$OUT/$n-f16.safetensors"
      else
        split -b 15M -d "$m" "$OUT/$n-f16.safetensors.part"  # files come back in pieces of <= 16 MiB
      fi
    done
    ;;
  *)
    sed -n "2,/^set -uo/p" "$0" | sed '$d'
    exit 2
    ;;
esac
