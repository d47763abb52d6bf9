"""Hands the memory a build has freed back to the system: glibc's heap and Arrow's memory pool."""

from __future__ import annotations

import ctypes
import functools
import sys
from collections.abc import Callable

import pyarrow as pa

__all__ = ["return_freed_memory"]


def return_freed_memory() -> None:
    """Gives the free pages of the C heap (glibc's `malloc_trim`) and of Arrow's memory pool back to the system.

    Both keep freed memory for later allocations. A tantivy commit frees a segment's postings, but tantivy's threads
    take their memory from other heaps: indexing 200k pages peaked ~25 MiB higher without a trim after each commit.
    Arrow's pool (mimalloc) kept ~40 MiB after the pages of a world were written, whatever their number, until the
    next Arrow allocation reused it; the index took its memory beside it.
    """
    pa.default_memory_pool().release_unused()
    malloc_trim = _malloc_trim()
    if malloc_trim is not None:
        malloc_trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, looked up once (a `ctypes.CDLL` makes a class of its own each time), or None off
    Linux and on musl, which has none."""
    if not sys.platform.startswith("linux"):
        return None
    return getattr(ctypes.CDLL(None), "malloc_trim", None)
