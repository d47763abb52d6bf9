"""A world build streams its pages to disk: the corpus and statements it writes are those of the rendered pages
collected in memory and saved at once (the build before streaming), and its world.json, written an entity at a
time, is the one `json.dump` writes of the whole graph."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from drgym.tasks.charts import draw_charts
from drgym.tasks.procedural import PAGES_PER_ENTITY, ProceduralWorld, WorldSpec, _ChartSpool
from drgym.tasks.render import Chart, RenderKnobs, render_world
from drgym.tasks.synth import TASKS_VERSION
from drgym.tasks.world import WORLD_VERSION, World, world_to_dict
from drgym.web.corpus import Corpus

SPEC = WorldSpec(seed=9, pages=400, conflict_rate=0.5, paraphrase_rate=0.3, n_deep_search=6, n_deep_research=3)


def _graph_and_knobs() -> tuple[World, RenderKnobs]:
    """The graph and render knobs `ProceduralWorld.build` makes of SPEC, made here in memory."""
    graph = World.generate(SPEC.seed, n_entities=max(7, round(SPEC.pages / PAGES_PER_ENTITY)),
                           distractor_rate=SPEC.distractor_rate, relation_change_rate=SPEC.relation_change_rate)
    knobs = RenderKnobs(conflict_rate=SPEC.conflict_rate, outdated_rate=SPEC.outdated_rate,
                        low_trust_rate=SPEC.low_trust_rate, paraphrase_rate=SPEC.paraphrase_rate,
                        directories=SPEC.directories, chart_only_history=SPEC.chart_only_history)
    return graph, knobs


def test_streamed_world_has_the_bytes_of_pages_rendered_and_saved_in_memory(tmp_path):
    world = ProceduralWorld.build(tmp_path / "streamed", SPEC, index=False, show_progress=False)
    graph, knobs = _graph_and_knobs()
    rendered = list(render_world(graph, knobs, []))
    Corpus.from_pages([page for page, _ in rendered], name=f"world-{SPEC.seed}").save(tmp_path / "in_memory")
    for name in ("pages.arrow", "urls.npy", "rows.npy", "corpus.json"):
        assert (world.path / name).read_bytes() == (tmp_path / "in_memory" / name).read_bytes(), name
    statements = "".join(json.dumps(dataclasses.astuple(statement), ensure_ascii=False) + "\n"
                         for _, page_statements in rendered for statement in page_statements)
    assert (world.path / "statements.jsonl").read_text(encoding="utf-8") == statements
    assert world.meta["n_statements"] == statements.count("\n") and world.meta["n_pages"] == len(rendered)
    meta = {"format_version": 1, "world_version": WORLD_VERSION, "tasks_version": TASKS_VERSION,
            "spec": dataclasses.asdict(SPEC), "n_pages": len(rendered), "n_paragraphs": world.corpus.n_paragraphs,
            "n_statements": statements.count("\n"), "graph": world_to_dict(graph)}
    assert (world.path / "world.json").read_text(encoding="utf-8") == json.dumps(meta, ensure_ascii=False,
                                                                                 sort_keys=True) + "\n"


def test_charts_spooled_to_a_file_are_drawn_as_the_render_found_them(tmp_path):
    world = ProceduralWorld.build(tmp_path / "spooled", SPEC, index=False, show_progress=False)
    graph, knobs = _graph_and_knobs()
    charts: list[Chart] = []
    for _ in render_world(graph, knobs, charts):
        pass
    assert charts, "the spec should show charts"
    assert draw_charts(charts, tmp_path / "in_memory") == len(charts)
    drawn = sorted(path.name for path in (world.path / "images").iterdir())
    assert drawn == sorted(path.name for path in (tmp_path / "in_memory").iterdir())
    for name in drawn:
        assert (world.path / "images" / name).read_bytes() == (tmp_path / "in_memory" / name).read_bytes(), name
    assert not (world.path / "charts.bin").exists()


def test_chart_spool_gives_back_what_was_appended_in_order(tmp_path):
    spool = _ChartSpool(tmp_path / "charts.bin")
    charts = [Chart(f"https://x.org/charts/{n}.png", f"Company {n}: annual revenue", "USD million",
                    (2019, 2020, 2021), (1.5 + n, 0.1 + n / 3, 1e-17 * n)) for n in range(5)]
    for number, chart in enumerate(charts):
        assert len(spool) == number
        spool.append(chart)
    assert list(spool) == charts and list(spool) == charts  # read twice
    spool.append(charts[0])  # appending after a read
    assert list(spool) == [*charts, charts[0]]
    spool.close()


_CACHES_SCRIPT = """
import abc, gc, json, sys, tempfile
from pathlib import Path
from drgym.tasks.procedural import _fill_caches
from drgym.rewards.rubric import Rubric
from drgym.tasks.schema import Task, TaskSet

def negative_caches():
    caches = {}
    for cls in gc.get_objects():
        if isinstance(cls, abc.ABCMeta):
            caches[cls] = {ref() for ref in abc._get_dump(cls)[2]} - {None}
    return caches

_fill_caches(Path(tempfile.mkdtemp()))
before = negative_caches()
# made from instances, as the synthesis makes them: pydantic asks whether each check is a mapping
tasks = [Task(**{**dict(task), "rubrics": [Rubric(**dict(rubric)) for rubric in task.rubrics]})
         for task in TaskSet.load(sys.argv[1])]
tasks = [task.model_copy(update={"corpus": "renamed"}) for task in tasks]
TaskSet(tasks, name="copy").save(Path(tempfile.mkdtemp()) / "tasks.jsonl")
added = {f"{cls.__name__}: {sorted(t.__name__ for t in types - before.get(cls, set()))}"
         for cls, types in negative_caches().items() if types - before.get(cls, set())}
print(json.dumps({"added": sorted(added), "checks": sorted({type(r.check).__name__ for t in tasks for r in t.rubrics if r.check})}))
"""


def test_writing_tasks_adds_no_abc_cache_entries_after_fill_caches(tmp_path):
    """Weak references made amid the build's memory keep its pools (`_fill_caches`): writing tasks with every kind of
    check adds none to the ABCs' negative caches once they were filled before the graph. In a fresh interpreter: the
    caches are process-wide, and other tests fill them."""
    spec = WorldSpec(seed=4, pages=600, n_deep_search=8, n_deep_research=4,
                     families=(("chain", 2), ("report", 2), ("puzzle", 2), ("compute", 2), ("aggregate", 2),
                               ("temporal", 2), ("intent", 2)))
    world = ProceduralWorld.build(tmp_path / "w", spec, index=False, show_progress=False)
    out = subprocess.run([sys.executable, "-c", _CACHES_SCRIPT, str(world.path / "tasks.jsonl")], capture_output=True,
                         text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(result["checks"]) >= 5, result["checks"]  # the task set has most kinds of check
    assert result["added"] == []


def test_a_failed_build_closes_its_chart_spool_and_leaves_nothing(tmp_path, monkeypatch):
    import drgym.tasks.procedural as procedural

    spools = []

    class Spool(_ChartSpool):
        def __init__(self, path):
            super().__init__(path)
            spools.append(self)

    def fail(*args, **kwargs):
        raise RuntimeError("synthesis failed")

    monkeypatch.setattr(procedural, "_ChartSpool", Spool)
    monkeypatch.setattr(procedural, "synthesise_tasks", fail)
    with pytest.raises(RuntimeError, match="synthesis failed"):
        ProceduralWorld.build(tmp_path / "w", SPEC, index=False, show_progress=False)
    assert len(spools) == 1 and spools[0]._file.closed
    assert list(tmp_path.iterdir()) == []
