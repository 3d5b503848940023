"""Worker-side bookkeeping, called first thing in every peer's job function.

The harness passes its parameters through the environment:

  BENCH_N          counted jobs after which the run is done
  BENCH_DONE_FILE  JSON written (atomic rename) when the N-th counted job starts:
                   {"count", "t_first", "t_last", "cpu_first", "cpu_last", "lat"}
                   (times: epoch seconds; cpu: this process's CPU seconds, so the
                   harness can tell steady-state CPU per job from start-up's)
  BENCH_READY_FILE touched when the first warm-up job runs (latency scenario)

A payload is a small dict: ``{"i": n}``, ``{"i": n, "t": enqueue_epoch_s}`` (latency) or
``{"i": n, "s": sleep_ms}`` (a realistic job, slept by the peer's job function after this
call). Payloads with ``"w"`` set are warm-up jobs: they touch the ready file, uncounted.
``mark`` does no Redis I/O, so it adds nothing to the library's own Redis traffic.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

_N = int(os.environ.get("BENCH_N", "0") or 0)
_DONE = os.environ.get("BENCH_DONE_FILE", "")
_READY = os.environ.get("BENCH_READY_FILE", "")


class _Counter:
    def __init__(self) -> None:
        self.count = 0
        self.t_first: float | None = None
        self.cpu_first: float | None = None
        self.latencies: list[float] = []
        self.ready = False


_state = _Counter()


def write_json_atomic(path: str, obj: object) -> None:
    """Write ``obj`` as JSON to ``path`` so a reader never sees half a file."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def _touch_ready() -> None:
    if _READY and not _state.ready:
        _state.ready = True
        with open(_READY, "w") as f:
            f.write(str(time.time()))


def mark(payload: Any) -> None:
    """Count one job start; write the done file at the N-th."""
    now = time.time()
    if isinstance(payload, list | tuple) and payload:
        payload = payload[0]
    if not isinstance(payload, dict):
        return
    if payload.get("w"):
        _touch_ready()
        return
    state = _state
    state.count += 1
    if state.t_first is None:
        state.t_first = now
        state.cpu_first = time.process_time()
    sent = payload.get("t")
    if sent is not None:
        state.latencies.append(now - float(sent))
    if _N and state.count == _N and _DONE:
        write_json_atomic(_DONE, {"count": state.count, "t_first": state.t_first,
                                  "t_last": now, "cpu_first": state.cpu_first,
                                  "cpu_last": time.process_time(), "lat": state.latencies})
