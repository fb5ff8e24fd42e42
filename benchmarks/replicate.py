"""Write a large trace: copies of an ATOF trace with fresh uuids.

    python -m benchmarks.replicate SRC DST --events 50000

See ``adaptive.events.replicate`` for what changes between copies.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from adaptive.events.replicate import replicate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--events", type=int, default=50_000)
    args = parser.parse_args()
    print(f"wrote {replicate(args.source, args.target, args.events)} events to {args.target}")


if __name__ == "__main__":
    main()
