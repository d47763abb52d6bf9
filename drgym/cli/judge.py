"""`drgym judge`: grade a report against a task's rubrics."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from drgym.cli.app import JudgeKind, ScoringMode, app, console


@app.command("judge")
def judge(
    report: Annotated[Path, typer.Option(help="the report to grade (Markdown)")],
    task_id: Annotated[str, typer.Option("--task-id", help="which task's rubrics")],
    suite: Annotated[str | None, typer.Option(help="suite or task file (default procedural:easy)")] = None,
    task_file: Annotated[Path | None, typer.Option(help="task JSONL file (the same as --suite FILE)")] = None,
    judge_kind: Annotated[JudgeKind, typer.Option("--judge", help="which judge")] = JudgeKind.deterministic,
    base_url: Annotated[str | None, typer.Option(help="llm: OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")] = None,
    model: Annotated[str | None, typer.Option(help="llm: model name")] = None,
    api_key: Annotated[str | None, typer.Option(help="llm: key (default DRGYM_JUDGE_API_KEY / OPENAI_API_KEY)")] = None,
    mode: Annotated[ScoringMode, typer.Option(help="scoring")] = ScoringMode.binary,
    web: Annotated[Path | None, typer.Option(help="world or corpus folder for citation support and copy detection "
                                                  "(default: the suite's world, or the corpus the task file names)")] = None,
) -> None:
    """Grade a report against a task's rubrics and print the verdict table."""
    from drgym.errors import ConfigError, SearchIndexError
    from drgym.rewards.citations import check_citations
    from drgym.rewards.judges import DeterministicJudge
    from drgym.rewards.llm_judge import LLMJudge, LLMJudgeConfig
    from drgym.tasks.suites import DEFAULT_SUITE, resolve_tasks
    from drgym.web.corpus import Corpus
    from drgym.web.index import SearchIndex

    if not report.is_file():
        raise ConfigError(f"--report {report} does not exist")
    if suite is not None and task_file is not None:
        raise ConfigError(f"give --suite or --task-file, not both (got {suite!r} and {str(task_file)!r})")
    source = resolve_tasks(str(task_file) if task_file is not None else suite or DEFAULT_SUITE, find_web=web is None)
    tasks, web_folder = source.tasks, web if web is not None else source.web
    corpus = Corpus.load(web_folder) if web_folder is not None else None
    sources = None  # the corpus's index, for copy detection; a corpus without one is graded without it
    if corpus is not None and (web_folder / "index").is_dir():
        try:
            sources = SearchIndex.load(web_folder / "index", corpus)
        except SearchIndexError as e:
            console.print(f"warning: no copy detection ({e})", highlight=False)
    task = tasks[task_id]
    if not task.rubrics:
        raise ConfigError(f"task {task_id!r} is a {task.kind} task without rubrics; judge grades deep_research reports")
    text = report.read_text(encoding="utf-8")
    if judge_kind is JudgeKind.deterministic:
        grade = DeterministicJudge(mode=mode.value).grade(task.rubrics, text, sources=sources)
    else:
        if not base_url or not model:
            raise ConfigError("--judge llm needs --base-url and --model")
        grade = LLMJudge(LLMJudgeConfig(base_url=base_url, model=model, api_key=api_key),
                         mode=mode.value).grade(task.rubrics, text, sources=sources)
    table = Table("rubric", "weight", "axis", "verdict", "evidence", title=f"{task.id}: {len(task.rubrics)} rubrics",
                  title_justify="left")
    colours = {"satisfied": "green", "partially": "yellow", "not_satisfied": "red", "incomplete": "magenta"}
    for verdict in grade.verdicts:
        evidence = (verdict.evidence[0] if verdict.evidence else verdict.reasoning)[:120]
        table.add_row(verdict.rubric_id, str(verdict.weight), verdict.axis,
                      f"[{colours[verdict.verdict]}]{verdict.verdict}[/]", evidence)
    console.print(table)
    console.print(f"score {grade.score:.3f} ({mode.value}), mandatory passed {grade.mandatory_pass_rate:.0%}, "
                  f"{'complete' if grade.is_complete else f'INCOMPLETE: {len(grade.incomplete)} rubrics without a verdict'}",
                  highlight=False)
    if corpus is not None:
        citations = check_citations(text, corpus)
        console.print(f"citations: {citations.n_citations}, precision {citations.precision:.2f}, recall "
                      f"{citations.recall:.2f}, fabricated {citations.n_fabricated}", highlight=False)
