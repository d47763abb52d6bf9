"""perf_world measures a real build per size in its own process and reports its figures."""

from __future__ import annotations

import logging

import pytest

from drgym.benchmarks import perf_world


@pytest.mark.slow
def test_each_size_is_built_in_a_subprocess_that_reports_its_memory_and_rate(capsys):
    rows = perf_world.main(["--pages", "150", "300"])
    figures = dict((measure, (figure, note)) for measure, figure, note in rows)
    built = [measure for measure in figures if measure.startswith("world build, ")]
    assert len(built) == 2 and "world build memory growth" in figures
    for measure in built:
        figure, note = figures[measure]
        assert "pages/s (CPU)" in figure and "MiB" in figure and "anonymous" in note
    assert "reference" in capsys.readouterr().out


def test_a_world_too_small_to_measure_is_refused():
    with pytest.raises(SystemExit):
        perf_world.main(["--pages", "10"])


def test_the_build_logs_each_phase_and_the_child_notes_when_each_starts(tmp_path):
    build_logger = logging.getLogger("drgym.tasks.procedural")
    before = (build_logger.level, build_logger.propagate, list(build_logger.handlers))
    result = perf_world._child(120, tmp_path)
    assert (build_logger.level, build_logger.propagate, list(build_logger.handlers)) == before  # left as it was
    names = [name for name, _ in result["phase_starts"]]
    assert names == ["generate the graph", "render and write the pages", "sort the statements",
                     "synthesise tasks, write world.json", "index", "draw the charts"]
    times = [start for _, start in result["phase_starts"]] + [result["ended"]]
    assert times == sorted(times)


def test_each_phase_gets_the_highest_sample_taken_while_it_ran():
    starts = [("a", 1.0), ("b", 2.0), ("c", 2.5)]
    samples = [(0.5, 999, 999), (1.2, 10, 5), (1.8, 30, 4), (2.1, 20, 9), (2.9, 15, 7), (3.5, 999, 999)]
    assert perf_world._phase_peaks(samples, starts, ended=3.0) == {"a": [30, 5], "b": [20, 9], "c": [15, 7]}
    # a phase shorter than the sampling interval gets the next sample
    assert perf_world._phase_peaks([(1.5, 10, 5), (2.7, 12, 6)], [("a", 1.0), ("b", 2.0), ("c", 2.5)],
                                   ended=3.0) == {"a": [10, 5], "b": [12, 6], "c": [12, 6]}


def test_the_memory_of_the_build_is_read_from_outside_for_each_phase():
    result = perf_world.measure(120)
    assert list(result["phases"]) == ["generate the graph", "render and write the pages", "sort the statements",
                                      "synthesise tasks, write world.json", "index", "draw the charts"]
    for rss, anonymous in result["phases"].values():
        assert 0 < anonymous < rss
    assert max(anonymous for _, anonymous in result["phases"].values()) == result["peak_anonymous_kib"]
    assert result["peak_anonymous_kib"] < result["peak_rss_kib"]
