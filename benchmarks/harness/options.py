"""What one benchmark run measures: sizes, repetitions, scenarios."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

SCENARIOS = ("ceiling", "enqueue", "bulk", "process", "latency", "memory", "ops",
             "enqueue_uvloop", "workload", "scale", "enqueue_background")
"""The last four run for streamq only."""
STREAMQ_ONLY = frozenset({"enqueue_uvloop", "workload", "scale", "enqueue_background"})


@dataclass(frozen=True)
class Options:
    """Every knob of a run; the parent hands it to each peer's child as JSON."""

    scenarios: tuple[str, ...] = SCENARIOS
    n: int = 20_000
    reps: int = 3
    chunk: int = 1000
    concurrency: tuple[int, ...] | None = None
    lat_n: int = 500
    lat_gap_ms: float = 5.0
    mem_n: int = 100_000
    ops_n: int = 2000
    timeout: float = 300.0
    redis_port: int = 6390
    work_concurrency: tuple[int, ...] = (10, 100, 500, 1000)
    work_sleep_ms: tuple[float, float] = (1.0, 10.0)
    scale_waiting: tuple[int, ...] = (10_000, 1_000_000)
    scale_slice: int = 20_000
    scale_delayed: int = 100_000
    background_n: int = 100_000
    background_enqueues: int = 2000

    def to_json(self) -> str:
        """The options as JSON."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Options:
        """Options from ``to_json``'s output."""
        raw = json.loads(text)
        for key in ("scenarios", "concurrency", "work_concurrency", "work_sleep_ms",
                    "scale_waiting"):
            if raw.get(key) is not None:
                raw[key] = tuple(raw[key])
        return cls(**raw)
