"""Whatever a policy emits, `step` answers with an observation inside the observation space, in bounded time,
memory and disk (issue 19). Each test names the guard it would catch being removed."""

from __future__ import annotations

import gc
import json
import os
import shutil
import stat

import gymnasium as gym
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import drgym  # noqa: F401 - registers the environments
from drgym.core.protocol import MAX_ACTION_CHARS, MAX_JSON_DEPTH, MAX_TOOL_CALLS_PER_TURN, parse_action
from drgym.envs import Budget
from drgym.envs.research_env import MAX_KEPT_FAILED_ACTION_CHARS, UnicodeText
from drgym.envs.tools.base import ToolError
from drgym.envs.tools.file import MAX_FILE_BYTES, apply_unified_diff

HAS_SHELL = bool(shutil.which("bwrap") and shutil.which("tmux"))
needs_shell = pytest.mark.skipif(not HAS_SHELL, reason="needs bubblewrap and tmux (make test installs them)")
NO_SHELL = ["batch_web_surfer", "todo", "file", "analyze_image"]
UNLIMITED = Budget(max_turns=None, max_tool_calls=None)


def _call(name: str, **arguments) -> str:
    return f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"


@pytest.fixture
def make(tiny_world):
    envs = []

    def factory(env_id="drgym/DeepSearch-v1", **kwargs):
        kwargs.setdefault("budget", UNLIMITED)
        env = gym.make(env_id, tasks=str(tiny_world.path), **kwargs)
        envs.append(env)
        env.reset(seed=0)
        return env

    yield factory
    for env in envs:
        env.close()


def _step_ok(env, action):
    """One step that must not raise and must answer inside the observation space."""
    obs, reward, terminated, truncated, info = env.step(action)
    assert obs in env.observation_space, (len(obs), obs[:200])
    return obs, info


# -- 1. step never raises -------------------------------------------------------------------------------------

_TAGS = ["<tool_call>", "</tool_call>", "<think>", "</think>", "<answer>", "</answer>", '<answer file="r.md"/>',
         "{", "}", "[", "]", '"', ":", ",", '"name"', '"arguments"', "\x00", "9" * 5000, "é", "\n"]
_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                     max_leaves=20)
_TOOL_NAMES = st.sampled_from(NO_SHELL + ["shell", "", "x" * 100])
_ARGUMENTS = st.dictionaries(st.sampled_from(["action", "path", "content", "queries", "urls", "item", "id", "top_k",
                                              "page", "diff", "old", "new", "source", "find", "start", "end"]),
                             _JSON | st.sampled_from(["write", "read", "patch", "list", "add", "update", "complete",
                                                      "save_result", "delete", "a" * 300]), max_size=5)
_TEXT_ACTIONS = st.lists(st.sampled_from(_TAGS) | st.text(max_size=20), max_size=40).map("".join)
_CALL_ACTIONS = st.lists(st.builds(lambda name, arguments: _call(name, **arguments) if name not in ("", "x" * 100)
                                   else f'<tool_call>{{"name": "{name}", "arguments": {json.dumps(arguments)}}}</tool_call>',
                                   _TOOL_NAMES, _ARGUMENTS), min_size=1, max_size=3).map("".join)
_DICT_ACTIONS = st.builds(lambda name, arguments, raw, content: {
    "role": "assistant", "content": content,
    "tool_calls": [{"id": "c1", "type": "function", "function": {"name": name, "arguments": raw or json.dumps(arguments)}}]},
    _TOOL_NAMES, _ARGUMENTS, st.sampled_from(["", "{bad", "[" * 3000, "1" * 5000]), _JSON)
_ANY_ACTIONS = _TEXT_ACTIONS | _CALL_ACTIONS | _DICT_ACTIONS | _JSON


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                    HealthCheck.too_slow])
@given(actions=st.lists(_ANY_ACTIONS, min_size=1, max_size=4))
def test_fuzzed_actions_never_raise_and_observations_stay_in_the_space(make, actions):
    env = make(tools=NO_SHELL)
    for action in actions:
        obs, _, terminated, truncated, _ = env.step(action)
        assert obs in env.observation_space
        if terminated or truncated:
            env.reset(seed=0)


@pytest.mark.parametrize("form", ["text", "message-string", "message-dict"])
def test_deeply_nested_json_is_an_error_observation(make, form):
    env = make()
    deep = "[" * 100_000 + "]" * 100_000
    if form == "text":
        action = '<tool_call>{"name": "todo", "arguments": {"x": ' + deep + "}}</tool_call>"
    elif form == "message-string":
        action = {"role": "assistant", "tool_calls": [{"function": {"name": "todo", "arguments": '{"x": ' + deep + "}"}}]}
    else:
        nested: dict = {}
        inner = nested
        for _ in range(100_000):
            inner["x"] = {}
            inner = inner["x"]
        action = {"role": "assistant", "tool_calls": [{"function": {"name": "todo", "arguments": nested}}]}
    obs, _ = _step_ok(env, action)
    assert obs.startswith("<tool_response>\nerror:") and ("nested too deeply" in obs or "levels deep" in obs)


def test_nesting_within_the_recursion_limit_but_past_the_depth_limit_is_refused():
    parsed = parse_action('<tool_call>{"name": "todo", "arguments": {"x": ' + "[" * 40 + "]" * 40 + "}}</tool_call>")
    assert not parsed.tool_calls and f"more than {MAX_JSON_DEPTH} levels" in parsed.errors[0]


def test_an_integer_of_5000_digits_is_an_error_observation(make):
    env = make()
    obs, _ = _step_ok(env, '<tool_call>{"name": "todo", "arguments": {"action": "update", "id": ' + "7" * 5000 + "}}</tool_call>")
    assert "4300 digits" in obs and "7" * 200 not in obs
    obs, _ = _step_ok(env, {"role": "assistant", "tool_calls": [{"function": {"name": "todo",
                                                                             "arguments": {"id": 10 ** 6000}}}]})
    assert "digits" in obs and len(obs) < 1000


def test_a_path_past_the_file_system_limits_is_an_error_observation(make):
    env = make()
    obs, _ = _step_ok(env, _call("file", action="write", path="d/" + "n" * 300, content="x"))
    assert "at most 255 bytes" in obs and "n" * 100 not in obs
    obs, _ = _step_ok(env, _call("file", action="write", path="d/" * 800, content="x"))
    assert "at most 1024 characters" in obs


def test_a_non_json_message_is_an_error_observation(make):
    env = make()
    loop: list = []
    loop.append(loop)
    for action in ({"role": "assistant", "content": object()}, {"role": "assistant", "tool_calls": [loop]},
                   {"role": "assistant", "content": [{"text": 5}]}, {1: "x"}):
        obs, info = _step_ok(env, action)
        assert obs.startswith("<tool_response>\nerror:")
        json.dumps(info["messages"])  # the history stays JSON whatever the action was


# -- 2. linear-time limits ------------------------------------------------------------------------------------

class _CountingText(str):
    """Text that counts the characters its `find` calls scan."""

    scanned = 0

    def find(self, sub, start=0, end=None):  # noqa: D401 - str's signature
        found = str.find(self, sub, start, len(self) if end is None else end)
        _CountingText.scanned += (found + len(sub) if found >= 0 else len(self)) - start
        return found


@pytest.mark.parametrize("unit", ["<tool_call>", "<think>", "<answer>", "<tool_call><think>", "</tool_call>"])
def test_the_action_scanner_reads_each_character_a_bounded_number_of_times(unit):
    text = _CountingText(unit * 20_000)
    _CountingText.scanned = 0
    parsed = parse_action(text)
    assert parsed.errors or parsed.answer is not None
    assert 0 < _CountingText.scanned <= 4 * len(text)  # one pass plus one failed search per closing tag


def test_unclosed_tags_are_counted_as_calls_and_named():
    parsed = parse_action(_call("todo", action="list") + "<tool_call>" * 3)
    assert parsed.errors == ("3 <tool_call> tag(s) not closed with </tool_call>.",)
    assert parsed.n_calls == 4 and not parsed.tool_calls


def test_the_action_length_limit_is_enforced_before_parsing(make):
    env = make()
    action = _call("todo", action="add", item="x") + " " * MAX_ACTION_CHARS
    obs, info = _step_ok(env, action)
    assert f"the limit is {MAX_ACTION_CHARS:,}" in obs and "todo list" not in obs
    assert len(info["messages"][-2]["content"]) <= MAX_KEPT_FAILED_ACTION_CHARS


@pytest.mark.parametrize(("action", "expected"), [
    (_call("batch_web_surfer", queries=["q" * 100_000]), "a query has at most 500 characters"),
    (_call("batch_web_surfer", queries=["q"] * 9), "at most 8 queries"),
    (_call("batch_web_surfer", urls=["https://x.example/" + "u" * 100_000]), "a url has at most 2048 characters"),
    (_call("batch_web_surfer", urls=["https://x.example/"], find="f" * 100_000), '"find" has at most 200 characters'),
    (_call("todo", action="add", item="i" * 100_000), "a todo item has at most 300 characters"),
    ("<tool_call>" + json.dumps({"name": "file", "arguments": {"action": "write", "path": "a.md", "content": "é" * 600_000}},
                                ensure_ascii=False) + "</tool_call>", "file too large (1,200,000 bytes)"),
    (_call("analyze_image", source="s" * 100_000), "source has at most 2048 characters"),
    (_call("t" * 300_000), "a tool name has 1 to 64 characters"),
    ('<tool_call>{"name": "todo", "arguments": {"' + "k" * 100_000 + '": 1}}</tool_call>', "argument 'kkkk"),
])
def test_oversized_arguments_are_refused_with_a_preview_not_an_echo(make, action, expected):
    env = make()
    obs, _ = _step_ok(env, action)
    assert expected in obs and len(obs) < 2_000, obs[:300]


@pytest.mark.parametrize("argument", ["content", "old", "new", "diff"])
def test_file_arguments_are_capped_at_the_file_size(tmp_path, argument):
    import numpy as np

    from drgym.envs.tools.base import EpisodeState
    from drgym.envs.tools.file import FileTool

    tool, state = FileTool(), EpisodeState(workspace=tmp_path, rng=np.random.default_rng(0))
    (tmp_path / "a.md").write_text("x\n")
    arguments = {"action": "write" if argument == "content" else "patch", "path": "a.md", "old": "x", "new": "y",
                 argument: "c" * (MAX_FILE_BYTES + 1)}
    with pytest.raises(ToolError, match=f'"{argument}" has 1,000,001 characters; the limit is 1,000,000'):
        tool.run(state, **tool.validate(arguments))


def test_the_todo_list_is_bounded(make):
    env = make()
    for _ in range(100 // MAX_TOOL_CALLS_PER_TURN + 1):
        obs, _ = _step_ok(env, _call("todo", action="add", item="i" * 300) * MAX_TOOL_CALLS_PER_TURN)
    assert "the todo list is full (100 items)" in obs


def test_every_observation_is_clipped_to_the_observation_space(make):
    env = make()
    env.unwrapped.observation_space = UnicodeText(3_000)
    obs, _ = _step_ok(env, _call("todo", action="add", item="i" * 300) * MAX_TOOL_CALLS_PER_TURN)
    assert len(obs) <= 3_000 and "cut to" in obs and obs.endswith("Budget left: unlimited.\n</tool_response>")


def test_a_diff_with_wrong_line_numbers_applies_by_content():
    text = "".join(f"line {i}\n" for i in range(2_000))
    diff = "".join(f"@@ -1,1 +1,1 @@\n-line {i}\n+LINE {i}\n" for i in range(0, 2_000, 7))
    patched = apply_unified_diff(text, diff)
    assert "LINE 1995\n" in patched and "line 1995\n" not in patched and patched.count("\n") == 2_000


def test_hunks_apply_in_order():
    with pytest.raises(ToolError, match="after the previous hunk"):
        apply_unified_diff("a\nb\nc\n", "@@ -3,1 +3,1 @@\n-c\n+C\n@@ -1,1 +1,1 @@\n-a\n+A\n")


def test_locating_hunks_has_a_work_limit():
    text = "x\ny\n" * 10_000  # every line common: a hunk could be compared at every other position
    never_there = "@@ -1,52 +1,52 @@\n" + " x\n y\n" * 25 + " x\n-x\n+z\n"  # "x" is never followed by "x"
    with pytest.raises(ToolError, match="search limit"):
        apply_unified_diff(text, never_there)


# -- 4. budgets charge every call -----------------------------------------------------------------------------

@pytest.mark.parametrize(("action", "charged"), [
    (_call("no_such_tool"), 1),
    (_call("todo", action="list") * (MAX_TOOL_CALLS_PER_TURN + 1), MAX_TOOL_CALLS_PER_TURN + 1),
    (_call("todo", action="list") + "<tool_call>{bad</tool_call><tool_call>", 3),
    (_call("todo", action="list") + "<answer>both</answer>", 1),
    ({"role": "assistant", "tool_calls": [{"function": {"name": "todo", "arguments": "{bad"}}] * 2}, 2),
])
def test_unknown_refused_and_malformed_calls_are_charged(make, action, charged):
    env = make()
    _, info = _step_ok(env, action)
    assert info["usage"]["tool_calls"] == charged and info["usage"]["turns"] == 1


@needs_shell
def test_max_seconds_bounds_a_shell_call_while_it_runs(make):
    env = make(budget=Budget(max_seconds=4, max_turns=None, max_tool_calls=None), tools=["shell"])
    obs, _, _, truncated, info = env.step(_call("shell", command="sleep 100", timeout_s=100))
    assert truncated and info["truncated_by"] == "max_seconds" and info["usage"]["tool_calls"] == 1
    # the call was cut at the time left, or (on a machine slow enough to spend 4 s before it) never started
    assert "(the episode's max_seconds ran out)" in obs or "budget exhausted (max_seconds)" in obs


# -- 5. memory stays flat ---------------------------------------------------------------------------------------

def test_malformed_actions_are_kept_clipped_in_the_history(make):
    env = make()
    for _ in range(5):
        _, info = _step_ok(env, "<tool_call>" * 50_000)
    kept = [m["content"] for m in info["messages"] if m["role"] == "assistant"]
    assert len(kept) == 5 and all(len(text) <= MAX_KEPT_FAILED_ACTION_CHARS for text in kept)
    assert "failed action cut to" in kept[0]
    refused = _call("batch_web_surfer", queries=["q" * 100_000])  # well-formed, but the tool refuses it
    _, info = _step_ok(env, refused)
    assert len(info["messages"][-2]["content"]) <= MAX_KEPT_FAILED_ACTION_CHARS
    valid = _call("todo", action="add", item="keep me whole") + " " * 100_000
    _, info = _step_ok(env, valid)
    assert info["messages"][-2]["content"] == valid


# -- 6. disk and sandbox quotas ----------------------------------------------------------------------------------

def test_file_writes_stop_at_the_workspace_quota(make):
    env = make(workspace_quota_mb=1)
    assert "wrote" in _step_ok(env, _call("file", action="write", path="a.md", content="a" * 600_000))[0]
    obs, _ = _step_ok(env, _call("file", action="write", path="b.md", content="b" * 600_000))
    assert "the workspace quota is full" in obs
    assert "wrote" in _step_ok(env, _call("file", action="write", path="a.md", content="a" * 700_000))[0]  # replaces


@needs_shell
def test_shell_writes_past_the_quota_are_stopped_and_files_can_be_deleted(make):
    env = make(workspace_quota_mb=2, tools=["shell"])
    obs, _ = _step_ok(env, _call("shell", command="for i in 1 2 3 4 5 6; do head -c 1000000 /dev/zero > f$i; done"))
    assert "workspace quota exceeded" in obs
    obs, _ = _step_ok(env, _call("shell", command="rm -f f*; echo cleaned"))
    assert "cleaned" in obs and "quota" not in obs


@needs_shell
def test_the_sandbox_tmp_is_capped(tmp_path):
    import numpy as np

    from drgym.envs.tools.base import EpisodeState
    from drgym.envs.tools.shell import ShellLimits, ShellTool

    state = EpisodeState(workspace=tmp_path, rng=np.random.default_rng(0))
    tool = ShellTool(ShellLimits(memory_mb=512, tmp_mb=8))
    tool.reset(state)
    try:
        out = tool.run(state, command="head -c 50000000 /dev/zero > /tmp/big; du -m /tmp/big")
    finally:
        tool.close()
    assert "No space left on device" in out
    assert int(out.split("\t/tmp/big")[0].split()[-1]) <= 8  # MB: /tmp holds no more than tmp_mb


# -- 7. lifecycle -----------------------------------------------------------------------------------------------

def test_envs_sharing_a_root_and_a_leftover_folder_get_unique_workspaces(make, tmp_path):
    (tmp_path / "episode-00001").mkdir()  # left by a crashed run
    first, second = make(workspace_root=tmp_path), make(workspace_root=tmp_path)
    workspaces = {env.unwrapped._state.workspace for env in (first, second)}
    assert len(workspaces) == 2 and all(w.parent == tmp_path and w.is_dir() for w in workspaces)
    assert (tmp_path / "episode-00001").is_dir()


def _tagged_processes(tags: list[str]) -> list[str]:
    """Command lines of live processes that carry one of `tags` (never a machine-wide count)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmdline = handle.read().decode(errors="replace")
            with open(f"/proc/{pid}/stat") as handle:
                is_zombie = handle.read().rsplit(")", 1)[1].split()[0] == "Z"
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if not is_zombie and any(tag in cmdline for tag in tags):
            found.append(cmdline.replace("\x00", " "))
    return found


@needs_shell
def test_dropped_envs_leave_no_process_and_no_folder(tiny_world, tmp_path):
    tags, folders = [], []
    for number in range(100):
        env = gym.make("drgym/DeepSearch-v1", tasks=str(tiny_world.path), budget=UNLIMITED)
        env.reset(seed=number)
        env.step("<tool_call>{garbage" + "[" * 5000)
        env.step(_call("shell", command="sleep 4242 & echo started"))
        shell = env.unwrapped.tools["shell"]
        tags += [shell.tag, str(env.unwrapped.workspace_root)]
        folders += [env.unwrapped.workspace_root, shell._socket_dir, shell._control]
        assert _tagged_processes([shell.tag])  # the tag does find this env's tmux server
        del env, shell  # dropped without close()
    gc.collect()
    assert _tagged_processes(tags) == []
    assert [folder for folder in folders if folder.exists()] == []


def test_a_dropped_env_removes_the_episode_folder_in_a_shared_root(tiny_world, tmp_path):
    env = gym.make("drgym/DeepSearch-v1", tasks=str(tiny_world.path), tools=NO_SHELL, workspace_root=tmp_path)
    env.reset(seed=0)
    env.step(_call("file", action="write", path="notes.md", content="x"))
    assert len(list(tmp_path.iterdir())) == 1
    del env
    gc.collect()
    assert list(tmp_path.iterdir()) == [] and tmp_path.is_dir()  # the shared root itself stays


@needs_shell
@pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox changes users only when run as root")
def test_the_shell_as_root_changes_no_host_folder_permissions(make, tmp_path):
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    before = {path: stat.S_IMODE(path.stat().st_mode) for path in (private, *private.parents)}
    env = make(workspace_root=private / "root", tools=["shell"])
    obs, _ = _step_ok(env, _call("shell", command="id -u; echo hi > /workspace/note; cat /workspace/note"))
    assert obs.splitlines()[1:3] == ["65534", "hi"]
    assert {path: stat.S_IMODE(path.stat().st_mode) for path in before} == before


def test_an_image_declaring_a_huge_canvas_is_refused_before_decoding(tmp_path):
    import numpy as np
    from PIL import Image

    from drgym.envs.tools.base import EpisodeState
    from drgym.envs.tools.image import MAX_IMAGE_PIXELS, AnalyzeImage

    Image.new("1", (6_000, 5_000)).save(tmp_path / "wide.png")  # a few kilobytes on disk, 30 M pixels
    state = EpisodeState(workspace=tmp_path, rng=np.random.default_rng(0))
    with pytest.raises(ToolError, match=f"6000×5000 pixels; images of at most {MAX_IMAGE_PIXELS:,} pixels"):
        AnalyzeImage(corpus=None).run(state, source="wide.png")
