"""The App that the multi-process schedule test runs in worker subprocesses.

``python -m tests.integration.schedule_app`` runs a worker for the ``standard`` tier until
SIGTERM/SIGINT (on ``$STREAMQ_TEST_REDIS_URL``, namespace ``$STREAMQ_TEST_NAMESPACE``). Its
``beat`` processor appends the job id to the list ``<namespace>:runs``, so the test counts
executions, not jobs. ``keep_completed=0`` deletes each job as it completes: the job id can
then no longer deduplicate a second fire of the same tick, so only the tick's
compare-and-set keeps it exactly once.
"""

from __future__ import annotations

import asyncio
import os

import redis.asyncio as aioredis

from streamq import App, Job, Tier


def build_app(url: str | None = None, namespace: str | None = None) -> App:
    """The App, on ``url`` / ``namespace`` (default: from the environment)."""
    url = url or os.environ["STREAMQ_TEST_REDIS_URL"]
    namespace = namespace or os.environ["STREAMQ_TEST_NAMESPACE"]
    app = App(url, namespace=namespace, tiers=[Tier("standard", keep_completed=0)])
    client = aioredis.Redis.from_url(url)

    @app.processor("beat")
    async def beat(job: Job) -> None:
        await client.rpush(f"{namespace}:runs", job.id)

    return app


async def main() -> None:
    """Run one worker for the standard tier until stopped by a signal."""
    app = build_app()
    try:
        await app.worker("standard").run()
    finally:
        await app.aclose()


if __name__ == "__main__":
    asyncio.run(main())
