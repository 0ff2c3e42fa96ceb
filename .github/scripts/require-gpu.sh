#!/usr/bin/env bash
# For a job on the GPU runner, before it scores: every later `easel evaluate` of the job refuses (E_NO_GPU,
# exit 3) to score on the CPU (EASEL_REQUIRE_GPU=1 through $GITHUB_ENV), unless the runner itself says it has
# no GPU on purpose (EASEL_ALLOW_CPU=1 in its environment: test runners, docs/organizers.md, "GPU").
set -euo pipefail
if [ "${EASEL_ALLOW_CPU:-}" = 1 ]; then
  echo "::warning::EASEL_ALLOW_CPU=1 on this runner: scoring on the CPU is allowed (the result says so)"
else
  echo "EASEL_REQUIRE_GPU=1" >> "$GITHUB_ENV"
fi
