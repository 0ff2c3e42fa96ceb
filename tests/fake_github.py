"""A fake GitHub REST server on loopback (pytest-httpserver) for the score bot's tests.

The real PyGithub client talks to it through --api-url. It keeps comments,
pull requests and labels in memory, pages every listing as GitHub does
(per_page up to 100, page, a Link header) and records every request, so the
tests can count what the bot costs against the token's hourly budget.

For the workflows run under act (tests/act_harness.py) it also stands in for the rest of GitHub that the
jobs reach: the repository itself over git's smart HTTP (:meth:`FakeGitHub.serve_git`, a bare repository
on disk, clone/fetch/push at ``/o/r``), the artifacts of a run by run id (listing and zip download, read
from act's artifact server folder, :meth:`FakeGitHub.serve_artifacts`) and a GitHub App's installation
token (:meth:`FakeGitHub.serve_app`: the JWT is verified against the App's public key).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import threading
import zlib
from pathlib import Path

from werkzeug.wrappers import Response

from evaluator.github import iso

BOT = "github-actions[bot]"
SHA = "0123456789abcdef0123456789abcdef01234567"
TOKEN = "ghs_FAKEtoken0123456789abcdefSECRET"  # GITHUB_TOKEN of the `fake` fixture (tests/conftest.py)
TEAMS_YAML = """teams:
  acme: {name: ACME, members: [alice, bob, carol]}
  other: {name: Other, members: [dave]}
"""


class FakeGitHub:
    """Just the endpoints PyGithub calls for issues, pulls, comments and labels."""

    def __init__(self, server, files=("submissions/acme/inkgan/submission.yaml",), author="alice"):
        self.server, self.base = server, server.url_for("").rstrip("/")
        self.comments: list[dict] = []
        self.files, self.author = list(files), author
        self.next_id = 1000
        self.failures: list[tuple[int, dict]] = []  # answers served before any real one
        self.fail_on: dict[tuple[str, str], tuple[int, dict]] = {}  # (method, path) -> one failure
        self.authors: dict[int, str] = {}  # PR number -> author login (default: `author`)
        self.heads: dict[int, str] = {}  # PR number -> current head SHA (default: SHA)
        self.labelled: dict[int, str] = {}  # PR number -> last label event time
        self.merged: dict[str, int] = {}  # commit -> PR number that merged it
        self.pr_files: dict[int, list[str]] = {}  # PR number -> its changed files (default: `files`)
        self.labels: dict[int, list[str]] = {}  # PR number -> labels on it (absent: not tracked)
        self.lock = threading.Lock()  # act's jobs and actions may call concurrently (threaded server)
        self.artifact_root: Path | None = None
        self.app_key = None  # the GitHub App's public key (serve_app)
        self.tokens: list[str] = []  # installation tokens minted
        self.revoked: list[str] = []
        r = re.compile
        routes = [
            ("GET", r(r"^/repos/o/r/issues/(\d+)$"), self.issue),
            ("GET", r(r"^/repos/o/r/issues/(\d+)/comments$"), self.list_comments),
            ("POST", r(r"^/repos/o/r/issues/(\d+)/comments$"), self.create_comment),
            ("PATCH", r(r"^/repos/o/r/issues/comments/(\d+)$"), self.edit_comment),
            ("GET", r(r"^/repos/o/r/issues/comments$"), self.repo_comments),
            ("DELETE", r(r"^/repos/o/r/issues/(\d+)/labels/([^/]+)$"), self.remove_label),
            ("GET", r(r"^/repos/o/r/issues/(\d+)/labels$"), self.list_labels),
            ("GET", r(r"^/repos/o/r/pulls$"), self.list_pulls),
            ("GET", r(r"^/repos/o/r/pulls/(\d+)$"), self.pull),
            ("GET", r(r"^/repos/o/r/pulls/(\d+)/files$"), self.pull_files),
            ("GET", r(r"^/repos/o/r/commits/([0-9a-f]{40})/pulls$"), self.commit_pulls),
        ]
        for method, uri, handler in routes:
            server.expect_request(uri, method=method).respond_with_handler(self._wrap(uri, handler))

    def _wrap(self, uri, handler):
        def serve(request):
            failure = self.fail_on.pop((request.method, request.path), None)
            if self.failures or failure:
                status, headers = failure or self.failures.pop(0)
                return Response(json.dumps({"message": "fail"}), status=status, headers=headers,
                                content_type="application/json")
            with self.lock:
                status, body = handler(request, *uri.match(request.path).groups())
            headers = {}
            if isinstance(body, list):  # GitHub pages every listing: per_page (max 100), page, Link
                per_page = min(int(request.args.get("per_page", 30)), 100)
                page = int(request.args.get("page", 1))
                if len(body) > page * per_page:
                    args = {**request.args.to_dict(), "page": str(page + 1), "per_page": str(per_page)}
                    query = "&".join(f"{k}={v}" for k, v in args.items())
                    headers["Link"] = f'<{self.base}{request.path}?{query}>; rel="next"'
                body = body[(page - 1) * per_page:page * per_page]
            return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")
        return serve

    def _comment_json(self, c, number):
        return {"id": c["id"], "body": c["body"], "user": {"login": c["login"], "type": "Bot"},
                "url": f"{self.base}/repos/o/r/issues/comments/{c['id']}",
                "issue_url": f"{self.base}/repos/o/r/issues/{number}",
                "created_at": c["created"], "updated_at": c["updated"]}

    def add(self, number, body, login=BOT, updated=None):
        when = updated or iso(dt.datetime.now(dt.timezone.utc))
        self.next_id += 1
        self.comments.append({"id": self.next_id, "pr": number, "body": body, "login": login,
                              "created": when, "updated": when})

    def issue(self, request, number):
        return 200, {"number": int(number), "id": int(number), "url": f"{self.base}/repos/o/r/issues/{number}",
                     "title": "t", "state": "open", "user": {"login": self.authors.get(int(number), self.author)},
                     "labels": [{"name": n} for n in self.labels.get(int(number), [])]}

    def list_comments(self, request, number):
        return 200, [self._comment_json(c, number) for c in self.comments if c["pr"] == int(number)]

    def create_comment(self, request, number):
        self.add(int(number), request.get_json()["body"])
        return 201, self._comment_json(self.comments[-1], number)

    def edit_comment(self, request, cid):
        comment = next(c for c in self.comments if c["id"] == int(cid))
        comment["body"], comment["updated"] = request.get_json()["body"], iso(dt.datetime.now(dt.timezone.utc))
        return 200, self._comment_json(comment, comment["pr"])

    def repo_comments(self, request):
        since = dt.datetime.fromisoformat(request.args["since"].replace("Z", "+00:00"))
        keep = [c for c in self.comments if dt.datetime.fromisoformat(c["updated"].replace("Z", "+00:00")) >= since]
        return 200, [self._comment_json(c, c["pr"]) for c in keep]

    def remove_label(self, request, number, name):
        number = int(number)
        if number in self.labels:
            from urllib.parse import unquote

            if unquote(name) not in self.labels[number]:
                return 404, {"message": "Label does not exist"}
            self.labels[number].remove(unquote(name))
        self.labelled[number] = iso(dt.datetime.now(dt.timezone.utc))
        return 200, [{"name": n} for n in self.labels.get(number, [])]

    def list_labels(self, request, number):
        return 200, [{"name": n} for n in self.labels.get(int(number), [])]

    def _pull_json(self, number):
        stamps = [c["updated"] for c in self.comments if c["pr"] == number]
        stamps += [self.labelled[number]] if number in self.labelled else []
        updated = max(stamps, key=lambda t: dt.datetime.fromisoformat(t.replace("Z", "+00:00"))) if stamps \
            else iso(dt.datetime.now(dt.timezone.utc))
        return {"number": number, "id": number, "url": f"{self.base}/repos/o/r/pulls/{number}",
                "user": {"login": self.authors.get(number, self.author)}, "head": {"sha": self.heads.get(number, SHA)},
                "state": "open", "updated_at": updated}

    def pull(self, request, number):
        return 200, self._pull_json(int(number))

    def list_pulls(self, request):
        numbers = {c["pr"] for c in self.comments} | set(self.authors) | set(self.labelled)
        pulls = [self._pull_json(n) for n in numbers]
        return 200, sorted(pulls, key=lambda p: (p["updated_at"], p["number"]), reverse=True)

    def commit_pulls(self, request, sha):
        number = self.merged.get(sha)
        return 200, [] if number is None else [self._pull_json(number)]

    def pull_files(self, request, number):
        files = self.pr_files.get(int(number), self.files)
        return 200, [{"filename": f, "status": "added", "sha": "1" * 40} for f in files]

    # -- the repository over git's smart HTTP (clone, fetch, push), as https://github.com/o/r serves it --

    def serve_git(self, git_root: Path) -> None:
        """Serve the bare repository ``git_root/o/r`` at ``/o/r`` through ``git http-backend`` (pushes allowed)."""
        self.git_root = Path(git_root)
        uri = re.compile(r"^/o/r/(info/refs|git-upload-pack|git-receive-pack|HEAD)$")
        for method in ("GET", "POST"):
            self.server.expect_request(uri, method=method).respond_with_handler(self._git_http)

    def _git_http(self, request):
        body = request.get_data()
        env = {"PATH": os.environ["PATH"], "GIT_PROJECT_ROOT": str(self.git_root), "GIT_HTTP_EXPORT_ALL": "1",
               "PATH_INFO": request.path, "REQUEST_METHOD": request.method,
               "QUERY_STRING": request.query_string.decode(), "CONTENT_TYPE": request.content_type or "",
               "CONTENT_LENGTH": str(len(body)), "REMOTE_USER": "easel-bot", "REMOTE_ADDR": "127.0.0.1",
               "HTTP_CONTENT_ENCODING": request.headers.get("Content-Encoding", ""),
               "GIT_PROTOCOL": request.headers.get("Git-Protocol", ""), "GIT_CONFIG_NOSYSTEM": "1",
               "HOME": str(self.git_root)}
        proc = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, check=False)
        head, _, payload = proc.stdout.partition(b"\r\n\r\n")
        status, headers = 200, {}
        for line in head.decode("latin-1").split("\r\n"):
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.split()[0])
            elif key:
                headers[key] = value.strip()
        return Response(payload, status=status, headers=headers)

    # -- the artifacts of a run, by run id (actions/download-artifact with run-id and github-token) --

    def serve_artifacts(self, artifact_root: Path) -> None:
        """List and download what act's artifact server stored (``ROOT/<run id>/<name>/<name>.zip``)."""
        self.artifact_root = Path(artifact_root)
        for uri, handler in ((r"^/repos/o/r/actions/runs/(\d+)/artifacts$", self.run_artifacts),
                             (r"^/repos/o/r/actions/artifacts/(\d+)$", self.artifact)):
            self.server.expect_request(re.compile(uri), method="GET").respond_with_handler(
                self._wrap(re.compile(uri), handler))
        self.server.expect_request(re.compile(r"^/repos/o/r/actions/artifacts/(\d+)/zip$"),
                                   method="GET").respond_with_handler(self._artifact_redirect)
        self.server.expect_request(re.compile(r"^/_blobs/(\d+)\.zip$"),
                                   method="GET").respond_with_handler(self._artifact_zip)

    def _artifact_redirect(self, request):
        # GitHub answers with a short-lived blob-storage address; download-artifact expects exactly a 302.
        artifact_id = int(request.path.split("/")[-2])
        return Response("", status=302, headers={"Location": f"{self.base}/_blobs/{artifact_id}.zip"})

    def _artifacts(self) -> list[dict]:
        found = []
        for archive in sorted(self.artifact_root.glob("*/*/*.zip")) if self.artifact_root else []:
            run, name = archive.parent.parent.name, archive.parent.name
            found.append({"id": zlib.crc32(f"{run}/{name}".encode()), "name": name, "run": int(run),
                          "path": archive})
        return found

    def _artifact_json(self, a) -> dict:
        return {"id": a["id"], "node_id": f"A{a['id']}", "name": a["name"], "size_in_bytes": a["path"].stat().st_size,
                "url": f"{self.base}/repos/o/r/actions/artifacts/{a['id']}",
                "archive_download_url": f"{self.base}/repos/o/r/actions/artifacts/{a['id']}/zip",
                "expired": False, "created_at": iso(dt.datetime.now(dt.timezone.utc)),
                "workflow_run": {"id": a["run"]}}

    def run_artifacts(self, request, run):
        mine = [self._artifact_json(a) for a in self._artifacts() if a["run"] == int(run)
                and request.args.get("name") in (None, a["name"])]
        return 200, {"total_count": len(mine), "artifacts": mine}

    def artifact(self, request, artifact_id):
        found = [a for a in self._artifacts() if a["id"] == int(artifact_id)]
        return (200, self._artifact_json(found[0])) if found else (404, {"message": "Not Found"})

    def _artifact_zip(self, request):
        artifact_id = int(request.path.rsplit("/", 1)[1].removesuffix(".zip"))
        found = [a for a in self._artifacts() if a["id"] == artifact_id]
        if not found:
            return Response(json.dumps({"message": "Not Found"}), status=404, content_type="application/json")
        return Response(found[0]["path"].read_bytes(), status=200, content_type="application/zip")

    # -- a GitHub App installed on o/r (actions/create-github-app-token) --

    def serve_app(self, public_key_pem: bytes, app_id: int) -> None:
        """The endpoints the App token action calls; every JWT is checked against ``public_key_pem``."""
        self.app_key, self.app_id = public_key_pem, app_id
        for method, uri, handler in (("GET", r"^/repos/o/r/installation$", self.installation),
                                     ("POST", r"^/app/installations/(\d+)/access_tokens$", self.access_token),
                                     ("DELETE", r"^/installation/token$", self.revoke_token)):
            self.server.expect_request(re.compile(uri), method=method).respond_with_handler(
                self._wrap(re.compile(uri), handler))

    def _app_jwt_ok(self, request) -> bool:
        import jwt

        auth = request.headers.get("Authorization", "")
        try:
            claims = jwt.decode(auth.split(" ", 1)[1], self.app_key, algorithms=["RS256"])
        except Exception:  # noqa: BLE001 - any bad token is a 401, as on GitHub
            return False
        return str(claims.get("iss")) == str(self.app_id)

    def installation(self, request):
        if not self._app_jwt_ok(request):
            return 401, {"message": "A JSON web token could not be decoded"}
        return 200, {"id": 77, "app_id": self.app_id, "account": {"login": "o"}, "app_slug": "easel-bot"}

    def access_token(self, request, installation):
        if not self._app_jwt_ok(request):
            return 401, {"message": "A JSON web token could not be decoded"}
        token = f"ghs_app{len(self.tokens):04d}" + "x" * 30
        self.tokens.append(token)
        permissions = (request.get_json(silent=True) or {}).get("permissions", {})
        expires = iso(dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1))
        return 201, {"token": token, "expires_at": expires, "permissions": permissions,
                     "repository_selection": "selected"}

    def revoke_token(self, request):
        self.revoked.append(request.headers.get("Authorization", "").split(" ")[-1])
        return 204, None

    def requests(self, method=None):
        return [req for req, _ in self.server.log if method is None or req.method == method]
