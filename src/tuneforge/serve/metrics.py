"""Prometheus metrics of the server.

Each app gets its own CollectorRegistry (tests build many apps in one process). With several
uvicorn workers, set PROMETHEUS_MULTIPROC_DIR to an empty folder before starting: every worker
then writes its samples there and /metrics aggregates all of them (prometheus-client's
multiprocess mode); `tuneforge serve --workers N` creates a temporary folder when it is unset.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Seconds; from 5 ms (one short text alone) to 10 s (a queue backed up under overload).
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class ServeMetrics:
    """The counters, histograms and gauges the server updates."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.requests = Counter(
            "tuneforge_requests",
            "HTTP requests by endpoint, model, version and status code.",
            ["endpoint", "model", "version", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "tuneforge_request_latency_seconds",
            "Request latency in seconds, from arrival to response.",
            ["endpoint", "model"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.errors = Counter(
            "tuneforge_errors",
            "Error responses by error code.",
            ["code"],
            registry=registry,
        )
        self.batch_size = Histogram(
            "tuneforge_batch_size_texts",
            "Texts per forward pass.",
            ["model", "version"],
            buckets=BATCH_SIZE_BUCKETS,
            registry=registry,
        )
        self.queue_depth = Gauge(
            "tuneforge_queue_depth_texts",
            "Texts waiting in the micro-batcher queue.",
            ["model", "version"],
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.texts = Counter(
            "tuneforge_texts",
            "Texts predicted.",
            ["model", "version"],
            registry=registry,
        )
        self.predicted_classes = Counter(
            "tuneforge_predicted_class",
            "Predicted classes (labels, entity types) by model and version.",
            ["model", "version", "label"],
            registry=registry,
        )
        self.loaded_models = Gauge(
            "tuneforge_loaded_models",
            "Model versions resident in memory.",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.alerts = Counter(
            "tuneforge_alerts",
            "Monitoring alerts fired, by model and metric.",
            ["model", "metric"],
            registry=registry,
        )

    def exposition(self) -> tuple[bytes, str]:
        """The /metrics body and content type (all workers' samples in multiprocess mode)."""
        if os.environ.get(MULTIPROC_ENV):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
