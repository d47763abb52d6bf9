"""Named task suites over procedural worlds, built on first use into a cache folder.

The cache is ``$DRGYM_HOME/worlds`` (default ``~/.cache/drgym/worlds``); a world is rebuilt when its spec or
the generator's version changes. ``procedural:easy`` is the embedded default world.

`resolve_tasks` is the one place a task source (a suite name, a task file, or a folder holding ``tasks.jsonl``)
becomes its tasks and the web they are researched in: the env, evaluation, synthesis and the CLI all call it.
"""

from __future__ import annotations

import dataclasses
import difflib
import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path

from drgym.errors import ConfigError, UnknownSuiteError
from drgym.tasks.procedural import ProceduralWorld, WorldSpec
from drgym.tasks.schema import TaskSet
from drgym.tasks.synth import TASKS_VERSION
from drgym.tasks.world import WORLD_VERSION

__all__ = ["DEFAULT_SUITE", "SUITES", "TaskSource", "cache_dir", "load_suite", "resolve_tasks"]

DEFAULT_SUITE = "procedural:easy"

SUITES: dict[str, WorldSpec] = {
    "procedural:tiny": WorldSpec(seed=1, pages=80, distractor_rate=0.1, conflict_rate=0.5, n_deep_search=6,
                                 n_deep_research=2, min_hops=2, max_hops=3),
    "procedural:easy": WorldSpec(seed=11, pages=2000, distractor_rate=0.05, conflict_rate=0.15, outdated_rate=0.15,
                                 n_deep_search=60, n_deep_research=30, min_hops=2, max_hops=3),
    "procedural:medium": WorldSpec(seed=12, pages=5000, distractor_rate=0.1, conflict_rate=0.3, outdated_rate=0.25,
                                   paraphrase_rate=0.2, n_deep_search=80, n_deep_research=40, min_hops=3, max_hops=4),
    "procedural:hard": WorldSpec(seed=13, pages=10000, distractor_rate=0.2, conflict_rate=0.45, outdated_rate=0.4,
                                 low_trust_rate=0.95, paraphrase_rate=0.5, n_deep_search=100, n_deep_research=50,
                                 min_hops=4, max_hops=6),
    # The frontier families in documented proportions (README: "Task families"): deep_search 30 % puzzles,
    # 25 % computation (a quarter of it needing a chart), 25 % aggregation, 20 % temporal; deep_research: research
    # requests with intent (choose a supplier, assess a risk, explain a change, in turn).
    "procedural:frontier": WorldSpec(seed=14, pages=2000, distractor_rate=0.1, conflict_rate=0.3, outdated_rate=0.25,
                                     paraphrase_rate=0.5, relation_change_rate=0.4, directories=True,
                                     chart_only_history=True, n_deep_search=0, n_deep_research=0,
                                     families=(("puzzle", 48), ("compute", 40), ("aggregate", 40), ("temporal", 32),
                                               ("intent", 40))),
}


def cache_dir() -> Path:
    return Path(os.environ.get("DRGYM_HOME") or Path.home() / ".cache" / "drgym") / "worlds"


def load_suite(name: str, *, show_progress: bool = True) -> ProceduralWorld:
    """The world of suite `name`, built into the cache the first time (or when its spec changed)."""
    if name not in SUITES:
        close = difflib.get_close_matches(name, SUITES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownSuiteError(f"no suite {name!r}; known suites: {', '.join(SUITES)}.{hint}")
    spec = SUITES[name]
    path = cache_dir() / f"{name.replace(':', '-')}-v{WORLD_VERSION}"
    world = _cached(path, spec)
    if world is not None:
        return world
    path.parent.mkdir(parents=True, exist_ok=True)
    # one builder at a time: rollout threads and processes of a node without the cache all get here at once
    with open(path.parent / f"{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        world = _cached(path, spec)  # another builder may have finished while this one waited
        if world is not None:
            return world
        return ProceduralWorld.build(path, spec, show_progress=show_progress)


def _cached(path: Path, spec: WorldSpec) -> ProceduralWorld | None:
    if (path / "world.json").is_file():
        world = ProceduralWorld(path)
        if (world.meta.get("spec") == json.loads(json.dumps(dataclasses.asdict(spec)))
                and world.meta.get("tasks_version") == TASKS_VERSION):
            return world
    return None


@dataclass(frozen=True)
class TaskSource:
    """Tasks and the web they are researched in, as `resolve_tasks` found them."""

    tasks: TaskSet
    file: Path
    """The task file (a suite's is its world's ``tasks.jsonl``)."""
    web: Path | None
    """The world or corpus folder the tasks name (their ``corpus`` field), else the task file's own folder when
    it holds a corpus; None when nothing names one."""
    world: ProceduralWorld | None = None
    """The suite's world, loaded (None for task files)."""


def resolve_tasks(source: str | Path, *, find_web: bool = True, show_progress: bool = True) -> TaskSource:
    """A suite name, a task file or a folder holding ``tasks.jsonl``: its tasks and the web they name.

    A task's ``corpus`` field names its web: a world or corpus folder (absolute, or relative to the task file),
    a suite name, or the name recorded in the ``corpus.json`` of the task file's folder (procedural worlds label
    their tasks ``world-<seed>``). All tasks of a file that name a corpus must name the same one. With
    `find_web` False (the caller has a web of its own) the fields are not read and `web` is None for task files.

    Raises:
        ConfigError: `source` is neither; a task names a corpus that does not exist; two tasks name different ones.
        TaskFileError: a line of the task file is malformed.
    """
    if isinstance(source, str) and source in SUITES:
        world = load_suite(source, show_progress=show_progress)
        return TaskSource(world.tasks, world.path / "tasks.jsonl", world.path, world)
    path = Path(source)
    if _is_dir(path):
        path = path / "tasks.jsonl"
    if not _is_file(path):
        close = difflib.get_close_matches(str(source), SUITES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"{str(source)!r} is neither a suite ({', '.join(SUITES)}) nor a task file (or a folder "
                          f"holding tasks.jsonl).{hint}")
    tasks = TaskSet.load(path)
    if not find_web:
        return TaskSource(tasks, path, None)
    web = _named_corpus(path, tasks)
    if web is None and (path.parent / "corpus.json").is_file():
        web = path.parent
    return TaskSource(tasks, path, web)


def _named_corpus(path: Path, tasks: TaskSet) -> Path | None:
    """The one folder the tasks' ``corpus`` fields name, or None when no task names one."""
    lines_by_name: dict[str, list[int]] = {}
    for number, task in zip(_task_lines(path), tasks):
        if task.corpus:
            lines_by_name.setdefault(task.corpus, []).append(number)
    folders: dict[Path, list[int]] = {}
    for name, numbers in lines_by_name.items():
        folders.setdefault(_corpus_folder(path, numbers[0], name), []).extend(numbers)
    if len(folders) > 1:
        described = "; ".join(f"line{'s' if len(n) > 1 else ''} {', '.join(map(str, sorted(n)[:3]))}"
                              f"{' …' if len(n) > 3 else ''}: {folder}" for folder, n in folders.items())
        raise ConfigError(f"{path}: the tasks name different corpora ({described}); an environment researches one "
                          "web: split the file by corpus, or pass web= (--web) to choose one for all")
    return next(iter(folders), None)


def _corpus_folder(path: Path, line_number: int, corpus: str) -> Path:
    if corpus in SUITES:
        return load_suite(corpus).path
    folder = Path(corpus).expanduser()
    folder = folder if folder.is_absolute() else path.parent / folder
    if _is_file(folder / "corpus.json") or _is_file(folder / "world.json"):
        return folder.resolve()
    try:  # a world's tasks name its corpus by the name in the corpus.json beside them
        beside = json.loads((path.parent / "corpus.json").read_text(encoding="utf-8")).get("name")
    except (OSError, ValueError, AttributeError):
        beside = None
    if beside == corpus:
        return path.parent.resolve()
    raise ConfigError(f"{path}:{line_number}: field 'corpus': {corpus[:200]!r} is not a corpus or world folder "
                      f"(no {str(folder)[:300]}/corpus.json), a suite, nor the name of the corpus beside the task file; fix the "
                      "field (a folder path, absolute or relative to the task file) or pass web= (--web)")


def _task_lines(path: Path) -> list[int]:
    """The line number of each task in the file (TaskSet.load skips blank lines)."""
    with path.open(encoding="utf-8") as lines:
        return [number for number, line in enumerate(lines, start=1) if line.strip()]


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name too long for the file system, or with a NUL: no such file
        return False


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False
