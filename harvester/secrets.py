"""Secrets kept out of every log line, error message and stored row, decided in one place.

Two kinds are masked: the values of secret query parameters and headers wherever a URL or a
message quotes them (`api_key=...`, `Authorization: ...`), and every secret value the
configuration holds (an API key, a token), wherever it turns up. `log.py` runs `mask` over every
event and the CLI over every error it prints, so a new source cannot leak a key by forgetting a
call: it only has to mark its config field as secret (`SECRET_FIELDS`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, unquote_plus, urlsplit, urlunsplit

#: Query parameters and headers whose values must never reach a log line or an error message.
SECRET_PARAMS = frozenset({"api_key", "mailto", "key", "token"})
SECRET_HEADERS = frozenset({"authorization", "crossref-plus-api-token"})
#: Config fields (in any section) that hold a secret value, masked wherever it appears.
SECRET_FIELDS = frozenset({"api_key", "token", "plus_token", "password"})
MASK = "***"

_SECRET_IN_TEXT = re.compile(
    r"(?i)(?<![A-Za-z0-9_])(" + "|".join(sorted(SECRET_PARAMS)) + r")(=|%3D)[^&\s'\")#]*"
)

#: Secret values shorter than this are not masked as values: a one-letter "key" would mask
#: every occurrence of that letter. They are still masked as parameters.
_MIN_SECRET_LENGTH = 4

_known: frozenset[str] = frozenset()
_lock = threading.Lock()


def remember(values: Iterable[str]) -> None:
    """Add configured secret values (as given, and as they look percent-encoded in a URL)."""
    global _known
    fresh = {v for v in values if isinstance(v, str) and len(v) >= _MIN_SECRET_LENGTH}
    fresh |= {quote(v, safe="") for v in fresh}
    with _lock:
        _known = _known | frozenset(fresh)


def forget_all() -> None:
    """For tests: no configured secret values any more."""
    global _known
    with _lock:
        _known = frozenset()


def config_secrets(config: Any) -> list[str]:
    """Every non-empty value of a `SECRET_FIELDS` field in the config's sections."""
    found = []
    for section in vars(config).values():
        for name in SECRET_FIELDS:
            value = getattr(section, name, None)
            if isinstance(value, str) and value:
                found.append(value)
    return found


def redact_url(url: str) -> str:
    """`url` with secret query parameters and any password masked, for logs and errors.

    Works on the raw query string so that everything else stays byte-for-byte as requested.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{host}" if ":" in userinfo else f"{MASK}@{host}"
    query = parts.query
    if query:
        pieces = []
        for piece in query.split("&"):
            name, sep, _value = piece.partition("=")
            if sep and unquote_plus(name).lower() in SECRET_PARAMS:
                piece = f"{name}={MASK}"
            pieces.append(piece)
        query = "&".join(pieces)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str) -> str:
    """Mask `name=value` secrets in free text, e.g. a urllib3 message quoting the request path,
    and every configured secret value."""
    if "=" in text or "%3" in text:  # the cheap test first: every log event passes here
        text = _SECRET_IN_TEXT.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    for value in _known:
        if value in text:
            text = text.replace(value, MASK)
    return text


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of `headers` with credentials masked."""
    return {k: (MASK if k.lower() in SECRET_HEADERS else v) for k, v in headers.items()}


def mask(value: Any) -> Any:
    """`value` with every secret masked: strings, and the strings inside lists, tuples and dicts
    (a header dict's secret headers by name). Other values are returned as they are."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, int | float | bool) or value is None:
        return value
    if isinstance(value, Mapping):
        return {
            k: (MASK if isinstance(k, str) and k.lower() in SECRET_HEADERS else mask(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(mask(v) for v in value)
    if isinstance(value, BaseException):
        return redact_text(str(value))
    return value


#: Event fields that carry Python objects for a later processor, not text to mask.
_PASSED_THROUGH = frozenset({"exc_info", "stack_info", "_record", "_from_structlog"})


def mask_event(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    """A structlog processor: every field of every event masked, whoever logs it."""
    return {k: v if k in _PASSED_THROUGH else mask(v) for k, v in event.items()}
