"""popular: facts of the most-viewed Wikipedia pages' entities (hop 1), then of the entities those
facts point to (hop 2). Every fact keeps its root's page views and its hop."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from dafset.config import BuildConfig
from dafset.properties.facts import fetch_truthy_facts
from dafset.source import PageViews, Source

OVERFETCH = 3  # top-list rows per wanted root: some titles map to no item or to a list page


def harvest_popular(
    source: Source, cfg: BuildConfig, relations: Sequence[str]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    start, end = cfg.window
    # the API's date ranges are inclusive: the window's last day is the day before the snapshot
    top = source.top_articles(
        start.date(), (end - timedelta(days=1)).date(), limit=cfg.popular_top_n * OVERFETCH
    )
    items = source.items_for_titles([p.title for p in top])
    roots: dict[str, PageViews] = {}
    for views in top:
        qid = items.get(views.title)
        if qid and qid not in roots:
            roots[qid] = views
        if len(roots) >= cfg.popular_top_n:
            break

    rows = [
        _annotate(f, roots[f["subject_id"]], f["subject_id"], 1)
        for f in fetch_truthy_facts(source, list(roots), relations)
    ]

    # hop 2: the item objects each root points to, a few per root, in a stable order
    hop2_root: dict[str, str] = {}
    per_root: dict[str, int] = {}
    for fact in rows:
        obj, root = fact["object_id"], fact["root_id"]
        if (
            obj
            and obj not in roots
            and obj not in hop2_root
            and per_root.get(root, 0) < cfg.popular_hop2_per_root
        ):
            hop2_root[obj] = root
            per_root[root] = per_root.get(root, 0) + 1
    rows += [
        _annotate(f, roots[hop2_root[f["subject_id"]]], hop2_root[f["subject_id"]], 2)
        for f in fetch_truthy_facts(source, list(hop2_root), relations)
    ]
    report = {
        "top_articles": len(top),
        "roots": len(roots),
        "hop2_entities": len(hop2_root),
        "facts_hop1": sum(1 for r in rows if r["hop"] == 1),
        "facts_hop2": sum(1 for r in rows if r["hop"] == 2),
    }
    return rows, report


def _annotate(fact: dict[str, Any], views: PageViews, root: str, hop: int) -> dict[str, Any]:
    fact.pop("_dates", None)
    fact.update(pageviews=views.views, root_id=root, hop=hop, derived=["pageviews"] if views.derived else [])
    return fact
