"""The ledger check itself: each rule fails when it should (no Redis needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.ledger import (
    EFFECT,
    START,
    Enqueues,
    LedgerWriter,
    Line,
    RedisView,
    check,
    read_lines,
    recovery_after,
    stranded_recovery,
)

pytestmark = pytest.mark.chaos


def enqueued(*ids: str) -> Enqueues:
    enqueues = Enqueues()
    for job_id in ids:
        enqueues.trying(job_id)
        enqueues.acknowledged(job_id, 1.0)
    return enqueues


def ran(*ids: str, pid: int = 1, at: float = 1.0) -> list[Line]:
    return [Line(kind, job_id, 1, pid, at) for job_id in ids for kind in (START, EFFECT)]


def view(completed: set[str], dead: set[str] | None = None, pending: int = 0,
         unfinished: int = 0) -> RedisView:
    return RedisView(frozenset(completed), frozenset(dead or ()), pending, unfinished)


def test_a_clean_run_passes_and_counts_duplicates() -> None:
    lines = ran("a", "b") + ran("b", pid=2, at=2.0)
    report = check("x", enqueued("a", "b", "c"), lines, view({"a", "b"}, {"c"}))
    assert report.ok, report.problems
    assert (report.jobs, report.completed, report.dead_lettered) == (3, 2, 1)
    assert (report.duplicates, report.re_executions) == (1, 1)


def test_a_lost_job_fails_unless_excused() -> None:
    report = check("x", enqueued("a", "b"), ran("a"), view({"a"}, unfinished=1, pending=1))
    assert not report.ok
    assert report.lost == 1
    assert len(report.problems) == 3  # lost, pending, unfinished
    excused = check("x", enqueued("a", "b"), ran("a", "b"), view({"a"}), excused={"b"})
    assert excused.ok
    assert (excused.lost, excused.lost_by_design, excused.lost_by_design_ran) == (0, 1, 1)


def test_work_never_enqueued_fails() -> None:
    report = check("x", enqueued("a"), ran("a", "ghost"), view({"a", "ghost"}))
    assert any("never enqueued" in p for p in report.problems)


def test_an_unacknowledged_enqueue_may_run() -> None:
    enqueues = enqueued("a")
    enqueues.trying("b")  # its reply was lost; it ran anyway
    report = check("x", enqueues, ran("a", "b"), view({"a", "b"}))
    assert report.ok and report.unacknowledged == 1


def test_completed_and_dead_fails() -> None:
    report = check("x", enqueued("a"), ran("a"), view({"a"}, {"a"}))
    assert any("both completed and dead" in p for p in report.problems)


def test_completed_without_its_effect_fails() -> None:
    report = check("x", enqueued("a"), [Line(START, "a", 1, 1, 1.0)], view({"a"}))
    assert any("without their effect" in p for p in report.problems)


def test_writer_lines_survive_a_round_trip(tmp_path: Path) -> None:
    writer = LedgerWriter(tmp_path)
    writer.write(START, "j1", 1)
    writer.write(EFFECT, "j1", 1)
    (tmp_path / "torn.ledger").write_text("S j2 1 7 1.0\nE j2")  # a torn last line is skipped
    lines = read_lines(tmp_path)
    assert [(line.kind, line.job_id) for line in lines] == [
        ("S", "j2"), ("S", "j1"), ("E", "j1")]


def test_recovery_times() -> None:
    lines = [Line(START, "a", 1, 7, 1.0), Line(START, "b", 1, 7, 1.5),
             Line(EFFECT, "b", 1, 7, 1.6), Line(START, "a", 2, 8, 3.0),
             Line(EFFECT, "a", 2, 8, 3.5)]
    assert stranded_recovery(lines, [(7, 2.0)]) == 1.5  # a: killed at 2.0, done at 3.5
    assert recovery_after(lines, [1.55, 2.0]) == 1.5
    assert recovery_after(lines, [4.0]) is None
