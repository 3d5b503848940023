"""The job records that cross the script boundary: what enqueue writes, what claim hands a
worker, what complete records."""

from __future__ import annotations

from typing import NamedTuple


class NewJob(NamedTuple):
    """A job as enqueue writes it."""

    id: str
    name: str
    data: str
    priority: int
    due_ms: int
    attempts: int
    opts: str
    rate_key: str = ""


class ClaimedJob(NamedTuple):
    """A job as claim hands it to a worker."""

    id: str
    priority: int
    entry: str
    name: str
    data: str
    attempt: int
    attempts: int
    opts: str


class Finished(NamedTuple):
    """A completed job, as complete records it."""

    id: str
    priority: int
    entry: str
    result: str
