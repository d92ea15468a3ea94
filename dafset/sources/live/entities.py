"""Entity JSON (wbgetentities, Special:EntityData, dump lines, revision content) to plain records.

qwikidata decides truthiness (best non-deprecated rank per property, as ``wdt:`` does). Only its
entity classes are used: its network helpers send no User-Agent and Wikimedia refuses them.

qwikidata is slow on references and insists on ``datatype`` in every snak, which revision content
(the internal serialisation) leaves out, so it is handed a lean copy: id, rank and main snak.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from qwikidata.entity import WikidataItem, WikidataProperty

# The datatype qwikidata wants when revision content does not say (only its presence matters).
_DATATYPE_FOR_VALUE = {
    "wikibase-entityid": "wikibase-item",
    "time": "time",
    "quantity": "quantity",
    "string": "string",
    "monolingualtext": "monolingualtext",
    "globecoordinate": "globe-coordinate",
}
_ENTITY_PREFIX = {"item": "Q", "property": "P", "lexeme": "L", "form": "L", "sense": "L"}


@dataclass(frozen=True)
class Claim:
    """One statement's main value, rendered: ``object_id`` for entities, ``object_value`` text."""

    relation_id: str
    statement_id: str
    rank: str
    object_id: str | None
    object_value: str
    value_type: str  # wikibase-entityid | time | quantity | string | monolingualtext | ...


@dataclass(frozen=True)
class Entity:
    id: str
    type: str
    label: str
    description: str
    aliases: tuple[str, ...]
    sitelinks: int
    enwiki_title: str
    lastrevid: int | None
    modified: str | None
    truthy: dict[str, tuple[Claim, ...]] = field(default_factory=dict)

    def values(self, relation_id: str) -> list[str]:
        """Truthy values of one property: ids for entities, text for literals."""
        return [c.object_id or c.object_value for c in self.truthy.get(relation_id, ())]


def _as_dict(value: Any) -> dict[str, Any]:
    # PHP serialises an empty map as [] in revision content and some API answers
    return value if isinstance(value, dict) else {}


def render_time(value: Mapping[str, Any]) -> str:
    """``+1952-03-11T00:00:00Z`` at day precision -> ``1952-03-11``; month -> ``1952-03``;
    year or coarser -> ``1952``. Years BCE keep their sign (``-0044``)."""
    text = str(value.get("time", ""))
    precision = int(value.get("precision", 11))
    sign = "-" if text.startswith("-") else ""
    body = text.lstrip("+-")
    date_part = body.split("T", 1)[0]
    pieces = date_part.split("-")
    if len(pieces) != 3:
        return text
    year, month, day = pieces
    if precision >= 11 and month != "00" and day != "00":
        return f"{sign}{year}-{month}-{day}"
    if precision >= 10 and month != "00":
        return f"{sign}{year}-{month}"
    return f"{sign}{year}"


def render_value(datavalue: Mapping[str, Any]) -> tuple[str | None, str]:
    """``(object_id, text)`` for a snak's datavalue; ``object_id`` only for entity values."""
    kind = datavalue.get("type")
    value = datavalue.get("value")
    if kind == "wikibase-entityid" and isinstance(value, Mapping):
        ident = value.get("id") or f"{_ENTITY_PREFIX.get(value.get('entity-type', 'item'), 'Q')}{value.get('numeric-id')}"
        return str(ident), str(ident)
    if kind == "time" and isinstance(value, Mapping):
        return None, render_time(value)
    if kind == "quantity" and isinstance(value, Mapping):
        return None, str(value.get("amount", "")).lstrip("+")
    if kind == "monolingualtext" and isinstance(value, Mapping):
        return None, str(value.get("text", ""))
    if kind == "globecoordinate" and isinstance(value, Mapping):
        return None, f"{value.get('latitude')},{value.get('longitude')}"
    return None, str(value if value is not None else "")


def _lean_claims(claims: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    lean: dict[str, list[dict[str, Any]]] = {}
    for pid, group in claims.items():
        out = []
        for claim in group if isinstance(group, list) else []:
            snak = dict(claim.get("mainsnak") or {})
            if snak.get("snaktype") == "value" and "datatype" not in snak:
                snak["datatype"] = _DATATYPE_FOR_VALUE.get(
                    (snak.get("datavalue") or {}).get("type"), "string"
                )
            out.append(
                {"id": claim.get("id", ""), "type": claim.get("type", "statement"),
                 "rank": claim.get("rank", "normal"), "mainsnak": snak}
            )
        lean[pid] = out
    return lean


def parse_entity(data: Mapping[str, Any], lang: str = "en") -> Entity:
    """An Entity from one entity object (items and properties)."""
    lean = {
        "id": data["id"],
        "type": data.get("type", "item"),
        "labels": _as_dict(data.get("labels")),
        "descriptions": _as_dict(data.get("descriptions")),
        "aliases": _as_dict(data.get("aliases")),
        "claims": _lean_claims(_as_dict(data.get("claims"))),
        "sitelinks": _as_dict(data.get("sitelinks")),
    }
    parsed = WikidataProperty(lean) if lean["type"] == "property" else WikidataItem(lean)
    truthy: dict[str, tuple[Claim, ...]] = {}
    for pid, group in parsed.get_truthy_claim_groups().items():
        claims = []
        for claim in group:
            snak = claim.mainsnak
            if snak.snaktype != "value" or snak.datavalue is None:
                continue  # somevalue / novalue cannot be an edit target
            object_id, text = render_value(snak.datavalue._datavalue_dict)
            claims.append(
                Claim(pid, claim.claim_id, claim.rank, object_id, text, snak.value_datatype or "")
            )
        if claims:
            truthy[pid] = tuple(claims)
    sitelinks = lean["sitelinks"]
    enwiki = sitelinks.get("enwiki")
    lastrevid = data.get("lastrevid")
    return Entity(
        id=str(data["id"]),
        type=str(lean["type"]),
        label=parsed.get_label(lang),
        description=parsed.get_description(lang),
        aliases=tuple(parsed.get_aliases(lang)),
        sitelinks=len(sitelinks),
        enwiki_title=str(enwiki.get("title", "")) if isinstance(enwiki, dict) else "",
        lastrevid=int(lastrevid) if lastrevid is not None else None,
        modified=data.get("modified"),
        truthy=truthy,
    )


def statement_ids(
    data: Mapping[str, Any], relations: Iterable[str] | None = None, *, deprecated: bool = False
) -> dict[str, str]:
    """``{statement id: property id}`` for an entity's statements (raw JSON; no truthiness).

    Deprecated statements are left out unless asked for: they never become ``wdt:`` facts.
    """
    claims = _as_dict(data.get("claims"))
    wanted = set(relations) if relations is not None else None
    out: dict[str, str] = {}
    for pid, group in claims.items():
        if wanted is not None and pid not in wanted:
            continue
        for claim in group if isinstance(group, list) else []:
            if not deprecated and claim.get("rank") == "deprecated":
                continue
            if claim.get("id"):
                out[str(claim["id"])] = pid
    return out
