"""Redis Sentinel: one master, one replica, three sentinels. Jobs run
through a ``redis+sentinel://`` URL, and when the master is killed under load the sentinels
promote the replica and producers and workers follow it on their own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from streamq import App, Job, Tier
from tests.cluster.failover_load import run_with_kill
from tests.cluster_rig import SentinelRig
from tests.helpers import running

pytestmark = pytest.mark.slow

TIERS = ["standard", "high"]


@pytest.fixture(scope="module")
def sentinels() -> Iterator[SentinelRig]:
    """One deployment for the module (after the failover test its master is the former
    replica, which serves the other test as well)."""
    with SentinelRig() as rig:
        yield rig


@pytest.fixture
async def sentinel_app(sentinels: SentinelRig, namespace: str) -> AsyncIterator[App]:
    """An App on the sentinel URL; tiers with a 2 s lease that keep every completed job."""
    app = App(sentinels.url, namespace=namespace,
              tiers=[Tier(name, lease=2, keep_completed=100_000) for name in TIERS])
    yield app
    await app.aclose()


async def test_jobs_run_through_a_sentinel_url(
    sentinels: SentinelRig, sentinel_app: App
) -> None:
    """The App finds the master through the sentinels."""
    @sentinel_app.processor("hello")
    async def hello(job: Job) -> str:
        return f"hello {job.data}"

    job = await sentinel_app.enqueue("hello", "sentinel")
    async with running(sentinel_app.worker("standard")):
        assert await job.result(timeout=10) == "hello sentinel"


async def test_master_killed_under_load_fails_over(
    sentinels: SentinelRig, sentinel_app: App
) -> None:
    """SIGKILL the master while jobs are enqueued and processed: after the sentinels promote
    the replica, both resume through the same URL; the ledger holds (acknowledged jobs the
    replica never received are reported lost and bounded)."""
    old_master = sentinels.current_master()
    assert old_master == sentinels.master_port
    report = await run_with_kill(sentinel_app, TIERS, "high",
                                 lambda: sentinels.kill9(old_master),
                                 before_s=1.0, after_s=1.0)
    print(f"\nsentinel failover: {report.summary()}")
    assert sentinels.current_master() == sentinels.replica_port
    assert report.enqueue_errors > 0 and report.work_recovery_s is not None
    assert report.work_recovery_s < 20
    assert report.completed + len(report.lost) == report.acked
    assert len(report.lost) <= 5, report.lost
