"""Fixtures of the chaos suite: the size of a run, a work directory, and the figures file.

``STREAMQ_CHAOS=long`` (``make chaos``) runs the same scenarios with more jobs, more faults
and longer loads; the default is the short run that ``make test`` includes. Each scenario's
one-line summary is printed at the end of the session and appended, as JSON, to the figures
file named there.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.chaos.ledger import Report


@dataclass(frozen=True, slots=True)
class Size:
    """How big a chaos run is: ``scale`` multiplies jobs, faults and load time."""

    name: str
    scale: int


SIZES = {"short": Size("short", 1), "long": Size("long", 8)}
REPORTS: list[Report] = []
FIGURES = Path(tempfile.gettempdir()) / "streamq-chaos" / (
    f"chaos-{os.environ.get('STREAMQ_CHAOS', 'short')}-{time.strftime('%Y%m%d-%H%M%S')}-"
    f"{os.getpid()}.jsonl")


@pytest.fixture(scope="session")
def size() -> Size:
    """The run's size, from ``$STREAMQ_CHAOS`` (short or long)."""
    name = os.environ.get("STREAMQ_CHAOS", "short")
    if name not in SIZES:
        raise pytest.UsageError(f"STREAMQ_CHAOS={name!r}: use short or long")
    return SIZES[name]


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A directory for the run's ledger and worker logs, deleted afterwards unless
    ``$STREAMQ_CHAOS_KEEP`` is set (then its path is printed)."""
    path = Path(tempfile.mkdtemp(prefix="streamq-chaos-run-"))
    yield path
    if os.environ.get("STREAMQ_CHAOS_KEEP"):
        print(f"kept {path}")
    else:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def record() -> Callable[[Report], None]:
    """Keep a scenario's report: printed now and in the session summary, and saved."""

    def keep(report: Report) -> None:
        REPORTS.append(report)
        print(report.line())
        FIGURES.parent.mkdir(parents=True, exist_ok=True)
        with FIGURES.open("a") as out:
            out.write(report.to_json() + "\n")

    return keep


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line per chaos scenario, and where the figures are."""
    if not REPORTS:
        return
    terminalreporter.section("chaos figures")
    for report in REPORTS:
        terminalreporter.write_line(report.line())
    terminalreporter.write_line(f"figures (JSON lines): {FIGURES}")
