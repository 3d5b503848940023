"""``streamq demo``: every tier at work on the embedded backend, with no set-up.

Enqueues the kinds of jobs the platform teams run (a critical signal recomputation, high
emails and webhooks, standard reports with progress, low cleanups; some fail and retry, one
ends in the dead-letter queue), runs one worker serving all four tiers, shows live progress
and ends with the stats table.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time

import anyio

from streamq.app import App
from streamq.cli_output import print_table
from streamq.config import Tier
from streamq.job import Job
from streamq.outcomes import Fail
from streamq.scheduling.backoff import Backoff

TIERS = ("critical", "high", "standard", "low")


def build_demo_app() -> App:
    """The demo's App: the default tiers, with backoffs short enough to watch."""
    app = App("memory://", tiers=[
        Tier("critical", backoff=Backoff.fixed(0.2)),
        Tier("high", backoff=Backoff.exponential(0.2)),
        Tier("standard", backoff=Backoff.fixed(0.3)),
        Tier("low", backoff=Backoff.fixed(0.3)),
    ])

    @app.processor("recompute_signal", tier="critical")
    async def recompute_signal(job: Job) -> dict[str, object]:
        await anyio.sleep(random.uniform(0.05, 0.2))
        return {"signal": job.data["signal"], "value": round(random.random(), 3)}

    @app.processor("send_email", tier="high")
    async def send_email(job: Job) -> dict[str, object]:
        await anyio.sleep(random.uniform(0.02, 0.1))
        if job.data["to"].endswith("@invalid"):
            raise Fail(f"bad address {job.data['to']}")
        return {"sent": True}

    @app.processor("deliver_webhook", tier="high")
    async def deliver_webhook(job: Job) -> dict[str, object]:
        await anyio.sleep(0.05)
        if job.data["url"].startswith("https://down."):
            raise ConnectionError(f"503 from {job.data['url']}")
        if job.attempt == 1 and job.data.get("flaky"):
            raise TimeoutError("the receiver did not answer in time")
        return {"status": 200, "attempt": job.attempt}

    @app.processor("build_report", tier="standard")
    async def build_report(job: Job) -> dict[str, object]:
        for step in range(1, 6):
            await anyio.sleep(random.uniform(0.1, 0.25))
            await job.progress(step * 20)
            await job.log(f"section {step} of 5 rendered")
        return {"pages": random.randint(3, 40)}

    @app.processor("cleanup_tmp", tier="low")
    async def cleanup_tmp(job: Job) -> dict[str, object]:
        await anyio.sleep(0.02)
        return {"deleted": random.randint(0, 100)}

    return app


async def enqueue_demo_jobs(app: App, scale: int) -> None:
    """Enqueue the demo's jobs into every tier."""
    await app.queue("low").enqueue_many(
        [("cleanup_tmp", {"dir": f"/tmp/upload-{i}"}) for i in range(8 * scale)])
    await app.queue("standard").enqueue_many(
        [("build_report", {"account": f"acct-{i}"}) for i in range(3 * scale)])
    await app.queue("high").enqueue_many(
        [("send_email", {"to": f"user{i}@example.com"}) for i in range(5 * scale)]
        + [("send_email", {"to": "nobody@invalid"}),
           ("deliver_webhook", {"url": "https://hooks.example.com/a", "flaky": True}),
           ("deliver_webhook", {"url": "https://down.example.com/b"})])
    await app.enqueue("recompute_signal", {"signal": "fraud-score"}, priority=0)
    await app.enqueue("recompute_signal", {"signal": "eta"}, delay=0.5)


async def progress_line(app: App) -> tuple[str, bool]:
    """One line of live progress, and whether everything has finished."""
    parts, busy = [], False
    for name in TIERS:
        c = await app.queue(name).counts()
        busy = busy or bool(c["waiting"] or c["active"] or c["delayed"])
        parts.append(f"{name} {c['completed']}✓ {c['failed']}✗ "
                     f"{c['active']}▶ {c['waiting'] + c['delayed']}…")
    return "  ".join(parts), not busy


async def watch(app: App, out: object = sys.stdout) -> None:
    """Show progress until no job is waiting, delayed or running."""
    tty = sys.stdout.isatty()
    last_print = 0.0
    while True:
        line, finished = await progress_line(app)
        if tty:
            print("\r\033[K" + line, end="", flush=True)
        elif finished or time.monotonic() - last_print > 1.0:
            print(line, flush=True)
            last_print = time.monotonic()
        if finished:
            break
        await anyio.sleep(0.2)
    if tty:
        print()


async def run_demo(quick: bool = False) -> None:
    """Run the demo end to end (about five seconds)."""
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    print("streamq demo: embedded backend (memory://), one worker serving all four tiers\n")
    async with build_demo_app() as app:
        await enqueue_demo_jobs(app, 1 if quick else 3)
        worker = app.worker(list(TIERS))
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            await asyncio.sleep(0.05)
            await watch(app)
            await worker.stop(grace=5)
        await show_summary(app)


async def show_summary(app: App) -> None:
    """The stats table, the dead letters, and where to go next."""
    rows = [{"tier": name, **await app.queue(name).counts()} for name in TIERS]
    print("\n" + print_table(rows) + "\n")
    for name in TIERS:
        for info in await app.queue(name).dead_letters():
            print(f"dead letter  {name}/{info.name} {info.id}: {info.error} "
                  f"(after {info.attempt} attempt{'s' if info.attempt != 1 else ''})")
    print("""
Next:
  README.md               a 20-line example for your own app
  docs/testing.md         run your jobs in tests on memory://, no Redis needed
  streamq worker --app myapp.jobs:app --tier high      run a worker against Redis
  streamq stats --url redis://localhost:6379/0         see every tier's queue""")
