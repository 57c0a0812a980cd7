"""The server's settings (`serve.yaml`): one typed schema, validated when it is loaded."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator

from tuneforge.config import Section, read_yaml_mapping
from tuneforge.errors import ConfigError
from tuneforge.monitoring import AlertConfig, DriftThresholds

# `tuneforge serve --workers N` hands the config to each uvicorn worker process through this
# variable (uvicorn starts workers from an import string, so no Python object can be passed).
CONFIG_ENV = "TUNEFORGE_SERVE_CONFIG"


class BatchingConfig(Section):
    """The micro-batcher of each loaded model version."""

    enabled: bool = True
    """False: each request runs alone (the baseline of benchmarks/serve_load.py)."""
    max_batch_size: int = Field(32, ge=1)
    """Texts gathered into one batch (from one or several requests)."""
    forward_batch_size: int = Field(16, ge=1)
    """Texts per forward pass (at most max_batch_size): a gathered batch, sorted by length, runs
    in near-equal passes of at most this many texts, so short texts are not padded to the
    longest of 32. Measured on 2,000 RT sentences with 1 thread: 32 sorted texts as two passes
    of 16 took 17% less time per text than one pass (bf16 PyTorch, 6.7 vs 8.0 ms) and 14% less
    with OpenVINO int8 (3.3 vs 3.9 ms)."""
    max_wait_ms: float = Field(5.0, ge=0)
    """How long the first request of a batch waits for company: a few ms of latency buys
    several-fold throughput under load and costs nothing when requests arrive together. Only
    after a pass that carried several requests: a lone client has nobody to wait for."""
    max_queue_texts: int = Field(1024, ge=1)
    """Texts waiting per model version; beyond this requests get 503 with Retry-After."""


class LimitsConfig(Section):
    """Request size limits (413 / 422 beyond them)."""

    max_texts_per_request: int = Field(64, ge=1)
    max_chars_per_text: int = Field(10_000, ge=1)
    max_body_bytes: int = Field(1_000_000, ge=1)


class ExplainConfig(Section):
    """POST /v1/models/{ref}/explain: attributions are tens to hundreds of forward passes per
    text, so they run in worker threads behind a small bounded queue."""

    max_concurrent: int = Field(1, ge=1)
    """Explanations computed at once (each holds a CPU core or more for seconds)."""
    max_queued: int = Field(4, ge=0)
    """Requests waiting for a slot; beyond this 503 with Retry-After."""
    max_cost_per_request: int = Field(2000, ge=1)
    """texts x n_steps (IG) or texts x samples (LIME, SHAP); beyond this 413."""


class ModelsConfig(Section):
    """Which versions are resident and how the server follows the registry."""

    poll_interval_s: float = Field(2.0, gt=0)
    """How often registry.state_token() is read to pick up pushes and promotions."""
    max_loaded_models: int = Field(4, ge=1)
    """Versions resident at once (least recently used ones are unloaded); bounds memory."""
    device: str | None = None
    """torch device for inference (default: cuda if available, else cpu)."""
    inference_threads: int | None = Field(None, ge=1)
    """CPU threads of each forward pass (PyTorch, ONNX Runtime and OpenVINO models alike);
    None: physical cores - 1 (at least 1), so one core stays with the event loop that parses
    requests, tokenises and answers. Measured on 2 cores with the load generator on the same
    machine: 1 thread gave 190 req/s batched (2 threads: 169), while lone batch-1 passes were
    faster with 2 (70 vs 54 req/s)."""


class MonitoringConfig(Section):
    """Drift monitoring of live traffic against each version's reference profile."""

    enabled: bool = True
    window_size: int = Field(500, ge=1)
    """Most recent inputs per model version compared with the reference."""
    check_every: int = Field(20, ge=1)
    """Re-compute the drift statistics after this many new inputs."""
    thresholds: DriftThresholds = Field(default_factory=DriftThresholds)
    alerts: AlertConfig = Field(default_factory=AlertConfig)


class ServeConfig(Section):
    """Everything `tuneforge serve` needs; see configs/serve/serve.yaml for a commented example."""

    host: str = "127.0.0.1"
    """Loopback by default: exposing the server is a deliberate choice (--host 0.0.0.0)."""
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(1, ge=1)
    registry: str | None = None
    """Registry folder (default $TUNEFORGE_REGISTRY, else ~/.tuneforge/registry)."""
    auth: Literal["required", "disabled"] = "required"
    default_rate_limit_per_minute: int | None = Field(600, ge=1)
    """Requests per minute for keys created without their own limit (None: unlimited)."""
    cors_origins: list[str] = Field(default_factory=list)
    """Browser origins allowed by CORS; empty (default) sends no CORS headers at all."""
    batching: BatchingConfig = Field(default_factory=BatchingConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    explain: ExplainConfig = Field(default_factory=ExplainConfig)
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("batching", mode="before")
    @classmethod
    def _batching_switch(cls, value: Any) -> Any:
        # `batching: false` is the short form of `batching: {enabled: false}`.
        return {"enabled": value} if isinstance(value, bool) else value


def load_serve_config(path: str | Path | None = None, **overrides: Any) -> ServeConfig:
    """Read and validate a serve config; keyword overrides (not None) replace top-level keys.

    Raises:
        ConfigError: the file is missing or unparsable, or a key or value is invalid.
    """
    raw: dict[str, Any] = {}
    source = "serve config"
    if path is not None:
        path = Path(path)
        source = str(path)
        if not path.is_file():
            raise ConfigError(f"Serve config {path} does not exist.")
        raw = read_yaml_mapping(path, "settings (host:, auth:, ...)")
    raw.update({key: value for key, value in overrides.items() if value is not None})
    return serve_config_from_dict(raw, source)


def serve_config_from_dict(raw: dict[str, Any], source: str = "serve config") -> ServeConfig:
    """Validate a mapping, turning pydantic errors into one ConfigError naming each bad key."""
    try:
        return ServeConfig.model_validate(raw)
    except ValidationError as exc:
        lines = [f"{source}: invalid serve config."]
        for error in exc.errors():
            location = [str(part) for part in error["loc"]]
            if error["type"] == "extra_forbidden":
                lines.append(f"  unknown key {'.'.join(location)}{_suggestion(location)}")
            else:
                lines.append(f"  {'.'.join(location)}: {error['msg']}")
        raise ConfigError("\n".join(lines)) from exc


def _suggestion(location: list[str]) -> str:
    model: type[BaseModel] = ServeConfig
    for part in location[:-1]:
        annotation = model.model_fields[part].annotation if part in model.model_fields else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return ""
        model = annotation
    close = difflib.get_close_matches(location[-1], list(model.model_fields), n=1, cutoff=0.6)
    return f" (did you mean {'.'.join([*location[:-1], close[0]])}?)" if close else ""
