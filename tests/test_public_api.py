"""The public surface: `from streamq import ...` gives exactly what a user needs, documented."""

from __future__ import annotations

import importlib.metadata
import inspect
from typing import Any

import streamq

EXPECTED = {
    # the front door
    "App", "Queue", "Job", "JobInfo", "JobState", "Worker",
    # configuration values
    "Tier", "RateLimit", "Backoff", "DEFAULT_TIERS",
    # what a processor raises to steer its job
    "Retry", "Fail",
    # what an @app.after_job hook receives
    "JobOutcome",
    # errors
    "StreamqError", "ConnectionError", "RedisFull", "RedisVersionError", "QueueStateLost",
    "ConfigurationError", "InvalidPayload", "PayloadTooLarge", "QueueFull", "JobNotFound",
    "JobStateError", "UnknownJobType", "JobFailed", "ScheduleNotFound", "HookFailed",
    # schedules
    "ScheduleInfo",
    "__version__",
}


def isort_key(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 keeps `__all__` in: CONSTANTS, then Classes, then the rest."""
    if name.isupper():
        return 0, name
    if name[0].isupper():
        return 1, name
    return 2, name


def public_names() -> list[str]:
    return [name for name in streamq.__all__ if not name.startswith("_")]


def test_all_is_sorted() -> None:
    """`__all__` is sorted (isort-style, as ruff keeps it) and has no duplicates."""
    assert streamq.__all__ == sorted(streamq.__all__, key=isort_key)
    assert len(set(streamq.__all__)) == len(streamq.__all__)


def test_all_is_what_a_user_needs() -> None:
    """`__all__` holds the names of DESIGN.md Part 1 and their errors, nothing more or less."""
    assert set(streamq.__all__) == EXPECTED


def test_all_names_exist_and_star_import_works() -> None:
    """Every name in `__all__` resolves, and `import *` gives exactly those names."""
    for name in streamq.__all__:
        assert hasattr(streamq, name), name
    namespace: dict[str, Any] = {}
    exec("from streamq import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(streamq.__all__)


def test_design_imports() -> None:
    """The import line of DESIGN.md Part 1 works."""
    namespace: dict[str, Any] = {}
    exec("from streamq import App, Job, JobState, Backoff, RateLimit, Tier, Retry, Fail",
         namespace)
    assert namespace["App"] is streamq.App


def test_every_public_name_has_a_docstring() -> None:
    """Every exported class and function is documented (the package too)."""
    assert streamq.__doc__
    for name in public_names():
        obj = getattr(streamq, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"streamq.{name} has no docstring"


def test_every_public_method_has_a_docstring() -> None:
    """Public methods and properties of the exported classes are documented."""
    missing = []
    for name in public_names():
        cls = getattr(streamq, name)
        if not inspect.isclass(cls) or issubclass(cls, BaseException):
            continue
        for attr, member in vars(cls).items():
            if attr.startswith("_"):
                continue
            func = member.fget if isinstance(member, property) else member
            if isinstance(func, classmethod | staticmethod):
                func = func.__func__
            if inspect.isfunction(func) and not inspect.getdoc(func):
                missing.append(f"{name}.{attr}")
    assert missing == []


def test_errors_are_exported_from_one_tree() -> None:
    """Every exported exception except the processor signals is a StreamqError."""
    for name in public_names():
        obj = getattr(streamq, name)
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            if name in ("Retry", "Fail"):
                assert not issubclass(obj, streamq.StreamqError)
            else:
                assert issubclass(obj, streamq.StreamqError), name


def test_version_matches_the_distribution() -> None:
    """`streamq.__version__` is the installed distribution's version."""
    assert streamq.__version__ == importlib.metadata.version("streamq")


def test_job_states() -> None:
    """JobState has the five states of the contract, compared as plain strings too."""
    assert [s.value for s in streamq.JobState] == [
        "waiting", "delayed", "active", "completed", "failed"]
    assert streamq.JobState.FAILED == "failed"
