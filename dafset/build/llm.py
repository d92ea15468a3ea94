"""The build's LLM slots: the long-tail ``likelihood`` criterion and the robust ``context`` and
``sentiment`` prefixes. With no ``--model`` they are skipped, and the manifest and the terminal
say which criteria were skipped."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cache
from typing import Any

from dafset.build.robust import locality_answers
from dafset.config import BuildConfig
from dafset.hashing import stable_order
from dafset.publish.progress import stage

log = logging.getLogger("dafset.build")

LLM_CRITERIA = ("long_tail/likelihood", "robust/context", "robust/sentiment")
# Sentences per entity for the likelihood: the neutral template lines plus this many statements.
STATEMENTS_PER_ENTITY = 1

PrefixWriter = Callable[[list[dict[str, Any]], str], list[dict[str, Any]]]


@cache
def _load(model: str, device: str | None, threads: int | None) -> tuple[Any, Any]:
    from dafset.lm.load import load_causal_lm
    from dafset.lm.threads import use_threads

    use_threads(threads)
    return load_causal_lm(model, device=device)


def _model_report(cfg: BuildConfig) -> dict[str, Any]:
    import torch

    from dafset.lm.gguf import read_provenance
    from dafset.lm.load import check_model_dir

    model, _ = _load(cfg.model, cfg.device, cfg.threads)
    toy = bool(getattr(model.config, "dafset_toy", False))
    return {
        "model": cfg.model,
        "model_is_toy": toy,
        "model_note": "a TOY model trained offline on the bundled sample; not for research" if toy else None,
        # where the weights came from (name, source and checksum, licence, quantisation), for a
        # folder written by `dafset fetch-model`; None for other folders
        "model_provenance": read_provenance(check_model_dir(cfg.model)),
        "device": str(model.device),
        "dtype": str(model.dtype),
        "parameters": sum(p.numel() for p in model.parameters()),
        "threads": torch.get_num_threads(),
    }


def likelihood_scores(
    cfg: BuildConfig, facts: list[dict[str, Any]]
) -> tuple[dict[str, float] | None, dict[str, Any]]:
    """Per-token log-probability of each long-tail candidate subject in sentences about it."""
    if cfg.model is None:
        log.warning("no --model given: skipped criteria %s", ", ".join(LLM_CRITERIA))
        return None, {"model": None, "skipped_criteria": list(LLM_CRITERIA)}
    from dafset.lm.entities import entity_texts, score_entities, summed
    from dafset.lm.score import LikelihoodScorer

    model, tokenizer = _load(cfg.model, cfg.device, cfg.threads)
    scorer = LikelihoodScorer(model, tokenizer)
    # a seeded, stable subset of the pool: the criterion's reference distribution, at a bounded cost
    subjects = set(
        stable_order(sorted({f["subject_id"] for f in facts}), "likelihood", cfg.seed)[: cfg.likelihood_pool]
    )
    chosen = [f for f in facts if f["subject_id"] in subjects]
    texts = entity_texts(chosen, role="subject", max_statements=STATEMENTS_PER_ENTITY)
    # the log-probability of the entity (summed over its tokens): per-token means reward rare names
    # split into easy pieces, and on the toy they do not follow how often an entity was seen
    with stage("likelihood", total=sum(len(t.items) for t in texts)) as progress:
        scorer.on_batch = lambda rows, tokens: progress.advance(rows, tokens=tokens)
        scores = summed(score_entities(scorer, texts))
    report = {
        **_model_report(cfg),
        "likelihood": {"entities": len(texts), "scored": len(scores), **scorer.stats.as_dict()},
        "skipped_criteria": [],
    }
    log.info("likelihood: %d entities at %.0f tokens/s", len(scores), scorer.stats.tokens_per_s)
    return scores, report


def prefix_writer(cfg: BuildConfig) -> tuple[PrefixWriter | None, Callable[[], dict[str, Any]]]:
    """A function adding LLM-written prefixes to robust cases (dropping cases whose prefixes fail
    the filters), and one reporting what it kept and dropped."""
    if cfg.model is None:
        return None, dict
    from dafset.lm.generate import PrefixGenerator, PrefixRequest

    model, tokenizer = _load(cfg.model, cfg.device, cfg.threads)
    generator = PrefixGenerator(model, tokenizer, seed=cfg.seed)

    def write(samples: list[dict[str, Any]], criterion: str) -> list[dict[str, Any]]:
        requests = [
            PrefixRequest(
                key=s["id"],
                subject=s["subject"],
                relation_label=s["relation_label"],
                # the edit's targets and truths, and what the locality probes ask (a prefix must
                # not hand a probe its answer). ``avoid`` is a plain substring test, so very short
                # locality answers ("US") stay out of it; the word-bounded variant rule catches them.
                avoid=tuple(
                    a
                    for a in dict.fromkeys(
                        [
                            s["target_new"],
                            s["target_true"] or "",
                            *s["answers"],
                            *(a for a in locality_answers(s) if len(a) >= 4),
                        ]
                    )
                    if a
                ),
            )
            for s in samples
        ]
        with stage(f"prefixes ({criterion})") as progress:
            generator.on_step = lambda finished, tokens: progress.advance(finished, tokens=tokens)
            made = generator.context(requests) if criterion == "context" else generator.sentiment(requests)
        return [{**s, "prefix": made[s["id"]]} for s in samples if s["id"] in made]

    return write, lambda: {"prefixes": generator.stats.as_dict(), "generation": generator.throughput.as_dict()}
