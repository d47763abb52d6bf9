"""Trajectory files: one JSON object per finished episode, appended, flushed and fsynced.

A crash can leave at most a torn last line; `read_trajectories` skips it (and `repair` cuts it off before a
resumed run appends), so a file always reads back as whole episodes. The files also load with
``datasets.load_dataset("json", data_files=path)``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["TrajectoryWriter", "episode_report", "read_trajectories", "repair"]



def read_trajectories(path: str | Path) -> Iterator[dict[str, Any]]:
    """Every complete episode in the file, in the order they finished."""
    path = Path(path)
    if not path.exists():
        return
    with path.open("rb") as lines:
        for raw in lines:
            if not raw.endswith(b"\n"):
                return  # a torn last line: the episode never finished writing
            try:
                yield json.loads(raw)
            except json.JSONDecodeError:
                continue


def repair(path: str | Path) -> int:
    """Cuts a torn last line off the file; returns the number of bytes removed."""
    path = Path(path)
    if not path.exists():
        return 0
    data = path.read_bytes()
    cut = data.rfind(b"\n") + 1
    if cut == len(data):
        return 0
    with path.open("r+b") as handle:
        handle.truncate(cut)
        handle.flush()
        os.fsync(handle.fileno())
    return len(data) - cut


class TrajectoryWriter:
    """Appends episodes durably: each line is flushed and fsynced before `write` returns."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        repair(self.path)
        self._handle = self.path.open("ab")

    def write(self, record: dict[str, Any]) -> None:
        self._handle.write(json.dumps(record, ensure_ascii=False, default=str).encode("utf-8") + b"\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> TrajectoryWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def episode_report(record: dict[str, Any]) -> str:
    """The submitted answer or report of an episode, as the environment graded it (``record["submission"]``,
    recorded when it was graded; "" for an episode that submitted nothing)."""
    return str(record.get("submission") or "")
