"""Seeded sampling with one random stream per row, so a case's text depends on its own seed only
(not on which other cases share its batch, nor on how many there are).

Hugging Face ``generate`` draws from one global stream for the whole batch; instead each row is
sampled with its own ``torch.Generator``: ``RowSampler`` in our decoding loop (``decode``), and
``RowSeededSampler``, the same draw as a logits processor for ``generate`` (which then runs greedy,
``do_sample=False``, and so takes exactly the token sampled here).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 0.8
    top_k: int = 50  # 0 = off
    top_p: float = 0.95  # 1.0 = off

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise ValueError("temperature must be > 0 (use a small value for near-greedy)")
        if not 0 < self.top_p <= 1:
            raise ValueError("top_p must be in (0, 1]")


def filtered_probs(scores: torch.Tensor, params: SamplingParams) -> torch.Tensor:
    """Temperature, top-k and top-p applied to [B, V] scores; returns probabilities in fp32."""
    import torch

    logits = scores.float() / params.temperature
    if params.top_k and params.top_k < logits.shape[-1]:
        kth = torch.topk(logits, params.top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if params.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        # drop a token when the tokens ranked before it already hold top_p of the mass
        drop_sorted = (cumulative - sorted_logits.softmax(-1)) >= params.top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits.softmax(-1)


def kept_candidates(scores: torch.Tensor, params: SamplingParams) -> tuple[torch.Tensor, torch.Tensor]:
    """``(token ids, probabilities)`` [B, k] of the tokens top-k/top-p keep, in vocabulary order.

    The same distribution as ``filtered_probs`` (ties at the k-th score aside), but sorting only
    the top k candidates instead of the whole vocabulary, which dominates a CPU decoding step."""
    import torch

    logits = scores.float() / params.temperature
    k = params.top_k if params.top_k and params.top_k < logits.shape[-1] else logits.shape[-1]
    values, ids = torch.topk(logits, k, dim=-1)  # sorted, highest first
    if params.top_p < 1.0:
        probs = values.softmax(-1)
        drop = (probs.cumsum(-1) - probs) >= params.top_p
        values = values.masked_fill(drop, float("-inf"))
    # vocabulary order, as in ``filtered_probs``: the inverse-CDF draw then picks the same token
    order = ids.argsort(-1)
    return ids.gather(-1, order), values.gather(-1, order).softmax(-1)


def draw(cdf: torch.Tensor, generators: Sequence[torch.Generator]) -> torch.Tensor:
    """Row i's index into its [B, n] cumulative distribution, drawn with ``generators[i]``."""
    import torch

    picks = []
    for row, gen in enumerate(generators):
        # inverse-CDF draw: a tiny change in the probabilities rarely changes the token
        u = torch.rand((1,), generator=gen, device=cdf.device).clamp(min=1e-12) * cdf[row, -1]
        picks.append(torch.searchsorted(cdf[row], u).clamp(max=cdf.shape[-1] - 1))
    return torch.cat(picks)


class RowSampler:
    """Draw row i's next token from [B, V] logits with its own generator (``decode``'s sampler);
    ``select`` keeps the generators of the rows still decoding."""

    def __init__(self, seeds: Sequence[int], params: SamplingParams, device: torch.device) -> None:
        import torch

        self.params = params
        self.generators = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        ids, probs = kept_candidates(logits, self.params)
        index = draw(probs.cumsum(-1), self.generators)
        return ids.gather(-1, index[:, None])[:, 0]

    def select(self, rows: Sequence[int]) -> RowSampler:
        kept = copy.copy(self)
        kept.generators = [self.generators[i] for i in rows]
        return kept


class RowSeededSampler:
    """A ``LogitsProcessor`` for ``model.generate`` (the reference path in benches and tests):
    row i is drawn exactly as ``RowSampler`` draws it, returned as one-hot scores."""

    def __init__(self, seeds: Sequence[int], params: SamplingParams, device: torch.device) -> None:
        import torch

        self.params = params
        self.generators = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        import torch

        ids, probs = kept_candidates(scores, self.params)
        chosen = ids.gather(-1, draw(probs.cumsum(-1), self.generators)[:, None])[:, 0]
        out = torch.full_like(scores, float("-inf"))
        out[torch.arange(len(chosen), device=scores.device), chosen] = 0.0
        return out
