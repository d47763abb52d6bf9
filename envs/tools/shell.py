"""shell: a persistent terminal per episode, in a tmux session (libtmux) running bash inside a bubblewrap
sandbox.

The sandbox sees the system folders read-only (/usr, /bin, /lib, /etc), its own /tmp, /proc and /dev, the
episode workspace read-write at /workspace, and nothing else of the host; it has no network (its own network
namespace), its own process namespace, and limits on CPU seconds per process, memory, processes, file size,
wall time per command and output size. Run as root, drgym drops the sandbox to the `nobody` user first, so
the process limit holds. cwd, variables and background jobs persist between calls within the episode; the
tmux server (on a private socket the sandbox cannot reach) and every process are gone after reset or close.
Without bubblewrap or tmux the tool refuses to start; it never runs commands unsandboxed.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from drgym.envs.tools.base import EpisodeState, Tool, ToolError
from drgym.errors import DependencyNotInstalled

__all__ = ["ShellLimits", "ShellTool"]

_SANDBOX_UID = 65534  # nobody
_CONTROL = "/.drgym"  # where the sandbox finds command files and writes output and exit codes


@dataclass(frozen=True)
class ShellLimits:
    """Resource limits of the sandbox."""

    cpu_s: int = 120
    """CPU seconds per process (RLIMIT_CPU)."""
    memory_mb: int = 2048
    """Address space per process (RLIMIT_AS)."""
    max_processes: int = 64
    """Processes of the sandbox at once; reaching it (a fork bomb) resets the sandbox."""
    file_size_mb: int = 64
    """Largest file a process may write (RLIMIT_FSIZE)."""
    max_timeout_s: int = 300
    """Upper bound of a call's `timeout_s`."""
    max_output_chars: int = 20_000
    """Output beyond this is cut, with a note."""


def _require(binary: str, package: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise DependencyNotInstalled(
            f"the shell tool needs {binary} ({package}); install it with `sudo apt-get install {package}` "
            "(or drop 'shell' from tools=). It never runs commands outside the sandbox.")
    return path


class ShellTool(Tool):
    name = "shell"

    def __init__(self, limits: ShellLimits | None = None) -> None:
        self.limits = limits or ShellLimits()
        self._bwrap = _require("bwrap", "bubblewrap")
        _require("tmux", "tmux")
        self._as_root = os.geteuid() == 0
        self._setpriv = _require("setpriv", "util-linux") if self._as_root else None
        self._session = None
        self._server = None
        self._socket_dir: Path | None = None
        self._control: Path | None = None
        self._workspace: Path | None = None
        self._counter = 0
        self._pane_pid = 0
        self._tripped = False
        self._watchdog_stop = threading.Event()

    # -- lifecycle ------------------------------------------------------------------------------------

    def reset(self, state: EpisodeState) -> None:
        self._stop()
        self._workspace = state.workspace

    def close(self) -> None:
        self._stop()

    def _start(self) -> None:
        import libtmux

        self._socket_dir = Path(tempfile.mkdtemp(prefix="drgym-tmux-"))  # 0700: out of the sandbox's reach
        self._control = Path(tempfile.mkdtemp(prefix="drgym-shell-"))
        workspace = self._workspace
        if self._as_root:
            for path in (self._control, workspace):
                os.chown(path, _SANDBOX_UID, _SANDBOX_UID)
            for parent in workspace.parents:  # the sandbox user must be able to reach the workspace
                if parent == Path("/"):
                    break
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    os.chmod(parent, mode | 0o001)
        limits = self.limits
        inner = (f"ulimit -t {limits.cpu_s} -v {limits.memory_mb * 1024} -f {limits.file_size_mb * 1024} "
                 f"-u {self._nproc_limit()} 2>/dev/null; exec bash --noprofile --norc -i")
        sandbox = [self._bwrap, "--die-with-parent", "--unshare-all", "--hostname", "sandbox",
                   "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
        for folder in ("/bin", "/sbin", "/lib", "/lib64", "/lib32"):
            if os.path.islink(folder):
                sandbox += ["--symlink", os.readlink(folder), folder]
            elif os.path.isdir(folder):
                sandbox += ["--ro-bind", folder, folder]
        sandbox += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
                    "--bind", str(workspace), "/workspace", "--bind", str(self._control), _CONTROL,
                    "--chdir", "/workspace", "--clearenv", "--setenv", "HOME", "/workspace",
                    "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin", "--setenv", "TERM", "xterm",
                    "--setenv", "PS1", "$ ", "--setenv", "LANG", "C.UTF-8", "bash", "-c", inner]
        if self._as_root:
            sandbox = [self._setpriv, f"--reuid={_SANDBOX_UID}", f"--regid={_SANDBOX_UID}", "--clear-groups",
                       *sandbox]
        self._server = libtmux.Server(socket_path=str(self._socket_dir / "tmux.sock"))
        self._session = self._server.new_session(session_name=f"drgym-{uuid.uuid4().hex[:8]}", x=200, y=50,
                                                 window_command=shlex.join(sandbox))
        self._pane_pid = int(self._session.active_pane.pane_pid)
        self._counter = 0
        self._tripped = False
        self._watchdog_stop = threading.Event()
        threading.Thread(target=self._watch, args=(self._pane_pid, self._watchdog_stop), daemon=True,
                         name="drgym-shell-watchdog").start()
        self._wait_ready()

    def _watch(self, pane_pid: int, stop: threading.Event) -> None:
        """Resets the sandbox when it reaches the process limit (a fork bomb), even between calls."""
        while not stop.wait(0.25):
            if len(_descendants(pane_pid)) >= self.limits.max_processes:
                self._tripped = True
                self._kill_tree(pane_pid)
                return

    def _nproc_limit(self) -> int:
        if self._as_root:
            return self.limits.max_processes + 8
        # RLIMIT_NPROC counts every process of the user: leave room for the ones already running
        uid = os.getuid()
        mine = sum(1 for pid in os.listdir("/proc") if pid.isdigit() and _owner(pid) == uid)
        return mine + self.limits.max_processes

    def _wait_ready(self) -> None:
        self._send("true", timeout_s=10)

    def _stop(self) -> None:
        if self._server is not None:
            self._watchdog_stop.set()
            victims = [*_descendants(self._pane_pid), self._pane_pid]
            try:
                self._server.kill()
            except Exception:  # the server already exited: nothing to stop
                pass
            for pid in victims:
                _kill(pid)
            deadline = time.monotonic() + 2
            while any(_pid_exists(pid) for pid in victims) and time.monotonic() < deadline:
                time.sleep(0.01)
        for folder in (self._socket_dir, self._control):
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
        self._server = self._session = self._socket_dir = self._control = None

    # -- commands -------------------------------------------------------------------------------------

    def run(self, state: EpisodeState, *, command: str, timeout_s: int = 30) -> str:
        """Run a bash command in your sandboxed terminal (workspace at /workspace, no network). The working
        folder, variables and background jobs persist between calls. Example: {"command": "ls -la && wc -l
        notes.md", "timeout_s": 20}.

        Args:
            command: the command line (several lines allowed).
            timeout_s: seconds to wait before interrupting it (Ctrl-C), 1 to 300.
        """
        if not 1 <= timeout_s <= self.limits.max_timeout_s:
            raise ToolError(f"timeout_s must be between 1 and {self.limits.max_timeout_s}, got {timeout_s}.")
        if "\x00" in command:
            raise ToolError("the command contains a NUL byte.")
        self._workspace = state.workspace
        note = ""
        if self._session is None or not self._alive():
            if self._session is not None:
                note = (self._limit_note() if self._tripped else
                        "[the previous shell had ended; a new one was started: variables and jobs are gone]") + "\n"
            self._stop()
            self._start()
        output = self._send(command, timeout_s=timeout_s)
        if self._tripped:
            self._stop()
            output = f"{output}\n{self._limit_note()}"
        return note + output

    def _limit_note(self) -> str:
        return (f"[process limit reached ({self.limits.max_processes} processes): the sandbox was reset; "
                "variables and background jobs are gone]")

    def _send(self, command: str, *, timeout_s: int) -> str:
        self._counter += 1
        number = self._counter
        control = self._control
        (control / f"cmd-{number}.sh").write_text(command + "\n", encoding="utf-8")
        os.chmod(control / f"cmd-{number}.sh", 0o644)
        out, rc = control / f"out-{number}", control / f"rc-{number}"
        line = f"source {_CONTROL}/cmd-{number}.sh > {_CONTROL}/out-{number} 2>&1 < /dev/null; echo $? > {_CONTROL}/rc-{number}"
        self._session.active_pane.send_keys(line, enter=True, literal=True)
        started = time.monotonic()
        deadline = started + timeout_s
        code = None
        while time.monotonic() < deadline:
            code = _read_code(rc)
            if code is not None or not self._alive():
                break
            time.sleep(0.002 if time.monotonic() - started < 0.1 else 0.02)  # quick commands return quickly
        status = ""
        if code is None and self._alive():
            self._session.active_pane.send_keys("C-c", enter=False)
            time.sleep(0.3)
            status = f"[timed out after {timeout_s} s: interrupted with Ctrl-C]"
            if _read_code(rc) is None and not self._prompt_back():
                self._stop()
                status = f"[timed out after {timeout_s} s and did not stop on Ctrl-C: the shell was killed]"
        elif code is None and not self._tripped:
            status = "[the shell was killed (a resource limit: CPU time or memory); the next call starts a new one]"
        text = _read_capped(out, self.limits.max_output_chars) if out.exists() else ""
        if code is not None:
            status = f"[exit code {code}]"
        return f"{text.rstrip()}\n{status}".strip()

    def _prompt_back(self) -> bool:
        marker = f"ready-{uuid.uuid4().hex[:6]}"
        self._session.active_pane.send_keys(f"echo {marker} > {_CONTROL}/ping", enter=True, literal=True)
        for _ in range(50):
            ping = self._control / "ping"
            if ping.exists() and ping.read_text().strip() == marker:
                return True
            time.sleep(0.02)
        return False

    def _alive(self) -> bool:
        return self._session is not None and _pid_exists(self._pane_pid)

    @staticmethod
    def _kill_tree(pid: int) -> None:
        for victim in [pid, *_descendants(pid)]:
            _kill(victim)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _read_code(path: Path) -> int | None:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return int(text) if text.endswith("\n") and text.strip().lstrip("-").isdigit() else None


def _read_capped(path: Path, limit: int) -> str:
    with path.open("rb") as handle:
        data = handle.read(limit * 4 + 1)
    text = data.decode("utf-8", errors="replace")
    if len(text) > limit or len(data) > limit * 4:
        size = path.stat().st_size
        return text[:limit] + f"\n[output cut at {limit} characters of {size} bytes]"
    return text


def _pid_exists(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _owner(pid: str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except FileNotFoundError:
        return None


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            parent = int(Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(name))
    found, stack = [], [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            found.append(child)
            stack.append(child)
    return found
