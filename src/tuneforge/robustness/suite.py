"""`tuneforge robustness <run>`: attack a finished run's classifier on its test split (or a
labelled file) and write the report into the run folder.

The model is loaded through the public `tuneforge.predict.load_predictor`, like a server
would: the suite never imports the training loop (a layer test checks it).
"""

from __future__ import annotations

import zlib
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tuneforge.console import CountedProgress
from tuneforge.errors import ConfigError, RunError
from tuneforge.robustness.attacks import (
    ATTACK_VERSIONS,
    ATTACKS,
    DEFAULT_ATTACKS,
    AttackSucceeded,
    BudgetExhausted,
    Oracle,
)


@dataclass(frozen=True)
class SuiteSettings:
    """What the suite runs and under which limits."""

    attacks: tuple[str, ...] = DEFAULT_ATTACKS
    budget: int = 100
    """Model queries per example and attack at most."""
    max_words_fraction: float = 0.2
    """Share of an example's words an attack may change (at least one word)."""
    seed: int = 0
    max_examples: int | None = 200
    """Attack a seeded sample of this many examples (None: all); attacks cost budget x examples."""

    def check(self) -> None:
        """Raises ConfigError naming the option that is wrong."""
        unknown = [name for name in self.attacks if name not in ATTACKS]
        if unknown or not self.attacks:
            raise ConfigError(
                f"--attack: unknown attack {', '.join(unknown) or '(none given)'}; choose from "
                f"{', '.join(ATTACKS)}."
            )
        if self.budget < 1:
            raise ConfigError(
                f"--budget must be at least 1 model query per example (got {self.budget})."
            )
        if not 0.0 < self.max_words_fraction <= 1.0:
            raise ConfigError(
                f"--max-words-fraction must be in (0, 1] (got {self.max_words_fraction})."
            )
        if self.max_examples is not None and self.max_examples < 1:
            raise ConfigError(f"--max-examples must be at least 1 (got {self.max_examples}).")


def run_robustness(
    run_dir: str | Path,
    settings: SuiteSettings | None = None,
    data: str | Path | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Attack the run's model, write robustness/ (json, md, png) and the model card section.

    Raises:
        ConfigError: an unknown attack or a budget below one query.
        RunError: not a finished run, or its task is not single-label classification.
    """
    from tuneforge.predict import load_predictor
    from tuneforge.robustness.report import build_report, write_report
    from tuneforge.run.evaluation import finished_run_config, labelled_records

    settings = settings or SuiteSettings()
    settings.check()
    run_dir = Path(run_dir)
    config = finished_run_config(run_dir)
    predictor = load_predictor(run_dir, batch_size=config.evaluation.batch_size)
    task = predictor.task
    names = predictor.label_names
    if task.class_probabilities(np.zeros((1, len(names)))) is None:
        detail = "" if task.sequence_level else " (it labels every token)"
        raise RunError(
            f"{run_dir}: the robustness attacks flip the one class a classifier picks per "
            f"text; the {task.name} task{detail} does not pick one class per text. Attack a "
            "classification run."
        )
    name, records, _ = labelled_records(run_dir, config, names, data)
    records = _sample(records, settings)
    texts = [record.text for record in records]
    labels = np.array([names.index(str(record.label)) for record in records])

    def probabilities_of(batch: list[str]) -> np.ndarray:
        unlabelled = [task.unlabelled_record(text, i) for i, text in enumerate(batch)]
        return task.class_probabilities(predictor.logits(unlabelled)[0])

    clean = probabilities_of(texts)
    correct = clean.argmax(axis=1) == labels
    results = {
        attack: _attack_all(
            attack, texts, labels, clean, correct, probabilities_of, settings, show_progress
        )
        for attack in settings.attacks
    }
    report = build_report(name, names, labels, correct, results, settings, ATTACK_VERSIONS, texts)
    write_report(run_dir, report)
    return report


def _sample(records: list[Any], settings: SuiteSettings) -> list[Any]:
    if settings.max_examples is None or len(records) <= settings.max_examples:
        return records
    rng = np.random.default_rng(settings.seed)
    keep = np.sort(rng.choice(len(records), size=settings.max_examples, replace=False))
    return [records[i] for i in keep]


def _attack_all(
    attack_name: str,
    texts: list[str],
    labels: np.ndarray,
    clean: np.ndarray,
    correct: np.ndarray,
    probabilities_of: Any,
    settings: SuiteSettings,
    show_progress: bool,
) -> list[dict[str, Any] | None]:
    """One result per example: None where the model was already wrong (nothing to attack)."""
    from tuneforge.data.noise import word_spans, words_to_change

    attack = ATTACKS[attack_name]()
    results: list[dict[str, Any] | None] = []
    with CountedProgress(attack_name, int(correct.sum()), show_progress) as bar:
        for index, text in enumerate(texts):
            if not correct[index]:
                results.append(None)
                continue
            words = len(word_spans(text))
            oracle = Oracle(
                probabilities_of,
                text,
                int(labels[index]),
                settings.budget,
                words_to_change(words, settings.max_words_fraction),
            )
            # Seeded per example and attack: a result does not depend on the examples before it.
            rng = np.random.default_rng([settings.seed, index, zlib.crc32(attack_name.encode())])
            with suppress(AttackSucceeded, BudgetExhausted):
                attack(text, clean[index], oracle, rng)
            results.append(
                {
                    "success": oracle.flipped_to is not None,
                    "perturbed": oracle.best_text,
                    "predicted": oracle.flipped_to,
                    "words_changed": oracle.best_words_changed,
                    "words": words,
                    "queries": oracle.queries,
                }
            )
            bar.advance()
    return results
