"""OAI-PMH: safe parsing, errors in the body, records from oai_dc and DataCite XML, the resumption
chain, retries, and the incremental harvest's watermark.

Bodies are the recorded Zenodo and e-periodica answers in ../shared/fixtures/oaipmh, served by
`responses` for the requests they were recorded for, with their recorded status and headers
(Zenodo's OAI errors come with HTTP 422, and every Zenodo answer carries a Retry-After). Sleeps go
to a fake clock, so no test waits. Hostile XML is built here.
"""

from __future__ import annotations

import json
import re
import socket
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses
from conftest import fixture_path
from fakes import TEST_HTTP, FakeClock, fake_client
from lxml import etree

from harvester.config import Config, FeedConfig, PoolLimit
from harvester.errors import BadPayload, ClientError, NotFound, TransientError, UpstreamError
from harvester.http import BodyTooLarge, HttpClient
from harvester.models import Author, Relation
from harvester.sources import oaipmh
from harvester.sources.base import FeedState
from harvester.sources.oaipmh import (
    BadResumptionToken,
    IdDoesNotExist,
    NoRecordsMatch,
    NotOai,
    OaiError,
    UnsafeXml,
    get_record,
    identify,
    list_identifiers,
    list_records,
    listing_pages,
    parse_identify,
    parse_response,
    record_from_datacite,
    record_from_oai_dc,
    safe_parser,
    to_record,
)

BASE = "http://127.0.0.1:8080/oai2d"

PAGE1 = "zenodo_ListRecords_oai_dc_page1.xml"
PAGE2 = "zenodo_ListRecords_oai_dc_page2.xml"
PAGE3 = "zenodo_ListRecords_oai_dc_page3_last.xml"
FULL_PAGE = "zenodo_ListRecords_oai_dc_from-until_full-page.xml"
SOFTWARE = "zenodo_ListRecords_oai_dc_set-software.xml"
IDENTIFIERS = "zenodo_ListIdentifiers_oai_dc_page1.xml"
GET_DC = "zenodo_GetRecord_oai_dc_10357859.xml"
GET_DATACITE = "zenodo_GetRecord_datacite_10357859.xml"
ZENODO_IDENTIFY = "zenodo_Identify.xml"
EPERIODICA_IDENTIFY = "e-periodica_Identify.xml"
HTML = "not-oai_httpbun_html_Identify.html"
NO_RECORDS = "zenodo_error_noRecordsMatch_HTTP422.xml"
BAD_TOKEN = "zenodo_error_badResumptionToken_HTTP422.xml"
BAD_ARGUMENT = "zenodo_error_badArgument-metadataPrefix_HTTP422.xml"
NO_ID = "zenodo_error_idDoesNotExist_HTTP422.xml"

CHAIN_IDS = [
    "oai:zenodo.org:8435696",
    "oai:zenodo.org:8435639",
    "oai:zenodo.org:8433301",
    "oai:zenodo.org:8433364",
    "oai:zenodo.org:8333281",
    "oai:zenodo.org:8321258",
    "oai:zenodo.org:20589672",
    "oai:zenodo.org:20590449",
    "oai:zenodo.org:20565714",
]


def body(name: str) -> bytes:
    return fixture_path(f"oaipmh/{name}").read_bytes()


def meta(name: str) -> dict:
    stem = name.rsplit(".", 1)[0]
    return json.loads(fixture_path(f"oaipmh/{stem}.meta.json").read_bytes())


def recorded_query(name: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(meta(name)["request"]["url"]).query))


def token_in(name: str) -> str:
    """The resumptionToken text of a recorded page, read with a regex, not with the code under
    test."""
    match = re.search(rb"<resumptionToken[^>]*>([^<]+)</resumptionToken>", body(name))
    assert match, name
    return match.group(1).decode()


def parse(name: str, **kw) -> oaipmh.OaiPage:
    return parse_response(body(name), meta(name)["request"]["url"], **kw)


# --- fakes ---


class FakeOai:
    """Answers under BASE by query string: each recorded fixture for the query it was recorded
    with, with its recorded status and headers. `queue` answers come first, in order."""

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.rsps = rsps
        self.routes: dict[frozenset, tuple[int, dict[str, str], bytes]] = {}
        self.queue: list[tuple[int, dict[str, str], bytes] | Exception] = []
        rsps.add_callback(responses.GET, re.compile(re.escape(BASE)), callback=self._answer)

    def add(self, name: str, query: dict[str, str] | None = None) -> None:
        recorded = meta(name)["response"]
        headers = {k: v[0] for k, v in recorded["headers"].items()}
        key = frozenset((query or recorded_query(name)).items())
        self.routes[key] = (recorded["status"], headers, body(name))

    def after(self, verb: str, token: str, name: str) -> None:
        """Answer the request for `token` with fixture `name` as a plain 200 (the recorded
        request for that token, if any, was cut from the corpus)."""
        key = frozenset({"verb": verb, "resumptionToken": token}.items())
        self.routes[key] = (200, {"Content-Type": "text/xml; charset=utf-8"}, body(name))

    def _answer(self, request):
        if self.queue:
            answer = self.queue.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        key = frozenset(parse_qsl(urlsplit(request.url).query))
        if key not in self.routes:
            raise AssertionError(f"unexpected request {request.url}")
        return self.routes[key]

    def queries(self) -> list[dict[str, str]]:
        return [dict(parse_qsl(urlsplit(c.request.url).query)) for c in self.rsps.calls]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(clock: FakeClock) -> HttpClient:
    return fake_client(pools={oaipmh.POOL: PoolLimit(1000, 1)}, clock=clock, seed=7)


@pytest.fixture
def oai():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeOai(rsps)


@pytest.fixture
def chain(oai: FakeOai) -> FakeOai:
    for name in (PAGE1, PAGE2, PAGE3):
        oai.add(name)
    return oai


# --- parse: pages, headers, Identify ---


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            ZENODO_IDENTIFY,
            oaipmh.Identify(
                repository_name="Zenodo",
                base_url="https://zenodo.org/oai2d",
                protocol_version="2.0",
                earliest_datestamp="2014-02-03T14:41:33Z",
                granularity="YYYY-MM-DDThh:mm:ssZ",
                deleted_record="no",
                admin_emails=("info@zenodo.org",),
                response_date="2026-08-10T08:56:30Z",
            ),
        ),
        (
            EPERIODICA_IDENTIFY,
            oaipmh.Identify(
                repository_name="repository.prod",
                base_url="https://www.e-periodica.ch/oai/dataprovider",
                protocol_version="2.0",
                earliest_datestamp="2013-12-09T21:21:34Z",
                granularity="YYYY-MM-DDThh:mm:ssZ",
                deleted_record="no",
                admin_emails=("webmaster@e-periodica.ch",),
                response_date="2026-08-10T08:56:31Z",
            ),
        ),
    ],
)
def test_identify_is_read_field_by_field(name, expected):
    assert parse_identify(body(name), meta(name)["request"]["url"]) == expected


def test_first_page_carries_token_cursor_and_list_size():
    page = parse(PAGE1)

    assert page.verb == "ListRecords"
    assert page.response_date == "2026-08-13T17:56:48Z"
    assert page.resumption_token == token_in(PAGE1)
    assert page.resumption_token.startswith(".eJwlzEuOgjAAANC7dG0mbcEPJrOQURpRqqC00I0pFEVbv9RI")
    assert (page.cursor, page.complete_list_size) == (0, 8091628)
    assert page.expiration_date == "2026-08-13T17:58:52Z"
    assert [r.identifier for r in page.records] == CHAIN_IDS[:3]
    first = page.records[0]
    assert (first.datestamp, first.sets, first.deleted, first.metadata_prefix) == (
        "2023-10-12T14:26:07Z",
        ("user-pyhep2023", "openaire"),
        False,
        "oai_dc",
    )
    assert etree.QName(first.metadata).localname == "dc"
    assert b"<dc:title>" in first.metadata_xml()


def test_last_page_has_no_token():
    page = parse(PAGE3)
    assert page.resumption_token is None
    assert (page.cursor, page.complete_list_size) == (None, None)
    assert [r.identifier for r in page.records] == CHAIN_IDS[6:]


def test_deleted_record_is_reported_deleted_even_with_metadata_sent():
    # Zenodo sends the full oai_dc of a record whose header says status="deleted".
    assert b'<header status="deleted">' in body(PAGE2)
    assert b"<dc:title>wrinkle_yolov5</dc:title>" in body(PAGE2)

    page = parse(PAGE2)

    deleted = page.records[0]
    assert (deleted.identifier, deleted.deleted, deleted.metadata) == (
        "oai:zenodo.org:8433364",
        True,
        None,
    )
    assert deleted.datestamp == "2023-10-12T03:01:25Z"
    assert deleted.metadata_xml() is None
    assert [r.deleted for r in page.records] == [True, False, False]
    with pytest.raises(ValueError, match="is deleted"):
        to_record(deleted)
    with pytest.raises(ValueError, match="is deleted"):
        record_from_oai_dc(deleted)


def test_list_identifiers_gives_headers_only():
    page = parse(IDENTIFIERS)

    assert page.verb == "ListIdentifiers"
    assert [(r.identifier, r.deleted, r.sets) for r in page.records] == [
        ("oai:zenodo.org:8435696", True, ("user-pyhep2023", "openaire")),
        ("oai:zenodo.org:8435639", False, ("openaire_data",)),
        ("oai:zenodo.org:8433301", False, ("openaire_data",)),
    ]
    assert all(r.metadata is None for r in page.records)
    assert page.complete_list_size == 8084640
    with pytest.raises(ValueError, match="header only"):
        to_record(page.records[1])


def test_metadata_prefix_comes_from_the_request_element_or_the_caller():
    assert parse(GET_DATACITE).records[0].metadata_prefix == "datacite"
    # Page 2 was asked by token only: its <request> names no metadataPrefix.
    assert parse(PAGE2).records[0].metadata_prefix is None
    assert parse(PAGE2, metadata_prefix="oai_dc").records[1].metadata_prefix == "oai_dc"


def test_set_page_records_are_all_in_the_set():
    page = parse(SOFTWARE)
    assert len(page.records) == 50
    assert all("software" in r.sets for r in page.records)
    assert page.complete_list_size == 678880


def test_every_record_of_a_full_page_parses():
    page = parse(FULL_PAGE)

    records = [to_record(r) for r in page.records if not r.deleted]

    assert len(records) == 50 and page.complete_list_size == 6380
    assert all(r.source == "oai" and r.title and r.doi and r.doi.startswith("10.") for r in records)
    # dc:date is the publication date, not the datestamp (all 2026-04-01 here): any year.
    assert all(re.fullmatch(r"[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?", r.issued or "") for r in records)
    assert {r.doi for r in records} >= {"10.31876/rcs.v31i4.44872", "10.1049/icp.2025.1642"}
    assert {r.type for r in records} >= {"journal-article", "other"}
    assert "eng" in {r.language for r in records}


# --- parse: OAI errors in the body ---


@pytest.mark.parametrize(
    ("name", "error", "code", "message"),
    [
        (NO_RECORDS, NoRecordsMatch, "noRecordsMatch", ""),
        (
            BAD_TOKEN,
            BadResumptionToken,
            "badResumptionToken",
            "The value of the resumptionToken argument is invalid or expired.",
        ),
        (BAD_ARGUMENT, OaiError, "badArgument", "metadataPrefix does not exist"),
        (NO_ID, IdDoesNotExist, "idDoesNotExist", "No matching identifier"),
    ],
)
def test_error_bodies_raise_their_error(name, error, code, message):
    with pytest.raises(OaiError) as caught:
        parse(name)
    exc = caught.value
    assert type(exc) is error
    assert (exc.code, exc.message) == (code, message)
    assert exc.response_date is not None
    assert f"OAI-PMH error {code}" in str(exc)


def test_id_does_not_exist_is_also_not_found():
    with pytest.raises(NotFound):
        parse(NO_ID)


def test_bad_resumption_token_from_the_parser_alone_says_to_restart():
    with pytest.raises(BadResumptionToken) as caught:
        parse(BAD_TOKEN)
    assert caught.value.restart_known is False
    assert "restart the harvest from the from datestamp it began with" in str(caught.value)


def test_several_error_elements_are_all_told():
    xml = (
        b'<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><responseDate>2026-01-01T00:00:00Z'
        b'</responseDate><request>x</request><error code="badArgument">from is not a date</error>'
        b'<error code="badVerb">no verb</error></OAI-PMH>'
    )
    with pytest.raises(OaiError) as caught:
        parse_response(xml, BASE)
    assert caught.value.code == "badArgument"
    assert caught.value.message == "from is not a date; badVerb: no verb"


# --- parse: not OAI-PMH ---


def test_html_page_is_not_oai():
    with pytest.raises(NotOai) as caught:
        parse(HTML)
    assert "an HTML page, not OAI-PMH XML" in str(caught.value)
    assert "httpbun.com/html?verb=Identify" in str(caught.value)


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        (b"", "an empty body"),
        (b"  \n", "an empty body"),
        (b'{"error": "rate limited"}', 'not XML (starts with \'{"error"'),
        (b"<html><body>Maintenance</body></html>", "an HTML page"),
        (
            b'<?xml version="1.0"?>\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
            b'"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd"><html/>',
            "an HTML page",
        ),
        (
            b'<?xml version="1.0"?><rss version="2.0"><channel/></rss>',
            "XML whose root is <rss> in no namespace, not OAI-PMH XML",
        ),
        (
            b'<OAI-PMH xmlns="http://www.openarchives.org/OAI/1.1/OAI_Identify"/>',
            "in namespace http://www.openarchives.org/OAI/1.1/OAI_Identify",
        ),
        ("<OAI-PMH/>".encode("utf-16"), "UTF-16 or UTF-32"),
        (
            b'<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><responseDate>x</responseDate>'
            b"</OAI-PMH>",
            "neither a verb element nor an error",
        ),
    ],
)
def test_what_is_not_oai_is_named(payload, says):
    with pytest.raises(NotOai) as caught:
        parse_response(payload, BASE)
    assert says in str(caught.value)


def test_a_cut_body_is_refused_never_recovered():
    whole = body(PAGE1)
    cut = whole[: len(whole) // 2]

    with pytest.raises(NotOai, match="not well-formed XML"):
        parse_response(cut, BASE)


# --- parse: hostile XML ---

BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE OAI-PMH [
 <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
 <!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
]>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><responseDate>&e;</responseDate>
<request verb="Identify">x</request><Identify><repositoryName>&e;</repositoryName></Identify>
</OAI-PMH>"""


def _xxe(system_id: str, *, parameter: bool = False) -> bytes:
    if parameter:
        dtd = f'<!ENTITY % x SYSTEM "{system_id}"> %x;'
        use = "plain"
    else:
        dtd = f'<!ENTITY x SYSTEM "{system_id}">'
        use = "&x;"
    return (
        f'<?xml version="1.0"?><!DOCTYPE OAI-PMH [{dtd}]>'
        f'<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><responseDate>{use}'
        f'</responseDate><request verb="Identify">x</request><Identify>'
        f"<repositoryName>{use}</repositoryName></Identify></OAI-PMH>"
    ).encode()


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_text("TOP-SECRET-MARKER")
    return path


@pytest.fixture
def listener():
    """A TCP port on 127.0.0.1 that records whether anything connected to it."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(0.3)
    port = server.getsockname()[1]

    def connected() -> bool:
        try:
            connection, _ = server.accept()
        except TimeoutError:
            return False
        connection.close()
        return True

    yield f"http://127.0.0.1:{port}/evil", connected
    server.close()


def test_entity_bomb_is_refused_before_parsing():
    with pytest.raises(UnsafeXml, match=r"document type declaration \(<!DOCTYPE"):
        parse_response(BOMB, BASE)
    with pytest.raises(UnsafeXml):
        parse_identify(BOMB, BASE)


def test_external_file_entity_is_refused_and_never_read(secret_file):
    with pytest.raises(UnsafeXml) as caught:
        parse_response(_xxe(secret_file.as_uri()), BASE)
    assert "TOP-SECRET-MARKER" not in str(caught.value)


def test_external_network_entity_and_dtd_are_refused_without_connecting(listener):
    url, connected = listener
    external_dtd = (
        f'<?xml version="1.0"?><!DOCTYPE OAI-PMH SYSTEM "{url}.dtd">'
        '<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"/>'
    ).encode()
    for hostile in (_xxe(url), _xxe(url, parameter=True), external_dtd):
        with pytest.raises(UnsafeXml):
            parse_response(hostile, BASE)
    assert not connected()


def test_the_parser_itself_resolves_nothing_even_past_the_prolog_check(secret_file, listener):
    # The prolog check refuses DTDs before lxml runs; this checks the second wall on its own.
    url, connected = listener
    for hostile in (
        _xxe(secret_file.as_uri()),
        _xxe(secret_file.as_uri(), parameter=True),
        _xxe(url),
        _xxe(url, parameter=True),
    ):
        root = etree.fromstring(hostile, safe_parser())
        assert b"TOP-SECRET-MARKER" not in etree.tostring(root)
    try:
        root = etree.fromstring(BOMB, safe_parser())
    except etree.XMLSyntaxError as exc:  # libxml2 2.13+ refuses the amplification outright
        assert "amplification" in str(exc)
    else:
        assert len(etree.tostring(root)) < 2000  # entities kept as references, never expanded
    assert not connected()


def test_dtd_hidden_behind_comments_and_processing_instructions_is_refused():
    hidden = b'\xef\xbb\xbf<?xml version="1.0"?>\n<!-- a -->\n<?pi x?>' + BOMB.split(b"?>", 1)[1]
    with pytest.raises(UnsafeXml):
        parse_response(hidden, BASE)


def test_deep_nesting_is_refused_by_the_parser_limits():
    deep = (
        b'<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
        + b"<a>" * 5000
        + b"</a>" * 5000
        + b"</OAI-PMH>"
    )
    with pytest.raises(NotOai, match="Excessive depth"):
        parse_response(deep, BASE)


def test_body_over_the_size_cap_is_refused_unparsed():
    page = body(PAGE1)
    assert parse_response(page, BASE, max_bytes=len(page)).records  # at the cap: read
    with pytest.raises(UnsafeXml, match=rf"body of {len(page)} bytes, over the cap of 1000"):
        parse_response(page, BASE, max_bytes=1000)


# --- records: oai_dc and DataCite XML, field by field ---

RDMO_AUTHORS = [
    ("Jochen", "Klar"),
    ("Olaf", "Michaelis"),
    ("David", "Wallace"),
    ("Max", "Schröder"),
    ("Heinz-Alexander", "Fütterer"),
    ("Giacomo", "Lanza"),
    ("David", "Martínez Muñoz"),
    ("Dario", "Pilori"),
    ("Enke", "Harry"),
]


def test_get_record_oai_dc_field_by_field():
    (oai_record,) = parse(GET_DC).records
    assert (oai_record.identifier, oai_record.datestamp, oai_record.sets) == (
        "oai:zenodo.org:10357859",
        "2023-12-11T17:26:46Z",
        ("software", "user-rdmo"),
    )

    record = record_from_oai_dc(oai_record)

    assert record.source == "oai"
    assert record.doi == "10.5281/zenodo.10357859"
    assert record.repec_handle is None
    assert record.title == "Research Data Management Organiser (RDMO)"
    assert [(a.given, a.family, a.name) for a in record.authors] == [
        (given, family, None) for given, family in RDMO_AUTHORS
    ]
    assert record.issued == "2023-12-11"
    assert record.publisher == "Zenodo"
    assert record.type == "other"  # info:eu-repo/semantics/other
    assert record.license == "http://www.apache.org/licenses/LICENSE-2.0"
    assert record.relations == (
        Relation("relation", "doi", "10.5281/zenodo.596581"),
        Relation("relation", "url", "https://github.com/rdmorganiser/rdmo/tree/2.1.0"),
        Relation("relation", "url", "https://zenodo.org/communities/rdmo/"),
    )
    assert record.url is None  # the only other identifier is the OAI one
    assert (record.language, record.subjects) == (None, ())
    # The description is HTML escaped twice (&amp;lt;h2&amp;gt;): it comes out as text.
    assert record.abstract.startswith(
        "RDMO 2.1.0 (Dec 11, 2023)\n\nRefactor progress bar and overview\n\n"
    )
    assert "<" not in record.abstract and "&lt;" not in record.abstract
    assert "Add front-end tests using playwright" in record.abstract
    assert record.abstract.endswith("python manage.py upgrade")


def test_get_record_datacite_field_by_field():
    (oai_record,) = parse(GET_DATACITE).records

    record = record_from_datacite(oai_record)

    assert record.source == "oai"
    assert record.doi == "10.5281/zenodo.10357859"
    assert record.title == "Research Data Management Organiser (RDMO)"
    assert record.type == "software"
    assert record.publisher == "Zenodo"
    assert record.issued == "2023-12-11"
    assert record.resource_version == "2.1.0"
    assert record.license == "http://www.apache.org/licenses/LICENSE-2.0"
    assert [(a.given, a.family, a.orcid) for a in record.authors] == [
        ("Jochen", "Klar", "0000-0002-5883-4273"),
        ("Olaf", "Michaelis", "0000-0002-5282-703X"),
        ("David", "Wallace", "0000-0001-8958-4601"),
        ("Max", "Schröder", "0000-0003-1522-494X"),
        ("Heinz-Alexander", "Fütterer", "0000-0003-4397-027X"),
        ("Giacomo", "Lanza", "0000-0002-2239-3955"),
        ("David", "Martínez Muñoz", None),
        ("Dario", "Pilori", "0000-0003-4499-8573"),
        ("Enke", "Harry", "0000-0002-2366-8316"),
    ]
    assert record.relations == (
        Relation("is-part-of", "url", "https://zenodo.org/communities/rdmo/"),
        Relation("is-supplement-to", "url", "https://github.com/rdmorganiser/rdmo/tree/2.1.0"),
        Relation("is-version-of", "doi", "10.5281/zenodo.596581"),
    )
    # Only the description typed Abstract, not the "Other" one.
    assert record.abstract.startswith("RDMO 2.1.0 (Dec 11, 2023)\n\nRefactor progress bar")
    assert "please cite it as below" not in record.abstract
    assert record.subjects == ()


def test_oai_dc_and_datacite_of_one_record_agree():
    dc = to_record(parse(GET_DC).records[0])
    datacite = to_record(parse(GET_DATACITE).records[0])
    for field in ("doi", "title", "issued", "publisher", "license", "source"):
        assert getattr(dc, field) == getattr(datacite, field), field
    assert [(a.given, a.family) for a in dc.authors] == RDMO_AUTHORS
    assert [(a.given, a.family) for a in datacite.authors] == RDMO_AUTHORS
    assert dc.abstract.split("\n\n")[:5] == datacite.abstract.split("\n\n")[:5]


def test_source_name_can_be_given():
    assert to_record(parse(GET_DC).records[0], source="zenodo").source == "zenodo"
    assert to_record(parse(GET_DATACITE).records[0], source="zenodo").source == "zenodo"


def _dc_record(header_id: str, *elements: str) -> oaipmh.OaiRecord:
    xml = (
        '<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><responseDate>2026-01-01T00:00:00Z'
        '</responseDate><request verb="GetRecord" metadataPrefix="oai_dc">x</request><GetRecord>'
        f"<record><header><identifier>{header_id}</identifier><datestamp>2020-01-01</datestamp>"
        '</header><metadata><oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
        f'xmlns:dc="http://purl.org/dc/elements/1.1/">{"".join(elements)}</oai_dc:dc></metadata>'
        "</record></GetRecord></OAI-PMH>"
    )
    return parse_response(xml.encode(), BASE).records[0]


def test_oai_dc_variants_of_identifiers_dates_types_and_rights():
    record = to_record(
        _dc_record(
            "oai:RePEc:cup:endeec:v:16:y:2011:i:02:p:239-242_00",
            "<dc:title>A paper</dc:title>",
            "<dc:creator>Ayumu Tsubosaka</dc:creator>",
            "<dc:creator>Smith, John</dc:creator>",
            "<dc:creator>University of Somewhere, Department of Economics and Finance</dc:creator>",
            "<dc:identifier>https://repository.example.org/id/eprint/17</dc:identifier>",
            "<dc:identifier>Smith J (2011) A paper. Journal 16, doi: 10.1017/S1355770X1000042X"
            "</dc:identifier>",
            "<dc:date>info:eu-repo/date/embargoEnd/2030-01-01</dc:date>",
            "<dc:date>2011-04</dc:date>",
            "<dc:type>info:eu-repo/semantics/publishedVersion</dc:type>",
            "<dc:type>info:eu-repo/semantics/article</dc:type>",
            "<dc:rights>info:eu-repo/semantics/openAccess</dc:rights>",
            "<dc:rights>Creative Commons Attribution 4.0 International</dc:rights>",
            "<dc:relation>info:eu-repo/grantAgreement/EC/H2020/123</dc:relation>",
            "<dc:relation>doi:10.5555/Other</dc:relation>",
            "<dc:language>eng</dc:language>",
            "<dc:subject>C21</dc:subject><dc:subject>C21</dc:subject><dc:subject>Panel</dc:subject>",
            "<dc:description>Plain text with a &lt; sign.</dc:description>",
        ),
        source="repec",
    )
    assert record.source == "repec"
    assert record.repec_handle == "RePEc:cup:endeec:v:16:y:2011:i:02:p:239-242_00"
    assert record.doi == "10.1017/S1355770X1000042X"
    assert record.url == "https://repository.example.org/id/eprint/17"
    assert record.issued == "2011-04"
    assert record.type == "journal-article"
    assert record.license == "Creative Commons Attribution 4.0 International"
    assert record.relations == (
        Relation("relation", "doi", "10.5555/Other"),
        Relation("relation", "uri", "info:eu-repo/grantAgreement/EC/H2020/123"),
    )
    assert record.authors == (
        Author(name="Ayumu Tsubosaka"),
        Author(given="John", family="Smith"),
        Author(name="University of Somewhere, Department of Economics and Finance"),
    )
    assert (record.language, record.subjects) == ("eng", ("C21", "Panel"))
    assert record.abstract == "Plain text with a < sign."


def test_repec_handle_in_dc_identifier_and_no_doi():
    record = record_from_oai_dc(
        _dc_record(
            "oai:example.org:1",
            "<dc:identifier>RePEc:chf:rpseri:rp1234</dc:identifier>",
            "<dc:identifier>https://ideas.repec.org/p/chf/rpseri/rp1234.html</dc:identifier>",
        )
    )
    assert (record.repec_handle, record.doi) == ("RePEc:chf:rpseri:rp1234", None)
    assert record.title is None and record.authors == ()


DATACITE_3 = """<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">
<responseDate>2026-01-01T00:00:00Z</responseDate><request>x</request><GetRecord><record>
<header><identifier>oai:repo.example.org:9</identifier><datestamp>2021-05-06</datestamp></header>
<metadata><oai_datacite xmlns="http://schema.datacite.org/oai/oai-1.1/"><payload>
<resource xmlns="http://datacite.org/schema/kernel-3">
 <identifier identifierType="Handle">https://hdl.example.org/123/9</identifier>
 <creators>
  <creator><creatorName>Curie, Marie</creatorName>
   <nameIdentifier nameIdentifierScheme="ORCID" schemeURI="http://orcid.org/">0000-0002-1825-0097</nameIdentifier>
   <affiliation>Sorbonne</affiliation></creator>
  <creator><creatorName nameType="Personal">Doe, Jane</creatorName></creator>
  <creator><creatorName nameType="Organizational">Institute of Things, Lab A</creatorName></creator>
 </creators>
 <titles><title>Main</title><title titleType="Subtitle">Sub</title></titles>
 <publisher>Repo</publisher><publicationYear>2021</publicationYear>
 <resourceType resourceTypeGeneral="Dataset">Survey</resourceType>
 <subjects><subject subjectScheme="JEL">C21</subject></subjects>
 <rightsList><rights rightsURI="info:eu-repo/semantics/openAccess"/>
  <rights>All rights reserved</rights></rightsList>
 <descriptions><description descriptionType="Abstract">Line one.<br/>Line two.</description></descriptions>
 <relatedItems><relatedItem relationType="IsPublishedIn" relatedItemType="Journal">
  <relatedItemIdentifier relatedItemIdentifierType="ISSN">1234-5679</relatedItemIdentifier>
  <titles><title>Journal of Things</title></titles><volume>4</volume><issue>2</issue>
  <firstPage>10</firstPage><lastPage>20</lastPage></relatedItem></relatedItems>
</resource></payload></oai_datacite></metadata></record></GetRecord></OAI-PMH>"""


def test_datacite_in_oai_datacite_envelope_without_doi():
    (oai_record,) = parse_response(DATACITE_3.encode(), BASE).records

    record = to_record(oai_record)

    assert record.doi is None
    assert record.url == "https://hdl.example.org/123/9"
    assert (record.title, record.subtitle) == ("Main", "Sub")
    assert record.authors == (
        Author(
            given=None,
            family=None,
            name="Curie, Marie",
            orcid="0000-0002-1825-0097",
            affiliations=("Sorbonne",),
        ),
        Author(given="Jane", family="Doe"),
        Author(name="Institute of Things, Lab A"),
    )
    assert (record.type, record.issued, record.publisher) == ("dataset", "2021", "Repo")
    assert record.subjects == ("C21",)
    assert record.license == "All rights reserved"
    assert record.abstract == "Line one. Line two."
    assert (record.container_title, record.volume, record.issue, record.pages) == (
        "Journal of Things",
        "4",
        "2",
        "10-20",
    )
    assert record.issn == ("1234-5679",)


def test_a_format_without_a_parser_is_named():
    xml = body(GET_DC).replace(b"oai_dc/", b"marc/")
    (oai_record,) = parse_response(xml, BASE).records
    with pytest.raises(BadPayload, match="no parser for metadata format"):
        to_record(oai_record)


# --- fetch: the resumption chain ---


def test_resumption_chain_yields_every_record_once_with_the_recorded_tokens(client, chain, clock):
    pages = list(list_records(BASE, client))

    assert [r.identifier for p in pages for r in p.records] == CHAIN_IDS
    assert [p.resumption_token for p in pages] == [token_in(PAGE1), token_in(PAGE2), None]
    queries = chain.queries()
    assert queries == [
        {"verb": "ListRecords", "metadataPrefix": "oai_dc"},
        {"verb": "ListRecords", "resumptionToken": token_in(PAGE1)},
        {"verb": "ListRecords", "resumptionToken": token_in(PAGE2)},
    ]
    # ... which are exactly the requests Zenodo was sent when the pages were recorded.
    assert queries == [recorded_query(n) for n in (PAGE1, PAGE2, PAGE3)]
    assert all(r.metadata_prefix == "oai_dc" for p in pages for r in p.records)
    # Zenodo's Retry-After on every 200 is not a request to wait.
    assert not [s for s in clock.sleeps if s >= 1]
    assert "xml" in chain.rsps.calls[0].request.headers["Accept"]


def test_list_records_is_lazy(client, chain):
    pages = list_records(BASE, client)
    first = next(pages)
    assert len(first.records) == 3
    assert len(chain.rsps.calls) == 1
    pages.close()


def test_first_request_carries_set_from_and_until(client, oai):
    oai.add(SOFTWARE)
    oai.add(FULL_PAGE)
    oai.after("ListRecords", token_in(SOFTWARE), PAGE3)
    oai.after("ListRecords", token_in(FULL_PAGE), PAGE3)

    software = list(list_records(BASE, client, set="software"))
    window = list(list_records(BASE, client, from_="2026-04-01", until="2026-04-02"))

    assert [len(p.records) for p in software] == [50, 3]
    assert [len(p.records) for p in window] == [50, 3]
    queries = oai.queries()
    assert queries[0] == {"verb": "ListRecords", "metadataPrefix": "oai_dc", "set": "software"}
    assert queries[0] == recorded_query(SOFTWARE)
    assert queries[1] == {"verb": "ListRecords", "resumptionToken": token_in(SOFTWARE)}
    assert queries[2] == recorded_query(FULL_PAGE)
    assert queries[3] == {"verb": "ListRecords", "resumptionToken": token_in(FULL_PAGE)}


def test_list_identifiers_follows_its_token(client, oai):
    oai.add(IDENTIFIERS)
    oai.after("ListIdentifiers", token_in(IDENTIFIERS), PAGE3)  # any page without a token

    pages = list(list_identifiers(BASE, client))

    assert [len(p.records) for p in pages] == [3, 3]
    assert oai.queries() == [
        recorded_query(IDENTIFIERS),
        {"verb": "ListIdentifiers", "resumptionToken": token_in(IDENTIFIERS)},
    ]


# --- fetch: OAI errors served with HTTP 422 ---


def test_no_records_match_yields_nothing_and_ends_cleanly(client, oai):
    oai.add(NO_RECORDS)
    assert meta(NO_RECORDS)["response"]["status"] == 422

    pages = list(list_records(BASE, client, from_="2030-01-01"))

    assert pages == []
    assert oai.queries() == [recorded_query(NO_RECORDS)]


def test_bad_resumption_token_says_to_restart_from_the_harvest_start(client, oai):
    oai.add(PAGE1, {"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2023-10-01"})
    oai.add(BAD_TOKEN, {"verb": "ListRecords", "resumptionToken": token_in(PAGE1)})

    pages = list_records(BASE, client, from_="2023-10-01")
    assert len(next(pages).records) == 3
    with pytest.raises(BadResumptionToken) as caught:
        next(pages)

    exc = caught.value
    assert (exc.code, exc.status, exc.restart_from, exc.restart_known) == (
        "badResumptionToken",
        422,
        "2023-10-01",
        True,
    )
    assert "restart the harvest from 2023-10-01" in str(exc)


def test_bad_argument_with_422_is_the_oai_error_not_a_client_error(client, oai):
    oai.add(BAD_ARGUMENT)

    with pytest.raises(OaiError) as caught:
        list(list_records(BASE, client, metadata_prefix="XXX"))

    assert not isinstance(caught.value, ClientError)
    assert (caught.value.code, caught.value.status) == ("badArgument", 422)
    assert "metadataPrefix does not exist" in str(caught.value)
    assert len(oai.rsps.calls) == 1  # a 422 is an answer: never retried


def test_get_record_of_an_unknown_identifier(client, oai):
    oai.add(NO_ID)
    with pytest.raises(IdDoesNotExist) as caught:
        get_record(BASE, client, "oai:zenodo.org:XXX")
    assert isinstance(caught.value, NotFound)
    assert caught.value.status == 422


def test_get_record_answered_with_another_record_is_a_bad_answer(client, oai):
    # Zenodo's recorded record of 10357859, served as the answer about another identifier: a
    # record of the wrong identity is refused, never taken for the one asked (issue 18).
    asked = "oai:zenodo.org:10357860"
    oai.add(GET_DC, {**recorded_query(GET_DC), "identifier": asked})
    with pytest.raises(BadPayload, match=r"answered with the record of oai:zenodo\.org:10357859"):
        get_record(BASE, client, asked)


def test_get_record_both_formats(client, oai):
    oai.add(GET_DC)
    oai.add(GET_DATACITE)

    dc = get_record(BASE, client, "oai:zenodo.org:10357859")
    datacite = get_record(BASE, client, "oai:zenodo.org:10357859", metadata_prefix="datacite")

    assert to_record(dc).title == to_record(datacite).title
    assert oai.queries() == [recorded_query(GET_DC), recorded_query(GET_DATACITE)]


# --- fetch: not OAI, retries, caps ---


def test_html_page_where_xml_was_expected(client, oai):
    oai.add(HTML, {"verb": "Identify"})

    with pytest.raises(NotOai) as caught:
        identify(BASE, client)

    assert "an HTML page, not OAI-PMH XML" in str(caught.value)
    assert caught.value.status == 200
    assert len(oai.rsps.calls) == 1


def test_html_error_page_with_a_4xx_is_a_client_error_saying_so(client, oai):
    oai.queue.append((403, {"Content-Type": "text/html"}, body(HTML)))

    with pytest.raises(ClientError) as caught:
        identify(BASE, client)

    assert caught.value.status == 403
    assert "an HTML page, not OAI-PMH XML (HTTP 403)" in str(caught.value)


def test_404_html_is_not_found(client, oai):
    oai.queue.append((404, {"Content-Type": "text/html"}, b"<html>gone</html>"))
    with pytest.raises(NotFound):
        identify(BASE, client)


def test_503_with_retry_after_is_waited_out(client, oai, clock):
    oai.add(ZENODO_IDENTIFY)
    oai.queue.append((503, {"Retry-After": "7", "Content-Type": "text/html"}, b"<html>busy</html>"))

    info = identify(BASE, client)

    assert info.repository_name == "Zenodo"
    assert len(oai.rsps.calls) == 2
    assert 7.0 in clock.sleeps
    assert sum(clock.sleeps) < 7.5


def test_retry_after_over_the_cap_is_capped(client, oai, clock):
    oai.add(ZENODO_IDENTIFY)
    oai.queue.append((503, {"Retry-After": "86400"}, b""))

    identify(BASE, client)

    assert max(clock.sleeps) == TEST_HTTP.retry_after_cap


def test_503_forever_gives_up_after_max_attempts(client, oai, clock):
    for _ in range(TEST_HTTP.max_attempts):
        oai.queue.append((503, {"Retry-After": "2"}, b""))

    with pytest.raises(TransientError, match="gave up after 3 attempts: HTTP 503"):
        identify(BASE, client)

    assert len(oai.rsps.calls) == TEST_HTTP.max_attempts
    assert clock.sleeps.count(2.0) == TEST_HTTP.max_attempts - 1


def test_connection_reset_is_retried(client, oai):
    oai.add(ZENODO_IDENTIFY)
    oai.queue.append(requests.ConnectionError("Connection reset by peer"))

    assert identify(BASE, client).repository_name == "Zenodo"
    assert len(oai.rsps.calls) == 2


def test_hostile_body_is_refused_and_not_asked_again(client, oai, listener):
    url, connected = listener
    oai.queue.append((200, {"Content-Type": "text/xml"}, BOMB))
    oai.queue.append((200, {"Content-Type": "text/xml"}, _xxe(url)))

    with pytest.raises(UnsafeXml):
        identify(BASE, client)
    with pytest.raises(UnsafeXml):
        list(list_records(BASE, client))

    assert len(oai.rsps.calls) == 2
    assert not connected()


def test_body_over_the_cap_is_refused_by_the_client(client, oai):
    oai.add(PAGE1)

    with pytest.raises(UnsafeXml, match="over the cap of 4096 bytes") as caught:
        list(list_records(BASE, client, max_bytes=4096))
    assert not isinstance(caught.value, BodyTooLarge)  # said in OAI's own terms
    assert (caught.value.source, caught.value.status) == ("oai", 200)
    assert "127.0.0.1" in caught.value.url
    assert len(oai.rsps.calls) == 1


def test_body_without_content_length_is_cut_off_while_reading(client, oai):
    # How far such a body is read is tested in test_http; here: it is OAI's UnsafeXml too.
    oai.queue.append((200, {"Content-Type": "text/xml"}, body(FULL_PAGE)))

    with pytest.raises(UnsafeXml, match="over the cap of 4096"):
        identify(BASE, client, max_bytes=4096)
    assert "Content-Length" not in oai.rsps.calls[0].response.headers
    assert len(oai.rsps.calls) == 1


def test_a_larger_cap_is_kept_by_the_parser_too(client, oai):
    oai.add(ZENODO_IDENTIFY)
    size = len(body(ZENODO_IDENTIFY))

    assert identify(BASE, client, max_bytes=size).repository_name == "Zenodo"
    with pytest.raises(UnsafeXml):
        identify(BASE, client, max_bytes=size - 1)


def test_a_token_given_twice_is_a_loop_not_an_endless_harvest(client, oai):
    oai.add(PAGE1)
    oai.after("ListRecords", token_in(PAGE1), PAGE1)

    with pytest.raises(BadPayload, match="twice"):
        list(list_records(BASE, client))
    assert len(oai.rsps.calls) == 2


def test_a_pool_without_limiter_is_a_programming_error(client):
    with pytest.raises(KeyError, match="no rate limiter for pool 'zenodo'"):
        identify(BASE, client, pool="zenodo")


# --- incremental harvest: the listing as feed pages (the driver's watermark: test_oai_harvest) ---


def test_a_complete_listing_carries_the_first_response_date_as_the_watermark(client, chain):
    pages = list(listing_pages(BASE, client))

    # page 1's responseDate: the harvest's start, whatever the later pages say
    assert [p.watermark for p in pages] == ["2026-08-13T17:56:48Z"] * 3
    assert [len(p.answers) for p in pages] == [3, 3, 3]
    assert [a.identifier for p in pages for a in p.answers] == CHAIN_IDS
    assert sum(a.status == "not_found" for p in pages for a in p.answers) == 1  # deleted
    assert all(p.resume is None and p.scheme == "oai" for p in pages)


def test_a_bad_token_asks_again_from_the_same_from_then_gives_up(client, oai):
    oai.add(PAGE1, {"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2023-10-01"})
    oai.add(BAD_TOKEN, {"verb": "ListRecords", "resumptionToken": token_in(PAGE1)})
    seen = []

    with pytest.raises(BadResumptionToken) as caught:
        seen.extend(listing_pages(BASE, client, since="2023-10-01"))

    assert caught.value.restart_from == "2023-10-01"
    # Page 1 once per try: the first and MAX_RESTARTS more, all from the same from.
    assert len(seen) == 1 + oaipmh.MAX_RESTARTS
    assert [q.get("from") for q in oai.queries() if "from" in q] == ["2023-10-01"] * 3


def test_the_listing_stops_when_storing_a_page_fails(client, chain):
    def store(pages):
        for number, _page in enumerate(pages):
            if number == 1:
                raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        store(listing_pages(BASE, client))
    assert len(chain.rsps.calls) == 2  # lazy: the third page was never asked for


def test_nothing_new_is_no_page(client, oai):
    oai.add(NO_RECORDS)

    assert list(listing_pages(BASE, client, since="2030-01-01")) == []
    assert oai.queries()[0]["from"] == "2030-01-01"


def test_day_granularity_trims_from_and_the_watermark(client, oai):
    oai.add(PAGE1, {"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2023-10-01"})
    oai.after("ListRecords", token_in(PAGE1), PAGE3)

    pages = list(
        listing_pages(BASE, client, since="2023-10-01T05:06:07Z", granularity="YYYY-MM-DD")
    )

    assert [p.watermark for p in pages] == ["2026-08-13", "2026-08-13"]
    assert oai.queries()[0]["from"] == "2023-10-01"


def test_a_feed_asks_identify_for_the_granularity_first(client, oai):
    oai.add(ZENODO_IDENTIFY)
    oai.add(NO_RECORDS)
    feed = FeedConfig(kind="oai", endpoint=BASE)

    state = FeedState(since="2030-01-01")
    assert list(oaipmh.feed_pages(feed, Config(), client, state)) == []
    assert [q["verb"] for q in oai.queries()] == ["Identify", "ListRecords"]


@pytest.mark.parametrize(
    ("status", "error"), [(404, NotFound), (400, ClientError), (500, UpstreamError)]
)
def test_get_bytes_without_answer_statuses_raises_like_http_client(client, oai, status, error):
    oai.queue.append((status, {"Content-Type": "text/html"}, b"<html>no</html>"))

    with pytest.raises(error) as caught:
        client.get_bytes(BASE, pool="oai", source="oai", params={"verb": "Identify"})

    assert caught.value.status == status
    assert len(oai.rsps.calls) == 1


def test_get_bytes_hands_back_a_listed_4xx_body(client, oai):
    oai.add(BAD_ARGUMENT)

    response = client.get_bytes(
        BASE,
        pool="oai",
        source="oai",
        params=recorded_query(BAD_ARGUMENT),
        answer_statuses=frozenset({422}),
    )

    assert (response.status, response.content) == (422, body(BAD_ARGUMENT))
    assert response.headers["Retry-After"] == "60"
