"""The README's Python snippets compile, and those that start worker processes have a main guard.

A script that starts processes at its top level (a `RolloutPool`, a `rollout` with `n_workers` above 1,
`build_shards`, `ingest`) re-runs that top level in every spawned or forkserver child, so it needs
`if __name__ == "__main__":`. Nothing here runs a snippet: running them is the job of a README check by hand.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
FENCE = re.compile(r"^\s*```(\S*)\s*$")
# calls that start worker processes whatever their arguments
ALWAYS_WORKERS = {"RolloutPool"}
# calls that start worker processes unless a worker-count keyword says 1 (default: one per core)
WORKERS_BY_DEFAULT = {"build_shards": "workers", "ingest": "workers"}


def fenced_blocks(text: str) -> list[tuple[int, str, str]]:
    """Returns (line of the block's first line, language, source) for each fenced code block."""
    blocks = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening:
            start, body = i + 2, []
            i += 1
            while i < len(lines) and not re.match(r"^\s*```\s*$", lines[i]):
                body.append(lines[i])
                i += 1
            blocks.append((start, opening.group(1), "\n".join(body) + "\n"))
        i += 1
    return blocks


def python_blocks() -> list[tuple[int, str]]:
    return [(line, source) for line, language, source in fenced_blocks(README.read_text(encoding="utf-8"))
            if language == "python"]


def _name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def starts_workers(call: ast.Call) -> bool:
    """Whether a call starts worker processes (an unknown worker count counts as several)."""
    name = _name(call)
    if name in ALWAYS_WORKERS:
        return True
    if name == "rollout":
        count = _keyword(call, "n_workers")
        return count is not None and not (isinstance(count, ast.Constant) and count.value == 1)
    if name in WORKERS_BY_DEFAULT:
        count = _keyword(call, WORKERS_BY_DEFAULT[name])
        return not (isinstance(count, ast.Constant) and count.value == 1)
    return False


def _is_main_guard(node: ast.stmt) -> bool:
    return (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__"
            and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in node.test.comparators))


def unguarded_worker_calls(source: str) -> list[str]:
    """Calls that start worker processes from the module's top level, outside `if __name__ == "__main__":`."""
    found = []
    for statement in ast.parse(source).body:
        if _is_main_guard(statement) or isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                  ast.ClassDef)):
            continue
        found += [f"{_name(node)}(...) at line {node.lineno}" for node in ast.walk(statement)
                  if isinstance(node, ast.Call) and starts_workers(node)]
    return found


PARAMS = [pytest.param(line, source, id=f"README.md:{line}") for line, source in python_blocks()]


def test_readme_has_python_blocks():
    assert len(python_blocks()) >= 5


@pytest.mark.parametrize(("line", "source"), PARAMS)
def test_readme_python_block_compiles(line, source):
    compile(source, f"README.md:{line}", "exec")


@pytest.mark.parametrize(("line", "source"), PARAMS)
def test_readme_python_block_starts_workers_only_under_a_main_guard(line, source):
    unguarded = unguarded_worker_calls(source)
    assert not unguarded, (f"README.md:{line}: {', '.join(unguarded)} starts worker processes at the top level; "
                           f'put it under `if __name__ == "__main__":`')


def test_worker_calls_outside_the_guard_are_found():
    source = ('from drgym.agents.rollout import RolloutPool, rollout\n'
              'rollout("e", P, n_episodes=2, n_workers=2, out="a.jsonl")\n'
              'rollout("e", P, n_episodes=2, n_workers=1, out="b.jsonl")\n'
              'if __name__ == "__main__":\n'
              '    pool = RolloutPool("e", P, n_workers=4)\n')
    assert unguarded_worker_calls(source) == ["rollout(...) at line 2"]
