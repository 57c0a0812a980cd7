"""The server process sizes torch's thread pool: one core stays with the event loop."""

from __future__ import annotations

import torch

from tuneforge.inference import physical_cores
from tuneforge.serve.config import ServeConfig
from tuneforge.serve.runner import set_inference_threads


def test_runner_inference_threads_default_leaves_a_core_for_the_event_loop() -> None:
    before = torch.get_num_threads()
    try:
        assert set_inference_threads(ServeConfig()) == max(1, physical_cores() - 1)
        assert torch.get_num_threads() == max(1, physical_cores() - 1)
        assert set_inference_threads(ServeConfig(models={"inference_threads": 3})) == 3
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
