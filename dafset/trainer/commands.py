"""``dafset train`` and ``dafset eval``. Plain typer-annotated functions; torch and transformers
are imported inside the bodies so ``dafset --help`` stays fast.

  dafset train --data DIR --model PATH --out CKPT [--method dafnet|mend] [--set key=value ...]
  dafset eval  --data DIR --model PATH --editor CKPT --T 1 10 100 [--method ...] [--split test]
               [--format dafset|zsre|counterfact] [--set key=value ...]

Hyperparameters are not restated here: every field of EditorConfig / TrainConfig / EvalConfig
(dafset/trainer/config.py, the single home of each default) is set with ``--set key=value`` or a
``--config`` JSON file, the same mechanism bench/edit_quality.py uses.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from dafset.errors import DafsetError, path_error
from dafset.terminal import terminal_safe


def _fail(message: str) -> None:
    typer.echo(f"error: {terminal_safe(' '.join(message.split()))}", err=True)
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


SET_HELP = (
    "key=value for any field of the editor/training/evaluation configs (repeat), e.g. "
    "--set steps=300 --set fusion=decay --set curriculum_ema=0.1; see docs/trainer.md for every field "
    "and its default (dafset/trainer/config.py)"
)
CONFIG_HELP = "JSON file of settings ({key: value}, or {'editor': {...}, 'train': {...}, 'eval': {...}} as in a result file); --set wins"


MAX_CONFIG_BYTES = 1 << 20  # a settings file is a few hundred bytes; /dev/zero is not one


def _read_config(path: Path) -> Any:
    """--config FILE as JSON, read with a size cap (a device or a huge file is refused, not read)."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise DafsetError(f"--config {path}: cannot read ({exc.strerror or exc})") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise DafsetError(f"--config {path}: larger than {MAX_CONFIG_BYTES} bytes; not a settings file")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise DafsetError(f"--config {path}: not JSON ({exc})") from None


def _settings(config_file: Path | None, settings: list[str] | None) -> list[str]:
    """The settings of --config FILE then --set, as key=value strings."""
    out: list[str] = []
    if config_file is not None:
        data = _read_config(config_file)
        if not isinstance(data, dict):
            raise DafsetError(f"{config_file}: expected a JSON object of settings")
        flat: dict[str, Any] = {}
        for k, v in data.items():
            if k in ("editor", "train", "eval") and isinstance(v, dict):
                flat |= v
            else:
                flat[k] = v
        for k, v in flat.items():
            value = ",".join(map(str, v)) if isinstance(v, list) else v
            out.append(f"{k}={'none' if value is None else value}")
    return out + list(settings or [])


def train(
    data: Annotated[
        Path, typer.Option("--data", help="DAFSet directory (or zsRE / CounterFact JSON with --format)")
    ],
    model: Annotated[str, typer.Option("--model", help="local directory of a Hugging Face causal LM")],
    out: Annotated[
        Path, typer.Option("--out", help="checkpoint directory (editor.safetensors + editor.json)")
    ],
    method: Annotated[str, typer.Option("--method", help="dafnet | mend")] = "dafnet",
    settings: Annotated[list[str] | None, typer.Option("--set", help=SET_HELP)] = None,
    config_file: Annotated[Path | None, typer.Option("--config", help=CONFIG_HELP)] = None,
    configs: Annotated[
        list[str] | None, typer.Option("--configs", help="DAFSet configs to mix (repeat)")
    ] = None,
    split: Annotated[str | None, typer.Option("--split", help="default: TrainConfig.split")] = None,
    fmt: Annotated[str, typer.Option("--format", help="dafset | zsre | counterfact")] = "dafset",
    device: Annotated[str | None, typer.Option("--device")] = None,
    dtype: Annotated[
        str, typer.Option("--dtype", help="LM weights: auto (bf16 on GPU) | float32 | bfloat16")
    ] = "auto",
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """Meta-train a DAFNet (or MEND) editor for a model on edit cases. Every hyperparameter is a
    config field set with --set key=value (defaults: the DAFNet reference's)."""
    from dafset.lm.load import check_model_dir
    from dafset.trainer.config import EditorConfig, TrainConfig, apply_settings
    from dafset.trainer.data import load_cases
    from dafset.trainer.outputs import check_checkpoint_out, staged_checkpoint
    from dafset.trainer.train import train as run_train

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if method not in ("dafnet", "mend"):
        _fail(f"--method must be dafnet or mend, not {method!r}")
    try:
        ecfg, tcfg = EditorConfig(method=method), TrainConfig()  # type: ignore[arg-type]
        apply_settings([*_settings(config_file, settings), f"method={method}"], ecfg, tcfg)
        if ecfg.fusion not in ("stick", "decay") or ecfg.signal_tokens not in ("all", "target"):
            raise DafsetError("fusion must be stick or decay; signal_tokens all or target")
        tcfg.configs = configs or tcfg.configs
        tcfg.split = split or tcfg.split
        check_checkpoint_out(out)
        check_model_dir(model)  # cheap: a refused model folder is named before the data is read
        sources = load_cases(data, fmt, tcfg.split, tcfg.configs)  # type: ignore[arg-type]
        dev = _device(device)
        lm, tok = load_model(model, dev, dtype)
        meta = {
            "model": model,
            "data": {
                "path": str(data),
                "format": fmt,
                "split": tcfg.split,
                "sources": {k: len(v) for k, v in sources.items()},
            },
        }
        with staged_checkpoint(out) as stage:  # an earlier checkpoint at --out survives a failed run
            result = run_train(lm, tok, sources, ecfg, tcfg, out_dir=stage, progress=progress, meta=meta)
    except (DafsetError, ValueError) as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(str(path_error(exc)))
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
        typer.Option("--T", help="chunk sizes: --T 1 10 100 (or repeat --T); default EvalConfig.T"),
    ] = None,
    method: Annotated[
        str | None, typer.Option("--method", help="dafnet | mend | ft | none (default: the checkpoint's)")
    ] = None,
    split: Annotated[str | None, typer.Option("--split", help="default: EvalConfig.split")] = None,
    fmt: Annotated[str, typer.Option("--format", help="dafset | zsre | counterfact")] = "dafset",
    configs: Annotated[
        list[str] | None, typer.Option("--configs", help="DAFSet configs (repeat); default all properties")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="result JSON (default: eval-<method>-<split>.json)")
    ] = None,
    settings: Annotated[list[str] | None, typer.Option("--set", help=SET_HELP)] = None,
    config_file: Annotated[Path | None, typer.Option("--config", help=CONFIG_HELP)] = None,
    edit_modules: Annotated[
        list[str] | None, typer.Option("--edit-modules", help="ft without checkpoint: globs")
    ] = None,
    last_blocks: Annotated[
        int | None, typer.Option("--last-blocks", help="ft without checkpoint (default EditorConfig's)")
    ] = None,
    device: Annotated[str | None, typer.Option("--device")] = None,
    dtype: Annotated[str, typer.Option("--dtype")] = "auto",
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    more_t: Annotated[list[str] | None, typer.Argument(hidden=True)] = None,
) -> None:
    """Sequential-editing evaluation (chunks of T edits, restore between chunks): Rel / Gen /
    Gen(other subject) / Loc, fact accuracy and per-case scores."""
    from dafset.trainer.config import EditorConfig, EvalConfig, apply_settings
    from dafset.trainer.editor import read_checkpoint_meta
    from dafset.trainer.outputs import check_result_out

    cfg = EvalConfig()
    try:
        apply_settings(_settings(config_file, settings), cfg)
    except (DafsetError, ValueError) as exc:
        _fail(str(exc))
    try:
        ts = list(t_values or cfg.T) + [int(x) for x in (more_t or [])]
    except ValueError:
        _fail(f"unexpected argument(s) {more_t}; --T takes integers")
    if any(t < 1 for t in ts):
        _fail("--T values must be >= 1")
    cfg.T, cfg.split, cfg.configs = ts, split or cfg.split, configs or cfg.configs
    blocks = last_blocks if last_blocks is not None else EditorConfig.last_blocks
    if blocks < 1:
        _fail(f"--last-blocks {blocks}: must be >= 1")
    try:
        check_result_out(out or Path(f"eval-{method or 'ft'}-{cfg.split}.json"))
        if editor is not None:
            read_checkpoint_meta(editor)  # a folder that is no checkpoint fails before the model loads
        doc, path = _run_eval(
            data,
            model,
            editor,
            ts,
            method,
            cfg.split,
            fmt,
            cfg.configs,
            out,
            cfg,
            edit_modules,
            blocks,
            device,
            dtype,
            progress,
        )
    except (DafsetError, ValueError) as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(str(path_error(exc)))
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
    from dafset.trainer.outputs import write_result

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
    write_result(path, json.dumps(doc, indent=2, default=str) + "\n")
    return doc, path


def print_table(doc: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"{doc.get('method', '?')} — sequential editing (chunks of T, restore between chunks)"
    )
    for col in ("T", "chunks", "Rel", "Gen", "Gen(other)", "Spec", "Loc", "Gen+prefix"):
        table.add_column(col, justify="right")
    shown = ("rel", "gen", "gen_other", "spec", "loc", "gen_prefix")
    for r in doc["results"]:
        table.add_row(
            str(r["T"]),
            str(r["n_chunks"]),
            *(f"{r[m]:.3f}" if r.get(m) is not None else "-" for m in shown),
        )
    Console().print(table)
    facts = doc.get("fact_accuracy") or {}
    if facts.get("prompt") is not None:
        typer.echo(
            f"fact accuracy of the unedited model: prompts {facts['prompt']:.3f}, "
            f"rephrases {facts['rephrase'] if facts.get('rephrase') is not None else float('nan'):.3f}"
        )
        if facts.get("prompt_first") is not None:  # result files older than the first-token scores lack it
            typer.echo(f"  first token of the truth after the prompts: {facts['prompt_first']:.3f}")
    firsts = [r for r in doc["results"] if r.get("rel_first") is not None]
    if firsts:  # multi-token targets: later tokens come almost free under teacher forcing
        typer.echo(
            "first target token only: "
            + "; ".join(
                f"T={r['T']} Rel {r['rel_first']:.3f} Gen {_num(r.get('gen_first'))} "
                f"Gen(other) {_num(r.get('gen_other_first'))} Spec {_num(r.get('spec_first'))}"
                for r in firsts
            )
        )


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"
