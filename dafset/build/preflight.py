"""Every check a build can make before its first request, so bad input costs seconds, not an
hour of harvesting: the output folder, the model folder and device, the previous snapshot,
relations.yaml, and every template rendered once against a probe fact (which names the template
file at fault, not an inline template it calls).

The option values themselves (sizes, dates, window) are checked by ``BuildConfig``.
"""

from __future__ import annotations

import errno
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dafset.build.previous import read_previous_facts
from dafset.config import BuildConfig
from dafset.errors import ConfigError
from dafset.publish.place import foreign_entries
from dafset.relations import Relation, RelationSet, load_relations
from dafset.settings import check_contact, get_settings
from dafset.templating import check_templates, render

PROBE_SUBJECT = "Probe Subject"
PROBE_OBJECT = "Probe Object"


def preflight(cfg: BuildConfig) -> RelationSet:
    """Check everything; return the loaded relations. Raises one-line ConfigErrors."""
    check_out(cfg.out)
    if cfg.live_services:
        check_contact(get_settings().contact)
    relations = load_relations()
    check_templates()
    for name, variables in template_probes(relations, with_model=cfg.model is not None):
        render(name, **variables)
    if cfg.model is not None:
        from dafset.lm.load import check_model_dir

        check_model_dir(cfg.model)
    if cfg.device is not None:
        from dafset.lm.load import resolve_device

        resolve_device(cfg.device)
    read_previous_facts(cfg)
    if cfg.source == "dump" and cfg.dump_dir is not None:
        from dafset.sources.dump.integrity import data_identity

        data_identity(cfg.dump_dir)  # a whole ingest, with statistics computed from it
    return relations


def check_out(out: Path) -> None:
    """The output folder is a folder we can write in (or can be made in one), and empty or a
    build root: a build replaces the root's README.md, so it never runs among a user's files."""
    try:
        out.stat()
    except OSError as exc:
        if exc.errno != errno.ENOENT:  # a symlink loop, a name too long, no permission
            raise ConfigError(f"out: {out}: {exc.strerror or exc}") from None
    if out.exists() and not out.is_dir():
        raise ConfigError(f"out: {out} exists and is not a folder")
    foreign = foreign_entries(out)
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise ConfigError(
            f"out: {out} holds files a build did not write ({shown}); "
            "give an empty folder, a new one, or an earlier build's --out"
        )
    existing = out
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"out: {existing} (on the way to {out}) is not a folder")
    for folder in (existing, out / "snapshots"):
        if folder.is_dir():
            _probe_write(folder, out)


def _probe_write(folder: Path, out: Path) -> None:
    # os.access says yes to root on a read-only mount; a real file says the truth.
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".dafset-probe-"):
            pass
    except OSError as exc:
        raise ConfigError(f"out: cannot write in {folder} ({exc.strerror or exc}), so not to {out}") from None


def template_probes(relations: RelationSet, with_model: bool) -> Iterator[tuple[str, dict[str, Any]]]:
    """(template, variables) pairs as the build's callers pass them, for every relation."""
    relation_list = list(relations)
    for relation in relation_list:
        yield from _case_probes(relation, relation_list)
    if with_model:
        first = relation_list[0]
        yield "lm/likelihood.j2", {"entity": PROBE_SUBJECT}
        grounding = {"kind": "a person", "description": "a probe", "facts": [f"{PROBE_SUBJECT} exists."]}
        request = {"subject": PROBE_SUBJECT, "relation_label": first.label, **grounding}
        yield "lm/context_request.j2", request
        for polarity in ("positive", "negative"):
            yield "lm/sentiment_request.j2", {**request, "polarity": polarity}


def _case_probes(relation: Relation, others: list[Relation]) -> Iterator[tuple[str, dict[str, Any]]]:
    base = {"relation": relation, "subject": PROBE_SUBJECT}
    yield "prompt.j2", base
    yield "locality.j2", base
    for i in range(len(relation.paraphrases)):
        yield "rephrase.j2", {**base, "index": i}
    yield "robust_short.j2", base
    facts = [{"relation_label": o.label, "object": PROBE_OBJECT} for o in others[:2] if o.id != relation.id]
    yield "robust_long.j2", {**base, "facts": facts}
