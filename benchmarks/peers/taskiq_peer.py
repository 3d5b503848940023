"""taskiq with taskiq-redis's RedisStreamBroker (Redis Streams). Runs in its own venv:
taskiq-redis needs a newer redis-py than arq and the bullmq port allow."""

from __future__ import annotations

import os
from typing import Any

from harness.jobmark import mark
from taskiq_redis import RedisStreamBroker

from peers.base import VENV_BIN, Adapter, Payload

URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6390/0")

# No result backend (taskiq's default): results are stored nowhere.
broker = RedisStreamBroker(url=URL, queue_name="peerbench")


@broker.task(task_name="noop")
async def noop(payload: Payload) -> None:
    """The job."""
    mark(payload)


async def _producer_stub(payload: Payload) -> None:
    """Registered under the same name on the producer's broker."""


class TaskiqAdapter(Adapter):
    """A second broker object as the producer; the ``taskiq worker`` CLI as the worker."""

    NAME = "taskiq"
    PACKAGES = ("taskiq", "taskiq-redis", "redis", "hiredis")
    CONCURRENCY_NOTE = "taskiq worker --max-async-tasks"
    NOTES = ("RedisStreamBroker. enqueue: 1 XADD (no MAXLEN). The worker: XREADGROUP COUNT "
             "100 per batch, 1 XACK per job; acked entries are never XDELed (the stream "
             "grows) and no result is stored. No bulk API.")

    async def open(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self._broker = RedisStreamBroker(url=redis_url, queue_name="peerbench")
        self._task: Any = self._broker.register_task(_producer_stub, task_name="noop")
        # as taskiq's docs say for clients; also creates the group on the empty stream
        await self._broker.startup()

    async def close(self) -> None:
        await self._broker.shutdown()

    async def enqueue(self, payload: Payload) -> Any:
        return await self._task.kiq(payload)

    def worker_argv(self, concurrency: int) -> list[str]:
        return [os.path.join(VENV_BIN, "taskiq"), "worker", "peers.taskiq_peer:broker",
                "--workers", "1", "--max-async-tasks", str(concurrency),
                "--log-level", "WARNING"]


ADAPTER = TaskiqAdapter()
