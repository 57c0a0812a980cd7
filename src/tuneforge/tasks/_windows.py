"""Long texts as overlapping windows (model.long_text: chunks).

A text longer than max_seq_length is encoded whole (up to max_chunks windows), its tokens cut
into windows of max_seq_length with `overlap` tokens shared by neighbours, each window framed by
the text's own special tokens and carrying the text's label and its index ("document").
Training sees every window as an example; evaluation and prediction pool the windows' logits
back into one row per text (inference.pool_windows).

Written here, not with the fast tokenizers' return_overflowing_tokens: that path returns windows
per batch of texts with their own mapping and only for fast tokenizers, while this works on the
features any task's encode already produced (labels attached) and for every tokenizer with
plain single-sequence special tokens.
"""

from __future__ import annotations

from typing import Any

from tuneforge.data.records import Record
from tuneforge.tasks._encoding import Features, _opening_special_tokens

DOCUMENT_KEY = "document"


def covered_length(tokenizer: Any, max_seq_length: int, long_text: dict[str, Any] | None) -> int:
    """Tokens of a text (special tokens included) the model reads; the rest is cut off."""
    if not long_text:
        return max_seq_length
    special = tokenizer.num_special_tokens_to_add(pair=False)
    body = max_seq_length - special
    step = body - int(long_text["overlap"])
    return body + step * (int(long_text["max_chunks"]) - 1) + special


def encode_for_model(
    task: Any,
    records: list[Record],
    tokenizer: Any,
    names: list[str],
    max_seq_length: int,
    metadata: dict[str, Any],
    long_text: dict[str, Any] | None,
) -> list[Features]:
    """`task.encode`, or its windows when `long_text` (RunInfo.long_text) says chunks."""
    if not long_text:
        return task.encode(records, tokenizer, names, max_seq_length, metadata)
    special = tokenizer.num_special_tokens_to_add(pair=False)
    body = max_seq_length - special
    step = body - int(long_text["overlap"])
    whole = task.encode(
        records, tokenizer, names, covered_length(tokenizer, max_seq_length, long_text), metadata
    )
    opening = _opening_special_tokens(tokenizer)
    closing = special - opening
    windows: list[Features] = []
    for document, feature in enumerate(whole):
        ids = feature["input_ids"]
        # The text's own special tokens ([CLS] ... [SEP]) frame every window.
        head, tail = ids[:opening], ids[len(ids) - closing :] if closing else []
        tokens = ids[opening : len(ids) - closing] if closing else ids[opening:]
        starts = [0]
        while starts[-1] + body < len(tokens):
            starts.append(starts[-1] + step)
        for start in starts:
            framed = [*head, *tokens[start : start + body], *tail]
            window: Features = {"input_ids": framed, "attention_mask": [1] * len(framed)}
            if "token_type_ids" in feature:
                window["token_type_ids"] = [0] * len(framed)
            if "labels" in feature:
                window["labels"] = feature["labels"]
            window[DOCUMENT_KEY] = document
            windows.append(window)
    return windows
