#!/usr/bin/env bash
# The GPU runner's evaluation environment, built once per lock file and reused by every later job: a
# virtualenv of requirements/gpu.txt (hash-pinned: pip refuses any file whose sha256 differs), kept under
# EASEL_ENV_ROOT (default: the runner's tool cache). A job then installs this checkout of Easel into it
# offline (no index, no build isolation: the build tools are in the lock), so a warm start needs no
# network. Prints the environment's folder. Cold and warm times: docs/organizers.md, "Install times".
# Usage: .github/scripts/prepared-env.sh requirements/gpu.txt
set -euo pipefail
lock="$1"
python="${EASEL_PYTHON:-python3.11}"
root="${EASEL_ENV_ROOT:-${RUNNER_TOOL_CACHE:-$HOME/.cache}/easel-env}"
version="$("$python" -c 'import sys; print("py%d.%d" % sys.version_info[:2])')"
key="$(sha256sum "$lock" | cut -c1-16)-$version"
env="$root/$key"
mkdir -p "$root"
(
  # One builder at a time per root; a build that died halfway (no .complete stamp) is started again.
  flock 9
  if [ ! -f "$env/.complete" ]; then
    echo "building the evaluation environment $env (once per lock)" >&2
    rm -rf "$env"
    "$python" -m venv "$env"
    "$env/bin/python" -m pip install --quiet --no-cache-dir --require-hashes --no-deps -r "$lock" >&2
    "$env/bin/python" -m pip check >&2
    touch "$env/.complete"
  else
    echo "reusing the evaluation environment $env" >&2
  fi
  touch "$env/.last-used"
  # Environments of older locks (several GB each) go once no job has used them for 14 days.
  find "$root" -mindepth 2 -maxdepth 2 -name .last-used -mtime +14 -printf '%h\n' | while IFS= read -r old; do
    [ "$old" != "$env" ] && rm -rf "$old"
  done
  # This job's Easel (main's checkout, the current directory), into the environment without a network.
  "$env/bin/python" -m pip install --quiet --no-deps --no-index --no-build-isolation -e . >&2
) 9>"$root/.lock"
echo "$env"
