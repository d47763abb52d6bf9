from __future__ import annotations

import os

import pytest

from drgym.benchmarks import perf_env, perf_rollout, perf_workers


def test_memory_is_read_from_smaps_rollup():
    if not os.path.exists(f"/proc/{os.getpid()}/smaps_rollup"):
        pytest.skip("no /proc/PID/smaps_rollup on this platform")
    pss_kib, uss_kib = perf_workers.memory_kib(os.getpid())
    assert 0 < uss_kib <= pss_kib
    assert perf_workers.memory_kib(2**22 + 12345) is None  # above Linux's pid_max: no such process


@pytest.mark.slow
def test_rollout_benchmark_reports_every_worker_count(tmp_path):
    rows = perf_rollout.main(["--suite", "procedural:tiny", "--env", "drgym/DeepSearch-v1", "--episodes", "6",
                              "--workers", "1", "2", "--backends", "processes"])
    assert [measure for measure, _, _ in rows] == ["rollout, processes × 1", "rollout, processes × 2"]
    assert all("episodes/s" in figure and "load" in note for _, figure, note in rows)


@pytest.mark.slow
def test_workers_benchmark_finds_no_heavy_module_and_measures_both_kinds_of_process(tmp_path):
    rows = perf_workers.main(["--suite", "procedural:tiny", "--repeats", "1", "--processes", "2", "--steps", "3",
                              "--episodes-per-worker", "1", "--out", str(tmp_path)])
    measures = [measure for measure, _, _ in rows]
    assert measures[0] == "import + env creation" and "heavy modules: none" in rows[0][2]
    if os.path.exists(f"/proc/{os.getpid()}/smaps_rollup"):
        assert measures[1:] == ["2 env processes, spawned", "2 pool workers (zygote)"]


def test_long_episode_benchmark_reports_the_change_from_first_to_last_steps(tiny_world, capsys):
    names = [e["name"] for e in tiny_world.meta["graph"]["entities"]]
    measure, figure, note = perf_env._long_episode(str(tiny_world.path), names, 40, 1, perf_env.Console())
    assert measure == "step cost, step 1 → 40" and figure.endswith("%") and "ms/search step" in note
    assert "copying it and the pages seen once per step" in capsys.readouterr().out
