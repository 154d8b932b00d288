#!/usr/bin/env bash
# tests/with_other_coretype.sh CMD...: runs CMD with OPENBLAS_CORETYPE flipped (unset when the
# environment sets it, Haswell when it does not), so that one ctest run proves the determinism tests
# under both of OpenBLAS's kernel choices on any x86-64-v3 machine (docs/determinism.md).
if [[ -n ${OPENBLAS_CORETYPE:-} ]]; then
  echo "with_other_coretype: OPENBLAS_CORETYPE unset (was $OPENBLAS_CORETYPE)"
  unset OPENBLAS_CORETYPE
else
  echo "with_other_coretype: OPENBLAS_CORETYPE=Haswell (was unset)"
  export OPENBLAS_CORETYPE=Haswell
fi
exec "$@"
