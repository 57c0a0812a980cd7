"""Request and response bodies of the HTTP API (they also make the OpenAPI spec)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class PredictRequest(BaseModel):
    """Texts to predict; one prediction per text comes back, in the same order."""

    model_config = ConfigDict(extra="forbid")

    inputs: list[str] = Field(
        description="Raw texts (limits: texts per request, characters per text)."
    )


class PredictResponse(BaseModel):
    model: str
    version: int
    predictions: list[dict[str, Any]] = Field(
        description="Per text, as Predictor.predict returns it: classification "
        "{label, score, probabilities}, multilabel {labels, probabilities}, regression {value}, "
        "NER {tokens, tags, entities: [{entity, text, start, end, score}]} (character offsets)."
    )
    request_id: str


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


class VersionInfo(BaseModel):
    version: int
    stage: str | None
    task: str
    label_names: list[str]
    created_at: str
    loaded: bool


class ModelInfo(BaseModel):
    name: str
    versions: list[VersionInfo]
    routes: dict[str, int] = Field(
        description='Which version "name", "name@production" and "name@staging" serve.'
    )


class ModelList(BaseModel):
    models: list[ModelInfo]


class Health(BaseModel):
    status: str
    loaded_models: int = 0
