"""Cassettes: every live search and fetch of an episode (request, response or error, time), one JSON line each,
appended and flushed as they happen. Replaying serves the same responses in the same order with no network."""

from __future__ import annotations

import json
import time
from collections import defaultdict, deque
from pathlib import Path
from typing import Any

from drgym.errors import LiveWebError

__all__ = ["Cassette"]


def _key(kind: str, request: dict[str, Any]) -> str:
    return json.dumps([kind, request], sort_keys=True, ensure_ascii=False)


class Cassette:
    """A recording being written (``mode="record"``) or read (``mode="replay"``)."""

    def __init__(self, path: str | Path, mode: str) -> None:
        self.path = Path(path)
        self.mode = mode
        self._queues: dict[str, deque] = defaultdict(deque)
        self._handle = None
        if mode == "replay":
            if not self.path.is_file():
                raise LiveWebError(f"replay: no cassette at {self.path} (record the episode first)")
            for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    raise LiveWebError(f"{self.path}:{number}: not a cassette entry") from None
                self._queues[_key(entry["kind"], entry["request"])].append(entry)
        elif mode == "record":
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("w", encoding="utf-8")
        else:
            raise ValueError(f"cassette mode must be record or replay, got {mode!r}")

    def append(self, kind: str, request: dict[str, Any], response: Any, error: str | None, seconds: float) -> None:
        entry = {"kind": kind, "request": request, "response": response, "error": error,
                 "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seconds": round(seconds, 4)}
        self._handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self._handle.flush()

    def take(self, kind: str, request: dict[str, Any]) -> dict[str, Any]:
        queue = self._queues.get(_key(kind, request))
        if not queue:
            raise LiveWebError(f"replay: {kind} {json.dumps(request, ensure_ascii=False)} is not in the cassette "
                               f"{self.path.name}; the episode has left the recorded path (no network in replay)")
        return queue.popleft()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
