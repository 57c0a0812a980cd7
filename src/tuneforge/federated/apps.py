"""The Flower app of the deployment runtime, as the app's pyproject.toml names it
(`tuneforge.federated.apps:server_app`, `:client_app`).

Flower imports this module in the processes its SuperLink and SuperNodes start, after
FLWR_TELEMETRY_ENABLED=0 is in their environment. The ServerApp reads the run folder from the
run config; the ClientApp reads the site's config file and name from the SuperNode's node
config (`serve-site` sets both) and prepares the site's data once per process.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

from flwr.app import Context, Message
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp

server_app = ServerApp()
client_app = ClientApp()


@server_app.main()
def main(grid: Grid, context: Context) -> None:
    from tuneforge.federated.deployment import coordinate_rounds

    coordinate_rounds(grid, context)


@client_app.train()
def train(msg: Message, context: Context) -> Message:
    return _handle(msg, context)


@client_app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    return _handle(msg, context)


def _handle(msg: Message, context: Context) -> Message:
    from tuneforge._process import run_settings

    try:
        app, threads = _site_app(
            str(context.node_config["config"]), str(context.node_config["site-name"])
        )
        with run_settings(threads):
            return app(msg, context)
    except Exception as error:
        from tuneforge.federated.deployment import SITE_FAILURE_MARK

        # Flower answers the coordinator with an error and writes the traceback to the
        # SuperNode's log, which only `serve-site` reads: this line is what it shows the site.
        print(f"{SITE_FAILURE_MARK}{type(error).__name__}: {error}", file=sys.stderr, flush=True)
        raise


@functools.cache
def _site_app(config_file: str, name: str) -> tuple[Any, int | None]:
    """The simulation's ClientApp (or its SecAgg+ one) serving this site (-1: the server numbers
    deployed sites)."""
    from tuneforge.config import load_config
    from tuneforge.federated.client import build_client_app
    from tuneforge.federated.sites import deployed_site

    config = load_config(config_file)
    site = deployed_site(config, name)
    if config.federated.secure_aggregation:
        from tuneforge.federated.secure import build_secure_client_app

        # A legacy ClientApp under secaggplus_mod, called with the same messages and context
        # (the mod keeps its key-exchange state in context.state between messages).
        app = build_secure_client_app(lambda context: (-1, site), config)
    else:
        app = build_client_app(
            lambda context: (-1, site), config, clip_updates=config.federated.privacy is not None
        )
    return app, config.training.num_threads
