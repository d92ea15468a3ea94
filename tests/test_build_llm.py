"""The sample build with a (toy) model: the likelihood criterion and the context and sentiment
variants are produced, and the manifest names the model as a toy."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest
from typer.testing import CliRunner

from dafset.build.rules import broken_rule, contains
from dafset.cli import app


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("toy")
    # a few steps are enough to exercise the code paths; the quality claims are tested in test_lm_*
    result = CliRunner().invoke(app, ["toy-model", "--out", str(out), "--steps", "30"])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def built(toy: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dafset-llm")
    args = ["build", "--source", "sample", "--model", str(toy), "--out", str(out), "--no-figures", "--threads", "1"]
    sizes = ["--recent", "40", "--popular", "40", "--long-tail", "90", "--robust", "60"]
    result = CliRunner().invoke(app, args + sizes)
    assert result.exit_code == 0, result.output
    return out / "latest"


def rows(path: Path, config: str) -> list[dict]:
    ds = datasets.load_dataset(str(path), config)
    return [r for split in ds.values() for r in split]


def test_long_tail_has_the_likelihood_criterion(built: Path) -> None:
    long_tail = rows(built, "long_tail")
    by_criterion = {
        c: [r for r in long_tail if r["criterion"] == c] for c in ("frequency", "degree", "likelihood")
    }
    assert all(by_criterion.values()), {c: len(v) for c, v in by_criterion.items()}
    manifest = json.loads((built / "manifest.json").read_text())
    threshold = manifest["long_tail_thresholds"]["likelihood"]["reference"]["threshold"]
    for r in by_criterion["likelihood"]:
        assert r["evidence"]["likelihood"] <= threshold  # the low part of the distribution
        assert r["evidence"]["tail_bucket"] in ("head", "torso", "tail")
    assert manifest["skipped_criteria"] == []
    validation = manifest["llm"]["likelihood"]["validation"]  # the criterion's figures for this model
    assert set(validation["spearman"]) >= {"label_tokens", "frequency", "degree", "knows_fact"}
    assert sum(validation["bucket_shares"].values()) == pytest.approx(1.0)
    assert 0 <= validation["fact_accuracy"]["all"] <= 1
    assert manifest["llm"]["model_is_toy"] is True and "TOY" in manifest["llm"]["model_note"].upper()
    assert manifest["llm"]["model_provenance"] is None  # only `dafset fetch-model` folders carry one
    assert manifest["llm"]["threads"] == 1  # --threads
    assert manifest["llm"]["generation"]["new_tokens"] > 0


def test_robust_has_context_and_paired_sentiment_prefixes(built: Path) -> None:
    robust = rows(built, "robust")
    kinds = {r["criterion"] for r in robust}
    # The toy learnt only fact sentences: judged on its own words, not the fixed opening (issue 18
    # item 7), it seldom writes a polarity, so a toy build may publish no sentiment case at all.
    assert {"length", "context"} <= kinds <= {"length", "context", "sentiment"}
    for r in robust:
        assert broken_rule(r) is None
        for prefix in r["prefix"]:
            assert prefix["kind"] == r["criterion"]
            if prefix["kind"] in ("context", "sentiment"):
                assert r["subject"] in prefix["text"]
                assert not contains(prefix["text"], r["target_new"])
                assert not any(contains(prefix["text"], a) for a in r["answers"])
        if r["criterion"] == "sentiment":
            assert sorted(p["polarity"] for p in r["prefix"]) == ["negative", "positive"]
        if r["criterion"] == "context":
            assert [p["polarity"] for p in r["prefix"]] == ["neutral"]


def test_robust_variants_trace_to_published_base_cases(built: Path) -> None:
    every = rows(built, "all")
    by_id = {r["id"]: r for r in every}
    robust = [r for r in every if r["property"] == "robust"]
    assert robust
    for r in robust:
        base = by_id[r["base_id"]]  # resolves to a published case
        assert base["property"] in ("popular", "long_tail") and base["base_id"] is None
        same = ("subject_id", "relation_id", "prompt", "target_new", "target_true", "answers")
        assert {k: r[k] for k in same} == {k: base[k] for k in same}
        texts = [p["text"] for p in r["prefix"]]
        assert not any(t in rephrase for t in texts for rephrase in r["rephrase_prompts"])
        answers = [a for probe in r["locality"] for a in probe["answers"]]
        assert not any(contains(t, a) for t in texts for a in answers)  # no locality fact in a prefix
    assert all(r["base_id"] is None for r in every if r["property"] != "robust")


def test_every_sentiment_prefix_is_scored_with_its_polarity(built: Path) -> None:
    from dafset.lm.filters import PAIR_MARGIN, sentiment_score

    pairs = [r["prefix"] for r in rows(built, "robust") if r["criterion"] == "sentiment"]
    for prefix in pairs:  # maybe none with the toy (see above); the rules hold for every one kept
        score = {p["polarity"]: p["score"] for p in prefix}
        assert score["positive"] > 0 > score["negative"]
        assert score["positive"] - score["negative"] >= PAIR_MARGIN
        for p in prefix:  # the stored score is the scorer's score of the words the model wrote
            opening = p["text"][: p["generated_from"]]
            assert opening.endswith(("is widely admired for", "is often criticised for"))
            assert p["score"] == pytest.approx(sentiment_score(p["text"][p["generated_from"] :].strip()))
    manifest = json.loads((built / "manifest.json").read_text())
    prefixes = manifest["llm"]["prefixes"]
    assert prefixes["generated"]["sentiment"] > 0  # the criterion ran and was judged
    assert 0 <= prefixes["sentiment_pass_rate"] <= 1
    assert set(prefixes["pass_share"]["context"]) >= {"states_relation_value", "wrong_kind", "repetitive"}
    assert prefixes["kept"].get("sentiment", 0) >= len(pairs)
    assert "not_apart" in prefixes  # drops by the pair margin are counted, even when zero
