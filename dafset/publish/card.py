"""The README.md dataset card: YAML front matter that ``datasets.load_dataset(dir)`` reads
(``configs`` + ``dataset_info``, the layout ``push_to_hub`` makes) and a human part.

The features are declared from the Arrow schema, so ``load_dataset`` casts every column to exactly
the published types (it casts to declared features, e.g. int64 -> int32 if we declared int32).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import yaml

from dafset.errors import PublishError
from dafset.publish.layout import ALL_CONFIG, shard_glob
from dafset.schema import PORTABILITY_KINDS, PROPERTIES

DEFAULT_LICENSE = "cc-by-sa-4.0"

PROPERTY_TEXT = {
    "recent": "statements added to Wikidata in the 7 days before the snapshot date "
    "(statement level; `physically_new` marks facts whose own date falls in the window)",
    "popular": "triples of the most-viewed Wikipedia entities and a second hop from their tail "
    "entities; counterfactual targets, since models already know these facts",
    "long_tail": "rare entities by frequency (statement count), degree (in + out links) and "
    "likelihood (an LM's log-probability), each one shown rare by a real popularity signal "
    "(sitelinks, or page views in `evidence.pageviews`); every sample carries its head/torso/tail bucket",
    "robust": "variants of published popular/long_tail cases (`base_id` names the base case; "
    "`criterion` the variant kind) along length, an LM-written context prefix, and "
    "positive/negative sentiment prefixes (each with its VADER score in `prefix.score`)",
}


@dataclass(frozen=True)
class SplitFiles:
    """What was written for one config and split."""

    config: str
    split: str
    rows: int
    num_bytes: int  # in-memory Arrow size, as the Hub's dataset_info counts it
    files: tuple[str, ...]  # relative POSIX paths of the shards
    file_bytes: int


@dataclass(frozen=True)
class CardInputs:
    snapshot: str
    splits: Sequence[str]  # split order for tables and data_files
    written: Sequence[SplitFiles]
    criterion_counts: Mapping[tuple[str, str], Mapping[str, int]]  # (property, criterion) -> split -> n
    extra: Mapping[str, Any]
    created_at: str
    code: Mapping[str, Any]
    figures: Sequence[tuple[str, str]] = field(default_factory=tuple)  # (relative path, caption)
    has_facts: bool = False


# -- features in the Hub's YAML form ---------------------------------------------------------

_FLOATS = {pa.float16(): "float16", pa.float32(): "float32", pa.float64(): "float64"}


def _dtype_name(t: pa.DataType) -> str:
    if pa.types.is_boolean(t):
        return "bool"
    if t in _FLOATS:
        return _FLOATS[t]
    if pa.types.is_timestamp(t):
        return f"timestamp[{t.unit}, tz={t.tz}]" if t.tz else f"timestamp[{t.unit}]"
    if pa.types.is_integer(t) or pa.types.is_string(t) or pa.types.is_large_string(t):
        return str(t)
    if pa.types.is_date32(t) or pa.types.is_date64(t):
        return str(t)
    raise PublishError(f"card: no dataset_info dtype for Arrow type {t}")


def _type_yaml(t: pa.DataType) -> dict[str, Any]:
    if pa.types.is_struct(t):
        return {"struct": [{"name": f.name, **_type_yaml(f.type)} for f in t]}
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        key = "large_list" if pa.types.is_large_list(t) else "list"
        inner = _type_yaml(t.value_type)
        # the Hub's short forms: `list: string` and `list: [fields]` for a list of structs
        if list(inner) == ["dtype"]:
            return {key: inner["dtype"]}
        if list(inner) == ["struct"]:
            return {key: inner["struct"]}
        return {key: inner}
    return {"dtype": _dtype_name(t)}


def features_yaml(schema: pa.Schema) -> list[dict[str, Any]]:
    """``dataset_info.features`` for a schema, in the form ``Features._to_yaml_list`` writes."""
    return [{"name": f.name, **_type_yaml(f.type)} for f in schema]


# -- front matter ------------------------------------------------------------------------------


def _size_category(n: int) -> str:
    for limit, label in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
    ):
        if n < limit:
            return label
    return "10M<n<100M"


def config_names(written: Sequence[SplitFiles]) -> list[str]:
    """Property configs that have rows in at least one split, in PROPERTIES order."""
    have = {w.config for w in written if w.rows}
    return [p for p in PROPERTIES if p in have]


def card_metadata(inputs: CardInputs, schema: pa.Schema) -> dict[str, Any]:
    """The YAML front matter. A split with no rows is left out of its config: datasets 5.2 cannot
    load an empty split ('Instruction "train" corresponds to no data!'), and an empty Parquet
    row group fails with 'BatchSize must be greater than 0'."""
    feats = features_yaml(schema)
    by_config: dict[str, list[SplitFiles]] = {}
    for w in inputs.written:
        if w.rows:
            by_config.setdefault(w.config, []).append(w)
    order = {s: i for i, s in enumerate(inputs.splits)}
    configs: list[dict[str, Any]] = []
    infos: list[dict[str, Any]] = []

    all_splits = [s for s in inputs.splits if any(w.split == s for ws in by_config.values() for w in ws)]
    names = config_names(inputs.written)
    configs.append(
        {
            "config_name": ALL_CONFIG,
            "default": True,
            "data_files": [
                {
                    "split": s,
                    "path": [shard_glob(c, s) for c in names if any(w.split == s for w in by_config[c])],
                }
                for s in all_splits
            ],
        }
    )
    infos.append(_info(ALL_CONFIG, feats, [w for c in names for w in by_config[c]], inputs.splits))
    for c in names:
        ws = sorted(by_config[c], key=lambda w: order.get(w.split, len(order)))
        configs.append(
            {
                "config_name": c,
                "data_files": [{"split": w.split, "path": shard_glob(c, w.split)} for w in ws],
            }
        )
        infos.append(_info(c, feats, ws, inputs.splits))

    total = sum(w.rows for w in inputs.written)
    extra = inputs.extra
    return {
        "pretty_name": extra.get("pretty_name", "DAFSet"),
        "license": extra.get("license", DEFAULT_LICENSE),
        "language": ["en"],
        "task_categories": ["text-generation", "question-answering"],
        "size_categories": [_size_category(total)],
        "tags": ["knowledge-editing", "model-editing", "wikidata", "dafnet", "sequential-editing"],
        "configs": configs,
        "dataset_info": infos,
    }


def _info(
    name: str, feats: list[dict[str, Any]], ws: Sequence[SplitFiles], split_order: Sequence[str]
) -> dict[str, Any]:
    per_split: dict[str, list[int]] = {}
    for w in ws:
        acc = per_split.setdefault(w.split, [0, 0])
        acc[0] += w.num_bytes
        acc[1] += w.rows
    ordered = [s for s in split_order if s in per_split] + sorted(set(per_split) - set(split_order))
    splits = [{"name": s, "num_bytes": per_split[s][0], "num_examples": per_split[s][1]} for s in ordered]
    return {
        "config_name": name,
        "features": feats,
        "splits": splits,
        "download_size": sum(w.file_bytes for w in ws),
        "dataset_size": sum(s["num_bytes"] for s in splits),
    }


# -- the human part ----------------------------------------------------------------------------


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _md_value(value: Any) -> str:
    if isinstance(value, Mapping) and "snapshot" in value and "sources" in value:  # a data_date block
        dates = ", ".join(f"{k} {v.get('date')}" for k, v in value["sources"].items())
        return f"{value['snapshot']} (the data's: {dates}; see Caveats)"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {v}" for k, v in value.items()) if len(value) <= 6 else "see manifest.json"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) if len(value) <= 8 else "see manifest.json"
    return str(value).replace("|", "\\|").replace("\n", " ")


_PROVENANCE_KEYS = (
    "source",
    "endpoint",
    "snapshot_date",
    "data_date",
    "window",
    "dump",
    "model",
    "seed",
    "seeds",
    "skipped_criteria",
)


def caveats(extra: Mapping[str, Any]) -> list[str]:
    """Derived-data notes: ``caveats`` (list) and ``derived_data`` (str or list), if given."""
    out: list[str] = []
    for key in ("derived_data", "caveats"):
        value = extra.get(key)
        if isinstance(value, str) and value:
            out.append(value)
        elif isinstance(value, list | tuple):
            out.extend(str(v) for v in value if v)
    return out


def _license_name(license_id: str) -> str:
    return {"cc-by-sa-4.0": "CC BY-SA 4.0", "cc0-1.0": "CC0 1.0", "cc-by-4.0": "CC BY 4.0"}.get(
        license_id, license_id
    )


def render_body(inputs: CardInputs) -> str:
    """The Markdown after the front matter."""
    names = config_names(inputs.written)
    counts: dict[str, dict[str, int]] = {}
    for w in inputs.written:
        counts.setdefault(w.config, {})[w.split] = counts.get(w.config, {}).get(w.split, 0) + w.rows
    splits = list(inputs.splits)
    rows = []
    for p in PROPERTIES:
        row = [counts.get(p, {}).get(s, 0) for s in splits]
        rows.append([f"`{p}`", *row, sum(row)])
    totals = [sum(counts.get(p, {}).get(s, 0) for p in PROPERTIES) for s in splits]
    rows.append([f"`{ALL_CONFIG}`", *totals, sum(totals)])

    crit_rows = [
        [f"`{p}`", f"`{c}`", *[n.get(s, 0) for s in splits], sum(n.values())]
        for (p, c), n in sorted(
            inputs.criterion_counts.items(), key=lambda kv: (PROPERTIES.index(kv[0][0]), kv[0][1])
        )
    ]

    empty_configs = [p for p in PROPERTIES if p not in names]
    empty_splits = [f"`{p}`/{s}" for p in names for s in splits if counts.get(p, {}).get(s, 0) == 0]
    extra = inputs.extra
    out: list[str] = []
    add = out.append
    add(f"# DAFSet — snapshot {inputs.snapshot}\n")
    add(
        "DAFSet is the meta-training set of DAFNet (*DAFNet: Dynamic Auxiliary Fusion for "
        "Sequential Model Editing in Large Language Models*, Findings of ACL 2024, "
        "arXiv:2405.20588): knowledge-editing cases built from Wikidata. Each row is one edit "
        "case — a cloze `prompt` about a `subject`, the edit target `target_new`, paraphrases "
        "(`rephrase_prompts`), the fact as a `question`, locality probes (`locality`), "
        "portability probes (`portability`), context prefixes (`prefix`) and the "
        "`evidence` the case was selected on. Every property shares one schema; optional parts "
        "are empty lists, never missing.\n"
    )
    add(
        "Each locality probe is `{prompt, answers, kind}`: a fact the edit must not change, with "
        "every acceptable answer (label and good aliases). Kinds: `same_relation_similar` (same "
        "relation, a subject sharing the true object or an object of the same kind), "
        "`same_relation`, `same_subject` (another relation of the subject) and `unrelated`. Probes "
        "come only from facts that are no edit case of another split, so no probe reveals a "
        "held-out edit. `target_true` of an insertion is the value the new statement replaced, or "
        "null.\n"
    )
    add("## Properties (configs)\n")
    for p in PROPERTIES:
        add(f"- **`{p}`** — {PROPERTY_TEXT[p]}.")
    add(f"- **`{ALL_CONFIG}`** (default) — the four properties together.\n")
    if empty_configs:
        add(
            "No samples this snapshot for: "
            + ", ".join(f"`{p}`" for p in empty_configs)
            + " (those configs are absent from this card).\n"
        )
    add("## Loading\n")
    add("```python\nimport datasets\n")
    add('ds = datasets.load_dataset("path/to/this/dir")            # config "all"')
    first = names[0] if names else "recent"
    add(f'recent = datasets.load_dataset("path/to/this/dir", "{first}")')
    add("```\n")
    add(
        "Works offline (`HF_HUB_OFFLINE=1`) on the local directory; the layout is the one "
        "`push_to_hub` makes, so the same call works on a Hub copy. Exports for DAFNet's reference "
        "loader and for EasyEdit: `dafset export DIR --out OUT --format dafnet|easyedit`.\n"
    )
    add("## Counts\n")
    add(_table(["config", *splits, "total"], rows) + "\n")
    if crit_rows:
        add(_table(["property", "criterion", *splits, "total"], crit_rows) + "\n")
    add(
        "Splits are assigned by a stable hash of the fact (`subject_id`, `relation_id`): every "
        "sample of a fact, in any property and any weekly snapshot, lands in the same split, and "
        "no fact is in two splits."
        + (
            " Splits with no rows are left out of their config (datasets cannot load an empty "
            "split): " + ", ".join(empty_splits) + "."
            if empty_splits
            else ""
        )
        + "\n"
    )
    out.extend(_portability_section(extra.get("portability") or {}))
    add("## Provenance\n")
    prov = [["snapshot", inputs.snapshot], ["created_at", inputs.created_at]]
    prov += [[k, _md_value(extra[k])] for k in _PROVENANCE_KEYS if k in extra]
    code = inputs.code
    prov.append(
        ["code", f"dafset {code.get('dafset_version')}, commit {code.get('git_commit') or 'unknown'}"]
    )
    add(_table(["", ""], prov) + "\n")
    add(
        "`manifest.json` lists every file with its size, row count and sha256, the per "
        "config/split counts, and the full build parameters (thresholds and reference "
        "distributions, skipped criteria, rule-drop counts)."
        + (
            " `facts.parquet` holds the Fact table (one Wikidata statement plus its evidence) the "
            "samples were built from."
            if inputs.has_facts
            else ""
        )
        + "\n"
    )
    notes = caveats(extra)
    if notes:
        add("## Caveats (data date, derived data)\n")
        out.extend(f"- {c}" for c in notes)
        add("")
    if inputs.figures:
        add("## Figures\n")
        for path, caption in inputs.figures:
            add(f"![{caption}]({path})\n")
    add("## License\n")
    why = (
        " The bundled sample's facts come from BEAR, which is share-alike, hence CC BY-SA 4.0 for the whole."
        if extra.get("source") == "sample"
        else ""
    )
    add(
        f"Released under {_license_name(extra.get('license', DEFAULT_LICENSE))}. Wikidata's own "
        f"data is CC0.{why} Prompts and paraphrases are generated from templates (and, where "
        "noted, by a language model).\n"
    )
    return "\n".join(out)


def _portability_section(report: Mapping[str, Any]) -> list[str]:
    """Share of cases with each portability kind, per config (from the build's manifest)."""
    shares = report.get("share_with_kind") or {}
    if not shares:
        return []
    order = [c for c in (*PROPERTIES, ALL_CONFIG) if c in shares]
    rows = [[f"`{c}`", *(f"{100 * shares[c].get(k, 0):.1f}%" for k in PORTABILITY_KINDS)] for c in order]
    return [
        "## Portability probes\n",
        "Ripple-effect probes in the style of RippleEdits, `{prompt, answers, kind}`, whose answers "
        "hold after the edit: `subject_aliasing` (the edit prompt with an alias of the subject), "
        "`compositional` (a second hop through the new target, answers from Wikidata), `logical` "
        "(the edit read back through a symmetric or inverse relation) and `preservation` (the other "
        "values of a multi-valued relation still hold). A kind is present only where the graph "
        "supports it; share of cases with at least one probe of each kind:\n",
        _table(["config", *(f"`{k}`" for k in PORTABILITY_KINDS)], rows) + "\n",
    ]


class _NoAliasDumper(yaml.SafeDumper):
    """Write repeated blocks (the features of every config) out in full, not as &id001 anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render_card(inputs: CardInputs, schema: pa.Schema) -> str:
    """The whole README.md: ``---`` YAML ``---`` then Markdown."""
    meta = yaml.dump(
        card_metadata(inputs, schema),
        Dumper=_NoAliasDumper,
        sort_keys=False,
        allow_unicode=True,
        width=1000,
    )
    return f"---\n{meta}---\n\n{render_body(inputs)}"
