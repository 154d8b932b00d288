#!/usr/bin/env bash
# scripts/fuzz.sh: builds the libFuzzer targets of tests/fuzz/ (one per parser of outside input: IDX,
# .npy, safetensors, mnist checkpoints, the mnist config file, the apps' flags) with clang, ASan and UBSan into build-fuzz/,
# runs each for a fixed number of executions from a copy of its seed corpus, prints a table (target,
# executions, crashes, time) and writes it to bench/results/fuzz-<date>.md. Exits non-zero if a target
# crashed; the crashing input and the log are then in build-fuzz/fuzz-artifacts/: fix the parser and make
# the input a regression test (tests/fuzz/regressions/<target>/, listed in tests/test_fuzz_inputs.cpp).
#
# Needs clang with libFuzzer (Debian 12: apt-get install clang) besides the packages of the README.
#   scripts/fuzz.sh                      every target, 100,000 executions each, seed 1
#   RUNS=1000 SEED=7 scripts/fuzz.sh fuzz_npy fuzz_cli
# Takes 7 to 20 minutes on 2 cores, most of it in the config and flag targets (CLI11 parsers are slow to build).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs=${RUNS:-100000}
seed=${SEED:-1}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_idx fuzz_npy fuzz_safetensors fuzz_checkpoint fuzz_mnist_config fuzz_cli)
declare -A max_len=([fuzz_idx]=4096 [fuzz_npy]=1024 [fuzz_safetensors]=4096 [fuzz_checkpoint]=4096 [fuzz_mnist_config]=4096 [fuzz_cli]=1024)

command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ not found (apt-get install clang)" >&2; exit 1; }
cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSCORCH_FUZZ=ON \
  -DSCORCH_CUDA=OFF -DSCORCH_BUILD_TESTS=OFF -DSCORCH_BUILD_BENCH=OFF >/dev/null
nice -n 10 cmake --build build-fuzz -j2 --target "${targets[@]}"

# libFuzzer adds what it finds to the corpus folder it is given: give it a copy, not tests/fuzz/corpus.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
artifacts=build-fuzz/fuzz-artifacts
mkdir -p "$artifacts"
date=$(date +%F)
rows=()
failed=0
for t in "${targets[@]}"; do
  mkdir -p "$work/$t"
  cp tests/fuzz/corpus/"$t"/* "$work/$t/"
  rm -f "$artifacts/$t"-*
  start=$(date +%s%N)
  status=0
  build-fuzz/bin/"$t" -runs="$runs" -seed="$seed" -max_len="${max_len[$t]}" -timeout=10 -rss_limit_mb=2048 \
    -malloc_limit_mb=2048 -dict=tests/fuzz/"$t".dict -print_final_stats=1 -artifact_prefix="$artifacts/$t-" \
    "$work/$t" >"$work/$t.log" 2>&1 || status=$?
  seconds=$((($(date +%s%N) - start) / 1000000000))
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log" | tail -1)
  crashes=$(find "$artifacts" -name "$t-*" | wc -l)
  if [ "$status" -ne 0 ] || [ "$crashes" -gt 0 ]; then
    failed=1
    grep -E "ERROR|SUMMARY|runtime error|fuzz_" "$work/$t.log" | head -5 >&2
    cp "$work/$t.log" "$artifacts/$t.log"
  fi
  row="| $t | ${max_len[$t]} | ${executions:-?} | $crashes | $seconds s |"
  echo "$row"
  rows+=("$row")
done

report=bench/results/fuzz-$date.md
{
  echo "# Fuzzing, $date"
  echo
  echo "\`scripts/fuzz.sh\` at commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . || echo ' (with local changes)'),"
  echo "$(clang++ --version | head -1), \`-fsanitize=fuzzer,address,undefined\` (RelWithDebInfo). Each target ran"
  echo "\`-runs=$runs -seed=$seed -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048\` with its dictionary,"
  echo "from a copy of its seed corpus (\`tests/fuzz/corpus/<target>/\`); $(nproc) cores, one target at a time"
  echo "(load average at the end, other jobs included: $(cut -d' ' -f1-3 /proc/loadavg))."
  echo
  echo "| target | max_len (bytes) | executions | crashes | time |"
  echo "|---|---:|---:|---:|---:|"
  printf "%s\n" "${rows[@]}"
} >"$report"
echo "report: $report"
exit "$failed"
