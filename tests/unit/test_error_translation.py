"""Redis refusals that translate_errors turns into streamq errors saying what to do."""

from __future__ import annotations

import pytest
import redis.exceptions as rex

from streamq import ConnectionError
from streamq.broker.connection import translate_errors


def test_too_few_replicas_in_sync_is_a_clear_retryable_error() -> None:
    """min-replicas-to-write refused the write: nothing was written, retry later."""
    with pytest.raises(ConnectionError, match="min-replicas-to-write") as caught, \
            translate_errors("redis://:secret@h:6379/0"):
        raise rex.ResponseError("NOREPLICAS Not enough good replicas to write.")
    assert "secret" not in str(caught.value)
