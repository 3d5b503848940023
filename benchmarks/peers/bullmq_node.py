"""BullMQ for Node (npm ``bullmq`` + ``ioredis``), driven through node/bullmq_bench.js.

Its producer and worker run in ``node`` processes, so this adapter overrides the
``produce_*`` hooks; producer timings are measured inside node (process start excluded).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from typing import Any
from urllib.parse import urlparse

from peers.base import Adapter, PayloadFn, throughput_payload

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "node", "bullmq_bench.js")
NODE_MODULES = os.environ.get(
    "STREAMQ_BENCH_NODE_MODULES",
    os.path.join(HERE, "..", "..", ".bench", "node", "node_modules"))


def available() -> str | None:
    """Why this peer cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not os.path.isdir(os.path.join(NODE_MODULES, "bullmq")):
        return f"bullmq is not installed in {NODE_MODULES} (make bench-peers-venv)"
    return None


class BullmqNodeAdapter(Adapter):
    """The original BullMQ, the yardstick of the issue's ratios."""

    NAME = "bullmq-node"
    BULK_API = "Queue.addBulk (one MULTI pipeline of addStandardJob EVALSHA)"
    CONCURRENCY_NOTE = "Worker(concurrency: N)"
    NOTES = ("enqueue: 1 EVALSHA addStandardJob. The worker: ~1 EVALSHA per job "
             "(moveToFinished also fetches the next job); BZPOPMIN on a marker only when "
             "drained. Completed job hashes kept (removeOnComplete false).")

    def _env(self) -> dict[str, str]:
        url = urlparse(self.redis_url)
        env = dict(os.environ)
        env.update(NODE_PATH=os.path.abspath(NODE_MODULES),
                   BENCH_REDIS_HOST=url.hostname or "127.0.0.1",
                   BENCH_REDIS_PORT=str(url.port or 6379))
        return env

    async def _node(self, *args: str) -> dict[str, Any]:
        proc = await asyncio.create_subprocess_exec(
            "node", SCRIPT, *args, env=self._env(),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"node {' '.join(args)} failed: {err.decode()[-2000:]}")
        result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
        return result

    async def produce_sequential(self, n: int, payload: PayloadFn = throughput_payload,
                                 gap_s: float = 0.0) -> float:
        args = ["latency", str(n), str(gap_s * 1000)] if gap_s else ["enqueue", str(n)]
        return float((await self._node(*args))["seconds"])

    async def produce_bulk(self, n: int, chunk: int,
                           payload: PayloadFn = throughput_payload) -> float:
        return float((await self._node("bulk", str(n), str(chunk)))["seconds"])

    async def warm_up(self) -> None:
        await self._node("warm")

    def worker_argv(self, concurrency: int) -> list[str]:
        return ["node", SCRIPT, "worker"]

    def worker_env(self, concurrency: int) -> dict[str, str]:
        return self._env()

    def versions(self) -> dict[str, str]:
        out = {"node": os.popen("node --version").read().strip()}
        for pkg in ("bullmq", "ioredis"):
            try:
                with open(os.path.join(NODE_MODULES, pkg, "package.json")) as f:
                    out[pkg] = json.load(f)["version"]
            except OSError:
                out[pkg] = "not installed"
        return out


ADAPTER = BullmqNodeAdapter()
