"""Edit cases in, token batches out.

Readers: a published DAFSet directory (through ``datasets.load_dataset(dir, config)``; only the
published schema is assumed, never the harvesting code), zsRE in MEND's JSON format and
CounterFact in DAFNet's JSON format. All become :class:`EditCase`.

Tokenisation: prompt and target are tokenised *together* ("prompt target", one space) and the
target's token positions are read from that joint encoding (character offsets), because BPE merges
at the boundary make "tokenise the prompt, then the target" disagree with what the model sees.
"""

from __future__ import annotations

import json
import random
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from dafset.errors import DafsetError

Format = Literal["dafset", "zsre", "counterfact"]
PROPERTY_CONFIGS = ("recent", "popular", "long_tail", "robust")


class DataError(DafsetError):
    """Edit data that cannot be read or used."""


@dataclass(frozen=True)
class LocalityPrompt:
    prompt: str
    answer: str
    kind: str = ""


@dataclass
class EditCase:
    prompt: str
    target_new: str
    subject: str = ""
    target_true: str | None = None
    rephrases: list[str] = field(default_factory=list)
    locality: list[LocalityPrompt] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    property: str = ""
    criterion: str = ""
    id: str = ""
    relation_id: str = ""  # cases of one relation give the "other subject" prompts of specificity
    edit_kind: str = ""  # DAFSet: counterfactual (target_true is the truth) or insertion (target_new is)


def truth_of(case: EditCase) -> str | None:
    """The fact as the world has it: target_true, or for an insertion (a true fact the model is
    taught, with no earlier value) the target itself. (A method would clash with the ``property``
    field's name inside the class.)"""
    if case.target_true:
        return case.target_true
    return case.target_new if case.edit_kind == "insertion" else None


# -- readers ------------------------------------------------------------------------------------


def case_from_sample(row: Mapping[str, Any]) -> EditCase:
    """One DAFSet Sample row (dafset.schema.SAMPLE_SCHEMA) as an EditCase."""
    return EditCase(
        prompt=row["prompt"],
        target_new=row["target_new"],
        subject=row.get("subject") or "",
        target_true=row.get("target_true"),
        rephrases=list(row.get("rephrase_prompts") or []),
        locality=[
            LocalityPrompt(lp["prompt"], lp["answers"][0], lp.get("kind") or "")
            for lp in row.get("locality") or []
            if lp.get("prompt") and lp.get("answers")
        ],
        prefixes=[p["text"] for p in row.get("prefix") or [] if p.get("text")],
        property=row.get("property") or "",
        criterion=row.get("criterion") or "",
        id=row.get("id") or "",
        relation_id=row.get("relation_id") or "",
        edit_kind=row.get("edit_kind") or "",
    )


def dafset_configs(path: str | Path) -> list[str]:
    """Config names declared in a DAFSet directory's README (recent, popular, ..., all)."""
    from datasets import get_dataset_config_names

    try:
        return list(get_dataset_config_names(str(path)))
    except Exception as exc:  # datasets raises several types for a bad card
        raise DataError(f"{path}: cannot read the dataset card's configs ({exc})") from exc


def load_dafset(
    path: str | Path, split: str, configs: Sequence[str] | None = None
) -> dict[str, list[EditCase]]:
    """Cases per config. Default configs: every property config present (recent, popular,
    long_tail, robust), falling back to ``all``. Empty configs are left out."""
    from datasets import load_dataset

    path = Path(path)
    if not (path / "README.md").is_file():
        raise DataError(f"{path}: not a DAFSet directory (no README.md with `configs:`)")
    _verify_if_published(path)
    available = dafset_configs(path)
    if configs:
        missing = [c for c in configs if c not in available]
        if missing:
            raise DataError(f"{path}: no config(s) {missing}; available: {available}")
        wanted = list(configs)
    else:
        wanted = [c for c in PROPERTY_CONFIGS if c in available] or ["all"]
    out: dict[str, list[EditCase]] = {}
    for name in wanted:
        # A fresh cache per load: datasets keys the cache of a local directory by its base name and
        # config, not its content, so a second snapshot at the same name (e.g. `latest`) would
        # silently load the first one's rows.
        with tempfile.TemporaryDirectory(prefix="dafset-load-") as cache:
            try:
                ds = load_dataset(str(path), name, split=split, cache_dir=cache)
            except ValueError as exc:  # unknown split for this config
                if "split" in str(exc).lower():
                    continue
                raise DataError(f"{path}: config {name!r}: {exc}") from exc
            cases = [case_from_sample(r) for r in ds]
        if cases:
            out[name] = cases
    if not out:
        raise DataError(f"{path}: no rows in split {split!r} of config(s) {wanted}")
    return out


def _verify_if_published(path: Path) -> None:
    """A snapshot that ``dafset build`` published carries a manifest: train on it only when every
    file matches (a folder of other Hugging Face data has none and is read as it is)."""
    from dafset.errors import DafsetError
    from dafset.publish.layout import MANIFEST, resolve_snapshot
    from dafset.publish.manifest import verified_snapshot

    try:
        snapshot = resolve_snapshot(path)
    except DafsetError:
        return
    if (snapshot / MANIFEST).is_file():
        verified_snapshot(snapshot)


def load_zsre(path: str | Path) -> list[EditCase]:
    """zsRE in MEND's format: src, alt (the edit target), answers, rephrase, loc, loc_ans, subject.
    Records with an empty ``alt`` are skipped (as EasyEdit does)."""
    out = []
    for r in _read_json_list(path):
        if not r.get("alt"):
            continue
        answers = r.get("answers") or []
        out.append(
            EditCase(
                prompt=r["src"],
                target_new=r["alt"],
                subject=r.get("subject", ""),
                target_true=answers[0] if answers else None,
                rephrases=[r["rephrase"]] if r.get("rephrase") else [],
                locality=[LocalityPrompt(r["loc"], r["loc_ans"], "nq")] if r.get("loc") else [],
                property="zsre",
                id=str(r.get("case_id", len(out))),
                relation_id=str(r.get("relation_id") or ""),
            )
        )
    return out


def load_counterfact(path: str | Path) -> list[EditCase]:
    """CounterFact as DAFNet ships it: case_id, prompt, target_new, subject, ground_truth,
    rephrase_prompt, locality_prompt, locality_ground_truth (``cf_train.json`` lacks the ids)."""
    out = []
    for r in _read_json_list(path):
        loc = r.get("locality_prompt")
        out.append(
            EditCase(
                prompt=r["prompt"],
                target_new=r["target_new"],
                subject=r.get("subject", ""),
                target_true=r.get("ground_truth"),
                rephrases=[r["rephrase_prompt"]] if r.get("rephrase_prompt") else [],
                locality=[LocalityPrompt(loc, r["locality_ground_truth"], "cf")] if loc else [],
                property="counterfact",
                id=str(r.get("case_id", len(out))),
                relation_id=str(r.get("relation_id") or ""),
            )
        )
    return out


def _read_json_list(path: str | Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: cannot read JSON ({exc})") from exc
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of records")
    return data


def load_cases(
    path: str | Path, fmt: Format = "dafset", split: str = "train", configs: Sequence[str] | None = None
) -> dict[str, list[EditCase]]:
    """Cases grouped by source (one group per DAFSet config, or a single zsre/counterfact group)."""
    if fmt == "dafset":
        return load_dafset(path, split, configs)
    if fmt == "zsre":
        return {"zsre": load_zsre(path)}
    if fmt == "counterfact":
        return {"counterfact": load_counterfact(path)}
    raise DataError(f"unknown data format {fmt!r} (dafset, zsre, counterfact)")


# -- derived prompts ----------------------------------------------------------------------------


def with_prefix(prefix: str, prompt: str, max_words: int) -> str:
    """A robust-context prompt: the prefix cut to ``max_words`` words, ended with '. ' (reference)."""
    words = prefix.split()[:max_words]
    head = " ".join(words).rstrip(" .")
    return f"{head}. {prompt}" if head else prompt


def prefixed_rephrases(case: EditCase, max_words: int, rng: random.Random | None = None) -> list[str]:
    """Generality prompts of a robust sample: a prefix before each rephrase (or the prompt)."""
    if not case.prefixes:
        return []
    bases = case.rephrases or [case.prompt]
    if rng is None:  # evaluation: deterministic pairing
        return [with_prefix(p, bases[i % len(bases)], max_words) for i, p in enumerate(case.prefixes)]
    return [with_prefix(rng.choice(case.prefixes), b, max_words) for b in bases]


# -- tokenisation -------------------------------------------------------------------------------


@dataclass
class TokenBatch:
    """Right-padded ``prompt target`` sequences. ``label_mask[b, t]`` is True where token t is a
    target token (so it is predicted by the logits at t-1)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    label_mask: torch.Tensor

    def to(self, device: torch.device | str) -> TokenBatch:
        return TokenBatch(*(t.to(device) for t in (self.input_ids, self.attention_mask, self.label_mask)))

    def __len__(self) -> int:
        return self.input_ids.shape[0]


def _join(prompt: str, target: str) -> tuple[str, str]:
    # one space between prompt and target, whatever spacing the data carries
    p = prompt.rstrip()
    return p, f"{p} {target.strip()}"


def encode_one(tokenizer: Any, prompt: str, target: str, max_length: int) -> tuple[list[int], list[bool]]:
    """Token ids of "prompt target" and which of them are target tokens."""
    p, full = _join(prompt, target)
    if getattr(tokenizer, "is_fast", False):
        enc = tokenizer(full, add_special_tokens=True, return_offsets_mapping=True)
        ids = list(enc["input_ids"])
        # a token is a target token when it covers a character after the prompt; special tokens
        # have (0, 0) offsets and so never count
        is_tgt = [end > len(p) for (_, end) in enc["offset_mapping"]]
    else:  # slow tokenizers have no offsets: require the prompt to be a token prefix
        ids = list(tokenizer(full, add_special_tokens=True)["input_ids"])
        pids = list(tokenizer(p, add_special_tokens=True)["input_ids"])
        if ids[: len(pids)] != pids:
            raise DataError(f"prompt is not a token prefix of prompt+target: {full!r}")
        is_tgt = [i >= len(pids) for i in range(len(ids))]
    if not any(is_tgt):
        raise DataError(f"target {target!r} has no tokens in {full!r}")
    if len(ids) > max_length:  # keep the end: the target matters more than the prompt's start
        ids, is_tgt = ids[-max_length:], is_tgt[-max_length:]
    is_tgt[0] = False  # the first token has no context to be predicted from
    return ids, is_tgt


def encode_pairs(
    tokenizer: Any, prompts: Sequence[str], targets: Sequence[str], max_length: int = 128
) -> TokenBatch:
    if len(prompts) != len(targets):
        raise ValueError("prompts and targets differ in length")
    rows = [encode_one(tokenizer, p, t, max_length) for p, t in zip(prompts, targets, strict=True)]
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id
    if pad is None:
        pad = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    att = torch.zeros((len(rows), width), dtype=torch.long)
    lab = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, (r, m) in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        att[i, : len(r)] = 1
        lab[i, : len(r)] = torch.tensor(m)
    return TokenBatch(ids, att, lab)


def chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def split_batch(batch: TokenBatch, size: int) -> list[TokenBatch]:
    """Sub-batches of at most ``size`` rows, each trimmed to its own longest sequence."""
    out = []
    for i in range(0, len(batch), size):
        att = batch.attention_mask[i : i + size]
        width = int(att.sum(1).max())
        out.append(
            TokenBatch(
                batch.input_ids[i : i + size, :width], att[:, :width], batch.label_mask[i : i + size, :width]
            )
        )
    return out
