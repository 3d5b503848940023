"""An App for the CLI tests' `--app` (namespace and URL from the environment)."""

from __future__ import annotations

import asyncio
import os

from streamq import App, Job, Tier

app = App(os.environ.get("STREAMQ_TEST_REDIS_URL"),
          namespace=os.environ.get("STREAMQ_TEST_NAMESPACE", "sq"),
          tiers=[Tier("high", concurrency=2)])


@app.processor("double", tier="high")
async def double(job: Job) -> int:
    return int(job.data["n"]) * 2


HANG_IN = os.environ.get("STREAMQ_TEST_HANG_IN")
"""``startup`` or ``shutdown``: a hook of that kind that never returns (a connect without a
timeout), for the tests that stop such a worker with signals."""


async def hang(kind: str) -> None:
    print(f"hanging in on_{kind}", flush=True)
    await asyncio.Event().wait()


if HANG_IN == "startup":

    @app.on_startup
    async def hang_at_startup() -> None:
        await hang("startup")

elif HANG_IN == "shutdown":

    @app.on_shutdown
    async def hang_at_shutdown() -> None:
        await hang("shutdown")
