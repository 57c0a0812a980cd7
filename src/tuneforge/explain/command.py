"""`tuneforge explain`: explain texts, a file of texts, or measure faithfulness on the test split."""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tuneforge.console import console
from tuneforge.errors import ExplainError, RunError
from tuneforge.explain.attributions import ExplainSettings, explain_texts, resolve_methods
from tuneforge.explain.model import ExplainModel, load_explain_model

REPORT_EXAMPLES = 5
"""Test texts shown in explanations/report.html after --faithfulness."""


def explain_command(
    run_dir: Path,
    texts: Sequence[str] | None = None,
    input_path: Path | None = None,
    output: Path | None = None,
    method: str | None = None,
    target: str | None = None,
    html_path: Path | None = None,
    faithfulness: bool = False,
    n: int = 200,
    settings: ExplainSettings | None = None,
    text_column: str | None = None,
) -> None:
    """What the CLI's explain command does, in one call (see `tuneforge explain --help`)."""
    settings = settings or ExplainSettings()
    given = sum([bool(texts), input_path is not None, faithfulness])
    if given != 1:
        raise ExplainError("Give one of --text (one or more), --input FILE or --faithfulness.")
    if input_path is not None and output is None:
        raise ExplainError("--input needs --output FILE.jsonl for the attributions.")
    if output is not None and output.suffix.lower() not in {".jsonl", ".ndjson"}:
        raise ExplainError(f"--output {output}: use a .jsonl file name.")
    model = load_explain_model(run_dir)
    methods = _methods(method or ("all" if faithfulness else "ig"), model)
    if faithfulness:
        _faithfulness(run_dir, model, methods, n, settings)
        return
    if input_path is not None:
        from tuneforge.run.batch_prediction import read_table, run_text_column

        column = text_column or run_text_column(run_dir)
        frame = read_table(input_path, column)
        if column not in frame.columns:
            raise ExplainError(f"{input_path}: no column {column!r}. Pass --text-column NAME.")
        texts = frame[column].fillna("").astype(str).tolist()
    results = explain_texts(model, list(texts or []), methods, target, settings, True)
    _say_what_had_no_span(results, target)
    if html_path is not None:
        from tuneforge.explain.html import write_attribution_page
        from tuneforge.explain.report import read_faithfulness

        title = f"Explanations of {Path(run_dir).resolve().name}"
        write_attribution_page(html_path, results, title, read_faithfulness(Path(run_dir)))
        console.print(f"Wrote {html_path}")
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        with output.open("w", encoding="utf-8") as handle:
            for index, result in enumerate(results):
                handle.write(json.dumps({"index": index, **result}, ensure_ascii=False) + "\n")
        console.print(f"Wrote {len(results)} explanations to {output}")
    elif input_path is None:
        sys.stdout.write(json.dumps(results, indent=2, ensure_ascii=False) + "\n")


def _say_what_had_no_span(results: list[dict[str, Any]], target: str | None) -> None:
    """NER explains predicted entity spans: a text with none (of --target's type) has nothing
    to explain, which an empty `targets` alone would leave unsaid."""
    for index, result in enumerate(results, start=1):
        entities = result["prediction"].get("entities") if "prediction" in result else None
        if entities is None or any(a["targets"] for a in result["attributions"].values()):
            continue
        found = sorted({entity["entity"] for entity in entities})
        wanted = f"no {target} span" if target not in (None, "all") else "no entity span"
        console.print(
            f"[yellow]text {index}: the model predicted {wanted}, so there is nothing to "
            f"explain (found: {', '.join(found) or 'no entities'}).[/]"
        )


def _methods(method: str, model: ExplainModel) -> list[str]:
    methods = resolve_methods(method, model)
    if method == "all" and "ig" not in methods:
        console.print(
            "[yellow]This run is served by ONNX Runtime: no gradients, so integrated gradients "
            "is skipped (LIME and SHAP only).[/]"
        )
    return methods


def _faithfulness(
    run_dir: Path, model: ExplainModel, methods: list[str], n: int, settings: ExplainSettings
) -> None:
    from tuneforge.explain.faithfulness import evaluate_faithfulness
    from tuneforge.explain.html import write_attribution_page
    from tuneforge.explain.report import faithfulness_markdown, write_faithfulness
    from tuneforge.run.layout import EXPLANATIONS_DIR, SPLITS_DIR, read_records

    if not model.predictor.task.sequence_level:
        raise ExplainError(
            "--faithfulness ranks methods on one score per text; a NER run is explained per "
            "entity span (--text or --input), and its faithfulness is not measured yet."
        )
    test_path = Path(run_dir) / SPLITS_DIR / "test.jsonl"
    if not test_path.is_file():
        raise RunError(f"{run_dir} has no {SPLITS_DIR}/test.jsonl to measure faithfulness on.")
    texts = [record.text for record in read_records(test_path)]
    # A seeded sample: the same texts on every call, spread over the whole split.
    sample = random.Random(settings.seed).sample(texts, min(n, len(texts)))
    report = evaluate_faithfulness(model, sample, methods, settings, show_progress=True)
    paths = write_faithfulness(Path(run_dir), report)
    examples = explain_texts(model, sample[:REPORT_EXAMPLES], methods, None, settings)
    write_attribution_page(
        Path(run_dir) / EXPLANATIONS_DIR / "report.html",
        examples,
        f"Explanations of {Path(run_dir).resolve().name}",
        report.to_json(),
    )
    console.print(faithfulness_markdown(report), markup=False, highlight=False, soft_wrap=True)
    console.print(f"Wrote {paths['json'].parent} (faithfulness.json, .md, deletion_curves.png)")
