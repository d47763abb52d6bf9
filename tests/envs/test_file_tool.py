from __future__ import annotations

import os

import numpy as np
import pytest

from drgym.envs.tools.base import EpisodeState, ToolError
from drgym.envs.tools.file import FileTool, apply_unified_diff


@pytest.fixture
def tool_and_state(tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (tmp_path / "secret.txt").write_text("outside")
    return FileTool(), EpisodeState(workspace=workspace, rng=np.random.default_rng(0))


def run(tool, state, **arguments):
    return tool.run(state, **tool.validate(arguments))


@pytest.mark.parametrize("path", ["../secret.txt", "a/../../secret.txt", "/etc/passwd", "~/x", "a\x00b", "", "  "])
def test_paths_outside_the_workspace_are_refused(tool_and_state, path):
    tool, state = tool_and_state
    for action in ("read", "write", "delete"):
        with pytest.raises(ToolError):
            run(tool, state, action=action, path=path, content="x")
    assert (state.workspace.parent / "secret.txt").read_text() == "outside"


def test_symlinks_out_of_the_workspace_are_refused(tool_and_state):
    tool, state = tool_and_state
    os.symlink(state.workspace.parent / "secret.txt", state.workspace / "link.txt")
    os.symlink(state.workspace.parent, state.workspace / "up")
    with pytest.raises(ToolError, match="leads outside the workspace"):
        run(tool, state, action="read", path="link.txt")
    with pytest.raises(ToolError, match="leads outside the workspace"):
        run(tool, state, action="write", path="up/new.txt", content="x")
    assert not (state.workspace.parent / "new.txt").exists()
    listing = run(tool, state, action="list")
    assert "secret" not in listing


def test_device_files_are_refused(tool_and_state):
    tool, state = tool_and_state
    os.mkfifo(state.workspace / "pipe")
    with pytest.raises(ToolError, match="not a regular file"):
        run(tool, state, action="read", path="pipe")


def test_write_read_patch_list_delete(tool_and_state):
    tool, state = tool_and_state
    run(tool, state, action="write", path="notes/a.md", content="one\ntwo\nthree\n")
    assert "    2| two" in run(tool, state, action="read", path="notes/a.md", start=2, end=2)
    run(tool, state, action="patch", path="notes/a.md", old="two", new="TWO")
    with pytest.raises(ToolError, match="occurs 0 times"):
        run(tool, state, action="patch", path="notes/a.md", old="missing", new="x")
    diff = "--- a/notes/a.md\n+++ b/notes/a.md\n@@ -2,2 +2,2 @@\n TWO\n-three\n+THREE\n"
    run(tool, state, action="patch", path="notes/a.md", diff=diff)
    assert (state.workspace / "notes/a.md").read_text() == "one\nTWO\nTHREE\n"
    assert "notes/a.md" in run(tool, state, action="list")
    run(tool, state, action="delete", path="notes/a.md")
    assert not (state.workspace / "notes/a.md").exists()


def test_save_result_stores_the_previous_result_with_a_summary(tool_and_state):
    tool, state = tool_and_state
    state.last_result = "## search: x\n" + "line\n" * 500
    reply = run(tool, state, action="save_result")
    assert "saved 501 lines" in reply and "results/result-1.md" in reply
    assert (state.workspace / "results/result-1.md").read_text() == state.last_result


def test_a_diff_that_does_not_apply_is_an_error():
    with pytest.raises(ToolError, match="hunk 1 does not apply"):
        apply_unified_diff("a\nb\n", "@@ -1,1 +1,1 @@\n-zzz\n+y\n")
