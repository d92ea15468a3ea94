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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from dafset.lm.batching import PaddingSide, bos_to_prepend, pad_batch, plan_batches

if TYPE_CHECKING:
    import torch
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


def span_marker(*texts: str) -> str:
    """A placeholder that occurs in none of ``texts``, to render in place of the entity and so
    find its span. A fixed private-use character would not do: a label may contain it (Wikidata
    labels are free text), and the span would land on the label's copy instead."""
    n = 0
    while True:
        marker = f"\ue000{n}\ue001"
        if not any(marker in t for t in texts):
            return marker
        n += 1


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
    """Throughput counters, accumulated over every ``score`` call.

    ``tokens_per_s`` counts the tokens of the input sentences (what was scored, per second,
    tokenisation included); ``model_tokens`` are those actually run through the model, fewer
    because nothing after a span's last token can change its probability and is cut off.
    """

    sequences: int = 0
    input_tokens: int = 0  # tokens of the sentences as given (with the prepended BOS)
    model_tokens: int = 0  # real (non-padding) tokens run through the model
    padded_tokens: int = 0  # rows x width, padding included
    shared_rows: int = 0  # rows whose context before the span was run once for their group
    batches: int = 0
    seconds: float = 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.input_tokens / self.seconds if self.seconds > 0 else 0.0

    @property
    def model_tokens_per_s(self) -> float:
        return self.model_tokens / self.seconds if self.seconds > 0 else 0.0

    @property
    def padding_efficiency(self) -> float:
        return self.model_tokens / self.padded_tokens if self.padded_tokens else 1.0

    def as_dict(self) -> dict[str, float]:
        return {
            "sequences": self.sequences,
            "input_tokens": self.input_tokens,
            "model_tokens": self.model_tokens,
            "padded_tokens": self.padded_tokens,
            "shared_rows": self.shared_rows,
            "batches": self.batches,
            "seconds": round(self.seconds, 4),
            "tokens_per_s": round(self.tokens_per_s, 1),
            "model_tokens_per_s": round(self.model_tokens_per_s, 1),
            "padding_efficiency": round(self.padding_efficiency, 4),
        }


@dataclass(frozen=True)
class _Encoded:
    ids: list[int]  # up to the span's last token: later tokens cannot change its probability
    targets: list[int]  # positions (in ids) of the span's tokens that can be scored
    full_length: int  # tokens of the whole sentence


def span_tokens(offsets: Sequence[tuple[int, int]], start: int, end: int) -> list[int]:
    """Positions of the tokens that spell the characters ``[start, end)``, given offset mappings.

    A token belongs to the span when their character ranges overlap (special tokens have empty
    ranges). Tokens between the first and the last of those (a lone space inside "serial killer",
    whose range is trimmed to nothing) are part of the label too. Position 0 has no preceding
    token and cannot be scored, so it is left out.
    """
    hits = [j for j, (a, b) in enumerate(offsets) if b > a and a < end and b > start]
    return list(range(max(1, hits[0]), hits[-1] + 1)) if hits else []


def max_length(model: PreTrainedModel) -> int | None:
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

    batch_size bounds rows per forward pass, max_tokens_per_batch bounds rows x width: memory on
    a GPU; on a CPU small batches that stay in cache run fastest. "auto" picks 2048 tokens on CPU
    and 32768 on GPU. padding_side only exists so tests can show it does not matter.
    """

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerFast
    batch_size: int = 64
    max_tokens_per_batch: int | Literal["auto"] | None = "auto"
    padding_side: PaddingSide = "right"
    share_prefixes: bool = True
    min_shared_prefix: int = 3  # tokens; sharing a shorter context saves less than it costs
    min_shared_rows: int = 8  # a small group costs two forward passes for little saving
    min_fill: float = 0.5  # a row under half its batch's longest starts a new batch
    stats: ScoreStats = field(default_factory=ScoreStats)
    on_batch: Callable[[int, int], None] | None = None  # (rows, model tokens) per batch: progress

    def __post_init__(self) -> None:
        if not getattr(self.tokenizer, "is_fast", False):
            raise ValueError("LikelihoodScorer needs a fast tokenizer (offset mappings)")
        self._bos = bos_to_prepend(self.tokenizer)
        self._keep_mask = _accepts_keep_mask(self.model)
        forward_params = inspect.signature(self.model.forward).parameters
        self._cache_arg = "cache" if "cache" in forward_params else "past_key_values"
        self._max_len = max_length(self.model)
        if self.max_tokens_per_batch == "auto":
            self.max_tokens_per_batch = 2048 if self.model.device.type == "cpu" else 32768
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
            targets = span_tokens(offsets, item.start, item.end)
            kept = ids[: targets[-1] + 1] if targets else []
            if self._max_len is not None and len(kept) > self._max_len:
                raise ValueError(
                    f"sentence of {len(kept)} tokens up to its span exceeds the model's "
                    f"{self._max_len}: {item.text[:60]!r}..."
                )
            out.append(_Encoded(kept, targets, len(ids)))
        return out

    def score(self, texts_and_spans: Iterable[ScoreItem | tuple[Any, ...]]) -> list[SpanScore]:
        """Score each (sentence, span); results come back in input order."""
        import torch

        items = [ScoreItem.of(x) for x in texts_and_spans]
        if not items:
            return []
        started = time.perf_counter()
        encoded = self._encode(items)
        # A span with no scorable token (it starts the text, no BOS) needs no forward pass.
        results: list[SpanScore | None] = [
            None if e.targets else SpanScore(0.0, math.nan, 0) for e in encoded
        ]
        plain, shared = self._group([i for i, e in enumerate(encoded) if e.targets], encoded)
        with torch.inference_mode():
            for batch in self._plan(plain, [len(encoded[i].ids) for i in plain]):
                before = self.stats.model_tokens
                for i, value in zip(batch, self._score_batch([encoded[i] for i in batch]), strict=True):
                    results[i] = value
                self._report(len(batch), before)
            for prefix, members in shared.items():
                suffixes = [len(encoded[i].ids) - len(prefix) for i in members]
                for batch in self._plan(members, suffixes):
                    before = self.stats.model_tokens
                    rows = [encoded[i] for i in batch]
                    for i, value in zip(batch, self._score_shared(list(prefix), rows), strict=True):
                        results[i] = value
                    self._report(len(batch), before)
        if self.model.device.type == "cuda":
            torch.cuda.synchronize(self.model.device)
        self.stats.seconds += time.perf_counter() - started
        self.stats.sequences += len(items)
        self.stats.input_tokens += sum(e.full_length for e in encoded)
        return [r for r in results if r is not None]

    def _report(self, rows: int, tokens_before: int) -> None:
        if self.on_batch is not None:
            self.on_batch(rows, self.stats.model_tokens - tokens_before)

    def _plan(self, indices: Sequence[int], lengths: Sequence[int]) -> list[list[int]]:
        batches = plan_batches(
            lengths,
            self.batch_size,
            self.max_tokens_per_batch,  # type: ignore[arg-type]
            min_fill=self.min_fill,
        )
        self.stats.batches += len(batches)
        return [[indices[j] for j in batch] for batch in batches]

    def _group(
        self, todo: Sequence[int], encoded: Sequence[_Encoded]
    ) -> tuple[list[int], dict[tuple[int, ...], list[int]]]:
        """Split rows into plain ones and groups sharing the context before their span.

        Sentences from one template share that context ("This is an article about"); it is run
        once per batch and its keys/values reused, so only the span tokens run per row.
        """
        if not self.share_prefixes or self.batch_size < 2:
            return list(todo), {}
        groups: dict[tuple[int, ...], list[int]] = {}
        for i in todo:
            e = encoded[i]
            groups.setdefault(tuple(e.ids[: e.targets[0]]), []).append(i)
        plain: list[int] = []
        shared: dict[tuple[int, ...], list[int]] = {}
        for prefix, members in groups.items():
            if len(members) >= max(2, self.min_shared_rows) and len(prefix) >= self.min_shared_prefix:
                shared[prefix] = members
            else:
                plain.extend(members)
        return sorted(plain), shared

    def _logp(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        import torch

        # fp32 log-softmax whatever the model dtype: bf16 would round log-probs to ~2 digits
        return torch.log_softmax(logits.float(), dim=-1).gather(-1, targets[:, None])[:, 0]

    def _forward(self, pred: torch.Tensor, **inputs: Any) -> torch.Tensor:
        """Logits at the positions where ``pred`` is True, flattened row-major: [n, V]."""
        if self._keep_mask:
            return self.model(**inputs, logits_to_keep=pred).logits
        return self.model(**inputs).logits[pred]

    def _score_batch(self, rows: Sequence[_Encoded]) -> list[SpanScore]:
        import torch

        device = self.model.device
        batch = pad_batch([r.ids for r in rows], self._pad, self.padding_side, device=device)
        # pred[b, t] is True where the logit at t predicts a span token at t + 1.
        pred = torch.zeros_like(batch.attention_mask, dtype=torch.bool)
        for b, (row, offset) in enumerate(zip(rows, batch.offsets, strict=True)):
            pred[b, torch.as_tensor(row.targets, device=device) + offset - 1] = True
        self.stats.model_tokens += int(batch.attention_mask.sum())
        self.stats.padded_tokens += batch.input_ids.numel()
        logits = self._forward(
            pred,
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            position_ids=batch.position_ids,
            use_cache=False,
        )
        logp = self._logp(logits, batch.input_ids.roll(-1, dims=1)[pred])
        return _per_row(pred, logp)

    def _score_shared(self, prefix: list[int], rows: Sequence[_Encoded]) -> list[SpanScore]:
        """Rows that share ``prefix`` (everything before their span): run it once, then the spans.

        The spans are right-padded after the cached prefix with position ids continuing from it,
        so every real token sees exactly what it would see alone.
        """
        import torch

        device = self.model.device
        p = len(prefix)
        ones = torch.ones((1, p), dtype=torch.long, device=device)
        head = self.model(
            input_ids=torch.tensor([prefix], device=device),
            attention_mask=ones,
            position_ids=torch.arange(p, device=device)[None],
            use_cache=True,
            logits_to_keep=1,
        )
        first = torch.log_softmax(head.logits[0, -1].float(), dim=-1)  # predicts each span's start
        cache = getattr(head, "cache", None)
        if cache is None:  # transformers < 5.2x named it past_key_values
            cache = head.past_key_values
        cache.batch_repeat_interleave(len(rows))

        suffixes = [r.ids[p:] for r in rows]
        batch = pad_batch(suffixes, self._pad, "right", device=device)
        pred = batch.attention_mask.bool().clone()
        pred[torch.arange(len(rows)), [len(s) - 1 for s in suffixes]] = False  # last predicts nothing
        self.stats.model_tokens += p + int(batch.attention_mask.sum())
        self.stats.shared_rows += len(rows)
        self.stats.padded_tokens += p + batch.input_ids.numel()
        logits = self._forward(
            pred,
            input_ids=batch.input_ids,
            attention_mask=torch.cat([ones.expand(len(rows), p), batch.attention_mask], dim=1),
            position_ids=batch.position_ids + p,
            use_cache=True,
            **{self._cache_arg: cache},
        )
        logp = self._logp(logits, batch.input_ids.roll(-1, dims=1)[pred])
        starts = first[torch.tensor([s[0] for s in suffixes], device=device)].double()
        return _per_row(pred, logp, starts)


def _per_row(pred: torch.Tensor, logp: torch.Tensor, extra: torch.Tensor | None = None) -> list[SpanScore]:
    """Sum flattened log-probs back per row (pred's row-major order keeps rows contiguous)."""
    import torch

    sums = torch.zeros(pred.shape[0], dtype=torch.float64, device=pred.device)
    sums.index_add_(0, pred.nonzero()[:, 0], logp.double())
    counts = pred.sum(dim=1)
    if extra is not None:
        sums += extra
        counts = counts + 1
    return [
        SpanScore(total, total / n if n else math.nan, int(n))
        for total, n in zip(sums.tolist(), counts.tolist(), strict=True)
    ]
