"""Loading causal LMs: local paths, safetensors only, a one-line error when the model is missing."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_lm_support import tiny_gpt2, tiny_tokenizer

torch = pytest.importorskip("torch")

from dafset.errors import ConfigError  # noqa: E402
from dafset.lm.load import load_causal_lm  # noqa: E402


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny-gpt2")
    tiny_gpt2().save_pretrained(out)
    tok = tiny_tokenizer.__wrapped__()  # a copy we may change: no pad token, as GPT-2 ships
    tok.pad_token = None
    tok.save_pretrained(out)
    return out


def test_missing_model_is_one_clear_line(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ConfigError) as info:
        load_causal_lm(missing)
    message = str(info.value)
    assert "\n" not in message
    assert str(missing) in message
    assert "cannot download" in message and "local path" in message


def test_unknown_hub_id_is_one_clear_line() -> None:
    with pytest.raises(ConfigError) as info:
        load_causal_lm("nobody-here/definitely-not-a-model")
    assert "\n" not in str(info.value) and "nobody-here/definitely-not-a-model" in str(info.value)


def test_loads_on_cpu_in_fp32_with_a_pad_token(saved: Path) -> None:
    model, tok = load_causal_lm(saved)
    assert model.device.type == "cpu"
    assert next(model.parameters()).dtype == torch.float32
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert tok.pad_token is not None and tok.pad_token_id == tok.eos_token_id
    assert tok.is_fast


def test_dtype_can_be_overridden(saved: Path) -> None:
    model, _ = load_causal_lm(saved, device="cpu", dtype="bf16")
    assert next(model.parameters()).dtype == torch.bfloat16
    with pytest.raises(ConfigError):
        load_causal_lm(saved, dtype="fp8-please")


def test_pickled_weights_are_refused(saved: Path, tmp_path: Path) -> None:
    model, _ = load_causal_lm(saved)
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (tmp_path / name).write_bytes((saved / name).read_bytes())
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    with pytest.raises(ConfigError) as info:
        load_causal_lm(tmp_path)
    assert "\n" not in str(info.value) and "safetensors" in str(info.value)


@pytest.mark.parametrize("config_file", ["config.json", "tokenizer_config.json"])
def test_a_folder_asking_for_its_own_code_is_refused_before_transformers_sees_it(
    saved: Path, tmp_path: Path, config_file: str
) -> None:
    import json
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(saved, folder)
    (folder / "custom.py").write_text("open(__file__ + '.ran', 'w').close()\n")
    config = json.loads((folder / config_file).read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "custom.Model", "AutoTokenizer": ["custom.Tok", None]}
    (folder / config_file).write_text(json.dumps(config))
    with pytest.raises(ConfigError) as info:
        load_causal_lm(folder)
    message = str(info.value)
    assert "\n" not in message and "auto_map" in message and config_file in message
    assert not (folder / "custom.py.ran").exists()


def test_a_device_this_machine_lacks_is_one_line(saved: Path) -> None:
    missing = "cuda:99" if torch.cuda.is_available() else "cuda"
    with pytest.raises(ConfigError) as info:
        load_causal_lm(saved, device=missing)
    assert "\n" not in str(info.value) and missing in str(info.value)


def test_a_hub_id_missing_from_the_cache_is_downloaded_safetensors_only(
    saved: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The download itself needs a network (CI has none); what we ask of it is checked here, with
    huggingface_hub's snapshot_download answering from a local folder."""
    import huggingface_hub

    from dafset.lm import load as load_module

    calls: list[dict] = []

    def snapshot_download(name: str, **kwargs) -> str:
        calls.append({"name": name, **kwargs})
        if kwargs.get("local_files_only"):
            raise huggingface_hub.utils.LocalEntryNotFoundError("not cached")
        return str(saved)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    model, _ = load_causal_lm("someone/tiny-gpt2")
    assert model.config.n_layer == 2
    assert [c.get("local_files_only", False) for c in calls[:2]] == [True, False]
    patterns = calls[1]["allow_patterns"]
    assert patterns == load_module.HUB_FILES
    assert not any(p.endswith((".bin", ".py", ".pt")) for p in patterns)


def test_a_path_that_is_not_a_hub_id_never_reaches_the_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda *a, **k: pytest.fail("hub asked"))
    with pytest.raises(ConfigError, match="not a local directory"):
        load_causal_lm(tmp_path / "nested" / "no-such-model")
