"""The parent process: the bench Redis, one child interpreter per peer, the result files."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
from typing import Any

from peers import PEERS, python_for

from harness import ceiling, relay_floor
from harness.context import RESULTS_DIR, TMP_DIR
from harness.options import Options
from harness.procs import BENCH_DIR
from harness.redisinfo import RedisProbe, ThrowawayRedis
from harness.report import write_markdown
from harness.rounds import merge_rounds
from harness.runner import log

RUN_PY = os.path.join(BENCH_DIR, "run.py")
STREAMQ_SOURCE = os.path.join(os.path.dirname(BENCH_DIR), "src", "streamq")


def compile_streamq() -> None:
    """Write streamq's bytecode, as installing a package does. The project's venv holds an
    editable install, and where PYTHONDONTWRITEBYTECODE is set (these machines set it) no
    .pyc is ever written: every worker start would compile streamq's modules (~35 ms) where
    the peers, installed from wheels, read theirs."""
    subprocess.run([python_for("streamq"), "-m", "compileall", "-q", STREAMQ_SOURCE],
                   check=True, stdout=subprocess.DEVNULL)


def run_child(name: str, options: Options, python: str) -> dict[str, Any]:
    """Measure one peer in ``python`` (its own venv); its result, or why it failed."""
    os.makedirs(TMP_DIR, exist_ok=True)
    out = os.path.join(TMP_DIR, f"peer-{name}.json")
    if os.path.exists(out):
        os.remove(out)
    argv = [python, RUN_PY, "--_peer", name, "--_out", out, "--_options", options.to_json()]
    rc = subprocess.call(argv, cwd=BENCH_DIR)
    if rc != 0 or not os.path.exists(out):
        return {"name": name, "errors": [f"peer runner exited rc={rc} using {python}"]}
    with open(out) as f:
        result: dict[str, Any] = json.load(f)
    os.remove(out)
    result["python_executable"] = python
    return result


def unavailable(name: str) -> str | None:
    """Why ``name`` cannot run on this machine, or None."""
    python = python_for(name)
    if not os.path.exists(python):
        return f"no interpreter at {python} (run `make bench-peers-venv`)"
    if name == "bullmq-node":
        from peers.bullmq_node import available

        return available()
    return None


def meta(options: Options, probe: RedisProbe, tag: str) -> dict[str, Any]:
    """What the report says about the run itself."""
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"date": dt.date.today().isoformat(), "tag": tag,
            "started": dt.datetime.now().isoformat(timespec="seconds"),
            "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
                       f"{mem:.0f} GiB RAM",
            "python": platform.python_version(), "redis_version": probe.version(),
            "loadavg": [round(x, 2) for x in os.getloadavg()],
            "command": " ".join(["benchmarks/run.py", *sys.argv[1:]]),
            "options": json.loads(options.to_json())}


def orchestrate(options: Options, peers: list[str], tag: str, start_redis: bool,
                rounds: int = 1) -> str:
    """Run every peer, write results/<date>-<tag>.{md,json}; the markdown's path. With
    ``rounds`` > 1, every peer runs once per round (``options.reps`` runs per figure each
    time) and its rounds are merged (harness/rounds.py)."""
    server = ThrowawayRedis(options.redis_port)
    if start_redis:
        server.start()
    probe = RedisProbe(options.redis_port)
    try:
        if "streamq" in peers:
            compile_streamq()
        result: dict[str, Any] = {"meta": meta(options, probe, tag), "peers": []}
        result["meta"]["rounds"] = rounds
        if "ceiling" in options.scenarios:
            log("redis ceiling")
            result["ceiling"] = ceiling.measure(probe, options.reps)
        runs: dict[str, list[dict[str, Any]]] = {}
        for round_number in range(1, rounds + 1):
            if "latency" in options.scenarios:
                measure_relay_floor(options, result)
            for name in peers:
                if name not in PEERS:
                    runs[name] = [{"name": name, "errors": [f"unknown peer {name!r}"]}]
                    continue
                why = unavailable(name)
                if why:
                    log(f"skipping {name}: {why}")
                    runs[name] = [{"name": name, "skipped": why, "errors": []}]
                    continue
                log(f"peer {name} ({python_for(name)})"
                    + (f", round {round_number} of {rounds}" if rounds > 1 else ""))
                runs.setdefault(name, []).append(run_child(name, options, python_for(name)))
                result["peers"] = [merge_rounds(r) if len(r) > 1 else r[0]
                                   for r in runs.values()]
                write_results(result)  # partial results survive a crash
        result["meta"]["finished"] = dt.datetime.now().isoformat(timespec="seconds")
        return write_results(result)
    finally:
        probe.close()
        server.stop()


def measure_relay_floor(options: Options, result: dict[str, Any]) -> None:
    """The machine's own latency floor (harness/relay_floor.py), with the latency scenario's
    count and gap, once a round, so it is measured beside the peers' latency. A failure is
    logged and the run goes on: the floor explains figures, it is not one of them."""
    log("relay floor (latency with no library)")
    try:
        floor = relay_floor.measure(f"redis://127.0.0.1:{options.redis_port}/0",
                                    "bench:relay-floor", options.lat_n, options.lat_gap_ms)
    except Exception as exc:
        log(f"  ERROR relay floor: {type(exc).__name__}: {exc}")
        return
    log("  relay floor: " + ", ".join(f"{k}={v:.4g}" for k, v in floor.items()))
    result.setdefault("relay_floor", []).append(floor)


def write_results(result: dict[str, Any]) -> str:
    """Write the JSON and the markdown table; the markdown's path."""
    os.makedirs(RESULTS_DIR, exist_ok=True)
    base = os.path.join(RESULTS_DIR, f"{result['meta']['date']}-{result['meta']['tag']}")
    with open(base + ".json", "w") as f:
        json.dump(result, f, indent=1)
    write_markdown(result, base + ".md")
    return base + ".md"
