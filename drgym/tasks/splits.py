"""Train / held-out splits of task sets: a fixed, seed-free function of the task id, so every tool agrees.

About one task in five is held out. Training commands (`drgym sft-data`, `drgym rl-data`, the trainers) refuse
held-out tasks; evaluation reports which split it ran on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Literal

from drgym.errors import ConfigError
from drgym.tasks.schema import Task, TaskSet

__all__ = ["HELDOUT_PERCENT", "SPLITS", "Split", "select_split", "task_split"]

Split = Literal["train", "heldout", "all"]
SPLITS = ("train", "heldout", "all")
HELDOUT_PERCENT = 20


def task_split(task_id: str) -> Literal["train", "heldout"]:
    """'heldout' for about HELDOUT_PERCENT % of ids (by a hash of the id), else 'train'."""
    bucket = int.from_bytes(hashlib.sha1(f"drgym-split:{task_id}".encode()).digest()[:4], "big") % 100
    return "heldout" if bucket < HELDOUT_PERCENT else "train"


def select_split(tasks: TaskSet | Iterable[Task], split: str) -> TaskSet:
    """The tasks of one split ('train', 'heldout' or 'all'), in their order."""
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    name = getattr(tasks, "name", "tasks")
    chosen = [t for t in tasks if split == "all" or task_split(t.id) == split]
    return TaskSet(chosen, name=f"{name}[{split}]" if split != "all" else name)
