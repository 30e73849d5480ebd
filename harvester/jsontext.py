"""JSON in and out, with orjson: every answer is parsed, and every payload's canonical text is
written for its hash, so the two were a third of a local harvest's time with the standard
library; orjson does each several times faster.

`canonical` is byte-identical to `json.dumps(value, ensure_ascii=False, sort_keys=True,
separators=(",", ":"))` on every recorded fixture, with one known difference: a float below
1e-4 is written without an exponent (0.00005, where json writes 5e-05), so such a payload
stored by an older harvester is stored once more, unchanged. What orjson refuses or reads
differently (integers beyond 64 bits, which it reads as floats; lone surrogates, non-string
keys; NaN) goes through the standard library, so nothing that parsed before fails now.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

#: 20 digits in a row may be an integer beyond 64 bits, which orjson would read as a float.
_LONG_NUMBER = re.compile(r"\d{20}")
_LONG_NUMBER_BYTES = re.compile(rb"\d{20}")


def loads(data: bytes | str) -> Any:
    """Parse a JSON document; raises ValueError (json.JSONDecodeError) when it is not one."""
    long_number = _LONG_NUMBER_BYTES if isinstance(data, bytes) else _LONG_NUMBER
    if long_number.search(data):  # type: ignore[arg-type]
        return json.loads(data)  # exact, if slower; a long digit string in a text lands here too
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def canonical(value: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, UTF-8 as is. Equal content, equal text."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
