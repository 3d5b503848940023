"""Redis refusals that translate_errors turns into streamq errors saying what to do."""

from __future__ import annotations

import pytest
import redis.exceptions as rex

from streamq import ConnectionError, RedisFull
from streamq.broker.connection import translate_errors


def test_too_few_replicas_in_sync_is_a_clear_retryable_error() -> None:
    """min-replicas-to-write refused the write: nothing was written, retry later."""
    with pytest.raises(ConnectionError, match="min-replicas-to-write") as caught, \
            translate_errors("redis://:secret@h:6379/0"):
        raise rex.ResponseError("NOREPLICAS Not enough good replicas to write.")
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize(("message", "kind", "says"), [
    ("ERR Error running script (call to f_0123): @user_script:3: @user_script: 3: -OOM "
     "command not allowed when used memory > 'maxmemory'.", RedisFull, "is full"),
    ("ERR Error running script (call to f_0123): @user_script:3: @user_script: 3: -MISCONF "
     "Errors writing to the AOF file: No space left on device", ConnectionError,
     "cannot persist"),
    ("ERR Error running script (call to f_0123): @user_script:1: @user_script: 1: "
     "-NOREPLICAS Not enough good replicas to write.", ConnectionError,
     "min-replicas-to-write"),
])
def test_refusals_a_script_met_on_redis_6_2_are_translated(
    message: str, kind: type[Exception], says: str
) -> None:
    """Redis before 7.0 wraps a refusal met inside a script in "ERR Error running script":
    the OOM, MISCONF and NOREPLICAS checks looked only at the start of the message, so on
    Redis 6.2 (still supported) a full Redis stopped a worker with redis-py's error."""
    with pytest.raises(kind, match=says), translate_errors("redis://h:6379/0"):
        raise rex.ResponseError(message)


def test_busygroup_is_not_busy() -> None:
    """BUSYGROUP (a group that exists) is not BUSY (a script running)."""
    with pytest.raises(rex.ResponseError), translate_errors("redis://h:6379/0"):
        raise rex.ResponseError("BUSYGROUP Consumer Group name already exists")
