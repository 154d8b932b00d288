#!/usr/bin/env bash
# scripts/check_readme_commands.sh [ROOT]: fails unless the README's two commands are what CI runs.
#
#   - the test command (the README's line that starts with P=") is, character for character, the
#     command line of .ci/run;
#   - the first command (the line that starts with apt-get update) installs exactly the packages of
#     that P list, so the main job and the tests need the same machine.
#
# Prints what differs and exits 1; else prints one line and exits 0. ctest runs it
# (Readme.CommandsAreWhatCiRuns).
set -euo pipefail
root=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
readme=$root/README.md ci=$root/.ci/run
bad=0
fail() { echo "check_readme_commands: $*" >&2; bad=1; }

mapfile -t test_lines < <(grep -E '^P="' "$readme" || true)
mapfile -t ci_lines < <(grep -E '^P="' "$ci" || true)
[[ ${#test_lines[@]} -eq 1 ]] || fail "README.md: expected one line starting with P=\", found ${#test_lines[@]}"
[[ ${#ci_lines[@]} -eq 1 ]] || fail ".ci/run: expected one line starting with P=\", found ${#ci_lines[@]}"
if ((bad == 0)) && [[ ${test_lines[0]} != "${ci_lines[0]}" ]]; then
  fail "README.md's test command differs from .ci/run's:"
  diff <(echo "${test_lines[0]}" | tr ' ' '\n') <(echo "${ci_lines[0]}" | tr ' ' '\n') >&2 || true
fi

mapfile -t first_lines < <(grep -E '^apt-get update && ' "$readme" || true)
[[ ${#first_lines[@]} -eq 1 ]] || fail "README.md: expected one line starting with 'apt-get update && ', found ${#first_lines[@]}"
if ((bad == 0)); then
  packages=$(sed -E 's/^P="([^"]*)".*/\1/' <<<"${ci_lines[0]}" | tr ' ' '\n' | sort)
  installed=$(sed -E 's/.*--no-install-recommends ([^&]*) &&.*/\1/' <<<"${first_lines[0]}" | tr ' ' '\n' | sed '/^$/d' | sort)
  if [[ $packages != "$installed" ]]; then
    fail "README.md's first command installs other packages than .ci/run's P list (< P, > first command):"
    diff <(echo "$packages") <(echo "$installed") >&2 || true
  fi
fi
((bad == 0)) || exit 1
echo "check_readme_commands: the README's two commands match .ci/run"
