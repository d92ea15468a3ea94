"""What a model knows about an entity: the long-tail ``likelihood`` criterion (docs/likelihood.md).

For each of an entity's true facts (subject, relation, object) the model reads the relation's cloze
prompt about the entity ("Valentyn Symonenko's native language is") and the object is scored after
it. The same object is also scored after the prompt about a placeholder subject ("X's native
language is"): the difference, a pointwise mutual information in nats,

    pmi = log p(object | prompt(entity)) - log p(object | prompt(placeholder)),

is how much naming the entity raises the model's belief in the truth. The entity's label is never
scored, so its length cannot move the score; an object that is likely whatever the subject
("English") earns nothing. The entity's score is the mean pmi over its facts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dafset.lm.batching import bos_to_prepend, pad_batch, plan_batches
from dafset.lm.score import LikelihoodScorer, ScoreItem, span_tokens
from dafset.relations import load_relations
from dafset.templating import render_string

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

# The placeholder subject of the null prompt: a letter carries no knowledge of any entity and keeps
# every cloze prompt grammatical ("X was born in", "X's native language is").
NULL_SUBJECT = "X"


@dataclass(frozen=True)
class FactProbe:
    """One true fact of an entity, as a cloze prompt about it and about the placeholder."""

    entity_id: str
    relation_id: str
    object: str
    prompt: str
    null_prompt: str

    def item(self, null: bool = False) -> ScoreItem:
        """The prompt followed by the object, with the object's span."""
        prompt = self.null_prompt if null else self.prompt
        return ScoreItem(f"{prompt} {self.object}", len(prompt) + 1, len(prompt) + 1 + len(self.object))


@dataclass(frozen=True)
class Knowledge:
    """An entity's score (mean pmi over its facts, nats) and the uncalibrated per-token mean."""

    id: str
    pmi: float
    logprob_per_token: float
    n_facts: int


def cloze_prompts() -> Mapping[str, str]:
    """Relation id -> its cloze prompt template (relations.yaml ``prompt``)."""
    return {relation.id: relation.prompt for relation in load_relations()}


def fact_probes(
    facts: Iterable[Mapping[str, Any]],
    max_facts: int = 3,
    prompts: Mapping[str, str] | None = None,
    null_subject: str = NULL_SUBJECT,
) -> list[FactProbe]:
    """Up to ``max_facts`` probes per subject, in a stable order, from item-valued Fact rows.

    Literal objects (dates, populations) are left out: the model cannot be expected to spell a
    number it knows, and a number's probability says more about digits than about the entity.
    """
    prompts = cloze_prompts() if prompts is None else prompts
    taken: dict[str, int] = {}
    out: list[FactProbe] = []
    seen: set[tuple[str, str, str]] = set()
    ordered = sorted(facts, key=lambda f: (f["subject_id"], f["relation_id"], f.get("object_label") or ""))
    for fact in ordered:
        subject, obj, template = (
            fact.get("subject_label"),
            fact.get("object_label"),
            prompts.get(fact["relation_id"]),
        )
        key = (fact["subject_id"], fact["relation_id"], obj or "")
        if fact.get("value_type", "item") != "item" or not subject or not obj or not template or key in seen:
            continue
        if taken.get(fact["subject_id"], 0) >= max_facts:
            continue
        seen.add(key)
        taken[fact["subject_id"]] = taken.get(fact["subject_id"], 0) + 1
        out.append(
            FactProbe(
                fact["subject_id"],
                fact["relation_id"],
                obj,
                render_string(template, "prompt", subject=subject).rstrip(),
                render_string(template, "prompt", subject=null_subject).rstrip(),
            )
        )
    return out


def score_knowledge(scorer: LikelihoodScorer, probes: Sequence[FactProbe]) -> dict[str, Knowledge]:
    """Entity id -> its Knowledge, from one batched pass over the probes and their null prompts.

    A null prompt depends only on (relation, object), so it is scored once for all entities that
    share it. Probes whose object has no scorable token are left out.
    """
    nulls = {(p.relation_id, p.object): p.item(null=True) for p in probes}
    null_keys = list(nulls)
    scores = scorer.score([p.item() for p in probes] + [nulls[k] for k in null_keys])
    own, null_scores = scores[: len(probes)], dict(zip(null_keys, scores[len(probes) :], strict=True))
    per_entity: dict[str, list[tuple[float, float]]] = {}
    for probe, score in zip(probes, own, strict=True):
        null = null_scores[(probe.relation_id, probe.object)]
        if score.n_tokens == 0 or null.n_tokens == 0:
            continue
        per_entity.setdefault(probe.entity_id, []).append(
            (score.logprob_sum - null.logprob_sum, score.logprob_mean)
        )
    return {
        q: Knowledge(q, sum(p for p, _ in v) / len(v), sum(t for _, t in v) / len(v), len(v))
        for q, v in per_entity.items()
    }


def first_token_hits(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerFast,
    probes: Sequence[FactProbe],
    batch_size: int = 64,
) -> list[bool]:
    """Does the model know the fact: is the first token of the true object its top prediction
    after the prompt (teacher-forced, greedy)? One flag per probe, in order."""
    import torch

    bos = bos_to_prepend(tokenizer)
    contexts: list[list[int]] = []
    wanted: list[int] = []
    for probe in probes:
        item = probe.item()
        enc = tokenizer(item.text, add_special_tokens=True, return_offsets_mapping=True)
        ids, offsets = list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]
        if bos is not None:
            ids, offsets = [bos, *ids], [(0, 0), *offsets]
        first = span_tokens(offsets, item.start, item.end)[0]
        contexts.append(ids[:first])
        wanted.append(ids[first])
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    hits = [False] * len(probes)
    with torch.inference_mode():
        for batch in plan_batches([len(c) for c in contexts], batch_size):
            padded = pad_batch([contexts[i] for i in batch], pad, "left", device=model.device)
            logits = model(
                input_ids=padded.input_ids,
                attention_mask=padded.attention_mask,
                position_ids=padded.position_ids,
                use_cache=False,
            ).logits[:, -1]
            for i, top in zip(batch, logits.argmax(-1).tolist(), strict=True):
                hits[i] = top == wanted[i]
    return hits


__all__ = ["NULL_SUBJECT", "FactProbe", "Knowledge", "fact_probes", "first_token_hits", "score_knowledge"]
