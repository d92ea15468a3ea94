"""Settings read from the environment (prefix ``DAFSET_``), with defaults that work in a checkout.

Everything that differs between a laptop, CI and a weekly production run is a setting here, so no
module hard-codes a path or an endpoint.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from dafset.errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent

WDQS_MAIN = "https://query.wikidata.org/sparql"
MEDIAWIKI_API = "https://www.wikidata.org/w/api.php"
WIKIPEDIA_API = "https://en.wikipedia.org/w/api.php"
PAGEVIEWS_API = "https://wikimedia.org/api/rest_v1"


def _env(name: str, default: str) -> str:
    return os.environ.get(f"DAFSET_{name}", default)


def _path(name: str, default: Path) -> Path:
    raw = os.environ.get(f"DAFSET_{name}")
    return Path(raw).expanduser().resolve() if raw else default


@dataclass(frozen=True)
class Settings:
    """Where things live and whom we tell Wikimedia we are."""

    # Real recorded Wikidata/Wikimedia data captured by others, carried in the repo (tests/data,
    # provenance in its SOURCES.md): the tests and the sample converter read it.
    fixtures_dir: Path = field(default_factory=lambda: _path("FIXTURES_DIR", REPO_ROOT / "tests" / "data"))
    relations_file: Path = field(
        default_factory=lambda: _path("RELATIONS_FILE", REPO_ROOT / "relations.yaml")
    )
    templates_dir: Path = field(default_factory=lambda: _path("TEMPLATES_DIR", REPO_ROOT / "templates"))
    queries_dir: Path = field(
        default_factory=lambda: _path("QUERIES_DIR", PACKAGE_DIR / "sources" / "queries")
    )
    sample_dir: Path = field(default_factory=lambda: _path("SAMPLE_DIR", PACKAGE_DIR / "sources" / "sample" / "data"))
    cache_dir: Path = field(default_factory=lambda: _path("CACHE_DIR", REPO_ROOT / ".dafset-cache"))

    sparql_endpoint: str = field(default_factory=lambda: _env("SPARQL_ENDPOINT", WDQS_MAIN))
    mediawiki_api: str = field(default_factory=lambda: _env("MEDIAWIKI_API", MEDIAWIKI_API))
    wikipedia_api: str = field(default_factory=lambda: _env("WIKIPEDIA_API", WIKIPEDIA_API))
    pageviews_api: str = field(default_factory=lambda: _env("PAGEVIEWS_API", PAGEVIEWS_API))

    # Wikimedia's User-Agent policy wants a tool name, version and a way to reach the operator:
    # the person running the build, so there is no default (a live run without it stops at once).
    contact: str = field(default_factory=lambda: _env("CONTACT", "").strip())
    http_timeout_s: float = field(default_factory=lambda: float(_env("HTTP_TIMEOUT_S", "60")))
    max_retries: int = field(default_factory=lambda: int(_env("MAX_RETRIES", "5")))
    maxlag_s: int = field(default_factory=lambda: int(_env("MAXLAG_S", "5")))

    @property
    def user_agent(self) -> str:
        from dafset import __version__

        return f"dafset/{__version__} ({check_contact(self.contact)}) python-requests"


_CONTACT = re.compile(r"^(?:[^@\s()]+@[^@\s()]+\.[^@\s()]+|https?://[^\s()]+\.[^\s()]+)$")


def check_contact(contact: str) -> str:
    """The operator's e-mail or web page, required before any request to Wikimedia."""
    if not contact:
        raise ConfigError(
            "contact: live runs must say who runs them (Wikimedia's User-Agent policy): "
            "set DAFSET_CONTACT=you@example.org or pass --contact"
        )
    if not _CONTACT.match(contact):
        raise ConfigError(f"contact: {contact!r} is neither an e-mail address nor an http(s) URL")
    return contact


def get_settings() -> Settings:
    """Read the settings afresh (cheap), so tests can change the environment between calls."""
    return Settings()
