"""Shared helpers of the CLI, pipeline and integration tests: tiny run configs and small real data.

Every run uses the real all-MiniLM-L6-v2 cut to one layer and 32 tokens, fp32 (bf16 autocast on
small CPU matrices is slower than fp32 and adds rounding that parity checks do not need).
"""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

TINY_MODEL = {"num_hidden_layers": 1, "max_seq_length": 32}
TINY_TRAINING = {"epochs": 1, "batch_size": 16, "learning_rate": 1e-4, "precision": "fp32"}
BBC_TOPICS = ("business", "entertainment", "politics", "sports", "tech")
# The four commonest WNUT-16 entity types (345, 213, 193 and 151 sentences with at least one).
WNUT_TYPES = ("person", "geo-loc", "other", "company")
TUNEFORGE = Path(sys.executable).parent / "tuneforge"


def tiny_config(output_dir: Path, **sections: dict[str, Any]) -> dict[str, Any]:
    """A raw config for a fast run into ``output_dir``; ``sections`` are merged over the defaults."""
    raw: dict[str, Any] = {
        "data": {"source": "builtin:bbc-news", "max_examples": 100},
        "model": dict(TINY_MODEL),
        "task": {"type": "classification"},
        "training": dict(TINY_TRAINING),
        "output": {"dir": str(output_dir), "run_name": "run"},
    }
    for name, values in sections.items():
        raw[name] = {**raw.get(name, {}), **copy.deepcopy(values)}
    return raw


def write_yaml(path: Path, raw: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def bbc_articles(bbc_news_dir: Path, per_topic: int, offset: int = 0) -> list[tuple[str, str]]:
    """(text, topic) of the first ``per_topic`` articles of each topic (files in name order)."""
    articles = []
    for topic in BBC_TOPICS:
        files = sorted((bbc_news_dir / topic).glob("*.txt"))[offset : offset + per_topic]
        for path in files:
            text = path.read_bytes().decode("utf-8", errors="replace")
            articles.append((" ".join(text.split()), topic))
    return articles


def write_bbc_csv(path: Path, bbc_news_dir: Path, per_topic: int = 20, offset: int = 0) -> Path:
    """A classification CSV (text,label) of real BBC articles."""
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(bbc_articles(bbc_news_dir, per_topic, offset))
    return path


def write_bbc_regression_csv(path: Path, bbc_news_dir: Path, per_topic: int = 24) -> Path:
    """Regression CSV: BBC article text, target = log(number of words of the article)."""
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "log_words"])
        for text, _ in bbc_articles(bbc_news_dir, per_topic):
            writer.writerow([text, f"{math.log(len(text.split())):.6f}"])
    return path


def wnut_sentences(wnut16_file: Path) -> list[list[tuple[str, str]]]:
    """Sentences of WNUT-16 as (token, tag) pairs, in file order."""
    sentences, current = [], []
    for line in wnut16_file.read_text(encoding="utf-8").split("\n"):
        columns = line.split()
        if not columns:
            if current:
                sentences.append(current)
            current = []
            continue
        current.append((columns[0], columns[-1]))
    if current:
        sentences.append(current)
    return sentences


def write_wnut_conll(
    path: Path, wnut16_file: Path, sentences: int = 150, with_entities_only: bool = False
) -> Path:
    """The first ``sentences`` sentences of WNUT-16 (or of those with an entity) as a CoNLL file
    (token<TAB>tag)."""
    chosen = [
        sentence
        for sentence in wnut_sentences(wnut16_file)
        if not with_entities_only or any(tag != "O" for _, tag in sentence)
    ]
    blocks = [
        "\n".join(f"{token}\t{tag}" for token, tag in sentence) for sentence in chosen[:sentences]
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return path


def write_wnut_multilabel_jsonl(path: Path, wnut16_file: Path, limit: int = 160) -> Path:
    """Multilabel JSONL: a WNUT-16 sentence labelled with the set of its entity types (only
    sentences with at least one entity of WNUT_TYPES)."""
    rows = []
    for sentence in wnut_sentences(wnut16_file):
        types = sorted({tag[2:] for _, tag in sentence if tag[2:] in WNUT_TYPES})
        if types:
            rows.append({"text": " ".join(token for token, _ in sentence), "labels": types})
        if len(rows) == limit:
            break
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def run_cli(
    *args: str, cwd: Path, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``tuneforge`` command offline; stdout and stderr are kept apart."""
    return subprocess.run(
        [str(TUNEFORGE), *args],
        cwd=cwd,
        env=cli_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    # A wide terminal keeps rich from wrapping messages and paths in the middle.
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "COLUMNS": "300",
        **(extra or {}),
    }


_FINISHED_RUNS: dict[str, Path] = {}


def shared_run(
    tmp_path_factory: Any, key: str, build_raw: Callable[[Path], dict[str, Any]]
) -> Path:
    """A finished run made once per test session and shared by every module that asks for
    ``key`` (tests must not change it); ``build_raw(folder)`` gives its config."""
    if key not in _FINISHED_RUNS:
        from tuneforge.config import config_from_dict
        from tuneforge.pipeline import run

        folder = tmp_path_factory.mktemp(key)
        config = config_from_dict(build_raw(folder), config_dir=str(folder))
        _FINISHED_RUNS[key] = run(config, show_progress=False).run_dir
    return _FINISHED_RUNS[key]


def bbc_run(tmp_path_factory: Any, method: str = "full") -> Path:
    """A BBC News classification run (100 examples, 5 optimizer steps) of an adaptation method."""

    def build(folder: Path) -> dict[str, Any]:
        adaptation: dict[str, Any] = {"method": method}
        if method in ("prefix", "prompt"):
            adaptation["num_virtual_tokens"] = 4  # of 32 positions: keep room for the text
        # Adapters start at (or near) the identity and need a larger step to move in 5 steps;
        # the LoRA paper and configs/classification/bbc_news_lora.yaml use 1e-3 too.
        training = {} if method == "full" else {"learning_rate": 1e-3}
        return tiny_config(folder, adaptation=adaptation, training=training)

    return shared_run(tmp_path_factory, f"bbc-{method}", build)


def learned_bbc_run(tmp_path_factory: Any) -> Path:
    """BBC News, 150 articles, 4 epochs of 15 steps at 1e-3: a model that learned (about 0.8 test
    accuracy on 5 topics), for tests that need real predictions rather than a 5-step model's."""
    training = {"epochs": 4, "batch_size": 8, "learning_rate": 1e-3}
    return shared_run(
        tmp_path_factory,
        "bbc-learned",
        lambda folder: tiny_config(folder, data={"max_examples": 150}, training=training),
    )


# One tiny run per task (100-160 real examples, one layer): shared by every test module.
def _classification(tmp_path: Path, files: dict[str, Path]) -> dict[str, Any]:
    return tiny_config(tmp_path, data={"source": "builtin:bbc-news", "max_examples": 100})


def _multilabel(tmp_path: Path, files: dict[str, Path]) -> dict[str, Any]:
    source = write_wnut_multilabel_jsonl(tmp_path / "entity_types.jsonl", files["wnut"])
    return tiny_config(
        tmp_path,
        data={"source": str(source), "label_column": "labels"},
        task={"type": "multilabel"},
        training={"learning_rate": 1e-3},
    )


def _regression(tmp_path: Path, files: dict[str, Path]) -> dict[str, Any]:
    source = write_bbc_regression_csv(tmp_path / "word_counts.csv", files["bbc"])
    return tiny_config(
        tmp_path,
        data={"source": str(source), "label_column": "log_words"},
        task={"type": "regression"},
    )


def _ner(tmp_path: Path, files: dict[str, Path]) -> dict[str, Any]:
    source = write_wnut_conll(tmp_path / "wnut.conll", files["wnut"], sentences=150)
    return tiny_config(
        tmp_path,
        data={"source": str(source)},
        task={"type": "ner"},
        training={"learning_rate": 1e-3},
    )


def learned_ner_run(tmp_path_factory: Any, wnut16_file: Path) -> Path:
    """WNUT-16, 400 sentences with entities, 5 epochs at 2e-3: a tagger that finds entities (the
    tiny NER run of a few steps tags every word O), for tests that need predicted spans."""

    def build(folder: Path) -> dict[str, Any]:
        source = write_wnut_conll(
            folder / "wnut.conll", wnut16_file, sentences=400, with_entities_only=True
        )
        return tiny_config(
            folder,
            data={"source": str(source), "max_examples": None},
            task={"type": "ner"},
            training={"epochs": 5, "batch_size": 16, "learning_rate": 2e-3},
        )

    return shared_run(tmp_path_factory, "ner-learned", build)


TASK_CONFIGS: dict[str, Callable[[Path, dict[str, Path]], dict[str, Any]]] = {
    "classification": _classification,
    "multilabel": _multilabel,
    "regression": _regression,
    "ner": _ner,
}


def task_run(factory: Any, task: str, files: dict[str, Path]) -> Path:
    """The finished tiny run of a task (classification: the shared full BBC run)."""
    if task == "classification":
        return bbc_run(factory)
    return shared_run(factory, f"task-{task}", lambda folder: TASK_CONFIGS[task](folder, files))


def checkpoint_step(run_dir: Path) -> int:
    """global_step of a run's last checkpoint; 0 while there is none (or it is being swapped)."""
    try:
        state = json.loads((run_dir / "checkpoints/last/state.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return 0
    return int(state["global_step"])


def invoke(monkeypatch: Any, capsys: Any, *args: str) -> tuple[int, str, str]:
    """Run ``tuneforge *args`` through cli.main in-process; returns (exit code, stdout, stderr)."""
    from tuneforge.cli import main

    monkeypatch.setattr(sys, "argv", ["tuneforge", *args])
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_user_error(code: int, out: str, err: str, *expected: str) -> None:
    assert code == 2, err
    assert "Traceback" not in out + err
    message = err.strip()
    assert message.startswith("error:"), message
    assert "\n\n" not in message  # one paragraph
    for text in expected:
        assert text in message, f"{text!r} not in {message!r}"
