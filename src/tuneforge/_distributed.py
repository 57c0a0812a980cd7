"""Where this process stands in a data-parallel launch (launch.py starts one).

`torchrun` (and Ray Train) start one process per rank and set RANK, WORLD_SIZE and
LOCAL_WORLD_SIZE; a plain `tuneforge train` is rank 0 of 1. accelerate then builds the process
group from those variables (gloo on CPUs, nccl on GPUs).
"""

from __future__ import annotations

import os


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def local_world_size() -> int:
    """Processes of this launch on this machine (they share its cores)."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")))


def is_main_process() -> bool:
    """Rank 0 (or the only process): the one that writes run files, logs and tracks."""
    return int(os.environ.get("RANK", "0")) == 0


def barrier() -> None:
    """Wait until every rank reaches this point (no-op in a single process)."""
    if world_size() <= 1:
        return
    import torch
    from accelerate import PartialState

    PartialState(cpu=not torch.cuda.is_available()).wait_for_everyone()
