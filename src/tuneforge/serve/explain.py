"""POST /v1/models/{ref}/explain: word attributions from a served model.

Explaining costs tens to hundreds of forward passes per text (IG: n_steps; LIME and SHAP:
samples), so it never runs on the event loop: requests take one of `max_concurrent` worker
slots (asyncio.to_thread behind a semaphore) and at most `max_queued` wait for one; the rest get
503 with Retry-After. A request over `max_cost_per_request` (texts x steps) gets 413 before any
work. Captum hooks the embedding layer while it runs, so IG uses a private copy of the served
model: predictions running beside it in the micro-batcher never see the hook.
"""

from __future__ import annotations

import asyncio
import copy
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from fastapi import Depends, FastAPI, Request

from tuneforge.errors import TuneforgeError
from tuneforge.serve.auth import retry_after_header
from tuneforge.serve.config import ExplainConfig
from tuneforge.serve.errors import ApiError
from tuneforge.serve.schemas import ExplainRequest, ExplainResponse

_RETRY_AFTER_S = 5.0
_CACHED_MODELS = 2  # explain copies kept (each one a model's weights in memory)


class ExplainSlots:
    """A semaphore with a bounded waiting line: `enter` refuses instead of queueing forever."""

    def __init__(self, config: ExplainConfig) -> None:
        self._semaphore = asyncio.Semaphore(config.max_concurrent)
        self._limit = config.max_concurrent + config.max_queued
        self._admitted = 0

    async def run(self, work: Callable[[], Any]) -> Any:
        if self._admitted >= self._limit:
            raise ApiError(
                503,
                "explain_queue_full",
                "too many explanations in progress; retry later",
                {"Retry-After": retry_after_header(_RETRY_AFTER_S)},
            )
        self._admitted += 1
        try:
            async with self._semaphore:
                return await asyncio.to_thread(work)
        finally:
            self._admitted -= 1


def request_cost(payload: ExplainRequest) -> int:
    """Model evaluations the request asks for, roughly: texts x steps (or samples)."""
    per_text = payload.n_steps if payload.method == "ig" else payload.samples
    return len(payload.inputs) * per_text


def add_explain_route(
    app: FastAPI,
    config: ExplainConfig,
    state: dict[str, Any],
    caller_of: Callable[..., Any],
    admit: Callable[..., Any],
) -> None:
    """Register the explain route with the same key, rate and size checks as predict."""
    slots = ExplainSlots(config)
    models: OrderedDict[Any, Any] = OrderedDict()
    lock = threading.Lock()

    def explain_model(loaded: Any) -> Any:
        from tuneforge.explain import ExplainModel

        with lock:  # worker threads share the cache
            if loaded.key not in models:
                predictor = copy.copy(loaded.predictor)
                if hasattr(predictor.model, "parameters"):  # PyTorch (ONNX sessions: shared)
                    predictor.model = copy.deepcopy(predictor.model)
                models[loaded.key] = ExplainModel(
                    predictor=predictor, model_dir=loaded.version.artifact_dir
                )
                while len(models) > _CACHED_MODELS:
                    models.popitem(last=False)
            models.move_to_end(loaded.key)
            return models[loaded.key]

    @app.post(
        "/v1/models/{ref}/explain",
        response_model=ExplainResponse,
        openapi_extra={  # the body is read by `admit` (size-limited), not by FastAPI
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ExplainRequest.model_json_schema()}},
            }
        },
    )
    async def explain(ref: str, request: Request, caller: Any = Depends(caller_of)) -> Any:
        """Word attributions (ig, lime or shap) of texts, for the predicted label by default."""
        from tuneforge.explain import ExplainSettings, explain_texts
        from tuneforge.registry import RegistryError

        payload: ExplainRequest = await admit(ref, request, caller, ExplainRequest)
        cost = request_cost(payload)
        if cost > config.max_cost_per_request:
            raise ApiError(
                413,
                "explain_too_costly",
                f"{len(payload.inputs)} texts x {cost // max(1, len(payload.inputs))} steps = "
                f"{cost}; the limit per request is {config.max_cost_per_request}",
            )
        pool = state["pool"]
        try:
            loaded = await pool.acquire(ref)
        except RegistryError as error:
            raise ApiError(404, "model_not_found", str(error)) from error
        request.state.version = loaded.version.version
        settings = ExplainSettings(
            n_steps=payload.n_steps, lime_samples=payload.samples, shap_max_evals=payload.samples
        )

        def work() -> list[dict[str, Any]]:
            model = explain_model(loaded)
            return explain_texts(model, payload.inputs, [payload.method], payload.target, settings)

        try:
            explanations = await slots.run(work)
        except TuneforgeError as error:  # ONNX model and IG, unknown target, NER
            raise ApiError(422, "cannot_explain", str(error)) from error
        finally:
            pool.release(loaded)
        return {
            "model": ref.partition("@")[0],
            "version": loaded.version.version,
            "method": payload.method,
            "explanations": explanations,
            "request_id": request.state.request_id,
        }
