"""Gradient signals (MEND's rank-1 trick): for a linear layer y = x W_io, ∂L/∂W_io = Σ_t u_t δ_tᵀ
with u_t the layer input and δ_t = ∂L/∂y_t at token t. The editor never sees ∇W, only (u, δ).

Capture is scoped: forward hooks exist only inside :func:`capture` (removed on exit, also on
error), and δ comes from ``torch.autograd.grad`` on the recorded outputs rather than from backward
hooks, so the meta-loss backward of training can never trigger a capture. Both are detached.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from dafset.trainer.data import TokenBatch
from dafset.trainer.layouts import token_grid


@dataclass
class Signals:
    """Per edited matrix, the kept token rows of u [N, d_in] and δ [N, d_out], all edits stacked;
    ``lengths[i]`` is the number of rows that belong to edit i (the same for every matrix)."""

    u: dict[str, torch.Tensor]
    delta: dict[str, torch.Tensor]
    lengths: torch.Tensor

    @staticmethod
    def cat(parts: Sequence[Signals]) -> Signals:
        names = parts[0].u.keys()
        return Signals(
            {n: torch.cat([p.u[n] for p in parts]) for n in names},
            {n: torch.cat([p.delta[n] for p in parts]) for n in names},
            torch.cat([p.lengths for p in parts]),
        )


@dataclass
class _Record:
    inputs: torch.Tensor | None = None
    output: torch.Tensor | None = None


@contextmanager
def capture(model: nn.Module, names: Sequence[str]) -> Iterator[dict[str, _Record]]:
    """Record the input and output of the named modules during forwards inside the block.

    The edited weights are made to require grad for the duration, so their outputs are part of the
    autograd graph (a frozen LM would otherwise give outputs with no graph to differentiate).
    """
    modules = dict(model.named_modules())
    records = {n: _Record() for n in names}
    handles = []
    flags = {n: modules[n].weight.requires_grad for n in names}

    def hook(name: str):
        def fn(_mod: nn.Module, args: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
            if records[name].output is not None:
                raise RuntimeError(f"{name} ran twice in one signal pass; cannot attribute δ")
            records[name].inputs = args[0]
            records[name].output = out

        return fn

    try:
        for n in names:
            modules[n].weight.requires_grad_(True)
            handles.append(modules[n].register_forward_hook(hook(n)))
        yield records
    finally:
        for h in handles:
            h.remove()
        for n in names:
            modules[n].weight.requires_grad_(flags[n])


def target_nll(logits: torch.Tensor, batch: TokenBatch, reduce: str = "sum") -> torch.Tensor:
    """NLL of the target tokens (fp32). reduce='sum' over all tokens (the signal loss, as in the
    reference), or 'mean' = mean over each sequence's target tokens, then over sequences."""
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    tgt = batch.input_ids[:, 1:]
    mask = batch.label_mask[:, 1:].float()
    nll = -logp.gather(-1, tgt.unsqueeze(-1)).squeeze(-1) * mask
    if reduce == "sum":
        return nll.sum()
    return (nll.sum(1) / mask.sum(1).clamp_min(1)).mean()


def _wide(x: torch.Tensor) -> torch.Tensor:
    """At least fp32 (a bf16 model's signals go to the fp32 aux net; float64 stays float64)."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def _kept_rows(x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """The kept token rows [N, dim] of a layer tensor, whatever its layout ([batch, seq, dim], or
    OPT's flattened [batch*seq, dim])."""
    return _wide(token_grid(x.detach(), *keep.shape)[keep])


def _row_mask(batch: TokenBatch, tokens: str) -> torch.Tensor:
    if tokens == "target":
        # positions whose logits predict a target token: t with label at t+1
        m = torch.zeros_like(batch.label_mask)
        m[:, :-1] = batch.label_mask[:, 1:]
        return m
    return batch.attention_mask.bool()  # every real token (padding has δ = 0 and is dropped)


def edit_signals(
    model: nn.Module,
    batch: TokenBatch,
    names: Sequence[str],
    tokens: str = "all",
    chunk: int = 8,
) -> Signals:
    """u and δ of the summed target NLL, for each named module, from the model as it is now."""
    parts = []
    for start in range(0, len(batch), chunk):
        sub = TokenBatch(
            batch.input_ids[start : start + chunk],
            batch.attention_mask[start : start + chunk],
            batch.label_mask[start : start + chunk],
        )
        with torch.enable_grad(), capture(model, names) as rec:
            logits = model(input_ids=sub.input_ids, attention_mask=sub.attention_mask).logits
            loss = target_nll(logits, sub, "sum")
            outs = [rec[n].output for n in names]
            grads = torch.autograd.grad(loss, outs, allow_unused=True)
            grads = [torch.zeros_like(o) if g is None else g for o, g in zip(outs, grads, strict=True)]
        keep = _row_mask(sub, tokens)
        parts.append(
            Signals(
                {n: _kept_rows(rec[n].inputs, keep) for n in names},
                {n: _kept_rows(g, keep) for n, g in zip(names, grads, strict=True)},
                keep.sum(1),
            )
        )
    return Signals.cat(parts)
