"""streamq against its peers, on one Redis, in one run.

    .venv/bin/python benchmarks/run.py [--peers streamq,bullmq-node,...] [--reps 3] [--n 20000]
                                       [--scenarios enqueue,bulk,...] [--tag full]
                                       [--rounds 1]

Starts its own redis-server on --redis-port (default 6390; never 6379) and stops it at the
end; every measurement flushes it. Each peer runs in a child interpreter of its own venv
(`make bench-peers-venv`). Writes benchmarks/results/<date>-<tag>.md and .json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness.options import SCENARIOS, STREAMQ_ONLY, Options
from peers import PEERS


def ints(text: str) -> tuple[int, ...]:
    """``"10,100"`` -> ``(10, 100)``."""
    return tuple(int(x) for x in text.split(",") if x)


def names(text: str) -> tuple[str, ...]:
    """``"a,b"`` -> ``("a", "b")``."""
    return tuple(x for x in text.split(",") if x)


def parser() -> argparse.ArgumentParser:
    """The command line."""
    d = Options()
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--peers", type=names, default=tuple(PEERS),
                   help=f"comma list from {','.join(PEERS)} (default: all)")
    p.add_argument("--scenarios", type=names, default=SCENARIOS,
                   help=f"comma list from {','.join(SCENARIOS)} (default: all; "
                        f"{', '.join(sorted(STREAMQ_ONLY))} run for streamq only)")
    p.add_argument("--n", type=int, default=d.n, help="jobs per enqueue/process run")
    p.add_argument("--reps", type=int, default=d.reps, help="runs per figure (median)")
    p.add_argument("--chunk", type=int, default=d.chunk, help="jobs per batch-API call")
    p.add_argument("--concurrency", type=ints, default=None,
                   help="worker concurrencies to try (default per peer: 10,100)")
    p.add_argument("--lat-n", type=int, default=d.lat_n)
    p.add_argument("--lat-gap-ms", type=float, default=d.lat_gap_ms)
    p.add_argument("--mem-n", type=int, default=d.mem_n)
    p.add_argument("--ops-n", type=int, default=d.ops_n)
    p.add_argument("--work-concurrency", type=ints, default=d.work_concurrency)
    p.add_argument("--scale-waiting", type=ints, default=d.scale_waiting,
                   help="waiting-job backlogs to process a slice of")
    p.add_argument("--scale-slice", type=int, default=d.scale_slice)
    p.add_argument("--scale-delayed", type=int, default=d.scale_delayed)
    p.add_argument("--background-n", type=int, default=d.background_n,
                   help="delayed / failed jobs present while timing enqueues")
    p.add_argument("--background-enqueues", type=int, default=d.background_enqueues,
                   help="enqueues timed beside them")
    p.add_argument("--timeout", type=float, default=d.timeout, help="seconds per worker run")
    p.add_argument("--redis-port", type=int, default=d.redis_port)
    p.add_argument("--redis-running", action="store_true",
                   help="use (and flush!) a server already on --redis-port instead of "
                        "starting one")
    p.add_argument("--tag", default="run", help="results/<date>-<tag>.md/.json")
    p.add_argument("--rounds", type=int, default=1,
                   help="run every peer once per round, --reps runs per figure each time, "
                        "and merge the rounds (interleaves the peers: fairer on a machine "
                        "whose speed drifts)")
    p.add_argument("--_peer", help=argparse.SUPPRESS)
    p.add_argument("--_out", help=argparse.SUPPRESS)
    p.add_argument("--_options", help=argparse.SUPPRESS)
    return p


def options_from(args: argparse.Namespace) -> Options:
    """The Options the command line asks for."""
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios: {', '.join(sorted(unknown))}")
    return Options(
        scenarios=tuple(args.scenarios), n=args.n, reps=args.reps, chunk=args.chunk,
        concurrency=args.concurrency, lat_n=args.lat_n, lat_gap_ms=args.lat_gap_ms,
        mem_n=args.mem_n, ops_n=args.ops_n, timeout=args.timeout, redis_port=args.redis_port,
        work_concurrency=args.work_concurrency, scale_waiting=args.scale_waiting,
        scale_slice=args.scale_slice, scale_delayed=args.scale_delayed,
        background_n=args.background_n, background_enqueues=args.background_enqueues)


def child(name: str, options: Options, out: str) -> None:
    """Child mode: measure one peer in this interpreter; write its JSON to ``out``."""
    from harness.runner import PeerRun

    result = asyncio.run(PeerRun(options, name).run())
    with open(out, "w") as f:
        json.dump(result, f)


def main() -> None:
    """Parent mode unless --_peer: orchestrate every peer and write the results."""
    args = parser().parse_args()
    if args._peer:
        child(args._peer, Options.from_json(args._options), args._out)
        return
    from harness.orchestrate import orchestrate
    from harness.runner import log

    if args.rounds < 1:
        raise SystemExit("--rounds must be >= 1")
    path = orchestrate(options_from(args), list(args.peers), args.tag,
                       start_redis=not args.redis_running, rounds=args.rounds)
    log(f"wrote {path} and {path[:-3]}.json")


if __name__ == "__main__":
    main()
