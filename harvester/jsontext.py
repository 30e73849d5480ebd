"""JSON in and out, with orjson: every answer is parsed, and every payload's canonical text is
written for its hash, so the two were a third of a local harvest's time with the standard
library; orjson does each several times faster.

`canonical` is byte-identical to `json.dumps(value, ensure_ascii=False, sort_keys=True,
separators=(",", ":"))` on every recorded fixture, with one known difference: a float below
1e-4 is written without an exponent (0.00005, where json writes 5e-05), so such a payload
stored by an older harvester is stored once more, unchanged. What orjson refuses or reads
differently (integers beyond 64 bits, which it reads as floats; lone surrogates, non-string
keys; NaN) goes through the standard library, so nothing that parsed before fails now.

What `loads` returns is nested at most MAX_DEPTH deep, so everything downstream (the parsers,
the merge, `canonical`, the masking of log events) may walk it recursively: an answer nested
deeper (a hostile or broken upstream) is refused as TooDeep, and fails its identifier alone.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

#: orjson reads an integer beyond 64 bits as a float: beyond 2**64 - 1 (20 digits) or below
#: -2**63 (19 digits and a minus). So 19 digits in a row send a document to the exact reading.
#: The search maps every digit to "0" (bytes.translate, at C speed) and looks for 19 zeros:
#: an eighth of orjson's own read, where `re.search(r"\d{20}")` cost three times that read.
#: A long digit string inside a text (or a 19-digit integer that fits) is read exactly too:
#: slower, not different.
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * 19

#: The deepest nesting `loads` accepts: as deep as orjson writes (its limit is 254 levels), so
#: what was read can always be hashed; real answers nest about ten deep.
MAX_DEPTH = 254


class TooDeep(ValueError):
    """A JSON document nested deeper than MAX_DEPTH: well formed perhaps, but refused, since
    walking it would overflow the stack. Not a body cut short: asking again gives the same."""

    def __init__(self) -> None:
        super().__init__(f"JSON nested deeper than {MAX_DEPTH} levels")


def loads(data: bytes | str) -> Any:
    """Parse a JSON document; raises ValueError (json.JSONDecodeError) when it is not one, and
    TooDeep (a ValueError) when it is nested deeper than MAX_DEPTH."""
    if _may_hold_long_integer(data):
        return _exact(data)  # exact, if slower; a long digit string in a text lands here too
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc):  # orjson's "depth limit exceeded" (1024): json would recurse
            raise TooDeep() from None
        return _exact(data)
    try:
        orjson.dumps(value)  # at C speed, a sixth of the read: fails on nesting past MAX_DEPTH
    except TypeError:  # orjson.JSONEncodeError
        if _depth_over(value, MAX_DEPTH):
            raise TooDeep() from None
    return value


def _may_hold_long_integer(data: bytes | str) -> bool:
    """Whether `data` has 19 digits in a row, where orjson may have read an integer as a float."""
    if isinstance(data, str):
        # A lone surrogate cannot be encoded; it is kept (surrogatepass) so the search still runs
        # and orjson refuses the text after it, as before.
        data = data.encode("utf-8", "surrogatepass")
    elif not isinstance(data, bytes):
        data = bytes(data)  # a bytearray or memoryview
    return data.translate(_DIGITS_TO_ZERO).find(_LONG_RUN) >= 0


def _exact(data: bytes | str) -> Any:
    """The standard library's reading, with its recursion turned into TooDeep."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise TooDeep() from None
    if _depth_over(value, MAX_DEPTH):
        raise TooDeep()
    return value


def _depth_over(value: Any, limit: int) -> bool:
    """Whether `value` nests lists and objects more than `limit` deep (without recursing)."""
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        if depth > limit:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def canonical(value: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, UTF-8 as is. Equal content, equal text."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def canonical_bytes(value: Any) -> bytes:
    """`canonical(value)` encoded as UTF-8, without a round trip through str: what a hash of
    the canonical text is taken of."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # orjson.JSONEncodeError
        return canonical(value).encode()
