"""Build parameters: one frozen value object, JSON-typed so Prefect ``--param k=v`` and the CLI
share it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from dafset.errors import ConfigError

# The bundled sample's as-of date: the date of its data (Wikidata as BEAR-big captured it, about
# December 2021), see dafset/sources/sample/data/manifest.json "data_date". A sample build may not
# be dated later: its facts would read as the truth of a day they were never checked against.
SAMPLE_SNAPSHOT = date(2022, 1, 1)
WIKIDATA_LAUNCH = date(2012, 10, 29)  # no snapshot or recency window can reach before it
NO_PREVIOUS = "none"  # --previous none: build without a previous snapshot as recency witness


def today() -> date:
    """The latest date it is anywhere on Earth now (UTC+14), so a run scheduled for a local
    Monday is never refused as 'in the future'."""
    return (datetime.now(UTC) + timedelta(hours=14)).date()


@dataclass(frozen=True)
class Sizes:
    """Upper bounds on samples per property (before the split)."""

    recent: int = 400
    popular: int = 400
    long_tail: int = 600
    robust: int = 300

    def __post_init__(self) -> None:
        for key, n in asdict(self).items():
            if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                raise ConfigError(f"sizes.{key}: expected a non-negative integer, got {n!r}")

    @classmethod
    def parse(cls, value: Sizes | dict[str, int] | None) -> Sizes:
        if value is None or isinstance(value, Sizes):
            return value or cls()
        unknown = set(value) - {"recent", "popular", "long_tail", "robust"}
        if unknown:
            raise ConfigError(f"sizes: unknown propert(y/ies) {sorted(unknown)}")
        return cls(**value)


@dataclass(frozen=True)
class BuildConfig:
    snapshot: date = SAMPLE_SNAPSHOT
    out: Path = Path("out/dafset")
    source: str = "sample"  # sample | live | dump
    dump_dir: Path | None = None  # --source dump: an ingest folder (dafset ingest-dump, dump-stats)
    dump_delegate: str = "sample"  # --source dump: who answers page views and revisions (sample | live)
    sizes: Sizes = field(default_factory=Sizes)
    window_days: int = 7
    popular_top_n: int = 100
    popular_hop2_per_root: int = 5
    long_tail_pool: int | None = None  # candidate items; None: 5 per long-tail sample wanted
    long_tail_quantile: float = 0.8
    likelihood_pool: int = 2000  # entities of the long-tail pool scored by the LLM (a stable subset)
    split_ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0
    model: str | None = None  # a local causal LM path: enables likelihood + context/sentiment
    device: str | None = None
    threads: int | None = None  # torch CPU threads; None: free physical cores (dafset.lm.threads)
    previous: Path | None = None  # an earlier snapshot dir (default: the newest one under out)
    use_previous: bool = True  # False: no previous snapshot witnesses recency (--previous none)
    figures: bool = True

    def __post_init__(self) -> None:
        if self.source not in ("sample", "live", "dump"):
            raise ConfigError(f"source: expected 'sample', 'live' or 'dump', got {self.source!r}")
        if self.source == "dump" and self.dump_dir is None:
            raise ConfigError("dump_dir: --source dump needs the ingest folder (--dump-dir)")
        if self.dump_delegate not in ("sample", "live"):
            raise ConfigError(f"dump_delegate: expected 'sample' or 'live', got {self.dump_delegate!r}")
        if not 0 < self.long_tail_quantile < 1:
            raise ConfigError(
                f"long_tail_quantile: expected a value in (0, 1), got {self.long_tail_quantile}"
            )
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads: expected a count >= 1, got {self.threads}")
        if abs(sum(self.split_ratios) - 1) > 1e-6 or len(self.split_ratios) != 3:
            raise ConfigError(f"split_ratios: three values summing to 1 expected, got {self.split_ratios}")
        if self.snapshot < WIKIDATA_LAUNCH:
            raise ConfigError(f"snapshot: {self.snapshot} is before Wikidata's launch ({WIKIDATA_LAUNCH})")
        if self.snapshot > today():
            raise ConfigError(
                f"snapshot: {self.snapshot} is after today ({today()}); a snapshot cannot be dated in the future"
            )
        if self.source == "sample" and self.snapshot > SAMPLE_SNAPSHOT:
            raise ConfigError(
                f"snapshot: {self.snapshot} is after the bundled sample's data date ({SAMPLE_SNAPSHOT}); "
                "the sample can be built as of that day or an earlier week, not later"
            )
        max_days = (self.snapshot - WIKIDATA_LAUNCH).days
        if not 1 <= self.window_days <= max(1, max_days):
            raise ConfigError(
                f"window_days: expected 1 .. {max_days} (back to Wikidata's launch, {WIKIDATA_LAUNCH}), "
                f"got {self.window_days}"
            )

    @property
    def window(self) -> tuple[datetime, datetime]:
        """[start, end) of the recency window: the ``window_days`` days before the snapshot date."""
        end = datetime.combine(self.snapshot, time(0), tzinfo=UTC)
        return end - timedelta(days=self.window_days), end

    @property
    def live_services(self) -> bool:
        """Whether the build talks to Wikimedia's services (directly, or as the dump's delegate)."""
        return self.source == "live" or (self.source == "dump" and self.dump_delegate == "live")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["snapshot"] = self.snapshot.isoformat()
        data["out"] = str(self.out)
        data["previous"] = str(self.previous) if self.previous else None
        data["dump_dir"] = str(self.dump_dir) if self.dump_dir else None
        data["split_ratios"] = list(self.split_ratios)
        return data


def parse_date(value: str | date) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value.strip() or "<empty>")
    except ValueError as exc:
        raise ConfigError(f"snapshot: expected an ISO date like 2026-11-23, got {value!r}") from exc
