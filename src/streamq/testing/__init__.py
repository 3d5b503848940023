"""Embedding streamq in your own test suite: no Redis server, no sleeping, no polling.

    from streamq.testing import embedded, run_until_idle

    async def test_welcome_email_is_sent():
        async with embedded(myapp.jobs.app) as app:      # same processors and tiers, memory://
            job = await app.enqueue("send_email", {"to": "a@b.c"})
            await run_until_idle(app)                      # runs every tier until nothing is left
            assert await job.result() == {"sent": True}

With pytest, the ``streamq_app`` fixture gives the same (see docs/testing.md).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager

from streamq.app import App
from streamq.job import JobState


def embedded_copy(
    app: App | None = None, *, clock: Callable[[], float] | None = None
) -> App:
    """A new App on a private embedded server, with ``app``'s tiers and processors."""
    return (app or App("memory://")).using("memory://", clock=clock)


@asynccontextmanager
async def embedded(
    app: App | None = None, *, clock: Callable[[], float] | None = None
) -> AsyncIterator[App]:
    """``embedded_copy(app)`` as an async context manager that closes it afterwards."""
    copy = embedded_copy(app, clock=clock)
    try:
        yield copy
    finally:
        await copy.aclose()


async def run_until_idle(
    app: App, tiers: str | Iterable[str] | None = None, *, include_delayed: bool = True,
    max_rounds: int = 100,
) -> dict[str, dict[str, int]]:
    """Run workers for ``tiers`` (one tier name, several, or by default every tier) until
    no job is waiting or running in any of them (a job of one tier may enqueue into, or
    wait for, another).

    With ``include_delayed`` (the default), delayed jobs, retries waiting out their backoff
    and jobs a per-key rate limit deferred are promoted at once instead of waited for, so a
    test of retries takes no time. Returns the final ``counts()`` of each tier. The worker
    leaves SIGINT to the test runner (a Ctrl-C stops the test run, not just this call). A
    tier's own ``rate_limit`` is kept, in real time: give your tests' App tiers without one.
    """
    names = [tiers] if isinstance(tiers, str) else list(tiers or app.tiers)
    for _ in range(max_rounds):
        await app.worker(names).run(burst=True, handle_signals=False)
        promoted = await _promote_delayed(app, names) if include_delayed else 0
        if not promoted:
            return {name: await app.queue(name).counts() for name in names}
    raise RuntimeError(
        f"jobs were still being retried after {max_rounds} rounds; a processor may be "
        "retrying forever (check attempts=)"
    )


async def _promote_delayed(app: App, names: list[str]) -> int:
    promoted = 0
    for name in names:
        queue = app.queue(name)
        for info in await queue.jobs(JobState.DELAYED, limit=10_000):
            await queue.promote(info.id)
            promoted += 1
    return promoted


__all__ = ["embedded", "embedded_copy", "run_until_idle"]
