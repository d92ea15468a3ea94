"""Issue 19 item 3: the likelihood criterion measures what the model knows about an entity, not how
long its name is (tiny models written here; the real-model figures are in bench/real_llm.py)."""

from __future__ import annotations

import pytest
from test_lm_support import spearman, tiny_llama, tiny_tokenizer

torch = pytest.importorskip("torch")

from dafset.lm.entities import entity_texts, score_entities, summed  # noqa: E402
from dafset.lm.knowledge import fact_probes, first_token_hits, score_knowledge  # noqa: E402
from dafset.lm.score import LikelihoodScorer  # noqa: E402
from dafset.lm.validation import knowledge_validation  # noqa: E402
from dafset.properties.long_tail import buckets, likelihood_mass  # noqa: E402

CITIES = ("Paris", "Berlin", "Rome", "Madrid")
PROMPT = {"P19": "{{ subject }} was born in"}
# invented names, one to many tokens long, none of them in the tokenizer's training text
NAMES = [
    "Zo",
    "Quill",
    "Vesk Amor",
    "Tarrow Lindqvist",
    "Ubel Krantz Ottaviano",
    "Miravelle Thistlecombe",
    "Ode",
    "Brannoch Vey",
    "Kestrel Ashgrove Pemberton",
    "Yul",
    "Corvina Sallow",
    "Ignatius Fernwhistle Quarrington",
    "Pell",
    "Dasha Wren",
    "Oswin Blackmere",
    "Liora Tamsin Evergreen",
]


def fact(i: int, name: str) -> dict:
    return {
        "subject_id": f"Q{i}",
        "subject_label": name,
        "relation_id": "P19",
        "object_id": f"C{i // 2 % 4}",
        "object_label": CITIES[i // 2 % 4],
        "object_value": CITIES[i // 2 % 4],
        "value_type": "item",
    }


def context_free_llama():
    """A model whose next token depends on the current token only: every layer adds nothing to
    the residual stream, so naming the subject cannot change what follows the prompt."""
    model = tiny_llama(seed=1)
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
    return model


def test_the_score_does_not_grow_with_the_label_token_count() -> None:
    tok = tiny_tokenizer()
    facts = [fact(i, name) for i, name in enumerate(NAMES)]
    scorer = LikelihoodScorer(context_free_llama(), tok)
    lengths = {f"Q{i}": len(tok(name, add_special_tokens=False)["input_ids"]) for i, name in enumerate(NAMES)}
    assert len(set(lengths.values())) >= 4  # the constructed case spans short and long labels
    knowledge = score_knowledge(scorer, fact_probes(facts, prompts=PROMPT))
    assert set(knowledge) == set(lengths)
    # the model knows nothing about any of them, whatever their length: every score is zero
    assert all(abs(k.pmi) < 1e-4 for k in knowledge.values()), {q: k.pmi for q, k in knowledge.items()}
    # the old criterion, the summed log-probability of the label, falls with every token
    old = summed(score_entities(scorer, entity_texts(facts, max_statements=1)))
    ids = sorted(old)
    assert spearman([old[q] for q in ids], [lengths[q] for q in ids]) < -0.8


def train_on(model, tokenizer, sentences: list[str], steps: int = 250) -> None:
    torch.manual_seed(0)
    ids = [tokenizer(s, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id] for s in sentences]
    bos = tokenizer.bos_token_id
    width = max(len(x) for x in ids) + 1
    batch = torch.full((len(ids), width), tokenizer.pad_token_id)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for row, x in enumerate(ids):
        batch[row, : len(x) + 1] = torch.tensor([bos, *x])
        mask[row, : len(x) + 1] = 1
    labels = batch.masked_fill(mask == 0, -100)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        loss = model(input_ids=batch, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()


def test_a_fact_the_model_was_trained_on_ranks_above_one_it_was_not() -> None:
    tok = tiny_tokenizer()
    facts = [fact(i, name) for i, name in enumerate(NAMES)]
    known = {f["subject_id"] for f in facts[::2]}  # half the entities, every city among them
    model = tiny_llama(seed=2)
    train_on(model, tok, [f"{f['subject_label']} was born in {f['object_label']}." for f in facts[::2]])
    probes = fact_probes(facts, prompts=PROMPT)
    knowledge = score_knowledge(LikelihoodScorer(model, tok), probes)
    trained = [knowledge[q].pmi for q in knowledge if q in known]
    unseen = [knowledge[q].pmi for q in knowledge if q not in known]
    # a tiny model generalises from pieces of names, so not every pair is ordered; most must be
    auc = sum(a > b for a in trained for b in unseen) / (len(trained) * len(unseen))
    assert auc >= 0.85, (trained, unseen)
    assert sum(trained) / len(trained) > sum(unseen) / len(unseen) + 2  # nats
    hits = first_token_hits(model, tok, probes)
    assert all(h for p, h in zip(probes, hits, strict=True) if p.entity_id in known)
    assert sum(h for p, h in zip(probes, hits, strict=True) if p.entity_id not in known) <= len(unseen) / 2
    # the build's validation figures say so too
    scores = {q: k.pmi for q, k in knowledge.items()}
    report = knowledge_validation(
        scores,
        {"trained": {q: float(q in known) for q in scores}},
        {p.entity_id: [h] for p, h in zip(probes, hits, strict=True)},
        buckets(likelihood_mass(scores)),
        eligible={q for q in scores if q not in known},
    )
    assert report["spearman"]["trained"] > 0.6  # rank correlation with a 0/1 signal: AUC 0.85 gives ~0.6
    assert report["fact_accuracy"]["rest"] == 1.0
    assert report["bucket_shares"]["tail"] >= 0.5  # every unseen entity holds no mass


def test_buckets_by_knowledge_mass_are_not_degenerate() -> None:
    # scores in nats: a spread like the real model's (docs/likelihood.md), not exp(log p)
    scores = {f"Q{i}": (i % 40) / 4 - 2 for i in range(400)}
    shares = {
        b: list(buckets(likelihood_mass(scores)).values()).count(b) / 400 for b in ("head", "torso", "tail")
    }
    assert all(0.05 < s < 0.9 for s in shares.values()), shares
    assert all(b == "tail" for q, b in buckets(likelihood_mass(scores)).items() if scores[q] <= 0)


def test_literal_facts_and_surplus_facts_are_not_probed() -> None:
    facts = [
        fact(i, "Zo") | {"subject_id": "Q1", "object_label": c, "object_value": c}
        for i, c in enumerate(CITIES)
    ]
    facts.append({**facts[0], "value_type": "time", "object_label": "1952"})
    probes = fact_probes(facts, max_facts=3, prompts=PROMPT)
    assert len(probes) == 3 and all(p.object in CITIES for p in probes)
    assert probes[0].prompt == "Zo was born in" and probes[0].null_prompt == "X was born in"
