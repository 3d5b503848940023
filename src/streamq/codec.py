"""JSON encoding of job data and results: plain JSON only, never pickle."""

from __future__ import annotations

import json
from collections.abc import Callable
from json import encoder as json_encoder
from typing import Any

from streamq.errors import ConfigurationError, InvalidPayload, PayloadTooLarge

_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_decoder = json.JSONDecoder()
_decode = _decoder.decode
_scan_once: Callable[[str, int], tuple[Any, int]] = _decoder.scan_once  # type: ignore[attr-defined]


def _make_encode() -> Callable[[Any], str]:
    """``_encoder.encode``, without the C encoder it builds on every call (2.1 -> 0.8 µs for
    a small dict). No circular-reference markers: a dict shared across calls would keep
    stale ids after an error; a cycle ends in RecursionError instead, which encode reports
    like any other unencodable value."""
    make = json_encoder.c_make_encoder  # type: ignore[attr-defined]
    if make is None:  # no C accelerator (another Python): the plain encoder
        return _encoder.encode
    chunks = make(None, _encoder.default, json_encoder.encode_basestring, None, ":", ",",
                  False, False, False)

    def encode_json(value: Any) -> str:
        if isinstance(value, str):
            return json_encoder.encode_basestring(value)
        return "".join(chunks(value, 0))

    return encode_json


_encode = _make_encode()


def encode(value: Any, *, what: str = "job data", limit: int | None = None) -> str:
    """Encode ``value`` as compact JSON, or raise :class:`InvalidPayload` saying why."""
    try:  # most processors return nothing: None needs no encoder call
        text = "null" if value is None else _encode(value)
    except (TypeError, ValueError, RecursionError) as exc:
        why = "it nests too deeply or contains itself" if isinstance(exc, RecursionError) else exc
        raise InvalidPayload(
            f"{what} must be plain JSON (dict, list, str, int, float, bool, None): {why}; "
            "convert dates to ISO strings, sets to lists and bytes to base64 first"
        ) from None
    if not text.isascii():
        try:  # ASCII text is its own byte count; other text is counted, and checked
            size = len(text.encode())
        except UnicodeEncodeError:
            raise InvalidPayload(
                f"{what} contains a lone surrogate (text that is not valid Unicode, often "
                "bytes decoded with errors='surrogateescape'); decode your input properly"
            ) from None
    else:
        size = len(text)
    if limit is not None and size > limit:
        raise PayloadTooLarge(
            f"{what} is {size} bytes encoded, over the limit of {limit}; "
            "store large blobs elsewhere (S3, a database) and enqueue a reference, or raise "
            "App(max_payload_bytes=...)"
        )
    return text


def decode(text: str | bytes, *, what: str = "stored job data") -> Any:
    """Decode JSON stored by :func:`encode`, or raise :class:`InvalidPayload`: text that is
    not UTF-8 (undecodable bytes arrive as surrogates), not JSON, or cut short. Nothing but
    JSON is ever decoded: a pickle is just invalid text here, never loaded."""
    try:
        if isinstance(text, bytes):
            text = text.decode()
        elif not text.isascii():
            text.encode()  # raises on surrogates: bytes that were not UTF-8
        try:  # JSON as encode writes it: the scanner alone, without decode's regexes
            value, end = _scan_once(text, 0)
            if end == len(text):
                return value
        except (StopIteration, ValueError):
            pass
        return _decode(text)  # whitespace around the value, or the error's description
    except (UnicodeError, ValueError, RecursionError) as exc:
        raise InvalidPayload(
            f"{what} is not valid JSON ({_why(exc)}); streamq stores plain "
            "JSON only and never unpickles, so something else wrote this value"
        ) from None


def is_unicode(text: str) -> bool:
    """Whether ``text`` can be stored as UTF-8: no lone surrogates (text decoded from bytes
    with ``errors="surrogateescape"`` carries them)."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def check_job_name(name: object) -> str:
    """A job (processor) name: a non-empty string that can be stored as UTF-8."""
    if not isinstance(name, str) or not name or not is_unicode(name):
        raise ConfigurationError(
            f"job name must be a non-empty string of valid Unicode, got {name!r}")
    return name


def printable(text: str) -> str:
    """``text`` with undecodable bytes (surrogates) shown as ``?``, safe to print or log."""
    if text.isascii():
        return text
    return text.encode("utf-8", "replace").decode()


def _why(exc: Exception) -> str:
    if isinstance(exc, UnicodeError):
        return "not UTF-8 text: binary data such as a pickle"
    return f"{type(exc).__name__}: {exc}"
