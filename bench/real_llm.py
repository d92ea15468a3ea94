"""A real pretrained model end to end: build time, the likelihood criterion's meaning, prefixes.

    python bench/real_llm.py                               # /work/models/smollm2-135m, small build
    python bench/real_llm.py --model DIR --sizes full      # the default build sizes (slow on CPU)
    python bench/real_llm.py --no-build --out DIR          # re-read a build made before

Runs ``dafset build --source sample --model M`` (timed), then on the sample's long-tail pool plus
the popular subjects it scores what the model knows (``dafset.lm.knowledge``) and, in the same run,
the old criterion (summed log-probability of the label), and prints each one's Spearman with
label token count and with popularity signals (sitelinks, page views, PopQA's s_pop where the
subject is in PopQA, frequency, degree, being a popular subject), the model's fact accuracy
(teacher-forced first token of the truth is its top prediction) on popular and long-tail subjects,
and MFU of likelihood scoring and of prefix generation against the measured matmul peak. It
writes 20 context and 20 sentiment prefixes of the build to ``<out>/prefix_reads.md`` to be read.
Skipped, with a message, when the model folder is absent. The last line is:

real_llm: build_s=<s> likelihood_mfu=<0..1> generation_mfu=<0..1> len_spearman=<rho>
    pop_spearman=<rho> tail_share=<0..1> fact_acc_popular=<0..1> fact_acc_long_tail=<0..1>
(len/pop: the new criterion's Spearman with label token count and with the best popularity signal;
tail_share: the share of the build's scored pool in the tail bucket.) One line, space-separated.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT_MODEL = Path("/work/models/smollm2-135m")
POPQA = REPO / "tests" / "data" / "facts" / "longtailqa_DisambPopQA.csv"
SMALL = [
    "--recent",
    "40",
    "--popular",
    "40",
    "--long-tail",
    "90",
    "--robust",
    "60",
    "--long-tail-pool",
    "450",
]


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    p.add_argument("--out", type=Path, default=None, help="build folder (default: a temporary one)")
    p.add_argument("--sizes", choices=("small", "full"), default="small")
    p.add_argument("--no-build", action="store_true", help="read the build already in --out")
    p.add_argument("--entities", type=int, default=600, help="long-tail pool entities to validate on")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--reads", type=int, default=20, help="prefixes per kind written out to read")
    return p.parse_args()


def run_build(args: argparse.Namespace, out: Path) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    cmd = [sys.executable, "-c", "from dafset.cli import app; app()", "build", "--source", "sample"]
    cmd += ["--model", str(args.model), "--out", str(out), "--no-figures", "--previous", "none"]
    cmd += SMALL if args.sizes == "small" else []
    began = time.perf_counter()
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if result.returncode != 0:
        sys.exit(f"real_llm: the build failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    (out / "build.log").write_text(result.stdout + result.stderr)
    return seconds


def pools(snapshot: Path, n_long_tail: int) -> tuple[list[dict[str, Any]], set[str], set[str]]:
    """The facts of ``n_long_tail`` stable long-tail pool subjects and of every popular subject."""
    import pyarrow.parquet as pq

    from dafset.hashing import stable_order

    facts = pq.read_table(snapshot / "facts.parquet").to_pylist()
    long_tail = {f["subject_id"] for f in facts if f["frequency"] is not None}
    popular = {f["subject_id"] for f in facts if f["pageviews"] is not None} - long_tail
    long_tail = set(stable_order(sorted(long_tail), "real_llm", 0)[:n_long_tail])
    return [f for f in facts if f["subject_id"] in long_tail | popular], long_tail, popular


def popqa() -> dict[str, float]:
    with POPQA.open(encoding="utf-8") as handle:
        return {r["s_uri"].rsplit("/", 1)[-1]: float(r["s_pop"]) for r in csv.DictReader(handle)}


def signals(facts: list[dict[str, Any]], ids: list[str], tokenizer: Any, popular: set[str]) -> dict:
    first: dict[str, dict[str, Any]] = {}
    for f in facts:
        first.setdefault(f["subject_id"], f)
    views = popqa()

    def known(key: str) -> dict[str, float]:
        return {q: float(first[q][key]) for q in ids if first[q].get(key) is not None}

    return {
        "label_tokens": {
            q: len(tokenizer(first[q]["subject_label"], add_special_tokens=False)["input_ids"]) for q in ids
        },
        "sitelinks": known("sitelinks"),
        "pageviews": known("pageviews"),
        "popqa_s_pop": {q: views[q] for q in ids if q in views},
        "frequency": known("frequency"),
        "degree": {
            q: float(first[q]["in_degree"] + first[q]["out_degree"])
            for q in ids
            if first[q].get("in_degree") is not None
        },
        "is_popular_subject": {q: float(q in popular) for q in ids},
    }


def criteria(model: Any, tokenizer: Any, facts: list[dict[str, Any]]) -> tuple[dict, dict, dict, Any]:
    """The new criterion (pmi), the old one (summed label log-prob), fact hits, and the scorer."""
    from dafset.lm.entities import entity_texts, score_entities, summed
    from dafset.lm.knowledge import fact_probes, first_token_hits, score_knowledge
    from dafset.lm.score import LikelihoodScorer

    scorer = LikelihoodScorer(model, tokenizer)
    probes = fact_probes(facts, max_facts=3)
    new = {q: k.pmi for q, k in score_knowledge(scorer, probes).items()}
    hits: dict[str, list[bool]] = {}
    for probe, hit in zip(probes, first_token_hits(model, tokenizer, probes), strict=True):
        hits.setdefault(probe.entity_id, []).append(hit)
    old = summed(score_entities(LikelihoodScorer(model, tokenizer), entity_texts(facts, max_statements=1)))
    return new, old, hits, scorer


def spearman_table(scores: dict[str, dict[str, float]], sig: dict[str, dict[str, float]]) -> dict:
    from dafset.lm.validation import spearman

    table: dict[str, dict[str, float | None]] = {}
    for name, values in scores.items():
        table[name] = {}
        for signal, by_id in sig.items():
            ids = [q for q in values if q in by_id]
            table[name][signal] = spearman([values[q] for q in ids], [by_id[q] for q in ids])
    return table


def generation_rate(
    model: Any, tokenizer: Any, facts: list[dict[str, Any]], n: int = 16
) -> tuple[float, float]:
    """Generated tokens/s and mean attended context, on grounded context requests for n subjects."""
    from dafset.lm.generate import CONTEXT_TEMPLATE, PrefixGenerator, PrefixRequest
    from dafset.lm.grounding import Grounder
    from dafset.relations import load_relations
    from dafset.templating import render

    grounder = Grounder(facts, load_relations())
    cases = list({f["subject_id"]: f for f in facts}.values())[:n]
    prompts = []
    for f in cases:
        grounding = grounder.ground(f["subject_id"], f["subject_label"], f["relation_id"], ())
        request = PrefixRequest(f["subject_id"], f["subject_label"], f["relation_id"])
        prompts.append(
            render(CONTEXT_TEMPLATE, subject=request.subject, relation_label="it", **grounding.variables())
        )
    generator = PrefixGenerator(model, tokenizer, batch_size=n, max_new_tokens=48)
    began = time.perf_counter()
    texts = generator.generate(prompts, list(range(len(prompts))))
    seconds = time.perf_counter() - began
    new_tokens = sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)
    prompt_tokens = sum(len(tokenizer(p)["input_ids"]) for p in prompts) / len(prompts)
    return new_tokens / seconds, prompt_tokens + 24


def write_reads(snapshot: Path, path: Path, per_kind: int) -> dict[str, list[dict[str, Any]]]:
    import datasets

    from dafset.hashing import stable_order

    rows = [r for split in datasets.load_dataset(str(snapshot), "robust").values() for r in split]
    chosen: dict[str, list[dict[str, Any]]] = {}
    lines = ["# Prefixes of a real-model build, to be read\n"]
    for kind in ("context", "sentiment"):
        of_kind = {r["id"]: r for r in rows if r["criterion"] == kind}
        chosen[kind] = [of_kind[i] for i in stable_order(sorted(of_kind), "reads", 0)[:per_kind]]
        lines.append(f"\n## {kind} ({len(of_kind)} in the build, {len(chosen[kind])} here)\n")
        for r in chosen[kind]:
            lines.append(f"\n- **{r['subject']}** / {r['relation_label']} (true: {r['target_true']})")
            for p in r["prefix"]:
                score = "" if p["score"] is None else f" [{p['polarity']} {p['score']:+.2f}]"
                lines.append(f"  - {p['text']}{score}")
    path.write_text("\n".join(lines) + "\n")
    return chosen


def main() -> None:
    args = parse()
    if not (args.model / "config.json").is_file():
        print(f"real_llm: skipped: no model folder at {args.model} (give one with --model)")
        return
    import torch

    from dafset.lm.load import load_causal_lm
    from dafset.lm.throughput import mfu, model_flops_per_token, peak_matmul_flops

    torch.set_num_threads(args.threads)
    print(f"machine load (1, 5, 15 min): {os.getloadavg()}; torch threads {args.threads}")
    out = args.out or Path(tempfile.mkdtemp(prefix="real_llm-"))
    build_s = float("nan") if args.no_build else run_build(args, out)
    snapshot = out / "latest"
    manifest = json.loads((snapshot / "manifest.json").read_text())
    print(f"build ({args.sizes}): {build_s:.0f} s -> {snapshot}")

    model, tokenizer = load_causal_lm(args.model, device="cpu")
    peak = peak_matmul_flops()
    print(f"measured fp32 matmul peak: {peak / 1e9:.1f} GFLOP/s")
    facts, long_tail, popular = pools(snapshot, args.entities)
    new, old, hits, scorer = criteria(model, tokenizer, facts)
    ids = sorted(new)
    sig = signals(facts, ids, tokenizer, popular)
    sig["knows_fact"] = {q: sum(hits[q]) / len(hits[q]) for q in ids if hits.get(q)}
    table = spearman_table({"knowledge_pmi (new)": new, "label_logprob_sum (old)": old}, sig)
    print(f"validation pool: {len(long_tail)} long-tail + {len(popular)} popular subjects; scored {len(new)}")
    for name, row in table.items():
        print(f"  {name:26s} " + " ".join(f"{k}={v}" for k, v in row.items()))

    def accuracy(group: set[str]) -> float:
        flags = [h for q in group if q in hits for h in hits[q]]
        return sum(flags) / len(flags) if flags else float("nan")

    stats = scorer.stats
    context = stats.model_tokens / max(1, stats.sequences) / 2
    likelihood_mfu = mfu(stats.model_tokens_per_s, model_flops_per_token(model, context), peak)
    print(
        f"likelihood: {stats.model_tokens_per_s:.0f} model tokens/s (padding eff {stats.padding_efficiency:.2f})"
    )
    gen_rate, gen_context = generation_rate(model, tokenizer, facts)
    generation_mfu = mfu(gen_rate, model_flops_per_token(model, gen_context), peak)
    print(f"generation: {gen_rate:.1f} generated tokens/s at ~{gen_context:.0f} tokens of context")

    validation = (manifest.get("llm") or {}).get("likelihood", {}).get("validation", {})
    print("build manifest validation:", json.dumps(validation))
    print("build prefixes:", json.dumps((manifest.get("llm") or {}).get("prefixes", {})))
    reads = write_reads(snapshot, out / "prefix_reads.md", args.reads)
    print(
        f"prefixes to read: {out / 'prefix_reads.md'} ({', '.join(f'{k} {len(v)}' for k, v in reads.items())})"
    )
    new_row = table["knowledge_pmi (new)"]
    signals_of_popularity = ("sitelinks", "pageviews", "popqa_s_pop", "frequency", "degree")
    popularity = [new_row[k] for k in signals_of_popularity if new_row.get(k) is not None]
    tail_share = (validation.get("bucket_shares") or {}).get("tail")
    print(
        f"real_llm: build_s={build_s:.0f} likelihood_mfu={likelihood_mfu:.3f} generation_mfu={generation_mfu:.3f} "
        f"len_spearman={new_row['label_tokens']} pop_spearman={max(popularity, default=float('nan'))} "
        f"tail_share={tail_share} fact_acc_popular={accuracy(popular):.3f} "
        f"fact_acc_long_tail={accuracy(long_tail):.3f}"
    )


if __name__ == "__main__":
    main()
