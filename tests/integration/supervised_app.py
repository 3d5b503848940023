"""The App that `streamq worker --processes N` runs in the supervisor tests.

URL and namespace come from ``$STREAMQ_TEST_REDIS_URL`` and ``$STREAMQ_TEST_NAMESPACE``;
``$STREAMQ_TEST_FAIL_STARTUP=1`` adds a startup hook that fails (a crash-looping worker).
"""

from __future__ import annotations

import asyncio
import os

from streamq import App, Job, Tier

app = App(os.environ.get("STREAMQ_TEST_REDIS_URL"),
          namespace=os.environ.get("STREAMQ_TEST_NAMESPACE", "sq"),
          tiers=[Tier("standard", concurrency=4, lease=2)])


@app.processor("pid")
async def pid(job: Job) -> int:
    """Sleep ``data`` seconds, then return the pid of the worker that ran the job."""
    await asyncio.sleep(float(job.data or 0))
    return os.getpid()


if os.environ.get("STREAMQ_TEST_FAIL_STARTUP") == "1":

    @app.on_startup
    async def broken() -> None:
        raise RuntimeError("database unreachable")
