"""The TOY model: built offline through the real pipeline, labelled a toy everywhere, and its
likelihoods carry signal (labels seen more often in training score higher)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from test_lm_support import mini_toy, spearman, tiny_corpus

pytest.importorskip("torch")

from dafset.lm.corpus import label_frequencies, sentences_for_training
from dafset.lm.entities import EntityText, neutral_items, score_entities
from dafset.lm.score import LikelihoodScorer


def test_toy_is_saved_as_a_toy_with_safetensors_only() -> None:
    toy = mini_toy()
    out: Path = toy["path"]
    card = (out / "README.md").read_text(encoding="utf-8")
    first = card.splitlines()[0]
    assert "TOY" in first and "not for research" in first
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["dafset_toy"] is True and "toy" in config["dafset_toy_name"]
    assert (out / "model.safetensors").is_file()
    assert not list(out.glob("*.bin")) and not list(out.glob("*.pt"))
    assert (out / "tokenizer.json").is_file()
    manifest = json.loads((out / "dafset_toy.json").read_text(encoding="utf-8"))
    assert manifest["toy"] is True and "TOY" in manifest["note"]
    assert manifest["final_loss"] < manifest["first_loss"] - 1.0  # it learned something


def test_frequent_entities_score_higher_than_rare_ones() -> None:
    toy = mini_toy()
    triples, sentences = tiny_corpus()
    # Objects span the widest range of training frequencies (a continent ~100x, most once).
    labels = sorted({t.object_label for t in triples})
    random.Random(0).shuffle(labels)
    labels = labels[:200]
    frequency = label_frequencies(sentences, labels)
    assert max(frequency.values()) >= 50 * min(frequency[label] for label in labels)

    scorer = LikelihoodScorer(toy["model"], toy["tokenizer"], batch_size=64)
    scores = score_entities(scorer, [EntityText(x, x, tuple(neutral_items(x))) for x in labels])
    rho = spearman([frequency[x] for x in labels], [scores[x].logprob_sum for x in labels])
    assert rho > 0.3, f"Spearman(frequency, log-likelihood) = {rho:.3f}"


def test_training_sentences_repeat_subjects_a_varying_number_of_times() -> None:
    triples, _ = tiny_corpus()
    few = triples[:300]
    sentences = sentences_for_training(few, seed=1)
    counts = label_frequencies(sentences, {t.subject_label for t in few})
    assert len(sentences) > len(few)  # some facts repeated
    assert min(counts.values()) == 1 and max(counts.values()) >= 4
    assert sentences == sentences_for_training(few, seed=1)  # seeded
    assert sentences != sentences_for_training(few, seed=2)


def test_cli_builds_a_toy(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from dafset.cli import app

    out = tmp_path / "toy"
    result = CliRunner().invoke(app, ["toy-model", "--out", str(out), "--steps", "2", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "TOY" in result.output
    assert (out / "model.safetensors").is_file() and (out / "README.md").is_file()
    manifest = json.loads((out / "dafset_toy.json").read_text(encoding="utf-8"))
    assert manifest["source"] == "sample" and manifest["steps"] == 2 and manifest["seed"] == 3
