"""Crossref REST API (api.crossref.org).

The parse section is pure: it turns the JSON Crossref answers with into the harvester's canonical
`Record`, and never does I/O, so the module imports without network access. Shapes were written
against the recorded responses in ../shared/fixtures/crossref/ and errors/crossref_*.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from harvester.config import Config, CrossrefConfig, FeedConfig, PoolLimit
from harvester.errors import (
    BadIdentifier,
    BadPayload,
    ClientError,
    NotFound,
    TransientError,
    UpstreamError,
)
from harvester.http import HttpClient, redact_url
from harvester.identifiers import Doi, ascii_key, parse_doi, quote_doi, quote_doi_query
from harvester.models import Fetched, Record, Relation, Title, Update
from harvester.sources import base, routing
from harvester.sources.base import (
    FeedTarget,
    SplitBudget,
    failed,
    fetch_one,
    split_batch,
    url_batches,
)
from harvester.sources.fields import (
    CROSSREF_TYPE_NAMES,
    as_mapping,
    csl_authors,
    date_parts_to_iso,
    describe_json,
    first_inline_text,
    funders_of,
    inline_text,
    jats_to_text,
    landing_page,
    objects_in,
    partial_iso_date,
    references_of,
    role_contributors,
    scalar_text,
    stripped_text,
    typed_isbns,
    valid_issns,
    whole_number,
)

SOURCE = "crossref"
#: Its section of config/harvester.toml.
CONFIG_SECTION = "crossref"

#: Fields Crossref re-stamps without the work changing: left out of the payload hash.
VOLATILE_KEYS = ("indexed", "score")

#: Bump when parse reads something new or reads it differently: payloads stored under an
#: older version are then parsed again instead of being skipped as already seen.
PARSER_VERSION = 2

#: The agency of every DOI doi.org says Crossref registered.
ROLE = "agency"
AGENCIES = frozenset({"crossref"})

log = structlog.get_logger(__name__)

#: Crossref's work types -> the harvester's. The harvester's vocabulary IS Crossref's (the ids of
#: https://api.crossref.org/types), so every entry maps to itself: the table says which names
#: are known. A type Crossref adds later is kept as sent.
CROSSREF_TYPES: dict[str, str] = {name: name for name in CROSSREF_TYPE_NAMES}

#: Crossref's name lists of contributors other than authors (api_format.md: editor, chair,
#: translator); each list's name is the contributor's role, as in CSL.
CONTRIBUTOR_ROLES = ("editor", "translator", "chair")


def pools(config: Config) -> dict[str, PoolLimit]:
    """Crossref's two pools, polite or public, as announced (its headers take over at run time)."""
    return {f"{SOURCE}:{pool}": limit for pool, limit in config.crossref_limits().items()}


def fetch(dois: Iterable[Doi], client: HttpClient, config: Config) -> Iterator[list[Fetched]]:
    """The DOIs in filter-list batches, as many side by side as the list pool allows; the DOIs a
    list misses are placed by doi.org before Crossref is asked about them again."""
    concurrency = config.crossref_limits()["list"].concurrency
    return fetch_works(dois, client, config.crossref, concurrency, ra_url=config.doi.url)


# --- fetch (I/O) ---


def plan_batches(
    dois: Iterable[Doi], base_url: str, batch_size: int, max_url_bytes: int
) -> Iterator[list[Doi]]:
    """Group DOIs for `/works?filter=doi:A,doi:B,...` requests, each URL under `max_url_bytes`.

    Pure and lazy, so a long input is never held whole. A DOI with a comma cannot be told apart from
    the filter's separator, so it travels alone (and is then looked up singly).
    """
    return url_batches(
        dois,
        base_length=len(f"{base_url}/works?filter=&rows=1000"),  # rows has at most four digits
        value_length=lambda doi: len("doi:" + quote_doi_query(doi.value)) + 1,  # and its ","
        max_values=batch_size,
        max_url_bytes=max_url_bytes,
        alone=lambda doi: "," in doi.value,
    )


def list_url(base_url: str, dois: list[Doi]) -> str:
    """The batch request. `rows` must be given: Crossref's default page is 20."""
    filters = ",".join("doi:" + quote_doi_query(d.value) for d in dois)
    return f"{base_url}/works?filter={filters}&rows={len(dois)}"


#: The misses of this many lists (in input order) are settled together: one doi.org request
#: and one Crossref re-ask for all of them, instead of one of each per list.
SETTLE_LISTS = 4
#: Threads settling misses (doi.org, re-asks), and asking DOIs singly: beside the lists, so
#: that a list's misses never keep the next list from starting.
SETTLE_WORKERS = 2
SINGLE_WORKERS = 3
#: DOIs asked of doi.org in one `/ra` request at most, and the longest such URL sent.
RA_BATCH_DOIS = 100
RA_URL_BYTES = 4000


@dataclass(slots=True)
class _Asked:
    """One list request's outcome: the answers it settled, and the DOIs still to settle."""

    batch: list[Doi]
    done: dict[str, Fetched]  # key -> ok (in the answer), failed (the list failed for good)
    missing: list[Doi]  # answered without them: placed by doi.org, then asked again
    singly: list[Doi]  # the list was refused (400, a garbled answer): asked one by one


def fetch_works(
    dois: Iterable[Doi],
    client: HttpClient,
    config: CrossrefConfig,
    concurrency: int = 1,
    *,
    ra_url: str | None = None,
) -> Iterator[list[Fetched]]:
    """Fetch DOIs from Crossref, yielding one list of results per batch, in input order.

    The lists run on `concurrency` threads (the list pool's concurrency), two lists per thread
    planned ahead, so the pool always has its next list ready; memory stays flat however long
    the input. What the lists of up to SETTLE_LISTS batches miss is settled together on other
    threads (`_settle`): with `ra_url`, one doi.org `/ra/{doi,doi,...}` request says which of
    them exist and at which agency; those at Crossref are asked again as one list (its index
    may have lagged), and only what is still missing is asked singly (an alias: the single
    look-up follows its 301 to the prime DOI). Without `ra_url`, or when doi.org fails, every
    missing DOI is asked singly. Every requested DOI comes back exactly once: ok, not_found or
    failed.
    """
    base_url = config.url.rstrip("/")
    batches = iter(plan_batches(dois, base_url, config.batch_size, config.max_url_bytes))
    workers = max(concurrency, 1)
    lists = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{SOURCE}-list")
    settles = ThreadPoolExecutor(max_workers=SETTLE_WORKERS, thread_name_prefix=f"{SOURCE}-settle")
    singles = ThreadPoolExecutor(max_workers=SINGLE_WORKERS, thread_name_prefix=f"{SOURCE}-single")

    def submit(pool: ThreadPoolExecutor, function: Callable[..., Any], *args: Any) -> Future:
        return pool.submit(contextvars.copy_context().run, function, *args)

    def settle(group: list[_Asked]) -> list[list[Fetched]]:
        return _settle(group, client, base_url, config, ra_url, lambda *a: submit(singles, *a))

    asking: deque[Future[_Asked]] = deque()  # lists in flight or planned, in input order
    group: list[_Asked] = []  # lists answered, their misses not yet settled
    settling: deque[Future[list[list[Fetched]]]] = deque()  # groups being settled, in order
    ahead = 2 * workers
    exhausted = False
    try:
        while True:
            while not exhausted and len(asking) < ahead and len(settling) <= workers:
                batch = next(batches, None)
                if batch is None:
                    exhausted = True
                    break
                asking.append(submit(lists, _ask_list, batch, client, base_url))
            while asking and asking[0].done():
                group.append(asking.popleft().result())
                if len(group) == SETTLE_LISTS:
                    settling.append(submit(settles, settle, group))
                    group = []
            if group and exhausted and not asking:
                settling.append(submit(settles, settle, group))
                group = []
            while settling and settling[0].done():
                yield from settling.popleft().result()
            if exhausted and not asking and not group and not settling:
                return
            heads = [q[0] for q in (asking, settling) if q]
            wait(heads, return_when=FIRST_COMPLETED)
    finally:
        for pool in (lists, settles, singles):
            pool.shutdown(wait=True, cancel_futures=True)


def _ask_list(batch: list[Doi], client: HttpClient, base_url: str) -> _Asked:
    """One list request for the batch (a batch of one is asked singly). A 500 (an exception on
    one bad value) splits the batch in halves (`split_batch`), each settled there and then."""
    if len(batch) == 1:
        return _Asked(batch, {batch[0].key: fetch_single(batch[0], client, base_url)}, [], [])
    found: dict[str, dict] = {}
    try:
        response = client.get_json(list_url(base_url, batch), pool="crossref:list", source=SOURCE)
        for item in parse_work_list(response.data).items:
            with contextlib.suppress(BadPayload):  # not a work: the DOI is asked on its own
                found[ascii_key(check_answer(item))] = item
    except (ClientError, NotFound, BadPayload) as exc:
        # The batch request itself was refused or garbled: single look-ups may still succeed.
        log.warning("fetch.batch_refused", source=SOURCE, size=len(batch), error=str(exc))
        return _Asked(batch, {}, [], list(batch))
    except UpstreamError as exc:
        if exc.status == 500:
            split = split_batch(
                batch, exc, SOURCE, lambda part, b: fetch_batch(part, client, base_url, b)
            )
            return _Asked(batch, {f.identifier: f for f in split}, [], [])
        # Crossref is failing (retries exhausted): asking each DOI again would only add load.
        return _Asked(batch, {doi.key: failed(SOURCE, doi, exc) for doi in batch}, [], [])
    done = {
        doi.key: Fetched(SOURCE, doi.key, "ok", payload=found[doi.key], resolved=doi.key)
        for doi in batch
        if doi.key in found
    }
    return _Asked(batch, done, [doi for doi in batch if doi.key not in found], [])


def _settle(
    group: list[_Asked],
    client: HttpClient,
    base_url: str,
    config: CrossrefConfig,
    ra_url: str | None,
    submit: Callable[..., Future],
) -> list[list[Fetched]]:
    """The misses of a few lists: placed by doi.org (one request), those at Crossref asked
    again as one list, what is still missing asked singly; a DOI doi.org says does not exist,
    or is another agency's, is not found at Crossref without another request (a single
    look-up would answer 404). The group's batches come back complete, in order."""
    done: dict[str, Fetched] = {}
    singly: list[Doi] = [doi for asked in group for doi in asked.singly]
    missing = list({doi.key: doi for asked in group for doi in asked.missing}.values())
    if missing and ra_url:
        again: list[Doi] = []
        placed = _agencies(missing, client, ra_url)
        for doi in missing:
            if doi.key not in placed:
                singly.append(doi)  # doi.org did not say: Crossref is asked about it alone
            elif placed[doi.key] == "crossref":
                again.append(doi)
            else:
                log.debug("fetch.not_at_crossref", doi=doi.value, agency=placed[doi.key])
                done[doi.key] = Fetched(SOURCE, doi.key, "not_found")
        for batch in plan_batches(again, base_url, config.batch_size, config.max_url_bytes):
            asked = _ask_list(batch, client, base_url)
            done.update(asked.done)
            singly += asked.missing + asked.singly
    else:
        singly += missing
    for doi, future in [(doi, submit(fetch_single, doi, client, base_url)) for doi in singly]:
        done[doi.key] = future.result()
    return [[asked.done.get(doi.key) or done[doi.key] for doi in asked.batch] for asked in group]


def _agencies(dois: list[Doi], client: HttpClient, ra_url: str) -> dict[str, str | None]:
    """What doi.org says of each DOI (its agency, None: it does not exist), by key, in as few
    `/ra/{doi,doi,...}` requests as the URL length allows. A DOI it did not answer for, or all
    of a request that failed, is left out (and then asked of Crossref singly)."""
    placed: dict[str, str | None] = {}
    if not client.has_limiter(routing.POOL):
        return placed
    for part in url_batches(
        dois,
        base_length=len(f"{ra_url.rstrip('/')}/ra/"),
        value_length=lambda doi: len(quote_doi(doi.value)) + 1,
        max_values=RA_BATCH_DOIS,
        max_url_bytes=RA_URL_BYTES,
        alone=lambda doi: "," in doi.value,
    ):
        answered = routing.fetch_agencies([doi.value for doi in part], client, ra_url)
        for doi in part:
            if doi.value in answered:
                placed[doi.key] = answered[doi.value]
    return placed


def fetch_batch(
    batch: list[Doi], client: HttpClient, base_url: str, budget: SplitBudget | None = None
) -> list[Fetched]:
    """One list request for the batch; a DOI missing from the answer is asked for on its own
    (it may be an alias, or the list index may lag) before it is called not found. A 500 (an
    exception on one bad value) splits the batch in halves (`split_batch`)."""
    if len(batch) == 1:
        return [fetch_single(batch[0], client, base_url)]
    found: dict[str, dict] = {}
    try:
        response = client.get_json(list_url(base_url, batch), pool="crossref:list", source=SOURCE)
        for item in parse_work_list(response.data).items:
            with contextlib.suppress(BadPayload):  # not a work: the DOI is asked on its own
                found[ascii_key(check_answer(item))] = item
    except (ClientError, NotFound, BadPayload) as exc:
        # The batch request itself was refused or garbled: single look-ups may still succeed.
        log.warning("fetch.batch_refused", source=SOURCE, size=len(batch), error=str(exc))
    except UpstreamError as exc:
        if exc.status == 500:
            return split_batch(
                batch, exc, SOURCE, lambda part, b: fetch_batch(part, client, base_url, b), budget
            )
        # Crossref is failing (retries exhausted): asking each DOI again would only add load.
        return [failed(SOURCE, doi, exc) for doi in batch]
    return [
        Fetched(SOURCE, doi.key, "ok", payload=found[doi.key], resolved=doi.key)
        if doi.key in found
        else fetch_single(doi, client, base_url)
        for doi in batch
    ]


def fetch_single(doi: Doi, client: HttpClient, base_url: str) -> Fetched:
    """`/works/{doi}`. Crossref answers an alias with a 301 to its prime DOI, which is followed."""

    def read(body: Any) -> tuple[Mapping[str, Any], str]:
        message = unwrap(body, "work")
        return message, check_answer(message)

    url = f"{base_url}/works/{quote_doi(doi.value)}"
    return fetch_one(
        doi,
        SOURCE,
        lambda: client.get_json(url, pool="crossref:single", source=SOURCE, identifier=doi.value),
        read,
        aliases_redirect=True,
    )


# --- feeds: a standing query walked with a cursor (I/O, with pure helpers) ---

#: The most rows Crossref returns per page.
MAX_ROWS = 1000

#: from-index-date as Crossref takes it: a year, a month or a day.
_INDEX_DATE = re.compile(r"[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?")

#: Refusals whose body iter_feed reads itself, to tell a rejected cursor from any other.
_FEED_ANSWER_STATUSES = frozenset({400, 404})


@dataclass(frozen=True, slots=True)
class FeedQuery:
    """A Crossref feed: works of a journal, a prefix or a member, indexed since a date.

    Exactly one of `issn` ("0950-0170"), `prefix` ("10.5555") or `member` ("98") is set; the
    value goes into the filter as given, so it must be non-empty, unpadded and without ",".
    """

    issn: str | None = None
    prefix: str | None = None
    member: str | None = None
    #: A person's ORCID iD ("0000-0002-1825-0097"): the works whose byline carries it (issue 21).
    orcid: str | None = None

    def __post_init__(self) -> None:
        given = [
            (name, value)
            for name, value in (
                ("issn", self.issn),
                ("prefix", self.prefix),
                ("member", self.member),
                ("orcid", self.orcid),
            )
            if value is not None
        ]
        if len(given) != 1:
            got = " and ".join(name for name, _ in given) or "none of them"
            raise ValueError(
                f"FeedQuery needs exactly one of issn, prefix, member or orcid, got {got}"
            )
        name, value = given[0]
        if not isinstance(value, str) or not value or value != value.strip() or "," in value:
            raise ValueError(
                f"FeedQuery {name} must be a non-empty string without spaces around it or ',' "
                f"(the filter separator), not {value!r}"
            )

    @property
    def filter(self) -> str:
        """The filter naming the feed: "issn:0950-0170", "prefix:10.5555", "member:98" or
        "orcid:0000-0002-1825-0097"."""
        if self.issn is not None:
            return f"issn:{self.issn}"
        if self.prefix is not None:
            return f"prefix:{self.prefix}"
        if self.orcid is not None:
            return f"orcid:{self.orcid}"
        return f"member:{self.member}"


@dataclass(frozen=True, slots=True)
class FeedPage:
    """One non-empty page of a feed walk."""

    items: list[dict]  # the raw work messages, each as /works/{doi} gives it in `message`
    next_cursor: str | None  # the cursor asking for the page after this one (the resume point)
    total_results: int | None  # how many works the whole feed matches, not this page


class CursorExpired(ClientError):
    """Crossref no longer knows (or never knew) the cursor sent: walk the feed again from "*".

    A ClientError: asking again with the same cursor gives the same refusal. Crossref forgets a
    cursor about 5 minutes after it was last used.
    """


def feed_params(
    query: FeedQuery, from_index_date: str | None, rows: int, cursor: str
) -> dict[str, str]:
    """The query parameters of one feed page on `/works` (pure).

    `{"filter": "from-index-date:2026-12-01,issn:0950-0170", "rows": "1000", "cursor": "*"}`;
    from-index-date comes first and is left out when None. ValueError for rows outside 1..1000,
    a from-index-date that is not YYYY, YYYY-MM or YYYY-MM-DD, or an empty cursor.
    """
    if isinstance(rows, bool) or not isinstance(rows, int) or not 1 <= rows <= MAX_ROWS:
        raise ValueError(f"rows must be a whole number from 1 to {MAX_ROWS}, not {rows!r}")
    if not isinstance(cursor, str) or not cursor:
        raise ValueError(f"cursor must be '*' or a next-cursor Crossref gave, not {cursor!r}")
    filters = []
    if from_index_date is not None:
        if not isinstance(from_index_date, str) or not _INDEX_DATE.fullmatch(from_index_date):
            raise ValueError(
                f"from_index_date must be YYYY, YYYY-MM or YYYY-MM-DD, not {from_index_date!r}"
            )
        filters.append(f"from-index-date:{from_index_date}")
    filters.append(query.filter)
    return {"filter": ",".join(filters), "rows": str(rows), "cursor": cursor}


def parse_feed_page(body: Any) -> FeedPage:
    """A `work-list` envelope of a feed request -> FeedPage (pure; BadPayload like parse_work_list)."""
    page = parse_work_list(body)
    return FeedPage(items=page.items, next_cursor=page.next_cursor, total_results=page.total)


def iter_feed(
    client: HttpClient,
    base_url: str,
    query: FeedQuery,
    *,
    from_index_date: str | None,
    rows: int = MAX_ROWS,
    cursor: str = "*",
) -> Iterator[FeedPage]:
    """Walk a feed page by page with Crossref's cursor, from `cursor` ("*" = the start).

    Lazy: a page is asked for only when the caller asks for the next one, so the caller can store
    a page, record `page.next_cursor` as its resume point, then go on. Only pages with items are
    yielded. The iterator ends normally exactly when Crossref has nothing more to give: a page
    without items (Crossref's end of a walk: it keeps answering with a cursor, the items run out)
    or, never seen in practice, a page without next-cursor (yielded, then the walk stops, logged).
    Any other end is an exception, and the walk is then incomplete:

    - CursorExpired when Crossref rejects the cursor sent (a 404 `resource-failure` naming the
      cursor, or a 400 whose message names it). Crossref cursors expire about 5 minutes after
      their last use, so a resume point stored by an earlier run is usually dead; the caller
      decides what to do, typically walk again from "*" with the same from-index-date.
    - Whatever HttpClient raises after its retries (TransientError, RateLimited, UpstreamError
      for a 500: Crossref answered `cursor=5` with an exception, and the client does not retry
      500), NotFound / ClientError for other refusals, BadPayload for an answer of another shape.

    ValueError (bad query, rows or date) is raised here, before any request.
    """
    feed_params(query, from_index_date, rows, cursor)  # validate now, not at the first next()
    return _walk_feed(client, f"{base_url.rstrip('/')}/works", query, from_index_date, rows, cursor)


# --- feed: a journal's, prefix's or member's works, pulled by the feed driver ---

#: The `[[feeds]] kind` of a Crossref journal, prefix or member.
FEED_KIND = "crossref"

#: The settings of a `[[feeds]]` table that name what a Crossref feed asks for.
FEED_FIELDS = ("issn", "prefix", "member")


def feed_target(feed: FeedConfig, config: Config) -> FeedTarget:
    field = next(f for f in FEED_FIELDS if getattr(feed, f))
    query = FeedQuery(**{field: getattr(feed, field)})
    return FeedTarget(
        key=f"{FEED_KIND} {field} {getattr(feed, field)}",
        kind=FEED_KIND,
        endpoint=config.crossref.url,
        params={"filter": query.filter},
        display=f"feed {feed.label}",
    )


def feed_pages(
    feed: FeedConfig,
    config: Config,
    client: HttpClient,
    state: base.FeedState,
) -> Iterator[base.FeedPage]:
    """Works indexed since the watermark (the day the last complete walk began), walked with a
    cursor from `state.resume` (a cursor kept after a stored page) or from the start.

    Crossref forgets a cursor about 5 minutes after its last use, and a dead cursor comes back as
    a 404 or a 500: a walk resumed from one starts again from the start of the same
    from-index-date, once (what was stored comes back unchanged). Every page's watermark is the
    day this walk began; the walk ends with the empty page Crossref ends it with, so a walk that
    found nothing new still moves the watermark to today."""
    field = next(f for f in FEED_FIELDS if getattr(feed, f))
    query = FeedQuery(**{field: getattr(feed, field)})
    began = datetime.now(UTC).strftime("%Y-%m-%d")
    since, cursor = state.since, state.resume or "*"
    while True:
        try:
            for page in iter_feed(
                client, config.crossref.url, query, from_index_date=since, cursor=cursor
            ):
                answers = [a for a in map(_feed_answer, page.items) if a is not None]
                yield base.FeedPage(
                    scheme="doi", answers=answers, resume=page.next_cursor, watermark=began
                )
            break
        except UpstreamError as exc:
            if cursor == "*":
                raise
            log.info("feed.cursor_dropped", feed=feed.label, reason=str(exc), restart=since)
            cursor = "*"
    yield base.FeedPage(scheme="doi", answers=[], resume=None, watermark=began)


# --- person feed: the works whose byline carries a person's ORCID iD (issue 21) ---

#: The evidence of a work Crossref lists under a person's ORCID iD: a publisher deposited the
#: iD with the work, a second opinion beside the person's own ORCID record (own=False).
EVIDENCE_ORCID = "crossref-orcid"


def orcid_pages(
    person: Mapping[str, Any], state: base.FeedState, client: HttpClient, config: Config
) -> Iterator[base.PersonPage]:
    """The works Crossref lists for each of a person's ORCID iDs (`filter=orcid:...`), indexed
    since the watermark (`from-index-date`, as the journal feeds ask: a work re-deposited, or
    indexed again, since then), walked with a cursor like `feed_pages`, MAX_ROWS a page. Each
    work is an answer (Crossref's record of it) and a candidate, EVIDENCE_ORCID. Nothing for a
    person without an ORCID iD.

    `person` is as `Store.people.get` gives it. A person with several iDs has them walked one
    after the other; the resume point names the iD it is of ("0000-... CURSOR"), and a cursor
    Crossref has forgotten starts that iD's walk again, once. The walk ends with the empty page
    Crossref ends it with, so a walk that found nothing still moves the watermark."""
    orcids = sorted(i["key"] for i in person.get("ids", ()) if i["scheme"] == "orcid")
    if not orcids:
        return
    began = datetime.now(UTC).strftime("%Y-%m-%d")
    resumed_orcid, _, resumed_cursor = (state.resume or "").partition(" ")
    if resumed_orcid in orcids:
        orcids = orcids[orcids.index(resumed_orcid) :]
    for orcid in orcids:
        cursor = resumed_cursor if orcid == resumed_orcid and resumed_cursor else "*"
        yield from _orcid_walk(FeedQuery(orcid=orcid), state.since, cursor, began, client, config)
    yield base.PersonPage(candidates=[], answers=[], resume=None, watermark=began)


def orcid_id_pages(
    orcid: str, config: Config, client: HttpClient, state: base.FeedState
) -> Iterator[base.PersonPage]:
    """`orcid_pages` for one ORCID iD, as `sources.PERSON_FEEDS` pulls a feed (by one id)."""
    return orcid_pages({"ids": [{"scheme": "orcid", "key": orcid}]}, state, client, config)


def _orcid_walk(
    query: FeedQuery,
    since: str | None,
    cursor: str,
    began: str,
    client: HttpClient,
    config: Config,
) -> Iterator[base.PersonPage]:
    while True:
        try:
            for page in iter_feed(
                client, config.crossref.url, query, from_index_date=since, cursor=cursor
            ):
                answers = [a for a in map(_feed_answer, page.items) if a is not None]
                yield base.PersonPage(
                    candidates=[
                        base.Candidate(parse_doi(a.display or a.identifier), EVIDENCE_ORCID)
                        for a in answers
                    ],
                    answers=answers,
                    resume=f"{query.orcid} {page.next_cursor}" if page.next_cursor else None,
                    watermark=began,
                )
            return
        except UpstreamError as exc:
            if cursor == "*":
                raise
            log.info("feed.cursor_dropped", feed=query.filter, reason=str(exc), restart=since)
            cursor = "*"


def _feed_answer(item: dict) -> Fetched | None:
    """A work of a feed page as `harvest doi` would have it (None, logged, without a usable DOI)."""
    try:
        doi = parse_doi(str(item.get("DOI", "")))
    except BadIdentifier as exc:
        log.warning("feed.item_skipped", reason=str(exc))
        return None
    return Fetched(SOURCE, doi.key, "ok", payload=item, display=doi.value)


def _walk_feed(
    client: HttpClient,
    url: str,
    query: FeedQuery,
    from_index_date: str | None,
    rows: int,
    cursor: str,
) -> Iterator[FeedPage]:
    while True:
        page = _feed_page(client, url, query, feed_params(query, from_index_date, rows, cursor))
        if not page.items:
            return
        yield page
        if page.next_cursor is None:
            log.warning(
                "feed.no_next_cursor", source=SOURCE, feed=query.filter, items=len(page.items)
            )
            return
        # Crossref often answers with the very cursor it was sent: that is how it walks on.
        cursor = page.next_cursor


def _feed_page(client: HttpClient, url: str, query: FeedQuery, params: dict[str, str]) -> FeedPage:
    """One feed request. 400 and 404 bodies are read here (the client would not say why)."""
    answer = client.get_bytes(
        url,
        pool="crossref:list",
        source=SOURCE,
        params=params,
        identifier=query.filter,
        answer_statuses=_FEED_ANSWER_STATUSES,
    )
    context: dict[str, Any] = {
        "source": SOURCE,
        "identifier": query.filter,
        "status": answer.status,
        "url": redact_url(answer.url),
    }
    where = f"{SOURCE} {query.filter} (GET {context['url']})"
    body = _json_body(answer.content, answer.headers, where, context)
    if answer.status in _FEED_ANSWER_STATUSES:
        raise _feed_refusal(body, params["cursor"], where, context)
    return parse_feed_page(body)


def _json_body(
    content: bytes, headers: Mapping[str, str], where: str, context: dict[str, Any]
) -> Any:
    """The parsed body; None for a refusal that is not JSON (Crossref's text/plain 404)."""
    text = content.removeprefix(b"\xef\xbb\xbf").lstrip()
    status = context["status"]
    if text[:1] not in (b"{", b"["):
        if status in _FEED_ANSWER_STATUSES:
            return None
        kind = headers.get("Content-Type", "").split(";", 1)[0].strip() or "no content type"
        raise BadPayload(f"{where}: expected JSON, got {kind} (HTTP {status})", **context)
    try:
        return json.loads(text)
    except ValueError:
        if status in _FEED_ANSWER_STATUSES:
            return None
        # Starts like JSON but does not parse: cut short. get_json would have asked again; here
        # the caller resumes from its last next_cursor.
        raise TransientError(f"{where}: JSON body cut short (HTTP {status})", **context) from None


def _feed_refusal(body: Any, cursor: str, where: str, context: dict[str, Any]) -> UpstreamError:
    """The error for a 400/404 answer: CursorExpired when Crossref says the cursor is the problem
    (the "*" that starts a walk cannot expire, so a restart never loops on it)."""
    message = body.get("message") if isinstance(body, Mapping) else None
    detail = _failure_detail(message) or "no explanation"
    status = context["status"]
    if cursor != "*" and _names_cursor(message):
        return CursorExpired(
            f"{where}: Crossref rejected the cursor (HTTP {status}: {detail}); "
            "walk the feed again from '*'",
            **context,
        )
    if status == 404:
        return NotFound(f"{where}: not found (HTTP 404: {detail})", **context)
    return ClientError(f"{where}: HTTP {status}: {detail}", **context)


def _names_cursor(message: Any) -> bool:
    """Whether a Crossref failure message is about the cursor: `cursor-invalid`, or its text
    says cursor. The entry's `value` (the cursor itself, random base64) is not looked at."""
    for entry in objects_in(message):
        for key in ("type", "message", "description"):
            text = entry.get(key)
            if isinstance(text, str) and "cursor" in text.lower():
                return True
    return False


# --- candidate searches: works that may be a record without a DOI (I/O, with pure helpers) ---

#: A candidate search is one list request, like a DOI batch: the same pool, the same pacing.
QUERY_POOL = "crossref:list"


def bibliographic_params(
    text: str, *, year: int | None, year_window: int, rows: int
) -> dict[str, str]:
    """The query parameters of one candidate search on `/works` (pure).

    `{"query.bibliographic": "Title Surname Journal", "filter":
    "from-pub-date:2013-01-01,until-pub-date:2015-12-31", "rows": "5"}`. The window is given in
    whole days, so no reading of a bare year ("until 2015": its first or last day?) can narrow
    it. Without a year there is no date filter: better more candidates than none. ValueError for
    empty text, rows outside 1..MAX_ROWS, or a negative window.
    """
    text = " ".join(text.split())
    if not text:
        raise ValueError("a candidate search needs some text (a title)")
    if isinstance(rows, bool) or not isinstance(rows, int) or not 1 <= rows <= MAX_ROWS:
        raise ValueError(f"rows must be a whole number from 1 to {MAX_ROWS}, not {rows!r}")
    if isinstance(year_window, bool) or not isinstance(year_window, int) or year_window < 0:
        raise ValueError(f"year_window must be a whole number of years >= 0, not {year_window!r}")
    params = {"query.bibliographic": text}
    if year is not None and 1000 + year_window <= year <= 9999 - year_window:
        params["filter"] = (
            f"from-pub-date:{year - year_window:04d}-01-01,"
            f"until-pub-date:{year + year_window:04d}-12-31"
        )
    params["rows"] = str(rows)
    return params


def query_works(
    client: HttpClient, base_url: str, params: Mapping[str, str], *, identifier: str | None = None
) -> list[dict]:
    """One candidate search: the raw work items Crossref ranks first, best first.

    Paced and retried in Crossref's list pool like every list request; raises what the client
    raises after its retries, and BadPayload for an answer that is not a work-list.
    """
    response = client.get_json(
        f"{base_url.rstrip('/')}/works",
        pool=QUERY_POOL,
        source=SOURCE,
        params=dict(params),
        identifier=identifier,
    )
    return parse_work_list(response.data).items


def parse_candidates(items: Iterable[Any]) -> list[Record]:
    """The items of a candidate search as Records, in Crossref's order (pure). An item that is
    not a work object or has no DOI cannot be linked to, so it is left out rather than failing
    the whole search."""
    records = []
    for item in items:
        try:
            records.append(parse(item))
        except BadPayload:
            continue
    return records


# --- parse (pure) ---


@dataclass(frozen=True, slots=True)
class WorkList:
    """One page of a Crossref `work-list` answer."""

    items: list[dict]  # raw work objects, each for parse
    total: int  # total-results: how many works match the whole query, not this page
    # next-cursor when the request used cursor paging, else None. Crossref keeps answering with a
    # cursor after the last page; the end of a cursor walk is a page with no items.
    next_cursor: str | None


def unwrap(body: Any, expected: str) -> Any:
    """The `message` of a Crossref envelope whose message-type is `expected`.

    Raises BadPayload for anything else: not a JSON object, status other than "ok" (Crossref's
    validation-failure / resource-failure / exception answers), another message-type, no message.
    """
    if not isinstance(body, Mapping):
        raise BadPayload(
            f"Crossref: expected a JSON object with message-type {expected!r}, got {describe_json(body)}",
            source=SOURCE,
        )
    status = body.get("status")
    message_type = body.get("message-type")
    if status != "ok":
        detail = _failure_detail(body.get("message"))
        raise BadPayload(
            f"Crossref: expected status 'ok' with message-type {expected!r}, got status "
            f"{status!r} with message-type {message_type!r}" + (f": {detail}" if detail else ""),
            source=SOURCE,
        )
    if message_type != expected:
        raise BadPayload(
            f"Crossref: expected message-type {expected!r}, got {message_type!r}",
            source=SOURCE,
        )
    message = body.get("message")
    if message is None:
        raise BadPayload(
            f"Crossref: {expected!r} answer has no message",
            source=SOURCE,
        )
    return message


def parse_work_list(body: Any) -> WorkList:
    """A `work-list` envelope (from /works, /members/{id}/works, ...) -> WorkList."""
    message = unwrap(body, "work-list")
    if not isinstance(message, Mapping):
        raise BadPayload(f"Crossref: work-list message is {describe_json(message)}", source=SOURCE)
    items = message.get("items")
    if not isinstance(items, list):
        raise BadPayload(
            f"Crossref: work-list has no items list (items is {describe_json(items)})",
            source=SOURCE,
        )
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise BadPayload(
                f"Crossref: work-list item {index} is {describe_json(item)}, not a work object",
                source=SOURCE,
            )
    total = message.get("total-results")
    if not isinstance(total, int) or isinstance(total, bool):
        raise BadPayload(
            f"Crossref: work-list total-results is {describe_json(total)}, not a number",
            source=SOURCE,
        )
    cursor = message.get("next-cursor")
    next_cursor = cursor if isinstance(cursor, str) and cursor else None
    return WorkList(items=list(items), total=total, next_cursor=next_cursor)


def check_answer(message: Any) -> str:
    """The shape check of a work object (a `work` message, or one work-list item) before it is
    stored: its own DOI. BadPayload when it is not an object or names no DOI; `answered_doi`
    then checks the DOI is the one asked."""
    if not isinstance(message, Mapping):
        raise BadPayload(
            f"Crossref: expected a work object, got {describe_json(message)}", source=SOURCE
        )
    doi = stripped_text(message.get("DOI"))
    if doi is None:
        raise BadPayload("Crossref: work object has no DOI", source=SOURCE)
    return doi


def parse(message: Mapping[str, Any]) -> Record:
    """A Crossref work object (the message of /works/{doi}, or one work-list item) -> Record.

    Every field is optional and a field of the wrong type counts as missing; only a message that
    is not an object, or has no DOI, raises BadPayload.
    """
    if not isinstance(message, Mapping):
        raise BadPayload(
            f"Crossref: expected a work object, got {describe_json(message)}", source=SOURCE
        )
    doi = stripped_text(message.get("DOI"))
    if doi is None:
        hint = " (this is an envelope: unwrap it first)" if "message-type" in message else ""
        raise BadPayload(f"Crossref: work object has no DOI{hint}", source=SOURCE)

    abstract = message.get("abstract")
    crossref_type = stripped_text(message.get("type"))
    titles = [t for t in (inline_text(t) for t in _texts(message.get("title"))) if t]
    event = as_mapping(message.get("event")) or {}
    institution = _institution(message)
    return Record(
        source=SOURCE,
        doi=doi,
        type=CROSSREF_TYPES.get(crossref_type, crossref_type) if crossref_type else None,
        title=titles[0] if titles else None,
        subtitle=first_inline_text(message.get("subtitle")),
        container_title=_container_title(message, crossref_type, institution),
        issn=_issns(message),
        volume=scalar_text(message.get("volume")),
        issue=scalar_text(message.get("issue")),
        # `article-number` (eLife's "e01567") is deliberately not mapped to pages.
        pages=scalar_text(message.get("page")),
        issued=_issued(message),
        published_print=date_parts_to_iso(as_mapping(message.get("published-print"))),
        published_online=date_parts_to_iso(as_mapping(message.get("published-online"))),
        # A thesis is cited with the degree-granting institution as its publisher (CSL, BibTeX's
        # school); Crossref's `publisher` is then the depositing library.
        publisher=(institution if crossref_type == "dissertation" else None)
        or inline_text(message.get("publisher")),
        authors=tuple(csl_authors(message.get("author"))),
        abstract=(jats_to_text(abstract) or None) if isinstance(abstract, str) else None,
        language=stripped_text(message.get("language")),
        license=_license(message.get("license")),
        # The landing page; the doi.org link in `URL` is derivable from the DOI.
        url=landing_page({"resource": message.get("resource")}),
        reference_count=whole_number(
            message.get("references-count", message.get("reference-count"))
        ),
        cited_by_count=whole_number(message.get("is-referenced-by-count")),
        relations=_relations(message.get("relation")),
        updates=_updates(message),
        container_short_title=first_inline_text(message.get("short-container-title")),
        titles=_titles(message, titles[1:]),
        contributors=role_contributors(message, CONTRIBUTOR_ROLES),
        funders=funders_of(message.get("funder")),
        isbn=typed_isbns(message.get("isbn-type"), message.get("ISBN")),
        event_name=inline_text(event.get("name")),
        event_place=inline_text(event.get("location")),
        event_date=date_parts_to_iso(as_mapping(event.get("start"))),
        publisher_place=inline_text(message.get("publisher-location")),
        degree=first_inline_text(message.get("degree")),
        references=references_of(message.get("reference")),
    )


def _texts(value: Any) -> list:
    return value if isinstance(value, list) else []


def _issued(message: Mapping) -> str | None:
    """`issued`; a dissertation has none (date-parts [[null]]) and carries its date in `approved`,
    the day the degree was approved, which is then its date. A report's `approved` (OSTI's
    2008 for a 1992 report) is a later act and never overrides an `issued` it has."""
    return date_parts_to_iso(as_mapping(message.get("issued"))) or date_parts_to_iso(
        as_mapping(message.get("approved"))
    )


def _institution(message: Mapping) -> str | None:
    for entry in objects_in(message.get("institution")):
        name = inline_text(entry.get("name"))
        if name:
            return name
    return None


def _container_title(message: Mapping, crossref_type: str | None, institution: str | None):
    """The journal or book; for posted content, which has none, where it was posted: a blog's
    name is `group-title` (Rogue Scholar: "Upstream", with the host "Front Matter" as
    institution), a preprint's server is `institution` (bioRxiv, whose `group-title` is the
    subject, "Microbiology")."""
    container = first_inline_text(message.get("container-title"))
    if container or crossref_type != "posted-content":
        return container
    group = inline_text(message.get("group-title"))
    if stripped_text(message.get("subtype")) == "preprint":
        return institution or group
    return group or institution


def _titles(message: Mapping, more: list[str]) -> tuple[Title, ...]:
    """The titles beside the first: further `title`s (Crossref lists the original and translated
    titles together, without saying which is which: "alternative"), `original-title` and
    `short-title`. Crossref's JSON has no translated-title field."""
    out: list[Title] = [Title(t, "alternative") for t in more]
    for field, kind in (("original-title", "original"), ("short-title", "short")):
        for text in _texts(message.get(field)):
            title = inline_text(text)
            if title and Title(title, kind) not in out:
                out.append(Title(title, kind))
    return tuple(out)


def _issns(message: Mapping) -> tuple[str, ...]:
    """Print first, then electronic, then any other; a blog's ISSN is only in relation
    `is-part-of` (id-type issn). Each checked: an ISSN with a wrong check digit is dropped."""
    typed = list(objects_in(message.get("issn-type")))
    typed.sort(key=lambda entry: entry.get("type") != "print")  # stable: print first
    candidates = [entry.get("value") for entry in typed]
    plain = message.get("ISSN")
    if isinstance(plain, list):
        candidates.extend(plain)
    relation = as_mapping(message.get("relation")) or {}
    for target in objects_in(relation.get("is-part-of")):
        if (stripped_text(target.get("id-type")) or "").casefold() == "issn":
            candidates.append(target.get("id"))
    return valid_issns(candidates)


def _license(value: Any) -> str | None:
    licences = [
        (entry.get("content-version"), url)
        for entry in objects_in(value)
        if (url := stripped_text(entry.get("URL")))
    ]
    for version, url in licences:
        if version == "vor":
            return url
    return licences[0][1] if licences else None


def _relations(value: Any) -> tuple[Relation, ...]:
    """Typed links, deduplicated (Crossref repeats a link once per asserting party) and sorted."""
    if not isinstance(value, Mapping):
        return ()
    found: set[Relation] = set()
    for relation_type, targets in value.items():
        if not isinstance(relation_type, str) or not relation_type:
            continue
        for target in objects_in(targets):
            identifier = stripped_text(target.get("id"))
            if identifier:
                id_type = stripped_text(target.get("id-type")) or "unknown"
                found.add(Relation(relation_type, id_type, identifier))
    return tuple(sorted(found, key=lambda r: (r.type, r.id_type, r.id)))


def _updates(message: Mapping) -> tuple[Update, ...]:
    """update-to entries (this work updates another) then updated-by (another updates this)."""
    out: list[Update] = []
    for direction in ("update-to", "updated-by"):
        for entry in objects_in(message.get(direction)):
            doi = stripped_text(entry.get("DOI"))
            if not doi:
                continue
            update = Update(
                direction=direction,
                doi=doi,
                type=stripped_text(entry.get("type")) or "unknown",
                label=stripped_text(entry.get("label")),
                date=date_parts_to_iso(as_mapping(entry.get("updated")))
                or _date_time(entry.get("updated")),
                # who asserted it ("publisher", "retraction-watch") and that database's id
                source=stripped_text(entry.get("source")),
                record_id=_record_id(entry.get("record-id")),
            )
            if update not in out:
                out.append(update)
    return tuple(out)


def _date_time(value: Any) -> str | None:
    """An update date given only as {"date-time": "2010-02-06T00:00:00Z"}."""
    date = as_mapping(value)
    return partial_iso_date(date.get("date-time")) if date else None


def _record_id(value: Any) -> str | None:
    """Retraction Watch's record id: a string ("4036") or, in some answers, a number."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return stripped_text(value)


def _failure_detail(message: Any) -> str:
    """What Crossref said went wrong, from a validation-failure / resource-failure / exception."""
    parts: list[str] = []
    for entry in objects_in(message):
        text = stripped_text(entry.get("message")) or stripped_text(entry.get("description"))
        kind = stripped_text(entry.get("type")) or stripped_text(entry.get("name"))
        if "value" in entry:
            kind = f"{kind} ({entry.get('value')!r})" if kind else repr(entry.get("value"))
        piece = ": ".join(p for p in (kind, text) if p)
        if piece:
            parts.append(piece)
    if not parts and isinstance(message, str):
        parts.append(message.strip()[:200])
    return "; ".join(parts)[:500]
