"""Portability probes (RippleEdits' ripple effects) and question forms for every case.

Each probe is ``{prompt, answers, kind}``; the answers hold *after* the edit:

- ``subject_aliasing``: the edit prompt with an alias of the subject -> the new target;
- ``compositional``: a second hop through the new target ("The capital of the country of
  citizenship of X is" -> the capital of the new country), answers read from the graph;
- ``logical``: the edit read backwards through a symmetric or inverse relation ("Y's spouse is" ->
  X after "X's spouse is -> Y"; the ties are relations.yaml's ``symmetric`` and ``inverse``);
- ``preservation``: for a multi-valued relation, "Apart from <new target>, <prompt>" -> the other
  values of (subject, relation), which the edit leaves (``templates/preservation.j2``).

A kind appears only where the graph supports it, and a compositional or logical probe only where
no other edit of the case's split changes the fact it rests on (``dafset.build.sequence``). The second hops come through the Source contract
(``portability_hops.rq``, in VALUES batches), so the same code runs on the sample and on WDQS.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dafset.build.enrich import fetch_names
from dafset.build.rules import contains
from dafset.build.sequence import Edited, Pair, SplitOf, asked_texts, split_edits
from dafset.build.tense import case_in_past, ended_entities
from dafset.build.wording import junk_alias, shared_names, the
from dafset.hashing import stable_order
from dafset.ids import chunks, is_item
from dafset.properties.facts import SPARQL_BATCH
from dafset.relations import Relation, RelationSet
from dafset.schema import PORTABILITY_KINDS
from dafset.source import Source
from dafset.templating import render

MAX_ALIASES = 2
MAX_HOPS = 2

# A first-hop label reads as a noun in "the <label> of X" unless it is a verb phrase ("located in
# ...", "educated at", "owned by", "member of") or a list ("languages spoken, written or signed").
_NOT_A_NOUN = re.compile(r"^\w+ed\b|^member\b|\b(held|played)\b|[,/]|\bTV show$|\b(of|at|in|by|with|or)$")


def composable(relation: Relation) -> bool:
    """The relation's label reads as a noun phrase, so "the <label> of X" is English."""
    return relation.value_type == "item" and not _NOT_A_NOUN.search(relation.label)


def good_alias(alias: str, label: str) -> bool:
    """An alias worth a probe: not the label, no junk, code or offensive alias
    (``wording.junk_alias``), at least 3 characters with 2 letters in a row, and no long digit run
    (catalogue codes such as '00033982178 IPI')."""
    return (
        alias.casefold() != label.casefold()
        and not junk_alias(alias, label)
        and len(alias) >= 3
        and re.search(r"[^\W\d_]{2}", alias) is not None
        and re.search(r"\d{4,}", alias) is None
    )


@dataclass
class Graph:
    """What probes read: names by id, item ids by (relation, object label), facts by subject."""

    names: dict[str, list[str]] = field(default_factory=dict)  # id -> [label, *aliases]
    object_ids: dict[tuple[str, str], str] = field(default_factory=dict)
    by_case: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    hops: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # item -> relation -> [ids]
    ended: frozenset[str] = frozenset()  # entities gone (dead, dissolved): told in the past tense
    shared: frozenset[str] = frozenset()  # names (casefolded) of more than one entity: no alias

    @classmethod
    def from_facts(cls, facts: Iterable[dict[str, Any]]) -> Graph:
        facts = list(facts)
        graph = cls()
        seen: set[tuple[str, str, str]] = set()
        for f in facts:
            key = (f["subject_id"], f["relation_id"], f["object_label"])
            if key in seen:
                continue
            seen.add(key)
            graph.by_case[(f["subject_id"], f["relation_id"])].append(f)
            graph._name(f["subject_id"], f["subject_label"], f.get("subject_aliases") or [])
            if f.get("object_id"):
                graph.object_ids[(f["relation_id"], f["object_label"])] = f["object_id"]
                graph._name(f["object_id"], f["object_label"], f.get("object_aliases") or [])
        graph.ended = ended_entities(facts)
        return graph

    def _name(self, qid: str, label: str, aliases: Sequence[str]) -> None:
        names = self.names.setdefault(qid, [label])
        names.extend(a for a in aliases if a not in names)

    def answers(self, qid: str) -> list[str]:
        names = self.names.get(qid, [])
        return [
            n for i, n in enumerate(names) if i == 0 or (good_alias(n, names[0]) and n.casefold() not in self.shared)
        ]

    def share_names(self) -> None:
        """Mark the names that more than one entity of the graph holds (aliases that name no one)."""
        self.shared = shared_names((q, n) for q, names in self.names.items() for n in names)


def read_hops(source: Source, graph: Graph, items: Sequence[str], relations: RelationSet) -> dict[str, int]:
    """Fetch the item-valued facts of ``items`` (the new targets) and their values' names."""
    props = [r.id for r in relations if r.value_type == "item"]
    wanted = sorted({q for q in items if is_item(q)})
    rows = 0
    for batch in chunks(wanted, SPARQL_BATCH):
        # sorted: a SPARQL store returns rows in no fixed order, and answers must not depend on it
        found = source.select("portability_hops", items=batch, properties=props)
        for r in sorted(found, key=lambda r: (r["item"], r["property"], r["value"])):
            rows += 1
            graph.hops.setdefault(r["item"], {}).setdefault(r["property"], []).append(r["value"])
    values = sorted(
        {v for per in graph.hops.values() for ids in per.values() for v in ids} - set(graph.names)
    )
    for qid, names in fetch_names(source, values).items():
        if names.label:
            graph._name(qid, names.label, names.aliases)
    graph.share_names()
    return {"targets": len(wanted), "hop_rows": rows}


def _never(pair: Pair | None, texts: Iterable[str]) -> bool:
    return False


def probes(
    sample: dict[str, Any],
    relations: RelationSet,
    graph: Graph,
    seed: int,
    dropped: Counter[str] | None = None,
    edited: Edited = _never,
) -> list[dict[str, Any]]:
    """Every portability probe the graph supports for one case; ``dropped`` counts, per reason and
    kind, probes left out: their prompt gives the answer away, or ``edited`` says the fact they
    rest on besides the edit (a second hop, a read-back) is changed by another edit of the split.
    Each probe speaks in its fact's tense: the case's for aliasing, the target's for the others."""
    dropped = dropped if dropped is not None else Counter()
    rid = sample["relation_id"]
    relation = relations[rid].tense(case_in_past(sample, graph.by_case, graph.ended))
    target_id = graph.object_ids.get((rid, sample["target_new"]))
    target_answers = graph.answers(target_id) if target_id else [sample["target_new"]]
    salt = (sample["subject_id"], rid, seed)
    out = _aliasing(sample, relation, graph, target_answers, salt)
    out += _compositional(sample, relations, graph, target_id, salt, edited, dropped)
    out += _logical(sample, relations, graph, target_id, edited, dropped)
    out += _preservation(sample, relations, graph)
    # a probe whose prompt gives its answer away tests nothing
    kept = [p for p in out if p["answers"] and not any(contains(p["prompt"], a) for a in p["answers"])]
    dropped.update(f"answer_in_prompt:{p['kind']}" for p in out if p not in kept)
    return kept


def _aliasing(
    sample: dict[str, Any], relation: Relation, graph: Graph, answers: list[str], salt: tuple[Any, ...]
) -> list[dict[str, Any]]:
    subject_names = graph.names.get(sample["subject_id"], [sample["subject"]])
    # an alias that holds the label ("Paris, France") would not test the alias; one that another
    # entity of the graph also bears ("Washington") names no one
    aliases = [
        a
        for a in subject_names[1:]
        if good_alias(a, sample["subject"])
        and a.casefold() not in graph.shared
        and not contains(a, sample["subject"])
    ]
    return [
        _probe(relation.render_prompt(alias), answers, "subject_aliasing")
        for alias in stable_order(aliases, "aliasing", *salt)[:MAX_ALIASES]
    ]


def _compositional(
    sample: dict[str, Any],
    relations: RelationSet,
    graph: Graph,
    target_id: str | None,
    salt: tuple[Any, ...],
    edited: Edited,
    dropped: Counter[str],
) -> list[dict[str, Any]]:
    relation = relations[sample["relation_id"]]
    if not target_id or not composable(relation):
        return []
    lead = f"the {relation.label} of {the(sample['subject'])}"
    gone = target_id in graph.ended  # the hop is a fact of the target: its own tense
    hops = graph.hops.get(target_id, {})
    out = []
    for hop_rid in stable_order(sorted(r for r in hops if r in relations), "compositional", *salt)[:MAX_HOPS]:
        if edited((target_id, hop_rid), asked_texts(relations[hop_rid], sample["target_new"])):
            dropped["premise_edited:compositional"] += 1
            continue
        answers = [a for v in hops[hop_rid] if v != sample["subject_id"] for a in graph.answers(v)]
        prompt = relations[hop_rid].tense(gone).render_prompt(lead)
        out.append(_probe(prompt[:1].upper() + prompt[1:], answers, "compositional"))
    return out


def _logical(
    sample: dict[str, Any],
    relations: RelationSet,
    graph: Graph,
    target_id: str | None,
    edited: Edited,
    dropped: Counter[str],
) -> list[dict[str, Any]]:
    """The edit read backwards through its tied relation (relations.yaml ``symmetric``/``inverse``)."""
    relation = relations[sample["relation_id"]]
    back = relations.get(relation.tied)
    if back is None:
        return []
    gone = bool(target_id) and target_id in graph.ended  # a fact of the target: its own tense
    prompt = back.tense(gone).render_prompt(sample["target_new"])
    if edited((target_id, back.id) if target_id else None, [prompt, back.render_prompt(sample["target_new"])]):
        dropped["premise_edited:logical"] += 1
        return []
    names = graph.names.get(sample["subject_id"], [sample["subject"]])
    answers = [
        n for i, n in enumerate(names) if i == 0 or (good_alias(n, names[0]) and n.casefold() not in graph.shared)
    ]
    return [_probe(prompt, answers, "logical")]


def _preservation(sample: dict[str, Any], relations: RelationSet, graph: Graph) -> list[dict[str, Any]]:
    """KnowEdit's Forgetfulness: for a relation that holds several values, "Apart from <new
    target>, <prompt>" asks for one of the subject's other values (those the edit leaves)."""
    if relations[sample["relation_id"]].cardinality != "multi":
        return []
    replaced = {sample["target_new"]}
    if sample["edit_kind"] == "counterfactual":
        replaced.add(sample.get("target_true") or "")
    others = {
        f["object_label"]: f
        for f in graph.by_case.get((sample["subject_id"], sample["relation_id"]), [])
        if f["object_label"] not in replaced
    }
    if not others:
        return []
    answers = [
        name
        for label in sorted(others)
        for name in (graph.answers(others[label]["object_id"]) if others[label].get("object_id") else [label])
    ]
    prompt = render(
        "preservation.j2", prompt=sample["prompt"], subject=sample["subject"], excluded=sample["target_new"]
    )
    return [_probe(prompt, answers, "preservation")]


def _probe(prompt: str, answers: Iterable[str], kind: str) -> dict[str, Any]:
    return {"prompt": prompt, "answers": list(dict.fromkeys(a for a in answers if a)), "kind": kind}


def add_probes(
    source: Source,
    relations: RelationSet,
    samples: list[dict[str, Any]],
    facts: Iterable[dict[str, Any]],
    seed: int,
    split_of: SplitOf,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every sample with its ``question`` and ``portability``; the report gives, per property and
    overall, the share of cases with each portability kind, and the probes left out."""
    graph = Graph.from_facts(facts)
    targets = [
        graph.object_ids[(s["relation_id"], s["target_new"])]
        for s in samples
        if (s["relation_id"], s["target_new"]) in graph.object_ids and composable(relations[s["relation_id"]])
    ]
    fetched = read_hops(source, graph, targets, relations) if targets else {"targets": 0, "hop_rows": 0}
    edits = split_edits(samples, split_of, relations, lambda s: _objects(graph, s))
    out = []
    dropped: Counter[str] = Counter()
    for s in samples:
        relation = relations[s["relation_id"]].tense(case_in_past(s, graph.by_case, graph.ended))
        edited = edits.by_others(split_of(s), (s["subject_id"], s["relation_id"]))
        out.append(
            {
                **s,
                "question": relation.render_question(s["subject"]),
                "portability": probes(s, relations, graph, seed, dropped, edited),
            }
        )
    return out, {
        **fetched,
        **portability_shares(out),
        "dropped_answer_in_prompt": _reason(dropped, "answer_in_prompt"),
        "dropped_premise_edited": _reason(dropped, "premise_edited"),
    }


def _objects(graph: Graph, sample: dict[str, Any]) -> set[str]:
    """Ids of the edit's old objects and of its new target."""
    key = (sample["subject_id"], sample["relation_id"])
    old = {f["object_id"] for f in graph.by_case.get(key, []) if f.get("object_id")}
    new = graph.object_ids.get((sample["relation_id"], sample["target_new"]))
    return old | ({new} if new else set())


def _reason(dropped: Counter[str], reason: str) -> dict[str, int]:
    """Per kind, the probes left out for one reason."""
    return {k.partition(":")[2]: n for k, n in sorted(dropped.items()) if k.startswith(reason + ":")}


def portability_shares(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Share of cases with at least one probe of each kind, overall and per property."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in samples:
        groups[s["property"]].append(s)
        groups["all"].append(s)
    shares: dict[str, dict[str, float]] = {}
    probes_per_kind: Counter[str] = Counter()
    for name, rows in sorted(groups.items()):
        have = Counter(kind for r in rows for kind in {p["kind"] for p in r["portability"]})
        shares[name] = {k: round(have[k] / len(rows), 4) for k in PORTABILITY_KINDS}
    for s in samples:
        probes_per_kind.update(p["kind"] for p in s["portability"])
    return {"share_with_kind": shares, "probes": {k: probes_per_kind[k] for k in PORTABILITY_KINDS}}
