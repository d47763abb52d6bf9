"""Named task suites over procedural worlds, built on first use into a cache folder.

The cache is ``$DRGYM_HOME/worlds`` (default ``~/.cache/drgym/worlds``); a world is rebuilt when its spec or
the generator's version changes. ``procedural:easy`` is the embedded default world.
"""

from __future__ import annotations

import dataclasses
import difflib
import fcntl
import json
import os
from pathlib import Path

from drgym.errors import UnknownSuiteError
from drgym.tasks.procedural import ProceduralWorld, WorldSpec
from drgym.tasks.synth import TASKS_VERSION
from drgym.tasks.world import WORLD_VERSION

__all__ = ["DEFAULT_SUITE", "SUITES", "cache_dir", "load_suite"]

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
    # 25 % computation, 25 % aggregation, 20 % temporal; deep_research: research requests with intent.
    "procedural:frontier": WorldSpec(seed=14, pages=2000, distractor_rate=0.1, conflict_rate=0.3, outdated_rate=0.25,
                                     paraphrase_rate=0.5, relation_change_rate=0.4, directories=True,
                                     n_deep_search=0, n_deep_research=0,
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
