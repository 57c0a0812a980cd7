"""HTTP serving of registry models: FastAPI app, micro-batching, hot swap, keys, metrics.

Loads models only through `tuneforge.predict.load_predictor`; never imports the training code.
"""

from tuneforge.serve.app import create_app
from tuneforge.serve.client import ServeClientError, TuneforgeClient
from tuneforge.serve.config import ServeConfig, load_serve_config

__all__ = ["ServeClientError", "ServeConfig", "TuneforgeClient", "create_app", "load_serve_config"]
