"""The behavioural tests of ``tests.worker.test_worker_basics`` on a real 3-master cluster."""

from __future__ import annotations

import pytest

from tests.worker.test_worker_basics import *  # noqa: F403

pytestmark = pytest.mark.slow
