"""Losses and token-level metrics, all over the target (answer) positions of a TokenBatch.

Position convention: ``label_mask[b, t]`` marks target token t, predicted by the logits at t-1.
Everything is computed in fp32 whatever the model's dtype (bf16 KL underflows).
"""

from __future__ import annotations

import torch

from dafset.trainer.data import TokenBatch


def _shifted(logits: torch.Tensor, batch: TokenBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return logits[:, :-1].float(), batch.input_ids[:, 1:], batch.label_mask[:, 1:]


def seq_nll(logits: torch.Tensor, batch: TokenBatch) -> torch.Tensor:
    """Per sequence, the mean NLL of its target tokens: [B]."""
    logits, tgt, mask = _shifted(logits, batch)
    nll = -torch.log_softmax(logits, -1).gather(-1, tgt.unsqueeze(-1)).squeeze(-1)
    m = mask.float()
    return (nll * m).sum(1) / m.sum(1).clamp_min(1)


def answer_logits(logits: torch.Tensor, batch: TokenBatch) -> torch.Tensor:
    """The logits that predict target tokens, stacked: [n_target_tokens, vocab] (fp32)."""
    logits, _, mask = _shifted(logits, batch)
    return logits[mask]


def kl_pre_post(pre: torch.Tensor, post: torch.Tensor) -> torch.Tensor:
    """Σ over rows of KL(p_pre ‖ p_post), from [rows, vocab] logits (fp32); the caller averages."""
    lp_pre = torch.log_softmax(pre.float(), -1)
    lp_post = torch.log_softmax(post.float(), -1)
    return (lp_pre.exp() * (lp_pre - lp_post)).sum()


def target_predictions(logits: torch.Tensor, batch: TokenBatch) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per sequence, (argmax predictions, gold tokens) at its target positions (teacher forcing)."""
    logits, tgt, mask = _shifted(logits, batch)
    pred = logits.argmax(-1)
    return [(pred[i][mask[i]].cpu(), tgt[i][mask[i]].cpu()) for i in range(len(batch))]
