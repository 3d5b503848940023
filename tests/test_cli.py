"""The `streamq` command, driven as a subprocess against the real Redis server."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

from streamq import App, Tier
from streamq.broker.connection import open_connection
from tests.conftest import delete_namespace

pytestmark = pytest.mark.slow


@pytest.fixture
async def ns(redis_url: str, namespace: str) -> AsyncIterator[str]:
    yield namespace
    await delete_namespace(redis_url, namespace)


def streamq(*args: str, url: str, ns: str, env: dict[str, str] | None = None,
            after_dashes: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "STREAMQ_TEST_NAMESPACE": ns, **(env or {})}
    tail = ["--", *after_dashes] if after_dashes else []
    return subprocess.run(
        [sys.executable, "-m", "streamq", *args, "--url", url, "--namespace", ns, *tail],
        capture_output=True, text=True, timeout=60, env=full_env,
    )


def streamq_ok(*args: str, url: str, ns: str, env: dict[str, str] | None = None) -> str:
    """``streamq ARGS``'s stdout, once it exited 0."""
    done = streamq(*args, url=url, ns=ns, env=env)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


async def test_enqueue_stats_job_and_worker_round_trip(redis_url: str, ns: str) -> None:
    """enqueue → stats shows it waiting → a burst worker runs it → job shows the result."""
    done = streamq("enqueue", "--tier", "high", "double", '{"n": 21}', "--job-id", "j1",
                   "--json", url=redis_url, ns=ns)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"id": "j1", "tier": "high"}

    stats = streamq("stats", "--json", "--tier", "high", url=redis_url, ns=ns)
    [row] = json.loads(stats.stdout)
    assert (row["tier"], row["waiting"], row["paused"]) == ("high", 1, False)
    assert row["oldest_waiting_s"] is not None

    worker = streamq("worker", "--app", "tests.cli_app:app", "--tier", "high", "--burst",
                     url=redis_url, ns=ns)
    assert worker.returncode == 0, worker.stderr

    job = streamq("job", "j1", "--json", url=redis_url, ns=ns)
    info = json.loads(job.stdout)
    assert (info["state"], info["result"], info["attempt"]) == ("completed", 42, 1)
    human = streamq("job", "j1", url=redis_url, ns=ns)
    assert "completed" in human.stdout and "42" in human.stdout


async def test_admin_commands_work_from_the_url_alone(redis_url: str, ns: str) -> None:
    """pause/resume/drain/promote/remove/retry/clean/jobs with no --app."""
    app = App(redis_url, namespace=ns)
    queue = app.queue("low")
    delayed = await queue.enqueue("anything", {}, delay=3600)
    await queue.enqueue("anything", {})
    await app.aclose()

    ok = functools.partial(streamq_ok, url=redis_url, ns=ns)

    ok("pause", "--tier", "low")
    stats = json.loads(ok("stats", "--json", "--tier", "low"))
    assert stats[0]["paused"] is True
    ok("resume", "--tier", "low")

    listed = ok("jobs", "--tier", "low", "--state", "delayed", "--json")
    assert [j["id"] for j in json.loads(listed)] == [delayed.id]
    ok("promote", delayed.id, "--tier", "low")
    assert json.loads(ok("drain", "--tier", "low", "--json"))["jobs"] == 2

    missing = streamq("remove", "nope", "--tier", "low", url=redis_url, ns=ns)
    assert missing.returncode == 3
    assert "no job 'nope'" in missing.stderr and "Traceback" not in missing.stderr


async def test_namespace_applies_with_app_and_retry_all_failed(redis_url: str, ns: str) -> None:
    """--namespace wins over --app's own namespace (it was ignored, so every command acted on
    the App's); retry --all-failed retries each dead letter of the tier once."""
    apps_own = f"{ns}-app"
    env = {"STREAMQ_TEST_NAMESPACE": apps_own}

    def ok(*args: str) -> str:
        return streamq_ok(*args, "--app", "tests.cli_app:app", url=redis_url, ns=ns, env=env)

    try:
        for _ in range(3):
            ok("enqueue", "--tier", "high", "double", '{"n": "not a number"}', "--attempts", "1")
        ok("worker", "--tier", "high", "--burst")
        assert json.loads(ok("retry", "--all-failed", "--tier", "high", "--json")) == {
            "retried": 3}
        app, other = App(redis_url, namespace=ns), App(redis_url, namespace=apps_own)
        assert (await app.queue("high").counts())["waiting"] == 3
        assert sum((await other.queue("high").counts()).values()) == 0
        await app.aclose()
        await other.aclose()
    finally:
        await delete_namespace(redis_url, apps_own)


@pytest.mark.parametrize(
    ("args", "code", "phrase"),
    [
        (["stats", "--url", "redis://127.0.0.1:1/0"], 1, "cannot reach Redis at redis://127.0.0.1:1/0"),
        (["stats", "--url", "ftp://x"], 2, "unsupported URL"),
        (["worker", "--app", "no_such_module:app"], 2, "cannot load the App"),
        (["worker"], 2, "needs --app"),
        (["enqueue", "--tier", "high", "x", "{bad json"], 2, "DATA must be JSON"),
        (["stats", "--url", "redis://user:hunter2@127.0.0.1:1/0"], 1, "user:***@"),
        (["enqueue", "x"], 2, "pass --tier NAME (or --app module:attr, whose processors say"),
        (["enqueue", "--app", "tests.cli_app:app", "nope"], 2,
         "no processor named 'nope' in --app tests.cli_app:app, so the job's tier is unknown: "
         "pass --tier NAME"),
        (["enqueue", "--tier", "high", "x", '{"x": NaN}'], 2, "DATA must be strict JSON: NaN"),
        (["enqueue", "--tier", "high", "x", "[1, -Infinity]"], 2, "no NaN, Infinity or"),
    ],
)
def test_bad_input_gets_one_line_and_a_meaningful_exit_code(
    args: list[str], code: int, phrase: str, redis_url: str
) -> None:
    """A bad URL, unreachable Redis, bad --app or bad enqueue input: one line on stderr, no
    traceback. enqueue without a way to know the job's tier, and DATA with NaN or Infinity
    (which json.loads takes and the job's encoding refuses), were exit 1 with the Python
    API's advice (or InvalidPayload): they are usage errors, caught before connecting."""
    cmd = [sys.executable, "-m", "streamq", *args]
    if "--url" not in args:
        cmd += ["--url", redis_url]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == code, done.stderr
    assert phrase in done.stderr
    assert "Traceback" not in done.stderr and "hunter2" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_help_everywhere() -> None:
    """`--help` works for the command and every subcommand."""
    top = subprocess.run([sys.executable, "-m", "streamq", "--help"], capture_output=True,
                         text=True, timeout=30)
    assert top.returncode == 0
    for command in ("worker", "enqueue", "stats", "jobs", "job", "retry", "remove", "promote",
                    "pause", "resume", "drain", "clean", "demo"):
        assert command in top.stdout
        sub = subprocess.run([sys.executable, "-m", "streamq", command, "--help"],
                             capture_output=True, text=True, timeout=30)
        assert sub.returncode == 0 and "--url" in sub.stdout


def test_demo_runs_every_tier_and_ends_with_stats() -> None:
    """`streamq demo` needs no set-up and shows completed, retried and dead-lettered jobs."""
    done = subprocess.run([sys.executable, "-m", "streamq", "demo", "--quick"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for word in ("critical", "high", "standard", "low", "dead letter", "bad address", "Next:"):
        assert word in done.stdout


async def test_schedules_lists_every_tier(redis_url: str, ns: str) -> None:
    """`streamq schedules` shows each schedule's timing, next run and paused state."""
    app = App(redis_url, namespace=ns)
    await app.schedule("cleanup", cron="0 2 * * *", tz="Europe/Paris", tier="low")
    await app.schedule("beat", every=30, tier="high")
    await app.pause_schedule("beat")
    await app.aclose()
    done = streamq("schedules", "--json", url=redis_url, ns=ns)
    assert done.returncode == 0, done.stderr
    rows = {row["key"]: row for row in json.loads(done.stdout)}
    assert (rows["beat"]["every"], rows["beat"]["paused"], rows["beat"]["next_run"]) == (
        30.0, True, None)
    assert rows["cleanup"]["cron"] == "0 2 * * *" and rows["cleanup"]["tier"] == "low"
    assert rows["cleanup"]["next_run"].endswith(("+01:00", "+02:00"))
    human = streamq("schedules", "--tier", "high", url=redis_url, ns=ns)
    assert "every 30 s" in human.stdout and "cleanup" not in human.stdout


async def test_a_job_id_starting_with_a_dash_works_after_dashes(redis_url: str, ns: str) -> None:
    """A user's id that starts with "-" is read as an id after "--" (ids streamq makes never
    start with one: tests/unit/test_job_ids.py)."""
    app = App(redis_url, namespace=ns)
    await app.queue("low").enqueue("anything", {}, job_id="-dash")
    await app.aclose()
    done = streamq("job", "--tier", "low", "--json", url=redis_url, ns=ns,
                   after_dashes=("-dash",))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["id"] == "-dash"


async def keys_of(url: str, namespace: str) -> list[str]:
    """Every key of ``namespace`` on the server."""
    connection = open_connection(url)
    try:
        return sorted([key async for key in connection.client.scan_iter(match=f"{namespace}:*")])
    finally:
        await connection.aclose()


def refused(done: subprocess.CompletedProcess[str]) -> str:
    """The one-line usage error of a command refused with exit code 2 (stderr also has the
    warnings about the server's settings that connecting logs)."""
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    [error] = [line for line in done.stderr.splitlines() if line.startswith("streamq:")]
    return error


async def test_a_misspelt_tier_is_refused_and_nothing_is_created(redis_url: str, ns: str) -> None:
    """`--tier hihg` was created in Redis by any command (pause, enqueue, even stats and job),
    which exited 0 on the new empty tier while `high` kept running. A tier neither the App
    defines nor Redis holds is a usage error now, and no key is written for it."""
    for args in (["pause", "--tier", "hihg"], ["enqueue", "--tier", "hihg", "x", "{}"],
                 ["stats", "--tier", "hihg"], ["job", "x1", "--tier", "hihg"],
                 ["retry", "--all-failed", "--tier", "hihg"]):
        error = refused(streamq(*args, url=redis_url, ns=ns))
        assert (f"unknown tier 'hihg' in namespace '{ns}': known tiers are critical, high, "
                "low, standard (no other found in Redis); pass --app module:attr") in error, args
    with_app = refused(streamq("drain", "--tier", "hihg", "--app", "tests.cli_app:app",
                               url=redis_url, ns=ns))
    assert "unknown tier 'hihg'" in with_app and "App(tiers=[Tier(NAME)])" in with_app
    assert await keys_of(redis_url, ns) == []


async def test_a_job_id_ending_like_a_meta_key_is_not_taken_for_a_tier(
    redis_url: str, ns: str,
) -> None:
    """SCAN for `ns:{*}:meta` also matches the key of a job whose id ends in `}:meta`: the
    "tier" `high}:job:a` made `streamq stats` exit 2 for the whole namespace."""
    app = App(redis_url, namespace=ns)
    await app.queue("high").enqueue("x", {}, job_id="a}:meta", delay=60)  # it has a hash
    await app.aclose()
    done = streamq("stats", "--json", url=redis_url, ns=ns)
    assert done.returncode == 0, done.stderr
    assert {row["tier"] for row in json.loads(done.stdout)} == {
        "critical", "high", "standard", "low"}


async def test_a_tier_found_in_redis_is_known_without_app(redis_url: str, ns: str) -> None:
    """A custom tier that an App created in Redis works from the URL alone (and with an --app
    that does not define it); the refusal of an unknown tier lists it."""
    app = App(redis_url, namespace=ns, tiers=[Tier("bulk")])
    await app.queue("bulk").enqueue("anything", {}, job_id="b1")
    await app.aclose()

    ok = functools.partial(streamq_ok, url=redis_url, ns=ns)

    ok("pause", "--tier", "bulk")
    [row] = json.loads(ok("stats", "--json", "--tier", "bulk"))
    assert (row["tier"], row["waiting"], row["paused"]) == ("bulk", 1, True)
    assert json.loads(ok("job", "b1", "--tier", "bulk", "--json"))["tier"] == "bulk"
    assert json.loads(ok("resume", "--tier", "bulk", "--app", "tests.cli_app:app",
                         "--json"))["tier"] == "bulk"
    error = refused(streamq("stats", "--tier", "hihg", url=redis_url, ns=ns))
    assert "known tiers are critical, high, low, standard (and those found in Redis: bulk)" in (
        error)


async def test_reading_commands_create_no_tier(redis_url: str, ns: str) -> None:
    """stats, jobs and job read the default tiers of an empty namespace (e.g. a misspelt
    --namespace) without creating them: they created every one of them in Redis."""
    done = streamq("stats", "--json", url=redis_url, ns=ns)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [row["tier"] for row in rows] == ["critical", "high", "standard", "low"]
    assert all(row["waiting"] == row["failed"] == 0 and row["paused"] is False for row in rows)
    jobs = streamq("jobs", "--tier", "high", "--json", url=redis_url, ns=ns)
    assert (jobs.returncode, json.loads(jobs.stdout)) == (0, [])
    assert streamq("job", "nope", url=redis_url, ns=ns).returncode == 3
    assert await keys_of(redis_url, ns) == []
