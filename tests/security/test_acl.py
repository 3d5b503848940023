"""A least-privilege Redis user: exactly the ACL documented in docs/security.md (commands
and the namespace's key pattern) runs streamq end to end on a throwaway server, and a
missing permission is a clear error. The whole real-Redis suite runs as such a user with
``make test-acl``."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator

import pytest

import streamq
from streamq import App, Backoff, Fail, Job, JobState, Tier
from tests.acl import rules_for
from tests.servers import Server, redis_server

pytestmark = pytest.mark.slow
PASSWORD = "s3cret-acl-pw"


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """A throwaway server with the documented user for namespace ``sq``, a user lacking
    XADD, and one lacking XTRIM (as documented before completion used it)."""
    with redis_server() as running:
        admin = running.client()
        try:
            admin.acl_setuser("streamq", reset=True)
            admin.execute_command("ACL", "SETUSER", "streamq", *rules_for(PASSWORD, ["~sq:*"]))
            rules = [r for r in rules_for(PASSWORD, ["~sq:*"]) if r != "+xadd"]
            admin.execute_command("ACL", "SETUSER", "noxadd", *rules)
            rules = [r for r in rules_for(PASSWORD, ["~sq:*"]) if r != "+xtrim"]
            admin.execute_command("ACL", "SETUSER", "noxtrim", *rules)
            admin.set("secret:outside", "x")
        finally:
            admin.close()
        yield running


def url(server: Server, user: str = "streamq") -> str:
    return f"redis://{user}:{PASSWORD}@127.0.0.1:{server.port}/0"


async def test_documented_acl_runs_jobs_end_to_end(server: Server) -> None:
    """Enqueue (now, delayed, batch), claim, complete, fail with retry, dead-letter, retry,
    remove, pause/resume, schedules, results, listings, reclaim, drain and clean, all as the
    documented user."""
    app = App(url(server), tiers=[Tier("standard", lease=1)])
    flaky_runs: list[int] = []

    @app.processor("ok")
    async def ok(job: Job) -> int:
        await job.progress(50)
        await job.log("half way")
        return int(job.data) * 2

    @app.processor("flaky", attempts=2, backoff=Backoff.fixed(0))
    async def flaky(job: Job) -> str:
        flaky_runs.append(job.attempt)
        if job.attempt == 1:
            raise RuntimeError("first try fails")
        return "second try"

    @app.processor("doomed")
    async def doomed(job: Job) -> None:
        raise Fail("never")

    async with app:
        queue = app.queue()
        jobs = await queue.enqueue_many([("ok", n) for n in range(5)])
        flaky_job = await app.enqueue("flaky")
        doomed_job = await app.enqueue("doomed")
        later = await app.enqueue("ok", 9, delay=3600)
        await app.schedule("ok", every=3600, data=1, key="hourly")
        await queue.pause()
        await queue.resume()
        await app.worker().run(burst=True)
        assert [await j.result(timeout=5) for j in jobs] == [0, 2, 4, 6, 8]
        assert await flaky_job.result(timeout=5) == "second try"
        assert await doomed_job.state() is JobState.FAILED
        assert [d.id for d in await queue.dead_letters()] == [doomed_job.id]
        await queue.retry(doomed_job.id)
        await queue.promote(later.id)
        await app.worker().run(burst=True)
        assert await later.result(timeout=5) == 18
        first = await queue.get_job(jobs[0].id)
        assert first is not None and first.logs == ["half way"]
        assert [s.key for s in await app.schedules()] == ["hourly"]
        await app.unschedule("hourly")

        # a worker that dies holding a job: another worker reclaims it after the lease
        stalled = await app.enqueue("ok", 21)
        backend = await app.backend(queue.keys)
        claimed = await backend.scripts.claim(queue.keys, "ghost", app.now_ms(), 1)
        assert isinstance(claimed, list) and [c.id for c in claimed] == [stalled.id]
        await asyncio.sleep(1.2)
        await app.worker().run(burst=True)
        assert await stalled.result(timeout=5) == 42

        await app.enqueue("ok", 1, delay=60)
        assert await queue.drain() == 1
        await queue.remove(jobs[1].id)
        assert await queue.clean("completed") >= 5
        assert await queue.clean("failed") >= 0
        counts = await queue.counts()
        assert counts["waiting"] == counts["active"] == counts["delayed"] == 0


async def test_keys_outside_the_pattern_are_refused(server: Server) -> None:
    """The documented user cannot touch keys outside its namespace, even from a script: a
    namespace other than the pattern's fails at once with a clear error."""
    app = App(url(server), namespace="other")
    with pytest.raises(streamq.ConnectionError) as caught:
        await app.queue().enqueue("x", None)
    await app.aclose()
    message = str(caught.value)
    assert "denied the command" in message and "key pattern" in message
    assert "docs/security.md" in message
    assert PASSWORD not in message


async def test_a_missing_command_names_the_command(server: Server) -> None:
    """A user whose ACL lacks XADD: enqueue raises streamq.ConnectionError naming 'xadd'."""
    app = App(url(server, "noxadd"))
    with pytest.raises(streamq.ConnectionError,
                       match="'XADD' command in the enqueue script") as caught:
        await app.queue().enqueue("x", None)
    await app.aclose()
    assert "ACL" in str(caught.value)


async def test_an_acl_without_xtrim_still_deletes_finished_entries(server: Server) -> None:
    """XTRIM only makes completion cheaper: a user whose ACL predates it completes jobs
    (finishing out of order too) and leaves no entry behind."""
    app = App(url(server, "noxtrim"), namespace="sq", tiers=[Tier("noxtrim")])

    @app.processor("nap", tier="noxtrim")
    async def nap(job: Job) -> int:
        await asyncio.sleep(int(job.data) / 1000)
        return int(job.data)

    async with app:
        queue = app.queue("noxtrim")
        jobs = await queue.enqueue_many([("nap", ms) for ms in (30, 1, 20, 1, 10)])
        await app.worker("noxtrim", concurrency=5).run(burst=True)
        assert [await j.result(timeout=5) for j in jobs] == [30, 1, 20, 1, 10]
        backend = await app.backend(queue.keys)
        assert [await backend.client.xlen(key) for key in queue.keys.ready] == [0] * 10


async def test_wrong_password_is_a_clear_error(server: Server) -> None:
    """A wrong password: streamq.ConnectionError saying the credentials were refused, with
    neither password in it."""
    app = App(f"redis://streamq:wrong-pw@127.0.0.1:{server.port}/0")
    with pytest.raises(streamq.ConnectionError, match="refused the credentials") as caught:
        await app.connect()
    await app.aclose()
    assert "wrong-pw" not in str(caught.value) and PASSWORD not in str(caught.value)


def test_the_cli_without_scan_says_to_name_the_tier(server: Server) -> None:
    """The documented ACL has no SCAN, which `streamq job ID` needs to find the tiers when
    none is named: it printed redis-py's NoPermissionError as a traceback. It now says what
    to do, and `--tier` works."""

    def streamq(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "streamq", *args, "--url", url(server)],
                              capture_output=True, text=True, timeout=60, check=False)

    found = streamq("job", "nope")
    assert found.returncode == 1, found.stderr
    assert "--tier" in found.stderr and "+scan" in found.stderr
    assert "Traceback" not in found.stderr
    assert streamq("job", "nope", "--tier", "standard").returncode == 3
