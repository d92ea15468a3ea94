"""A toy world for tests and benches (named as a toy wherever it appears): made-up subjects and
facts, a word-level tokenizer trained on their sentences, tiny randomly initialised GPT-2 / Llama
models, brief pre-training so the model "knows" the true facts, and a writer for a DAFSet directory
in the published layout (README.md YAML ``configs:`` + data/<config>/<split>-NNNNN-of-NNNNN.parquet,
rows validated against dafset.schema.SAMPLE_SCHEMA). No downloads anywhere.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

# relation -> (prompt template, rephrase templates, values); "{s}" is the subject
RELATIONS: dict[str, tuple[str, list[str], list[str]]] = {
    "city": (
        "{s} lives in the city of",
        ["The home town of {s} is", "{s} has a house in"],
        ["Paris", "Lagos", "Lima", "Oslo", "Kyoto", "Cairo", "Quito", "Perth"],
    ),
    "language": (
        "The native language of {s} is",
        ["{s} grew up speaking", "The mother tongue of {s} is"],
        ["French", "Swahili", "Tamil", "Polish", "Dutch", "Korean", "Greek", "Hindi"],
    ),
    "job": (
        "{s} works as a",
        ["The profession of {s} is", "By trade {s} is a"],
        ["baker", "pilot", "nurse", "farmer", "lawyer", "painter", "sailor", "chemist"],
    ),
    "instrument": (
        "{s} plays the",
        ["The instrument of {s} is the", "On stage {s} performs on the"],
        ["piano", "violin", "guitar", "flute", "drums", "cello", "harp", "trumpet"],
    ),
    "colour": (
        "The favourite colour of {s} is",
        ["{s} likes the colour", "The colour that {s} prefers is"],
        ["red", "blue", "green", "yellow", "purple", "orange", "white", "black"],
    ),
}
PREFIXES = [
    ("The weather was calm and the market was busy that morning", "context", "neutral"),
    ("Everyone agrees this is a wonderful and joyful story", "sentiment", "positive"),
    ("Sadly the report was full of terrible and gloomy news", "sentiment", "negative"),
    (
        "In a long letter written many years ago someone noted the following about the town",
        "length",
        "neutral",
    ),
]
_SYL = ["ba", "ko", "ri", "tel", "mun", "sa", "vo", "lin", "dra", "pe", "zu", "quor", "fen", "ga", "hil"]


def toy_subjects(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    names: set[str] = set()
    while len(names) < n:
        first = "".join(rng.choice(_SYL) for _ in range(2)).capitalize()
        last = "".join(rng.choice(_SYL) for _ in range(2)).capitalize()
        names.add(f"{first} {last}")
    return sorted(names)


def toy_world(n_subjects: int = 60, seed: int = 0) -> dict[str, dict[str, str]]:
    """subject -> relation -> true value."""
    rng = random.Random(seed)
    return {
        s: {r: rng.choice(v) for r, (_, _, v) in RELATIONS.items()} for s in toy_subjects(n_subjects, seed)
    }


def toy_corpus(world: Mapping[str, Mapping[str, str]]) -> list[str]:
    """Every true fact in every template: what the toy LM is pre-trained on."""
    out = []
    for s, facts in world.items():
        for r, value in facts.items():
            prompt, rephrases, _ = RELATIONS[r]
            out.extend(f"{t.format(s=s)} {value}" for t in [prompt, *rephrases])
    return out


def toy_samples(
    world: Mapping[str, Mapping[str, str]], n: int, seed: int = 0, snapshot: str = "2024-01-01"
) -> list[dict[str, Any]]:
    """``n`` edit cases in the DAFSet Sample schema: counterfactual targets on known facts, each with
    rephrases, two locality prompts (same relation / same subject) and, for robust, prefixes."""
    rng = random.Random(seed)
    subjects = sorted(world)
    pairs = [(s, r) for s in subjects for r in RELATIONS]
    rng.shuffle(pairs)
    props = ("recent", "popular", "long_tail", "robust")
    rows = []
    for k, (s, r) in enumerate(pairs[:n]):
        prompt, rephrases, values = RELATIONS[r]
        true = world[s][r]
        new = rng.choice([v for v in values if v != true])
        other = rng.choice([o for o in subjects if o != s])
        r2 = rng.choice([x for x in RELATIONS if x != r])
        prop = props[k % len(props)]
        criterion = {
            "recent": "added",
            "popular": "pageviews",
            "long_tail": "frequency",
            "robust": "context",
        }[prop]
        rows.append(
            {
                "id": hashlib.sha1(f"{s}|{r}".encode()).hexdigest()[:16],
                "property": prop,
                "criterion": criterion,
                "subject": s,
                "subject_id": f"Q{1000 + subjects.index(s)}",
                "relation_id": f"P{100 + list(RELATIONS).index(r)}",
                "relation_label": r,
                "prompt": prompt.format(s=s),
                "target_new": new,
                "target_true": true,
                "answers": [true],
                "edit_kind": "counterfactual",
                "rephrase_prompts": [t.format(s=s) for t in rephrases],
                "locality": [
                    {"prompt": prompt.format(s=other), "answers": [world[other][r]], "kind": "same_relation"},
                    {
                        "prompt": RELATIONS[r2][0].format(s=s),
                        "answers": [world[s][r2]],
                        "kind": "same_subject",
                    },
                ],
                "prefix": (
                    [{"text": t, "kind": kd, "polarity": pol} for t, kd, pol in rng.sample(PREFIXES, 2)]
                    if prop == "robust"
                    else []
                ),
                "snapshot": snapshot,
            }
        )
    return rows


# -- DAFSet directory ---------------------------------------------------------------------------


def write_dafset(splits: Mapping[str, Sequence[Mapping[str, Any]]], out_dir: str | Path) -> Path:
    """Write rows (per split) as a DAFSet directory readable by ``datasets.load_dataset(dir, cfg)``:
    one config per property present plus ``all`` (the default)."""
    import pyarrow.parquet as pq
    import yaml

    from dafset.schema import SAMPLE_SCHEMA, rows_to_table

    out = Path(out_dir)
    configs: dict[str, dict[str, list[Mapping[str, Any]]]] = {"all": {}}
    for split, rows in splits.items():
        for row in rows:
            configs["all"].setdefault(split, []).append(row)
            configs.setdefault(row["property"], {}).setdefault(split, []).append(row)
    card = []
    for name, by_split in configs.items():
        files = []
        for split, rows in by_split.items():
            path = out / "data" / name / f"{split}-00000-of-00001.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(rows_to_table(rows, SAMPLE_SCHEMA), path)
            files.append({"split": split, "path": f"data/{name}/{split}-*.parquet"})
        entry: dict[str, Any] = {"config_name": name, "data_files": files}
        if name == "all":
            entry["default"] = True
        card.append(entry)
    header = yaml.safe_dump({"configs": card}, sort_keys=False)
    (out / "README.md").write_text(f"---\n{header}---\n\n# Toy DAFSet (synthetic, for tests)\n")
    return out


def toy_dafset(
    out_dir: str | Path, n_subjects: int = 60, n_train: int = 160, n_test: int = 60, seed: int = 0
) -> tuple[Path, dict[str, dict[str, str]]]:
    """A toy world and a DAFSet directory of its edit cases (train / test splits)."""
    world = toy_world(n_subjects, seed)
    rows = toy_samples(world, n_train + n_test, seed)
    return write_dafset({"train": rows[:n_train], "test": rows[n_train:]}, out_dir), world


# -- tokenizer and models -----------------------------------------------------------------------


def word_tokenizer(texts: Iterable[str]) -> Any:
    """A word-level tokenizer (whitespace/punctuation split) over ``texts``."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(
        list(texts), trainers.WordLevelTrainer(special_tokens=["[PAD]", "[UNK]", "[EOS]"])
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", eos_token="[EOS]"
    )


def tiny_gpt2(
    vocab_size: int,
    n_layer: int = 2,
    n_embd: int = 64,
    n_head: int = 4,
    n_positions: int = 128,
    seed: int = 0,
) -> Any:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    cfg = GPT2Config(
        vocab_size=vocab_size,
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=0,
    )
    return GPT2LMHeadModel(cfg).eval()


def tiny_llama(
    vocab_size: int,
    n_layer: int = 2,
    hidden: int = 64,
    n_head: int = 4,
    intermediate: int = 128,
    seed: int = 0,
) -> Any:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=n_layer,
        num_attention_heads=n_head,
        num_key_value_heads=n_head,
        max_position_embeddings=128,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=0,
    )
    return LlamaForCausalLM(cfg).eval()


def pretrain(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    steps: int = 300,
    batch_size: int = 32,
    lr: float = 3e-3,
    seed: int = 0,
) -> list[float]:
    """Brief causal-LM training on ``texts`` (all tokens), so the toy model knows its facts."""
    import torch

    rng = random.Random(seed)
    params = [p for p in model.parameters()]
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    model.train()
    losses = []
    for _ in range(steps):
        batch = tokenizer(
            rng.sample(list(texts), min(batch_size, len(texts))), return_tensors="pt", padding=True
        )
        labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
        loss = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    model.eval()
    for p in params:
        p.requires_grad_(False)
    return losses
