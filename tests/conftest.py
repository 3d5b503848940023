"""Fixtures shared by the whole suite.

``app`` runs each behavioural test twice: on the embedded backend (``memory://``) and on the
real Redis server. Every test gets its own namespace, so tests never see each other's keys
and nothing is flushed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis

from streamq import App, Tier
from streamq.broker.connection import open_connection
from tests import redis_server
from tests.helpers import FakeClock

BACKENDS = ("memory", "redis")


def pytest_configure(config: pytest.Config) -> None:
    try:
        if os.environ.get("STREAMQ_TEST_ACL") and "STREAMQ_TEST_REDIS_URL" not in os.environ:
            # `make test-acl`: the real-Redis tests run as the least-privilege user
            from tests.acl import start_acl_server

            os.environ["STREAMQ_TEST_REDIS_URL"] = start_acl_server()
        os.environ["STREAMQ_TEST_REDIS_URL"] = redis_server.resolve()
    except RuntimeError as exc:
        raise pytest.UsageError(str(exc)) from None


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The real Redis server's URL."""
    return os.environ["STREAMQ_TEST_REDIS_URL"]


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, redis_url: str) -> str:
    """``memory://`` (a fresh embedded server) or the real Redis URL."""
    return "memory://" if request.param == "memory" else redis_url


NAMESPACES_USED: dict[str, str] = {}
"""Every namespace handed to a test this session: checked for leftover keys at the end."""


@pytest.fixture
def namespace(request: pytest.FixtureRequest) -> str:
    """A namespace of the test's own."""
    name = f"t{uuid.uuid4().hex[:12]}"
    NAMESPACES_USED[name] = request.node.nodeid
    return name


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if a test left keys on the real server (the suite must not grow Redis)."""
    url = os.environ.get("STREAMQ_TEST_REDIS_URL")
    if not url or not NAMESPACES_USED or exitstatus != 0:
        return
    client = redis.Redis.from_url(url)
    try:
        leaked = sorted(f"{test} ({ns})" for ns, test in NAMESPACES_USED.items()
                        if next(client.scan_iter(match=f"{ns}:*", count=1000), None))
    finally:
        client.close()
    if leaked:
        print(f"\ntests left keys on {url}: {', '.join(leaked)}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def tiers() -> list[Tier]:
    """Tier overrides for the ``app`` fixture (override in a test module to change them)."""
    return []


MakeApp = Callable[..., App]


@pytest.fixture
async def make_app(backend_url: str, namespace: str) -> AsyncIterator[MakeApp]:
    """Build extra Apps (own tiers, clock, ...) on the test's backend and namespace; closed
    and cleaned up afterwards."""
    apps: list[App] = []

    def make(**options: Any) -> App:
        application = App(backend_url, namespace=namespace, **options)
        apps.append(application)
        return application

    yield make
    for application in apps:
        await application.aclose()
    if backend_url != "memory://":
        await delete_namespace(backend_url, namespace)


@pytest.fixture
async def app(backend_url: str, namespace: str, tiers: list[Tier]) -> AsyncIterator[App]:
    """An App on each backend, in a namespace of its own; its keys are deleted afterwards."""
    application = App(backend_url, namespace=namespace, tiers=tiers)
    yield application
    await application.aclose()
    if backend_url != "memory://":
        await delete_namespace(backend_url, namespace)


async def delete_namespace(url: str, namespace: str) -> None:
    """Delete every key of ``namespace`` on the real server (every node of a cluster)."""
    connection = open_connection(url)
    client = connection.client
    try:
        keys = [key async for key in client.scan_iter(match=f"{namespace}:*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await connection.aclose()


@pytest.fixture
def clock() -> FakeClock:
    """A settable clock, for ``clock_app``."""
    return FakeClock()


@pytest.fixture
async def clock_app(
    backend_url: str, namespace: str, tiers: list[Tier], clock: FakeClock
) -> AsyncIterator[App]:
    """Like ``app``, with the fake ``clock`` injected."""
    application = App(backend_url, namespace=namespace, tiers=tiers, clock=clock)
    yield application
    await application.aclose()
    if backend_url != "memory://":
        await delete_namespace(backend_url, namespace)
