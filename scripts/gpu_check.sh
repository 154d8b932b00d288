#!/usr/bin/env bash
# scripts/gpu_check.sh: the CUDA issue's check on a GPU machine, in one command (run by the device
# tool in the repository root, with gpu-kit/ from scripts/gpu_bundle.sh carried along): builds with the
# CUDA backend for sm_90 against gpu-kit, runs the whole test suite and bench/compare --device cuda, and
# writes $OUT/gpu-log.md (device, driver, commit, test summary, the compare table) with the full logs
# beside it. Commit the log as bench/results/gpu-YYYY-MM-DD.md.
#   env: GPU_ARCH (default 90), JOBS (default: all cores), OUT (default: ./gpu-out)
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out=${OUT:-$root/gpu-out}
mkdir -p "$out"
kit=$root/gpu-kit
[[ -d $kit ]] || { echo "scripts/gpu_check.sh: no gpu-kit/ (run scripts/gpu_bundle.sh and carry it)" >&2; exit 2; }
export LD_LIBRARY_PATH=$kit/lib/x86_64-linux-gnu:$kit/lib/x86_64-linux-gnu/openblas-openmp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PATH=/usr/local/cuda/bin:$PATH
build=build-gpu
log=$out/gpu-log.md
step() { echo "== $*" | tee -a "$out/steps.txt"; }

step configure
cmake -S . -B $build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSCORCH_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="${GPU_ARCH:-90}" \
  -DCMAKE_PREFIX_PATH="$kit" > "$out/configure.txt" 2>&1 || { tail -30 "$out/configure.txt"; exit 1; }
step build
cmake --build $build -j"${JOBS:-$(nproc)}" > "$out/build.txt" 2>&1 || { tail -40 "$out/build.txt"; exit 1; }
step tests
ctest --test-dir $build --output-on-failure -j4 > "$out/ctest.txt" 2>&1
tests_rc=$?
# The CUDA tests one by one, with their skips and failures by name (ctest folds a GTEST_SKIP into "Skipped").
$build/bin/scorch_tests --gtest_filter='Cuda*' > "$out/cuda_tests.txt" 2>&1
step compare
export PYTHON=${PYTHON:-$(command -v python3)}  # the image's python3, with torch 2.x and CUDA
bench/compare --device cuda --build-dir $build --markdown > "$out/compare.txt" 2>&1
compare_rc=$?

{
  echo "# GPU check, $(date -u +%Y-%m-%d)"
  echo
  echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (dirty)')"
  echo "- device: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo 'nvidia-smi failed')"
  echo "- nvcc: $(nvcc --version | grep release)"
  echo "- cuDNN: $(grep -m1 'cuDNN:' "$out/configure.txt" | sed 's/^-- //')"
  echo "- command: scripts/gpu_check.sh (GPU_ARCH=${GPU_ARCH:-90})"
  echo
  echo "## Tests (exit code $tests_rc)"
  echo
  echo '```'
  grep -E "tests passed|tests failed|Total Test time" "$out/ctest.txt"
  grep -E "^\[  (PASSED|FAILED|SKIPPED) \]" "$out/cuda_tests.txt" | head -60
  echo '```'
  echo
  echo "## bench/compare --device cuda (exit code $compare_rc)"
  echo
  sed -n '/^| /,$p' "$out/compare.txt" | grep '^|'
} > "$log"
cat "$log"
