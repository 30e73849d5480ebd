"""Crossref REST API (api.crossref.org).

The parse section is pure: it turns the JSON Crossref answers with into the harvester's canonical
`Record`, and never does I/O, so the module imports without network access. Shapes were written
against the recorded responses in ../shared/fixtures/crossref/ and errors/crossref_*.
"""

from __future__ import annotations

import contextvars
import html
import re
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import structlog

from harvester.config import CrossrefConfig
from harvester.errors import BadPayload, ClientError, NotFound, UpstreamError
from harvester.http import HttpClient
from harvester.identifiers import Doi, ascii_key, quote_doi, quote_doi_query
from harvester.models import Author, Fetched, Record, Relation, Update

SOURCE = "crossref"

#: Fields Crossref re-stamps without the work changing: left out of the payload hash.
VOLATILE_KEYS = ("indexed", "score")

log = structlog.get_logger(__name__)


# --- fetch (I/O) ---


def plan_batches(
    dois: Iterable[Doi], base_url: str, batch_size: int, max_url_bytes: int
) -> Iterator[list[Doi]]:
    """Group DOIs for `/works?filter=doi:A,doi:B,...` requests, each URL under `max_url_bytes`.

    Pure and lazy, so a long input is never held whole. A DOI with a comma cannot be told apart from
    the filter's separator, so it travels alone (and is then looked up singly).
    """
    base_length = len(f"{base_url}/works?filter=&rows=1000")  # rows has at most four digits
    batch: list[Doi] = []
    length = base_length
    for doi in dois:
        if "," in doi.value:
            if batch:  # keep input order: what came before goes first
                yield batch
                batch, length = [], base_length
            yield [doi]
            continue
        extra = len("doi:" + quote_doi_query(doi.value)) + 1
        if batch and (len(batch) >= batch_size or length + extra > max_url_bytes):
            yield batch
            batch, length = [], base_length
        batch.append(doi)
        length += extra
    if batch:
        yield batch


def list_url(base_url: str, dois: list[Doi]) -> str:
    """The batch request. `rows` must be given: Crossref's default page is 20."""
    filters = ",".join("doi:" + quote_doi_query(d.value) for d in dois)
    return f"{base_url}/works?filter={filters}&rows={len(dois)}"


def fetch_works(
    dois: Iterable[Doi], client: HttpClient, config: CrossrefConfig
) -> Iterator[list[Fetched]]:
    """Fetch DOIs from Crossref, yielding one list of results per batch, in input order.

    Batches run on a few threads (the rate limiters decide how many requests are really in flight);
    at most two batches per thread are fetched ahead of the caller, so memory stays flat however
    long the input. Every requested DOI comes back exactly once: ok, not_found or failed.
    """
    base_url = config.url.rstrip("/")
    workers = max(config.polite_concurrency, config.public_concurrency, 1) + 1
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="crossref")
    pending: deque[Future[list[Fetched]]] = deque()
    try:
        for batch in plan_batches(dois, base_url, config.batch_size, config.max_url_bytes):
            # Each task gets its own copy of the context, so log lines keep the run_id.
            context = contextvars.copy_context()
            pending.append(pool.submit(context.run, fetch_batch, batch, client, base_url))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def fetch_batch(batch: list[Doi], client: HttpClient, base_url: str) -> list[Fetched]:
    """One list request for the batch; a DOI missing from the answer is asked for on its own
    (it may be an alias, or the list index may lag) before it is called not found."""
    if len(batch) == 1:
        return [fetch_single(batch[0], client, base_url)]
    found: dict[str, dict] = {}
    try:
        response = client.get_json(list_url(base_url, batch), pool="crossref:list", source=SOURCE)
        for item in parse_work_list(response.data).items:
            if isinstance(item.get("DOI"), str):
                found[ascii_key(item["DOI"])] = item
    except (ClientError, NotFound, BadPayload) as exc:
        # The batch request itself was refused or garbled: single look-ups may still succeed.
        log.warning("fetch.batch_refused", source=SOURCE, size=len(batch), error=str(exc))
    except UpstreamError as exc:
        # Crossref is failing (retries exhausted): asking each DOI again would only add load.
        return [_failed(doi, exc) for doi in batch]
    return [
        Fetched(SOURCE, doi.key, "ok", payload=found[doi.key], resolved=doi.key)
        if doi.key in found
        else fetch_single(doi, client, base_url)
        for doi in batch
    ]


def fetch_single(doi: Doi, client: HttpClient, base_url: str) -> Fetched:
    """`/works/{doi}`. Crossref answers an alias with a 301 to its prime DOI, which is followed."""
    try:
        response = client.get_json(
            f"{base_url}/works/{quote_doi(doi.value)}",
            pool="crossref:single",
            source=SOURCE,
            identifier=doi.value,
        )
        message = unwrap(response.data, "work")
        if not isinstance(message, Mapping) or not isinstance(message.get("DOI"), str):
            raise BadPayload("Crossref: work without a DOI", source=SOURCE, identifier=doi.value)
    except NotFound:
        return Fetched(SOURCE, doi.key, "not_found")
    except UpstreamError as exc:
        return _failed(doi, exc)
    return Fetched(SOURCE, doi.key, "ok", payload=dict(message), resolved=ascii_key(message["DOI"]))


def _failed(doi: Doi, exc: UpstreamError) -> Fetched:
    return Fetched(SOURCE, doi.key, "failed", error=str(exc))


# --- parse (pure) ---


@dataclass(frozen=True, slots=True)
class WorkList:
    """One page of a Crossref `work-list` answer."""

    items: list[dict]  # raw work objects, each for parse_work
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
            f"Crossref: expected a JSON object with message-type {expected!r}, got {_kind(body)}",
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
        raise BadPayload(f"Crossref: work-list message is {_kind(message)}", source=SOURCE)
    items = message.get("items")
    if not isinstance(items, list):
        raise BadPayload(
            f"Crossref: work-list has no items list (items is {_kind(items)})", source=SOURCE
        )
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise BadPayload(
                f"Crossref: work-list item {index} is {_kind(item)}, not a work object",
                source=SOURCE,
            )
    total = message.get("total-results")
    if not isinstance(total, int) or isinstance(total, bool):
        raise BadPayload(
            f"Crossref: work-list total-results is {_kind(total)}, not a number", source=SOURCE
        )
    cursor = message.get("next-cursor")
    next_cursor = cursor if isinstance(cursor, str) and cursor else None
    return WorkList(items=list(items), total=total, next_cursor=next_cursor)


def parse_work(message: Mapping[str, Any]) -> Record:
    """A Crossref work object (the message of /works/{doi}, or one work-list item) -> Record.

    Every field is optional and a field of the wrong type counts as missing; only a message that
    is not an object, or has no DOI, raises BadPayload.
    """
    if not isinstance(message, Mapping):
        raise BadPayload(f"Crossref: expected a work object, got {_kind(message)}", source=SOURCE)
    doi = _text(message.get("DOI"))
    if doi is None:
        hint = " (this is an envelope: unwrap it first)" if "message-type" in message else ""
        raise BadPayload(f"Crossref: work object has no DOI{hint}", source=SOURCE)

    abstract = message.get("abstract")
    return Record(
        source=SOURCE,
        doi=doi,
        type=_text(message.get("type")),
        title=_first_inline(message.get("title")),
        subtitle=_first_inline(message.get("subtitle")),
        container_title=_first_inline(message.get("container-title")),
        issn=_issns(message),
        volume=_scalar(message.get("volume")),
        issue=_scalar(message.get("issue")),
        # `article-number` (eLife's "e01567") is deliberately not mapped to pages.
        pages=_scalar(message.get("page")),
        issued=date_parts_to_iso(_mapping(message.get("issued"))),
        published_print=date_parts_to_iso(_mapping(message.get("published-print"))),
        published_online=date_parts_to_iso(_mapping(message.get("published-online"))),
        publisher=_inline(message.get("publisher")),
        authors=tuple(_authors(message.get("author"))),
        abstract=(jats_to_text(abstract) or None) if isinstance(abstract, str) else None,
        language=_text(message.get("language")),
        license=_license(message.get("license")),
        url=_text(message.get("URL")),
        reference_count=_count(message.get("references-count", message.get("reference-count"))),
        cited_by_count=_count(message.get("is-referenced-by-count")),
        relations=_relations(message.get("relation")),
        updates=_updates(message),
    )


def date_parts_to_iso(value: Mapping | None) -> str | None:
    """Crossref {"date-parts": [[2014, 2, 11]]} -> "2014-02-11"; partial dates stay partial.

    [[2014, 2]] -> "2014-02", [[2014]] -> "2014"; [[None]], [[]], a missing or malformed value ->
    None. A month or day out of range ends the date there rather than being guessed at.
    """
    if not isinstance(value, Mapping):
        return None
    parts = value.get("date-parts")
    if not isinstance(parts, list) or not parts or not isinstance(parts[0], list):
        return None
    numbers = [_date_number(p) for p in parts[0][:3]]
    limits = (9999, 12, 31)
    out: list[int] = []
    for number, limit in zip(numbers, limits, strict=False):
        if number is None or not 1 <= number <= limit:
            break
        out.append(number)
    if not out:
        return None
    return "-".join([f"{out[0]:04d}", *(f"{n:02d}" for n in out[1:])])


def jats_to_text(markup: str) -> str:
    """A JATS (or HTML) abstract -> clean text.

    Tags are dropped, keeping their text; paragraphs, sections and section titles become blocks
    separated by a blank line; a title that is just "Abstract" or "Summary" is dropped. Inside a
    block whitespace is collapsed and entities are unescaped. Inline elements (italic, sup, sub,
    ...) stay inline; the line breaks Crossref's pretty-printer puts around them are layout, so
    they vanish next to brackets and punctuation ("(\\n<jats:italic>KRAS</jats:italic>\\n)" ->
    "(KRAS)") and become one space elsewhere. Text with no markup is split into paragraphs on
    blank lines.
    """
    if "<" not in markup:
        paragraphs = (_tidy(p) for p in _BLANK_LINE.split(html.unescape(markup)))
        return "\n\n".join(p for p in paragraphs if p)
    blocks = _MarkupText.blocks_of(markup)
    return "\n\n".join(text for text, is_title in blocks if not (is_title and _generic(text)))


# Local names (after any "jats:" prefix) that start a new block; every other element is inline.
_BLOCK_TAGS = frozenset(
    {
        "abstract",
        "trans-abstract",
        "sec",
        "title",
        "p",
        "list",
        "list-item",
        "def-list",
        "def-item",
        "disp-quote",
        "boxed-text",
        "statement",
        "fig",
        "caption",
        "table-wrap",
        "table",
        "tr",
        "ack",
        "div",
        "section",
        "blockquote",
        "ul",
        "ol",
        "li",
        "br",
        "hr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
    }
)
_GENERIC_HEADINGS = frozenset({"abstract", "summary"})
_BOUNDARY = "\x00"  # marks where an inline tag was, until _tidy has looked at it
_RUN = re.compile(r"[\s\x00]+")
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")
_NO_SPACE_AFTER = frozenset("([{/")
_NO_SPACE_BEFORE = frozenset(")]},.;:!?/")
_ORCID = re.compile(r"(\d{4}-\d{4}-\d{4}-\d{3}[\dX])", re.IGNORECASE)


class _MarkupText(HTMLParser):
    """Collects the text of a markup string as blocks of (text, is_title)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, bool]] = []
        self._buffer: list[str] = []
        self._title_depth = 0

    @classmethod
    def blocks_of(cls, markup: str) -> list[tuple[str, bool]]:
        parser = cls()
        parser.feed(markup)
        parser.close()
        parser._flush()
        return parser.blocks

    def handle_starttag(self, tag: str, attrs: list) -> None:
        local = tag.rpartition(":")[2]
        if local in _BLOCK_TAGS:
            self._flush()
            if local == "title":
                self._title_depth += 1
        else:
            self._buffer.append(_BOUNDARY)

    def handle_endtag(self, tag: str) -> None:
        local = tag.rpartition(":")[2]
        if local in _BLOCK_TAGS:
            self._flush()
            if local == "title" and self._title_depth:
                self._title_depth -= 1
        else:
            self._buffer.append(_BOUNDARY)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        if tag.rpartition(":")[2] in _BLOCK_TAGS:
            self._flush()
        else:
            self._buffer.append(_BOUNDARY)

    def handle_data(self, data: str) -> None:
        self._buffer.append(data)

    def _flush(self) -> None:
        text = _tidy("".join(self._buffer))
        self._buffer.clear()
        if text:
            self.blocks.append((text, self._title_depth > 0))


def _tidy(text: str) -> str:
    """Collapse whitespace; drop inline-tag boundaries and the layout line breaks around them."""

    def replace(match: re.Match[str]) -> str:
        run = match.group()
        if _BOUNDARY not in run:
            return " "
        if not any(c.isspace() for c in run):
            return ""  # a tag boundary inside a word: 10<sup>3</sup> -> 103
        if "\n" in run:  # pretty-printer layout around an inline element
            before = text[match.start() - 1] if match.start() else ""
            after = text[match.end()] if match.end() < len(text) else ""
            if before in _NO_SPACE_AFTER or after in _NO_SPACE_BEFORE:
                return ""
        return " "

    return _RUN.sub(replace, text).strip()


def _generic(heading: str) -> bool:
    return heading.strip(" :.").casefold() in _GENERIC_HEADINGS


def _inline(value: Any) -> str | None:
    """A one-line clean text of a title-like string: markup dropped, entities unescaped."""
    if not isinstance(value, str):
        return None
    if "<" not in value and "&" not in value:
        return _tidy(value) or None
    text = " ".join(text for text, _ in _MarkupText.blocks_of(value))
    return text or None


def _first_inline(value: Any) -> str | None:
    if not isinstance(value, list):
        return None
    for item in value:
        text = _inline(item)
        if text:
            return text
    return None


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _scalar(value: Any) -> str | None:
    """Volume, issue, pages: strings as given; a bare number is taken as its string."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _text(value)


def _count(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _mapping(value: Any) -> Mapping | None:
    return value if isinstance(value, Mapping) else None


def _entries(value: Any) -> Iterator[Mapping]:
    """The objects of a list of objects; a single object counts as a list of one."""
    if isinstance(value, Mapping):
        value = [value]
    if isinstance(value, list):
        for item in value:
            if isinstance(item, Mapping):
                yield item


def _date_number(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,4}", value.strip()):
        return int(value)
    return None


def _issns(message: Mapping) -> tuple[str, ...]:
    typed = list(_entries(message.get("issn-type")))
    typed.sort(key=lambda entry: entry.get("type") != "print")  # stable: print first
    candidates = [entry.get("value") for entry in typed]
    plain = message.get("ISSN")
    if isinstance(plain, list):
        candidates.extend(plain)
    seen: set[str] = set()
    out: list[str] = []
    for candidate in candidates:
        issn = _text(candidate)
        if issn and issn.upper() not in seen:
            seen.add(issn.upper())
            out.append(issn)
    return tuple(out)


def _authors(value: Any) -> Iterator[Author]:
    """Authors in byline order; entries with no name and no ORCID at all are skipped."""
    for entry in _entries(value):
        given = _inline(entry.get("given"))
        family = _inline(entry.get("family"))
        name = _inline(entry.get("name"))
        orcid = _orcid(entry.get("ORCID"))
        if not (given or family or name or orcid):
            continue
        affiliations: list[str] = []
        raw = entry.get("affiliation")
        for affiliation in raw if isinstance(raw, list) else ():
            label = _inline(
                affiliation.get("name") if isinstance(affiliation, Mapping) else affiliation
            )
            if label and label not in affiliations:
                affiliations.append(label)
        yield Author(
            given=given,
            family=family,
            name=name,
            orcid=orcid,
            affiliations=tuple(affiliations),
        )


def _orcid(value: Any) -> str | None:
    """http(s)://orcid.org/0000-0002-1825-0097 (or the bare form) -> 0000-0002-1825-0097."""
    if not isinstance(value, str):
        return None
    match = _ORCID.search(value)
    return match.group(1).upper() if match else None


def _license(value: Any) -> str | None:
    licences = [
        (entry.get("content-version"), url)
        for entry in _entries(value)
        if (url := _text(entry.get("URL")))
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
        for target in _entries(targets):
            identifier = _text(target.get("id"))
            if identifier:
                id_type = _text(target.get("id-type")) or "unknown"
                found.add(Relation(relation_type, id_type, identifier))
    return tuple(sorted(found, key=lambda r: (r.type, r.id_type, r.id)))


def _updates(message: Mapping) -> tuple[Update, ...]:
    """update-to entries (this work updates another) then updated-by (another updates this)."""
    out: list[Update] = []
    for direction in ("update-to", "updated-by"):
        for entry in _entries(message.get(direction)):
            doi = _text(entry.get("DOI"))
            if not doi:
                continue
            update = Update(
                direction=direction,
                doi=doi,
                type=_text(entry.get("type")) or "unknown",
                label=_text(entry.get("label")),
                date=date_parts_to_iso(_mapping(entry.get("updated"))),
            )
            if update not in out:
                out.append(update)
    return tuple(out)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"a string ({value[:60]!r})"
    return f"a JSON {type(value).__name__}"


def _failure_detail(message: Any) -> str:
    """What Crossref said went wrong, from a validation-failure / resource-failure / exception."""
    parts: list[str] = []
    for entry in _entries(message):
        text = _text(entry.get("message")) or _text(entry.get("description"))
        kind = _text(entry.get("type")) or _text(entry.get("name"))
        if "value" in entry:
            kind = f"{kind} ({entry.get('value')!r})" if kind else repr(entry.get("value"))
        piece = ": ".join(p for p in (kind, text) if p)
        if piece:
            parts.append(piece)
    if not parts and isinstance(message, str):
        parts.append(message.strip()[:200])
    return "; ".join(parts)[:500]
