"""``dafset train`` and ``dafset eval``. Plain typer-annotated functions; torch and transformers
are imported inside the bodies so ``dafset --help`` stays fast.

  dafset train --data DIR --model PATH --out CKPT [--method dafnet|mend] [--steps N] ...
  dafset eval  --data DIR --model PATH --editor CKPT --T 1 10 100 [--method ...] [--split test]
               [--format dafset|zsre|counterfact]
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from dafset.errors import DafsetError


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _device(name: str | None) -> str:
    import torch

    if name:
        return name
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model(path: str, device: str, dtype: str = "auto") -> tuple[Any, Any]:
    """A causal LM and its tokenizer through the project's one safe loader (local folder or local
    cache, safetensors only, no code from the folder); frozen, eval mode."""
    from dafset.lm.load import load_causal_lm

    return load_causal_lm(path, device=device, dtype=dtype)


def _flat_cases(groups: dict[str, list[Any]]) -> list[Any]:
    return [c for name in sorted(groups) for c in groups[name]]


def train(
    data: Annotated[
        Path, typer.Option("--data", help="DAFSet directory (or zsRE / CounterFact JSON with --format)")
    ],
    model: Annotated[str, typer.Option("--model", help="local directory of a Hugging Face causal LM")],
    out: Annotated[
        Path, typer.Option("--out", help="checkpoint directory (editor.safetensors + editor.json)")
    ],
    method: Annotated[str, typer.Option("--method", help="dafnet | mend")] = "dafnet",
    steps: Annotated[int, typer.Option("--steps")] = 1000,
    lr: Annotated[float, typer.Option("--lr", help="Adam lr of the aux networks (reference 1e-6)")] = 1e-6,
    lr_step: Annotated[
        float, typer.Option("--lr-step", help="Adam lr of the per-matrix step sizes (reference 1e-4)")
    ] = 1e-4,
    init_edit_lr: Annotated[float, typer.Option("--init-edit-lr", help="initial step size η")] = 1e-4,
    lambda_rel: Annotated[float, typer.Option("--lambda-rel")] = 0.1,
    lambda_gen: Annotated[float, typer.Option("--lambda-gen")] = 0.1,
    lambda_loc: Annotated[float, typer.Option("--lambda-loc")] = 0.2,
    max_edits: Annotated[
        int, typer.Option("--max-edits", help="curriculum ceiling of edits per sequence")
    ] = 1000,
    curriculum_patience: Annotated[int, typer.Option("--curriculum-patience")] = 3000,
    configs: Annotated[
        list[str] | None, typer.Option("--configs", help="DAFSet configs to mix (repeat)")
    ] = None,
    split: Annotated[str, typer.Option("--split")] = "train",
    fmt: Annotated[str, typer.Option("--format", help="dafset | zsre | counterfact")] = "dafset",
    edit_modules: Annotated[
        list[str] | None, typer.Option("--edit-modules", help="glob of matrices to edit (repeat)")
    ] = None,
    last_blocks: Annotated[int, typer.Option("--last-blocks")] = 3,
    aux_layers: Annotated[int, typer.Option("--aux-layers")] = 2,
    attn_dim: Annotated[int, typer.Option("--attn-dim")] = 1024,
    score_dim: Annotated[int, typer.Option("--score-dim")] = 256,
    ffn_dim: Annotated[int, typer.Option("--ffn-dim")] = 1536,
    fusion: Annotated[str, typer.Option("--fusion", help="stick (reference) | decay")] = "stick",
    detach_retention: Annotated[
        bool, typer.Option("--detach-retention", help="the reference's untrained retention")
    ] = False,
    signal_tokens: Annotated[
        str, typer.Option("--signal-tokens", help="all (reference) | target: rows of u/δ the aux net sees")
    ] = "all",
    curriculum_start: Annotated[int, typer.Option("--curriculum-start")] = 1,
    loss_max_items: Annotated[int, typer.Option("--loss-max-items")] = 64,
    max_length: Annotated[int, typer.Option("--max-length")] = 128,
    ckpt_every: Annotated[int, typer.Option("--ckpt-every")] = 1000,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    device: Annotated[str | None, typer.Option("--device")] = None,
    dtype: Annotated[
        str, typer.Option("--dtype", help="LM weights: auto (bf16 on GPU) | float32 | bfloat16")
    ] = "auto",
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """Meta-train a DAFNet (or MEND) editor for a model on edit cases."""
    from dafset.trainer.config import EditorConfig, TrainConfig
    from dafset.trainer.data import load_cases
    from dafset.trainer.train import train as run_train

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if method not in ("dafnet", "mend"):
        _fail(f"--method must be dafnet or mend, not {method!r}")
    if fusion not in ("stick", "decay") or signal_tokens not in ("all", "target"):
        _fail("--fusion must be stick or decay; --signal-tokens all or target")
    try:
        dev = _device(device)
        lm, tok = load_model(model, dev, dtype)
        sources = load_cases(data, fmt, split, configs)  # type: ignore[arg-type]
        ecfg = EditorConfig(
            method=method,  # type: ignore[arg-type]
            edit_modules=edit_modules or None,
            last_blocks=last_blocks,
            n_layers=aux_layers,
            attn_dim=attn_dim,
            score_dim=score_dim,
            ffn_dim=ffn_dim,
            fusion=fusion,  # type: ignore[arg-type]
            train_retention=not detach_retention,
            init_edit_lr=init_edit_lr,
            signal_tokens=signal_tokens,  # type: ignore[arg-type]
        )
        tcfg = TrainConfig(
            steps=steps,
            lr=lr,
            lr_step=lr_step,
            lambda_rel=lambda_rel,
            lambda_gen=lambda_gen,
            lambda_loc=lambda_loc,
            max_edits=max_edits,
            curriculum_start=curriculum_start,
            curriculum_patience=curriculum_patience,
            loss_max_items=loss_max_items,
            max_length=max_length,
            configs=configs or None,
            split=split,
            seed=seed,
            ckpt_every=ckpt_every,
        )
        meta = {
            "model": model,
            "data": {
                "path": str(data),
                "format": fmt,
                "split": split,
                "sources": {k: len(v) for k, v in sources.items()},
            },
        }
        result = run_train(lm, tok, sources, ecfg, tcfg, out_dir=out, progress=progress, meta=meta)
    except (DafsetError, ValueError) as exc:
        _fail(str(exc))
    last = result.history[-1]
    typer.echo(
        f"saved {out} after {last['step']} steps: loss {last['loss']:.4f}, rel {last['rel']:.4f}, n_max {last['n_max']}"
    )


def evaluate(
    data: Annotated[Path, typer.Option("--data", help="DAFSet directory, or zsRE / CounterFact JSON")],
    model: Annotated[str, typer.Option("--model", help="local directory of a Hugging Face causal LM")],
    editor: Annotated[
        Path | None, typer.Option("--editor", help="checkpoint from `dafset train` (dafnet/mend)")
    ] = None,
    t_values: Annotated[
        list[int] | None,
        typer.Option("--T", help="chunk sizes: --T 1 10 100 (or repeat --T); default 1 10 100"),
    ] = None,
    method: Annotated[
        str | None, typer.Option("--method", help="dafnet | mend | ft | none (default: the checkpoint's)")
    ] = None,
    split: Annotated[str, typer.Option("--split")] = "test",
    fmt: Annotated[str, typer.Option("--format", help="dafset | zsre | counterfact")] = "dafset",
    configs: Annotated[
        list[str] | None, typer.Option("--configs", help="DAFSet configs (repeat); default all properties")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="result JSON (default: eval-<method>-<split>.json)")
    ] = None,
    max_chunks: Annotated[int | None, typer.Option("--max-chunks", help="cap the chunks per T")] = None,
    ft_steps: Annotated[int, typer.Option("--ft-steps")] = 25,
    ft_lr: Annotated[float, typer.Option("--ft-lr")] = 5e-4,
    edit_modules: Annotated[
        list[str] | None, typer.Option("--edit-modules", help="ft without checkpoint: globs")
    ] = None,
    last_blocks: Annotated[int, typer.Option("--last-blocks")] = 3,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 32,
    max_length: Annotated[int, typer.Option("--max-length")] = 128,
    device: Annotated[str | None, typer.Option("--device")] = None,
    dtype: Annotated[str, typer.Option("--dtype")] = "auto",
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    more_t: Annotated[list[str] | None, typer.Argument(hidden=True)] = None,
) -> None:
    """Sequential-editing evaluation (chunks of T edits, restore between chunks): Rel / Gen / Loc."""
    from dafset.trainer.config import EvalConfig

    try:
        ts = list(t_values or [1, 10, 100]) + [int(x) for x in (more_t or [])]
    except ValueError:
        _fail(f"unexpected argument(s) {more_t}; --T takes integers")
    if any(t < 1 for t in ts):
        _fail("--T values must be >= 1")
    try:
        doc, path = _run_eval(
            data,
            model,
            editor,
            ts,
            method,
            split,
            fmt,
            configs,
            out,
            EvalConfig(
                T=ts,
                split=split,
                configs=configs or None,
                max_chunks=max_chunks,
                ft_steps=ft_steps,
                ft_lr=ft_lr,
                batch_size=batch_size,
                max_length=max_length,
            ),
            edit_modules,
            last_blocks,
            device,
            dtype,
            progress,
        )
    except (DafsetError, ValueError) as exc:
        _fail(str(exc))
    print_table(doc)
    typer.echo(f"wrote {path}")


def _run_eval(
    data: Path,
    model: str,
    editor_dir: Path | None,
    ts: list[int],
    method: str | None,
    split: str,
    fmt: str,
    configs: list[str] | None,
    out: Path | None,
    cfg: Any,
    edit_modules: list[str] | None,
    last_blocks: int,
    device: str | None,
    dtype: str,
    progress: bool,
) -> tuple[dict[str, Any], Path]:
    from dafset.trainer.baselines import AuxEditSession, FineTuneSession, NoEdit
    from dafset.trainer.data import load_cases
    from dafset.trainer.editor import Editor, read_checkpoint_meta
    from dafset.trainer.evaluate import evaluate as run_eval
    from dafset.trainer.layouts import find_edit_modules

    dev = _device(device)
    lm, tok = load_model(model, dev, dtype)
    ckpt_meta: dict[str, Any] = {}
    if editor_dir is not None:
        ckpt_meta = read_checkpoint_meta(editor_dir)
        trained = ckpt_meta["editor"]["method"]
        if method is not None and method in ("dafnet", "mend") and method != trained:
            raise DafsetError(f"--method {method} but {editor_dir} holds a {trained} editor")
        method = method or trained
    method = method or "ft"
    if method not in ("dafnet", "mend", "ft", "none"):
        raise DafsetError(f"--method must be dafnet, mend, ft or none, not {method!r}")
    if method in ("dafnet", "mend"):
        if editor_dir is None:
            raise DafsetError(f"--method {method} needs --editor CKPT (from `dafset train`)")
        ed = Editor.load(editor_dir, dev)
        names = ed.names

        def session() -> Any:
            return AuxEditSession(lm, tok, ed, cfg.max_length)
    else:
        names = (
            [m[0] for m in ckpt_meta["modules"]]
            if ckpt_meta
            else find_edit_modules(lm, edit_modules, last_blocks)
        )

        def session() -> Any:
            if method == "none":
                return NoEdit()
            return FineTuneSession(lm, tok, names, cfg.ft_steps, cfg.ft_lr, cfg.max_length)

    cases = _flat_cases(load_cases(data, fmt, split, configs))  # type: ignore[arg-type]
    meta = {
        "method": method,
        "model": {
            "path": model,
            "n_params": sum(p.numel() for p in lm.parameters()),
            "dtype": str(next(lm.parameters()).dtype),
        },
        "data": {"path": str(data), "format": fmt, "split": split, "configs": configs},
        "editor": {
            "path": str(editor_dir) if editor_dir else None,
            "step": ckpt_meta.get("step"),
            "config": ckpt_meta.get("editor"),
        },
        "edited_modules": list(names),
        "baseline": {"ft_steps": cfg.ft_steps, "ft_lr": cfg.ft_lr} if method == "ft" else None,
    }
    doc = run_eval(lm, tok, cases, session, names, cfg, meta, progress=progress)
    path = out or Path(f"eval-{method}-{split}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return doc, path


def print_table(doc: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"{doc.get('method', '?')} — sequential editing (chunks of T, restore between chunks)"
    )
    for col in ("T", "chunks", "Rel", "Gen", "Loc", "Gen+prefix"):
        table.add_column(col, justify="right")
    for r in doc["results"]:
        table.add_row(
            str(r["T"]),
            str(r["n_chunks"]),
            *(f"{r[m]:.3f}" if r[m] is not None else "-" for m in ("rel", "gen", "loc", "gen_prefix")),
        )
    Console().print(table)
