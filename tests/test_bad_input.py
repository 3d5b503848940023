"""Bad input that test_errors.py and test_enqueue_validation.py do not cover: unknown
options, and wrong types for each Tier field and the remaining enqueue options. Each is
refused with an error saying what is allowed, and nothing is written."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from streamq import App, Backoff, ConfigurationError, RateLimit, Tier
from tests.test_errors import refused, snapshot


async def test_unknown_enqueue_option_is_refused(app: App) -> None:
    """A misspelt option is a TypeError naming it (enqueue's options are keyword-only
    parameters, not a free-form dict), and nothing is written."""
    before = await snapshot(app)
    with pytest.raises(TypeError, match="priorty"):
        await app.queue().enqueue("x", None, priorty=1)  # type: ignore[call-arg]
    assert await snapshot(app) == before


async def test_unknown_option_in_a_batch_is_refused(app: App) -> None:
    """enqueue_many names the unknown option and the known ones; nothing is written."""
    before = await snapshot(app)
    with pytest.raises(ConfigurationError, match=r"unknown enqueue option\(s\) \['delai'\]"):
        await app.queue().enqueue_many([("x", 1), ("y", 2, {"delai": 5})])
    assert await snapshot(app) == before


@pytest.mark.parametrize(
    ("options", "phrase"),
    [
        ({"rate_key": ""}, "rate_key must be"),
        ({"rate_key": 1.5}, "rate_key must be"),
        ({"rate_key": ["tenant"]}, "rate_key must be"),
        ({"rate_key": "k" * 257}, "rate_key must be"),
        ({"timeout": "30"}, "timeout must be"),
        ({"timeout": timedelta(seconds=-1)}, "timeout must be"),
        ({"attempts": "3"}, "attempts must be"),
        ({"attempts": None, "priority": "0"}, "priority must be"),
        ({"job_id": ["a"]}, "job_id must be"),
        ({"backoff": Backoff}, "Backoff.fixed"),
    ],
    ids=["rate_key-empty", "rate_key-float", "rate_key-list", "rate_key-long", "timeout-str",
         "timeout-negative-td", "attempts-str", "priority-str", "job_id-list",
         "backoff-class"],
)
async def test_wrong_types_for_enqueue_options(
    app: App, options: dict[str, Any], phrase: str
) -> None:
    """Each wrong type raises ConfigurationError naming the option; nothing is written."""
    await refused(app, ConfigurationError, phrase, **options)


@pytest.mark.parametrize(
    ("fields", "phrase"),
    [
        ({"concurrency": 0}, "concurrency must be an integer >= 1"),
        ({"concurrency": "4"}, "concurrency must be an integer >= 1"),
        ({"concurrency": 2.0}, "concurrency must be an integer >= 1"),
        ({"concurrency": True}, "concurrency must be an integer >= 1"),
        ({"attempts": 0}, "attempts must be an integer >= 1"),
        ({"attempts": "3"}, "attempts must be an integer >= 1"),
        ({"keep_completed": -1}, "keep_completed must be an integer >= 0"),
        ({"keep_failed": 1.5}, "keep_failed must be an integer >= 0"),
        ({"max_waiting": "100"}, "max_waiting must be an integer >= 0"),
        ({"backoff": 5}, "Backoff.fixed(60)"),
        ({"backoff": "exponential"}, "Backoff.fixed(60)"),
        ({"timeout": 0}, "timeout must be > 0"),
        ({"timeout": "30"}, "timeout"),
        ({"lease": 0.5}, "lease must be at least 1 second"),
        ({"lease": "30"}, "lease"),
        ({"rate_limit": 100}, "RateLimit(100, per=60)"),
        ({"rate_limit": (100, 60)}, "RateLimit(100, per=60)"),
        ({"rate_limit_per_key": "10/s"}, "RateLimit(100, per=60)"),
    ],
    ids=lambda v: repr(v)[:30] if isinstance(v, dict) else None,
)
def test_wrong_types_for_tier_fields(fields: dict[str, Any], phrase: str) -> None:
    """Each Tier field checks its type and range at construction, naming the field."""
    with pytest.raises(ConfigurationError) as caught:
        Tier("high", **fields)
    assert phrase in str(caught.value)


@pytest.mark.parametrize("bad", [RateLimit(1), Tier("high"), "high"],
                         ids=["ratelimit", "tier-in-list-ok", "string"])
def test_tiers_takes_tier_objects(bad: Any) -> None:
    """App(tiers=...) takes Tier objects; anything else is named in the error."""
    if isinstance(bad, Tier):
        App("memory://", tiers=[bad])
        return
    with pytest.raises(ConfigurationError, match="tiers= takes Tier objects"):
        App("memory://", tiers=[bad])
