"""ORCID's public API v3.0: the works a person's ORCID record lists (`/v3.0/{orcid}/works`).

Fetch apart from parse. `fetch_works` checks the iD's check digit before any request, asks with
`Accept: application/json` (and `Authorization: Bearer` when `[orcid] token` is set), and turns
ORCID's error bodies into typed errors: 404 (no such record) is NotFound, 409 (deactivated,
locked, unclaimed) is RecordUnavailable, each with ORCID's own message. `parse_works` is pure:
one `OrcidWork` per `group` (a group is one work as ORCID de-duplicates it, holding one summary
per source that listed it), with the work's own external ids (`external-id-relationship`
"self"; "part-of" ids name the journal, not the work). Written against the recorded answers in
tests/fixtures/orcid/ (see PROVENANCE.tsv).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import structlog
from stdnum.iso7064 import mod_11_2

from harvester import jsontext
from harvester.config import Config, PoolLimit
from harvester.errors import BadIdentifier, BadPayload, ClientError, NotFound
from harvester.http import HttpClient, RateLimiter, RedirectRefused
from harvester.identifiers import Doi, RepecHandle, parse_doi, parse_repec, parse_repec_url
from harvester.sources.base import Candidate, FeedState, PersonPage
from harvester.sources.fields import describe_json, stripped_text

log = structlog.get_logger(__name__)

SOURCE = "orcid"
#: Its section of config/harvester.toml.
CONFIG_SECTION = "orcid"
#: The one rate-limiter pool of ORCID's API.
POOL = "orcid:api"
#: Statuses whose bodies are read here (ORCID's JSON error object), not by the HTTP layer.
ERROR_STATUSES = frozenset({400, 401, 403, 404, 409, 410})
#: ORCID's error code for a deactivated record (`apiError.9044` in ORCID-Source's
#: api_en.properties), answered with HTTP 409 since ORCID-Source#7000/#7004 (2024).
DEACTIVATED = 9044
#: ORCID's error code for a deprecated record, one merged into another (`apiError.9007`):
#: answered with a 301 to the primary record, its text naming it ("Please refer to account:
#: https://orcid.org/<primary iD>").
DEPRECATED = 9007
#: The evidence of a candidate the person's own ORCID record lists (sources.base.Candidate).
EVIDENCE = "orcid-listed"


# --- ORCID iDs ---

_ORCID_URL = re.compile(r"(?i)^(?:https?://)?(?:www\.)?(?:sandbox\.)?orcid\.org/")
_ORCID_SHAPE = re.compile(r"[0-9]{4}-?[0-9]{4}-?[0-9]{4}-?[0-9]{3}[0-9X]")


def parse_orcid(text: str) -> str:
    """An ORCID iD as ORCID writes it ("0000-0003-1444-9135"), from the bare form, with or
    without hyphens, or its orcid.org URL. The last character is an ISO 7064 MOD 11-2 check
    digit: an iD that fails it is a typo, refused (BadIdentifier) before anything is asked."""
    cleaned = _ORCID_URL.sub("", (text or "").strip()).rstrip("/").upper()
    if not _ORCID_SHAPE.fullmatch(cleaned):
        raise BadIdentifier(text, "not an ORCID iD: it must be 16 digits (the last may be X)")
    digits = cleaned.replace("-", "")
    if not mod_11_2.is_valid(digits):
        expected = mod_11_2.calc_check_digit(digits[:-1])
        raise BadIdentifier(
            text,
            f"not an ORCID iD: its check digit is {digits[-1]}, but the 15 digits before it "
            f"give {expected} (ISO 7064 MOD 11-2); a typo?",
        )
    return "-".join(digits[i : i + 4] for i in range(0, 16, 4))


# --- fetch (I/O) ---


def pools(config: Config) -> dict[str, PoolLimit]:
    return {POOL: config.orcid.limit}


class RecordUnavailable(NotFound):
    """HTTP 409: the record exists but is not readable: deactivated (error 9044), locked (9018)
    or not yet claimed (9036). Nothing of it can be harvested; `code` says which."""

    def __init__(self, message: str, *, code: int | None, **kw: Any) -> None:
        self.code = code
        super().__init__(message, **kw)

    @property
    def deactivated(self) -> bool:
        return self.code in (DEACTIVATED, None)


class RecordDeprecated(NotFound):
    """HTTP 301 / error 9007: the iD was merged into another ORCID record, its `primary` (None
    when ORCID's answer does not say which). The person should be given the primary iD."""

    def __init__(self, message: str, *, primary: str | None, **kw: Any) -> None:
        self.primary = primary
        super().__init__(message, **kw)


@dataclass(frozen=True, slots=True)
class WorksAnswer:
    """What `/works` answered for an iD: the body as sent, checked to be a works list of it."""

    orcid: str
    payload: Mapping[str, Any]


def fetch_works(orcid: str, client: HttpClient, config: Config) -> WorksAnswer:
    """GET {[orcid] url}/v3.0/{orcid}/works. Raises BadIdentifier (a bad check digit: nothing is
    asked), NotFound (no such record), RecordUnavailable (409: deactivated, locked, unclaimed),
    ClientError (another refusal, e.g. a token ORCID does not accept) and BadPayload (an answer
    that is not a works list of this iD), each saying what ORCID said."""
    orcid = parse_orcid(orcid)
    _ensure_pool(client, config)
    headers = {"Accept": "application/json"}
    if config.orcid.token:
        headers["Authorization"] = f"Bearer {config.orcid.token}"
    url = f"{config.orcid.url.rstrip('/')}/v3.0/{orcid}/works"
    try:
        answer = client.get_bytes(
            url,
            pool=POOL,
            source=SOURCE,
            headers=headers,
            identifier=orcid,
            answer_statuses=ERROR_STATUSES,
        )
    except RedirectRefused as exc:
        if exc.status != 301:
            raise
        # A 301 to the primary record on another host (https://orcid.org/<iD>): deprecated.
        primary = next((i for i in _ORCID_IN.findall(str(exc)) if i.upper() != orcid), None)
        raise _deprecated(orcid, primary.upper() if primary else None) from None
    body = _json(answer.content)
    context = {"source": SOURCE, "identifier": orcid, "status": answer.status}
    error = parse_error(body)
    if answer.redirected_from is not None or (error is not None and error.code == DEPRECATED):
        # The client follows ORCID's 301 to the primary record (same host): its answer is
        # another iD's works (or error), never to be stored under this one. Refused, naming it.
        primary = _primary_of(error, answer.url if answer.redirected_from else None, orcid)
        raise _deprecated(orcid, primary)
    if answer.status in ERROR_STATUSES:
        raise _error_for(orcid, answer.status, body, context)
    check_answer(body, orcid)
    return WorksAnswer(orcid, body)


def _deprecated(orcid: str, primary: str | None) -> RecordDeprecated:
    refer = f"; ORCID's primary record for it is {primary}" if primary else ""
    return RecordDeprecated(
        f"orcid: the ORCID record {orcid} is deprecated (merged into another record, HTTP "
        f"301){refer}: give the person the primary iD (harvest person set PERSON --orcid "
        f"{primary or 'ID'})",
        primary=primary,
        source=SOURCE,
        identifier=orcid,
        status=301,
    )


_ORCID_IN = re.compile(r"(?i)[0-9]{4}-[0-9]{4}-[0-9]{4}-[0-9]{3}[0-9X]")
_PRIMARY = re.compile(
    r"(?i)refer to account:?\s*(?:https?://[^\s/]+/)?(" + _ORCID_IN.pattern[4:] + ")"
)


def _primary_of(error: OrcidError | None, url: str | None, orcid: str) -> str | None:
    """The primary iD of a deprecated record: from ORCID's error text (apiError.9007: "This
    account is deprecated. Please refer to account: https://orcid.org/<iD>"), else from the
    path the 301 led to (/v3.0/<iD>/works)."""
    for text in (error.developer_message, error.user_message) if error else ():
        if text and (found := _PRIMARY.search(text)):
            return found[1].upper()
    if url:
        for part in urlsplit(url).path.split("/"):
            if _ORCID_SHAPE.fullmatch(part.upper()) and part.upper() != orcid:
                return part.upper()
    return None


def _ensure_pool(client: HttpClient, config: Config) -> None:
    """ORCID is not (yet) a source of the registry, whose `connect` registers every pool: the
    pool is added here once, paced like every other."""
    if not client.has_limiter(POOL):
        client.add_limiter(POOL, RateLimiter(POOL, config.orcid.limit, pace=config.http.pace))


def _json(content: bytes) -> Any:
    try:
        return jsontext.loads(content) if content.strip() else None
    except ValueError:
        return None  # not JSON: judged by the status and the shape checks below


def _error_for(orcid: str, status: int, body: Any, context: dict[str, Any]) -> Exception:
    error = parse_error(body)
    said = f": ORCID says {error}" if error else ""
    if status == 404:
        return NotFound(f"orcid: no such ORCID record {orcid} (HTTP 404){said}", **context)
    if status == 409:
        code = error.code if error else None
        what = {
            DEACTIVATED: "is deactivated",
            9018: "is locked",
            9036: "has not been claimed yet",
        }.get(code, "is deactivated" if code is None else "cannot be read")
        return RecordUnavailable(
            f"orcid: the ORCID record {orcid} {what} (HTTP 409): nothing of it can be "
            f"harvested{said}",
            code=code,
            **context,
        )
    return ClientError(f"orcid {orcid}: HTTP {status}{said or ' (no error body)'}", **context)


def check_answer(body: Any, orcid: str) -> None:
    """The shape check of a `/works` answer before it is used: an object with a `group` list,
    whose `path` (when present) is this iD's. BadPayload otherwise, naming what came instead."""
    if not isinstance(body, Mapping):
        raise BadPayload(
            f"orcid {orcid}: expected a works object, got {describe_json(body)}",
            source=SOURCE,
            identifier=orcid,
        )
    if not isinstance(body.get("group"), list):
        error = parse_error(body)
        detail = f": ORCID says {error}" if error else ""
        raise BadPayload(
            f"orcid {orcid}: the answer has no group list (group is "
            f"{describe_json(body.get('group'))}){detail}",
            source=SOURCE,
            identifier=orcid,
        )
    path = body.get("path")
    if isinstance(path, str) and path.strip("/").split("/")[0].upper() != orcid:
        raise BadPayload(
            f"orcid: asked for the works of {orcid}, answered with {path[:100]!r}",
            source=SOURCE,
            identifier=orcid,
        )


# --- the person feed (issue 21) ---


def person_pages(
    orcid: str, config: Config, client: HttpClient, state: FeedState
) -> Iterator[PersonPage]:
    """The person feed of an ORCID iD: one `/works` request, one page. Its watermark is the
    record's last-modified-date: when that has not moved since `state.since`, the page holds no
    candidate (nothing else is asked); when it has, only the works ORCID changed since (each
    group's own last-modified-date) are candidates. Raises what `fetch_works` raises."""
    answer = fetch_works(orcid, client, config)
    modified = parse_last_modified(answer.payload)
    if state.since is not None and modified is not None and modified <= state.since:
        log.info("orcid.unchanged", orcid=answer.orcid, last_modified=modified)
        yield PersonPage(candidates=[], watermark=state.since)
        return
    works = parse_works(answer.payload)
    changed = [w for w in works if state.since is None or not _seen(w, state.since)]
    candidates, without_ids = work_candidates(changed)
    log.info(
        "orcid.works_listed",
        orcid=answer.orcid,
        works=len(works),
        changed=len(changed),
        candidates=len(candidates),
        without_ids=without_ids,
    )
    yield PersonPage(candidates=candidates, watermark=modified or state.since)


def _seen(work: OrcidWork, since: str) -> bool:
    """Whether ORCID last changed this work at or before `since` (a work with no date of its
    own is taken as changed)."""
    return work.last_modified is not None and work.last_modified <= since


def work_candidates(works: Iterable[OrcidWork]) -> tuple[list[Candidate], int]:
    """The candidates of an ORCID record's works (pure): each work's own DOIs and RePEc handles
    (a `handle`, `uri` or other id that reads as one: RePEc:..., an IDEAS/EconPapers link),
    evidence "orcid-listed", the person's own record; and how many works carry no id a work can
    be found by (a title alone: counted, never a candidate)."""
    candidates: list[Candidate] = []
    without_ids = 0
    for work in works:
        found: list[Doi | RepecHandle] = list(work.dois)
        found += [h for value in work.handles if (h := _repec_in(value)) is not None]
        found += [h for _, value in work.other_ids if (h := _repec_in(value)) is not None]
        if not found:
            without_ids += 1
        candidates += [Candidate(i, EVIDENCE, own=True) for i in dict.fromkeys(found)]
    return candidates, without_ids


def _repec_in(value: str) -> RepecHandle | None:
    """The RePEc handle an external id's value is or links to, else None."""
    for parse in (parse_repec, parse_repec_url):
        try:
            return parse(value)
        except BadIdentifier:
            continue
    return None


# --- parse (pure) ---


@dataclass(frozen=True, slots=True)
class OrcidError:
    """ORCID's error object: {"response-code", "developer-message", "user-message",
    "error-code", "more-info"}."""

    status: int | None
    code: int | None
    developer_message: str | None
    user_message: str | None
    more_info: str | None

    def __str__(self) -> str:
        text = self.developer_message or self.user_message or "no message"
        return f"{text} (error {self.code})" if self.code is not None else text


def parse_error(body: Any) -> OrcidError | None:
    """ORCID's error object, or None when `body` is not one."""
    if not isinstance(body, Mapping) or not (
        "error-code" in body or "developer-message" in body or "user-message" in body
    ):
        return None
    return OrcidError(
        status=_whole(body.get("response-code")),
        code=_whole(body.get("error-code")),
        developer_message=stripped_text(body.get("developer-message")),
        user_message=stripped_text(body.get("user-message")),
        more_info=stripped_text(body.get("more-info")),
    )


@dataclass(frozen=True, slots=True)
class OrcidWork:
    """One work of an ORCID record (one `group`), as the summaries of its sources give it."""

    put_codes: tuple[int, ...]  # one per summary, in ORCID's order
    title: str | None
    year: int | None
    type: str | None  # ORCID's work type: "journal-article", "other", ...
    sources: tuple[str, ...]  # the source-name of each summary, each once ("Crossref", ...)
    dois: tuple[Doi, ...]  # its own DOIs ("self"), each once by key
    handles: tuple[str, ...]  # its own Handle System handles
    other_ids: tuple[tuple[str, str], ...]  # its own ids of other types: (type, value)
    part_of: tuple[tuple[str, str], ...]  # ids of what it is part of: ("issn", "1461-023X")
    unreadable: tuple[tuple[str, str], ...]  # own ids skipped: a doi that is not a DOI
    last_modified: str | None  # the group's last-modified-date, ISO 8601 UTC


def parse_works(body: Any) -> list[OrcidWork]:
    """A `/works` answer -> one OrcidWork per group. BadPayload when it is not a works list
    (an error object, a group that is not an object or holds no work summary)."""
    groups = body.get("group") if isinstance(body, Mapping) else None
    if not isinstance(groups, list):
        error = parse_error(body)
        raise BadPayload(
            "orcid: not a works list"
            + (f": ORCID says {error}" if error else f" ({describe_json(body)})"),
            source=SOURCE,
        )
    return [_work(group, index) for index, group in enumerate(groups)]


def parse_last_modified(body: Any) -> str | None:
    """The record's `last-modified-date` (ISO 8601 UTC, milliseconds kept): the watermark a
    feed of the person compares; None for a record that never listed a work."""
    return _timestamp(body.get("last-modified-date")) if isinstance(body, Mapping) else None


def _work(group: Any, index: int) -> OrcidWork:
    if not isinstance(group, Mapping):
        raise BadPayload(f"orcid: group {index} is {describe_json(group)}", source=SOURCE)
    summaries = group.get("work-summary")
    if not isinstance(summaries, list) or not summaries:
        raise BadPayload(f"orcid: group {index} holds no work-summary", source=SOURCE)
    if not all(isinstance(s, Mapping) for s in summaries):
        raise BadPayload(f"orcid: group {index} holds a summary that is no object", source=SOURCE)
    put_codes = tuple(_whole(s.get("put-code")) for s in summaries)
    if any(code is None for code in put_codes):
        raise BadPayload(f"orcid: group {index} has a summary without a put-code", source=SOURCE)
    ids = [*_external_ids(group), *(i for s in summaries for i in _external_ids(s))]
    own = [(kind, value) for kind, value, relation in ids if relation == "self"]
    dois: dict[str, Doi] = {}
    handles: dict[str, str] = {}
    others: dict[tuple[str, str], tuple[str, str]] = {}
    unreadable: dict[tuple[str, str], tuple[str, str]] = {}
    for kind, value in own:
        if kind == "doi":
            try:
                doi = parse_doi(value)
            except BadIdentifier:
                unreadable.setdefault((kind, value.lower()), (kind, value))
                continue
            dois.setdefault(doi.key, doi)
        elif kind == "handle":
            handles.setdefault(value.lower(), value)
        else:
            others.setdefault((kind, value.lower()), (kind, value))
    part_of = {
        (kind, value.upper()): (kind, value)
        for kind, value, relation in ids
        if relation == "part-of"
    }
    return OrcidWork(
        put_codes=tuple(c for c in put_codes if c is not None),
        title=_first(_title(s) for s in summaries),
        year=_first(_year(s) for s in summaries),
        type=_first(stripped_text(s.get("type")) for s in summaries),
        sources=tuple(dict.fromkeys(n for s in summaries if (n := _source_name(s)))),
        dois=tuple(dois.values()),
        handles=tuple(handles.values()),
        other_ids=tuple(others.values()),
        part_of=tuple(part_of.values()),
        unreadable=tuple(unreadable.values()),
        last_modified=_timestamp(group.get("last-modified-date")),
    )


def _external_ids(item: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(type, value, relationship) of each external id; `external-ids` may be null (figshare)."""
    holder = item.get("external-ids")
    ids = holder.get("external-id") if isinstance(holder, Mapping) else None
    found = []
    for entry in ids if isinstance(ids, list) else ():
        if not isinstance(entry, Mapping):
            continue
        kind = (stripped_text(entry.get("external-id-type")) or "").lower()
        value = stripped_text(entry.get("external-id-value"))
        relation = (stripped_text(entry.get("external-id-relationship")) or "self").lower()
        if kind and value:
            found.append((kind, value, relation))
    return found


def _title(summary: Mapping[str, Any]) -> str | None:
    title = summary.get("title")
    inner = title.get("title") if isinstance(title, Mapping) else None
    return stripped_text(inner.get("value")) if isinstance(inner, Mapping) else None


def _year(summary: Mapping[str, Any]) -> int | None:
    date = summary.get("publication-date")
    year = date.get("year") if isinstance(date, Mapping) else None
    value = stripped_text(year.get("value")) if isinstance(year, Mapping) else None
    return int(value) if value and value.isdigit() and len(value) == 4 else None


def _source_name(summary: Mapping[str, Any]) -> str | None:
    source = summary.get("source")
    name = source.get("source-name") if isinstance(source, Mapping) else None
    return stripped_text(name.get("value")) if isinstance(name, Mapping) else None


def _timestamp(value: Any) -> str | None:
    """ORCID's {"value": milliseconds since the epoch} as ISO 8601 UTC."""
    millis = _whole(value.get("value")) if isinstance(value, Mapping) else None
    if millis is None:
        return None
    moment = datetime.fromtimestamp(millis / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}Z"


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _first(values: Iterable[Any]) -> Any:
    return next((v for v in values if v is not None), None)
