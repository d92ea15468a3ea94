"""Edit quality of DAFNet, MEND and fine-tuning on a TOY world, by the trainer's own protocol.

    python bench/edit_quality.py [--seeds 0 1 2] [--T 1 10 100] [--set key=value ...] [--out res.json]

The toy world (dafset.trainer.toy): made-up subjects with 5 relations of 8 values each, a DAFSet
directory of counterfactual edits on its facts (train / validation / test: disjoint facts), a
word-level tokenizer and a tiny GPT-2 pre-trained until it knows the facts (fact accuracy is
printed and saved). Editors are meta-trained on the train split once per training seed and
scored on the evaluation split by dafset.trainer.evaluate: chunks of T sequential edits, all T
scored after the last one, restore between chunks; the same chunks for every method and seed, so
method differences are paired per case (bootstrap 95% CIs, dafset.trainer.stats).

Every knob is a config field: the bench's values are BENCH_SETTINGS below, `--set key=value`
changes any field of EditorConfig / TrainConfig / EvalConfig for every editor, and
`--dafnet-set` only for DAFNet. `dafset train --set ...` / `dafset eval --set ...` take the same.
Tune with `--eval-split validation`; the test split is for the final table.

`--data DIR` evaluates on a given DAFSet directory instead (its train split for meta-training).
The model is a toy: the numbers compare methods under one protocol on a world the model knows;
they say nothing about real LMs.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The bench's editor/training values (config field = value); everything else is the dataclass default.
BENCH_SETTINGS = [
    "attn_dim=64",
    "score_dim=32",
    "ffn_dim=128",
    "init_edit_lr=0.01",
    "last_blocks=2",
    "steps=400",
    "lr=1e-3",
    "lr_step=1e-3",
    # chosen on the validation split (docs/trainer.md): the reference's 0.1/0.1/0.2 leaves Loc at
    # T=1 near 0.3 on this toy; signals from the target-predicting positions make edits specific
    "lambda_rel=2",
    "lambda_gen=2",
    "lambda_loc=1",
    "signal_tokens=target",
    "max_edits=100",
    "curriculum_start=1",
    "curriculum_patience=10",
    "curriculum_ema=0.1",
    "loss_max_items=64",
    "max_length=64",
    "batch_size=64",
    "ft_steps=5",
    "ft_lr=1e-2",
]
# DAFNet's fusion here is 'decay' (a learned gate on the past, new edits at full weight); the
# reference's 'stick' averages the edits (each gets ~1/T) and collapses at T=100 on this toy:
# run it with --dafnet-set fusion=stick (docs/trainer.md has both)
DAFNET_SETTINGS: list[str] = ["fusion=decay"]
SHOWN = ("rel", "gen", "gen_other", "spec", "loc")


def corpus_of(cases: list[Any]) -> tuple[list[str], list[str]]:
    """(every text the tokenizer must cover, the true-fact sentences the toy LM learns)."""
    texts, facts = [], []
    for c in cases:
        texts += [c.prompt, c.target_new, *c.rephrases, *c.prefixes]
        if c.target_true:
            facts += [f"{p} {c.target_true}" for p in (c.prompt, *c.rephrases)]
        for lp in c.locality:
            facts.append(f"{lp.prompt} {lp.answer}")
    return texts + facts, sorted(set(facts))


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, help="a DAFSet directory (default: the toy world's)")
    ap.add_argument("--subjects", type=int, default=120, help="toy world: subjects (x5 relations = facts)")
    ap.add_argument("--split-sizes", type=int, nargs=3, default=[200, 100, 300], help="train validation test")
    ap.add_argument("--eval-split", default="test", help="test (final) | validation (tuning)")
    ap.add_argument("--T", type=int, nargs="+", default=[1, 10, 100])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="editor training seeds")
    ap.add_argument("--methods", nargs="+", default=["none", "dafnet", "mend", "ft"])
    ap.add_argument(
        "--set", dest="settings", action="append", default=[], help="key=value (any config field)"
    )
    ap.add_argument("--dafnet-set", action="append", default=[], help="key=value for DAFNet only")
    ap.add_argument("--pretrain-steps", type=int, default=600)
    ap.add_argument("--model-layers", type=int, default=4)
    ap.add_argument("--model-width", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, help="write every result document here (JSON)")
    return ap.parse_args()


def build_world(args: argparse.Namespace, tmp: Path) -> tuple[Path, str]:
    from dafset.trainer import toy

    if args.data is not None:
        return args.data, f"given DAFSet {args.data}"
    n_train, n_val, n_test = args.split_sizes
    path, _ = toy.toy_dafset(
        tmp / "toy", n_subjects=args.subjects, n_train=n_train, n_validation=n_val, n_test=n_test, seed=0
    )
    return path, f"toy world ({args.subjects} subjects x 5 relations)"


def run_method(
    method: str,
    seed: int,
    ctx: dict[str, Any],
    args: argparse.Namespace,
    base: list[str] = BENCH_SETTINGS,
    dafnet_base: list[str] = DAFNET_SETTINGS,
) -> dict[str, Any]:
    """Train (editors) and evaluate one method at one training seed; the result document.
    ``base`` / ``dafnet_base``: the settings under args.settings (bench/edit_quality_real.py has its own)."""
    from dafset.trainer.baselines import AuxEditSession, FineTuneSession, NoEdit
    from dafset.trainer.config import EditorConfig, EvalConfig, TrainConfig, apply_settings, to_dict
    from dafset.trainer.evaluate import evaluate
    from dafset.trainer.layouts import find_edit_modules
    from dafset.trainer.train import train

    model, tok = ctx["model"], ctx["tok"]
    ecfg, tcfg, vcfg = EditorConfig(), TrainConfig(), EvalConfig()
    extra = args.dafnet_set if method.startswith("dafnet") else []
    apply_settings(base + args.settings + [f"method={method.split('-')[0]}"], ecfg, tcfg, vcfg)
    if method == "dafnet":
        apply_settings(dafnet_base + extra, ecfg, tcfg, vcfg)
    tcfg.seed, vcfg.T, vcfg.split = seed, list(args.T), args.eval_split
    meta: dict[str, Any] = {"method": method, "seed": seed, "eval": to_dict(vcfg)}
    t0 = time.perf_counter()
    if method in ("dafnet", "mend"):
        res = train(model, tok, ctx["train"], ecfg, tcfg, progress=False)
        editor, names = res.editor, res.editor.names
        meta |= {"editor": to_dict(ecfg), "train": to_dict(tcfg), "train_seconds": time.perf_counter() - t0}
        meta["curve"] = [
            {k: h[k] for k in ("step", "n_edits", "n_max", "loss", "rel", "edit_lr", "retention")}
            for h in res.history
        ]

        def session() -> Any:
            return AuxEditSession(model, tok, editor, vcfg.max_length)
    else:
        names = find_edit_modules(model, last_blocks=ecfg.last_blocks)

        def session() -> Any:
            if method == "none":
                return NoEdit()
            return FineTuneSession(model, tok, names, vcfg.ft_steps, vcfg.ft_lr, vcfg.max_length)

    pool = [c for v in ctx["train"].values() for c in v]  # unedited subjects for Gen(other)
    return evaluate(model, tok, ctx["eval"], session, names, vcfg, meta=meta, other_pool=pool)


def mean_edits(curve: list[dict[str, Any]]) -> float:
    """Edits per training sequence over the second half of training (what the editor really saw:
    a sequence is drawn from one source, so a small source caps it below the curriculum's N)."""
    half = curve[len(curve) // 2 :]
    return sum(h["n_edits"] for h in half) / len(half)


def num(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def fmt(ms: dict[str, Any]) -> str:
    return "  -  " if ms["mean"] is None else f"{ms['mean']:.2f}±{ms['std']:.2f}"


def report(
    docs: dict[str, list[dict[str, Any]]],
    args: argparse.Namespace,
    header: str,
    shown: tuple[str, ...] = SHOWN,
    ci_metrics: tuple[str, ...] = ("rel", "spec", "loc"),
) -> dict[str, Any]:
    """Print the table (mean ± std over seeds) and DAFNet − MEND paired CIs; return the summary."""
    from dafset.trainer.stats import case_means, mean_std, paired_bootstrap

    summary: dict[str, Any] = {}
    print(f"\n{header}")
    width = {m: max(12, len(m) + 2) for m in shown}
    print(f"{'method':<8}{'T':>5}{'chunks':>7}  " + "".join(f"{m:>{width[m]}}" for m in shown))
    for method, runs in docs.items():
        for k, T in enumerate(args.T):
            rows = [r["results"][k] for r in runs]
            cell = {m: mean_std([r.get(m) for r in rows]) for m in shown}
            summary[f"{method}/T{T}"] = cell
            print(
                f"{method:<8}{T:>5}{rows[0]['n_chunks']:>7}  "
                + "".join(f"{fmt(cell[m]):>{width[m]}}" for m in shown)
            )
    pairs = [(a, b) for a, b in (("dafnet", "mend"), ("dafnet", "ft")) if a in docs and b in docs]
    for a, b in pairs:
        print(f"\n{a} − {b}, paired over cases (each case averaged over seeds), bootstrap 95% CI:")
        for k, T in enumerate(args.T):
            cells = []
            for m in ci_metrics:
                ci = paired_bootstrap(
                    case_means([r["results"][k]["per_case"] for r in docs[a]], m),
                    case_means([r["results"][k]["per_case"] for r in docs[b]], m),
                )
                summary[f"{a}-{b}/T{T}/{m}"] = ci
                cells.append(
                    f"{m} {ci['diff']:+.3f} [{ci['lo']:+.3f}, {ci['hi']:+.3f}]" if ci["n"] else f"{m} -"
                )
            print(f"  T={T:<4} " + "   ".join(cells))
    return summary


def main() -> None:
    args = parse_args()
    import torch

    from dafset.trainer import toy
    from dafset.trainer.data import load_dafset

    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    docs: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="dafset-bench-") as tmp_name:
        data, kind = build_world(args, Path(tmp_name))
        train_sources = load_dafset(data, "train")
        eval_cases = [c for v in load_dafset(data, args.eval_split).values() for c in v]
        every = [c for v in train_sources.values() for c in v] + eval_cases
        if args.data is None:  # the toy LM learns every true fact of its world, all templates
            world = toy.toy_world(args.subjects, 0)
            facts = toy.toy_corpus(world)
            texts = facts + [c.target_new for c in every] + [p for p, _, _ in toy.PREFIXES]
        else:
            texts, facts = corpus_of(every)
        tok = toy.word_tokenizer(texts)
        model = toy.tiny_gpt2(len(tok), n_layer=args.model_layers, n_embd=args.model_width, seed=0)
        t0 = time.perf_counter()
        losses = toy.pretrain(model, tok, facts, toy.PretrainRecipe(steps=args.pretrain_steps))
        pre_s = time.perf_counter() - t0
        ctx = {"model": model, "tok": tok, "train": train_sources, "eval": eval_cases}
        print(
            f"[bench] data: {kind}; train {sum(map(len, train_sources.values()))} cases, "
            f"eval {len(eval_cases)} ({args.eval_split}); settings {' '.join(BENCH_SETTINGS + args.settings)}"
            + (
                f"; dafnet {' '.join(DAFNET_SETTINGS + args.dafnet_set)}"
                if DAFNET_SETTINGS or args.dafnet_set
                else ""
            )
        )
        print(
            f"[bench] TOY GPT-2 {args.model_layers}x{args.model_width}, vocab {len(tok)}, pre-trained "
            f"{args.pretrain_steps} steps on {len(facts)} true-fact sentences: loss {losses[0]:.2f} -> "
            f"{losses[-1]:.2f} in {pre_s:.0f}s ({args.threads} torch thread(s))"
        )
        for method in args.methods:
            seeds = args.seeds if method in ("dafnet", "mend") else args.seeds[:1]
            for seed in seeds:
                t0 = time.perf_counter()
                doc = run_method(method, seed, ctx, args)
                docs.setdefault(method, []).append(doc)
                curve = doc.get("curve")
                grown = (
                    ", curriculum N at 25/50/75/100% of steps "
                    + "/".join(
                        str(curve[max(0, int(len(curve) * q) - 1)]["n_max"]) for q in (0.25, 0.5, 0.75, 1)
                    )
                    + f" (edits per sequence, 2nd half: mean {mean_edits(curve):.1f}, max "
                    + f"{max(h['n_edits'] for h in curve)}), step size {curve[-1]['edit_lr']:.4f}"
                    if curve
                    else ""
                )
                print(
                    f"[bench] {method} seed {seed}: {time.perf_counter() - t0:.0f}s{grown}; "
                    + "  ".join(
                        f"T={r['T']} rel {num(r['rel'])} spec {num(r['spec'])} loc {num(r['loc'])}"
                        for r in doc["results"]
                    ),
                    flush=True,
                )
    facts_acc = next(iter(docs.values()))[0]["fact_accuracy"]
    header = (
        f"Toy GPT-2 ({args.model_layers}x{args.model_width}; edits in the last blocks), {kind}, "
        f"eval {len(eval_cases)} {args.eval_split} cases; fact accuracy of the unedited model: "
        f"prompts {facts_acc['prompt']:.3f}, rephrases {facts_acc['rephrase']:.3f}. "
        f"Mean ± std over training seeds {args.seeds} (none/ft: deterministic, seed {args.seeds[0]}); "
        f"chunks of T sequential edits, restore between chunks; spec = Gen − Gen(other subject)"
    )
    summary = report(docs, args, header)
    total = time.perf_counter() - t_start
    print(f"\nTotal {total:.0f}s.")
    if args.out:
        args.out.write_text(json.dumps({"summary": summary, "runs": docs}, indent=2, default=str) + "\n")
        print(f"wrote {args.out}")

    def val(key: str, m: str) -> str:
        v = summary.get(key, {}).get(m, {}).get("mean")
        return "nan" if v is None else f"{v:.3f}"

    t1, tn = f"T{args.T[0]}", f"T{args.T[-1]}"
    print(
        f"edit_quality: fact_acc={facts_acc['prompt']:.3f} T1_rel_dafnet={val('dafnet/' + t1, 'rel')} "
        f"T1_loc_dafnet={val('dafnet/' + t1, 'loc')} T100_rel_dafnet={val('dafnet/' + tn, 'rel')} "
        f"T100_rel_mend={val('mend/' + tn, 'rel')} T100_spec_dafnet={val('dafnet/' + tn, 'spec')} "
        f"T100_spec_mend={val('mend/' + tn, 'spec')} T100_loc_dafnet={val('dafnet/' + tn, 'loc')} "
        f"T100_loc_mend={val('mend/' + tn, 'loc')}"
    )


if __name__ == "__main__":
    main()
