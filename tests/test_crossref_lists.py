"""Crossref's lists kept full, and the DOIs they miss settled in few requests (issue 19).

Lists of 100 by default (`max_url_bytes` still splits long ones), three in flight, and what a
list misses placed by one doi.org `/ra/{doi,doi,...}` request: the DOIs doi.org places at
Crossref asked again as one list, what is still missing (an alias) asked singly, a DOI that
does not exist not asked again. `responses` answers with the recorded Crossref envelopes and
doi.org's recorded `/ra` entry shape; the clients' waits go to a fake clock.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from urllib.parse import unquote, urlsplit

import pytest
import responses
from conftest import load_json
from fakes import FakeClock, fake_client
from test_crossref_fetch import BASE, ELIFE, PONE, FakeCrossref, recorded, requested_dois

from harvester.config import Config, CrossrefConfig, PoolLimit
from harvester.identifiers import Doi, ascii_key, parse_doi
from harvester.sources.crossref import fetch_works, list_url, plan_batches

DOI_ORG = "http://127.0.0.1:8080/doi"
MAILTO = "someone@example.org"
#: A real alias pair (CrossRef/rest-api-doc#110): the alias redirects to its prime at doi.org,
#: Crossref's REST API knows only the prime.
ALIAS = "10.3103/S009545270801009X"
PRIME = "10.1007/s11956-008-1009-1"
#: The recorded `/ra` answer: a list of {"DOI": ..., "RA": ...}, one entry per name asked.
RA_ENTRY = load_json("csl/doiorg-ra_10.5061.json")[0]
HTML_503 = (
    "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    "<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


class Upstream(FakeCrossref):
    """FakeCrossref plus doi.org's `/ra`, and DOIs a list answers only from its second ask on
    (Crossref's list index lagging behind its single look-ups)."""

    def __init__(self, rsps: responses.RequestsMock) -> None:
        super().__init__(rsps)
        self.agencies: dict[str, str | None] = {}  # key -> RA doi.org names (None: no such DOI)
        self.lagging: set[str] = set()
        self.ra_fault: tuple[int, dict, str] | None = None
        self.on_ra = lambda: None
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()
        rsps.add_callback(responses.GET, re.compile(re.escape(DOI_ORG) + "/ra/"), callback=self._ra)

    def synthetic(self, n: int, start: int = 0, *, prefix: str = "10.7554") -> list[Doi]:
        """`n` Crossref works shaped exactly like the recorded eLife work, each its own DOI."""
        dois = []
        for i in range(start, start + n):
            envelope = copy.deepcopy(recorded(ELIFE))
            envelope["message"]["DOI"] = f"{prefix}/synthetic.{i}"
            key = ascii_key(envelope["message"]["DOI"])
            self.singles[key] = envelope
            self.listed[key] = envelope["message"]
            self.agencies[key] = "Crossref"
            dois.append(parse_doi(envelope["message"]["DOI"]))
        return dois

    def _list(self, request):
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            threading.Event().wait(0.02)  # long enough for the other workers to come in
            asked = {ascii_key(d) for d in requested_dois(request.url)}
            hidden = asked & self.lagging
            self.lagging -= hidden  # answered from the next ask on
            answer = super()._list(request)
            if hidden:
                status, headers, body = answer
                data = json.loads(body)
                items = data["message"]["items"]
                data["message"]["items"] = [i for i in items if ascii_key(i["DOI"]) not in hidden]
                answer = status, headers, json.dumps(data)
            return answer
        finally:
            with self._lock:
                self.in_flight -= 1

    def _ra(self, request):
        self.on_ra()
        if self.ra_fault:
            return self.ra_fault
        names = unquote(urlsplit(request.url).path).removeprefix(urlsplit(DOI_ORG).path + "/ra/")
        entries = []
        for name in names.split(","):
            agency = self.agencies.get(ascii_key(name))
            if agency:
                entries.append({**RA_ENTRY, "DOI": name, "RA": agency})
            else:  # doi.org's entry for a DOI nobody registered
                entries.append({"DOI": name, "status": "DOI does not exist"})
        return 200, {"Content-Type": "application/json;charset=UTF-8"}, json.dumps(entries)

    def ra_calls(self) -> list:
        return [c for c in self.rsps.calls if "/ra/" in c.request.url]

    def ra_asked(self) -> list[list[str]]:
        return [
            unquote(urlsplit(c.request.url).path).split("/ra/", 1)[1].split(",")
            for c in self.ra_calls()
        ]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(clock):
    return fake_client(Config(mailto=MAILTO), {"crossref:list": PoolLimit(1000, 3)}, clock=clock)


@pytest.fixture
def upstream():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield Upstream(rsps)


def fetch(dois, client, **changes):
    config = CrossrefConfig(url=BASE, **changes)
    return [f for batch in fetch_works(dois, client, config, 3, ra_url=DOI_ORG) for f in batch]


# --- lists of 100, split by max_url_bytes ---


def test_lists_hold_100_dois_by_default_and_max_url_bytes_still_splits_long_ones():
    config = CrossrefConfig()
    assert config.batch_size == 100
    short = [parse_doi(f"10.7554/eLife.{i:05d}") for i in range(250)]
    assert [len(b) for b in plan_batches(short, config.url, 100, config.max_url_bytes)] == [
        100,
        100,
        50,
    ]
    long = [
        parse_doi(f"10.1002/(SICI)1097-4571(199806)49:8<{600 + i}::AID-ASI4>3.0.CO;2-O")
        for i in range(250)
    ]
    batches = list(plan_batches(long, config.url, 100, config.max_url_bytes))
    assert all(len(b) < 100 for b in batches) and sum(map(len, batches)) == 250
    assert all(len(list_url(config.url, b)) <= config.max_url_bytes for b in batches)


def test_three_lists_in_flight_and_the_misses_never_hold_the_next_list(client, upstream):
    dois = upstream.synthetic(24)
    missing = parse_doi("10.7554/not-registered")
    upstream.agencies[missing.key] = None
    asked_lists = []

    def on_ra():  # doi.org answers only once every list has been asked (or 5 s have passed)
        deadline = time.monotonic() + 5.0
        while len(upstream.list_calls()) < 12 and time.monotonic() < deadline:
            time.sleep(0.01)
        asked_lists.append(len(upstream.list_calls()))

    upstream.on_ra = on_ra
    results = fetch([dois[0], missing, *dois[1:]], client, batch_size=2)

    assert len(results) == 25 and {f.status for f in results} == {"ok", "not_found"}
    assert upstream.most_in_flight == 3  # the whole pool, never more
    # Settled on its own path: while doi.org kept the first list's miss waiting, every other
    # list was asked.
    assert asked_lists == [12]


# --- the misses: doi.org, then one list, then singly ---


def test_misses_of_several_lists_are_placed_by_one_ra_request_and_asked_again_as_one_list(
    client, upstream
):
    dois = upstream.synthetic(20)
    lagging = [dois[1], dois[6], dois[12], dois[18]]  # one in each of the four lists
    upstream.lagging = {d.key for d in lagging}
    gone = [parse_doi("10.7554/never-registered-1"), parse_doi("10.7554/never-registered-2")]
    for doi in gone:
        upstream.agencies[doi.key] = None
    elsewhere = parse_doi("10.5061/dryad.8515")  # a DataCite DOI in a Crossref batch
    upstream.agencies[elsewhere.key] = "DataCite"
    asked = [*dois[:5], gone[0], *dois[5:10], elsewhere, *dois[10:15], gone[1], *dois[15:]]

    results = fetch(asked, client, batch_size=6)

    assert [f.identifier for f in results] == [d.key for d in asked]
    status = {f.identifier: f.status for f in results}
    assert {k for k, v in status.items() if v == "not_found"} == {
        gone[0].key,
        gone[1].key,
        elsewhere.key,
    }
    assert all(status[d.key] == "ok" for d in dois)
    assert {f.identifier: f.payload["DOI"] for f in results if f.status == "ok"} == {
        d.key: d.value for d in dois
    }
    # 4 lists, one /ra for the 7 misses of all four, one list re-asking the 4 at Crossref.
    (ra,) = upstream.ra_asked()
    assert sorted(map(ascii_key, ra)) == sorted(d.key for d in [*lagging, *gone, elsewhere])
    lists = [requested_dois(c.request.url) for c in upstream.list_calls()]
    assert len(lists) == 5
    assert sorted(map(ascii_key, lists[-1])) == sorted(d.key for d in lagging)
    assert upstream.single_calls() == []


def test_an_alias_is_followed_singly_after_its_list_and_the_re_ask(client, upstream):
    dois = upstream.synthetic(3)
    envelope = copy.deepcopy(recorded(PONE))
    envelope["message"]["DOI"] = PRIME
    upstream.singles[ascii_key(PRIME)] = envelope
    upstream.aliases[ascii_key(ALIAS)] = PRIME
    upstream.agencies[ascii_key(ALIAS)] = "Crossref"  # the alias is a registered DOI

    results = fetch([dois[0], parse_doi(ALIAS), *dois[1:]], client)

    alias = results[1]
    assert (alias.identifier, alias.status, alias.resolved) == (
        ascii_key(ALIAS),
        "ok",
        ascii_key(PRIME),
    )
    assert alias.payload["DOI"] == PRIME
    assert len(upstream.list_calls()) == 1  # alone in the re-ask: asked singly at once
    assert len(upstream.ra_calls()) == 1
    assert [unquote(urlsplit(c.request.url).path) for c in upstream.single_calls()] == [
        f"/crossref/works/{ALIAS}",
        f"/crossref/works/{PRIME}",
    ]


@pytest.mark.parametrize(
    "fault",
    [
        (503, {"Content-Type": "text/html"}, HTML_503),
        (200, {"Content-Type": "application/json"}, json.dumps({"not": "a list"})),
        (404, {"Content-Type": "text/html"}, "<html><body>Not Found</body></html>"),
    ],
    ids=["503", "wrong-shape", "404"],
)
def test_when_doi_org_fails_the_misses_are_asked_singly(client, upstream, fault):
    dois = upstream.synthetic(6)
    upstream.lagging = {dois[2].key}
    gone = parse_doi("10.7554/never-registered")
    upstream.ra_fault = fault

    results = fetch([*dois[:3], gone, *dois[3:]], client)

    assert {f.identifier: f.status for f in results} == {
        **{d.key: "ok" for d in dois},
        gone.key: "not_found",
    }
    assert len(upstream.ra_calls()) >= 1
    assert sorted(unquote(urlsplit(c.request.url).path) for c in upstream.single_calls()) == sorted(
        [f"/crossref/works/{dois[2].value}", f"/crossref/works/{gone.value}"]
    )


def test_a_thousand_dois_with_five_percent_unknown_cost_crossref_at_most_25_requests(
    client, upstream
):
    known = upstream.synthetic(950)
    unknown = [parse_doi(f"10.7554/unknown.{i}") for i in range(50)]
    for doi in unknown:
        upstream.agencies[doi.key] = None
    dois = [d for pair in zip(known[:50], unknown, strict=True) for d in pair] + known[50:]

    results = fetch(dois, client)

    assert len(results) == 1000
    assert sum(f.status == "ok" for f in results) == 950
    crossref = len(upstream.list_calls()) + len(upstream.single_calls())
    assert crossref <= 25
    assert upstream.single_calls() == []
    assert len(upstream.ra_calls()) <= 3  # the misses of four lists in each
