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


def test_the_build_logs_each_phase_and_the_child_attributes_memory_to_them(tmp_path):
    build_logger = logging.getLogger("drgym.tasks.procedural")
    before = (build_logger.level, build_logger.propagate, list(build_logger.handlers))
    result = perf_world._child(120, tmp_path)
    assert (build_logger.level, build_logger.propagate, list(build_logger.handlers)) == before  # left as it was
    phases = list(result["phases"])
    assert phases == ["generate the graph", "render and write the pages", "sort the statements",
                      "synthesise tasks, write world.json", "index", "draw the charts"]
    for rss, anonymous in result["phases"].values():
        assert 0 < anonymous < rss
    assert max(anonymous for _, anonymous in result["phases"].values()) <= result["peak_anonymous_kib"]
