"""OAI-PMH 2.0: a generic harvesting client (RePEc's gateway, Pure portals, Zenodo, ...).

Two halves, as in every source module:

- parse (pure): `parse_response` turns the bytes of one answer into an `OaiPage` (or raises a typed
  error), `parse_identify` reads an Identify answer, and `record_from_oai_dc`,
  `record_from_arxiv_raw` and `record_from_datacite` (or `to_record`, which picks by the
  metadata's namespace) turn one record's metadata into the harvester's `Record`. XML is parsed safely: the body is size-capped
  before parsing, a document type declaration (the door to entity bombs and external entities) is
  refused, the lxml parser resolves no entities, loads no DTD, touches no network, keeps its
  depth and size limits (`huge_tree=False`) and never `recover`s a broken document into a
  half-read one.
- fetch (I/O): `identify`, `list_records` / `list_identifiers` (lazy, following resumption tokens),
  `get_record`, and `harvest`, which runs one incremental harvest and returns the `from` datestamp
  for the next one only when the list was read to its end.

The bytes come through `HttpClient.get_bytes`, with the pacing, retries and typed errors of every
other source; the OAI functions add the size cap (enforced while reading) and name the 4xx
statuses whose bodies they read themselves (Zenodo answers OAI errors with HTTP 422). DataCite
kernel XML is read by `datacite.attributes_from_xml`, DataCite being the owner of that shape.

Shapes were written against the recorded answers in ../shared/fixtures/oaipmh/ (Zenodo and
e-periodica.ch, recorded by oaipmh-scythe).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import partial
from typing import Any
from urllib.parse import parse_qs, urlsplit

import structlog
from lxml import etree

from harvester.config import Config, FeedConfig, PoolLimit
from harvester.errors import (
    BadIdentifier,
    BadPayload,
    ClientError,
    ConfigError,
    NotFound,
    UpstreamError,
)
from harvester.http import RETRY_STATUSES, BodyTooLarge, HttpClient, RateLimiter, redact_url
from harvester.identifiers import (
    ascii_key,
    isbn13,
    issn,
    parse_doi,
    parse_repec,
    parse_repec_url,
)
from harvester.models import Author, Fetched, Isbn, Record, Relation
from harvester.sources.base import FeedPage, FeedState, FeedTarget
from harvester.sources.datacite import (
    attributes_from_xml,
    is_kernel_xml,
    split_family_given,
)
from harvester.sources.datacite import (
    parse as parse_datacite,
)
from harvester.sources.fields import inline_text, jats_to_text, partial_iso_date, tidy_text

log = structlog.get_logger(__name__)

SOURCE = "oai"
#: Its section of config/harvester.toml.
CONFIG_SECTION = "oai"
#: Bumped when `parse` learns to read more, so stored records are read again once.
#: 2: oai_dc contributors, ISBN and ISSN identifiers, a DSpace series and number, and a
#: repository's timestamp (its deposit) no longer taken for the work's date; arXivRaw read.
PARSER_VERSION = 2
#: What changes in a stored record without the work changing: the repository re-stamps records.
VOLATILE_KEYS = ("datestamp",)
#: The rate-limiter pool OAI requests go through unless the caller names another (one per endpoint
#: is better when several repositories are harvested at once).
POOL = "oai"

#: Largest body read, in bytes (after any gzip is undone). A full 50-record Zenodo page is 150 KB;
#: repositories serving a few hundred records with long abstracts stay under a few MB.
MAX_BODY_BYTES = 32 * 1024 * 1024

#: OAI-PMH says errors come with HTTP 200, but Zenodo sends them with 422, others with 400 or 404.
#: Bodies of these statuses are read as possible OAI answers rather than thrown away.
OAI_ANSWER_STATUSES = frozenset(range(400, 500)) - RETRY_STATUSES

ACCEPT = "text/xml, application/xml;q=0.9, */*;q=0.1"

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC_NS = "http://purl.org/dc/elements/1.1/"
ARXIV_RAW_NS = "http://arxiv.org/OAI/arXivRaw/"

_VERBS = frozenset(
    {"Identify", "ListRecords", "ListIdentifiers", "GetRecord", "ListSets", "ListMetadataFormats"}
)
_DAY_GRANULARITY = "YYYY-MM-DD"


def _q(local: str) -> str:
    return f"{{{OAI_NS}}}{local}"


# --- errors ---


class OaiError(UpstreamError):
    """The repository answered with an OAI-PMH `<error code="...">`.

    `code` is the OAI error code (badArgument, cannotDisseminateFormat, idDoesNotExist, ...),
    `message` the repository's text (may be empty), `response_date` the answer's responseDate.
    """

    def __init__(
        self,
        code: str,
        message: str = "",
        *,
        response_date: str | None = None,
        url: str | None = None,
        status: int | None = None,
        source: str = SOURCE,
        hint: str | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.response_date = response_date
        safe_url = redact_url(url) if url else None
        where = f"{source} (GET {safe_url})" if safe_url else source
        text = f"{where}: OAI-PMH error {code}" + (f": {message}" if message else "")
        if hint:
            text += f" ({hint})"
        super().__init__(text, source=source, status=status, url=safe_url)


class NoRecordsMatch(OaiError):
    """`noRecordsMatch`: nothing in the list for these arguments; for an incremental harvest,
    nothing new since `from`. `list_records` ends cleanly on it."""


class BadResumptionToken(OaiError):
    """`badResumptionToken`: the token expired or is unknown, and the list cannot be continued.

    Restart the harvest from `restart_from`: the `from` the harvest began with, i.e. the last
    completed harvest's datestamp (None: from the beginning). `list_records` fills it in; raised by
    `parse_response` alone it is unknown (`restart_known` False). Restarting from the newest
    datestamp seen instead would lose records: repositories do not send records in datestamp
    order (Zenodo's pages jump from 2023 to 2026 and back).
    """

    def __init__(
        self,
        code: str,
        message: str = "",
        *,
        restart_from: str | None = None,
        restart_known: bool = False,
        **kw: Any,
    ) -> None:
        self.restart_from = restart_from
        self.restart_known = restart_known
        if restart_known:
            start = restart_from or "the beginning (no from)"
        else:
            start = "the from datestamp it began with"
        super().__init__(
            code,
            message,
            hint=f"the list cannot be resumed: restart the harvest from {start}",
            **kw,
        )


class IdDoesNotExist(OaiError, NotFound):
    """`idDoesNotExist`: GetRecord for an identifier the repository does not know."""


_ERROR_CLASSES: dict[str, type[OaiError]] = {
    "noRecordsMatch": NoRecordsMatch,
    "badResumptionToken": BadResumptionToken,
    "idDoesNotExist": IdDoesNotExist,
}


class NotOai(BadPayload):
    """The answer is not OAI-PMH XML: an HTML page, JSON, text, broken XML, or another XML
    vocabulary. The message says which."""


class UnsafeXml(BadPayload):
    """The answer was refused unparsed or half-parsed because reading it could hurt: a document
    type declaration (entity bombs, external entities), or a body over the size cap."""


# --- parse (pure) ---


@dataclass(frozen=True, slots=True)
class OaiRecord:
    """One record (or, from ListIdentifiers, one header) of an OAI-PMH answer.

    `metadata` is the element inside `<metadata>` (e.g. `oai_dc:dc` or a DataCite `resource`);
    None for a deleted record (even when the repository sends metadata with it, as Zenodo does)
    and for ListIdentifiers headers. `metadata_prefix` is the format it was asked in, when known.
    """

    identifier: str
    datestamp: str | None
    sets: tuple[str, ...]
    deleted: bool
    metadata_prefix: str | None
    metadata: Any = None  # lxml.etree._Element | None

    def metadata_xml(self) -> bytes | None:
        """The metadata element serialised on its own (namespaces included), for keeping the raw
        payload; None when there is none."""
        if self.metadata is None:
            return None
        return etree.tostring(self.metadata, encoding="utf-8")


@dataclass(frozen=True, slots=True)
class OaiPage:
    """One answer of a list verb (or GetRecord: one record, no token)."""

    records: tuple[OaiRecord, ...]
    resumption_token: str | None  # None: this was the last page
    complete_list_size: int | None
    cursor: int | None
    response_date: str | None
    verb: str | None = None
    expiration_date: str | None = None


@dataclass(frozen=True, slots=True)
class Identify:
    """What a repository says about itself (verb=Identify)."""

    repository_name: str | None
    base_url: str | None
    protocol_version: str | None
    earliest_datestamp: str | None
    granularity: str | None  # "YYYY-MM-DD" or "YYYY-MM-DDThh:mm:ssZ"
    deleted_record: str | None  # "no", "persistent" or "transient"
    admin_emails: tuple[str, ...] = ()
    response_date: str | None = None


def parse_response(
    body: bytes,
    url: str,
    *,
    metadata_prefix: str | None = None,
    max_bytes: int = MAX_BODY_BYTES,
) -> OaiPage:
    """The bytes of one OAI-PMH answer -> OaiPage.

    Raises OaiError (NoRecordsMatch, BadResumptionToken, IdDoesNotExist or OaiError itself) for an
    `<error>` answer, NotOai for anything that is not OAI-PMH XML, UnsafeXml for a body over
    `max_bytes` or with a document type declaration. `url` is what was asked (for messages, and
    for the metadataPrefix when neither `metadata_prefix` nor the answer's `<request>` names it).
    Identify, ListSets and ListMetadataFormats answers give a page without records.
    """
    root = _oai_root(body, url, max_bytes)
    verb, element = _verb_element(root, url)
    prefix = metadata_prefix or _request_prefix(root, url)
    if verb in ("ListRecords", "GetRecord"):
        records = tuple(_record(r, prefix, url) for r in element.iterfind(_q("record")))
    elif verb == "ListIdentifiers":
        records = tuple(_from_header(h, None, prefix, url) for h in element.iterfind(_q("header")))
    else:
        records = ()
    token_element = element.find(_q("resumptionToken"))
    token = size = cursor = expiration = None
    if token_element is not None:
        token = (token_element.text or "").strip() or None
        size = _whole(token_element.get("completeListSize"))
        cursor = _whole(token_element.get("cursor"))
        expiration = (token_element.get("expirationDate") or "").strip() or None
    return OaiPage(
        records=records,
        resumption_token=token,
        complete_list_size=size,
        cursor=cursor,
        response_date=_response_date(root),
        verb=verb,
        expiration_date=expiration,
    )


def parse_identify(body: bytes, url: str, *, max_bytes: int = MAX_BODY_BYTES) -> Identify:
    """The bytes of an Identify answer -> Identify; errors as for `parse_response`."""
    root = _oai_root(body, url, max_bytes)
    verb, element = _verb_element(root, url)
    if verb != "Identify":
        raise NotOai(f"{_where(url)}: expected an Identify answer, got {verb}", source=SOURCE)
    return Identify(
        repository_name=_child_text(element, "repositoryName"),
        base_url=_child_text(element, "baseURL"),
        protocol_version=_child_text(element, "protocolVersion"),
        earliest_datestamp=_child_text(element, "earliestDatestamp"),
        granularity=_child_text(element, "granularity"),
        deleted_record=_child_text(element, "deletedRecord"),
        admin_emails=tuple(
            t for e in element.iterfind(_q("adminEmail")) if (t := (e.text or "").strip())
        ),
        response_date=_response_date(root),
    )


def safe_parser() -> etree.XMLParser:
    """A new lxml parser that resolves no entity, loads no DTD, opens no network connection, keeps
    libxml2's depth and text-size limits and never recovers from an error. New for every document:
    lxml parsers must not be shared between threads."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        recover=False,
        dtd_validation=False,
        attribute_defaults=False,
    )


def _where(url: str) -> str:
    return f"{SOURCE} (GET {redact_url(url)})"


def _oai_root(body: bytes, url: str, max_bytes: int) -> etree._Element:
    """Checks in order: size, prolog (encoding, HTML, DTD), well-formedness, OAI-PMH root, error."""
    if len(body) > max_bytes:
        raise UnsafeXml(
            f"{_where(url)}: refused a body of {len(body)} bytes, over the cap of {max_bytes}",
            source=SOURCE,
        )
    _check_prolog(body, url)
    try:
        root = etree.fromstring(body, safe_parser())
    except etree.XMLSyntaxError as exc:
        raise NotOai(
            f"{_where(url)}: not well-formed XML ({exc}), so not an OAI-PMH answer", source=SOURCE
        ) from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        # Backstop for what _check_prolog cannot see; lxml has resolved nothing by then.
        raise UnsafeXml(f"{_where(url)}: {_DTD_REFUSED}", source=SOURCE)
    name = etree.QName(root)
    if name.localname.lower() == "html":
        raise NotOai(f"{_where(url)}: an HTML page, not OAI-PMH XML", source=SOURCE)
    if name.localname != "OAI-PMH" or name.namespace != OAI_NS:
        namespace = f" in namespace {name.namespace}" if name.namespace else " in no namespace"
        raise NotOai(
            f"{_where(url)}: XML whose root is <{name.localname}>{namespace}, not OAI-PMH XML "
            f"(<OAI-PMH> in {OAI_NS})",
            source=SOURCE,
        )
    errors = root.findall(_q("error"))
    if errors:
        raise _oai_error(errors, _response_date(root), url)
    return root


_DTD_REFUSED = (
    "a document type declaration (<!DOCTYPE ...>), refused unparsed: OAI-PMH needs no DTD, and "
    "DTDs carry entity bombs and external entities"
)
_SPACE = re.compile(rb"[ \t\r\n]*")
_DOCTYPE_NAME = re.compile(rb"<!DOCTYPE[ \t\r\n]+([^ \t\r\n>\[]*)", re.IGNORECASE)
_HTML_TAG = re.compile(rb"<html[ \t\r\n>/]", re.IGNORECASE)
_WIDE_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")


def _check_prolog(body: bytes, url: str) -> None:
    """Refuse, before lxml sees a byte of it, a body whose prolog (what precedes the root element)
    holds a DTD, and say what a non-XML body is.

    OAI-PMH answers are UTF-8 by the specification; UTF-16/32 is refused here, which keeps this
    byte-level scan sound (every ASCII-compatible encoding spells "<!DOCTYPE" the same).
    """
    where = _where(url)
    if body.startswith(_WIDE_BOMS) or b"\x00" in body[:4]:
        raise NotOai(f"{where}: UTF-16 or UTF-32 encoded; OAI-PMH answers are UTF-8", source=SOURCE)
    text = body.removeprefix(b"\xef\xbb\xbf")
    pos = 0
    while True:
        pos = _SPACE.match(text, pos).end()
        if pos >= len(text):
            what = "an empty body" if not text.strip() else "XML without a root element"
            raise NotOai(f"{where}: {what}, not OAI-PMH XML", source=SOURCE)
        if text.startswith(b"<?", pos) or text.startswith(b"<!--", pos):
            close = b"?>" if text[pos + 1 : pos + 2] == b"?" else b"-->"
            end = text.find(close, pos)
            if end < 0:
                raise NotOai(f"{where}: XML cut short in its prolog", source=SOURCE)
            pos = end + len(close)
            continue
        doctype = _DOCTYPE_NAME.match(text, pos)
        if doctype:
            if doctype.group(1).lower() == b"html":
                raise NotOai(f"{where}: an HTML page, not OAI-PMH XML", source=SOURCE)
            raise UnsafeXml(f"{where}: {_DTD_REFUSED}", source=SOURCE)
        if _HTML_TAG.match(text, pos):
            raise NotOai(f"{where}: an HTML page, not OAI-PMH XML", source=SOURCE)
        if text.startswith(b"<", pos):
            return
        start = text[pos : pos + 40].decode("utf-8", "replace")
        raise NotOai(f"{where}: not XML (starts with {start!r}), not OAI-PMH", source=SOURCE)


def _oai_error(errors: list, response_date: str | None, url: str) -> OaiError:
    code = (errors[0].get("code") or "").strip() or "unknown"
    texts = []
    for error in errors:
        text = tidy_text("".join(error.itertext()))
        other = (error.get("code") or "").strip()
        if other and other != code:
            text = f"{other}: {text}" if text else other
        if text:
            texts.append(text)
    cls = _ERROR_CLASSES.get(code, OaiError)
    return cls(code, "; ".join(texts), response_date=response_date, url=url)


def _verb_element(root: etree._Element, url: str) -> tuple[str, etree._Element]:
    for child in root:
        if not isinstance(child.tag, str):
            continue
        name = etree.QName(child)
        if name.namespace == OAI_NS and name.localname in _VERBS:
            return name.localname, child
    raise NotOai(
        f"{_where(url)}: an OAI-PMH answer with neither a verb element nor an error", source=SOURCE
    )


def _response_date(root: etree._Element) -> str | None:
    return _child_text(root, "responseDate")


def _child_text(element: etree._Element, local: str) -> str | None:
    child = element.find(_q(local))
    if child is None:
        return None
    return (child.text or "").strip() or None


def _request_prefix(root: etree._Element, url: str) -> str | None:
    request = root.find(_q("request"))
    if request is not None and request.get("metadataPrefix"):
        return request.get("metadataPrefix")
    values = parse_qs(urlsplit(url).query).get("metadataPrefix")
    return values[0] if values else None


def _whole(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def _record(element: etree._Element, prefix: str | None, url: str) -> OaiRecord:
    header = element.find(_q("header"))
    if header is None:
        raise BadPayload(f"{_where(url)}: a <record> without a <header>", source=SOURCE)
    return _from_header(header, element.find(_q("metadata")), prefix, url)


def _from_header(
    header: etree._Element, metadata: etree._Element | None, prefix: str | None, url: str
) -> OaiRecord:
    identifier = _child_text(header, "identifier")
    if identifier is None:
        raise BadPayload(f"{_where(url)}: a record header without an identifier", source=SOURCE)
    deleted = (header.get("status") or "").strip() == "deleted"
    content = None
    if metadata is not None and not deleted:
        content = next((c for c in metadata if isinstance(c.tag, str)), None)
    return OaiRecord(
        identifier=identifier,
        datestamp=_child_text(header, "datestamp"),
        sets=tuple(t for s in header.iterfind(_q("setSpec")) if (t := (s.text or "").strip())),
        deleted=deleted,
        metadata_prefix=prefix,
        metadata=content,
    )


# --- records ---


def record_payload(record: OaiRecord) -> dict[str, Any]:
    """What is kept of one OAI record in `source_records`: its header and its metadata as XML
    text, from which `parse` rebuilds the Record."""
    xml = record.metadata_xml()
    return {
        "identifier": record.identifier,
        "datestamp": record.datestamp,
        "sets": list(record.sets),
        "metadata_prefix": record.metadata_prefix,
        "metadata": xml.decode("utf-8") if xml is not None else None,
    }


def parse(payload: Mapping[str, Any]) -> Record:
    """The Record of a stored OAI record (`record_payload`), its XML parsed as safely as an
    answer is."""
    text = payload.get("metadata")
    if not text:
        raise BadPayload(
            f"oai {payload.get('identifier')}: a stored record without metadata", source=SOURCE
        )
    try:
        metadata = etree.fromstring(text.encode("utf-8"), safe_parser())
    except etree.XMLSyntaxError as exc:
        raise BadPayload(
            f"oai {payload.get('identifier')}: stored metadata is not XML ({exc})", source=SOURCE
        ) from None
    record = OaiRecord(
        identifier=payload["identifier"],
        datestamp=payload.get("datestamp"),
        sets=tuple(payload.get("sets") or ()),
        deleted=False,
        metadata_prefix=payload.get("metadata_prefix"),
        metadata=metadata,
    )
    return to_record(record)


def to_record(record: OaiRecord, *, source: str = SOURCE) -> Record:
    """The Record of an OAI record, by its metadata's namespace (oai_dc, arXivRaw, or the
    DataCite kernel bare or in its oai_datacite envelope), whatever prefix the repository calls
    the format.

    A deleted record or a bare header has no metadata: ValueError (check `record.deleted` first).
    A format without a parser here raises BadPayload.
    """
    metadata = _metadata_of(record)
    namespace = etree.QName(metadata).namespace or ""
    if namespace == OAI_DC_NS:
        return record_from_oai_dc(record, source=source)
    if namespace == ARXIV_RAW_NS:
        return record_from_arxiv_raw(record, source=source)
    if is_kernel_xml(metadata):
        return record_from_datacite(record, source=source)
    raise BadPayload(
        f"oai {record.identifier}: no parser for metadata format {record.metadata_prefix!r} "
        f"(namespace {namespace or 'none'})",
        source=source,
        identifier=record.identifier,
    )


def _metadata_of(record: OaiRecord | etree._Element) -> etree._Element:
    if not isinstance(record, OaiRecord):
        return record
    if record.deleted:
        raise ValueError(
            f"oai {record.identifier} is deleted: report it as deleted, there is no work to parse"
        )
    if record.metadata is None:
        raise ValueError(f"oai {record.identifier} has no metadata (a header only)")
    return record.metadata


def _metadata_in(
    record: OaiRecord | etree._Element, namespace: str, localname: str, label: str, source: str
) -> etree._Element:
    """The record's metadata, which must be the element the format's parser reads."""
    metadata = _metadata_of(record)
    name = etree.QName(metadata)
    if (name.namespace, name.localname) != (namespace, localname):
        raise BadPayload(
            f"oai: expected {label} metadata, got <{name.localname}> in {name.namespace}",
            source=source,
        )
    return metadata


# oai_dc


def record_from_oai_dc(record: OaiRecord | etree._Element, *, source: str = SOURCE) -> Record:
    """Simple Dublin Core (`oai_dc:dc`) -> Record.

    title: the first dc:title. creators: "Family, Given" is split, anything else is kept as
    `name`; dc:contributor the same, as contributors with role "contributor" (authors when the
    record has no dc:creator: see `_dc_people`). date: see `_dc_issued` (a repository's own
    timestamp is not the work's date). The DOI is the first dc:identifier that is one
    (https://doi.org/..., doi:..., info:doi/..., 10.x/...); the RePEc handle comes from the OAI
    identifier (RePEc's gateway: oai:RePEc:...) or a dc:identifier; the first other http(s)
    dc:identifier is the `url` (the landing page: no file link is taken from oai_dc, whose
    dc:identifier names the record, not its files); dc:identifiers that are a valid ISBN or ISSN
    go to isbn and issn. A DSpace series statement in dc:relation ("ERS;ERS-2003-023-LIS") gives
    the series and the number (a report's report_number). description -> abstract
    (HTML, even escaped twice as Zenodo sends it, becomes text); publisher; type (OpenAIRE's
    info:eu-repo/semantics/* or a plain word, version statements skipped); language; subjects;
    rights -> license (a licence URL before a licence name, access statements skipped); relation
    -> untyped Relation("relation", "doi" | "url" | "uri", value). dc:source is free-text
    citation and is not parsed.
    """
    metadata = _metadata_in(record, OAI_DC_NS, "dc", "oai_dc:dc", source)
    dc: dict[str, list[str]] = {}
    for child in metadata:
        if not isinstance(child.tag, str):
            continue
        child_name = etree.QName(child)
        if child_name.namespace != DC_NS:
            continue
        value = "".join(child.itertext()).strip()
        if value:
            dc.setdefault(child_name.localname, []).append(value)
    identifiers = dc.get("identifier", [])
    header_id = record.identifier if isinstance(record, OaiRecord) else None
    work_type = _dc_type(dc.get("type", []))
    authors, contributors = _dc_people(dc.get("creator", []), dc.get("contributor", []))
    series_title, number = _dc_series(dc.get("relation", []))
    return Record(
        source=source,
        doi=_first_doi(identifiers),
        repec_handle=_repec_handle([header_id, *identifiers]),
        type=work_type,
        title=_first(inline_text(t) for t in dc.get("title", [])),
        issued=_dc_issued(dc.get("date", [])),
        publisher=_first(inline_text(p) for p in dc.get("publisher", [])),
        authors=authors,
        contributors=contributors,
        isbn=_dc_isbns(identifiers),
        issn=_dc_issns(identifiers),
        series_title=series_title,
        series_number=number if work_type != "report" else None,
        report_number=number if work_type == "report" else None,
        abstract=_first(_description_text(d) for d in dc.get("description", [])),
        language=_first(tidy_text(v) or None for v in dc.get("language", [])),
        license=_dc_license(dc.get("rights", [])),
        url=_first_url(identifiers),
        relations=_dc_relations(dc.get("relation", [])),
        subjects=_unique(inline_text(s) for s in dc.get("subject", [])),
    )


def _first(values) -> Any:
    return next((v for v in values if v), None)


def _unique(values) -> tuple[str, ...]:
    out: list[str] = []
    for value in values:
        if value and value not in out:
            out.append(value)
    return tuple(out)


def _dc_people(
    creators: list[str], contributors: list[str]
) -> tuple[tuple[Author, ...], tuple[Author, ...]]:
    """(authors, contributors). dc:creator are the authors and dc:contributor the other people,
    role "contributor" (oai_dc has no standard way to say editor or translator). A record with
    no dc:creator at all names its authors in dc:contributor: early DSpace mapped
    dc.contributor.author there (Erasmus's 2003 records: "Toktay, B.", "Laan, E.A. van der",
    "Brito, M.P. de" wrote ERS-2003-023-LIS), so they are the authors."""
    authors = tuple(a for a in map(_dc_author, creators) if a)
    others = tuple(a for a in map(_dc_author, contributors) if a)
    if not authors:
        return others, ()
    return authors, tuple(replace(a, role="contributor") for a in others)


# A dc:date with a time of day is a repository's own stamp (DSpace's date.accessioned and
# date.available; Erasmus's three dc:date equal the header datestamp to the second), not when
# the work appeared, which a record gives as a date: "2011", "2011-04", "2023-12-11".
_TIMESTAMP = re.compile(r"\s*[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}")


def _dc_issued(values: list[str]) -> str | None:
    """The work's date: the earliest dc:date written as a date (an interval, Zenodo's
    "2025-07-13/2025-07-16", by its start). Timestamps are the repository's deposit and are
    never taken for it, so a deposit year cannot stand in for the date of the work it
    deposits; `info:eu-repo/date/embargoEnd/...` is no date of the work either."""
    dates = [partial_iso_date(v) for v in values if not _TIMESTAMP.match(v)]
    return min((d for d in dates if d), default=None)


_ISBN_TEXT = re.compile(r"(?i)^\s*(?:urn:)?(?:isbn[:\s]*)?([0-9][0-9Xx \-]{8,20})\s*$")
_ISSN_TEXT = re.compile(r"(?i)^\s*(?:urn:)?(?:issn[:\s]*)?([0-9]{4}-?[0-9]{3}[0-9Xx])\s*$")


def _dc_isbns(identifiers: list[str]) -> tuple[Isbn, ...]:
    """dc:identifiers that are a valid ISBN ("90-5892-036-4", "90 - 5892 - 032 - 1"), in their
    13-digit form, each once; a wrong check digit is no ISBN."""
    out: list[Isbn] = []
    for value in identifiers:
        match = _ISBN_TEXT.match(value)
        number = isbn13(match.group(1)) if match else None
        if number and Isbn(number) not in out:
            out.append(Isbn(number))
    return tuple(out)


def _dc_issns(identifiers: list[str]) -> tuple[str, ...]:
    """dc:identifiers that are a valid ISSN (Erasmus's report series: "1566-5283")."""
    return _unique(issn(m.group(1)) if (m := _ISSN_TEXT.match(v)) else None for v in identifiers)


# DSpace writes dc.relation.ispartofseries as "Series;Number" ("ERS;ERS-2003-023-LIS",
# "TRAIL Poceedings series;", ";EIA-2002-12-MKT") and oai_dc carries it as a dc:relation.
_SERIES = re.compile(r"^([^;:/]*);([^;:/]*)$")


def _dc_series(values: list[str]) -> tuple[str | None, str | None]:
    """(series title, number in it) from the first DSpace series statements that give them."""
    title = number = None
    for value in values:
        match = _SERIES.match(value.strip())
        if not match:
            continue
        title = title or tidy_text(match.group(1)) or None
        number = number or tidy_text(match.group(2)) or None
    return title, number


def _dc_author(value: str) -> Author | None:
    """ "Family, Given" is split (unless it reads like "University of X, Department of Y", or
    what follows the comma has no capital, as in "Helsingin yliopisto, soveltavan biologian
    laitos", a department); any other name is kept whole. Particles written after the given
    names go with the family name ("Laan, E.A. van der" -> "E.A." "van der Laan"), and a
    trailing "(Advisor)" is no part of a name."""
    name = inline_text(_ROLE_SUFFIX.sub("", value))
    if not name:
        return None
    split = split_family_given(name)
    if split and any(word[:1].isupper() for word in split[1].split()):
        family, given = split
        words = given.split()
        particles: list[str] = []
        while len(words) > 1 and words[-1] in _PARTICLES:
            particles.insert(0, words.pop())
        return Author(given=" ".join(words), family=" ".join([*particles, family]))
    return Author(name=name)


# What a DSpace dc:contributor may carry after the name: "Nkemnji, John (Advisor)".
_ROLE_SUFFIX = re.compile(r"(?i)\s*\((?:advisor|adviser|supervisor)\)\s*$")
# Dutch, German and French particles, as "Brito, M.P. de", "Berg, J. van den" write them.
_PARTICLES = frozenset(
    {"van", "der", "den", "de", "del", "della", "di", "du", "la", "le", "ter", "ten", "von", "zu"}
)


_DOI_IN_TEXT = re.compile(r"(?i)(?:doi\.org/|\bdoi:\s*|info:doi/)(10\.[0-9]{4,9}/[^\s\"<>]+)")


def _doi_of(value: str) -> str | None:
    """The DOI a dc:identifier or dc:relation names, in its usual forms or inside a citation."""
    text = value.strip()
    if text.startswith("10.") or re.match(
        r"(?i)(?:https?://)?(?:dx\.|www\.)?doi\.org/|doi|info:doi/", text
    ):
        try:
            return parse_doi(text).value
        except BadIdentifier:
            pass
    match = _DOI_IN_TEXT.search(text)
    if match:
        try:
            return parse_doi(match.group(1)).value
        except BadIdentifier:
            return None
    return None


def _first_doi(identifiers: list[str]) -> str | None:
    return _first(_doi_of(v) for v in identifiers)


def _repec_handle(candidates: list[str | None]) -> str | None:
    for candidate in candidates:
        if not candidate:
            continue
        text = candidate.strip()
        if text[:10].lower() == "oai:repec:":
            text = text[4:]
        try:
            if text[:6].lower() == "repec:":
                return parse_repec(text).value
            if "repec.org" in text.lower():
                return parse_repec_url(text).value
        except BadIdentifier:
            continue
    return None


def _first_url(identifiers: list[str]) -> str | None:
    for value in identifiers:
        text = value.strip()
        if re.match(r"(?i)https?://", text) and not _doi_of(text) and " " not in text:
            return text
    return None


_ESCAPED_TAG = re.compile(r"&lt;/?[A-Za-z][A-Za-z0-9]*")


def _description_text(value: str) -> str | None:
    """A dc:description -> clean text. Zenodo escapes its HTML once more than XML needs
    (`&amp;lt;p&amp;gt;`), so after parsing the text still reads `&lt;p&gt;`: such text is
    unescaped once before the markup is dropped."""
    if "<" not in value and _ESCAPED_TAG.search(value):
        value = html.unescape(value)
    return jats_to_text(value) or None


#: info:eu-repo/semantics/ (OpenAIRE) and plain dc:type words -> the Crossref-like type names the
#: other sources use; other values are hyphenated ("technicalDocumentation" ->
#: "technical-documentation").
_DC_TYPES = {
    "article": "journal-article",
    "journalarticle": "journal-article",
    "conferencepaper": "proceedings-article",
    "conferenceobject": "proceedings-article",
    "conferenceproceedings": "proceedings",
    "bookpart": "book-chapter",
    "book": "book",
    "doctoralthesis": "dissertation",
    "masterthesis": "dissertation",
    "bachelorthesis": "dissertation",
    "workingpaper": "report",
    "report": "report",
    "preprint": "posted-content",
    "dataset": "dataset",
    "software": "software",
}
#: OpenAIRE puts the version of the text in dc:type too: not a type of work.
_VERSION_TYPES = frozenset(
    {"draft", "submittedversion", "acceptedversion", "publishedversion", "updatedversion"}
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _dc_type(values: list[str]) -> str | None:
    for value in values:
        word = value.strip().rstrip("/").rsplit("/", 1)[-1].strip()
        key = word.replace(" ", "").replace("-", "").lower()
        if not key or key in _VERSION_TYPES:
            continue
        return _DC_TYPES.get(key) or re.sub(r"[\s_]+", "-", _CAMEL.sub("-", word)).lower()
    return None


_ACCESS_RIGHTS = "info:eu-repo/semantics/"


def _dc_license(values: list[str]) -> str | None:
    rights = [tidy_text(v) for v in values if not v.strip().startswith(_ACCESS_RIGHTS)]
    urls = [r for r in rights if re.match(r"(?i)https?://\S+$", r)]
    return _first(urls) or _first(rights)


def _dc_relations(values: list[str]) -> tuple[Relation, ...]:
    found: set[Relation] = set()
    for value in values:
        text = value.strip()
        doi = _doi_of(text)
        if doi:
            found.add(Relation("relation", "doi", doi))
        elif re.match(r"(?i)https?://\S+$", text):
            found.add(Relation("relation", "url", text))
        elif re.match(r"(?i)[a-z][a-z0-9+.-]*:\S+$", text):
            found.add(Relation("relation", "uri", text))
    return tuple(sorted(found, key=lambda r: (r.type, r.id_type, r.id)))


# arXivRaw


def record_from_arxiv_raw(record: OaiRecord | etree._Element, *, source: str = SOURCE) -> Record:
    """arXiv's own format (metadataPrefix=arXivRaw) -> Record of the preprint.

    id -> other_ids ("arxiv", "0704.0471") and the abstract page as `url`; the first
    version's date is `issued`, the last one's (when there are several) `revised`; authors as
    one string split at commas and "and" (names kept whole, as arXiv does not split them);
    categories -> subjects; journal-ref -> publication_status (where it was published); each
    DOI in <doi> (the journal's, an erratum's) -> Relation("is-preprint-of", "doi", ...), not the
    record's DOI, which names the journal article; report-no -> report_number; license.
    """
    metadata = _metadata_in(record, ARXIV_RAW_NS, "arXivRaw", "arXivRaw", source)

    def text(local: str) -> str | None:
        element = metadata.find(f"{{{ARXIV_RAW_NS}}}{local}")
        return tidy_text("".join(element.itertext())) or None if element is not None else None

    arxiv_id = text("id")
    versions = [
        _arxiv_date(v.findtext(f"{{{ARXIV_RAW_NS}}}date"))
        for v in metadata.iterfind(f"{{{ARXIV_RAW_NS}}}version")
    ]
    dates = [d for d in versions if d]
    abstract_element = metadata.find(f"{{{ARXIV_RAW_NS}}}abstract")
    abstract = "".join(abstract_element.itertext()) if abstract_element is not None else ""
    relations = dict.fromkeys(
        Relation("is-preprint-of", "doi", doi)
        for value in (text("doi") or "").split()
        if (doi := _doi_of(value))
    )
    return Record(
        source=source,
        type="posted-content",
        title=inline_text(text("title")),
        authors=tuple(Author(name=n) for n in _ARXIV_AUTHORS.split(text("authors") or "") if n),
        issued=dates[0] if dates else None,
        revised=dates[-1] if len(dates) > 1 else None,
        publisher="arXiv",
        abstract=jats_to_text(abstract) or None,
        license=text("license"),
        url=f"https://arxiv.org/abs/{arxiv_id}" if arxiv_id else None,
        subjects=tuple((text("categories") or "").split()),
        publication_status=text("journal-ref"),
        report_number=text("report-no"),
        relations=tuple(relations),
        other_ids=(("arxiv", arxiv_id),) if arxiv_id else (),
    )


# "D.V. Shetty, S.J. Yennello, and G.A. Souliotis", "Valeria M. Rosa and Patricio S. letelier"
_ARXIV_AUTHORS = re.compile(r"\s*,\s*(?:and\s+)?|\s+and\s+")


def _arxiv_date(value: str | None) -> str | None:
    """A version's date, "Tue, 3 Apr 2007 22:04:11 GMT" -> "2007-04-03"."""
    if not value:
        return None
    try:
        return parsedate_to_datetime(value.strip()).date().isoformat()
    except (TypeError, ValueError):
        return None


# DataCite XML


def record_from_datacite(record: OaiRecord | etree._Element, *, source: str = SOURCE) -> Record:
    """A DataCite kernel `resource` (bare, as metadataPrefix=datacite gives it, or inside an
    `oai_datacite` envelope) -> Record.

    The XML is read into the attribute shape of DataCite's REST API (`datacite.attributes_from_xml`)
    and handed to `datacite.parse`, so that a work reads the same whether it came from
    DataCite's API or a repository's OAI feed: creators (given/family, ORCID from nameIdentifiers,
    affiliations), titles, publisher, publicationYear and Issued dates, resourceTypeGeneral,
    Abstract descriptions, subjects, rights (rightsURI), relatedIdentifiers, relatedItems,
    version, language. A resource without a DOI (an institutional repository's Handle or URL)
    keeps doi=None and its identifier as the url. BadPayload for metadata that is not DataCite's.
    """
    try:
        attributes = attributes_from_xml(_metadata_of(record))
    except BadPayload as exc:
        identifier = record.identifier if isinstance(record, OaiRecord) else None
        raise BadPayload(f"oai: {exc}", source=source, identifier=identifier) from None
    return replace(parse_datacite(attributes, require_doi=False), source=source)


# --- fetch (I/O) ---


def _ask(
    client: HttpClient,
    base_url: str,
    params: Mapping[str, str],
    parse: Callable[..., Any],  # (body, url, *, max_bytes) -> the answer
    *,
    pool: str,
    source: str,
    max_bytes: int,
    identifier: str | None = None,
) -> Any:
    """One OAI request: the parsed answer, or the OAI error or failure it carries.

    A 4xx body is read as OAI-PMH first (Zenodo's 422 with an <error>); a 4xx that is not OAI
    (an HTML error page) becomes NotFound (404) or ClientError, saying what the body was. A body
    over `max_bytes` is UnsafeXml, refused while it is being read.
    """
    try:
        response = client.get_bytes(
            base_url,
            pool=pool,
            source=source,
            params=params,
            headers={"Accept": ACCEPT},
            identifier=identifier,
            answer_statuses=OAI_ANSWER_STATUSES,
            max_bytes=max_bytes,
        )
    except BodyTooLarge as exc:
        raise UnsafeXml(
            str(exc), source=exc.source, identifier=exc.identifier, status=exc.status, url=exc.url
        ) from None
    status = response.status
    try:
        answer = parse(response.content, response.url, max_bytes=max_bytes)
    except OaiError as exc:
        exc.status = status
        raise
    except (NotOai, UnsafeXml) as exc:
        exc.status = status
        if status < 400:
            raise
        error = NotFound if status == 404 else ClientError
        raise error(
            f"{exc} (HTTP {status})", source=source, status=status, url=redact_url(response.url)
        ) from None
    if status >= 400:
        raise ClientError(
            f"{_where(response.url)}: HTTP {status} with an OAI-PMH answer that is not an error",
            source=source,
            status=status,
            url=redact_url(response.url),
        )
    return answer


def identify(
    base_url: str,
    client: HttpClient,
    *,
    pool: str = POOL,
    source: str = SOURCE,
    max_bytes: int = MAX_BODY_BYTES,
) -> Identify:
    """verb=Identify: name, base URL, earliest datestamp, granularity, deleted-record policy.

    For every fetch function: `client` paces the requests in pool `pool` (it needs a limiter
    for it), `source` names the repository in errors and logs, and a body over `max_bytes`
    is refused (UnsafeXml) while it is being read.
    """
    return _ask(
        client,
        base_url,
        {"verb": "Identify"},
        parse_identify,
        pool=pool,
        source=source,
        max_bytes=max_bytes,
    )


def get_record(
    base_url: str,
    client: HttpClient,
    identifier: str,
    *,
    metadata_prefix: str = "oai_dc",
    pool: str = POOL,
    source: str = SOURCE,
    max_bytes: int = MAX_BODY_BYTES,
) -> OaiRecord:
    """verb=GetRecord for one OAI identifier (RePEc's gateway: oai:RePEc:...). IdDoesNotExist
    (a NotFound) when the repository does not know it."""
    params = {"verb": "GetRecord", "identifier": identifier, "metadataPrefix": metadata_prefix}
    page = _ask(
        client,
        base_url,
        params,
        partial(parse_response, metadata_prefix=metadata_prefix),
        pool=pool,
        source=source,
        max_bytes=max_bytes,
        identifier=identifier,
    )
    return check_answer(page.records, identifier, where=_where(base_url), source=source)


def check_answer(
    records: tuple[OaiRecord, ...] | list[OaiRecord], identifier: str, *, where: str, source: str
) -> OaiRecord:
    """The record GetRecord answered for `identifier`, once it is that record: its header's
    identifier is the one asked (compared as handles are, A-Z folded: RePEc's gateway spells
    handles freely). BadPayload for an answer without a record or with another one's."""
    if not records:
        raise BadPayload(
            f"{where}: GetRecord {identifier} answered without a record",
            source=source,
            identifier=identifier,
        )
    record = records[0]
    if ascii_key(record.identifier) != ascii_key(identifier):
        raise BadPayload(
            f"{where}: GetRecord {identifier} answered with the record of {record.identifier}",
            source=source,
            identifier=identifier,
        )
    return record


def list_records(
    base_url: str,
    client: HttpClient,
    *,
    metadata_prefix: str = "oai_dc",
    set: str | None = None,  # the OAI-PMH argument, as spelt by the protocol
    from_: str | None = None,
    until: str | None = None,
    pool: str = POOL,
    source: str = SOURCE,
    max_bytes: int = MAX_BODY_BYTES,
) -> Iterator[OaiPage]:
    """verb=ListRecords, lazily, one OaiPage per answer, following resumptionToken until an
    answer has none (or an empty one).

    The first request carries metadataPrefix, set, from and until; every later one only verb and
    resumptionToken, as the protocol requires. noRecordsMatch yields nothing and ends cleanly.
    badResumptionToken raises BadResumptionToken whose `restart_from` is `from_`: the whole
    harvest has to be asked again from there. A token the repository already gave is a loop and
    raises BadPayload rather than asking forever.
    """
    return _list(
        "ListRecords",
        base_url,
        client,
        metadata_prefix=metadata_prefix,
        set_spec=set,
        from_=from_,
        until=until,
        pool=pool,
        source=source,
        max_bytes=max_bytes,
    )


def list_identifiers(
    base_url: str,
    client: HttpClient,
    *,
    metadata_prefix: str = "oai_dc",
    set: str | None = None,  # the OAI-PMH argument, as spelt by the protocol
    from_: str | None = None,
    until: str | None = None,
    pool: str = POOL,
    source: str = SOURCE,
    max_bytes: int = MAX_BODY_BYTES,
) -> Iterator[OaiPage]:
    """verb=ListIdentifiers: as `list_records`, with headers only (records without metadata)."""
    return _list(
        "ListIdentifiers",
        base_url,
        client,
        metadata_prefix=metadata_prefix,
        set_spec=set,
        from_=from_,
        until=until,
        pool=pool,
        source=source,
        max_bytes=max_bytes,
    )


def _list(
    verb: str,
    base_url: str,
    client: HttpClient,
    *,
    metadata_prefix: str,
    set_spec: str | None,
    from_: str | None,
    until: str | None,
    pool: str,
    source: str,
    max_bytes: int,
) -> Iterator[OaiPage]:
    params: dict[str, str] = {"verb": verb, "metadataPrefix": metadata_prefix}
    if set_spec:
        params["set"] = set_spec
    if from_:
        params["from"] = from_
    if until:
        params["until"] = until
    parse = partial(parse_response, metadata_prefix=metadata_prefix)
    seen_tokens: list[str] = []
    while True:
        try:
            page = _ask(
                client, base_url, params, parse, pool=pool, source=source, max_bytes=max_bytes
            )
        except NoRecordsMatch:
            log.info("oai.no_records_match", source=source, url=redact_url(base_url), verb=verb)
            return
        except BadResumptionToken as exc:
            raise BadResumptionToken(
                exc.code,
                exc.message,
                restart_from=from_,
                restart_known=True,
                response_date=exc.response_date,
                url=exc.url,
                status=exc.status,
                source=source,
            ) from None
        yield page
        token = page.resumption_token
        if not token:
            return
        if token in seen_tokens:
            raise BadPayload(
                f"{_where(base_url)}: the repository gave resumptionToken {token[:60]!r} twice; "
                "stopped instead of asking in a circle",
                source=source,
            )
        seen_tokens.append(token)
        params = {"verb": verb, "resumptionToken": token}


# --- feed (I/O): an incremental harvest, pulled by the feed driver ---

#: The `[[feeds]] kind` of a repository's ListRecords.
FEED_KIND = "oai"

#: A badResumptionToken restarts the listing from the harvest's `from`; this many times at most.
MAX_RESTARTS = 2


def endpoint_url(name_or_url: str, config: Config) -> str:
    """A base URL as given, or the one `[oai.endpoints]` names."""
    if name_or_url.startswith(("http://", "https://")):
        return name_or_url
    try:
        return config.oai.endpoints[name_or_url]
    except KeyError:
        known = ", ".join(sorted(config.oai.endpoints)) or "none"
        raise ConfigError(
            f"{name_or_url!r} is neither an http(s) base URL nor a name in [oai.endpoints] "
            f"(known: {known})"
        ) from None


def feed_target(feed: FeedConfig, config: Config) -> FeedTarget:
    """One (endpoint, metadata format, set): `harvest oai` and a `[[feeds]]` entry asking the
    same share its row."""
    endpoint = endpoint_url(feed.endpoint, config)
    prefix = feed.metadata_prefix or config.oai.metadata_prefix
    set_spec = feed.set or None
    return FeedTarget(
        key=f"oai {endpoint} {prefix} {set_spec or '*'}",
        kind=FEED_KIND,
        endpoint=endpoint,
        params={"metadata_prefix": prefix, "set": set_spec},
        display=endpoint,
    )


def feed_pages(
    feed: FeedConfig,
    config: Config,
    client: HttpClient,
    state: FeedState,
) -> Iterator[FeedPage]:
    """Every record changed since the watermark (None: all), a page at a time: Identify for the
    granularity, then ListRecords following its resumption tokens.

    Each page's watermark is the responseDate of the listing's first answer (the repository's
    clock when the harvest began, so nothing changed during it is skipped; never later than the
    harvester's own clock, nor than a record that failed to parse: see `listing_pages`), at the
    repository's granularity. A badResumptionToken asks the whole list again from the same `from`, up to
    MAX_RESTARTS times (pages already stored come back unchanged). Tokens live minutes, so no
    page can be resumed from.
    """
    target = feed_target(feed, config)
    pool = f"{POOL}:{target.endpoint}"
    if not client.has_limiter(pool):
        client.add_limiter(pool, RateLimiter(pool, config.oai.limit, pace=config.http.pace))
    granularity = identify(target.endpoint, client, pool=pool).granularity
    return listing_pages(
        target.endpoint,
        client,
        metadata_prefix=target.params["metadata_prefix"],
        set=target.params["set"],
        since=state.since,
        granularity=granularity,
        pool=pool,
    )


def listing_pages(
    base_url: str,
    client: HttpClient,
    *,
    since: str | None = None,
    granularity: str | None = None,
    **listing: Any,
) -> Iterator[FeedPage]:
    """ListRecords from `since` as feed pages (see `feed_pages`; `listing`: list_records'
    metadata_prefix, set and pool); `granularity` (Identify's) trims `since` and the watermark:
    a day-granular repository refuses a from with a time.

    The watermark never skips a record: it is the responseDate of the listing's first answer
    but never later than the harvester's own clock then (a repository's date a century ahead
    would skip a century), and never later than the datestamp of a record that failed to
    parse (that record fails in the run, and the next harvest asks again from it)."""
    from_ = _at_granularity(since, granularity)
    held: list[str | None] = []  # the datestamps of the records that failed to parse
    for attempt in range(MAX_RESTARTS + 1):
        began: str | None = None
        try:
            for number, page in enumerate(list_records(base_url, client, from_=from_, **listing)):
                if number == 0:
                    began = _not_after_now(page.response_date)
                answers = [_feed_answer(record) for record in page.records]
                held += [r.datestamp for r in page.records if not _parses(r)]
                watermark = _at_granularity(_held_at(began or from_, held, from_), granularity)
                yield FeedPage(scheme=SOURCE, answers=answers, resume=None, watermark=watermark)
            return
        except BadResumptionToken:
            if attempt == MAX_RESTARTS:
                raise
            log.warning(
                "oai.restarting", url=redact_url(base_url), from_=from_, attempt=attempt + 1
            )


def _not_after_now(response_date: str | None) -> str | None:
    """The repository's responseDate, or the harvester's own clock when that is earlier: what
    the repository says its time is cannot move the watermark past the present. None when it
    sent none that reads as a date (the watermark then stays where the listing began)."""
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        said = datetime.fromisoformat((response_date or "").strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    said = said.replace(tzinfo=UTC) if said.tzinfo is None else said.astimezone(UTC)
    return min(said, now).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parses(record: OaiRecord) -> bool:
    """Whether a record the listing carries will be stored: deleted, or its metadata read
    (what the driver's parse fails on, `to_record` fails on here)."""
    if record.deleted:
        return True
    try:
        to_record(record)
    except (BadPayload, ValueError):
        return False
    return True


def _held_at(watermark: str | None, held: list[str | None], from_: str | None) -> str | None:
    """`watermark`, held back to the earliest datestamp in `held` (`from_`, where the listing
    began, for a record without one), so the next listing asks for those records again."""
    if not held:
        return watermark
    if None in held or watermark is None:
        return from_
    return min([watermark, *(d for d in held if d is not None)])


def _feed_answer(record: OaiRecord) -> Fetched:
    """A record as the driver stores it: its payload, or not found for a deleted record."""
    if record.deleted:
        return Fetched(SOURCE, record.identifier, "not_found", display=record.identifier)
    return Fetched(
        SOURCE, record.identifier, "ok", payload=record_payload(record), display=record.identifier
    )


def _at_granularity(datestamp: str | None, granularity: str | None) -> str | None:
    if datestamp and granularity == _DAY_GRANULARITY:
        return datestamp[:10]
    return datestamp


def pools(config: Config) -> dict[str, PoolLimit]:
    """None up front: each endpoint gets a pool of its own (`oai:{base URL}`) when first harvested,
    at `[oai] rate` and `concurrency`."""
    return {}
