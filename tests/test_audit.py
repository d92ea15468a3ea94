"""scripts/audit_dataset.py on small hand-made snapshots: one holds each defect of issue 18 once
(or a known number of times), its twin holds none; every figure must tell them apart."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def audit() -> ModuleType:
    spec = importlib.util.spec_from_file_location("audit_dataset", ROOT / "scripts" / "audit_dataset.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _evidence(**values: Any) -> dict[str, Any]:
    base = {"pageviews": None, "sitelinks": None, "physically_new": None, "derived": []}
    return base | values


def case(id_: str, subject: str, qid: str, relation: str, prompt: str, new: str, **kw: Any) -> dict[str, Any]:
    return {
        "id": id_,
        "property": kw.pop("property", "popular"),
        "criterion": kw.pop("criterion", "pageviews"),
        "subject": subject,
        "subject_id": qid,
        "relation_id": relation,
        "relation_label": kw.pop("relation_label", relation),
        "prompt": prompt,
        "target_new": new,
        "target_true": kw.pop("true", None),
        "answers": kw.pop("answers", [new]),
        "edit_kind": kw.pop("edit_kind", "counterfactual"),
        "rephrase_prompts": kw.pop("rephrases", [prompt + " (rephrased)"]),
        "locality": kw.pop("locality", []),
        "portability": kw.pop("portability", []),
        "prefix": kw.pop("prefix", []),
        "evidence": kw.pop("evidence", _evidence()),
        "question": kw.pop("question", None),
        "base_id": kw.pop("base_id", None),
        "split": kw.pop("split", "train"),
    }


def probe(prompt: str, answers: list[str], kind: str = "unrelated") -> dict[str, Any]:
    return {"prompt": prompt, "answers": answers, "kind": kind}


def fact(
    s: str, s_label: str, r: str, o: str | None, o_label: str, value: str | None = None, **kw: Any
) -> dict:
    return {
        "subject_id": s,
        "subject_label": s_label,
        "relation_id": r,
        "object_id": o,
        "object_value": value or o or o_label,
        "object_label": o_label,
        "subject_aliases": kw.get("s_aliases", []),
        "object_aliases": kw.get("o_aliases", []),
    }


def write(root: Path, rows: list[dict[str, Any]], facts: list[dict], manifest: dict[str, Any]) -> Path:
    for row in rows:
        folder = root / "data" / row["property"]
        folder.mkdir(parents=True, exist_ok=True)
    by_file: dict[Path, list[dict[str, Any]]] = {}
    for row in rows:
        path = root / "data" / row["property"] / f"{row.pop('split')}-00000.parquet"
        by_file.setdefault(path, []).append(row)
    for path, group in by_file.items():
        pq.write_table(pa.Table.from_pylist(group), path)
    pq.write_table(pa.Table.from_pylist(facts), root / "facts.parquet")
    (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return root


def sentiment(subject: str, tail: str, polarity: str, score: float) -> dict[str, Any]:
    opening = "is widely admired for" if polarity == "positive" else "is often criticised for"
    return {"text": f"{subject} {opening} {tail}.", "kind": "sentiment", "polarity": polarity, "score": score}


def defective(tmp: Path, vader_score: Any) -> Path:
    """A snapshot with each defect; comments give the figure each one raises."""
    washington = case(
        "gw", "George Washington", "Q23", "P463", "George Washington is a member of", "Hamas",
        true="freemasonry",
        portability=[probe("Washington is a member of", ["Hamas"], "subject_aliasing")],  # 18.4
    )  # fmt: skip
    rows = [
        washington,
        # 18.1: probes George Washington's edited fact in the same split (and contradicts it)
        case("a", "Alpha", "Q101", "P19", "Alpha was born in", "Oslo", true="Bergen",
             locality=[probe("George Washington is a member of", ["freemasonry"])]),
        # 18.1 (tie): Delta's spouse is edited; "Eps is married to" asks the tied fact
        case("d", "Delta", "Q102", "P26", "Delta is married to", "Zeta", true="Eps"),
        case("e", "Beta", "Q103", "P19", "Beta was born in", "Rome", true="Milan",
             locality=[probe("Eps is married to", ["Delta"]), probe("Gamma  was born in", ["Paris"])]),  # 18.6
        # 18.2: preservation probe = the edit prompt
        case("p", "Belgium", "Q31", "P37", "The official language of Belgium is", "Kazakh", true="French",
             portability=[probe("The official language of Belgium is", ["French"], "preservation")],
             question="What is the capital of United Kingdom?"),  # 18.6 missing article
        # 18.3: a robust length row whose rephrase is its prompt
        case("l", "Alpha", "Q101", "P19", "Alpha was born in", "Oslo", property="robust", criterion="length",
             rephrases=["Alpha was born in"], base_id="a",
             prefix=[sentiment("Alpha", "nothing", "positive", vader_score("Alpha is widely admired for")),
                     sentiment("Alpha", "cats", "positive", vader_score("Alpha is widely admired for")),
                     sentiment("Alpha", "dogs", "positive", vader_score("Alpha is widely admired for"))]),  # 18.7
        # 18.4: a lower-case code and a slur among the answers
        case("c", "Kiri", "Q104", "P27", "Kiri is a citizen of", "Canada", answers=["Canada", "can", "Jap"],
             edit_kind="insertion"),
        # 18.5: present tense about a man who died
        case("n", "Narses", "Q105", "P39", "Narses holds the position of", "consul", true="general",
             relation_label="position held"),
        # 18.9: Omega and Sigma swap their true values
        case("s1", "Omega", "Q106", "P19", "Omega was born in", "Lima", true="Quito"),
        case("s2", "Sigma", "Q107", "P19", "Sigma was born in", "Quito", true="Lima"),
        # 18.11: made-up history, nothing flagged
        case("r", "Rho", "Q108", "P19", "Rho was born in", "Oslo", property="recent", criterion="added",
             edit_kind="insertion", evidence=_evidence(physically_new=True)),
        # 18.12: a famous entity (real 80 sitelinks) and one of unknown popularity in long_tail
        case("t1", "Deborah Kerr", "Q207", "P19", "Deborah Kerr was born in", "Glasgow", property="long_tail",
             criterion="frequency", edit_kind="insertion", evidence=_evidence(sitelinks=80)),
        case("t2", "Tau", "Q12345678", "P19", "Tau was born in", "Oslo", property="long_tail",
             criterion="frequency", edit_kind="insertion"),
    ]  # fmt: skip
    facts = [
        fact("Q23", "George Washington", "P463", "Q1", "freemasonry", s_aliases=["Washington"]),
        fact("Q1223", "Washington", "P17", "Q30", "United States of America"),
        fact("Q16", "Canada", "P30", "Q49", "North America", s_aliases=["can"]),
        fact("Q105", "Narses", "P570", None, "574", value="0574-01-01T00:00:00Z"),
        fact("Q106", "Omega", "P19", "Q2868", "Quito"),
        fact("Q107", "Sigma", "P19", "Q2869", "Lima"),
        fact("Q145", "United Kingdom", "P36", "Q84", "London"),
    ]
    manifest = {"source": "sample", "snapshot_date": "2026-11-23"}
    return write(tmp / "bad", rows, facts, manifest)


def clean(tmp: Path) -> Path:
    rows = [
        case("a", "Alpha", "Q101", "P19", "Alpha was born in", "Oslo", true="Bergen",
             locality=[probe("Beta was born in", ["Milan"])],
             portability=[probe("The official languages of Alpha, which are not Kazakh, include", ["French"],
                                "preservation")],
             question="What is the capital of the United Kingdom?"),
        case("b", "Beta", "Q103", "P19", "Beta was born in", "Rome", true="Milan", split="test"),
        case("n", "Narses", "Q105", "P39", "Narses held the position of", "consul", true="general"),
        case("r", "Rho", "Q108", "P19", "Rho was born in", "Oslo", property="recent", criterion="added",
             edit_kind="insertion",
             evidence=_evidence(physically_new=True, derived=["added_at", "revision_id", "physically_new"])),
        case("t", "Tau", "Q12345678", "P19", "Tau was born in", "Oslo", property="long_tail",
             criterion="frequency", edit_kind="insertion", evidence=_evidence(pageviews=40)),
    ]  # fmt: skip
    facts = [
        fact("Q105", "Narses", "P570", None, "574", value="0574-01-01T00:00:00Z"),
        fact("Q145", "United Kingdom", "P36", "Q84", "London"),
    ]
    manifest = {"source": "sample", "snapshot_date": "2022-01-01", "data_date": {"snapshot": "2022-01-01"}}
    return write(tmp / "good", rows, facts, manifest)


@pytest.fixture(scope="module")
def figures(audit: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    vader = SentimentIntensityAnalyzer()
    tmp = tmp_path_factory.mktemp("audit")
    bad = defective(tmp, lambda text: vader.polarity_scores(text)["compound"])
    return audit.audit(bad), audit.audit(clean(tmp))


EXPECTED = {
    "locality_probes_asking_edited_same_split": 2,  # Washington's edit, and Delta's spouse by the tie
    "locality_probes_contradicted_by_same_split_edit": 1,
    "preservation_probes_equal_to_edit_prompt": 1,
    "robust_length_rephrase_equal_to_prompt": 1,
    "answer_lists_with_lowercase_code": 1,
    "offensive_aliases": 1,
    "bad_subject_aliasing_probes": 1,
    "present_tense_rows_dead_subject": 1,
    "missing_articles": 1,
    "double_or_edge_spaces": 1,
    "sentiment_score_equals_opening": 3,
    "swapped_true_values_within_split": 1,
    "recent_rows_empty_derived_on_made_up_history": 1,
    "physically_new_unflagged_on_made_up_history": 1,
    "long_tail_famous": 1,
    "long_tail_popularity_unknown": 1,
    "long_tail_early_qid_proxy": 1,
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_defect_is_counted_and_its_absence_is_zero(figures: tuple[dict, dict], name: str) -> None:
    bad, good = figures
    assert bad[name] == EXPECTED[name]
    assert good[name] == 0


def test_dates_sentiment_and_ties(figures: tuple[dict, dict]) -> None:
    bad, good = figures
    assert bad["snapshot_after_data_date"] is True  # a sample build without a data date
    assert good["snapshot_after_data_date"] is False
    assert bad["sentiment_pass_rate"] == 0.0  # "nothing", "cats", "dogs" carry no sentiment
    assert good["sentiment_pass_rate"] is None
    assert bad["ties_from"].startswith(("relations.yaml", "built-in"))


def test_table_for_one_and_two_snapshots(audit: ModuleType, tmp_path: Path, capsys: Any) -> None:
    good = clean(tmp_path)
    assert audit.main([str(good)]) == 0
    single = capsys.readouterr().out
    assert single.startswith("| figure | value |") and "18.12" in single
    assert audit.main([str(good), str(good)]) == 0
    assert capsys.readouterr().out.startswith("| figure | before | after |")
    assert audit.main([str(tmp_path / "nowhere")]) == 2
