"""Entity JSON parsing on real recorded entities."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from dafset.sources.live.entities import parse_entity, render_time, render_value, statement_ids


@pytest.fixture(scope="module")
def q42(fixtures_dir: Path) -> dict:
    return json.loads((fixtures_dir / "entity_json" / "qwikidata_wd_Q42.json").read_text())


def test_q42_truthy_place_of_birth_and_education(q42):
    entity = parse_entity(q42)
    assert entity.id == "Q42" and entity.type == "item"
    assert entity.values("P19") == ["Q350"]
    assert sorted(entity.values("P69")) == ["Q4961791", "Q691283"]
    (birth,) = entity.truthy["P19"]
    assert birth.statement_id == "q42$3D284234-52BC-4DA3-83A3-7C39F84BA518"
    assert birth.object_id == "Q350" and birth.value_type == "wikibase-entityid"


def test_q42_labels_aliases_and_metadata(q42):
    entity = parse_entity(q42)
    assert entity.label == "Douglas Adams"
    assert "Douglas Noël Adams" in entity.aliases
    assert entity.description == "author and humorist"
    assert entity.sitelinks == len(q42["sitelinks"]) > 100
    assert entity.enwiki_title == "Douglas Adams"
    assert entity.lastrevid == 716282445 and entity.modified == "2018-07-27T08:03:25Z"


def test_literal_values_are_rendered_as_text(q42):
    entity = parse_entity(q42)
    assert entity.values("P569") == ["1952-03-11"]  # date of birth, day precision
    assert entity.values("P570") == ["2001-05-11"]
    assert entity.values("P2048") == ["1.96"]  # height: quantity without "+"
    assert entity.values("P1477") == ["Douglas Noel Adams"]  # monolingual text
    (height,) = entity.truthy["P2048"]
    assert height.object_id is None and height.value_type == "quantity"


def test_preferred_rank_wins_and_deprecated_is_dropped(q42):
    data = copy.deepcopy(q42)
    p69 = data["claims"]["P69"]
    p69[0]["rank"] = "preferred"
    assert parse_entity(data).values("P69") == [p69[0]["mainsnak"]["datavalue"]["value"]["id"]]
    p69[0]["rank"] = "deprecated"
    remaining = parse_entity(data).values("P69")
    assert len(remaining) == 1 and remaining[0] != p69[0]["mainsnak"]["datavalue"]["value"]["id"]
    assert p69[0]["id"] not in statement_ids(data, ["P69"])
    assert p69[0]["id"] in statement_ids(data, ["P69"], deprecated=True)


def test_time_precision():
    assert render_time({"time": "+1952-03-11T00:00:00Z", "precision": 11}) == "1952-03-11"
    assert render_time({"time": "+1952-03-00T00:00:00Z", "precision": 10}) == "1952-03"
    assert render_time({"time": "+1952-00-00T00:00:00Z", "precision": 9}) == "1952"
    assert render_time({"time": "+1950-01-01T00:00:00Z", "precision": 8}) == "1950"
    assert render_time({"time": "-0044-03-15T00:00:00Z", "precision": 11}) == "-0044-03-15"
    assert render_value({"type": "string", "value": "douglas-adams"}) == (None, "douglas-adams")
    assert render_value({"type": "wikibase-entityid", "value": {"entity-type": "item", "numeric-id": 5}}) == ("Q5", "Q5")


def test_wbgetentities_answer_and_property(fixtures_dir: Path):
    data = json.loads((fixtures_dir / "entity_json" / "wdtk_wbgetentities-Q6-Q42-P31.json").read_text())
    q42 = parse_entity(data["entities"]["Q42"])
    assert q42.values("P19") == ["Q350"] and q42.lastrevid == 196015688
    p31 = parse_entity(data["entities"]["P31"])
    assert p31.type == "property" and p31.label == "instance of"


def test_revision_content_without_datatypes(fixtures_dir: Path):
    # revision content is the internal serialisation: no "datatype" in snaks, [] for empty maps
    data = json.loads((fixtures_dir / "mediawiki_api" / "editgroups_revisions_content_Q56427813.json").read_text())
    (page,) = data["query"]["pages"].values()
    content = json.loads(page["revisions"][0]["slots"]["main"]["*"])
    assert content["descriptions"] == []
    entity = parse_entity(content)
    assert entity.label == "legal form in France"
    assert entity.values("P279")
    assert entity.lastrevid is None and entity.sitelinks == len(content.get("sitelinks") or {})
