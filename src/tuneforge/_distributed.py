"""Where this process stands in a data-parallel launch, and the launch itself.

`torchrun` starts one process per rank and sets RANK, WORLD_SIZE and LOCAL_WORLD_SIZE; a plain
`tuneforge train` is rank 0 of 1. accelerate then builds the process group from those variables
(gloo on CPUs, nccl on GPUs). `accelerate launch --cpu --num_processes N` is not used: on a CPU
it silently runs a single process.
"""

from __future__ import annotations

import os
import subprocess
import sys


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


def launch_data_parallel(nproc: int, tuneforge_args: list[str]) -> int:
    """Run `tuneforge <args>` as `nproc` ranks on this machine through torchrun; its exit code.

    For several machines, run torchrun on each yourself (README: "Data-parallel training").
    """
    command = [
        *(sys.executable, "-m", "torch.distributed.run", "--standalone"),
        f"--nproc-per-node={nproc}",
        *("-m", "tuneforge", *tuneforge_args),
    ]
    # torchrun sets OMP_NUM_THREADS=1 and says so; tuneforge gives each rank cores / nproc
    # threads itself (run_settings), so say nothing and let that rule.
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    return subprocess.call(command, env=env)
