"""How close a run comes to the machine's limit: measured matmul peak, model FLOPs, MFU.

The peak is measured, not looked up: on a shared CPU (or a GPU of unknown clocks) a data-sheet
figure says little about what *this* process can get. ``peak_matmul_flops`` times square matmuls
with the current torch thread setting, so benches measure the peak and their workload under the
same conditions and in the same run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def peak_matmul_flops(
    device: str = "cpu",
    dtype: torch.dtype | None = None,
    n: int = 2048,
    repeats: int = 5,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """FLOP/s of an ``n`` x ``n`` matmul on ``device`` in ``dtype`` (default fp32), best of
    ``repeats`` timed trials after a warm-up, with the current ``torch.get_num_threads()``.

    Best rather than mean: other processes only ever slow a trial down, so the fastest trial is the
    closest estimate of what the hardware gives this process. ``clock=time.process_time`` gives
    FLOPs per CPU-second (per core-second with several threads) instead: on a shared machine,
    where wall-clock rates follow others' load, a workload timed the same way compares fairly."""
    import torch

    dtype = dtype or torch.float32
    dev = torch.device(device)
    gen = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(dev, dtype)
    b = torch.randn(n, n, generator=gen).to(dev, dtype)
    per_trial = 1 if dev.type == "cpu" else 20  # GPU matmuls take microseconds: time several
    best = 0.0
    with torch.inference_mode():
        torch.mm(a, b)  # warm-up: allocations, kernel selection, clocks
        for _ in range(repeats):
            _sync(dev)
            start = clock()
            for _ in range(per_trial):
                torch.mm(a, b)
            _sync(dev)
            elapsed = max(clock() - start, 1e-9)
            best = max(best, 2.0 * n**3 * per_trial / elapsed)
    return best


def _sync(device: torch.device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_params(model: Any) -> int:
    """Weights a token is multiplied by in one forward pass: every weight matrix except the input
    embedding tables (a lookup, no FLOPs), plus the output projection onto the vocabulary even when
    it is tied to the input embedding (its matmul is real work)."""
    import torch

    embeddings = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    total = sum(p.numel() for p in model.parameters() if p.ndim >= 2 and id(p) not in embeddings)
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is not None and id(head.weight) in embeddings:
        total += head.weight.numel()
    return total


def model_flops_per_token(config: Any, context: float = 0.0) -> float:
    """Forward-pass FLOPs per token of a causal LM with ``config`` (a transformers config, or a
    model whose ``.config`` is used), attending to ``context`` earlier positions on average.

    Convention (PaLM's, Chowdhery et al. 2022, appendix B, forward pass only):
    ``2 * N + 4 * n_layer * context * d_attn``, where N = ``matmul_params`` (non-embedding
    weights plus the vocabulary projection) and d_attn = heads * head_dim; the attention term counts
    Q·Kᵀ and A·V, one multiply-add (2 FLOPs) each per attended position and channel. Norms,
    activations and softmax are left out (a few percent). For the likelihood scorer pass the mean
    attended length (about half the padded length); for generation, prompt length plus half the new
    tokens."""
    model = config if hasattr(config, "parameters") else None
    cfg = model.config if model is not None else config
    params = matmul_params(model if model is not None else _meta_model(cfg))
    heads = cfg.num_attention_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
    return 2.0 * params + 4.0 * cfg.num_hidden_layers * float(context) * heads * head_dim


def _meta_model(config: Any) -> Any:
    """The model of ``config`` on the meta device: shapes only, no memory, no weights."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


def mfu(tokens_per_s: float, flops_per_token: float, peak: float) -> float:
    """Model FLOPs utilisation: the share of the measured peak that the model's own FLOPs use."""
    return tokens_per_s * flops_per_token / peak if peak > 0 else 0.0


__all__ = ["matmul_params", "mfu", "model_flops_per_token", "peak_matmul_flops"]
