#!/usr/bin/env bash
# The whole test suite (the README's test command ends here): the package must be in sync with the notebooks and the
# notebooks clean, every notebook must pass nbdev-test at smoke scale, then pytest. Run inside the dev environment.
set -euo pipefail
cd "$(dirname "$0")/.."
snapshot() { find bulat_nb nbs -type f \( -name '*.py' -o -name '*.ipynb' \) -not -path '*/.ipynb_checkpoints/*' -print0 | sort -z | xargs -0 sha1sum; }

before=$(snapshot)
nbdev-export
if [ "$before" != "$(snapshot)" ]; then
  echo "FAIL: bulat_nb/ is out of sync with nbs/ (nbdev-export changed it): run nbdev-export and commit." >&2
  diff <(echo "$before") <(snapshot) >&2 || true
  exit 1
fi
nbdev-clean
if [ "$before" != "$(snapshot)" ]; then
  echo "FAIL: nbdev-clean changed notebooks: run nbdev-clean and commit." >&2
  diff <(echo "$before") <(snapshot) >&2 || true
  exit 1
fi
echo "bulat_nb/ in sync with nbs/; notebooks clean."

# two notebook workers on two cores: one thread each
OMP_NUM_THREADS=1 BULAT_NB_THREADS=1 nbdev-test --n-workers 2 --timing

pytest -ra
