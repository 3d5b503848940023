"""Burst runs of several tiers end together (``run(burst=True)``, ``streamq worker --burst``,
``run_until_idle``).

Each tier used to end as soon as it found nothing to do. A job of another tier still
running could then enqueue into it, or wait for a job of it, and that job was left behind
(or its waiter never returned). Now a tier that found nothing waits, looking again whenever
a job of another tier finishes (and every ``LOOK_AGAIN_S``), and every tier ends once all of
them found nothing since the last job finished anywhere.
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
        self._changed = asyncio.Event()
        self._done = False

    def job_finished(self) -> None:
        """A job's processor returned: what it enqueued may be for an idle tier."""
        self.generation += 1
        self._changed.set()
        self._changed = asyncio.Event()

    def idle(self, tier: object, since: int) -> bool:
        """``tier`` found nothing in a look begun at generation ``since``. True once every
        tier has, since the last job finished: the run is over (and stays over)."""
        self._idle[tier] = since
        if len(self._idle) == self._tiers and all(
                seen == self.generation for seen in self._idle.values()):
            self._done = True
            self._changed.set()
        return self._done

    async def over(self, tier: object, since: int) -> bool:
        """``tier``'s look begun at generation ``since`` found nothing: True if the run is
        over; else False once a job finished somewhere (or ``LOOK_AGAIN_S`` passed), for
        ``tier`` to look again."""
        if self.idle(tier, since):
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), LOOK_AGAIN_S)
        return False
