"""Load any Hugging Face causal LM by local path or hub id, safely and with sensible defaults.

Safety: ``trust_remote_code`` is off and weights come only from safetensors (a pickled ``.bin``
can run code when unpickled). Our build machines cannot download, so a name that is neither a
local directory nor in the local cache is a one-line ConfigError, not a long network traceback.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from dafset.errors import ConfigError

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

log = logging.getLogger(__name__)

_DTYPES = {
    "bf16": "bfloat16",
    "bfloat16": "bfloat16",
    "fp16": "float16",
    "float16": "float16",
    "half": "float16",
    "fp32": "float32",
    "float32": "float32",
    "float": "float32",
}


def resolve_device(device: str | None = None) -> torch.device:
    """``None``/"auto" -> cuda if available, else cpu."""
    import torch

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise ConfigError(f"device: {device!r} is not a torch device ({exc})") from exc


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """``None``/"auto" -> bf16 on GPU, fp32 on CPU (CPU bf16 matmuls are slow and imprecise)."""
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype in (None, "auto"):
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    name = _DTYPES.get(str(dtype).lower())
    if name is None:
        raise ConfigError(f"dtype: {dtype!r} is not one of {sorted(_DTYPES)}")
    return getattr(torch, name)


def _not_found(name_or_path: str | Path, exc: Exception) -> ConfigError:
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return ConfigError(
            f"model directory '{path}' has no loadable causal LM with safetensors weights "
            f"(pickled .bin weights are refused): {str(exc).splitlines()[0] if str(exc) else exc}"
        )
    return ConfigError(
        f"model '{name_or_path}' not found: it is not a local directory and our machines cannot "
        "download from the Hugging Face hub; pass a local path (e.g. one made by "
        "`dafset toy-model --out DIR`)"
    )


def load_tokenizer(name_or_path: str | Path) -> PreTrainedTokenizerFast:
    """A fast tokenizer (offset mappings are needed for spans) with a pad token set."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(name_or_path), use_fast=True, trust_remote_code=False)
    except (OSError, ValueError) as exc:
        raise _not_found(name_or_path, exc) from None
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError(f"model '{name_or_path}': a fast tokenizer (tokenizer.json) is required")
    if tokenizer.pad_token is None:
        # Padding positions are always masked out, so reusing eos as pad is harmless.
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.pad_token is None:
        raise ConfigError(f"model '{name_or_path}': tokenizer has neither a pad nor an eos token")
    return tokenizer


def load_causal_lm(
    name_or_path: str | Path,
    device: str | None = None,
    dtype: str | torch.dtype | None = None,
) -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    """Load ``(model, tokenizer)`` in eval mode on ``device`` with ``dtype``.

    device: None/"auto" -> cuda if available else cpu. dtype: None/"auto" -> bf16 on cuda, fp32
    on cpu; or "bf16" | "fp16" | "fp32" | a torch.dtype.
    """
    from transformers import AutoModelForCausalLM

    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    tokenizer = load_tokenizer(name_or_path)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            str(name_or_path),
            dtype=torch_dtype,
            trust_remote_code=False,
            use_safetensors=True,
        )
    except (OSError, ValueError) as exc:
        raise _not_found(name_or_path, exc) from None
    model.to(dev)
    model.eval()
    model.requires_grad_(False)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    if getattr(model.config, "dafset_toy", False):
        log.warning("loaded a TOY model from %s: its scores are for tests, not research", name_or_path)
    log.info("loaded %s on %s as %s", name_or_path, dev, torch_dtype)
    return model, tokenizer
