"""The `drgym` command line (also `python -m drgym`). Commands parse, call a library function, and print."""

from __future__ import annotations

import functools
import logging
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from drgym.errors import DrgymError

app = typer.Typer(help="drgym: deep-research RL environments on an offline procedural web.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
web_app = typer.Typer(help="Corpora: ingest pages, build indexes, search.", no_args_is_help=True)
world_app = typer.Typer(help="Procedural worlds: generate a research web with tasks.", no_args_is_help=True)
tasks_app = typer.Typer(help="Task sets: show and import.", no_args_is_help=True)
app.add_typer(web_app, name="web")
app.add_typer(world_app, name="world")
app.add_typer(tasks_app, name="tasks")
bench_app = typer.Typer(help="Benchmarks: performance figures.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
train_app = typer.Typer(help="Training: OpenRLHF SFT and PPO launchers, and the CPU reference trainer.",
                        no_args_is_help=True)
app.add_typer(train_app, name="train")
console = Console()


def _expected_errors(command):
    """Expected errors print as `ErrorName: message` and exit 1, without a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except DrgymError as e:
            Console(stderr=True).print(f"[bold red]{type(e).__name__}[/]: {escape(str(e))}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


def _hits_table(query: str, hits) -> Table:
    table = Table(title=f"search: {query!r}", show_lines=False, title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("tier", justify="center")
    table.add_column("title", overflow="fold", max_width=30)
    table.add_column("url", overflow="fold", style="dim")
    table.add_column("date")
    table.add_column("paragraph", overflow="fold", max_width=70)
    for rank, hit in enumerate(hits, start=1):
        text = hit.text if len(hit.text) <= 200 else hit.text[:197] + "..."
        table.add_row(str(rank), f"{hit.score:.3f}", str(hit.tier), escape(hit.title), escape(hit.url),
                      hit.published, escape(text))
    return table


def _load_index(corpus: Path | None, suite: str | None):
    from drgym.tasks.suites import DEFAULT_SUITE, load_suite
    from drgym.web.corpus import Corpus
    from drgym.web.index import SearchIndex

    if corpus is not None:
        return SearchIndex.load(corpus / "index", Corpus.load(corpus))
    return load_suite(suite or DEFAULT_SUITE).index


# -- web ------------------------------------------------------------------------------------------------------

@web_app.command("ingest")
@_expected_errors
def web_ingest(
    sources: Annotated[list[Path], typer.Argument(help="JSONL files, folders of .html files, .warc/.warc.gz files")],
    out: Annotated[Path, typer.Option(help="corpus folder to write")],
    authority: Annotated[Path | None, typer.Option(help="extra authority table (TSV: domain, tier, category)")] = None,
    keep_html: Annotated[bool, typer.Option(help="store each page's HTML next to its text")] = True,
    index: Annotated[bool, typer.Option(help="build the BM25 index too")] = True,
) -> None:
    """Ingest pages into a corpus; bad records are reported with file and line/offset, then skipped."""
    from drgym.web.authority import AuthorityTable
    from drgym.web.index import SearchIndex
    from drgym.web.ingest import ingest

    corpus, report = ingest(sources, authority=AuthorityTable.load(authority), name=out.name, keep_html=keep_html)
    for issue in report.issues:
        console.print(f"[yellow]skipped[/] {issue}", highlight=False, soft_wrap=True)  # paths stay copyable
    corpus.save(out)
    console.print(report.summary(), soft_wrap=True)
    if index:
        SearchIndex.build(corpus, out / "index")
    console.print(f"corpus written to {out}", soft_wrap=True)


@web_app.command("index")
@_expected_errors
def web_index(
    corpus: Annotated[Path, typer.Argument(help="corpus or world folder")],
    dense: Annotated[bool, typer.Option(help="also embed paragraphs with MiniLM for hybrid search (slow)")] = False,
) -> None:
    """Build (or rebuild) the search index of a corpus."""
    from drgym.web.corpus import Corpus
    from drgym.web.index import SearchIndex

    started = time.perf_counter()
    loaded = Corpus.load(corpus)
    index = SearchIndex.build(loaded, corpus / "index", dense=dense)
    console.print(f"indexed {len(index)} paragraphs of {len(loaded)} pages in {time.perf_counter() - started:.1f} s")


@web_app.command("search")
@_expected_errors
def web_search(
    query: Annotated[str, typer.Argument(help="free-text query")],
    corpus: Annotated[Path | None, typer.Option(help="corpus or world folder (default: the suite's world)")] = None,
    suite: Annotated[str | None, typer.Option(help="suite whose world to search (default procedural:easy)")] = None,
    k: Annotated[int, typer.Option("-k", help="number of hits")] = 10,
    mode: Annotated[str, typer.Option(help="bm25 or hybrid")] = "bm25",
    tier: Annotated[list[int] | None, typer.Option(help="keep only this tier (repeatable)")] = None,
    domain: Annotated[list[str] | None, typer.Option(help="keep only this domain (repeatable)")] = None,
) -> None:
    """Search a corpus and print the ranked paragraphs."""
    index = _load_index(corpus, suite)
    hits = index.search(query, k, mode=mode, tiers=tier, domains=domain)
    console.print(_hits_table(query, hits))


# -- world ----------------------------------------------------------------------------------------------------

@world_app.command("build")
@_expected_errors
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
    from drgym.errors import ConfigError
    from drgym.tasks.procedural import ProceduralWorld, WorldSpec

    if not 2 <= min_hops <= max_hops <= 6:
        raise ConfigError(f"hops must satisfy 2 <= min_hops <= max_hops <= 6, got min_hops={min_hops}, "
                          f"max_hops={max_hops}")
    for name, rate in (("conflict_rate", conflict_rate), ("outdated_rate", outdated_rate),
                       ("distractor_rate", distractor_rate), ("paraphrase_rate", paraphrase_rate)):
        if not 0 <= rate <= 1:
            raise ConfigError(f"{name} must be in [0, 1], got {rate}")
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


# -- tasks ----------------------------------------------------------------------------------------------------

def _task_set(suite: str | None, file: Path | None):
    from drgym.tasks.schema import TaskSet
    from drgym.tasks.suites import DEFAULT_SUITE, load_suite

    if file is not None:
        return TaskSet.load(file)
    return load_suite(suite or DEFAULT_SUITE).tasks


@tasks_app.command("show")
@_expected_errors
def tasks_show(
    suite: Annotated[str | None, typer.Option(help="suite name (default procedural:easy)")] = None,
    file: Annotated[Path | None, typer.Option(help="a task JSONL file instead of a suite")] = None,
    task_id: Annotated[str | None, typer.Option("--id", help="show one task in full")] = None,
    kind: Annotated[str | None, typer.Option(help="deep_search or deep_research")] = None,
    limit: Annotated[int, typer.Option(help="rows to list")] = 20,
) -> None:
    """List the tasks of a suite or file, or show one with its rubrics."""
    tasks = _task_set(suite, file)
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
    selected = tasks.filter(kind=kind)
    table = Table("id", "kind", "hops/rubrics", "question", title=f"{tasks.name}: {len(selected)} tasks",
                  title_justify="left")
    for task in list(selected)[:limit]:
        size = str(task.meta.get("hops", "")) if task.kind == "deep_search" else f"{len(task.rubrics)} rubrics"
        table.add_row(task.id, task.kind, size, task.question if len(task.question) < 160 else task.question[:157] + "...")
    console.print(table)


@tasks_app.command("filter")
@_expected_errors
def tasks_filter(
    solved_by: Annotated[list[Path], typer.Option(help="trajectory files of the policy whose solved tasks are dropped")],
    out: Annotated[Path, typer.Option(help="task JSONL file to write")],
    suite: Annotated[str | None, typer.Option(help="suite name (default procedural:easy)")] = None,
    file: Annotated[Path | None, typer.Option(help="a task JSONL file instead of a suite")] = None,
    threshold: Annotated[float, typer.Option(help="a reward at or above this counts as solved")] = 1.0,
) -> None:
    """Keep the tasks a given policy failed (the seed's difficulty filter)."""
    from itertools import chain

    from drgym.agents.trajectories import read_trajectories
    from drgym.tasks.filters import drop_solved

    kept, report = drop_solved(_task_set(suite, file), chain.from_iterable(map(read_trajectories, solved_by)),
                               threshold=threshold)
    kept.save(out)
    console.print(f"kept {report.kept} tasks ({report.never_tried} never tried), dropped {report.dropped} solved; "
                  f"written to {out}", highlight=False, soft_wrap=True)


@tasks_app.command("import")
@_expected_errors
def tasks_import(
    source: Annotated[Path, typer.Argument(help="the file to import")],
    format: Annotated[str, typer.Option(help="researchrubrics or browsecomp-plus")],
    out: Annotated[Path, typer.Option(help="task JSONL file to write")],
    documents: Annotated[Path | None, typer.Option(help="browsecomp-plus: JSONL corpus of documents")] = None,
    corpus_out: Annotated[Path | None, typer.Option(help="browsecomp-plus: corpus folder to write")] = None,
) -> None:
    """Import a ResearchRubrics- or BrowseComp-Plus-style task file."""
    from drgym.errors import ConfigError
    from drgym.tasks.importers import import_browsecomp_plus, import_research_rubrics
    from drgym.web.index import SearchIndex

    if format == "researchrubrics":
        tasks = import_research_rubrics(source)
    elif format == "browsecomp-plus":
        tasks, corpus = import_browsecomp_plus(source, documents)
        if corpus is not None:
            if corpus_out is None:
                raise ConfigError("--documents needs --corpus-out, the folder to write the corpus to")
            corpus.save(corpus_out)
            SearchIndex.build(corpus, corpus_out / "index")
            console.print(f"corpus of {len(corpus)} documents written to {corpus_out}")
    else:
        raise ConfigError(f"--format must be 'researchrubrics' or 'browsecomp-plus', got {format!r}")
    tasks.save(out)
    console.print(f"{len(tasks)} tasks written to {out}")


# -- judge ----------------------------------------------------------------------------------------------------

@app.command("judge")
@_expected_errors
def judge(
    report: Annotated[Path, typer.Option(help="the report to grade (Markdown)")],
    task_id: Annotated[str, typer.Option("--task-id", help="which task's rubrics")],
    task_file: Annotated[Path | None, typer.Option(help="task JSONL file (default: the suite's tasks)")] = None,
    suite: Annotated[str | None, typer.Option(help="suite name (default procedural:easy)")] = None,
    judge_kind: Annotated[str, typer.Option("--judge", help="deterministic or llm")] = "deterministic",
    base_url: Annotated[str | None, typer.Option(help="llm: OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")] = None,
    model: Annotated[str | None, typer.Option(help="llm: model name")] = None,
    api_key: Annotated[str | None, typer.Option(help="llm: key (default DRGYM_JUDGE_API_KEY / OPENAI_API_KEY)")] = None,
    mode: Annotated[str, typer.Option(help="binary, ternary or mandatory scoring")] = "binary",
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

    if mode not in ("binary", "ternary", "mandatory"):
        raise ConfigError(f"--mode must be binary, ternary or mandatory, got {mode!r}")
    if not report.is_file():
        raise ConfigError(f"--report {report} does not exist")
    web, web_folder = None, None
    if task_file is None:
        world = load_suite(suite or DEFAULT_SUITE)
        tasks, web, web_folder = world.tasks, world.corpus, world.path
    else:
        tasks = _task_set(None, task_file)
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
    if judge_kind == "deterministic":
        grade = DeterministicJudge(mode=mode).grade(task.rubrics, text, sources=sources)
    elif judge_kind == "llm":
        if not base_url or not model:
            raise ConfigError("--judge llm needs --base-url and --model")
        grade = LLMJudge(LLMJudgeConfig(base_url=base_url, model=model, api_key=api_key),
                         mode=mode).grade(task.rubrics, text, sources=sources)
    else:
        raise ConfigError(f"--judge must be deterministic or llm, got {judge_kind!r}")
    table = Table("rubric", "weight", "axis", "verdict", "evidence", title=f"{task.id}: {len(task.rubrics)} rubrics",
                  title_justify="left")
    colours = {"satisfied": "green", "partially": "yellow", "not_satisfied": "red", "incomplete": "magenta"}
    for verdict in grade.verdicts:
        evidence = (verdict.evidence[0] if verdict.evidence else verdict.reasoning)[:120]
        table.add_row(verdict.rubric_id, str(verdict.weight), verdict.axis,
                      f"[{colours[verdict.verdict]}]{verdict.verdict}[/]", evidence)
    console.print(table)
    console.print(f"score {grade.score:.3f} ({mode}), mandatory passed {grade.mandatory_pass_rate:.0%}, "
                  f"{'complete' if grade.is_complete else f'INCOMPLETE: {len(grade.incomplete)} rubrics without a verdict'}",
                  highlight=False)
    if web is not None:
        citations = check_citations(text, web)
        console.print(f"citations: {citations.n_citations}, precision {citations.precision:.2f}, recall "
                      f"{citations.recall:.2f}, fabricated {citations.n_fabricated}", highlight=False)


# -- rollout and replay ---------------------------------------------------------------------------------------

@app.command("rollout")
@_expected_errors
def rollout_command(
    out: Annotated[Path, typer.Option(help="trajectory file (JSONL); a re-run resumes it")],
    env: Annotated[str, typer.Option(help="environment id")] = "drgym/DeepResearch-v0",
    policy: Annotated[str, typer.Option(help="scripted, random, openai (an endpoint) or hf (a local model)")] = "scripted",
    base_url: Annotated[str | None, typer.Option(help="openai: endpoint, e.g. http://127.0.0.1:8000/v1")] = None,
    model: Annotated[str | None, typer.Option(help="openai: served model name")] = None,
    tool_mode: Annotated[str, typer.Option(help="openai: text or native tool calls")] = "text",
    model_path: Annotated[Path | None, typer.Option(help="hf: local model folder")] = None,
    policy_file: Annotated[Path | None, typer.Option(help="a YAML policy description (overrides --policy)")] = None,
    suite: Annotated[str | None, typer.Option(help="suite or task file (default procedural:easy)")] = None,
    episodes: Annotated[int, typer.Option(help="episodes in the run")] = 10,
    workers: Annotated[int, typer.Option(help="workers")] = 1,
    backend: Annotated[str | None, typer.Option(
        help="processes or ray (default: ray with --ray-address, else processes)")] = None,
    ray_address: Annotated[str | None, typer.Option(
        help="ray: the cluster to use (host:port of `ray start --head`; default RAY_ADDRESS, else a local Ray)")] = None,
    seed: Annotated[int, typer.Option(help="episode i uses seed + i")] = 0,
) -> None:
    """Run a policy for many episodes; one JSON line per finished episode."""
    import functools

    from drgym.agents import RandomPolicy, ScriptedResearcher
    from drgym.agents.hf_policy import HFPolicy
    from drgym.agents.openai_policy import OpenAIChatPolicy
    from drgym.agents.rollout import rollout
    from drgym.errors import ConfigError

    if policy_file is not None:
        from drgym.agents.policy_config import load_policy_file

        factory, policy = load_policy_file(policy_file)
    elif policy == "openai":
        if not base_url or not model:
            raise ConfigError("--policy openai needs --base-url and --model")
        factory = functools.partial(OpenAIChatPolicy, base_url=base_url, model=model, tool_mode=tool_mode)
    elif policy == "hf":
        if model_path is None:
            raise ConfigError("--policy hf needs --model-path (a local model folder)")
        factory = functools.partial(HFPolicy, str(model_path))
    elif policy in ("scripted", "random"):
        factory = ScriptedResearcher if policy == "scripted" else RandomPolicy
    else:
        raise ConfigError(f"--policy must be scripted, random, openai or hf, got {policy!r}")
    if backend is None:
        backend = "ray" if ray_address else "processes"
    summary = rollout(env, factory, n_episodes=episodes, out=out, n_workers=workers, seed=seed, backend=backend,
                      ray_address=ray_address, env_kwargs={"tasks": suite} if suite else {},
                      policy_name=model if policy == "openai" and policy_file is None else policy)
    console.print(str(summary), highlight=False, soft_wrap=True)


@app.command("sft-data")
@_expected_errors
def sft_data(
    trajectories: Annotated[list[Path], typer.Argument(help="trajectory files (drgym rollout --out ...)")],
    out: Annotated[Path, typer.Option(help="SFT JSONL for OpenRLHF (--data.input_key messages --data.multiturn)")],
    min_reward_search: Annotated[float, typer.Option(help="keep deep_search episodes with reward >= this")] = 1.0,
    min_reward_research: Annotated[float, typer.Option(help="keep deep_research episodes with reward >= this")] = 0.6,
    per_task: Annotated[int, typer.Option(help="correct and shortest: episodes kept per task (0 = all)")] = 1,
    loop_n: Annotated[int, typer.Option(help="loop filter: action n-grams up to this length")] = 2,
    loop_repeats: Annotated[int, typer.Option(help="loop filter: drop when an n-gram repeats this often")] = 3,
    mix: Annotated[str | None, typer.Option(help="e.g. deep_search=0.3,deep_research=0.7")] = None,
    observation_role: Annotated[str, typer.Option(help="role of tool observations: user or tool")] = "user",
    seed: Annotated[int, typer.Option(help="seed of the mixture subsampling")] = 0,
) -> None:
    """Trajectories -> SFT data, with the success, loop, citation, shortest and mixture filters."""
    from drgym.train.sft_data import SFTFilters, build_sft_dataset, parse_mixture

    filters = SFTFilters(min_reward_search=min_reward_search, min_reward_research=min_reward_research,
                         per_task=per_task, loop_n=loop_n, loop_repeats=loop_repeats, mixture=parse_mixture(mix),
                         observation_role=observation_role, seed=seed)
    summary = build_sft_dataset(trajectories, out, filters)
    console.print(summary.table(), highlight=False)
    console.print(f"wrote {summary.written} rows to {out}", highlight=False)


@app.command("rl-data")
@_expected_errors
def rl_data(
    out: Annotated[Path, typer.Option(help="prompt dataset (JSONL: prompt messages + JSON label)")],
    suite: Annotated[str, typer.Option(help="suite name or task file")] = "procedural:easy",
    web: Annotated[str | None, typer.Option(help="world or corpus folder (default: the suite's)")] = None,
    kind: Annotated[list[str] | None, typer.Option(help="deep_search and/or deep_research (default both)")] = None,
    seeds: Annotated[int, typer.Option(help="rows per task (episode seeds 0..n-1)")] = 1,
    max_turns: Annotated[int, typer.Option(help="budget: turns per episode")] = 20,
    max_tool_calls: Annotated[int, typer.Option(help="budget: tool calls per episode")] = 40,
    tokenizer: Annotated[str | None, typer.Option(help="chat-template tokenizer path written into the labels")] = None,
    split: Annotated[str, typer.Option(help="train (held-out tasks are refused) or all; heldout with --eval")] = "train",
    for_eval: Annotated[bool, typer.Option("--eval", help="evaluation prompts (may hold held-out tasks)")] = False,
) -> None:
    """Export the RL prompt dataset for OpenRLHF PPO (--data.input_key prompt --data.label_key label)."""
    from drgym.train.episodes import export_prompts

    rows = export_prompts(suite, out, split=split, seeds=seeds, web=web, tokenizer=tokenizer,
                          kinds=tuple(kind or ("deep_search", "deep_research")), for_eval=for_eval,
                          env_kwargs={"budget": {"max_turns": max_turns, "max_tool_calls": max_tool_calls}})
    what = "evaluation prompts" if for_eval else "prompts"
    console.print(f"wrote {rows} {what} ({split} split of {suite}) to {out}", highlight=False)


def _launch(kind: str, config: Path | None, dry_run: bool) -> None:
    from drgym.train.launch import launch

    code = launch(kind, config, dry_run=dry_run, echo=lambda text: console.print(text, highlight=False,
                                                                                  soft_wrap=True, markup=False))
    if code:
        raise typer.Exit(code)


@train_app.command("sft")
@_expected_errors
def train_sft_command(
    config: Annotated[Path | None, typer.Option(help="YAML config (default with --dry-run: the one-GPU example)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the command and resolved config only")] = False,
) -> None:
    """OpenRLHF SFT (deepspeed) on drgym SFT data."""
    if config is None and not dry_run:
        raise typer.BadParameter("--config is required (or --dry-run to see the one-GPU example)")
    _launch("sft", config, dry_run)


@train_app.command("ppo")
@_expected_errors
def train_ppo_command(
    config: Annotated[Path | None, typer.Option(help="YAML config (default with --dry-run: the one-GPU example)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the command and resolved config only")] = False,
) -> None:
    """OpenRLHF PPO (GAE, gamma = lambda = 1) on Ray GPU actors with vLLM rollouts in drgym environments."""
    if config is None and not dry_run:
        raise typer.BadParameter("--config is required (or --dry-run to see the one-GPU example)")
    _launch("ppo", config, dry_run)


@train_app.command("reference-sft")
@_expected_errors
def reference_sft(
    model: Annotated[Path, typer.Option(help="local HF model folder")],
    data: Annotated[Path, typer.Option(help="SFT JSONL (drgym sft-data)")],
    out: Annotated[Path, typer.Option(help="output folder")],
    epochs: Annotated[int, typer.Option()] = 3,
    lr: Annotated[float, typer.Option()] = 1e-3,
    max_len: Annotated[int, typer.Option()] = 2048,
) -> None:
    """CPU reference SFT (plain torch; loss on assistant tokens)."""
    from drgym.train.reference.sft import SFTConfig, train_sft

    path = train_sft(SFTConfig(model=str(model), data=str(data), out=str(out), epochs=epochs, lr=lr, max_len=max_len))
    console.print(f"saved {path}", highlight=False)


@train_app.command("reference-ppo")
@_expected_errors
def reference_ppo(
    model: Annotated[Path, typer.Option(help="the SFT checkpoint (local HF folder)")],
    out: Annotated[Path, typer.Option(help="output folder")],
    suite: Annotated[str, typer.Option(help="suite name or task file")] = "procedural:tiny",
    kind: Annotated[str, typer.Option(help="deep_search or deep_research")] = "deep_search",
    iterations: Annotated[int, typer.Option()] = 20,
    episodes_per_iteration: Annotated[int, typer.Option()] = 16,
    samples_per_task: Annotated[int, typer.Option(help="episodes per task in an iteration (divides the above)")] = 1,
    actor_lr: Annotated[float, typer.Option()] = 5e-5,
    actor_trainable: Annotated[str | None, typer.Option(
        help="regex: train only the actor parameters whose names match (e.g. '^model\\.norm\\.'); default all")] = None,
    max_turns: Annotated[int, typer.Option(help="budget: turns per episode")] = 6,
    gamma: Annotated[float, typer.Option()] = 1.0,
    lam: Annotated[float, typer.Option()] = 1.0,
    kl_coef: Annotated[float, typer.Option()] = 0.01,
    max_new_tokens: Annotated[int, typer.Option()] = 128,
    max_length: Annotated[int, typer.Option()] = 4096,
) -> None:
    """CPU reference PPO in drgym envs (train split only), metrics in OUT/ppo_metrics.csv."""
    import gymnasium as gym

    import drgym  # noqa: F401
    from drgym.tasks.splits import select_split
    from drgym.train.reference.ppo import PPOConfig, train_ppo

    env_id = {"deep_search": "drgym/DeepSearch-v0", "deep_research": "drgym/DeepResearch-v0"}[kind]
    env = gym.make(env_id, tasks=suite)
    tasks = select_split(env.unwrapped.tasks, "train")
    env.close()
    labels = [{"task_id": t.id, "tasks": suite, "env_id": env_id, "env_kwargs": {"budget": {"max_turns": max_turns}}}
              for t in tasks]
    path = train_ppo(PPOConfig(model=str(model), labels=labels, out=str(out), iterations=iterations,
                               episodes_per_iteration=episodes_per_iteration, samples_per_task=samples_per_task,
                               actor_lr=actor_lr, actor_trainable=actor_trainable, gamma=gamma, lam=lam, kl_coef=kl_coef,
                               max_new_tokens=max_new_tokens, max_length=max_length))
    console.print(f"saved {path}", highlight=False)


@app.command("eval")
@_expected_errors
def eval_command(
    out: Annotated[Path, typer.Option(help="output folder: results.json, report.md, plots, trajectories/")],
    suite: Annotated[str, typer.Option(help="suite (procedural:easy|medium|hard|tiny) or a task file")] = "procedural:easy",
    policy: Annotated[list[str] | None, typer.Option(help="built-in policy: scripted or random (repeatable)")] = None,
    policies: Annotated[Path | None, typer.Option(help="YAML: name -> {kind: openai|hf|callable|..., ...}")] = None,
    episodes: Annotated[int, typer.Option(help="episodes per task")] = 1,
    split: Annotated[str | None, typer.Option(help="heldout (default for suites), train or all")] = None,
    workers: Annotated[int, typer.Option(help="rollout workers per policy")] = 1,
    seed: Annotated[int, typer.Option(help="episode i uses seed + i")] = 0,
    prices: Annotated[Path | None, typer.Option(help="price table YAML (default: the shipped example)")] = None,
    max_turns: Annotated[int | None, typer.Option(help="budget: turns per episode")] = None,
    max_tool_calls: Annotated[int | None, typer.Option(help="budget: tool calls per episode")] = None,
    pairwise: Annotated[str, typer.Option(help="Elo judge: deterministic (rubric scores) or llm")] = "deterministic",
    judge_base_url: Annotated[str | None, typer.Option(help="llm pairwise judge: OpenAI-compatible endpoint")] = None,
    judge_model: Annotated[str | None, typer.Option(help="llm pairwise judge: model name")] = None,
) -> None:
    """Evaluate policies on the same tasks and seeds; write results.json, report.md and plots (resumable)."""
    from drgym.benchmarks.evaluation import builtin_policy, load_policies
    from drgym.errors import ConfigError

    chosen = [builtin_policy(name) for name in policy or []]
    if policies is not None:
        chosen += load_policies(policies)
    if not chosen:
        chosen = [builtin_policy("scripted"), builtin_policy("random")]
    budget = {k: v for k, v in (("max_turns", max_turns), ("max_tool_calls", max_tool_calls)) if v is not None}
    judge = None
    if pairwise == "llm":
        from drgym.rewards.llm_judge import LLMJudgeConfig, LLMPairwiseJudge

        if not judge_base_url or not judge_model:
            raise ConfigError("--pairwise llm needs --judge-base-url and --judge-model")
        judge = LLMPairwiseJudge(LLMJudgeConfig(base_url=judge_base_url, model=judge_model))
    elif pairwise != "deterministic":
        raise ConfigError(f"--pairwise must be deterministic or llm, got {pairwise!r}")
    _evaluate_and_print(suite, chosen, out, split=split, episodes=episodes, workers=workers, seed=seed,
                        env_kwargs={"budget": budget} if budget else None, prices=prices, judge=judge)


def _evaluate_and_print(suite: str, chosen: list, out: Path, *, split: str | None = None, episodes: int = 1,
                        workers: int = 1, seed: int = 0, env_kwargs: dict | None = None, prices: Path | None = None,
                        judge=None, show_progress: bool = True) -> None:
    from drgym.benchmarks.costs import load_prices
    from drgym.benchmarks.evaluation import resolve_suite, run_eval
    from drgym.benchmarks.report import console_table, write_plots, write_report

    resolved = resolve_suite(suite, split=split)
    results = run_eval(resolved, chosen, out, episodes_per_task=episodes, workers=workers, seed=seed,
                       env_kwargs=env_kwargs, prices=load_prices(prices), pairwise_judge=judge,
                       show_progress=show_progress)
    write_plots(results, out)
    command = "drgym " + " ".join(sys.argv[1:]) if len(sys.argv) > 1 else "drgym eval"
    report = write_report(results, out, command=command)
    rows = console_table(results)
    table = Table(title=f"{resolved.name} ({resolved.split} split, {len(resolved.tasks)} tasks)", title_justify="left")
    for header in rows[0]:
        table.add_column(header, no_wrap=True)
    for row in rows[1:]:
        table.add_row(*row)
    (console if console.is_terminal else Console(width=160)).print(table)
    console.print(f"wrote {out / 'results.json'}, {report} and plots in {out}", highlight=False, soft_wrap=True)


@bench_app.command("perf")
@_expected_errors
def bench_perf(
    quick: Annotated[bool, typer.Option("--quick", help="small sizes: every figure in a few minutes")] = False,
    only: Annotated[list[str] | None, typer.Option(help="search, env, judge, rollout (repeatable)")] = None,
) -> None:
    """Run the performance benchmarks (search, env step, judge, rollout) and print one table of figures."""
    from drgym.benchmarks.perf import BENCHMARKS, run_all
    from drgym.errors import ConfigError

    unknown = sorted(set(only or []) - set(BENCHMARKS))
    if unknown:
        raise ConfigError(f"unknown benchmarks {unknown}; choose from {', '.join(BENCHMARKS)}")
    rows = run_all(quick=quick, only=only)
    table = Table("benchmark", "measure", "figure", "note", title="drgym performance" + (" (quick sizes)" if quick else ""),
                  title_justify="left")
    for row in rows:
        table.add_row(*row)
    (console if console.is_terminal else Console(width=160)).print(table)


@app.command("audit")
@_expected_errors
def audit_command(
    suites: Annotated[list[str] | None, typer.Option("--suite", help="suite or task file (repeatable); default: "
                                                     "procedural:easy, medium and hard")] = None,
    tasks: Annotated[int, typer.Option(help="tasks of each kind per suite (0: all)")] = 30,
    hacks: Annotated[list[str] | None, typer.Option("--hack", help="hack policies to play (repeatable); default: all")] = None,
) -> None:
    """Reward-hacking audit: every hack policy against the honest researcher and the gold answers.

    Exits 1 when a hack comes within 0.2 of the honest researcher or a wrong report scores above 0.3.
    """
    from drgym.agents.hacks import HACKS
    from drgym.benchmarks.reward_hacking import audit, format_table
    from drgym.errors import ConfigError

    unknown = sorted(set(hacks or []) - set(HACKS))
    if unknown:
        raise ConfigError(f"unknown hack policies {unknown}; choose from {', '.join(HACKS)}")
    rows = audit(suites or ["procedural:easy", "procedural:medium", "procedural:hard"], n_tasks=tasks or None,
                 hacks=hacks)
    console.print(format_table(rows), highlight=False, soft_wrap=True)
    failing = [r for r in rows if not r.passes]
    console.print(f"{len(failing)} of {len(rows)} rows fail", highlight=False)
    if failing:
        raise typer.Exit(1)


synth_app = typer.Typer(help="Atomic-capability data synthesis: planning, seeking, reflection, report.",
                        invoke_without_command=True)
app.add_typer(synth_app, name="synth")


@synth_app.callback()
@_expected_errors
def synth_run(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option(help="output folder: <capability>.jsonl per capability")] = None,
    capability: Annotated[list[str] | None, typer.Option(help="planning, seeking, reflection, report or all")] = None,
    suite: Annotated[str, typer.Option(help="suite or world folder (its train split is used)")] = "procedural:easy",
    n: Annotated[int, typer.Option(help="rows per capability")] = 20,
    noise: Annotated[float, typer.Option(help="reflection: share of tool calls that fail (0.05-0.10)")] = 0.08,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Synthesise OpenRLHF-ready rows, tagged by capability, each replayable in the environment
    (`drgym synth --capability all --out data/`; `drgym synth mix ...` mixes them)."""
    from drgym.errors import ConfigError
    from drgym.train.synth import CAPABILITIES, synthesize

    if ctx.invoked_subcommand is not None:
        return
    if out is None:
        raise ConfigError("drgym synth needs --out (a folder); see drgym synth --help")
    chosen = list(CAPABILITIES) if not capability or "all" in capability else capability
    stats = synthesize(chosen, suite, out, n=n, seed=seed, noise=noise)
    rows = stats.table()
    table = Table(*rows[0], title=f"synthesised from {suite} (train split)", title_justify="left")
    for row in rows[1:]:
        table.add_row(*row)
    (console if console.is_terminal else Console(width=160)).print(table)
    console.print(f"wrote {', '.join(str(out / f'{c}.jsonl') for c in chosen)}", highlight=False, soft_wrap=True)


@synth_app.command("mix")
@_expected_errors
def synth_mix(
    files: Annotated[list[Path], typer.Argument(help="synthesised JSONL files")],
    out: Annotated[Path, typer.Option(help="the mixed SFT JSONL")],
    ratio: Annotated[str, typer.Option(help="shares by capability or kind, e.g. seeking=0.3,research=0.7")],
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Mix synthesised rows to the given shares (Deep Research the majority, as in the seed)."""
    from drgym.errors import ConfigError
    from drgym.train.synth import mix_rows

    shares: dict[str, float] = {}
    for part in ratio.split(","):
        key, sep, value = part.partition("=")
        try:
            shares[key.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"--ratio: expected key=weight, got {part!r}") from None
        if not sep:
            raise ConfigError(f"--ratio: expected key=weight, got {part!r}")
    counts = mix_rows(files, shares, out, seed=seed)
    console.print(", ".join(f"{k}: {v} rows" for k, v in counts.items()) + f" -> {out}", highlight=False)


@app.command("serve-hf")
@_expected_errors
def serve_hf(
    model_path: Annotated[Path, typer.Option(help="local Hugging Face model folder")],
    port: Annotated[int, typer.Option(help="port")] = 8000,
    host: Annotated[str, typer.Option(help="address to listen on (0.0.0.0: every interface)")] = "127.0.0.1",
    model_name: Annotated[str | None, typer.Option(help="name clients send as 'model' (default: the path)")] = None,
    device: Annotated[str, typer.Option(help="torch device")] = "cpu",
    max_tokens: Annotated[int, typer.Option(help="max_tokens of a request that sets none")] = 256,
    max_concurrent_requests: Annotated[int, typer.Option(help="requests decoding at once; more wait")] = 4,
) -> None:
    """Serve a local model as an OpenAI-compatible chat endpoint: streaming, tools through the chat template, n,
    stop, logprobs (CPU is fine for small models; use vLLM on GPUs)."""
    from drgym.agents.hf_server import HFChatServer

    server = HFChatServer(str(model_path), host=host, port=port, model_name=model_name, device=device,
                          max_new_tokens=max_tokens, max_concurrent_requests=max_concurrent_requests)
    console.print(f"serving {server.model_name} at {server.url} (Ctrl-C stops)", highlight=False)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        server.stop()


@app.command("replay")
@_expected_errors
def replay(
    trajectories: Annotated[Path, typer.Argument(help="trajectory file (JSONL)")],
    episode: Annotated[int | None, typer.Option(help="episode index to print (default: list the episodes)")] = None,
) -> None:
    """Print an episode of a trajectory file as a transcript, or list the file's episodes."""
    from drgym.agents.trajectories import read_trajectories
    from drgym.errors import ConfigError

    records = list(read_trajectories(trajectories))
    if not records:
        raise ConfigError(f"{trajectories} holds no finished episode")
    if episode is None:
        table = Table("index", "task", "status", "reward", "steps", "wall s", title=str(trajectories), title_justify="left")
        for record in sorted(records, key=lambda r: r["index"]):
            reward = "-" if record.get("status") != "ok" or record.get("reward") is None else f"{record['reward']:.3f}"
            table.add_row(str(record["index"]), record["task_id"], record["status"], reward, str(len(record["steps"])),
                          f"{record['wall_s']:.2f}")
        console.print(table)
        return
    record = next((r for r in records if r["index"] == episode), None)
    if record is None:
        raise ConfigError(f"no episode {episode} in {trajectories}; it has {sorted(r['index'] for r in records)}")
    console.rule(f"episode {episode}: {record['task_id']} ({record['status']}, reward {record.get('reward')})")
    for message in record["messages"]:
        content = message.get("content") or ""
        if message["role"] == "system":
            content = content.split("\n")[0] + " […]"
        console.print(f"[bold]{message['role']}[/]", highlight=False)
        console.print(content, highlight=False, markup=False)
    if record.get("error"):
        console.print(f"error: {record['error']}", highlight=False, markup=False)


# -- demo -----------------------------------------------------------------------------------------------------

@app.command("demo")
@_expected_errors
def demo(suite: Annotated[str, typer.Option(help="suite to demo")] = "procedural:easy",
         out: Annotated[Path, typer.Option(help="where the closing evaluation writes its report")] = Path("runs/demo-eval"),
         ) -> None:
    """Build the default world (first run), search it, grade reports, then evaluate the scripted and random
    policies on its held-out tasks (table, report.md, plots)."""
    from drgym.rewards.judges import DeterministicJudge
    from drgym.tasks.suites import load_suite

    started = time.perf_counter()
    world = load_suite(suite)
    meta = world.meta
    console.rule(f"[bold]drgym demo: {suite}")
    console.print(f"world at {world.path}: {meta['n_pages']:,} pages, {meta['n_paragraphs']:,} paragraphs, "
                  f"{len(meta['graph']['entities']):,} entities, {len(world.tasks)} tasks "
                  f"(ready in {time.perf_counter() - started:.1f} s)")
    index = world.index
    search_tasks = [t for t in world.tasks if t.kind == "deep_search"][:3]
    for task in search_tasks:
        console.print(f"\n[bold]deep_search {task.id}[/] ({task.meta['hops']} hops): {task.question}", highlight=False)
        first_hop = task.meta["gold_path"][0]
        query = f"{first_hop['subject_name']} {first_hop['key'].split(':')[1].replace('_', ' ')}"
        console.print(_hits_table(query, index.search(query, k=4)))
        console.print(f"answer: {task.answers[0]}", highlight=False)
    research = next((t for t in world.tasks if t.kind == "deep_research"), None)
    if research is not None:
        console.print(f"\n[bold]deep_research {research.id}[/] ({len(research.rubrics)} rubrics): {research.question}",
                      highlight=False)
        table = Table("report", "score", "mandatory passed", "faults", title="deterministic rubric judge",
                      title_justify="left")
        for label, report in (("gold report", research.meta["gold_report"]),
                              ("low-trust values", research.meta["low_trust_report"]), ("empty", "")):
            result = DeterministicJudge().grade(research.rubrics, report)
            faults = sum(1 for v in result.verdicts if v.weight < 0 and v.verdict == "satisfied")
            table.add_row(label, f"{result.score:.3f}", f"{result.mandatory_pass_rate:.0%}", str(faults))
        console.print(table)
    from drgym.benchmarks.evaluation import builtin_policy

    console.print(f"\n[bold]evaluation[/]: the scripted researcher and a random tool user on the held-out tasks of "
                  f"{suite}", highlight=False)
    _evaluate_and_print(suite, [builtin_policy("scripted"), builtin_policy("random")], out, show_progress=False)
    console.print(f"\ndone in {time.perf_counter() - started:.1f} s. Next: open {out / 'report.md'}; "
                  "`drgym web search \"...\"`, `drgym tasks show`, `drgym eval --help`, `drgym train ppo --dry-run`.",
                  highlight=False, soft_wrap=True)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app(prog_name="drgym")


if __name__ == "__main__":
    sys.exit(main())
