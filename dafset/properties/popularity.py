"""Is an entity known to be rare? The long-tail guard: an entity is chosen for long_tail only when
a *real* popularity signal says it is not famous (the pool keeps the others, so the frequency and
degree distributions stay those of the population).

Signals, real ones only (a source that makes figures up says which: ``derived_fields``,
``PageViews.derived``):
- sitelinks: the number of Wikipedia (and sister) articles about it;
- English Wikipedia page views over the build's window, as a monthly rate, asked only where no
  real sitelink count is known (on live Wikidata every item has one, so no page-view request is
  made).

``famous``: sitelinks >= FAMOUS_SITELINKS or monthly views >= FAMOUS_MONTHLY_VIEWS; ``rare``: a
real signal below both lines; ``unknown``: no real signal at all (the bundled sample's BEAR-only
entities: BEAR carries no popularity) -- never long tail, since nothing shows it is rare.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from dafset.ids import chunks, is_item
from dafset.properties.facts import SPARQL_BATCH
from dafset.source import Source

# 10x PopQA's long-tail line (s_pop < 100 monthly views); 20 sitelinks: articles in 20 wikis,
# which few Wikidata items reach. Either makes an entity too well known to be long tail.
FAMOUS_MONTHLY_VIEWS = 1000
FAMOUS_SITELINKS = 20
DAYS_PER_MONTH = 30
RULE = (
    f"long tail only with a real popularity signal below the famous line (sitelinks < {FAMOUS_SITELINKS}, "
    f"monthly English Wikipedia views < {FAMOUS_MONTHLY_VIEWS}); made-up figures do not count"
)


@dataclass(frozen=True)
class Popularity:
    sitelinks: int | None = None  # real count, or None
    views: int | None = None  # real views over the window, or None
    monthly_views: float | None = None  # the same as a rate per 30 days

    @property
    def verdict(self) -> str:
        if (self.sitelinks or 0) >= FAMOUS_SITELINKS or (self.monthly_views or 0) >= FAMOUS_MONTHLY_VIEWS:
            return "famous"
        if self.sitelinks is None and self.views is None:
            return "unknown"
        return "rare"


def popularity(source: Source, items: Sequence[str], first: date, last: date) -> dict[str, Popularity]:
    """The real popularity signals of ``items``, views over the days ``first`` .. ``last``."""
    items = [q for q in dict.fromkeys(items) if is_item(q)]
    ask = getattr(source, "derived_fields", None)
    made_up: dict[str, list[str]] = ask(items) if ask is not None else {}
    sitelinks: dict[str, int] = {}
    titles: dict[str, str] = {}
    for batch in chunks(items, SPARQL_BATCH):
        for row in source.select("entity_meta", items=batch):
            q = row["item"]
            if row.get("sitelinks") and "sitelinks" not in made_up.get(q, ()):
                sitelinks[q] = int(float(row["sitelinks"]))
            if row.get("title"):
                titles[q] = row["title"]
    unknown = [q for q in items if q not in sitelinks and q in titles]
    views = source.pageviews([titles[q] for q in unknown], first, last) if unknown else {}
    days = max(1, (last - first).days + 1)
    out: dict[str, Popularity] = {}
    for q in items:
        seen = views.get(titles.get(q, ""))
        real = seen.views if seen is not None and not seen.derived else None
        monthly = real * DAYS_PER_MONTH / days if real is not None else None
        out[q] = Popularity(sitelinks.get(q), real, monthly)
    return out


class Guard:
    """Keeps the items known to be rare; remembers every verdict (for the manifest) and the real
    monthly views (for the rows' evidence)."""

    def __init__(self, source: Source, first: date, last: date) -> None:
        self.source, self.first, self.last = source, first, last
        self.signals: dict[str, Popularity] = {}

    def __call__(self, items: Sequence[str]) -> list[str]:
        new = [q for q in items if q not in self.signals]
        self.signals.update(popularity(self.source, new, self.first, self.last))
        return [q for q in items if self.signals.get(q, Popularity()).verdict == "rare"]

    def rare(self, q: str) -> bool:
        return self.signals.get(q, Popularity()).verdict == "rare"

    def report(self) -> dict[str, Any]:
        counts = {"rare": 0, "famous": 0, "unknown": 0}
        for p in self.signals.values():
            counts[p.verdict] += 1
        return {"rule": RULE, "drawn": len(self.signals), **{f"pool_{k}": n for k, n in counts.items()}}
