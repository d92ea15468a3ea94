"""The toy model's training text: relation statements rendered over real Wikidata facts.

Facts come from the bundled sample (``source="sample"``, the default) or from BEAR's larger set of
real facts in the read-only fixtures (``source="bear"``, ~20k facts on our relations, for a stronger toy).
Frequencies must vary so that the toy's likelihoods mean something: objects repeat naturally
(countries, cities), and each subject's facts are repeated a Zipf-like number of times (1 to
``max_repeat``), chosen by a seeded hash.
"""

from __future__ import annotations

import json
import logging
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dafset.errors import ConfigError
from dafset.hashing import stable_hash
from dafset.lm.statements import render_plain, statement_templates
from dafset.settings import get_settings

log = logging.getLogger(__name__)

BEAR_DIR = "facts/bear_BEAR-big"


@dataclass(frozen=True)
class Triple:
    """One labelled fact (subject, relation, object)."""

    subject_id: str
    subject_label: str
    relation_id: str
    object_id: str | None
    object_label: str


def bear_triples(fixtures_dir: Path | None = None, relations: Iterable[str] | None = None) -> list[Triple]:
    """BEAR-big's real facts (``facts/bear_BEAR-big/P*.jsonl``), optionally for some relations."""
    folder = (fixtures_dir or get_settings().fixtures_dir) / BEAR_DIR
    if not folder.is_dir():
        raise ConfigError(f"BEAR facts not found at {folder}; set DAFSET_FIXTURES_DIR")
    wanted = set(relations) if relations is not None else None
    out: list[Triple] = []
    for path in sorted(folder.glob("P*.jsonl")):
        pid = path.stem
        if wanted is not None and pid not in wanted:
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            out.append(Triple(row["sub_id"], row["sub_label"], pid, row.get("obj_id"), row["obj_label"]))
    return out


def sample_triples(relations: Iterable[str] | None = None) -> list[Triple]:
    """The bundled sample's facts with a label on both sides (literals as their text)."""
    from dafset.sources.sample.source import SampleSource

    out = []
    for f in SampleSource().facts(list(relations) if relations is not None else None):
        obj = f.get("object_label") or (_literal(f["object_value"]) if not f.get("object_id") else None)
        if f.get("subject_label") and obj:
            out.append(Triple(f["subject_id"], f["subject_label"], f["relation_id"], f.get("object_id"), obj))
    return out


def _literal(value: str) -> str:
    # Dates come as xsd:dateTime lexical forms; the day is enough for a training sentence.
    return value[:10] if value.endswith("T00:00:00Z") else value


def load_triples(source: str = "sample") -> tuple[list[Triple], str]:
    """Facts for the toy corpus and the name of where they came from."""
    if source == "sample":
        return sample_triples(), "sample"
    if source == "bear":
        return bear_triples(), "bear"
    raise ConfigError(f"--sentences-from: expected 'sample' or 'bear', got {source!r}")


def _repeats(subject_id: str, seed: int, max_repeat: int) -> int:
    # P(k >= n) = 1/n: half the subjects once, a quarter four times or more, capped.
    u = (int(stable_hash("toy-repeat", seed, subject_id, size=6), 16) + 1) / (16**12 + 1)  # in (0, 1]
    return max(1, min(max_repeat, int(1 / u)))


def sentences_for_training(
    triples: Sequence[Triple],
    templates: Mapping[str, Sequence[str]] | None = None,
    seed: int = 0,
    max_repeat: int = 8,
) -> list[str]:
    """Render each fact ``k`` times (k Zipf-like per subject) with randomly chosen templates.

    Facts of relations without a statement template are skipped. The order is shuffled (seeded).
    """
    templates = statement_templates() if templates is None else templates
    rng = random.Random(seed)
    out: list[str] = []
    for t in triples:
        options = templates.get(t.relation_id)
        if not options:
            continue
        for _ in range(_repeats(t.subject_id, seed, max_repeat)):
            out.append(render_plain(rng.choice(options), t.subject_label, t.object_label))
    rng.shuffle(out)
    return out


def label_frequencies(sentences: Iterable[str], labels: Iterable[str]) -> Counter[str]:
    """How many training sentences mention each label (a plain substring count)."""
    labels = list(labels)
    counts: Counter[str] = Counter()
    for s in sentences:
        for label in labels:
            if label in s:
                counts[label] += 1
    return counts
