#!/usr/bin/env bash
# Commit what COMMAND changes under PATHS and push it to main with the GitHub App's token.
# Usage: PUSH_TOKEN=... push-main.sh MESSAGE "PATH..." COMMAND [ARG...]
# If main moved meanwhile, fetch it, reset, run COMMAND again (it must be idempotent) and retry,
# up to 5 times. Nothing changed: exit 0 without a commit, so a re-run changes nothing.
set -euo pipefail
message="$1"; read -r -a paths <<< "$2"; shift 2
[ -n "${PUSH_TOKEN:-}" ] || { echo "push-main.sh: PUSH_TOKEN is empty (the GitHub App token step failed?)" >&2; exit 1; }
git config user.name "easel-bot"
git config user.email "easel-bot@users.noreply.github.com"
auth="AUTHORIZATION: basic $(printf 'x-access-token:%s' "$PUSH_TOKEN" | base64 -w0)"
with_token() {
  # The token travels in git's environment config, never on a command line or in .git/config.
  GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=http.https://github.com/.extraheader GIT_CONFIG_VALUE_0="$auth" git "$@"
}
for attempt in 1 2 3 4 5; do
  "$@"
  if [ -z "$(git status --porcelain -- "${paths[@]}")" ]; then
    echo "nothing changed under ${paths[*]}"; exit 0
  fi
  git add -- "${paths[@]}"
  git commit --quiet -m "$message"
  if with_token push --quiet origin HEAD:main; then
    exit 0
  fi
  echo "main moved (attempt $attempt); re-applying on the new main"
  with_token fetch --quiet origin main
  git reset --quiet --hard origin/main
  sleep $((attempt * 5))
done
echo "could not push to main after 5 attempts" >&2
exit 1
