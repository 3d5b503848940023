"""Errors raised by streamq.

Every error is a :class:`StreamqError`, and every message says what to do next::

    StreamqError
    ├── ConnectionError          (also a builtin ConnectionError) Redis unreachable or refusing us
    │   └── RedisFull            Redis is at maxmemory (noeviction) and refused a write
    ├── RedisVersionError        the server lacks commands the scripts need
    ├── QueueStateLost           Redis lost a queue's streams or group (restart, no AOF)
    ├── ConfigurationError       (also ValueError) a bad option, tier, URL or processor
    ├── InvalidPayload           (also ValueError) job data that is not plain JSON
    │   └── PayloadTooLarge      job data over the size limit
    ├── QueueFull                the tier holds max_waiting jobs already
    ├── JobNotFound              (also KeyError) no job with that id
    ├── JobStateError            the job is not in a state that allows the call
    ├── ScheduleNotFound         (also KeyError) no schedule with that key
    ├── UnknownJobType           no processor registered for a job's name
    ├── HookFailed               an @app.on_startup hook raised: the worker did not start
    └── JobFailed                the job ended FAILED (raised by Job.result)

A Redis call whose outcome is unknown (a timeout) surfaces as :class:`ConnectionError`;
enqueue is deduplicated by job id, so calling it again with the same ``job_id`` is safe.
"""

from __future__ import annotations

import builtins


class StreamqError(Exception):
    """Base class of every error streamq raises."""


class ConnectionError(StreamqError, builtins.ConnectionError):
    """Redis could not be reached, refused the credentials, or did not answer in time."""


class RedisFull(ConnectionError):
    """Redis is at ``maxmemory`` with ``maxmemory-policy noeviction`` and refused a write.

    Nothing was written (Redis refuses a script at its first write, before any effect), and
    the call is not retried. Workers keep draining: completing jobs frees memory.
    """


class RedisVersionError(StreamqError):
    """The Redis server is too old for streamq's scripts."""


class QueueStateLost(StreamqError):
    """Redis lost a queue's consumer group: it restarted without persistence, or keys were
    deleted. Workers recreate the group and report this loudly."""


class ConfigurationError(StreamqError, ValueError):
    """An option, tier, URL or processor definition is invalid."""


class InvalidPayload(StreamqError, ValueError):
    """Job data (or a result) cannot be stored as plain JSON."""


class PayloadTooLarge(InvalidPayload):
    """Job data is larger than the App's ``max_payload_bytes``."""


class QueueFull(StreamqError):
    """The tier's jobs that have not started (``waiting``) plus the ``adding`` ones would pass
    ``max_waiting``: nothing was written."""

    def __init__(self, tier: str, waiting: int, max_waiting: int, adding: int = 1) -> None:
        self.tier, self.waiting, self.max_waiting = tier, waiting, max_waiting
        self.adding = adding
        if adding == 1:
            super().__init__(
                f"queue {tier!r} is full: {waiting} jobs are waiting or delayed and "
                f"max_waiting is {max_waiting}; run more workers, or raise "
                "Tier(max_waiting=...)")
            return
        split = " split the batch," if adding > max_waiting - waiting else ""
        super().__init__(
            f"queue {tier!r} cannot take {adding} jobs at once: {waiting} are waiting or "
            f"delayed and max_waiting is {max_waiting}; nothing was added.{split} run more "
            "workers, or raise Tier(max_waiting=...)")


class JobNotFound(StreamqError, KeyError):
    """No job with this id exists (never enqueued, removed, or cleaned by retention)."""

    def __init__(self, tier: str, job_id: str) -> None:
        self.tier, self.job_id = tier, job_id
        super().__init__(
            f"no job {job_id!r} in queue {tier!r}: it was never enqueued there, was removed, "
            "or was deleted by retention (keep_completed / keep_failed)"
        )

    def __str__(self) -> str:
        return str(self.args[0])


class JobStateError(StreamqError):
    """The job exists but its state does not allow the call (e.g. promoting a running job)."""


class ScheduleNotFound(StreamqError, KeyError):
    """No schedule with this key exists (never created, or deleted)."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(
            f"no schedule {key!r}: it was never created, or was deleted; list them with "
            "app.schedules() or `streamq schedules`"
        )

    def __str__(self) -> str:
        return str(self.args[0])


class UnknownJobType(StreamqError):
    """No processor is registered for a job's name."""


class HookFailed(StreamqError):
    """An ``@app.on_startup`` hook raised, so the worker did not start."""


class JobFailed(StreamqError):
    """The job ended FAILED; ``error`` and ``traceback`` say why."""

    def __init__(self, job_id: str, error: str | None, traceback: str | None) -> None:
        self.job_id, self.error, self.traceback = job_id, error, traceback
        super().__init__(
            f"job {job_id!r} failed: {error}; see queue.get_job({job_id!r}).traceback, "
            f"and queue.retry({job_id!r}) to run it again"
        )
