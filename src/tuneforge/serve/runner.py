"""Start uvicorn with the app: one process, or N worker processes sharing the port."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

from tuneforge.serve.config import CONFIG_ENV, ServeConfig
from tuneforge.serve.logs import configure_logging
from tuneforge.serve.metrics import MULTIPROC_ENV

logger = logging.getLogger("tuneforge.serve")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def inference_threads(config: ServeConfig) -> int:
    """Threads of each forward pass (see ModelsConfig.inference_threads)."""
    from tuneforge.inference import physical_cores

    return config.models.inference_threads or max(1, physical_cores() - 1)


def set_inference_threads(config: ServeConfig) -> int:
    """Threads for torch's forward passes in this server process (see ModelsConfig)."""
    import torch

    threads = inference_threads(config)
    torch.set_num_threads(threads)
    return threads


def run_server(config: ServeConfig) -> None:
    """Serve until interrupted.

    With `workers > 1` uvicorn starts that many processes from the import string of the app
    factory; the config travels to them as JSON in $TUNEFORGE_SERVE_CONFIG, and Prometheus
    samples are shared through $PROMETHEUS_MULTIPROC_DIR (a fresh temporary folder if unset).
    """
    import uvicorn

    if config.registry is not None:  # workers may start in another folder: pin the path
        config = config.model_copy(update={"registry": str(Path(config.registry).resolve())})
    configure_logging(config.log_level)
    if config.host not in LOOPBACK_HOSTS:
        logger.warning(
            "listening on %s: the server is reachable from other machines (keys %s)",
            config.host,
            "required" if config.auth == "required" else "DISABLED",
        )
    options = {"host": config.host, "port": config.port, "log_config": None}
    if config.workers == 1:
        from tuneforge.serve.app import create_app

        set_inference_threads(config)
        uvicorn.run(create_app(config), **options)
        return
    os.environ[CONFIG_ENV] = json.dumps(config.model_dump(mode="json"))
    if not os.environ.get(MULTIPROC_ENV):
        os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="tuneforge-prometheus-")
    uvicorn.run("tuneforge.serve.app:app_from_env", factory=True, workers=config.workers, **options)
