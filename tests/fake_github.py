"""A fake GitHub REST server on loopback (pytest-httpserver) for the score bot's tests.

The real PyGithub client talks to it through --api-url. It keeps comments,
pull requests and labels in memory, pages every listing as GitHub does
(per_page up to 100, page, a Link header) and records every request, so the
tests can count what the bot costs against the token's hourly budget.
"""

from __future__ import annotations

import datetime as dt
import json
import re

from werkzeug.wrappers import Response

from evaluator.github import iso

BOT = "github-actions[bot]"
SHA = "0123456789abcdef0123456789abcdef01234567"


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
        r = re.compile
        routes = [
            ("GET", r(r"^/repos/o/r/issues/(\d+)$"), self.issue),
            ("GET", r(r"^/repos/o/r/issues/(\d+)/comments$"), self.list_comments),
            ("POST", r(r"^/repos/o/r/issues/(\d+)/comments$"), self.create_comment),
            ("PATCH", r(r"^/repos/o/r/issues/comments/(\d+)$"), self.edit_comment),
            ("GET", r(r"^/repos/o/r/issues/comments$"), self.repo_comments),
            ("DELETE", r(r"^/repos/o/r/issues/(\d+)/labels/([^/]+)$"), self.remove_label),
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
                     "title": "t", "state": "open", "user": {"login": self.author}}

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
        self.labelled[int(number)] = iso(dt.datetime.now(dt.timezone.utc))
        return 200, []

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
        return 200, [{"filename": f, "status": "added", "sha": "1" * 40} for f in self.files]

    def requests(self, method=None):
        return [req for req, _ in self.server.log if method is None or req.method == method]
