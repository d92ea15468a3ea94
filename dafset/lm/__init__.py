"""LLM parts: load a causal LM, score entity likelihoods, write robustness prefixes, build a toy.

Importing this package is cheap (no torch): the CLI imports ``dafset.lm.commands`` at start-up.
The public names below are resolved lazily on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "load_causal_lm": "dafset.lm.load",
    "LikelihoodScorer": "dafset.lm.score",
    "ScoreItem": "dafset.lm.score",
    "SpanScore": "dafset.lm.score",
    "ScoreStats": "dafset.lm.score",
    "EntityText": "dafset.lm.entities",
    "EntityLikelihood": "dafset.lm.entities",
    "entity_texts": "dafset.lm.entities",
    "score_entities": "dafset.lm.entities",
    "per_token": "dafset.lm.entities",
    "summed": "dafset.lm.entities",
    "FactProbe": "dafset.lm.knowledge",
    "Knowledge": "dafset.lm.knowledge",
    "fact_probes": "dafset.lm.knowledge",
    "score_knowledge": "dafset.lm.knowledge",
    "first_token_hits": "dafset.lm.knowledge",
    "Grounder": "dafset.lm.grounding",
    "SamplingParams": "dafset.lm.sampling",
    "PrefixBounds": "dafset.lm.filters",
    "PrefixGenerator": "dafset.lm.generate",
    "PrefixRequest": "dafset.lm.generate",
    "PrefixStats": "dafset.lm.generate",
    "train_toy_model": "dafset.lm.toy",
    "sentences_for_training": "dafset.lm.corpus",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dafset.lm' has no attribute {name!r}")
    return getattr(import_module(module), name)
