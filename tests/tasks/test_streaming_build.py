"""A world build streams its pages to disk: the corpus and statements it writes are those of the rendered pages
collected in memory and saved at once (the build before streaming), and its world.json, written an entity at a
time, is the one `json.dump` writes of the whole graph."""

from __future__ import annotations

import dataclasses
import json

from drgym.tasks.procedural import PAGES_PER_ENTITY, ProceduralWorld, WorldSpec
from drgym.tasks.render import RenderKnobs, render_world
from drgym.tasks.synth import TASKS_VERSION
from drgym.tasks.world import WORLD_VERSION, World, world_to_dict
from drgym.web.corpus import Corpus

SPEC = WorldSpec(seed=9, pages=400, conflict_rate=0.5, paraphrase_rate=0.3, n_deep_search=6, n_deep_research=3)


def test_streamed_world_has_the_bytes_of_pages_rendered_and_saved_in_memory(tmp_path):
    world = ProceduralWorld.build(tmp_path / "streamed", SPEC, index=False, show_progress=False)
    graph = World.generate(SPEC.seed, n_entities=max(7, round(SPEC.pages / PAGES_PER_ENTITY)),
                           distractor_rate=SPEC.distractor_rate, relation_change_rate=SPEC.relation_change_rate)
    knobs = RenderKnobs(conflict_rate=SPEC.conflict_rate, outdated_rate=SPEC.outdated_rate,
                        low_trust_rate=SPEC.low_trust_rate, paraphrase_rate=SPEC.paraphrase_rate,
                        directories=SPEC.directories, chart_only_history=SPEC.chart_only_history)
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
