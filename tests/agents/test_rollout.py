from __future__ import annotations

import functools
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from drgym.agents import ScriptedResearcher
from drgym.agents.rollout import RolloutPool, rollout
from drgym.agents.trajectories import read_trajectories
from drgym.errors import ConfigError

SLOW_RUN = textwrap.dedent("""
    import sys, time
    from drgym.agents import ScriptedResearcher
    from drgym.agents.rollout import rollout

    class SlowResearcher(ScriptedResearcher):
        def act(self, messages):
            time.sleep(0.05)
            return super().act(messages)

    if __name__ == "__main__":
        rollout("drgym/DeepSearch-v1", SlowResearcher, n_episodes=int(sys.argv[3]), out=sys.argv[1], n_workers=2,
                env_kwargs={"tasks": sys.argv[2]}, show_progress=False)
""")


def test_kill_9_mid_run_then_resume_loses_and_duplicates_nothing(tiny_world, tmp_path):
    script = tmp_path / "slow_run.py"
    script.write_text(SLOW_RUN)
    out = tmp_path / "runs.jsonl"
    command = [sys.executable, str(script), str(out), str(tiny_world.path), "24"]
    process = subprocess.Popen(command, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(read_trajectories(out))) < 4:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished_before = len(list(read_trajectories(out)))
    assert 4 <= finished_before < 24
    with out.open("ab") as handle:  # what a write cut off mid-line leaves behind
        handle.write(b'{"episode_id": "torn", "ind')
    subprocess.run(command, check=True, timeout=300)
    records = list(read_trajectories(out))
    assert sorted(r["index"] for r in records) == list(range(24))
    assert len({r["episode_id"] for r in records}) == 24
    assert all(r["status"] == "ok" and r["reward"] == 1.0 for r in records)
    assert out.read_bytes().endswith(b"\n") and b'"torn"' not in out.read_bytes()


def test_failures_are_recorded_and_the_run_goes_on(tiny_world, tmp_path):
    class Flaky(ScriptedResearcher):
        calls = 0

        def act(self, messages):
            Flaky.calls += 1
            if Flaky.calls % 5 == 0:
                raise ConnectionError("policy server down at http://127.0.0.1:9")
            return super().act(messages)

    out = tmp_path / "runs.jsonl"
    summary = rollout("drgym/DeepSearch-v1", Flaky, n_episodes=6, out=out, env_kwargs={"tasks": str(tiny_world.path)},
                      show_progress=False)
    records = list(read_trajectories(out))
    assert summary.n_failed >= 1 and summary.n_ok + summary.n_failed == 6 == len(records)
    failed = next(r for r in records if r["status"] == "failed")
    assert "policy server down at http://127.0.0.1:9" in failed["error"]
    ok = next(r for r in records if r["status"] == "ok")
    assert ok["steps"] and ok["messages"][0]["role"] == "system" and json.dumps(ok)


def test_ray_backend_plays_the_same_episodes_as_processes_on_actors_kept_between_runs(tiny_world, tmp_path):
    kwargs = {"n_episodes": 4, "env_kwargs": {"tasks": str(tiny_world.path)}, "show_progress": False, "n_workers": 2}
    with RolloutPool("drgym/DeepSearch-v1", ScriptedResearcher, n_workers=2, backend="ray",
                     env_kwargs=kwargs["env_kwargs"]) as pool:
        first = pool.run(n_episodes=4, out=tmp_path / "ray.jsonl", show_progress=False)
        actors = pool.worker_ids
        second = pool.run(n_episodes=4, out=tmp_path / "ray-again.jsonl", seed=50, show_progress=False)
        assert pool.worker_ids == actors and len(actors) == 2
    assert set(first.episodes_per_worker) | set(second.episodes_per_worker) <= set(actors)
    assert first.n_ok == second.n_ok == 4 and sum(first.episodes_per_node.values()) == 4
    rollout("drgym/DeepSearch-v1", ScriptedResearcher, out=tmp_path / "proc.jsonl", **kwargs)

    def key(path):
        return sorted((r["episode_id"], r["task_id"], r["reward"], len(r["steps"])) for r in read_trajectories(path))

    assert key(tmp_path / "ray.jsonl") == key(tmp_path / "proc.jsonl") and len(key(tmp_path / "ray.jsonl")) == 4


def test_trajectories_of_every_kind_load_as_one_table(tiny_world, tmp_path):
    import pyarrow.json

    from drgym.agents import CallablePolicy

    def native(messages):
        if len(messages) > 2:
            return "<answer>x</answer>"
        return {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "todo", "arguments": '{"action": "list"}'}}]}

    def broken(messages):
        raise RuntimeError("model crashed")

    out = tmp_path / "mixed.jsonl"
    kwargs = {"env_kwargs": {"tasks": str(tiny_world.path)}, "show_progress": False, "out": out}
    rollout("drgym/DeepResearch-v1", ScriptedResearcher, n_episodes=2, **kwargs)
    rollout("drgym/DeepResearch-v1", lambda: CallablePolicy(native), n_episodes=2, seed=10, **kwargs)
    rollout("drgym/DeepResearch-v1", lambda: CallablePolicy(broken), n_episodes=1, seed=20, **kwargs)
    table = pyarrow.json.read_json(out)
    assert table.num_rows == 5
    assert sorted(table.column("status").to_pylist()) == ["failed", "ok", "ok", "ok", "ok"]
    steps = [s for r in read_trajectories(out) for s in r["steps"]]
    assert {s["action_format"] for s in steps} == {"text", "message"}
    timed = [c for s in steps for c in s["tool_calls"]]
    assert timed and all(c["seconds"] >= 0 and isinstance(c["arguments"], str) for c in timed)


def test_a_pool_plays_every_run_on_the_same_two_worker_processes(tiny_world, tmp_path):
    with RolloutPool("drgym/DeepSearch-v1", ScriptedResearcher, n_workers=2,
                     env_kwargs={"tasks": str(tiny_world.path)}) as pool:
        first = pool.run(n_episodes=12, out=tmp_path / "a.jsonl", show_progress=False)
        workers = pool.worker_ids
        second = pool.run(n_episodes=12, out=tmp_path / "b.jsonl", seed=100, show_progress=False)
        assert pool.worker_ids == workers
    assert len(workers) == 2 and str(os.getpid()) not in workers
    assert set(first.episodes_per_worker) == set(second.episodes_per_worker) == set(workers)
    assert sum(first.episodes_per_worker.values()) == sum(second.episodes_per_worker.values()) == 12
    assert first.n_ok == second.n_ok == 12
    assert len(list(read_trajectories(tmp_path / "b.jsonl"))) == 12


class KillsItsWorkerOnce(ScriptedResearcher):
    """Kills the process it runs in, the first time any worker builds it (the marker file is taken once)."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker = marker

    def act(self, messages):
        try:
            os.rename(self.marker, f"{self.marker}.taken")
        except FileNotFoundError:
            return super().act(messages)
        os.kill(os.getpid(), signal.SIGKILL)


def test_a_worker_killed_mid_episode_loses_no_other_episode_and_is_replaced(tiny_world, tmp_path):
    marker = tmp_path / "kill-a-worker"
    marker.touch()
    out = tmp_path / "runs.jsonl"
    with RolloutPool("drgym/DeepSearch-v1", functools.partial(KillsItsWorkerOnce, str(marker)), n_workers=2,
                     env_kwargs={"tasks": str(tiny_world.path)}) as pool:
        pool.start()
        started_with = set(pool.worker_ids)
        summary = pool.run(n_episodes=10, out=out, show_progress=False)
        assert len(pool.worker_ids) == 2 and len(started_with - set(pool.worker_ids)) == 1, (started_with,
                                                                                              pool.worker_ids)
    records = list(read_trajectories(out))
    assert sorted(r["index"] for r in records) == list(range(10))
    failed = [r for r in records if r["status"] == "failed"]
    assert summary.n_failed == len(failed) == 1 and summary.n_ok == 9, [r["error"] for r in failed]
    assert "WorkerDied" in failed[0]["error"] and "SIGKILL" in failed[0]["error"]
    ok = next(r for r in records if r["status"] == "ok")
    assert failed[0]["task_id"] and set(failed[0]) == set(ok)  # one schema: the file still loads as one table


def _played(path: Path) -> list[dict]:
    """The episodes of a trajectory file without their timings."""
    records = sorted(read_trajectories(path), key=lambda record: record["index"])
    for record in records:
        del record["wall_s"]
        for step in record["steps"]:
            del step["policy_s"], step["env_s"]
            for call in step["tool_calls"]:
                del call["seconds"]
    return records


def test_workers_forked_from_the_zygote_play_the_episodes_of_an_environment_built_on_its_own(tiny_world, tmp_path):
    kwargs = {"n_episodes": 8, "env_kwargs": {"tasks": str(tiny_world.path)}, "show_progress": False}
    for env_id in ("drgym/DeepSearch-v1", "drgym/DeepResearch-v1"):
        rollout(env_id, ScriptedResearcher, out=tmp_path / "here.jsonl", **kwargs)  # one worker: this process
        with RolloutPool(env_id, ScriptedResearcher, n_workers=2, env_kwargs=kwargs["env_kwargs"]) as pool:
            pool.run(n_episodes=8, out=tmp_path / "forked.jsonl", show_progress=False)
            workers = [int(worker_id) for worker_id in pool.worker_ids]
            zygotes = {int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]) for pid in workers} \
                if Path("/proc/self/stat").exists() else set()
        played = _played(tmp_path / "here.jsonl")
        assert played == _played(tmp_path / "forked.jsonl") and len(played) == 8
        assert all(record["status"] == "ok" for record in played) and {r["kind"] for r in played} == {
            "deep_search" if env_id.endswith("DeepSearch-v1") else "deep_research"}
        assert len(zygotes) <= 1 and os.getpid() not in zygotes  # both workers fork from one zygote
        (tmp_path / "here.jsonl").unlink()
        (tmp_path / "forked.jsonl").unlink()


def _parents(pids: list[int]) -> set[int]:
    return {int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]) for pid in pids}


POLICY_MODULE = textwrap.dedent("""
    from drgym.agents import ScriptedResearcher

    class WrittenLater(ScriptedResearcher):
        pass
""")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads parent pids from /proc")
def test_later_pools_fork_from_the_same_zygote_where_this_process_is_now(tiny_world, tmp_path, monkeypatch):
    """The zygote outlives the pool that started it: a later pool loads its own tasks there, from this process's
    working folder, import path and environment as they are when it starts."""
    env_kwargs = {"tasks": str(tiny_world.path)}
    with RolloutPool("drgym/DeepSearch-v1", ScriptedResearcher, n_workers=2, env_kwargs=env_kwargs) as pool:
        pool.run(n_episodes=2, out=tmp_path / "a.jsonl", show_progress=False)
        (zygote,) = _parents([int(worker_id) for worker_id in pool.worker_ids])
    # a relative task path from another folder, a policy in a module written (and put on the path) after the
    # zygote started
    (tmp_path / "here").mkdir()
    (tmp_path / "here" / "world").symlink_to(tiny_world.path)
    (tmp_path / "here" / "written_later.py").write_text(POLICY_MODULE)
    monkeypatch.chdir(tmp_path / "here")
    monkeypatch.syspath_prepend(str(tmp_path / "here"))
    from written_later import WrittenLater

    with RolloutPool("drgym/DeepResearch-v1", WrittenLater, n_workers=2, env_kwargs={"tasks": "world"}) as pool:
        summary = pool.run(n_episodes=4, out=tmp_path / "b.jsonl", show_progress=False)
        assert _parents([int(worker_id) for worker_id in pool.worker_ids]) == {zygote}
    assert summary.n_ok == 4
    played = _played(tmp_path / "b.jsonl")
    assert {record["kind"] for record in played} == {"deep_research"} and {record["policy"] for record in played} \
        == {"WrittenLater"}


def test_a_task_file_rewritten_between_pools_is_read_again(tiny_world, tmp_path):
    """The zygote keeps a pool's tasks only while a pool of them is open: the next pool reads the file again."""
    lines = [line for line in (tiny_world.path / "tasks.jsonl").read_text().splitlines()
             if json.loads(line)["kind"] == "deep_search"]
    tasks = tmp_path / "tasks.jsonl"
    played = []
    for part in (lines[:1], lines[1:2]):
        tasks.write_text("\n".join(part) + "\n")
        out = tmp_path / f"{len(played)}.jsonl"
        with RolloutPool("drgym/DeepSearch-v1", ScriptedResearcher, n_workers=2,
                         env_kwargs={"tasks": str(tasks), "web": str(tiny_world.path)}) as pool:
            assert pool.run(n_episodes=2, out=out, show_progress=False).n_ok == 2
        played.append({record["task_id"] for record in read_trajectories(out)})
    assert played == [{json.loads(lines[0])["id"]}, {json.loads(lines[1])["id"]}]


def test_two_pools_open_at_once_each_play_their_own_tasks(tiny_world, tmp_path, monkeypatch):
    """The same relative task path from two folders: the zygote loads each pool's tasks afresh, where it starts."""
    lines = [line for line in (tiny_world.path / "tasks.jsonl").read_text().splitlines()
             if json.loads(line)["kind"] == "deep_search"]
    for number in (0, 1):
        (tmp_path / f"f{number}").mkdir()
        (tmp_path / f"f{number}" / "t.jsonl").write_text(lines[number] + "\n")
    pools = []
    for number in (0, 1):
        monkeypatch.chdir(tmp_path / f"f{number}")
        pool = RolloutPool("drgym/DeepSearch-v1", ScriptedResearcher, n_workers=2,
                           env_kwargs={"tasks": "t.jsonl", "web": str(tiny_world.path)})
        pool.start()
        pools.append(pool)
    try:
        for number, pool in enumerate(pools):
            pool.run(n_episodes=2, out=tmp_path / f"{number}.jsonl", show_progress=False)
            assert {r["task_id"] for r in read_trajectories(tmp_path / f"{number}.jsonl")} == {
                json.loads(lines[number])["id"]}
    finally:
        for pool in pools:
            pool.close()


VERSIONED_POLICY = textwrap.dedent("""
    import os
    from drgym.agents import ScriptedResearcher

    VERSION = {version}

    class Versioned(ScriptedResearcher):
        def act(self, messages):
            with open(os.environ["VERSIONS_SEEN"], "a") as seen:
                seen.write(f"{{VERSION}}\\n")
            return super().act(messages)
""")


def test_a_policy_module_edited_between_pools_runs_as_edited(tiny_world, tmp_path, monkeypatch):
    import importlib

    module = tmp_path / "versioned_policy.py"
    module.write_text(VERSIONED_POLICY.format(version=1))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("VERSIONS_SEEN", str(tmp_path / "seen.txt"))
    import versioned_policy

    for version in (1, 2):
        if version == 2:
            module.write_text(VERSIONED_POLICY.format(version=2))
            os.utime(module, ns=(time.time_ns(), time.time_ns() + 10**9))  # a later mtime, whatever the clock's grain
            importlib.reload(versioned_policy)
        (tmp_path / "seen.txt").unlink(missing_ok=True)
        with RolloutPool("drgym/DeepSearch-v1", versioned_policy.Versioned, n_workers=2,
                         env_kwargs={"tasks": str(tiny_world.path)}) as pool:
            assert pool.run(n_episodes=2, out=tmp_path / f"v{version}.jsonl", show_progress=False).n_ok == 2
        assert set((tmp_path / "seen.txt").read_text().split()) == {str(version)}


def test_a_policy_that_does_not_pickle_is_a_clear_error_and_the_next_pool_runs(tiny_world, tmp_path):
    env_kwargs = {"tasks": str(tiny_world.path)}
    with pytest.raises(ConfigError, match="must pickle by name"):
        rollout("drgym/DeepSearch-v1", lambda: ScriptedResearcher(), n_episodes=2, n_workers=2,
                out=tmp_path / "a.jsonl", env_kwargs=env_kwargs, show_progress=False)
    assert rollout("drgym/DeepSearch-v1", ScriptedResearcher, n_episodes=2, n_workers=2, out=tmp_path / "b.jsonl",
                   env_kwargs=env_kwargs, show_progress=False).n_ok == 2


def test_an_exchange_cut_off_by_ctrl_c_leaves_the_next_pool_a_working_zygote(tiny_world, tmp_path):
    from drgym.agents import rollout as rollout_module

    env_kwargs = {"tasks": str(tiny_world.path)}
    with RolloutPool("drgym/DeepSearch-v1", ScriptedResearcher, n_workers=2, env_kwargs=env_kwargs) as pool:
        pool.run(n_episodes=2, out=tmp_path / "a.jsonl", show_progress=False)
    zygote = rollout_module._ZYGOTE
    real_recv = zygote._connection.recv

    def interrupted():  # Ctrl-C after the request went out, before its answer was read
        zygote._connection.recv = real_recv
        raise KeyboardInterrupt

    zygote._connection.recv = interrupted
    with pytest.raises(KeyboardInterrupt):
        with RolloutPool("drgym/DeepSearch-v1", ScriptedResearcher, n_workers=2, env_kwargs=env_kwargs) as pool:
            pool.start()
    assert zygote.is_broken
    with RolloutPool("drgym/DeepSearch-v1", ScriptedResearcher, n_workers=2, env_kwargs=env_kwargs) as pool:
        assert pool.run(n_episodes=4, out=tmp_path / "b.jsonl", show_progress=False).n_ok == 4
    assert rollout_module._ZYGOTE is not zygote


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_process_forked_while_another_thread_holds_the_zygote_lock_can_take_it():
    import threading

    from drgym.agents import rollout as rollout_module

    held, release = threading.Event(), threading.Event()

    def hold():
        with rollout_module._ZYGOTE_LOCK:
            held.set()
            release.wait()

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait()
    try:
        pid = os.fork()
        if pid == 0:
            os._exit(0 if rollout_module._ZYGOTE_LOCK.acquire(timeout=30) else 1)
        _, status = os.waitpid(pid, 0)
    finally:
        release.set()
        holder.join()
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_zygote_killed_between_pools_is_replaced(tiny_world, tmp_path):
    env_kwargs = {"tasks": str(tiny_world.path)}
    with RolloutPool("drgym/DeepSearch-v1", ScriptedResearcher, n_workers=2, env_kwargs=env_kwargs) as pool:
        pool.run(n_episodes=2, out=tmp_path / "a.jsonl", show_progress=False)
    from drgym.agents import rollout as rollout_module

    rollout_module._ZYGOTE.process.kill()
    rollout_module._ZYGOTE.process.join(10)
    with RolloutPool("drgym/DeepSearch-v1", ScriptedResearcher, n_workers=2, env_kwargs=env_kwargs) as pool:
        assert pool.run(n_episodes=4, out=tmp_path / "b.jsonl", show_progress=False).n_ok == 4


def test_pools_started_at_once_from_two_threads_share_the_zygote(tiny_world, tmp_path):
    import threading

    summaries, errors = {}, []

    def run(env_id: str) -> None:
        try:
            summaries[env_id] = rollout(env_id, ScriptedResearcher, n_episodes=6, n_workers=2,
                                        out=tmp_path / f"{env_id.split('/')[1]}.jsonl",
                                        env_kwargs={"tasks": str(tiny_world.path)}, show_progress=False)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(env_id,)) for env_id in ("drgym/DeepSearch-v1",
                                                                          "drgym/DeepResearch-v1")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and {env_id: summary.n_ok for env_id, summary in summaries.items()} == {
        "drgym/DeepSearch-v1": 6, "drgym/DeepResearch-v1": 6}


UNGUARDED_RUN = textwrap.dedent("""
    import sys
    from drgym.agents import ScriptedResearcher
    from drgym.agents.rollout import rollout

    rollout("drgym/DeepSearch-v1", ScriptedResearcher, n_episodes=2, out=sys.argv[1], n_workers=2,
            env_kwargs={"tasks": sys.argv[2]}, show_progress=False)
""")

THREADED_RUN = textwrap.dedent("""
    import sys, threading, time
    from drgym.agents import ScriptedResearcher
    from drgym.agents.rollout import rollout

    threading.Thread(target=time.sleep, args=(600,), name="started-on-import", daemon=True).start()

    if __name__ == "__main__":
        summary = rollout("drgym/DeepSearch-v1", ScriptedResearcher, n_episodes=4, out=sys.argv[1], n_workers=2,
                          env_kwargs={"tasks": sys.argv[2]}, show_progress=False)
        print(summary.n_ok)
""")


def test_a_script_that_runs_rollouts_as_it_is_imported_is_told_to_guard_them(tiny_world, tmp_path):
    script = tmp_path / "unguarded.py"
    script.write_text(UNGUARDED_RUN)
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "x.jsonl"), str(tiny_world.path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "ConfigError" in done.stderr and 'run rollouts under `if __name__ == "__main__":`' in done.stderr


def test_a_script_whose_module_starts_threads_still_runs_its_workers(tiny_world, tmp_path):
    """Forking copies only the forking thread: workers are then started from the forkserver, not forked from a
    zygote that imported the script's module (and so runs its threads)."""
    script = tmp_path / "threaded.py"
    script.write_text(THREADED_RUN)
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "x.jsonl"), str(tiny_world.path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "4"


def test_a_worker_that_cannot_build_its_environment_raises_the_error(tmp_path):
    with pytest.raises(ConfigError, match=re.escape("Did you mean 'procedural:tiny'?")):
        rollout("drgym/DeepSearch-v1", ScriptedResearcher, n_episodes=4, n_workers=2, out=tmp_path / "x.jsonl",
                env_kwargs={"tasks": "procedural:tinyy"}, show_progress=False)
    assert not Path(tmp_path / "x.jsonl").exists() or not list(read_trajectories(tmp_path / "x.jsonl"))


def test_an_interrupted_run_keeps_every_finished_episode_and_resumes(tiny_world, tmp_path):
    class CtrlCInFourthEpisode(ScriptedResearcher):
        built = 0

        def __init__(self):
            super().__init__()
            CtrlCInFourthEpisode.built += 1

        def act(self, messages):
            if CtrlCInFourthEpisode.built == 4:
                raise KeyboardInterrupt
            return super().act(messages)

    out = tmp_path / "runs.jsonl"
    kwargs = {"n_episodes": 6, "out": out, "env_kwargs": {"tasks": str(tiny_world.path)}, "show_progress": False}
    with pytest.raises(KeyboardInterrupt):
        rollout("drgym/DeepSearch-v1", CtrlCInFourthEpisode, **kwargs)
    assert sorted(r["index"] for r in read_trajectories(out)) == [0, 1, 2]
    summary = rollout("drgym/DeepSearch-v1", ScriptedResearcher, **kwargs)
    assert summary.n_skipped == 3 and summary.n_ok == 3
    assert sorted(r["index"] for r in read_trajectories(out)) == list(range(6))
    # the run's mean covers the episodes already in the file; a finished run resumed says so, not "0.000"
    rewards = [r["reward"] for r in read_trajectories(out) if r["status"] == "ok"]
    assert summary.mean_reward == pytest.approx(sum(rewards) / len(rewards))
    again = rollout("drgym/DeepSearch-v1", ScriptedResearcher, **kwargs)
    assert again.n_skipped == 6 and again.n_ok == 0 and again.mean_reward == pytest.approx(summary.mean_reward)
    assert f"over the run's {len(rewards)} finished episodes" in str(again)
