"""DataCite REST API (api.datacite.org).

The parse section is pure: it turns the JSON:API document DataCite answers `/dois/{doi}` with into
the harvester's canonical `Record`, reads DataCite kernel XML (as repositories' OAI-PMH feeds
serve it) into the same attributes shape (`attributes_from_xml`), and never does I/O, so the
module imports without network access. Shapes were written against the recorded responses in ../shared/fixtures/datacite/ (both
those recorded in 2026 and those recorded in 2021 by bolognese) and errors/datacite_404_*.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from lxml import etree

from harvester.config import Config, PoolLimit
from harvester.errors import BadPayload, NotFound
from harvester.http import HttpClient
from harvester.identifiers import Doi, quote_doi
from harvester.models import Author, Fetched, Record, Relation
from harvester.sources.base import fetch_one, in_order
from harvester.sources.fields import (
    bare_orcid,
    describe_json,
    inline_text,
    jats_to_text,
    objects_in,
    partial_iso_date,
    scalar_text,
    stripped_text,
    unique_issns,
    whole_number,
)

SOURCE = "datacite"
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

#: Bump when parse reads something new: stored payloads are then parsed again.
PARSER_VERSION = 1

#: Namespaces of the DataCite kernel XML: kernel-2.2, kernel-3, kernel-4 (4.0 to 4.5 share one).
KERNEL_NS_PREFIX = "http://datacite.org/schema/kernel-"
#: The `oai_datacite` envelope (oai-1.0, oai-1.1) around a kernel `resource` in OAI-PMH feeds.
OAI_DATACITE_NS_PREFIX = "http://schema.datacite.org/oai/oai-1."


#: The agency of every DOI doi.org says DataCite registered (datasets, arXiv, Zenodo, ...).
ROLE = "agency"
AGENCIES = frozenset({"datacite"})

#: Rate-limiter pool of the single-record look-ups.
POOL = "datacite:single"


# --- fetch (I/O) ---


def pools(config: Config) -> dict[str, PoolLimit]:
    return {POOL: config.datacite.limit}


def fetch(dois: Iterable[Doi], client: HttpClient, config: Config) -> Iterator[list[Fetched]]:
    """One `/dois/{doi}` request a DOI (see fetch_records), as many in flight as the pool allows."""
    settings = config.datacite
    return in_order(
        lambda doi: [fetch_record(doi, client, settings.url)], dois, settings.concurrency, SOURCE
    )


def fetch_records(dois: Iterable[Doi], client: HttpClient, base_url: str) -> Iterator[Fetched]:
    """Fetch DOIs from DataCite one by one, lazily, yielding one result per DOI in input order.

    DataCite has no reliable batch lookup by a list of DOIs (a `query=doi:(a OR b)` search goes
    through the search index, which lags and matches loosely), so every DOI is its own
    `/dois/{doi}` request; pacing is left to the "datacite:single" rate limiter. Every requested
    DOI comes back exactly once: ok, not_found or failed.
    """
    for doi in dois:
        yield fetch_record(doi, client, base_url)


def fetch_record(doi: Doi, client: HttpClient, base_url: str) -> Fetched:
    """`/dois/{doi}`: ok with the whole JSON:API body as payload, not_found on a 404 (or an
    errors body with status 404), failed on any other upstream error or a malformed body."""

    def read(body: Any) -> tuple[Mapping[str, Any], str]:
        attributes = unwrap(body)
        answered = stripped_text(attributes.get("doi")) or stripped_text(attributes.get("id"))
        if answered is None:
            raise BadPayload("DataCite: DOI record has no doi", source=SOURCE, identifier=doi.value)
        return body, answered

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

    container = _container(attributes)
    title, subtitle = _titles(attributes.get("titles"))
    types = attributes.get("types")
    return Record(
        source=SOURCE,
        doi=doi,
        type=_work_type(types.get("resourceTypeGeneral") if isinstance(types, Mapping) else None),
        title=title,
        subtitle=subtitle,
        container_title=container.get("title"),
        issn=_issns(attributes),
        volume=container.get("volume"),
        issue=container.get("issue"),
        pages=container.get("pages"),
        issued=_issued(attributes),
        publisher=_publisher(attributes.get("publisher")),
        authors=tuple(_creators(attributes.get("creators"))),
        abstract=_abstract(attributes.get("descriptions")),
        language=stripped_text(attributes.get("language")),
        license=_license(attributes.get("rightsList")),
        url=stripped_text(attributes.get("url")),
        reference_count=whole_number(attributes.get("referenceCount")),
        cited_by_count=whole_number(attributes.get("citationCount")),
        relations=_relations(attributes.get("relatedIdentifiers")),
        subjects=_subjects(attributes.get("subjects")),
        resource_version=scalar_text(attributes.get("version")),
    )


#: resourceTypeGeneral -> the Crossref-like type name; others are hyphenated by _hyphenate.
_TYPES = {
    "JournalArticle": "journal-article",
    "Preprint": "posted-content",
    "ConferencePaper": "proceedings-article",
    "ConferenceProceeding": "proceedings",
    "BookChapter": "book-chapter",
}
_WORD_START = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[\s_]+")
#: rightsUri values that state access (open, embargoed, ...), not a licence.
_ACCESS_RIGHTS = "info:eu-repo/semantics/"


def _hyphenate(value: str) -> str:
    """IsSupplementTo -> is-supplement-to, PhysicalObject -> physical-object, Text -> text."""
    return _SEPARATORS.sub("-", _WORD_START.sub("-", value.strip())).lower()


def _work_type(value: Any) -> str | None:
    text = stripped_text(value)
    if text is None:
        return None
    return _TYPES.get(text) or _hyphenate(text)


def _titles(value: Any) -> tuple[str | None, str | None]:
    """(title, subtitle): the first title without a titleType (else the first title), and the
    first title typed Subtitle. Translated and alternative titles are not used."""
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


def _issued(attributes: Mapping) -> str | None:
    """publicationYear, made more precise by the most precise `Issued` date of the same year.

    An Issued date from another year than publicationYear is ignored; without a publicationYear
    the most precise Issued date is used.
    """
    year = _year(attributes.get("publicationYear"))
    best: str | None = None
    for entry in objects_in(attributes.get("dates")):
        if entry.get("dateType") != "Issued":
            continue
        date = partial_iso_date(entry.get("date"))
        if date is None or (year is not None and int(date[:4]) != year):
            continue
        if best is None or len(date) > len(best):
            best = date
    if best is not None:
        return best
    return f"{year:04d}" if year is not None else None


def _container(attributes: Mapping) -> dict[str, str | None]:
    """title, volume, issue and pages of the container, each from `container` where present,
    else from the first relatedItem the record IsPublishedIn."""
    sources = [c for c in (attributes.get("container"),) if isinstance(c, Mapping)]
    sources.extend(_published_in(attributes.get("relatedItems")))
    out: dict[str, str | None] = {"title": None, "volume": None, "issue": None, "pages": None}
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
    return out


def _published_in(value: Any) -> Iterator[Mapping]:
    for item in objects_in(value):
        if item.get("relationType") == "IsPublishedIn":
            yield item


def _pages(first: Any, last: Any) -> str | None:
    first_page, last_page = scalar_text(first), scalar_text(last)
    if first_page and last_page and last_page != first_page:
        return f"{first_page}-{last_page}"
    return first_page or last_page


def _issns(attributes: Mapping) -> tuple[str, ...]:
    """The container's ISSN, then those of relatedItems the record IsPublishedIn; deduplicated."""
    candidates: list[Any] = []
    container = attributes.get("container")
    if isinstance(container, Mapping) and container.get("identifierType") in ("ISSN", "EISSN"):
        candidates.append(container.get("identifier"))
    for item in _published_in(attributes.get("relatedItems")):
        identifier = item.get("relatedItemIdentifier")
        if isinstance(identifier, Mapping) and identifier.get("relatedItemIdentifierType") in (
            "ISSN",
            "EISSN",
        ):
            candidates.append(identifier.get("relatedItemIdentifier"))
    return unique_issns(candidates)


def _creators(value: Any) -> Iterator[Author]:
    """Creators in byline order; entries with no name and no ORCID at all are skipped.

    A personal creator (nameType Personal, or givenName/familyName given) keeps given and family,
    with `name` only when neither is there; an organisational one, or one the source did not split
    (e.g. several people in one `name`), keeps `name` as given.
    """
    for entry in objects_in(value):
        name = inline_text(entry.get("name"))
        given = family = None
        if entry.get("nameType") != "Organizational":
            given = inline_text(entry.get("givenName"))
            family = inline_text(entry.get("familyName"))
        if given or family:
            name = None
        orcid = _creator_orcid(entry.get("nameIdentifiers"))
        if not (given or family or name or orcid):
            continue
        yield Author(
            given=given,
            family=family,
            name=name,
            orcid=orcid,
            affiliations=_affiliations(entry.get("affiliation")),
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


def _abstract(value: Any) -> str | None:
    """The first non-empty description typed Abstract, as clean text (HTML tags dropped)."""
    for entry in objects_in(value):
        if entry.get("descriptionType") != "Abstract":
            continue
        description = entry.get("description")
        if isinstance(description, str):
            text = jats_to_text(description)
            if text:
                return text
    return None


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
        {"title": _xml_text(t), **({"titleType": t.get("titleType")} if t.get("titleType") else {})}
        for t in resource.iterfind(q("titles/title"))
    ]
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
        {"description": _text_with_breaks(d), "descriptionType": d.get("descriptionType")}
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
                    for key in ("volume", "issue", "firstPage", "lastPage")
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


def _xml_creator(creator: etree._Element, q: Callable[[str], str]) -> dict[str, Any]:
    name_element = creator.find(q("creatorName"))
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
