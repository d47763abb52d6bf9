"""Rollouts on an existing Ray cluster: a real head and a second node started on this machine, and the errors
when no cluster answers."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from drgym.agents import ScriptedResearcher
from drgym.agents.rollout import rollout
from drgym.agents.trajectories import read_trajectories
from drgym.cli import app
from drgym.errors import ConfigError

pytest.importorskip("ray", reason="Ray is not installed (pip install 'drgym[ray]')")

DRIVER = textwrap.dedent("""
    import json, sys, time
    import ray
    from drgym.agents import ScriptedResearcher
    from drgym.agents.rollout import rollout

    address, tasks, out = sys.argv[1:4]
    ray.init(address=address, log_to_driver=False)
    while len([node for node in ray.nodes() if node["Alive"]]) < 2:  # the second node may still be joining
        time.sleep(0.5)
    node_ids = sorted(node["NodeID"] for node in ray.nodes() if node["Alive"])
    ray.shutdown()
    summary = rollout("drgym/DeepSearch-v0", ScriptedResearcher, n_episodes=6, out=out, n_workers=2,
                      env_kwargs={"tasks": tasks}, backend="ray", ray_address=address, show_progress=False)
    print(json.dumps({"node_ids": node_ids, "episodes_per_node": summary.episodes_per_node, "n_ok": summary.n_ok}))
""")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _ray_environment() -> dict[str, str]:
    """This test's cluster: no token authentication (Ray turns it on when ~/.ray/auth_token exists), no usage
    stats, and no RAY_ADDRESS pointing elsewhere."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    return env


def _stop(node: subprocess.Popen) -> None:
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


def test_an_address_where_no_cluster_answers_is_a_config_error_naming_it(tiny_world, tmp_path, monkeypatch):
    address = f"127.0.0.1:{_free_port()}"
    kwargs = {"n_episodes": 1, "out": tmp_path / "runs.jsonl", "env_kwargs": {"tasks": str(tiny_world.path)},
              "show_progress": False}
    with pytest.raises(ConfigError, match=re.escape(f"no Ray cluster answers at {address}")):
        rollout("drgym/DeepSearch-v0", ScriptedResearcher, backend="ray", ray_address=address, **kwargs)
    with pytest.raises(ConfigError, match=re.escape("Ray address 'nowhere' is not host:port")):
        rollout("drgym/DeepSearch-v0", ScriptedResearcher, backend="ray", ray_address="nowhere", **kwargs)
    with pytest.raises(ConfigError, match=re.escape("ray_address ('x:1') is only used by backend='ray'")):
        rollout("drgym/DeepSearch-v0", ScriptedResearcher, ray_address="x:1", **kwargs)

    runner = CliRunner()
    command = ["rollout", "--out", str(tmp_path / "cli.jsonl"), "--suite", str(tiny_world.path), "--episodes", "1"]
    result = runner.invoke(app, [*command, "--ray-address", address])
    assert result.exit_code == 1 and f"ConfigError: no Ray cluster answers at {address}" in result.output
    monkeypatch.setenv("RAY_ADDRESS", address)
    result = runner.invoke(app, [*command, "--backend", "ray"])
    assert result.exit_code == 1 and f"no Ray cluster answers at {address}" in result.output
    assert not list(read_trajectories(tmp_path / "cli.jsonl"))


@pytest.mark.slow
@pytest.mark.timeout(1200)  # Ray starts two nodes and three drivers; minutes on a loaded 2-core machine
def test_rollouts_run_on_both_nodes_of_an_existing_two_node_cluster(tiny_world, tmp_path):
    ray_command = Path(sys.executable).parent / "ray"
    if not ray_command.exists():
        pytest.skip(f"no `ray` command beside {sys.executable}")
    env = _ray_environment()
    port = _free_port()
    address = f"127.0.0.1:{port}"
    temp_root = tempfile.mkdtemp(prefix="ray")  # short: Ray's socket paths must fit in 107 characters
    common = ["--num-cpus", "1", "--disable-usage-stats", "--block", "--node-ip-address", "127.0.0.1",
              "--object-store-memory", str(100 * 1024 ** 2)]
    nodes: list[subprocess.Popen] = []

    def start(name: str, *arguments: str) -> subprocess.Popen:
        log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - the node outlives this function
        node = subprocess.Popen([str(ray_command), "start", *arguments, *common, "--temp-dir", f"{temp_root}/{name}",
                                 "--dashboard-agent-listen-port", str(_free_port())],
                                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        nodes.append(node)
        return node

    try:
        head = start("head", "--head", "--port", str(port), "--include-dashboard", "false",
                     "--dashboard-port", str(_free_port()))
        while True:
            assert head.poll() is None, (tmp_path / "head.log").read_text()[-3000:]
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=5):
                break
            time.sleep(0.5)
        start("worker", "--address", address)

        script = tmp_path / "driver.py"
        script.write_text(DRIVER)
        driver = subprocess.run([sys.executable, str(script), address, str(tiny_world.path), str(tmp_path / "a.jsonl")],
                                env=env, capture_output=True, text=True)
        assert driver.returncode == 0, driver.stderr[-3000:]
        report = json.loads(driver.stdout.strip().splitlines()[-1])
        assert report["n_ok"] == 6 and len(report["node_ids"]) == 2
        assert sorted(report["episodes_per_node"]) == report["node_ids"]  # both nodes ran episodes
        assert sum(report["episodes_per_node"].values()) == 6

        cli = subprocess.run([sys.executable, "-m", "drgym", "rollout", "--backend", "ray", "--workers", "2",
                              "--episodes", "4", "--suite", str(tiny_world.path), "--out", str(tmp_path / "b.jsonl")],
                             env={**env, "RAY_ADDRESS": address}, capture_output=True, text=True)
        assert cli.returncode == 0, cli.stderr[-3000:]
        assert all(node_id in cli.stdout for node_id in report["node_ids"])
        records = list(read_trajectories(tmp_path / "b.jsonl"))
        assert len(records) == 4 and all(r["status"] == "ok" and r["reward"] == 1.0 for r in records)
    finally:
        for node in reversed(nodes):
            _stop(node)
        shutil.rmtree(temp_root, ignore_errors=True)
