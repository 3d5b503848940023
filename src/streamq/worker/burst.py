"""Burst runs of several tiers end together (``run(burst=True)``, ``streamq worker --burst``,
``run_until_idle``).

Each tier used to end as soon as it found nothing to do. A job of another tier still
running could then enqueue into it, or wait for a job of it, and that job was left behind
(or its waiter never returned). Now a tier that found nothing waits and looks again every
``LOOK_AGAIN_S``, and every tier ends once all of them are waiting, each having found nothing
in a look begun after the last job finished anywhere.
"""

from __future__ import annotations

import asyncio
import contextlib

LOOK_AGAIN_S = 0.05
"""An idle tier of a burst run looks for new jobs at least this often while others run."""


class BurstGroup:
    """The tiers of one burst run. A job finishing anywhere starts a new generation; a tier
    that found nothing in a look begun at the current generation is idle."""

    def __init__(self, tiers: int) -> None:
        self.generation = 0
        self._tiers = tiers
        self._idle: dict[object, int] = {}
        """The tiers waiting in :meth:`over`, with the generation their last look began at."""
        self._over = asyncio.Event()

    def job_finished(self) -> None:
        """A job's processor returned: what it enqueued may be for a waiting tier."""
        self.generation += 1

    async def over(self, tier: object, since: int) -> bool:
        """``tier``'s look begun at generation ``since`` found nothing: True once the run is
        over (every tier waiting here, none having seen a job finish since its look began);
        else False after ``LOOK_AGAIN_S``, for ``tier`` to look again. The run stays over."""
        self._idle[tier] = since
        if len(self._idle) == self._tiers and all(
                seen == self.generation for seen in self._idle.values()):
            self._over.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._over.wait(), LOOK_AGAIN_S)
        if self._over.is_set():
            return True
        del self._idle[tier]  # looking again: no longer idle
        return False
