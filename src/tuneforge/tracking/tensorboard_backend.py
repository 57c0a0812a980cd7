"""TensorBoard tracking with torch's own SummaryWriter: scalars per step, the config and system
tags as text, the run's plots as images, and the hyper-parameters with the final metrics in the
HPARAMS view."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tuneforge.config import TrackingConfig

HPARAM_TYPES = (bool, int, float, str)


class TensorBoardTracker:
    def __init__(
        self, settings: TrackingConfig, run_dir: Path, run_name: str, tags: dict[str, str]
    ) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.log_dir = Path(settings.uri) / run_name if settings.uri else run_dir / "tensorboard"
        self.writer = SummaryWriter(log_dir=str(self.log_dir))
        self.run_id: str | None = None
        self.writer.add_text("system", _markdown_table(tags))
        self.params: dict[str, Any] = {}
        self.last: dict[str, float] = {}

    def log_params(self, params: dict[str, Any]) -> None:
        self.params.update(params)
        self.writer.add_text("config", _markdown_table(params))

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        for name, value in metrics.items():
            self.writer.add_scalar(name, value, step)
        self.last.update(metrics)
        self.writer.flush()

    def log_artifacts(self, paths: list[Path]) -> None:
        """PNGs as images and Markdown as text; TensorBoard has no place for other files."""
        import matplotlib.image

        for path in paths:
            if path.suffix == ".png":
                image = matplotlib.image.imread(path)
                self.writer.add_image(path.stem, image, dataformats="HWC")
            elif path.suffix == ".md":
                self.writer.add_text(path.stem, path.read_text(encoding="utf-8"))

    def log_model(self, run_dir: Path) -> None:
        """TensorBoard holds no models: the run folder's model/ is the artifact."""
        self.writer.add_text("model", f"Saved in {run_dir / 'model'}")

    def end(self, status: str) -> None:
        hparams = {k: v for k, v in self.params.items() if isinstance(v, HPARAM_TYPES)}
        final = {f"final/{name}": value for name, value in self.last.items()}
        if final:
            self.writer.add_hparams(hparams, final, run_name=".")
        self.writer.add_text("status", status)
        self.writer.close()


def _markdown_table(values: dict[str, Any]) -> str:
    rows = "\n".join(f"| {key} | {value} |" for key, value in values.items())
    return f"| key | value |\n|---|---|\n{rows}"
