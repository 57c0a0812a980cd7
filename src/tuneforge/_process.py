"""Process-wide settings a run needs, set at the entry points and restored afterwards.

A library caller (a notebook, a search running many trials) must get its process back as it
was: the thread count and the environment are put back when the run returns or fails. The one
setting that stays is malloc's (see _allocator.py: glibc cannot go back, and it only keeps freed
memory for reuse).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

from tuneforge._allocator import keep_freed_memory
from tuneforge._distributed import local_world_size
from tuneforge.inference import physical_cores


@contextlib.contextmanager
def run_settings(num_threads: int | None) -> Iterator[None]:
    """One torch thread per physical core (hyper-threads only add contention to GEMM kernels),
    shared out among the ranks of a data-parallel launch on this machine, unless `num_threads`
    is given; the fast tokenizer's own thread pool off (it warns, and can deadlock, once a
    process forks), unless the caller set TOKENIZERS_PARALLELISM; freed memory kept for reuse
    instead of being faulted in again every training step (_allocator.py)."""
    keep_freed_memory()
    previous_threads = torch.get_num_threads()
    previous_env = os.environ.get("TOKENIZERS_PARALLELISM")
    if previous_env is None:
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
    torch.set_num_threads(num_threads or max(1, physical_cores() // local_world_size()))
    try:
        yield
    finally:
        torch.set_num_threads(previous_threads)
        if previous_env is None:
            os.environ.pop("TOKENIZERS_PARALLELISM", None)
