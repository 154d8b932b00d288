#!/usr/bin/env bash
# bench/mnist_samplers.sh: every sampler of build/bin/mnist on one checkpoint, at batch 64 and 256: the
# time, samples/s and score evaluations of each (from its sampling.json), as a Markdown table, and
# the samples themselves for bench/torch/mnist_fd.py.
#
#   bench/mnist_samplers.sh [WEIGHTS] [OUT]     defaults: model_weights/best.safetensors, runs/mnist-samplers
#   SAMPLERS="edm pc" BATCHES=64 bench/mnist_samplers.sh     a subset
# Then: /usr/bin/python3 bench/torch/mnist_fd.py OUT/*-256/samples.npy
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
weights=${1:-model_weights/best.safetensors}
out=${2:-runs/mnist-samplers}
samplers=${SAMPLERS:-annealed ode-euler ode-heun ode-rk45 pc edm}
batches=${BATCHES:-64 256}
[[ -x build/bin/mnist ]] || { echo "build/bin/mnist not found: cmake --build build first" >&2; exit 1; }
mkdir -p "$out"
[[ -f $weights ]] || { echo "$weights: not found: train first (build/bin/mnist)" >&2; exit 1; }

for batch in $batches; do
  for s in $samplers; do
    flags="--sampler ${s%%-*}"
    [[ $s == ode-* ]] && flags+=" --ode-solver ${s#ode-}"
    dir=$out/$s-$batch
    echo "== $s, batch $batch -> $dir" >&2
    build/bin/mnist --inference_only --weights "$weights" --samples-dir "$dir" $flags \
      --n-samples "$batch" --batch "$batch" --seed 0 2>"$dir.log" || { echo "failed: see $dir.log" >&2; exit 1; }
  done
done

python3 - "$out" $batches <<'PY'
import json, sys, pathlib
out, batches = pathlib.Path(sys.argv[1]), sys.argv[2:]
print("| sampler | batch | score evals | seconds | samples/s | ms per evaluation | outside [0, 1] |")
print("|---|---:|---:|---:|---:|---:|---:|")
for b in batches:
    for f in sorted(out.glob(f"*-{b}/sampling.json")):
        r = json.loads(f.read_text())
        ms = 1000 * r["seconds"] / r["score_evals_per_batch"]
        print(f"| {f.parent.name.rsplit('-', 1)[0]} | {b} | {r['score_evals_per_batch']} | {r['seconds']:.1f} | "
              f"{r['samples_per_s']:.2f} | {ms:.1f} | {r['fraction_outside_0_1']:.3f} |")
PY
