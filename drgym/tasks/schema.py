"""The task format: one `Task` per JSONL line (pydantic, unknown fields rejected), grouped in a `TaskSet`."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from drgym.errors import TaskFileError
from drgym.rewards.rubric import Rubric

__all__ = ["Task", "TaskSet"]


class Task(BaseModel):
    """A research task: a question with aliases of its answer (deep_search) or rubrics (deep_research)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    kind: Literal["deep_search", "deep_research"]
    question: str = Field(min_length=1)
    answers: list[str] = []
    """Accepted answers, the canonical one first (deep_search)."""
    rubrics: list[Rubric] = []
    corpus: str = ""
    """Which corpus the task is researched in: a world or corpus folder, or a suite name."""
    meta: dict[str, Any] = {}
    """difficulty, hops, domain, seed, the gold path or subgraph, and the gold report (procedural tasks)."""

    @model_validator(mode="after")
    def _has_ground_truth(self) -> Task:
        if self.kind == "deep_search" and not self.answers:
            raise ValueError("a deep_search task needs at least one entry in 'answers'")
        if self.kind == "deep_research" and not self.rubrics:
            raise ValueError("a deep_research task needs at least one entry in 'rubrics'")
        ids = [rubric.id for rubric in self.rubrics]
        if len(set(ids)) != len(ids):
            raise ValueError(f"rubric ids repeat: {sorted({i for i in ids if ids.count(i) > 1})}")
        for rubric in self.rubrics:
            unknown = [i for i in rubric.requires if i not in ids or i == rubric.id]
            if unknown:
                raise ValueError(f"rubric {rubric.id!r}: 'requires' names {unknown}, not other rubrics of the task")
        return self


class TaskSet:
    """An ordered collection of tasks with unique ids."""

    def __init__(self, tasks: Iterable[Task], *, name: str = "tasks") -> None:
        self.tasks = list(tasks)
        self.name = name
        self._by_id: dict[str, Task] = {}
        self._of_kind: dict[str, tuple[Task, ...]] = {}
        self._unchecked: dict[str, tuple[str, ...]] = {}
        for task in self.tasks:
            if task.id in self._by_id:
                raise TaskFileError(f"task set {name!r}: duplicate task id {task.id!r}")
            self._by_id[task.id] = task

    def __len__(self) -> int:
        return len(self.tasks)

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks)

    def __getitem__(self, task_id: str) -> Task:
        try:
            return self._by_id[task_id]
        except KeyError:
            import difflib

            close = difflib.get_close_matches(task_id, self._by_id, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise TaskFileError(f"no task {task_id!r} in {self.name!r}.{hint}") from None

    def get(self, task_id: str) -> Task | None:
        """The task with this id, or None."""
        return self._by_id.get(task_id)

    def of_kind(self, kind: str) -> tuple[Task, ...]:
        """The tasks of one kind, in order: one tuple per kind, computed once and shared by every caller.

        Environments take it as it is, so that building one reads no task: a process forked from the one that
        loaded the tasks keeps sharing their memory (reading a Python object writes its reference count).
        """
        tasks = self._of_kind.get(kind)
        if tasks is None:
            tasks = self._of_kind[kind] = tuple(t for t in self.tasks if t.kind == kind)
        return tasks

    def without_checks(self, kind: str) -> tuple[str, ...]:
        """Ids of the tasks of one kind with a rubric that has no machine check (computed once)."""
        ids = self._unchecked.get(kind)
        if ids is None:
            ids = self._unchecked[kind] = tuple(t.id for t in self.of_kind(kind)
                                                if any(r.check is None for r in t.rubrics))
        return ids

    def filter(self, *, kind: str | None = None) -> TaskSet:
        return TaskSet((t for t in self.tasks if kind is None or t.kind == kind), name=self.name)

    @classmethod
    def load(cls, path: str | Path) -> TaskSet:
        """Reads a JSONL task file; a bad line raises TaskFileError naming the file, line and field."""
        path = Path(path)
        if not path.is_file():
            raise TaskFileError(f"task file {path} does not exist")
        tasks = []
        with path.open(encoding="utf-8") as lines:
            for line_number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    tasks.append(Task.model_validate_json(line))
                except ValidationError as e:
                    error = e.errors()[0]
                    field = ".".join(str(part) for part in error["loc"]) or "(line)"
                    raise TaskFileError(f"{path}:{line_number}: field {field!r}: {error['msg']}") from None
        return cls(tasks, name=path.stem)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as out:
            for task in self.tasks:
                out.write(json.dumps(task.model_dump(mode="json", exclude_defaults=False), sort_keys=True,
                                     ensure_ascii=False) + "\n")
        return path
