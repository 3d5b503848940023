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
    made_id: bool = False
    """The id is streamq's own (random), not the caller's ``job_id``."""


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

    @property
    def entry_key(self) -> tuple[int, str]:
        """(priority, entry id): what identifies this start of the job in its worker. An
        entry id alone does not: ids repeat across the priority streams."""
        return self.priority, self.entry


class Delivered(NamedTuple):
    """An entry a blocking read delivered to a worker, for claim to start or hand back.
    ``held``: the job, when the entry holds it (``lib/inline.lua``) and so can start before
    claim confirms it."""

    priority: int
    entry: str
    job_id: str
    held: ClaimedJob | None


class Finished(NamedTuple):
    """A completed job, as complete records it."""

    id: str
    priority: int
    entry: str
    result: str
