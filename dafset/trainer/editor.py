"""The editor: turns gradient signals into weight updates, fuses them with the past, applies them.

Update sign (explicit): ΔW_io = -η_m · Σ_t ũ_t δ̃_tᵀ · w_i / len_i. With the identity-initialised
aux net this starts as (normalised) gradient *descent* on the edit loss; η_m > 0 is a learnable
step size per matrix. (MEND's code and the DAFNet reference add the update and leave the sign to
be learned; the MEND paper subtracts. Subtracting makes an untrained editor already edit.)

Fusion: ΔW_m ← P · ΔW_m(past) + ΔW_new, with the in-batch retention weights w_i = u_i Π_{j>i}(1-u_j)
and P = Π_j (1-u_j) (stick-breaking over the retention scores u). MEND = w_i = 1, P = 1 (plain sum).

Memory: new updates stay low-rank factors (A = ũ rows, B = scaled δ̃ rows, ΔW = AᵀB) in the graph,
or one dense matrix per *matrix* when that is smaller; the past is a detached dense matrix per
matrix. Nothing is ever one dense matrix per edit. Updates are applied by forward hooks
(y += x ΔW_io) inside :func:`applied`, so the model's weights are never modified by the editor.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dafset.errors import DafsetError
from dafset.trainer.auxnet import AuxNet
from dafset.trainer.config import EditorConfig, from_dict, to_dict
from dafset.trainer.layouts import find_edit_modules, io_shape
from dafset.trainer.signals import Signals

WEIGHTS_FILE = "editor.safetensors"
CONFIG_FILE = "editor.json"

Term = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


@dataclass
class MatrixDelta:
    """ΔW_io of one matrix as a sum of terms: dense [d_in, d_out] or factors (A [N, d_in],
    B [N, d_out]) meaning AᵀB. ``apply`` never forms AᵀB."""

    terms: list[Term] = field(default_factory=list)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor | float = 0.0
        xf = x.float()
        for t in self.terms:
            out = out + (xf @ t if isinstance(t, torch.Tensor) else (xf @ t[0].T) @ t[1])
        return out  # type: ignore[return-value]

    def dense(self) -> torch.Tensor:
        total = None
        for t in self.terms:
            d = t if isinstance(t, torch.Tensor) else t[0].T @ t[1]
            total = d if total is None else total + d
        if total is None:
            raise ValueError("empty delta")
        return total

    def numel(self) -> int:
        return sum(
            t.numel() if isinstance(t, torch.Tensor) else t[0].numel() + t[1].numel() for t in self.terms
        )


@contextmanager
def applied(model: nn.Module, deltas: Mapping[str, MatrixDelta]) -> Iterator[None]:
    """Inside the block, each named module's output gets x @ ΔW_io added (hooks removed on exit)."""
    modules = dict(model.named_modules())
    handles = []

    def hook(delta: MatrixDelta):
        def fn(_m: nn.Module, args: tuple[torch.Tensor, ...], out: torch.Tensor) -> torch.Tensor:
            return out + delta.apply(args[0]).to(out.dtype)

        return fn

    try:
        for name, delta in deltas.items():
            if delta.terms:
                handles.append(modules[name].register_forward_hook(hook(delta)))
        yield
    finally:
        for h in handles:
            h.remove()


def retention_weights(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Stick-breaking: w_i = u_i Π_{j>i}(1-u_j) for the edits in flight, P = Π_j (1-u_j) for the past."""
    keep = torch.cumprod((1 - u).flip(0), 0).flip(0)  # Π_{j≥i}(1-u_j)
    later = torch.cat([keep[1:], keep.new_ones(1)])  # Π_{j>i}(1-u_j)
    return u * later, keep[0]


def decay_weights(rho: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """fusion='decay': w_i = Π_{j>i} ρ_j (later edits decay earlier ones), P = Π_j ρ_j."""
    keep = torch.cumprod(rho.flip(0), 0).flip(0)  # Π_{j≥i} ρ_j
    return torch.cat([keep[1:], keep.new_ones(1)]), keep[0]


@dataclass
class EditState:
    """What sequential editing carries from one edit to the next (evaluation, no grad): the fused
    past ΔW per matrix (dense, detached) and each layer's memory of pooled edit vectors."""

    dense: dict[str, torch.Tensor] = field(default_factory=dict)
    memory: dict[str, list[torch.Tensor]] = field(default_factory=dict)
    n_edits: int = 0

    def deltas(self) -> dict[str, MatrixDelta]:
        return {n: MatrixDelta([d]) for n, d in self.dense.items()}


@dataclass
class Fused:
    """The editor's output for a batch of edits, per matrix."""

    new: dict[str, MatrixDelta]
    past_factor: dict[str, torch.Tensor | float]
    reps: dict[str, list[torch.Tensor] | None]
    retention: dict[str, torch.Tensor | None]


class Editor(nn.Module):
    """Aux networks (one per weight shape) plus a learnable step size per edited matrix."""

    def __init__(self, cfg: EditorConfig, shapes: Mapping[str, tuple[int, int]]) -> None:
        super().__init__()
        self.cfg = cfg
        self.names = list(shapes)
        self.shapes = {n: (int(a), int(b)) for n, (a, b) in shapes.items()}
        self.net_key: dict[str, str] = {}
        self.mode: dict[str, int] = {}
        groups: dict[str, list[str]] = {}
        for n in self.names:
            key = "{}x{}".format(*self.shapes[n])
            self.net_key[n] = key
            self.mode[n] = len(groups.setdefault(key, []))
            groups[key].append(n)
        self.nets = nn.ModuleDict(
            {k: AuxNet(*self.shapes[ns[0]], n_modes=len(ns), cfg=cfg) for k, ns in groups.items()}
        )
        self.edit_lrs = nn.Parameter(torch.full((len(self.names),), float(cfg.init_edit_lr)))

    @classmethod
    def for_model(cls, model: nn.Module, cfg: EditorConfig) -> Editor:
        names = find_edit_modules(model, cfg.edit_modules, cfg.last_blocks)
        modules = dict(model.named_modules())
        return cls(cfg, {n: io_shape(modules[n]) for n in names})

    def aux_parameters(self) -> list[nn.Parameter]:
        return list(self.nets.parameters())

    def forward(self, signals: Signals, state: EditState | None = None) -> Fused:
        lengths = signals.lengths
        if bool((lengths == 0).any()):
            raise ValueError("an edit has no signal tokens (empty prompt or target?)")
        device = self.edit_lrs.device
        lengths = lengths.to(device)
        fused = Fused({}, {}, {}, {})
        for i, name in enumerate(self.names):
            memory = state.memory.get(name) if state is not None else None
            out = self.nets[self.net_key[name]](
                signals.u[name].to(device), signals.delta[name].to(device), lengths, self.mode[name], memory
            )
            if out.retention is not None:
                score = out.retention if self.cfg.train_retention else out.retention.detach()
                w, past = retention_weights(score) if self.cfg.fusion == "stick" else decay_weights(score)
            else:  # MEND: every edit at full weight, past kept as is
                w, past = torch.ones(len(lengths), device=device), 1.0
            row_scale = (w / lengths).repeat_interleave(lengths)
            a = out.u
            b = -self.edit_lrs[i] * out.delta * row_scale[:, None]
            d_in, d_out = self.shapes[name]
            # factors unless one dense matrix for this matrix is smaller
            term: Term = (a, b) if a.shape[0] * (d_in + d_out) < d_in * d_out else a.T @ b
            fused.new[name] = MatrixDelta([term])
            fused.past_factor[name] = past
            fused.reps[name] = out.reps
            fused.retention[name] = out.retention
        return fused

    @torch.no_grad()
    def edit(self, signals: Signals, state: EditState) -> Fused:
        """Sequential editing: fuse these edits into ``state`` (ΔW ← P·ΔW + ΔW_new, memory grows)."""
        fused = self(signals, state)
        for name in self.names:
            new = fused.new[name].dense().detach()
            past = state.dense.get(name)
            state.dense[name] = new if past is None else past * fused.past_factor[name] + new
            reps = fused.reps[name]
            if reps is not None:
                old = state.memory.get(name)
                state.memory[name] = [
                    r.detach() if old is None else torch.cat([old[k], r.detach()]) for k, r in enumerate(reps)
                ]
        state.n_edits += len(signals.lengths)
        return fused

    # -- checkpoints --------------------------------------------------------------------------

    def save(self, out_dir: str | Path, extra: Mapping[str, Any] | None = None) -> Path:
        from safetensors.torch import save_file

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(tensors, str(out / WEIGHTS_FILE))
        # a list, not a dict: the order fixes modes and step-size indices
        modules = [[n, *self.shapes[n]] for n in self.names]
        meta = {"editor": to_dict(self.cfg), "modules": modules, **(extra or {})}
        (out / CONFIG_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")
        return out

    @classmethod
    def load(cls, ckpt_dir: str | Path, device: str | torch.device = "cpu") -> Editor:
        from safetensors.torch import load_file

        ckpt = Path(ckpt_dir)
        meta = json.loads((ckpt / CONFIG_FILE).read_text())
        cfg = from_dict(EditorConfig, meta["editor"])
        editor = cls(cfg, {n: (d_in, d_out) for n, d_in, d_out in meta["modules"]})
        editor.load_state_dict(load_file(str(ckpt / WEIGHTS_FILE), device=str(device)))
        return editor.to(device).eval()


def read_checkpoint_meta(ckpt_dir: str | Path) -> dict[str, Any]:
    """The checkpoint's editor.json, or one line saying why ``ckpt_dir`` is not a checkpoint."""
    path = Path(ckpt_dir) / CONFIG_FILE
    if not path.is_file():
        raise DafsetError(f"--editor {ckpt_dir}: no {CONFIG_FILE}, so not a checkpoint of `dafset train`")
    try:
        meta = json.loads(path.read_text())
        if not isinstance(meta, dict) or "editor" not in meta or "modules" not in meta:
            raise ValueError("expected an object with 'editor' and 'modules'")
    except (OSError, ValueError) as exc:
        raise DafsetError(f"--editor {path}: unreadable ({exc})") from None
    return meta
