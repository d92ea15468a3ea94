"""Statement templates per relation, and rendering a statement with the span of one entity.

Templates come from ``relations.yaml`` (each relation's ``statement``: one Jinja string or a list,
over ``subject`` and ``object``). Relations without one fall back to BEAR's three statement
templates per relation in the read-only fixtures (``[X]`` subject, ``[Y]`` object), converted on
the fly; nothing is copied into the repo.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Literal

from dafset.errors import ConfigError
from dafset.lm.prompts import render_string
from dafset.lm.score import ScoreItem
from dafset.settings import get_settings

log = logging.getLogger(__name__)

Role = Literal["subject", "object"]
BEAR_DIR = "facts/bear_BEAR-big"
# A private-use character cannot occur in a label; it marks where the focus entity lands.
_MARK = "\ue000"


def _yaml_statements(relations_file: Path) -> dict[str, list[str]]:
    import yaml

    if not relations_file.is_file():
        return {}
    try:
        data = yaml.safe_load(relations_file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{relations_file}: {exc}") from exc
    out: dict[str, list[str]] = {}
    for entry in data.get("relations", []):
        statement = entry.get("statement")
        if isinstance(statement, str):
            out[entry["id"]] = [statement]
        elif isinstance(statement, list) and statement:
            out[entry["id"]] = [str(s) for s in statement]
    return out


def _bear_statements(fixtures_dir: Path) -> dict[str, list[str]]:
    path = fixtures_dir / BEAR_DIR / "metadata_relations.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {
        pid: [
            t.replace("[X]", "{{ subject }}").replace("[Y]", "{{ object }}")
            for t in entry.get("templates", [])
        ]
        for pid, entry in data.items()
    }


@cache
def _statement_templates(relations_file: str, fixtures_dir: str) -> dict[str, tuple[str, ...]]:
    merged = _bear_statements(Path(fixtures_dir))
    merged.update(_yaml_statements(Path(relations_file)))  # relations.yaml wins
    return {pid: tuple(ts) for pid, ts in merged.items() if ts}


def statement_templates() -> Mapping[str, tuple[str, ...]]:
    """Relation id -> its statement templates (relations.yaml first, BEAR's as fallback)."""
    s = get_settings()
    return _statement_templates(str(s.relations_file), str(s.fixtures_dir))


def render_statement(template: str, subject: str, obj: str, focus: Role = "subject") -> ScoreItem:
    """Render a statement and return it with the character span of the ``focus`` entity.

    The span is found by rendering a marker in place of the focus label, so it is exact even when
    subject and object share words. ValueError if the template does not mention the focus.
    """
    values = {"subject": subject, "object": obj}
    values[focus] = _MARK
    marked = render_string(template, **values)
    start = marked.find(_MARK)
    if start < 0:
        raise ValueError(f"statement template {template!r} does not mention the {focus}")
    label = subject if focus == "subject" else obj
    text = marked.replace(_MARK, label)
    return ScoreItem(text, start, start + len(label))


def render_plain(template: str, subject: str, obj: str) -> str:
    return render_string(template, subject=subject, object=obj)
