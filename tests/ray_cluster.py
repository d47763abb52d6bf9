"""A real two-node Ray cluster on this machine for tests: a head and a second node, each `ray start --block` in
its own process group, stopped without touching any other Ray on the machine."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["free_port", "ray_environment", "stop_node", "two_node_cluster"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ray_environment() -> dict[str, str]:
    """The cluster's environment: no token authentication (Ray turns it on when ~/.ray/auth_token exists), no
    usage stats, and no RAY_ADDRESS pointing elsewhere."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    return env


def stop_node(node: subprocess.Popen) -> None:
    """Ends one node: its `ray start --block` and every process it started share one process group (its own
    session), so only this test's Ray processes are signalled; `ray stop` would end every Ray on the machine."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(node.pid, signal.SIGTERM)
    try:
        node.wait(timeout=60)  # Ray needs a while to shut a node down on a loaded machine
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(node.pid, signal.SIGKILL)  # what is left of the group (Ray's own helpers)
    node.wait()


@contextlib.contextmanager
def two_node_cluster(log_dir: Path, *, cpus_per_node: int = 1) -> Iterator[tuple[str, dict[str, str]]]:
    """Starts a head and a second node on 127.0.0.1 (logs in `log_dir`); yields (address, environment for drivers).
    Skips the test when there is no `ray` command beside this Python."""
    ray_command = Path(sys.executable).parent / "ray"
    if not ray_command.exists():
        pytest.skip(f"no `ray` command beside {sys.executable}")
    env = ray_environment()
    port = free_port()
    temp_root = tempfile.mkdtemp(prefix="ray")  # short: Ray's socket paths must fit in 107 characters
    common = ["--num-cpus", str(cpus_per_node), "--disable-usage-stats", "--block", "--node-ip-address", "127.0.0.1",
              "--object-store-memory", str(100 * 1024 ** 2)]
    nodes: list[subprocess.Popen] = []

    def start(name: str, *arguments: str) -> subprocess.Popen:
        log = open(log_dir / f"{name}.log", "w")  # noqa: SIM115 - the node outlives this function
        node = subprocess.Popen([str(ray_command), "start", *arguments, *common, "--temp-dir", f"{temp_root}/{name}",
                                 "--dashboard-agent-listen-port", str(free_port())],
                                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        nodes.append(node)
        return node

    try:
        head = start("head", "--head", "--port", str(port), "--include-dashboard", "false",
                     "--dashboard-port", str(free_port()))
        while True:
            assert head.poll() is None, (log_dir / "head.log").read_text()[-3000:]
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=5):
                break
            time.sleep(0.5)
        start("worker", "--address", f"127.0.0.1:{port}")
        yield f"127.0.0.1:{port}", env
    finally:
        for node in reversed(nodes):
            stop_node(node)
        shutil.rmtree(temp_root, ignore_errors=True)
