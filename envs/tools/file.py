"""file: write, read, patch, list and delete files in the episode's workspace, and save long tool results to
disk with a short summary (the seed's summary-aware storage). Paths never leave the workspace."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path, PurePosixPath
from typing import Literal

from drgym.envs.tools.base import EpisodeState, Tool, ToolError

__all__ = ["FileTool", "resolve_workspace_path"]

MAX_FILE_BYTES = 1_000_000
MAX_READ_LINES = 400
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def resolve_workspace_path(workspace: Path, path: str | None) -> Path:
    """`path` inside `workspace`, or ToolError: no absolute paths, no '..', no symlink leading out."""
    if not path or not path.strip():
        raise ToolError('this action needs "path", a relative path inside the workspace such as "notes/plan.md".')
    if "\x00" in path:
        raise ToolError("path contains a NUL byte.")
    relative = PurePosixPath(path.strip())
    if relative.is_absolute() or path.strip().startswith("~"):
        raise ToolError(f"absolute paths are refused ({path!r}); use a path inside the workspace, e.g. 'report.md'.")
    if ".." in relative.parts:
        raise ToolError(f"'..' is refused in paths ({path!r}); the workspace is the only place the file tool reaches.")
    root = os.path.realpath(workspace)
    target = Path(root, *relative.parts)
    real = os.path.realpath(target)
    if real != root and not real.startswith(root + os.sep):
        raise ToolError(f"{path!r} leads outside the workspace (through a symbolic link); refused.")
    if os.path.lexists(real):
        mode = os.lstat(real).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise ToolError(f"{path!r} is not a regular file or folder (a device, socket or pipe); refused.")
    return Path(real)


class FileTool(Tool):
    name = "file"

    def run(self, state: EpisodeState, *,
            action: Literal["write", "read", "patch", "list", "delete", "save_result"],
            path: str | None = None, content: str | None = None, start: int | None = None, end: int | None = None,
            old: str | None = None, new: str | None = None, diff: str | None = None) -> str:
        """Work with files in your private workspace: write, read (a line range), patch (replace `old` by `new`,
        or apply a unified `diff`), list, delete, and save_result (store the previous tool result, or `content`,
        in a file and get back a short summary). Submit a drafted report with <answer file="report.md"/>.
        Example: {"action": "patch", "path": "report.md", "old": "draft", "new": "final"}.

        Args:
            action: write, read, patch, list, delete or save_result.
            path: a relative path inside the workspace.
            content: text to write (write, save_result).
            start: first line to read, from 1.
            end: last line to read, inclusive.
            old: exact text to replace (patch); it must occur exactly once.
            new: replacement text (patch).
            diff: a unified diff to apply to the file (patch), as produced by `diff -u`.
        """
        workspace = state.workspace
        if action == "list":
            folder = resolve_workspace_path(workspace, path) if path else Path(os.path.realpath(workspace))
            if not folder.is_dir():
                raise ToolError(f"{path!r} is not a folder.")
            entries = sorted(p for p in folder.rglob("*") if not p.is_symlink() or p.is_file())
            lines = [f"{p.relative_to(folder).as_posix()}{'/' if p.is_dir() else f'  ({p.stat().st_size} bytes)'}"
                     for p in entries[:200]]
            return "workspace files:\n" + ("\n".join(lines) if lines else "(none)")
        if action == "save_result":
            text = content if content is not None else state.last_result
            if not text:
                raise ToolError("there is no previous tool result to save; pass \"content\" to save text.")
            path = path or f"results/result-{sum(1 for _ in workspace.rglob('result-*')) + 1}.md"
            target = resolve_workspace_path(workspace, path)
            _write(target, text)
            first = " ".join(line.strip() for line in text.splitlines() if line.strip())[:300]
            return (f"saved {len(text.splitlines())} lines ({len(text)} characters) to {path}. Summary: {first}"
                    + (" …" if len(text) > 300 else "") + f'\nRead it back with {{"action": "read", "path": "{path}"}}.')
        target = resolve_workspace_path(workspace, path)
        if action == "write":
            if content is None:
                raise ToolError('write needs "content".')
            _write(target, content)
            return f"wrote {len(content.splitlines())} lines to {path}."
        if not target.is_file():
            raise ToolError(f"no file {path!r} in the workspace" + (" (it is a folder)." if target.is_dir() else "."))
        if action == "delete":
            target.unlink()
            return f"deleted {path}."
        text = target.read_text(encoding="utf-8", errors="replace")
        if action == "read":
            lines = text.splitlines()
            first = max(1, start or 1)
            last = min(len(lines), end or len(lines), first + MAX_READ_LINES - 1)
            if lines and first > len(lines):
                raise ToolError(f"{path} has {len(lines)} lines; start {first} is past the end.")
            body = "\n".join(f"{n:>5}| {lines[n - 1]}" for n in range(first, last + 1))
            more = f"\n… {len(lines) - last} more lines (read with start={last + 1})." if last < len(lines) else ""
            return f"{path}, lines {first}-{last} of {len(lines)}:\n{body}{more}"
        # patch, the one action left (the schema admits no other)
        if diff is not None:
            patched = apply_unified_diff(text, diff)
        elif old is not None and new is not None:
            count = text.count(old)
            if count != 1:
                raise ToolError(f"patch: 'old' occurs {count} times in {path}; it must occur exactly once "
                                "(add surrounding text to make it unique).")
            patched = text.replace(old, new)
        else:
            raise ToolError('patch needs "old" and "new", or "diff".')
        _write(target, patched)
        return f"patched {path}: now {len(patched.splitlines())} lines."


def _write(target: Path, text: str) -> None:
    data = text.encode("utf-8")
    if len(data) > MAX_FILE_BYTES:
        raise ToolError(f"file too large ({len(data)} bytes); the limit is {MAX_FILE_BYTES} bytes.")
    target.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(target, flags, 0o666)
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)
    os.chmod(target, 0o666)  # the shell sandbox runs as another user and edits these files too


def apply_unified_diff(text: str, diff: str) -> str:
    """Applies the hunks of a unified diff; each hunk's old lines must be found in the text."""
    lines = text.splitlines()
    hunks: list[tuple[int, list[str], list[str]]] = []
    current: tuple[int, list[str], list[str]] | None = None
    for raw in diff.splitlines():
        header = _HUNK.match(raw)
        if header:
            current = (int(header.group(1)), [], [])
            hunks.append(current)
        elif current is not None and raw.startswith((" ", "-", "+")) and not raw.startswith(("---", "+++")):
            marker, body = raw[0], raw[1:]
            if marker in (" ", "-"):
                current[1].append(body)
            if marker in (" ", "+"):
                current[2].append(body)
        elif current is not None and raw == "":
            current[1].append("")
            current[2].append("")
    if not hunks:
        raise ToolError("the diff has no hunks (lines starting with '@@ -a,b +c,d @@').")
    offset = 0
    for number, (old_start, old_lines, new_lines) in enumerate(hunks, start=1):
        at = _find(lines, old_lines, max(0, old_start - 1 + offset))
        if at is None:
            raise ToolError(f"diff hunk {number} does not apply: its old lines were not found in the file.")
        lines[at:at + len(old_lines)] = new_lines
        offset += len(new_lines) - len(old_lines)
    return "\n".join(lines) + ("\n" if text.endswith("\n") or not text else "")


def _find(lines: list[str], block: list[str], hint: int) -> int | None:
    if not block:
        return min(hint, len(lines))
    candidates = sorted(range(len(lines) - len(block) + 1), key=lambda i: abs(i - hint))
    return next((i for i in candidates if lines[i:i + len(block)] == block), None)
