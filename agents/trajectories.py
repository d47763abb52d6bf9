"""Trajectory files: one JSON object per finished episode, appended, flushed and fsynced.

A crash can leave at most a torn last line; `read_trajectories` skips it (and `repair` cuts it off before a
resumed run appends), so a file always reads back as whole episodes. The files also load with
``datasets.load_dataset("json", data_files=path)``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["TrajectoryWriter", "episode_report", "read_trajectories", "repair"]

_ANSWER_FILE = re.compile(r"<answer\s+file=\"([^\"]+)\"\s*/>")
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_TOOL_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)


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
    """The submitted answer or report of an episode, as the environment graded it (``record["submission"]``).

    Records written before the environment recorded it fall back to the inline answer, or the last write of the
    submitted file (which misses later patches).
    """
    if "submission" in record:
        return str(record["submission"] or "")
    actions = [step["action"] for step in record.get("steps", [])]
    if not actions:
        return ""
    last = actions[-1]
    submitted = _ANSWER_FILE.search(last)
    if submitted is None:
        found = _ANSWER.search(last)
        return found.group(1) if found else ""
    path = submitted.group(1)
    for action in reversed(actions[:-1]):
        for raw in reversed(_TOOL_CALL.findall(action)):
            try:
                call = json.loads(raw)
            except json.JSONDecodeError:
                continue
            arguments = call.get("arguments") or {}
            if call.get("name") == "file" and arguments.get("action") in ("write", "append") \
                    and arguments.get("path") == path:
                return str(arguments.get("content") or "")
    return ""
