"""Baselines, run by the same evaluation code as DAFNet.

* MEND: the same Editor with ``EditorConfig(method="mend")`` — no intra/inter-editing attention,
  no retention: each edit's update is added to the sum at full weight. Trained by the same loop.
* Fine-tuning (FT): for each edit, a few Adam steps on the edit loss (mean target NLL) over the
  same matrices the editors touch, applied in place, one edit after another; restored per chunk.
* None: no edit at all (the unedited model's scores, for reference).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

import torch
from torch import nn

from dafset.trainer.data import EditCase, encode_pairs
from dafset.trainer.editor import Editor, EditState, applied
from dafset.trainer.losses import seq_nll
from dafset.trainer.signals import edit_signals


class EditSession:
    """One chunk of sequential edits: ``edit`` each case in turn, score inside ``applied()``,
    then ``close()`` undoes everything."""

    def edit(self, case: EditCase) -> None:
        raise NotImplementedError

    def applied(self) -> Any:
        return nullcontext()

    def close(self) -> None:
        pass


class NoEdit(EditSession):
    def edit(self, case: EditCase) -> None:
        return None


class AuxEditSession(EditSession):
    """DAFNet / MEND: each edit's signals come from the unedited model (as in the reference: the
    editor's hooks are not active during the signal pass), then fused into the chunk's state."""

    def __init__(self, model: nn.Module, tokenizer: Any, editor: Editor, max_length: int) -> None:
        self.model, self.tokenizer, self.editor, self.max_length = model, tokenizer, editor.eval(), max_length
        self.device = next(model.parameters()).device
        self.state = EditState()

    def edit(self, case: EditCase) -> None:
        batch = encode_pairs(self.tokenizer, [case.prompt], [case.target_new], self.max_length).to(
            self.device
        )
        signals = edit_signals(self.model, batch, self.editor.names, self.editor.cfg.signal_tokens)
        self.editor.edit(signals, self.state)

    @contextmanager
    def applied(self) -> Iterator[None]:
        with applied(self.model, self.state.deltas()):
            yield

    def close(self) -> None:
        self.state = EditState()


class FineTuneSession(EditSession):
    """Sequential fine-tuning of the edited matrices: ``steps`` Adam steps per edit (fresh state)."""

    def __init__(
        self, model: nn.Module, tokenizer: Any, names: Sequence[str], steps: int, lr: float, max_length: int
    ) -> None:
        self.model, self.tokenizer, self.steps, self.lr, self.max_length = (
            model,
            tokenizer,
            steps,
            lr,
            max_length,
        )
        modules = dict(model.named_modules())
        self.weights = [modules[n].weight for n in names]
        self.saved = [w.detach().clone() for w in self.weights]
        self.device = self.weights[0].device

    def edit(self, case: EditCase) -> None:
        batch = encode_pairs(self.tokenizer, [case.prompt], [case.target_new], self.max_length).to(
            self.device
        )
        for w in self.weights:
            w.requires_grad_(True)
        opt = torch.optim.Adam(self.weights, lr=self.lr)
        try:
            with torch.enable_grad():
                for _ in range(self.steps):
                    logits = self.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
                    loss = seq_nll(logits, batch).mean()
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
        finally:
            for w in self.weights:
                w.requires_grad_(False)
                w.grad = None

    @torch.no_grad()
    def close(self) -> None:
        for w, s in zip(self.weights, self.saved, strict=True):
            w.copy_(s)
