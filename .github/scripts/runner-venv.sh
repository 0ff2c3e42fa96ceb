#!/usr/bin/env bash
# Create $RUNNER_TEMP/venv with this checkout of Easel installed (editable), for a self-hosted job.
# Usage: runner-venv.sh [EXTRA]     EXTRA: an optional dependency group of pyproject.toml, e.g. gpu
# Default: a fresh virtualenv from python3.11; Easel and its dependencies (with EXTRA) come from PyPI.
# EASEL_RUNNER_VENV (runner environment, docs/organizers.md, "A prepared environment on the runner"): a
# virtualenv prepared once on the runner that already holds those dependencies. The fresh venv then reads
# them from there (one .pth line) and only Easel itself is installed, offline: pip checks that every
# dependency is present and stops if one is missing; EXTRA's GPU stack is checked by `easel evaluate
# --require-gpu` (E_NO_GPU).
set -euo pipefail
venv="$RUNNER_TEMP/venv"
extra="${1:+[$1]}"
if [ -n "${EASEL_RUNNER_VENV:-}" ]; then
  prepared="$EASEL_RUNNER_VENV/bin/python"
  [ -x "$prepared" ] || { echo "::error::EASEL_RUNNER_VENV=$EASEL_RUNNER_VENV has no bin/python"; exit 1; }
  "$prepared" -m venv --without-pip "$venv"
  site_of() { "$1" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }
  site_of "$prepared" > "$(site_of "$venv/bin/python")/easel-runner-venv.pth"
  echo "reusing the prepared environment $EASEL_RUNNER_VENV (EASEL_RUNNER_VENV)"
  "$venv/bin/python" -m pip install --quiet --no-index --no-build-isolation -e .
  # An Easel installed in the prepared environment itself would shadow this checkout's.
  here="$(cd "$PWD" && pwd -P)"
  found="$(cd "$RUNNER_TEMP" && "$venv/bin/python" -c 'import evaluator, os; print(os.path.realpath(evaluator.__file__))')"
  [[ "$found" == "$here/"* ]] || { echo "::error::EASEL_RUNNER_VENV: imports Easel from $found, not from this checkout; pip uninstall easel there"; exit 1; }
else
  python3.11 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet -e ".$extra"
fi
