"""Weight layouts: one place that knows GPT-2's ``Conv1D`` stores W as [in, out] and ``nn.Linear``
stores it as [out, in].

Everything else in the trainer works in the *io* orientation, y = x @ W_io (+ b), with W_io of
shape [d_in, d_out]; only these helpers convert to and from a module's stored weight. Getting this
wrong is a silent transposition bug (square matrices hide it), hence one tested helper.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from typing import Literal

import torch
from torch import nn

Layout = Literal["conv1d", "linear"]


def layout_of(module: nn.Module) -> Layout:
    """'conv1d' for transformers' Conv1D (weight [in, out]); 'linear' for nn.Linear ([out, in])."""
    if isinstance(module, nn.Linear):
        return "linear"
    if type(module).__name__ == "Conv1D" and hasattr(module, "nf"):
        return "conv1d"
    raise TypeError(f"cannot edit a {type(module).__name__}: only nn.Linear and Conv1D are supported")


def io_shape(module: nn.Module) -> tuple[int, int]:
    """(d_in, d_out) of a linear map, whatever its storage layout."""
    w = module.weight
    return (w.shape[0], w.shape[1]) if layout_of(module) == "conv1d" else (w.shape[1], w.shape[0])


def to_weight_layout(delta_io: torch.Tensor, layout: Layout) -> torch.Tensor:
    """An [in, out] matrix in the module's storage layout."""
    return delta_io if layout == "conv1d" else delta_io.transpose(-1, -2)


def from_weight_layout(weight: torch.Tensor, layout: Layout) -> torch.Tensor:
    """A module's stored weight (or its gradient) in io orientation, [in, out]."""
    return weight if layout == "conv1d" else weight.transpose(-1, -2)


def rank1_sum(u: torch.Tensor, delta: torch.Tensor, layout: Layout) -> torch.Tensor:
    """Σ_t u_t δ_tᵀ arranged like the module's weight: this is exactly ∂L/∂W.

    u: [tokens, d_in] layer inputs; delta: [tokens, d_out] output gradients.
    """
    grad_io = u.transpose(0, 1) @ delta  # [d_in, d_out]
    return to_weight_layout(grad_io, layout)


@torch.no_grad()
def add_to_weight(module: nn.Module, delta_io: torch.Tensor) -> None:
    """W ← W + ΔW, with ΔW given in io orientation (used by restore checks and fine-tuning tools)."""
    w = module.weight
    w.add_(to_weight_layout(delta_io, layout_of(module)).to(w.dtype))


def token_grid(x: torch.Tensor, batch: int, seq: int) -> torch.Tensor:
    """A layer's input or output as [batch, seq, dim]. Most models call their MLP matrices on
    [batch, seq, dim]; OPT flattens the tokens first (fc1/fc2 see [batch*seq, dim]), so a 2-D
    tensor of batch*seq rows is folded back (row-major, as ``reshape(-1, dim)`` made it)."""
    if x.dim() == 3 and x.shape[:2] == (batch, seq):
        return x
    if x.dim() == 2 and x.shape[0] == batch * seq:
        return x.view(batch, seq, x.shape[1])
    raise ValueError(
        f"cannot map a layer tensor of shape {tuple(x.shape)} to {batch} sequences x {seq} tokens"
    )


def _is_editable(module: nn.Module) -> bool:
    try:
        layout_of(module)
    except TypeError:
        return False
    return True


def find_edit_modules(
    model: nn.Module, patterns: Iterable[str] | None = None, last_blocks: int = 3
) -> list[str]:
    """Names of the matrices to edit.

    With ``patterns`` (fnmatch globs such as ``transformer.h.*.mlp.c_proj``), every Linear/Conv1D
    whose name matches one of them. Without, the MLP matrices of the last ``last_blocks`` blocks
    (GPT-2 c_fc/c_proj, GPT-J fc_in/fc_out, Llama gate/up/down_proj, OPT's fc1/fc2, which sit
    directly in the block), as MEND and DAFNet do.
    """
    named = [(n, m) for n, m in model.named_modules() if _is_editable(m)]
    if patterns:
        pats = list(patterns)
        names = [n for n, _ in named if any(fnmatch.fnmatchcase(n, p) for p in pats)]
        if not names:
            raise ValueError(f"no Linear/Conv1D module matches {pats}")
        return names
    block_re = re.compile(r"\.(\d+)\.(?:mlp\.|fc[12]$)")
    by_block: dict[int, list[str]] = {}
    for n, _ in named:
        hit = block_re.search(n)
        if hit:
            by_block.setdefault(int(hit.group(1)), []).append(n)
    if not by_block:
        raise ValueError(
            "found no '<blocks>.<i>.mlp.*' (or OPT '.fc1/.fc2') matrices; pass module-name patterns"
        )
    blocks = sorted(by_block)[-last_blocks:]
    return [n for b in blocks for n in by_block[b]]
