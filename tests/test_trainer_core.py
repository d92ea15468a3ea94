"""Trainer parts that need no trained model: weight layouts, gradient signals, the auxiliary
network, fusion, checkpoints, tokenisation and the data readers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from torch import nn  # noqa: E402
from transformers.pytorch_utils import Conv1D  # noqa: E402

from dafset.trainer import toy  # noqa: E402
from dafset.trainer.config import EditorConfig  # noqa: E402
from dafset.trainer.data import (  # noqa: E402
    DataError,
    encode_one,
    encode_pairs,
    load_counterfact,
    load_dafset,
    load_zsre,
    prefixed_rephrases,
    with_prefix,
)
from dafset.trainer.editor import (  # noqa: E402
    Editor,
    EditState,
    applied,
    decay_weights,
    retention_weights,
)
from dafset.trainer.layouts import (  # noqa: E402
    add_to_weight,
    find_edit_modules,
    io_shape,
    layout_of,
    rank1_sum,
)
from dafset.trainer.signals import capture, edit_signals, target_nll  # noqa: E402

torch.set_num_threads(1)

TINY_AUX = dict(attn_dim=16, score_dim=8, ffn_dim=32, init_edit_lr=1e-2)


@pytest.fixture(scope="module")
def world() -> dict[str, dict[str, str]]:
    return toy.toy_world(12, seed=1)


@pytest.fixture(scope="module")
def tok(world):
    return toy.word_tokenizer(toy.toy_corpus(world) + [p for p, _, _ in toy.PREFIXES])


def _edit_batch(world, tok, n: int = 5):
    rows = toy.toy_samples(world, n, seed=2)
    return encode_pairs(tok, [r["prompt"] for r in rows], [r["target_new"] for r in rows])


# -- layouts ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["conv1d", "linear"])
def test_layout_helper_matches_autograd_and_forward(kind: str) -> None:
    torch.manual_seed(0)
    d_in, d_out = 5, 7  # not square: a transposition bug cannot hide
    mod = Conv1D(d_out, d_in) if kind == "conv1d" else nn.Linear(d_in, d_out)
    assert layout_of(mod) == kind
    assert io_shape(mod) == (d_in, d_out)
    x = torch.randn(11, d_in)
    y = mod(x)
    g = torch.randn_like(y)
    (y * g).sum().backward()
    assert torch.allclose(rank1_sum(x, g, kind), mod.weight.grad, atol=1e-6)
    delta = torch.randn(d_in, d_out)
    before = mod(x).detach()
    add_to_weight(mod, delta)
    assert torch.allclose(mod(x), before + x @ delta, atol=1e-5)


def test_find_edit_modules_defaults_to_last_blocks_and_takes_patterns(tok) -> None:
    gpt2 = toy.tiny_gpt2(len(tok), n_layer=4)
    names = find_edit_modules(gpt2)
    assert names == [f"transformer.h.{i}.mlp.{m}" for i in (1, 2, 3) for m in ("c_fc", "c_proj")]
    llama = toy.tiny_llama(len(tok), n_layer=4)
    assert find_edit_modules(llama, last_blocks=1) == [
        f"model.layers.3.mlp.{m}" for m in ("gate_proj", "up_proj", "down_proj")
    ]
    assert find_edit_modules(gpt2, ["transformer.h.*.mlp.c_proj"]) == [
        f"transformer.h.{i}.mlp.c_proj" for i in range(4)
    ]
    with pytest.raises(ValueError, match="no Linear/Conv1D"):
        find_edit_modules(gpt2, ["nothing.*"])


# -- gradient signals ---------------------------------------------------------------------------


@pytest.mark.parametrize("build", [toy.tiny_gpt2, toy.tiny_llama], ids=["gpt2-conv1d", "llama-linear"])
def test_rank1_signals_sum_to_the_weight_gradient(build, world, tok) -> None:
    model = build(len(tok), n_layer=3).double()
    for p in model.parameters():
        p.requires_grad_(False)
    names = find_edit_modules(model, last_blocks=2)
    batch = _edit_batch(world, tok)
    # chunk=2: signals gathered over several forward/backward passes must still sum exactly
    sig = edit_signals(model, batch, names, chunk=2)
    assert int(sig.lengths.sum()) == int(batch.attention_mask.sum())
    modules = dict(model.named_modules())
    for n in names:
        modules[n].weight.requires_grad_(True)
    loss = target_nll(model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits, batch)
    loss.backward()
    for n in names:
        grad = modules[n].weight.grad
        ours = rank1_sum(sig.u[n], sig.delta[n], layout_of(modules[n]))
        assert ours.shape == grad.shape
        assert grad.abs().max() > 1e-6  # the comparison is not between zeros
        assert torch.allclose(ours, grad, rtol=1e-9, atol=1e-12), n
    # the capture context restored the frozen flags
    model.zero_grad()
    for n in names:
        modules[n].weight.requires_grad_(False)
    sig2 = edit_signals(model, batch, names)
    assert all(not modules[n].weight.requires_grad for n in names)
    assert all(torch.equal(sig.u[n], sig2.u[n]) for n in names)


def test_signal_hooks_exist_only_inside_the_context_even_on_error(tok) -> None:
    model = toy.tiny_gpt2(len(tok)).requires_grad_(False)
    names = find_edit_modules(model)
    modules = dict(model.named_modules())
    with pytest.raises(RuntimeError, match="boom"), capture(model, names):
        assert all(len(modules[n]._forward_hooks) == 1 for n in names)
        assert all(modules[n].weight.requires_grad for n in names)
        raise RuntimeError("boom")
    assert all(len(modules[n]._forward_hooks) == 0 for n in names)
    assert all(not modules[n].weight.requires_grad for n in names)


def test_target_only_signals_keep_one_row_per_target_token(world, tok) -> None:
    model = toy.tiny_gpt2(len(tok))
    batch = _edit_batch(world, tok)
    sig = edit_signals(model, batch, find_edit_modules(model), tokens="target")
    assert sig.lengths.tolist() == batch.label_mask.sum(1).tolist()


# -- auxiliary network and fusion ---------------------------------------------------------------


def _editor(model, **kw) -> Editor:
    return Editor.for_model(model, EditorConfig(**{**TINY_AUX, **kw}))


def test_untrained_editor_is_normalised_gradient_descent(world, tok) -> None:
    """Identity aux net + the explicit minus sign: a fresh editor already lowers the edit loss."""
    model = toy.tiny_gpt2(len(tok))
    batch = _edit_batch(world, tok)
    editor = _editor(model)
    sig = edit_signals(model, batch, editor.names)
    net = editor.nets[editor.net_key[editor.names[0]]]
    out = net(sig.u[editor.names[0]], sig.delta[editor.names[0]], sig.lengths, 0)
    normed = net.norm(torch.cat([sig.u[editor.names[0]], sig.delta[editor.names[0]]], -1))
    assert torch.allclose(torch.cat([out.u, out.delta], -1), normed, atol=1e-5)  # identity at init

    def loss(deltas=None):
        with torch.no_grad(), applied(model, deltas or {}):
            logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
            return float(target_nll(logits, batch))

    fused = editor(sig)
    assert loss(fused.new) < loss() - 0.1
    editor.edit_lrs.data.neg_()  # the other sign climbs
    assert loss(editor(sig).new) > loss()


@pytest.mark.parametrize("fusion", ["stick", "decay"])
def test_fusing_a_sequence_at_once_equals_editing_one_at_a_time(fusion: str, world, tok) -> None:
    """Causal inter-editing attention + retention: the training path (all n edits in one pass)
    and the evaluation path (one edit at a time with memory) give the same update."""
    torch.manual_seed(0)
    model = toy.tiny_gpt2(len(tok))
    rows = toy.toy_samples(world, 6, seed=3)
    editor = _editor(model, fusion=fusion)
    batch = encode_pairs(tok, [r["prompt"] for r in rows], [r["target_new"] for r in rows])
    sig = edit_signals(model, batch, editor.names)
    editor.train()
    editor(sig)  # fills the normaliser
    # move every zero-initialised projection off zero so attention and gates matter
    for name, p in editor.named_parameters():
        if name.endswith(("out.weight", "fc2.weight")):
            p.data.normal_(0, 0.05)
        if name.endswith("retain.proj.weight"):  # the decay gate starts almost constant
            p.data.normal_(0, 1.0)
    editor.eval()
    joint = editor(sig)
    state = EditState()
    for r in rows:
        one = encode_pairs(tok, [r["prompt"]], [r["target_new"]])
        editor.edit(edit_signals(model, one, editor.names), state)
    assert state.n_edits == len(rows)
    for n in editor.names:
        assert len(state.memory[n]) == editor.cfg.n_layers
        assert state.memory[n][0].shape == (len(rows), editor.cfg.attn_dim)
        assert torch.allclose(joint.new[n].dense(), state.dense[n], atol=1e-6), n
    # and the retention scores really differ between edits (not a trivial equality)
    ret = joint.retention[editor.names[0]]
    assert ret.std() > 1e-3


def test_retention_weights() -> None:
    u = torch.tensor([1.0, 0.5, 0.25, 0.2])
    w, past = retention_weights(u)
    assert torch.allclose(w, torch.tensor([0.3, 0.3, 0.2, 0.2]))  # 1/k scores = a running mean
    assert float(w.sum() + past) == pytest.approx(1.0)  # stick-breaking is convex
    rho = torch.tensor([0.9, 0.5, 0.8])
    w, past = decay_weights(rho)
    assert torch.allclose(w, torch.tensor([0.4, 0.8, 1.0]))
    assert float(past) == pytest.approx(0.36)


def test_retention_is_trained_unless_detached(world, tok) -> None:
    model = toy.tiny_gpt2(len(tok))
    batch = _edit_batch(world, tok)
    for train_retention in (True, False):
        torch.manual_seed(0)
        editor = _editor(model, train_retention=train_retention)
        sig = edit_signals(model, batch, editor.names)
        fused = editor(sig)
        with applied(model, fused.new):
            logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
        target_nll(logits, batch).backward()
        grads = [p.grad for n, p in editor.named_parameters() if ".retain." in n]
        assert grads
        got = any(g is not None and g.abs().sum() > 0 for g in grads)
        assert got is train_retention


def test_mend_preset_has_no_attention_or_memory(tok, world) -> None:
    model = toy.tiny_gpt2(len(tok))
    cfg = EditorConfig(method="mend", **TINY_AUX)
    assert not (cfg.intra_attention or cfg.inter_attention or cfg.retention)
    editor = Editor.for_model(model, cfg)
    assert not any(k in n for n, _ in editor.named_parameters() for k in ("intra", "inter", "retain", "pool"))
    state = EditState()
    editor.train()
    batch = _edit_batch(world, tok, 2)
    sig = edit_signals(model, batch, editor.names)
    editor(sig)
    editor.eval()
    assert editor(sig).retention[editor.names[0]] is None
    editor.edit(sig, state)
    assert state.memory == {}
    # plain sum: editing again with the same signals doubles the update
    once = state.dense[editor.names[0]].clone()
    editor.edit(sig, state)
    assert torch.allclose(state.dense[editor.names[0]], 2 * once, atol=1e-6)


def test_shared_net_per_shape_with_modes(tok) -> None:
    model = toy.tiny_llama(len(tok), n_layer=3)
    editor = _editor(model)
    # gate/up share a shape (64 -> 128), down is 128 -> 64: two nets; 3 blocks edited
    assert sorted(editor.nets) == ["128x64", "64x128"]
    assert sorted(editor.mode.values()) == [0, 0, 1, 1, 2, 2, 3, 4, 5]  # 6 gate/up modes, 3 down
    assert editor.edit_lrs.shape == (9,)


def test_training_update_is_low_rank_not_dense_per_edit(world, tok) -> None:
    model = toy.tiny_gpt2(len(tok), n_embd=128)
    editor = _editor(model)
    batch = _edit_batch(world, tok, 3)
    fused = editor(edit_signals(model, batch, editor.names))
    tokens = int(batch.attention_mask.sum())
    for n in editor.names:
        d_in, d_out = editor.shapes[n]
        (term,) = fused.new[n].terms
        assert isinstance(term, tuple)  # factors: A [tokens, d_in], B [tokens, d_out]
        assert fused.new[n].numel() == tokens * (d_in + d_out) < d_in * d_out


def test_checkpoint_round_trip(tmp_path: Path, world, tok) -> None:
    model = toy.tiny_llama(len(tok))
    editor = _editor(model, fusion="decay")
    batch = _edit_batch(world, tok)
    sig = edit_signals(model, batch, editor.names)
    editor.train()
    editor(sig)
    editor.edit_lrs.data += torch.arange(len(editor.names)) * 1e-3  # distinguishable per matrix
    editor.eval()
    editor.save(tmp_path / "ckpt", {"step": 7})
    meta = json.loads((tmp_path / "ckpt" / "editor.json").read_text())
    assert meta["step"] == 7 and meta["editor"]["fusion"] == "decay"
    assert [m[0] for m in meta["modules"]] == editor.names
    loaded = Editor.load(tmp_path / "ckpt")
    a, b = editor(sig), loaded(sig)
    for n in editor.names:
        assert torch.equal(a.new[n].dense(), b.new[n].dense())
    assert torch.equal(
        loaded.nets[editor.net_key[editor.names[0]]].norm.count,
        editor.nets[editor.net_key[editor.names[0]]].norm.count,
    )


# -- tokenisation and data ----------------------------------------------------------------------


def test_joint_tokenisation_marks_exactly_the_target_tokens(tok) -> None:
    ids, is_tgt = encode_one(tok, "Bako Tirel plays the ", "  violin", 64)  # stray spaces
    toks = tok.convert_ids_to_tokens(ids)
    assert [t for t, m in zip(toks, is_tgt, strict=True) if m] == ["violin"]
    assert toks[:-1] == tok.tokenize("Bako Tirel plays the")


def test_byte_level_bpe_leading_space_goes_with_the_target() -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    texts = ["The capital of France is Paris", "The capital of Peru is Lima", "Paris is big"] * 20
    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    raw.train_from_iterator(
        texts, trainers.BpeTrainer(vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    )
    bpe = PreTrainedTokenizerFast(tokenizer_object=raw, eos_token="Paris")
    ids, is_tgt = encode_one(bpe, "The capital of Peru is", "Lima", 64)
    target_ids = [i for i, m in zip(ids, is_tgt, strict=True) if m]
    # the target is the " Lima" token(s) with the space, as the model sees it after the prompt
    assert bpe.decode(target_ids) == " Lima"
    assert ids[: len(ids) - len(target_ids)] == bpe("The capital of Peru is")["input_ids"]


def test_truncation_keeps_the_target_and_batches_pad_right(tok) -> None:
    long_prompt = " ".join(["The"] * 50) + " Bako Tirel plays the"
    ids, is_tgt = encode_one(tok, long_prompt, "violin", 16)
    assert len(ids) == 16 and is_tgt[-1] and not is_tgt[0]
    b = encode_pairs(
        tok, ["Bako plays the", "The native language of Bako Tirel is"], ["violin", "Polish"], 64
    )
    assert b.attention_mask[0].tolist()[-1] == 0 and b.attention_mask[1].all()
    assert b.label_mask.sum().item() == 2
    with pytest.raises(DataError, match="no tokens"):
        encode_one(tok, "Bako plays the", "   ", 16)


def test_prefixes_are_cut_and_joined() -> None:
    words = " ".join(f"w{i}" for i in range(40)) + "."
    assert with_prefix(words, "X plays the", 30) == " ".join(f"w{i}" for i in range(30)) + ". X plays the"
    assert with_prefix("Calm day.", "X plays the", 30) == "Calm day. X plays the"


def test_toy_dafset_round_trips_through_load_dataset(tmp_path: Path, world) -> None:
    path, _ = toy.toy_dafset(tmp_path / "ds", n_subjects=12, n_train=24, n_test=8)
    train = load_dafset(path, "train")
    assert sorted(train) == ["long_tail", "popular", "recent", "robust"]
    assert sum(map(len, train.values())) == 24
    everything = load_dafset(path, "test", configs=["all"])
    assert len(everything["all"]) == 8
    robust = train["robust"][0]
    assert robust.prefixes and robust.rephrases and robust.locality
    assert len(prefixed_rephrases(robust, 30)) == len(robust.prefixes)
    with pytest.raises(DataError, match="no config"):
        load_dafset(path, "train", configs=["nope"])
    with pytest.raises(DataError, match="not a DAFSet directory"):
        load_dafset(tmp_path, "train")
    # a different snapshot under the same directory name is read afresh (no stale datasets cache)
    again, _ = toy.toy_dafset(tmp_path / "other" / "ds", n_subjects=12, n_train=10, n_test=8)
    assert sum(map(len, load_dafset(again, "train").values())) == 10


def test_zsre_and_counterfact_readers(tmp_path: Path) -> None:
    zsre = tmp_path / "zsre.json"
    zsre.write_text(
        json.dumps(
            [
                {
                    "subject": "Kyoto",
                    "src": "Which country is Kyoto in?",
                    "alt": "Peru",
                    "answers": ["Japan"],
                    "rephrase": "Kyoto is in which country?",
                    "loc": "nq question: who wrote hamlet",
                    "loc_ans": "Shakespeare",
                },
                {
                    "subject": "X",
                    "src": "Q?",
                    "alt": "",
                    "answers": ["a"],
                    "rephrase": "R?",
                    "loc": "l",
                    "loc_ans": "m",
                },
            ]
        )
    )
    (case,) = load_zsre(zsre)  # the record with an empty alt is skipped
    assert (case.prompt, case.target_new, case.target_true) == ("Which country is Kyoto in?", "Peru", "Japan")
    assert case.rephrases == ["Kyoto is in which country?"] and case.locality[0].answer == "Shakespeare"
    # CounterFact's first record (ROME, kmeng01/rome, MIT) in the field names DAFNet and EasyEdit
    # use; the second as cf_train.json has it (no case_id / ground_truth).
    counterfact = tmp_path / "counterfact.json"
    counterfact.write_text(
        json.dumps(
            [
                {
                    "case_id": 0,
                    "prompt": "The mother tongue of Danielle Darrieux is",
                    "target_new": "English",
                    "subject": "Danielle Darrieux",
                    "ground_truth": "French",
                    "rephrase_prompt": "Danielle Darrieux, a native",
                    "locality_prompt": "Michel Rocard is a native speaker of",
                    "locality_ground_truth": "French",
                },
                {
                    "prompt": "The mother tongue of Léon Blum is",
                    "target_new": "German",
                    "subject": "Léon Blum",
                    "rephrase_prompt": "Léon Blum spoke the language",
                },
            ],
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    first, second = load_counterfact(counterfact)
    assert (first.id, first.prompt, first.target_new, first.target_true) == (
        "0",
        "The mother tongue of Danielle Darrieux is",
        "English",
        "French",
    )
    assert first.rephrases == ["Danielle Darrieux, a native"]
    assert first.locality[0].prompt.startswith("Michel Rocard") and first.locality[0].answer == "French"
    assert (second.id, second.target_true, second.locality) == ("1", None, [])
    assert second.subject == "Léon Blum" and second.rephrases == ["Léon Blum spoke the language"]
