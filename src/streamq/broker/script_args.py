"""The argument lists of the scripts on the hot path, built with as little Python as they
allow: enqueue's runs of alike jobs, and claim's keys, rate limits and delivered entries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from streamq.broker.keys import GROUP, QueueKeys
from streamq.broker.records import Delivered, NewJob

if TYPE_CHECKING:
    from streamq.config import RateLimit


def _bucket_args(limit: RateLimit | None) -> tuple[int, int, int]:
    """A rate limit as claim's ARGV: tokens per window, window in ms, burst (0s = none)."""
    return (0, 0, 0) if limit is None else (limit.limit, limit.per_ms, limit.capacity)


def claim_keys(keys: QueueKeys) -> tuple[str, ...]:
    """claim.lua's KEYS."""
    return (keys.meta, *keys.ready, keys.delayed, keys.rate, keys.index)


def claim_args(
    job_prefix: str, consumer: str, now_ms: int, count: int,
    delivered: Sequence[tuple[int, str, str] | Delivered] | None,
    rate_limit: RateLimit | None, rate_limit_per_key: RateLimit | None, defer_budget: int,
) -> list[Any]:
    """claim.lua's ARGV (its header says what each is)."""
    args: list[Any] = [GROUP, consumer, now_ms, count, job_prefix, *_bucket_args(rate_limit),
                       *_bucket_args(rate_limit_per_key), defer_budget, len(delivered or ())]
    for one in delivered or ():
        args += [one[0], one[1], one[2]]  # priority, entry id, job id
    return args


def enqueue_resent(args: list[Any]) -> list[Any]:
    """enqueue.lua's ARGV for the call ``args`` were made for, sent again after its
    connection broke: ARGV[5] = "1", the first id streamq made is looked up."""
    return [*args[:4], "1", *args[5:]]


def enqueue_call(
    keys: QueueKeys, jobs: Sequence[NewJob], now_ms: int, max_waiting: int, look_up: bool
) -> tuple[list[str], list[Any]]:
    """enqueue.lua's KEYS and ARGV for adding ``jobs``; ``look_up``: the first id streamq
    made is looked up (a call that may be a resend)."""
    runs, ids_and_data, job_keys = _enqueue_runs(keys.job_prefix, jobs, now_ms)
    return ([keys.delayed, *keys.ready, keys.index, keys.meta, *job_keys],
            [now_ms, max_waiting, GROUP, len(runs) // 8, "1" if look_up else "0", *runs,
             *ids_and_data])


def _enqueue_runs(
    job_prefix: str, jobs: Sequence[NewJob], now_ms: int
) -> tuple[list[Any], list[str], list[str]]:
    """enqueue.lua's runs (8 values each), per-job ids and data, and job hash keys.

    A run is consecutive jobs alike in all but id and data, so a batch of one kind of job
    sends its name, priority, due time, attempts, options and rate key once. Jobs due now
    with ids streamq made need no key, except the first such job (the resend lookup)."""
    runs: list[Any] = []
    ids_and_data: list[str] = []
    job_keys: list[str] = []
    shape: tuple[Any, ...] = ()
    count = 0
    first_made = True
    for job in jobs:
        job_shape = (job.name, job.priority, job.due_ms, job.attempts, job.opts, job.rate_key,
                     int(job.made_id))
        if job_shape != shape:
            if count:
                runs += (count, *shape)
            shape, count = job_shape, 0
        count += 1
        ids_and_data += (job.id, job.data)
        if not job.made_id or job.due_ms > now_ms or first_made:
            job_keys.append(job_prefix + job.id)
        first_made = first_made and not job.made_id
    if count:
        runs += (count, *shape)
    return runs, ids_and_data, job_keys
