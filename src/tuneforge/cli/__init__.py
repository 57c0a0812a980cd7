"""The `tuneforge` command: parse, load the config, call one function. No logic lives here.

Each module registers its commands on the root app when imported; the order of the imports is
the order of `tuneforge --help`, so they are not sorted.
"""

# isort: skip_file
from __future__ import annotations

from tuneforge.cli import runs as _runs  # noqa: F401  init, train, tune, evaluate, predict, ...
from tuneforge.cli import data as _data  # noqa: F401  data inspect / anonymize / augment
from tuneforge.cli import serving as _serving  # noqa: F401  serve, registry, keys
from tuneforge.cli import analysis as _analysis  # noqa: F401  compress, robustness, explain, ...
from tuneforge.cli import federate as _federate  # noqa: F401  federate run / coordinate / serve-site
from tuneforge.cli.app import app
from tuneforge.cli.main import main

__all__ = ["app", "main"]
