"""What the bench Redis itself can do: redis-benchmark on the same server."""

from __future__ import annotations

import re
import subprocess
from typing import Any

from harness.redisinfo import RedisProbe
from harness.stats import median

COMMANDS: list[tuple[str, list[str]]] = [
    ("XADD, 50 clients, pipeline 16",
     ["-c", "50", "-P", "16", "-n", "200000", "XADD", "s", "*", "f", "v"]),
    ("XREADGROUP COUNT 1, 50 clients, pipeline 16",
     ["-c", "50", "-P", "16", "-n", "200000", "XREADGROUP", "GROUP", "g", "c", "COUNT", "1",
      "STREAMS", "s", ">"]),
    ("XADD, 1 client, no pipeline (round-trip bound)",
     ["-c", "1", "-P", "1", "-n", "50000", "XADD", "s2", "*", "f", "v"]),
    ("EVAL return XADD, 1 client, no pipeline",
     ["-c", "1", "-P", "1", "-n", "50000", "EVAL",
      "return redis.call('XADD',KEYS[1],'*','f','v')", "1", "s3"]),
]


def measure(probe: RedisProbe, reps: int) -> list[dict[str, Any]]:
    """Requests per second of each command in COMMANDS, ``reps`` times each."""
    probe.flush()
    out = []
    for label, args in COMMANDS:
        argv = ["redis-benchmark", "-p", str(probe.port), "-q", *args]
        if "XREADGROUP" in args:
            probe.client.xgroup_create("s", "g", id="0", mkstream=True)
        runs: list[float | None] = []
        for _ in range(reps):
            text = subprocess.run(argv, capture_output=True, text=True, timeout=300).stdout
            found = re.findall(r"([\d.]+) requests per second", text.replace("\r", "\n"))
            runs.append(float(found[-1]) if found else None)
        out.append({"label": label, "runs": runs, "rps": median(runs)})
    probe.flush()
    return out
