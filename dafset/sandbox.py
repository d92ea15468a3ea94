"""A Jinja2 sandbox that also bounds size and work, so a template cannot exhaust the machine.

Jinja2's ``SandboxedEnvironment`` stops escapes (no ``__class__``, no internals) but not
``{{ 'a' * 10**11 }}`` (a MemoryError after filling RAM) or ``{{ (9**99999999) % 7 }}`` (a CPU
spin). Here every operator and call that can grow a value is checked *before* it runs, against:

- ``MAX_TEXT``: characters (or items) in any string or list a template makes, and in its output;
- ``MAX_INT_BITS``: bits of any integer a template makes by ``*`` or ``**``;
- ``MAX_STEPS``: iterations over ``range`` in one render (Jinja2 caps each range, not nesting).

A refusal is a ``SecurityError``, which ``dafset.templating`` reports as one line naming the
template. Prompts are a few hundred characters, so the bounds are far from any real template.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.filters import do_center, do_format, do_indent
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment, SecurityError, safe_range

MAX_TEXT = 1_000_000
MAX_INT_BITS = 4096
MAX_STEPS = 1_000_000

# str methods whose integer arguments are widths (a result that long is allocated at once)
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
_NUMBER = re.compile(r"\d+")

_steps_left: ContextVar[list[int] | None] = ContextVar("dafset_template_steps", default=None)


def _refuse(what: str) -> SecurityError:
    return SecurityError(f"{what} (sandbox limits: {MAX_TEXT:,} characters, {MAX_INT_BITS}-bit integers)")


def _sized(value: Any) -> int | None:
    return len(value) if isinstance(value, str | bytes | list | tuple) else None


def _int_bits(value: Any) -> int:
    return abs(value).bit_length() if isinstance(value, int) and not isinstance(value, bool) else 0


def check_format_string(text: Any) -> None:
    """Refuse a %- or {}-format string with a width or precision beyond MAX_TEXT."""
    if isinstance(text, str) and any(int(n) > MAX_TEXT for n in _NUMBER.findall(text)):
        raise _refuse(f"format string {text[:40]!r} asks for a width beyond the limit")


def _check_binop(op: str, left: Any, right: Any) -> None:
    if op == "*":
        for seq, n in ((left, right), (right, left)):
            size = _sized(seq)
            if size is not None and isinstance(n, int) and size * n > MAX_TEXT:
                raise _refuse(f"repeating a value of length {size} {n} times")
        if _int_bits(left) + _int_bits(right) > MAX_INT_BITS:
            raise _refuse("an integer product this large")
    elif op == "**":
        base, exp = left, right
        grows = _int_bits(base) > 1 and isinstance(exp, int) and exp > 0
        if grows and exp * math.log2(abs(base)) > MAX_INT_BITS:
            raise _refuse(f"{base} ** {exp}")
    elif op == "+":
        a, b = _sized(left), _sized(right)
        if a is not None and b is not None and a + b > MAX_TEXT:
            raise _refuse(f"joining values of lengths {a} and {b}")
    elif op == "%" and isinstance(left, str):
        check_format_string(left)


class _BudgetedRange(Sequence[int]):
    """``range`` for templates: each iteration spends one step of the render's budget."""

    def __init__(self, *args: int) -> None:
        self._range = safe_range(*args)

    def __len__(self) -> int:
        return len(self._range)

    def __getitem__(self, index: Any) -> Any:
        return self._range[index]

    def __iter__(self) -> Iterator[int]:
        for value in self._range:
            left = _steps_left.get()
            if left is not None:
                left[0] -= 1
                if left[0] < 0:
                    raise _refuse(f"more than {MAX_STEPS:,} loop steps over range()")
            yield value


class _BoundedCodeGenerator(CodeGenerator):
    # ``a ~ b`` compiles to a plain join that no sandbox hook sees; route it through one.
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.bounded_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class BoundedSandbox(SandboxedEnvironment):
    """SandboxedEnvironment plus the size and work bounds above."""

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals["range"] = _BudgetedRange
        self.filters["center"] = _checked_filter(do_center, width_at=1)
        self.filters["indent"] = _checked_filter(do_indent, width_at=1)
        self.filters["format"] = _format_filter

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        bound = getattr(__obj, "__wrapped__", __obj)  # the sandbox wraps str.format
        name = getattr(bound, "__name__", "")
        if isinstance(getattr(bound, "__self__", None), str):
            if name in _WIDTH_METHODS and any(_int_bits(a) and abs(a) > MAX_TEXT for a in args):
                raise _refuse(f"str.{name} with a width beyond the limit")
            if name in ("format", "format_map"):
                check_format_string(bound.__self__)
        return super().call(__context, __obj, *args, **kwargs)

    def bounded_concat(self, values: Sequence[Any]) -> str:
        text = "".join(str(v) for v in values)
        if len(text) > MAX_TEXT:
            raise _refuse(f"a ~ concatenation of {len(text):,} characters")
        return text


def _checked_filter(fn: Any, width_at: int) -> Any:
    def checked(*args: Any, **kwargs: Any) -> Any:
        width = kwargs.get("width", args[width_at] if len(args) > width_at else 0)
        if isinstance(width, int) and abs(width) > MAX_TEXT:
            raise _refuse(f"the {fn.__name__.removeprefix('do_')} filter with width {width}")
        return fn(*args, **kwargs)

    return checked


def _format_filter(value: str, *args: Any, **kwargs: Any) -> str:
    check_format_string(value)
    return do_format(value, *args, **kwargs)


def bounded_render(template: Any, variables: dict[str, Any]) -> str:
    """Render with a fresh step budget, stopping as soon as the output passes MAX_TEXT."""
    token = _steps_left.set([MAX_STEPS])
    try:
        parts: list[str] = []
        size = 0
        for chunk in template.generate(**variables):
            size += len(chunk)
            if size > MAX_TEXT:
                raise _refuse(f"output longer than {MAX_TEXT:,} characters")
            parts.append(chunk)
        return "".join(parts)
    finally:
        _steps_left.reset(token)
