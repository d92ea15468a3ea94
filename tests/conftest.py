"""Shared test set-up: an isolated, offline environment for every test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("DAFSET_FIXTURES_DIR", REPO / "tests" / "data"))

# Nothing may reach a hub or the internet; Prefect must not pick up a developer's server.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ["PREFECT_API_URL"] = os.environ.get("DAFSET_TEST_PREFECT_API_URL", "")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The real recorded Wikidata/Wikimedia data the repo carries (tests/data, see its SOURCES.md)."""
    if not FIXTURES.is_dir():
        pytest.fail(f"real fixtures not found at {FIXTURES}; set DAFSET_FIXTURES_DIR")
    return FIXTURES


@pytest.fixture(scope="session")
def test_seed() -> int:
    """Seed of the tests that train (DAFSET_TEST_SEED, default 0): their assertions must hold for any."""
    return int(os.environ.get("DAFSET_TEST_SEED", "0"))


@pytest.fixture(scope="session", autouse=True)
def _torch_threads() -> None:
    # DAFSET_TEST_TORCH_THREADS=N runs every test on N torch threads (after the test modules' own
    # set_num_threads(1) at import): a float result must not depend on the thread count.
    threads = os.environ.get("DAFSET_TEST_TORCH_THREADS")
    if threads:
        import torch

        torch.set_num_threads(int(threads))


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path_factory.getbasetemp() / "hf-home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("DAFSET_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "dafset-cache"))
    # live clients refuse to run without a contact (Wikimedia's User-Agent policy); tests of that
    # refusal remove it themselves
    monkeypatch.setenv("DAFSET_CONTACT", "dafset-tests@example.org")


# Stand-ins for Wikidata/Wikimedia (oxigraph serve + the recorded-response server): tests/standins/
from standins.fixtures import (  # noqa: E402, F401
    _recorded_server_session,
    live_env,
    live_sample_standins,
    oxigraph_factory,
    oxigraph_server,
    recorded_server,
    sample_oxigraph,
)


@pytest.fixture(scope="session")
def sample_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``latest`` of one default sample build (no model), shared by the tests that only read it."""
    from typer.testing import CliRunner

    from dafset.cli import app

    out = tmp_path_factory.mktemp("sample-build")
    result = CliRunner().invoke(app, ["build", "--source", "sample", "--out", str(out), "--no-figures"])
    assert result.exit_code == 0, result.output
    return out / "latest"
