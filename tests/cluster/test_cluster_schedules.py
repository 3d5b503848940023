"""The behavioural tests of ``tests.test_schedules`` on a real 3-master cluster."""

from __future__ import annotations

import pytest

from tests.test_schedules import *  # noqa: F403
from tests.test_schedules import _round_start  # noqa: F401 - autouse

pytestmark = pytest.mark.slow
