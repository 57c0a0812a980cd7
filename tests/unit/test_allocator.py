"""Freed memory stays with the process: a repeated allocate-touch-free cycle, like a training
step's activations, stops faulting its pages in again."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="the thresholds are glibc's",
)

# 32 blocks of 4 MiB (like one step's activations) allocated, written and freed six times; the
# minor page faults of the last five cycles are printed.
_CYCLES = """
import ctypes, resource, sys
from tuneforge._allocator import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "keep" else None
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
def cycle():
    blocks = [libc.malloc(4 << 20) for _ in range(32)]
    for block in blocks:
        ctypes.memset(block, 1, 4 << 20)
    for block in blocks:
        libc.free(block)
cycle()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    cycle()
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str, env: dict[str, str] | None = None) -> tuple[str, int]:
    import os

    completed = subprocess.run(
        [sys.executable, "-c", _CYCLES, mode],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    )
    applied, faults = completed.stdout.split()
    return applied, int(faults)


def test_kept_memory_is_reused_without_page_faults() -> None:
    applied, kept = _faults("keep")
    _, default = _faults("default")
    pages = 5 * 32 * (4 << 20) // 4096
    assert applied == "True"
    # glibc's defaults hand the 128 MiB back every cycle and fault it in again.
    assert default > pages // 2
    assert kept < pages // 100


def test_thresholds_the_user_set_are_left_alone() -> None:
    applied, faults = _faults("keep", {"MALLOC_TRIM_THRESHOLD_": "131072"})
    assert applied == "False"
    assert faults > 5 * 32 * (4 << 20) // 4096 // 2


def test_setting_twice_is_harmless() -> None:
    from tuneforge._allocator import keep_freed_memory

    assert keep_freed_memory() is True
    assert keep_freed_memory() is True
