"""Data-parallel launches of `tuneforge train`: N ranks on this machine through torchrun, or N
Ray Train workers on a Ray cluster. Each rank runs the ordinary pipeline (`_distributed` tells it
its rank); `accelerate launch --cpu --num_processes N` is not used: on a CPU it silently runs a
single process.
"""

from __future__ import annotations

import os
import subprocess
import sys


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


def launch_on_ray(
    address: str,
    num_workers: int,
    config_path: str,
    overrides: list[str],
    *,
    resume: bool,
    overwrite: bool,
) -> None:
    """Run `tuneforge train` as `num_workers` Ray Train workers (TorchTrainer) on the Ray
    cluster at `address` ("local": start Ray on this machine). Ray sets the same RANK /
    WORLD_SIZE / LOCAL_WORLD_SIZE variables as torchrun and creates the process group, so each
    worker runs the ordinary pipeline: rank 0 writes, every rank trains on its shard.
    `output.dir` must be storage every worker reaches (a shared file system on a cluster).
    """
    try:
        import ray
        from ray.train import RunConfig, ScalingConfig
        from ray.train.torch import TorchTrainer
    except ImportError as exc:
        from tuneforge.errors import TuneforgeError

        raise TuneforgeError(
            "--ray-address needs Ray Train: pip install 'tuneforge[ray-train]'."
        ) from exc
    import tempfile

    import torch

    ray.init(
        address=None if address == "local" else address,
        include_dashboard=False,
        log_to_driver=True,
        configure_logging=False,
    )
    try:
        trainer = TorchTrainer(
            _ray_train_worker,
            train_loop_config={
                "config_path": config_path,
                "overrides": overrides,
                "resume": resume,
                "overwrite": overwrite,
            },
            scaling_config=ScalingConfig(
                num_workers=num_workers, use_gpu=torch.cuda.is_available()
            ),
            # Ray's own bookkeeping (not the run folder, which rank 0 writes under output.dir).
            run_config=RunConfig(storage_path=tempfile.mkdtemp(prefix="tuneforge-ray-train-")),
        )
        trainer.fit()
    finally:
        ray.shutdown()


def _ray_train_worker(settings: dict) -> None:
    from tuneforge.config import load_config
    from tuneforge.pipeline import run

    config = load_config(settings["config_path"], settings["overrides"])
    run(
        config,
        default_run_name=os.path.splitext(os.path.basename(settings["config_path"]))[0],
        resume=settings["resume"],
        overwrite=settings["overwrite"],
        show_progress=False,
    )
