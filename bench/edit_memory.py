"""Peak memory and step time of the editor at T = 10 and T = 100: one meta-training step with a
sequence of T edits, and one evaluation chunk of T sequential edits (+ scoring).

    python bench/edit_memory.py                      # CPU, a GPT-2-shaped toy (d=512, 4 layers)
    python bench/edit_memory.py --gpt2-xl-random     # CUDA: a random GPT-2-XL-shaped model

Every measurement runs in a fresh child process, so peaks do not leak between them. On CPU the
peak is the child's resident set (ru_maxrss) above its baseline after warm-up; on CUDA it is
torch.cuda.max_memory_allocated above the baseline. Beside each peak the bench prints the bytes
autograd saved for the backward pass, the size of the update the editor produced, and — for
comparison — what keeping one dense ΔW per edit would cost (T × Σ d_in·d_out × 4 bytes).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MB = 1024**2
LOSS_ITEMS = 8


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


class SavedBytes:
    """Bytes autograd keeps for backward (unique storages), via saved-tensor hooks."""

    def __init__(self) -> None:
        self.storages: dict[int, int] = {}

    def pack(self, t: Any) -> Any:
        try:
            st = t.untyped_storage()
            self.storages[st.data_ptr()] = st.nbytes()
        except (RuntimeError, NotImplementedError):
            pass
        return t

    @property
    def total(self) -> int:
        return sum(self.storages.values())


def setup(
    shape: dict[str, int], device: str, dtype: str, aux: dict[str, Any], n_cases: int
) -> tuple[Any, ...]:
    import tempfile

    import torch

    from dafset.trainer import toy
    from dafset.trainer.config import EditorConfig
    from dafset.trainer.data import load_dafset
    from dafset.trainer.editor import Editor

    tmp = Path(tempfile.mkdtemp(prefix="dafset-mem-"))
    n_subjects = max(40, n_cases // 4 + 1)
    path, world = toy.toy_dafset(tmp / "toy", n_subjects=n_subjects, n_train=n_cases, n_test=8)
    cases = [c for v in load_dafset(path, "train").values() for c in v]
    tok = toy.word_tokenizer(toy.toy_corpus(world) + [p for p, _, _ in toy.PREFIXES])
    model = toy.tiny_gpt2(
        shape.get("vocab", len(tok)), n_layer=shape["n_layer"], n_embd=shape["n_embd"], n_head=shape["n_head"]
    )
    model = model.to(device=device, dtype=getattr(torch, dtype)).requires_grad_(False)
    editor = Editor.for_model(model, EditorConfig(**aux)).to(device)
    return model, tok, editor, cases


def child(
    mode: str, T: int, shape: dict[str, int], device: str, dtype: str, aux: dict[str, Any]
) -> dict[str, Any]:
    import random

    import torch

    from dafset.trainer.baselines import AuxEditSession
    from dafset.trainer.config import EvalConfig, TrainConfig
    from dafset.trainer.data import encode_pairs
    from dafset.trainer.evaluate import _loc_pairs, _predictions, score_chunk
    from dafset.trainer.train import loss_items, sequence_losses, total_loss

    torch.set_num_threads(1)
    model, tok, editor, cases = setup(shape, device, dtype, aux, max(T, 16))
    cuda = device.startswith("cuda")
    # a fixed number of loss prompts per group, so only the editor's own cost varies with T
    tcfg = TrainConfig(loss_max_items=LOSS_ITEMS, loss_batch_size=32, max_length=64)
    rng = random.Random(0)

    def train_step(n: int, saved: SavedBytes | None = None) -> int:
        chosen = rng.sample(cases, n)
        edits = encode_pairs(tok, [c.prompt for c in chosen], [c.target_new for c in chosen], 64).to(device)
        items = loss_items(chosen, tok, tcfg, rng)
        items.rel, items.gen, items.loc = (
            items.rel.to(device),
            {k: v.to(device) for k, v in items.gen.items()},
            {k: v.to(device) for k, v in items.loc.items()},
        )
        editor.train()
        if saved is not None:
            with torch.autograd.graph.saved_tensors_hooks(saved.pack, lambda t: t):
                losses, fused = sequence_losses(model, editor, edits, items, tcfg)
        else:
            losses, fused = sequence_losses(model, editor, edits, items, tcfg)
        total_loss(losses, tcfg).backward()
        editor.zero_grad(set_to_none=True)
        return sum(d.numel() * 4 for d in fused.new.values())

    def eval_chunk(n: int) -> int:
        chosen = rng.sample(cases, n)
        ecfg = EvalConfig(T=[n], max_length=64)
        pre = [p for p, _ in _predictions(model, tok, _loc_pairs(chosen)[0], ecfg)]
        session = AuxEditSession(model, tok, editor, 64)
        for c in chosen:
            session.edit(c)
        with session.applied():
            score_chunk(model, tok, chosen, pre, ecfg)
        st = session.state
        size = sum(d.numel() * 4 for d in st.dense.values())
        size += sum(m.numel() * 4 for ms in st.memory.values() for m in ms)
        session.close()
        return size

    # warm-up at a small size so lazy allocations and kernels are in place before the baseline
    # (only the path being measured: ru_maxrss never goes down)
    if mode == "train":
        train_step(2)
    else:
        # an untrained editor: fill the normaliser's statistics from a few signals first
        from dafset.trainer.signals import edit_signals

        few = cases[:8]
        batch = encode_pairs(tok, [c.prompt for c in few], [c.target_new for c in few], 64).to(device)
        with torch.no_grad():
            editor.train()(edit_signals(model, batch, editor.names))
        editor.eval()
        eval_chunk(2)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated() / MB
    else:
        base = _rss_mb()
    t0 = time.perf_counter()
    saved = SavedBytes()
    if mode == "train":
        update_bytes = train_step(T, saved)
    else:
        editor.eval()
        update_bytes = eval_chunk(T)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    peak = (torch.cuda.max_memory_allocated() / MB if cuda else _rss_mb()) - base
    dense = sum(a * b for a, b in editor.shapes.values()) * 4
    return {
        "mode": mode,
        "T": T,
        "seconds": seconds,
        "peak_mb": peak,
        "baseline_mb": base,
        "saved_mb": saved.total / MB,
        "update_mb": update_bytes / MB,
        "dense_per_edit_mb": T * dense / MB,
        "matrices": len(editor.names),
        "editor_params": sum(p.numel() for p in editor.parameters()),
        "model_params": sum(p.numel() for p in model.parameters()),
    }


def run_child(args: argparse.Namespace, mode: str, T: int) -> dict[str, Any]:
    spec = json.dumps(
        {
            "mode": mode,
            "T": T,
            "shape": args.shape,
            "device": args.device,
            "dtype": args.dtype,
            "aux": args.aux,
        }
    )
    out = subprocess.run(
        [sys.executable, __file__, "--child", spec], capture_output=True, text=True, cwd=ROOT
    )
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        raise SystemExit(f"child {mode} T={T} failed:\n{out.stderr[-3000:]}")
    return json.loads(lines[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--T", type=int, nargs="+", default=[10, 100])
    ap.add_argument("--device", default=None)
    ap.add_argument(
        "--gpt2-xl-random", action="store_true", help="random GPT-2-XL shape on CUDA (bf16 LM, fp32 editor)"
    )
    ap.add_argument(
        "--xl-shape", default="1600,48,25", help="n_embd,n_layer,n_head for --gpt2-xl-random (dry runs)"
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        spec = json.loads(args.child)
        print(
            json.dumps(
                child(spec["mode"], spec["T"], spec["shape"], spec["device"], spec["dtype"], spec["aux"])
            )
        )
        return

    import torch

    if args.gpt2_xl_random:
        args.device = args.device or "cuda"
        if args.device.startswith("cuda") and not torch.cuda.is_available():
            raise SystemExit("--gpt2-xl-random needs a CUDA device (or --device cpu with a small --xl-shape)")
        n_embd, n_layer, n_head = (int(x) for x in args.xl_shape.split(","))
        args.shape = {"n_embd": n_embd, "n_layer": n_layer, "n_head": n_head, "vocab": 50257}
        args.dtype = "bfloat16" if args.device.startswith("cuda") else "float32"
        # the reference's aux-net sizes; the last 3 blocks' c_fc / c_proj, as MEND and DAFNet
        args.aux = {"attn_dim": 1024, "score_dim": 256, "ffn_dim": 1536, "last_blocks": 3}
        label = f"random GPT-2-XL shape (d={n_embd}, {n_layer} layers, vocab 50257, {args.dtype})"
    else:
        args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        args.shape = {"n_embd": 512, "n_layer": 4, "n_head": 8}
        args.dtype = "float32"
        args.aux = {"attn_dim": 256, "score_dim": 64, "ffn_dim": 512, "last_blocks": 3}
        label = "GPT-2-shaped TOY (d=512, 4 layers, random init)"
    peak_kind = "torch.cuda.max_memory_allocated" if args.device.startswith("cuda") else "RSS (ru_maxrss)"
    print(f"{label} on {args.device}; DAFNet editor {args.aux}; peak = {peak_kind} above baseline")
    rows = [run_child(args, mode, T) for mode in ("train", "eval") for T in args.T]
    r0 = rows[0]
    print(
        f"LM {r0['model_params'] / 1e6:.1f}M params, {r0['matrices']} edited matrices, editor {r0['editor_params'] / 1e6:.2f}M params"
    )
    print(
        f"{'':<30}{'T':>6}{'seconds':>10}{'peak MB':>10}{'saved MB':>10}{'update MB':>11}{'dense/edit MB':>15}"
    )
    what = {"train": "train step (T edits fused)", "eval": "eval chunk (T sequential)"}
    for r in rows:
        print(
            f"{what[r['mode']]:<30}{r['T']:>6}{r['seconds']:>10.2f}{r['peak_mb']:>10.1f}{r['saved_mb']:>10.1f}"
            f"{r['update_mb']:>11.2f}{r['dense_per_edit_mb']:>15.1f}"
        )
    if len(args.T) >= 2:
        lo, hi = min(args.T), max(args.T)
        by = {(r["mode"], r["T"]): r for r in rows}
        print(
            f"\ngrowth from T={lo} to T={hi} (dense ΔW per edit would grow {hi / lo:.0f}x, "
            f"{by[('train', lo)]['dense_per_edit_mb']:.0f} -> {by[('train', hi)]['dense_per_edit_mb']:.0f} MB):"
        )
        dense_edit = (by[("train", hi)]["dense_per_edit_mb"] - by[("train", lo)]["dense_per_edit_mb"]) / (
            hi - lo
        )
        for mode in ("train", "eval"):
            a, b = by[(mode, lo)], by[(mode, hi)]
            per_edit = (b["peak_mb"] - a["peak_mb"]) / (hi - lo)
            print(
                f"  {what[mode]:<28} peak {a['peak_mb']:.0f} -> {b['peak_mb']:.0f} MB: {per_edit:.2f} MB per extra "
                f"edit = {per_edit / dense_edit:.1%} of a dense ΔW per edit ({dense_edit:.1f} MB); "
                f"update {a['update_mb']:.2f} -> {b['update_mb']:.2f} MB"
            )
        print(
            f"  (loss prompts fixed at {LOSS_ITEMS} per group. train: signals, aux-net layer inputs (checkpointed)"
            " and low-rank factors, O(T·tokens·(d_in+d_out)); eval: one fused dense ΔW per matrix"
            " plus the memory of pooled edit vectors, O(d_in·d_out + T·attn_dim))"
        )


if __name__ == "__main__":
    main()
