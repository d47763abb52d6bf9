"""Rollouts on an existing Ray cluster: a real head and a second node started on this machine, and the errors
when no cluster answers."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from drgym.agents import ScriptedResearcher
from drgym.agents.rollout import rollout
from drgym.agents.trajectories import read_trajectories
from drgym.cli import app
from drgym.errors import ConfigError

from ..ray_cluster import free_port, two_node_cluster

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
    summary = rollout("drgym/DeepSearch-v1", ScriptedResearcher, n_episodes=6, out=out, n_workers=2,
                      env_kwargs={"tasks": tasks}, backend="ray", ray_address=address, show_progress=False)
    print(json.dumps({"node_ids": node_ids, "episodes_per_node": summary.episodes_per_node, "n_ok": summary.n_ok}))
""")


def test_an_address_where_no_cluster_answers_is_a_config_error_naming_it(tiny_world, tmp_path, monkeypatch):
    address = f"127.0.0.1:{free_port()}"
    kwargs = {"n_episodes": 1, "out": tmp_path / "runs.jsonl", "env_kwargs": {"tasks": str(tiny_world.path)},
              "show_progress": False}
    with pytest.raises(ConfigError, match=re.escape(f"no Ray cluster answers at {address}")):
        rollout("drgym/DeepSearch-v1", ScriptedResearcher, backend="ray", ray_address=address, **kwargs)
    with pytest.raises(ConfigError, match=re.escape("Ray address 'nowhere' is not host:port")):
        rollout("drgym/DeepSearch-v1", ScriptedResearcher, backend="ray", ray_address="nowhere", **kwargs)
    with pytest.raises(ConfigError, match=re.escape("ray_address ('x:1') is only used by backend='ray'")):
        rollout("drgym/DeepSearch-v1", ScriptedResearcher, ray_address="x:1", **kwargs)

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
    with two_node_cluster(tmp_path) as (address, env):
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

