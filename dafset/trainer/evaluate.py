"""The evaluation protocol (fixed, and written into every result file).

For each T: shuffle the cases with seed 0, cut them into consecutive chunks of T and drop the last
incomplete chunk. Per chunk: record the unedited model's argmax predictions at the locality answer
positions; apply the T edits one at a time (each edit uses the memory of the earlier edits of the
chunk); after the last edit score all T cases on the edited model; restore the model and verify
that it equals the original. Metrics, averaged per case and then over cases:

* Rel: teacher-forced token accuracy of target_new after the edit prompt;
* Gen: the same after each rephrase (cases without rephrases do not count);
* Gen-prefix (robust cases only): the same after prefix + rephrase;
* Gen(other): the same rephrases with the subject replaced by another subject of the same
  relation that no edit of the chunk touches (gen_other), and by one whose true object is the
  edited fact's true object (gen_other_similar, the hard neighbours); spec = Gen - Gen(other).
  An editor that pushes the whole relation to the new target scores Gen high and spec near 0;
* Loc: fraction of locality answer positions whose argmax prediction is unchanged by the edits.

Before any edit, fact accuracy: the unedited model's token accuracy on the truth (target_true, or an
insertion's target_new) after the edit prompts and after the rephrases (an edit of a fact the model
does not know means little), also on the truth's first token only and per property.
Every case's scores are saved (``per_case``) so others can re-analyse.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from dafset.errors import DafsetError
from dafset.trainer.baselines import EditSession
from dafset.trainer.config import EvalConfig
from dafset.trainer.data import EditCase, encode_pairs, prefixed_rephrases, split_batch, truth_of
from dafset.trainer.losses import target_predictions

METRICS = ("rel", "gen", "gen_other", "gen_other_similar", "spec", "gen_prefix", "loc")
# the same on the target's first token only: with a multi-token target, teacher forcing hands a
# real LM the later tokens almost for free ("Racib" -> "órz"), so token accuracy has a high floor
# even unedited; the first token is the one that decides what the model says
FIRST = ("rel_first", "gen_first", "gen_other_first", "spec_first")


def protocol(cfg: EvalConfig) -> dict[str, Any]:
    return {
        "name": "sequential-chunked (DAFNet reference)",
        "T": list(cfg.T),
        "shuffle_seed": cfg.shuffle_seed,
        "chunking": "consecutive chunks of T after shuffling; last incomplete chunk dropped",
        "editing": "T edits applied one at a time, each using the memory of the earlier edits of the chunk",
        "scoring": "all T cases scored after the last edit of the chunk",
        "restore": "model restored to its original weights between chunks and verified equal",
        "rel": "teacher-forced token accuracy of target_new given the edit prompt",
        "gen": "teacher-forced token accuracy of target_new given each rephrase",
        "gen_prefix": "as gen, with a robust prefix (cut to prefix_words words) before the rephrase",
        "gen_other": "as gen, the subject replaced by another subject of the same relation not edited in the chunk "
        "whose true object is not target_new",
        "gen_other_similar": "as gen_other, with a subject whose true object is the case's true object",
        "spec": "gen - gen_other per case (generalisation beyond collateral damage)",
        "other_subject_choice": "seeded by (shuffle_seed, case id) among the evaluated cases "
        "and the other_pool cases (the bench: the train split)",
        "loc": "agreement of argmax predictions before/after the edits at the locality answer positions",
        "fact_accuracy": "unedited model, token accuracy of the truth (target_true; an insertion's "
        "target_new) after the prompt / the rephrases "
        "(*_first: its first token only; by_property)",
        "first_token": "rel_first / gen_first / gen_other_first / spec_first: as rel / gen / gen_other / "
        "spec on the first target token only",
        "tokenisation": "prompt + ' ' + target tokenised together, right padding, label positions from offsets",
        "signals": "dafnet/mend: each edit's gradient signals come from the unedited model; "
        "ft: gradient steps on the model as edited so far",
        "prefix_words": cfg.prefix_words,
        "max_length": cfg.max_length,
        "max_chunks": cfg.max_chunks,
    }


class RestoreError(DafsetError):
    """The model differs from the original after a chunk was undone."""


class WeightGuard:
    """An independent check that a chunk left no trace: exact copies of the edited matrices, a
    fingerprint of every other parameter, and no forward hooks left anywhere."""

    def __init__(self, model: nn.Module, names: Sequence[str]) -> None:
        self.model = model
        modules = dict(model.named_modules())
        self.exact = {n: modules[n].weight.detach().clone() for n in names}
        self.prints = {n: self._print(p) for n, p in model.named_parameters()}
        self.hooks = self._hooks()

    @staticmethod
    def _print(p: torch.Tensor) -> tuple[float, float]:
        d = p.detach()
        return float(d.sum(dtype=torch.float64)), float(d.abs().sum(dtype=torch.float64))

    def _hooks(self) -> dict[str, int]:
        return {n: len(m._forward_hooks) for n, m in self.model.named_modules()}

    def verify(self) -> None:
        modules = dict(self.model.named_modules())
        for n, w in self.exact.items():
            if not torch.equal(modules[n].weight, w):
                raise RestoreError(f"{n} differs from the original after restore")
        for n, p in self.model.named_parameters():
            if self._print(p) != self.prints[n]:
                raise RestoreError(f"parameter {n} changed during evaluation")
        hooked = [n for n, k in self._hooks().items() if k != self.hooks.get(n, 0)]
        if hooked:
            raise RestoreError(f"forward hooks left on {hooked[:3]}")


@torch.no_grad()
def _predictions(
    model: nn.Module, tokenizer: Any, pairs: Sequence[tuple[str, str]], cfg: EvalConfig
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    if not pairs:
        return []
    device = next(model.parameters()).device
    batch = encode_pairs(tokenizer, [p for p, _ in pairs], [t for _, t in pairs], cfg.max_length)
    out: list[tuple[torch.Tensor, torch.Tensor]] = []
    for sub in split_batch(batch, cfg.batch_size):
        sub = sub.to(device)
        out.extend(
            target_predictions(model(input_ids=sub.input_ids, attention_mask=sub.attention_mask).logits, sub)
        )
    return out


def _loc_pairs(cases: Sequence[EditCase]) -> tuple[list[tuple[str, str]], list[tuple[int, str]]]:
    """Locality (prompt, answer) pairs and, for each, (case index, locality kind)."""
    pairs, owner = [], []
    for i, c in enumerate(cases):
        for lp in c.locality:
            pairs.append((lp.prompt, lp.answer))
            owner.append((i, lp.kind))
    return pairs, owner


def swap_subject(prompts: Sequence[str], subject: str, other: str) -> list[str]:
    """The prompts about ``subject`` reworded about ``other`` (prompts not naming it are dropped)."""
    if not subject or not other:
        return []
    return [p.replace(subject, other) for p in prompts if subject in p]


class OtherSubjects:
    """For each case, another subject of its relation (and one sharing its true object) among the
    evaluated cases, avoiding every subject edited in the current chunk and subjects whose true
    object is the case's new target."""

    def __init__(self, cases: Sequence[EditCase], seed: int) -> None:
        self.seed = seed
        self.by_relation: dict[str, list[EditCase]] = defaultdict(list)
        for c in cases:
            if c.relation_id and c.subject:
                self.by_relation[c.relation_id].append(c)

    def pick(self, case: EditCase, edited: set[str], same_object: bool) -> str:
        pool = sorted(
            {
                o.subject
                for o in self.by_relation.get(case.relation_id, [])
                if o.subject not in edited
                and o.subject != case.subject
                # an other subject whose true object already is the new target would count as
                # "reached" without any edit
                and truth_of(o) != case.target_new
                and (not same_object or (truth_of(o) is not None and truth_of(o) == truth_of(case)))
            }
        )
        if not pool:
            return ""
        return random.Random(f"{self.seed}|{case.id}|{same_object}").choice(pool)


def score_chunk(
    model: nn.Module,
    tokenizer: Any,
    cases: Sequence[EditCase],
    pre_loc: Sequence[torch.Tensor],
    cfg: EvalConfig,
    others: OtherSubjects | None = None,
) -> list[dict[str, float]]:
    """Per-case metrics on the model as it is now (edited); ``pre_loc`` from the unedited model."""
    scores: list[dict[str, float]] = [{} for _ in cases]
    edited = {c.subject for c in cases}

    def accuracy(groups: list[list[str]], key: str) -> None:
        pairs = [(p, cases[i].target_new) for i, ps in enumerate(groups) for p in ps]
        owner = [i for i, ps in enumerate(groups) for _ in ps]
        per: dict[int, list[float]] = defaultdict(list)
        first: dict[int, list[float]] = defaultdict(list)
        for i, (pred, gold) in zip(owner, _predictions(model, tokenizer, pairs, cfg), strict=True):
            per[i].append(float((pred == gold).float().mean()))
            first[i].append(float(pred[0] == gold[0]))
        for i, v in per.items():
            scores[i][key] = sum(v) / len(v)
            if f"{key}_first" in FIRST:
                scores[i][f"{key}_first"] = sum(first[i]) / len(first[i])

    accuracy([[c.prompt] for c in cases], "rel")
    accuracy([list(c.rephrases) for c in cases], "gen")
    accuracy([prefixed_rephrases(c, cfg.prefix_words) for c in cases], "gen_prefix")
    if others is not None:
        for key, same in (("gen_other", False), ("gen_other_similar", True)):
            accuracy([swap_subject(c.rephrases, c.subject, others.pick(c, edited, same)) for c in cases], key)
    for s in scores:
        if "gen" in s and "gen_other" in s:
            s["spec"] = s["gen"] - s["gen_other"]
            s["spec_first"] = s["gen_first"] - s["gen_other_first"]
    pairs, owner = _loc_pairs(cases)
    per: dict[int, list[float]] = defaultdict(list)
    per_kind: dict[tuple[int, str], list[float]] = defaultdict(list)
    for (i, kind), before, (after, _) in zip(
        owner, pre_loc, _predictions(model, tokenizer, pairs, cfg), strict=True
    ):
        agree = float((before == after).float().mean())
        per[i].append(agree)
        if kind:
            per_kind[(i, kind)].append(agree)
    for i, v in per.items():
        scores[i]["loc"] = sum(v) / len(v)
    for (i, kind), v in per_kind.items():
        scores[i][f"loc/{kind}"] = sum(v) / len(v)
    return scores


def chunk_order(n: int, T: int, seed: int) -> list[list[int]]:
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return [order[i : i + T] for i in range(0, n - n % T, T)]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarise(per_case: Sequence[tuple[EditCase, dict[str, float]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in METRICS + FIRST:
        vals = [s[m] for _, s in per_case if m in s]
        out[m] = _mean(vals)
        out[f"n_{m}"] = len(vals)
    kinds = sorted({k for _, s in per_case for k in s if k.startswith("loc/")})
    if kinds:  # locality per kind of probe (same_relation, same_subject, ...)
        out["loc_by_kind"] = {k[4:]: _mean([s[k] for _, s in per_case if k in s]) for k in kinds}
    by_prop: dict[str, list[tuple[EditCase, dict[str, float]]]] = defaultdict(list)
    for c, s in per_case:
        by_prop[c.property or "-"].append((c, s))
    if len(by_prop) > 1:
        out["by_property"] = {
            p: {m: _mean([s[m] for _, s in items if m in s]) for m in METRICS + FIRST} | {"n": len(items)}
            for p, items in sorted(by_prop.items())
        }
    return out


def fact_accuracy(
    model: nn.Module, tokenizer: Any, cases: Sequence[EditCase], cfg: EvalConfig
) -> dict[str, Any]:
    """The unedited model's token accuracy on the true facts (``truth_of``: target_true, or
    target_new of an insertion): after the edit prompts, after the rephrases (cases with no known
    truth are left out); ``*_first``: the first token of the truth only; ``by_property``: the same
    per DAFSet property (when the cases have several)."""
    out: dict[str, Any] = {}
    known = [c for c in cases if truth_of(c)]
    owners: dict[str, list[str]] = {}
    for key, items in (
        ("prompt", [(c.prompt, c) for c in known]),
        ("rephrase", [(r, c) for c in known for r in c.rephrases]),
    ):
        pairs = [(p, truth_of(c)) for p, c in items]
        preds = _predictions(model, tokenizer, pairs, cfg)  # type: ignore[arg-type]
        hits = [float((p == g).float().mean()) for p, g in preds]
        firsts = [float(p[0] == g[0]) for p, g in preds]
        out[key], out[f"{key}_first"], out[f"n_{key}"] = _mean(hits), _mean(firsts), len(hits)
        owners[key] = [c.property or "-" for _, c in items]
        for prop in sorted(set(owners[key])):
            mine = [i for i, o in enumerate(owners[key]) if o == prop]
            row = out.setdefault("by_property", {}).setdefault(prop, {})
            row[key] = _mean([hits[i] for i in mine])
            row[f"{key}_first"] = _mean([firsts[i] for i in mine])
            row[f"n_{key}"] = len(mine)
    if len(out.get("by_property", {})) < 2:
        out.pop("by_property", None)
    return out


def evaluate(
    model: nn.Module,
    tokenizer: Any,
    cases: Sequence[EditCase],
    new_session: Callable[[], EditSession],
    edit_names: Sequence[str],
    cfg: EvalConfig,
    meta: Mapping[str, Any] | None = None,
    progress: bool = False,
    other_pool: Sequence[EditCase] = (),
) -> dict[str, Any]:
    """Run the protocol for every T in ``cfg.T``; return the result document (protocol included).
    ``other_pool``: more cases (e.g. the train split) whose subjects may serve as the unedited
    "other subjects" of the specificity probes (at large T a chunk edits most evaluated subjects)."""
    from tqdm.auto import tqdm

    model.eval()
    guard = WeightGuard(model, edit_names)
    facts = fact_accuracy(model, tokenizer, cases, cfg)
    others = OtherSubjects([*cases, *other_pool], cfg.shuffle_seed)
    results = []
    for T in cfg.T:
        chunks = chunk_order(len(cases), T, cfg.shuffle_seed)
        if cfg.max_chunks is not None:
            chunks = chunks[: cfg.max_chunks]
        t0 = time.perf_counter()
        per_case: list[tuple[EditCase, dict[str, float]]] = []
        chunk_of: list[int] = []
        for idx in tqdm(chunks, disable=not progress, desc=f"eval T={T}", dynamic_ncols=True):
            chunk = [cases[i] for i in idx]
            pre_loc = [p for p, _ in _predictions(model, tokenizer, _loc_pairs(chunk)[0], cfg)]
            session = new_session()
            try:
                for case in chunk:
                    session.edit(case)
                with session.applied():
                    scores = score_chunk(model, tokenizer, chunk, pre_loc, cfg, others)
            finally:
                session.close()
            guard.verify()
            per_case.extend(zip(chunk, scores, strict=True))
            chunk_of.extend([len(chunk_of) // T] * T)
        results.append(
            {
                "T": T,
                "n_chunks": len(chunks),
                "n_edits": len(chunks) * T,
                **summarise(per_case),
                "seconds": round(time.perf_counter() - t0, 3),
                "per_case": [
                    {"id": c.id, "chunk": k, "property": c.property, "relation_id": c.relation_id, **sc}
                    for k, (c, sc) in zip(chunk_of, per_case, strict=True)
                ],
            }
        )
    return {
        "protocol": protocol(cfg),
        **(meta or {}),
        "n_cases": len(cases),
        "fact_accuracy": facts,
        "restore_verified": True,
        "results": results,
    }
