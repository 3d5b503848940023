"""The long Cluster and Sentinel failover runs (``make chaos``): several failovers in a row,
each under load, the killed node revived as a replica before the next. The short runs, one
failover each, are ``tests/cluster/test_cluster_failover.py`` and ``test_sentinel.py``.
"""

from __future__ import annotations

import pytest

from streamq import App, Tier
from tests.chaos.conftest import Size
from tests.cluster.failover_load import Report, run_with_kill
from tests.cluster_rig import ClusterRig, SentinelRig
from tests.conftest import delete_namespace

pytestmark = [pytest.mark.slow, pytest.mark.chaos]

TIERS = ["standard", "high", "low"]
ROUNDS = 3


def _long_only(size: Size) -> None:
    if size.name != "long":
        pytest.skip("long run only (make chaos); the short one is in tests/cluster")


def _app(url: str, namespace: str, tiers: list[str]) -> App:
    return App(url, namespace=namespace,
               tiers=[Tier(name, lease=2, keep_completed=1_000_000) for name in tiers])


def _check(report: Report) -> None:
    assert report.completed + len(report.lost) == report.acked
    assert len(report.lost) <= 10, report.lost
    assert report.work_recovery_s is not None and report.work_recovery_s < 20


async def test_cluster_survives_repeated_master_failovers(size: Size, namespace: str) -> None:
    """Kill the master of each tier in turn (3 masters, 1 replica each)."""
    _long_only(size)
    with ClusterRig(masters=3, replicas=1, node_timeout_ms=1000) as rig:
        for round_number in range(ROUNDS):
            tier = TIERS[round_number % len(TIERS)]
            victim = rig.owner_port(f"{{{tier}}}")
            app = _app(rig.url, f"{namespace}r{round_number}", TIERS)
            try:
                report = await run_with_kill(app, TIERS, tier, lambda v=victim: rig.kill9(v),
                                             before_s=2.0 * size.scale / 4, after_s=3.0)
            finally:
                await app.aclose()
            print(f"\ncluster failover {round_number + 1} ({tier}): {report.summary()}")
            _check(report)
            rig.revive(victim)
            await delete_namespace(rig.url, f"{namespace}r{round_number}")


async def test_sentinel_survives_repeated_failovers(size: Size, namespace: str) -> None:
    """Kill whichever node is master, revive it as the replica, and again."""
    _long_only(size)
    with SentinelRig() as rig:
        for round_number in range(ROUNDS):
            victim = rig.current_master()
            app = _app(rig.url, f"{namespace}r{round_number}", TIERS[:2])
            try:
                report = await run_with_kill(app, TIERS[:2], "high",
                                             lambda v=victim: rig.kill9(v),
                                             before_s=2.0 * size.scale / 4, after_s=3.0)
            finally:
                await app.aclose()
            print(f"\nsentinel failover {round_number + 1}: {report.summary()}")
            _check(report)
            rig.revive(victim)
