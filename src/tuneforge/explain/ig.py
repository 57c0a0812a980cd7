"""Integrated gradients (Sundararajan et al. 2017) over the word-embedding layer, with Captum.

The baseline is the same sequence with every real token replaced by [PAD] and [CLS]/[SEP] kept,
so the path only changes what the words contribute (the common choice for BERT, e.g. Captum's
BERT tutorial). Attributions explain the target's *logit*: softmax saturates, and completeness
(attributions sum to logit(x) - logit(baseline)) is what the convergence delta checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from tuneforge.explain._optional import require
from tuneforge.explain.model import ExplainModel
from tuneforge.explain.words import EncodedText


@dataclass(frozen=True)
class TokenAttribution:
    """Scores per token (special tokens included) and IG's completeness error."""

    token_scores: np.ndarray
    convergence_delta: float


def integrated_gradients(
    model: ExplainModel,
    encoded: EncodedText,
    target: int,
    n_steps: int = 50,
    internal_batch_size: int = 16,
    outputs: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> TokenAttribution:
    """IG of the target's logit (or of `outputs(logits)[:, target]`) with respect to each
    token's word embedding.

    Args:
        n_steps: Riemann steps along the path (Gauss-Legendre in Captum); 50 keeps the delta
            small on BERT-size models (Sundararajan et al. suggest 20-300).
        internal_batch_size: path points per forward pass; bounds memory, not the result.
        outputs: maps the model's logits to the explained outputs, differentiably (NER: one
            score per entity span, explain/entities.py); None explains the logits themselves.
    """
    captum_attr = require("captum.attr", "captum")
    net = model.differentiable()
    input_ids = torch.tensor([encoded.input_ids], dtype=torch.long)
    special = torch.tensor([[word is None for word in encoded.word_of_token]])
    pad_token_id = model.tokenizer.pad_token_id or 0
    baseline = torch.where(special, input_ids, torch.full_like(input_ids, pad_token_id))
    attention_mask = torch.ones_like(input_ids)

    def target_logits(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        logits = net(input_ids=ids, attention_mask=mask).logits.float()
        return logits if outputs is None else outputs(logits)

    explainer = captum_attr.LayerIntegratedGradients(target_logits, net.get_input_embeddings())
    attributions, delta = explainer.attribute(
        input_ids,
        baselines=baseline,
        target=target,
        additional_forward_args=(attention_mask,),
        n_steps=n_steps,
        internal_batch_size=internal_batch_size,
        return_convergence_delta=True,
    )
    token_scores = attributions.sum(dim=-1)[0].detach().double().numpy()
    return TokenAttribution(token_scores=token_scores, convergence_delta=float(delta.abs().max()))
