"""An App for the CLI tests' `--app` (namespace and URL from the environment)."""

from __future__ import annotations

import os

from streamq import App, Job, Tier

app = App(os.environ.get("STREAMQ_TEST_REDIS_URL"),
          namespace=os.environ.get("STREAMQ_TEST_NAMESPACE", "sq"),
          tiers=[Tier("high", concurrency=2)])


@app.processor("double", tier="high")
async def double(job: Job) -> int:
    return int(job.data["n"]) * 2
