"""`UnicodeText` observations in the shared memory of ``gymnasium.vector.AsyncVectorEnv``.

Gymnasium stores a `Text` space's strings in shared memory as indices into the space's charset, so any character
outside it (web text, ``=``) failed with ``KeyError``. A `UnicodeText` slot holds the string's length and its code
points (UTF-32, lone surrogates kept), ``max_length + 1`` 32-bit integers per environment: the 4 bytes per character
a `Text` slot takes too. The vector env reads its observations object once, at construction, and returns it
(deep-copied by default) after every step: so the read gives a live view, `SharedTexts`, whose deep copy is a tuple
of the strings written last. Registered when `drgym.envs` is imported, which every process that builds the
environment (the vector env's workers included) does first.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np
from gymnasium.vector.utils import create_shared_memory, read_from_shared_memory, write_to_shared_memory

from drgym.envs.research_env import UnicodeText

__all__ = ["SharedTexts"]

_ENCODING = "utf-32-le"


def _slots(space: UnicodeText, shared_memory: Any) -> np.ndarray:
    return np.frombuffer(shared_memory.get_obj(), dtype=np.uint32).reshape(-1, space.max_length + 1)


@create_shared_memory.register(UnicodeText)
def _create(space: UnicodeText, n: int = 1, ctx: ModuleType = mp) -> Any:
    return ctx.Array(np.dtype(np.uint32).char, n * (space.max_length + 1))


@write_to_shared_memory.register(UnicodeText)
def _write(space: UnicodeText, index: int, value: str, shared_memory: Any) -> None:
    if not space.contains(value):
        raise ValueError(f"observation of type {type(value).__name__} and length "
                         f"{len(value) if isinstance(value, str) else '?'} is not in {space!r}")
    code_points = np.frombuffer(value.encode(_ENCODING, errors="surrogatepass"), dtype=np.uint32)
    slot = _slots(space, shared_memory)[index]
    slot[0] = len(code_points)
    slot[1:1 + len(code_points)] = code_points


class SharedTexts(Sequence[str]):
    """The strings of `n` environments' shared-memory slots, decoded on access: always the latest written."""

    def __init__(self, space: UnicodeText, shared_memory: Any, n: int) -> None:
        self._slots = _slots(space, shared_memory)[:n]

    def __len__(self) -> int:
        return len(self._slots)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return tuple(self)[index]
        slot = self._slots[index]
        return slot[1:1 + int(slot[0])].tobytes().decode(_ENCODING, errors="surrogatepass")

    def __deepcopy__(self, memo: dict[int, Any]) -> tuple[str, ...]:
        return tuple(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and tuple(self) == tuple(other)

    def __repr__(self) -> str:
        return f"SharedTexts({tuple(self)!r})"


@read_from_shared_memory.register(UnicodeText)
def _read(space: UnicodeText, shared_memory: Any, n: int = 1) -> SharedTexts:
    return SharedTexts(space, shared_memory, n)
