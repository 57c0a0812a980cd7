"""How far does a typo move a sentence in word-embedding space, against the epsilon ball that
FGM/PGD/FreeLB perturb within?

    python -m benchmarks.typo_embedding_scale [--rows 500] [--fraction 0.2] [--seed 0]

On a seeded sample of the Rotten Tomatoes sentences (benchmarks/rt_sentences.py), with the
pretrained all-MiniLM-L6-v2 word embeddings (the module tuneforge's adversarial steps perturb),
one typo in `--fraction` of the words (the typos attack's edits and word limit,
tuneforge.data.noise.typo_noise). Reported:

- the l2 norm of one token's embedding and of a whole sentence's (all real tokens: the norm
  `robustness.adversarial.epsilon` is measured in for l2);
- the share of typos that change the word-piece sequence's length: such a typo is no additive
  perturbation of the same tokens at all (the sequence is re-tokenised into other pieces);
- for the typos that keep the length, the l2 distance between the two sentences' embeddings:
  the smallest epsilon whose ball would contain that typo.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def embedding_scale(texts: list[str], fraction: float, seed: int) -> dict[str, Any]:
    import torch
    from transformers import AutoModel, AutoTokenizer

    from tuneforge.data.noise import typo_noise
    from tuneforge.modeling import resolve_model_source

    source = resolve_model_source("all-MiniLM-L6-v2")
    tokenizer = AutoTokenizer.from_pretrained(source)
    weights = AutoModel.from_pretrained(source).get_input_embeddings().weight.detach()
    rng = np.random.default_rng(seed)
    token_norms, sentence_norms, distances, relative = [], [], [], []
    length_changed = 0
    with torch.no_grad():
        for text in texts:
            clean = tokenizer(text)["input_ids"]
            typo = tokenizer(typo_noise(text, fraction, rng))["input_ids"]
            embedded = weights[clean]
            token_norms.extend(embedded.norm(dim=1).tolist())
            sentence_norms.append(float(embedded.norm()))
            if len(typo) != len(clean):
                length_changed += 1
                continue
            distance = float((weights[typo] - embedded).norm())
            distances.append(distance)
            relative.append(distance / sentence_norms[-1])
    return {
        "sentences": len(texts),
        "typo_fraction_of_words": fraction,
        "token_norm_mean": float(np.mean(token_norms)),
        "sentence_norm_mean": float(np.mean(sentence_norms)),
        "length_changed_share": length_changed / len(texts),
        "same_length_distance_median": float(np.median(distances)) if distances else None,
        "same_length_distance_min": float(np.min(distances)) if distances else None,
        "same_length_relative_median": float(np.median(relative)) if relative else None,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.typo_embedding_scale")
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    import csv

    from benchmarks.rt_sentences import build_rt_sentences

    with tempfile.TemporaryDirectory() as work:
        path = build_rt_sentences(Path(work) / "rt.csv", rows=args.rows, seed=args.seed)
        with path.open(encoding="utf-8", newline="") as handle:
            texts = [row["text"] for row in csv.DictReader(handle)]
    result = embedding_scale(texts, args.fraction, args.seed)
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
