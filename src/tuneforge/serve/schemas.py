"""Request and response bodies of the HTTP API (they also make the OpenAPI spec)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class PredictRequest(BaseModel):
    """Texts to predict; one prediction per text comes back, in the same order."""

    model_config = ConfigDict(extra="forbid")

    inputs: list[str] = Field(
        description="Raw texts (limits: texts per request, characters per text)."
    )


class ExplainRequest(BaseModel):
    """Texts to explain with one attribution method; word scores come back per text."""

    model_config = ConfigDict(extra="forbid")

    inputs: list[str] = Field(
        description="Raw texts (limits: texts per request, characters per text)."
    )
    method: Literal["ig", "lime", "shap"] = "ig"
    target: str | None = Field(
        None,
        description="The label to explain; default the predicted one; `all`: every label. "
        "NER runs: an entity type; default every predicted entity span.",
    )
    n_steps: int = Field(50, ge=1, le=1000, description="Integrated-gradients steps.")
    samples: int = Field(
        200, ge=10, le=5000, description="LIME perturbed texts or SHAP model calls per text."
    )


class ExplainResponse(BaseModel):
    model: str
    version: int
    method: str
    explanations: list[dict[str, Any]] = Field(
        description="Per text: text (as the model reads it), prediction, words, spans and "
        "attributions[method].targets[label] = one score per word. NER: prediction is the "
        "entities found, each with a key, and targets[key] explains that entity span."
    )
    request_id: str


class PredictResponse(BaseModel):
    model: str
    version: int
    predictions: list[dict[str, Any]] = Field(
        description="Per text, as Predictor.predict returns it: classification "
        "{label, score, probabilities}, multilabel {labels, probabilities}, regression {value}, "
        "NER {tokens, tags, entities: [{entity, text, start, end, score}], words_read, "
        "truncated} (character offsets; words past the model's window are not read and tagged "
        "O, truncated says so)."
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
