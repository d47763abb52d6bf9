"""todo: a task list that persists through the episode, echoed compactly after every change."""

from __future__ import annotations

from typing import Literal

from drgym.core.clipping import preview
from drgym.envs.tools.base import EpisodeState, Tool, ToolError

__all__ = ["MAX_ITEMS", "MAX_ITEM_CHARS", "Todo"]

MAX_ITEMS = 100
"""Items on the list; with `MAX_ITEM_CHARS` this bounds the list echoed after every change (~32k characters)."""
MAX_ITEM_CHARS = 300
"""Longest item text."""


class Todo(Tool):
    name = "todo"

    def run(self, state: EpisodeState, *, action: Literal["add", "update", "complete", "list"],
            item: str | None = None, id: int | None = None) -> str:  # noqa: A002 - `id` is the contract's name
        """Keep a research plan: add items, update or complete them by id, list them. Example:
        {"action": "add", "item": "find the CEO of Varnholt Dynamics"}.

        Args:
            action: add, update, complete or list.
            item: the item's text (add, update), at most 300 characters.
            id: the item's number (update, complete).
        """
        todos = state.todos
        if item is not None and len(item.strip()) > MAX_ITEM_CHARS:
            raise ToolError(f"a todo item has at most {MAX_ITEM_CHARS} characters, got {len(item.strip()):,} "
                            f"({preview(item, 40)}); keep items short and put details in a file.")
        if action == "add":
            if not item or not item.strip():
                raise ToolError('todo add needs "item", e.g. {"action": "add", "item": "..."}.')
            if len(todos) >= MAX_ITEMS:
                raise ToolError(f"the todo list is full ({MAX_ITEMS} items); complete or update items instead.")
            todos.append({"id": len(todos) + 1, "item": item.strip(), "done": False})
        elif action in ("update", "complete"):
            if id is None or not 1 <= id <= len(todos):
                raise ToolError(f'todo {action} needs "id" of an existing item (1 to {len(todos)}), got {preview(id)}.')
            if action == "update":
                if not item or not item.strip():
                    raise ToolError('todo update needs the new "item" text.')
                todos[id - 1]["item"] = item.strip()
            else:
                todos[id - 1]["done"] = True
        return render_todos(todos)


def render_todos(todos: list[dict]) -> str:
    if not todos:
        return "todo list: empty."
    done = sum(t["done"] for t in todos)
    lines = [f"todo list ({done}/{len(todos)} done):"]
    lines += [f"[{'x' if t['done'] else ' '}] {t['id']}. {t['item']}" for t in todos]
    return "\n".join(lines)
