"""pytest plugin (registered by the ``streamq`` entry point): the ``streamq_app`` fixture.

Set ``streamq_app = mypackage.jobs:app`` under ``[tool.pytest.ini_options]`` to get an embedded
copy of your own App (same processors and tiers) in every test; without it the fixture is a
bare ``App("memory://")``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from streamq.app import App
from streamq.errors import ConfigurationError
from streamq.loading import load_app
from streamq.testing import embedded_copy

__all__ = ["load_app", "streamq_app"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("streamq_app", "module:attribute of the App that streamq_app copies", default="")


@pytest.fixture
async def streamq_app(request: pytest.FixtureRequest) -> AsyncIterator[App]:
    """An App on a fresh embedded server (a copy of the ``streamq_app`` ini option's App)."""
    spec = str(request.config.getini("streamq_app") or "")
    try:
        loaded = load_app(spec) if spec else None
    except ConfigurationError as exc:
        raise ConfigurationError(
            f"the streamq_app option of pytest (under [tool.pytest.ini_options]): {exc}"
        ) from None
    app = embedded_copy(loaded)
    try:
        yield app
    finally:
        await app.aclose()
