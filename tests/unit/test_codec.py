"""codec: JSON only, with the size limit counted in UTF-8 bytes."""

from __future__ import annotations

import json

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


SAMPLES = [None, True, 0, -7, 1.5, 1e300, "", "x", 'quote " and \\ and \n', "é\u2028😀",
           [], {}, [1, [2, [3]]], {"a": {"b": [None, False, "ü"]}, "n": 2**70}]


@pytest.mark.parametrize("value", SAMPLES)
def test_encode_is_compact_json_and_decodes_back(value: object) -> None:
    """The encoder called directly writes what json.dumps writes with the same options."""
    text = codec.encode(value)
    assert text == json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    assert codec.decode(text) == value


def test_a_value_that_contains_itself_is_invalid_and_leaves_the_encoder_clean() -> None:
    """A cycle is refused clearly, and the values encoded after it are unaffected."""
    cyclic: list[object] = []
    cyclic.append(cyclic)
    with pytest.raises(InvalidPayload, match="contains itself"):
        codec.encode(cyclic)
    shared = [1]
    assert codec.encode([shared, shared]) == "[[1],[1]]"


@pytest.mark.parametrize(("text", "value"), [(' {"a": 1} ', {"a": 1}), ("\n[1]\t", [1]),
                                             ('"\\u00e9"', "é")])
def test_decode_reads_json_written_elsewhere(text: str, value: object) -> None:
    """JSON with whitespace around it or escapes (another writer's) decodes too."""
    assert codec.decode(text) == value


@pytest.mark.parametrize("text", ['{"a":1} x', "1 2", "", "[1,", "nul"])
def test_decode_refuses_anything_but_one_json_value(text: str) -> None:
    with pytest.raises(InvalidPayload, match="not valid JSON"):
        codec.decode(text)
