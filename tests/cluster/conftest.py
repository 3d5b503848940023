"""A real three-master Redis Cluster for every test in this directory.

``backend_url`` is overridden to the cluster's ``redis+cluster://`` URL, so the behavioural
tests imported from the rest of the suite run unchanged against the cluster (the fixtures
``app``, ``make_app`` and ``clock_app`` build their Apps from it and clean up after them).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cluster_rig import ClusterRig


@pytest.fixture(scope="session")
def cluster() -> Iterator[ClusterRig]:
    """Three masters, no replicas, slots split evenly: ``{standard}`` lives on the first,
    ``{high}`` and ``{critical}`` on the second, ``{low}`` on the third."""
    with ClusterRig(masters=3, replicas=0) as rig:
        yield rig


@pytest.fixture
def backend_url(cluster: ClusterRig) -> str:
    """The cluster, instead of ``memory://`` and the single server."""
    return cluster.url

