"""The trainer on architectures other than the toy GPT-2: OPT (whose fc1/fc2 see the tokens
flattened to [batch*seq, dim]) and a Llama shaped like SmolLM2 (grouped-query attention, tied
embeddings, no BOS token). Tiny random models built here; no download, no real model."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from dafset.trainer import toy  # noqa: E402
from dafset.trainer.baselines import FineTuneSession  # noqa: E402
from dafset.trainer.config import EditorConfig, EvalConfig, TrainConfig  # noqa: E402
from dafset.trainer.data import EditCase, encode_pairs, load_dafset, truth_of  # noqa: E402
from dafset.trainer.editor import Editor, applied  # noqa: E402
from dafset.trainer.evaluate import evaluate, fact_accuracy  # noqa: E402
from dafset.trainer.layouts import find_edit_modules, layout_of, rank1_sum, token_grid  # noqa: E402
from dafset.trainer.losses import target_predictions  # noqa: E402
from dafset.trainer.signals import edit_signals, target_nll  # noqa: E402
from dafset.trainer.train import train  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def world() -> dict[str, dict[str, str]]:
    return toy.toy_world(12, seed=1)


@pytest.fixture(scope="module")
def tok(world):
    return toy.word_tokenizer(toy.toy_corpus(world) + [p for p, _, _ in toy.PREFIXES])


def tiny_opt(vocab: int, n_layer: int = 3, seed: int = 0):
    torch.manual_seed(seed)
    cfg = transformers.OPTConfig(
        vocab_size=vocab,
        hidden_size=32,
        word_embed_proj_dim=32,
        ffn_dim=48,  # fc1 32->48, fc2 48->32: not square, a transposition cannot hide
        num_hidden_layers=n_layer,
        num_attention_heads=4,
        max_position_embeddings=128,
        pad_token_id=0,
        bos_token_id=2,
        eos_token_id=2,
    )
    return transformers.OPTForCausalLM(cfg).eval().requires_grad_(False)


def tiny_gqa_llama(vocab: int, seed: int = 0):
    """SmolLM2's peculiarities at toy size: 4 query heads sharing 2 key/value heads, input and
    output embeddings tied."""
    torch.manual_seed(seed)
    cfg = transformers.LlamaConfig(
        vocab_size=vocab,
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=True,
        max_position_embeddings=128,
        pad_token_id=0,
        bos_token_id=2,
        eos_token_id=2,
    )
    model = transformers.LlamaForCausalLM(cfg).eval().requires_grad_(False)
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    return model


BUILDERS = {"opt": tiny_opt, "llama-gqa-tied": tiny_gqa_llama}


def _batch(world, tok, n: int = 5):
    rows = toy.toy_samples(world, n, seed=2)
    return encode_pairs(tok, [r["prompt"] for r in rows], [r["target_new"] for r in rows])


def test_token_grid_folds_flattened_rows_and_refuses_strangers() -> None:
    x = torch.arange(2 * 3 * 4).float().view(2, 3, 4)
    assert torch.equal(token_grid(x, 2, 3), x)
    assert torch.equal(token_grid(x.reshape(-1, 4), 2, 3), x)  # OPT's reshape(-1, dim) undone
    with pytest.raises(ValueError, match="cannot map a layer tensor of shape"):
        token_grid(torch.zeros(5, 4), 2, 3)


def test_the_architecture_guess_finds_opt_fc1_fc2_of_the_last_blocks(tok) -> None:
    model = tiny_opt(len(tok), n_layer=4)
    assert find_edit_modules(model, last_blocks=2) == [
        f"model.decoder.layers.{i}.{m}" for i in (2, 3) for m in ("fc1", "fc2")
    ]


@pytest.mark.parametrize("arch", sorted(BUILDERS))
def test_signals_have_token_rows_and_sum_to_the_weight_gradient(arch: str, world, tok) -> None:
    model = BUILDERS[arch](len(tok)).double()
    names = find_edit_modules(model, last_blocks=2)
    batch = _batch(world, tok)
    sig = edit_signals(model, batch, names, chunk=2)
    modules = dict(model.named_modules())
    n_tokens = int(batch.attention_mask.sum())
    assert sig.lengths.tolist() == batch.attention_mask.sum(1).tolist()
    for n in names:
        d_out, d_in = modules[n].weight.shape  # nn.Linear stores [out, in]
        assert sig.u[n].shape == (n_tokens, d_in)
        assert sig.delta[n].shape == (n_tokens, d_out)
    for n in names:
        modules[n].weight.requires_grad_(True)
    target_nll(model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits, batch).backward()
    for n in names:
        grad = modules[n].weight.grad
        assert grad.abs().max() > 1e-6
        ours = rank1_sum(sig.u[n], sig.delta[n], layout_of(modules[n]))
        assert torch.allclose(ours, grad, rtol=1e-9, atol=1e-12), n
    target = edit_signals(model, batch, names, tokens="target")
    assert target.lengths.tolist() == batch.label_mask.sum(1).tolist()


@pytest.mark.parametrize("arch", sorted(BUILDERS))
def test_an_untrained_editor_lowers_the_edit_loss(arch: str, world, tok) -> None:
    """The update formed from flattened OPT rows lands on the right weights: fresh editors are
    normalised gradient descent, so the edit loss must fall (and rise with the sign flipped)."""
    model = BUILDERS[arch](len(tok))
    batch = _batch(world, tok)
    editor = Editor.for_model(model, EditorConfig(attn_dim=16, score_dim=8, ffn_dim=32, init_edit_lr=1e-2))
    sig = edit_signals(model, batch, editor.names)

    def loss(deltas=None) -> float:
        with torch.no_grad(), applied(model, deltas or {}):
            logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
            return float(target_nll(logits, batch))

    editor.train()
    fused = editor(sig)
    assert loss(fused.new) < loss() - 0.05
    editor.edit_lrs.data.neg_()
    assert loss(editor(sig).new) > loss()


@pytest.mark.parametrize(
    ("arch", "dtype"), [("opt", "float32"), ("llama-gqa-tied", "float32"), ("llama-gqa-tied", "bfloat16")]
)
def test_train_and_evaluate_run_end_to_end(arch: str, dtype: str, world, tok, tmp_path: Path) -> None:
    """Meta-training steps, a checkpoint, and sequential evaluation with exact restore; in bf16 too
    (signals and the aux net stay fp32, updates are cast to the layer's dtype)."""
    path, _ = toy.toy_dafset(tmp_path / "d", n_subjects=12, n_train=24, n_test=8, seed=1)
    model = BUILDERS[arch](len(tok)).to(getattr(torch, dtype))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ecfg = EditorConfig(attn_dim=16, score_dim=8, ffn_dim=32, init_edit_lr=1e-2, last_blocks=1)
    tcfg = TrainConfig(steps=3, lr=1e-3, lr_step=1e-3, max_edits=3, curriculum_start=3, max_length=48)
    res = train(model, tok, load_dafset(path, "train"), ecfg, tcfg, out_dir=tmp_path / "ck", progress=False)
    assert [h["step"] for h in res.history] == [1, 2, 3]
    assert all(h["grad_norm"] > 0 for h in res.history)
    assert Editor.load(tmp_path / "ck").names == res.editor.names
    cases = [c for v in load_dafset(path, "test").values() for c in v]
    names = res.editor.names
    doc = evaluate(
        model,
        tok,
        cases,
        lambda: FineTuneSession(model, tok, names, 3, 1e-2, 48),
        names,
        EvalConfig(T=[1, 4], max_length=48),
    )
    assert [r["n_edits"] for r in doc["results"]] == [8, 8]
    assert doc["results"][0]["rel"] > 0.5  # fine-tuning on one edit reaches its target
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_fact_accuracy_counts_insertions_by_their_target_and_scores_first_tokens(world, tok) -> None:
    """DAFSet's long_tail/recent cases are insertions (no target_true: target_new is the truth);
    counterfactual cases without a target_true are left out."""
    model = toy.tiny_gpt2(len(tok), seed=3)
    s1, s2 = sorted(world)[:2]
    cases = [
        EditCase(f"{s1} plays the", "piano violin", edit_kind="insertion", property="long_tail", id="a"),
        EditCase(f"{s2} works as a", "baker", target_true="pilot", property="popular", id="b"),
        EditCase(f"{s2} plays the", "harp", edit_kind="counterfactual", property="popular", id="c"),
    ]
    assert [truth_of(c) for c in cases] == ["piano violin", "pilot", None]
    facts = fact_accuracy(model, tok, cases, EvalConfig())
    assert facts["n_prompt"] == 2 and set(facts["by_property"]) == {"long_tail", "popular"}
    batch = encode_pairs(tok, [cases[0].prompt, cases[1].prompt], ["piano violin", "pilot"])
    with torch.no_grad():
        preds = target_predictions(
            model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits, batch
        )
    first = [float(p[0] == g[0]) for p, g in preds]
    every = [float((p == g).float().mean()) for p, g in preds]
    assert facts["by_property"]["long_tail"]["prompt_first"] == first[0]
    assert facts["by_property"]["long_tail"]["prompt"] == every[0]
    assert facts["prompt_first"] == sum(first) / 2
