"""The sample converter: deterministic, loadable, licensed, honest about what it derived."""

from __future__ import annotations

import gzip
import json
import re
from itertools import pairwise
from pathlib import Path

import pytest
from pyoxigraph import RdfFormat, Store

from dafset.config import SAMPLE_SNAPSHOT
from dafset.settings import get_settings
from dafset.sources.sample import convert, entity_json
from dafset.sources.sample.derive import (
    AS_OF,
    HISTORY_DAYS,
    MARKER,
    is_derived_statement,
    stamp,
    statement_id,
)
from dafset.sources.sample.sources_md import SourceRow, lookup, read_sources
from dafset.sources.sample.values import wdqs_time

COMMITTED = get_settings().sample_dir
FILES = (
    convert.RDF_FILE,
    convert.REVISIONS_FILE,
    convert.PAGEVIEWS_FILE,
    convert.PROVENANCE_FILE,
    convert.NOTICE_FILE,
    convert.MANIFEST_FILE,
)


@pytest.fixture(scope="module")
def built(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert.build_sample(fixtures_dir, tmp_path_factory.mktemp("sample-a"))


def _read(folder: Path, name: str) -> bytes:
    data = (folder / name).read_bytes()
    return gzip.decompress(data) if name.endswith(".gz") else data


def _jsonl(folder: Path, name: str) -> list[dict]:
    return [json.loads(line) for line in _read(folder, name).decode().splitlines()]


def _manifest(folder: Path) -> dict:
    return json.loads((folder / convert.MANIFEST_FILE).read_text(encoding="utf-8"))


def test_same_inputs_give_the_same_bytes(
    built: Path, fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    again = convert.build_sample(fixtures_dir, tmp_path_factory.mktemp("sample-b"))
    for name in FILES:
        assert (built / name).read_bytes() == (again / name).read_bytes(), name


def test_committed_sample_is_what_the_converter_writes(built: Path) -> None:
    # Content, not gzip bytes: a different zlib may compress differently.
    for name in FILES[:-1]:
        assert _read(COMMITTED, name) == _read(built, name), (
            f"{name} is stale: run `python scripts/build_sample.py` and commit dafset/sources/sample/data"
        )
    assert _manifest(COMMITTED)["counts"] == _manifest(built)["counts"]


def test_rdf_loads_into_pyoxigraph_with_the_manifest_count(built: Path) -> None:
    store = Store()
    store.bulk_load(_read(built, convert.RDF_FILE), RdfFormat.N_TRIPLES)
    manifest = _manifest(built)
    assert len(store) == manifest["counts"]["triples"]
    assert manifest["as_of"] == f"{SAMPLE_SNAPSHOT.isoformat()}T00:00:00Z"
    assert manifest["data_date"]["snapshot"] == SAMPLE_SNAPSHOT.isoformat()
    assert manifest["history_days"] == HISTORY_DAYS
    total = sum(f["bytes"] for f in manifest["files"].values())
    assert total < 10_000_000


def test_rdf_has_the_wdqs_shape(built: Path) -> None:
    text = _read(built, convert.RDF_FILE).decode()
    wd, p, ps, wds = (
        "<http://www.wikidata.org/entity/",
        "<http://www.wikidata.org/prop/",
        "<http://www.wikidata.org/prop/statement/",
        "<http://www.wikidata.org/entity/statement/",
    )
    guid = "q42-3D284234-52BC-4DA3-83A3-7C39F84BA518"  # Q42's real place-of-birth statement
    assert f"{wd}Q42> <http://www.wikidata.org/prop/direct/P19> {wd}Q350> ." in text
    assert f"{wd}Q42> {p}P19> {wds}{guid}> ." in text
    assert f"{wds}{guid}> {ps}P19> {wd}Q350> ." in text
    assert (
        f"{wds}{guid}> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <http://wikiba.se/ontology#BestRank> ."
        in text
    )
    assert '"1952-03-11T00:00:00Z"^^<http://www.w3.org/2001/XMLSchema#dateTime>' in text
    assert (
        f'{wd}Q42> <http://schema.org/version> "716282445"^^<http://www.w3.org/2001/XMLSchema#integer> .'
        in text
    )
    assert f"<https://en.wikipedia.org/wiki/Douglas_Adams> <http://schema.org/about> {wd}Q42> ." in text
    assert (
        f"{wd}P19> <http://wikiba.se/ontology#directClaim> <http://www.wikidata.org/prop/direct/P19> ."
        in text
    )
    assert "xsd:decimal" not in text and "#decimal>" in text  # P1082 populations


def test_notice_lists_every_source_file_with_its_licence(built: Path) -> None:
    notice = (built / convert.NOTICE_FILE).read_text(encoding="utf-8")
    sources = _manifest(built)["sources"]
    assert set(sources) == {"bear", "popqa", "entity_json", "pageviews"}
    for entries in sources.values():
        for entry in entries:
            assert entry["file"] in notice and entry["commit"] in notice
            assert entry["licence"].replace("|", "\\|") in notice
            assert re.fullmatch(r"[0-9a-f]{40}", entry["commit"])
    assert len(sources["bear"]) == 39  # the BEAR-big files of our relations
    assert "CC BY-SA 4.0" in notice and "Wiland" in notice and "lm-pub-quiz/BEAR" in notice
    assert "Mallen" in notice and "What is derived" in notice


def test_no_gpl_content_is_shipped(built: Path) -> None:
    files = [e["file"] for entries in _manifest(built)["sources"].values() for e in entries]
    assert files and not [f for f in files if "dahlia" in f]


def test_entity_files_under_gpl_are_never_read(tmp_path: Path) -> None:
    # SOURCES.md decides: a GPL-declared entity file beside an MIT one is skipped, whatever it holds.
    (tmp_path / "entity_json").mkdir()
    for name in ("gpl_Q1.json", "mit_Q1.json", "unlisted_Q1.json"):
        (tmp_path / "entity_json" / name).write_text('{"id": "Q1", "type": "item"}', encoding="utf-8")
    rows = {
        name: SourceRow(name, "o/r", "x.json", "0" * 40, licence, "single entity JSON", "Q1")
        for name, licence in (("gpl_Q1.json", "GPL-3.0 (LICENSE)"), ("mit_Q1.json", "MIT (LICENSE)"))
    }
    assert [rel for rel, _ in entity_json.entity_files(tmp_path, rows)] == ["entity_json/mit_Q1.json"]


def test_the_carried_test_data_is_listed_and_redistributable(fixtures_dir: Path) -> None:
    rows = read_sources(fixtures_dir / "SOURCES.md")
    helpers = {"SOURCES.md", "index.jsonl", "wikiedu_mediawiki_api_index.jsonl", "wptools_index.jsonl"}
    files = [p for p in fixtures_dir.rglob("*") if p.is_file() and not p.name.startswith("SOURCES")]
    assert len(files) > 100
    for path in files:
        if path.name in helpers:
            continue
        row = lookup(rows, path.relative_to(fixtures_dir).as_posix())
        # MIT / Apache-2.0 repositories, or data declared CC BY(-SA) / MIT by its authors (BEAR, PopQA);
        # GPL (dahlia/wikidata) and unlicensed repositories (qizhou000/DAFNet, Hypogenic-AI) stay out.
        assert row.licence.startswith(("MIT", "Apache-2.0")) or re.search(
            r"cc-by-sa-4\.0|CC BY 4\.0", row.licence
        ), f"{path.name}: {row.licence}"
        assert row.repo not in {"dahlia/wikidata", "qizhou000/DAFNet"} and "Hypogenic" not in row.repo


def test_derived_rows_are_flagged(built: Path) -> None:
    revisions = _jsonl(built, convert.REVISIONS_FILE)
    assert revisions and all(r["derived"] is True for r in revisions)
    views = _jsonl(built, convert.PAGEVIEWS_FILE)
    assert {v["derived"] for v in views} == {True, False}
    assert all(v["derived"] == v["source"].startswith("derived:") for v in views)
    provenance = {row["qid"]: row for row in _jsonl(built, convert.PROVENANCE_FILE)}
    assert provenance["Q42"]["derived"] == [] and provenance["Q42"]["complete"]
    assert {"sitelinks", "statements"} <= set(provenance["Q1299"]["derived"])
    with_history = {r["qid"] for r in revisions}
    assert all({"modified", "version"} <= set(provenance[q]["derived"]) for q in with_history)
    for rev in revisions:
        assert all(is_derived_statement(a["statement"]) for a in rev["adds"])


def test_history_is_consistent(built: Path) -> None:
    revisions = _jsonl(built, convert.REVISIONS_FILE)
    by_item: dict[str, list[dict]] = {}
    for rev in revisions:
        by_item.setdefault(rev["qid"], []).append(rev)
    for qid, revs in by_item.items():
        assert revs[0]["kind"] == "base" and revs[0]["parentid"] == 0
        for before, after in pairwise(revs):
            assert after["parentid"] == before["revid"] and after["timestamp"] > before["timestamp"], qid
    in_history = [r for r in revisions if r["kind"] != "base"]
    assert all(r["timestamp"] < stamp(AS_OF) for r in revisions)
    assert sum(1 for r in in_history if r["adds"]) > 500
    assert any(r["kind"] == "touch" for r in in_history)  # edits that add no statement
    assert any(q["property"] == "P580" for r in in_history for q in r["qualifiers"])
    assert any(q["property"] == "P577" for r in in_history for q in r["qualifiers"])


def test_derived_statement_ids_are_recognisable() -> None:
    sid = statement_id("Q1", "P19", "Q350")
    assert sid.startswith(f"Q1-{MARKER}-") and sid == statement_id("Q1", "P19", "Q350")
    assert is_derived_statement(sid) and is_derived_statement(sid.replace("-", "$", 1))
    assert is_derived_statement(f"statement/{sid}")
    assert not is_derived_statement("q42-3D284234-52BC-4DA3-83A3-7C39F84BA518")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"time": "+1952-03-11T00:00:00Z", "precision": 11}, "1952-03-11T00:00:00Z"),
        ({"time": "+1971-00-00T00:00:00Z", "precision": 9}, "1971-01-01T00:00:00Z"),
        ({"time": "-0500-00-00T00:00:00Z", "precision": 9}, "-0499-01-01T00:00:00Z"),
        ({"time": "-0001-00-00T00:00:00Z", "precision": 9}, "0000-01-01T00:00:00Z"),
        (
            {
                "time": "+1582-10-04T00:00:00Z",
                "precision": 11,
                "calendarmodel": "http://www.wikidata.org/entity/Q1985786",
            },
            "1582-10-14T00:00:00Z",
        ),
        ({"time": "garbage"}, None),
    ],
)
def test_time_values_are_written_as_wdqs_does(value: dict, expected: str | None) -> None:
    assert wdqs_time(value) == expected
