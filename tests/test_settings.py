"""Environment settings read in one object at the CLI edge, and the options several commands share."""

from __future__ import annotations

import argparse
from pathlib import Path

from evaluator.cli import build_parser
from evaluator.settings import Settings


def test_settings_read_the_environment_once_and_keep_the_token_out_of_sight():
    settings = Settings.from_environ({"EASEL_REQUIRE_GPU": "1", "EASEL_MODEL_CACHE": " /srv/models ",
                                      "GITHUB_TOKEN": "ghs_secret", "GITHUB_SERVER_URL": "https://github.com/",
                                      "GITHUB_REPOSITORY": "o/r", "EASEL_BOT_LOGIN": "bot[bot]"})
    assert settings.require_gpu and settings.model_cache == Path("/srv/models")
    assert settings.repo_url == "https://github.com/o/r" and settings.bot_login == "bot[bot]"
    assert settings.server_url == "https://github.com"  # the gallery link's server (evaluator/report.py)
    assert settings.github_token == "ghs_secret" and "ghs_secret" not in repr(settings)
    empty = Settings.from_environ({})
    assert (empty.require_gpu, empty.model_cache, empty.repo_url, empty.github_token) == (False, None, None, "")
    assert empty.server_url is None
    assert empty.api_url == "https://api.github.com"


def test_env_backed_defaults_come_from_the_settings_object():
    parser = build_parser(Settings(require_gpu=True, model_cache=Path("/srv/models"), api_url="http://x"))
    args = parser.parse_args(["evaluate", "sub", "--data", "d", "--out", "o.json"])
    assert args.require_gpu and args.model_cache == Path("/srv/models") and args.settings.api_url == "http://x"
    assert parser.parse_args(["validate", "sub"]).model_cache == Path("/srv/models")
    assert parser.parse_args(["bot", "find-pr", "--repo", "o/r", "--commit", "a" * 40]).api_url == "http://x"
    plain = build_parser(Settings()).parse_args(["evaluate", "sub", "--data", "d", "--out", "o.json"])
    assert not plain.require_gpu and plain.model_cache is None


def test_shared_options_read_the_same_everywhere():
    parser = build_parser(Settings())
    helps = set()

    def walk(p):
        for action in p._actions:
            if "--competition" in action.option_strings and "no check" not in action.help:
                helps.add(action.help.split(" (default")[1])
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    walk(sub)
    walk(parser)
    assert helps == {": ./competition.yaml, else the repository's)"}


# Every module below the CLI that touches the environment, and why it may (evaluator/settings.py).
ENVIRONMENT_READERS = {
    "settings.py": "the one read of the run's settings",
    "cache.py": "EASEL_CACHE, the process-wide cache default (settings.py says why)",
    "features/weights.py": "an organizer's weights pin, read where weights are verified",
    "sandbox/cgroup.py": "EASEL_SANDBOX_CGROUP, the runner's cgroup, where the sandbox makes its own",
    "sandbox/launch.py": "passes CUDA_VISIBLE_DEVICES on to the sandboxed child",
    "sandbox/child.py": "the sandbox self-test lists the child's variable names",
    "scope/gitio.py": "git runs with the environment minus GIT_*",
    "model_fetch.py": "the test-only loopback switch for URL models",
    "cli.py": "sets TF_CPP_MIN_LOG_LEVEL before TensorFlow loads",
}


def test_no_stage_reads_the_environment_beyond_the_known_readers():
    """A new os.environ read below the CLI is a setting: it belongs in Settings (or in this list, with a reason)."""
    import re

    import evaluator

    root = Path(evaluator.__file__).parent
    readers = {path.relative_to(root).as_posix() for path in root.rglob("*.py")
               if re.search(r"\bos\.environ\b|\bgetenv\(", path.read_text(encoding="utf-8"))}
    assert readers == set(ENVIRONMENT_READERS)
