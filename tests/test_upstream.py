"""The local replay upstream (tests/upstream.py) answers as the real services did when recorded.

Checked through the harvester's own fetchers where there is one, and with plain requests where the
raw answer (status, headers, body bytes) is the point. Sleeps of the client go to a fake clock.
"""

from __future__ import annotations

import dataclasses
import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from conftest import load_json, load_meta
from fakes import MEDRA_CSL, TEST_HTTP, FakeClock, fake_client
from upstream import CrossrefReplay, ReplayUpstream, fixture_bytes, recorded_headers

from harvester.http import HttpClient
from harvester.identifiers import parse_doi
from harvester.sources import crossref, datacite, doiorg, openalex
from harvester.sources.routing import fetch_agency

#: A real server on 127.0.0.1, on cores other tests share: more time to answer than a mock needs.
HTTP = dataclasses.replace(TEST_HTTP, connect_timeout=2.0, read_timeout=5.0)
API_KEY = "replay-key-0123"

DRYAD = "10.5061_dryad.8515"
TERRA = "10.5067_terra+aqua_ceres_cldtyphist_l3.004"
UUID = "10.4121_uuid_3926db30-f712-4394-aebc-75976070e91f"
ELIFE = "10.7554_elife.01567"
FPLS = "10.3389_fpls.2019.00816"
SICI = "10.1890_0012-9658_2006_87_2832_tiopma_2.0.co_2"
SCIENCE = "10.1126/science.169.3946.635"
HABANERO = "10.1126_science.169.3946.635_habanero"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(clock: FakeClock) -> HttpClient:
    return fake_client(clock=clock, http=HTTP, seed=7)


@pytest.fixture
def upstream():
    with ReplayUpstream() as replay:
        yield replay


# --- one server, one port, a prefix per service ---


def test_every_service_has_its_prefix_on_one_port(upstream):
    port = upstream._server.server_address[1]
    assert upstream.url_for("crossref") == f"http://127.0.0.1:{port}/crossref" == upstream.url
    assert upstream.url_for("datacite") == f"http://127.0.0.1:{port}/datacite"
    assert upstream.url_for("openalex") == f"http://127.0.0.1:{port}/openalex"
    assert upstream.url_for("doi") == f"http://127.0.0.1:{port}/doi"
    with pytest.raises(KeyError, match="crossref"):
        upstream.url_for("pubmed")


def test_crossref_replay_is_the_same_upstream_under_its_older_name(client):
    assert CrossrefReplay is ReplayUpstream
    with CrossrefReplay(prefix="/cr") as replay:
        replay.add_recorded(ELIFE)
        assert replay.url == replay.url_for("crossref") and replay.url.endswith("/cr")
        result = crossref.fetch_single(parse_doi("10.7554/eLife.01567"), client, replay.url)
    assert result.status == "ok"
    assert result.payload == load_json(f"crossref/{ELIFE}.json")["message"]
    assert replay.requests == ["/cr/works/10.7554/eLife.01567"]


# --- DataCite ---


def test_datacite_record_is_the_recorded_one(client, upstream):
    (doi,) = upstream.add_datacite(DRYAD)
    recorded = load_json(f"datacite/{DRYAD}.json")

    result = datacite.fetch_record(parse_doi(doi), client, upstream.url_for("datacite"))

    assert (result.status, result.resolved) == ("ok", "10.5061/dryad.8515")
    assert result.payload == datacite.stored_payload(recorded)
    title = recorded["data"]["attributes"]["titles"][0]["title"]
    assert datacite.parse(result.payload).title == title
    assert upstream.requests == ["/datacite/dois/10.5061/dryad.8515"]


def test_datacite_answers_with_the_recorded_headers_but_not_the_recorded_gzip(upstream):
    upstream.add_datacite("10.4232_1.2745")  # recorded with Content-Encoding: gzip, stored decoded
    response = requests.get(f"{upstream.url_for('datacite')}/dois/10.4232/1.2745", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["Status"] == "200 OK"
    assert "Content-Encoding" not in response.headers
    assert response.content == fixture_bytes("datacite/10.4232_1.2745.json")


@pytest.mark.parametrize("name", [TERRA, UUID, "10.26102_2310-6018_2019.24.1.006"])
def test_datacite_dois_with_plus_colon_or_several_slashes_round_trip(client, upstream, name):
    (doi,) = upstream.add_datacite(name)
    result = datacite.fetch_record(parse_doi(doi.upper()), client, upstream.url_for("datacite"))
    assert (result.status, result.resolved) == ("ok", doi)


def test_datacite_unknown_doi_is_the_recorded_404(client, upstream):
    upstream.add_datacite(DRYAD)
    unknown = parse_doi("10.5061/dryad.nothing")

    assert datacite.fetch_record(unknown, client, upstream.url_for("datacite")).status == (
        "not_found"
    )
    raw = requests.get(f"{upstream.url_for('datacite')}/dois/10.5061/dryad.nothing", timeout=5)
    not_found = "errors/datacite_404_10.4124_05f6c379-dd68-4cdb-880d-33d3e9576d52_1.json"
    assert (raw.status_code, raw.content) == (404, fixture_bytes(not_found))
    assert raw.headers["Content-Type"] == "application/json; charset=utf-8"


# --- OpenAlex ---


def fetched(client, upstream, dois, api_key=API_KEY):
    batches = openalex.fetch_works(
        [parse_doi(d) for d in dois], client, upstream.url_for("openalex"), api_key
    )
    return [f for batch in batches for f in batch]


def test_openalex_batch_of_two_answers_both_in_one_list_request(client, upstream):
    elife, fpls = upstream.add_openalex(ELIFE, FPLS)

    results = fetched(client, upstream, ["10.7554/ELIFE.01567", fpls])

    assert [(r.status, r.resolved) for r in results] == [("ok", elife), ("ok", fpls)]
    assert results[0].payload == load_json(f"openalex/{ELIFE}.json")
    assert openalex.parse(results[1].payload).title == load_json(f"openalex/{FPLS}.json")["title"]
    (asked,) = upstream.requests
    query = parse_qs(urlsplit(asked).query)
    assert urlsplit(asked).path == "/openalex/works"
    assert query["filter"] == ["doi:10.7554/ELIFE.01567|10.3389/fpls.2019.00816"]
    assert query["per_page"] == ["2"]
    assert upstream.api_keys == [API_KEY]


def test_openalex_list_envelope_is_shaped_like_the_recorded_one(upstream):
    (elife,) = upstream.add_openalex(ELIFE)
    url = f"{upstream.url_for('openalex')}/works?filter=doi:https://doi.org/{elife}|10.1/none&per_page=5"

    response = requests.get(url, timeout=5)

    envelope = load_json("openalex/list_works_sample-5.json")
    body = response.json()
    assert set(body) == set(envelope) and set(body["meta"]) == set(envelope["meta"])
    assert body["meta"]["count"] == 1 and body["meta"]["per_page"] == 5
    assert [w["doi"] for w in body["results"]] == ["https://doi.org/10.7554/elife.01567"]
    assert openalex.parse_work_list(body).total == 1
    assert response.headers["X-RateLimit-Cost-USD"] == "0.0001"


def test_openalex_sici_doi_is_found_in_a_batch(client, upstream):
    sici, elife = upstream.add_openalex(SICI, ELIFE)
    results = fetched(client, upstream, [sici, elife])
    assert [r.status for r in results] == ["ok", "ok"]
    assert upstream.count("/openalex/works?") == 1


def test_openalex_without_a_key_asks_in_a_list_and_unknown_is_not_found(client, upstream):
    (elife,) = upstream.add_openalex(ELIFE)

    results = fetched(client, upstream, [elife, "10.1/not-in-openalex"], api_key="")

    assert [r.status for r in results] == ["ok", "not_found"]
    assert results[0].payload == load_json(f"openalex/{ELIFE}.json")
    assert upstream.count("/openalex/works?") == 1
    assert upstream.count("/openalex/works/doi:") == 0
    assert upstream.api_keys == [None]


def test_openalex_single_answers_with_recorded_headers(upstream):
    upstream.add_openalex(ELIFE)
    response = requests.get(
        f"{upstream.url_for('openalex')}/works/doi:10.7554/elife.01567", timeout=5
    )
    assert response.content == fixture_bytes(f"openalex/{ELIFE}.json")
    assert response.headers["X-RateLimit-Remaining"] == "999"


def test_openalex_refuses_a_list_with_the_wrong_key_and_singles_still_answer(client, upstream):
    elife, fpls = upstream.add_openalex(ELIFE, FPLS)
    upstream.require_openalex_key(API_KEY)

    results = fetched(client, upstream, [elife, fpls], api_key="not-the-key")

    assert [r.status for r in results] == ["ok", "ok"]  # the harvester fell back to singles
    assert upstream.count("/openalex/works?") == 1
    assert upstream.count("/openalex/works/doi:") == 2
    assert fetched(client, upstream, [elife, fpls])[0].status == "ok"
    assert upstream.count("/openalex/works?") == 2


def test_openalex_spent_allowance_is_a_429_and_the_harvester_stops_asking(client, upstream):
    dois = upstream.add_openalex(ELIFE, FPLS)
    upstream.limit_openalex(0)

    results = fetched(client, upstream, dois)

    assert [r.status for r in results] == ["failed", "failed"]
    assert all(r.error == openalex.NOT_ASKED for r in results)
    assert upstream.count("/openalex/") == HTTP.max_attempts  # the client's retries, no more
    raw = requests.get(f"{upstream.url_for('openalex')}/works/doi:{dois[0]}", timeout=5)
    assert raw.status_code == 429


def test_openalex_allowance_lets_some_requests_through(client, upstream):
    dois = upstream.add_openalex(ELIFE, FPLS)
    upstream.limit_openalex(1)
    assert [r.status for r in fetched(client, upstream, dois, api_key="")] == ["ok", "ok"]
    (after,) = fetched(client, upstream, dois[:1], api_key="")
    assert (after.status, after.error) == ("failed", openalex.NOT_ASKED)


# --- doi.org: registration agency ---


def ra(upstream, asked: str):
    return requests.get(f"{upstream.url_for('doi')}/ra/{asked}", timeout=5)


@pytest.mark.usefixtures("fixtures_dir")  # reads the shared corpus as a whole
def test_ra_answers_as_recorded_for_the_recorded_prefixes(client, upstream):
    for prefix, agency in (("10.5061", "datacite"), ("10.7554", "crossref")):
        assert fetch_agency(prefix, client, upstream.url_for("doi")) == agency
        response = ra(upstream, prefix)
        assert response.json() == load_json(f"csl/doiorg-ra_{prefix}.json")
        assert (
            response.headers["Content-Type"]
            == recorded_headers(f"csl/doiorg-ra_{prefix}.json")["Content-Type"]
        )


@pytest.mark.usefixtures("fixtures_dir")  # reads the shared corpus as a whole
def test_ra_agency_comes_from_the_corpus_a_prefix_is_in(client, upstream):
    base = upstream.url_for("doi")
    assert fetch_agency("10.48550", client, base) == "datacite"  # datacite/ only
    assert fetch_agency("10.1016", client, base) == "crossref"  # crossref/ only
    assert fetch_agency("10.1430", client, base) == "medra"  # crossref/agency_10.1430_8105
    assert fetch_agency("10.5061/dryad.8515", client, base) == "datacite"  # a whole DOI
    upstream.add_synthetic(1)
    assert fetch_agency("10.5555", client, base) == "crossref"  # served here as Crossref


@pytest.mark.usefixtures("fixtures_dir")  # reads the shared corpus as a whole
def test_ra_override_and_unknown_prefix(client, upstream):
    base = upstream.url_for("doi")
    upstream.set_agency("10.5061", "mEDRA")
    assert fetch_agency("10.5061", client, base) == "medra"
    assert fetch_agency("10.99999", client, base) is None
    assert ra(upstream, "10.99999").json() == [{"DOI": "10.99999", "status": "DOI does not exist"}]
    assert ra(upstream, "10.7554,10.99999").json() == [
        {"DOI": "10.7554", "RA": "Crossref"},
        {"DOI": "10.99999", "status": "DOI does not exist"},
    ]


# --- doi.org: content negotiation ---


def test_csl_is_read_through_doiorgs_302_to_the_agency(client, upstream):
    upstream.add_csl(SCIENCE, HABANERO)

    result = doiorg.fetch_csl(parse_doi(SCIENCE), client, upstream.url_for("doi"))

    assert (result.status, result.resolved) == ("ok", SCIENCE)
    assert result.payload == load_json(f"csl/{HABANERO}.json")
    assert doiorg.parse(result.payload).title == "The Structure of Ordinary Water"
    assert upstream.requests == [
        f"/doi/{SCIENCE}",
        "/agency-csl/crossref/10.1126%2Fscience.169.3946.635",
    ]


def test_doiorg_redirect_is_the_recorded_302_pointed_here(upstream):
    upstream.add_csl(SCIENCE, HABANERO)
    response = requests.get(
        f"{upstream.url_for('doi')}/{SCIENCE}",
        headers={"Accept": doiorg.CSL_JSON},
        allow_redirects=False,
        timeout=5,
    )
    meta = load_meta("csl/doiorg-302_10.1126_science.169.3946.635.html")
    location = response.headers["Location"]
    assert response.status_code == meta["response"]["status"] == 302
    assert location == f"{upstream.base}/agency-csl/crossref/10.1126%2Fscience.169.3946.635"
    assert response.headers["Content-Type"] == "text/html;charset=utf-8"
    assert response.text.startswith("<html><head><title>Handle Redirect</title>")
    assert f'<a href="{location}">' in response.text

    agency = requests.get(location, headers={"Accept": doiorg.CSL_JSON}, timeout=5)
    assert agency.headers["Content-Type"] == doiorg.CSL_JSON
    assert agency.headers["x-api-pool"] == "public"  # as recorded from Crossref's transform


@pytest.mark.usefixtures("fixtures_dir")  # reads the shared corpus as a whole
def test_csl_of_another_agency(client, upstream):
    upstream.add_csl("10.1430/8105", MEDRA_CSL, agency="mEDRA")
    upstream.add_csl("10.9999/jalc.1", {**MEDRA_CSL, "DOI": "10.9999/jalc.1"}, agency="JaLC")

    result = doiorg.fetch_csl(parse_doi("10.1430/8105"), client, upstream.url_for("doi"))
    jalc = doiorg.fetch_csl(parse_doi("10.9999/JALC.1"), client, upstream.url_for("doi"))

    assert (result.status, result.payload) == ("ok", MEDRA_CSL)
    assert (jalc.status, jalc.resolved) == ("ok", "10.9999/jalc.1")
    assert upstream.count("/agency-csl/medra/") == 1 and upstream.count("/agency-csl/jalc/") == 1
    assert fetch_agency("10.9999", client, upstream.url_for("doi")) == "jalc"
    with pytest.raises(ValueError, match="agency"):
        upstream.add_csl("10.99998/x", MEDRA_CSL)


@pytest.mark.usefixtures("fixtures_dir")  # reads the shared corpus as a whole
def test_doiorg_unknown_doi_is_its_recorded_404_page(client, upstream):
    result = doiorg.fetch_csl(parse_doi("10.1126/nothing"), client, upstream.url_for("doi"))
    assert result.status == "not_found"
    raw = requests.get(f"{upstream.url_for('doi')}/10.1126/nothing", timeout=5)
    assert raw.status_code == 404
    assert raw.headers["Content-Type"] == "text/html;charset=utf-8"
    assert "<title>Error: DOI Not Found</title>" in raw.text
    assert "<h3>10.1126/nothing</h3>" in raw.text and "10.1126/foo" not in raw.text


# --- faults, counts and delay across services ---


def test_fail_count_and_requests_work_for_every_service(client, upstream):
    (doi,) = upstream.add_datacite(DRYAD)
    base = upstream.url_for("datacite")
    body = json.dumps({"errors": [{"status": "503", "title": "busy"}]}).encode()
    upstream.fail("/datacite/dois/", 503, body, {"Content-Type": "application/json"})

    result = datacite.fetch_record(parse_doi(doi), client, base)

    assert result.status == "ok"  # the one injected 503 was retried
    assert upstream.count("/datacite/dois/10.5061/dryad.8515") == 2
    assert upstream.count("/openalex/") == upstream.count("/doi/") == 0
    assert upstream.faults == []


@pytest.mark.usefixtures("fixtures_dir")  # reads the shared corpus as a whole
def test_a_fault_for_every_request_until_removed(client, upstream):
    upstream.fail("/doi/ra/", 500, b"oops", {"Content-Type": "text/plain"}, times=None)
    for _ in range(2):
        raw = ra(upstream, "10.5061")
        assert (raw.status_code, raw.content) == (500, b"oops")
    upstream.faults.clear()
    assert fetch_agency("10.5061", client, upstream.url_for("doi")) == "datacite"
    assert upstream.count("/doi/ra/10.5061") == 3


def test_delay_slows_every_service(upstream):
    upstream.delay = 0.2
    response = requests.get(f"{upstream.url_for('openalex')}/works/doi:10.1/x", timeout=5)
    assert response.status_code == 404 and response.elapsed.total_seconds() >= 0.2
