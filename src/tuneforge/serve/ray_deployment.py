"""Ray Serve export: the same app, config and registry, as a Ray Serve deployment.

For users who outgrow one machine: Ray places replicas across a cluster and routes to them.
Each replica runs the full app (its own micro-batchers, hot swap and monitoring), so rate
limits and monitoring windows are per replica, as with `--workers`.
"""

from __future__ import annotations

from typing import Any

from tuneforge.errors import TuneforgeError
from tuneforge.serve.config import ServeConfig

RAY_EXTRA_HINT = 'Ray Serve is not installed: pip install "tuneforge[ray]" (the `ray` extra).'


def build_ray_app(config: ServeConfig, num_replicas: int = 1) -> Any:
    """A Ray Serve application serving the tuneforge app; run it with `serve.run(app)`.

    Raises:
        TuneforgeError: ray[serve] is not installed.
    """
    try:
        from ray import serve
    except ImportError as error:
        raise TuneforgeError(RAY_EXTRA_HINT) from error

    raw = config.model_dump(mode="json")

    def build_on_replica() -> Any:
        # Built on each replica (Ray runs the app's lifespan there), so nothing heavy is pickled.
        from tuneforge.serve.app import create_app
        from tuneforge.serve.config import serve_config_from_dict

        return create_app(serve_config_from_dict(raw))

    @serve.deployment(name="tuneforge", num_replicas=num_replicas)
    @serve.ingress(build_on_replica)
    class TuneforgeDeployment:
        """One replica of the tuneforge HTTP app."""

    return TuneforgeDeployment.bind()
