"""One module per upstream service: `fetch` does the I/O, `parse` is a pure function of the payload.

What every source does with the outcome of one request is decided here, once: a 404 is "not found",
any other upstream failure is "failed" with its reason, and `SourceExhausted` (the source will not
answer again this run) goes up to the caller, which stops asking that source.
"""

from __future__ import annotations

import contextvars
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from harvester.errors import NotFound, SourceExhausted, UpstreamError, failure_kind
from harvester.http import JsonResponse
from harvester.identifiers import Doi, ascii_key
from harvester.models import Fetched

T = TypeVar("T")
R = TypeVar("R")

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
    return Fetched(source, doi.key, "failed", error=str(exc), error_kind=failure_kind(exc))


def url_batches(
    dois: Iterable[Doi],
    *,
    base_length: int,
    value_length: Callable[[Doi], int],
    max_values: int,
    max_url_bytes: int,
    alone: Callable[[Doi], bool],
) -> Iterator[list[Doi]]:
    """Group DOIs for one filter-list request each: at most `max_values` a batch, and the URL
    (`base_length` plus each DOI's `value_length`) kept under `max_url_bytes`. Pure and lazy,
    in input order, so a long input is never held whole. A DOI that cannot be told apart from
    the filter's separators (`alone`) travels by itself, and is then looked up singly."""
    batch: list[Doi] = []
    length = base_length
    for doi in dois:
        if alone(doi):
            if batch:  # keep input order: what came before goes first
                yield batch
                batch, length = [], base_length
            yield [doi]
            continue
        extra = value_length(doi)
        if batch and (len(batch) >= max_values or length + extra > max_url_bytes):
            yield batch
            batch, length = [], base_length
        batch.append(doi)
        length += extra
    if batch:
        yield batch


def in_order(
    function: Callable[[T], R], items: Iterable[T], workers: int, name: str
) -> Iterator[R]:
    """`function(item)` for each item on `workers` threads, yielded in input order. At most two
    items per thread are started ahead of the caller, so memory stays flat however long the
    input; each runs in a copy of the caller's context, so log lines keep the run_id. The rate
    limiters decide how many requests are really in flight."""
    workers = max(workers, 1)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
    pending: deque[Future[R]] = deque()
    try:
        for item in items:
            pending.append(pool.submit(contextvars.copy_context().run, function, item))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
