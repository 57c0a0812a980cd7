"""`tuneforge evaluate`: score a finished run on its saved test split or on another labelled file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tuneforge._atomic import write_json_atomic
from tuneforge.config import config_from_dict
from tuneforge.data.quarantine import write_quarantine
from tuneforge.data.records import QuarantinedRow, Record
from tuneforge.errors import DataError, RunError
from tuneforge.run import layout
from tuneforge.tasks import get_task


def evaluate_run(run_dir: str | Path, data: str | Path | None = None) -> dict[str, Any]:
    """Metrics of a run's model on its test split, or on `data` read with the run's column settings.

    The result is also written to ``<run>/evaluation_<name>.json``.
    """
    from tuneforge.predict import load_predictor

    run_dir = Path(run_dir)
    config = finished_run_config(run_dir)
    predictor = load_predictor(run_dir, batch_size=config.evaluation.batch_size)
    name, records, skipped = labelled_records(run_dir, config, predictor.label_names, data)
    metrics = predictor.score(records, config)
    if data is not None:
        metrics["skipped_rows"] = len(skipped)
    write_json_atomic(metrics, run_dir / layout.evaluation_file(name))
    return metrics


def finished_run_config(run_dir: Path) -> Any:
    """The saved config of a finished run.

    Raises:
        RunError: the folder is not a finished run.
    """
    if not layout.is_finished(run_dir):
        raise RunError(
            f"{run_dir} is not a finished run (no metrics.json and model/): train it first."
        )
    return config_from_dict(
        yaml.safe_load((run_dir / layout.CONFIG_FILE).read_text(encoding="utf-8")),
        source=str(run_dir / layout.CONFIG_FILE),
    )


def evaluation_name(data: str | Path | None) -> str:
    """The name of an evaluation's files (layout.evaluation_file): test, or the file's stem."""
    return "test" if data is None else Path(data).stem


def labelled_records(
    run_dir: Path, config: Any, label_names: list[str], data: str | Path | None
) -> tuple[str, list[Record], list[QuarantinedRow]]:
    """(name, records, skipped rows) of the run's saved test split, or of `data` read with the
    run's column settings (its unusable rows listed in evaluation_<name>_quarantine.jsonl).

    Raises:
        DataError: nothing labelled is left.
    """
    skipped: list[QuarantinedRow] = []
    name = evaluation_name(data)
    if data is None:
        records = layout.read_records(run_dir / layout.SPLITS_DIR / "test.jsonl")
    else:
        records, skipped = _load_labelled(str(Path(data).resolve()), config, label_names)
        # Rows that cannot be scored (empty text, missing label) are listed, never dropped unseen.
        write_quarantine(skipped, run_dir / layout.evaluation_quarantine_file(name))
    if not records:
        raise DataError(f"No labelled examples to evaluate in {data or 'the saved test split'}.")
    return name, records, skipped


def _load_labelled(
    source: str, config: Any, label_names: list[str]
) -> tuple[list[Record], list[QuarantinedRow]]:
    from tuneforge.data import clean_records, load_records
    from tuneforge.data.anonymize import Anonymizer, anonymize_records
    from tuneforge.data.load import infer_format

    if infer_format(Path(source)) is not None:
        # The run's data.format named its training file (conll for a built-in token set);
        # an evaluation file of another kind is read by its own extension.
        config.data.format = "auto"
    records, skipped = load_records(source, config, role="evaluation")
    if config.data.anonymization.enabled:
        # The model learnt from anonymised text, and skipped rows land in the run folder:
        # an evaluation file gets the same treatment as the training data.
        anonymizer = Anonymizer(config.data.anonymization)
        records, skipped = anonymize_records(anonymizer, records, skipped, "evaluation")
    # Unlike training data, nothing is deduplicated: every row of an evaluation file is scored.
    config.data.cleaning.drop_duplicates = False
    config.data.cleaning.drop_conflicts = False
    config.data.cleaning.min_examples_per_class = 1
    records, removed = clean_records(records, config)
    skipped = skipped + removed
    if get_task(config.task.type).has_classes:
        known = set(label_names)
        # NER labels are one tag per token; the model has an output for each tag it knows.
        unknown = sorted(
            {
                name
                for record in records
                for name in (record.label if isinstance(record.label, tuple) else (record.label,))
                if name not in known
            }
        )
        if unknown:
            raise DataError(
                f"{source}: labels {unknown[:10]} were not seen in training (the model knows "
                f"{label_names[:20]}). Remove those rows or map them to known labels."
            )
    return records, skipped
