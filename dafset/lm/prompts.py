"""Render the ``templates/lm/*.j2`` prompt and sentence templates.

Uses the project's sandboxed renderer (``dafset.templating.render``: sandboxed Jinja2 with
StrictUndefined) when present; the local fallback below has the same behaviour.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from dafset.errors import ConfigError
from dafset.settings import get_settings


@cache
def _fallback_env(templates_dir: str) -> Any:
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(
        loader=FileSystemLoader(templates_dir),
        undefined=StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,
    )


def render_file(name: str, **variables: Any) -> str:
    """Render ``templates/<name>`` (e.g. ``lm/context_request.j2``) with ``variables``."""
    try:
        from dafset.templating import render
    except ImportError:
        render = None
    if render is not None:
        return render(name, **variables)
    from jinja2 import TemplateError

    try:
        env = _fallback_env(str(get_settings().templates_dir))
        return env.get_template(name).render(**variables)
    except TemplateError as exc:
        raise ConfigError(f"template {name}: {exc}") from exc


@cache
def _compiled(source: str) -> Any:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    # Compiling is ~1000x slower than rendering; a toy corpus renders each template many times.
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    return env.from_string(source)


def render_string(source: str, **variables: Any) -> str:
    """Render an inline template (a relation's ``statement`` from relations.yaml)."""
    from jinja2 import TemplateError

    try:
        return _compiled(source).render(**variables)
    except TemplateError as exc:
        raise ConfigError(f"inline template {source!r}: {exc}") from exc
