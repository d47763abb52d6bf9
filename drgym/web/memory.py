"""Hands the memory a build has freed back to the system: glibc's heap and Arrow's memory pool."""

from __future__ import annotations

import ctypes
import functools
import os
import sys
from collections.abc import Callable

import pyarrow as pa

__all__ = ["fix_malloc_thresholds", "return_freed_memory"]


def return_freed_memory() -> None:
    """Gives the free pages of the C heap (glibc's `malloc_trim`) and of Arrow's memory pool back to the system.

    Both keep freed memory for later allocations. A tantivy commit frees a segment's postings, but tantivy's threads
    take their memory from other heaps: indexing 200k pages peaked ~25 MiB higher without a trim after each commit.
    Arrow's pool (mimalloc) kept ~40 MiB after the pages of a world were written, whatever their number, until the
    next Arrow allocation reused it; the index took its memory beside it.
    """
    pa.default_memory_pool().release_unused()
    malloc_trim = _libc_function("malloc_trim")
    if malloc_trim is not None:
        malloc_trim(0)


@functools.cache
def _libc_function(name: str) -> Callable[..., int] | None:
    """A function of glibc (`malloc_trim`, `mallopt`), looked up once (a `ctypes.CDLL` makes a class of its own each
    time), or None off Linux and on a C library without it (musl has neither)."""
    if not sys.platform.startswith("linux"):
        return None
    return getattr(ctypes.CDLL(None), name, None)


_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
"""`mallopt` parameters (glibc's malloc.h)."""

_INITIAL_THRESHOLD = 128 * 1024
"""glibc's mmap and trim thresholds in a process that has not yet freed a mapped block."""


def fix_malloc_thresholds() -> bool:
    """Fixes glibc's mmap and trim thresholds at their initial 128 KiB for the rest of the process; True if set.

    glibc raises its mmap threshold each time a mapped block larger than it is freed (up to 32 MiB), and its trim
    threshold to twice that: from then on blocks below it come from the heaps, and stay there once freed. An index
    committed in several segments frees large blocks at each commit, and tantivy's threads then took the next
    segments' blocks from heaps they kept: indexing 200k pages peaked ~10 MiB higher (see `SearchIndex.build`). With
    fixed thresholds each large block is mapped on its own and given back as it is freed.

    This lasts for the process (glibc has no way back to its dynamic thresholds); what it costs is a system call and
    fresh pages for each block of 128 KiB or more. Nothing is set off Linux, on a C library without `mallopt`, or when
    the process was started with its own thresholds (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_`` or
    ``GLIBC_TUNABLES`` naming ``glibc.malloc``), which are kept.
    """
    if any(os.environ.get(name) for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        return False
    if "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    mallopt = _libc_function("mallopt")
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _INITIAL_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, _INITIAL_THRESHOLD))

