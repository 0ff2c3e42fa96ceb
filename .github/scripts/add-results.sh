#!/usr/bin/env bash
# Add every evaluated result under RESULTS to leaderboard.yaml, bound to the commit the evaluation
# recorded (never a later lookup), and keep each sample grid under site/samples/. Idempotent: run
# again on a newer main (push-main.sh does), it adds only what is missing.
# --rescore (rescore.yml): the results replace earlier scorings, which stay in each entry's history.
# Which results are bound, to which commit, and where their grids go is decided in Python
# (evaluator/binding.py, read_bindings): this script checks no id or hash itself.
# Usage: REPO=owner/name GITHUB_TOKEN=... add-results.sh [--rescore] RESULTS
set -euo pipefail
rescore=()
if [ "${1:-}" = "--rescore" ]; then rescore=(--rescore); shift; fi
results="$1"
bound="$(python -m evaluator.binding read_bindings "$results")"
while IFS=$'\t' read -r dir result commit samples site_samples; do
  [ -n "$dir" ] || continue
  pr="$(easel bot find-pr --repo "$REPO" --commit "$commit")"
  [ -n "$pr" ] || { echo "::warning::no merged PR found for $dir"; continue; }
  if easel leaderboard add "$result" --pr "$pr" --commit "$commit" --submission "$dir" "${rescore[@]}"; then
    # The sample grid (pixels written by the trusted evaluator) is kept next to the board
    # so every later site build still has it.
    if [ "$samples" != "-" ]; then
      mkdir -p "$(dirname "$site_samples")"
      cp "$samples" "$site_samples"
    fi
  else
    echo "::warning::$dir was not added (see the error above)"
  fi
done <<< "$bound"
