"""Robustness prefixes written by the LM: context passages and sentiment pairs (robust property).

For each case the generator renders a request template (``templates/lm/context_request.j2`` or
``sentiment_request.j2``), samples a continuation with a seed derived from (seed, case key, kind,
polarity, attempt), cleans it and filters it (``filters``). A failed candidate is retried with the
next attempt's seed, at most ``max_attempts`` times; then the case is given up and counted.
A sentiment case keeps both polarities or neither: each candidate must score on its polarity's side
of VADER's neutral band (else it is retried), and the pair's scores must be ``PAIR_MARGIN`` apart.

Output records match the Sample schema's ``prefix`` struct: ``{text, kind, polarity, score}``
(``score``: VADER's compound score for sentiment prefixes, None for context).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dafset.hashing import stable_hash
from dafset.lm.batching import bos_to_prepend
from dafset.lm.decode import DecodeLimits, DecodeStats, StepHook, decode, stop_token_ids
from dafset.lm.filters import (
    FILTERS,
    Guard,
    PrefixBounds,
    check,
    clean,
    generated_part,
    pair_apart,
    pass_shares,
    sentiment_score,
    wrong_polarity,
)
from dafset.lm.grounding import NO_GROUNDING, lighter
from dafset.lm.sampling import RowSampler, SamplingParams
from dafset.lm.score import max_length
from dafset.templating import render

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

log = logging.getLogger(__name__)

CONTEXT_TEMPLATE = "lm/context_request.j2"
SENTIMENT_TEMPLATE = "lm/sentiment_request.j2"
POLARITIES = ("positive", "negative")
MIN_ROOM = 16  # new tokens a prompt must leave for a prefix worth keeping


@dataclass(frozen=True)
class PrefixRequest:
    """One case that wants a prefix. ``avoid``: the edit target, the true object and aliases;
    ``grounding``: what the request template is told about the subject (``dafset.lm.grounding``);
    ``guard``: what else the prefix must not say."""

    key: str  # the case's stable id; seeds derive from it
    subject: str
    relation_label: str
    avoid: tuple[str, ...] = ()
    grounding: Mapping[str, Any] = field(default_factory=dict)
    guard: Guard | None = None


@dataclass
class PrefixStats:
    """Counts per kind ("context" | "sentiment"); ``dropped`` counts candidates per filter."""

    requested: Counter[str] = field(default_factory=Counter)
    generated: Counter[str] = field(default_factory=Counter)
    kept: Counter[str] = field(default_factory=Counter)  # cases with prefixes
    dropped: Counter[str] = field(default_factory=Counter)  # "<kind>/<filter>" -> candidates
    given_up: Counter[str] = field(default_factory=Counter)  # cases without prefixes
    unpaired: int = 0  # sentiment cases lost because only one polarity passed
    not_apart: int = 0  # sentiment cases whose two scores were closer than PAIR_MARGIN

    def as_dict(self) -> dict[str, Any]:
        shares = {
            kind: pass_shares(
                self.generated[kind],
                {k.split("/", 1)[1]: n for k, n in self.dropped.items() if k.startswith(f"{kind}/")},
                (*FILTERS, *(["wrong_polarity"] if kind == "sentiment" else [])),  # of generated ones
            )
            for kind in self.generated
        }
        return {
            "requested": dict(self.requested),
            "generated": dict(self.generated),
            "kept": dict(self.kept),
            "dropped": dict(sorted(self.dropped.items())),
            # per kind, filter -> share of the candidates reaching it that pass it
            "pass_share": shares,
            # candidates whose generated words alone (not the fixed opening) have their polarity
            "sentiment_pass_rate": shares.get("sentiment", {}).get("wrong_polarity"),
            "given_up": dict(self.given_up),
            "unpaired": self.unpaired,
            "not_apart": self.not_apart,
        }


@dataclass(frozen=True)
class _Job:
    key: str
    kind: str
    polarity: str
    prompt: str
    lead: str  # the prompt's last line: the start of the passage, kept in the prefix
    request: PrefixRequest

    @property
    def generated_from(self) -> int:
        """Where the model's own words begin in a cleaned text (``clean`` joins whitespace)."""
        return len(" ".join(self.lead.split()))


def job_seed(seed: int, key: str, kind: str, polarity: str, attempt: int) -> int:
    return int(stable_hash(seed, key, kind, polarity, attempt), 16) >> 1


class PrefixGenerator:
    """Batched, seeded, filtered prefix generation with a causal LM."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerFast,
        seed: int = 0,
        batch_size: int = 64,  # rows per decoding step: a CPU matmul needs ~64 rows to stop being memory-bound
        max_new_tokens: int = 48,
        sampling: SamplingParams | None = None,
        bounds: PrefixBounds | None = None,
        max_attempts: int = 3,
        context_template: str = CONTEXT_TEMPLATE,
        sentiment_template: str = SENTIMENT_TEMPLATE,
        on_step: StepHook | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self.model = model
        self.tokenizer = tokenizer
        self.seed = seed
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.sampling = sampling or SamplingParams()
        self.bounds = bounds or PrefixBounds()
        self.max_attempts = max_attempts
        self.context_template = context_template
        self.sentiment_template = sentiment_template
        self.stats = PrefixStats()
        self.throughput = DecodeStats()
        self.on_step = on_step  # (rows finished, new tokens) after each decoding step: progress
        self._stops: frozenset[int] | None = None
        self._bos = bos_to_prepend(tokenizer)
        pad = tokenizer.pad_token_id
        self._pad = pad if pad is not None else tokenizer.eos_token_id

    # -- public ----------------------------------------------------------------------------------

    def context(self, requests: Iterable[PrefixRequest]) -> dict[str, list[dict[str, Any]]]:
        """Case key -> ``[{text, kind: "context", polarity: "neutral"}]``; failed cases absent."""
        jobs = [self._job(r, "context", "neutral", self.context_template) for r in _unique(requests)]
        self.stats.requested["context"] += len(jobs)
        texts = self._run(jobs)
        out: dict[str, list[dict[str, Any]]] = {}
        for job in jobs:
            text = texts.get((job.key, job.polarity))
            if text is None:
                self.stats.given_up["context"] += 1
                continue
            self.stats.kept["context"] += 1
            out[job.key] = [
                {
                    "text": text,
                    "kind": "context",
                    "polarity": "neutral",
                    "score": None,
                    "generated_from": job.generated_from,
                }
            ]
        return out

    def sentiment(self, requests: Iterable[PrefixRequest]) -> dict[str, list[dict[str, Any]]]:
        """Case key -> ``[positive, negative]`` prefixes with their scores; a case with only one,
        or with two scores closer than ``PAIR_MARGIN``, is dropped and counted."""
        requests = _unique(requests)
        jobs = [
            self._job(r, "sentiment", polarity, self.sentiment_template, polarity=polarity)
            for r in requests
            for polarity in POLARITIES
        ]
        self.stats.requested["sentiment"] += len(requests)
        texts = self._run(jobs)
        starts = {(j.key, j.polarity): j.generated_from for j in jobs}
        out: dict[str, list[dict[str, Any]]] = {}
        for r in requests:
            pair = [texts.get((r.key, p)) for p in POLARITIES]
            froms = [starts[(r.key, p)] for p in POLARITIES]
            if all(t is not None for t in pair):
                # the model's words alone: the fixed opening would score the same whatever it wrote
                scores = [
                    sentiment_score(generated_part(t, f))
                    for t, f in zip(pair, froms, strict=True)
                    if t is not None
                ]
                if not pair_apart(*scores):
                    self.stats.not_apart += 1
                    self.stats.given_up["sentiment"] += 1
                    continue
                self.stats.kept["sentiment"] += 1
                out[r.key] = [
                    {"text": t, "kind": "sentiment", "polarity": p, "score": score, "generated_from": f}
                    for t, p, score, f in zip(pair, POLARITIES, scores, froms, strict=True)
                ]
            else:
                self.stats.given_up["sentiment"] += 1
                if any(t is not None for t in pair):
                    self.stats.unpaired += 1
        return out

    def generate(self, prompts: Sequence[str], seeds: Sequence[int]) -> list[str]:
        """Raw continuations of ``prompts`` (special tokens removed), one seed per prompt. A row
        stops at EOS or at its first newline (``clean`` keeps only the first paragraph)."""
        out: list[str] = []
        for start in range(0, len(prompts), self.batch_size):
            chunk = prompts[start : start + self.batch_size]
            ids = self.tokenizer(list(chunk), add_special_tokens=True)["input_ids"]
            if self._bos is not None:
                ids = [[self._bos, *row] for row in ids]
            limits = DecodeLimits(self._room(max(len(row) for row in ids)), self._stop_ids())
            sampler = RowSampler(seeds[start : start + self.batch_size], self.sampling, self.model.device)
            began = time.perf_counter()
            new = decode(self.model, ids, sampler, limits, self._pad, on_step=self._count)
            self.throughput.seconds += time.perf_counter() - began
            self.throughput.prompts += len(ids)
            self.throughput.prompt_tokens += sum(len(row) for row in ids)
            out.extend(self.tokenizer.batch_decode(new, skip_special_tokens=True))
        return out

    def _stop_ids(self) -> frozenset[int]:
        if self._stops is None:
            self._stops = stop_token_ids(self.tokenizer)
        return self._stops

    def _count(self, finished: int, tokens: int) -> None:
        self.throughput.new_tokens += tokens
        if self.on_step is not None:
            self.on_step(finished, tokens)

    # -- internals -------------------------------------------------------------------------------

    def _room(self, prompt_tokens: int) -> int:
        """New tokens that still fit the model's positions (absolute embeddings end there)."""
        limit = max_length(self.model)
        room = self.max_new_tokens if limit is None else min(self.max_new_tokens, limit - prompt_tokens)
        if room < 1:
            raise ValueError(
                f"a prompt of {prompt_tokens} tokens leaves no room to generate in the model's "
                f"{limit} positions; shorten the request template"
            )
        return room

    def _fitting(self, jobs: Sequence[_Job]) -> list[_Job]:
        """Jobs whose prompt leaves room to write a prefix, shortest first: a case with a very long
        subject name is dropped and counted, not allowed to fail the batch, and batches of
        similar lengths give every row its full room."""
        limit = max_length(self.model)
        lengths = {id(j): self._length(j.prompt) for j in jobs}
        fitting = []
        for job in jobs:
            if limit is not None and limit - lengths[id(job)] < MIN_ROOM:
                self.stats.dropped[f"{job.kind}/prompt_too_long"] += 1
                continue
            fitting.append(job)
        return sorted(fitting, key=lambda j: lengths[id(j)])

    def _job(self, r: PrefixRequest, kind: str, label: str, template: str, **extra: str) -> _Job:
        """The request rendered with as much of its grounding as leaves room to write (a model
        with few positions, like the toy's 128, gets fewer facts; ``_fitting`` drops the rest)."""
        limit = max_length(self.model)
        for grounding in lighter({**NO_GROUNDING, **r.grounding}):
            prompt = render(
                template, subject=r.subject, relation_label=r.relation_label, **grounding, **extra
            )
            if limit is None or limit - self._length(prompt) >= MIN_ROOM:
                break
        lead = prompt.rsplit("\n", 1)[-1]
        return _Job(r.key, kind, label, prompt, lead, r)

    def _length(self, prompt: str) -> int:
        return len(self.tokenizer(prompt, add_special_tokens=True, verbose=False)["input_ids"]) + (
            self._bos is not None
        )

    def _run(self, jobs: Sequence[_Job]) -> dict[tuple[str, str], str]:
        """Generate, clean and filter with retries; (key, polarity) -> kept text."""
        kept: dict[tuple[str, str], str] = {}
        pending = self._fitting(jobs)
        for attempt in range(self.max_attempts):
            if not pending:
                break
            seeds = [job_seed(self.seed, j.key, j.kind, j.polarity, attempt) for j in pending]
            continuations = self.generate([j.prompt for j in pending], seeds)
            retry = []
            for job, continuation in zip(pending, continuations, strict=True):
                self.stats.generated[job.kind] += 1
                text = clean(job.lead, continuation)
                failed = check(
                    text, job.lead, job.request.subject, job.request.avoid, self.bounds, job.request.guard
                )
                if (
                    failed is None
                    and job.kind == "sentiment"
                    and wrong_polarity(
                        sentiment_score(generated_part(text, job.generated_from)), job.polarity
                    )
                ):
                    failed = "wrong_polarity"
                if failed is None:
                    kept[(job.key, job.polarity)] = text
                else:
                    self.stats.dropped[f"{job.kind}/{failed}"] += 1
                    retry.append(job)
            pending = retry
        log.info("prefixes: %s", self.stats.as_dict())
        return kept


def _unique(requests: Iterable[PrefixRequest]) -> list[PrefixRequest]:
    seen: dict[str, PrefixRequest] = {}
    for r in requests:
        seen.setdefault(r.key, r)
    return list(seen.values())


__all__ = ["FILTERS", "PrefixBounds", "PrefixGenerator", "PrefixRequest", "PrefixStats"]
