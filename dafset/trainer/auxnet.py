"""The auxiliary network: maps the gradient signals (u, δ) of one edited matrix to the factors of
its update, and scores how much of the past update to retain.

One network per weight shape, shared by every edited matrix of that shape; a per-matrix *mode*
index selects a learned scale and shift of the FFN pre-activation (MEND's trick). Input: the
tokens' concat(u, δ), normalised with exact running statistics (buffers, frozen in eval mode).
Each of ``n_layers`` layers does, on the tokens of the edits in flight:

1. intra-editing attention: tokens attend to the other tokens *of the same edit* (self-attention
   with a per-edit key mask); then attention pooling gives one vector r_i per edit;
2. inter-editing attention: r_i attends over the memory of earlier edits' r (this layer's) and the
   current edits j ≤ i (causal); the result is added to every token of edit i;
3. retention score: a second attention over the same keys; its diagonal entry (edit i attending to
   itself) is u_i ∈ (0, 1). Untrained it is ~1/k for the k-th edit, i.e. a running average;
4. FFN with the mode's scale/shift.

Design decisions (differences from the reference are deliberate):

* Blocks are pre-LN residual with zero-initialised output projections, so the untrained network is
  the identity on normalised (u, δ): with the explicit minus sign in the editor (see editor.py)
  training starts from normalised gradient descent. The reference uses post-LN blocks and a
  ReLU(x·scale + shift) + x mode transform, which is not the identity at initialisation.
* The retention score is trained (``train_retention=True``): the paper describes a learned
  fusion, while the reference's ``.detach()`` leaves the score attention at its random init.
  ``train_retention=False`` reproduces the reference.
* Memory holds the pooled vectors r (attention width), not full D-wide token states: the memory
  of T edits costs T · n_layers · attn_dim floats per matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from dafset.trainer.config import EditorConfig


class ExactNorm(nn.Module):
    """Per-dimension standardisation with statistics accumulated exactly (float64 sums) over every
    token seen in training mode; frozen in eval mode. (A dimension with zero variance maps to 0.)"""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("total", torch.zeros(dim, dtype=torch.float64))
        self.register_buffer("total_sq", torch.zeros(dim, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            with torch.no_grad():
                xd = x.detach().double()
                self.count += xd.shape[0]
                self.total += xd.sum(0)
                self.total_sq += (xd * xd).sum(0)
        if self.count < 1:
            raise RuntimeError("the aux-net normaliser has seen no tokens: train the editor first")
        mean = self.total / self.count
        std = (self.total_sq / self.count - mean * mean).clamp_min(0).sqrt()
        return (x - mean.to(x.dtype)) / (std.to(x.dtype) + self.eps)


def _zero(linear: nn.Linear) -> nn.Linear:
    nn.init.zeros_(linear.weight)
    nn.init.zeros_(linear.bias)
    return linear


def _heads(x: torch.Tensor, n: int) -> torch.Tensor:
    """[..., L, n·d] -> [..., n, L, d]"""
    *lead, length, width = x.shape
    return x.view(*lead, length, n, width // n).transpose(-3, -2)


def causal_keys(n: int, m: int, device: torch.device) -> torch.Tensor:
    """[n, m+n] bool: edit i sees all m memory entries and the current edits j ≤ i."""
    j = torch.arange(m + n, device=device)
    i = torch.arange(n, device=device)
    return (j[None, :] < m) | (j[None, :] - m <= i[:, None])


class IntraAttention(nn.Module):
    def __init__(self, dim: int, attn_dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * attn_dim)
        self.out = _zero(nn.Linear(attn_dim, dim))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        n, length, _ = x.shape
        q, k, v = (_heads(t, self.heads) for t in self.qkv(self.ln(x)).chunk(3, dim=-1))
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])
        return x + self.out(o.transpose(1, 2).reshape(n, length, -1))


class Pool(nn.Module):
    """Attention pooling of one edit's tokens into r_i."""

    def __init__(self, dim: int, rep_dim: int) -> None:
        super().__init__()
        self.ln = nn.LayerNorm(dim)
        self.score = nn.Sequential(nn.Linear(dim, rep_dim), nn.ReLU(), nn.Linear(rep_dim, 1))
        self.value = nn.Linear(dim, rep_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.ln(x)
        s = self.score(h).squeeze(-1).masked_fill(~mask, float("-inf"))
        return torch.einsum("nl,nlr->nr", s.softmax(-1), self.value(h))


class InterAttention(nn.Module):
    """Edits attend over [memory ; current edits], causally; output is added to their tokens."""

    def __init__(self, rep_dim: int, heads: int, dim: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln = nn.LayerNorm(rep_dim)
        self.q = nn.Linear(rep_dim, rep_dim)
        self.kv = nn.Linear(rep_dim, 2 * rep_dim)
        self.out = _zero(nn.Linear(rep_dim, dim))

    def forward(self, r: torch.Tensor, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(output to add to the tokens [n, dim], attention context [n, rep_dim])"""
        n, m = r.shape[0], memory.shape[0]
        keys = self.ln(torch.cat([memory, r]))
        q = _heads(self.q(self.ln(r)), self.heads)
        k, v = (_heads(t, self.heads) for t in self.kv(keys).chunk(2, dim=-1))
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=causal_keys(n, m, r.device))
        context = o.transpose(0, 1).reshape(n, -1)
        return self.out(context), context


class DecayGate(nn.Module):
    """fusion='decay': ρ_i ∈ (0, 1), how much of the past update survives edit i, from r_i and its
    inter-editing context. Initialised to keep almost everything (ρ ≈ 0.993, i.e. MEND's sum)."""

    def __init__(self, rep_dim: int, init_bias: float = 5.0) -> None:
        super().__init__()
        self.ln = nn.LayerNorm(rep_dim)
        self.proj = nn.Linear(rep_dim, 1)
        nn.init.normal_(self.proj.weight, std=1e-3)
        nn.init.constant_(self.proj.bias, init_bias)

    def forward(self, r: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        h = r if context is None else r + context
        return torch.sigmoid(self.proj(self.ln(h))).squeeze(-1)


class RetentionScore(nn.Module):
    """u_i = head-averaged attention weight of edit i on itself among [memory ; edits ≤ i]."""

    def __init__(self, rep_dim: int, score_dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln = nn.LayerNorm(rep_dim)
        self.q = nn.Linear(rep_dim, score_dim)
        self.k = nn.Linear(rep_dim, score_dim)

    def forward(self, r: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        n, m = r.shape[0], memory.shape[0]
        q = _heads(self.q(self.ln(r)), self.heads)  # [H, n, d]
        k = _heads(self.k(self.ln(torch.cat([memory, r]))), self.heads)  # [H, m+n, d]
        logits = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
        logits = logits.masked_fill(~causal_keys(n, m, r.device), float("-inf"))
        probs = logits.softmax(-1).mean(0)  # [n, m+n]
        return probs[torch.arange(n, device=r.device), m + torch.arange(n, device=r.device)]


class ModeFFN(nn.Module):
    """x + W2 relu((W1 LN(x)) · scale_mode + shift_mode), W2 zero-initialised."""

    def __init__(self, dim: int, ffn_dim: int, n_modes: int) -> None:
        super().__init__()
        self.ln = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, ffn_dim)
        self.fc2 = _zero(nn.Linear(ffn_dim, dim))
        self.scale = nn.Parameter(torch.ones(n_modes, ffn_dim))
        self.shift = nn.Parameter(torch.zeros(n_modes, ffn_dim))

    def forward(self, x: torch.Tensor, mode: int) -> torch.Tensor:
        h = self.fc1(self.ln(x)) * self.scale[mode] + self.shift[mode]
        return x + self.fc2(torch.relu(h))


class AuxLayer(nn.Module):
    def __init__(self, dim: int, n_modes: int, cfg: EditorConfig) -> None:
        super().__init__()
        self.rep_dim = cfg.attn_dim
        self.intra = IntraAttention(dim, cfg.attn_dim, cfg.attn_heads) if cfg.intra_attention else None
        needs_reps = cfg.inter_attention or cfg.retention
        self.pool = Pool(dim, cfg.attn_dim) if needs_reps else None
        self.inter = InterAttention(cfg.attn_dim, cfg.inter_heads, dim) if cfg.inter_attention else None
        self.retain: nn.Module | None = None
        if cfg.retention:
            self.retain = (
                RetentionScore(cfg.attn_dim, cfg.score_dim, cfg.score_heads)
                if cfg.fusion == "stick"
                else DecayGate(cfg.attn_dim)
            )
        self.ffn = ModeFFN(dim, cfg.ffn_dim, n_modes)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor, mode: int, memory: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        if self.intra is not None:
            x = self.intra(x, mask)
        r = u = None
        if self.pool is not None:
            r = self.pool(x, mask)
            mem = memory if memory is not None else r.new_zeros(0, self.rep_dim)
            context = None
            if self.inter is not None:
                delta_x, context = self.inter(r, mem)
                x = x + delta_x[:, None, :]
            if isinstance(self.retain, RetentionScore):
                u = self.retain(r, mem)
            elif isinstance(self.retain, DecayGate):
                u = self.retain(r, context)
        return self.ffn(x, mode), r, u


@dataclass
class AuxOutput:
    u: torch.Tensor  # ũ [N, d_in]
    delta: torch.Tensor  # δ̃ [N, d_out]
    reps: list[torch.Tensor] | None  # per layer, [n_edits, attn_dim]: what the memory stores
    # [n_edits] in (0, 1), averaged over layers: u_i (fusion='stick') or ρ_i (fusion='decay')
    retention: torch.Tensor | None


class AuxNet(nn.Module):
    """The auxiliary network of one weight shape (d_in, d_out), shared by ``n_modes`` matrices."""

    def __init__(self, d_in: int, d_out: int, n_modes: int, cfg: EditorConfig) -> None:
        super().__init__()
        self.d_in, self.d_out = d_in, d_out
        dim = d_in + d_out
        self.norm = ExactNorm(dim, cfg.norm_eps)  # outside the checkpointed part: it has state
        self.checkpoint = cfg.checkpoint_aux
        self.layers = nn.ModuleList(AuxLayer(dim, n_modes, cfg) for _ in range(cfg.n_layers))

    def forward(
        self,
        u: torch.Tensor,
        delta: torch.Tensor,
        lengths: torch.Tensor,
        mode: int,
        memory: list[torch.Tensor] | None = None,
    ) -> AuxOutput:
        x = self.norm(torch.cat([u, delta], dim=-1))
        sizes = lengths.tolist()
        x = nn.utils.rnn.pad_sequence(list(torch.split(x, sizes)), batch_first=True)
        mask = torch.arange(x.shape[1], device=x.device)[None, :] < lengths.to(x.device)[:, None]
        reps: list[torch.Tensor] = []
        scores: list[torch.Tensor] = []
        for i, layer in enumerate(self.layers):
            mem = memory[i] if memory else None
            if self.checkpoint and torch.is_grad_enabled():
                # keep only each layer's input for backward and recompute the rest: the D-wide
                # activations of T·tokens rows otherwise dominate training memory at large T
                x, r, s = checkpoint(layer, x, mask, mode, mem, use_reentrant=False)
            else:
                x, r, s = layer(x, mask, mode, mem)
            if r is not None:
                reps.append(r)
            if s is not None:
                scores.append(s)
        x = x[mask]  # back to [N, D], edit-major as the input rows
        return AuxOutput(
            u=x[:, : self.d_in],
            delta=x[:, self.d_in :],
            reps=reps or None,
            retention=torch.stack(scores).mean(0) if scores else None,
        )
