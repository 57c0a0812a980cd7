"""Per-request context as plain ASGI middleware: request id, metrics and the access log line.

Plain ASGI rather than ``@app.middleware("http")``: Starlette's BaseHTTPMiddleware runs every
request through an extra task group and a streamed copy of the response. Under 32 concurrent
clients on a 2-core machine that cost a measurable share of the event loop, which shares the
CPU with the inference thread (benchmarks/serve_peers.py, docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tuneforge.serve.logs import REQUEST_ID_HEADER, log_event, request_id_from, request_id_var
from tuneforge.serve.metrics import ServeMetrics

access_logger = logging.getLogger("tuneforge.serve.access")
_REQUEST_ID_HEADER_BYTES = REQUEST_ID_HEADER.lower().encode("latin-1")


class RequestContextMiddleware:
    """Gives each HTTP request an id (the client's X-Request-ID if safe to log, else a new one),
    echoes it in the response, counts the request and its latency per route template, model and
    status, and writes one access log line (counts and lengths only, never the texts).

    Routes leave what the line reports in the request's state: ``model``, ``version``,
    ``texts``, ``characters`` and ``key_id``.
    """

    def __init__(self, app: ASGIApp, metrics: ServeMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(_header(scope, _REQUEST_ID_HEADER_BYTES))
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500  # what the client gets when the app fails before answering
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        token = request_id_var.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed_s = time.perf_counter() - started
            self._record(scope, state, request_id, status, elapsed_s)
            request_id_var.reset(token)

    def _record(
        self,
        scope: Scope,
        state: dict[str, Any],
        request_id: str,
        status: int,
        elapsed_s: float,
    ) -> None:
        route = scope.get("route")
        endpoint = getattr(route, "path", "unmatched")  # templates only: bounded label values
        model = state.get("model", "")
        version = state.get("version", "")
        self.metrics.requests.labels(endpoint, model, str(version), str(status)).inc()
        self.metrics.latency.labels(endpoint, model).observe(elapsed_s)
        log_event(
            access_logger,
            logging.INFO,
            "request",
            request_id=request_id,
            method=scope["method"],
            endpoint=endpoint,
            status=status,
            duration_ms=round(elapsed_s * 1000, 2),
            model=model or None,
            version=version or None,
            texts=state.get("texts"),
            characters=state.get("characters"),
            key_id=state.get("key_id"),
        )


def _header(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header (``name`` lower-case), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None
