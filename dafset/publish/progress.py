"""A small progress display for long steps: a rich spinner/bar on a terminal, plain log lines
elsewhere (CI logs, files), so the same code reads well in both.

    with stage("harvest recent", total=len(relations)) as s:
        for rel in relations:
            ...
            s.advance()

Stages nest: an inner stage becomes one more line of the outer live display (rich allows only
one live display at a time).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

Mode = Literal["auto", "rich", "plain", "off"]
_ENV = "DAFSET_PROGRESS"  # auto | rich | plain | off

_live: Progress | None = None


class Stage:
    """Handle for one running stage; ``advance(n)`` moves it on."""

    def __init__(
        self,
        name: str,
        total: int | None,
        out: TextIO | None,
        progress: Progress | None,
        task: TaskID | None,
        every_s: float,
    ) -> None:
        self.name = name
        self.total = total
        self.completed = 0
        self.tokens = 0  # model tokens, for LLM stages: shown as tokens/s
        self.started = time.monotonic()
        self._out = out
        self._progress = progress
        self._task = task
        self._every_s = every_s
        self._last_log = self.started

    def advance(self, n: int = 1, tokens: int = 0) -> None:
        """``n`` more items done; ``tokens``: model tokens they took (LLM stages), for a rate."""
        self.completed += n
        self.tokens += tokens
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=n, rate=self.rate())
        elif self._out is not None:
            now = time.monotonic()
            if now - self._last_log >= self._every_s:
                self._last_log = now
                self._log(f"{self._position()} ({now - self.started:.1f}s{self._rate_suffix()})")

    def rate(self) -> str:
        """"12.3 items/s, 456 tokens/s" so far ("" before the first second)."""
        elapsed = time.monotonic() - self.started
        if elapsed < 1 or not self.completed:
            return ""
        text = f"{self.completed / elapsed:.1f} items/s"
        return text + (f", {self.tokens / elapsed:.0f} tokens/s" if self.tokens else "")

    def _rate_suffix(self) -> str:
        rate = self.rate()
        return f", {rate}" if rate else ""

    def set_total(self, total: int | None) -> None:
        """For a step that learns its size only after it starts."""
        self.total = total
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, total=total)

    def _position(self) -> str:
        if self.total:
            return f"{self.completed}/{self.total} ({100 * self.completed / self.total:.0f}%)"
        return f"{self.completed}"

    def _log(self, text: str) -> None:
        assert self._out is not None
        self._out.write(f"[dafset] {self.name}: {text}\n")
        self._out.flush()


def _resolve(mode: Mode, stream: TextIO) -> Mode:
    if mode == "auto":
        mode = os.environ.get(_ENV, "auto")  # type: ignore[assignment]
    if mode == "auto":
        is_tty = hasattr(stream, "isatty") and stream.isatty()
        mode = "rich" if is_tty and not os.environ.get("CI") else "plain"
    return mode


@contextmanager
def stage(
    name: str,
    total: int | None = None,
    *,
    mode: Mode = "auto",
    stream: TextIO | None = None,
    log_every_s: float = 10.0,
) -> Iterator[Stage]:
    """Show progress for the block. On a TTY: a spinner (or a bar when ``total`` is known).
    Otherwise: a start line, a line at most every ``log_every_s`` seconds, and a done/failed line.
    ``mode`` (or env ``DAFSET_PROGRESS``): auto, rich, plain, off."""
    global _live
    stream = stream or sys.stderr
    mode = _resolve(mode, stream)
    if mode == "off":
        yield Stage(name, total, None, None, None, log_every_s)
        return
    if mode == "plain":
        s = Stage(name, total, stream, None, None, log_every_s)
        s._log("start" + (f" ({total} to do)" if total else ""))
        try:
            yield s
        except BaseException as exc:
            s._log(f"failed after {time.monotonic() - s.started:.1f}s ({type(exc).__name__})")
            raise
        done = f"done {s._position()} in" if s.total or s.completed else "done in"
        s._log(f"{done} {time.monotonic() - s.started:.1f}s{s._rate_suffix()}")
        return

    outer = _live is None
    if outer:
        _live = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[rate]}"),
            console=Console(file=stream),
            transient=False,
        )
        _live.start()
    progress = _live
    assert progress is not None
    task = progress.add_task(name, total=total, rate="")
    s = Stage(name, total, None, progress, task, log_every_s)
    try:
        yield s
        if total is None:
            progress.update(task, total=s.completed or 1, completed=s.completed or 1)
    finally:
        if outer:
            progress.stop()
            _live = None
