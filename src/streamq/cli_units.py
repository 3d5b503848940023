"""Parsing the worker's recycling flags: ``--max-lifetime 4h`` and ``--max-memory 512MB``.

Each parser raises ``argparse.ArgumentTypeError`` with a message that shows accepted forms,
so ``streamq worker --max-memory lots`` ends with one clear line and exit code 2.
"""

from __future__ import annotations

import argparse
import math
import re

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([dhms])", re.IGNORECASE)
_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_BYTES = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)", re.IGNORECASE)
_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "kib": 1024,
    "m": 1000**2, "mb": 1000**2, "mib": 1024**2,
    "g": 1000**3, "gb": 1000**3, "gib": 1024**3,
    "t": 1000**4, "tb": 1000**4, "tib": 1024**4,
}


def parse_duration(text: str) -> float:
    """Seconds from ``3600``, ``90s``, ``30m``, ``4h``, ``1d`` or combinations (``1h30m``)."""
    value = text.strip()
    try:
        seconds = float(value)
    except ValueError:
        parts = _DURATION_PART.findall(value)
        if not parts or _DURATION_PART.sub("", value).strip():
            raise argparse.ArgumentTypeError(
                f"invalid duration {text!r}: use seconds (3600) or a number with a unit: "
                "90s, 30m, 4h, 1d, 1h30m") from None
        seconds = sum(float(n) * _SECONDS[unit.lower()] for n, unit in parts)
    if not math.isfinite(seconds) or seconds <= 0:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}: must be more than 0")
    return seconds


def parse_bytes(text: str) -> int:
    """Bytes from ``536870912``, ``512MB`` (10^6), ``512MiB`` (2^20), ``2GiB``, ``1.5G``...
    (K/M/G/T are decimal; KiB/MiB/GiB/TiB are binary)."""
    match = _BYTES.fullmatch(text.strip())
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _UNITS:
        raise argparse.ArgumentTypeError(
            f"invalid size {text!r}: use bytes (536870912) or a number with a unit: "
            "512MB, 512MiB, 2GB, 2GiB (MB = 10^6 bytes, MiB = 2^20)")
    size = int(float(match.group(1)) * _UNITS[unit])
    if size < 1:
        raise argparse.ArgumentTypeError(f"invalid size {text!r}: must be at least 1 byte")
    return size


def positive_int(text: str) -> int:
    """An integer >= 1 (``--max-jobs``, ``--processes``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value
