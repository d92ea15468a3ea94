"""``DumpSource``: the Source contract over an ingest folder (``dafset ingest-dump``), through DuckDB.

Every named query the properties send (``queries/<name>.rq``) has a DuckDB twin in ``sql/<name>.sql``
that gives the same rows over the dump's Parquet tables: truthy is Wikidata's best-rank rule,
counts come from the global statistics (``stats/entities.parquet``), values are rendered as WDQS
renders them (``values.wdqs_time``; quantities as their amount). What a dump cannot know — page
views, the most-viewed articles, the revisions that added statements (and so which items changed in
the window) — is asked of another Source (the sample's offline, the live services with network).

Beyond the contract, ``GlobalLongTail`` (``dafset.properties.long_tail``): a uniform stable-hash
pool of all items having the relations, and the global distributions of frequency and degree.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from dafset.errors import ConfigError, SourceError
from dafset.ids import check_items, check_properties
from dafset.source import PageViews, RecentChange, Source, StatementAddition
from dafset.sources.dump.hashes import hash_keys, hex_of
from dafset.sources.dump.integrity import verify_ingest, verify_stats
from dafset.sources.dump.layout import LAYOUT_TABLES, check_layout, layout_files
from dafset.sources.dump.stats import check_ingest
from dafset.sources.dump.tables import INGEST_MANIFEST, duckdb_files
from dafset.sources.sample.values import wdqs_time

SQL_DIR = Path(__file__).resolve().parent / "sql"
RANK_IRI = {
    "preferred": "http://wikiba.se/ontology#PreferredRank",
    "normal": "http://wikiba.se/ontology#NormalRank",
    "deprecated": "http://wikiba.se/ontology#DeprecatedRank",
}
# The statement queries: their qualifier variables (as the .rq files name them) -> table columns.
QUALIFIERS = {
    "truthy_facts": {"start": "start_time", "pointInTime": "point_in_time", "published": "publication_date"},
    "statement_history": {"start": "start_time", "end": "end_time"},
}
# Queries whose rows carry a statement value, rendered as a SPARQL store renders it (``_value``),
# and the other columns each keeps.
VALUED_QUERIES = {
    "facts_on_relations": ("item", "property", "itemLabel", "valueLabel"),
    "objects_of_relation": ("property", "uses", "label"),
    "entity_traits": ("item", "property"),
}
# Questions about history and page views: the dump is one state, so another source answers them.
DELEGATED_QUERIES = frozenset({"modified_items"})
CONNECTION = {  # SET on each connection
    "enable_progress_bar": "false",
    "parquet_metadata_cache": "true",  # each file's footer (its row groups' key ranges) read once
    # a join's key list (up to this many keys) becomes a filter the scan checks against every
    # row group's min/max key: a batch of 200 items (SPARQL_BATCH) reads only their row groups
    "dynamic_or_filter_threshold": 1024,
}
HASH_BATCH = 1 << 20  # population ids fetched and hashed at a time


@cache
def sql_text(name: str) -> str:
    path = SQL_DIR / f"{name}.sql"
    if not path.is_file():
        raise ConfigError(f"{path}: no such dump query (the dump source answers {sorted(_known())})")
    return path.read_text(encoding="utf-8")


def _known() -> set[str]:
    return {p.stem for p in SQL_DIR.glob("*.sql") if not p.stem.startswith("_")} | DELEGATED_QUERIES


def _value(row: dict[str, Any]) -> str | None:
    """A statement's value as a SPARQL store returns it from ``wdt:`` / ``ps:`` (the calendar
    model is not ingested, so times are read as Gregorian)."""
    kind = row["value_type"]
    if kind == "item":
        return row["object_id"]
    if kind == "time":
        return wdqs_time({"time": row["time"], "precision": row["precision"] or 0}) if row["time"] else None
    if kind == "quantity":
        return canonical_decimal(row["quantity_amount"])
    return row["value"]


def canonical_decimal(amount: str | None) -> str | None:
    """A quantity amount (``+1.50``) in xsd:decimal's canonical form (``1.5``), as SPARQL stores
    return it; None when it is not a number."""
    try:
        number = Decimal(amount or "")
    except InvalidOperation:
        return None
    return "0" if number == 0 else format(number.normalize(), "f")


def _qualifier_time(raw: str | None) -> str | None:
    return wdqs_time({"time": raw, "precision": 0}) if raw else None


def _strings(row: dict[str, Any]) -> dict[str, str]:
    """Unbound variables are left out, as a SPARQL source leaves them out."""
    return {k: str(v) for k, v in row.items() if v is not None}


class DumpSource:
    """Read access to an ingested Wikidata dump (``name="dump"``); ``delegate`` answers page views,
    top articles, revisions and the recency candidates."""

    name = "dump"

    def __init__(self, ingest_dir: Path, delegate: Source, *, memory_limit: str = "2GB") -> None:
        check_ingest(ingest_dir)
        # the whole ingest that ingest.json describes, and statistics and a layout made from it
        manifest = verify_ingest(ingest_dir)
        verify_stats(ingest_dir, manifest)
        check_layout(ingest_dir, manifest)
        self.ingest_dir = ingest_dir
        self.delegate = delegate
        self.endpoint = f"duckdb:{ingest_dir.resolve()} ({self._dump_name()}) + {delegate.endpoint}"
        self.con = duckdb.connect(config={"memory_limit": memory_limit})
        for option, value in CONNECTION.items():
            self.con.execute(f"SET {option} = {value}")
        self.con.execute(sql_text("_keys"))
        files = {t: duckdb_files(layout_files(ingest_dir, t)) for t in LAYOUT_TABLES}
        self.con.execute(sql_text("_views").format(**files))
        self._population: tuple[str, ...] | None = None  # the relations of the temp table

    def _dump_name(self) -> str:
        manifest = self.ingest_dir / INGEST_MANIFEST
        if not manifest.is_file():
            return "no ingest.json"
        data = json.loads(manifest.read_text(encoding="utf-8"))
        return str(data.get("dump") or data.get("path") or "dump")

    def _rows(self, name: str, **params: Any) -> list[dict[str, Any]]:
        cursor = self._cursor(name, **params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]

    def _cursor(self, name: str, **params: Any) -> duckdb.DuckDBPyConnection:
        try:
            return self.con.execute(sql_text(name), params)
        except duckdb.Error as exc:  # e.g. a folder ingested by an older version (a missing column)
            first = str(exc).strip().splitlines()[0]
            raise SourceError(f"{self.ingest_dir}: dump query sql/{name}.sql failed: {first}") from exc

    # -- the Source contract -------------------------------------------------------------------

    def select(self, query: str, **values: Sequence[str] | str | int) -> list[dict[str, str]]:
        """The rows ``queries/<query>.rq`` gives on a SPARQL source, from the dump's tables."""
        if query in DELEGATED_QUERIES:
            return self.delegate.select(query, **values)
        params = _checked(values)
        if query in QUALIFIERS:
            return self._statements(query, params)
        if query == "labels":
            return self._labels(params)
        if query in VALUED_QUERIES:
            return self._valued(query, params)
        return [_strings(r) for r in self._rows(query, **params)]

    def _statements(self, query: str, params: dict[str, Any]) -> list[dict[str, str]]:
        out = []
        for r in self._rows(query, **params):
            value = _value(r)
            if value is None:
                continue
            row = {
                "item": r["item"],
                "property": r["property"],
                "statement": r["statement"],
                "value": value,
                "rank": RANK_IRI.get(r["rank"]),
            }
            row |= {var: _qualifier_time(r[column]) for var, column in QUALIFIERS[query].items()}
            out.append(_strings(row))
        return out

    def _labels(self, params: dict[str, Any]) -> list[dict[str, str]]:
        out = []
        for r in self._rows("labels", **params):
            aliases = r["aliases"] or [None]
            out.extend(_strings({"item": r["item"], "label": r["label"], "alias": a}) for a in aliases)
        return out

    def _valued(self, query: str, params: dict[str, Any]) -> list[dict[str, str]]:
        out = []
        for r in self._rows(query, **params):
            value = _value(r)
            if value is None:
                continue
            row = {k: r[k] for k in VALUED_QUERIES[query]}
            row["object" if query == "objects_of_relation" else "value"] = value
            out.append(_strings(row))
        return out

    def top_articles(self, start: date, end: date, limit: int) -> list[PageViews]:
        return self.delegate.top_articles(start, end, limit)

    def items_for_titles(self, titles: Sequence[str]) -> dict[str, str]:
        """Title -> Q-id through the dump's English sitelinks (spaces or underscores; keys as given)."""
        wanted: dict[str, list[str]] = {}
        for given in titles:
            if given and given.strip():
                wanted.setdefault(given.replace("_", " ").strip(), []).append(given)
        if not wanted:
            return {}
        found = {r["title"]: r["item"] for r in self._rows("items_for_titles", titles=sorted(wanted))}
        return {g: found[t] for t, spellings in wanted.items() if t in found for g in spellings}

    def pageviews(self, titles: Sequence[str], start: date, end: date) -> dict[str, PageViews]:
        return self.delegate.pageviews(titles, start, end)

    def statement_additions(
        self, items: Sequence[str], start: datetime, end: datetime, relations: Sequence[str]
    ) -> list[StatementAddition]:
        return self.delegate.statement_additions(items, start, end, relations)

    # the dump is one state: the edit history and random draws come from the delegate too
    def recent_changes(self, start: datetime, end: datetime, limit: int | None = None) -> list[RecentChange]:
        return self.delegate.recent_changes(start, end, limit)

    def revision_statements(self, revids: Sequence[int]) -> dict[int, dict[str, str] | None]:
        return self.delegate.revision_statements(revids)

    def random_items(self, n: int) -> list[str]:
        return self.delegate.random_items(n)

    # what the delegate made up (the bundled sample): a dump of the sample carries its derived
    # date qualifiers and sitelink counts as if real, so the delegate's flags are passed on
    def derived_date_statements(self, statements: Sequence[str]) -> set[str]:
        ask = getattr(self.delegate, "derived_date_statements", None)
        return ask(statements) if ask is not None else set()

    def derived_fields(self, items: Sequence[str]) -> dict[str, list[str]]:
        ask = getattr(self.delegate, "derived_fields", None)
        return ask(items) if ask is not None else {}

    # -- GlobalLongTail (dafset.properties.long_tail) ------------------------------------------

    def long_tail_pool(self, relations: Sequence[str], size: int, salt: str) -> list[str]:
        """``size`` items drawn uniformly from all items having the relations: the smallest
        ``stable_hash(salt, id)`` (computed in numpy, a running top ``size`` per fetched batch)."""
        self._use_population(relations)
        best_keys, best_ids = np.empty(0, np.uint64), pa.array([], pa.string())
        for ids in self._id_batches("long_tail_pool"):
            keys = np.concatenate([best_keys, hash_keys(salt, ids)])
            ids = pa.concat_arrays([best_ids, ids.cast(pa.string())])
            if len(keys) > size:
                keep = np.argpartition(keys, size - 1)[:size] if size else np.empty(0, np.int64)
                keys, ids = keys[keep], ids.take(pa.array(keep))
            best_keys, best_ids = keys, ids
        return sorted(best_ids.to_pylist())

    def long_tail_histogram(self, relations: Sequence[str], criterion: str) -> list[tuple[int, int]]:
        """The criterion's global distribution: (value, number of items), by value."""
        self._use_population(relations)
        rows = self._rows("long_tail_histogram", criterion=criterion)
        return [(int(r["value"]), int(r["n"])) for r in rows]

    def long_tail_tie_cutoff(
        self, relations: Sequence[str], criterion: str, value: int, k: int, salt: str
    ) -> str | None:
        """The ``k``-th smallest stable hash among the items whose criterion equals ``value``."""
        self._use_population(relations)
        batches = self._id_batches("long_tail_tie_cutoff", criterion=criterion, value=value)
        tied = np.concatenate([np.empty(0, np.uint64), *(hash_keys(salt, ids) for ids in batches)])
        if not 0 < k <= len(tied):
            return None
        return hex_of(np.partition(tied, k - 1)[k - 1])

    def _use_population(self, relations: Sequence[str]) -> None:
        """The population temp table (``sql/_population.sql``), computed once per relation set."""
        wanted = tuple(check_properties(relations))
        if self._population != wanted:
            self._cursor("_population", properties=list(wanted))
            self._population = wanted

    def _id_batches(self, name: str, **params: Any) -> Iterator[pa.Array]:
        """The first column of a query, as Arrow arrays of up to HASH_BATCH ids (streamed)."""
        try:
            reader = self.con.sql(sql_text(name), params=params).to_arrow_reader(HASH_BATCH)
        except duckdb.Error as exc:
            raise SourceError(f"{self.ingest_dir}: dump query sql/{name}.sql failed: {exc}") from exc
        for batch in reader:
            yield batch.column(0)


def _checked(values: dict[str, Any]) -> dict[str, Any]:
    """Ids are checked as for SPARQL (one clear line on a bad one); the rest is bound, never spliced."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name == "items":
            out[name] = check_items(_listed(name, value))
        elif name == "properties":
            out[name] = check_properties(_listed(name, value))
        elif name == "titles":
            out[name] = [str(t) for t in _listed(name, value)]
        elif name in ("limit", "offset"):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"dump query parameter {name} needs a non-negative int, got {value!r}")
            out[name] = value
        else:
            raise ConfigError(f"dump query parameter {name!r} is not one the queries take")
    return out


def _listed(name: str, value: object) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise ConfigError(f"dump query parameter {name} needs a non-empty list, got {value!r}")
    return list(value)
