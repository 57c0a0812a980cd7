"""The FastAPI application: predict, model listing, monitoring, health, readiness and metrics.

`create_app(config)` builds the app; `app_from_env()` is the factory uvicorn workers import
(`tuneforge serve --workers N`), reading the config from $TUNEFORGE_SERVE_CONFIG.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError

from tuneforge.monitoring import AlertNotifier
from tuneforge.serve.auth import Authenticator, Caller, RateLimiter, retry_after_header
from tuneforge.serve.batching import BatcherClosedError, QueueFullError
from tuneforge.serve.config import CONFIG_ENV, ServeConfig, serve_config_from_dict
from tuneforge.serve.errors import ApiError, describe_validation_errors, install_error_handlers
from tuneforge.serve.explain import add_explain_route
from tuneforge.serve.logs import REQUEST_ID_HEADER, configure_logging
from tuneforge.serve.metrics import ServeMetrics
from tuneforge.serve.model_pool import ModelPool
from tuneforge.serve.request_context import RequestContextMiddleware
from tuneforge.serve.schemas import (
    ErrorResponse,
    Health,
    ModelInfo,
    ModelList,
    PredictRequest,
    PredictResponse,
    VersionInfo,
)

logger = logging.getLogger("tuneforge.serve")

_bearer = HTTPBearer(auto_error=False, description="An API key from `tuneforge keys create`.")
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (401, 403, 404, 413, 422, 429, 503)
}


def create_app(config: ServeConfig | None = None, registry: Any | None = None) -> FastAPI:
    """The HTTP app serving every model of the registry (opened from config.registry if None)."""
    config = config or ServeConfig()
    metrics = ServeMetrics()
    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal registry
        if registry is None:
            from tuneforge.registry import open_registry

            registry = await asyncio.to_thread(open_registry, config.registry)
        if config.auth == "disabled":
            logger.warning(
                "AUTH DISABLED: anyone who can reach %s:%s can use every model. Use "
                "`auth: required` (the default) outside a trusted network.",
                config.host,
                config.port,
            )
        notifier = AlertNotifier(config.monitoring.alerts)
        state["registry"] = registry
        state["auth"] = Authenticator(
            registry, config.auth == "required", config.default_rate_limit_per_minute
        )
        state["limiter"] = RateLimiter()
        state["pool"] = pool = ModelPool(registry, config, metrics, notifier)
        await pool.start()
        try:
            yield
        finally:
            await pool.close()
            notifier.close()

    app = FastAPI(
        title="tuneforge",
        summary="Predictions from fine-tuned tuneforge models.",
        version="1",
        lifespan=lifespan,
        responses=_ERRORS,  # type: ignore[arg-type]
    )
    app.state.metrics = metrics
    app.state.serve = state
    install_error_handlers(app, lambda code: metrics.errors.labels(code).inc())
    _install_middleware(app, config, metrics)
    _add_model_routes(app, config, state)
    _add_operational_routes(app, state, metrics)
    return app


def _install_middleware(app: FastAPI, config: ServeConfig, metrics: ServeMetrics) -> None:
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    if config.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=config.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", REQUEST_ID_HEADER],
        )


def _add_model_routes(app: FastAPI, config: ServeConfig, state: dict[str, Any]) -> None:
    limits = config.limits

    async def caller_of(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
    ) -> Caller:
        # Async with a cache check on the event loop: a sync dependency would hop to a worker
        # thread on every request; only a key not checked recently queries the registry there.
        header = f"Bearer {credentials.credentials}" if credentials else None
        auth: Authenticator = state["auth"]
        known, caller = auth.cached_caller(header)
        if not known:
            caller = await asyncio.to_thread(auth.caller, header)
        if caller is None:
            raise ApiError(
                401,
                "unauthorized",
                "missing, unknown or revoked API key: send `Authorization: Bearer <key>`",
                {"WWW-Authenticate": "Bearer"},
            )
        request.state.key_id = caller.key_id
        return caller

    def check_allowed(caller: Caller, name: str) -> None:
        if not caller.allows(name):
            raise ApiError(403, "forbidden", f"this API key may not use model {name!r}")

    async def admit(ref: str, request: Request, caller: Caller, schema: type[Any]) -> Any:
        """The checks every model route shares: key scope, rate limit, body size and the
        request's limits; returns the validated request body."""
        name = ref.partition("@")[0]
        request.state.model = name
        check_allowed(caller, name)
        if caller.key_id is not None and caller.rate_limit_per_minute is not None:
            wait_s = state["limiter"].acquire(caller.key_id, caller.rate_limit_per_minute)
            if wait_s > 0:
                raise ApiError(
                    429,
                    "rate_limited",
                    f"rate limit of {caller.rate_limit_per_minute} requests per minute exceeded",
                    {"Retry-After": retry_after_header(wait_s)},
                )
        body = await _read_body(request, limits.max_body_bytes)
        payload = _validated_request(body, limits, schema)
        request.state.texts = len(payload.inputs)
        request.state.characters = sum(len(text) for text in payload.inputs)
        return payload

    @app.post(
        "/v1/models/{ref}/predict",
        response_model=PredictResponse,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": PredictRequest.model_json_schema()}},
            }
        },
    )
    async def predict(ref: str, request: Request, caller: Caller = Depends(caller_of)) -> Any:
        """Predict texts with a model: `name`, `name@production`, `name@staging` or `name@3`."""
        name = ref.partition("@")[0]
        texts = (await admit(ref, request, caller, PredictRequest)).inputs
        predictions, version = await _predict(state["pool"], ref, texts)
        request.state.version = version
        return {
            "model": name,
            "version": version,
            "predictions": predictions,
            "request_id": request.state.request_id,
        }

    add_explain_route(app, config.explain, state, caller_of, admit)

    @app.get("/v1/models", response_model=ModelList)
    async def list_models(caller: Caller = Depends(caller_of)) -> Any:
        """The models this key may use, their versions, stages and which version each route serves."""
        pool: ModelPool = state["pool"]
        registry = state["registry"]

        def read() -> list[ModelInfo]:
            infos = []
            for name in registry.list_models():
                if not caller.allows(name):
                    continue
                versions = [
                    VersionInfo(
                        version=v.version,
                        stage=v.stage,
                        task=v.task,
                        label_names=list(v.label_names),
                        created_at=str(v.created_at),
                        loaded=(name, v.version) in pool.loaded,
                    )
                    for v in registry.versions(name)
                ]
                routes = {r: k[1] for r, k in pool.routes.items() if k[0] == name}
                infos.append(ModelInfo(name=name, versions=versions, routes=routes))
            return infos

        return ModelList(models=await asyncio.to_thread(read))

    @app.get("/v1/models/{name}/monitoring")
    async def monitoring(name: str, caller: Caller = Depends(caller_of)) -> Any:
        """Drift of live traffic against the reference profile, per loaded version, and alerts."""
        check_allowed(caller, name)
        pool: ModelPool = state["pool"]
        known = await asyncio.to_thread(state["registry"].list_models)
        if name not in known:
            raise ApiError(404, "model_not_found", f"no model named {name!r} in the registry")
        statuses = await asyncio.to_thread(lambda: [m.status() for m in pool.monitors(name)])
        return {"model": name, "versions": statuses}


async def _read_body(request: Request, max_body_bytes: int) -> bytes:
    """The request body, refused with 413 as soon as it grows past the limit."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_body_bytes:
        raise ApiError(413, "body_too_large", f"request body over {max_body_bytes} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > max_body_bytes:
            raise ApiError(413, "body_too_large", f"request body over {max_body_bytes} bytes")
    return bytes(body)


def _validated_request(body: bytes, limits: Any, schema: type[Any]) -> Any:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise ApiError(422, "invalid_json", f"the body is not valid JSON ({error})") from error
    try:
        request = schema.model_validate(payload)
        texts = request.inputs
    except ValidationError as error:
        raise ApiError(
            422, "invalid_request", describe_validation_errors(error.errors())
        ) from error
    if len(texts) > limits.max_texts_per_request:
        raise ApiError(
            413,
            "too_many_inputs",
            f"{len(texts)} texts in one request; the limit is {limits.max_texts_per_request}",
        )
    for index, text in enumerate(texts):
        if len(text) > limits.max_chars_per_text:
            raise ApiError(
                422,
                "input_too_long",
                f"inputs.{index} has {len(text)} characters; the limit is "
                f"{limits.max_chars_per_text}",
            )
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:  # lone surrogates from "\ud800" escapes
            raise ApiError(
                422, "invalid_text", f"inputs.{index} is not valid Unicode text"
            ) from error
    return request


async def _predict(pool: ModelPool, ref: str, texts: list[str]) -> tuple[list[Any], int]:
    from tuneforge.registry import RegistryError

    while True:
        try:
            loaded = await pool.acquire(ref)
        except RegistryError as error:
            raise ApiError(404, "model_not_found", str(error)) from error
        except Exception as error:  # the version exists but its files do not load
            logger.exception("cannot load %s", ref)
            raise ApiError(503, "model_unavailable", f"{ref} cannot be loaded now") from error
        try:
            return await loaded.batcher.submit(texts), loaded.version.version
        except QueueFullError as error:
            raise ApiError(
                503,
                "queue_full",
                "the model's request queue is full; retry later",
                {"Retry-After": retry_after_header(error.retry_after_s)},
            ) from error
        except BatcherClosedError:
            continue  # swapped out between acquire and submit: take the new version
        finally:
            pool.release(loaded)


def _add_operational_routes(app: FastAPI, state: dict[str, Any], metrics: ServeMetrics) -> None:
    @app.get("/healthz", response_model=Health)
    async def healthz() -> Any:
        """Liveness: the process answers."""
        return Health(status="ok", loaded_models=len(state["pool"].loaded))

    @app.get("/readyz", response_model=Health)
    async def readyz() -> Any:
        """Readiness: the default (production) version of every model is loaded."""
        pool: ModelPool = state["pool"]
        if not pool.ready:
            raise ApiError(503, "not_ready", "models are still loading")
        return Health(status="ready", loaded_models=len(pool.loaded))

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)


def app_from_env() -> FastAPI:
    """App factory for uvicorn workers: the config comes as JSON in $TUNEFORGE_SERVE_CONFIG."""
    raw = json.loads(os.environ.get(CONFIG_ENV, "{}"))
    config = serve_config_from_dict(raw, source=f"${CONFIG_ENV}")
    configure_logging(config.log_level)
    from tuneforge.serve.runner import set_inference_threads

    set_inference_threads(config)
    return create_app(config)
