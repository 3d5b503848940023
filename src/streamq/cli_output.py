"""Rendering for the command line: aligned tables for people, JSON for scripts."""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from streamq.job import JobInfo


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def to_json(value: Any) -> str:
    """``value`` (dataclasses, enums and datetimes included) as indented JSON."""
    return json.dumps(_plain(value), indent=2, ensure_ascii=False)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def print_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Rows of equal keys as an aligned text table (numbers right-aligned)."""
    if not rows:
        return "(none)"
    headers = list(rows[0])
    cells = [[_cell(row.get(h)) for h in headers] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    numeric = [all(isinstance(row.get(h), int | float) and not isinstance(row.get(h), bool)
                   for row in rows) for h in headers]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w)
                         for v, w, num in zip(values, widths, numeric, strict=True)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, cells)])


def print_job(info: JobInfo) -> str:
    """Everything about one job, for people."""
    fields = [
        ("id", info.id), ("name", info.name), ("tier", info.tier), ("state", info.state.value),
        ("attempt", f"{info.attempt} of {info.attempts}"), ("priority", info.priority),
        ("progress", f"{info.progress:g}%"), ("enqueued", info.enqueued_at),
        ("run at", info.run_at), ("started", info.started_at), ("finished", info.finished_at),
        ("worker", info.worker), ("data", json.dumps(info.data)),
        ("result", json.dumps(info.result) if info.result is not None else None),
        ("error", info.error),
    ]
    width = max(len(name) for name, _ in fields)
    out = [f"{name.ljust(width)}  {_cell(value)}" for name, value in fields]
    if info.logs:
        out += ["", "logs:", *(f"  {line}" for line in info.logs)]
    if info.traceback:
        out += ["", "traceback:", info.traceback.rstrip()]
    return "\n".join(out)
