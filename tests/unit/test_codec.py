"""codec: JSON only, with the size limit counted in UTF-8 bytes."""

from __future__ import annotations

import pytest

from streamq import codec
from streamq.errors import InvalidPayload, PayloadTooLarge


def test_limit_counts_utf8_bytes_not_characters() -> None:
    """10 three-byte characters: 12 characters of JSON, but 32 bytes."""
    text = "€" * 10
    assert len(codec.encode(text)) == 12
    with pytest.raises(PayloadTooLarge, match="32 bytes"):
        codec.encode(text, limit=20)
    assert codec.encode(text, limit=32) == '"' + text + '"'


def test_exactly_at_the_limit_is_accepted() -> None:
    assert codec.encode("ab", limit=4) == '"ab"'
    with pytest.raises(PayloadTooLarge):
        codec.encode("abc", limit=4)


@pytest.mark.parametrize("value", [float("nan"), {1, 2}, b"x", object()])
def test_non_json_values_are_rejected(value: object) -> None:
    with pytest.raises(InvalidPayload, match="plain JSON"):
        codec.encode(value)


def test_none_is_null_and_still_within_the_limit() -> None:
    """None encodes without the encoder, but the size limit still applies to it."""
    assert codec.encode(None) == "null"
    assert codec.encode(None, limit=4) == "null"
    with pytest.raises(PayloadTooLarge):
        codec.encode(None, limit=3)
