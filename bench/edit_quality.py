"""Edit quality of DAFNet, MEND and fine-tuning on a TOY model, by the trainer's own protocol.

    python bench/edit_quality.py [--data DAFSET_DIR] [--T 1 10 100] [--steps 300] [--out res.json]

Without --data it builds the bundled sample DAFSet (`dafset build --source sample`) in a temporary
directory; if that fails it falls back to the trainer's synthetic toy DAFSet and says so. A tiny
GPT-2 (random init, word-level tokenizer trained on the data's sentences) is pre-trained briefly on
the true facts, editors are meta-trained on the train split, and all methods are scored on the
evaluation split(s): chunks of T sequential edits, all T scored after the last one, restore between
chunks. The model is a toy: the numbers compare methods under one protocol; they say nothing about
real LMs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def build_sample(tmp: Path) -> Path | None:
    """`dafset build --source sample` into tmp; None (with a message) when it fails."""
    cmd = [
        sys.executable,
        "-m",
        "dafset.cli",
        "build",
        "--source",
        "sample",
        "--out",
        str(tmp / "build"),
        "--no-figures",
    ]
    try:
        run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"[bench] `dafset build --source sample` failed ({exc}); using the TOY DAFSet instead")
        return None
    latest = tmp / "build" / "latest"
    if run.returncode != 0 or not (latest / "README.md").is_file():
        tail = (run.stderr or run.stdout).strip().splitlines()[-1:] or ["no output"]
        print(
            f"[bench] `dafset build --source sample` failed (exit {run.returncode}: {tail[0]}); using the TOY DAFSet instead"
        )
        return None
    return latest


def corpus_of(cases: list[Any]) -> tuple[list[str], list[str]]:
    """(every text the tokenizer must cover, the true-fact sentences the toy LM learns)."""
    texts, facts = [], []
    for c in cases:
        texts += [c.prompt, c.target_new, *c.rephrases, *c.prefixes]
        if c.target_true:
            facts += [f"{p} {c.target_true}" for p in (c.prompt, *c.rephrases)]
        for lp in c.locality:
            facts.append(f"{lp.prompt} {lp.answer}")
    return texts + facts, facts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, help="a DAFSet directory (default: build the sample)")
    ap.add_argument("--T", type=int, nargs="+", default=[1, 10, 100])
    ap.add_argument("--eval-splits", nargs="+", default=["test", "validation"], help="scored together")
    ap.add_argument("--steps", type=int, default=200, help="meta-training steps per editor")
    ap.add_argument("--pretrain-steps", type=int, default=600)
    ap.add_argument("--max-edits", type=int, default=100, help="curriculum ceiling")
    ap.add_argument("--lambda-loc", type=float, default=0.2, help="reference 0.2 (rel and gen stay 0.1)")
    ap.add_argument(
        "--methods",
        nargs="+",
        default=["none", "dafnet", "mend", "ft"],
        help="none dafnet dafnet-decay mend ft (dafnet-decay: fusion='decay' instead of the reference's stick-breaking)",
    )
    ap.add_argument("--ft-steps", type=int, default=5)
    ap.add_argument("--ft-lr", type=float, default=1e-2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, help="write every result document here (JSON)")
    args = ap.parse_args()

    import torch

    from dafset.trainer import toy
    from dafset.trainer.baselines import AuxEditSession, FineTuneSession, NoEdit
    from dafset.trainer.config import EditorConfig, EvalConfig, TrainConfig
    from dafset.trainer.data import load_dafset
    from dafset.trainer.evaluate import evaluate
    from dafset.trainer.train import train

    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dafset-bench-") as tmp_name:
        tmp = Path(tmp_name)
        data, kind = args.data, "given"
        if data is None:
            data, kind = build_sample(tmp), "sample"
        if data is None:
            data, _ = toy.toy_dafset(tmp / "toy", n_subjects=80, n_train=260, n_test=140, seed=args.seed)
            kind = "toy"
        train_sources = load_dafset(data, "train")
        eval_cases = []
        for split in args.eval_splits:
            try:
                eval_cases += [c for v in load_dafset(data, split).values() for c in v]
            except Exception as exc:  # a split the directory does not have
                print(f"[bench] split {split!r} skipped: {exc}")
        all_cases = [c for v in train_sources.values() for c in v] + eval_cases
        texts, facts = corpus_of(all_cases)
        tok = toy.word_tokenizer(texts)
        model = toy.tiny_gpt2(len(tok), n_layer=4, n_embd=128, seed=args.seed)
        t0 = time.perf_counter()
        losses = toy.pretrain(model, tok, facts, steps=args.pretrain_steps, lr=2e-3, seed=args.seed)
        print(
            f"[bench] data: {kind} DAFSet {data} — train {sum(map(len, train_sources.values()))} cases "
            f"{ {k: len(v) for k, v in train_sources.items()} }, eval {len(eval_cases)} ({'+'.join(args.eval_splits)})"
        )
        print(
            f"[bench] TOY GPT-2 4x128, vocab {len(tok)}, pre-trained {args.pretrain_steps} steps on "
            f"{len(facts)} true-fact sentences: loss {losses[0]:.2f} -> {losses[-1]:.2f} ({time.perf_counter() - t0:.0f}s)"
        )
        aux = dict(attn_dim=64, score_dim=32, ffn_dim=128, init_edit_lr=0.01, last_blocks=2)
        tcfg = TrainConfig(
            steps=args.steps,
            lr=1e-3,
            lr_step=1e-3,
            lambda_loc=args.lambda_loc,
            max_edits=args.max_edits,
            curriculum_start=1,
            curriculum_patience=10,
            curriculum_ema=0.1,
            loss_max_items=64,
            max_length=64,
            seed=args.seed,
        )
        editors = {
            "dafnet": EditorConfig(method="dafnet", **aux),
            "dafnet-decay": EditorConfig(method="dafnet", fusion="decay", **aux),
            "mend": EditorConfig(method="mend", **aux),
        }
        ecfg = EvalConfig(T=args.T, max_length=64, batch_size=64)
        docs: dict[str, Any] = {}
        for method in args.methods:
            t0 = time.perf_counter()
            if method in editors:
                res = train(model, tok, train_sources, editors[method], tcfg, progress=False)
                editor, names = res.editor, res.editor.names
                last = res.history[-20:]
                print(
                    f"[bench] trained {method}: {args.steps} steps in {time.perf_counter() - t0:.0f}s, "
                    f"curriculum N={res.history[-1]['n_max']}, last-20 loss {sum(h['loss'] for h in last) / len(last):.3f}, "
                    f"step size {res.history[-1]['edit_lr']:.4f}"
                )

                def session(editor: Any = editor) -> Any:
                    return AuxEditSession(model, tok, editor, 64)
            else:
                from dafset.trainer.layouts import find_edit_modules

                names = find_edit_modules(model, last_blocks=2)

                def session(method: str = method, names: list[str] = names) -> Any:
                    if method == "none":
                        return NoEdit()
                    return FineTuneSession(model, tok, names, args.ft_steps, args.ft_lr, 64)

            t1 = time.perf_counter()
            docs[method] = evaluate(model, tok, eval_cases, session, names, ecfg, meta={"method": method})
            print(f"[bench] evaluated {method} in {time.perf_counter() - t1:.0f}s")

    print()
    print(
        f"Rel / Gen / Loc, TOY GPT-2 (4 layers, d=128; edits in the last 2 blocks), {kind} data, "
        f"eval {len(eval_cases)} cases; chunks of T sequential edits, restore between chunks"
    )
    header = f"{'method':<14}" + "".join(f"{'T=' + str(t):>22}" for t in args.T)
    print(header)
    print(f"{'':<14}" + "".join(f"{'Rel   Gen   Loc  (n)':>22}" for _ in args.T))
    for method, doc in docs.items():
        cells = []
        for r in doc["results"]:
            if not r["n_chunks"]:
                cells.append(f"{'no complete chunk':>22}")
                continue
            vals = " ".join(f"{r[m]:.2f}" if r[m] is not None else "  - " for m in ("rel", "gen", "loc"))
            cells.append(f"{vals} ({r['n_chunks']})".rjust(22))
        print(f"{method:<14}" + "".join(cells))
    print(
        f"\n(n) = chunks scored. ft = {args.ft_steps} Adam steps per edit at lr {args.ft_lr}; "
        f"editors meta-trained {args.steps} steps. Total {time.perf_counter() - t_start:.0f}s."
    )
    if args.out:
        args.out.write_text(json.dumps(docs, indent=2, default=str) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
