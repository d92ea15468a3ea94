"""Training, evaluation and the CLI on a toy world: a tiny GPT-2 pre-trained briefly on made-up
facts (so it knows something), a toy DAFSet written with the published schema."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from dafset.trainer import toy  # noqa: E402
from dafset.trainer.baselines import AuxEditSession, EditSession, FineTuneSession, NoEdit  # noqa: E402
from dafset.trainer.config import EditorConfig, EvalConfig, TrainConfig  # noqa: E402
from dafset.trainer.data import EditCase, load_dafset  # noqa: E402
from dafset.trainer.editor import Editor  # noqa: E402
from dafset.trainer.evaluate import RestoreError, chunk_order, evaluate  # noqa: E402
from dafset.trainer.layouts import find_edit_modules  # noqa: E402
from dafset.trainer.train import Curriculum, TrainingError, train  # noqa: E402

torch.set_num_threads(1)

# signals from the target-predicting positions only: on this toy the untrained editor is then
# clearly non-local, so the locality that training buys is visible
TINY_AUX = dict(
    attn_dim=32, score_dim=16, ffn_dim=64, init_edit_lr=0.01, last_blocks=2, signal_tokens="target"
)
TINY_TRAIN = dict(
    lr=1e-3,
    lr_step=1e-3,
    lambda_loc=3.0,
    max_edits=8,
    curriculum_start=4,
    curriculum_patience=10,
    loss_max_items=64,
    max_length=64,
)
STEPS = 120


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, test_seed: int):
    root = tmp_path_factory.mktemp("toy")
    path, world = toy.toy_dafset(root / "dafset", n_subjects=40, n_train=120, n_test=80, seed=test_seed)
    corpus = toy.toy_corpus(world)
    tok = toy.word_tokenizer(corpus + [p for p, _, _ in toy.PREFIXES])
    model = toy.tiny_gpt2(len(tok), seed=test_seed)
    losses = toy.pretrain(model, tok, corpus, steps=400, lr=3e-3, seed=test_seed)
    assert losses[-1] < losses[0] / 3
    train_cases = load_dafset(path, "train")
    test_cases = [c for v in load_dafset(path, "test").values() for c in v]
    return {"root": root, "data": path, "tok": tok, "model": model, "train": train_cases, "test": test_cases}


@pytest.fixture(scope="module")
def trained(setup, test_seed: int):
    cfg = TrainConfig(steps=STEPS, seed=test_seed, **TINY_TRAIN)
    out = setup["root"] / "ckpt"
    result = train(
        setup["model"],
        setup["tok"],
        setup["train"],
        EditorConfig(**TINY_AUX),
        cfg,
        out_dir=out,
        progress=False,
    )
    return result, out


def _snapshot(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_training_makes_edits_reliable_while_locality_holds(setup, trained) -> None:
    result, _ = trained
    model, tok = setup["model"], setup["tok"]
    cfg = EvalConfig(T=[1], max_length=64)
    names = result.editor.names
    before = evaluate(model, tok, setup["test"], NoEdit, names, cfg)["results"][0]
    after = evaluate(
        model, tok, setup["test"], lambda: AuxEditSession(model, tok, result.editor, 64), names, cfg
    )
    r = after["results"][0]
    # what training bought: an untrained editor (identity aux net, same normaliser statistics and
    # initial step size) edits about as reliably but far less locally
    fresh = Editor.for_model(model, EditorConfig(**TINY_AUX))
    fresh.load_state_dict({k: v for k, v in result.editor.state_dict().items() if "norm." in k}, strict=False)
    fresh.eval()
    untrained = evaluate(model, tok, setup["test"], lambda: AuxEditSession(model, tok, fresh, 64), names, cfg)
    u = untrained["results"][0]
    print(
        {
            k: {m: x[m] for m in ("rel", "gen", "loc")}
            for k, x in (("before", before), ("after", r), ("untrained", u))
        }
    )
    # Margins, not values (one of the 80 test edits moves a rate by 0.0125). Seeds 0-2 on 1 and 2
    # torch threads (DAFSET_TEST_SEED, DAFSET_TEST_TORCH_THREADS) gave rel 0.73-0.91 and loc
    # 0.78-0.89 trained, loc 0.52-0.64 untrained (smallest gain 0.14): the trained editor may give
    # up some reliability for locality, but gains more than it gives.
    assert r["n_edits"] == len(setup["test"])
    assert before["rel"] < 0.2  # the toy model does not predict the counterfactual targets
    assert r["rel"] > before["rel"] + 0.5, (before, r)
    assert r["gen"] > before["gen"] + 0.3, (before, r)
    assert r["loc"] >= 0.7, r  # most unrelated predictions survive the edit
    assert r["loc"] > u["loc"] + 0.05, (u, r)
    assert r["rel"] > u["rel"] - 0.3, (u, r)
    assert r["rel"] + r["loc"] > u["rel"] + u["loc"] + 0.05, (u, r)


def test_training_history_checkpoint_and_source_mixing(trained) -> None:
    result, out = trained
    hist = result.history
    assert len(hist) == STEPS
    assert {h["source"] for h in hist} == {"recent", "popular", "long_tail", "robust"}
    counts = {s: sum(h["source"] == s for h in hist) for s in ("recent", "popular", "long_tail", "robust")}
    assert min(counts.values()) >= 15  # uniform over configs, not proportional to size
    # The loop drives the curriculum with its loss: replaying the recorded losses through a fresh
    # Curriculum gives the recorded N at every step, and each step drew at most the N before it.
    # (Whether N grows within these few steps depends on the float details of the CPU; growth itself
    # is tested on scripted losses below.)
    cfg = TrainConfig(steps=STEPS, **TINY_TRAIN)
    replay = Curriculum(cfg.curriculum_start, cfg.max_edits, cfg.curriculum_patience, cfg.curriculum_ema)
    n_before = replay.n_max
    for h in hist:
        assert 1 <= h["n_edits"] <= n_before
        replay.update(h["loss"])
        assert h["n_max"] == replay.n_max
        n_before = replay.n_max
    assert hist[0]["n_max"] >= TINY_TRAIN["curriculum_start"] and n_before <= TINY_TRAIN["max_edits"]
    assert all("gen/prefix" in h and "loc/prefix" in h for h in hist if h["source"] == "robust")
    assert (out / "editor.safetensors").is_file()
    meta = json.loads((out / "editor.json").read_text())
    assert meta["step"] == STEPS and meta["train"]["lambda_loc"] == 3.0
    log = (out / "train_log.jsonl").read_text().splitlines()
    assert len(log) == STEPS and "rel" in json.loads(log[-1])
    loaded = Editor.load(out)
    assert torch.equal(loaded.edit_lrs, result.editor.edit_lrs.detach())


def test_curriculum_grows_when_the_loss_stalls() -> None:
    c = Curriculum(start=1, ceiling=30, patience=5)
    rng = random.Random(0)
    assert {c.sample(rng) for _ in range(20)} == {1}
    steps = 1
    while not c.update(1.0):  # a flat loss: the first step sets the minimum, then 6 stale steps
        steps += 1
    assert (steps, c.n_max) == (7, 11)
    assert max(c.sample(rng) for _ in range(200)) == 11
    steps = 1
    while not c.update(1.0):  # patience shrinks with log10(N): 5 / log10(11) < 5
        steps += 1
    assert (steps, c.n_max) == (6, 21)
    c2 = Curriculum(start=1, ceiling=30, patience=5)
    for i in range(40):
        assert not c2.update(10.0 - i * 0.1)  # a falling loss never stalls
    for _ in range(200):
        c.update(5.0)
    assert c.n_max == 30  # capped at the ceiling


def test_curriculum_grows_on_a_noisy_plateau_not_while_learning() -> None:
    # A scripted loss as training gives it: falling fast for 300 steps (noise on top), then flat
    # with the same noise. N stays put while the loss falls; it grows once the loss EMA (rate 0.01,
    # so it settles a few hundred steps into the plateau) stops making new minima.
    rng = random.Random(1)
    c = Curriculum(start=4, ceiling=8, patience=10)
    for step in range(300):
        assert not c.update(5.0 - 0.01 * step + rng.uniform(-0.05, 0.05)), step
    assert c.n_max == 4
    grew_after = next(i for i in range(1, 2000) if c.update(2.0 + rng.uniform(-0.05, 0.05)))
    assert c.n_max == 8 and 100 < grew_after < 1000


def test_nan_and_zero_gradient_guards(setup) -> None:
    model, tok, cases = setup["model"], setup["tok"], setup["train"]
    with pytest.raises(TrainingError, match=r"step 1: non-finite loss"):
        train(
            model,
            tok,
            cases,
            EditorConfig(**{**TINY_AUX, "init_edit_lr": float("nan")}),
            TrainConfig(steps=2, **TINY_TRAIN),
            progress=False,
        )
    zero = {**TINY_TRAIN, "lambda_loc": 0.0}
    with pytest.raises(TrainingError, match=r"step 1: zero gradient"):
        train(
            model,
            tok,
            cases,
            EditorConfig(**TINY_AUX),
            TrainConfig(steps=2, lambda_rel=0.0, lambda_gen=0.0, **zero),
            progress=False,
        )
    assert all(not p.requires_grad for p in model.parameters())


def test_chunks_are_seeded_and_drop_the_incomplete_tail() -> None:
    chunks = chunk_order(23, 5, seed=0)
    assert len(chunks) == 4 and all(len(c) == 5 for c in chunks)
    flat = [i for c in chunks for i in c]
    assert len(set(flat)) == 20
    assert chunks == chunk_order(23, 5, seed=0) and chunks != chunk_order(23, 5, seed=1)
    assert chunk_order(4, 10, seed=0) == []


def test_evaluation_restores_the_model_exactly_between_chunks(setup, trained) -> None:
    result, _ = trained
    model, tok = setup["model"], setup["tok"]
    names = find_edit_modules(model, last_blocks=2)
    original = _snapshot(model)
    cfg = EvalConfig(T=[1, 5], max_chunks=3, ft_steps=3, ft_lr=1e-2, max_length=64)
    seen: list[bool] = []

    class Spy(FineTuneSession):
        def close(self) -> None:
            # before restoring, the weights really are edited: restore has work to do
            seen.append(any(not torch.equal(w, s) for w, s in zip(self.weights, self.saved, strict=True)))
            super().close()

    doc = evaluate(model, tok, setup["test"], lambda: Spy(model, tok, names, 3, 1e-2, 64), names, cfg)
    assert seen and all(seen)
    assert doc["restore_verified"] is True
    after = _snapshot(model)
    assert all(torch.equal(original[k], after[k]) for k in original)
    ft = {r["T"]: r for r in doc["results"]}
    assert ft[1]["n_chunks"] == 3 and ft[5]["n_edits"] == 15
    assert ft[1]["rel"] > 0.5  # fine-tuning does edit

    dafnet = evaluate(
        model, tok, setup["test"], lambda: AuxEditSession(model, tok, result.editor, 64), names, cfg
    )
    assert dafnet["restore_verified"] and all(
        torch.equal(original[k], v) for k, v in _snapshot(model).items()
    )

    class Leaky(EditSession):  # forgets to undo its edit: the guard must notice
        def edit(self, case: EditCase) -> None:
            with torch.no_grad():
                dict(model.named_modules())[names[0]].weight.add_(1e-3)

    with pytest.raises(RestoreError, match=names[0]):
        evaluate(model, tok, setup["test"], Leaky, names, cfg)
    with torch.no_grad():  # put the toy model back for the other tests
        model.load_state_dict(original)


def test_results_document_the_protocol(setup) -> None:
    model, tok = setup["model"], setup["tok"]
    names = find_edit_modules(model, last_blocks=2)
    cfg = EvalConfig(T=[1, 10], max_length=64)
    doc = evaluate(model, tok, setup["test"], NoEdit, names, cfg, meta={"method": "none"})
    p = doc["protocol"]
    assert p["T"] == [1, 10] and p["shuffle_seed"] == 0
    assert "dropped" in p["chunking"] and "restored" in p["restore"] and "argmax" in p["loc"]
    r10 = doc["results"][1]
    assert r10["n_chunks"] == 8 and r10["n_edits"] == 80
    assert r10["loc"] == 1.0  # nothing edited: every prediction agrees with itself
    assert set(r10["by_property"]) == {"recent", "popular", "long_tail", "robust"}
    assert r10["n_gen_prefix"] == sum(1 for c in setup["test"] if c.prefixes)


def test_cli_train_then_eval(setup, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from dafset.cli import app

    model_dir = tmp_path / "toy-model"
    setup["model"].save_pretrained(model_dir)
    setup["tok"].save_pretrained(model_dir)
    ckpt = tmp_path / "editor"
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(setup["data"]),
            "--model",
            str(model_dir),
            "--out",
            str(ckpt),
            "--method",
            "mend",
            "--steps",
            "6",
            "--lr",
            "1e-3",
            "--lr-step",
            "1e-3",
            "--init-edit-lr",
            "0.01",
            "--attn-dim",
            "16",
            "--score-dim",
            "8",
            "--ffn-dim",
            "32",
            "--last-blocks",
            "2",
            "--max-edits",
            "4",
            "--configs",
            "recent",
            "--configs",
            "robust",
            "--device",
            "cpu",
            "--no-progress",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "saved" in res.output and (ckpt / "editor.safetensors").is_file()
    meta = json.loads((ckpt / "editor.json").read_text())
    assert meta["editor"]["method"] == "mend" and set(meta["data"]["sources"]) == {"recent", "robust"}
    out = tmp_path / "res.json"
    res = runner.invoke(
        app,
        [
            "eval",
            "--data",
            str(setup["data"]),
            "--model",
            str(model_dir),
            "--editor",
            str(ckpt),
            "--T",
            "1",
            "5",
            "--split",
            "test",
            "--out",
            str(out),
            "--device",
            "cpu",
            "--no-progress",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "Rel" in res.output and "Loc" in res.output
    doc = json.loads(out.read_text())
    assert doc["method"] == "mend" and doc["protocol"]["T"] == [1, 5]
    assert [r["T"] for r in doc["results"]] == [1, 5] and doc["results"][1]["n_edits"] == 80
    assert doc["model"]["path"] == str(model_dir) and doc["data"]["split"] == "test"
    # fine-tuning needs no checkpoint; a wrong --method for a checkpoint is one clear line
    res = runner.invoke(
        app,
        [
            "eval",
            "--data",
            str(setup["data"]),
            "--model",
            str(model_dir),
            "--method",
            "ft",
            "--T",
            "5",
            "--ft-steps",
            "2",
            "--last-blocks",
            "2",
            "--max-chunks",
            "1",
            "--out",
            str(tmp_path / "ft.json"),
            "--device",
            "cpu",
            "--no-progress",
        ],
    )
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "ft.json").read_text())["results"][0]["n_edits"] == 5
    res = runner.invoke(
        app,
        [
            "eval",
            "--data",
            str(setup["data"]),
            "--model",
            str(model_dir),
            "--editor",
            str(ckpt),
            "--method",
            "dafnet",
            "--device",
            "cpu",
        ],
    )
    assert res.exit_code == 1 and "holds a mend editor" in res.output
