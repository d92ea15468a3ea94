"""Teacher-forced log-probability of a labelled span (an entity) inside a sentence.

For each sentence and the character span of the entity label in it, the scorer returns the summed
log-probability of the tokens covering the span and their mean. Scores are padding-exact: batches
are length-sorted, masked and given explicit position ids (see ``batching``), and log-softmax runs
in fp32, so a sentence scores the same alone, in any batch and with either padding side.
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dafset.lm.batching import PaddingSide, bos_to_prepend, pad_batch, plan_batches

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerFast


@dataclass(frozen=True)
class ScoreItem:
    """A sentence and the half-open character span ``[start, end)`` of the entity inside it."""

    text: str
    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end <= len(self.text):
            raise ValueError(f"span [{self.start}, {self.end}) is empty or outside the text {self.text!r}")

    @classmethod
    def of(cls, item: ScoreItem | tuple[Any, ...]) -> ScoreItem:
        """Accept a ScoreItem, ``(text, (start, end))`` or ``(text, start, end)``."""
        if isinstance(item, ScoreItem):
            return item
        if len(item) == 2:
            text, (start, end) = item
            return cls(text, start, end)
        text, start, end = item
        return cls(text, start, end)

    @classmethod
    def find(cls, text: str, label: str) -> ScoreItem:
        """The first occurrence of ``label`` in ``text`` (ValueError if absent)."""
        start = text.find(label)
        if start < 0:
            raise ValueError(f"label {label!r} does not occur in {text!r}")
        return cls(text, start, start + len(label))


@dataclass(frozen=True)
class SpanScore:
    """Log-probability of the span's tokens: their sum, their mean and how many there were.

    ``n_tokens`` can be smaller than the span's token count when the span starts the text and the
    tokenizer has no BOS token to condition the first token on (that token cannot be scored).
    """

    logprob_sum: float
    logprob_mean: float
    n_tokens: int


@dataclass
class ScoreStats:
    """Throughput counters, accumulated over every ``score`` call."""

    sequences: int = 0
    tokens: int = 0  # real (non-padding) tokens run through the model
    padded_tokens: int = 0  # rows x width, padding included
    batches: int = 0
    seconds: float = 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0

    @property
    def padding_efficiency(self) -> float:
        return self.tokens / self.padded_tokens if self.padded_tokens else 1.0

    def as_dict(self) -> dict[str, float]:
        return {
            "sequences": self.sequences,
            "tokens": self.tokens,
            "padded_tokens": self.padded_tokens,
            "batches": self.batches,
            "seconds": round(self.seconds, 4),
            "tokens_per_s": round(self.tokens_per_s, 1),
            "padding_efficiency": round(self.padding_efficiency, 4),
        }


@dataclass(frozen=True)
class _Encoded:
    ids: list[int]
    targets: list[int]  # positions (in ids) of the span's tokens that can be scored


def _max_length(model: PreTrainedModel) -> int | None:
    config = model.config
    for name in ("max_position_embeddings", "n_positions", "n_ctx"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _accepts_keep_mask(model: PreTrainedModel) -> bool:
    # transformers >= 5 can project only selected positions onto the vocabulary when given a
    # boolean [B, T] mask as ``logits_to_keep``; older versions compute every logit.
    try:
        from transformers.modeling_utils import slice_logits_to_keep  # noqa: F401
    except ImportError:
        return False
    return "logits_to_keep" in inspect.signature(model.forward).parameters


@dataclass
class LikelihoodScorer:
    """Batched, length-sorted, padding-exact span log-probabilities.

    batch_size bounds rows per forward pass, max_tokens_per_batch bounds rows x width (memory).
    padding_side only exists so tests can show it does not matter.
    """

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerFast
    batch_size: int = 64
    max_tokens_per_batch: int | None = 8192
    padding_side: PaddingSide = "right"
    stats: ScoreStats = field(default_factory=ScoreStats)

    def __post_init__(self) -> None:
        if not getattr(self.tokenizer, "is_fast", False):
            raise ValueError("LikelihoodScorer needs a fast tokenizer (offset mappings)")
        self._bos = bos_to_prepend(self.tokenizer)
        self._keep_mask = _accepts_keep_mask(self.model)
        self._max_len = _max_length(self.model)
        pad = self.tokenizer.pad_token_id
        self._pad = pad if pad is not None else (self.tokenizer.eos_token_id or 0)

    def _encode(self, items: Sequence[ScoreItem]) -> list[_Encoded]:
        enc = self.tokenizer([it.text for it in items], add_special_tokens=True, return_offsets_mapping=True)
        out = []
        for item, ids, offsets in zip(items, enc["input_ids"], enc["offset_mapping"], strict=True):
            ids = list(ids)
            offsets = [tuple(o) for o in offsets]
            if self._bos is not None:
                ids = [self._bos, *ids]
                offsets = [(0, 0), *offsets]
            # A token belongs to the span when their character ranges overlap (special tokens
            # have empty ranges); position 0 has no preceding token and cannot be scored.
            targets = [
                j for j, (a, b) in enumerate(offsets) if j > 0 and b > a and a < item.end and b > item.start
            ]
            if self._max_len is not None and len(ids) > self._max_len:
                raise ValueError(
                    f"sentence of {len(ids)} tokens exceeds the model's {self._max_len}: "
                    f"{item.text[:60]!r}..."
                )
            out.append(_Encoded(ids, targets))
        return out

    def score(self, texts_and_spans: Iterable[ScoreItem | tuple[Any, ...]]) -> list[SpanScore]:
        """Score each (sentence, span); results come back in input order."""
        import torch

        items = [ScoreItem.of(x) for x in texts_and_spans]
        if not items:
            return []
        encoded = self._encode(items)
        results: list[SpanScore | None] = [None] * len(items)
        started = time.perf_counter()
        batches = plan_batches([len(e.ids) for e in encoded], self.batch_size, self.max_tokens_per_batch)
        with torch.inference_mode():
            for batch in batches:
                rows = [encoded[i] for i in batch]
                for i, value in zip(batch, self._score_batch(rows), strict=True):
                    results[i] = value
        if self.model.device.type == "cuda":
            torch.cuda.synchronize(self.model.device)
        self.stats.seconds += time.perf_counter() - started
        self.stats.sequences += len(items)
        self.stats.batches += len(batches)
        return [r for r in results if r is not None]

    def _score_batch(self, rows: Sequence[_Encoded]) -> list[SpanScore]:
        import torch

        device = self.model.device
        batch = pad_batch([r.ids for r in rows], self._pad, self.padding_side, device=device)
        # pred[b, t] is True where the logit at t predicts a span token at t + 1.
        pred = torch.zeros_like(batch.attention_mask, dtype=torch.bool)
        for b, (row, offset) in enumerate(zip(rows, batch.offsets, strict=True)):
            if row.targets:
                pred[b, torch.as_tensor(row.targets, device=device) + offset - 1] = True
        self.stats.tokens += int(batch.attention_mask.sum())
        self.stats.padded_tokens += batch.input_ids.numel()

        kwargs: dict[str, Any] = {
            "input_ids": batch.input_ids,
            "attention_mask": batch.attention_mask,
            "position_ids": batch.position_ids,
            "use_cache": False,
        }
        if self._keep_mask:
            kwargs["logits_to_keep"] = pred
            logits = self.model(**kwargs).logits  # [n_pred, V]
        else:
            logits = self.model(**kwargs).logits[pred]
        targets = batch.input_ids.roll(-1, dims=1)[pred]
        logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, targets[:, None])[:, 0]

        # Sum per row: the flattened order of pred is row-major, so rows are contiguous.
        row_of = pred.nonzero()[:, 0]
        sums = torch.zeros(len(rows), dtype=torch.float64, device=device)
        sums.index_add_(0, row_of, logp.double())
        counts = pred.sum(dim=1)
        out = []
        for total, n in zip(sums.tolist(), counts.tolist(), strict=True):
            out.append(SpanScore(total, total / n if n else math.nan, int(n)))
        return out
