"""file: write, read, patch, list and delete files in the episode's workspace, and save long tool results to
disk with a short summary (the seed's summary-aware storage). Paths never leave the workspace.

Every action takes time linear in its input: reads stream the file, listing stops at what it shows, and a
unified diff is applied in one pass over the file (hunks are located through an index of the file's lines,
with a bounded amount of comparison work). Writes count against the episode's workspace quota.
"""

from __future__ import annotations

import bisect
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Literal

from drgym.core.clipping import clip, preview
from drgym.envs.tools.base import MAX_WORKSPACE_ENTRIES, EpisodeState, Tool, ToolError, workspace_usage

__all__ = ["MAX_FILE_BYTES", "MAX_PATH_CHARS", "FileTool", "apply_unified_diff", "open_workspace_file",
           "resolve_workspace_path"]

MAX_FILE_BYTES = 1_000_000
"""Largest file the tool writes or patches, and the largest `content`, `old`, `new` or `diff` it takes."""
MAX_PATH_CHARS = 1024
"""Longest path; each folder or file name has at most 255 bytes (the usual file system limit)."""
MAX_NAME_BYTES = 255
MAX_READ_LINES = 400
MAX_READ_CHARS = 50_000
"""Longest `read` result; a longer line range is cut with a note."""
MAX_LINE_CHARS = 2_000
"""A longer line is shown cut by `read`."""
MAX_LIST_ENTRIES = 200
_PATCH_WORK_PER_LINE = 16
"""Line comparisons a diff may cost per line of file and diff: locating hunks stays linear even when their
old lines are common (blank lines, braces) and their line numbers are wrong."""
_HUNK = re.compile(r"^@@ -(\d{1,9})(?:,(\d{1,9}))? \+(\d{1,9})(?:,(\d{1,9}))? @@")


def resolve_workspace_path(workspace: Path, path: str | None) -> Path:
    """`path` inside `workspace`, or ToolError: no absolute paths, no '..', no symlink leading out."""
    if not path or not path.strip():
        raise ToolError('this action needs "path", a relative path inside the workspace such as "notes/plan.md".')
    if len(path) > MAX_PATH_CHARS:
        raise ToolError(f"a path has at most {MAX_PATH_CHARS} characters, got {len(path):,} ({preview(path, 40)}).")
    if "\x00" in path:
        raise ToolError("path contains a NUL byte.")
    relative = PurePosixPath(path.strip())
    if relative.is_absolute() or path.strip().startswith("~"):
        raise ToolError(f"absolute paths are refused ({preview(path)}); use a path inside the workspace, e.g. "
                        "'report.md'.")
    if ".." in relative.parts:
        raise ToolError(f"'..' is refused in paths ({preview(path)}); the workspace is the only place the file tool "
                        "reaches.")
    long_name = next((part for part in relative.parts if len(part.encode("utf-8", "replace")) > MAX_NAME_BYTES), None)
    if long_name is not None:
        raise ToolError(f"a file or folder name has at most {MAX_NAME_BYTES} bytes, got {preview(long_name, 40)}.")
    root = os.path.realpath(workspace)
    target = Path(root, *relative.parts)
    real = os.path.realpath(target)
    if real != root and not real.startswith(root + os.sep):
        raise ToolError(f"{preview(path)} leads outside the workspace (through a symbolic link); refused.")
    if os.path.lexists(real):
        mode = os.lstat(real).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise ToolError(f"{preview(path)} is not a regular file or folder (a device, socket or pipe); refused.")
    return Path(real)


def open_workspace_file(workspace: Path, path: str) -> BinaryIO:
    """The regular file `path` of the workspace, open for reading, reached without following a symbolic link.

    `resolve_workspace_path` checks a path, but a link swapped in after the check (by a process the agent left
    running in its shell) would be followed by a plain ``open``: here every folder on the way is opened relative to
    the one before it, and every component (folders and the file) with ``O_NOFOLLOW``, so what is opened is what
    lies inside the workspace at the moment of opening. A pipe or device is refused without blocking on it.

    Raises:
        ToolError: the path is refused, missing, a link, or not a regular file.
    """
    resolve_workspace_path(workspace, path)  # the clear refusals: absolute, '..', too long, leading out
    parts = [part for part in PurePosixPath(path.strip()).parts if part != "."]
    if not parts:
        raise ToolError(f"{preview(path)} is the workspace itself, not a file.")
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    folder = os.open(workspace, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | nofollow, dir_fd=folder)
            os.close(folder)
            folder = inner
        descriptor = os.open(parts[-1], os.O_RDONLY | os.O_NONBLOCK | nofollow, dir_fd=folder)
    except FileNotFoundError:
        raise ToolError(f"no file {preview(path)} in the workspace.") from None
    except OSError as e:  # ELOOP: a symbolic link; ENOTDIR: a file where a folder was named
        raise ToolError(f"cannot open {preview(path)}: {e.strerror or type(e).__name__} (symbolic links are not "
                        "followed).") from None
    finally:
        os.close(folder)
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise ToolError(f"{preview(path)} is not a regular file; refused.")
    return os.fdopen(descriptor, "rb")


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
            content: text to write (write, save_result), at most 1,000,000 bytes.
            start: first line to read, from 1.
            end: last line to read, inclusive.
            old: exact text to replace (patch); it must occur exactly once.
            new: replacement text (patch).
            diff: a unified diff to apply to the file (patch), as produced by `diff -u`.
        """
        for name, value in (("content", content), ("old", old), ("new", new), ("diff", diff)):
            if value is not None and len(value) > MAX_FILE_BYTES:
                raise ToolError(f'"{name}" has {len(value):,} characters; the limit is {MAX_FILE_BYTES:,}. Write '
                                "the file in parts (write, then patch), or keep it shorter.")
        try:
            return self._run(state, action, path, content, start, end, old, new, diff)
        except OSError as e:  # the file system's answer (no space, name too long, ...) is the agent's to fix
            raise ToolError(f"{action} {preview(path)} failed: {e.strerror or type(e).__name__}.") from None

    def _run(self, state: EpisodeState, action: str, path: str | None, content: str | None, start: int | None,
             end: int | None, old: str | None, new: str | None, diff: str | None) -> str:
        workspace = state.workspace
        if action == "list":
            folder = resolve_workspace_path(workspace, path) if path else Path(os.path.realpath(workspace))
            if not folder.is_dir():
                raise ToolError(f"{preview(path)} is not a folder.")
            lines, more = _listing(folder)
            text = "workspace files:\n" + ("\n".join(lines) if lines else "(none)")
            return text + (f"\n… more entries not shown (at most {MAX_LIST_ENTRIES})." if more else "")
        if action == "save_result":
            text = content if content is not None else state.last_result
            if not text:
                raise ToolError("there is no previous tool result to save; pass \"content\" to save text.")
            path = path or f"results/result-{_count_results(workspace) + 1}.md"
            target = resolve_workspace_path(workspace, path)
            _write(state, target, text)
            first = " ".join(line.strip() for line in text[:2000].splitlines() if line.strip())[:300]
            return (f"saved {len(text.splitlines())} lines ({len(text)} characters) to {path}. Summary: {first}"
                    + (" …" if len(text) > 300 else "") + f'\nRead it back with {{"action": "read", "path": "{path}"}}.')
        target = resolve_workspace_path(workspace, path)
        if action == "write":
            if content is None:
                raise ToolError('write needs "content".')
            _write(state, target, content)
            return f"wrote {len(content.splitlines())} lines to {path}."
        if not target.is_file():
            raise ToolError(f"no file {preview(path)} in the workspace" + (" (it is a folder)." if target.is_dir() else "."))
        if action == "delete":
            target.unlink()
            return f"deleted {path}."
        if action == "read":
            with open_workspace_file(workspace, path) as handle:
                return _read(handle, path, start, end)
        # patch, the one action left (the schema admits no other)
        with open_workspace_file(workspace, path) as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_FILE_BYTES:
                raise ToolError(f"{path} has {size:,} bytes; patch works on files up to {MAX_FILE_BYTES:,} bytes (use "
                                "the shell for larger ones).")
            text = handle.read(MAX_FILE_BYTES + 1).decode("utf-8", errors="replace")
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
        _write(state, target, patched)
        return f"patched {path}: now {len(patched.splitlines())} lines."


def _read(handle: BinaryIO, path: str, start: int | None, end: int | None) -> str:
    """Lines `start`..`end` of the open file, streamed: memory stays bounded whatever the file's size."""
    first = max(1, start or 1)
    if end is not None and end < first:
        raise ToolError(f"end ({preview(end)}) is before start ({first}).")
    last_wanted = first + MAX_READ_LINES - 1 if end is None else min(end, first + MAX_READ_LINES - 1)
    shown: list[str] = []
    total = 0
    for total, line in enumerate(_bounded_lines(handle), start=1):
        if first <= total <= last_wanted:
            shown.append(f"{total:>5}| {line}")
    if total and first > total:
        raise ToolError(f"{path} has {total} lines; start {preview(first)} is past the end.")
    last = min(total, last_wanted)
    more = f"\n… {total - last} more lines (read with start={last + 1})." if last < total else ""
    body = clip("\n".join(shown), MAX_READ_CHARS, what="read result")
    return f"{path}, lines {first}-{last} of {total}:\n{body}{more}"


def _bounded_lines(handle: BinaryIO) -> Iterator[str]:
    """The file's lines as text, each cut at `MAX_LINE_CHARS`, reading at most that much of a line at once."""
    limit = MAX_LINE_CHARS * 4  # UTF-8: up to 4 bytes a character
    while chunk := handle.readline(limit):
        is_cut = len(chunk) == limit and not chunk.endswith(b"\n")
        rest = chunk
        while is_cut and rest and not rest.endswith(b"\n"):  # skip the rest of an over-long line
            rest = handle.readline(limit)
        line = chunk.decode("utf-8", errors="replace").rstrip("\r\n")
        yield line[:MAX_LINE_CHARS] + " …[line cut]" if is_cut or len(line) > MAX_LINE_CHARS else line


def _listing(folder: Path) -> tuple[list[str], bool]:
    """Up to MAX_LIST_ENTRIES entries in path order (depth first, names sorted), and whether there are more.

    Walks only as far as it shows: a workspace of a million files is listed as fast as one of two hundred.
    """
    lines: list[str] = []
    stack: list[tuple[Path, list[os.DirEntry]]] = [(folder, _sorted_entries(folder))]
    while stack:
        _, entries = stack[-1]
        if not entries:
            stack.pop()
            continue
        entry = entries.pop()
        if len(lines) == MAX_LIST_ENTRIES:
            return lines, True
        relative = Path(entry.path).relative_to(folder).as_posix()
        if entry.is_dir(follow_symlinks=False):
            lines.append(f"{relative}/")
            stack.append((Path(entry.path), _sorted_entries(Path(entry.path))))
        elif entry.is_file():  # a symbolic link to a file is shown, one to a folder is not followed
            try:
                lines.append(f"{relative}  ({entry.stat().st_size} bytes)")
            except OSError:
                continue
    return lines, False


def _sorted_entries(folder: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as iterator:
            return sorted(iterator, key=lambda entry: entry.name, reverse=True)  # popped from the end: in order
    except OSError:
        return []


def _count_results(workspace: Path) -> int:
    try:
        with os.scandir(workspace / "results") as iterator:
            return sum(1 for entry in iterator if entry.name.startswith("result-"))
    except OSError:
        return 0


def _write(state: EpisodeState, target: Path, text: str) -> None:
    data = text.encode("utf-8")
    if len(data) > MAX_FILE_BYTES:
        raise ToolError(f"file too large ({len(data):,} bytes); the limit is {MAX_FILE_BYTES:,} bytes.")
    is_new = not target.is_file()
    replaced = 0 if is_new else target.stat().st_blocks * 512
    used, entries = workspace_usage(state.workspace, stop_bytes=state.quota_bytes)
    if is_new and entries >= MAX_WORKSPACE_ENTRIES:
        raise ToolError(f"the workspace holds {MAX_WORKSPACE_ENTRIES:,} files and folders, its limit; delete some "
                        "before writing new ones.")
    if used - replaced + len(data) > state.quota_bytes:
        raise ToolError(f"the workspace quota is full: {used / 2**20:.1f} MB used of {state.quota_bytes / 2**20:.0f} MB, "
                        f"and this write needs {len(data) / 2**20:.1f} MB. Delete files you no longer need.")
    target.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(target, flags, 0o666)
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)
    os.chmod(target, 0o666)  # the shell sandbox runs as another user and edits these files too


def apply_unified_diff(text: str, diff: str) -> str:
    """Applies the hunks of a unified diff in order, each after the previous one, in one pass over the text.

    A hunk's old lines are looked for at the line its header names first, then at the nearest place where
    they occur (found through an index of the file's lines, not by trying every position).
    """
    lines = text.splitlines()
    hunks = _hunks(diff)
    locator = _HunkLocator(lines, work=_PATCH_WORK_PER_LINE * (len(lines) + len(diff) // 2 + 16))
    patched: list[str] = []
    cursor = 0
    for number, (old_start, old_lines, new_lines) in enumerate(hunks, start=1):
        at = locator.find(old_lines, hint=old_start - 1, lowest=cursor)
        if at is None:
            raise ToolError(f"diff hunk {number} does not apply: its old lines were not found in the file"
                            + (" after the previous hunk." if cursor else "."))
        patched += lines[cursor:at]
        patched += new_lines
        cursor = at + len(old_lines)
    patched += lines[cursor:]
    return "\n".join(patched) + ("\n" if text.endswith("\n") or not text else "")


def _hunks(diff: str) -> list[tuple[int, list[str], list[str]]]:
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
    return hunks


class _HunkLocator:
    """Finds blocks of lines in a file near a hint, within a fixed budget of line comparisons."""

    def __init__(self, lines: list[str], *, work: int) -> None:
        self.lines = lines
        self.work = work
        self._positions: dict[str, list[int]] | None = None

    def find(self, block: list[str], *, hint: int, lowest: int) -> int | None:
        """The start of `block` at or after `lowest` nearest to `hint`, or None."""
        lines = self.lines
        hint = min(max(hint, lowest), len(lines))
        if not block:
            return hint
        if self._matches(block, hint):
            return hint
        positions = self._index()
        # anchor on the block's rarest line: the fewest candidate places to check
        anchor = min(range(len(block)), key=lambda k: len(positions.get(block[k], ())))
        places = positions.get(block[anchor], [])
        target = hint + anchor  # where the anchor line sits if the block starts at the hint
        first = bisect.bisect_left(places, lowest + anchor)
        split = bisect.bisect_left(places, target, lo=first)
        below, above = split - 1, split
        while below >= first or above < len(places):  # outward from the hint, nearest first
            if below < first or (above < len(places) and places[above] - target <= target - places[below]):
                candidate, above = places[above] - anchor, above + 1
            else:
                candidate, below = places[below] - anchor, below - 1
            if self._matches(block, candidate):
                return candidate
            if self.work <= 0:
                raise ToolError("the diff's hunks could not be placed within the search limit: give each hunk "
                                "its correct line numbers and a few lines of distinctive context.")
        return None

    def _matches(self, block: list[str], at: int) -> bool:
        self.work -= len(block)
        return at + len(block) <= len(self.lines) and self.lines[at:at + len(block)] == block

    def _index(self) -> dict[str, list[int]]:
        if self._positions is None:
            self._positions = {}
            for number, line in enumerate(self.lines):
                self._positions.setdefault(line, []).append(number)
            self.work -= len(self.lines)
        return self._positions
