"""The behavioural tests of ``tests.test_queue`` on a real 3-master cluster."""

from __future__ import annotations

import pytest

from tests.test_queue import *  # noqa: F403

pytestmark = pytest.mark.slow
