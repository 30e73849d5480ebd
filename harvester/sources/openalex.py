"""OpenAlex REST API (api.openalex.org).

The parse section is pure: it turns the JSON OpenAlex answers with into the harvester's canonical
`Record`, and never does I/O, so the module imports without network access. Shapes were written
against the recorded responses in ../shared/fixtures/openalex/.
"""

from __future__ import annotations

import html
import re
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import structlog

from harvester.config import Config, PoolLimit
from harvester.errors import (
    BadIdentifier,
    BadPayload,
    ClientError,
    NotFound,
    RateLimited,
    SourceExhausted,
    UpstreamError,
)
from harvester.http import HttpClient, JsonResponse
from harvester.identifiers import Doi, ascii_key, issn, parse_doi, quote_doi, quote_doi_query
from harvester.matching import NAME_MATCH_MIN, name_match
from harvester.models import Author, Fetched, Funder, Record
from harvester.sources.base import (
    Candidate,
    FeedState,
    PersonPage,
    SplitBudget,
    failed,
    fetch_one,
    in_order,
    split_batch,
    url_batches,
)
from harvester.sources.fields import (
    CROSSREF_TYPE_NAMES,
    as_mapping,
    bare_orcid,
    date_number,
    date_parts_to_iso,
    describe_json,
    inline_text,
    is_generic_heading,
    jats_to_text,
    objects_in,
    scalar_text,
    stripped_text,
    unique_issns,
    whole_number,
)

SOURCE = "openalex"
#: Its section of config/harvester.toml.
CONFIG_SECTION = "openalex"

#: Fields OpenAlex recomputes without the work changing: left out of the payload hash.
#: (`counts_by_year` moves with `cited_by_count`, which is kept and so still counts.)
VOLATILE_KEYS = (
    "updated_date",
    "relevance_score",
    "counts_by_year",
    "fwci",
    "citation_normalized_percentile",
    "cited_by_percentile_year",
)

#: Bump when parse reads something new: stored payloads are then parsed again.
#: 2: types in Crossref's names, plain-text abstracts, PMID/PMCID, funders with their awards,
#: checked ISSNs, a chapter's book (raw_source_name) as its container.
PARSER_VERSION = 2

#: Asked about every DOI beside its agency: open access, citations, topics, an abstract.
ROLE = "enrichment"
AGENCIES: frozenset[str] = frozenset()

#: Concepts (the older, deprecated OpenAlex tagging) count as subjects only from this score up,
#: and only when a work has no topics.
CONCEPT_MIN_SCORE = 0.5

#: OpenAlex's work `type` -> the Crossref type names the harvester stores. The vocabulary is
#: OpenAlex's list of work types (developers.openalex.org/api-reference/work-types), with
#: "conference-paper" and "book-review", which answers carry too. Editorials, letters, errata,
#: reviews and retraction notices are items in a journal, as Crossref registers them; paratext
#: (covers, tables of contents) and library guides have no Crossref type of their own. Used
#: only when the work carries no Crossref type name itself (`type_crossref`, or the primary
#: location's `raw_type`, which for a DOI is the registration agency's type).
OPENALEX_TYPES: dict[str, str] = {
    "article": "journal-article",
    "book": "book",
    "book-chapter": "book-chapter",
    "book-review": "journal-article",
    "conference-paper": "proceedings-article",
    "dataset": "dataset",
    "dissertation": "dissertation",
    "editorial": "journal-article",
    "erratum": "journal-article",
    "grant": "grant",
    "letter": "journal-article",
    "libguides": "other",
    "other": "other",
    "paratext": "other",
    "peer-review": "peer-review",
    "preprint": "posted-content",
    "reference-entry": "reference-entry",
    "report": "report",
    "retraction": "journal-article",
    "review": "journal-article",
    "standard": "standard",
    "supplementary-materials": "component",
}

#: Crossref's type names (api.crossref.org/types): a `type_crossref` or `raw_type` that is one of
#: these is taken as it is; any other raw type (a repository's "info:eu-repo/semantics/...",
#: DataCite's "Image") is not a Crossref type and is left for OPENALEX_TYPES.
CROSSREF_TYPES = CROSSREF_TYPE_NAMES

#: A source of this type is a publisher's shelf of e-books ("Cambridge University Press eBooks"),
#: not the book a chapter is in nor a container of a book.
_EBOOK_PLATFORM = "ebook platform"

log = structlog.get_logger(__name__)


# --- fetch (I/O) ---


def pools(config: Config) -> dict[str, PoolLimit]:
    return {f"{SOURCE}:list": config.openalex.limit, f"{SOURCE}:single": config.openalex.limit}


#: List calls OpenAlex allows in a day without an API key. Its pricing (developers.openalex.org,
#: "Authentication & Pricing") gives a keyless caller $0.01 of usage a day and charges a list or
#: filter call $0.10 per 1,000: 100 calls; the older credit rules (docs.openalex.org, "Rate
#: limits and authentication") said the same, 100 credits a day at 1 per list call. One copy of
#: the page says $0.10 a day (1,000 calls): the lower figure is kept. Single look-ups are free and
#: the 100 requests/s cap is everyone's, key or not. With lists of 100 DOIs that is 10,000 DOIs.
KEYLESS_LISTS_PER_DAY = 100


def fetch(dois: Iterable[Doi], client: HttpClient, config: Config) -> Iterator[list[Fetched]]:
    """The DOIs in OR-filter lists, with or without an API key (see fetch_works). Without one,
    at most KEYLESS_LISTS_PER_DAY list calls go out in the run of this client."""
    settings = config.openalex
    return fetch_works(
        dois,
        client,
        settings.url,
        settings.api_key,
        concurrency=settings.concurrency,
        allowance=None if settings.api_key else keyless_allowance(client),
    )


def batches(config: Config) -> bool:
    """Whether DOIs go in OR-filter lists (whatever their agency), so that OpenAlex is asked
    beside the agencies rather than after them: always, with a key or without one (a keyless
    caller has its own small daily allowance of list calls, KEYLESS_LISTS_PER_DAY)."""
    return True


def preflight(config: Config) -> None:
    """Say once per run what the configuration keeps OpenAlex from doing."""
    if not config.openalex.api_key:
        log.warning(
            "openalex.no_api_key",
            limited="list look-ups",
            lists=KEYLESS_LISTS_PER_DAY,
            hint=f"set HARVEST_OPENALEX_API_KEY; without it OpenAlex allows about "
            f"{KEYLESS_LISTS_PER_DAY} list calls a day ({KEYLESS_LISTS_PER_DAY * 100:,} DOIs): "
            "works past them are stored without OpenAlex and enriched on a later run",
        )


class ListAllowance:
    """The list calls one run may still send (thread-safe): OpenAlex's keyless daily allowance,
    spent by the run's own requests. A run that has spent it stops asking OpenAlex before
    OpenAlex has to refuse it; the allowance earlier runs of the day used is not known here,
    and OpenAlex's 429 (DailyLimitReached) stops the run then."""

    def __init__(self, calls: int) -> None:
        self.calls = self.left = calls
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Whether one more list call may go out (and, if so, it is counted)."""
        with self._lock:
            if self.left <= 0:
                return False
            self.left -= 1
            return True


#: The keyless allowance of each HttpClient (one client is one run).
_ALLOWANCES: weakref.WeakKeyDictionary[HttpClient, ListAllowance] = weakref.WeakKeyDictionary()
_ALLOWANCES_LOCK = threading.Lock()


def keyless_allowance(client: HttpClient) -> ListAllowance:
    """The keyless list allowance of this client's run, made on first use."""
    with _ALLOWANCES_LOCK:
        allowance = _ALLOWANCES.get(client)
        if allowance is None:
            allowance = _ALLOWANCES[client] = ListAllowance(KEYLESS_LISTS_PER_DAY)
        return allowance


class DailyLimitReached(SourceExhausted):
    """OpenAlex said the day's allowance is used up: stop asking OpenAlex for the rest of this run.

    The rule (inferred, not confirmed against a recorded answer): OpenAlex's errors page says
    429 = "daily limit exceeded" and 403 = "rate limit exceeded; slow down", and the
    HttpClient already retries every 429 `max_attempts` times, honouring Retry-After or backing
    off. A per-second burst passes within those retries, so a 429 that still ends in
    `RateLimited` is taken to be the daily allowance. The RateLimited error does not carry the
    response's X-RateLimit-Remaining / X-RateLimit-Reset headers, so they cannot confirm it.

    `answered` holds the results already got for the batch in which the limit was hit.
    """

    def __init__(self, message: str, *, answered: list[Fetched] | None = None, **kw) -> None:
        self.answered: list[Fetched] = list(answered or [])
        super().__init__(message, **kw)


#: The error of every DOI left unasked once the daily allowance is used up.
NOT_ASKED = "OpenAlex daily allowance reached; not asked this run"

#: Characters that split an OR filter value (`|`) or the filter list (`,`): such a DOI goes alone.
_FILTER_SEPARATORS = frozenset("|,")


def plan_batches(
    dois: Iterable[Doi],
    base_url: str,
    max_values: int = 100,
    max_url_bytes: int = 4000,
    *,
    api_key: str = "",
) -> Iterator[list[Doi]]:
    """Group DOIs for `/works?filter=doi:A|B|C` requests, each URL under `max_url_bytes`.

    Pure and lazy, in input order. OpenAlex takes at most 100 values in one OR filter. A DOI with
    "|" or "," cannot be told apart from the filter's separators, so it travels alone (and is
    then looked up singly). `api_key`, when given, is counted in the URL length.
    """
    return url_batches(
        dois,
        base_length=len(list_url(base_url, [], api_key).encode("utf-8")) + 3,  # per_page: 3 digits
        value_length=lambda doi: len(quote_doi_query(doi.value).encode("utf-8")) + 1,  # and "|"
        max_values=max_values,
        max_url_bytes=max_url_bytes,
        alone=lambda doi: bool(_FILTER_SEPARATORS & set(doi.value)),
    )


def list_url(base_url: str, dois: list[Doi], api_key: str = "") -> str:
    """The batch request; per_page is the number of DOIs (OpenAlex's default page is 25)."""
    values = "|".join(quote_doi_query(d.value) for d in dois)
    url = f"{base_url}/works?filter=doi:{values}&per_page={len(dois)}"
    return f"{url}&api_key={quote(api_key, safe='')}" if api_key else url


def fetch_works(
    dois: Iterable[Doi],
    client: HttpClient,
    base_url: str,
    api_key: str = "",
    concurrency: int = 1,
    allowance: ListAllowance | None = None,
) -> Iterator[list[Fetched]]:
    """Fetch DOIs from OpenAlex, yielding one list of results per batch, in input order.

    Batches run on `concurrency` threads (the "openalex:list" limiter still paces them), at
    most two per thread ahead of the caller. Every requested DOI comes back exactly once: ok,
    not_found or failed. Once OpenAlex's daily allowance is used up (DailyLimitReached, or the
    `allowance` of list calls spent), every DOI not yet answered comes back failed with
    NOT_ASKED, and no further request is sent.
    """
    base_url = base_url.rstrip("/")
    exhausted = threading.Event()
    said = threading.Lock()

    def fetch(batch: list[Doi]) -> list[Fetched]:
        if exhausted.is_set():
            return _not_asked(batch)
        try:
            return fetch_batch(batch, client, base_url, api_key, allowance=allowance)
        except DailyLimitReached as exc:
            with said:
                if not exhausted.is_set():
                    log.error("openalex.daily_limit_reached", source=SOURCE, error=str(exc))
                exhausted.set()
            return exc.answered + _not_asked(batch[len(exc.answered) :])

    yield from in_order(fetch, plan_batches(dois, base_url, api_key=api_key), concurrency, SOURCE)


def fetch_batch(
    batch: list[Doi],
    client: HttpClient,
    base_url: str,
    api_key: str = "",
    budget: SplitBudget | None = None,
    allowance: ListAllowance | None = None,
) -> list[Fetched]:
    """One list request for the batch (pool "openalex:list"); a DOI missing from the answer is
    not found, not asked again: OpenAlex simply lacks many DOIs. A 500 splits the batch in
    halves (`split_batch`), so one DOI OpenAlex chokes on fails alone. A batch of one DOI is a
    single look-up, which costs nothing of the day's allowance.

    With or without an api_key: OpenAlex gives a keyless caller a small daily allowance of list
    calls. `allowance`, when given, is what is left of it; every list request, a half of a split
    one too, takes one call, and once none is left DailyLimitReached is raised before asking.
    Without a key a list refused for want of one (401) is taken as the allowance gone, not
    answered with a look-up per DOI. Raises DailyLimitReached.
    """
    if len(batch) == 1:
        return _singles(batch, client, base_url, api_key)
    if allowance is not None and not allowance.take():
        raise DailyLimitReached(
            f"OpenAlex: the {allowance.calls} list calls a run may send without an API key "
            "are spent",
            source=SOURCE,
        )
    try:
        response = _get_json(client, list_url(base_url, batch, api_key), pool="openalex:list")
        page = parse_work_list(response.data)
        # A result that is not a work: its DOI would be taken for one OpenAlex lacks.
        answered = [check_answer(item) for item in page.items]
    except DailyLimitReached:
        raise
    except ClientError as exc:
        if exc.status == 403:
            # OpenAlex's "rate limit exceeded; slow down": asking each DOI now only adds load.
            return [failed(SOURCE, doi, exc) for doi in batch]
        if exc.status == 401 and not api_key:
            raise DailyLimitReached(
                f"OpenAlex refuses lists without an API key: {exc}",
                source=SOURCE,
                status=exc.status,
                url=exc.url,
            ) from None
        # The request itself was refused: single look-ups (free) may still succeed.
        log.warning("fetch.batch_refused", source=SOURCE, size=len(batch), error=str(exc))
        return _singles(batch, client, base_url, api_key)
    except (NotFound, BadPayload) as exc:
        log.warning("fetch.batch_refused", source=SOURCE, size=len(batch), error=str(exc))
        return _singles(batch, client, base_url, api_key)
    except UpstreamError as exc:
        if exc.status == 500:
            return _split(batch, exc, client, base_url, api_key, budget, allowance)
        # OpenAlex is failing (retries exhausted): asking each DOI again would only add load.
        return [failed(SOURCE, doi, exc) for doi in batch]
    found: dict[str, dict] = {}
    for item, doi in zip(page.items, answered, strict=True):
        found.setdefault(ascii_key(doi), item)
    return [
        Fetched(SOURCE, doi.key, "ok", payload=found[doi.key], resolved=doi.key)
        if doi.key in found
        else Fetched(SOURCE, doi.key, "not_found")
        for doi in batch
    ]


def _split(
    batch: list[Doi],
    exc: UpstreamError,
    client: HttpClient,
    base_url: str,
    api_key: str,
    budget: SplitBudget | None,
    allowance: ListAllowance | None,
) -> list[Fetched]:
    """`split_batch` for OpenAlex: the daily limit reached in a later half still carries the
    answers of the halves before it, so fetch_works reports each DOI once."""
    answered: list[Fetched] = []

    def part(half: list[Doi], budget: SplitBudget) -> list[Fetched]:
        try:
            got = fetch_batch(half, client, base_url, api_key, budget, allowance)
        except DailyLimitReached as limit:
            limit.answered = answered + limit.answered
            raise
        answered.extend(got)
        return got

    return split_batch(batch, exc, SOURCE, part, budget)


def fetch_single(doi: Doi, client: HttpClient, base_url: str, api_key: str = "") -> Fetched:
    """`/works/doi:{doi}` (pool "openalex:single"). A merged work answers 301 to the surviving
    work, which is followed: `resolved` is then the DOI that work carries.
    Raises DailyLimitReached."""
    url = f"{base_url}/works/doi:{quote_doi(doi.value)}"
    if api_key:
        url += f"?api_key={quote(api_key, safe='')}"

    return fetch_one(
        doi,
        SOURCE,
        lambda: _get_json(client, url, pool="openalex:single", identifier=doi.value),
        lambda work: (work, check_answer(work)),
        aliases_redirect=True,
    )


def _get_json(
    client: HttpClient,
    url: str,
    *,
    pool: str,
    identifier: str | None = None,
    params: Mapping[str, str] | None = None,
) -> JsonResponse:
    """client.get_json, with a final 429 turned into DailyLimitReached (see its docstring)."""
    try:
        return client.get_json(url, pool=pool, source=SOURCE, identifier=identifier, params=params)
    except RateLimited as exc:
        raise DailyLimitReached(
            f"OpenAlex daily allowance reached: {exc}",
            source=SOURCE,
            identifier=exc.identifier,
            status=exc.status,
            url=exc.url,
        ) from None


def _singles(batch: list[Doi], client: HttpClient, base_url: str, api_key: str) -> list[Fetched]:
    """fetch_single for each DOI; on DailyLimitReached the answers so far ride on the error."""
    results: list[Fetched] = []
    for doi in batch:
        try:
            results.append(fetch_single(doi, client, base_url, api_key))
        except DailyLimitReached as exc:
            exc.answered = results
            raise
    return results


def _not_asked(batch: list[Doi]) -> list[Fetched]:
    return [Fetched(SOURCE, doi.key, "failed", error=NOT_ASKED) for doi in batch]


# --- person and institution feeds: a person's or an institution's works (issue 21; I/O) ---

#: Works per page of a person's or institution's listing: the most both OpenAlex's older docs
#: (1-200) and developers.openalex.org (1-100) allow, so a page is never refused for its size.
WORKS_PER_PAGE = 100

#: The evidence of each kind of candidate these feeds offer (none is the person's own record).
EVIDENCE_ORCID = "orcid-in-authorship"
EVIDENCE_AUTHOR = "openalex-author"
EVIDENCE_AFFILIATION = "affiliation"


@dataclass(frozen=True, slots=True)
class InstitutionPage:
    """One page of an institution's listing: its works (`page.answers`; `page.candidates` is
    empty, since a work of an institution is no one's until a byline says whose), and the
    claims for the institution's people an author of the work was matched to by name or ORCID
    (person number, candidate)."""

    page: PersonPage
    claims: list[tuple[int, Candidate]]


def person_pages(
    person: Mapping[str, Any], state: FeedState, client: HttpClient, config: Config
) -> Iterator[PersonPage]:
    """The works of a person's OpenAlex author ids (`filter=author.id:A1|A2`), walked with a
    cursor (`cursor=*`, then `meta.next_cursor`, resumed from `state.resume`); nothing for a
    person without one. Each work with a DOI is an answer (stored as OpenAlex's record of it)
    and a candidate: "orcid-in-authorship" when the authorship that is theirs carries their
    ORCID iD, else "openalex-author"; neither is their own record (own=False).

    `person` is as `Store.people.get` gives it. Since the watermark only with an API key
    (`from_updated_date`, which OpenAlex allows only to a key holder); without one, the whole
    listing every time (what did not change is stored unchanged) within the keyless allowance
    of list calls. Raises DailyLimitReached (the day's allowance spent), UpstreamError."""
    authors = {i["key"] for i in person.get("ids", ()) if i["scheme"] == "openalex"}
    if not authors:
        return
    orcids = {i["key"] for i in person.get("ids", ()) if i["scheme"] == "orcid"}

    def candidates(work: Mapping[str, Any], doi: Doi) -> list[Candidate]:
        return [Candidate(doi, author_evidence(work, orcids))]

    yield from (
        listing.page
        for listing in _listing(
            "author.id:" + "|".join(sorted(authors)),
            state,
            client,
            config,
            candidates,
            lambda _work, _doi: [],
        )
    )


def author_pages(
    author_id: str, config: Config, client: HttpClient, state: FeedState
) -> Iterator[PersonPage]:
    """`person_pages` for one OpenAlex author id, as `sources.PERSON_FEEDS` pulls a feed (by
    one id): the person's ORCID iD is not known here, so the evidence is "openalex-author"."""
    person = {"ids": [{"scheme": "openalex", "key": author_id, "value": author_id}]}
    return person_pages(person, state, client, config)


def institution_pages(
    institution: Mapping[str, Any],
    people: Sequence[Mapping[str, Any]],
    state: FeedState,
    client: HttpClient,
    config: Config,
) -> Iterator[InstitutionPage]:
    """The works of an institution (`filter=authorships.institutions.ror:https://ror.org/...`),
    walked and dated as `person_pages`. `institution` has its `ror` (the URL form) and `key`
    (the bare id); `people` are the people of that institution (as `Store.people.get` gives
    them). A work is a claim for one of them only where an author affiliated with the
    institution is theirs: their ORCID iD on the authorship ("orcid-in-authorship"), or a
    name that fits theirs ("affiliation name-match:0.92", at least NAME_MATCH_MIN); the
    rest are only works of the institution."""
    ror, key = institution["ror"], institution["key"]

    def claims(work: Mapping[str, Any], doi: Doi) -> list[tuple[int, Candidate]]:
        return [
            (person_id, Candidate(doi, evidence))
            for person_id, evidence in member_evidence(work, key, people)
        ]

    yield from _listing(
        f"authorships.institutions.ror:{ror}", state, client, config, lambda _w, _d: [], claims
    )


def author_evidence(work: Mapping[str, Any], orcids: set[str]) -> str:
    """Why a work listed for a person's OpenAlex author ids is theirs (pure): their ORCID iD
    (`orcids`, bare) on one of its authorships is EVIDENCE_ORCID; otherwise EVIDENCE_AUTHOR
    (OpenAlex lists it for the id, even where its byline, cut at 100 authors, no longer shows
    them)."""
    for entry in objects_in(work.get("authorships")):
        author = as_mapping(entry.get("author")) or {}
        orcid = bare_orcid(author.get("orcid"))
        if orcid and orcid in orcids:
            return EVIDENCE_ORCID
    return EVIDENCE_AUTHOR


def member_evidence(
    work: Mapping[str, Any], ror_key: str, people: Sequence[Mapping[str, Any]]
) -> list[tuple[int, str]]:
    """(person number, evidence) for each of `people` an author of `work` affiliated with the
    institution `ror_key` (bare) is (pure): by ORCID iD, else by the best name match at least
    NAME_MATCH_MIN (the author's display name or the name as the work wrote it)."""
    by_orcid: set[int] = set()
    scores: dict[int, float] = {}
    for entry in objects_in(work.get("authorships")):
        institutions = objects_in(entry.get("institutions"))
        if not any(_ror_key(i.get("ror")) == ror_key for i in institutions):
            continue
        author = as_mapping(entry.get("author")) or {}
        orcid = bare_orcid(author.get("orcid"))
        names = [
            name
            for name in (
                inline_text(author.get("display_name")),
                inline_text(entry.get("raw_author_name")),
            )
            if name
        ]
        for person in people:
            person_id = int(person["id"])
            orcids = {i["key"] for i in person.get("ids", ()) if i["scheme"] == "orcid"}
            if orcid and orcid in orcids:
                by_orcid.add(person_id)
                continue
            score = max((name_match(person["name"], name) for name in names), default=0.0)
            if score >= NAME_MATCH_MIN:
                scores[person_id] = max(score, scores.get(person_id, 0.0))
    found = {n: f"{EVIDENCE_AFFILIATION} name-match:{score:.2f}" for n, score in scores.items()}
    found.update(dict.fromkeys(by_orcid, EVIDENCE_ORCID))
    return sorted(found.items())


def _ror_key(value: Any) -> str | None:
    """ "https://ror.org/05gq02987" (as OpenAlex writes an institution's ror) -> "05gq02987"."""
    text = stripped_text(value)
    return text.rstrip("/").rsplit("/", 1)[-1].lower() if text else None


def _listing(
    filter_value: str,
    state: FeedState,
    client: HttpClient,
    config: Config,
    candidates: Callable[[Mapping[str, Any], Doi], list[Candidate]],
    claims: Callable[[Mapping[str, Any], Doi], list[tuple[int, Candidate]]],
) -> Iterator[InstitutionPage]:
    """Walk `/works?filter=...` with a cursor, one page per request, lazily (a page is asked
    only once the one before is stored). A cursor kept from an earlier run that OpenAlex
    refuses (400) starts the walk again from "*", once. Every page's watermark is the day the
    walk began; OpenAlex ends a walk with next_cursor null."""
    settings = config.openalex
    api_key = settings.api_key
    url = f"{settings.url.rstrip('/')}/works"
    began = datetime.now(UTC).strftime("%Y-%m-%d")
    filters = [filter_value]
    if state.since and api_key:
        filters.append(f"from_updated_date:{state.since[:10]}")
    elif state.since:
        log.info(
            "openalex.listing_whole",
            filter=filter_value,
            reason="from_updated_date needs an API key",
        )
    allowance = None if api_key else keyless_allowance(client)
    cursor = state.resume or "*"
    while True:
        if allowance is not None and not allowance.take():
            raise DailyLimitReached(
                f"OpenAlex: the {allowance.calls} list calls a run may send without an API key "
                "are spent",
                source=SOURCE,
            )
        params = {"filter": ",".join(filters), "per_page": str(WORKS_PER_PAGE), "cursor": cursor}
        if api_key:
            params["api_key"] = api_key
        try:
            response = _get_json(
                client, url, pool="openalex:list", identifier=filter_value, params=params
            )
        except ClientError as exc:
            if exc.status == 401 and not api_key:
                raise DailyLimitReached(
                    f"OpenAlex refuses lists without an API key: {exc}",
                    source=SOURCE,
                    status=exc.status,
                    url=exc.url,
                ) from None
            if cursor != "*" and exc.status == 400:
                log.info("feed.cursor_dropped", filter=filter_value, reason=str(exc))
                cursor = "*"
                continue
            raise
        page = parse_work_list(response.data)
        answers: list[Fetched] = []
        found: list[Candidate] = []
        matched: list[tuple[int, Candidate]] = []
        for work in page.items:
            doi = _listed_doi(work)
            if doi is None:
                continue
            answers.append(Fetched(SOURCE, doi.key, "ok", payload=work, display=doi.value))
            found.extend(candidates(work, doi))
            matched.extend(claims(work, doi))
        yield InstitutionPage(
            PersonPage(found, answers, resume=page.next_cursor, watermark=began), matched
        )
        if page.next_cursor is None or (not page.items and page.next_cursor == cursor):
            return
        cursor = page.next_cursor


def _listed_doi(work: Mapping[str, Any]) -> Doi | None:
    """The DOI of a listed work; None (logged) for a work without one (OpenAlex lists many:
    a repository's copy, a work known only by its title), which no claim can name."""
    try:
        return parse_doi(check_answer(work))
    except (BadPayload, BadIdentifier) as exc:
        log.info("openalex.listed_work_skipped", work=str(work.get("id"))[:60], reason=str(exc))
        return None


# --- parse (pure) ---


@dataclass(frozen=True, slots=True)
class WorkList:
    """One page of an OpenAlex list answer (`/works?filter=...`)."""

    items: list[dict]  # raw work objects, each for parse
    total: int  # meta.count: how many works match the whole query, not this page
    # meta.next_cursor when the request used cursor paging (cursor=*), else None. OpenAlex ends a
    # cursor walk with next_cursor null (and an empty results list).
    next_cursor: str | None


def parse_work_list(body: Any) -> WorkList:
    """A list answer {"meta": {"count", "next_cursor", ...}, "results": [...]} -> WorkList.

    Raises BadPayload when the answer is not an object, has no results list, holds a result that
    is not an object, or has no meta.count.
    """
    if not isinstance(body, Mapping):
        raise BadPayload(
            f"OpenAlex: expected a list object, got {describe_json(body)}", source=SOURCE
        )
    results = body.get("results")
    if not isinstance(results, list):
        detail = stripped_text(body.get("message")) or stripped_text(body.get("error"))
        raise BadPayload(
            f"OpenAlex: list answer has no results list (results is {describe_json(results)})"
            + (f": {detail[:200]}" if detail else ""),
            source=SOURCE,
        )
    for index, item in enumerate(results):
        if not isinstance(item, dict):
            raise BadPayload(
                f"OpenAlex: list result {index} is {describe_json(item)}, not a work object",
                source=SOURCE,
            )
    meta = as_mapping(body.get("meta")) or {}
    total = meta.get("count")
    if not isinstance(total, int) or isinstance(total, bool):
        raise BadPayload(
            f"OpenAlex: list meta.count is {describe_json(total)}, not a number", source=SOURCE
        )
    cursor = meta.get("next_cursor")
    next_cursor = cursor if isinstance(cursor, str) and cursor else None
    return WorkList(items=list(results), total=total, next_cursor=next_cursor)


#: An OpenAlex work's own id: "https://openalex.org/W2741809807" (or bare, "W2741809807").
_WORK_ID = re.compile(r"(?:https?://openalex\.org/)?W[0-9]+", re.IGNORECASE)


def check_answer(work: Any) -> str:
    """The shape check of a work object (the answer of /works/doi:..., or one list result)
    before it is stored: its own DOI. BadPayload for anything without a work's own `id` and
    `doi`: an error object ({"error", "message"}, which OpenAlex may send with status 200),
    a list answer, another service's JSON. Stored, such an answer would stand for the work's
    OpenAlex record and wipe what OpenAlex said of it."""
    if not isinstance(work, Mapping):
        raise BadPayload(
            f"OpenAlex: expected a work object, got {describe_json(work)}", source=SOURCE
        )
    if isinstance(work.get("results"), list):
        raise BadPayload("OpenAlex: got a list answer, not a work", source=SOURCE)
    work_id, doi = work.get("id"), bare_doi(work.get("doi"))
    if not (isinstance(work_id, str) and _WORK_ID.fullmatch(work_id.strip())) or doi is None:
        said = stripped_text(work.get("error")) or stripped_text(work.get("message"))
        keys = ", ".join(sorted(str(k) for k in work)[:8]) or "none"
        raise BadPayload(
            "OpenAlex: not a work (no work id and DOI"
            + (f"; it says: {said[:200]})" if said else f"; keys: {keys})"),
            source=SOURCE,
        )
    return doi


def parse(work: Mapping[str, Any]) -> Record:
    """An OpenAlex work object (the answer of /works/{id}, or one list result) -> Record.

    Every field is optional and a field of the wrong type counts as missing; only a work that is
    not an object (or is a whole list answer) raises BadPayload.
    """
    if not isinstance(work, Mapping):
        raise BadPayload(
            f"OpenAlex: expected a work object, got {describe_json(work)}", source=SOURCE
        )
    if isinstance(work.get("results"), list) and "meta" in work:
        raise BadPayload(
            "OpenAlex: got a list answer, not a work (use parse_work_list)", source=SOURCE
        )
    ids = as_mapping(work.get("ids")) or {}
    primary = as_mapping(work.get("primary_location")) or {}
    best = as_mapping(work.get("best_oa_location")) or {}
    source = as_mapping(primary.get("source")) or {}
    biblio = as_mapping(work.get("biblio")) or {}
    open_access = as_mapping(work.get("open_access")) or {}
    abstract = abstract_text(abstract_from_inverted_index(work.get("abstract_inverted_index")))
    return Record(
        source=SOURCE,
        doi=bare_doi(work.get("doi")) or bare_doi(ids.get("doi")),
        type=work_type(work, primary),
        title=inline_text(work.get("title")) or inline_text(work.get("display_name")),
        container_title=_container_title(primary, source),
        issn=_issns(source),
        volume=scalar_text(biblio.get("volume")),
        issue=scalar_text(biblio.get("issue")),
        pages=_pages(biblio),
        issued=_iso_date(work.get("publication_date")) or _year(work.get("publication_year")),
        publisher=inline_text(source.get("host_organization_name")),
        authors=tuple(_authors(work.get("authorships"))),
        abstract=abstract,
        language=stripped_text(work.get("language")),
        license=stripped_text(best.get("license")) or stripped_text(primary.get("license")),
        url=stripped_text(primary.get("landing_page_url")),
        reference_count=_reference_count(work),
        cited_by_count=whole_number(work.get("cited_by_count")),
        subjects=_subjects(work),
        openalex_id=stripped_text(work.get("id")) or stripped_text(ids.get("openalex")),
        oa_status=stripped_text(open_access.get("oa_status")),
        oa_url=(
            stripped_text(best.get("pdf_url"))
            or stripped_text(best.get("landing_page_url"))
            or stripped_text(open_access.get("oa_url"))
        ),
        other_ids=_other_ids(ids),
        funders=_funders(work),
        retracted=True if work.get("is_retracted") is True else None,  # a notice, or nothing
    )


def work_type(work: Mapping[str, Any], primary: Mapping[str, Any]) -> str | None:
    """The work's type in Crossref's names: `type_crossref` (older answers) or the primary
    location's `raw_type` when either is a Crossref type name, else OpenAlex's own `type`
    through OPENALEX_TYPES (a type not in the table is kept as OpenAlex spells it)."""
    for raw in (work.get("type_crossref"), primary.get("raw_type")):
        name = stripped_text(raw)
        if name and name in CROSSREF_TYPES:
            return name
    openalex_type = stripped_text(work.get("type"))
    if openalex_type is None:
        return None
    return OPENALEX_TYPES.get(openalex_type, openalex_type)


_ESCAPED_TAG = re.compile(r"&lt;/?[A-Za-z][A-Za-z0-9:-]*")
# A line break escaped once too often ("ECL.&lt;/p&gt;\\n", figshare's deposits): a backslash
# and an n at the end of a word, never "\\nu" (TeX) inside one.
_LITERAL_NEWLINE = re.compile(r"\\n(?=\s|$)")
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9:-]*[\s/>]")


def abstract_text(rebuilt: str | None) -> str | None:
    """A rebuilt abstract as plain text, as the other sources' abstracts are.

    OpenAlex indexes the abstract as the publisher deposited it, so its words may carry JATS or
    HTML tags ("<jats:p>Background"), or tags escaped once more ("&lt;p&gt;"), and line breaks
    escaped into a backslash and an n: those are read as markup (fields.jats_to_text); a bare
    "<" between words ("p < 0.05") stays text. A leading "Abstract" heading is dropped.
    """
    if not rebuilt:
        return None
    text = _LITERAL_NEWLINE.sub(" ", rebuilt)
    if "<" not in text and _ESCAPED_TAG.search(text):
        text = html.unescape(text)
    if _TAG.search(text) or "&" in text:
        text = jats_to_text(text)
    return _drop_heading(text) if text else None


def abstract_from_inverted_index(index: Mapping[str, list[int]] | None) -> str | None:
    """Rebuild the text of an OpenAlex `abstract_inverted_index` ({"word": [positions]}).

    Each word is placed at each of its positions and the words are joined, in position order, by
    single spaces. Positions nobody claims (gaps) are skipped; when two words claim one position
    the first one given wins. Keys that are not strings or are blank, positions that are not
    non-negative integers, and position lists that are not lists are ignored. Returns None for a
    missing, empty or wholly unusable index.
    """
    if not isinstance(index, Mapping):
        return None
    placed: dict[int, str] = {}
    for word, positions in index.items():
        if not isinstance(word, str) or not word.strip():
            continue
        if not isinstance(positions, list):
            continue
        for position in positions:
            if isinstance(position, int) and not isinstance(position, bool) and position >= 0:
                placed.setdefault(position, word.strip())
    if not placed:
        return None
    return " ".join(placed[position] for position in sorted(placed))


_DOI_RESOLVER = re.compile(r"(?i)^(?:(?:https?://)?(?:www\.|dx\.)?doi\.org/|doi:\s*)")


def bare_doi(value: str | None) -> str | None:
    """ "https://doi.org/10.1/X" (or "doi:10.1/X", or already bare) -> "10.1/X".

    The DOI is otherwise kept exactly as given: no case folding, no percent-decoding, and SICI
    characters ([ ] ; ( ) :) stay. Anything that is not a string starting with "10." after the
    resolver prefix is taken off gives None.
    """
    if not isinstance(value, str):
        return None
    doi = _DOI_RESOLVER.sub("", value.strip(), count=1).strip()
    return doi if doi.startswith("10.") and "/" in doi else None


_ISO_DATE = re.compile(r"([0-9]{4})(?:-([0-9]{1,2})(?:-([0-9]{1,2}))?)?(?:T.*)?")


def _iso_date(value: Any) -> str | None:
    """publication_date "2014-02-11" -> the same; partial dates stay partial; junk -> None.

    A month or day out of range ends the date there, as in Crossref's date_parts_to_iso.
    """
    if not isinstance(value, str):
        return None
    match = _ISO_DATE.fullmatch(value.strip())
    if not match:
        return None
    parts = [int(part) for part in match.groups() if part is not None]
    return date_parts_to_iso({"date-parts": [parts]})


def _year(value: Any) -> str | None:
    return date_parts_to_iso({"date-parts": [[date_number(value)]]})


def _pages(biblio: Mapping) -> str | None:
    """first_page-last_page; the first page alone when there is no last page or it is the same."""
    first = scalar_text(biblio.get("first_page"))
    last = scalar_text(biblio.get("last_page"))
    if first is None:
        return None
    return f"{first}-{last}" if last and last != first else first


def _issns(source: Mapping) -> tuple[str, ...]:
    """issn_l first, then the source's issn list, each checked (a wrong check digit is dropped)
    and once."""
    candidates = [source.get("issn_l")]
    listed = source.get("issn")
    if isinstance(listed, list):
        candidates.extend(listed)
    return unique_issns(issn(value) if isinstance(value, str) else None for value in candidates)


def _container_title(primary: Mapping, source: Mapping) -> str | None:
    """The source's name (journal, proceedings, repository); where the primary location has no
    source, or only an e-book platform, the name the registration agency gave the container
    (`raw_source_name`: a chapter's book, a proceedings volume, a blog)."""
    if source and source.get("type") != _EBOOK_PLATFORM:
        name = inline_text(source.get("display_name"))
        if name:
            return name
    return inline_text(primary.get("raw_source_name"))


_PMID = re.compile(r"(?:pubmed\.ncbi\.nlm\.nih\.gov/|^)([0-9]+)/?$")
_PMCID = re.compile(r"(?i)(?:/pmc/articles/|^)(?:PMC)?([0-9]+)/?$")


def _other_ids(ids: Mapping) -> tuple[tuple[str, str], ...]:
    """ids.pmid ("https://pubmed.ncbi.nlm.nih.gov/23326660" -> "23326660") and ids.pmcid
    (".../pmc/articles/5815332" -> "PMC5815332"). `mag` is left out: the Microsoft Academic
    Graph is closed, and its number is the OpenAlex id's (W2157853701, mag 2157853701), which
    openalex_id keeps."""
    out: list[tuple[str, str]] = []
    pmid = _PMID.search(stripped_text(ids.get("pmid")) or "")
    if pmid:
        out.append(("pmid", pmid.group(1)))
    pmcid = _PMCID.search(stripped_text(ids.get("pmcid")) or "")
    if pmcid:
        out.append(("pmcid", f"PMC{pmcid.group(1)}"))
    return tuple(out)


def _funders(work: Mapping) -> tuple[Funder, ...]:
    """`funders` (name, ROR) in order, each with the award numbers `awards` names for it
    (funder_award_id, as given, each once); an award whose funder is not listed adds that
    funder by its funder_display_name. OpenAlex gives no funder DOI."""
    names: dict[str, str | None] = {}
    rors: dict[str, str | None] = {}
    awards: dict[str, list[str]] = {}
    for funder in objects_in(work.get("funders")):
        key = stripped_text(funder.get("id")) or inline_text(funder.get("display_name"))
        if key and key not in names:
            names[key] = inline_text(funder.get("display_name"))
            rors[key] = stripped_text(funder.get("ror"))
            awards[key] = []
    for award in objects_in(work.get("awards")):
        key = stripped_text(award.get("funder_id")) or inline_text(award.get("funder_display_name"))
        if not key:
            continue
        if key not in names:
            names[key] = inline_text(award.get("funder_display_name"))
            rors[key] = None
            awards[key] = []
        number = inline_text(award.get("funder_award_id"))
        if number and number not in awards[key]:
            awards[key].append(number)
    return tuple(
        Funder(name=names[key], ror=rors[key], awards=tuple(awards[key]))
        for key in names
        if names[key] or rors[key]
    )


def _authors(value: Any) -> Iterator[Author]:
    """Authorships in byline order, as `name` only: OpenAlex does not split names.

    The name is author.display_name (raw_author_name when that is missing); affiliations are the
    institutions' display names, else the raw affiliation strings. Entries with neither a name nor
    an ORCID are skipped.
    """
    for entry in objects_in(value):
        author = as_mapping(entry.get("author")) or {}
        name = inline_text(author.get("display_name")) or inline_text(entry.get("raw_author_name"))
        orcid = bare_orcid(author.get("orcid"))
        if not (name or orcid):
            continue
        affiliations = _labels(
            institution.get("display_name") for institution in objects_in(entry.get("institutions"))
        )
        if not affiliations:
            raw = entry.get("raw_affiliation_strings")
            affiliations = _labels(raw if isinstance(raw, list) else ())
        yield Author(name=name, orcid=orcid, affiliations=affiliations)


def _labels(values: Any) -> tuple[str, ...]:
    out: list[str] = []
    for value in values:
        label = inline_text(value)
        if label and label not in out:
            out.append(label)
    return tuple(out)


def _reference_count(work: Mapping) -> int | None:
    count = whole_number(work.get("referenced_works_count"))
    if count is None and isinstance(work.get("referenced_works"), list):
        return len(work["referenced_works"])
    return count


def _subjects(work: Mapping) -> tuple[str, ...]:
    """Topics' display names in order; when there are none, concepts scoring >= 0.5."""
    subjects = _labels(topic.get("display_name") for topic in objects_in(work.get("topics")))
    if subjects:
        return subjects
    return _labels(
        concept.get("display_name")
        for concept in objects_in(work.get("concepts"))
        if _score(concept.get("score")) >= CONCEPT_MIN_SCORE
    )


def _score(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return -1.0


def _drop_heading(abstract: str) -> str:
    """OpenAlex keeps a leading "Abstract" heading as the first word ("Abstract This article
    ..."); drop it when a capitalised word follows, as the Crossref parser drops the heading."""
    head, _, rest = abstract.partition(" ")
    if rest and is_generic_heading(head) and not rest[0].islower():
        return rest
    return abstract
