"""The markdown report of a run: the peers side by side, ratios to BullMQ (Node), the
issue's targets for streamq, and streamq's own scaling figures."""

from __future__ import annotations

from typing import Any, NamedTuple

from harness.stats import median

Peer = dict[str, Any]
YARDSTICK = "bullmq-node"
DASH = "\N{EN DASH}"
TIMES = "\N{MULTIPLICATION SIGN}"
MAIN_FIGURES = ("enqueue", "bulk", "process_best", "latency", "memory")
"""What the main table and the targets show: a run without any of them has neither."""
ENQUEUE_FLOOR_KEY = "enqueue_script"
"""The key of the ceiling's row that measures the floor under streamq's enqueue."""
RATIO_TARGETS = (("processing", "process_best", 3.0), ("enqueue", "enqueue", 1.5),
                 ("bulk enqueue", "bulk", 5.0))
"""The issue's targets as ratios to BullMQ (Node): what, the figure, the least ratio."""


class Limit(NamedTuple):
    """One of the issue's bounds on a figure of streamq's own."""

    label: str
    path: tuple[str, ...]
    bound: float
    inclusive: bool
    """At most the bound (bytes), rather than under it (times)."""
    digits: int
    """Decimal places the figure is shown with."""

    def kept(self, value: float) -> bool:
        """Whether ``value`` keeps the bound."""
        return value <= self.bound if self.inclusive else value < self.bound


LIMIT_TARGETS = (Limit("latency p50 < 0.5 ms", ("latency", "p50_ms"), 0.5, False, 2),
                 Limit("latency p99 < 1.5 ms", ("latency", "p99_ms"), 1.5, False, 2),
                 Limit("≤ 160 bytes per waiting job", ("memory", "bytes_per_job"), 160.0,
                       True, 0))


def fmt(x: float | None, digits: int = 0) -> str:
    """A number with thousands separators; an en dash for none."""
    return DASH if x is None else f"{x:,.{digits}f}"


def value_at(peer: Peer, *path: str) -> Any:
    """``peer[path[0]][path[1]]...``, or None where a step is missing."""
    value: Any = peer
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _ratio(value: float | None, base: float | None, *, inverse: bool = False) -> str:
    if not value or not base:
        return ""
    return f" ({(base / value if inverse else value / base):.2f}{TIMES})"


def ratio_of_medians(sq: Peer, base: Peer, figure: str, key: str = "rate") -> float | None:
    """streamq's median ``key`` of ``figure`` over BullMQ's; None if either is missing."""
    value, ref = value_at(sq, figure, key), value_at(base, figure, key)
    return value / ref if value and ref else None


def _yardstick(peers: list[Peer]) -> Peer:
    return next((p for p in peers if p["name"] == YARDSTICK), {})


def main_table(peers: list[Peer]) -> list[str]:
    """One row per peer; throughput columns carry the ratio to BullMQ (Node)."""
    if not any(p.get(figure) for p in peers for figure in MAIN_FIGURES):
        return []
    base = _yardstick(peers)
    lines = [
        "## Results", "",
        "| peer | enqueue, 1 await at a time (jobs/s) | bulk enqueue (jobs/s) | processing "
        "(jobs/s, worker start → N-th job) | best conc. | steady state (jobs/s) | latency p50 / "
        "p95 / p99 (ms) | Redis bytes / waiting job | worker CPU µs/job (steady) | "
        "Redis CPU µs/job |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for p in peers:
        if p.get("skipped"):
            lines.append(f"| {p['name']} | skipped: {p['skipped']} |||||||||")
            continue
        cells = [p["name"]]
        for path in (("enqueue", "rate"), ("bulk", "rate"), ("process_best", "rate")):
            value = value_at(p, *path)
            cells.append(fmt(value) + _ratio(value, value_at(base, *path)))
        if "bulk" in p and p["bulk"] is None:
            cells[2] = "no batch API"
        best = p.get("process_best") or {}
        lat = p.get("latency") or {}
        cells += [str(best.get("concurrency", DASH)), fmt(best.get("steady_rate")),
                  DASH if lat.get("p50_ms") is None else
                  f"{lat['p50_ms']:.2f} / {lat['p95_ms']:.2f} / {lat['p99_ms']:.2f}",
                  fmt(value_at(p, "memory", "bytes_per_job")),
                  fmt(best.get("worker_steady_cpu_us_per_job")),
                  fmt(best.get("redis_cpu_us_per_job"))]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def targets(peers: list[Peer], floors: list[dict[str, Any]] | None = None,
            ceiling: list[dict[str, Any]] | None = None) -> list[str]:
    """The issue's targets for streamq, each as measured in this run; beside the enqueue
    target, its floor (streamq's script with none of its Python, from the ceiling scenario),
    and beside the latency targets, the machine's latency floor, when they were measured."""
    sq = next((p for p in peers if p["name"] == "streamq"), None)
    base = _yardstick(peers)
    if not sq or not any(sq.get(figure) for figure in MAIN_FIGURES):
        return []
    rows = []
    for what, figure, factor in RATIO_TARGETS:
        label = f"{what} ≥ {factor:g}{TIMES} BullMQ (Node)"
        ratio = ratio_of_medians(sq, base, figure)
        rows.append((label, DASH if ratio is None else f"{ratio:.2f}{TIMES}",
                     None if ratio is None else ratio >= factor, _per_round(sq, base, figure)))
        floor = _script_floor(ceiling, base) if figure == "enqueue" else None
        if floor is not None:
            rows.append(("the floor under enqueue: streamq's script alone, packed beforehand "
                         "(no library Python)", f"{floor:.2f}{TIMES}", None, ""))
    for limit in LIMIT_TARGETS:
        value = value_at(sq, *limit.path)
        ok = None if value is None else limit.kept(value)
        rows.append((limit.label, fmt(value, limit.digits), ok, ""))
        if limit.path == ("latency", "p99_ms") and floors:
            rows.append(("the machine's latency floor p50 / p99 (no library, same gap)",
                         f"{fmt(_floor(floors, 'p50_ms'), 2)} / "
                         f"{fmt(_floor(floors, 'p99_ms'), 2)}", None, ""))
    paired = any(per_round for *_, per_round in rows)
    lines = ["## streamq against the issue's targets (same run, same Redis)", ""]
    if paired:
        lines += ["Measured: the ratio of the medians. Per round: streamq's run over BullMQ's "
                  f"run of the same round, median (lowest {DASH} highest), which the "
                  "machine's drift from one round to the next moves less.", ""]
    columns = ["target", "measured", *(["per round"] if paired else []), "met"]
    lines += ["| " + " | ".join(columns) + " |", "|---|" + "---:|" * (len(columns) - 2) + "---|"]
    for label, value, ok, per_round in rows:
        met = DASH if ok is None else "yes" if ok else "no"
        lines.append("| " + " | ".join([label, value, *([per_round] if paired else []), met])
                     + " |")
    return [*lines, ""]


def _per_round(sq: Peer, base: Peer, figure: str) -> str:
    """streamq's rate over BullMQ's within each interleaved round; empty unless both peers
    ran the same rounds."""
    if min(sq.get("rounds", 1), base.get("rounds", 1)) < 2:
        return ""
    return _within_rounds(value_at(sq, figure, "runs"), value_at(base, figure, "runs"), "rate",
                          TIMES)


def _within_rounds(runs: list[dict[str, Any]] | None, base_runs: list[dict[str, Any]] | None,
                   key: str, unit: str = "") -> str:
    """``key`` of each run over ``key`` of the base run of the same round (the i-th runs of
    two interleaved peers or cases ran in the same round): the median ratio and its range;
    empty when there are no such ratios."""
    ratios = within_round_ratios(runs, base_runs, key)
    if not ratios:
        return ""
    return f"{median(ratios):.2f}{unit} ({min(ratios):.2f} {DASH} {max(ratios):.2f})"


def within_round_ratios(runs: list[dict[str, Any]] | None,
                        base_runs: list[dict[str, Any]] | None, key: str) -> list[float]:
    """``key`` of the i-th run over ``key`` of the i-th base run, for each i; empty unless
    both have the same number of runs and every run has the figure."""
    if not runs or not base_runs or len(runs) != len(base_runs):
        return []
    ratios = []
    for run, base_run in zip(runs, base_runs, strict=True):
        value, base = run.get(key), base_run.get(key)
        if not value or not base:
            return []
        ratios.append(value / base)
    return ratios


def by_concurrency(peers: list[Peer]) -> list[str]:
    """Processing per concurrency, with CPU per job."""
    if not any(p.get("process") for p in peers):
        return []
    lines = ["## Processing by concurrency (medians)", "",
             "Worker CPU: its process group from spawn (start-up included), and steady: "
             "its own from first to last job. Redis CPU: INFO cpu over the whole run.", "",
             "| peer | conc. | jobs/s | steady jobs/s | start-up s | worker CPU µs/job | "
             "steady | worker CPU util | Redis CPU µs/job | Redis CPU util | runs (jobs/s) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for p in peers:
        for c, v in (p.get("process") or {}).items():
            runs = ", ".join(fmt(r["rate"]) for r in v.get("runs", []))
            lines.append(
                f"| {p['name']} | {c} | {fmt(v.get('rate'))} | {fmt(v.get('steady_rate'))} | "
                f"{fmt(v.get('startup_s'), 2)} | {fmt(v.get('worker_cpu_us_per_job'))} | "
                f"{fmt(v.get('worker_steady_cpu_us_per_job'))} | "
                f"{fmt(v.get('worker_cpu_util'), 2)} | {fmt(v.get('redis_cpu_us_per_job'))} | "
                f"{fmt(v.get('redis_cpu_util'), 2)} | {runs} |")
    return [*lines, ""]


def ops_table(peers: list[Peer]) -> list[str]:
    """Redis commands, commands sent, and round trips per job."""
    rows = [p for p in peers if p.get("ops")]
    if not rows:
        return []
    lines = ["## Redis commands and round trips per job", "",
             "Commands: INFO commandstats delta / N (includes commands run inside Lua and "
             "MULTI). Sent: commands the client sent itself; round trips: request bursts; "
             "both counted by a proxy between client and Redis. "
             f"N = {rows[0]['ops']['n']} jobs enqueued one at a time, then drained by one "
             "worker.", "",
             "| peer | enqueue: commands / sent / round trips | worker: commands / sent / "
             "round trips | worker breakdown (commands/job) |", "|---|---|---|---|"]
    for p in rows:
        e, w = p["ops"]["enqueue"], p["ops"]["worker"]
        detail = ", ".join(f"{k} {v:g}" for k, v in w["breakdown"].items())
        lines.append(f"| {p['name']} | {e['commands']:g} / {e['sent']:g} / "
                     f"{e['round_trips']:g} | {w['commands']:g} / {w['sent']:g} / "
                     f"{w['round_trips']:g} | {detail} |")
    return [*lines, ""]


def streamq_only(peers: list[Peer]) -> list[str]:
    """The realistic workload, and throughput / enqueue cost beside big backlogs."""
    sq = next((p for p in peers if p["name"] == "streamq"), {})
    lines: list[str] = []
    if sq.get("enqueue_uvloop"):
        node = next((p for p in peers if p["name"] == "bullmq-node"), {})
        base = (node.get("enqueue") or {}).get("rate")
        lines += ["## streamq: enqueue one await at a time, the producer on asyncio and on "
                  "uvloop", "", "uvicorn runs an app on uvloop when it is installed; Node runs "
                  "on libuv, which uvloop wraps. The target is measured on asyncio (above).", "",
                  "| producer's loop | jobs/s | to BullMQ (Node) |", "|---|---:|---:|"]
        for loop, key in (("asyncio", "enqueue"), ("uvloop", "enqueue_uvloop")):
            rate = (sq.get(key) or {}).get("rate")
            ratio = f"{rate / base:.2f}{TIMES}" if rate and base else DASH
            lines.append(f"| {loop} | {fmt(rate)} | {ratio} |")
        lines.append("")
    if sq.get("workload"):
        lines += [f"## streamq: jobs that await 1{DASH}10 ms (uniform), one worker process", "",
                  "| conc. | jobs/s (worker start → N-th) | steady jobs/s | bound by sleeping "
                  "alone (jobs/s) | worker CPU util | Redis CPU util | worker CPU µs/job "
                  "(steady) |", "|---:|---:|---:|---:|---:|---:|---:|"]
        lines += [f"| {c} | {fmt(v.get('rate'))} | {fmt(v.get('steady_rate'))} | "
                  f"{fmt(v.get('sleep_bound_rate'))} | "
                  f"{fmt(v.get('worker_cpu_util'), 2)} | {fmt(v.get('redis_cpu_util'), 2)} | "
                  f"{fmt(v.get('worker_steady_cpu_us_per_job'))} |"
                  for c, v in sq["workload"].items()]
        lines.append("")
    if sq.get("scale"):
        lines += ["## streamq: processing beside a backlog (a slice of the drain)", "",
                  "| case | jobs timed | jobs/s (worker start → N-th) | steady jobs/s | "
                  "worker CPU µs/job (steady) |", "|---|---:|---:|---:|---:|"]
        lines += [f"| {case} | {fmt(v.get('n'))} | {fmt(v.get('rate'))} | "
                  f"{fmt(v.get('steady_rate'))} | {fmt(v.get('worker_steady_cpu_us_per_job'))} |"
                  for case, v in sq["scale"].items()]
        lines.append("")
    if sq.get("enqueue_background"):
        lines += _enqueue_background(sq["enqueue_background"], sq.get("rounds", 1))
    return lines


def _enqueue_background(cases: dict[str, dict[str, Any]], rounds: int) -> list[str]:
    """Enqueue cost per case; over several rounds also each case's p50 over the p50 with
    nothing beside it in the same round, which the machine's drift moves less."""
    empty = cases.get("none") or {}
    paired = rounds > 1 and bool(empty.get("runs"))
    lines = ["## streamq: enqueue (one await at a time) beside delayed or failed jobs", ""]
    if paired:
        lines += ["Per round: the case's p50 over the p50 with nothing beside it in the same "
                  f"round, median (lowest {DASH} highest).", ""]
    lines += ["| jobs already in the tier | enqueues/s | p50 µs | p99 µs |"
              + (" p50 over none's, per round |" if paired else ""),
              "|---|---:|---:|---:|" + ("---:|" if paired else "")]
    for case, v in cases.items():
        there = ("none" if case == "none" else
                 f"{fmt(v.get(case))} {case}" if v.get(case) is not None else case)
        row = (f"| {there} | {fmt(v.get('rate'))} | {fmt(v.get('p50_us'))} | "
               f"{fmt(v.get('p99_us'))} |")
        if paired:
            ratio = "" if case == "none" else _within_rounds(v.get("runs"), empty["runs"],
                                                             "p50_us")
            row += f" {ratio or DASH} |"
        lines.append(row)
    return [*lines, ""]


def _script_floor(ceiling: list[dict[str, Any]] | None, base: Peer) -> float | None:
    """The enqueue script's calls per second (harness/ceiling.py) over BullMQ's enqueue."""
    row = next((c for c in ceiling or () if c.get("key") == ENQUEUE_FLOOR_KEY), {})
    ref = value_at(base, "enqueue", "rate")
    return row["rps"] / ref if row.get("rps") and ref else None


def _floor(floors: list[dict[str, Any]], key: str) -> float | None:
    """The median over the rounds of one figure of the latency floor."""
    return median(f[key] for f in floors)


def relay_floor_table(result: dict[str, Any]) -> list[str]:
    """The machine's latency floor, measured in each round (harness/relay_floor.py)."""
    floors = result.get("relay_floor") or []
    if not floors:
        return []
    lines = ["## The machine's latency floor (no library)", "",
             "XADD from one process to another blocked in XREAD BLOCK on the same Redis, plain "
             "sockets, timed like the latency scenario: the same count, the same gap, "
             "measured in every round. On a VM an idle vCPU is halted, and waking it costs "
             "more than the work: compare a peer's latency with this, not with zero.", "",
             "| round | p50 ms | p95 ms | p99 ms | max ms |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {i} | {f['p50_ms']:.2f} | {f['p95_ms']:.2f} | {f['p99_ms']:.2f} | "
              f"{f['max_ms']:.2f} |" for i, f in enumerate(floors, 1)]
    if len(floors) > 1:
        lines.append("| median | " + " | ".join(
            fmt(_floor(floors, k), 2) for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")) + " |")
    return [*lines, ""]


def ceiling_table(result: dict[str, Any]) -> list[str]:
    """redis-benchmark on the bench server; PING from Python on asyncio and uvloop; streamq's
    enqueue script from Python."""
    if not result.get("ceiling"):
        return []
    lines = ["## What this Redis does alone (redis-benchmark), and one Python process with it",
             "",
             "| command | requests/s (median) |", "|---|---:|"]
    lines += [f"| {c['label']} | {fmt(c['rps'])} |" for c in result["ceiling"]]
    return [*lines, ""]


def versions(peers: list[Peer]) -> list[str]:
    """Versions, batch API, concurrency knob, what each does per job, and errors."""
    lines = ["## Peers: versions and what each does per job", ""]
    for p in peers:
        v = ", ".join(f"{k} {val}" for k, val in (p.get("versions") or {}).items())
        lines.append(f"- **{p['name']}** ({v or 'not run'}). Batch API: "
                     f"{p.get('bulk_api') or 'none'}. Concurrency: "
                     f"{p.get('concurrency_note') or DASH}. {p.get('notes', '')}")
        lines += [f"  - ERROR: {e}" for e in p.get("errors", [])]
    return [*lines, ""]


def write_markdown(result: dict[str, Any], path: str) -> None:
    """Write the whole report to ``path``."""
    m, peers = result["meta"], result["peers"]
    o = m["options"]
    rounds = m.get("rounds", 1)
    runs = (f"medians of {o['reps']} runs (memory, ops: 1 run)" if rounds == 1 else
            f"medians over {rounds} interleaved rounds of {o['reps']} run(s) each (each round "
            "ran every peer once, one after the other; memory: 1 run a round; ops: the first "
            "round's)")
    head = [f"# streamq and its peers — {m['date']} ({m['tag']})", "",
            f"{m['machine']}; Redis {m['redis_version']} on loopback (port {o['redis_port']}, "
            f"no persistence); Python {m['python']}; load average at start {m['loadavg']}. "
            f"N = {o['n']:,} jobs, {runs}; latency: "
            f"{o['lat_n']} jobs {o['lat_gap_ms']:g} ms apart to an idle worker; memory: "
            f"{o['mem_n']:,} waiting jobs. Ratios in brackets: to BullMQ (Node), same run.", "",
            f"Command: `{m['command']}`", ""]
    body = (main_table(peers) + targets(peers, result.get("relay_floor"), result.get("ceiling"))
            + by_concurrency(peers) + ops_table(peers) + streamq_only(peers)
            + relay_floor_table(result) + ceiling_table(result) + versions(peers))
    with open(path, "w") as f:
        f.write("\n".join([*head, *body]))
