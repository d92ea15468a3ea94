"""Shared helpers for the LM tests (tiny tokenizer, tiny models, Spearman), and tests of the
small pure helpers they rely on. Other ``test_lm_*`` modules import from here."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

# Two cores are shared by several people: one thread is faster than two under contention.
torch.set_num_threads(1)

CORPUS_RELATIONS = ("P19", "P20", "P27", "P30", "P36", "P37", "P103", "P106", "P131", "P1412", "P17")


@functools.cache
def tiny_corpus() -> tuple[list, list[str]]:
    """Sentences over the bundled sample's facts on a few relations (~15k sentences)."""
    from dafset.lm.corpus import sample_triples, sentences_for_training

    triples = sample_triples(relations=CORPUS_RELATIONS)
    return triples, sentences_for_training(triples, seed=0)


@functools.cache
def tiny_tokenizer():
    from dafset.lm.toy import train_tokenizer

    _, sentences = tiny_corpus()
    return train_tokenizer(sentences, vocab_size=1024)


def tiny_gpt2(seed: int = 0):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    tok = tiny_tokenizer()
    config = GPT2Config(
        vocab_size=len(tok),
        n_positions=128,
        n_embd=64,
        n_layer=2,
        n_head=4,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    return GPT2LMHeadModel(config).eval()


def tiny_llama(seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    tok = tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=128,
        max_position_embeddings=128,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    return LlamaForCausalLM(config).eval()


def _ranks(xs: list[float]) -> list[float]:
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    ranks = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):  # ties share their average rank
            ranks[order[k]] = (i + j) / 2
        i = j + 1
    return ranks


def spearman(a: list[float], b: list[float]) -> float:
    ra, rb = _ranks(a), _ranks(b)
    n = len(ra)
    ma, mb = sum(ra) / n, sum(rb) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb, strict=True))
    va = math.sqrt(sum((x - ma) ** 2 for x in ra))
    vb = math.sqrt(sum((y - mb) ** 2 for y in rb))
    return cov / (va * vb)


# -- tests of the helpers above and of the pure batching code ----------------------------------


def test_spearman_handles_ties_and_order() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 1, 2, 2], [1, 2, 3, 4]) == pytest.approx(0.894427, abs=1e-5)


def test_plan_batches_sorts_by_length_and_respects_both_limits() -> None:
    from dafset.lm.batching import plan_batches

    lengths = [5, 30, 7, 30, 2, 9, 12]
    batches = plan_batches(lengths, batch_size=3, max_tokens_per_batch=60)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(flat, reverse=True)
    for b in batches:
        assert len(b) <= 3
        assert len(b) * max(lengths[i] for i in b) <= 60 or len(b) == 1


def test_plan_batches_starts_a_new_batch_for_rows_that_would_be_mostly_padding() -> None:
    from dafset.lm.batching import plan_batches

    lengths = [15, 14, 8, 7, 3, 1]
    assert plan_batches(lengths, batch_size=64) == [[0, 1, 2, 3, 4, 5]]
    assert plan_batches(lengths, batch_size=64, min_fill=0.5) == [[0, 1, 2], [3], [4], [5]]
    assert plan_batches([9, 6, 5, 2], batch_size=64, min_fill=0.5) == [[0, 1, 2], [3]]


def test_pad_batch_left_positions_count_real_tokens_only() -> None:
    from dafset.lm.batching import pad_batch

    batch = pad_batch([[7, 8, 9], [5]], pad_id=0, side="left")
    assert batch.input_ids.tolist() == [[7, 8, 9], [0, 0, 5]]
    assert batch.attention_mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert batch.position_ids[1, 2].item() == 0
    assert batch.offsets == [0, 2]
    right = pad_batch([[7, 8, 9], [5]], pad_id=0, side="right")
    assert right.position_ids.tolist()[1][0] == 0 and right.offsets == [0, 0]


def test_bos_is_prepended_only_when_the_tokenizer_adds_none() -> None:
    from tokenizers import processors

    from dafset.lm.batching import bos_to_prepend

    tok = tiny_tokenizer()
    assert bos_to_prepend(tok) == tok.eos_token_id  # GPT-2 style: nothing added itself
    adding = tiny_tokenizer.__wrapped__()  # a fresh copy we may change
    adding.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="<|endoftext|> $A", special_tokens=[("<|endoftext|>", adding.eos_token_id)]
    )
    assert adding("a")["input_ids"][0] == adding.eos_token_id
    assert bos_to_prepend(adding) is None


@functools.cache
def mini_toy() -> dict:
    """A toy trained through the real pipeline, shrunk to seconds; shared by the LM tests."""
    import atexit
    import shutil
    import tempfile

    from dafset.lm.load import load_causal_lm
    from dafset.lm.toy import ToyShape, TrainSettings, train_toy_model

    _, sentences = tiny_corpus()
    out = Path(tempfile.mkdtemp(prefix="dafset-mini-toy-"))
    atexit.register(shutil.rmtree, out, True)
    manifest = train_toy_model(
        out,
        sentences,
        TrainSettings(steps=60, batch_size=32, block_size=48, lr=5e-3, seed=0),
        ToyShape(vocab_size=1024, n_layer=2, n_embd=64, n_head=4, n_positions=128),
        source="bear (test subset)",
    )
    model, tokenizer = load_causal_lm(out)
    return {
        "path": out,
        "model": model,
        "tokenizer": tokenizer,
        "sentences": sentences,
        "manifest": manifest,
    }
