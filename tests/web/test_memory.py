"""`drgym.web.memory.fix_malloc_thresholds`: large blocks stay mapped on their own after a large one was freed, and a
process started with its own thresholds keeps them. Each case runs in a fresh interpreter: the setting is process-wide
and for good."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or not hasattr(ctypes.CDLL(None), "mallinfo2"),
                                reason="glibc (mallopt, mallinfo2) only")

_SCRIPT = """
import ctypes, json, sys
from drgym.web.memory import fix_malloc_thresholds

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.free(libc.malloc(8 << 20))  # a mapped block freed: glibc's dynamic threshold rises to 8 MiB
fixed = fix_malloc_thresholds() if sys.argv[1] == "fix" else None
before = libc.mallinfo2().hblks
blocks = [libc.malloc(1 << 20) for _ in range(6)]
mapped = libc.mallinfo2().hblks - before
for block in blocks:
    libc.free(block)
print(json.dumps({"fixed": fixed, "mapped": mapped}))
"""


def _run(mode: str, **env: str) -> dict:
    inherited = {name: value for name, value in os.environ.items()
                 if name not in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")}
    out = subprocess.run([sys.executable, "-c", _SCRIPT, mode], capture_output=True, text=True, check=True,
                         env={**inherited, **env})
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_large_blocks_are_mapped_on_their_own_once_the_thresholds_are_fixed():
    assert _run("leave") == {"fixed": None, "mapped": 0}  # glibc's dynamic threshold: from the heap
    assert _run("fix") == {"fixed": True, "mapped": 6}


def test_a_process_started_with_its_own_threshold_keeps_it():
    assert _run("fix", MALLOC_MMAP_THRESHOLD_=str(16 << 20)) == {"fixed": False, "mapped": 0}
    assert _run("fix", GLIBC_TUNABLES="glibc.malloc.mmap_threshold=16777216") == {"fixed": False, "mapped": 0}
