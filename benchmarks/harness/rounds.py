"""Interleaved rounds: every peer once per round, the rounds merged into one result per peer.

On a shared VM the machine's speed drifts over minutes; measuring all of one peer's runs,
then all of the next one's, puts that drift between the peers. With ``--rounds R`` each
round runs every peer once (one run per figure), and a peer's figures are the medians over
its R runs, each taken beside the other peers' runs of the same round.
"""

from __future__ import annotations

from typing import Any

from harness.runner import best_concurrency, summarise

Result = dict[str, Any]
SUMMARISED = ("enqueue", "bulk", "latency", "memory", "enqueue_uvloop")
"""Figures whose result is ``summarise(runs)``."""
BY_CASE = ("process", "workload", "scale", "enqueue_background")
"""Figures with one ``summarise(runs)`` per concurrency or case."""


def merge_rounds(rounds: list[Result]) -> Result:
    """One peer's results from several rounds as if its runs had been made in one: the runs
    side by side and the medians over all of them. ``ops`` (one run) is the first round's."""
    merged: Result = {k: v for k, v in rounds[0].items()
                      if k not in (*SUMMARISED, *BY_CASE, "process_best", "errors")}
    merged["errors"] = [e for r in rounds for e in r.get("errors", [])]
    merged["rounds"] = len(rounds)
    for key in SUMMARISED:
        if any(key in r for r in rounds):
            merged[key] = _merge([r.get(key) for r in rounds])
    for key in BY_CASE:
        cases = [r[key] for r in rounds if isinstance(r.get(key), dict)]
        if cases:
            names = list(dict.fromkeys(name for case in cases for name in case))
            merged[key] = {name: _merge([case.get(name) for case in cases]) for name in names}
    if merged.get("process"):
        merged["process_best"] = best_concurrency(merged["process"])
    return merged


def _merge(parts: list[Result | None]) -> Result | None:
    """``summarise`` over the runs of every part; None when no part applies (no batch API)."""
    present = [p for p in parts if p is not None]
    if not present:
        return None
    return summarise([run for part in present for run in part.get("runs", [])])
