"""Likelihood scoring: padding-exact batching, span mapping, entity aggregation."""

from __future__ import annotations

import math
import random

import pytest
from test_lm_support import tiny_corpus, tiny_gpt2, tiny_llama, tiny_tokenizer

from dafset.lm.entities import (
    EntityText,
    entity_texts,
    neutral_items,
    per_token,
    score_entities,
    summed,
)
from dafset.lm.score import LikelihoodScorer, ScoreItem

torch = pytest.importorskip("torch")


def mixed_items(n: int = 30) -> list[ScoreItem]:
    """Sentences of very different lengths, the entity at the start, middle or end; a third of
    them share the context before their span (the likelihood template's lines)."""
    triples, _ = tiny_corpus()
    rng = random.Random(3)
    picks = rng.sample(triples, n)
    items = []
    for i, t in enumerate(picks):
        if i % 3 == 1:
            items.append(neutral_items(t.object_label)[i % 2])
            continue
        filler = " and then some more words" * (i % 6)
        kind = i % 3
        if kind == 0:
            items.append(
                ScoreItem.find(f"{t.subject_label} was born in {t.object_label}{filler}.", t.subject_label)
            )
        elif kind == 1:
            items.append(
                ScoreItem.find(
                    f"We know{filler} that {t.subject_label} lived in {t.object_label}.", t.object_label
                )
            )
        else:
            items.append(
                ScoreItem.find(
                    f"{t.object_label}{filler} is where {t.subject_label} is from.", t.object_label
                )
            )
    return items


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def model(request: pytest.FixtureRequest):
    return tiny_gpt2() if request.param == "gpt2" else tiny_llama()


@pytest.fixture(scope="module")
def alone(model) -> list:
    """Reference: every sentence scored on its own (batch of one, no padding at all)."""
    items = mixed_items()
    scorer = LikelihoodScorer(model, tiny_tokenizer(), batch_size=1)
    scores = scorer.score(items)
    assert scorer.stats.shared_rows == 0  # one at a time, nothing cached
    return scores


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("batch_size", [1, 7, 30])
def test_scores_do_not_depend_on_batch_or_padding(model, alone, side: str, batch_size: int) -> None:
    items = mixed_items()
    # min_shared_rows=2: the five sentences per likelihood line take the shared-context path too
    scorer = LikelihoodScorer(
        model, tiny_tokenizer(), batch_size=batch_size, padding_side=side, min_shared_rows=2
    )
    batched = scorer.score(items)
    assert len(batched) == len(items)
    for a, b in zip(alone, batched, strict=True):
        assert b.n_tokens == a.n_tokens > 0
        assert b.logprob_sum == pytest.approx(a.logprob_sum, abs=1e-4)
        assert b.logprob_mean == pytest.approx(a.logprob_mean, abs=1e-4)
    if batch_size > 1:
        assert scorer.stats.padded_tokens > scorer.stats.model_tokens  # there was padding to get right
        assert scorer.stats.shared_rows >= 6  # and rows scored after a shared, cached context


def test_naive_padding_would_have_changed_scores() -> None:
    """Guard that the invariance test can fail: without position ids, GPT-2 shifts under left padding."""
    model, tok = tiny_gpt2(), tiny_tokenizer()
    short = ScoreItem.find("Paris is nice.", "Paris")
    long = ScoreItem.find("A much longer sentence about things that happened in Paris long ago.", "Paris")
    ids = [tok.eos_token_id, *tok(short.text)["input_ids"]]
    width = len(tok(long.text)["input_ids"]) + 1
    pad = width - len(ids)
    input_ids = torch.tensor([[tok.eos_token_id] * pad + ids])
    mask = torch.tensor([[0] * pad + [1] * len(ids)])
    with torch.no_grad():
        naive = model(input_ids=input_ids, attention_mask=mask).logits[0, pad:]
        exact = model(input_ids=torch.tensor([ids])).logits[0]
    assert not torch.allclose(naive, exact, atol=1e-3)
    scorer = LikelihoodScorer(model, tok, batch_size=2, padding_side="left")
    got = scorer.score([short, long])[0]
    logp = torch.log_softmax(exact.float(), -1)
    n = len(tok("Paris")["input_ids"])  # the span's tokens follow the prepended eos
    expected = sum(float(logp[j, ids[j + 1]]) for j in range(n))
    assert got.n_tokens == n
    assert got.logprob_sum == pytest.approx(expected, abs=1e-4)


def test_span_maps_to_exactly_the_entity_tokens() -> None:
    tok = tiny_tokenizer()
    scorer = LikelihoodScorer(tiny_gpt2(), tok)
    text = "Tom Zubrowkanian was born in France."
    item = ScoreItem.find(text, "Zubrowkanian")
    (encoded,) = scorer._encode([item])
    pieces = [tok.decode([encoded.ids[j]]) for j in encoded.targets]
    assert "".join(pieces).strip() == "Zubrowkanian"
    (inner,) = scorer._encode([ScoreItem.find("He was a serial killer.", "serial killer")])
    assert "".join(tok.decode([inner.ids[j]]) for j in inner.targets).strip() == "serial killer"
    whole = scorer.score([ScoreItem(text, 0, len(text))])[0]
    part = scorer.score([item])[0]
    assert part.n_tokens < whole.n_tokens
    assert part.logprob_sum > whole.logprob_sum  # a subset of negative log-probs


def test_input_forms_order_and_stats() -> None:
    scorer = LikelihoodScorer(tiny_gpt2(), tiny_tokenizer(), batch_size=2)
    text = "Berlin is in Germany."
    a, b, c = scorer.score([(text, (0, 6)), (text, 13, 20), ScoreItem(text, 0, 6)])
    assert a == c and a != b
    assert scorer.stats.sequences == 3 and scorer.stats.model_tokens > 0 and scorer.stats.tokens_per_s > 0
    with pytest.raises(ValueError):
        ScoreItem(text, 5, 5)
    with pytest.raises(ValueError):
        ScoreItem.find(text, "Paris")


def test_entities_aggregate_their_sentences() -> None:
    scorer = LikelihoodScorer(tiny_gpt2(), tiny_tokenizer(), batch_size=8)
    facts = [
        {"subject_id": "Q1", "subject_label": "Ada Lovelace", "relation_id": "P19", "object_label": "London"},
        {
            "subject_id": "Q1",
            "subject_label": "Ada Lovelace",
            "relation_id": "P27",
            "object_label": "United Kingdom",
        },
        {
            "subject_id": "Q2",
            "subject_label": "Alan Turing",
            "relation_id": "P19",
            "object_label": "Maida Vale",
        },
    ]
    templates = {
        "P19": ["{{ subject }} was born in {{ object }}."],
        "P27": ["{{ subject }} is a citizen of {{ object }}."],
    }
    entities = {e.id: e for e in entity_texts(facts, templates=templates)}
    assert len(entities["Q1"].items) == len(neutral_items("x")) + 2
    assert all(it.text[it.start : it.end] == "Ada Lovelace" for it in entities["Q1"].items)
    objects = {
        e.id: e
        for e in entity_texts(
            [dict(f, object_id=f"O{i}") for i, f in enumerate(facts)], role="object", templates=templates
        )
    }
    assert objects["O2"].items[-1].text == "Alan Turing was born in Maida Vale."
    assert objects["O2"].label == "Maida Vale"

    result = score_entities(scorer, entities.values())
    singles = scorer.score(entities["Q1"].items)
    assert result["Q1"].n_sentences == len(singles)
    assert result["Q1"].logprob_sum == pytest.approx(sum(s.logprob_sum for s in singles) / len(singles))
    assert result["Q1"].logprob_per_token == pytest.approx(
        sum(s.logprob_mean for s in singles) / len(singles)
    )
    assert math.isfinite(result["Q2"].logprob_sum)
    assert summed(result)["Q1"] == result["Q1"].logprob_sum
    assert per_token(result)["Q1"] == result["Q1"].logprob_per_token
    empty = score_entities(scorer, [EntityText("Q9", "x", ())])
    assert empty == {}


def test_text_after_the_span_is_not_run_and_changes_nothing() -> None:
    scorer = LikelihoodScorer(tiny_gpt2(), tiny_tokenizer(), batch_size=4)
    short = ScoreItem.find("Berlin is a city.", "Berlin")
    long = ScoreItem.find("Berlin is a city" + ", and then more words" * 8 + ".", "Berlin")
    a, b = scorer.score([short, long])
    assert a.logprob_sum == pytest.approx(b.logprob_sum, abs=1e-5) and a.n_tokens == b.n_tokens
    assert scorer.stats.model_tokens < scorer.stats.input_tokens / 4


def test_a_span_without_a_scorable_token_is_nan_without_a_forward_pass() -> None:
    from dafset.lm.toy import train_tokenizer

    tok = train_tokenizer(["Berlin is a city."] * 20, vocab_size=300)
    tok.bos_token = tok.eos_token = tok.pad_token = None  # nothing to condition the first token on
    tok.pad_token = "<|endoftext|>"
    scorer = LikelihoodScorer(tiny_gpt2(), tok)
    (score,) = scorer.score([ScoreItem.find("Berlin is a city.", "B")])
    assert score.n_tokens == 0 and math.isnan(score.logprob_mean)
    assert scorer.stats.model_tokens == 0
