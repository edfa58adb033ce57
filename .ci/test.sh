#!/usr/bin/env bash
# The whole test suite (the README's test command ends here). Every stage runs, even after another one failed, so one
# failure never hides the others; a summary of all stages comes last and the script fails if any stage failed.
#   1. sync   bulat_nb/ is what nbdev-export makes of nbs/      2. clean  nbdev-clean changes no notebook
#   3. notebooks  every notebook passes nbdev-test at smoke scale  4. pytest  CLI, runs, registry, docs in Chromium
# Run inside the dev environment (pip install -e ".[dev]").
set -uo pipefail
cd "$(dirname "$0")/.."
snapshot() { find bulat_nb nbs -type f \( -name '*.py' -o -name '*.ipynb' \) -not -path '*/.ipynb_checkpoints/*' -print0 | sort -z | xargs -0 sha1sum; }
declare -a names results
stage() {  # stage NAME COMMAND...: run it, remember pass/fail and its time
  local name=$1; shift
  echo; echo "=== stage: $name"
  local t0=$SECONDS
  if "$@"; then results+=("PASS  $name ($((SECONDS - t0)) s)"); else results+=("FAIL  $name ($((SECONDS - t0)) s)"); fi
}
sync_check() {
  local before; before=$(snapshot)
  nbdev-export || return 1
  if [ "$before" != "$(snapshot)" ]; then
    echo "FAIL: bulat_nb/ is out of sync with nbs/ (nbdev-export changed it): run nbdev-export and commit." >&2
    diff <(echo "$before") <(snapshot) >&2; return 1
  fi
  echo "bulat_nb/ is in sync with nbs/."
}
clean_check() {
  local before; before=$(snapshot)
  nbdev-clean || return 1
  if [ "$before" != "$(snapshot)" ]; then
    echo "FAIL: nbdev-clean changed notebooks: run nbdev-clean and commit." >&2
    diff <(echo "$before") <(snapshot) >&2; return 1
  fi
  echo "Notebooks are clean."
}
# two notebook workers on two cores: one thread each
notebooks() { OMP_NUM_THREADS=1 BULAT_NB_THREADS=1 nbdev-test --n-workers 2 --timing; }

stage sync sync_check
stage clean clean_check
stage notebooks notebooks
stage pytest pytest -ra

echo; echo "=== summary"
printf '%s\n' "${results[@]}"
failed=$(printf '%s\n' "${results[@]}" | grep -c '^FAIL' || true)
if [ "$failed" -gt 0 ]; then echo "$failed of ${#results[@]} stages failed."; exit 1; fi
echo "All ${#results[@]} stages passed."
