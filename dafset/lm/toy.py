"""A TOY causal LM built offline: a byte-level BPE tokenizer and a small GPT-2 trained for about a
minute on CPU over relation statements about real Wikidata facts.

It exists so tests and the quickstart can exercise scoring and generation with no download. It is
not a research model, and every place it appears (config, card, logs, the returned manifest) says
so. Its likelihoods still carry signal: labels seen more often in training score higher.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

log = logging.getLogger(__name__)

TOY_NAME = "dafset-toy-gpt2"
EOS = "<|endoftext|>"


@dataclass(frozen=True)
class ToyShape:
    """Size of the toy: small enough to train in about a minute on 2 CPU cores."""

    vocab_size: int = 4096
    n_layer: int = 4
    n_embd: int = 128
    n_head: int = 4
    n_positions: int = 128


@dataclass(frozen=True)
class TrainSettings:
    steps: int = 200
    batch_size: int = 32
    block_size: int = 64
    lr: float = 3e-3
    warmup: int = 20
    weight_decay: float = 0.01
    seed: int = 0


def train_tokenizer(sentences: Sequence[str], vocab_size: int = 4096) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer (GPT-2 style; ``<|endoftext|>`` is bos, eos and pad)."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer(add_prefix_space=False, trim_offsets=True)
    bpe.train_from_iterator(
        sentences, vocab_size=vocab_size, min_frequency=2, special_tokens=[EOS], show_progress=False
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer,
        bos_token=EOS,
        eos_token=EOS,
        unk_token=EOS,
        pad_token=EOS,
        model_max_length=ToyShape.n_positions,
    )


def tiny_gpt2_config(
    vocab_size: int,
    shape: ToyShape | None = None,
    bos_token_id: int = 0,
    eos_token_id: int = 0,
    pad_token_id: int | None = 0,
) -> GPT2Config:
    """THE tiny GPT-2 configuration (every toy GPT-2 of the project is built from it): no dropout
    (short runs learn faster without it), GPT-2's tanh GELU as one fused kernel (the same function
    as "gelu_new", which runs as five elementwise ops and took a quarter of the toy's CPU time)."""
    from transformers import GPT2Config

    shape = shape or ToyShape()
    return GPT2Config(
        vocab_size=vocab_size,
        n_positions=shape.n_positions,
        n_embd=shape.n_embd,
        n_layer=shape.n_layer,
        n_head=shape.n_head,
        bos_token_id=bos_token_id,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
        activation_function="gelu_pytorch_tanh",
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )


def tiny_gpt2(
    vocab_size: int,
    n_layer: int = 2,
    n_embd: int = 64,
    n_head: int = 4,
    n_positions: int = 128,
    seed: int = 0,
) -> GPT2LMHeadModel:
    """A randomly initialised tiny GPT-2 (eval mode), seeded."""
    import torch
    from transformers import GPT2LMHeadModel

    torch.manual_seed(seed)
    shape = ToyShape(vocab_size, n_layer, n_embd, n_head, n_positions)
    return GPT2LMHeadModel(tiny_gpt2_config(vocab_size, shape)).eval()


def tiny_llama(
    vocab_size: int,
    n_layer: int = 2,
    hidden: int = 64,
    n_head: int = 4,
    intermediate: int = 128,
    seed: int = 0,
) -> Any:
    """A randomly initialised tiny Llama (nn.Linear layout, the other weight layout the trainer
    supports), seeded, eval mode."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=n_layer,
        num_attention_heads=n_head,
        num_key_value_heads=n_head,
        max_position_embeddings=128,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=0,
    )
    return LlamaForCausalLM(cfg).eval()


def toy_config(tokenizer: PreTrainedTokenizerFast, shape: ToyShape | None = None) -> GPT2Config:
    """The saved TOY model's configuration: the tiny GPT-2 plus the markers that say it is a toy."""
    config = tiny_gpt2_config(
        len(tokenizer), shape, tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id
    )
    config.dafset_toy = True  # the marker load_causal_lm and readers look for
    config.dafset_toy_name = TOY_NAME  # save_pretrained drops name_or_path; this stays
    config.dafset_note = "TOY model, not for research"
    config.name_or_path = TOY_NAME
    return config


def documents(sentences: Sequence[str], seed: int, max_lines: int = 3) -> list[str]:
    """Consecutive sentences joined into documents of 1 to ``max_lines`` lines.

    Multi-line documents teach the toy that a new line starts a new statement, so a prompt that
    ends with a line holding the subject's name is continued with a sentence about it.
    """
    rng = random.Random(seed)
    docs: list[str] = []
    i = 0
    while i < len(sentences):
        n = rng.randint(1, max_lines)
        docs.append("\n".join(sentences[i : i + n]))
        i += n
    return docs


def _token_stream(tokenizer: PreTrainedTokenizerFast, docs: Sequence[str]) -> tuple[Any, Any]:
    """All documents as one id stream, each preceded by eos, and where each one starts."""
    import torch

    eos = tokenizer.eos_token_id
    ids: list[int] = []
    starts: list[int] = []
    for row in tokenizer(list(docs), add_special_tokens=False)["input_ids"]:
        starts.append(len(ids))
        ids.append(eos)
        ids.extend(row)
    ids.append(eos)
    return torch.tensor(ids, dtype=torch.long), torch.tensor(starts, dtype=torch.long)


def train_model(
    tokenizer: PreTrainedTokenizerFast,
    sentences: Sequence[str],
    settings: TrainSettings | None = None,
    shape: ToyShape | None = None,
) -> tuple[GPT2LMHeadModel, dict[str, Any]]:
    """Train the toy GPT-2 on packed blocks that start at a document boundary.

    Blocks start at an ``<|endoftext|>``, as scored sentences do, so the toy sees sentence starts
    at the positions where the scorer puts them.
    """
    import torch
    from transformers import GPT2LMHeadModel

    settings = settings or TrainSettings()
    torch.manual_seed(settings.seed)
    rng = torch.Generator().manual_seed(settings.seed)
    stream, starts = _token_stream(tokenizer, documents(sentences, settings.seed))
    starts = starts[starts + settings.block_size + 1 <= len(stream)]
    if len(starts) == 0:
        raise ValueError("toy corpus is shorter than one training block")
    model = GPT2LMHeadModel(toy_config(tokenizer, shape))
    model.train()
    optim = torch.optim.AdamW(
        model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay, betas=(0.9, 0.95)
    )

    def lr_at(step: int) -> float:  # linear warmup, cosine decay to 10%
        if step < settings.warmup:
            return settings.lr * (step + 1) / settings.warmup
        progress = (step - settings.warmup) / max(1, settings.steps - settings.warmup)
        return settings.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))

    offsets = torch.arange(settings.block_size + 1)
    losses: list[float] = []
    started = time.perf_counter()
    for step in range(settings.steps):
        pick = starts[torch.randint(len(starts), (settings.batch_size,), generator=rng)]
        block = stream[pick[:, None] + offsets]
        for group in optim.param_groups:
            group["lr"] = lr_at(step)
        inputs = block[:, :-1]
        loss = model(input_ids=inputs, attention_mask=torch.ones_like(inputs), labels=inputs).loss
        optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optim.step()
        losses.append(loss.item())
        if step % 50 == 0 or step == settings.steps - 1:
            log.info("toy model step %d/%d loss %.3f", step + 1, settings.steps, losses[-1])
    seconds = time.perf_counter() - started
    model.eval()
    tail = losses[-min(20, len(losses)) :]
    stats = {
        "train_seconds": round(seconds, 2),
        "final_loss": round(sum(tail) / len(tail), 4),
        "first_loss": round(losses[0], 4),
        "tokens_seen": settings.steps * settings.batch_size * settings.block_size,
        "corpus_tokens": len(stream),
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    return model, stats


CARD = """# TOY model — not for research

This is a **toy** causal language model made by `dafset toy-model` for DAFSet's tests and
quickstart. It is a {n_layer}-layer GPT-2 ({parameters:,} parameters) trained for {steps} steps
(about {train_seconds:.0f} s on CPU) on {n_sentences:,} template sentences about real Wikidata
facts ({source}). Its text is poor and its scores are only meant to show that the pipeline works:
do not use it to build a dataset you publish, and do not cite numbers made with it.

- marker: `dafset_toy: true` in `config.json`; name `{name}`
- tokenizer: byte-level BPE, {vocab_size} tokens, trained on the same sentences
- seed: {seed}; final training loss: {final_loss}
- weights: safetensors only
"""


def train_toy_model(
    out: Path,
    sentences: Sequence[str],
    settings: TrainSettings | None = None,
    shape: ToyShape | None = None,
    source: str = "unknown",
) -> dict[str, Any]:
    """Train the toy tokenizer and model on ``sentences`` and save them under ``out``.

    Returns the toy's manifest (also written to ``out/dafset_toy.json``).
    """
    import json

    import torch

    settings = settings or TrainSettings()
    shape = shape or ToyShape()
    started = time.perf_counter()
    tokenizer = train_tokenizer(sentences, shape.vocab_size)
    model, stats = train_model(tokenizer, sentences, settings, shape)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    manifest: dict[str, Any] = {
        "name": TOY_NAME,
        "toy": True,
        "note": "TOY model, not for research",
        "source": source,
        "n_sentences": len(sentences),
        "vocab_size": len(tokenizer),
        **asdict(shape),
        **asdict(settings),
        **stats,
        "total_seconds": round(time.perf_counter() - started, 2),
        "torch_threads": torch.get_num_threads(),
    }
    (out / "README.md").write_text(CARD.format(**manifest), encoding="utf-8")
    (out / "dafset_toy.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    log.info("TOY model saved to %s (%s)", out, manifest["note"])
    return manifest
