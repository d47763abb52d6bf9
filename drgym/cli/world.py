"""`drgym world build`: generate a procedural world (graph, pages, tasks, index)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from drgym.cli.app import console, world_app


@world_app.command("build")
def world_build(
    out: Annotated[Path, typer.Option(help="world folder to write")],
    seed: Annotated[int, typer.Option(help="generator seed")] = 7,
    pages: Annotated[int, typer.Option(help="approximate number of pages")] = 2000,
    conflict_rate: Annotated[float, typer.Option(help="share of values contradicted on low-trust pages")] = 0.25,
    outdated_rate: Annotated[float, typer.Option(help="share of low-trust statements giving an old value")] = 0.25,
    distractor_rate: Annotated[float, typer.Option(help="share of entities with a near-identical twin")] = 0.1,
    paraphrase_rate: Annotated[float, typer.Option(help="share of statements worded differently")] = 0.0,
    deep_search: Annotated[int, typer.Option(help="deep_search tasks to synthesise")] = 40,
    deep_research: Annotated[int, typer.Option(help="deep_research tasks to synthesise")] = 20,
    min_hops: Annotated[int, typer.Option(help="fewest hops of a deep_search question")] = 2,
    max_hops: Annotated[int, typer.Option(help="most hops of a deep_search question")] = 4,
    index: Annotated[bool, typer.Option(help="build the BM25 index")] = True,
    dense: Annotated[bool, typer.Option(help="also embed paragraphs with MiniLM (slow: ~100 paragraphs/s)")] = False,
) -> None:
    """Generate a procedural world: graph, pages, tasks and index."""
    from drgym.tasks.procedural import ProceduralWorld, WorldSpec

    spec = WorldSpec(seed=seed, pages=pages, conflict_rate=conflict_rate, outdated_rate=outdated_rate,
                     distractor_rate=distractor_rate, paraphrase_rate=paraphrase_rate,
                     n_deep_search=deep_search, n_deep_research=deep_research,
                     min_hops=min_hops, max_hops=max_hops)
    started = time.perf_counter()
    world = ProceduralWorld.build(out, spec, index=index, dense=dense)
    elapsed = time.perf_counter() - started
    meta = world.meta
    console.print(f"world {out}: {meta['n_pages']} pages, {meta['n_paragraphs']} paragraphs, "
                  f"{len(meta['graph']['entities'])} entities, {len(world.tasks)} tasks in {elapsed:.1f} s "
                  f"({meta['n_pages'] / elapsed:,.0f} pages/s)")
