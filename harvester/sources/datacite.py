"""DataCite REST API (api.datacite.org).

DOIs are asked in lists, `/dois?ids=A,B,...` (DataCite's batch look-up by DOI: case-insensitive,
answered from its search index, an unknown DOI left out), and a DOI missing from a list is asked
on its own with `/dois/{doi}`; see fetch_batch.

The parse section is pure: it turns the JSON:API document DataCite answers `/dois/{doi}` with (or
one resource of a list answer, `parse_doi_list`) into the harvester's canonical `Record`, reads
DataCite kernel XML (as repositories' OAI-PMH feeds serve it) into the same attributes shape
(`attributes_from_xml`), and never does I/O, so the module imports without network access. What
is stored of an answer is `stored_payload`: without the base64 XML copy of the JSON. Shapes were
written against the recorded responses in ../shared/fixtures/datacite/ (both those recorded in
2026 and those recorded in 2021 by bolognese), errors/datacite_404_* and the recorded list answer
tests/fixtures/datacite/list_ids_hydrate-linking-copies.json.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import structlog
from lxml import etree

from harvester.config import Config, DataciteConfig, PoolLimit
from harvester.errors import BadPayload, ClientError, NotFound, SourceExhausted, UpstreamError
from harvester.http import HttpClient
from harvester.identifiers import Doi, ascii_key, isbn13, issn, quote_doi, quote_doi_query
from harvester.models import Abstract, Author, Fetched, Funder, Isbn, Record, Relation, Title
from harvester.sources.base import (
    SplitBudget,
    failed,
    fetch_one,
    in_order,
    split_batch,
    url_batches,
)
from harvester.sources.fields import (
    bare_orcid,
    describe_json,
    inline_text,
    jats_to_text,
    objects_in,
    partial_iso_date,
    scalar_text,
    stripped_text,
    whole_number,
)

SOURCE = "datacite"

log = structlog.get_logger(__name__)

#: Its section of config/harvester.toml.
CONFIG_SECTION = "datacite"

#: Parts of the stored body DataCite re-stamps without the record changing (usage counters, the
#: update time, the client record): left out of the payload hash. Dotted paths into the body.
VOLATILE_KEYS = (
    "data.attributes.updated",
    "data.attributes.viewCount",
    "data.attributes.viewsOverTime",
    "data.attributes.downloadCount",
    "data.attributes.downloadsOverTime",
    "data.attributes.citationsOverTime",
    "included",
)

#: Bump when parse reads something new: stored payloads are then parsed again. 3: payloads are
#: kept without the base64 XML and the relationship lists (`stored_payload`), so every record
#: is stored once more, smaller.
PARSER_VERSION = 3

#: Namespaces of the DataCite kernel XML: kernel-2.2, kernel-3, kernel-4 (4.0 to 4.5 share one).
KERNEL_NS_PREFIX = "http://datacite.org/schema/kernel-"
#: The `oai_datacite` envelope (oai-1.0, oai-1.1) around a kernel `resource` in OAI-PMH feeds.
OAI_DATACITE_NS_PREFIX = "http://schema.datacite.org/oai/oai-1."


#: The agency of every DOI doi.org says DataCite registered (datasets, arXiv, Zenodo, ...).
ROLE = "agency"
AGENCIES = frozenset({"datacite"})

#: Rate-limiter pool of every DataCite request, lists and single look-ups alike: DataCite counts
#: all the requests of one IP in one 5-minute window, whatever they ask.
POOL = "datacite:single"


# --- fetch (I/O) ---


def pools(config: Config) -> dict[str, PoolLimit]:
    return {POOL: config.datacite.limit}


def fetch(dois: Iterable[Doi], client: HttpClient, config: Config) -> Iterator[list[Fetched]]:
    """The DOIs in `/dois?ids=` lists (see fetch_dois), as many side by side as the pool allows."""
    return fetch_dois(dois, client, config.datacite)


def plan_batches(
    dois: Iterable[Doi], base_url: str, batch_size: int, max_url_bytes: int
) -> Iterator[list[Doi]]:
    """Group DOIs for `/dois?ids=A,B,...&page[size]=N` requests, each URL under `max_url_bytes`.

    Pure and lazy. `ids` is split on ",", so a DOI with a comma cannot be listed: it travels
    alone (and is then asked with `/dois/{doi}`)."""
    return url_batches(
        dois,
        base_length=len(f"{base_url}/dois?ids=&page%5Bsize%5D=1000"),  # size: at most 4 digits
        value_length=lambda doi: len(quote_doi_query(doi.value)) + 1,  # and its ","
        max_values=batch_size,
        max_url_bytes=max_url_bytes,
        alone=lambda doi: "," in doi.value,
    )


def list_url(base_url: str, dois: list[Doi]) -> str:
    """The list request. `page[size]` must be given: DataCite's default page is 25."""
    ids = ",".join(quote_doi_query(d.value) for d in dois)
    return f"{base_url}/dois?ids={ids}&page%5Bsize%5D={len(dois)}"


def fetch_dois(
    dois: Iterable[Doi], client: HttpClient, settings: DataciteConfig
) -> Iterator[list[Fetched]]:
    """Fetch DOIs from DataCite, yielding one list of results per batch, in input order.

    Each batch is one `/dois?ids=A,B,...` request (fetch_batch). Batches run on the pool's
    threads plus one for the single look-ups behind a batch, at most two per thread fetched
    ahead of the caller, so memory stays flat however long the input. Every requested DOI comes
    back exactly once: ok, not_found or failed.
    """
    base_url = settings.url.rstrip("/")
    batches = plan_batches(dois, base_url, settings.batch_size, settings.max_url_bytes)
    return in_order(
        lambda batch: fetch_batch(batch, client, base_url),
        batches,
        settings.concurrency + 1,
        SOURCE,
    )


def fetch_batch(
    batch: list[Doi], client: HttpClient, base_url: str, budget: SplitBudget | None = None
) -> list[Fetched]:
    """One `/dois?ids=` request for the batch; each DOI missing from its answer is asked with
    `/dois/{doi}` before it is called not found.

    The list is answered from DataCite's search index (matched case-insensitively, in no
    particular order, an unknown DOI silently left out), which lags the registry by minutes: a
    DOI registered or made findable since is missing from it, so a miss is not authoritative.
    A refused or garbled list answer falls back on single look-ups; a 500 splits the batch in
    halves (`split_batch`); any other failure (retries spent) fails the batch, without asking
    each DOI again of a service that is failing.
    """
    if len(batch) == 1:
        return [fetch_record(batch[0], client, base_url)]
    found: dict[str, dict] = {}
    try:
        response = client.get_json(list_url(base_url, batch), pool=POOL, source=SOURCE)
        for item in parse_doi_list(response.data):
            with contextlib.suppress(BadPayload):  # not a DOI record: that DOI is asked singly
                payload = {"data": item}
                found[ascii_key(check_answer(payload))] = stored_payload(payload)
    except (ClientError, NotFound, BadPayload) as exc:
        log.warning("fetch.batch_refused", source=SOURCE, size=len(batch), error=str(exc))
    except SourceExhausted:
        raise
    except UpstreamError as exc:
        if exc.status == 500:
            return split_batch(
                batch, exc, SOURCE, lambda part, b: fetch_batch(part, client, base_url, b), budget
            )
        return [failed(SOURCE, doi, exc) for doi in batch]
    return [
        Fetched(SOURCE, doi.key, "ok", payload=found[doi.key], resolved=doi.key)
        if doi.key in found
        else fetch_record(doi, client, base_url)
        for doi in batch
    ]


def fetch_records(dois: Iterable[Doi], client: HttpClient, base_url: str) -> Iterator[Fetched]:
    """Fetch DOIs from DataCite one by one with `/dois/{doi}`, lazily, one result per DOI in
    input order (ok, not_found or failed); pacing is left to the pool's rate limiter."""
    for doi in dois:
        yield fetch_record(doi, client, base_url)


def fetch_record(doi: Doi, client: HttpClient, base_url: str) -> Fetched:
    """`/dois/{doi}`: ok with the JSON:API body as payload (`stored_payload`: without the
    base64 XML), not_found on a 404 (or an errors body with status 404), failed on any other
    upstream error or a malformed body."""

    def read(body: Any) -> tuple[Mapping[str, Any], str]:
        return stored_payload(body), check_answer(body)

    url = f"{base_url.rstrip('/')}/dois/{quote_doi(doi.value)}"
    return fetch_one(
        doi,
        SOURCE,
        lambda: client.get_json(url, pool=POOL, source=SOURCE, identifier=doi.value),
        read,
    )


# --- parse (pure) ---


def unwrap(body: Any) -> Mapping:
    """The attributes of a JSON:API `{"data": {"id", "type": "dois", "attributes": {...}}}` answer.

    The DOI record's `id` is added to the attributes under "id" (it is the DOI, lower-cased by
    DataCite). An `{"errors": [...]}` body raises NotFound when an error has status 404, else
    BadPayload; anything else that is not a single `dois` resource raises BadPayload.
    """
    if not isinstance(body, Mapping):
        raise BadPayload(
            f"DataCite: expected a JSON:API object with a 'dois' resource, got {describe_json(body)}",
            source=SOURCE,
        )
    if "errors" in body and not isinstance(body.get("data"), Mapping):
        message = parse_error(body) or "an errors body with no message"
        if any(_status(entry) == "404" for entry in objects_in(body.get("errors"))):
            raise NotFound(f"DataCite: {message}", source=SOURCE, status=404)
        raise BadPayload(f"DataCite: {message}", source=SOURCE)
    data = body.get("data")
    if isinstance(data, list):
        raise BadPayload(
            f"DataCite: expected one 'dois' resource, got a list of {len(data)} "
            "(a search answer: parse its items one by one)",
            source=SOURCE,
        )
    if not isinstance(data, Mapping):
        hint = " (these are already attributes: parse them directly)" if "doi" in body else ""
        raise BadPayload(
            f"DataCite: expected a 'data' object, got {describe_json(data)}{hint}", source=SOURCE
        )
    kind = data.get("type")
    if kind is not None and kind != "dois":
        raise BadPayload(
            f"DataCite: expected a resource of type 'dois', got {kind!r}", source=SOURCE
        )
    attributes = data.get("attributes")
    if not isinstance(attributes, Mapping):
        raise BadPayload(
            f"DataCite: 'dois' resource has no attributes object (attributes is "
            f"{describe_json(attributes)})",
            source=SOURCE,
        )
    out = dict(attributes)
    if isinstance(data.get("id"), str):
        out["id"] = data["id"]
    return out


def check_answer(body: Any) -> str:
    """The shape check of a `/dois/{doi}` answer before it is stored: the record's own DOI.
    What `unwrap` refuses is refused, and so is a record without its DOI. An errors body is a
    failed answer here whatever it says (a 404 in it too: the HTTP status of a real "not found"
    is 404, and this answer came with a 2xx)."""
    if isinstance(body, Mapping) and "errors" in body and not isinstance(body.get("data"), Mapping):
        message = parse_error(body) or "an errors body with no message"
        raise BadPayload(f"DataCite: answered with an errors body: {message}", source=SOURCE)
    attributes = unwrap(body)
    doi = stripped_text(attributes.get("doi")) or stripped_text(attributes.get("id"))
    if doi is None:
        raise BadPayload("DataCite: DOI record has no doi", source=SOURCE)
    return doi


def parse_doi_list(body: Any) -> list[Mapping]:
    """The `dois` resources of a list answer (`/dois?ids=...`, `/dois?query=...`):
    `{"data": [{"id", "type": "dois", "attributes": {...}, "relationships": {...}}, ...],
    "meta": {"total", "totalPages", "page"}, "links": {...}}`, as recorded in
    tests/fixtures/datacite/list_ids_hydrate-linking-copies.json. Each resource is what
    `/dois/{doi}` answers under `data`, so `{"data": item}` is parsed and stored as a single
    answer is. BadPayload for an errors body or an answer whose `data` is not a list; items that
    are not objects are left out (their DOIs are then missing from the answer)."""
    if isinstance(body, Mapping) and "errors" in body and not isinstance(body.get("data"), list):
        message = parse_error(body) or "an errors body with no message"
        raise BadPayload(f"DataCite: answered a list with an errors body: {message}", source=SOURCE)
    data = body.get("data") if isinstance(body, Mapping) else None
    if not isinstance(data, list):
        raise BadPayload(
            f"DataCite: expected a list answer with a 'data' list, got "
            f"{describe_json(data if isinstance(body, Mapping) else body)}",
            source=SOURCE,
        )
    return list(objects_in(data))


#: Attributes whose presence says the JSON carries the record (so the XML is a second copy).
_JSON_RECORD_KEYS = ("titles", "creators")
#: The one relationship kept: the list answers carry only this one; the single answers add every
#: citing, cited, part and version DOI (thousands for a much-cited dataset), which `parse` never
#: reads and which changes with every new citation.
_KEPT_RELATIONSHIPS = ("client",)


def stored_payload(body: Any) -> Any:
    """What is kept of a DOI answer (`{"data": {...}}`): the answer without the base64 kernel XML
    (`data.attributes.xml`, about half of a record's bytes) when its JSON attributes hold titles
    or creators, and with only the `client` relationship. `parse` reads the JSON attributes
    only, so the record reads the same; a record whose JSON is empty keeps its XML. Anything of
    another shape is returned as it is (`check_answer` judges it). New objects: `body` is left
    unchanged."""
    if not isinstance(body, Mapping) or not isinstance(body.get("data"), Mapping):
        return body
    data = dict(body["data"])
    attributes = data.get("attributes")
    if (
        isinstance(attributes, Mapping)
        and "xml" in attributes
        and any(attributes.get(key) for key in _JSON_RECORD_KEYS)
    ):
        data["attributes"] = {k: v for k, v in attributes.items() if k != "xml"}
    relationships = data.get("relationships")
    if isinstance(relationships, Mapping):
        data["relationships"] = {k: v for k, v in relationships.items() if k in _KEPT_RELATIONSHIPS}
    return {**body, "data": data}


def parse_error(body: Any) -> str | None:
    """The human message of a JSON:API errors body: titles (and details) joined by "; ".

    None when the body is not an errors body or its errors carry no text.
    """
    if not isinstance(body, Mapping):
        return None
    parts: list[str] = []
    for entry in objects_in(body.get("errors")):
        title = stripped_text(entry.get("title"))
        detail = stripped_text(entry.get("detail"))
        piece = ": ".join(p for p in (title, detail if detail != title else None) if p)
        if piece and piece not in parts:
            parts.append(piece)
    return "; ".join(parts)[:500] or None


def parse(body_or_attributes: Mapping, *, require_doi: bool = True) -> Record:
    """A DataCite DOI record -> Record.

    Accepts the whole JSON:API answer, its `data` resource, or the attributes (as `unwrap` or
    `attributes_from_xml` give them). Every field is optional and a field of the wrong type counts
    as missing; only a value that is not an object, or a record without a DOI, raises BadPayload
    (an errors body raises what `unwrap` raises). `require_doi=False` reads a record without a
    DOI (kernel XML from a repository that registers Handles or URLs) with `doi=None`.
    """
    if not isinstance(body_or_attributes, Mapping):
        raise BadPayload(
            f"DataCite: expected a DOI record object, got {describe_json(body_or_attributes)}",
            source=SOURCE,
        )
    attributes: Mapping = body_or_attributes
    if "data" in attributes or "errors" in attributes:
        attributes = unwrap(attributes)
    elif attributes.get("type") == "dois" and isinstance(attributes.get("attributes"), Mapping):
        attributes = unwrap({"data": attributes})
    doi = stripped_text(attributes.get("doi")) or stripped_text(attributes.get("id"))
    if doi is None and require_doi:
        raise BadPayload("DataCite: DOI record has no doi", source=SOURCE)

    title, subtitle = _titles(attributes.get("titles"))
    language = stripped_text(attributes.get("language"))
    work_type = _work_type(attributes)
    container = _container(attributes, work_type)
    abstract, abstracts = _abstracts(attributes.get("descriptions"), language)
    issued, published_print, revised = _dates(attributes)
    return Record(
        source=SOURCE,
        doi=doi,
        type=work_type,
        title=title,
        subtitle=subtitle,
        titles=_other_titles(attributes.get("titles"), title, subtitle),
        container_title=container["title"],
        series_title=container["series_title"],
        series_number=container["series_number"],
        issn=_issns(attributes),
        isbn=_isbns(attributes),
        volume=container["volume"],
        issue=container["issue"],
        pages=container["pages"] or _pages_from_sizes(attributes.get("sizes")),
        issued=issued,
        published_print=published_print,
        revised=revised,
        publisher=_publisher(attributes.get("publisher")),
        authors=tuple(_creators(attributes.get("creators"))),
        contributors=_contributors(attributes),
        funders=_funders(attributes.get("fundingReferences")),
        abstract=abstract,
        abstracts=abstracts,
        language=language,
        license=_license(attributes.get("rightsList")),
        url=stripped_text(attributes.get("url")),
        reference_count=whole_number(attributes.get("referenceCount")),
        cited_by_count=whole_number(attributes.get("citationCount")),
        relations=_relations(attributes.get("relatedIdentifiers")),
        other_ids=_other_ids(attributes),
        subjects=_subjects(attributes.get("subjects")),
        resource_version=scalar_text(attributes.get("version")),
    )


#: DataCite's type words -> the harvester's type names, which are Crossref's (journal-article,
#: book-chapter, report, dissertation, posted-content, proceedings-article, ...; see
#: doiorg.CSL_TYPES and the exports' tables). Keys are the words lower-cased with everything but
#: letters dropped, so that one table serves a resourceTypeGeneral ("BookChapter", DataCite 4.6
#: controlled list), a depositor's free-text resourceType ("Book chapter", "Working paper") and the
#: CSL, BibTeX, RIS and schema.org names DataCite derives into `types` ("chapter", "inbook",
#: "CHAP", "Chapter"). A resourceTypeGeneral not listed is hyphenated: Software -> software,
#: PhysicalObject -> physical-object, Text -> text.
TYPES = {
    # articles
    "journalarticle": "journal-article",
    "article": "journal-article",  # free text "Article" under Text: Zotero reads it so too
    "researcharticle": "journal-article",
    "reviewarticle": "journal-article",
    "articlejournal": "journal-article",  # CSL
    "jour": "journal-article",  # RIS
    "ejour": "journal-article",
    # DataPaper: a journal article when the record is in a journal, else see _work_type
    "datapaper": "journal-article",
    "preprint": "posted-content",
    "postedcontent": "posted-content",
    "blogposting": "posted-content",  # Crossref types blog posts as posted-content
    "blogpost": "posted-content",
    "postweblog": "posted-content",  # CSL
    # conferences
    "conferencepaper": "proceedings-article",
    "proceedingsarticle": "proceedings-article",
    "paperconference": "proceedings-article",  # CSL
    "inproceedings": "proceedings-article",  # BibTeX
    "cpaper": "proceedings-article",  # RIS
    "conferenceproceeding": "proceedings",
    "conferenceproceedings": "proceedings",
    "proceedings": "proceedings",
    # books
    "book": "book",
    "monograph": "book",
    "bookchapter": "book-chapter",
    "chapter": "book-chapter",  # CSL, schema.org
    "inbook": "book-chapter",  # BibTeX
    "incollection": "book-chapter",
    "chap": "book-chapter",  # RIS
    # reports and theses
    "report": "report",
    "technicalreport": "report",
    "projectreport": "report",
    "workingpaper": "report",  # as Crossref and the OAI-PMH table type working papers
    "discussionpaper": "report",
    "techreport": "report",  # BibTeX
    "dissertation": "dissertation",
    "thesis": "dissertation",
    "doctoralthesis": "dissertation",
    "phdthesis": "dissertation",
    "masterthesis": "dissertation",
    "mastersthesis": "dissertation",
    "bachelorthesis": "dissertation",
    "thes": "dissertation",  # RIS
    # others with a Crossref name
    "dataset": "dataset",
    "peerreview": "peer-review",
    "journal": "journal",
    "standard": "standard",
}
#: General types that do not say what kind of text or thing it is: the record's own words decide.
_VAGUE_GENERAL_TYPES = frozenset({"text", "other"})
#: What DataCite writes into types.citeproc/bibtex/ris/schemaOrg when resourceType names no type
#: it knows (bolognese: ScholarlyArticle -> article-journal, article, RPRT for Text; CreativeWork
#: -> article, misc, GEN for Other): an echo of the general type, so no evidence of a kind.
_DERIVED_DEFAULTS = frozenset(
    {"scholarlyarticle", "creativework", "articlejournal", "article", "misc", "rprt", "gen"}
)
_WORD_START = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[\s_]+")
_NOT_LETTERS = re.compile(r"[^a-z]+")
#: rightsUri values that state access (open, embargoed, ...), not a licence.
_ACCESS_RIGHTS = "info:eu-repo/semantics/"


def _hyphenate(value: str) -> str:
    """IsSupplementTo -> is-supplement-to, PhysicalObject -> physical-object, Text -> text."""
    return _SEPARATORS.sub("-", _WORD_START.sub("-", value.strip())).lower()


def _type_key(value: Any) -> str | None:
    text = stripped_text(value)
    if text is None:
        return None
    return _NOT_LETTERS.sub("", text.lower()) or None


def _work_type(attributes: Mapping) -> str | None:
    """The work's type through TYPES. Text and Other (or no general type) take the type the
    depositor's resourceType names, else one a derived `types` entry names beyond DataCite's
    defaults; a DataPaper is a journal article when the record is in a journal, else a posted
    paper (DataCite's own citeproc for it is "article", Zotero's "preprint")."""
    types = attributes.get("types")
    if not isinstance(types, Mapping):
        return None
    general = stripped_text(types.get("resourceTypeGeneral"))
    key = _type_key(general)
    if key is None or key in _VAGUE_GENERAL_TYPES:
        own = TYPES.get(_type_key(types.get("resourceType")) or "")
        for derived in ("citeproc", "bibtex", "ris", "schemaOrg"):
            if own:
                break
            derived_key = _type_key(types.get(derived))
            if derived_key and derived_key not in _DERIVED_DEFAULTS:
                own = TYPES.get(derived_key)
        return own or (_hyphenate(general) if general else None)
    if key == "datapaper" and not _in_a_journal(attributes):
        return "posted-content"
    return TYPES.get(key) or _hyphenate(general or "")


def _in_a_journal(attributes: Mapping) -> bool:
    container = attributes.get("container")
    if isinstance(container, Mapping) and inline_text(container.get("title")):
        return True
    if any(item.get("relatedItemType") == "Journal" for item in _published_in(attributes)):
        return True
    return bool(_issns(attributes))


def _titles(value: Any) -> tuple[str | None, str | None]:
    """(title, subtitle): the first title without a titleType (else the first title), and the
    first title typed Subtitle."""
    main: str | None = None
    fallback: str | None = None
    subtitle: str | None = None
    for entry in objects_in(value):
        text = inline_text(entry.get("title"))
        if not text:
            continue
        title_type = entry.get("titleType")
        if title_type is None:
            main = main or text
        elif title_type == "Subtitle":
            subtitle = subtitle or text
        fallback = fallback or text
    return main or fallback, subtitle


#: titleType -> Title.kind; an untyped title beside the main one is an alternative title, or a
#: translated one when its language differs from the main title's.
_TITLE_KINDS = {
    "AlternativeTitle": "alternative",
    "TranslatedTitle": "translated",
    "Other": "alternative",
}


def _other_titles(value: Any, title: str | None, subtitle: str | None) -> tuple[Title, ...]:
    """The titles besides `title` and `subtitle`: alternative and translated ones with their
    language; repeats of a text already kept (one title given once per language) are left out."""
    seen = {t for t in (title, subtitle) if t}
    main_language: str | None = None
    out: list[Title] = []
    for entry in objects_in(value):
        text = inline_text(entry.get("title"))
        language = stripped_text(entry.get("lang"))
        title_type = entry.get("titleType")
        if text == title and title_type is None:
            main_language = main_language or language
        if not text or text in seen or title_type == "Subtitle":
            continue
        kind = _TITLE_KINDS.get(title_type) if title_type else None
        if kind is None:
            different = (
                language and main_language and _language(language) != _language(main_language)
            )
            kind = "translated" if different else "alternative"
        seen.add(text)
        out.append(Title(title=text, kind=kind, language=language))
    return tuple(out)


def _publisher(value: Any) -> str | None:
    """A string, or (schema 4.5, `publisher=true`) an object with a `name`."""
    if isinstance(value, Mapping):
        value = value.get("name")
    return inline_text(value)


def _year(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        year = value
    elif isinstance(value, str) and re.fullmatch(r"\s*[0-9]{4}\s*", value):
        year = int(value)
    else:
        return None
    return year if 1 <= year <= 9999 else None


def _dates(attributes: Mapping) -> tuple[str | None, str | None, str | None]:
    """(issued, published_print, revised).

    issued is the earliest of the Issued dates, publicationYear and the year of the journal or
    book the record IsPublishedIn, the most precise date of that year: a repository's
    publicationYear is often the deposit's year (a 2024 deposit of a chapter Issued 2021-11-30 in
    a 2022 book), and must not stand for the work's date. published_print is that journal's or
    book's year, the year its volume or the printed book carries. Available, Submitted, Accepted
    and Created are not publication dates (Available is a deposit's or an embargo's end).
    revised is the latest Updated date after issued.
    """
    candidates: list[str] = []
    updated: list[str] = []
    for entry in objects_in(attributes.get("dates")):
        date = partial_iso_date(entry.get("date"))
        if date is None:
            continue
        if entry.get("dateType") == "Issued":
            candidates.append(date)
        elif entry.get("dateType") == "Updated":
            updated.append(date)
    year = _year(attributes.get("publicationYear"))
    if year is not None:
        candidates.append(f"{year:04d}")
    container_year = next(
        (
            f"{y:04d}"
            for item in _published_in(attributes)
            if (y := _year(item.get("publicationYear"))) is not None
        ),
        None,
    )
    if container_year:
        candidates.append(container_year)
    issued: str | None = None
    if candidates:
        first_year = min(c[:4] for c in candidates)
        issued = max((c for c in candidates if c[:4] == first_year), key=len)
    later = [d for d in updated if issued is None or d[: len(issued)] > issued]
    return issued, container_year, max(later) if later else None


#: Record types whose `container` is the series they appear in, not a journal or a book.
_SERIES_HOLDERS = frozenset({"book", "report", "dissertation", "monograph", "edited-book"})
_HAS_DIGIT = re.compile(r"[0-9]")


def _container(attributes: Mapping, work_type: str | None) -> dict[str, str | None]:
    """title, volume, issue, pages, series_title and series_number, each from `container` where
    present, else from the first relatedItem the record IsPublishedIn. Pages only where they are
    a page range or a page (see _pages). A book's or report's container is its series; a volume
    without a digit that is several words is a series name (a chapter's book "volume" may be
    "Studien zur Professionsforschung und Lehrer:innenbildung")."""
    sources = [c for c in (attributes.get("container"),) if isinstance(c, Mapping)]
    sources.extend(_published_in(attributes))
    out: dict[str, str | None] = dict.fromkeys(
        ("title", "volume", "issue", "pages", "series_title", "series_number")
    )
    for source in sources:
        if out["title"] is None:
            if "titles" in source:  # a relatedItem
                out["title"], _ = _titles(source.get("titles"))
            else:
                out["title"] = inline_text(source.get("title"))
        for key in ("volume", "issue"):
            if out[key] is None:
                out[key] = scalar_text(source.get(key))
        if out["pages"] is None:
            out["pages"] = _pages(source.get("firstPage"), source.get("lastPage"))
    volume = out["volume"]
    if volume and not _HAS_DIGIT.search(volume) and len(volume.split()) > 1:
        out["series_title"], out["volume"] = volume, None
    if work_type in _SERIES_HOLDERS:
        out["series_title"] = out["series_title"] or out["title"]
        out["series_number"] = out["volume"] or out["issue"]
        out.update(title=None, volume=None, issue=None)
    return out


def _published_in(attributes: Mapping) -> Iterator[Mapping]:
    for item in objects_in(attributes.get("relatedItems")):
        if item.get("relationType") == "IsPublishedIn":
            yield item


#: One page: digits with at most a short prefix or a letter after (e123, S12, A7, 12a, Doc10),
#: or a roman numeral.
_PAGE = r"(?:[A-Za-z]{0,3}[0-9]+[A-Za-z]?|[ivxlcdmIVXLCDM]{1,8})"
_ONE_PAGE = re.compile(_PAGE)
#: A page range as `sizes` or a firstPage give it: "42-79 Seiten", "33–52 Pages", "pp. 3-9".
_PAGE_RANGE = re.compile(
    rf"\s*(?:pp?\.\s*|S\.\s*)?({_PAGE})\s*[-‐‑–—]\s*({_PAGE})\s*"
    r"(?:pages?|pp?\.?|seiten|s\.)?\s*",
    re.IGNORECASE,
)


def _pages(first: Any, last: Any) -> str | None:
    """firstPage-lastPage when both are pages; a firstPage that is a range itself is read as one.
    Anything else is no page range: a journal name, or "No 1" / "2 (2018)" (an issue label
    split at its hyphen), so nothing is stored rather than a label read as pages."""
    first_page, last_page = scalar_text(first), scalar_text(last)
    if first_page and not last_page and (match := _PAGE_RANGE.fullmatch(first_page)):
        return f"{match.group(1)}-{match.group(2)}"
    given = [p for p in (first_page, last_page) if p]
    if not given or not all(_ONE_PAGE.fullmatch(p) for p in given):
        return None
    if first_page and last_page and last_page != first_page:
        return f"{first_page}-{last_page}"
    return first_page or last_page


def _pages_from_sizes(value: Any) -> str | None:
    """The first size that is a page range ("42-79 Seiten" -> "42-79"). A page count ("6 pages")
    is not a range: stored as pages it would read as "page 6" in every citation, and a record
    has no field for a count, so it is left out."""
    for size in value if isinstance(value, list) else ():
        if isinstance(size, str) and (match := _PAGE_RANGE.fullmatch(size)):
            return f"{match.group(1)}-{match.group(2)}"
    return None


#: relationTypes by which a relatedIdentifier names the record's container (journal, book).
_CONTAINER_RELATIONS = frozenset({"IsPartOf", "IsPublishedIn"})
#: relationTypes by which a relatedIdentifier names the same work in another form or registry:
#: its identifiers are the work's own (a repository copy IsVariantFormOf the publisher's).
_SAME_WORK_RELATIONS = frozenset({"IsIdenticalTo", "IsVariantFormOf"})


def _issns(attributes: Mapping) -> tuple[str, ...]:
    """The container's ISSN, those of relatedItems the record IsPublishedIn and of
    relatedIdentifiers it IsPartOf or IsPublishedIn; each checked (identifiers.issn), once."""
    candidates: list[Any] = []
    container = attributes.get("container")
    if isinstance(container, Mapping) and container.get("identifierType") in ("ISSN", "EISSN"):
        candidates.append(container.get("identifier"))
    for item in _published_in(attributes):
        identifier = item.get("relatedItemIdentifier")
        if isinstance(identifier, Mapping) and identifier.get("relatedItemIdentifierType") in (
            "ISSN",
            "EISSN",
        ):
            candidates.append(identifier.get("relatedItemIdentifier"))
    for entry in objects_in(attributes.get("relatedIdentifiers")):
        if entry.get("relationType") in _CONTAINER_RELATIONS and entry.get(
            "relatedIdentifierType"
        ) in ("ISSN", "EISSN", "PISSN"):
            candidates.append(entry.get("relatedIdentifier"))
    return _checked(candidates, issn)


def _checked(
    candidates: Iterable[Any], check: Callable[[str | None], str | None]
) -> tuple[str, ...]:
    """Each candidate that `check` (identifiers.issn, isbn13) accepts, in its normal form, once."""
    out: list[str] = []
    for candidate in candidates:
        checked = check(stripped_text(candidate))
        if checked and checked not in out:
            out.append(checked)
    return tuple(out)


def _isbns(attributes: Mapping) -> tuple[Isbn, ...]:
    """ISBNs of the work (identifiers, relatedIdentifiers IsIdenticalTo/IsVariantFormOf) and, for
    a chapter, of its book (container, relatedItems and relatedIdentifiers it IsPublishedIn or
    IsPartOf), as 13 digits; one with a wrong check digit is dropped. DataCite does not say
    which is print and which electronic."""
    candidates: list[Any] = []
    for key, type_key, value_key in (
        ("identifiers", "identifierType", "identifier"),
        ("alternateIdentifiers", "alternateIdentifierType", "alternateIdentifier"),
    ):
        for entry in objects_in(attributes.get(key)):
            if entry.get(type_key) == "ISBN":
                candidates.append(entry.get(value_key))
    container = attributes.get("container")
    if isinstance(container, Mapping) and container.get("identifierType") == "ISBN":
        candidates.append(container.get("identifier"))
    for item in _published_in(attributes):
        identifier = item.get("relatedItemIdentifier")
        if (
            isinstance(identifier, Mapping)
            and identifier.get("relatedItemIdentifierType") == "ISBN"
        ):
            candidates.append(identifier.get("relatedItemIdentifier"))
    for entry in objects_in(attributes.get("relatedIdentifiers")):
        relation = entry.get("relationType")
        if entry.get("relatedIdentifierType") == "ISBN" and (
            relation in _CONTAINER_RELATIONS or relation in _SAME_WORK_RELATIONS
        ):
            candidates.append(entry.get("relatedIdentifier"))
    return tuple(Isbn(isbn=number) for number in _checked(candidates, isbn13))


#: identifierType (lower-cased) -> the other_ids scheme. Only identifiers that resolve outside
#: the depositor's system: local numbers ("publisherId", "Local accession number", "ZA-No.")
#: mean nothing elsewhere and are left out.
_ID_SCHEMES = {
    "urn": "urn",
    "handle": "handle",
    "hdl": "handle",
    "arxiv": "arxiv",
    "pmid": "pmid",
    "pmcid": "pmcid",
    "ark": "ark",
    "bibcode": "bibcode",
    "https://registry.identifiers.org/registry/swh": "swh",
}
_HANDLE_URL = re.compile(r"(?i)^(?:https?://hdl\.handle\.net/|hdl:)")
_ARXIV_PREFIX = re.compile(r"(?i)^(?:arxiv:|https?://arxiv\.org/abs/)")


def _other_id(kind: Any, value: Any) -> tuple[str, str] | None:
    """(scheme, value) in its bare form: urn:nbn:de:..., 20.500.14123/175, 2311.16162."""
    text = stripped_text(value)
    if not text:
        return None
    scheme = _ID_SCHEMES.get((stripped_text(kind) or "").lower())
    if scheme is None:  # a link that says what it is: "uri" https://hdl.handle.net/10092/108154
        if _HANDLE_URL.match(text):
            scheme = "handle"
        elif re.search(r"(?i)\burn:", text):
            scheme = "urn"
        else:
            return None
    if scheme == "urn":
        start = text.lower().find("urn:")
        text = text[start:] if start >= 0 else ""
    elif scheme == "handle":
        text = _HANDLE_URL.sub("", text)
    elif scheme == "arxiv":
        text = _ARXIV_PREFIX.sub("", text)
    elif scheme == "pmid" and not text.isdigit():
        return None
    return (scheme, text) if text else None


def _other_ids(attributes: Mapping) -> tuple[tuple[str, str], ...]:
    """Identifiers of the work besides its DOI and ISBN, one per scheme (the works column keeps
    one value a scheme): identifiers, alternateIdentifiers, and relatedIdentifiers of the same
    work (IsIdenticalTo, IsVariantFormOf). A DOI named so stays in `relations`."""
    found: dict[str, str] = {}
    pairs: list[tuple[Any, Any]] = []
    for key, type_key, value_key in (
        ("identifiers", "identifierType", "identifier"),
        ("alternateIdentifiers", "alternateIdentifierType", "alternateIdentifier"),
    ):
        pairs.extend((e.get(type_key), e.get(value_key)) for e in objects_in(attributes.get(key)))
    pairs.extend(
        (e.get("relatedIdentifierType"), e.get("relatedIdentifier"))
        for e in objects_in(attributes.get("relatedIdentifiers"))
        if e.get("relationType") in _SAME_WORK_RELATIONS
    )
    for kind, value in pairs:
        pair = _other_id(kind, value)
        if pair and pair[0] not in found:
            found[pair[0]] = pair[1]
    return tuple(found.items())


def _creators(value: Any) -> Iterator[Author]:
    """Creators in byline order; entries with no name and no ORCID at all are skipped."""
    for entry in objects_in(value):
        person = _person(entry)
        if person is not None:
            yield person


def _person(entry: Mapping, role: str | None = None) -> Author | None:
    """A creator or contributor. A personal one (nameType Personal, or givenName/familyName
    given) keeps given and family, with `name` only when neither is there; an organisational
    one, or one the source did not split (e.g. several people in one `name`), keeps `name` as
    given. The ORCID comes from nameIdentifiers, else from an orcid.org `id` (the DataCite
    JSON of content negotiation). None when there is no name and no ORCID at all."""
    name = inline_text(entry.get("name"))
    given = family = None
    if entry.get("nameType") != "Organizational":
        given = inline_text(entry.get("givenName"))
        family = inline_text(entry.get("familyName"))
    if given or family:
        name = None
    orcid = _creator_orcid(entry.get("nameIdentifiers"))
    if orcid is None and "orcid.org" in (stripped_text(entry.get("id")) or ""):
        orcid = bare_orcid(entry.get("id"))
    if not (given or family or name or orcid):
        return None
    return Author(
        given=given,
        family=family,
        name=name,
        orcid=orcid,
        affiliations=_affiliations(entry.get("affiliation")),
        role=role,
    )


def _creator_orcid(value: Any) -> str | None:
    """The first ORCID among nameIdentifiers: scheme "ORCID" (2026) or "https://orcid.org/"
    (2021), or an orcid.org URL as the identifier; returned in the bare form."""
    for entry in objects_in(value):
        identifier = entry.get("nameIdentifier")
        scheme = " ".join(
            s
            for s in (entry.get("nameIdentifierScheme"), entry.get("schemeUri"))
            if isinstance(s, str)
        )
        if "orcid" in scheme.lower() or (isinstance(identifier, str) and "orcid.org" in identifier):
            orcid = bare_orcid(identifier)
            if orcid:
                return orcid
    return None


def _affiliations(value: Any) -> tuple[str, ...]:
    """Strings (schema 4.0-4.2 answers) or objects with a `name` (affiliation=true) -> names."""
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in items:
        label = inline_text(item.get("name") if isinstance(item, Mapping) else item)
        if label and label not in out:
            out.append(label)
    return tuple(out)


#: contributorType (DataCite 4.6) -> Author.role. CSL's role name where CSL has the role; the
#: others keep DataCite's type, hyphenated (DataCollector -> data-collector); Other and a
#: missing type are "contributor". None: administrative roles that say who hosts, distributes,
#: registers or answers for the record, not who made the work: left out.
CONTRIBUTOR_ROLES: dict[str, str | None] = {
    "Editor": "editor",
    "Translator": "translator",
    "Producer": "producer",
    "DataCurator": "curator",
    "Other": "contributor",
    "ContactPerson": None,
    "DataManager": None,
    "Distributor": None,
    "HostingInstitution": None,
    "RegistrationAgency": None,
    "RegistrationAuthority": None,
}


def _contributors(attributes: Mapping) -> tuple[Author, ...]:
    """contributors, then those of the journal or book the record IsPublishedIn (a chapter's book
    editors), each with its role (CONTRIBUTOR_ROLES); a person named twice in one role once."""
    entries = list(objects_in(attributes.get("contributors")))
    for item in _published_in(attributes):
        entries.extend(objects_in(item.get("contributors")))
    out: list[Author] = []
    for entry in entries:
        kind = stripped_text(entry.get("contributorType"))
        if kind in CONTRIBUTOR_ROLES:
            role = CONTRIBUTOR_ROLES[kind]
        else:
            role = _hyphenate(kind) if kind else "contributor"
        if role is None:
            continue
        person = _person(entry, role)
        if person is not None and person not in out:
            out.append(person)
    return tuple(out)


_FUNDER_DOI = re.compile(r"(?i)^(?:https?://(?:dx\.)?doi\.org/|doi:)?(10\.13039/\S+)$")


def _funders(value: Any) -> tuple[Funder, ...]:
    """fundingReferences -> Funder, one a funder (name and identifier) with all its award
    numbers. funderIdentifierType "Crossref Funder ID" (or a 10.13039 DOI) gives the bare DOI,
    "ROR" the https://ror.org/ id; other schemes (ISNI, GRID) are not kept."""
    order: list[tuple[str | None, str | None, str | None]] = []
    awards: dict[tuple[str | None, str | None, str | None], list[str]] = {}
    for entry in objects_in(value):
        name = inline_text(entry.get("funderName"))
        identifier = stripped_text(entry.get("funderIdentifier")) or ""
        kind = (stripped_text(entry.get("funderIdentifierType")) or "").lower()
        doi = ror = None
        if match := _FUNDER_DOI.match(identifier):
            doi = match.group(1)
        elif kind.startswith("crossref") and identifier.isdigit():
            doi = f"10.13039/{identifier}"
        elif kind == "ror" or "ror.org/" in identifier:
            ror_id = identifier.rstrip("/").rsplit("/", 1)[-1]
            ror = f"https://ror.org/{ror_id}" if ror_id else None
        if not (name or doi or ror):
            continue
        key = (name, doi, ror)
        if key not in awards:
            order.append(key)
            awards[key] = []
        award = entry.get("awardNumber")
        award = scalar_text(award.get("awardNumber") if isinstance(award, Mapping) else award)
        if award and award not in awards[key]:
            awards[key].append(award)
    return tuple(
        Funder(name=name, doi=doi, ror=ror, awards=tuple(awards[(name, doi, ror)]))
        for name, doi, ror in order
    )


#: ISO 639-2 codes some records give, to compare with the two-letter ones others give.
_LANGUAGE_CODES = {
    "eng": "en",
    "deu": "de",
    "ger": "de",
    "fra": "fr",
    "fre": "fr",
    "spa": "es",
    "ita": "it",
    "rus": "ru",
    "por": "pt",
    "nld": "nl",
    "dut": "nl",
    "pol": "pl",
}


def _language(code: str | None) -> str | None:
    """en-US, EN, eng -> en: the primary language of a language tag."""
    if not code:
        return None
    primary = re.split(r"[-_]", code.strip().lower(), maxsplit=1)[0]
    return _LANGUAGE_CODES.get(primary, primary) or None


def _abstracts(value: Any, language: str | None) -> tuple[str | None, tuple[Abstract, ...]]:
    """(abstract, the others): the description typed Abstract in the record's language (else the
    first), as clean text with HTML tags dropped, and the other abstracts with their language;
    a text given twice is kept once."""
    found: list[tuple[str, str | None]] = []
    for entry in objects_in(value):
        if entry.get("descriptionType") != "Abstract":
            continue
        description = entry.get("description")
        if isinstance(description, str):
            text = jats_to_text(description)
            if text and all(text != t for t, _ in found):
                found.append((text, stripped_text(entry.get("lang"))))
    if not found:
        return None, ()
    wanted = _language(language)
    chosen = next(
        (i for i, (_, lang) in enumerate(found) if wanted and _language(lang) == wanted), 0
    )
    others = tuple(
        Abstract(text=t, language=lang) for i, (t, lang) in enumerate(found) if i != chosen
    )
    return found[chosen][0], others


def _subjects(value: Any) -> tuple[str, ...]:
    """subjects[].subject in order, exact repeats (one per scheme or language) dropped."""
    out: list[str] = []
    for entry in objects_in(value):
        subject = inline_text(entry.get("subject"))
        if subject and subject not in out:
            out.append(subject)
    return tuple(out)


def _license(value: Any) -> str | None:
    """The first rightsUri that names a licence (not an info:eu-repo access statement), else the
    first rights text."""
    entries = list(objects_in(value))
    for entry in entries:
        uri = stripped_text(entry.get("rightsUri"))
        if uri and not uri.startswith(_ACCESS_RIGHTS):
            return uri
    for entry in entries:
        rights = inline_text(entry.get("rights"))
        if rights and not rights.startswith(_ACCESS_RIGHTS):
            return rights
    return None


def _relations(value: Any) -> tuple[Relation, ...]:
    """relatedIdentifiers -> Relation(hyphenated relationType, lower-case identifier type, id),
    deduplicated and sorted; entries without an identifier or a relation type are skipped."""
    found: set[Relation] = set()
    for entry in objects_in(value):
        relation_type = stripped_text(entry.get("relationType"))
        identifier = stripped_text(entry.get("relatedIdentifier"))
        if not relation_type or not identifier:
            continue
        id_type = stripped_text(entry.get("relatedIdentifierType"))
        found.add(
            Relation(
                _hyphenate(relation_type), id_type.lower() if id_type else "unknown", identifier
            )
        )
    return tuple(sorted(found, key=lambda r: (r.type, r.id_type, r.id)))


def _status(entry: Mapping) -> str | None:
    status = entry.get("status")
    if isinstance(status, int) and not isinstance(status, bool):
        return str(status)
    return stripped_text(status)


# --- kernel XML (pure) ---


def attributes_from_xml(resource: etree._Element) -> dict[str, Any]:
    """A DataCite kernel XML `resource` (kernel-2.2 to 4.x, bare or inside an `oai_datacite`
    envelope) -> the attributes object of the REST API, as far as `parse` reads it, so
    that a work reads the same from the API and from an XML feed.

    The identifier becomes `doi` when typed DOI, else `url` when it is a link. kernel-3 and older
    give personal creators only as "Family, Given" in creatorName: split into givenName and
    familyName when nameType is Personal. `<br/>` in descriptions becomes a line break.
    BadPayload for any other element.
    """
    resource = _kernel_resource(resource)
    ns = etree.QName(resource).namespace or ""

    def q(path: str) -> str:
        return "/".join(f"{{{ns}}}{part}" for part in path.split("/"))

    def find_text(path: str, element: etree._Element = resource) -> str | None:
        return _xml_text(element.find(q(path)))

    attributes: dict[str, Any] = {}
    identifier = resource.find(q("identifier"))
    identifier_value = _xml_text(identifier)
    if identifier is not None and (identifier.get("identifierType") or "").upper() == "DOI":
        attributes["doi"] = identifier_value
    elif identifier_value and re.match(r"(?i)https?://", identifier_value):
        attributes["url"] = identifier_value
    attributes["creators"] = [_xml_creator(c, q) for c in resource.iterfind(q("creators/creator"))]
    attributes["titles"] = [
        {
            "title": _xml_text(t),
            **({"titleType": t.get("titleType")} if t.get("titleType") else {}),
            **({"lang": t.get(_XML_LANG)} if t.get(_XML_LANG) else {}),
        }
        for t in resource.iterfind(q("titles/title"))
    ]
    attributes["contributors"] = [
        {**_xml_creator(c, q, "contributorName"), "contributorType": c.get("contributorType")}
        for c in resource.iterfind(q("contributors/contributor"))
    ]
    attributes["fundingReferences"] = [
        {
            "funderName": find_text("funderName", f),
            "funderIdentifier": find_text("funderIdentifier", f),
            "funderIdentifierType": (
                f.find(q("funderIdentifier")).get("funderIdentifierType")
                if f.find(q("funderIdentifier")) is not None
                else None
            ),
            "awardNumber": find_text("awardNumber", f),
        }
        for f in resource.iterfind(q("fundingReferences/fundingReference"))
    ]
    attributes["alternateIdentifiers"] = [
        {
            "alternateIdentifier": _xml_text(a),
            "alternateIdentifierType": a.get("alternateIdentifierType"),
        }
        for a in resource.iterfind(q("alternateIdentifiers/alternateIdentifier"))
    ]
    attributes["sizes"] = [t for s in resource.iterfind(q("sizes/size")) if (t := _xml_text(s))]
    attributes["publisher"] = find_text("publisher")
    attributes["publicationYear"] = find_text("publicationYear")
    attributes["dates"] = [
        {"date": _xml_text(d), "dateType": d.get("dateType")}
        for d in resource.iterfind(q("dates/date"))
    ]
    resource_type = resource.find(q("resourceType"))
    if resource_type is not None:
        attributes["types"] = {
            "resourceTypeGeneral": resource_type.get("resourceTypeGeneral"),
            "resourceType": _xml_text(resource_type),
        }
    attributes["descriptions"] = [
        {
            "description": _text_with_breaks(d),
            "descriptionType": d.get("descriptionType"),
            **({"lang": d.get(_XML_LANG)} if d.get(_XML_LANG) else {}),
        }
        for d in resource.iterfind(q("descriptions/description"))
    ]
    attributes["subjects"] = [
        {"subject": _xml_text(s), "subjectScheme": s.get("subjectScheme")}
        for s in resource.iterfind(q("subjects/subject"))
    ]
    attributes["rightsList"] = [
        {"rights": _xml_text(r), "rightsUri": r.get("rightsURI")}
        for r in resource.iterfind(q("rightsList/rights"))
    ]
    attributes["relatedIdentifiers"] = [
        {
            "relatedIdentifier": _xml_text(r),
            "relatedIdentifierType": r.get("relatedIdentifierType"),
            "relationType": r.get("relationType"),
        }
        for r in resource.iterfind(q("relatedIdentifiers/relatedIdentifier"))
    ]
    related_items = []
    for item in resource.iterfind(q("relatedItems/relatedItem")):
        item_identifier = item.find(q("relatedItemIdentifier"))
        related_items.append(
            {
                "relationType": item.get("relationType"),
                "relatedItemType": item.get("relatedItemType"),
                "relatedItemIdentifier": {
                    "relatedItemIdentifier": _xml_text(item_identifier),
                    "relatedItemIdentifierType": item_identifier.get("relatedItemIdentifierType"),
                }
                if item_identifier is not None
                else None,
                "titles": [{"title": _xml_text(t)} for t in item.iterfind(q("titles/title"))],
                **{
                    key: find_text(key, item)
                    for key in ("volume", "issue", "firstPage", "lastPage", "publicationYear")
                },
            }
        )
    attributes["relatedItems"] = related_items
    attributes["version"] = find_text("version")
    attributes["language"] = find_text("language")
    return attributes


def is_kernel_xml(element: etree._Element) -> bool:
    """Whether `element` is in a DataCite kernel namespace or the `oai_datacite` envelope's."""
    namespace = etree.QName(element).namespace or ""
    return namespace.startswith((KERNEL_NS_PREFIX, OAI_DATACITE_NS_PREFIX))


def _kernel_resource(element: etree._Element) -> etree._Element:
    """The kernel `resource`: `element` itself, or the one in an `oai_datacite` envelope."""
    name = etree.QName(element)
    namespace = name.namespace or ""
    if namespace.startswith(OAI_DATACITE_NS_PREFIX):
        payload = element.find(f"{{{namespace}}}payload")
        inner = (
            next((c for c in payload if isinstance(c.tag, str)), None)
            if payload is not None
            else None
        )
        if inner is None:
            raise BadPayload(
                "DataCite XML: an oai_datacite envelope without a payload", source=SOURCE
            )
        element, name = inner, etree.QName(inner)
        namespace = name.namespace or ""
    if name.localname != "resource" or not namespace.startswith(KERNEL_NS_PREFIX):
        raise BadPayload(
            f"DataCite XML: expected a kernel <resource>, got <{name.localname}> in "
            f"{namespace or 'no namespace'}",
            source=SOURCE,
        )
    return element


#: The xml:lang attribute of titles and descriptions.
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _xml_creator(
    creator: etree._Element, q: Callable[[str], str], name_tag: str = "creatorName"
) -> dict[str, Any]:
    """A creator (or, with name_tag contributorName, a contributor) as the REST API gives it."""
    name_element = creator.find(q(name_tag))
    entry: dict[str, Any] = {
        "name": _xml_text(name_element),
        "givenName": _xml_text(creator.find(q("givenName"))),
        "familyName": _xml_text(creator.find(q("familyName"))),
        "nameIdentifiers": [
            {
                "nameIdentifier": _xml_text(n),
                "nameIdentifierScheme": n.get("nameIdentifierScheme"),
                "schemeUri": n.get("schemeURI"),
            }
            for n in creator.iterfind(q("nameIdentifier"))
        ],
        "affiliation": [
            {"name": t} for a in creator.iterfind(q("affiliation")) if (t := _xml_text(a))
        ],
    }
    name_type = name_element.get("nameType") if name_element is not None else None
    if name_type:
        entry["nameType"] = name_type
    if name_type == "Personal" and not (entry["givenName"] or entry["familyName"]):
        split = split_family_given(entry["name"])
        if split:
            entry["familyName"], entry["givenName"] = split
    return entry


def _xml_text(element: etree._Element | None) -> str | None:
    if element is None:
        return None
    return "".join(element.itertext()).strip() or None


def _text_with_breaks(element: etree._Element) -> str | None:
    """Element text with DataCite's `<br/>` inside descriptions read as line breaks."""
    parts = [element.text or ""]
    for child in element:
        if isinstance(child.tag, str) and etree.QName(child).localname == "br":
            parts.append("\n")
        elif isinstance(child.tag, str):
            parts.append("".join(child.itertext()))
        parts.append(child.tail or "")
    return "".join(parts).strip() or None


#: "Family, Given" is split only when the part after the comma looks like given names, so that
#: "University of X, Department of Y" stays whole.
_MAX_GIVEN_WORDS = 4


def split_family_given(name: str | None) -> tuple[str, str] | None:
    """ "Family, Given" -> (family, given), tidied; None when there is no comma, a side is empty,
    or what follows the comma is more words than given names run to."""
    text = inline_text(name)
    if not text:
        return None
    family, comma, given = text.partition(",")
    family, given = family.strip(), given.strip()
    if comma and family and given and len(given.split()) <= _MAX_GIVEN_WORDS:
        return family, given
    return None
