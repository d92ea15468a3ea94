"""Jinja2 rendering for the text templates in ``templates/`` and the inline ones in relations.yaml.

Templates are data, not code, so they render in a sandbox: no attribute that starts with an
underscore, no access to Python internals, and bounded size and work (``dafset.sandbox``: no
``{{ 'a' * 10**11 }}``, no ``{{ 9**99999999 }}``). Undefined names fail loudly (StrictUndefined) instead of
printing nothing, because a silently empty prompt would still look like a valid sample.

Every Jinja2 failure (syntax, undefined name, sandbox refusal, missing file) is raised as a
one-line :class:`~dafset.errors.ConfigError` that names the template and, where Jinja2 knows it,
the line: ``templates/locality.j2:3: undefined variable 'subjekt'``.

Besides the variables a caller passes, every template may use the filter ``shortest`` (the
shortest string of a list). Relation objects passed to a template render their own inline templates
through their methods (``relation.render_prompt(subject)``, see :mod:`dafset.relations`).
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, NoReturn

from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    Undefined,
    UndefinedError,
    meta,
)
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from dafset.errors import ConfigError
from dafset.sandbox import BoundedSandbox, bounded_render
from dafset.settings import get_settings

TEMPLATE_SUFFIX = ".j2"

_UNDEFINED_NAME = re.compile(r"^'([^']+)' is undefined$")


def render(name: str, **variables: Any) -> str:
    """Render ``templates/<name>`` (``name`` may hold subfolders, e.g. ``lm/context_request.j2``).

    The result is stripped of surrounding whitespace.
    """
    _blame_caller_for_undefined(variables)
    templates_dir = get_settings().templates_dir
    template = _load(_file_environment(templates_dir), templates_dir, name)
    return _render(template, display_path(templates_dir / name), variables)


def render_string(source: str, origin: str, **variables: Any) -> str:
    """Render an inline template (a relation's prompt, say); ``origin`` names it in errors."""
    _blame_caller_for_undefined(variables)
    return _render(_compile_string(source, origin), origin, variables)


def _blame_caller_for_undefined(variables: Mapping[str, Any]) -> None:
    """A template that passes an undefined name on (``relation.render_prompt(subjekt)``) is at
    fault, not the inline template that would trip over it: fail here, inside the caller's
    render, so the error names the caller's file and line."""
    for value in variables.values():
        if isinstance(value, Undefined):
            value._fail_with_undefined_error()


def _load(env: SandboxedEnvironment, templates_dir: Path, name: str) -> Template:
    try:
        return env.get_template(name)
    except TemplateError as exc:
        _raise(exc, display_path(templates_dir / name), None)
    except UnicodeDecodeError as exc:
        where = display_path(templates_dir / name)
        raise ConfigError(
            f"{where}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})"
        ) from None


def check_templates(templates_dir: Path | None = None) -> list[str]:
    """Compile every ``*.j2`` under the templates folder, so a broken one fails the build at once.

    Returns the template names (relative, with ``/``), sorted. Raises ConfigError on the first
    template that does not compile.
    """
    templates_dir = templates_dir or get_settings().templates_dir
    if not templates_dir.is_dir():
        raise ConfigError(f"{display_path(templates_dir)}: templates folder not found")
    env = _file_environment(templates_dir)
    names = sorted(
        p.relative_to(templates_dir).as_posix() for p in templates_dir.rglob(f"*{TEMPLATE_SUFFIX}")
    )
    for name in names:
        _load(env, templates_dir, name)
    return names


def template_variables(source: str, origin: str) -> frozenset[str]:
    """The free variables an inline template uses (e.g. ``{"subject"}``); ConfigError if it does
    not parse."""
    try:
        return frozenset(meta.find_undeclared_variables(_string_environment().parse(source)))
    except TemplateSyntaxError as exc:
        _raise(exc, origin, source)


def syntax_problem(source: str) -> str | None:
    """One line describing why ``source`` is not a valid Jinja2 template, or None if it is."""
    try:
        _string_environment().parse(source)
    except TemplateSyntaxError as exc:
        return _one_line(f"template syntax error: {exc.message}")
    return None


# --- environments -------------------------------------------------------------------------------


def _environment_options() -> dict[str, Any]:
    # Plain text out (prompts, not HTML); block tags do not leave blank lines behind.
    return {
        "undefined": StrictUndefined,
        "autoescape": False,
        "trim_blocks": True,
        "lstrip_blocks": True,
        "keep_trailing_newline": False,
    }


def _add_helpers(env: BoundedSandbox) -> BoundedSandbox:
    env.filters["shortest"] = _shortest
    return env


@lru_cache(maxsize=8)
def _file_environment(templates_dir: Path) -> SandboxedEnvironment:
    # One environment per folder; Jinja2 caches compiled templates and recompiles a changed file.
    return _add_helpers(BoundedSandbox(loader=FileSystemLoader(templates_dir), **_environment_options()))


@lru_cache(maxsize=1)
def _string_environment() -> BoundedSandbox:
    return _add_helpers(BoundedSandbox(**_environment_options()))


@lru_cache(maxsize=4096)
def _compile_string(source: str, origin: str) -> Template:
    # Compiling with filename=origin makes Jinja2's tracebacks (and so our line numbers) name it.
    env = _string_environment()
    try:
        code = env.compile(source, name=origin, filename=origin)
    except TemplateSyntaxError as exc:
        _raise(exc, origin, source)
    return env.template_class.from_code(env, code, env.make_globals(None), None)


# --- helpers visible to templates ----------------------------------------------------------------


def _shortest(values: Iterable[str]) -> str:
    items = list(values)
    if not items:
        raise ValueError("shortest of an empty list")
    return min(items, key=len)


# --- rendering and errors ------------------------------------------------------------------------


# Faults a template expression can cause (``{{ 1 + "a" }}``, ``{{ [] | shortest }}``); our own
# ConfigError from a nested render is none of these and passes through unchanged.
# MemoryError and RecursionError (a macro calling itself) are a template's fault too.
_EXPRESSION_FAULTS = (
    TemplateError,
    TypeError,
    ValueError,
    LookupError,
    ArithmeticError,
    MemoryError,
    RecursionError,
)


def _render(template: Template, where: str, variables: Mapping[str, Any]) -> str:
    try:
        return bounded_render(template, dict(variables)).strip()
    except _EXPRESSION_FAULTS as exc:
        _raise(exc, where, None, _template_line(exc, template.filename))


def _template_line(exc: BaseException, filename: str | None) -> int | None:
    # Jinja2 rewrites tracebacks so that template frames carry the template's own file and line.
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if filename is not None and frame.filename == filename:
            line = frame.lineno
    return line


def _raise(exc: Exception, where: str, source: str | None, line: int | None = None) -> NoReturn:
    if isinstance(exc, TemplateSyntaxError):
        where = display_path(Path(exc.filename)) if exc.filename and source is None else where
        line = exc.lineno
    location = f"{where}:{line}" if line else where
    raise ConfigError(_one_line(f"{location}: {_describe(exc)}")) from None


def _describe(exc: Exception) -> str:
    message = str(exc) or type(exc).__name__
    if isinstance(exc, TemplateSyntaxError):
        return f"template syntax error: {exc.message}"
    if isinstance(exc, RecursionError):
        return "recursion too deep (a macro that calls itself?)"
    if isinstance(exc, TemplateNotFound):
        return f"template not found: {exc.name}"
    if isinstance(exc, SecurityError):
        return f"refused by the sandbox: {message}"
    if isinstance(exc, UndefinedError):
        match = _UNDEFINED_NAME.match(message)
        return f"undefined variable '{match.group(1)}'" if match else f"undefined: {message}"
    return f"{type(exc).__name__}: {message}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def display_path(path: Path) -> str:
    """A path as the user knows it: relative to the working directory when it lies below it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)
