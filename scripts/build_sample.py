"""Write the bundled sample (dafset/sources/sample/data) from the real fixtures.

python scripts/build_sample.py [--fixtures DIR] [--out DIR] [--relations FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dafset.errors import DafsetError
from dafset.sources.sample.convert import build_sample


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, help="real fixtures folder (default: settings)")
    parser.add_argument("--out", type=Path, help="output folder (default: dafset/sources/sample/data)")
    parser.add_argument("--relations", type=Path, help="relations.yaml (default: settings)")
    args = parser.parse_args(argv)
    try:
        out = build_sample(args.fixtures, args.out, args.relations)
    except DafsetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    print(f"wrote {out}")
    print(json.dumps(manifest["counts"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
