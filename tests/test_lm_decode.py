"""The decoding engine: KV-cached, batched, early-stopping decoding gives the tokens a plain
full-recompute loop gives, and a row's sampled tokens depend on its own seed only."""

from __future__ import annotations

import pytest
from test_lm_support import tiny_gpt2, tiny_llama, tiny_tokenizer

torch = pytest.importorskip("torch")

from dafset.lm.decode import DecodeLimits, decode, stop_token_ids  # noqa: E402
from dafset.lm.sampling import RowSampler, SamplingParams, filtered_probs, kept_candidates  # noqa: E402

PROMPTS = ["Barack Obama was born in", "Paris", "The river flows through the city of", "Marie"]


def _ids(tokenizer, texts):
    return [tokenizer(t, add_special_tokens=True)["input_ids"] for t in texts]


def greedy_without_cache(model, prompt: list[int], limits: DecodeLimits) -> list[int]:
    """The textbook loop: the whole sequence again at every step, no cache, no padding."""
    seq, new = list(prompt), []
    with torch.inference_mode():
        while len(new) < limits.max_new_tokens:
            token = int(model(input_ids=torch.tensor([seq])).logits[0, -1].argmax())
            seq.append(token)
            new.append(token)
            if token in limits.stop_ids:
                break
    return new


@pytest.mark.parametrize("make_model", [tiny_llama, tiny_gpt2])
def test_cached_batched_greedy_equals_the_recompute_loop(make_model) -> None:
    tok = tiny_tokenizer()
    model = make_model(seed=1)
    prompts = _ids(tok, PROMPTS)
    free = decode(model, prompts, None, DecodeLimits(12), pad_id=tok.pad_token_id)
    # stop tokens that rows 0 and 2 write, so that rows finish at different steps and leave the batch
    limits = DecodeLimits(max_new_tokens=12, stop_ids=frozenset({free[0][2], free[2][5]}))
    cached = decode(model, prompts, None, limits, pad_id=tok.pad_token_id)
    plain = [greedy_without_cache(model, p, limits) for p in prompts]
    assert cached == plain
    assert free == [greedy_without_cache(model, p, DecodeLimits(12)) for p in prompts]
    assert min(len(row) for row in cached) < 12


def test_rows_stop_on_their_own_and_keep_their_stop_token() -> None:
    tok = tiny_tokenizer()
    model = tiny_llama(seed=2)
    prompts = _ids(tok, PROMPTS)
    free = decode(model, prompts, None, DecodeLimits(10), pad_id=tok.pad_token_id)
    stop = free[1][3]  # row 1's fourth token: row 1 must stop there
    stopped = decode(model, prompts, None, DecodeLimits(10, frozenset({stop})), pad_id=tok.pad_token_id)
    assert stopped[1] == free[1][: free[1].index(stop) + 1]
    for full, cut in zip(free, stopped, strict=True):
        assert cut == full[: len(cut)]
        assert len(cut) == 10 or cut[-1] == stop


def test_sampled_rows_depend_on_their_seed_only() -> None:
    tok = tiny_tokenizer()
    model = tiny_llama(seed=3)
    prompts = _ids(tok, PROMPTS)
    params = SamplingParams(temperature=1.5)
    limits = DecodeLimits(8)
    together = decode(model, prompts, RowSampler([5, 6, 7, 8], params, model.device), limits, tok.pad_token_id)
    alone = [
        decode(model, [p], RowSampler([s], params, model.device), limits, tok.pad_token_id)[0]
        for p, s in zip(prompts, [5, 6, 7, 8], strict=True)
    ]
    assert together == alone
    again = decode(model, prompts, RowSampler([9, 6, 7, 8], params, model.device), limits, tok.pad_token_id)
    assert again[1:] == together[1:] and again[0] != together[0]


def test_top_k_candidates_keep_the_full_vocabulary_distribution() -> None:
    scores = torch.randn(3, 500, generator=torch.Generator().manual_seed(0)) * 3
    params = SamplingParams(temperature=0.8, top_k=40, top_p=0.9)
    full = filtered_probs(scores, params)
    ids, probs = kept_candidates(scores, params)
    rebuilt = torch.zeros_like(full).scatter(-1, ids, probs)
    assert torch.allclose(rebuilt, full, atol=1e-6)
    assert bool((ids.diff(dim=-1) > 0).all())  # vocabulary order, as the inverse-CDF draw needs


def test_stop_tokens_are_eos_and_every_token_holding_a_newline() -> None:
    tok = tiny_tokenizer()
    stops = stop_token_ids(tok)
    assert tok.eos_token_id in stops
    assert all("\n" in tok.decode([t]) for t in stops if t != tok.eos_token_id)
