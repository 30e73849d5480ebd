"""doi.org content negotiation: CSL-JSON parsing, and fetching through doi.org's redirect.

HTTP is answered by `responses` with the recorded doi.org and CSL bodies from ../shared/fixtures;
the client's and the rate limiter's sleeps go to a fake clock, so no test ever really waits.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import pytest
import responses
from conftest import fixture_path, load_json, load_meta
from fakes import MEDRA_CSL, fake_client

from harvester.errors import BadPayload
from harvester.http import HttpClient
from harvester.identifiers import parse_doi
from harvester.models import Author
from harvester.sources.doiorg import CSL_JSON, SOURCE, fetch_csl
from harvester.sources.doiorg import parse as parse_csl

BASE = "http://127.0.0.1:8080/doi"
#: The registration agency's host, as doi.org's recorded 302 names it: a redirect is followed
#: only to the agencies' content-negotiation hosts (doiorg.CSL_HOSTS).
AGENCY = "https://api.crossref.org"
SCIENCE = "10.1126/science.169.3946.635"
HABANERO = "csl/10.1126_science.169.3946.635_habanero.json"
RCROSSREF = "csl/10.1126_science.169.3946.635_rcrossref.json"
REDIRECT = "csl/doiorg-302_10.1126_science.169.3946.635.html"
NOT_FOUND = "errors/doiorg_404_10.1126_foo.html"
BAD_REQUEST = "errors/doiorg_400_foo.html"


@pytest.fixture
def client() -> HttpClient:
    return fake_client()


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def recorded_response(relative: str) -> tuple[int, str, bytes]:
    """Status, content type and body of a recorded response (without its transfer encoding)."""
    meta = load_meta(relative)
    headers = {k.lower(): v for k, v in meta["response"]["headers"].items()}
    content_type = headers["content-type"]
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    return meta["response"]["status"], content_type, fixture_path(relative).read_bytes()


def agency_location() -> str:
    """The recorded Location of doi.org's 302, moved onto the mocked agency host."""
    (location,) = load_meta(REDIRECT)["response"]["headers"]["location"]
    parts = urlsplit(location)
    agency = urlsplit(AGENCY)
    return urlunsplit((agency.scheme, agency.netloc, parts.path, parts.query, ""))


# --- parse_csl ---


def test_science_article_parses_field_by_field():
    record = parse_csl(load_json(HABANERO))

    assert record.source == SOURCE == "doi.org"
    assert record.doi == SCIENCE
    assert record.type == "journal-article"
    assert record.title == "The Structure of Ordinary Water"
    assert record.subtitle == (
        "New data and interpretations are yielding new insights into this fascinating substance."
    )
    assert record.container_title == "Science"
    assert record.issn == ("0036-8075", "1095-9203")
    assert (record.volume, record.issue, record.pages) == ("169", "3946", "635-641")
    assert record.issued == "1970-08-14"
    assert record.published_print == "1970-08-14"
    assert record.published_online is None
    assert record.publisher == "American Association for the Advancement of Science (AAAS)"
    assert record.authors == (
        Author(
            given="Henry S.",
            family="Frank",
            affiliations=(
                "University of Pittsburgh, Mellon Institute of Carnegie-Mellon University",
            ),
        ),
    )
    assert record.abstract.startswith("The train of thought pursued in this article")
    assert "<" not in record.abstract
    assert record.language == "en"
    # the landing page (resource.primary.URL), not URL, which is the doi.org link
    assert record.url == "https://www.science.org/doi/10.1126/science.169.3946.635"
    assert record.reference_count == 76
    assert record.cited_by_count == 92


def test_both_recorded_csl_bodies_parse_to_the_same_work():
    habanero = parse_csl(load_json(HABANERO))
    rcrossref = parse_csl(load_json(RCROSSREF))
    assert rcrossref.doi == habanero.doi
    assert (rcrossref.title, rcrossref.container_title) == (
        habanero.title,
        habanero.container_title,
    )
    assert (rcrossref.volume, rcrossref.issue, rcrossref.pages) == ("169", "3946", "635-641")
    assert rcrossref.issued == "1970-08-14"
    assert rcrossref.authors == habanero.authors
    assert rcrossref.cited_by_count == 86  # recorded in 2022, four citations earlier
    assert rcrossref.abstract is None  # this recording has no abstract


@pytest.mark.parametrize(
    ("csl_type", "expected"),
    [
        ("article-journal", "journal-article"),
        ("paper-conference", "proceedings-article"),
        ("chapter", "book-chapter"),
        ("book", "book"),
        ("dataset", "dataset"),
        ("report", "report"),
        ("thesis", "dissertation"),
        ("posted-content", "posted-content"),
        ("article", "posted-content"),
        ("journal-article", "journal-article"),  # Crossref's CSL: its own names pass through
        ("software", "software"),  # anything else is kept
        (42, None),
    ],
)
def test_csl_types_are_mapped(csl_type, expected):
    assert parse_csl({"DOI": "10.1/x", "type": csl_type}).type == expected


def test_plain_csl_shapes():
    item = {
        "DOI": " 10.1/X ",
        "title": ["", "<i>First</i> title"],
        "container-title": ["Journal of Things"],
        "ISSN": "2050-084x",
        "volume": 7,
        "issued": {"raw": "2019-03?"},
        "published-print": {"literal": "1887 or 1888"},
        "published-online": {"date-parts": [[2020, 2]]},
        "author": [
            {"literal": "The Consortium"},
            {"given": "Ann", "family": "Lee", "ORCID": "https://orcid.org/0000-0002-1825-009x"},
            {"sequence": "first"},  # no name at all: skipped
            "not an object",
        ],
        "license": [{"content-version": "am"}, {"URL": " https://example.org/lic "}],
    }
    record = parse_csl(item)
    assert record.doi == "10.1/X"
    assert record.title == "First title"
    assert record.container_title == "Journal of Things"
    assert record.issn == ("2050-084X",)  # checked, in printed form
    assert parse_csl({"DOI": "10.1/x", "ISSN": "1234-5678"}).issn == ()  # wrong check digit
    assert record.volume == "7"
    assert (record.issued, record.published_print, record.published_online) == (
        "2019",
        "1887",
        "2020-02",
    )
    assert record.authors == (
        Author(name="The Consortium"),
        Author(given="Ann", family="Lee", orcid="0000-0002-1825-009X"),
    )
    assert record.license == "https://example.org/lic"
    assert parse_csl({"DOI": "10.1/x", "license": "https://cc.org/by"}).license == (
        "https://cc.org/by"
    )
    assert parse_csl({"DOI": "10.1/x", "issued": {"literal": "Spring 2019"}}).issued is None


def test_wrong_types_count_as_missing():
    item = {
        "DOI": "10.1/x",
        "title": {"nested": True},
        "container-title": 5,
        "ISSN": {"a": 1},
        "volume": True,
        "page": [1, 2],
        "issued": "1970",
        "published-print": {"date-parts": "1970"},
        "author": {"given": "Solo"},  # one object counts as a list of one
        "abstract": ["text"],
        "language": 1,
        "license": 3,
        "URL": None,
        "references-count": -1,
        "is-referenced-by-count": "12",
    }
    record = parse_csl(item)
    assert record.doi == "10.1/x"
    assert record.authors == (Author(given="Solo"),)
    for field in (
        "title",
        "container_title",
        "volume",
        "pages",
        "issued",
        "published_print",
        "abstract",
        "language",
        "license",
        "url",
        "reference_count",
        "cited_by_count",
    ):
        assert getattr(record, field) is None, field
    assert record.issn == ()


@pytest.mark.parametrize("item", [[], "10.1/x", None, {"title": "x"}, {"DOI": "  "}, {"DOI": 1}])
def test_non_object_or_no_doi_raises(item):
    with pytest.raises(BadPayload):
        parse_csl(item)


# --- fetch_csl ---


def test_redirect_to_the_agency_is_followed_with_the_csl_accept_header(client, rsps):
    location = agency_location()
    status, content_type, body = recorded_response(REDIRECT)
    assert status == 302
    rsps.add(
        responses.GET,
        f"{BASE}/{SCIENCE}",
        status=302,
        headers={"Location": location},
        body=body,
        content_type=content_type,
    )
    rsps.add(
        responses.GET,
        location,
        body=fixture_path(HABANERO).read_bytes(),
        content_type="application/json",
    )

    result = fetch_csl(parse_doi(SCIENCE), client, BASE)

    assert (result.source, result.identifier, result.status) == (SOURCE, SCIENCE, "ok")
    assert result.resolved == SCIENCE
    assert result.payload == load_json(HABANERO)
    assert parse_csl(result.payload).title == "The Structure of Ordinary Water"
    first, second = rsps.calls
    assert urlsplit(first.request.url).path == f"/doi/{SCIENCE}"
    assert second.request.url == location
    assert first.request.headers["Accept"] == CSL_JSON
    assert second.request.headers["Accept"] == CSL_JSON


def test_doiorg_404_html_is_not_found(client, rsps):
    status, content_type, body = recorded_response(NOT_FOUND)
    rsps.add(
        responses.GET, f"{BASE}/10.1126/foo", status=status, body=body, content_type=content_type
    )

    result = fetch_csl(parse_doi("10.1126/foo"), client, BASE)

    assert (result.identifier, result.status) == ("10.1126/foo", "not_found")
    assert result.payload is None and result.error is None
    assert len(rsps.calls) == 1  # a 404 is never asked again


def test_doiorg_400_html_fails_with_the_status(client, rsps):
    status, content_type, body = recorded_response(BAD_REQUEST)
    assert status == 400
    # doi.org answers "Not a DOI" with 400; asked here for a DOI-shaped value under the base URL.
    rsps.add(responses.GET, f"{BASE}/10.1126/x", status=400, body=body, content_type=content_type)

    result = fetch_csl(parse_doi("10.1126/x"), client, BASE)

    assert result.status == "failed"
    assert "400" in result.error
    assert "<html" not in result.error.lower()
    assert result.payload is None
    assert len(rsps.calls) == 1


def test_landing_page_instead_of_csl_fails(client, rsps):
    _, content_type, body = recorded_response(NOT_FOUND)
    rsps.add(responses.GET, f"{BASE}/10.1126/y", status=200, body=body, content_type=content_type)

    result = fetch_csl(parse_doi("10.1126/y"), client, BASE)

    assert result.status == "failed"
    assert "expected JSON" in result.error


def test_csl_without_a_doi_fails(client, rsps):
    rsps.add(responses.GET, f"{BASE}/10.1126/z", json={"title": "no DOI here"})
    result = fetch_csl(parse_doi("10.1126/z"), client, BASE)
    assert result.status == "failed"
    assert "without a DOI" in result.error


def test_medra_doi_reads_through_doiorg(client, rsps):
    agency_url = "https://data.medra.org/10.1430/8105"
    rsps.add(responses.GET, f"{BASE}/10.1430/8105", status=302, headers={"Location": agency_url})
    rsps.add(responses.GET, agency_url, json=MEDRA_CSL)

    result = fetch_csl(parse_doi("10.1430/8105"), client, BASE + "/")

    assert (result.status, result.identifier, result.resolved) == (
        "ok",
        "10.1430/8105",
        "10.1430/8105",
    )
    record = parse_csl(result.payload)
    assert record.type == "journal-article"
    assert record.container_title == "Rivista di esempio"
    assert record.authors == (Author(given="Maria", family="Rossi"),)
    assert record.issued == "2003"
    assert [c.request.url for c in rsps.calls] == [f"{BASE}/10.1430/8105", agency_url]
    assert all(c.request.headers["Accept"] == CSL_JSON for c in rsps.calls)
