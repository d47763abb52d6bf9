"""A procedural world on disk: graph, rendered corpus, ground-truth statements, tasks and search index.

Folder layout (the corpus files sit at the top, so `Corpus.load(world_dir)` works)::

    world.json         the knowledge graph, the generator's knobs and versions
    statements.jsonl   every fact as each page states it (url, tier, entity, key, value, year, status)
    tasks.jsonl        synthesised tasks (deep_search and deep_research)
    authority.tsv      the world's domains and their tiers
    corpus.json, pages.arrow, urls.npy, rows.npy   the pages
    images/            chart images shown on pages (PNG)
    index/             the search index (derived; not part of the byte-identical world)
"""

from __future__ import annotations

import dataclasses
import gc
import json
import logging
import marshal
import os
import shutil
import tempfile
import typing
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import GeneratorType

import pyarrow as pa
from tqdm.auto import tqdm

from drgym.errors import ConfigError, CorpusError, SearchIndexError
from drgym.rewards.rubric import Check
from drgym.tasks.charts import draw_charts
from drgym.tasks.render import Chart, RenderKnobs, Statement, authority_tsv, render_world
from drgym.tasks.schema import TaskSet
from drgym.tasks.synth import TASKS_VERSION, FactIndex, StatementWriter, synthesise_tasks
from drgym.tasks.world import WORLD_VERSION, World, world_from_dict, world_to_dict
from drgym.web.corpus import Corpus, Page
from drgym.web.index import SearchIndex
from drgym.web.memory import return_freed_memory

__all__ = ["PAGES_PER_ENTITY", "ProceduralWorld", "WorldSpec"]

logger = logging.getLogger(__name__)

BUILD_PHASE = "world build phase: %s"
"""The DEBUG message `ProceduralWorld.build` logs as each phase starts (its argument is the phase's name), in the
order: generate the graph, render and write the pages, sort the statements, synthesise tasks and write world.json,
index, draw the charts; `drgym.benchmarks.perf_world --phases` reads it to attribute memory to phases."""

PAGES_PER_ENTITY = 4.6
"""Pages rendered per entity on average (measured); turns a page target into an entity count."""


@dataclass(frozen=True)
class WorldSpec:
    """Everything a procedural world is generated from: same spec, byte-identical world."""

    seed: int = 7
    pages: int = 2000
    """Approximate page count (the renderer's pages per entity vary with the draw)."""
    distractor_rate: float = 0.1
    conflict_rate: float = 0.25
    outdated_rate: float = 0.25
    low_trust_rate: float = 0.8
    paraphrase_rate: float = 0.0
    n_deep_search: int = 40
    n_deep_research: int = 20
    min_hops: int = 2
    max_hops: int = 4
    relation_change_rate: float = 0.0
    """Share of companies whose chief executive (and half as many whose headquarters) changed (temporal tasks)."""
    directories: bool = False
    """Render the register indexes that list every entity of a kind (aggregation and puzzle tasks)."""
    chart_only_history: bool = False
    """Leave charted companies' past revenue figures to their charts (computation questions that need a chart)."""
    families: tuple[tuple[str, int], ...] = ()
    """(family, count) pairs of tasks to synthesise instead of n_deep_search chains and n_deep_research
    compare/timeline reports (`drgym.tasks.synth.FAMILY_NAMES`)."""

    def __post_init__(self) -> None:
        if not 1 <= self.min_hops <= self.max_hops <= 6:
            raise ConfigError(f"hops must satisfy 1 <= min_hops <= max_hops <= 6, got min_hops={self.min_hops}, "
                              f"max_hops={self.max_hops}")
        for name in ("distractor_rate", "conflict_rate", "outdated_rate", "low_trust_rate", "paraphrase_rate",
                     "relation_change_rate"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"{name} must be in [0, 1], got {getattr(self, name)!r}")
        if self.pages < 1 or self.n_deep_search < 0 or self.n_deep_research < 0:
            raise ConfigError(f"pages must be at least 1 and task counts at least 0, got pages={self.pages}, "
                              f"n_deep_search={self.n_deep_search}, n_deep_research={self.n_deep_research}")
        for family, count in self.families:
            if count < 0:
                raise ConfigError(f"families: {family!r} has a negative count ({count})")


def _pages_and_statements(rendered: Iterable[tuple[Page, list[Statement]]],
                           statements: StatementWriter) -> Iterator[Page]:
    """The rendered pages, each page's statements written to statements.jsonl (and indexed for task synthesis)."""
    for page, page_statements in rendered:
        for statement in page_statements:
            statements.write(statement)
        yield page


def _json_chunks(value: object, encode: Callable[[object], str]) -> Iterator[str]:
    """The JSON text `json.dump(value, sort_keys=True)` writes, in pieces: dicts are opened, and a generator is
    written as a list an item at a time (`world_to_dict(..., entities_as_iterator=True)`)."""
    if isinstance(value, dict):
        yield "{"
        for number, key in enumerate(sorted(value)):
            yield f"{', ' if number else ''}{encode(key)}: "
            yield from _json_chunks(value[key], encode)
        yield "}"
    elif isinstance(value, GeneratorType):  # not `Iterator`: an ABC's check caches each type it sees (see _fill_caches)
        yield "["
        for number, item in enumerate(value):
            yield f"{', ' if number else ''}{encode(item)}"
        yield "]"
    else:
        yield encode(value)


def _fill_caches(staging: Path) -> None:
    """Makes now, before the graph, the objects that the build's later phases would otherwise make amid its memory and
    keep to its end: each such object keeps the memory pool it lies in, and the pool its arena (~1 MiB), long after the
    pages and entities around it are freed. Measured at 200k pages, they kept 8 of Python's arenas at the index's
    start (51 against 43 now; 36 when the graph is generated).

    - pandas, which pyarrow imports on its first conversion of Python values (330 modules, ~20 MiB);
    - tqdm's lock (a multiprocessing semaphore), its monitor thread and their weak references, made with its first
      bar, disabled or not;
    - the caches of `collections.abc.Mapping` and of the ~25 ABCs derived from it (a weak reference per class): pydantic
      asks whether each rubric check is a mapping as the synthesis makes tasks; and `Sequence`'s, which `random.sample`
      asks of a list;
    - the staging folder's path as text (pathlib makes it on first use and keeps it);
    - `malloc_trim`'s look-up (`return_freed_memory`) and `weakref.finalize`'s exit hook (`PackedEntities`);
    - what writing and reading a corpus makes once (a one-page corpus, then deleted): pyarrow's IPC writer and reader,
      numpy's .npy header (struct's ``<H``), hashlib's blake2b; and the JSON encoder tasks.jsonl is written with.
    """
    pa.array([""])
    tqdm(disable=True).close()
    os.fspath(staging)
    return_freed_memory()
    weakref.finalize(_fill_caches, int).detach()
    warm_up = staging / "warm-up"
    Corpus.write(warm_up, [Page("https://warm-up.example/", "warm-up.example", "Warm-up", "", 2, ("Warm-up.",))],
                 name="warm-up")
    shutil.rmtree(warm_up)
    json.dumps({}, sort_keys=True, ensure_ascii=False)
    # last: an ABC defined by a module imported above would start with empty caches
    check_union, *_ = typing.get_args(Check)  # Annotated[A | B | ..., Field(...)]
    for check_type in typing.get_args(check_union):
        issubclass(check_type, Mapping)
    issubclass(list, Sequence)


class _ChartSpool:
    """The charts a render finds (`render_world`'s `charts`), one `marshal` record each in a file, read back in order
    to be drawn."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("w+b")
        self._count = 0

    def append(self, chart: Chart) -> None:
        marshal.dump((chart.url, chart.title, chart.label, chart.years, chart.values), self._file)
        self._count += 1

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Chart]:
        self._file.flush()
        self._file.seek(0)
        for _ in range(self._count):
            yield Chart(*marshal.load(self._file))
        self._file.seek(0, os.SEEK_END)

    def close(self) -> None:
        self._file.close()


class ProceduralWorld:
    """A world folder, with its parts loaded on first use."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not (self.path / "world.json").is_file():
            raise CorpusError(f"{self.path} is not a drgym world (world.json is missing); "
                              "build one with `drgym world build`")

    @classmethod
    def build(cls, path: str | Path, spec: WorldSpec | None = None, *, index: bool = True, dense: bool = False,
              show_progress: bool = True) -> ProceduralWorld:
        """Generates, renders, synthesises tasks and (by default) indexes, into `path` (replaced atomically)."""
        spec = spec or WorldSpec()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
        charts: _ChartSpool | None = None
        try:
            _fill_caches(staging)
            corpus_name = f"world-{spec.seed}"
            # the charts the render finds, a record each in a file until they are drawn: ~24 small objects made amid
            # the pages would each keep a memory pool of theirs, and with it the pool's arena (~1 MiB)
            charts = _ChartSpool(staging / "charts.bin")
            knobs = RenderKnobs(conflict_rate=spec.conflict_rate, outdated_rate=spec.outdated_rate,
                                low_trust_rate=spec.low_trust_rate, paraphrase_rate=spec.paraphrase_rate,
                                directories=spec.directories, chart_only_history=spec.chart_only_history)
            logger.debug(BUILD_PHASE, "generate the graph")
            # the graph goes to a file as it is drawn, read from it an entity at a time: memory keeps ~6 MiB at 200k
            # pages while the pages are rendered and the tasks synthesised, not 20 (`PackedEntities`), and never holds
            # the graph as objects (`World.generate_packed`)
            world = World.generate_packed(spec.seed, staging / "graph.bin",
                                          n_entities=max(7, round(spec.pages / PAGES_PER_ENTITY)),
                                          distractor_rate=spec.distractor_rate,
                                          relation_change_rate=spec.relation_change_rate)
            gc.collect()
            return_freed_memory()
            world.entities.read_ids()  # now, together, before the render makes anything
            logger.debug(BUILD_PHASE, "render and write the pages")
            progress = tqdm(render_world(world, knobs, charts), desc="render pages", unit="page",
                            disable=not show_progress, total=round(len(world.entities) * PAGES_PER_ENTITY))
            with (staging / "statements.jsonl").open("wb") as out:
                # pages go to disk as they are rendered: memory holds one batch of them, not the corpus; statements
                # too, and a 20-byte record of each for task synthesis, in a temporary file (`StatementWriter`)
                statements = StatementWriter(out, temporary_dir=staging, entity_numbers=world.entities.numbers)
                corpus = Corpus.write(staging, _pages_and_statements(progress, statements), name=corpus_name)
            progress.total = progress.n  # the total was an estimate
            progress.close()
            del progress  # and the render with it
            # its figures, not the object: made after the pages, it would keep their memory pools to the end
            n_pages, n_paragraphs = len(corpus), corpus.n_paragraphs
            del corpus
            return_freed_memory()  # what the render freed goes back before the statements are sorted
            n_statements = len(statements)
            logger.debug(BUILD_PHASE, "sort the statements")
            facts = FactIndex.of_file(statements, staging / "statements.jsonl")
            del statements
            logger.debug(BUILD_PHASE, "synthesise tasks, write world.json")
            tasks = synthesise_tasks(world, facts, n_deep_search=spec.n_deep_search,
                                     n_deep_research=spec.n_deep_research, hops=(spec.min_hops, spec.max_hops),
                                     seed=spec.seed, families=dict(spec.families))
            tasks = [t.model_copy(update={"corpus": corpus_name}) for t in tasks]
            TaskSet(tasks, name=path.name).save(staging / "tasks.jsonl")
            del facts, tasks  # gone before the graph is written and the pages indexed
            (staging / "authority.tsv").write_text(authority_tsv(), encoding="utf-8")
            meta = {"format_version": 1, "world_version": WORLD_VERSION, "tasks_version": TASKS_VERSION, "spec": dataclasses.asdict(spec),
                    "n_pages": n_pages, "n_paragraphs": n_paragraphs, "n_statements": n_statements,
                    "graph": world_to_dict(world, entities_as_iterator=True)}
            with (staging / "world.json").open("w", encoding="utf-8") as out:  # an entity at a time, not as one dict
                encode = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode
                out.writelines(_json_chunks(meta, encode))
                out.write("\n")
            world.entities.close()
            del meta, world, out, encode
            (staging / "graph.bin").unlink()  # world.json has it
            gc.collect()
            return_freed_memory()
            if index:
                logger.debug(BUILD_PHASE, "index")
                SearchIndex.build(Corpus.load(staging), staging / "index", dense=dense, show_progress=show_progress)
                gc.collect()  # the index's reader and its arrays: ~30 MiB at 200k pages that matplotlib would sit beside
                return_freed_memory()
            # drawn last: matplotlib's import (~25 MiB) then adds neither to the graph's memory nor to the index's
            logger.debug(BUILD_PHASE, "draw the charts")
            draw_charts(charts, staging / "images", show_progress=show_progress)
            charts.close()
            (staging / "charts.bin").unlink()
            if path.exists():
                shutil.rmtree(path)
            os.replace(staging, path)
        except BaseException:
            if charts is not None:
                charts.close()
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return cls(path)

    @cached_property
    def meta(self) -> dict:
        return json.loads((self.path / "world.json").read_text(encoding="utf-8"))

    @property
    def spec(self) -> WorldSpec:
        return WorldSpec(**self.meta["spec"])

    @cached_property
    def graph(self) -> World:
        return world_from_dict(self.meta["graph"])

    @cached_property
    def corpus(self) -> Corpus:
        return Corpus.load(self.path)

    @cached_property
    def tasks(self) -> TaskSet:
        return TaskSet.load(self.path / "tasks.jsonl")

    @cached_property
    def statements(self) -> list[Statement]:
        with (self.path / "statements.jsonl").open(encoding="utf-8") as lines:
            return [Statement.from_json_line(line) for line in lines]

    @cached_property
    def index(self) -> SearchIndex:
        """The saved index, (re)built now if the world has none or an outdated one."""
        try:
            return SearchIndex.load(self.path / "index", self.corpus)
        except SearchIndexError as e:
            logger.info("building the search index of %s (%s)", self.path, e)
            return SearchIndex.build(self.corpus, self.path / "index", show_progress=False)

    def load_index_files(self) -> None:
        """Loads the saved index as `index` without its tantivy reader, which runs a thread (it opens on the first
        search; a process that forks workers calls this), and takes the corpus's column handles.

        Raises:
            SearchIndexError: the world has no index, or an outdated one (`index` builds it).
        """
        if "index" not in vars(self):
            self.__dict__["index"] = SearchIndex.load(self.path / "index", self.corpus, open_engine=False)
        self.corpus.open_columns()
