"""What ``Worker.run`` raises when several of its tiers fail at once."""

from __future__ import annotations

from streamq.errors import ConfigurationError, ConnectionError, QueueStateLost
from streamq.worker.worker import _sole


def test_the_same_streamq_error_from_every_tier_is_raised_once() -> None:
    lost = ConnectionError("cannot reach Redis")
    group = BaseExceptionGroup("tiers", [ExceptionGroup("a", [lost]),
                                         ExceptionGroup("b", [ConnectionError("again")])])
    assert _sole(group) is lost


def test_different_errors_stay_a_group() -> None:
    """A tier's QueueStateLost or ConfigurationError must not hide behind another tier's
    ConnectionError (any two streamq errors were merged into the first)."""
    group = BaseExceptionGroup("tiers", [ConnectionError("cannot reach Redis"),
                                         QueueStateLost("group missing")])
    assert _sole(group) is group
    group = BaseExceptionGroup("tiers", [ConfigurationError("bad"), ValueError("x")])
    assert _sole(group) is group
