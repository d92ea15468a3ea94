"""The build's LLM slots: the long-tail ``likelihood`` criterion and the robust ``context`` and
``sentiment`` prefixes. With no ``--model`` they are skipped, and the manifest and the terminal
say which criteria were skipped."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

from dafset.build.robust import locality_answers
from dafset.config import BuildConfig
from dafset.hashing import stable_order
from dafset.ids import chunks, is_item
from dafset.properties.facts import SPARQL_BATCH, distinct
from dafset.properties.long_tail import RARE_KEY
from dafset.publish.progress import stage
from dafset.relations import RelationSet
from dafset.source import Source

log = logging.getLogger("dafset.build")

LLM_CRITERIA = ("long_tail/likelihood", "robust/context", "robust/sentiment")
# True facts per entity the likelihood criterion reads (long-tail entities mostly have one or two)
FACTS_PER_ENTITY = 3

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
    """What the model knows about each long-tail candidate subject: the mean pointwise mutual
    information of its true facts' objects with it (``dafset.lm.knowledge``, docs/likelihood.md),
    and the validation figures of that score on the scored pool."""
    if cfg.model is None:
        log.warning("no --model given: skipped criteria %s", ", ".join(LLM_CRITERIA))
        return None, {"model": None, "skipped_criteria": list(LLM_CRITERIA)}
    from dafset.lm.knowledge import fact_probes, first_token_hits, score_knowledge
    from dafset.lm.score import LikelihoodScorer

    # only candidates a real popularity signal shows rare can be chosen: score those alone
    facts = [f for f in facts if f.get(RARE_KEY, True)]
    model, tokenizer = _load(cfg.model, cfg.device, cfg.threads)
    scorer = LikelihoodScorer(model, tokenizer)
    # a seeded, stable subset of the pool: the criterion's reference distribution, at a bounded cost
    subjects = set(
        stable_order(sorted({f["subject_id"] for f in facts}), "likelihood", cfg.seed)[: cfg.likelihood_pool]
    )
    chosen = [f for f in facts if f["subject_id"] in subjects]
    probes = fact_probes(chosen, max_facts=FACTS_PER_ENTITY)
    with stage("likelihood") as progress:  # rows: each fact is scored with its subject and with X
        scorer.on_batch = lambda rows, tokens: progress.advance(rows, tokens=tokens)
        knowledge = score_knowledge(scorer, probes)
    scores = {q: k.pmi for q, k in knowledge.items()}
    hits: dict[str, list[bool]] = {}
    for probe, hit in zip(probes, first_token_hits(model, tokenizer, probes), strict=True):
        hits.setdefault(probe.entity_id, []).append(hit)
    report = {
        **_model_report(cfg),
        "likelihood": {
            "criterion": "mean pmi (nats) of the subject's true objects: log p(o | prompt(subject)) "
            "- log p(o | prompt(X)); see docs/likelihood.md",
            "entities": len(subjects),
            "facts": len(probes),
            "scored": len(scores),
            **scorer.stats.as_dict(),
            "validation": _validation(cfg, chosen, scores, hits, tokenizer),
        },
        "skipped_criteria": [],
    }
    log.info("likelihood: %d entities at %.0f tokens/s", len(scores), scorer.stats.tokens_per_s)
    return scores, report


def _validation(
    cfg: BuildConfig,
    facts: list[dict[str, Any]],
    scores: dict[str, float],
    hits: dict[str, list[bool]],
    tokenizer: Any,
) -> dict[str, Any]:
    """Spearman of the score with label length and the pool's popularity signals, agreement with
    what the model knows, and the buckets and long-tail cut the build will use."""
    from dafset.lm.validation import knowledge_validation
    from dafset.properties import long_tail as lt

    first = {f["subject_id"]: f for f in reversed(facts)}
    labels = {q: first[q].get("subject_label") or "" for q in scores}
    signals = {
        "label_tokens": {
            q: len(tokenizer(t, add_special_tokens=False)["input_ids"]) for q, t in labels.items()
        },
        "frequency": {q: float(first[q].get("frequency") or 0) for q in scores},
        "degree": {
            q: float((first[q].get("in_degree") or 0) + (first[q].get("out_degree") or 0)) for q in scores
        },
        "sitelinks": {
            q: float(first[q]["sitelinks"]) for q in scores if first[q].get("sitelinks") is not None
        },
    }
    eligible = lt.eligible(scores, cfg.long_tail_quantile, salt=f"likelihood/{cfg.seed}")
    buckets = lt.buckets(lt.likelihood_mass(scores))
    return knowledge_validation(scores, signals, hits, buckets, eligible)


def fetch_descriptions(source: Source, items: Iterable[str]) -> dict[str, str]:
    """English description per item, where Wikidata (or the sample) has one."""
    out: dict[str, str] = {}
    for batch in chunks([q for q in distinct(items) if is_item(q)], SPARQL_BATCH):
        for r in source.select("descriptions", items=batch):
            out[r["item"]] = r["description"]
    return out


def prefix_writer(
    cfg: BuildConfig, facts: Iterable[dict[str, Any]], relations: RelationSet, source: Source
) -> tuple[PrefixWriter | None, Callable[[], dict[str, Any]]]:
    """A function adding LLM-written prefixes to robust cases (dropping cases whose prefixes fail
    the filters), and one reporting what it kept and dropped. ``facts`` (every property's) and the
    subjects' descriptions (read from ``source``) ground the requests: the subject's kind,
    description and other facts, and the values the prefix must not state."""
    if cfg.model is None:
        return None, dict
    from dafset.lm.generate import PrefixGenerator, PrefixRequest
    from dafset.lm.grounding import Grounder

    model, tokenizer = _load(cfg.model, cfg.device, cfg.threads)
    generator = PrefixGenerator(model, tokenizer, seed=cfg.seed)
    facts = list(facts)
    descriptions = fetch_descriptions(source, (f["subject_id"] for f in facts))
    grounder = Grounder(facts, relations, descriptions)

    def request(s: dict[str, Any]) -> PrefixRequest:
        # the edit's targets and truths, and what the locality probes ask (a prefix must not hand
        # a probe its answer). ``avoid`` is a plain substring test, so very short locality answers
        # ("US") stay out of it; the word-bounded variant rule catches them.
        candidates = [s["target_new"], s["target_true"] or "", *s["answers"]]
        candidates += [a for a in locality_answers(s) if len(a) >= 4]
        avoid = tuple(a for a in dict.fromkeys(candidates) if a)
        grounding = grounder.ground(s["subject_id"], s["subject"], s["relation_id"], avoid)
        return PrefixRequest(
            key=s["id"],
            subject=s["subject"],
            relation_label=s["relation_label"],
            avoid=avoid,
            grounding=grounding.variables(),
            guard=grounder.guard(s["subject_id"], s["relation_id"]),
        )

    def write(samples: list[dict[str, Any]], criterion: str) -> list[dict[str, Any]]:
        requests = [request(s) for s in samples]
        with stage(f"prefixes ({criterion})") as progress:
            generator.on_step = lambda finished, tokens: progress.advance(finished, tokens=tokens)
            made = generator.context(requests) if criterion == "context" else generator.sentiment(requests)
        return [{**s, "prefix": made[s["id"]]} for s in samples if s["id"] in made]

    def report() -> dict[str, Any]:
        grounded = {"subjects_with_description": len(descriptions), **grounder.stats()}
        return {
            "prefixes": {**generator.stats.as_dict(), "grounding": grounded},
            "generation": generator.throughput.as_dict(),
        }

    return write, report
