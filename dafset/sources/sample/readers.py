"""Read the real fixtures the sample is built from: BEAR-big facts, PopQA long-tail rows, entity JSON
files and a few real page-view series. Readers only parse; choosing and merging is ``convert``'s job.
"""

from __future__ import annotations

import csv
import json
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml

from dafset.errors import ConfigError
from dafset.ids import is_item

# PopQA relation names -> Wikidata properties (the mapping public PopQA loaders use; SOURCES.md §8).
POPQA_PROPERTIES = {
    "country": "P17",
    "author": "P50",
    "sport": "P641",
    "place of birth": "P19",
    "occupation": "P106",
    "genre": "P136",
    "director": "P57",
    "composer": "P86",
    "screenwriter": "P58",
    "religion": "P140",
    "producer": "P162",
    "capital": "P36",
    "father": "P22",
    "capital of": "P1376",
    "mother": "P25",
    "color": "P462",
}
ENTITY_IRI = "http://www.wikidata.org/entity/"
# The real page-view series in the fixtures that are English Wikipedia article views.
WPTOOLS_PAGEVIEWS = (
    "mediawiki_api/wptools_enwiki_query_prop_pageviews_categories_langlinks_Douglas_Adams.json"
)
WIKIEDU_DIR = "pageviews/wikiedu_per_article"


@dataclass(frozen=True)
class RawFact:
    """One (subject, property, object) fact of a fact set, with the names the set gives."""

    subject: str
    property: str
    object: str
    subject_label: str
    subject_aliases: tuple[str, ...]
    object_label: str
    object_aliases: tuple[str, ...]
    source: str  # fixture path relative to the fixtures folder
    subject_title: str | None = None  # English Wikipedia titles (PopQA only)
    object_title: str | None = None
    subject_views: int | None = None  # PopQA s_pop / o_pop: monthly English Wikipedia views
    object_views: int | None = None


@dataclass(frozen=True)
class RealViews:
    title: str
    monthly: int
    source: str  # fixture path
    note: str


def read_relations(path: Path) -> dict[str, str]:
    """``relations.yaml`` -> {P-id: value_type}, in file order."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        return {str(r["id"]): str(r["value_type"]) for r in doc["relations"]}
    except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read relations ids/value_types ({exc})") from exc


def read_bear(fixtures: Path, relations: dict[str, str]) -> tuple[list[RawFact], list[str]]:
    """BEAR-big facts on our relations, and the files read."""
    facts: list[RawFact] = []
    used: list[str] = []
    folder = fixtures / "facts" / "bear_BEAR-big"
    for pid in sorted(relations, key=lambda p: int(p[1:])):
        path = folder / f"{pid}.jsonl"
        if not path.is_file():
            continue
        rel = f"facts/bear_BEAR-big/{pid}.jsonl"
        used.append(rel)
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = orjson.loads(line)
            if not (is_item(row["sub_id"]) and is_item(row["obj_id"])):
                continue
            facts.append(
                RawFact(
                    subject=row["sub_id"],
                    property=pid,
                    object=row["obj_id"],
                    subject_label=row["sub_label"],
                    subject_aliases=tuple(row.get("sub_aliases") or ()),
                    object_label=row["obj_label"],
                    object_aliases=(),
                    source=rel,
                )
            )
    return facts, used


def _aliases(cell: str) -> tuple[str, ...]:
    try:
        values = json.loads(cell) if cell else []
    except json.JSONDecodeError:
        return ()
    return tuple(v for v in values if isinstance(v, str) and v.strip())


def _qid(uri: str) -> str | None:
    qid = uri[len(ENTITY_IRI) :] if uri.startswith(ENTITY_IRI) else ""
    return qid if is_item(qid) else None


def read_popqa(fixtures: Path, relations: dict[str, str]) -> tuple[list[RawFact], list[str]]:
    """PopQA long-tail rows on our relations (real monthly views for subject and object)."""
    rel = "facts/longtailqa_DisambPopQA.csv"
    facts: list[RawFact] = []
    with (fixtures / rel).open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            pid = POPQA_PROPERTIES.get(row["prop"])
            subject, obj = _qid(row["s_uri"]), _qid(row["o_uri"])
            if pid not in relations or subject is None or obj is None:
                continue
            facts.append(
                RawFact(
                    subject=subject,
                    property=pid,
                    object=obj,
                    subject_label=row["subj"],
                    subject_aliases=_aliases(row["s_aliases"]),
                    object_label=row["obj"],
                    object_aliases=_aliases(row["o_aliases"]),
                    source=rel,
                    subject_title=row["s_wiki_title"] or None,
                    object_title=row["o_wiki_title"] or None,
                    subject_views=int(row["s_pop"]) if row["s_pop"].isdigit() else None,
                    object_views=int(row["o_pop"]) if row["o_pop"].isdigit() else None,
                )
            )
    return facts, [rel]


def iter_entities(path: Path) -> Iterator[dict[str, Any]]:
    """Entities of one JSON file: dump layout (``[``, one entity per line ending ``,``, maybe no
    closing ``]``), a ``{"entities": {...}}`` answer, or a single entity object."""
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        for line in text.splitlines():
            line = line.strip().rstrip(",")
            if line and line not in ("[", "]"):
                yield orjson.loads(line)
        return
    doc = orjson.loads(text)
    if isinstance(doc.get("entities"), dict):
        yield from doc["entities"].values()
    else:
        yield doc


def read_real_views(fixtures: Path) -> list[RealViews]:
    """Real English Wikipedia page views in the fixtures, as monthly averages (30 x daily mean)."""
    out: list[RealViews] = []
    path = fixtures / WPTOOLS_PAGEVIEWS
    if path.is_file():
        doc = json.loads(path.read_text(encoding="utf-8"))
        pages = doc["query"]["pages"]
        for page in pages.values() if isinstance(pages, dict) else pages:
            daily = [v for v in (page.get("pageviews") or {}).values() if isinstance(v, int)]
            if daily:
                days = sorted(page["pageviews"])
                note = f"{len(daily)} daily counts {days[0]}..{days[-1]} (PageViewInfo)"
                out.append(
                    RealViews(page["title"], round(30 * statistics.fmean(daily)), WPTOOLS_PAGEVIEWS, note)
                )
    folder = fixtures / WIKIEDU_DIR
    for path in sorted(folder.glob("en.wikipedia__*.json")) if folder.is_dir() else []:
        doc = json.loads(path.read_text(encoding="utf-8"))
        items = [i for i in doc.get("items", []) if i.get("project") == "en.wikipedia"]
        if items:
            title = items[0]["article"].replace("_", " ")
            note = f"{len(items)} daily counts {items[0]['timestamp'][:8]}..{items[-1]['timestamp'][:8]}"
            mean = statistics.fmean(i["views"] for i in items)
            out.append(RealViews(title, round(30 * mean), f"{WIKIEDU_DIR}/{path.name}", note))
    return out
