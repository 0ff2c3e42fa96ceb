#!/usr/bin/env bash
# Self-hosted runner job-started hook (ACTIONS_RUNNER_HOOK_JOB_STARTED): the last line of defence
# if a workflow setting is ever loosened. It refuses every job except those of
# .github/workflows/evaluate.yml, publish.yml, reveal.yml and rescore.yml as defined on refs/heads/main
# of the competition repository, so a workflow file from a pull request never starts on the machine
# with the data; and it refuses runners older than MIN_RUNNER_VERSION, which cannot run
# actions/checkout v5 (Node 24) and would fail at the first step.
# A non-zero exit fails the job before its first step. See docs/organizers.md.
set -euo pipefail

MIN_RUNNER_VERSION="2.327.1"
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
  "$repo/.github/workflows/reveal.yml@refs/heads/main" | "$repo/.github/workflows/rescore.yml@refs/heads/main")
    [ "$event" = workflow_dispatch ] || refuse "reveal.yml and rescore.yml run only by workflow_dispatch" ;;
  *) refuse "only evaluate.yml, publish.yml, reveal.yml and rescore.yml from refs/heads/main may run here" ;;
esac

# The runner's version: EASEL_RUNNER_VERSION (set by the image), else the runner's own
# `bin/Runner.Listener --version` in EASEL_RUNNER_DIR or the folder above the default `_work`.
version="${EASEL_RUNNER_VERSION:-}"
if [ -z "$version" ]; then
  root="${EASEL_RUNNER_DIR:-}"
  workspace="${GITHUB_WORKSPACE:-}"
  if [ -z "$root" ] && [[ "$workspace" == */_work/* ]]; then root="${workspace%%/_work/*}"; fi
  if [ -n "$root" ] && [ -x "$root/bin/Runner.Listener" ]; then
    version="$("$root/bin/Runner.Listener" --version 2>/dev/null | head -n 1 || true)"
  fi
fi
[[ "$version" =~ ^[0-9]{1,4}\.[0-9]{1,4}\.[0-9]{1,4}$ ]] \
  || refuse "cannot tell the runner version: set EASEL_RUNNER_VERSION or EASEL_RUNNER_DIR in the runner's .env"
if [ "$(printf '%s\n%s\n' "$MIN_RUNNER_VERSION" "$version" | sort -V | head -n 1)" != "$MIN_RUNNER_VERSION" ]; then
  refuse "runner $version is older than $MIN_RUNNER_VERSION, which actions/checkout v5 (Node 24) needs; update the runner image"
fi
echo "easel runner $version: accepted $ref"
