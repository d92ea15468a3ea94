"""A real SPARQL endpoint for tests: ``oxigraph serve`` (in-memory) on 127.0.0.1.

Started as a subprocess on a free port, polled until it answers, loaded through the Graph Store
Protocol (POST to ``/store?default``), and killed at teardown. Queries go to ``query_url``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

CONTENT_TYPES = {".ttl": "text/turtle", ".nt": "application/n-triples", ".nq": "application/n-quads"}


def oxigraph_binary() -> str:
    """The ``oxigraph`` CLI from the PyPI package of that name, next to this interpreter first."""
    local = Path(sys.executable).parent / "oxigraph"
    if local.exists():
        return str(local)
    found = shutil.which("oxigraph")
    if not found:
        raise RuntimeError("the oxigraph CLI is not installed (pip install oxigraph)")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OxigraphServer:
    """``start()``, ``load(rdf_bytes, content_type)``, ``query_url``, ``stop()``."""

    def __init__(self, binary: str | None = None) -> None:
        self.binary = binary or oxigraph_binary()
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def query_url(self) -> str:
        return f"{self.url}/query"

    def start(self, timeout_s: float = 20.0) -> OxigraphServer:
        for _ in range(3):  # a port picked free can be taken before oxigraph binds it; try again
            self.port = free_port()
            self.process = subprocess.Popen(
                [self.binary, "serve", "--bind", f"127.0.0.1:{self.port}"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            if self._wait_ready(timeout_s):
                return self
            self.stop()
        raise RuntimeError(f"oxigraph serve did not start on 127.0.0.1 ({self.binary})")

    def _wait_ready(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/", timeout=1) as resp:
                    resp.read()
                return True
            except urllib.error.HTTPError:
                return True  # it answered, whatever the status
            except OSError:
                time.sleep(0.02)
        return False

    def load(self, rdf: bytes, content_type: str = "text/turtle") -> None:
        """Add RDF (Turtle, N-Triples, ...) to the default graph."""
        request = urllib.request.Request(
            f"{self.url}/store?default", data=rdf, headers={"Content-Type": content_type}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=60) as resp:
            if resp.status >= 300:
                raise RuntimeError(f"oxigraph refused the RDF: HTTP {resp.status}")

    def load_file(self, path: Path, content_type: str | None = None) -> None:
        self.load(path.read_bytes(), content_type or CONTENT_TYPES[path.suffix])

    def clear(self) -> None:
        request = urllib.request.Request(
            f"{self.url}/update",
            data=b"CLEAR ALL",
            headers={"Content-Type": "application/sparql-update"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30):
            pass

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None

    def __enter__(self) -> OxigraphServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
