"""`drgym judge`: grade a report against a task's rubrics."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from drgym.cli.app import JudgeKind, ScoringMode, app, console
from drgym.cli.tasks import task_set


@app.command("judge")
def judge(
    report: Annotated[Path, typer.Option(help="the report to grade (Markdown)")],
    task_id: Annotated[str, typer.Option("--task-id", help="which task's rubrics")],
    task_file: Annotated[Path | None, typer.Option(help="task JSONL file (default: the suite's tasks)")] = None,
    suite: Annotated[str | None, typer.Option(help="suite name (default procedural:easy)")] = None,
    judge_kind: Annotated[JudgeKind, typer.Option("--judge", help="which judge")] = JudgeKind.deterministic,
    base_url: Annotated[str | None, typer.Option(help="llm: OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")] = None,
    model: Annotated[str | None, typer.Option(help="llm: model name")] = None,
    api_key: Annotated[str | None, typer.Option(help="llm: key (default DRGYM_JUDGE_API_KEY / OPENAI_API_KEY)")] = None,
    mode: Annotated[ScoringMode, typer.Option(help="scoring")] = ScoringMode.binary,
    corpus: Annotated[Path | None, typer.Option(help="corpus/world folder for citation support")] = None,
) -> None:
    """Grade a report against a task's rubrics and print the verdict table."""
    from drgym.errors import ConfigError, SearchIndexError
    from drgym.rewards.citations import check_citations
    from drgym.rewards.judges import DeterministicJudge
    from drgym.rewards.llm_judge import LLMJudge, LLMJudgeConfig
    from drgym.tasks.suites import DEFAULT_SUITE, load_suite
    from drgym.web.corpus import Corpus
    from drgym.web.index import SearchIndex

    if not report.is_file():
        raise ConfigError(f"--report {report} does not exist")
    web, web_folder = None, None
    if task_file is None:
        world = load_suite(suite or DEFAULT_SUITE)
        tasks, web, web_folder = world.tasks, world.corpus, world.path
    else:
        tasks = task_set(None, task_file)
        if (task_file.parent / "corpus.json").is_file():
            web, web_folder = Corpus.load(task_file.parent), task_file.parent
    if corpus is not None:
        web, web_folder = Corpus.load(corpus), Path(corpus)
    sources = None  # the corpus's index, for copy detection; a corpus without one is graded without it
    if web is not None and (web_folder / "index").is_dir():
        try:
            sources = SearchIndex.load(web_folder / "index", web)
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
    if web is not None:
        citations = check_citations(text, web)
        console.print(f"citations: {citations.n_citations}, precision {citations.precision:.2f}, recall "
                      f"{citations.recall:.2f}, fabricated {citations.n_fabricated}", highlight=False)
