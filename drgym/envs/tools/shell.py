"""shell: a persistent terminal per episode, in a tmux session (libtmux) running bash inside a bubblewrap
sandbox.

The sandbox sees the system folders read-only (/usr, /bin, /lib, /etc), its own /tmp, /proc and /dev, the
episode workspace read-write at /workspace, and nothing else of the host; it has no network (its own network
namespace), its own process namespace, and limits on CPU seconds per process, memory, processes, file size,
wall time per command and output size. Its /tmp is a RAM tmpfs of `ShellLimits.tmp_mb`, carved out of the
memory limit. The workspace counts against the episode's disk quota, checked while commands run. Run as root,
bubblewrap mounts the sandbox with root's rights (no host folder's permissions are changed) and the shell
inside drops to the `nobody` user with no capabilities, so the process limit holds. cwd, variables and background jobs persist between calls within the episode; the
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

from drgym.core.clipping import preview
from drgym.envs.tools.base import MAX_WORKSPACE_ENTRIES, EpisodeState, Tool, ToolError, workspace_usage
from drgym.errors import ConfigError, DependencyNotInstalled

__all__ = ["MAX_COMMAND_CHARS", "ShellLimits", "ShellTool"]

_SANDBOX_UID = 65534  # nobody
_CONTROL = "/.drgym"  # where the sandbox finds command files and writes output and exit codes
MAX_COMMAND_CHARS = 100_000
"""Longest command line; longer programs go in a file."""


@dataclass(frozen=True)
class ShellLimits:
    """Resource limits of the sandbox."""

    cpu_s: int = 120
    """CPU seconds per process (RLIMIT_CPU)."""
    memory_mb: int = 2048
    """Memory of a process and the sandbox's /tmp together: a process gets ``memory_mb - tmp_mb`` of address
    space (RLIMIT_AS), /tmp holds at most `tmp_mb`."""
    tmp_mb: int = 64
    """Size of the sandbox's /tmp, a RAM tmpfs (its pages are memory, not disk)."""
    max_processes: int = 64
    """Processes of the sandbox at once; reaching it (a fork bomb) resets the sandbox."""
    file_size_mb: int = 64
    """Largest file a process may write (RLIMIT_FSIZE)."""
    max_timeout_s: int = 300
    """Upper bound of a call's `timeout_s`."""
    max_output_chars: int = 20_000
    """Output beyond this is cut, with a note."""

    def __post_init__(self) -> None:
        if not 0 < self.tmp_mb < self.memory_mb:
            raise ConfigError(f"ShellLimits.tmp_mb ({self.tmp_mb}) must be positive and below memory_mb "
                              f"({self.memory_mb}): /tmp is carved out of the memory limit.")


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
        self._server_pid = 0
        self._tripped: str | None = None
        """Why the watchdog reset the sandbox: "processes" or "quota"."""
        self._quota_bytes = 0
        self._disk_reported = 0
        """Workspace bytes at the last quota check a call reported: the watchdog trips only on growth past it."""
        self._watchdog_stop = threading.Event()
        self.tag = uuid.uuid4().hex[:12]
        """In the names of this tool's tmux socket folder and session, so its processes can be told apart."""

    # -- lifecycle ------------------------------------------------------------------------------------

    def reset(self, state: EpisodeState) -> None:
        self._stop()
        self._workspace = state.workspace

    def close(self) -> None:
        self._stop()

    def _start(self) -> None:
        import libtmux

        self._socket_dir = Path(tempfile.mkdtemp(prefix=f"drgym-tmux-{self.tag}-"))  # 0700: out of the sandbox's reach
        self._control = Path(tempfile.mkdtemp(prefix=f"drgym-shell-{self.tag}-"))
        workspace = self._workspace
        if self._as_root:  # the env's own folders; bubblewrap mounts them as root, so no parent needs o+x
            for path in (self._control, workspace):
                os.chown(path, _SANDBOX_UID, _SANDBOX_UID)
        limits = self.limits
        file_size_kb = min(limits.file_size_mb * 1024, max(1, self._quota_bytes // 1024))
        inner = (f"ulimit -t {limits.cpu_s} -v {(limits.memory_mb - limits.tmp_mb) * 1024} -f {file_size_kb} "
                 f"-u {self._nproc_limit()} 2>/dev/null; exec bash --noprofile --norc -i")
        if self._as_root:
            # No user namespace: bubblewrap keeps root's right to bind any folder, then the shell drops to
            # nobody (setpriv) with every capability gone; bubblewrap sets no_new_privs, so setuid files can't
            # climb back.
            isolation = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
                         "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]
            shell = [self._setpriv, f"--reuid={_SANDBOX_UID}", f"--regid={_SANDBOX_UID}", "--clear-groups",
                     "--inh-caps=-all", "--bounding-set=-all", "bash", "-c", inner]
        else:
            isolation = ["--unshare-all"]
            shell = ["bash", "-c", inner]
        sandbox = [self._bwrap, "--die-with-parent", *isolation, "--hostname", "sandbox",
                   "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
        for folder in ("/bin", "/sbin", "/lib", "/lib64", "/lib32"):
            if os.path.islink(folder):
                sandbox += ["--symlink", os.readlink(folder), folder]
            elif os.path.isdir(folder):
                sandbox += ["--ro-bind", folder, folder]
        sandbox += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", str(limits.tmp_mb * 2**20),
                    "--tmpfs", "/tmp",
                    "--bind", str(workspace), "/workspace", "--bind", str(self._control), _CONTROL,
                    "--chdir", "/workspace", "--clearenv", "--setenv", "HOME", "/workspace",
                    "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin", "--setenv", "TERM", "xterm",
                    "--setenv", "PS1", "$ ", "--setenv", "LANG", "C.UTF-8", *shell]
        self._server = libtmux.Server(socket_path=str(self._socket_dir / "tmux.sock"))
        self._session = self._server.new_session(session_name=f"drgym-{self.tag}", x=200, y=50,
                                                 window_command=shlex.join(sandbox))
        self._pane_pid = int(self._session.active_pane.pane_pid)
        self._server_pid = _parent(self._pane_pid)
        self._counter = 0
        self._tripped = None
        self._watchdog_stop = threading.Event()
        threading.Thread(target=self._watch, args=(self._pane_pid, self._watchdog_stop, workspace),
                         daemon=True, name="drgym-shell-watchdog").start()
        self._wait_ready()

    def _watch(self, pane_pid: int, stop: threading.Event, workspace: Path) -> None:
        """Resets the sandbox when it reaches the process limit (a fork bomb) or writes past the workspace
        quota, even between calls. Only growth past the quota trips it, so a shell can still delete files."""
        next_disk_check, last_used = 0.0, workspace_usage(workspace, stop_bytes=self._quota_bytes)[0]
        while not stop.wait(0.25):
            if len(_descendants(pane_pid)) >= self.limits.max_processes:
                self._tripped = "processes"
                self._kill_tree(pane_pid)
                return
            if time.monotonic() < next_disk_check:
                continue
            started = time.monotonic()
            used, entries = workspace_usage(workspace, stop_bytes=self._quota_bytes)
            # a walk of a crowded workspace is paid for with a longer pause, never with the agent's CPU
            next_disk_check = time.monotonic() + 4 * (time.monotonic() - started)
            over = used > self._quota_bytes or entries > MAX_WORKSPACE_ENTRIES
            last_used = max(last_used, self._disk_reported)
            if over and used > last_used:
                self._tripped = "quota"
                self._kill_tree(pane_pid)
                return
            last_used = used

    def _nproc_limit(self) -> int:
        # RLIMIT_NPROC counts every process of the user, other sandboxes' included (they share `nobody` when run
        # as root): leave room for those running, and 8 more so the watchdog trips before forks start failing
        uid = _SANDBOX_UID if self._as_root else os.getuid()
        running = sum(1 for pid in os.listdir("/proc") if pid.isdigit() and _owner(pid) == uid)
        return running + self.limits.max_processes + 8

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
            # kill-server can fail on a loaded machine; the server's own pid is checked for this tool's tag
            # first, so a pid reused by another process is never hit
            if self._server_pid and self.tag in _cmdline(self._server_pid):
                _kill(self._server_pid)
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
            command: the command line (several lines allowed, at most 100,000 characters).
            timeout_s: seconds to wait before interrupting it (Ctrl-C), 1 to 300.
        """
        if not 1 <= timeout_s <= self.limits.max_timeout_s:
            raise ToolError(f"timeout_s must be between 1 and {self.limits.max_timeout_s}, got {preview(timeout_s)}.")
        if "\x00" in command:
            raise ToolError("the command contains a NUL byte.")
        if len(command) > MAX_COMMAND_CHARS:
            raise ToolError(f"a command has at most {MAX_COMMAND_CHARS:,} characters, got {len(command):,}; write a "
                            "script with the file tool and run it.")
        time_left = state.seconds_left()
        if time_left is not None and time_left <= 0:
            raise ToolError("the episode's time budget (max_seconds) is spent; the command was not run.")
        wait_s: float = timeout_s if time_left is None else min(timeout_s, time_left)
        self._workspace = state.workspace
        self._quota_bytes = state.quota_bytes
        note = ""
        if self._session is None or not self._alive():
            if self._session is not None:
                note = (self._limit_note() if self._tripped else
                        "[the previous shell had ended; a new one was started: variables and jobs are gone]") + "\n"
            self._stop()
            self._start()
        output = self._send(command, timeout_s=wait_s,
                            budget_note="" if wait_s == timeout_s else " (the episode's max_seconds ran out)")
        if self._tripped:
            self._stop()
            output = f"{output}\n{self._limit_note()}"
        else:
            used, entries = workspace_usage(state.workspace, stop_bytes=state.quota_bytes)
            self._disk_reported = used
            if used > state.quota_bytes or entries > MAX_WORKSPACE_ENTRIES:
                # the same end as when the watchdog catches it mid-command, whichever of the two sees it first
                self._stop()
                output += f"\n{self._quota_note(state.quota_bytes)} The sandbox was reset: variables and jobs are gone."
        return note + output

    def _limit_note(self) -> str:
        if self._tripped == "quota":
            return self._quota_note(self._quota_bytes) + " The sandbox was reset: variables and jobs are gone."
        return (f"[process limit reached ({self.limits.max_processes} processes): the sandbox was reset; "
                "variables and background jobs are gone]")

    @staticmethod
    def _quota_note(quota_bytes: int) -> str:
        return (f"[workspace quota exceeded: more than {quota_bytes / 2**20:.0f} MB or {MAX_WORKSPACE_ENTRIES:,} "
                "files; delete files (rm, or the file tool) before writing more]")

    def _send(self, command: str, *, timeout_s: float, budget_note: str = "") -> str:
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
            status = f"[timed out after {timeout_s:g} s{budget_note}: interrupted with Ctrl-C]"
            if _read_code(rc) is None and not self._prompt_back():
                self._stop()
                status = f"[timed out after {timeout_s:g} s{budget_note} and did not stop on Ctrl-C: the shell was killed]"
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
    except (OSError, IndexError):  # gone: FileNotFoundError at open, ProcessLookupError when it exits mid-read
        return False
    return state != "Z"


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def _owner(pid: str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            parent = int(Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):  # a process that exits while /proc is read: not a child
            continue
        children.setdefault(parent, []).append(int(name))
    found, stack = [], [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            found.append(child)
            stack.append(child)
    return found
