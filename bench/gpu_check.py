"""One GPU check, ready for when a GPU is lent (about 5 minutes on one H100/H200):

1. the likelihood scorer and 2. prefix generation on a randomly initialised Llama of a 1-8 B shape
in bf16 (default: Llama-3-8B's), as tokens/s and as a share of the card's own measured bf16 matmul
peak (MFU; the data sheet's dense peak is printed beside it); 3. DAFNet's meta-training step time
and peak memory on a random GPT-2-XL shape (``bench/edit_memory.py --gpt2-xl-random``).

    python bench/gpu_check.py                      # on the GPU
    python bench/gpu_check.py --dry-run            # CPU, shrunk shapes: checks that it all runs
    python bench/gpu_check.py --shape 1b           # Llama-3.2-1B's shape instead

Ends with one line ``gpu_check: device=... scorer_mfu=... generation_mfu=... dafnet_step_s=...
dafnet_peak_mb=...``, and writes the figures as JSON to ``--json`` (default ``$OUT/gpu_check.json``
when ``OUT`` is set).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from dafset.lm.generate import PrefixGenerator  # noqa: E402
from dafset.lm.score import LikelihoodScorer  # noqa: E402
from dafset.lm.throughput import mfu, model_flops_per_token, peak_matmul_flops  # noqa: E402

# (hidden, intermediate, layers, heads, kv heads, vocab)
SHAPES = {
    "8b": (4096, 14336, 32, 32, 8, 128256),  # Llama-3-8B
    "1b": (2048, 8192, 16, 32, 8, 128256),  # Llama-3.2-1B
    "dry": (128, 344, 2, 4, 2, 8192),
}
SHEET_TFLOPS = {"H100": 989.0, "H200": 989.0}  # dense bf16, SXM


def random_llama(shape: str, tokenizer, device: torch.device, dtype: torch.dtype):
    from transformers import LlamaConfig, LlamaForCausalLM

    hidden, ff, layers, heads, kv, vocab = SHAPES[shape]
    config = LlamaConfig(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=ff, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=kv, max_position_embeddings=4096,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # built in bf16 on the device: no fp32 detour through host memory
    try:
        with device:
            model = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    return model.eval().requires_grad_(False)


def measure_scorer(model, tokenizer, items, peak: float) -> dict[str, float]:
    scorer = LikelihoodScorer(model, tokenizer, batch_size=256)
    scorer.score(items[:32])  # warm-up
    scorer.stats = type(scorer.stats)()
    scorer.score(items)
    stats = scorer.stats
    per_token = model_flops_per_token(model, stats.model_tokens / max(1, stats.sequences) / 2)
    return {  # mfu: FLOPs of the tokens run (see bench/scoring.py); effective: of the input tokens
        "tokens_per_s": stats.tokens_per_s,
        "model_tokens_per_s": stats.model_tokens_per_s,
        "gflop_per_token": per_token / 1e9,
        "mfu": mfu(stats.model_tokens_per_s, per_token, peak),
        "effective_mfu": mfu(stats.tokens_per_s, per_token, peak),
    }


def measure_generation(model, tokenizer, prompts, batch: int, new_tokens: int, peak: float) -> dict[str, float]:
    gen = PrefixGenerator(model, tokenizer, batch_size=batch, max_new_tokens=new_tokens)
    gen.generate(prompts[:4], list(range(4)))  # warm-up
    gen.throughput = type(gen.throughput)()
    gen.generate(prompts, list(range(len(prompts))))
    stats = gen.throughput
    per_token = model_flops_per_token(model, stats.prompt_tokens / max(1, stats.prompts) + new_tokens / 2)
    return {
        "new_tokens_per_s": stats.tokens_per_s,
        "rows": stats.prompts,
        "batch": batch,
        "gflop_per_token": per_token / 1e9,
        "mfu": mfu(stats.tokens_per_s, per_token, peak),
    }


def measure_dafnet(dry: bool, timeout: int) -> dict[str, float]:
    """DAFNet's train step and eval chunk at T = 10 through ``bench/edit_memory.py``."""
    args = ["--gpt2-xl-random", "--T", "10"]
    if dry:
        args = ["--gpt2-xl-random", "--device", "cpu", "--xl-shape", "64,2,4", "--T", "2"]
    try:
        done = subprocess.run(
            [sys.executable, str(REPO / "bench" / "edit_memory.py"), *args],
            capture_output=True, text=True, timeout=timeout, cwd=REPO,
        )
    except subprocess.TimeoutExpired:
        print(f"DAFNet bench: no answer within {timeout} s", file=sys.stderr)
        return {"error": "timeout"}
    print(done.stdout.rstrip())
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr)
        return {"error": done.returncode}
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith(("train step", "eval chunk"))]
    out: dict[str, float] = {}
    for row in rows:
        kind = "train" if row[0] == "train" else "eval"
        # columns: <label words...> T seconds peak_MB saved_MB update_MB dense_MB
        out[f"dafnet_{kind}_seconds"], out[f"dafnet_{kind}_peak_mb"] = float(row[-5]), float(row[-4])
    return out


def sheet_peak(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((tf * 1e12 for key, tf in SHEET_TFLOPS.items() if key in name), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="CPU, shrunk shapes and counts")
    parser.add_argument("--shape", choices=["8b", "1b"], default="8b")
    parser.add_argument("--sentences", type=int, default=4096)
    parser.add_argument("--prompts", type=int, default=512)
    parser.add_argument("--gen-batch", type=int, default=256)
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    from generation import prompts_of  # bench/generation.py: the build's context requests
    from scoring import bench_items  # bench/scoring.py: the build's likelihood sentences

    from dafset.lm.toy import train_tokenizer

    began = time.perf_counter()
    dry = args.dry_run
    if not dry and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here: run with --dry-run to check the script on CPU")
    device = torch.device("cpu" if dry else "cuda")
    dtype = torch.float32 if dry else torch.bfloat16
    shape = "dry" if dry else args.shape
    n_items, n_prompts = (64, 16) if dry else (args.sentences, args.prompts)
    items = bench_items(n_items, 0)
    prompts = [p for p, _ in prompts_of(n_prompts)]
    tokenizer = train_tokenizer([it.text for it in items] + prompts, vocab_size=4096)
    model = random_llama(shape, tokenizer, device, dtype)
    params = sum(p.numel() for p in model.parameters())
    peak = peak_matmul_flops(str(device), dtype, n=1024 if dry else 8192)
    sheet = sheet_peak(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device {name}; random Llama '{shape}' {params / 1e9:.2f} B params, {dtype}; setup {time.perf_counter() - began:.0f} s")
    print(f"peak: {peak / 1e9:.1f} GFLOP/s measured" + (f" (data sheet {sheet / 1e9:.0f})" if sheet else ""))

    figures: dict[str, object] = {"device": name, "shape": shape, "params": params, "peak_tflops": peak / 1e12}
    figures["scorer"] = measure_scorer(model, tokenizer, items, peak)
    print(f"scorer: {json.dumps(figures['scorer'])}")
    batch = 8 if dry else args.gen_batch
    figures["generation"] = measure_generation(model, tokenizer, prompts, batch, 8 if dry else args.new_tokens, peak)
    print(f"generation: {json.dumps(figures['generation'])}")
    del model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    figures["dafnet"] = measure_dafnet(dry, timeout=600 if dry else 360)
    figures["seconds"] = time.perf_counter() - began
    target = args.json or (str(Path(os.environ["OUT"]) / "gpu_check.json") if os.environ.get("OUT") else None)
    if target:
        Path(target).write_text(json.dumps(figures, indent=2) + "\n")
    d = figures["dafnet"]
    print(
        f"gpu_check: device={name.replace(' ', '_')} scorer_mfu={figures['scorer']['mfu']:.3f} "
        f"generation_mfu={figures['generation']['mfu']:.3f} dafnet_step_s={d.get('dafnet_train_seconds', float('nan')):.2f} "
        f"dafnet_peak_mb={d.get('dafnet_train_peak_mb', float('nan')):.0f} seconds={figures['seconds']:.0f}"
    )


if __name__ == "__main__":
    main()
