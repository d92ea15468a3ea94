"""The weekly deployment without a work pool: one long-lived process that schedules and runs it::

    python -m flows.serve [--cron "0 4 * * 1"] [--timezone Europe/Berlin] [--source live] [--out out/dafset]

It registers ``build-dafset/weekly`` (the same name as in ``prefect.yaml``, so
``prefect deployment run 'build-dafset/weekly'`` works either way) and executes its runs in
subprocesses. Stopping it (Ctrl-C, SIGTERM) pauses the schedule until it is started again.
"""

from __future__ import annotations

import argparse

from prefect.schedules import Cron

from flows.build_dafset import build_dafset
from flows.setup import ensure_concurrency_limit

DEPLOYMENT = "weekly"
CRON = "0 4 * * 1"  # Mondays 04:00: the weekly dumps and QRank have settled by then
TIMEZONE = "Europe/Berlin"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--name", default=DEPLOYMENT)
    parser.add_argument("--cron", default=CRON)
    parser.add_argument("--timezone", default=TIMEZONE)
    parser.add_argument("--source", default="live", choices=("sample", "live"))
    parser.add_argument("--out", default="out/dafset")
    parser.add_argument("--runner", default="thread", choices=("thread", "dask"))
    parser.add_argument("--no-schedule", action="store_true", help="serve for manual runs only")
    args = parser.parse_args(argv)
    print(ensure_concurrency_limit())  # live runs use it strictly
    build_dafset.serve(
        name=args.name,
        schedules=[] if args.no_schedule else [Cron(args.cron, timezone=args.timezone)],
        parameters={"source": args.source, "out": args.out, "runner": args.runner},
        global_limit=1,  # one build at a time; a late run waits instead of racing on ``latest``
        tags=["dafset"],
        description="Weekly DAFSet refresh from Wikidata",
    )


if __name__ == "__main__":
    main()
