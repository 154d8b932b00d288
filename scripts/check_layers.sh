#!/usr/bin/env bash
# scripts/check_layers.sh [ROOT]: fails on any include against the layer order of
# docs/architecture.md,
#
#     tensor <- cuda <- autograd <- nn <- samplers <- apps
#
# A file may include headers of its own layer and of the layers to its left, never of one to its
# right: tensor/ includes only tensor/, cuda/ includes tensor/ and cuda/, and so on. tools/, tests/ and
# bench/ may include anything. Reads every #include "..." of the C++ and CUDA sources, prints each
# violation as FILE:LINE: LAYER includes HEADER and exits 1; else prints one line and exits 0.
# ctest runs it (Layers.IncludesFollowTheLayerOrder).
set -euo pipefail
root=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
layers=(tensor cuda autograd nn samplers apps)
bad=0
for ((rank = 0; rank < ${#layers[@]}; rank++)); do
  layer=${layers[rank]}
  [[ -d $root/$layer ]] || continue
  above=("${layers[@]:rank+1}")
  [[ ${#above[@]} -gt 0 ]] || continue
  pattern="^[[:space:]]*#[[:space:]]*include[[:space:]]*\"($(IFS='|'; echo "${above[*]}"))/"
  while IFS= read -r hit; do
    echo "${hit#"$root"/}: $layer includes a header of a layer above it"
    bad=$((bad + 1))
  done < <(grep -rnE --include='*.h' --include='*.hpp' --include='*.cpp' --include='*.cu' --include='*.cuh' \
             "$pattern" "$root/$layer" || true)
done
if ((bad > 0)); then
  echo "check_layers: $bad include(s) against the order ${layers[*]}" >&2
  exit 1
fi
echo "check_layers: every include of ${layers[*]} points down the order"
