"""The README's example runs as written (on the embedded backend)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_example_runs(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    [example] = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert len(example.strip().splitlines()) <= 25
    # the worker command the example names, run as written on the module it names
    [command] = re.findall(r"then: (streamq worker --app (\w+):app .*)$", example, re.M)
    script = tmp_path / f"{command[1]}.py"
    script.write_text(example.replace('"redis://localhost:6379/0"', '"memory://"'))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "waiting" in done.stdout
    worker = subprocess.run(
        [sys.executable, "-m", "streamq", *command[0].split()[1:], "--burst"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert worker.returncode == 0, worker.stderr


def test_readme_quickstart_is_exactly_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1].split("##", 1)[0]
    [block] = re.findall(r"```sh\n(.*?)```", quickstart, re.S)
    assert [line.split("#")[0].strip() for line in block.strip().splitlines()] == [
        "make demo", "make test"]
