"""The ``dafset`` command. Each subcommand lives beside the code it drives (``<area>/commands.py``);
this module only registers them, so ``dafset --help`` stays fast (heavy imports happen inside
the commands)."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Build DAFSet (recent, popular, long-tail, robust edit cases from Wikidata) and train DAFNet.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    # One import line per area; each module exposes plain typer-annotated functions.
    from dafset import commands as build_commands

    app.command("build")(build_commands.build)
    app.command("stats")(build_commands.stats)
    app.command("export")(build_commands.export)
    app.command("sample")(build_commands.sample)
    app.command("sample-dump")(build_commands.sample_dump)
    app.command("dump-stats")(build_commands.dump_stats)
    app.command("ingest-dump")(build_commands.ingest_dump)
    try:
        from dafset.lm import commands as lm_commands
    except ImportError:  # the lm area is optional until it lands
        lm_commands = None
    if lm_commands is not None:
        app.command("toy-model")(lm_commands.toy_model)
        app.command("fetch-model")(lm_commands.fetch_model)
    try:
        from dafset.trainer import commands as trainer_commands
    except ImportError:
        trainer_commands = None
    if trainer_commands is not None:
        app.command("train")(trainer_commands.train)
        app.command("eval")(trainer_commands.evaluate)


_register()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
