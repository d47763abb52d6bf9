"""Tasks: the task schema, procedural worlds with their task synthesis, named suites and importers."""

from drgym.tasks.procedural import ProceduralWorld, WorldSpec
from drgym.tasks.schema import Task, TaskSet
from drgym.tasks.splits import select_split, task_split
from drgym.tasks.suites import DEFAULT_SUITE, SUITES, load_suite
from drgym.tasks.world import World

__all__ = ["DEFAULT_SUITE", "SUITES", "ProceduralWorld", "Task", "TaskSet", "World", "WorldSpec", "load_suite",
           "select_split", "task_split"]
