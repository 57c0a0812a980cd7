"""Maps of a run's sentence representations: what the head sees, projected to 2-D.

The representation is the input of the classification head (for BERT, the pooled [CLS] vector),
captured with a forward pre-hook, so the map shows how the fine-tuned model separates the
classes, not how the pretrained encoder did. Points are coloured by gold label; errors are
ringed. The silhouette (Rousseeuw 1987) is computed per gold label in the full representation
space, where the head decides, not in the 2-D projection, which distorts distances.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tuneforge.errors import ExplainError, RunError
from tuneforge.explain._optional import require
from tuneforge.explain.model import ExplainModel, load_explain_model
from tuneforge.modeling import TASK_HEAD_NAMES

PROJECTIONS = ("pca", "tsne", "umap")
_BATCH = 32


def head_input_module(model: torch.nn.Module) -> torch.nn.Module:
    """The classification head (`classifier`, or `score`), peft wrappers included."""
    named = [(n, m) for n, m in model.named_modules() if n.split(".")[-1] in TASK_HEAD_NAMES]
    if not named:
        raise ExplainError("cannot find this model's classification head to read its input.")
    return min(named, key=lambda item: len(item[0]))[1]


def sentence_representations(
    model: ExplainModel, texts: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """(representations (n, hidden), logits (n, outputs)) of the texts, in order."""
    net = model.predictor.model
    if not isinstance(net, torch.nn.Module):
        raise ExplainError("embedding maps need a PyTorch run; this one is served by ONNX Runtime.")
    captured: list[torch.Tensor] = []

    def keep_input(_module: torch.nn.Module, inputs: tuple[Any, ...]) -> None:
        hidden = inputs[0].detach().float()
        captured.append(hidden[:, 0] if hidden.ndim == 3 else hidden)  # RoBERTa-style heads

    handle = head_input_module(net).register_forward_pre_hook(keep_input)
    logits = []
    try:
        with torch.no_grad():
            for start in range(0, len(texts), _BATCH):
                batch = model.tokenizer(
                    list(texts[start : start + _BATCH]),
                    truncation=True,
                    max_length=model.predictor.max_seq_length,
                    padding=True,
                    return_tensors="pt",
                )
                logits.append(net(**batch).logits.float())
    finally:
        handle.remove()
    return torch.cat(captured).numpy(), torch.cat(logits).numpy()


def project(vectors: np.ndarray, method: str, seed: int = 0) -> np.ndarray:
    """2-D coordinates by PCA, t-SNE (scikit-learn) or UMAP (umap-learn)."""
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(vectors)
    if method == "tsne":
        from sklearn.manifold import TSNE

        # perplexity must stay below the number of points (scikit-learn raises otherwise)
        perplexity = float(min(30, max(2, len(vectors) - 1) / 3))
        return TSNE(n_components=2, perplexity=perplexity, random_state=seed).fit_transform(vectors)
    if method == "umap":
        umap = require("umap", "umap-learn")
        return umap.UMAP(n_components=2, random_state=seed).fit_transform(vectors)
    raise ExplainError(f"--method {method!r}: use one of {', '.join(PROJECTIONS)}.")


def silhouette_per_label(vectors: np.ndarray, labels: Sequence[str]) -> dict[str, float]:
    """Mean silhouette of each gold label's points (and `overall`); empty with one label."""
    from sklearn.metrics import silhouette_samples

    names = sorted(set(labels))
    if len(names) < 2 or len(labels) <= len(names):
        return {}
    samples = silhouette_samples(vectors, np.asarray(labels))
    result = {name: float(samples[np.asarray(labels) == name].mean()) for name in names}
    result["overall"] = float(samples.mean())
    return result


def embed_map_command(
    run_dir: Path, method: str, split: str, output: Path | None = None
) -> list[Path]:
    """Write <split>_<method>.png, .html and .json (silhouettes) of a run's saved split."""
    from tuneforge.explain.map_html import map_page, plot_map
    from tuneforge.run.layout import EXPLANATIONS_DIR, SPLITS_DIR, read_records

    if method not in PROJECTIONS:
        raise ExplainError(f"--method {method!r}: use one of {', '.join(PROJECTIONS)}.")
    path = Path(run_dir) / SPLITS_DIR / f"{split}.jsonl"
    if not path.is_file():
        saved = sorted(p.stem for p in path.parent.glob("*.jsonl")) if path.parent.is_dir() else []
        raise RunError(
            f"{run_dir} has no saved split {split!r} ({path} is missing); a run keeps "
            f"{', '.join(saved) or 'no splits'}: --split {saved[-1] if saved else 'test'}."
        )
    records = read_records(path)
    model = load_explain_model(run_dir)
    task, names = model.predictor.task, model.output_names
    if not task.sequence_level:
        raise ExplainError(
            "embed-map draws one point per text from the head's input, and the head of this "
            f"{task.name} run reads each token: use a classification, multilabel or regression run."
        )
    texts = [record.text for record in records]
    vectors, logits = sentence_representations(model, texts)
    predictions = task.predict(logits, texts, [{}] * len(texts), names, model.predictor.metadata)
    gold = ["|".join(task.label_items(record)) or "all" for record in records]
    wrong = [
        bool(task.label_items(record)) and task.observed_classes(p) != task.label_items(record)
        for record, p in zip(records, predictions, strict=True)
    ]
    points = project(vectors, method)
    folder = output or Path(run_dir) / EXPLANATIONS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"embed_map_{split}_{method}"
    title = f"{Path(run_dir).resolve().name}: {split} split, {method}"
    silhouettes = silhouette_per_label(vectors, gold)
    summary = {
        "split": split,
        "method": method,
        "points": len(texts),
        "errors": sum(wrong),
        "silhouette": silhouettes,
    }
    stem.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    plot_map(points, gold, wrong, title, stem.with_suffix(".png"))
    page = map_page(points, gold, wrong, texts, title, silhouettes)
    stem.with_suffix(".html").write_text(page, encoding="utf-8")
    return [stem.with_suffix(suffix) for suffix in (".png", ".html", ".json")]
