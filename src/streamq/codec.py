"""JSON encoding of job data and results: plain JSON only, never pickle."""

from __future__ import annotations

import json
from typing import Any

from streamq.errors import InvalidPayload, PayloadTooLarge

_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_decode = json.JSONDecoder().decode


def encode(value: Any, *, what: str = "job data", limit: int | None = None) -> str:
    """Encode ``value`` as compact JSON, or raise :class:`InvalidPayload` saying why."""
    try:
        text = _encoder.encode(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidPayload(
            f"{what} must be plain JSON (dict, list, str, int, float, bool, None): {exc}; "
            "convert dates to ISO strings, sets to lists and bytes to base64 first"
        ) from None
    # A character is at most 4 bytes in UTF-8: short texts skip the byte count.
    if limit is not None and len(text) * 4 > limit and (size := len(text.encode())) > limit:
        raise PayloadTooLarge(
            f"{what} is {size} bytes encoded, over the limit of {limit}; "
            "store large blobs elsewhere (S3, a database) and enqueue a reference, or raise "
            "App(max_payload_bytes=...)"
        )
    return text


def decode(text: str | bytes) -> Any:
    """Decode JSON stored by :func:`encode`."""
    if isinstance(text, bytes):
        text = text.decode()
    return _decode(text)
