"""benchmarks/bf16_weights_step.py's contender does what it claims: the fp32 masters take the
same AdamW step as an fp32 model given the same gradients, and the bf16 weights follow them."""

from __future__ import annotations

import copy

import torch

from benchmarks.bf16_weights_step import bf16_with_masters, master_step


def test_master_step_updates_fp32_masters_and_copies_them_into_bf16_weights() -> None:
    torch.manual_seed(0)
    reference = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    model = copy.deepcopy(reference)
    optimizer, masters = bf16_with_masters(model, lr=1e-2)
    assert all(p.dtype == torch.bfloat16 for p in model.parameters())
    assert all(m.dtype == torch.float32 for m in masters)
    # The same (bf16-representable) gradients on both: the fp32 model's AdamW step is the
    # masters' step, exactly.
    gradients = [torch.randn_like(p).bfloat16() for p in reference.parameters()]
    for param, gradient in zip(model.parameters(), gradients, strict=True):
        param.grad = gradient.clone()
    master_step(model, optimizer, masters)
    reference_optimizer = torch.optim.AdamW(reference.parameters(), lr=1e-2, foreach=True)
    for param, gradient in zip(reference.parameters(), gradients, strict=True):
        param.grad = gradient.float()
    torch.nn.utils.clip_grad_norm_(reference.parameters(), 1.0)
    reference_optimizer.step()
    for master, expected, weight in zip(
        masters, reference.parameters(), model.parameters(), strict=True
    ):
        assert torch.equal(master.detach(), expected.detach())
        assert torch.equal(weight.detach(), expected.detach().bfloat16())
        assert weight.grad is None and master.grad is None
