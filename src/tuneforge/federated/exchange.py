"""What travels between the sites and the server: the trainable parameters only (LoRA or
bottleneck adapters and the task head), or every weight on request (`federated.exchange`)."""

from __future__ import annotations

from typing import Literal

import torch

Exchange = Literal["adapters", "full"]


def exchanged_names(model: torch.nn.Module, exchange: Exchange) -> list[str]:
    """State-dict keys a round sends: the parameters that train (adapters + head), or the whole
    state dict. Frozen base weights never change, so every site already holds them."""
    if exchange == "full":
        return list(model.state_dict())
    return [name for name, parameter in model.named_parameters() if parameter.requires_grad]


def exchanged_state(model: torch.nn.Module, names: list[str]) -> dict[str, torch.Tensor]:
    """Copies (on the CPU) of the named tensors, ready for a Flower ArrayRecord."""
    state = model.state_dict()
    return {name: state[name].detach().to("cpu", copy=True).contiguous() for name in names}


def load_exchanged(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Overwrite the model's tensors named in `state` (the rest stays as loaded).

    Raises:
        ValueError: a name the model does not have (the sites and the server built different
            models: another base model, adaptation method or label set).
    """
    own = model.state_dict()
    unknown = sorted(set(state) - set(own))
    if unknown:
        raise ValueError(
            f"received {len(unknown)} tensor(s) this model does not have (e.g. {unknown[0]}): "
            "the server and the sites must use the same model, adaptation and labels"
        )
    with torch.no_grad():
        for name, tensor in state.items():
            own[name].copy_(tensor.to(own[name].device, own[name].dtype))
