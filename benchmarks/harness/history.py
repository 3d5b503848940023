"""streamq against the issue's targets across runs and machines, read from the runs' JSON.

Each session runs on a fresh VM, and the machines differ more than the code's steps, so
the targets are judged over every machine's runs. ``results/machines.json`` lists the
machines, newest first, each with the runs that measured its final code; this module turns
them into one table, a row per run, so the table in benchmarks/README.md is rebuilt from
the data rather than retyped."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.report import (
    DASH,
    LIMIT_TARGETS,
    RATIO_TARGETS,
    TIMES,
    YARDSTICK,
    Peer,
    fmt,
    ratio_of_medians,
    value_at,
    within_round_ratios,
)
from harness.stats import median


@dataclass(frozen=True)
class RunFigures:
    """One run's figures, in TARGETS' order, and what some cells show beside them."""

    tag: str
    values: tuple[float | None, ...]
    floor_p50_ms: float | None
    bullmq_cpu_us: float | None


@dataclass(frozen=True)
class Target:
    """One column: a figure of streamq's, how a cell shows it, and the issue's bound on it
    (None: no bound of its own)."""

    label: str
    show: Callable[[float, RunFigures], str]
    met: Callable[[float], bool] | None


def _times(value: float, run: RunFigures) -> str:
    return f"{value:.2f}{TIMES}"


_LEAST = {figure: factor for _, figure, factor in RATIO_TARGETS}
_P50, _P99, _BYTES = LIMIT_TARGETS


def _at_least(figure: str) -> Callable[[float], bool]:
    return lambda value: value >= _LEAST[figure]


def _places(digits: int) -> Callable[[float, RunFigures], str]:
    return lambda value, run: f"{value:.{digits}f}"


RATIOS = (  # (figure, key of each run): streamq's over BullMQ's
    ("process_best", "rate"), ("process_best", "steady_rate"), ("enqueue", "rate"),
    ("bulk", "rate"))
TARGETS = (
    Target(f"processing from worker start ≥ {_LEAST['process_best']:g}{TIMES}", _times,
           _at_least("process_best")),
    Target("processing, steady state", _times, None),
    Target(f"enqueue, one at a time ≥ {_LEAST['enqueue']:g}{TIMES}", _times,
           _at_least("enqueue")),
    Target(f"bulk ≥ {_LEAST['bulk']:g}{TIMES}", _times, _at_least("bulk")),
    Target(f"{_P50.label} (the machine's floor)",
           lambda v, run: f"{v:.{_P50.digits}f} ({fmt(run.floor_p50_ms, 2)})", _P50.kept),
    Target(_P99.label, _places(_P99.digits), _P99.kept),
    Target(_BYTES.label, _places(_BYTES.digits), _BYTES.kept),
    Target("worker CPU µs/job, steady, ≈ 35 (BullMQ's)",
           lambda v, run: f"{v:.0f} ({fmt(run.bullmq_cpu_us)})", lambda v: v <= 35),
)


def _ratio(sq: Peer, base: Peer, figure: str, key: str, interleaved: bool) -> float | None:
    """Within each round's median for an interleaved run (drift between rounds moves it
    less), else the ratio of the medians."""
    if interleaved:
        ratios = within_round_ratios(value_at(sq, figure, "runs"),
                                     value_at(base, figure, "runs"), key)
        if ratios:
            return median(ratios)
    return ratio_of_medians(sq, base, figure, key)


def run_figures(result: dict[str, Any]) -> RunFigures | None:
    """The figures of a run that measured both streamq and BullMQ (Node); None otherwise."""
    peers = {p["name"]: p for p in result["peers"]}
    sq, base = peers.get("streamq"), peers.get(YARDSTICK)
    if not sq or not base or not sq.get("process_best"):
        return None
    interleaved = result["meta"].get("rounds", 1) > 1
    ratios = [_ratio(sq, base, figure, key, interleaved) for figure, key in RATIOS]
    floors = result.get("relay_floor") or []
    return RunFigures(
        tag=result["meta"]["tag"],
        values=(*ratios, *(value_at(sq, *limit.path) for limit in LIMIT_TARGETS),
                value_at(sq, "process_best", "worker_steady_cpu_us_per_job")),
        floor_p50_ms=median(f["p50_ms"] for f in floors),
        bullmq_cpu_us=value_at(base, "process_best", "worker_steady_cpu_us_per_job"))


def history_table(machines: list[tuple[str, list[RunFigures]]]) -> list[str]:
    """One row per run, grouped by machine, and a last row counting the runs that met each
    target."""
    lines = ["| machine | run | " + " | ".join(t.label for t in TARGETS) + " |",
             "|---|---|" + "---:|" * len(TARGETS)]
    runs: list[RunFigures] = []
    for machine, machine_runs in machines:
        for i, run in enumerate(machine_runs):
            cells = [machine if i == 0 else "", f"`{run.tag}`"]
            cells += [DASH if v is None else t.show(v, run)
                      for t, v in zip(TARGETS, run.values, strict=True)]
            lines.append("| " + " | ".join(cells) + " |")
        runs += machine_runs
    met = []
    for column, target in enumerate(TARGETS):
        values = [run.values[column] for run in runs]
        known = [v for v in values if v is not None]
        met.append(DASH if target.met is None or not known else
                   f"{sum(map(target.met, known))} of {len(known)}")
    lines.append(f"| met | {len(runs)} runs | " + " | ".join(met) + " |")
    return lines


def load_history(results: Path) -> list[tuple[str, list[RunFigures]]]:
    """The machines that ``results/machines.json`` lists, with the figures of their runs."""
    machines = []
    for machine in json.loads((results / "machines.json").read_text()):
        runs = []
        for name in machine["runs"]:
            figures = run_figures(json.loads((results / f"{name}.json").read_text()))
            if figures is None:
                raise ValueError(f"{name}: the run did not measure streamq beside BullMQ (Node)")
            runs.append(figures)
        machines.append((machine["machine"], runs))
    return machines
