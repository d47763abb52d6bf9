from __future__ import annotations

import json
import os
import shutil
import socket
import threading

import gymnasium as gym
import numpy as np
import pytest

import drgym  # noqa: F401
from drgym.envs.tools.base import EpisodeState
from drgym.envs.tools.shell import ShellLimits, ShellTool, _descendants
from drgym.errors import DependencyNotInstalled

pytestmark = pytest.mark.skipif(not (shutil.which("bwrap") and shutil.which("tmux")),
                                reason="needs bubblewrap and tmux (make test installs them)")


@pytest.fixture
def shell(tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    state = EpisodeState(workspace=workspace, rng=np.random.default_rng(0))
    tool = ShellTool(ShellLimits(cpu_s=5, memory_mb=512, max_processes=48, max_output_chars=2000))
    tool.reset(state)
    yield (lambda command, timeout_s=10: tool.run(state, command=command, timeout_s=timeout_s)), state, tool
    tool.close()


def _is_running(pid: int) -> bool:
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def _tagged_processes(tags: list[str]) -> list[int]:
    """Live processes whose command line carries one of `tags` (other jobs on the machine are never counted)."""
    found = []
    for pid in os.listdir("/proc"):
        try:
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")
            is_zombie = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z"
        except (FileNotFoundError, ProcessLookupError, NotADirectoryError, IndexError):
            continue
        if not is_zombie and any(tag in cmdline for tag in tags):
            found.append(int(pid))
    return found


def test_state_persists_between_calls(shell):
    run, state, _ = shell
    assert "[exit code 0]" in run("cd /tmp; export COLOR=teal; sleep 30 &")
    out = run("pwd; echo $COLOR; jobs | wc -l")
    assert out.splitlines()[:3] == ["/tmp", "teal", "1"]
    run("echo note > /workspace/n.txt")
    assert (state.workspace / "n.txt").read_text() == "note\n"


def test_host_outside_the_workspace_is_out_of_reach(shell, tmp_path):
    run, _, _ = shell
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret")
    assert "host secret" not in run(f"cat {secret}")
    assert "Read-only file system" in run("touch /etc/drgym-was-here")
    run("echo x > /tmp/inside.txt")
    assert not (tmp_path.parent / "inside.txt").exists()
    assert "No such file" in run("ls /root")


def test_network_is_unreachable(shell):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    run, _, _ = shell
    out = run(f"exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected", timeout_s=5)
    assert "connected" not in out and "[exit code 1]" in out
    assert "unreachable" in run("exec 3<>/dev/tcp/1.1.1.1/80", timeout_s=5).lower()
    server.close()
    assert not accepted


def test_endless_loop_is_interrupted_and_the_shell_survives(shell):
    run, _, _ = shell
    assert "timed out after 1 s" in run("while true; do :; done", timeout_s=1)
    assert run("echo still here").startswith("still here")
    stubborn = run("trap '' INT; while true; do :; done", timeout_s=1)
    assert "timed out" in stubborn or "killed" in stubborn
    assert "again" in run("echo again")


def test_fork_bomb_is_stopped_by_the_process_limit(shell):
    run, _, tool = shell
    out = run(":(){ :|:& };: ; sleep 20", timeout_s=30)  # the watchdog ends it long before
    assert "process limit reached (48 processes)" in out
    out = run("echo alive", timeout_s=10)
    assert "alive" in out
    assert len(_descendants(tool._pane_pid)) <= 4  # bubblewrap and the sandbox shell, not a swarm


def test_memory_limit_and_output_cap(shell):
    run, _, _ = shell
    assert "MemoryError" in run("python3 -c 'bytearray(900 * 1024 * 1024)'")
    out = run("seq 1 100000")
    assert "[output cut at 2000 characters" in out and "[exit code 0]" in out


def test_no_tmux_session_or_process_survives_close(tiny_world):
    tags = []
    for _ in range(20):
        env = gym.make("drgym/DeepSearch-v1", tasks=str(tiny_world.path), tools=["shell"])
        env.reset(seed=0)
        action = "<tool_call>" + json.dumps({"name": "shell", "arguments": {"command": "sleep 4242 & echo up"}})
        obs = env.step(action + "</tool_call>")[0]
        assert "up" in obs
        tool = env.unwrapped.tools["shell"]
        sandbox = [tool._pane_pid, *_descendants(tool._pane_pid)]
        assert _tagged_processes([tool.tag]) and len(sandbox) >= 3  # tmux server; bubblewrap, shell, sleep
        tags.append(tool.tag)
        env.close()
        assert not [pid for pid in sandbox if _is_running(pid)]
    assert _tagged_processes(tags) == []


def test_refuses_to_start_without_bubblewrap(monkeypatch):
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name: None if name == "bwrap" else real_which(name))
    with pytest.raises(DependencyNotInstalled, match="apt-get install bubblewrap"):
        ShellTool()


def test_a_process_exiting_while_proc_is_read_does_not_stop_the_cleanup(monkeypatch):
    # reading /proc/PID/stat of a process that exits between open and read raises ProcessLookupError (ESRCH);
    # the tree walk that kills a sandbox must skip it, or the tmux server outlives a dropped env
    import pathlib

    from drgym.envs.tools import shell

    real_read_text = pathlib.Path.read_text

    def racing_read_text(self, *args, **kwargs):
        if self.name == "stat" and self.parent.name.isdigit() and int(self.parent.name) % 2:
            raise ProcessLookupError(3, "No such process")
        return real_read_text(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "read_text", racing_read_text)
    assert isinstance(shell._descendants(1), list)
    assert shell._parent(3) == 0 and shell._pid_exists(3) is False
