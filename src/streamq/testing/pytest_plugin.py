"""pytest plugin (registered by the ``streamq`` entry point): the ``streamq_app`` fixture.

Set ``streamq_app = mypackage.jobs:app`` under ``[tool.pytest.ini_options]`` to get an embedded
copy of your own App (same processors and tiers) in every test; without it the fixture is a
bare ``App("memory://")``.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import AsyncIterator

import pytest

from streamq.app import App
from streamq.errors import ConfigurationError
from streamq.testing import embedded_copy


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("streamq_app", "module:attribute of the App that streamq_app copies", default="")


def load_app(spec: str) -> App:
    """Import ``module:attribute`` and check that it is an App."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ConfigurationError(f"expected module:attribute, e.g. myapp.jobs:app, got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"cannot load the App {spec!r}: {exc}") from None
    if not isinstance(found, App):
        raise ConfigurationError(f"{spec!r} is a {type(found).__name__}, not a streamq.App")
    return found


@pytest.fixture
async def streamq_app(request: pytest.FixtureRequest) -> AsyncIterator[App]:
    """An App on a fresh embedded server (a copy of the ``streamq_app`` ini option's App)."""
    spec = str(request.config.getini("streamq_app") or "")
    app = embedded_copy(load_app(spec) if spec else None)
    try:
        yield app
    finally:
        await app.aclose()
