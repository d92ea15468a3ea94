"""Meta-training of the editor (DAFNet or MEND) on sequences of edits.

One step: draw a source (a DAFSet config) *uniformly* — as the reference does, not in proportion
to size — then n edits from it, n ~ U{1..N} with N grown by the curriculum. The edits' gradient
signals come from the unedited model; the editor fuses all n in one pass from an empty memory
(causal inter-editing attention makes this equal to applying them one at a time); the edited
model is then scored:

  loss = λ_rel · NLL(target_new | prompt)
       + λ_gen · Σ_groups NLL(target_new | rephrase)      groups: rephrase, prefix + rephrase (robust)
       + λ_loc · Σ_groups KL(p_pre ‖ p_post) at the answer tokens of locality prompts (fp32)
                                                            groups: locality, prefix + locality (robust)

Each group is capped at ``loss_max_items`` random items per step. Only the aux networks and the
per-matrix step sizes learn; the LM is frozen. The reference also adds one wikitext-103 passage
per step to the locality loss; there is no such corpus here, so that term is absent.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dafset.errors import DafsetError
from dafset.trainer.config import EditorConfig, TrainConfig, to_dict
from dafset.trainer.data import (
    EditCase,
    TokenBatch,
    encode_pairs,
    prefixed_rephrases,
    split_batch,
    with_prefix,
)
from dafset.trainer.editor import Editor, Fused, applied
from dafset.trainer.losses import answer_logits, kl_pre_post, seq_nll
from dafset.trainer.signals import edit_signals

log = logging.getLogger("dafset.trainer")


class TrainingError(DafsetError):
    """Training cannot continue (non-finite loss, no gradient); the message is one line."""


class Curriculum:
    """Edits per training sequence: n ~ U{1..N}. N grows by max(N/4, 10) (up to ``ceiling``) when
    the loss EMA has made no new minimum for ``patience / max(1, log10 N)`` steps (reference rule;
    after growing, the minimum is tracked afresh)."""

    def __init__(self, start: int, ceiling: int, patience: int, ema_rate: float = 0.01) -> None:
        self.n_max = max(1, min(start, ceiling))
        self.ceiling, self.patience, self.rate = ceiling, patience, ema_rate
        self.ema: float | None = None
        self.best = math.inf
        self.stale = 0

    def sample(self, rng: random.Random) -> int:
        return rng.randint(1, self.n_max)

    def update(self, loss: float) -> bool:
        self.ema = loss if self.ema is None else (1 - self.rate) * self.ema + self.rate * loss
        if self.ema < self.best:
            self.best, self.stale = self.ema, 0
        else:
            self.stale += 1
        if self.n_max < self.ceiling and self.stale > self.patience / max(1.0, math.log10(self.n_max)):
            self.n_max = min(self.ceiling, self.n_max + max(math.ceil(self.n_max / 4), 10))
            self.best, self.stale = math.inf, 0
            return True
        return False


@dataclass
class LossItems:
    rel: TokenBatch
    gen: dict[str, TokenBatch] = field(default_factory=dict)
    loc: dict[str, TokenBatch] = field(default_factory=dict)


def _cap(items: list[tuple[str, str]], k: int, rng: random.Random) -> list[tuple[str, str]]:
    return rng.sample(items, k) if len(items) > k else items


def loss_items(cases: Sequence[EditCase], tokenizer: Any, cfg: TrainConfig, rng: random.Random) -> LossItems:
    """The rel / gen / loc prompts of one training sequence, each group capped at loss_max_items."""
    k, words = cfg.loss_max_items, cfg.prefix_words

    def enc(pairs: list[tuple[str, str]]) -> TokenBatch:
        return encode_pairs(tokenizer, [p for p, _ in pairs], [t for _, t in pairs], cfg.max_length)

    groups: dict[str, list[tuple[str, str]]] = {
        "rephrase": [(r, c.target_new) for c in cases for r in c.rephrases],
        "prefix": [(r, c.target_new) for c in cases for r in prefixed_rephrases(c, words, rng)],
    }
    loc: dict[str, list[tuple[str, str]]] = {
        "locality": [(lp.prompt, lp.answer) for c in cases for lp in c.locality],
        "prefix": [
            (with_prefix(rng.choice(c.prefixes), lp.prompt, words), lp.answer)
            for c in cases
            if c.prefixes
            for lp in c.locality
        ],
    }
    return LossItems(
        rel=enc(_cap([(c.prompt, c.target_new) for c in cases], k, rng)),
        gen={g: enc(_cap(v, k, rng)) for g, v in groups.items() if v},
        loc={g: enc(_cap(v, k, rng)) for g, v in loc.items() if v},
    )


def _logits(model: nn.Module, b: TokenBatch) -> torch.Tensor:
    return model(input_ids=b.input_ids, attention_mask=b.attention_mask).logits


def sequence_losses(
    model: nn.Module, editor: Editor, edits: TokenBatch, items: LossItems, cfg: TrainConfig
) -> tuple[dict[str, torch.Tensor], Fused]:
    """Edit with all of ``edits`` fused, then the per-group losses of the edited model."""
    ecfg = editor.cfg
    signals = edit_signals(model, edits, editor.names, ecfg.signal_tokens, ecfg.signal_batch_size)
    fused = editor(signals)
    bs = cfg.loss_batch_size
    with torch.no_grad():  # p_pre: the unedited model at the locality answer positions
        pre = {
            g: [answer_logits(_logits(model, s), s) for s in split_batch(b, bs)] for g, b in items.loc.items()
        }
    losses: dict[str, torch.Tensor] = {}
    with applied(model, fused.new):
        losses["rel"] = torch.cat([seq_nll(_logits(model, s), s) for s in split_batch(items.rel, bs)]).mean()
        for g, b in items.gen.items():
            losses[f"gen/{g}"] = torch.cat([seq_nll(_logits(model, s), s) for s in split_batch(b, bs)]).mean()
        for g, b in items.loc.items():
            subs = split_batch(b, bs)
            total = sum(
                kl_pre_post(p, answer_logits(_logits(model, s), s)) for p, s in zip(pre[g], subs, strict=True)
            )
            rows = sum(p.shape[0] for p in pre[g])
            losses[f"loc/{g}"] = total / max(rows, 1)  # type: ignore[operator]
    return losses, fused


def total_loss(losses: Mapping[str, torch.Tensor], cfg: TrainConfig) -> torch.Tensor:
    weight = {"rel": cfg.lambda_rel, "gen": cfg.lambda_gen, "loc": cfg.lambda_loc}
    return sum(weight[k.split("/")[0]] * v for k, v in losses.items())  # type: ignore[return-value]


@dataclass
class TrainResult:
    editor: Editor
    history: list[dict[str, Any]]


def freeze(model: nn.Module) -> nn.Module:
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


def train(
    model: nn.Module,
    tokenizer: Any,
    sources: Mapping[str, Sequence[EditCase]],
    editor_cfg: EditorConfig,
    cfg: TrainConfig,
    out_dir: str | Path | None = None,
    progress: bool = True,
    meta: Mapping[str, Any] | None = None,
    editor: Editor | None = None,
) -> TrainResult:
    """Train an editor for ``model`` on edit cases grouped by source; checkpoint into ``out_dir``."""
    from tqdm.auto import tqdm

    sources = {k: list(v) for k, v in sources.items() if v}
    if not sources:
        raise TrainingError("no training cases")
    short = {k: len(v) for k, v in sources.items() if len(v) < cfg.max_edits}
    if short:
        # a sequence is drawn from one source, so it can never be longer than that source's pool:
        # the curriculum's ceiling is then not what training sees (the history's n_edits is)
        log.warning(
            "training sequences are capped by the source sizes %s below max_edits=%d", short, cfg.max_edits
        )
    device = next(model.parameters()).device
    freeze(model)
    editor = (editor or Editor.for_model(model, editor_cfg)).to(device).train()
    opt = torch.optim.Adam(
        [{"params": editor.aux_parameters(), "lr": cfg.lr}, {"params": [editor.edit_lrs], "lr": cfg.lr_step}]
    )
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    curriculum = Curriculum(cfg.curriculum_start, cfg.max_edits, cfg.curriculum_patience, cfg.curriculum_ema)
    out = Path(out_dir) if out_dir is not None else None
    log_file = None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        log_file = (out / "train_log.jsonl").open("w")
    extra = {"train": to_dict(cfg), **(meta or {})}
    history: list[dict[str, Any]] = []
    names = sorted(sources)
    bar = tqdm(
        range(1, cfg.steps + 1), disable=not progress, desc=f"train {editor_cfg.method}", dynamic_ncols=True
    )
    try:
        for step in bar:
            t0 = time.perf_counter()
            source = rng.choice(names)  # uniform over sources, as the reference
            pool = sources[source]
            cases = rng.sample(pool, min(curriculum.sample(rng), len(pool)))
            edits = encode_pairs(
                tokenizer, [c.prompt for c in cases], [c.target_new for c in cases], cfg.max_length
            )
            items = loss_items(cases, tokenizer, cfg, rng)
            losses, fused = sequence_losses(model, editor, edits.to(device), _to(items, device), cfg)
            loss = total_loss(losses, cfg)
            values = {k: float(v.detach()) for k, v in losses.items()}
            if not math.isfinite(float(loss.detach())):
                raise TrainingError(
                    f"step {step}: non-finite loss {_fmt(values)}; lower --lr/--lr-step or check the data"
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            params = [p for g in opt.param_groups for p in g["params"]]
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip))
            if not math.isfinite(grad_norm):
                raise TrainingError(f"step {step}: non-finite gradient norm; lower --lr/--lr-step")
            if grad_norm == 0.0:
                raise TrainingError(
                    f"step {step}: zero gradient reaches the editor (loss {float(loss.detach()):.4g}); nothing can learn"
                )
            opt.step()
            grew = curriculum.update(float(loss.detach()))
            retention = [r.detach().mean().item() for r in fused.retention.values() if r is not None]
            rec = {
                "step": step,
                "source": source,
                "n_edits": len(cases),
                "n_max": curriculum.n_max,
                "loss": float(loss.detach()),
                **values,
                "grad_norm": grad_norm,
                "edit_lr": float(editor.edit_lrs.detach().mean()),
                "retention": sum(retention) / len(retention) if retention else None,
                "seconds": time.perf_counter() - t0,
            }
            history.append(rec)
            if log_file is not None:
                log_file.write(json.dumps(rec) + "\n")
            bar.set_postfix(loss=f"{rec['loss']:.3f}", rel=f"{values['rel']:.3f}", n=curriculum.n_max)
            if step % cfg.log_every == 0 or grew:
                log.info(
                    "step %d %s n=%d/%d %s%s",
                    step,
                    source,
                    len(cases),
                    curriculum.n_max,
                    _fmt(values),
                    " (curriculum grew)" if grew else "",
                )
            if out is not None and (step % cfg.ckpt_every == 0 or step == cfg.steps):
                editor.save(out, {**extra, "step": step, "loss": rec["loss"], "n_max": curriculum.n_max})
    finally:
        bar.close()
        if log_file is not None:
            log_file.close()
    return TrainResult(editor.eval(), history)


def _to(items: LossItems, device: torch.device) -> LossItems:
    return LossItems(
        items.rel.to(device),
        {k: v.to(device) for k, v in items.gen.items()},
        {k: v.to(device) for k, v in items.loc.items()},
    )


def _fmt(values: Mapping[str, float]) -> str:
    return " ".join(f"{k}={v:.4g}" for k, v in values.items())
