"""Real full entities (Wikibase JSON) -> sample entities and statements, parsed with qwikidata.

Only files whose licence permits shipping are read (SOURCES.md decides; the GPL ``dahlia-wikidata_*``
fixtures never are). When several files hold the same item, the newest complete version wins, so
each item comes from one consistent revision.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qwikidata.entity import WikidataItem

from dafset.ids import is_item
from dafset.sources.sample.model import ITEM, QUANTITY, STRING, TIME, Entity, Qualifier, Statement
from dafset.sources.sample.readers import iter_entities
from dafset.sources.sample.sources_md import SourceRow
from dafset.sources.sample.values import wdqs_quantity, wdqs_time

# Test items whose claims are editors' experiments, not knowledge.
SANDBOX_ITEMS = frozenset({"Q4115189", "Q13406268", "Q15397819"})
_EMPTY_TERMS = {"labels": {}, "descriptions": {}, "aliases": {}, "sitelinks": {}, "claims": {}}


@dataclass(frozen=True)
class Version:
    file: str  # fixture path relative to the fixtures folder
    entity: dict[str, Any]
    complete: bool

    @property
    def rank_key(self) -> tuple[bool, int, int]:
        return (self.complete, int(self.entity.get("lastrevid") or -1), len(self.entity.get("claims") or {}))


def entity_files(fixtures: Path, rows: dict[str, SourceRow]) -> list[tuple[str, SourceRow]]:
    """Shippable entity JSON files (decompressed copies only), in name order."""
    out: list[tuple[str, SourceRow]] = []
    for path in sorted((fixtures / "entity_json").glob("*.json")):
        row = rows.get(path.name)
        if row is not None and row.permissive:
            out.append((f"entity_json/{path.name}", row))
    return out


def best_versions(
    fixtures: Path, files: list[tuple[str, SourceRow]], not_after: str | None = None
) -> dict[str, Version]:
    """One version per item: complete beats trimmed, then the highest lastrevid, then more claims.
    Versions modified after ``not_after`` (an ISO timestamp: the sample's date) are left out."""
    best: dict[str, Version] = {}
    for rel, row in files:
        for entity in iter_entities(fixtures / rel):
            qid = entity.get("id")
            if entity.get("type") != "item" or "missing" in entity or not is_item(qid):
                continue
            if qid in SANDBOX_ITEMS:
                continue
            if not_after is not None and str(entity.get("modified") or "") > not_after:
                continue  # newer than the sample's date
            complete = not row.partial and "labels" in entity and "sitelinks" in entity
            version = Version(rel, entity, complete)
            if qid not in best or version.rank_key > best[qid].rank_key:
                best[qid] = version
    return best


def _value(snak_dict: dict[str, Any]) -> tuple[str, str] | None:
    """(value, kind) of a value snak in WDQS form; None for somevalue/novalue/unsupported types."""
    if snak_dict.get("snaktype") != "value":
        return None
    datavalue = snak_dict.get("datavalue") or {}
    kind, value = datavalue.get("type"), datavalue.get("value")
    if kind == "wikibase-entityid" and isinstance(value, dict):
        # older JSON has only "numeric-id" + "entity-type"
        qid = value.get("id") or (
            f"Q{value['numeric-id']}"
            if value.get("entity-type") == "item" and "numeric-id" in value
            else None
        )
        return (qid, ITEM) if is_item(qid) else None
    if kind == "time" and isinstance(value, dict):
        text = wdqs_time(value)
        return (text, TIME) if text else None
    if kind == "quantity" and isinstance(value, dict):
        text = wdqs_quantity(value)
        return (text, QUANTITY) if text else None
    if kind == "string" and isinstance(value, str):
        return value, STRING
    return None


def _en(terms: dict[str, Any], key: str) -> str | None:
    entry = (terms.get(key) or {}).get("en")
    return entry.get("value") if isinstance(entry, dict) else None


def _lean(claim: dict[str, Any]) -> dict[str, Any]:
    # qwikidata insists on qualifier/reference "hash" keys that older dumps lack; qualifiers are
    # read from the raw dict instead, so they are left out of what qwikidata sees.
    return {k: v for k, v in claim.items() if k not in ("qualifiers", "qualifiers-order", "references")}


def convert(version: Version, relations: dict[str, str]) -> tuple[Entity, list[Statement]]:
    """The entity's terms, counts and its statements on ``relations`` (all ranks, best marked)."""
    raw = {**_EMPTY_TERMS, **version.entity}
    claims: dict[str, list[dict[str, Any]]] = raw["claims"] or {}
    ours = {pid: [_lean(c) for c in group] for pid, group in claims.items() if pid in relations}
    item = WikidataItem({**raw, "claims": ours})
    entity = Entity(qid=item.entity_id, sources={version.file}, complete=version.complete)
    if version.complete:
        entity.label = _en(raw, "labels")
        entity.description = _en(raw, "descriptions")
        entity.aliases = sorted({a for a in item.get_aliases("en") if a and a != entity.label})
        entity.title = item.get_enwiki_title() or None
        entity.sitelinks = len(raw["sitelinks"] or {})
        entity.statements = sum(len(group) for group in claims.values())
        entity.identifiers = sum(
            1 for group in claims.values() for c in group if c["mainsnak"].get("datatype") == "external-id"
        )
        entity.modified = raw.get("modified") or None
        entity.version = int(raw["lastrevid"]) if raw.get("lastrevid") else None
    by_id = {c["id"]: c for group in claims.values() for c in group}
    statements: list[Statement] = []
    for pid in sorted(ours, key=lambda p: int(p[1:])):
        truthy = {claim.claim_id for claim in item.get_truthy_claim_group(pid)}
        for claim in item.get_claim_group(pid):
            parsed = _value(claim.mainsnak._snak_dict)
            if parsed is None or parsed[1] != relations[pid]:
                continue  # somevalue/novalue, or a value of another type than the relation's
            qualifiers = [
                Qualifier(qpid, *qv)
                for qpid, snaks in (by_id[claim.claim_id].get("qualifiers") or {}).items()
                for snak in snaks
                if (qv := _value(snak)) is not None
            ]
            statements.append(
                Statement(
                    id=claim.claim_id.replace("$", "-", 1),
                    subject=entity.qid,
                    property=pid,
                    value=parsed[0],
                    kind=parsed[1],
                    rank=claim.rank,
                    best=claim.claim_id in truthy and claim.rank != "deprecated",
                    qualifiers=sorted(qualifiers, key=lambda q: (q.property, q.value)),
                    source="entity_json",
                )
            )
    return entity, statements
