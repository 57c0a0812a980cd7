"""Checkpoints: atomic replacement, the .old fallback, and exact restore of the training state."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from tuneforge.training import checkpoint
from tuneforge.training.checkpoint import (
    existing_checkpoint,
    load_weights,
    read_loop_state,
    restore_training_state,
    save_checkpoint,
)

# A small module is enough here: these tests are about files, not about the transformer.


class _Killed(BaseException):
    """Stands for kill -9: nothing after it runs, no except-Exception clause catches it."""


def _model(value: float) -> torch.nn.Module:
    model = torch.nn.Linear(4, 3)
    torch.nn.init.constant_(model.weight, value)
    return model


def _weight(directory: Path) -> float:
    model = _model(0.0)
    load_weights(directory, model)
    return float(model.weight[0, 0].detach())


def test_checkpoint_save_and_read_back(tmp_path):
    last = tmp_path / "last"

    save_checkpoint(last, _model(1.0), {"global_step": 3})

    assert existing_checkpoint(last) == last
    assert read_loop_state(last) == {"global_step": 3}
    assert _weight(last) == 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]


def test_checkpoint_failed_save_keeps_previous(tmp_path, monkeypatch):
    last = tmp_path / "last"
    save_checkpoint(last, _model(1.0), {"global_step": 2})

    def crash_midway(model: torch.nn.Module, filename: str) -> None:
        Path(filename).write_bytes(b"half a file")  # the tmp folder exists, its weights are partial
        raise OSError("No space left on device")

    monkeypatch.setattr(checkpoint, "save_model", crash_midway)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(last, _model(2.0), {"global_step": 4})

    assert (tmp_path / "last.tmp").is_dir()
    assert existing_checkpoint(last) == last
    assert read_loop_state(last) == {"global_step": 2}
    assert _weight(last) == 1.0

    monkeypatch.undo()
    save_checkpoint(last, _model(3.0), {"global_step": 6})
    assert _weight(last) == 3.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]


def test_checkpoint_falls_back_to_old_copy(tmp_path):
    last = tmp_path / "last"
    save_checkpoint(last, _model(1.0), {"global_step": 2})
    # A crash between "last -> last.old" and "last.tmp -> last" leaves only the old copy.
    last.rename(tmp_path / "last.old")

    assert existing_checkpoint(last) == tmp_path / "last.old"
    assert _weight(existing_checkpoint(last)) == 1.0


def test_checkpoint_incomplete_folder_is_not_a_checkpoint(tmp_path):
    last = tmp_path / "last"
    save_checkpoint(last, _model(1.0), {"global_step": 2})
    shutil.copytree(last, tmp_path / "last.old")
    (last / checkpoint.STATE_FILE).unlink()

    assert existing_checkpoint(last) == tmp_path / "last.old"
    (tmp_path / "last.old" / checkpoint.WEIGHTS_FILE).unlink()
    assert existing_checkpoint(last) is None


def test_checkpoint_save_after_interrupted_swap_never_drops_the_only_copy(tmp_path, monkeypatch):
    last = tmp_path / "last"
    save_checkpoint(last, _model(1.0), {"global_step": 2})
    last.rename(tmp_path / "last.old")  # an earlier swap was interrupted: .old is the only copy
    real_rmtree = shutil.rmtree

    def rmtree_then_crash(path, *args, **kwargs):
        real_rmtree(path, *args, **kwargs)
        if Path(path).name == "last.old":
            raise _Killed  # the process dies right after deleting the old copy

    monkeypatch.setattr(checkpoint.shutil, "rmtree", rmtree_then_crash)
    with pytest.raises(_Killed):
        save_checkpoint(last, _model(2.0), {"global_step": 4})

    found = existing_checkpoint(last)
    assert found is not None, "the only complete checkpoint was deleted before its replacement"
    assert read_loop_state(found) in ({"global_step": 2}, {"global_step": 4})


def test_checkpoint_restores_optimizer_scheduler_and_rng(tmp_path):
    model = _model(1.0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 / (step + 1))
    for _ in range(3):
        model(torch.ones(2, 4)).sum().backward()
        optimizer.step()
        scheduler.step()
    save_checkpoint(tmp_path / "last", model, {"global_step": 3}, optimizer, scheduler)
    after_save = torch.rand(4)

    fresh = _model(0.0)
    fresh_optimizer = torch.optim.AdamW(fresh.parameters(), lr=0.1)
    fresh_scheduler = torch.optim.lr_scheduler.LambdaLR(
        fresh_optimizer, lambda step: 1.0 / (step + 1)
    )
    load_weights(tmp_path / "last", fresh)
    restore_training_state(tmp_path / "last", fresh_optimizer, fresh_scheduler)

    assert torch.equal(torch.rand(4), after_save)
    assert fresh_scheduler.last_epoch == 3
    assert fresh_scheduler.get_last_lr() == scheduler.get_last_lr()
    assert torch.equal(fresh.weight, model.weight)
    for name in ("exp_avg", "exp_avg_sq", "step"):
        assert torch.equal(
            fresh_optimizer.state[fresh.weight][name], optimizer.state[model.weight][name]
        )


def test_checkpoint_weights_of_another_model_are_rejected(tmp_path):
    save_checkpoint(tmp_path / "last", _model(1.0), {})

    with pytest.raises(RuntimeError, match="does not match the model"):
        load_weights(tmp_path / "last", torch.nn.Linear(4, 3, bias=False))
