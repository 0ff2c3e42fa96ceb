#!/usr/bin/env bash
# Self-hosted runner job-started hook (ACTIONS_RUNNER_HOOK_JOB_STARTED): the last line of defence
# if a workflow setting is ever loosened. It refuses every job except those of
# .github/workflows/evaluate.yml and publish.yml as defined on refs/heads/main of the competition
# repository, so a workflow file from a pull request never starts on the machine with the data.
# A non-zero exit fails the job before its first step. See docs/organizers.md.
set -euo pipefail

ref="${GITHUB_WORKFLOW_REF:-}"
repo="${EASEL_REPOSITORY:-${GITHUB_REPOSITORY:-}}"   # pin it in the runner's .env to be strict
event="${GITHUB_EVENT_NAME:-}"

refuse() {
  # Never echo the raw values: only characters that cannot form workflow commands.
  printf 'easel runner: refusing this job: %s (workflow %s)\n' "$1" "$(printf '%s' "$ref" | tr -c 'A-Za-z0-9_./@-' '?')" >&2
  exit 1
}

[ -n "$repo" ] || refuse "no repository"
[ -n "$ref" ] || refuse "no GITHUB_WORKFLOW_REF"
case "$event" in
  pull_request_target | push | workflow_dispatch) ;;
  *) refuse "event is not pull_request_target, push or workflow_dispatch" ;;
esac
case "$ref" in
  "$repo/.github/workflows/evaluate.yml@refs/heads/main" | "$repo/.github/workflows/publish.yml@refs/heads/main") ;;
  *) refuse "only evaluate.yml and publish.yml from refs/heads/main may run here" ;;
esac
echo "easel runner: accepted $ref"
