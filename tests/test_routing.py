"""Registration-agency routing: doi.org `/ra` answers, fetching them, and the per-run cache.

The success bodies are the recorded doi.org answers in ../shared/fixtures/csl; the "does not
exist" shape is not in the recorded corpus and is written from what doi.org documents.
"""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
import responses
from conftest import load_json
from fakes import TEST_HTTP, fake_client

from harvester.errors import BadPayload, ClientError
from harvester.http import HttpClient
from harvester.identifiers import Doi, parse_doi
from harvester.sources.routing import (
    AgencyCache,
    fetch_agencies,
    fetch_agency,
    parse_agency,
    prefix_of,
)

BASE = "http://127.0.0.1:8080/doi"
#: Two attempts, and no wait between them.
HTTP = dataclasses.replace(
    TEST_HTTP, max_attempts=2, backoff_initial=0.0, backoff_max=0.0, retry_after_cap=0.0
)


@pytest.fixture
def client() -> HttpClient:
    return fake_client(http=HTTP, seed=1)


# --- prefix_of / parse_agency ---


def test_prefix_of() -> None:
    assert prefix_of("10.5061/dryad.8515") == "10.5061"
    assert prefix_of(parse_doi("https://doi.org/10.7554/eLife.01567")) == "10.7554"
    assert prefix_of("10.1002/(SICI)1097-4571(199806)49:8<693::AID-ASI4>3.0.CO;2-O") == "10.1002"
    assert prefix_of("10.5061") == "10.5061"


@pytest.mark.parametrize(
    ("fixture", "asked", "agency"),
    [
        ("csl/doiorg-ra_10.5061.json", "10.5061", "datacite"),
        ("csl/doiorg-ra_10.7554.json", "10.7554", "crossref"),
    ],
)
def test_parse_recorded(fixture: str, asked: str, agency: str) -> None:
    assert parse_agency(load_json(fixture), asked) == agency


@pytest.mark.parametrize(
    ("name", "expected"),
    [("mEDRA", "medra"), ("JaLC", "jalc"), ("CrossRef", "crossref"), ("SomeNewRA", "somenewra")],
)
def test_names_normalised(name: str, expected: str) -> None:
    assert parse_agency([{"DOI": "10.1430", "RA": name}], "10.1430") == expected


def test_matches_asked_entry_case_insensitively() -> None:
    body = [
        {"DOI": "10.5061/DRYAD.X", "RA": "DataCite"},
        {"DOI": "10.1430/8105", "RA": "mEDRA"},
    ]
    assert parse_agency(body, "10.1430/8105") == "medra"
    assert parse_agency(body, "10.5061/dryad.x") == "datacite"


@pytest.mark.parametrize("status", ["DOI does not exist", "Invalid DOI", "Unknown"])
def test_unknown_is_none(status: str) -> None:
    # Not in the recorded corpus: the shape doi.org documents for DOIs/prefixes it cannot place.
    assert parse_agency([{"DOI": "10.9999", "status": status}], "10.9999") is None


@pytest.mark.parametrize(
    "body",
    [
        {"DOI": "10.5061", "RA": "DataCite"},
        "<html><body>Not here</body></html>",
        [],
        None,
        ["10.5061"],
        [{"DOI": "10.5061"}],
        [{"DOI": "10.1234", "RA": "DataCite"}],  # an answer about something else
    ],
)
def test_wrong_shapes(body) -> None:
    with pytest.raises(BadPayload):
        parse_agency(body, "10.5061")


# --- fetch_agency ---


@responses.activate
def test_fetch_under_path_prefix(client: HttpClient) -> None:
    responses.get(f"{BASE}/ra/10.5061", json=load_json("csl/doiorg-ra_10.5061.json"))
    assert fetch_agency("10.5061", client, BASE + "/") == "datacite"
    assert len(responses.calls) == 1
    assert responses.calls[0].request.path_url == "/doi/ra/10.5061"


@responses.activate
def test_fetch_404_is_none(client: HttpClient) -> None:
    responses.get(f"{BASE}/ra/10.9999", status=404, body="Not Found")
    assert fetch_agency("10.9999", client, BASE) is None


@responses.activate
def test_fetch_html_is_bad_payload(client: HttpClient) -> None:
    responses.get(
        f"{BASE}/ra/10.5061", body="<html>portal</html>", content_type="text/html", status=200
    )
    with pytest.raises(BadPayload):
        fetch_agency("10.5061", client, BASE)


@responses.activate
def test_fetch_other_4xx_propagates(client: HttpClient) -> None:
    responses.get(f"{BASE}/ra/10.5061", status=400, json={"message": "bad"})
    with pytest.raises(ClientError):
        fetch_agency("10.5061", client, BASE)


# --- fetch_agencies: several prefixes in one request ---


@responses.activate
def test_several_prefixes_go_in_one_comma_list(client: HttpClient) -> None:
    """The DOI Handbook's "Which RA?" takes a comma list and answers an entry for each."""
    body = load_json("csl/doiorg-ra_10.5061.json") + load_json("csl/doiorg-ra_10.7554.json")
    body.append({"DOI": "10.99999", "status": "DOI does not exist"})
    responses.get(f"{BASE}/ra/10.5061,10.7554,10.99999", json=body)
    found = fetch_agencies(["10.5061", "10.7554", "10.99999"], client, BASE)
    assert found == {"10.5061": "datacite", "10.7554": "crossref", "10.99999": None}
    assert len(responses.calls) == 1


@responses.activate
def test_a_prefix_the_list_answer_leaves_out_is_left_to_be_asked_alone(client: HttpClient) -> None:
    responses.get(f"{BASE}/ra/10.5061,10.7554", json=load_json("csl/doiorg-ra_10.5061.json"))
    assert fetch_agencies(["10.5061", "10.7554"], client, BASE) == {"10.5061": "datacite"}


@responses.activate
@pytest.mark.parametrize(
    "answer",
    [
        {"status": 404, "body": "Not Found"},
        {"status": 200, "body": "<html>portal</html>", "content_type": "text/html"},
        {"status": 400, "json": {"message": "bad"}},
    ],
)
def test_a_refused_list_request_leaves_every_prefix_to_be_asked_alone(
    client: HttpClient, answer: dict
) -> None:
    responses.get(f"{BASE}/ra/10.5061,10.7554", **answer)
    assert fetch_agencies(["10.5061", "10.7554"], client, BASE) == {}


def test_agency_cache_takes_what_a_list_request_learnt() -> None:
    asked = []
    cache = AgencyCache(lambda prefix: asked.append(prefix) or "crossref", {"10.1000": "crossref"})
    assert cache.unknown(["10.5061", "10.1000", "10.5061", "10.7554"]) == ["10.5061", "10.7554"]
    cache.remember({"10.5061": "datacite", "10.7554": "crossref"})
    assert cache.agency(Doi("10.5061/dryad.8515")) == "datacite" and asked == []
    assert cache.learned() == {"10.5061": "datacite", "10.7554": "crossref"}


# --- AgencyCache ---


class CountingLookup:
    def __init__(self, answers: dict[str, str | None], delay: float = 0.0) -> None:
        self.answers = answers
        self.delay = delay
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, prefix: str) -> str | None:
        with self._lock:
            self.calls.append(prefix)
        if self.delay:
            time.sleep(self.delay)
        return self.answers[prefix]


def test_cache_asks_once_per_prefix() -> None:
    lookup = CountingLookup({"10.5061": "datacite", "10.7554": "crossref", "10.9999": None})
    cache = AgencyCache(lookup)
    dois = ["10.5061/dryad.8515", "10.5061/DRYAD.B835K", "10.7554/eLife.01567", "10.5061/x"]
    assert [cache.agency(parse_doi(d)) for d in dois] == [
        "datacite",
        "datacite",
        "crossref",
        "datacite",
    ]
    assert cache.agency(parse_doi("10.9999/a")) is None
    assert cache.agency(parse_doi("10.9999/b")) is None
    assert sorted(lookup.calls) == ["10.5061", "10.7554", "10.9999"]
    assert cache.learned() == {"10.5061": "datacite", "10.7554": "crossref", "10.9999": None}


def test_cache_uses_known_without_asking() -> None:
    lookup = CountingLookup({"10.7554": "crossref"})
    cache = AgencyCache(lookup, known={"10.5061": "datacite", "10.9999": None})
    assert cache.agency(parse_doi("10.5061/dryad.8515")) == "datacite"
    assert cache.agency(parse_doi("10.9999/x")) is None
    assert lookup.calls == []
    assert cache.agency(parse_doi("10.7554/eLife.01567")) == "crossref"
    assert cache.learned() == {"10.7554": "crossref"}


def test_cache_failed_lookup_is_asked_again() -> None:
    calls = []

    def lookup(prefix: str) -> str | None:
        calls.append(prefix)
        if len(calls) == 1:
            raise BadPayload("boom")
        return "datacite"

    cache = AgencyCache(lookup)
    with pytest.raises(BadPayload):
        cache.agency(parse_doi("10.5061/a"))
    assert cache.learned() == {}
    assert cache.agency(parse_doi("10.5061/a")) == "datacite"
    assert calls == ["10.5061", "10.5061"]


def test_cache_thread_safe() -> None:
    lookup = CountingLookup({"10.5061": "datacite", "10.7554": "crossref"}, delay=0.05)
    cache = AgencyCache(lookup)
    barrier = threading.Barrier(8)
    results: list[str | None] = []
    results_lock = threading.Lock()

    def work(i: int) -> None:
        barrier.wait()
        answer = cache.agency(parse_doi(f"10.5061/item.{i}"))
        with results_lock:
            results.append(answer)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert results == ["datacite"] * 8
    assert lookup.calls == ["10.5061"]
