"""A GGUF causal LM -> a safetensors model folder that ``load_causal_lm`` accepts.

transformers reads GGUF (``from_pretrained(..., gguf_file=)``, with the ``gguf`` package) and
dequantises the weights, but ``save_pretrained`` refuses a model loaded that way; so the weights
are copied into a fresh model of the same config, whose config no longer carries the GGUF
``quantization_config`` (the saved weights are plain fp32). The folder is written beside its final
place and renamed into it, so a failed conversion leaves nothing half-written, and it holds
``PROVENANCE_FILE``: where the weights came from, which every build manifest using it records.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from dafset.errors import ConfigError

PROVENANCE_FILE = "dafset_provenance.json"


def convert_gguf(gguf: Path, out: Path, provenance: dict[str, Any]) -> Path:
    """Write ``out`` (a new folder) from the GGUF file ``gguf``; returns ``out``."""
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"out: '{out}' exists and is not empty; give a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as tmp:
        work = Path(tmp) / "model"
        _write_model(gguf, work)
        record = {**provenance, "gguf_file": gguf.name}
        (work / PROVENANCE_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        if out.exists():
            out.rmdir()  # empty (checked above)
        shutil.move(str(work), str(out))
    return out


def _write_model(gguf: Path, folder: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    where, name = str(gguf.parent), gguf.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, gguf_file=name)
        loaded = AutoModelForCausalLM.from_pretrained(where, gguf_file=name, dtype=torch.float32)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"{gguf}: not a GGUF causal LM transformers can read ({exc})") from None
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the saved weights are dequantised fp32
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = fresh.load_state_dict(loaded.state_dict(), strict=False)
    tied = {"lm_head.weight"} if getattr(config, "tie_word_embeddings", False) else set()
    if set(missing) - tied or unexpected:
        raise ConfigError(f"{gguf}: weights do not fit the model (missing {missing}, unexpected {unexpected})")
    fresh.tie_weights()
    fresh.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)


def read_provenance(folder: str | Path) -> dict[str, Any] | None:
    """The provenance record of a converted model folder, or None for any other folder."""
    path = Path(folder) / PROVENANCE_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not readable JSON ({exc})") from None
    return data if isinstance(data, dict) else None


__all__ = ["PROVENANCE_FILE", "convert_gguf", "read_provenance"]
