"""Length-sorted batching and exact padding, shared by scoring and generation.

A sequence's result must not depend on its batch: padded positions are masked out of attention
and position ids count only real tokens, so a left-padded row sees the same positions (0, 1, ...)
as it would alone. GPT-2 does not derive position ids from the mask itself, hence explicit ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

PaddingSide = Literal["left", "right"]


def plan_batches(
    lengths: Sequence[int],
    batch_size: int,
    max_tokens_per_batch: int | None = None,
    min_fill: float = 0.0,
) -> list[list[int]]:
    """Group indices into batches of similar length, longest first.

    Sorting by length keeps padding small; ``max_tokens_per_batch`` bounds rows x longest row,
    so a batch of long sentences holds fewer rows (a fixed memory budget, not a fixed row count).
    A row shorter than ``min_fill`` x the batch's longest starts a new batch (it would be mostly
    padding), which matters when few rows of very different lengths are batched together.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        longest = lengths[current[0]] if current else lengths[i]
        too_many_tokens = (
            max_tokens_per_batch is not None
            and current
            and (len(current) + 1) * longest > max_tokens_per_batch
        )
        too_short = bool(current) and lengths[i] < min_fill * longest
        if current and (len(current) >= batch_size or too_many_tokens or too_short):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


@dataclass(frozen=True)
class PaddedBatch:
    """Token ids padded to one length, with the mask, position ids and each row's offset."""

    input_ids: torch.Tensor  # [B, T]
    attention_mask: torch.Tensor  # [B, T], 1 for real tokens
    position_ids: torch.Tensor  # [B, T], 0.. over real tokens only
    offsets: list[int]  # where row i's first real token sits (0 for right padding)


def pad_batch(
    sequences: Sequence[Sequence[int]],
    pad_id: int,
    side: PaddingSide = "right",
    device: torch.device | str | None = None,
) -> PaddedBatch:
    import torch

    if side not in ("left", "right"):
        raise ValueError(f"padding side must be 'left' or 'right', got {side!r}")
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    offsets = []
    for row, seq in enumerate(sequences):
        start = width - len(seq) if side == "left" else 0
        ids[row, start : start + len(seq)] = torch.as_tensor(list(seq), dtype=torch.long)
        mask[row, start : start + len(seq)] = 1
        offsets.append(start)
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
    return PaddedBatch(
        input_ids=ids.to(device),
        attention_mask=mask.to(device),
        position_ids=position_ids.to(device),
        offsets=offsets,
    )


def bos_to_prepend(tokenizer: PreTrainedTokenizerBase) -> int | None:
    """A start token to condition the first real token on, unless the tokenizer adds one itself.

    Llama-style tokenizers add ``<s>``; GPT-2 style ones add nothing, and their ``<|endoftext|>``
    (bos = eos) marks a document start, so prepending it lets a sentence-initial entity be scored
    and makes a prompt look like the start of a document.
    """
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    if bos is None:
        return None
    probe = tokenizer("a", add_special_tokens=True)["input_ids"]
    return None if probe and probe[0] == bos else bos
