"""Prefix generation: seeded, batch-independent, filtered, sentiment in pairs."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from test_lm_support import mini_toy

pytest.importorskip("torch")

from dafset.lm.filters import PrefixBounds, check, clean
from dafset.lm.generate import PrefixGenerator, PrefixRequest

REQUESTS = [
    PrefixRequest("case-1", "Barack Obama", "place of birth", ("Honolulu", "Hawaii")),
    PrefixRequest("case-2", "Marie Curie", "country of citizenship", ("Poland", "France")),
    PrefixRequest("case-3", "Cambodia", "continent", ("Asia",)),
    PrefixRequest("case-4", "Lake Baikal", "country", ("Russia",)),
]


def generator(**kwargs) -> PrefixGenerator:
    toy = mini_toy()
    kwargs.setdefault("max_new_tokens", 24)
    return PrefixGenerator(toy["model"], toy["tokenizer"], **kwargs)


def test_same_seed_same_text_and_new_seed_new_text() -> None:
    first = generator(seed=7, batch_size=4).context(REQUESTS)
    again = generator(seed=7, batch_size=4).context(REQUESTS)
    other = generator(seed=8, batch_size=4).context(REQUESTS)
    assert first, "the toy should manage at least one context prefix"
    assert first == again
    assert first != other


def test_a_case_text_does_not_depend_on_its_batch() -> None:
    gen = generator(seed=3)
    prompts = [f"Passage:\n{r.subject}" for r in REQUESTS]
    seeds = [11, 12, 13, 14]
    gen.batch_size = 4
    together = gen.generate(prompts, seeds)
    gen.batch_size = 1
    alone = gen.generate(prompts, seeds)
    assert together == alone
    assert len(set(together)) > 1


def test_context_records_match_the_prefix_schema() -> None:
    gen = generator(seed=1)
    out = gen.context(REQUESTS)
    for key, records in out.items():
        (record,) = records
        assert record["kind"] == "context" and record["polarity"] == "neutral"
        request = next(r for r in REQUESTS if r.key == key)
        assert request.subject in record["text"]
        assert not any(a.lower() in record["text"].lower() for a in request.avoid)
    stats = gen.stats
    assert stats.kept["context"] == len(out)
    assert stats.kept["context"] + stats.given_up["context"] == len(REQUESTS)
    assert stats.generated["context"] == len(out) + sum(stats.dropped.values())


def test_texts_revealing_the_answer_are_dropped_then_given_up() -> None:
    # Every kept text starts with the subject, so avoiding a piece of it rejects every candidate.
    requests = [PrefixRequest(r.key, r.subject, r.relation_label, (r.subject[:4],)) for r in REQUESTS]
    gen = generator(seed=2, max_attempts=2, bounds=PrefixBounds(min_chars=1, min_words=1))
    assert gen.context(requests) == {}
    assert gen.stats.given_up["context"] == len(requests)
    assert gen.stats.generated["context"] == 2 * len(requests)  # bounded retries
    assert gen.stats.dropped["context/reveals_answer"] > 0
    assert sum(gen.stats.dropped.values()) == 2 * len(requests)


class Scripted(PrefixGenerator):
    """A generator whose continuations are given by (polarity in prompt) -> text."""

    def __init__(self, script: dict[str, str], **kwargs) -> None:
        toy = mini_toy()
        super().__init__(toy["model"], toy["tokenizer"], **kwargs)
        self.script = script
        self.calls = 0

    def generate(self, prompts: Sequence[str], seeds: Sequence[int]) -> list[str]:
        self.calls += 1
        out = []
        for p in prompts:
            polarity = "positive" if "positive" in p else "negative" if "negative" in p else "neutral"
            out.append(self.script[polarity])
        return out


def test_sentiment_keeps_both_polarities_or_none() -> None:
    good = Scripted(
        {
            "positive": " a long and careful life of service.",
            "negative": " a long list of costly mistakes.",
        }
    )
    out = good.sentiment(REQUESTS[:2])
    assert set(out) == {"case-1", "case-2"}
    for records in out.values():
        assert [r["polarity"] for r in records] == ["positive", "negative"]
        assert all(r["kind"] == "sentiment" for r in records)
    assert out["case-1"][0]["text"].startswith("Barack Obama is widely admired for a long")
    assert all(r["score"] > 0 for r in (out["case-1"][0], out["case-2"][0]))
    assert all(r["score"] < 0 for r in (out["case-1"][1], out["case-2"][1]))

    one_sided = Scripted(
        {
            "positive": " a long and careful life of service.",
            "negative": " was born in Honolulu, which nobody should forget.",
        },
        max_attempts=3,
    )
    out = one_sided.sentiment(REQUESTS[:1])
    assert out == {}
    assert one_sided.stats.unpaired == 1 and one_sided.stats.given_up["sentiment"] == 1
    assert one_sided.stats.dropped["sentiment/reveals_answer"] == 3
    assert one_sided.calls == 3  # the positive text was kept at once; only the negative retried


def test_sentiment_with_the_toy_model_is_paired_or_given_up() -> None:
    # The toy learnt only fact sentences: judged on its own words (not the fixed opening), it
    # rarely writes a polarity, and then the case is given up rather than kept unpaired.
    gen = generator(seed=4, max_attempts=4)
    out = gen.sentiment(REQUESTS)
    for records in out.values():
        assert sorted(r["polarity"] for r in records) == ["negative", "positive"]
    assert gen.stats.generated["sentiment"] > 0
    assert gen.stats.kept["sentiment"] == len(out)
    assert gen.stats.kept["sentiment"] + gen.stats.given_up["sentiment"] == len(REQUESTS)


def test_clean_and_check() -> None:
    assert clean("Ada", " wrote notes.\nThen more") == "Ada wrote notes."
    assert clean("Ada", " wrote notes. And then") == "Ada wrote notes."
    assert clean("Ada", " wrote  notes") == "Ada wrote notes"
    bounds = PrefixBounds(min_chars=10, max_chars=60, min_words=3, max_words=12)
    assert check("Ada", "Ada", "Ada", (), bounds) == "empty"
    assert check("Ada wrote.", "Ada", "Ada", (), bounds) == "too_short"
    assert check("Ada " + "word " * 20, "Ada", "Ada", (), bounds) == "too_long"
    assert check("She wrote many notes.", "", "Ada", (), bounds) == "no_subject"
    assert check("Adam wrote many notes.", "", "Ada", (), bounds) == "no_subject"
    assert check("Ada lived in LONDON town.", "Ada", "Ada", ("London",), bounds) == "reveals_answer"
    assert check("Ada lived in a town.", "Ada", "Ada", ("London",), bounds) is None


def test_sentiment_of_the_wrong_polarity_is_retried_then_given_up() -> None:
    # the negative lead ("is often criticised for") is outweighed by a glowing continuation
    wrong = Scripted(
        {
            "positive": " a long and careful life of service.",
            "negative": " wonderful, brilliant, beautiful and loved work that everyone adores.",
        },
        max_attempts=2,
    )
    assert wrong.sentiment(REQUESTS[:1]) == {}
    assert wrong.stats.dropped["sentiment/wrong_polarity"] == 2
    assert wrong.stats.unpaired == 1
