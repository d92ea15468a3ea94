"""The generation engine: batched decoding with a KV cache, per-row seeded sampling, early stop.

Why not ``model.generate``: on a CPU its time goes to per-step bookkeeping and to rows that have
already finished (a context prefix ends at its first newline; ``generate`` keeps computing every
row until the longest is done). Here the prompt batch is run once (prefill), then one token per
live row per step through the KV cache, and a row that hits EOS or a stop token leaves the batch
(its cache rows are dropped), so every step's matmuls only carry rows that still matter.

A row's tokens depend on its own prompt and seed only: left padding is masked, position ids count
real tokens, and each row samples from its own ``torch.Generator`` (``sampling.RowSampler``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dafset.lm.batching import pad_batch

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel

    from dafset.lm.sampling import RowSampler

# on_step(rows finished, new tokens) after each step: progress and rates for the caller.
StepHook = Callable[[int, int], None]


@dataclass(frozen=True)
class DecodeLimits:
    """When a row stops: after ``max_new_tokens``, or on one of ``stop_ids`` (EOS, newline...);
    the stop token is kept in the output."""

    max_new_tokens: int
    stop_ids: frozenset[int] = frozenset()


@dataclass
class DecodeStats:
    """Throughput counters over every ``decode`` call of one generator."""

    prompts: int = 0
    prompt_tokens: int = 0  # real prompt tokens run through the prefill
    new_tokens: int = 0  # tokens generated (each one forward step of one row)
    seconds: float = 0.0

    @property
    def tokens_per_s(self) -> float:
        """New tokens per second, the prefill's time included."""
        return self.new_tokens / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "prompts": self.prompts,
            "prompt_tokens": self.prompt_tokens,
            "new_tokens": self.new_tokens,
            "seconds": round(self.seconds, 3),
            "new_tokens_per_s": round(self.tokens_per_s, 1),
        }


def _cache_arg(model: PreTrainedModel) -> str:
    # transformers >= 5.2x calls the KV cache ``cache``; earlier versions ``past_key_values``
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _cache_of(output: Any) -> Any:
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


def decode(
    model: PreTrainedModel,
    prompts: Sequence[Sequence[int]],
    pick: RowSampler | None,
    limits: DecodeLimits,
    pad_id: int,
    on_step: StepHook | None = None,
) -> list[list[int]]:
    """New token ids for each prompt (in input order). ``pick`` draws row i's next token from its
    logits with its own generator; ``None`` is greedy (argmax)."""
    import torch

    if not prompts:
        return []
    device = model.device
    batch = pad_batch(prompts, pad_id, "left", device=device)
    arg = _cache_arg(model)
    with torch.inference_mode():
        out = model(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            position_ids=batch.position_ids,
            use_cache=True,
            logits_to_keep=1,
        )
        state = _Live(batch.attention_mask, batch.position_ids[:, -1] + 1, _cache_of(out), pick)
        produced: list[list[int]] = [[] for _ in prompts]
        logits = out.logits[:, -1]
        while True:
            tokens = state.next_tokens(logits)
            for row, token in zip(state.rows, tokens.tolist(), strict=True):
                produced[row].append(token)
            finished = [_done(produced[r], limits) for r in state.rows]
            if on_step is not None:
                on_step(sum(finished), len(finished))
            if not state.keep(finished, tokens):
                break
            out = model(
                input_ids=state.last[:, None],
                attention_mask=state.mask,
                position_ids=state.positions[:, None],
                use_cache=True,
                **{arg: state.cache},
            )
            state.cache = _cache_of(out)
            state.advance()
            logits = out.logits[:, -1]
    return produced


def _done(tokens: list[int], limits: DecodeLimits) -> bool:
    return len(tokens) >= limits.max_new_tokens or tokens[-1] in limits.stop_ids


class _Live:
    """The rows still decoding: their original indices, masks, next positions, cache, sampler."""

    def __init__(self, mask: torch.Tensor, positions: torch.Tensor, cache: Any, pick: RowSampler | None):
        self.rows = list(range(mask.shape[0]))
        self.mask = mask
        self.positions = positions
        self.cache = cache
        self.pick = pick
        self.last: torch.Tensor = positions  # replaced by the first tokens drawn

    def next_tokens(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.argmax(-1) if self.pick is None else self.pick(logits)

    def keep(self, finished: Collection[bool], tokens: torch.Tensor) -> bool:
        """Drop finished rows (from the cache too); False when none is left."""
        import torch

        alive = [i for i, done in enumerate(finished) if not done]
        if not alive:
            return False
        self.last = tokens
        if len(alive) < len(self.rows):
            index = torch.tensor(alive, device=self.mask.device)
            self.rows = [self.rows[i] for i in alive]
            self.mask, self.positions, self.last = self.mask[index], self.positions[index], tokens[index]
            self.cache.batch_select_indices(index)
            if self.pick is not None:
                self.pick = self.pick.select(alive)
        # the token just drawn joins the attended positions
        ones = torch.ones((len(self.rows), 1), dtype=self.mask.dtype, device=self.mask.device)
        self.mask = torch.cat([self.mask, ones], dim=1)
        return True

    def advance(self) -> None:
        self.positions = self.positions + 1


def stop_token_ids(tokenizer: Any, stop_texts: Sequence[str] = ("\n",)) -> frozenset[int]:
    """EOS plus every vocabulary entry whose text contains one of ``stop_texts``: once a row has
    written a newline, nothing after it survives ``filters.clean``, so it need not be generated."""
    ids = {i for i in (tokenizer.eos_token_id,) if i is not None}
    every = sorted(tokenizer.get_vocab().values())
    for token_id, text in zip(every, tokenizer.batch_decode([[i] for i in every]), strict=True):
        if any(s in text for s in stop_texts):
            ids.add(token_id)
    return frozenset(ids)


__all__ = ["DecodeLimits", "DecodeStats", "decode", "stop_token_ids"]
