"""The one JSON codec: what it writes is what the standard library wrote, so stored texts and
payload hashes stay as they were; what orjson refuses still parses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FIXTURES

from harvester import jsontext


def standard(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def recorded_documents() -> list[Path]:
    return sorted(p for p in Path(FIXTURES).rglob("*.json") if not p.name.endswith(".meta.json"))


@pytest.mark.usefixtures("fixtures_dir")  # reads the shared corpus as a whole
def test_every_recorded_answer_is_written_as_the_standard_library_writes_it():
    compared = 0
    for path in recorded_documents():
        try:
            value = json.loads(path.read_bytes())
        except ValueError:
            continue  # an error body that is not JSON
        assert jsontext.loads(path.read_bytes()) == value, path
        assert jsontext.canonical(value) == standard(value), path
        compared += 1
    assert compared >= 60


@pytest.mark.parametrize(
    "value",
    [
        "".join(chr(i) for i in range(300)) + '\u2028\U0001f600/\\"',  # escapes, non-ASCII
        {"z": 1, "é": 2, "e": {"b": [1.5, None, True], "a": "x"}, "😀": 3},  # key order
        {"big": 2**70, "n": -(2**64)},  # beyond 64 bits: the standard library writes it
        {"lone": "\ud800"},  # a lone surrogate, as json.loads makes of "\\ud800"
        {1: "int key"},  # never from JSON, but to_json may be handed one
    ],
)
def test_values_orjson_refuses_or_writes_differently_come_out_as_before(value):
    assert jsontext.canonical(value) == standard(value)


def test_documents_orjson_refuses_still_parse():
    big = jsontext.loads(b'{"count": 123456789012345678901234567890}')["count"]
    assert big == 123456789012345678901234567890 and isinstance(big, int)  # not a float
    assert jsontext.loads('{"count": 18446744073709551616}')["count"] == 2**64
    assert jsontext.loads("[NaN]")[0] != jsontext.loads("[NaN]")[0]  # NaN, as json reads it
    with pytest.raises(ValueError):
        jsontext.loads(b'{"cut": "short')


@pytest.mark.parametrize(
    "text, number",
    [
        (b'{"n": -9223372036854775809}', -(2**63) - 1),  # 19 digits, below 64 bits signed
        (b'{"n": -9999999999999999999}', -9999999999999999999),
        (b'{"n": 18446744073709551616}', 2**64),  # 20 digits, above 64 bits unsigned
        ('{"n": [1, {"m": 99999999999999999999999}]}', None),  # nested, in a str
    ],
)
def test_integers_orjson_would_read_as_floats_stay_exact_integers(text, number):
    value = jsontext.loads(text)
    found = value["n"] if number is not None else value["n"][1]["m"]
    assert isinstance(found, int)
    assert found == (number if number is not None else 99999999999999999999999)


def test_documents_without_a_long_digit_run_skip_the_exact_reading(monkeypatch):
    """The guard looks only where orjson may lose an integer: the slow reading is not called for
    a real answer without 19 digits in a row, and is called when they are there."""
    called = []
    monkeypatch.setattr(jsontext, "_exact", lambda data: called.append(data) or json.loads(data))
    body = b'{"count": 922337203685477580, "doi": "10.1000/123456789012345678", "x": -1.5e300}'
    assert jsontext.loads(body)["count"] == 922337203685477580
    assert called == []
    assert jsontext.loads(b'{"doi": "10.1000/1234567890123456789"}')  # a long run in a text
    assert len(called) == 1
