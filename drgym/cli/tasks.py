"""`drgym tasks`: show, filter and import task sets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from drgym.cli.app import ImportFormat, TaskKind, console, tasks_app


def task_set(suite: str | None, file: Path | None):
    from drgym.tasks.suites import DEFAULT_SUITE, resolve_tasks

    return resolve_tasks(str(file) if file is not None else suite or DEFAULT_SUITE, find_web=False).tasks


@tasks_app.command("show")
def tasks_show(
    suite: Annotated[str | None, typer.Option(help="suite name (default procedural:easy)")] = None,
    file: Annotated[Path | None, typer.Option(help="a task JSONL file instead of a suite")] = None,
    task_id: Annotated[str | None, typer.Option("--id", help="show one task in full")] = None,
    kind: Annotated[TaskKind | None, typer.Option(help="only tasks of this kind")] = None,
    limit: Annotated[int, typer.Option(help="rows to list")] = 20,
) -> None:
    """List the tasks of a suite or file, or show one with its rubrics."""
    tasks = task_set(suite, file)
    if task_id is not None:
        task = tasks[task_id]
        console.print(f"[bold]{task.id}[/] ({task.kind})\n{task.question}", highlight=False)
        if task.answers:
            console.print(f"answers: {task.answers}", highlight=False)
        if task.rubrics:
            table = Table("id", "weight", "axis", "criterion", title="rubrics", title_justify="left")
            for rubric in task.rubrics:
                table.add_row(rubric.id, str(rubric.weight), rubric.axis, rubric.criterion)
            console.print(table)
        return
    selected = tasks.filter(kind=kind.value if kind else None)
    table = Table("id", "kind", "hops/rubrics", "question", title=f"{tasks.name}: {len(selected)} tasks",
                  title_justify="left")
    for task in list(selected)[:limit]:
        size = str(task.meta.get("hops", "")) if task.kind == "deep_search" else f"{len(task.rubrics)} rubrics"
        table.add_row(task.id, task.kind, size, task.question if len(task.question) < 160 else task.question[:157] + "...")
    console.print(table)


@tasks_app.command("filter")
def tasks_filter(
    solved_by: Annotated[list[Path], typer.Option(help="trajectory files of the policy whose solved tasks are dropped")],
    out: Annotated[Path, typer.Option(help="task JSONL file to write")],
    suite: Annotated[str | None, typer.Option(help="suite name (default procedural:easy)")] = None,
    file: Annotated[Path | None, typer.Option(help="a task JSONL file instead of a suite")] = None,
    threshold: Annotated[float, typer.Option(help="a reward at or above this counts as solved")] = 1.0,
) -> None:
    """Keep the tasks a given policy failed (the seed's difficulty filter)."""
    from itertools import chain

    from drgym.core.records import read_records
    from drgym.tasks.filters import drop_solved
    from drgym.tasks.schema import TaskSet
    from drgym.tasks.suites import DEFAULT_SUITE, resolve_tasks

    source = resolve_tasks(str(file) if file is not None else suite or DEFAULT_SUITE)
    kept, report = drop_solved(source.tasks, chain.from_iterable(map(read_records, solved_by)), threshold=threshold)
    if source.web is not None:  # the kept tasks name their web by its folder: the file works from anywhere
        web = str(Path(source.web).resolve())
        kept = TaskSet([task.model_copy(update={"corpus": web}) for task in kept], name=kept.name)
    kept.save(out)
    console.print(f"kept {report.kept} tasks ({report.never_tried} never tried), dropped {report.dropped} solved; "
                  f"written to {out}", highlight=False, soft_wrap=True)


@tasks_app.command("import")
def tasks_import(
    source: Annotated[Path, typer.Argument(help="the file to import (JSONL)")],
    format: Annotated[ImportFormat, typer.Option(help="researchrubrics: processed_data.jsonl; browsecomp-plus: the "
                                                     "decrypted queries (decrypt_dataset.py)")],
    out: Annotated[Path, typer.Option(help="task JSONL file to write")],
    documents: Annotated[Path | None, typer.Option(help="browsecomp-plus: the corpus as JSONL (docid, text, url)")] = None,
    corpus_out: Annotated[Path | None, typer.Option(help="browsecomp-plus: corpus folder to write (the documents and "
                                                         "those nested in the queries), indexed")] = None,
    web: Annotated[Path | None, typer.Option(help="an existing world or corpus folder the tasks are researched in")] = None,
) -> None:
    """Import ResearchRubrics or BrowseComp-Plus tasks; the tasks' corpus field names their corpus folder
    (relative to --out), so rollout, eval and judge find it without --web."""
    import os

    from drgym.errors import ConfigError
    from drgym.tasks.importers import import_browsecomp_plus, import_research_rubrics
    from drgym.web.index import SearchIndex

    if web is not None and corpus_out is not None:
        raise ConfigError("give --corpus-out (a corpus to write) or --web (an existing one), not both")
    if web is not None and not ((web / "corpus.json").is_file() or (web / "world.json").is_file()):
        raise ConfigError(f"--web {web} is not a corpus or world folder (no corpus.json); build one with "
                          "`drgym web ingest`")
    folder = corpus_out if corpus_out is not None else web
    corpus_field = os.path.relpath(folder.resolve(), out.resolve().parent) if folder is not None else ""
    if format is ImportFormat.researchrubrics:
        if documents is not None or corpus_out is not None:
            raise ConfigError("--documents and --corpus-out are for --format browsecomp-plus")
        tasks = import_research_rubrics(source, corpus=corpus_field)
    else:
        if corpus_out is None and documents is not None:
            raise ConfigError("--documents needs --corpus-out, the folder to write the corpus to")
        tasks, corpus = import_browsecomp_plus(source, documents, corpus=corpus_field,
                                               with_query_documents=corpus_out is not None,
                                               name=corpus_out.name if corpus_out is not None else None)
        if corpus_out is not None:
            if corpus is None:
                raise ConfigError(f"--corpus-out: {source} names no documents and no --documents was given")
            corpus.save(corpus_out)
            SearchIndex.build(corpus, corpus_out / "index")
            console.print(f"corpus of {len(corpus)} documents written to {corpus_out}", highlight=False)
    tasks.save(out)
    console.print(f"{len(tasks)} tasks written to {out}" + (f" (corpus: {corpus_field})" if corpus_field else ""),
                  highlight=False)
