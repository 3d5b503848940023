"""A Redis Cluster master killed with SIGKILL under load: its replica takes over, producers
and workers resume on their own, the scripts are reloaded on the new master (NOSCRIPT), and
the ledger holds."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from streamq import App, Tier
from streamq.broker.scripts import SCRIPT_NAMES
from tests.cluster.failover_load import run_with_kill
from tests.cluster_rig import ClusterRig
from tests.conftest import delete_namespace

pytestmark = pytest.mark.slow

TIERS = ["standard", "high", "low"]


@pytest.fixture
def replicated_cluster() -> Iterator[ClusterRig]:
    """A cluster of its own (this test breaks it), with a replica per master and a 1 s
    node timeout so that a failover takes about two seconds."""
    with ClusterRig(masters=3, replicas=1, node_timeout_ms=1000) as rig:
        yield rig


@pytest.fixture
async def failover_app(replicated_cluster: ClusterRig, namespace: str) -> AsyncIterator[App]:
    """An App on the cluster whose tiers have a 2 s lease (quick reclaim after the kill) and
    keep every completed job (the ledger reads them all)."""
    app = App(replicated_cluster.url, namespace=namespace,
              tiers=[Tier(name, lease=2, keep_completed=100_000) for name in TIERS])
    yield app
    await app.aclose()
    await delete_namespace(replicated_cluster.url, namespace)


async def test_master_killed_mid_load_fails_over(
    replicated_cluster: ClusterRig, failover_app: App
) -> None:
    """The three tiers live on three masters; the one holding ``{high}`` is killed while jobs
    are enqueued and processed. Everything acknowledged completes (or, acknowledged just
    before the kill and never replicated, is reported lost); the new master answered
    NOSCRIPT and got the scripts loaded."""
    rig = replicated_cluster
    owners = {tier: rig.owner_port(f"{{{tier}}}") for tier in TIERS}
    assert len(set(owners.values())) == 3, owners
    victim = owners["high"]

    report = await run_with_kill(failover_app, TIERS, "high", lambda: rig.kill9(victim),
                                 before_s=1.0, after_s=1.0)
    print(f"\ncluster failover: {report.summary()}")

    new_owner = rig.owner_port("{high}")
    assert new_owner != victim
    errors = rig.client(new_owner).info("errorstats")
    assert errors.get("errorstat_NOSCRIPT", {}).get("count", 0) >= 1, errors
    loaded = rig.client(new_owner).info("commandstats")["cmdstat_script|load"]["calls"]
    assert loaded >= len(SCRIPT_NAMES)
    assert report.enqueue_errors > 0 and report.work_recovery_s is not None
    assert report.work_recovery_s < 15
    assert report.completed + len(report.lost) == report.acked
    assert len(report.lost) <= 5, report.lost
