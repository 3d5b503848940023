"""The App that real-process tests run in a worker subprocess.

``python -m tests.integration.worker_app`` (from the repository root) runs a worker for the
``standard`` tier until SIGTERM/SIGINT, on the Redis at ``$STREAMQ_TEST_REDIS_URL`` in the
namespace ``$STREAMQ_TEST_NAMESPACE``. The tier's lease is 1 s, so a killed worker's job is
reclaimed quickly. Tests build the same App in-process with :func:`build_app`.
"""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

from streamq import App, Job, Tier

LEASE_S = 1


def build_app(url: str | None = None, namespace: str | None = None) -> App:
    """The App, on ``url`` / ``namespace`` (default: from the environment)."""
    app = App(
        url or os.environ["STREAMQ_TEST_REDIS_URL"],
        namespace=namespace or os.environ["STREAMQ_TEST_NAMESPACE"],
        tiers=[Tier("standard", lease=LEASE_S)],
    )

    @app.processor("long")
    async def long(job: Job) -> dict[str, Any]:
        """Sleep ``data["seconds"][attempt - 1]`` (the last value for later attempts)."""
        seconds: list[float] = job.data["seconds"]
        await job.log(f"attempt {job.attempt} in pid {os.getpid()}")
        await asyncio.sleep(seconds[min(job.attempt, len(seconds)) - 1])
        return {"attempt": job.attempt, "pid": os.getpid()}

    @app.processor("suicide")
    async def suicide(job: Job) -> None:
        """SIGKILL this worker process in the job's first step."""
        os.kill(os.getpid(), signal.SIGKILL)

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
