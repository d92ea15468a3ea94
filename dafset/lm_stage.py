"""The build's LLM slots: the long-tail ``likelihood`` criterion and the robust ``context`` and
``sentiment`` prefixes. With no ``--model`` they are skipped, and the manifest says so."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from dafset.config import BuildConfig

log = logging.getLogger("dafset.build")

LLM_CRITERIA = ("long_tail/likelihood", "robust/context", "robust/sentiment")


def likelihood_scores(
    cfg: BuildConfig, facts: list[dict[str, Any]]
) -> tuple[dict[str, float] | None, dict[str, Any]]:
    if cfg.model is None:
        log.warning("no --model given: skipped criteria %s", ", ".join(LLM_CRITERIA))
        return None, {"model": None, "skipped_criteria": list(LLM_CRITERIA)}
    raise NotImplementedError


def prefix_writer(
    cfg: BuildConfig,
) -> tuple[Callable[..., list[dict[str, Any]]] | None, Callable[[], dict[str, Any]]]:
    if cfg.model is None:
        return None, dict
    raise NotImplementedError
