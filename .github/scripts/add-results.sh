#!/usr/bin/env bash
# Add every evaluated result under RESULTS to leaderboard.yaml, bound to the commit the evaluation
# recorded (never a later lookup), and keep each sample grid under site/samples/. Idempotent: run
# again on a newer main (push-main.sh does), it adds only what is missing.
# --rescore (rescore.yml): the results replace earlier scorings, which stay in each entry's history.
# Usage: REPO=owner/name GITHUB_TOKEN=... add-results.sh [--rescore] RESULTS
set -euo pipefail
rescore=()
if [ "${1:-}" = "--rescore" ]; then rescore=(--rescore); shift; fi
results="$1"
find "$results" -name result.json | sort | while IFS= read -r result; do
  dir="${result#"$results"/}"; dir="${dir%/result.json}"
  [[ "$dir" =~ ^submissions/[a-z0-9][a-z0-9_-]{0,39}/[a-z0-9][a-z0-9_-]{0,39}$ ]] || continue
  # The commit the evaluation job recorded for the content it scored (submission.commit).
  commit="$(python -c 'import sys; from evaluator.github import read_binding; print(read_binding(sys.argv[1])[1])' "$result")" \
    || { echo "::warning::$dir: no scored commit recorded"; continue; }
  [[ "$commit" =~ ^[0-9a-f]{40}$ ]] || continue
  pr="$(easel bot find-pr --repo "$REPO" --commit "$commit")"
  [[ "$pr" =~ ^[0-9]{1,9}$ ]] || { echo "::warning::no merged PR found for $dir"; continue; }
  if easel leaderboard add "$result" --pr "$pr" --commit "$commit" --submission "$dir" "${rescore[@]}"; then
    # The sample grid (pixels written by the trusted evaluator) is kept next to the board
    # so every later site build still has it: site/samples/<track>/<team>/<model>.png.
    track="$(python -c 'import sys; from evaluator.result import load_result; print(load_result(sys.argv[1]).track.id)' "$result")"
    samples="$(dirname "$result")/samples.png"
    if [[ "$track" =~ ^[a-z0-9][a-z0-9_-]{0,39}$ && -f "$samples" ]]; then
      team="${dir#submissions/}"; team="${team%%/*}"
      mkdir -p "site/samples/$track/$team"
      cp "$samples" "site/samples/$track/$team/${dir##*/}.png"
    fi
  else
    echo "::warning::$dir was not added (see the error above)"
  fi
done
