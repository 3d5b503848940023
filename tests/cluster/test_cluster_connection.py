"""Connecting to a real cluster: scripts reloaded after the masters lose their script cache,
a worker process started with a cluster URL, and clear errors when no node answers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamq import App, ConfigurationError, ConnectionError, Tier
from tests.cluster_rig import ClusterRig
from tests.conftest import delete_namespace
from tests.integration.worker_app import build_app

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
UNUSED_PORT = 1
"""Nothing listens there (a privileged port)."""


async def test_flushed_script_cache_is_reloaded_on_every_master(
    cluster: ClusterRig, namespace: str
) -> None:
    """After SCRIPT FLUSH on every master (what a failover to a fresh replica looks like),
    the next call on each tier's master gets NOSCRIPT, reloads the scripts and succeeds."""
    tiers = ["standard", "high", "low"]
    app = App(cluster.url, namespace=namespace, tiers=[Tier(t) for t in tiers])
    try:
        for tier in tiers:
            await app.queue(tier).enqueue("x", 1)
        for tier in tiers:
            owner = cluster.owner_port(f"{{{tier}}}")
            before = _noscript(cluster, owner)
            for port in cluster.ports:
                cluster.client(port).script_flush()
            job = await app.queue(tier).enqueue("x", 2)
            assert await job.state() == "waiting"
            assert (await app.queue(tier).counts())["waiting"] == 2
            assert _noscript(cluster, owner) == before + 1
    finally:
        await app.aclose()
        await delete_namespace(cluster.url, namespace)


def _noscript(cluster: ClusterRig, port: int) -> int:
    stats = cluster.client(port).info("errorstats")
    return int(stats.get("errorstat_NOSCRIPT", {}).get("count", 0))


@pytest.fixture
def cluster_worker(
    cluster: ClusterRig, namespace: str, tmp_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m tests.integration.worker_app`` on the cluster URL; stopped afterwards."""
    env = {**os.environ, "STREAMQ_TEST_REDIS_URL": cluster.url,
           "STREAMQ_TEST_NAMESPACE": namespace}
    with (tmp_path / "worker.log").open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "tests.integration.worker_app"],
                                   cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    yield process
    if process.poll() is None:
        process.kill()
        process.wait(10)


async def test_worker_process_runs_jobs_from_a_cluster_url(
    cluster: ClusterRig, namespace: str, tmp_path: Path,
    cluster_worker: subprocess.Popen[bytes],
) -> None:
    """A worker subprocess given the ``redis+cluster://`` URL runs jobs enqueued here and
    stops cleanly on SIGTERM."""
    app = build_app(cluster.url, namespace)
    try:
        jobs = [await app.enqueue("long", {"seconds": [0]}) for _ in range(5)]
        for job in jobs:
            result = await job.result(timeout=20)
            assert result["pid"] == cluster_worker.pid
    finally:
        cluster_worker.terminate()
        await asyncio.to_thread(cluster_worker.wait, 10)
        await app.aclose()
        await delete_namespace(cluster.url, namespace)
    assert cluster_worker.returncode == 0, (tmp_path / "worker.log").read_text()


async def test_unreachable_cluster_is_a_clear_error() -> None:
    """No seed node answers: ConnectionError naming the URL, password hidden."""
    app = App(f"redis+cluster://user:s3cret@127.0.0.1:{UNUSED_PORT}/")
    with pytest.raises(ConnectionError) as caught:
        await app.connect()
    await app.aclose()
    assert "s3cret" not in str(caught.value)
    assert f"127.0.0.1:{UNUSED_PORT}" in str(caught.value)


async def test_cluster_url_with_a_database_is_refused() -> None:
    """A cluster has only database 0: a URL naming another is a configuration error."""
    app = App("redis+cluster://127.0.0.1:7100/3")
    with pytest.raises(ConfigurationError, match="only database 0"):
        await app.connect()
    await app.aclose()
