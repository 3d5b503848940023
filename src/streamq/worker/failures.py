"""Recording a failed attempt: the ``fail`` script, sent again while Redis cannot be reached,
as the batches of completions are."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import structlog

from streamq.errors import ConnectionError, QueueStateLost
from streamq.worker.upkeep import RETRY_PAUSE_S, recreate_queue

if TYPE_CHECKING:
    from streamq.app import App
    from streamq.broker.backend import Backend
    from streamq.broker.keys import QueueKeys
    from streamq.broker.records import ClaimedJob
    from streamq.worker.outcome import Failed

log = structlog.get_logger("streamq.worker")


async def record_failure(
    app: App, backend: Backend, keys: QueueKeys, consumer: str, job: ClaimedJob,
    outcome: Failed, keep: int,
) -> str:
    """Record ``outcome`` for ``job``: ``"delayed"``, ``"failed"`` or ``"lease_lost"``.

    While Redis cannot be reached the call is sent again every ``RETRY_PAUSE_S``; the job
    stays in the worker meanwhile, its lease renewed, so it neither runs again nor loses its
    outcome (a ``Fail``, a retry's delay). A call that reached Redis before its reply was
    lost finds the entry acknowledged when sent again, and answers ``"lease_lost"``. The
    retries end when the lease is lost (the upkeep cancels this task) or the worker stops.
    """
    while True:
        try:
            return await backend.scripts.fail(
                keys, consumer, job, app.now_ms(), error=outcome.error,
                traceback=outcome.traceback, retry_delay_ms=outcome.retry_delay_ms, keep=keep)
        except QueueStateLost as exc:
            await recreate_queue(app, backend, keys, exc)
        except ConnectionError as exc:
            log.error("cannot record a failed attempt; retrying", tier=keys.tier,
                      job_id=job.id, error=str(exc))
            await anyio.sleep(RETRY_PAUSE_S)
