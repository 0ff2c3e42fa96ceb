#!/usr/bin/env bash
# Evaluate merged submission folders on the self-hosted runner (reveal.yml, rescore.yml).
# Usage: evaluate-entries.sh SPLIT LIST OUT
#   LIST: lines "submissions/<team>/<model>"; OUT: results/<dir>/result.json are written there.
# Each result is bound to the commit of the folder in this checkout (the content scored).
set -euo pipefail
split="$1"; list="$2"; out="$3"
easel="$RUNNER_TEMP/venv/bin/easel"
[ -n "${EASEL_DATA_ROOT:-}" ] || { echo "EASEL_DATA_ROOT is not set on this runner"; exit 3; }
mkdir -p "$out"
while IFS= read -r dir; do
  [ -d "$dir" ] || continue  # LIST comes from entry-dirs.py, which checks the names
  result="$out/$dir/result.json"
  # Models stay untrusted after merge: easel evaluate runs them in its sandbox as always.
  "$easel" evaluate "$dir" --data "$EASEL_DATA_ROOT" --split "$split" --out "$result" \
    || echo "::warning::evaluation of $dir did not succeed; see its result.json"
  if [ -f "$result" ]; then "$easel" bot bind "$result" --folder "$dir"; fi
done < "$list"
touch "$out/.keep"
