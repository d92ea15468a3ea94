"""The one door for model weights: every load in the project (build, trainer, eval, benches)
goes through ``load_causal_lm``, by local path or by a hub id (from the local cache, or downloaded
where a network exists: configs, tokenizer and safetensors only, ``HUB_FILES``).

Safety: a model folder is data, never code. Before transformers sees it, ``check_model_dir``
refuses a folder whose config asks for code (``auto_map``, which with ``trust_remote_code`` would
import a Python file from the folder, or prompt for it) and one whose weights are only pickles
(``pytorch_model.bin`` runs code when unpickled). Then transformers loads with
``trust_remote_code=False`` and ``use_safetensors=True``. A name that is neither a local directory
nor a hub id we can get (offline, ``HF_HUB_OFFLINE=1``, unknown id) is a one-line ConfigError.
"""

from __future__ import annotations

import json
import logging
import re
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
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ConfigError(f"device: {device!r} is not a torch device ({exc})") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device: {device!r} asked for, but CUDA is not available here; use cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"device: {device!r} asked for, but only {torch.cuda.device_count()} GPU(s)")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device: {device!r} asked for, but MPS is not available here; use cpu")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"device: {device!r}: expected cpu, cuda, cuda:N or mps")
    return dev


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


# Files whose ``auto_map`` makes transformers import Python code shipped with the model.
_CODE_CONFIGS = ("config.json", "tokenizer_config.json", "processor_config.json", "preprocessor_config.json")
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


def check_model_dir(name_or_path: str | Path) -> Path:
    """The local folder of a model that is safe to load, or a one-line ConfigError saying why
    not. Cheap (no torch): the build runs it before its first request."""
    path = Path(name_or_path).expanduser()
    if not path.exists():
        path = _hub_snapshot(str(name_or_path))
    if not path.is_dir():
        raise ConfigError(
            f"model: '{path}' is not a folder (expected config.json, *.safetensors, a tokenizer)"
        )
    if not (path / "config.json").is_file():
        raise ConfigError(f"model: '{path}' has no config.json, so this is not a Hugging Face model folder")
    for name in _CODE_CONFIGS:
        if "auto_map" in _json_keys(path / name):
            raise ConfigError(
                f"model: '{path}': {name} has 'auto_map', i.e. Python code shipped in the folder; "
                "refused (trust_remote_code stays off: use a model of a built-in architecture)"
            )
    if not any(path.glob("*.safetensors")):
        pickles = sorted(p.name for p in path.iterdir() if p.suffix in _PICKLE_SUFFIXES)
        if pickles:
            raise ConfigError(
                f"model: '{path}' has only pickled weights ({', '.join(pickles)}), which can run code when "
                "loaded; refused: convert them to safetensors first"
            )
        raise ConfigError(f"model: '{path}' has no *.safetensors weights")
    return path


def _json_keys(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not readable JSON ({exc})") from None
    return set(data) if isinstance(data, dict) else set()


# What a hub download may fetch: configs, safetensors weights, tokenizer files. Never pickles
# (*.bin) nor Python files, so the folder rules below see only what they allow.
HUB_FILES = ["*.json", "*.safetensors", "tokenizer.model", "*.txt", "*.jinja"]
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _hub_snapshot(name: str) -> Path:
    """A hub id's folder: from the local cache, else downloaded (safetensors and configs only)
    where a network exists; otherwise the not-found error."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.utils import HFValidationError

    if not _HUB_ID.match(name):
        raise _not_found(name, FileNotFoundError(name))
    try:
        return Path(snapshot_download(name, local_files_only=True))
    except (OSError, ValueError, HFValidationError):
        pass
    try:
        log.info("model: %s is not in the local cache; downloading its safetensors", name)
        return Path(snapshot_download(name, allow_patterns=HUB_FILES))
    except (OSError, ValueError, HFValidationError) as exc:
        raise _not_found(name, exc) from None


def _not_found(name_or_path: str | Path, exc: Exception) -> ConfigError:
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return ConfigError(
            f"model: folder '{path}' has no loadable causal LM with safetensors weights "
            f"(pickled .bin weights are refused): {str(exc).splitlines()[0] if str(exc) else exc}"
        )
    reason = " ".join(str(exc).split())[:160] or type(exc).__name__
    return ConfigError(
        f"model: '{name_or_path}' not found: it is not a local directory, and as a hub id it is "
        f"neither cached nor downloadable here (cannot download: {reason}); pass a local path "
        "(e.g. one made by `dafset fetch-model --out DIR` or `dafset toy-model --out DIR`)"
    )


def load_tokenizer(name_or_path: str | Path) -> PreTrainedTokenizerFast:
    """A fast tokenizer (offset mappings are needed for spans) with a pad token set."""
    from transformers import AutoTokenizer

    folder = check_model_dir(name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            str(folder), use_fast=True, trust_remote_code=False, local_files_only=True
        )
    except (OSError, ValueError) as exc:
        raise _not_found(name_or_path, exc) from None
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError(f"model: '{name_or_path}' needs a fast tokenizer (tokenizer.json)")
    if tokenizer.pad_token is None:
        # Padding positions are always masked out, so reusing eos as pad is harmless.
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.pad_token is None:
        raise ConfigError(f"model: '{name_or_path}': tokenizer has neither a pad nor an eos token")
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
    folder = check_model_dir(name_or_path)
    tokenizer = load_tokenizer(folder)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            str(folder),
            dtype=torch_dtype,
            trust_remote_code=False,
            use_safetensors=True,
            local_files_only=True,
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
