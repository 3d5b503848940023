"""Finding the user's App from ``module:attribute`` (the CLI's ``--app``, the pytest
plugin's ``streamq_app`` option). Kept apart from the pytest plugin: importing pytest would
add about 0.2 s to every ``streamq worker`` start."""

from __future__ import annotations

import importlib
import os
import sys

from streamq.app import App
from streamq.errors import ConfigurationError


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
