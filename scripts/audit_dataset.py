"""Audit a published DAFSet snapshot: every figure of issues 10 and 18, measured on the published
files alone, with definitions of its own (the auditor does not reuse the builder's rules).

    python scripts/audit_dataset.py out/dafset/latest                  # one snapshot: a table
    python scripts/audit_dataset.py BEFORE AFTER                       # before / after table
    python scripts/audit_dataset.py out/dafset/latest --json           # the figures as JSON

Reads ``data/<config>/<split>-*.parquet``, ``facts.parquet``, ``manifest.json`` and relations.yaml
(its templates, and its ``inverse:`` / ``symmetric:`` ties where present). Every rendered string
is read: prompts, rephrases, questions, locality and portability probes, prefixes and answers.
"""

from __future__ import annotations

import argparse
import calendar
import json
import re
import statistics
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ("recent", "popular", "long_tail", "robust")
HELD_OUT = ("validation", "test")

# -- the auditor's own definitions --------------------------------------------------------------

# Ties used when relations.yaml declares none (``inverse: P..`` / ``symmetric: true`` win).
BUILTIN_INVERSE = {"P36": "P1376", "P1376": "P36"}  # capital <-> capital of
BUILTIN_SYMMETRIC = frozenset({"P26", "P190", "P3373", "P47"})  # spouse, twinned, sibling, border
# Aliases no answer may carry: ethnic slurs that Wikidata lists as aliases of peoples and countries.
OFFENSIVE = frozenset(
    [
        "jap",
        "japs",
        "nip",
        "nips",
        "chink",
        "chinks",
        "paki",
        "pakis",
        "gook",
        "gooks",
        "kraut",
        "krauts",
        "wop",
        "wops",
        "dago",
        "dagos",
        "spic",
        "spics",
        "kike",
        "kikes",
        "eyetie",
        "eyeties",
        "limey",
        "limeys",
        "yid",
        "yids",
        "raghead",
        "ragheads",
        "towelhead",
        "coon",
        "coons",
        "darkie",
        "darkies",
    ]
)
CODE = re.compile(r"^[a-z]{2,3}$")  # "can", "pol", "slo": lower-case codes, never a name in English
# Names that read "the X" in running English (a built-in list plus the shapes below).
NEEDS_THE = frozenset(
    {
        "United States",
        "United States of America",
        "United Kingdom",
        "Netherlands",
        "Philippines",
        "Bahamas",
        "Gambia",
        "Maldives",
        "Comoros",
        "Seychelles",
        "Soviet Union",
        "Holy See",
        "Vatican City",
        "Czech Republic",
        "Dominican Republic",
        "Central African Republic",
        "United Arab Emirates",
        "Democratic Republic of the Congo",
        "Republic of the Congo",
        "Ivory Coast",
        "Isle of Man",
        "European Union",
        "Ottoman Empire",
        "Roman Empire",
        "Holy Roman Empire",
        "Byzantine Empire",
        "Russian Empire",
        "Confederate States of America",
    }
)
NEEDS_THE_SHAPE = re.compile(
    r"^(?:(?:People's |Islamic |Federal |Socialist |Democratic )*Republic of|Kingdom of|Principality of|"
    r"Grand Duchy of|Duchy of|Empire of|Commonwealth of|Federation of|Union of|State of|University of) "
    r"|(?: Islands| Republic| Kingdom| Empire| Emirates| Federation)$"
)
# State verbs in the present tense: wrong for a subject that died or a statement that ended.
PRESENT = re.compile(
    r"\b(?:holds|has|have|plays|works|lives|speaks|communicates|uses|writes|belongs|is (?:a |an )?"
    r"(?:member|married|employed|affiliated|citizen|the (?:head|leader))|serves|heads|leads|owns)\b",
    re.I,
)
DEATH = ("P570", "P576")  # date of death, dissolved
DATES = ("P569", "P570", "P571", "P576", "P577")
PLACE_CLASSES = frozenset({"Q2221906", "Q56061", "Q515"})  # a city is a place: one kind
FAMOUS_SITELINKS, FAMOUS_VIEWS, EARLY_QID = 20, 1000, 1_000_000
_MONTHS = "|".join(calendar.month_name[1:])
_ON_YEAR = re.compile(r"\bon (?:(?:" + _MONTHS + r") )?-?\d{1,4}\b(?! (?:" + _MONTHS + r"))")
_YEAR_OR_MONTH = re.compile(r"^(?:(?:" + _MONTHS + r") )?-?\d{1,4}(?: BC)?$")
_SUBJECT = re.compile(r"\{\{\s*subject\s*\}\}")


def norm(text: str) -> str:
    """Prompts compared without case, articles or spacing: 'The capital of the X is' == 'capital of X is'."""
    words = re.sub(r"[\u2019`]", "'", text).lower().split()
    return " ".join(w for w in words if w != "the")


# -- reading ------------------------------------------------------------------------------------


def load_rows(snapshot: Path) -> list[dict[str, Any]]:
    rows = []
    for config in CONFIGS:
        for path in sorted((snapshot / "data" / config).glob("*.parquet")):
            split = path.name.split("-", 1)[0]
            for row in pq.read_table(path).to_pylist():
                row["split"] = split
                for key in ("locality", "portability", "prefix", "rephrase_prompts", "answers"):
                    row[key] = row.get(key) or []
                for probe in row["locality"]:
                    if "answers" not in probe:
                        probe["answers"] = [probe["answer"]] if probe.get("answer") else []
                rows.append(row)
    return rows


def strings(row: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(field, text) of every rendered string of a row."""
    yield "prompt", row["prompt"]
    for text in row["rephrase_prompts"]:
        yield "rephrase", text
    if row.get("question"):
        yield "question", row["question"]
    for kind in ("locality", "portability"):
        for probe in row[kind]:
            yield kind, probe["prompt"]
            for answer in probe.get("answers") or []:
                yield "answer", answer
    for prefix in row["prefix"]:
        # a length prefix is rendered from templates; context and sentiment text is the model's
        yield ("prefix" if prefix["kind"] == "length" else "generated"), prefix["text"]
    for answer in [row["target_new"], row.get("target_true") or "", *row["answers"]]:
        if answer:
            yield "answer", answer


class Relations:
    """relations.yaml as the auditor reads it: every template with ``{{ subject }}`` and the ties."""

    def __init__(self, path: Path = ROOT / "relations.yaml") -> None:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        self.entries = {str(r["id"]): r for r in doc["relations"]}
        self.declared_ties = any("inverse" in r or "symmetric" in r for r in doc["relations"])
        self.templates = {pid: sorted(set(_subject_templates(r))) for pid, r in self.entries.items()}

    def tied(self, pid: str) -> str | None:
        """The relation that reads (object, ?) back to the subject: inverse, or itself if symmetric."""
        entry = self.entries.get(pid, {})
        if self.declared_ties:
            if entry.get("inverse"):
                return str(entry["inverse"])
            return pid if entry.get("symmetric") else None
        return BUILTIN_INVERSE.get(pid) or (pid if pid in BUILTIN_SYMMETRIC else None)

    def asks(self, subject: str, pid: str) -> set[str]:
        """Every normalised prompt / question that asks (subject, pid)."""
        return {norm(_SUBJECT.sub(subject, t)) for t in self.templates.get(pid, [])}

    def object_class(self, pid: str) -> str | None:
        value = self.entries.get(pid, {}).get("object_class")
        return str(value) if value else None


def _subject_templates(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        if _SUBJECT.search(node) and "object" not in node:
            yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _subject_templates(value)
    elif isinstance(node, list):
        for value in node:
            yield from _subject_templates(value)


class Graph:
    """What facts.parquet tells: ids by label, classes, dates, ended statements, values."""

    def __init__(self, snapshot: Path, relations: Relations) -> None:
        facts = pq.read_table(snapshot / "facts.parquet").to_pylist()
        self.ids: dict[str, set[str]] = defaultdict(set)  # label -> ids
        self.alias_of: dict[str, set[str]] = defaultdict(set)  # alias -> ids
        self.classes: dict[str, set[str]] = defaultdict(set)
        self.dates: dict[str, dict[str, int]] = defaultdict(dict)  # id -> relation -> year
        self.values: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.ended: set[tuple[str, str, str]] = set()  # (subject, relation, object label)
        for f in facts:
            self.ids[f["subject_label"] or ""].add(f["subject_id"])
            for alias in f.get("subject_aliases") or []:
                self.alias_of[alias].add(f["subject_id"])
            self.values[(f["subject_id"], f["relation_id"])].add(f["object_label"])
            if f.get("end_time"):
                self.ended.add((f["subject_id"], f["relation_id"], f["object_label"]))
            if f["object_id"]:
                self.ids[f["object_label"] or ""].add(f["object_id"])
                for alias in f.get("object_aliases") or []:
                    self.alias_of[alias].add(f["object_id"])
                cls = relations.object_class(f["relation_id"])
                if cls:
                    self.classes[f["object_id"]].add(cls)
            if f["relation_id"] in DATES:
                match = re.match(r"\+?(-?\d{1,4})-", f["object_value"] or "")
                if match:
                    self.dates[f["subject_id"]][f["relation_id"]] = int(match.group(1))

    def kind(self, q: str) -> frozenset[str]:
        found = self.classes.get(q, set())
        return frozenset({"place"} if found & PLACE_CLASSES else set()) | frozenset(found - PLACE_CLASSES)

    def dead(self, q: str) -> bool:
        return any(r in self.dates.get(q, {}) for r in DEATH)

    def ambiguous(self, alias: str, owner: set[str]) -> bool:
        """The alias is the label or an alias of an entity other than its owner(s)."""
        return bool((self.ids.get(alias, set()) | self.alias_of.get(alias, set())) - owner)


# -- issue 18 items 1-3: probes that another edit of the same split changes ---------------------


def edited_prompts(rows: list[dict[str, Any]], rel: Relations) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Per split: normalised prompt -> the cases that edit what it asks (directly, or through an
    inverse / symmetric tie: editing X's spouse changes what "Y's spouse is" may answer)."""
    out: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r["property"] == "robust":
            continue  # variants repeat their base's edit
        asked = {norm(r["prompt"]), *map(norm, r["rephrase_prompts"])} | rel.asks(
            r["subject"], r["relation_id"]
        )
        tie = rel.tied(r["relation_id"])
        if tie:
            for value in {r["target_new"], r.get("target_true") or ""} - {""}:
                asked |= rel.asks(value, tie)
        for text in asked:
            out[r["split"]][text].append(r)
    return out


def same_split(rows: list[dict[str, Any]], rel: Relations) -> dict[str, Any]:
    edited = edited_prompts(rows, rel)
    loc = contradicted = port = reph = 0
    loc_rows: set[str] = set()
    for r in rows:
        split = edited[r["split"]]
        others = _asking(split, r.get("base_id") or r["id"])
        for probe in r["locality"]:
            hits = others(probe["prompt"])
            if hits:
                loc += 1
                loc_rows.add(r["id"])
                truths = {c.get("target_true") for c in hits if c["edit_kind"] == "counterfactual"}
                contradicted += bool(truths & set(probe["answers"]))
        for probe in r["portability"]:
            if probe["kind"] == "subject_aliasing":
                continue  # it asks the case's own edit on purpose
            port += bool(others(probe["prompt"], own=False)) or _premise_edited(r, probe, split, rows)
        reph += sum(bool(others(t, own=False)) for t in r["rephrase_prompts"])
    return {
        "locality_probes_asking_edited_same_split": loc,
        "locality_probes_contradicted_by_same_split_edit": contradicted,
        "rows_with_such_locality_probe": len(loc_rows),
        "portability_probes_with_edited_premise": port,
        "rephrases_asking_another_same_split_edit": reph,
        "ties_from": "relations.yaml"
        if rel.declared_ties
        else "built-in list (relations.yaml declares none)",
    }


def _asking(split: dict[str, list[dict[str, Any]]], base: str) -> Any:
    """cases of the split that edit what a text asks (``own=False``: other than the base case)"""

    def others(text: str, own: bool = True) -> list[dict[str, Any]]:
        return [c for c in split.get(norm(text), []) if own or c["id"] != base]

    return others


def _premise_edited(row: dict[str, Any], probe: dict[str, Any], split: dict[str, list], rows: list) -> bool:
    """A compositional probe's premise is a fact about the new target: edited if a case of the
    split edits (target, r2) for a relation r2 the probe names."""
    if probe["kind"] != "compositional":
        return False
    text = probe["prompt"].lower()
    return any(
        c["subject"] == row["target_new"] and c["relation_label"].lower() in text and c["id"] != row["id"]
        for cases in split.values()
        for c in cases
    )


def preservation_and_length(rows: list[dict[str, Any]]) -> dict[str, Any]:
    preservation = [(r, p) for r in rows for p in r["portability"] if p["kind"] == "preservation"]
    length = [r for r in rows if r["property"] == "robust" and r["criterion"] == "length"]
    return {
        "preservation_probes": len(preservation),
        "preservation_probes_equal_to_edit_prompt": sum(
            norm(p["prompt"]) == norm(r["prompt"]) for r, p in preservation
        ),
        "robust_length_rows": len(length),
        "robust_length_rephrase_equal_to_prompt": sum(
            any(norm(t) == norm(r["prompt"]) for t in r["rephrase_prompts"]) for r in length
        ),
        "rows_with_rephrase_equal_to_prompt": sum(
            any(norm(t) == norm(r["prompt"]) for t in r["rephrase_prompts"]) for r in rows
        ),
    }


# -- items 4-6: answers, aliases, wording -------------------------------------------------------


def alias_figures(rows: list[dict[str, Any]], graph: Graph) -> dict[str, Any]:
    code_lists = offensive = ambiguous_answers = ambiguous_aliasing = 0
    junk_rows = 0
    lists = [(r, [r["target_new"], *r["answers"]]) for r in rows]
    lists += [(r, p["answers"]) for r in rows for p in (*r["locality"], *r["portability"])]
    bad_rows: set[str] = set()
    for r, answers in lists:
        label = answers[0] if answers else ""
        # the entities the list answers with: those whose label it holds (multi-valued relations)
        owner = {q for a in answers for q in graph.ids.get(a, set())}
        aliases = [a for a in answers[1:] if not graph.ids.get(a, set()) & owner]
        codes = [a for a in aliases if CODE.match(a) and len(label) > len(a)]
        slurs = [a for a in answers if a.lower() in OFFENSIVE]
        vague = [a for a in aliases if graph.alias_of.get(a, set()) & owner and graph.ambiguous(a, owner)]
        code_lists += bool(codes)
        offensive += len(slurs)
        ambiguous_answers += len(vague)
        if codes or slurs or vague:
            bad_rows.add(r["id"])
    for r in rows:
        for p in r["portability"]:
            if p["kind"] == "subject_aliasing":
                alias = _replaced(r["prompt"], p["prompt"], r["subject"])
                owner = graph.ids.get(r["subject"], {r["subject_id"]}) | {r["subject_id"]}
                if alias and (
                    graph.ambiguous(alias, owner) or CODE.match(alias) or alias.lower() in OFFENSIVE
                ):
                    ambiguous_aliasing += 1
                    bad_rows.add(r["id"])
    junk_rows = len(bad_rows)
    return {
        "answer_lists_with_lowercase_code": code_lists,
        "offensive_aliases": offensive,
        "ambiguous_aliases_in_answers": ambiguous_answers,
        "bad_subject_aliasing_probes": ambiguous_aliasing,
        "junk_alias_rows_share": round(junk_rows / len(rows), 3) if rows else 0.0,
    }


def _replaced(prompt: str, probe: str, subject: str) -> str:
    """The alias that stands where the subject stood (the rest of the prompt being equal)."""
    at = prompt.find(subject)
    if at < 0:
        return ""
    head, tail = prompt[:at], prompt[at + len(subject) :]
    if probe.startswith(head) and probe.endswith(tail) and len(probe) > len(head) + len(tail):
        return probe[len(head) : len(probe) - len(tail)]
    return ""


def _missing_the(text: str, labels: Iterable[str], names: Iterable[str] = ()) -> bool:
    """A label that needs "the" stands bare in ``text``; a label inside a longer name of the row
    ("Abra, Ivory Coast", "112th United States Colored Infantry") is part of that name."""
    covers = [(m.start(), m.end()) for n in names if n for m in re.finditer(re.escape(n), text)]
    for label in labels:
        for match in re.finditer(re.escape(label), text):
            inside = any(a <= match.start() and match.end() <= b and (b - a) > len(label) for a, b in covers)
            before = text[: match.start()]
            if not inside and not re.search(r"\b[Tt]he $", before):
                return True
    return False


def _row_names(row: dict[str, Any]) -> list[str]:
    """Every name a row mentions: subject, targets, answers (of the edit and of its probes)."""
    names = [row["subject"], row["target_new"], row.get("target_true") or "", *row["answers"]]
    for kind in ("locality", "portability"):
        for probe in row[kind]:
            names += probe.get("answers") or []
    return names


def wording_figures(rows: list[dict[str, Any]], graph: Graph) -> dict[str, Any]:
    needs = [lab for lab in graph.ids if lab and (lab in NEEDS_THE or NEEDS_THE_SHAPE.search(lab))]
    needs = sorted(set(needs) | NEEDS_THE, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(n) for n in needs)) if needs else None
    missing = double = on_year = 0
    per_field: Counter[str] = Counter()
    for r in rows:
        names = _row_names(r)
        for fld, text in strings(r):
            if fld == "generated":
                continue  # the model's own words: not rendered by the builder
            if "  " in text or text != text.strip():
                double += 1
                per_field[f"spacing:{fld}"] += 1
            if fld != "answer" and pattern is not None and pattern.search(text):
                found = [n for n in needs if n in text]
                if _missing_the(text, found, names):
                    missing += 1
                    per_field[f"article:{fld}"] += 1
            if fld != "answer" and _ON_YEAR.search(text):
                on_year += 1
    for r in rows:
        if r["prompt"].endswith(" on") and _YEAR_OR_MONTH.match(r["target_new"]):
            on_year += 1
    return {
        "missing_articles": missing,
        "double_or_edge_spaces": double,
        "wording_defects_by_field": dict(per_field),
        "on_year_renders": on_year,
    }


def tense_figures(rows: list[dict[str, Any]], graph: Graph, rel: Relations) -> dict[str, Any]:
    """Present-tense state verbs about a subject that died / was dissolved, or an ended statement."""
    dead = ended = probes = 0
    labels_dead = {lab for lab, ids in graph.ids.items() if lab and ids and all(graph.dead(q) for q in ids)}
    for r in rows:
        texts = [r["prompt"], *r["rephrase_prompts"], r.get("question") or ""]
        present = any(PRESENT.search(t) for t in texts)
        if present and graph.dead(r["subject_id"]):
            dead += 1
        truth = r.get("target_true") if r["edit_kind"] == "counterfactual" else r["target_new"]
        if present and (r["subject_id"], r["relation_id"], truth) in graph.ended:
            ended += 1
        for p in r["locality"]:
            if PRESENT.search(p["prompt"]) and any(lab in p["prompt"] for lab in labels_dead if len(lab) > 3):
                probes += 1
    return {
        "present_tense_rows_dead_subject": dead,
        "present_tense_rows_ended_statement": ended,
        "present_tense_probes_dead_subject": probes,
        "subjects_with_death_date": sum(1 for q in graph.dates if graph.dead(q)),
    }


# -- items 7-9: checks that must really run -----------------------------------------------------


def sentiment_figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A fixed opening is the longest word prefix (after the subject) that 3+ sentiment prefixes of
    one polarity share; the generated part is what follows it, and it alone must carry the polarity."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    vader = SentimentIntensityAnalyzer()
    items = [(r, p) for r in rows for p in r["prefix"] if p["kind"] == "sentiment"]
    if not items:
        return {"sentiment_prefixes": 0, "sentiment_score_equals_opening": 0, "sentiment_pass_rate": None}
    tails = [_after_subject(p["text"], r["subject"]).split() for r, p in items]
    same, passed = 0, 0
    for (r, p), words in zip(items, tails, strict=True):
        peers = [t for (_, q), t in zip(items, tails, strict=True) if q["polarity"] == p["polarity"]]
        k = _shared_prefix(words, peers)
        opening, generated = " ".join(words[:k]), " ".join(words[k:])
        if abs(vader.polarity_scores(f"{r['subject']} {opening}")["compound"] - (p["score"] or 0.0)) < 1e-4:
            same += 1
        score = vader.polarity_scores(generated)["compound"] if generated else 0.0
        passed += score > 0.05 if p["polarity"] == "positive" else score < -0.05
    return {
        "sentiment_prefixes": len(items),
        "sentiment_score_equals_opening": same,
        "sentiment_pass_rate": round(passed / len(items), 3),
    }


def _after_subject(text: str, subject: str) -> str:
    return text[len(subject) :] if text.startswith(subject) else text


def _shared_prefix(words: list[str], peers: list[list[str]]) -> int:
    for k in range(len(words), 0, -1):
        if sum(1 for t in peers if t[:k] == words[:k]) >= 3:
            return k
    return 0


def target_figures(
    rows: list[dict[str, Any]], graph: Graph, had: dict[tuple[str, str], set[str]]
) -> dict[str, Any]:
    cases = [r for r in rows if r["edit_kind"] == "counterfactual"]
    true_target = wrong_kind = stale = kind_data = era_data = 0
    for r in cases:
        key = (r["subject_id"], r["relation_id"])
        if r["target_new"] in r["answers"] or r["target_new"] in graph.values.get(key, set()) | had.get(
            key, set()
        ):
            true_target += 1
        targets = graph.ids.get(r["target_new"], set())
        truths = graph.ids.get(r.get("target_true") or "", set())
        kinds_new = {graph.kind(q) for q in targets} - {frozenset()}
        kinds_true = {graph.kind(q) for q in truths} - {frozenset()}
        if kinds_new and kinds_true:
            kind_data += 1
            wrong_kind += not (kinds_new & kinds_true)
        start = graph.dates.get(r["subject_id"], {})
        begun = start.get("P569", start.get("P571"))
        target_dates = [graph.dates.get(q, {}) for q in targets if graph.dates.get(q)]
        if begun is not None and target_dates:
            era_data += 1
            stale += any(d.get("P570", d.get("P576", 10**6)) < begun for d in target_dates)
    n = len(cases)
    return {
        "counterfactual_cases": n,
        "counterfactual_true_targets": true_target,
        "counterfactual_wrong_type_targets": wrong_kind,
        "counterfactual_stale_targets": stale,
        "counterfactual_kind_check_data_share": round(kind_data / n, 3) if n else 0.0,
        "counterfactual_era_check_data_share": round(era_data / n, 3) if n else 0.0,
        "swapped_true_values_within_split": _swaps(cases),
    }


def _swaps(cases: list[dict[str, Any]]) -> int:
    """Pairs of one split and relation whose new targets are each other's true values."""
    seen: dict[tuple[str, str, str, str], int] = Counter()
    pairs = 0
    for r in cases:
        if r["property"] == "robust":
            continue
        key = (r["split"], r["relation_id"], r.get("target_true") or "", r["target_new"])
        pairs += seen[(key[0], key[1], key[3], key[2])]
        seen[key] += 1
    return pairs


# -- items 10-12: the sample tells the truth about itself ---------------------------------------


def sample_figures(rows: list[dict[str, Any]], manifest: dict[str, Any]) -> dict[str, Any]:
    data_date = manifest.get("data_date") or {}
    recent = [r for r in rows if r["property"] == "recent"]
    derived_recency = any("added_at" in (r["evidence"].get("derived") or []) for r in recent)
    config = manifest.get("config") or {}
    from_sample = manifest.get("source") == "sample" or (
        manifest.get("source") == "dump" and config.get("dump_delegate") == "sample"
    )
    made_up = from_sample or derived_recency
    lt = [r for r in rows if r["property"] == "long_tail"]
    famous = unknown = early = 0
    days = (manifest.get("window") or {}).get("days") or 30  # evidence.pageviews: over the window
    for r in lt:
        ev, flags = r["evidence"], set(r["evidence"].get("derived") or [])
        links = ev.get("sitelinks") if "sitelinks" not in flags else None
        views = ev.get("pageviews") if "pageviews" not in flags else None
        famous += (links or 0) >= FAMOUS_SITELINKS or (views or 0) * 30 / days >= FAMOUS_VIEWS
        unknown += links is None and views is None
        early += int(r["subject_id"][1:]) < EARLY_QID
    return {
        "snapshot_date": manifest.get("snapshot_date"),
        "data_date": data_date.get("snapshot"),
        "snapshot_after_data_date": (
            bool(data_date.get("snapshot"))
            and str(manifest.get("snapshot_date")) > str(data_date.get("snapshot"))
        )
        or (from_sample and not data_date),
        "recent_rows": len(recent),
        "recent_rows_empty_derived_on_made_up_history": sum(
            1 for r in recent if made_up and not r["evidence"].get("derived")
        ),
        "physically_new_unflagged_on_made_up_history": sum(
            1
            for r in recent
            if made_up
            and r["evidence"].get("physically_new")
            and "physically_new" not in (r["evidence"].get("derived") or [])
        ),
        "long_tail_rows": len(lt),
        "long_tail_famous": famous,
        "long_tail_popularity_unknown": unknown,
        "long_tail_early_qid_proxy": early,
    }


# -- issue 10's figures, kept -------------------------------------------------------------------


def leakage_figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Probes whose prompt is an edit prompt (or rephrase) of a case in another split."""
    prompt_splits: dict[str, set[str]] = defaultdict(set)
    held_insertions: set[tuple[str, str]] = set()
    for r in rows:
        for p in [r["prompt"], *r["rephrase_prompts"]]:
            prompt_splits[norm(p)].add(r["split"])
        if r["split"] in HELD_OUT and r["edit_kind"] == "insertion":
            held_insertions.add((norm(r["prompt"]), r["target_new"]))
    held_prompts = {norm(r["prompt"]): r["id"] for r in rows if r["split"] in HELD_OUT}
    leaking = exact = 0
    revealed: set[str] = set()
    for r in rows:
        for probe in r["locality"]:
            text = norm(probe["prompt"])
            if prompt_splits.get(text, set()) - {r["split"]}:
                leaking += 1
                if text in held_prompts and r["split"] not in HELD_OUT:
                    revealed.add(held_prompts[text])
                exact += any((text, a) in held_insertions for a in probe["answers"])
    held = sum(1 for r in rows if r["split"] in HELD_OUT)
    counts = [len(r["locality"]) for r in rows]
    n = len(rows)
    return {
        "leaking_probes": leaking,
        "held_out_cases_revealed_share": round(len(revealed) / held, 3) if held else 0.0,
        "leaking_probes_exact_held_out_insertion": exact,
        "locality_probes": sum(counts),
        "probes_per_case_median": statistics.median(counts) if counts else 0,
        "cases_with_one_probe_share": round(sum(c == 1 for c in counts) / n, 3) if n else 0.0,
        "cases_with_5_probes_share": round(sum(c >= 5 for c in counts) / n, 3) if n else 0.0,
        "probe_kinds": dict(Counter(p["kind"] for r in rows for p in r["locality"])),
        "insertion_rows_target_true_eq_new": sum(
            1 for r in rows if r["edit_kind"] == "insertion" and r.get("target_true") == r["target_new"]
        ),
    }


def reflexive_and_skew(rows: list[dict[str, Any]], rel: Relations) -> dict[str, Any]:
    asks: dict[str, str] = {}  # normalised probe prompt -> subject label, for the labels seen
    labels = {r["subject"] for r in rows} | {a for r in rows for p in r["locality"] for a in p["answers"]}
    answers_of = {norm(p["prompt"]): p["answers"] for r in rows for p in r["locality"]}
    for pid in rel.templates:
        for label in labels:
            for text in rel.asks(label, pid):
                if text in answers_of:
                    asks[text] = label
    reflexive = sum(
        1
        for r in rows
        if r["subject"] in (r.get("target_true"), r["target_new"])
        or any(asks.get(norm(p["prompt"])) in p["answers"] for p in r["locality"])
    )
    shares = {}
    for config in CONFIGS:
        per = Counter(r["relation_id"] for r in rows if r["property"] == config)
        total = sum(per.values())
        if total:
            relation, n = per.most_common(1)[0]
            shares[config] = {"relation": relation, "share": round(n / total, 3)}
    return {"reflexive_rows": reflexive, "max_relation_share": shares}


# -- the report ---------------------------------------------------------------------------------


def had_values(rows: list[dict[str, Any]], source_name: str) -> dict[tuple[str, str], set[str]]:
    """Labels of every value (all ranks, ended ones included) each counterfactual row's subject has
    or had for its relation, read from a source (``sample``: the bundled store, offline)."""
    from dafset.build.enrich import fetch_names
    from dafset.build.pipeline import open_source
    from dafset.config import BuildConfig
    from dafset.properties.facts import fetch_history

    source = open_source(BuildConfig(source=source_name))
    cases = [r for r in rows if r["edit_kind"] == "counterfactual"]
    history = fetch_history(
        source, [r["subject_id"] for r in cases], sorted({r["relation_id"] for r in cases})
    )
    names = fetch_names(source, [h["value"] for hs in history.values() for h in hs])
    return {
        key: {names[h["value"]].label if h["value"] in names else h["value"] for h in hs}
        for key, hs in history.items()
    }


def audit(snapshot: Path, history_source: str | None = None, relations: Path | None = None) -> dict[str, Any]:
    rows = load_rows(snapshot)
    rel = Relations(relations or ROOT / "relations.yaml")
    graph = Graph(snapshot, rel)
    manifest_path = snapshot / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.is_file() else {}
    had = had_values(rows, history_source) if history_source else {}
    out: dict[str, Any] = {"snapshot": str(snapshot), "rows": len(rows)}
    out |= leakage_figures(rows)
    out |= same_split(rows, rel)
    out |= preservation_and_length(rows)
    out |= alias_figures(rows, graph)
    out |= tense_figures(rows, graph, rel)
    out |= wording_figures(rows, graph)
    out |= sentiment_figures(rows)
    out |= target_figures(rows, graph, had)
    out |= sample_figures(rows, manifest)
    out |= reflexive_and_skew(rows, rel)
    return out


FIGURES = (
    ("rows", "rows (cases)"),
    ("leaking_probes", "10: locality probes repeating an edit prompt of another split"),
    ("held_out_cases_revealed_share", "10: held-out cases whose prompt is a train probe (share)"),
    ("locality_probes", "locality probes"),
    ("probes_per_case_median", "locality probes per case, median"),
    ("insertion_rows_target_true_eq_new", "10: insertion rows with target_true == target_new"),
    (
        "locality_probes_asking_edited_same_split",
        "18.1: locality probes asking a (subject, relation) a case of the same split edits (ties incl.)",
    ),
    (
        "locality_probes_contradicted_by_same_split_edit",
        "18.1: ... of them contradicted by a counterfactual edit",
    ),
    ("rows_with_such_locality_probe", "18.1: rows with such a probe"),
    (
        "portability_probes_with_edited_premise",
        "18.1: portability probes whose prompt or premise a same-split case edits",
    ),
    ("rephrases_asking_another_same_split_edit", "18.1: rephrases asking another same-split case's edit"),
    ("ties_from", "18.1: inverse/symmetric ties read from"),
    ("preservation_probes", "18.2: preservation probes"),
    ("preservation_probes_equal_to_edit_prompt", "18.2: preservation probes equal to the edit prompt"),
    ("robust_length_rephrase_equal_to_prompt", "18.3: robust length rows with a rephrase == prompt"),
    ("rows_with_rephrase_equal_to_prompt", "18.3: any row with a rephrase == prompt"),
    ("answer_lists_with_lowercase_code", "18.4: answer lists with a lower-case 2-3 letter code"),
    ("offensive_aliases", "18.4: offensive aliases (block list) in answers"),
    ("ambiguous_aliases_in_answers", "18.4: aliases in answers naming another known entity"),
    ("bad_subject_aliasing_probes", "18.4: subject-aliasing probes with an ambiguous/code/offensive alias"),
    ("junk_alias_rows_share", "18.4: rows with any such alias (share)"),
    ("present_tense_rows_dead_subject", "18.5: present-tense rows about a dead/dissolved subject"),
    ("present_tense_rows_ended_statement", "18.5: present-tense rows about an ended statement"),
    ("present_tense_probes_dead_subject", "18.5: present-tense locality probes about a dead subject"),
    ("subjects_with_death_date", "18.5: entities with a date of death/dissolution in facts.parquet"),
    ("missing_articles", "18.6: strings lacking 'the' before a name that needs it (every field)"),
    ("double_or_edge_spaces", "18.6: strings with double or edge spaces (every field)"),
    ("on_year_renders", '10: "on <year>" renders'),
    ("sentiment_prefixes", "18.7: sentiment prefixes"),
    ("sentiment_score_equals_opening", "18.7: sentiment prefixes scored exactly as their fixed opening"),
    ("sentiment_pass_rate", "18.7: pass rate, VADER of the generated part alone"),
    ("counterfactual_cases", "counterfactual cases"),
    ("counterfactual_true_targets", "10: counterfactual targets the subject has or had"),
    ("counterfactual_wrong_type_targets", "10: counterfactual targets of another kind than the truth"),
    ("counterfactual_stale_targets", "10: counterfactual targets that died before the subject began"),
    ("counterfactual_kind_check_data_share", "18.8: share of counterfactual cases with kind-check data"),
    ("counterfactual_era_check_data_share", "18.8: share of counterfactual cases with era-check data"),
    ("swapped_true_values_within_split", "18.9: pairs of same-split cases that swap true values"),
    ("snapshot_date", "18.10: snapshot date"),
    ("data_date", "18.10: data date (manifest data_date)"),
    ("snapshot_after_data_date", "18.10: snapshot dated after its data (or sample without a data date)"),
    ("recent_rows", "recent rows"),
    (
        "recent_rows_empty_derived_on_made_up_history",
        "18.11: recent rows with empty evidence.derived (made-up history)",
    ),
    (
        "physically_new_unflagged_on_made_up_history",
        "18.11: physically_new without its flag (made-up history)",
    ),
    ("long_tail_rows", "long_tail rows"),
    (
        "long_tail_famous",
        f"18.12: long_tail rows famous by real evidence (>= {FAMOUS_SITELINKS} sitelinks or {FAMOUS_VIEWS} views/month)",
    ),
    ("long_tail_popularity_unknown", "18.12: long_tail rows with no real popularity evidence"),
    (
        "long_tail_early_qid_proxy",
        f"18.12: long_tail rows with a subject id below Q{EARLY_QID} (proxy for famous)",
    ),
    ("reflexive_rows", "10: rows with a reflexive fact (edit or probe)"),
)


def table(results: list[dict[str, Any]]) -> str:
    head = [
        "figure",
        *(["before", "after"] if len(results) == 2 else [f"#{i + 1}" for i in range(len(results))]),
    ]
    if len(results) == 1:
        head = ["figure", "value"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, text in FIGURES:
        lines.append(f"| {text} | " + " | ".join(str(r.get(key)) for r in results) + " |")
    for config in CONFIGS:
        cells = [r["max_relation_share"].get(config, {}) for r in results]
        lines.append(
            f"| max relation share, {config} | "
            + " | ".join(f"{c.get('share')} ({c.get('relation')})" for c in cells)
            + " |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "snapshots", nargs="+", type=Path, help="published snapshot folder(s): one, or BEFORE AFTER"
    )
    parser.add_argument(
        "--history", choices=("sample", "live"), help="also read every statement (all ranks) from this source"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON instead of a table")
    parser.add_argument("--relations", type=Path, help="relations.yaml (default: the repository's)")
    parser.add_argument("--table", action="store_true", help=argparse.SUPPRESS)  # the default now
    args = parser.parse_args(argv)
    for path in args.snapshots:
        if not (path / "facts.parquet").is_file():
            print(f"{path}: not a published snapshot (no facts.parquet)", file=sys.stderr)
            return 2
    results = [audit(p, args.history, args.relations) for p in args.snapshots]
    if args.json:
        print(json.dumps(results if len(results) > 1 else results[0], indent=2, default=str))
    else:
        print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
