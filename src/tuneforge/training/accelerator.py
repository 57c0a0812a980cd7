"""The accelerate `Accelerator` of one `fit` call, safe to create many times in one process.

accelerate keeps its state in process-wide singletons: a second `Accelerator` with another
mixed precision raises "AcceleratorState has already been initialized". Search trials, federated
rounds and compression recovery all call `fit` repeatedly, so each call resets the per-run part
of that state first. The distributed part (`PartialState`: process group, rank, device) is kept:
it belongs to the process, not to the run.
"""

from __future__ import annotations

from typing import Any

import torch


def make_accelerator(precision: str, device: torch.device | None = None) -> Any:
    """A fresh Accelerator for `precision` ("fp32" or "bf16").

    Args:
        precision: the resolved training precision.
        device: force the CPU with ``torch.device("cpu")``; None lets accelerate choose (the
            local rank's GPU under torchrun, else CUDA when present, else the CPU).
    """
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=False)
    GradientState._reset_state()
    return Accelerator(
        cpu=device is not None and device.type == "cpu",
        mixed_precision="bf16" if precision == "bf16" else "no",
        step_scheduler_with_optimizer=False,
    )
