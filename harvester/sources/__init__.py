"""One module per upstream service: `fetch` does the I/O, `parse` is a pure function of the payload.

What every source does with the outcome of one request is decided here, once: a 404 is "not found",
any other upstream failure is "failed" with its reason, and `SourceExhausted` (the source will not
answer again this run) goes up to the caller, which stops asking that source.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from harvester.errors import NotFound, SourceExhausted, UpstreamError
from harvester.http import JsonResponse
from harvester.identifiers import Doi, ascii_key
from harvester.models import Fetched

#: Reads an answer: the payload to keep and the DOI the source answered with (None: as asked).
#: Raises BadPayload when the answer is not what was asked for.
Reader = Callable[[Any], tuple[Mapping[str, Any], str | None]]


def fetch_one(doi: Doi, source: str, request: Callable[[], JsonResponse], read: Reader) -> Fetched:
    """Make one request about `doi` and report it as every source does (see the module doc)."""
    try:
        payload, answered = read(request().data)
    except NotFound:
        return Fetched(source, doi.key, "not_found")
    except SourceExhausted:
        raise
    except UpstreamError as exc:
        return failed(source, doi, exc)
    return Fetched(
        source, doi.key, "ok", payload=dict(payload), resolved=ascii_key(answered or doi.value)
    )


def failed(source: str, doi: Doi, exc: UpstreamError) -> Fetched:
    return Fetched(source, doi.key, "failed", error=str(exc))
