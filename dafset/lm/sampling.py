"""Seeded sampling with one random stream per row, so a case's text depends on its own seed only
(not on which other cases share its batch, nor on how many there are).

Hugging Face ``generate`` draws from one global stream for the whole batch; instead this logits
processor samples each row with its own ``torch.Generator`` and hands back a one-hot score, and
``generate`` runs greedy (``do_sample=False``) so it takes exactly the token sampled here.
"""

from __future__ import annotations

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


class RowSeededSampler:
    """A ``LogitsProcessor``: sample row i from its own generator, return one-hot scores."""

    def __init__(self, seeds: Sequence[int], params: SamplingParams, device: torch.device) -> None:
        import torch

        self.params = params
        self.generators = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        import torch

        probs = filtered_probs(scores, self.params)
        cdf = probs.cumsum(-1)
        picks = []
        for row, gen in enumerate(self.generators):
            # inverse-CDF draw: a tiny change in the probabilities rarely changes the token
            u = torch.rand((1,), generator=gen, device=probs.device).clamp(min=1e-12) * cdf[row, -1]
            index = torch.searchsorted(cdf[row], u).clamp(max=probs.shape[-1] - 1)
            picks.append(index)
        chosen = torch.cat(picks)
        out = torch.full_like(scores, float("-inf"))
        out[torch.arange(len(chosen), device=scores.device), chosen] = 0.0
        return out
