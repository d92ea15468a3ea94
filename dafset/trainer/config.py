"""Plain config values for the editor, its training and its evaluation (nanoGPT style: dataclasses
with the reference's defaults, serialised to JSON beside every checkpoint and result file).

Defaults follow the DAFNet reference (``configs/dafnet/*.yaml``, see research/dafnet.md §2.5)
except where a tiny model needs otherwise; those values are config, never hard-coded.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Method = Literal["dafnet", "mend"]


@dataclass
class EditorConfig:
    """The auxiliary network and how its updates are formed."""

    method: Method = "dafnet"
    # fnmatch globs of the matrices to edit; None = MLP matrices of the last `last_blocks` blocks
    edit_modules: list[str] | None = None
    last_blocks: int = 3
    # aux-net size (reference: 2 layers, 1024 attention, 1536 FFN, 2x1024 inter, 2x256 score)
    n_layers: int = 2
    attn_dim: int = 1024
    attn_heads: int = 2
    inter_heads: int = 2
    score_dim: int = 256
    score_heads: int = 2
    ffn_dim: int = 1536
    # the parts that distinguish DAFNet from MEND (method presets below)
    intra_attention: bool = True
    inter_attention: bool = True
    retention: bool = True
    # the paper describes a learned retention score; the reference detaches it (never trained)
    train_retention: bool = True
    # 'stick': the reference's convex stick-breaking over the self-attention score u (ΔW ← (1-u)ΔW
    # + u·ΔW_new: untrained, a running average of the edits); 'decay': a learned gate ρ decays the
    # past, new edits enter at full weight (ΔW ← ρ·ΔW + ΔW_new)
    fusion: Literal["stick", "decay"] = "stick"
    init_edit_lr: float = 1e-4  # per-matrix step size η, ΔW = -η Σ ũ δ̃ᵀ
    signal_tokens: Literal["all", "target"] = "all"  # rows of u/δ fed to the aux net
    signal_batch_size: int = 8  # edits per gradient-signal forward/backward
    norm_eps: float = 1e-5
    # recompute aux-net layers in backward instead of storing their T·tokens × (d_in+d_out)
    # activations (costs one extra aux forward per step)
    checkpoint_aux: bool = True

    def __post_init__(self) -> None:
        _at_least(
            self,
            1,
            "last_blocks",
            "n_layers",
            "attn_dim",
            "attn_heads",
            "inter_heads",
            "score_dim",
            "score_heads",
            "ffn_dim",
            "signal_batch_size",
        )
        if self.method == "mend":
            # MEND = the same code with no attention flows and plain summed updates
            self.intra_attention = self.inter_attention = self.retention = False
        for dim, heads, what in (
            (self.attn_dim, self.attn_heads, "attn"),
            (self.attn_dim, self.inter_heads, "inter"),
            (self.score_dim, self.score_heads, "score"),
        ):
            if dim % heads:
                raise ValueError(f"{what}: dimension {dim} is not divisible by {heads} heads")


@dataclass
class TrainConfig:
    steps: int = 1000
    lr: float = 1e-6  # Adam, aux networks (reference)
    lr_step: float = 1e-4  # Adam, per-matrix step sizes η (reference)
    lambda_rel: float = 0.1
    lambda_gen: float = 0.1
    lambda_loc: float = 0.2
    grad_clip: float = 100.0
    max_edits: int = 1000  # curriculum ceiling of edits per training sequence
    curriculum_start: int = 1
    # steps without a new EMA minimum before the ceiling grows; reference 3000 / max(1, log10 N)
    curriculum_patience: int = 3000
    curriculum_ema: float = 0.01
    loss_max_items: int = 64  # per loss group and step (reference: 64 GPT-J, 48 LLaMA)
    loss_batch_size: int = 32
    max_length: int = 128
    prefix_words: int = 30  # robust prefixes are cut to this many words (reference)
    configs: list[str] | None = None  # DAFSet configs to mix; None = every property config found
    split: str = "train"
    seed: int = 0
    log_every: int = 10
    ckpt_every: int = 1000

    def __post_init__(self) -> None:
        _at_least(
            self,
            1,
            "steps",
            "max_edits",
            "curriculum_start",
            "curriculum_patience",
            "loss_max_items",
            "loss_batch_size",
            "prefix_words",
            "log_every",
            "ckpt_every",
        )
        _at_least(self, 2, "max_length")  # a prompt token and a target token


@dataclass
class EvalConfig:
    T: list[int] = field(default_factory=lambda: [1, 10, 100, 1000])
    split: str = "test"
    configs: list[str] | None = None
    shuffle_seed: int = 0
    max_length: int = 128
    batch_size: int = 32
    max_chunks: int | None = None  # cap per T (None = every complete chunk)
    prefix_words: int = 30
    # fine-tuning baseline: Adam steps per edit on the edit loss (reference FT: lr 5e-4, 25 steps)
    ft_steps: int = 25
    ft_lr: float = 5e-4

    def __post_init__(self) -> None:
        _at_least(self, 1, "batch_size", "prefix_words")
        _at_least(self, 0, "ft_steps")
        _at_least(self, 2, "max_length")
        if self.max_chunks is not None:
            _at_least(self, 1, "max_chunks")
        if any(t < 1 for t in self.T):
            raise ValueError(f"--set T={','.join(map(str, self.T))}: every T must be >= 1")


def _at_least(cfg: Any, low: int, *names: str) -> None:
    """Sizes and counts below ``low`` are refused by name (0 heads divide by zero; last_blocks=0
    would select every block through a [-0:] slice)."""
    for name in names:
        value = getattr(cfg, name)
        if value < low:
            raise ValueError(f"--set {name}={value}: must be >= {low}")


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Build a config from a dict, ignoring keys an older/newer version does not know."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


def save_json(obj: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def _coerce(value: str, annotation: Any, key: str) -> Any:
    """A ``--set`` string as the field's type (annotations are strings: ``from __future__``)."""
    ann = str(annotation)
    if value.lower() in ("none", "null") and "None" in ann:
        return None
    if ann.startswith("list"):
        items = [v for v in value.replace(",", " ").split() if v]
        return [int(v) for v in items] if "int" in ann else items
    try:
        if ann.startswith("bool"):
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return value.lower() in ("true", "1", "yes")
        if ann.startswith("int"):
            return int(value)
        if ann.startswith("float"):
            return float(value)
    except ValueError:
        raise ValueError(f"--set {key}={value}: expected {ann}") from None
    return value


def apply_settings(settings: list[str] | None, *configs: Any) -> dict[str, Any]:
    """Apply ``key=value`` settings to every given config dataclass that has the field (the one
    generic override: each knob has its single default in the dataclass). Unknown keys are an
    error naming the known ones. Returns the parsed settings."""
    parsed: dict[str, Any] = {}
    for item in settings or []:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ValueError(f"--set {item!r}: expected key=value")
        hit = False
        for cfg in configs:
            fields = {f.name: f for f in dataclasses.fields(cfg)}
            if key in fields:
                setattr(cfg, key, _coerce(value.strip(), fields[key].type, key))
                parsed[key] = getattr(cfg, key)
                hit = True
        if not hit:
            known = sorted({f.name for cfg in configs for f in dataclasses.fields(cfg)})
            raise ValueError(f"--set {key}: unknown setting; known: {', '.join(known)}")
    for cfg in configs:  # re-run the config's own checks (method presets, head divisibility)
        post = getattr(cfg, "__post_init__", None)
        if post is not None:
            post()
    return parsed


def settings_help(*classes: type) -> str:
    """Every settable field with its default, for --help."""
    return "; ".join(
        f"{f.name}={f.default if f.default is not dataclasses.MISSING else f.default_factory()}"  # type: ignore[misc]
        for cls in classes
        for f in dataclasses.fields(cls)
    )
