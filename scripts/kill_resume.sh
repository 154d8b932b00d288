#!/usr/bin/env bash
# scripts/kill_resume.sh: the mnist app's crash-safety test (tests/test_crash_safety.cpp,
# CrashSafety.KilledAndResumedRunEqualsAnUninterruptedOne) at a larger scale. It trains a reference
# run, then trains the same run again, SIGKILLs it at seeded random points (half of them inside a
# write of last.safetensors or log.csv) and resumes it after each kill; after every kill
# last.safetensors must load and log.csv must hold the reference's rows, each once, up to the
# checkpoint; at the end weights, EMA and Adam state must equal the reference's bit for bit and no
# temporary file may be left. Prints where each kill landed.
# Needs the test binary and the app: cmake --build build --target scorch_tests mnist
# Usage: scripts/kill_resume.sh [--seed N] [--kills N] [--steps N] [--val-interval N] [--width N]
#                               [--batch N] [--threads N] [--data DIR]
# Defaults: seed 1, 10 kills, 100 steps, a validation and checkpoint every 10, unet-small of width 16,
# batch 32, 2 threads, the digits in data/mnist (scripts/fetch_mnist.sh; without them, 200 synthetic
# digits).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
readonly tests=build/bin/scorch_tests

usage() {
  echo "usage: scripts/kill_resume.sh [--seed N] [--kills N] [--steps N] [--val-interval N] [--width N] [--batch N] [--threads N] [--data DIR]" >&2
  exit 2
}

seed=1 kills=10 steps=100 val_interval=10 width=16 batch=32 threads=2 data=data/mnist
while [[ $# -gt 0 ]]; do
  [[ $# -ge 2 ]] || usage
  case "$1" in
    --seed) seed=$2 ;;
    --kills) kills=$2 ;;
    --steps) steps=$2 ;;
    --val-interval) val_interval=$2 ;;
    --width) width=$2 ;;
    --batch) batch=$2 ;;
    --threads) threads=$2 ;;
    --data) data=$2 ;;
    *) usage ;;
  esac
  shift 2
done
for n in "$seed" "$kills" "$steps" "$val_interval" "$width" "$batch" "$threads"; do
  [[ "$n" =~ ^[0-9]+$ ]] || { echo "kill_resume.sh: '$n' is not a whole number" >&2; exit 2; }
done
[[ -x $tests && -x build/bin/mnist ]] || {
  echo "kill_resume.sh: $tests or build/bin/mnist missing: cmake --build build --target scorch_tests mnist" >&2
  exit 1
}
if [[ -f "$data/train-images-idx3-ubyte.gz" ]]; then
  data=$(cd "$data" && pwd)
else
  echo "kill_resume.sh: no digits in $data (scripts/fetch_mnist.sh); using 200 synthetic ones" >&2
  data=""
fi

SCORCH_KILL_SEED=$seed SCORCH_KILLS=$kills SCORCH_KILL_STEPS=$steps SCORCH_KILL_VAL_INTERVAL=$val_interval \
SCORCH_KILL_WIDTH=$width SCORCH_KILL_BATCH=$batch SCORCH_KILL_THREADS=$threads SCORCH_KILL_DATA=$data \
  exec "$tests" --gtest_filter=CrashSafety.KilledAndResumedRunEqualsAnUninterruptedOne
