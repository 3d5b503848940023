"""One peer's measurements, in the child interpreter that can import that peer."""

from __future__ import annotations

import platform
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from peers import load
from peers.base import Adapter

from harness import scenarios
from harness.context import Context
from harness.options import STREAMQ_ONLY, Options
from harness.redisinfo import RedisProbe
from harness.stats import median

Result = dict[str, Any]
RunFn = Callable[[int], Awaitable[Result | None]]


def log(*parts: object) -> None:
    """A timestamped progress line."""
    print(time.strftime("%H:%M:%S"), *parts, flush=True)


def summarise(runs: list[Result]) -> Result:
    """The runs, and the median of every numeric field across them."""
    keys = [k for k, v in (runs[0] if runs else {}).items()
            if isinstance(v, int | float) and not isinstance(v, bool)]
    return {"runs": runs, **{k: median(r.get(k) for r in runs) for k in keys}}


def best_concurrency(process: dict[str, Result]) -> Result:
    """The processing figures (by concurrency) of the concurrency with the best median rate."""
    best = max(process.items(), key=lambda kv: kv[1].get("rate") or -1)
    return {"concurrency": int(best[0]), **best[1]}


class PeerRun:
    """Runs the chosen scenarios for one peer and collects the results."""

    def __init__(self, options: Options, name: str) -> None:
        self.options = options
        self.name = name
        self.probe = RedisProbe(options.redis_port)
        self.ctx = Context(options, self.probe)
        self.out: Result = {"name": name, "errors": [], "python": platform.python_version()}

    async def repeat(self, key: str, fn: RunFn, reps: int | None = None) -> list[Result] | None:
        """``fn(rep)`` ``reps`` times; errors are recorded, not raised. None: not applicable."""
        runs: list[Result] = []
        for rep in range(self.options.reps if reps is None else reps):
            try:
                result = await fn(rep)
            except Exception as exc:  # a peer's failure must not stop the others
                message = f"{key} rep{rep}: {type(exc).__name__}: {exc}"
                log("  ERROR", self.name, message)
                self.out["errors"].append(message)
                self.out.setdefault("tracebacks", []).append(traceback.format_exc()[-3000:])
                continue
            if result is None:
                return None
            runs.append(result)
            log(f"  {self.name} {key} rep{rep}: " + ", ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                for k, v in result.items() if not isinstance(v, dict | list)))
        return runs

    async def run(self) -> Result:
        """Every scenario of the options that applies to this peer."""
        adapter = load(self.name)
        self.out.update(versions=adapter.versions(), notes=adapter.NOTES,
                        bulk_api=adapter.BULK_API, concurrency_note=adapter.CONCURRENCY_NOTE)
        chosen = self.options.scenarios
        try:
            await self._common(adapter, chosen)
            if self.name == "streamq" and STREAMQ_ONLY & set(chosen):
                await self._streamq_only(adapter, chosen)
        finally:
            self.probe.flush()
            self.probe.close()
        return self.out

    async def _common(self, a: Adapter, chosen: tuple[str, ...]) -> None:
        ctx, out = self.ctx, self.out
        if "enqueue" in chosen:
            runs = await self.repeat("enqueue", lambda r: scenarios.enqueue(ctx, a))
            out["enqueue"] = summarise(runs or [])
        if "bulk" in chosen:
            runs = await self.repeat("bulk", lambda r: scenarios.bulk(ctx, a))
            out["bulk"] = None if runs is None else summarise(runs)
        if "process" in chosen:
            out["process"] = {}
            for c in self.options.concurrency or a.CONCURRENCIES:
                runs = await self.repeat(f"process-c{c}",
                                         lambda r, c=c: scenarios.process(ctx, a, c, r))
                out["process"][str(c)] = summarise(runs or [])
            out["process_best"] = best_concurrency(out["process"])
        if "latency" in chosen:
            c = (self.options.concurrency or a.CONCURRENCIES)[0]
            runs = await self.repeat("latency", lambda r: scenarios.latency(ctx, a, c, r))
            out["latency"] = summarise(runs or [])
        if "memory" in chosen:
            runs = await self.repeat("memory", lambda r: scenarios.memory(ctx, a), reps=1)
            out["memory"] = summarise(runs or [])
        if "ops" in chosen:
            runs = await self.repeat("ops", lambda r: scenarios.ops(ctx, a), reps=1)
            out["ops"] = (runs or [None])[0]

    async def _streamq_only(self, a: Adapter, chosen: tuple[str, ...]) -> None:
        from peers.streamq_peer import StreamqAdapter

        from harness import streamq_scenarios as sq

        assert isinstance(a, StreamqAdapter)
        ctx, out = self.ctx, self.out
        if "enqueue_uvloop" in chosen:
            runs = await self.repeat("enqueue on uvloop", lambda r: sq.enqueue_on_uvloop(ctx, a))
            out["enqueue_uvloop"] = summarise(runs or [])
        if "workload" in chosen:
            out["workload"] = {}
            for c in self.options.work_concurrency:
                runs = await self.repeat(f"workload-c{c}",
                                         lambda r, c=c: sq.workload(ctx, a, c, r))
                out["workload"][str(c)] = summarise(runs or [])
        if "scale" in chosen:
            out["scale"] = {}
            for case in sq.scale_cases(ctx):
                runs = await self.repeat(f"scale {case[0]}",
                                         lambda r, case=case: sq.scale(ctx, a, case, r))
                out["scale"][case[0]] = summarise(runs or [])
        if "enqueue_background" in chosen:
            out["enqueue_background"] = {}
            for name in sq.BACKGROUND_CASES:
                runs = await self.repeat(f"enqueue with {name}",
                                         lambda r, n=name: sq.enqueue_background(ctx, a, n, r))
                out["enqueue_background"][name] = summarise(runs or [])
