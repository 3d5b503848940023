"""streamq against the issue's targets on every machine it was measured on, as one table.

    .venv/bin/python benchmarks/history.py [--results benchmarks/results]

Reads results/machines.json (the machines, newest first, each with its session's full and
interleaved runs) and those runs' JSON; prints a markdown table with a row per run
and a last row counting the runs that met each target. Ratios are to BullMQ (Node) in the
same run: within each round's median for interleaved runs, else the ratio of the medians.
A new machine's runs go at the top of machines.json.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness.history import history_table, load_history


def main() -> None:
    """Print the table."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", type=Path, default=Path(__file__).parent / "results",
                   help="the folder holding machines.json and the runs' JSON")
    args = p.parse_args()
    print("\n".join(history_table(load_history(args.results))))


if __name__ == "__main__":
    main()
