"""Backoff policies as pure functions of the attempt number: fixed, exponential with a cap
and jitter, custom; their validation; and the fallback chain the worker uses."""

from __future__ import annotations

import math
import random
from datetime import timedelta
from typing import Any

import pytest

from streamq import App, Backoff, ConfigurationError, Job, Tier
from streamq.scheduling.backoff import FALLBACK, MAX_DOUBLINGS, describe, first_delay
from streamq.timeunits import MAX_SECONDS

# ------------------------------------------------------------------------- fixed, exponential


def test_fixed_is_the_same_every_time() -> None:
    """Fixed backoff waits its delay after every failed attempt."""
    assert [Backoff.fixed(60).delay(n) for n in range(1, 6)] == [60.0] * 5
    assert Backoff.fixed(timedelta(minutes=2)).delay(3) == 120.0


def test_exponential_doubles_up_to_the_cap() -> None:
    """Exponential backoff: base, 2 x base, 4 x base ... never above the cap."""
    backoff = Backoff.exponential(10, cap=25)
    assert [backoff.delay(n) for n in range(1, 6)] == [10.0, 20.0, 25.0, 25.0, 25.0]
    assert [Backoff.exponential(1).delay(n) for n in (1, 2, 3, 13)] == [1.0, 2.0, 4.0, 3600.0]


def test_exponential_without_cap_stays_finite() -> None:
    """With cap=None a huge attempt number gives at most MAX_SECONDS, never an overflow."""
    backoff = Backoff.exponential(1, cap=None)
    assert backoff.delay(MAX_DOUBLINGS + 1) == MAX_SECONDS
    assert backoff.delay(5000) == MAX_SECONDS
    assert backoff.delay(20) == 2.0**19


def test_jitter_stays_within_its_band() -> None:
    """jitter=0.5 scales each delay by a factor in [0.5, 1]; the delays really differ."""
    backoff = Backoff.fixed(100, jitter=0.5)
    delays = [backoff.delay(1) for _ in range(500)]
    assert all(50.0 <= d <= 100.0 for d in delays)
    assert len(set(delays)) > 400
    assert min(delays) < 60 and max(delays) > 90  # the band is used, not one end of it


def test_jitter_applies_after_the_cap() -> None:
    """Capped exponential with jitter: delays in [cap x (1 - jitter), cap] once capped."""
    backoff = Backoff.exponential(10, cap=25, jitter=0.2)
    assert all(20.0 <= backoff.delay(8) <= 25.0 for _ in range(200))
    assert all(8.0 <= backoff.delay(1) <= 10.0 for _ in range(200))


def test_jitter_is_repeatable_with_a_seed() -> None:
    """Jitter draws from ``random``: the same seed gives the same delays."""
    backoff = Backoff.exponential(2, jitter=1.0)
    saved = random.getstate()
    try:
        random.seed(1234)
        first = [backoff.delay(n) for n in range(1, 8)]
        random.seed(1234)
        assert [backoff.delay(n) for n in range(1, 8)] == first
    finally:
        random.setstate(saved)
    assert all(0.0 <= d <= 2.0 * 2 ** (n - 1) for n, d in enumerate(first, 1))


# ------------------------------------------------------------------------- custom


def test_custom_gets_the_attempt_number() -> None:
    """fn(attempt) decides; seconds as int, float or timedelta."""
    seen: list[int] = []

    def policy(attempt: int) -> float | timedelta:
        seen.append(attempt)
        return timedelta(seconds=attempt * 1.5) if attempt % 2 else attempt * 10

    backoff = Backoff.custom(policy)
    assert [backoff.delay(n) for n in (1, 2, 3)] == [1.5, 20.0, 4.5]
    assert seen == [1, 2, 3]
    assert not backoff.storable
    assert Backoff.fixed(1).storable


@pytest.mark.parametrize(
    "value", [-1, -0.5, math.nan, math.inf, "5", None, True, timedelta(seconds=-1),
              MAX_SECONDS + 1],
    ids=["-1", "-0.5", "nan", "inf", "string", "none", "bool", "negative-timedelta", "huge"],
)
def test_custom_returning_a_bad_value_raises(value: Any) -> None:
    """A bad return value is a ConfigurationError naming the value, the attempt and the fix."""
    backoff = Backoff.custom(lambda attempt: value)
    with pytest.raises(ConfigurationError, match="custom backoff returned") as caught:
        backoff.delay(3)
    assert "attempt 3" in str(caught.value)
    assert "seconds" in str(caught.value)


def test_custom_that_raises_propagates() -> None:
    """Whatever fn raises comes out of delay(): the worker catches it."""

    def broken(attempt: int) -> float:
        raise KeyError(attempt)

    with pytest.raises(KeyError):
        Backoff.custom(broken).delay(1)


@pytest.mark.parametrize("fn", [5, "fast", None, Backoff.fixed(1)],
                         ids=["int", "string", "none", "backoff"])
def test_custom_needs_a_function(fn: Any) -> None:
    """Backoff.custom refuses anything but a function, showing one."""
    with pytest.raises(ConfigurationError, match=r"Backoff.custom\(lambda attempt"):
        Backoff.custom(fn)


def test_custom_refuses_async_functions() -> None:
    """An async function would return a coroutine, not seconds."""

    async def later(attempt: int) -> float:
        return 1.0

    with pytest.raises(ConfigurationError, match="not an async one"):
        Backoff.custom(later)  # type: ignore[arg-type]


def test_custom_cannot_be_stored() -> None:
    """to_json (what enqueue stores) refuses a custom policy, saying where it belongs."""
    with pytest.raises(ConfigurationError, match=r"@app.processor\(\.\.\., backoff=\.\.\.\)"):
        Backoff.custom(lambda attempt: 1).to_json()


# ------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("build", "phrase"),
    [
        (lambda: Backoff.fixed(-1), "backoff delay must be"),
        (lambda: Backoff.fixed(math.nan), "backoff delay must be"),
        (lambda: Backoff.fixed("60"),  # type: ignore[arg-type]
         "number of seconds or a timedelta"),
        (lambda: Backoff.fixed(MAX_SECONDS * 10), "at most"),
        (lambda: Backoff.exponential(math.inf), "backoff base must be"),
        (lambda: Backoff.exponential(1, cap=-1), "backoff cap must be"),
        (lambda: Backoff.fixed(1, jitter=1.5), "jitter must be between 0 and 1"),
        (lambda: Backoff.exponential(1, jitter=-0.1), "jitter must be between 0 and 1"),
        (lambda: Backoff("linear", 1.0), "Backoff.custom(fn)"),  # type: ignore[arg-type]
        (lambda: Backoff("fixed", 1.0, fn=lambda a: 1), "only Backoff.custom"),
        (lambda: Backoff("custom", 0.0), "only Backoff.custom"),
    ],
    ids=["negative", "nan", "string", "huge", "inf-base", "negative-cap", "jitter-high",
         "jitter-negative", "unknown-kind", "fixed-with-fn", "custom-without-fn"],
)
def test_bad_backoffs_are_refused(build: Any, phrase: str) -> None:
    """Every bad policy fails at construction with a message saying what is expected."""
    with pytest.raises(ConfigurationError) as caught:
        build()
    assert phrase in str(caught.value)


def test_json_round_trip() -> None:
    """What enqueue stores comes back as the same policy."""
    for backoff in (Backoff.fixed(3, jitter=0.1), Backoff.exponential(2, cap=None),
                    Backoff.exponential(1, cap=30, jitter=1)):
        assert Backoff.from_json(backoff.to_json()) == backoff


def test_custom_is_accepted_on_tiers_and_processors() -> None:
    """Tier(backoff=...) and @app.processor(backoff=...) take a custom policy; a processor's
    backoff must be a Backoff."""
    custom = Backoff.custom(lambda attempt: attempt)
    app = App("memory://", tiers=[Tier("mine", backoff=custom)])
    assert app.tiers["mine"].backoff is custom

    @app.processor("p", backoff=custom)
    async def p(job: Job) -> None:
        return None

    assert app.processors["p"].backoff is custom
    with pytest.raises(ConfigurationError, match=r"Backoff.custom\(fn\)"):
        app.processor("q", backoff=5)  # type: ignore[arg-type]


# ------------------------------------------------------------------------- fallback chain


def raising(attempt: int) -> float:
    """A custom policy that always fails."""
    raise RuntimeError("no delay today")


def test_first_delay_uses_the_first_policy_that_works() -> None:
    """The first valid delay wins; each failure before it is described."""
    fixed = Backoff.fixed(7)
    assert first_delay([fixed], 1) == (7.0, fixed, [])
    seconds, used, problems = first_delay([Backoff.custom(raising), fixed], 2)
    assert (seconds, used) == (7.0, fixed)
    assert problems == ["custom backoff raising failed for attempt 2: "
                        "RuntimeError: no delay today"]


def test_first_delay_falls_back_when_everything_fails() -> None:
    """Only custom policies can fail; if all do, FALLBACK (exponential 5 s) decides."""
    bad_value = Backoff.custom(lambda attempt: -1)
    seconds, used, problems = first_delay([Backoff.custom(raising), bad_value], 3)
    assert (seconds, used) == (20.0, FALLBACK)
    assert len(problems) == 2
    assert "returned -1" in problems[1]
    assert describe(FALLBACK) == "backoff exponential(5 s)"
