"""pytest fixtures for the stand-ins (exposed to every test through ``tests/conftest.py``).

- ``oxigraph_server`` (session): ``oxigraph serve`` loaded with the real Wikidata RDF fixtures
  (``rdf/wdqs_dump_*.ttl`` and the N-Triples conversion of the real triple table). Shared: do not
  load into it from a test; start your own with ``oxigraph_factory``.
- ``oxigraph_factory``: ``start()`` gives a fresh, empty server, stopped after the test.
- ``recorded_server``: the recorded-response server, with added routes, faults and the request
  log cleared before and after each test.
- ``live_env``: points every ``DAFSET_*`` endpoint at ``recorded_server`` (SPARQL proxied to
  ``oxigraph_server``), with a short backoff and a per-test cache dir; returns the server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from standins.oxigraph import OxigraphServer
from standins.recorded import RecordedServer

REAL_RDF = (
    "rdf/wdqs_dump_Q42.ttl",
    "rdf/wdqs_dump_Q24628793.ttl",
    "rdf/wdqs_dump_Q37599471.ttl",
    "rdf/wdqs_dump_small_dump_chunk.ttl",
    # real triples, only re-serialised from JSON lines to N-Triples (see SOURCES.md section 2)
    "rdf/DERIVED_wdqs_wikidata_triples_small.nt",
)


@pytest.fixture(scope="session")
def oxigraph_server(fixtures_dir: Path) -> Iterator[OxigraphServer]:
    server = OxigraphServer().start()
    try:
        for name in REAL_RDF:
            server.load_file(fixtures_dir / name)
        yield server
    finally:
        server.stop()


@pytest.fixture
def oxigraph_factory() -> Iterator[Callable[[], OxigraphServer]]:
    started: list[OxigraphServer] = []

    def start() -> OxigraphServer:
        server = OxigraphServer().start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def _recorded_server_session(fixtures_dir: Path) -> Iterator[RecordedServer]:
    server = RecordedServer(fixtures_dir).start()
    yield server
    server.stop()


@pytest.fixture
def recorded_server(_recorded_server_session: RecordedServer) -> Iterator[RecordedServer]:
    _recorded_server_session.reset()
    yield _recorded_server_session
    _recorded_server_session.reset()


@pytest.fixture
def live_env(
    recorded_server: RecordedServer,
    oxigraph_server: OxigraphServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> RecordedServer:
    recorded_server.proxy_sparql(oxigraph_server.query_url)
    for key, value in recorded_server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DAFSET_BACKOFF_BASE_S", "0.01")
    monkeypatch.setenv("DAFSET_BACKOFF_MAX_S", "0.05")
    monkeypatch.setenv("DAFSET_HTTP_TIMEOUT_S", "10")
    monkeypatch.setenv("DAFSET_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DAFSET_CONTACT", "dafset-tests@example.org")
    return recorded_server


@pytest.fixture(scope="session")
def sample_oxigraph() -> Iterator[OxigraphServer]:
    """``oxigraph serve`` loaded with the bundled sample's RDF (the same triples SampleSource has)."""
    from standins.sample_world import load_sample_rdf

    server = OxigraphServer().start()
    try:
        yield load_sample_rdf(server)
    finally:
        server.stop()


@pytest.fixture
def live_sample_standins(
    recorded_server: RecordedServer,
    sample_oxigraph: OxigraphServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    """The bundled sample behind the live code path: ``.env`` holds the DAFSET_* settings (also set
    in this process), ``.faults(fraction, seed)`` turns on random transient faults."""
    from dafset.config import SAMPLE_SNAPSHOT, BuildConfig
    from standins.sample_world import install_sample_world

    start, _ = BuildConfig(snapshot=SAMPLE_SNAPSHOT).window
    world = install_sample_world(recorded_server, sample_oxigraph, start.date(), 7)
    world.env["DAFSET_CACHE_DIR"] = str(tmp_path / "live-cache")
    for key, value in world.env.items():
        monkeypatch.setenv(key, value)
    return world
