"""Resumable checkpoints written atomically: a crash or kill -9 leaves the previous one intact.

A checkpoint is a folder: model weights (safetensors), optimizer + scheduler + RNG states, and the
loop's position and history as JSON. It is written to ``<name>.tmp`` and swapped into place with
renames, so a reader sees either the old folder or the new one, never a half-written one.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_model, save_model

WEIGHTS_FILE = "model.safetensors"
TRAINING_STATE_FILE = "training_state.pt"
STATE_FILE = "state.json"


def save_checkpoint(
    directory: Path,
    model: torch.nn.Module,
    loop_state: dict[str, Any],
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
) -> None:
    """Write model weights and, when given, everything needed to resume training exactly."""
    temporary = directory.with_name(directory.name + ".tmp")
    if temporary.exists():
        shutil.rmtree(temporary)
    temporary.mkdir(parents=True)
    save_model(model, str(temporary / WEIGHTS_FILE))
    if optimizer is not None:
        training_state = {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }
        torch.save(training_state, temporary / TRAINING_STATE_FILE)
    (temporary / STATE_FILE).write_text(json.dumps(loop_state, indent=1), encoding="utf-8")
    _fsync_folder(temporary)
    _swap_into_place(temporary, directory)


def _fsync_folder(folder: Path) -> None:
    for path in folder.iterdir():
        with path.open("rb") as handle:
            os.fsync(handle.fileno())


def _swap_into_place(temporary: Path, directory: Path) -> None:
    previous = directory.with_name(directory.name + ".old")
    if directory.exists():
        # `directory` only ever appears by a rename of a complete folder, so a stale .old can go.
        if previous.exists():
            shutil.rmtree(previous)
        directory.rename(previous)
    # Without `directory`, a .old left by an interrupted swap is the only complete copy: it is
    # deleted only once the new folder is in place.
    temporary.rename(directory)
    if previous.exists():
        shutil.rmtree(previous)


def existing_checkpoint(directory: Path) -> Path | None:
    """The complete checkpoint folder, if any (the ``.old`` copy if a swap was interrupted)."""
    for candidate in (directory, directory.with_name(directory.name + ".old")):
        if (candidate / STATE_FILE).is_file() and (candidate / WEIGHTS_FILE).is_file():
            return candidate
    return None


def read_loop_state(directory: Path) -> dict[str, Any]:
    return json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))


def load_weights(directory: Path, model: torch.nn.Module) -> None:
    missing, unexpected = load_model(model, str(directory / WEIGHTS_FILE), strict=False)
    if missing or unexpected:
        raise RuntimeError(
            f"Checkpoint {directory} does not match the model: missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]}. Was the config changed since it was written?"
        )


def restore_training_state(
    directory: Path, optimizer: torch.optim.Optimizer, scheduler: Any
) -> None:
    # weights_only=True: the file holds only tensors and plain containers, never code objects.
    training_state = torch.load(directory / TRAINING_STATE_FILE, weights_only=True)
    optimizer.load_state_dict(training_state["optimizer"])
    if scheduler is not None and training_state["scheduler"] is not None:
        scheduler.load_state_dict(training_state["scheduler"])
    torch.set_rng_state(training_state["torch_rng"])
    if training_state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(training_state["cuda_rng"])


class Checkpoints:
    """The `last/` and `best/` checkpoints of one `fit` call, written by the main process only.

    Without a folder nothing is written: the best weights are kept in memory (a copy on the
    CPU) and there is nothing to resume from.
    """

    def __init__(self, folder: Path | None, accelerator: Any) -> None:
        self.folder = folder
        self.accelerator = accelerator
        self._best_in_memory: dict[str, torch.Tensor] | None = None

    @property
    def _last(self) -> Path:
        assert self.folder is not None
        return self.folder / "last"

    @property
    def _best(self) -> Path:
        assert self.folder is not None
        return self.folder / "best"

    def clear(self) -> None:
        """Remove checkpoints an earlier run left in the folder."""
        if self.folder is None:
            return
        if self.accelerator.is_main_process:
            for name in ("last", "best"):
                for suffix in ("", ".tmp", ".old"):
                    shutil.rmtree(self.folder / f"{name}{suffix}", ignore_errors=True)
        self.accelerator.wait_for_everyone()

    def resume(self, state: Any, model: torch.nn.Module, optimizer: Any, scheduler: Any) -> Any:
        """The loop state of `last/` with weights, optimizer, scheduler and RNG restored; the
        given fresh state when there is no checkpoint yet."""
        if self.folder is None:
            raise ValueError("resume needs a checkpoint_dir: there is nothing to resume from")
        found = existing_checkpoint(self._last)
        if found is None:
            return state
        resumed = type(state)(**read_loop_state(found))
        load_weights(found, model)
        restore_training_state(found, optimizer, scheduler)
        return resumed

    def save_last(
        self, model: torch.nn.Module, loop_state: dict[str, Any], optimizer: Any, scheduler: Any
    ) -> None:
        if self.folder is None:
            return
        if self.accelerator.is_main_process:
            save_checkpoint(self._last, model, loop_state, optimizer, scheduler)
        self.accelerator.wait_for_everyone()

    def save_best(self, model: torch.nn.Module, loop_state: dict[str, Any]) -> None:
        if self.folder is None:
            self._best_in_memory = {
                name: tensor.detach().to("cpu", copy=True)
                for name, tensor in model.state_dict().items()
            }
            return
        if self.accelerator.is_main_process:
            save_checkpoint(self._best, model, loop_state)
        self.accelerator.wait_for_everyone()

    def load_best(self, model: torch.nn.Module) -> None:
        """Put the best weights seen into `model` (no-op when nothing was evaluated)."""
        if self._best_in_memory is not None:
            model.load_state_dict(self._best_in_memory)
            return
        if self.folder is None:
            return
        found = existing_checkpoint(self._best)
        if found is not None:
            load_weights(found, model)
