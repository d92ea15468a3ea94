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
    "jap japs nip nips chink chinks paki pakis gook gooks kraut krauts wop wops dago dagos spic spics "
    "kike kikes eyetie eyeties limey limeys yid yids raghead ragheads towelhead coon coons darkie "
    "darkies jerry jerries".split()
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
        yield "prefix", prefix["text"]
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
        asked = {norm(r["prompt"]), *map(norm, r["rephrase_prompts"])} | rel.asks(r["subject"], r["relation_id"])
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
        base = r.get("base_id") or r["id"]

        def others(text: str, own: bool = True) -> list[dict[str, Any]]:
            return [c for c in split.get(norm(text), []) if own or c["id"] != base]

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
        "ties_from": "relations.yaml" if rel.declared_ties else "built-in list (relations.yaml declares none)",
    }


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
        "preservation_probes_equal_to_edit_prompt": sum(norm(p["prompt"]) == norm(r["prompt"]) for r, p in preservation),
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
        label, aliases = (answers[0] if answers else ""), answers[1:]
        owner = graph.ids.get(label, set())
        codes = [a for a in aliases if CODE.match(a) and len(label) > len(a)]
        slurs = [a for a in answers if a.lower() in OFFENSIVE]
        vague = [a for a in aliases if owner and graph.ambiguous(a, owner)]
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
                if alias and (graph.ambiguous(alias, owner) or CODE.match(alias) or alias.lower() in OFFENSIVE):
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


def _missing_the(text: str, labels: Iterable[str]) -> bool:
    for label in labels:
        for match in re.finditer(re.escape(label), text):
            before = text[: match.start()]
            if not re.search(r"\b[Tt]he $", before):
                return True
    return False


def wording_figures(rows: list[dict[str, Any]], graph: Graph) -> dict[str, Any]:
    needs = [lab for lab in graph.ids if lab and (lab in NEEDS_THE or NEEDS_THE_SHAPE.search(lab))]
    needs = sorted(set(needs) | NEEDS_THE, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(n) for n in needs)) if needs else None
    missing = double = on_year = 0
    per_field: Counter[str] = Counter()
    for r in rows:
        for fld, text in strings(r):
            if "  " in text or text != text.strip():
                double += 1
                per_field[f"spacing:{fld}"] += 1
            if fld != "answer" and pattern is not None and pattern.search(text):
                found = [n for n in needs if n in text]
                if _missing_the(text, found):
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
