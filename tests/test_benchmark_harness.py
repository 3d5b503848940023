"""The peer benchmark's instrument (benchmarks/harness): the counting proxy must count
round trips and the commands a client sent, whatever the chunking (real Redis); interleaved
rounds must merge into the medians over every run."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from harness.proxy import CountingProxy, Counts, RespCounter


def test_resp_counter_counts_commands_split_anywhere() -> None:
    stream = (b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\na\r\nbc\r\n"  # a value holding CRLF
              b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n" b"PING\r\n")
    for size in (1, 2, 7, len(stream)):
        counts = Counts()
        resp = RespCounter(counts)
        for at in range(0, len(stream), size):
            resp.feed(stream[at:at + size])
        assert counts.commands == 3
        assert counts.by_name == {"set": 1, "get": 1, "ping": 1}


async def test_proxy_counts_a_pipeline_as_one_round_trip(redis_url: str,
                                                        namespace: str) -> None:
    url = urlparse(redis_url)
    proxy = CountingProxy(url.port or 6379, url.hostname or "127.0.0.1")
    await proxy.start()
    client = aioredis.Redis(host="127.0.0.1", port=proxy.port, db=int(url.path[1:] or 0),
                            password=url.password)
    try:
        await client.ping()
        before = proxy.counts.snapshot()
        pipe = client.pipeline(transaction=False)
        pipe.set(f"{namespace}:a", "1").incr(f"{namespace}:a").delete(f"{namespace}:a")
        assert await pipe.execute() == [True, 2, 1]
        await client.get(f"{namespace}:a")
        sent = proxy.counts.minus(before)
    finally:
        await client.aclose()
        await proxy.stop()
    assert sent.bursts == 2
    assert sent.commands == 4
    assert sent.by_name == {"set": 1, "incrby": 1, "del": 1, "get": 1}


def test_rounds_merge_into_medians_over_every_run() -> None:
    """A peer's rounds become one result: runs side by side, medians over all of them, the
    best concurrency chosen again, errors kept, a figure without a batch API stays None."""
    from harness.rounds import merge_rounds

    def process(rate: float) -> dict[str, Any]:
        return {"runs": [{"rate": rate}], "rate": rate}

    rounds = [
        {"name": "p", "errors": [], "enqueue": {"runs": [{"rate": 10.0}], "rate": 10.0},
         "bulk": None, "process": {"10": process(5.0), "100": process(9.0)},
         "ops": {"first": True}},
        {"name": "p", "errors": ["rep0: boom"], "enqueue": {"runs": [{"rate": 30.0}],
                                                              "rate": 30.0},
         "bulk": None, "process": {"10": process(7.0), "100": process(3.0)},
         "ops": {"first": False}},
        {"name": "p", "errors": [], "enqueue": {"runs": [{"rate": 20.0}], "rate": 20.0},
         "bulk": None, "process": {"10": process(6.0), "100": process(4.0)},
         "ops": {"first": False}},
    ]
    merged = merge_rounds(rounds)
    assert merged["rounds"] == 3 and merged["errors"] == ["rep0: boom"]
    assert merged["enqueue"]["rate"] == 20.0 and len(merged["enqueue"]["runs"]) == 3
    assert merged["bulk"] is None
    assert merged["process"]["10"]["rate"] == 6.0 and merged["process"]["100"]["rate"] == 4.0
    assert merged["process_best"]["concurrency"] == 10
    assert merged["ops"] == {"first": True}


def test_relay_floor_times_each_message_from_its_send_to_the_blocked_reader(
        redis_url: str, namespace: str) -> None:
    """The latency floor: every message the producer sends reaches the child's blocked read
    and is timed once; the stream is gone afterwards."""
    import redis
    from harness.relay_floor import measure

    stream = f"bench:{namespace}:relay-floor"
    floor = measure(redis_url, stream, 20, 1.0)
    assert floor["n"] == 20 and floor["gap_ms"] == 1.0
    assert 0 < floor["p50_ms"] <= floor["p95_ms"] <= floor["p99_ms"] <= floor["max_ms"] < 1000
    with redis.Redis.from_url(redis_url, protocol=2) as client:
        assert client.exists(stream) == 0


def _report(tmp_path: Path, peers: list[dict[str, Any]], **extra: Any) -> str:
    """The markdown report of a run of ``peers`` (rounds: as merged into them)."""
    from harness.report import write_markdown

    result = {
        "meta": {"date": "2026-12-07", "tag": "t", "machine": "m", "python": "3.11",
                 "redis_version": "7.0", "loadavg": [0, 0, 0], "command": "run.py",
                 "options": {"n": 20_000, "reps": 1, "lat_n": 500, "lat_gap_ms": 5.0,
                             "mem_n": 100_000, "redis_port": 6390}},
        "peers": peers, **extra}
    path = tmp_path / "report.md"
    write_markdown(result, str(path))
    return path.read_text()


def test_report_puts_the_latency_floor_beside_the_latency_targets(tmp_path: Path) -> None:
    floors = [{"n": 500, "gap_ms": 5.0, "p50_ms": p50, "p95_ms": 0.4, "p99_ms": 0.5,
               "max_ms": 0.6} for p50 in (0.30, 0.36, 0.33)]
    text = _report(tmp_path, [{"name": "streamq", "errors": [],
                               "latency": {"p50_ms": 0.45, "p95_ms": 0.5, "p99_ms": 0.6}}],
                   relay_floor=floors)
    assert "| the machine's latency floor p50 / p99 (no library, same gap) | 0.33 / 0.50 |" \
        in text
    assert "| 2 | 0.36 | 0.40 | 0.50 | 0.60 |" in text
    assert "| median | 0.33 | 0.40 | 0.50 | 0.60 |" in text


def test_report_sets_streamqs_enqueue_on_uvloop_beside_asyncio_against_bullmq(
        tmp_path: Path) -> None:
    from harness.rounds import merge_rounds

    rounds = [{"name": "streamq", "errors": [], "enqueue": {"runs": [{"rate": r}], "rate": r},
               "enqueue_uvloop": {"runs": [{"rate": u}], "rate": u}}
              for r, u in ((6000.0, 8000.0), (6400.0, 8400.0), (6200.0, 9000.0))]
    streamq = merge_rounds(rounds)
    assert streamq["enqueue_uvloop"]["rate"] == 8400.0
    text = _report(tmp_path, [streamq, {"name": "bullmq-node", "errors": [],
                                        "enqueue": {"runs": [{"rate": 5600.0}],
                                                    "rate": 5600.0}}])
    assert "| asyncio | 6,200 | 1.11\N{MULTIPLICATION SIGN} |" in text
    assert "| uvloop | 8,400 | 1.50\N{MULTIPLICATION SIGN} |" in text


def test_report_gives_the_ratio_within_each_interleaved_round() -> None:
    """Interleaved rounds: each target's ratio is also taken run by run within a round (the
    median and range), which drift between rounds moves less; one-round runs have none."""
    from harness.report import targets
    from harness.rounds import merge_rounds

    def peer(name: str, rates: list[float]) -> dict[str, Any]:
        return merge_rounds([{"name": name, "errors": [],
                              "enqueue": {"runs": [{"rate": r}], "rate": r}} for r in rates])

    # the machine slows in round 2 and speeds up in round 3: streamq's rounds are 1.2x, 1.4x
    # and 1.3x BullMQ's, while the ratio of the medians is 1.2x
    streamq = peer("streamq", [6000.0, 3500.0, 9100.0])
    bullmq = peer("bullmq-node", [5000.0, 2500.0, 7000.0])
    text = "\n".join(targets([streamq, bullmq]))
    assert "| enqueue ≥ 1.5\N{MULTIPLICATION SIGN} BullMQ (Node) | 1.20\N{MULTIPLICATION SIGN} " \
        "| 1.30\N{MULTIPLICATION SIGN} (1.20 \N{EN DASH} 1.40) | no |" in text

    one_round = "\n".join(targets([peer("streamq", [6000.0]), peer("bullmq-node", [5000.0])]))
    assert "| target | measured | met |" in one_round and "per round" not in one_round


def test_report_gives_each_background_case_over_the_empty_tier_within_its_round(
        tmp_path: Path) -> None:
    """Enqueue beside delayed or failed jobs, over interleaved rounds: each case's p50 is
    also taken over the p50 with nothing beside it in the same round; a run that measured
    only this has no empty tables for what it did not measure."""
    from harness.rounds import merge_rounds

    def case(name: str, p50: float) -> dict[str, Any]:
        run = {"case": name, "n": 2000, "rate": 1e6 / p50, "p50_us": p50, "p99_us": 2 * p50}
        return {"runs": [run], **run}

    # the machine slows in round 2: the failed case is 1.10, 1.05 and 1.10x the empty one
    rounds = [{"name": "streamq", "errors": [],
               "enqueue_background": {"none": case("none", none),
                                      "failed": case("failed", failed)}}
              for none, failed in ((200.0, 220.0), (400.0, 420.0), (300.0, 330.0))]
    text = _report(tmp_path, [merge_rounds(rounds)])
    assert "| none | 3,333 | 300 | 600 | \N{EN DASH} |" in text
    assert "| failed | 3,030 | 330 | 660 | 1.10 (1.05 \N{EN DASH} 1.10) |" in text
    assert "## Results" not in text and "## Processing by concurrency" not in text
    assert "issue's targets" not in text

    one_round = _report(tmp_path, [merge_rounds(rounds[:1])])
    assert "| jobs already in the tier | enqueues/s | p50 µs | p99 µs |\n" in one_round


def _run(tag: str, rounds: int, streamq: dict[str, Any], bullmq: dict[str, Any],
         **extra: Any) -> dict[str, Any]:
    """A run's JSON as run.py writes it, from each peer's per-round figures."""
    from harness.rounds import merge_rounds

    def one(run: dict[str, Any]) -> dict[str, Any]:
        return {"runs": [run], **run}

    def peer(name: str, figures: dict[str, Any]) -> dict[str, Any]:
        return merge_rounds([{"name": name, "errors": [], **{
            figure: {"100": one(runs[i])} if figure == "process" else one(runs[i])
            for figure, runs in figures.items()}} for i in range(rounds)])

    return {"meta": {"tag": tag, "rounds": rounds},
            "peers": [peer("streamq", streamq), peer("bullmq-node", bullmq)], **extra}


def test_history_takes_interleaved_runs_within_rounds_and_counts_the_runs_that_met_each(
        tmp_path: Path) -> None:
    """The cross-machine targets table: an interleaved run's ratio is the median within its
    rounds, a plain run's the ratio of its medians; the last row counts the runs that met
    each target; machines.json says which runs belong to which machine."""
    import json

    from harness.history import history_table, load_history

    def rates(*values: float) -> list[dict[str, float]]:
        return [{"rate": v, "steady_rate": 2 * v} for v in values]

    # round 2 is slow: within rounds streamq is 3.20x, 3.50x and 2.86x BullMQ (median 3.20x),
    # while the ratio of the medians is 12,000 / 4,200 = 2.86x
    interleaved = _run(
        "interleaved-1", 3,
        {"process": rates(16_000.0, 7_000.0, 12_000.0), "enqueue": rates(6_000.0, 4_000.0, 5_000.0),
         "latency": [{"p50_ms": p, "p99_ms": 1.0} for p in (0.4, 0.5, 0.6)],
         "memory": [{"bytes_per_job": 150.0}] * 3},
        {"process": rates(5_000.0, 2_000.0, 4_200.0), "enqueue": rates(5_000.0, 4_000.0, 4_000.0)},
        relay_floor=[{"p50_ms": 0.2}, {"p50_ms": 0.1}])
    plain = _run("full-1", 1,
                 {"process": rates(9_000.0), "enqueue": rates(6_000.0),
                  "latency": [{"p50_ms": 0.3, "p99_ms": 2.0}]},
                 {"process": rates(3_000.0), "enqueue": rates(4_000.0)})
    for result in (interleaved, plain):
        (tmp_path / f"{result['meta']['tag']}.json").write_text(json.dumps(result))
    (tmp_path / "machines.json").write_text(json.dumps([
        {"machine": "second", "runs": ["interleaved-1"]},
        {"machine": "first", "runs": ["full-1"]}]))

    lines = history_table(load_history(tmp_path))
    times = "\N{MULTIPLICATION SIGN}"
    dash = "\N{EN DASH}"
    assert lines[2] == (f"| second | `interleaved-1` | 3.20{times} | 3.20{times} | 1.20{times} | "
                        f"{dash} | 0.50 (0.15) | 1.00 | 150 | {dash} |")
    assert lines[3] == (f"| first | `full-1` | 3.00{times} | 3.00{times} | 1.50{times} | {dash} | "
                        f"0.30 ({dash}) | 2.00 | {dash} | {dash} |")
    assert lines[4] == f"| met | 2 runs | 2 of 2 | {dash} | 1 of 2 | {dash} | 1 of 2 | 1 of 2 | " \
                       f"1 of 1 | {dash} |"

    bullmq_only = _run("bullmq-only", 1, {}, {"enqueue": rates(4_000.0)})
    (tmp_path / "bullmq-only.json").write_text(json.dumps(bullmq_only))
    (tmp_path / "machines.json").write_text(json.dumps([
        {"machine": "third", "runs": ["bullmq-only"]}]))
    with pytest.raises(ValueError, match="did not measure streamq beside BullMQ"):
        load_history(tmp_path)


def test_history_of_the_committed_runs_loads() -> None:
    """Every run benchmarks/results/machines.json names is there and measured both peers."""
    from harness.history import load_history

    machines = load_history(Path(__file__).resolve().parent.parent / "benchmarks" / "results")
    assert machines and all(runs for _, runs in machines)


async def test_enqueue_floor_sends_the_enqueue_streamq_sends_with_none_of_its_python() -> None:
    """The ceiling's enqueue floor (harness/ceiling.py) must send what ``Queue.enqueue`` sends,
    so that Redis does the same work: each command adds one real job, which streamq reads
    back, and runs the commands a real enqueue runs (a private server: the ceiling connects
    bare, with no password and to database 0)."""
    from harness.ceiling import WARM_UP, _enqueue_floor
    from harness.redisinfo import RedisProbe

    import streamq
    from tests.servers import redis_server

    def commands_per_enqueue(probe: RedisProbe) -> dict[str, float]:
        """Each command's calls per EVALSHA, to a tenth: the floor's own set-up (the
        scripts loaded, the tier prepared, a few commands once) rounds away."""
        calls = probe.command_calls()
        evalshas = calls.pop("evalsha")
        per_call = {name: round(n / evalshas, 1) for name, n in calls.items()}
        return {name: n for name, n in per_call.items() if n}

    with redis_server() as server:
        probe = RedisProbe(server.port)
        app = streamq.App(server.url, tiers=[streamq.Tier("script-floor")])
        queue = app.queue("script-floor")
        try:
            await queue.enqueue("noop", {"i": -1})
            probe.reset_stats()
            for i in range(200):
                await queue.enqueue("noop", {"i": i})
            through_streamq = commands_per_enqueue(probe)
            probe.flush()
            probe.reset_stats()
            assert await _enqueue_floor(probe, WARM_UP + 5) > 0
            assert commands_per_enqueue(probe) == through_streamq
            assert (await queue.counts())["waiting"] == WARM_UP + 5
            [job] = await queue.jobs("waiting", limit=1)
            assert job.name == "noop"
            assert job.data == {"i": 0}
            assert job.attempts == queue.settings.attempts
        finally:
            await app.aclose()
            probe.close()


def test_report_sets_the_enqueue_floor_beside_the_enqueue_target(tmp_path: Path) -> None:
    from harness.report import ENQUEUE_FLOOR_KEY

    ceiling = [{"label": "PING", "runs": [14_000.0], "rps": 14_000.0},
               {"label": "script", "key": ENQUEUE_FLOOR_KEY, "runs": [11_000.0],
                "rps": 11_000.0}]
    peers = [{"name": "streamq", "errors": [], "enqueue": {"runs": [{"rate": 9_000.0}],
                                                           "rate": 9_000.0}},
             {"name": "bullmq-node", "errors": [], "enqueue": {"runs": [{"rate": 8_800.0}],
                                                               "rate": 8_800.0}}]
    text = _report(tmp_path, peers, ceiling=ceiling)
    lines = text.splitlines()
    at = lines.index("| enqueue ≥ 1.5\N{MULTIPLICATION SIGN} BullMQ (Node) | "
                     "1.02\N{MULTIPLICATION SIGN} | no |")
    assert lines[at + 1] == ("| the floor under enqueue: streamq's script alone, packed "
                             "beforehand (no library Python) | 1.25\N{MULTIPLICATION SIGN} "
                             "| \N{EN DASH} |")
    assert "| script | 11,000 |" in text
    assert "the floor under enqueue" not in _report(tmp_path, peers)
