"""Session fixtures shared by the end-to-end tests: dev data, a small competition, a private cache."""

from __future__ import annotations

import os

import pytest
import yaml

from harness import SIZE, small_competition


@pytest.fixture(scope="session")
def data_root(tmp_path_factory):
    """The three dev datasets at 32 px (16 train images per domain, 8 test)."""
    from evaluator.data.synth import synthesize

    root = tmp_path_factory.mktemp("data")
    synthesize(root, size=SIZE, count=16, seed=0)
    return root


@pytest.fixture(scope="session")
def competition_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("comp") / "competition.yaml"
    path.write_text(yaml.safe_dump(small_competition()))
    return path


@pytest.fixture(scope="session")
def cache(tmp_path_factory):
    """EASEL_CACHE inside the test session: reference features and downloads stay here."""
    path = tmp_path_factory.mktemp("cache")
    previous = os.environ.get("EASEL_CACHE")
    os.environ["EASEL_CACHE"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("EASEL_CACHE", None)
    else:
        os.environ["EASEL_CACHE"] = previous


@pytest.fixture()
def fake(httpserver, monkeypatch, tmp_path):
    """A fake GitHub REST API on loopback (tests/fake_github.py) with GITHUB_TOKEN set to its token and
    ``fake.teams_path``: a teams.yaml of teams acme (alice, bob, carol) and other (dave)."""
    from fake_github import TEAMS_YAML, TOKEN, FakeGitHub

    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    server = FakeGitHub(httpserver)
    server.teams_path = tmp_path / "teams.yaml"
    server.teams_path.write_text(TEAMS_YAML)
    return server
