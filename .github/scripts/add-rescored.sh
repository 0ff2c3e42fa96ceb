#!/usr/bin/env bash
# Add re-scored results to leaderboard.yaml (rescore.yml's commit job; idempotent).
# Usage: add-rescored.sh RESULTS   (GITHUB_TOKEN: read-only, for `easel bot find-pr`; REPO: owner/name)
set -euo pipefail
results="$1"
find "$results" -name result.json | sort | while IFS= read -r result; do
  dir="${result#"$results"/}"; dir="${dir%/result.json}"
  [[ "$dir" =~ ^submissions/[a-z0-9][a-z0-9_-]{0,39}/[a-z0-9][a-z0-9_-]{0,39}$ ]] || continue
  commit="$(python -c 'import sys; from evaluator.github import read_binding; print(read_binding(sys.argv[1])[1])' "$result")" \
    || { echo "::warning::$dir: no scored commit recorded"; continue; }
  pr="$(easel bot find-pr --repo "$REPO" --commit "$commit")"
  [[ "$pr" =~ ^[0-9]{1,9}$ ]] || { echo "::warning::no merged PR found for $dir"; continue; }
  easel leaderboard add "$result" --pr "$pr" --commit "$commit" --submission "$dir" --rescore \
    || echo "::warning::$dir was not re-scored (see the error above)"
done
