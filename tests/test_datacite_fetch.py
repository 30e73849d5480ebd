"""DataCite fetching: `/dois/{doi}` one by one, not found, failures, path encoding, laziness.

HTTP is answered by `responses` with the recorded DataCite bodies from ../shared/fixtures; the
client's and the rate limiter's sleeps go to a fake clock, so no test ever really waits.
"""

from __future__ import annotations

import itertools
import re
from urllib.parse import unquote, urlsplit

import pytest
import responses
from conftest import fixture_path, load_json
from fakes import TEST_HTTP, FakeClock, fake_client

from harvester.http import HttpClient
from harvester.identifiers import Doi, ascii_key, parse_doi, quote_doi
from harvester.sources.datacite import SOURCE, fetch_record, fetch_records
from harvester.sources.datacite import parse as parse_doi_record

BASE = "http://127.0.0.1:8080/datacite"
PREFIX = "/datacite"
NOT_FOUND = "errors/datacite_404_10.4124_05f6c379-dd68-4cdb-880d-33d3e9576d52_1.json"
NOT_FOUND_DOI = "10.4124/05f6c379-dd68-4cdb-880d-33d3e9576d52/1"
HTML_503 = (
    "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    "<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)

DRYAD = "10.5061_dryad.8515"
ARXIV = "10.48550_arxiv.2311.16162"
UUID = "10.4121_uuid_3926db30-f712-4394-aebc-75976070e91f"
TERRA = "10.5067_terra+aqua_ceres_cldtyphist_l3.004"


class FakeDataCite:
    """`/dois/{doi}` under BASE: recorded bodies by DOI key, else the recorded 404 errors body."""

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.rsps = rsps
        self.bodies: dict[str, bytes] = {}
        self.always: tuple[int, dict[str, str], str | bytes] | None = None
        rsps.add_callback(
            responses.GET, re.compile(re.escape(BASE) + "/dois/"), callback=self._answer
        )

    def add(self, name: str) -> str:
        """Serve datacite/{name}.json as recorded; returns the DOI as DataCite spells it."""
        body = fixture_path(f"datacite/{name}.json").read_bytes()
        doi = load_json(f"datacite/{name}.json")["data"]["attributes"]["doi"]
        self.bodies[ascii_key(doi)] = body
        return doi

    def _answer(self, request):
        if self.always:
            return self.always
        path = urlsplit(request.url).path
        key = ascii_key(unquote(path.removeprefix(f"{PREFIX}/dois/")))
        json_type = {"Content-Type": "application/json; charset=utf-8"}
        if key in self.bodies:
            return 200, json_type, self.bodies[key]
        return 404, json_type, fixture_path(NOT_FOUND).read_bytes()

    def paths(self) -> list[str]:
        return [urlsplit(c.request.url).path for c in self.rsps.calls]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(clock: FakeClock) -> HttpClient:
    return fake_client(clock=clock)


@pytest.fixture
def datacite():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeDataCite(rsps)


@pytest.mark.parametrize(
    ("name", "asked", "title"),
    [
        (DRYAD, "10.5061/dryad.8515", "Data from: A new malaria agent in African hominids."),
        (
            ARXIV,
            "10.48550/arXiv.2311.16162",
            "Leveraging Artificial Intelligence Technology for Mapping Research to Sustainable "
            "Development Goals: A Case Study",
        ),
    ],
)
def test_recorded_record_is_fetched_whole(client, datacite, name, asked, title):
    datacite.add(name)
    doi = parse_doi(asked)

    result = fetch_record(doi, client, BASE)

    assert (result.source, result.status, result.error) == (SOURCE, "ok", None)
    assert result.identifier == doi.key == ascii_key(asked)
    assert result.resolved == doi.key
    assert result.payload == load_json(f"datacite/{name}.json")
    assert parse_doi_record(result.payload).title == title
    assert datacite.paths() == [f"{PREFIX}/dois/{asked}"]


def test_recorded_404_is_not_found(client, datacite):
    result = fetch_record(parse_doi(NOT_FOUND_DOI), client, BASE)

    assert (result.identifier, result.status, result.payload, result.error) == (
        NOT_FOUND_DOI,
        "not_found",
        None,
        None,
    )
    (call,) = datacite.rsps.calls
    assert call.response.status_code == 404
    assert urlsplit(call.request.url).path == f"{PREFIX}/dois/{NOT_FOUND_DOI}"


def test_errors_body_with_status_404_on_200_is_a_failed_answer_not_a_not_found(client, datacite):
    # A 200 is not DataCite's "not found" (that is a 404): an errors body with it is an answer
    # of the wrong shape, failed and asked again next run, never a not-found that would stand
    # for the record for `recheck_not_found_days` (issue 18).
    datacite.always = (
        200,
        {"Content-Type": "application/json"},
        fixture_path(NOT_FOUND).read_bytes(),
    )
    result = fetch_record(parse_doi("10.5061/dryad.8515"), client, BASE)
    assert (result.status, result.error_kind) == ("failed", "bad_answer")
    assert "errors body" in result.error


def test_503_forever_fails_after_max_attempts(client, datacite, clock):
    datacite.add(DRYAD)
    datacite.always = (503, {"Content-Type": "text/html"}, HTML_503)

    result = fetch_record(parse_doi("10.5061/dryad.8515"), client, BASE)

    assert result.status == "failed"
    assert "503" in result.error
    assert result.payload is None
    assert len(datacite.rsps.calls) == TEST_HTTP.max_attempts
    assert len([s for s in clock.sleeps if s >= 0.01]) <= TEST_HTTP.max_attempts - 1


def test_wrong_shape_is_failed_not_raised(client, datacite):
    datacite.always = (200, {"Content-Type": "application/json"}, b'{"data": []}')
    result = fetch_record(parse_doi("10.5061/dryad.8515"), client, BASE)
    assert result.status == "failed"
    assert "DataCite" in result.error


@pytest.mark.parametrize(("name", "encoded"), [(UUID, None), (TERRA, "%2B")])
def test_special_characters_are_encoded_in_the_path(client, datacite, name, encoded):
    value = datacite.add(name)
    doi = parse_doi(value)

    result = fetch_record(doi, client, BASE)

    assert (result.status, result.resolved) == ("ok", doi.key)
    (path,) = datacite.paths()
    assert path == f"{PREFIX}/dois/{quote_doi(value)}"
    assert unquote(path.removeprefix(f"{PREFIX}/dois/")) == value
    if encoded:
        assert encoded in path
        assert "+" not in path
    else:
        # quote_doi keeps ":" literal in paths, as real clients do (see identifiers._PATH_SAFE).
        assert ":" in path


def test_fetch_records_keeps_input_order(client, datacite):
    dryad, arxiv = parse_doi(datacite.add(DRYAD)), parse_doi(datacite.add(ARXIV))
    missing = parse_doi(NOT_FOUND_DOI)

    results = list(fetch_records([arxiv, missing, dryad], client, BASE))

    assert [(f.identifier, f.status) for f in results] == [
        (arxiv.key, "ok"),
        (missing.key, "not_found"),
        (dryad.key, "ok"),
    ]
    assert datacite.paths() == [
        f"{PREFIX}/dois/{arxiv.value}",
        f"{PREFIX}/dois/{missing.value}",
        f"{PREFIX}/dois/{dryad.value}",
    ]


def test_fetch_records_is_lazy(client, datacite):
    endless = (parse_doi(f"10.5555/endless-{i}") for i in itertools.count())
    gen = fetch_records(endless, client, BASE)
    first = next(gen)
    gen.close()
    assert (first.identifier, first.status) == ("10.5555/endless-0", "not_found")
    assert len(datacite.rsps.calls) == 1


def test_base_url_with_trailing_slash(client, datacite):
    datacite.add(DRYAD)
    result = fetch_record(Doi("10.5061/dryad.8515"), client, BASE + "/")
    assert result.status == "ok"
    assert datacite.paths() == [f"{PREFIX}/dois/10.5061/dryad.8515"]
