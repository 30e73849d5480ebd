"""What every source is, and the few helpers sources share: the protocols only, then `fetch_one`,
`split_batch`, `url_batches` and `in_order`.

A source is one module of this package. The module itself satisfies the protocol below (PEP 544
allows a module as a protocol's implementation): its constants say what it is, its functions do
what it does, and `harvester.sources` lists it once. No wrapper object stands between the two, so
there is nothing to keep in step with the module.

What every source does with the outcome of one request is decided here, once: a 404 is "not
found", any other upstream failure is "failed" with its reason, and `SourceExhausted` (the source
will not answer again this run) goes up to the caller, which stops asking that source.

An answer is stored only once it has the shape of what was asked for: each DOI source's
`check_answer` (beside its parse) refuses what is not a record of its kind, and `answered_doi`
here refuses a record of another DOI than the one asked. Either is a failed answer (BadPayload):
nothing stored changes, and the DOI is asked again next run.
"""

from __future__ import annotations

import contextvars
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

import structlog

from harvester.config import Config, FeedConfig, PoolLimit
from harvester.errors import (
    BadIdentifier,
    BadPayload,
    NotFound,
    SourceExhausted,
    UpstreamError,
    failure_kind,
)
from harvester.http import HttpClient, JsonResponse
from harvester.identifiers import Doi, RepecHandle, ascii_key, parse_doi
from harvester.models import Fetched, Record

log = structlog.get_logger(__name__)


class Source(Protocol):
    """One upstream service. `harvester.sources.SOURCES` names every one."""

    #: The `source` column of what it says, its name in `[merge] precedence` and `[watch]`.
    SOURCE: str
    #: Bumped when `parse` reads more or reads differently: stored payloads are parsed again.
    PARSER_VERSION: int
    #: Payload keys (dotted paths) the service re-stamps without the work changing: not hashed.
    VOLATILE_KEYS: tuple[str, ...]
    #: Its section of config/harvester.toml (`[doi]` for doi.org): base URL and pacing.
    CONFIG_SECTION: str

    def pools(self, config: Config) -> Mapping[str, PoolLimit]:
        """The rate-limiter pools its requests go through, with their starting limits."""
        ...

    def parse(self, payload: Mapping[str, Any]) -> Record:
        """The record a stored payload says (pure; BadPayload when it is not one)."""
        ...


class DoiSource(Source, Protocol):
    """A source asked about DOIs: the `agency` that registered them, or an `enrichment` asked
    about every DOI after its agency (OpenAlex).

    An enrichment may also provide, and the pipeline asks with getattr: `NOT_ASKED`, the error of
    a DOI it left unasked because it will not answer again this run (a day's allowance spent:
    it is then not asked for the rest of the run); `preflight(config)`, which logs once per run
    what the configuration keeps it from doing; and `batches(config)`, true when it takes DOIs
    in batches whatever their agency, so that it is asked beside the agencies, not after them."""

    ROLE: Literal["agency", "enrichment"]
    #: The doi.org RA names it answers for ({"crossref"}); empty for an enrichment. The agency
    #: with none (doi.org's content negotiation) answers for every RA no other source claims.
    AGENCIES: frozenset[str]

    def fetch(
        self, dois: Iterable[Doi], client: HttpClient, config: Config
    ) -> Iterator[list[Fetched]]:
        """Every DOI back exactly once (ok, not_found or failed), in input order, in lists as
        they come, lazily; paced by the limiters of `pools`."""
        ...

    def check_answer(self, payload: Any) -> str:
        """The shape check of what it is about to store: the record's own DOI, or BadPayload
        when `payload` is not a record of its kind (an error object, another kind of answer,
        a record without its required keys)."""
        ...


@dataclass(frozen=True, slots=True)
class FeedTarget:
    """What a configured feed asks for, as the `feeds` table keeps it."""

    key: str  # its row in `feeds`: what it asks for, not its display name (a rename keeps it)
    kind: str  # the `[[feeds]] kind`
    endpoint: str  # the base URL (or archive tree) asked
    params: Mapping[str, Any]  # the rest of what is asked (a filter, a format and set, a folder)
    display: str  # how outcome lines and logs name it when it fails


@dataclass(frozen=True, slots=True)
class FileRead:
    """A file of an archive tree whose every record is stored once the page carrying it is: its
    version and content hash say whether the next listing must read it again."""

    path: str
    version: str | None
    content_hash: str | None
    encoding: str | None = None
    #: (key, handle, template type, line) of each template; None: unchanged, not read again.
    handles: tuple[tuple[str, str, str, int], ...] | None = None
    errors: int = 0


@dataclass(frozen=True, slots=True)
class FeedPage:
    """One page of a feed's listing, as the feed driver stores it (one transaction)."""

    scheme: str  # what the records are found by: "doi", "oai", "repec"
    #: One per record: ok with its payload, not_found (deleted), or failed (a file unreadable).
    answers: list[Fetched]
    resume: str | None  # the cursor after this page, kept to resume a walk (None: cannot resume)
    watermark: str | None  # what the watermark becomes if the listing ends after this page
    files: tuple[FileRead, ...] = ()  # files this page finishes: recorded once it is stored


@dataclass(frozen=True, slots=True)
class Candidate:
    """A work a person's (or institution's) feed found for them (issue 21): what identifies it
    (a Doi or RepecHandle), the evidence that ties it to them ("orcid-listed", "ras-claimed",
    "orcid-in-authorship", "affiliation", "name-match:0.87") and whether that evidence is their
    own record (ORCID, RAS), which accepts the claim without asking when configured so."""

    identifier: Doi | RepecHandle
    evidence: str
    own: bool = False


@dataclass(frozen=True, slots=True)
class PersonPage:
    """One page of a person feed's listing, stored in one transaction like a FeedPage: the
    candidates it found, the records it carried whole (OpenAlex and Crossref listings give the
    work itself, stored as an answer of that source), and where the listing resumes."""

    candidates: list[Candidate]
    answers: list[Fetched] = field(default_factory=list)
    resume: str | None = None  # the cursor after this page (None: cannot resume)
    watermark: str | None = None  # what the watermark becomes if the listing ends here


@dataclass(frozen=True, slots=True)
class FeedState:
    """Where a feed stands when the driver asks it for pages."""

    since: str | None  # its watermark, or what the user asked from (None: everything)
    resume: str | None = None  # the cursor kept after the last stored page of an unfinished walk
    #: (version, content hash) of a file of an archive tree when it was last wholly stored, or
    #: (None, None): the feed over a tree reads only the files that changed since.
    read_before: Callable[[str], tuple[str | None, str | None]] = lambda _path: (None, None)


class Feed(Protocol):
    """A standing query (`[[feeds]]`, `harvest oai`): every record changed since the watermark.

    `feed_pages` is lazy: nothing is asked before the driver pulls the first page, and a page is
    asked only once the one before is stored. The driver alone moves the watermark: to the last
    page's, once the listing has ended and every page is stored (a listing of no page keeps it).
    A feed that cannot be read to its end raises (UpstreamError, BadPayload). A feed over the
    files of an archive tree (RePEc) reads only the files that changed since they were stored
    (`FeedState.read_before`), and names in each page the files it finishes.
    """

    #: The `[[feeds]] kind` it serves.
    FEED_KIND: str

    def feed_target(self, feed: FeedConfig, config: Config) -> FeedTarget: ...

    def feed_pages(
        self,
        feed: FeedConfig,
        config: Config,
        client: HttpClient,
        state: FeedState,
    ) -> Iterator[FeedPage]: ...


T = TypeVar("T")
R = TypeVar("R")

#: Reads an answer: the payload to keep and the DOI of the record it is (its `check_answer`).
#: Raises BadPayload when the answer is not what was asked for.
Reader = Callable[[Any], tuple[Mapping[str, Any], str]]


def fetch_one(
    doi: Doi,
    source: str,
    request: Callable[[], JsonResponse],
    read: Reader,
    *,
    aliases_redirect: bool = False,
) -> Fetched:
    """Make one request about `doi` and report it as every source does (see the module doc).
    `aliases_redirect`: the service answers an alias by redirecting to its prime DOI (Crossref's
    301, OpenAlex's for a merged work), so a redirected answer may be of another DOI."""
    try:
        response = request()
        payload, answered = read(response.data)
        redirected = aliases_redirect and response.redirected_from is not None
        answered = answered_doi(doi, answered, source=source, redirected=redirected)
    except NotFound:
        return Fetched(source, doi.key, "not_found")
    except SourceExhausted:
        raise
    except UpstreamError as exc:
        return failed(source, doi, exc)
    return Fetched(source, doi.key, "ok", payload=dict(payload), resolved=ascii_key(answered))


def answered_doi(asked: Doi, answered: str, *, source: str, redirected: bool = False) -> str:
    """The DOI of a record answered about `asked`, once it is known to be that record: the same
    DOI as identifiers.py compares them (case-insensitively, in whatever form it is written),
    or, when the service redirected the request to answer an alias (`redirected`), the DOI it
    redirected to. A record of any other DOI, stored, would overwrite that other work: BadPayload.
    """
    try:
        parsed = parse_doi(answered)
    except BadIdentifier:
        raise BadPayload(
            f"{source}: the record's own DOI {answered[:100]!r} is not a DOI",
            source=source,
            identifier=asked.value,
        ) from None
    if parsed.key != asked.key and not redirected:
        raise BadPayload(
            f"{source}: asked for {asked.value}, answered with the record of {answered[:100]}",
            source=source,
            identifier=asked.value,
        )
    return parsed.value


def failed(source: str, doi: Doi, exc: UpstreamError) -> Fetched:
    return Fetched(source, doi.key, "failed", error=str(exc), error_kind=failure_kind(exc))


class SplitBudget:
    """How many more list requests the halving of one failing batch may send: as many as the
    batch has DOIs, what single look-ups would cost. One poisoned DOI in 50 needs 12; a service
    that answers 500 to everything is not asked twice per DOI."""

    def __init__(self, requests: int) -> None:
        self.left = requests

    def take(self, requests: int) -> bool:
        if self.left < requests:
            return False
        self.left -= requests
        return True


def split_batch(
    batch: list[Doi],
    exc: UpstreamError,
    source: str,
    fetch_part: Callable[[list[Doi], SplitBudget], list[Fetched]],
    budget: SplitBudget | None = None,
) -> list[Fetched]:
    """A list request answered 500: each half asked on its own (`fetch_part`, which splits again
    a half that fails the same way), so one DOI the service chokes on fails alone instead of
    failing its neighbours on every run. A 500 is deterministic (an exception on one value), so
    the halves are asked at once; when the budget is spent, what is left fails with `exc`."""
    budget = SplitBudget(len(batch)) if budget is None else budget
    if len(batch) < 2 or not budget.take(2):
        return [failed(source, doi, exc) for doi in batch]
    log.info("fetch.batch_split", source=source, size=len(batch), error=str(exc))
    middle = len(batch) // 2
    return fetch_part(batch[:middle], budget) + fetch_part(batch[middle:], budget)


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
