"""New tokens/s of prefix generation: our decoding engine next to ``model.generate``, same model,
prompts and seeds, one run, and both as a share of the machine's own measured matmul peak (MFU).

The naive way is what the build did before: Hugging Face ``generate`` in batches of 16 with a
per-row seeded logits processor, every row running to ``max_new_tokens``. The engine
(``dafset.lm.decode`` through ``PrefixGenerator.generate``) batches 64 rows, drops a row from the
batch (and its KV cache) once it has written a newline or EOS, and samples from the top-k only.
Useful tokens are those up to the first newline (what ``filters.clean`` keeps); both sides are
rated on them, and the run prints how many of the kept texts agree between the two.

    python bench/generation.py                                   # a fresh tiny Llama (random)
    python bench/generation.py --model /work/models/smollm2-135m --n 64

Last line: ``generation: tokens_per_s=<engine> naive_tokens_per_s=<naive> mfu=<0..1> peak_gflops=<x>``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dafset.lm.corpus import sample_triples  # noqa: E402
from dafset.lm.filters import clean  # noqa: E402
from dafset.lm.generate import CONTEXT_TEMPLATE, PrefixGenerator  # noqa: E402
from dafset.lm.sampling import RowSeededSampler  # noqa: E402
from dafset.lm.throughput import mfu, model_flops_per_token, peak_matmul_flops  # noqa: E402
from dafset.templating import render  # noqa: E402


def prompts_of(n: int) -> list[tuple[str, str]]:
    """(prompt, lead) for ``n`` distinct sample subjects, rendered like the build's context requests."""
    seen: dict[str, str] = {}
    for t in sample_triples():
        seen.setdefault(t.subject_label, t.relation_id)
        if len(seen) >= n:
            break
    out = []
    for subject, relation in seen.items():
        prompt = render(CONTEXT_TEMPLATE, subject=subject, relation_label=relation)
        out.append((prompt, prompt.rsplit("\n", 1)[-1]))
    return out


def naive(gen: PrefixGenerator, prompts: list[str], seeds: list[int], batch: int) -> tuple[list[str], float]:
    """The previous build's path: ``model.generate`` with the seeded sampler, 16 rows a batch."""
    from transformers import GenerationConfig, LogitsProcessorList

    from dafset.lm.batching import pad_batch

    out, began = [], time.perf_counter()
    for start in range(0, len(prompts), batch):
        ids = gen.tokenizer(prompts[start : start + batch], add_special_tokens=True)["input_ids"]
        if gen._bos is not None:
            ids = [[gen._bos, *row] for row in ids]
        padded = pad_batch(ids, gen._pad, "left", device=gen.model.device)
        sampler = RowSeededSampler(seeds[start : start + batch], gen.sampling, gen.model.device)
        config = GenerationConfig(
            do_sample=False, max_new_tokens=gen.max_new_tokens, pad_token_id=gen._pad,
            eos_token_id=gen.tokenizer.eos_token_id,
        )
        with torch.inference_mode():
            new = gen.model.generate(
                input_ids=padded.input_ids, attention_mask=padded.attention_mask,
                generation_config=config, logits_processor=LogitsProcessorList([sampler]),
            )[:, padded.input_ids.shape[1] :]
        out.extend(gen.tokenizer.batch_decode(new, skip_special_tokens=True))
    return out, time.perf_counter() - began


def useful_tokens(gen: PrefixGenerator, texts: list[str]) -> int:
    """Tokens up to and including the first newline: what survives ``clean``."""
    firsts = [t.split("\n", 1)[0] + ("\n" if "\n" in t else "") for t in texts]
    return sum(len(ids) for ids in gen.tokenizer(firsts, add_special_tokens=False)["input_ids"])


def load(args):
    if args.model:
        from dafset.lm.load import load_causal_lm

        return load_causal_lm(args.model, device=args.device)
    from transformers import LlamaConfig, LlamaForCausalLM

    from dafset.lm.toy import train_tokenizer

    tokenizer = train_tokenizer([p for p, _ in prompts_of(2000)] * 3, vocab_size=2048)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=256, intermediate_size=688, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    return LlamaForCausalLM(config).eval(), tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a local causal LM folder; default: a fresh tiny Llama")
    parser.add_argument("--n", type=int, default=64, help="prompts (distinct sample subjects)")
    parser.add_argument("--batch-size", type=int, default=64, help="the engine's rows per batch")
    parser.add_argument("--naive-batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    model, tokenizer = load(args)
    gen = PrefixGenerator(model, tokenizer, batch_size=args.batch_size, max_new_tokens=args.max_new_tokens)
    jobs = prompts_of(args.n)
    prompts, seeds = [p for p, _ in jobs], list(range(len(jobs)))
    dtype = next(model.parameters()).dtype
    print(f"model: {args.model or 'fresh tiny Llama'}; {model.device}, {dtype}, threads {torch.get_num_threads()}")
    gen.generate(prompts[:2], seeds[:2])  # warm-up, not timed
    gen.throughput = type(gen.throughput)()
    peak = peak_matmul_flops(str(model.device), dtype)

    cpu = time.process_time()
    texts = gen.generate(prompts, seeds)
    cpu_seconds = time.process_time() - cpu
    stats = gen.throughput
    context = stats.prompt_tokens / max(1, stats.prompts) + args.max_new_tokens / 4
    per_token = model_flops_per_token(model, context)
    peak = max(peak, peak_matmul_flops(str(model.device), dtype))
    print(f"peak    : {peak / 1e9:.1f} GFLOP/s measured (2048^3 matmul); load average {os.getloadavg()[0]:.2f}")
    print(f"prompts : {stats.prompts}, {stats.prompt_tokens} prompt tokens, {per_token / 1e9:.3f} GFLOP/token")
    engine_mfu = mfu(stats.tokens_per_s, per_token, peak)
    print(
        f"engine  : {stats.new_tokens} new tokens in {stats.seconds:.2f} s = {stats.tokens_per_s:.1f} tokens/s"
        f" = {engine_mfu:.1%} MFU (prefill time included)"
    )
    if model.device.type == "cpu":
        # wall-clock rates follow others' load on a shared machine: the same ratio per CPU-second
        cpu_peak = peak_matmul_flops("cpu", dtype, clock=time.process_time)
        per_cpu = mfu(stats.new_tokens / max(cpu_seconds, 1e-9), per_token, cpu_peak)
        print(
            f"engine  : {stats.new_tokens / cpu_seconds:.1f} tokens per CPU-second = {per_cpu:.1%} of "
            f"{cpu_peak / 1e9:.1f} GFLOP per CPU-second ({cpu_seconds:.1f} CPU-s in {stats.seconds:.1f} s wall)"
        )
    naive_tps = 0.0
    if not args.skip_naive:
        cpu = time.process_time()
        old, seconds = naive(gen, prompts, seeds, args.naive_batch_size)
        naive_cpu = time.process_time() - cpu
        useful = useful_tokens(gen, old)
        naive_tps = useful / seconds
        same = sum(clean(lead, a) == clean(lead, b) for (_, lead), a, b in zip(jobs, old, texts, strict=True))
        print(
            f"naive   : {useful} useful new tokens in {seconds:.2f} s = {naive_tps:.1f} tokens/s"
            f" = {mfu(naive_tps, per_token, peak):.1%} MFU; speed-up {stats.tokens_per_s / max(naive_tps, 1e-9):.1f}x"
        )
        print(f"naive   : {useful / naive_cpu:.1f} useful tokens per CPU-second ({naive_cpu:.1f} CPU-s)")
        print(f"agree   : {same}/{len(jobs)} cleaned texts identical between the two paths")
    print(
        f"generation: tokens_per_s={stats.tokens_per_s:.1f} naive_tokens_per_s={naive_tps:.1f} "
        f"mfu={engine_mfu:.3f} peak_gflops={peak / 1e9:.1f}"
    )


if __name__ == "__main__":
    main()
