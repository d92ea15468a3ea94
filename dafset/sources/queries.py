"""SPARQL query texts live as ``.rq`` files beside this module; this fills their placeholders.

Placeholders use ``string.Template`` syntax. The kind of a placeholder is told by its name, and
every value is validated before it is written into the text:

- ``${items}``      -> ``wd:Q1 wd:Q2 ...``   (item ids, checked)
- ``${properties}`` -> ``wd:P19 wd:P69 ...`` (property entities, checked)
- ``${titles}``     -> ``"Douglas Adams"@en ...`` (escaped string literals)
- ``${start}``, ``${end}`` -> ``"2026-11-18T00:00:00Z"^^xsd:dateTime``
- ``${limit}``, ``${offset}`` -> integers

Each file's header declares its bound (``# Bound: items <= 500 (VALUES ?item)``): the placeholder
list that limits what the query touches and its largest size. A query whose header says ``# Bound:
none`` (a scan of every item or statement on the relations) runs on the in-process sample only;
``query_bound`` refuses to send it, or a list over its bound, to a remote endpoint.

Queries are portable SPARQL 1.1 (``rdfs:label`` + ``FILTER(LANG)``, never ``SERVICE
wikibase:label``) so the same text runs on WDQS, QLever and Oxigraph.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Sequence
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path

from dafset.errors import ConfigError
from dafset.ids import check_item, check_property
from dafset.settings import get_settings

PREFIXES = """PREFIX wd: <http://www.wikidata.org/entity/>
PREFIX wdt: <http://www.wikidata.org/prop/direct/>
PREFIX wds: <http://www.wikidata.org/entity/statement/>
PREFIX p: <http://www.wikidata.org/prop/>
PREFIX ps: <http://www.wikidata.org/prop/statement/>
PREFIX pq: <http://www.wikidata.org/prop/qualifier/>
PREFIX wikibase: <http://wikiba.se/ontology#>
PREFIX schema: <http://schema.org/>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
PREFIX xsd: <http://www.w3.org/2001/XMLSchema#>
"""

ENTITY_IRI = "http://www.wikidata.org/entity/"


def _literal(text: str) -> str:
    # json.dumps gives a correctly escaped double-quoted string (SPARQL accepts JSON escapes)
    return json.dumps(text, ensure_ascii=False) + "@en"


def _datetime(value: date | datetime | str) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    stamp = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f'"{stamp}"^^xsd:dateTime'


def _fill(name: str, value: object) -> str:
    if name == "items":
        return " ".join(f"wd:{check_item(v)}" for v in _seq(name, value))
    if name == "properties":
        return " ".join(f"wd:{check_property(v)}" for v in _seq(name, value))
    if name == "titles":
        return " ".join(_literal(str(v)) for v in _seq(name, value))
    if name in ("start", "end"):
        return _datetime(value)  # type: ignore[arg-type]
    if name in ("limit", "offset"):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"query placeholder ${{{name}}} needs a non-negative int, got {value!r}")
        return str(value)
    raise ConfigError(f"unknown query placeholder ${{{name}}}")


def _seq(name: str, value: object) -> Sequence[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ConfigError(f"query placeholder ${{{name}}} needs a list, got {type(value).__name__}")
    if not value:
        raise ConfigError(f"query placeholder ${{{name}}} got an empty list")
    return value


@cache
def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def query_path(name: str) -> Path:
    path = get_settings().queries_dir / f"{name}.rq"
    if not path.is_file():
        raise ConfigError(f"{path}: no such query file")
    return path


def render_query(name: str, **values: object) -> str:
    """The text of ``<name>.rq`` with prefixes prepended and placeholders filled (ids checked)."""
    path = query_path(name)
    template = string.Template(_text(path))
    wanted = {m.group("braced") or m.group("named") for m in template.pattern.finditer(template.template)}
    wanted.discard(None)
    missing = wanted - set(values)
    if missing:
        raise ConfigError(f"{path}: placeholder(s) {sorted(missing)} not given")
    filled = {k: _fill(k, v) for k, v in values.items() if k in wanted}
    return PREFIXES + template.substitute(filled)


def shorten(value: str) -> str:
    """``http://www.wikidata.org/entity/Q42`` -> ``Q42``; other values unchanged."""
    return value[len(ENTITY_IRI) :] if value.startswith(ENTITY_IRI) else value


_BOUND = re.compile(r"^# Bound: (?:(?P<name>[a-z]+) <= (?P<size>[0-9]+)\b|(?P<none>none)\b)", re.MULTILINE)


def declared_bound(name: str) -> tuple[str, int] | None:
    """``(placeholder, largest size)`` from ``<name>.rq``'s ``# Bound:`` header; None for ``none``."""
    path = query_path(name)
    match = _BOUND.search(_text(path))
    if match is None:
        raise ConfigError(f"{path}: no '# Bound:' header (the list that bounds the query, or 'none')")
    if match.group("none"):
        return None
    return match.group("name"), int(match.group("size"))


def query_bound(name: str, **values: object) -> tuple[str, int]:
    """Check that ``<name>.rq`` may go to a remote endpoint with these values: it declares a bound
    and the bounding list is within it. Returns the bound."""
    bound = declared_bound(name)
    if bound is None:
        raise ConfigError(
            f"{query_path(name)}: declared unbounded (a scan of Wikidata); not sent to a remote endpoint"
        )
    placeholder, size = bound
    given = values.get(placeholder)
    if not isinstance(given, Sequence) or isinstance(given, str) or not 0 < len(given) <= size:
        count = len(given) if isinstance(given, Sequence) else given
        raise ConfigError(f"{query_path(name)}: ${{{placeholder}}} needs 1..{size} values, got {count!r}")
    return bound
