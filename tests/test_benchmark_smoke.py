"""The smoke benchmark CI runs: benchmarks/smoke.py reports its figures; nothing is asserted
about speed, only that it ran and printed every line (real Redis, a subprocess)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import redis

ROOT = Path(__file__).resolve().parent.parent
LINES = ("enqueue, one await at a time", "enqueue, 1000 concurrent calls",
         "enqueue_many (1000 per call)", "processing (burst worker)",
         "worker round trips per job", "Redis commands per job",
         "latency enqueue -> start, idle")
"""Each printed with a figure after it."""
SMOKE_KEYS = "bench*:{bench}:*"
"""smoke.py's keys: a namespace of its own, ``bench`` + 8 hex digits, tier ``bench``."""
SMOKE_NAMESPACE = re.compile(r"^bench[0-9a-f]{8}:")

pytestmark = pytest.mark.slow


def smoke_keys(client: redis.Redis) -> set[bytes]:
    return {k for k in client.scan_iter(match=SMOKE_KEYS, count=1000)
            if SMOKE_NAMESPACE.match(k.decode())}


def test_smoke_benchmark_runs_and_reports(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    before = smoke_keys(client)
    try:
        run = subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / "smoke.py"), "--url", redis_url,
             "--n", "2000"],
            capture_output=True, text=True, timeout=90, cwd=ROOT)
        assert run.returncode == 0, run.stderr[-2000:]
        for line in LINES:
            assert re.search(rf"^\s+{re.escape(line)}\s*:.*\d", run.stdout, re.M), (
                f"no {line!r} line in:\n{run.stdout}")
        print(run.stdout)  # the figures, in CI's log with -s or on failure
    finally:
        leftover = smoke_keys(client) - before
        if leftover:  # smoke.py drains its queue but leaves the streams and meta behind
            client.delete(*leftover)
        client.close()
