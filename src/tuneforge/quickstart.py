"""`tuneforge quickstart`: the whole product on built-in data and model, offline, in minutes."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from tuneforge.config import config_from_dict
from tuneforge.console import console

# BBC News topics are recognisable from an article's opening lines, so 64 tokens and one epoch
# already give a strong model on two CPU cores (measured in the README); configs/classification/
# bbc_news.yaml is the full-length recipe.
QUICKSTART_CONFIG = {
    "data": {"source": "builtin:bbc-news", "split": {"validation_ratio": 0.1, "test_ratio": 0.1}},
    "model": {"name": "all-MiniLM-L6-v2", "max_seq_length": 64},
    "adaptation": {"method": "full"},
    "training": {"epochs": 2, "batch_size": 16, "learning_rate": 1e-4, "warmup_ratio": 0.1},
    "output": {"run_name": "quickstart"},
}

EXAMPLE_SENTENCES = [
    "The central bank raised interest rates as inflation hit a ten-year high.",
    "The striker scored twice in the second half to win the cup final.",
    "The new smartphone has a faster chip and a better camera.",
    "The film won three awards at the festival, including best actress.",
    "The prime minister faces a vote in parliament over the new bill.",
]


def run_quickstart(output_dir: Path = Path("runs")) -> Path:
    from tuneforge.pipeline import run
    from tuneforge.predict import load_predictor

    raw = {**QUICKSTART_CONFIG, "output": {**QUICKSTART_CONFIG["output"], "dir": str(output_dir)}}
    config = config_from_dict(raw, source="quickstart")
    result = run(config, overwrite=True)
    predictor = load_predictor(result.run_dir)
    table = Table(title="Predictions of the fine-tuned model")
    table.add_column("text")
    table.add_column("topic")
    table.add_column("score", justify="right")
    for text, prediction in zip(
        EXAMPLE_SENTENCES, predictor.predict(EXAMPLE_SENTENCES), strict=True
    ):
        table.add_row(text, prediction["label"], f"{prediction['score']:.3f}")
    console.print(table)
    console.print(
        f"Next: tuneforge evaluate {result.run_dir} · "
        f'tuneforge predict {result.run_dir} --text "..."'
    )
    return result.run_dir
