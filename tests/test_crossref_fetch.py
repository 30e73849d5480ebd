"""Crossref fetching: batch planning, list requests with single-lookup fallback, aliases, failures.

HTTP is answered by `responses` with the recorded Crossref bodies from ../shared/fixtures; the
client's and the rate limiters' sleeps go to a fake clock, so no test ever really waits.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections import deque
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import responses
from conftest import fixture_path, load_json
from fakes import TEST_HTTP, FakeClock, FakeWorksApi, fake_client

from harvester.config import Config, CrossrefConfig
from harvester.http import HttpClient
from harvester.identifiers import Doi, ascii_key, parse_doi
from harvester.models import Fetched
from harvester.sources.crossref import SOURCE, fetch_single, fetch_works, list_url, plan_batches

BASE = "http://127.0.0.1:8080/crossref"
PREFIX = "/crossref"
MAILTO = "someone@example.org"
#: The envelope Crossref wraps a `/works?filter=...` answer in, as recorded.
LIST_ENVELOPE = "crossref/list_works_query-global-state_filter-has-orcid_rows3.json"
NOT_FOUND_BODY = fixture_path("errors/crossref_404_works_10.1371_notarealdoi.txt").read_bytes()
BAD_REQUEST_BODY = fixture_path("errors/crossref_400_sample-200.json").read_bytes()
HTML_503 = (
    "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    "<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
HTML_429 = (
    "<html>\r\n<head><title>429 Too Many Requests</title></head>\r\n<body>\r\n"
    "<center><h1>429 Too Many Requests</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)

ELIFE = "10.7554_elife.01567"
PONE = "10.1371_journal.pone.0033693"
FGENE = "10.3389_fgene.2017.00147"
PPAT = "10.1371_journal.ppat.1008184"
SICI = "10.1002/(SICI)1097-4571(199806)49:8<693::AID-ASI4>3.0.CO;2-O"
SICI_2 = "10.1002/(SICI)1521-3773(20000103)39:1<165::AID-ANIE165>3.0.CO;2-B"


def recorded(name: str) -> dict:
    """The recorded `/works/{doi}` envelope of crossref/{name}.json."""
    return load_json(f"crossref/{name}.json")


def message(name: str) -> dict:
    return recorded(name)["message"]


def doi_of(name: str) -> Doi:
    return parse_doi(message(name)["DOI"])


def work_list(items: list[dict]) -> dict:
    """A `work-list` envelope shaped exactly like the recorded one, holding `items`."""
    body = copy.deepcopy(load_json(LIST_ENVELOPE))
    body["message"]["items"] = items
    body["message"]["total-results"] = len(items)
    body["message"]["items-per-page"] = len(items)
    body["message"]["query"] = {"start-index": 0, "search-terms": None}
    return body


# --- a fake clock and a fake Crossref ---


class FakeCrossref(FakeWorksApi):
    """`/works?filter=doi:...` and `/works/{doi}` under BASE, answered from recorded envelopes.

    A DOI it does not know gets the recorded 404 body; `aliases` answer 301 to the prime DOI;
    `list_faults` are served (status, headers, body) to list requests before normal answers.
    """

    def __init__(self, rsps: responses.RequestsMock, base: str = BASE) -> None:
        super().__init__(rsps, base)
        self.singles: dict[str, dict] = {}  # key -> envelope for /works/{doi}
        self.listed: dict[str, dict] = {}  # key -> item the list request returns
        self.aliases: dict[str, str] = {}  # key -> prime DOI
        self.list_faults: deque[tuple[int, dict[str, str], str | bytes]] = deque()
        self.list_always: tuple[int, dict[str, str], str | bytes] | None = None

    def add(self, name: str, *, in_list: bool = True) -> Doi:
        """Serve the recorded work `name` singly, and in list answers unless `in_list` is False."""
        envelope = recorded(name)
        key = ascii_key(envelope["message"]["DOI"])
        self.singles[key] = envelope
        if in_list:
            self.listed[key] = envelope["message"]
        return parse_doi(envelope["message"]["DOI"])

    def _list(self, request):
        if self.list_faults:
            return self.list_faults.popleft()
        if self.list_always:
            return self.list_always
        dois = requested_dois(request.url)
        items = [self.listed[ascii_key(d)] for d in dois if ascii_key(d) in self.listed]
        return 200, {"Content-Type": "application/json"}, json.dumps(work_list(items))

    def _single(self, request):
        doi = unquote(urlsplit(request.url).path.removeprefix(f"{self.path}/works/"))
        key = ascii_key(doi)
        if key in self.aliases:
            return 301, {"Location": f"{self.base}/works/{self.aliases[key]}"}, ""
        if key in self.singles:
            return 200, {"Content-Type": "application/json"}, json.dumps(self.singles[key])
        return 404, {"Content-Type": "text/plain"}, NOT_FOUND_BODY


def requested_dois(url: str) -> list[str]:
    """The DOIs of a `filter=doi:A,doi:B` request, decoded as the server decodes them."""
    (filters,) = parse_qs(urlsplit(url).query)["filter"]
    parts = filters.split(",")
    assert all(p.startswith("doi:") for p in parts), filters
    return [p.removeprefix("doi:") for p in parts]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_client(clock: FakeClock, config: Config | None = None) -> HttpClient:
    return fake_client(config or Config(mailto=MAILTO), clock=clock)


@pytest.fixture
def client(clock: FakeClock) -> HttpClient:
    return make_client(clock)


@pytest.fixture
def crossref():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeCrossref(rsps)


def cr_config(**changes) -> CrossrefConfig:
    return CrossrefConfig(url=BASE, **changes)


def fetch_all(dois: list[Doi], client: HttpClient, config: CrossrefConfig) -> list[list[Fetched]]:
    return list(fetch_works(dois, client, config))


def flat(batches: list[list[Fetched]]) -> list[Fetched]:
    return [f for batch in batches for f in batch]


# --- plan_batches: pure and lazy ---


def many_dois() -> list[Doi]:
    """Realistic DOIs: short journal ones, long SICI ones, some with non-ASCII to be %-encoded."""
    dois = []
    for i in range(400):
        if i % 7 == 3:
            dois.append(
                f"10.1002/(SICI)1097-4571(1998{i % 12 + 1:02d})49:8<{600 + i}::AID-ASI4>3.0.CO;2-O"
            )
        elif i % 11 == 5:
            dois.append(f"10.1234/café-münchen.{i}")
        elif i % 5 == 0:
            dois.append(f"10.1016/j.neurobiolaging.2010.{i:02d}.024")
        else:
            dois.append(f"10.1177/09500170145{38339 + i}")
    return [parse_doi(d) for d in dois]


@pytest.mark.parametrize("base", ["https://api.crossref.org", BASE])
@pytest.mark.parametrize(("batch_size", "max_url_bytes"), [(50, 4000), (50, 300), (1000, 4000)])
def test_plan_batches_respects_url_length_and_batch_size(base, batch_size, max_url_bytes):
    dois = many_dois()
    batches = list(plan_batches(dois, base, batch_size, max_url_bytes))

    for batch in batches:
        assert 1 <= len(batch) <= batch_size
        assert len(list_url(base, batch).encode("utf-8")) <= max_url_bytes
    # Every DOI exactly once, in input order.
    assert [d for b in batches for d in b] == dois
    # Batches are filled: a batch ends because it is full or the next DOI would not fit (the
    # planner reserves four digits for rows and one comma too many, so allow those 5 bytes).
    for batch, following in itertools.pairwise(batches):
        assert (
            len(batch) == batch_size
            or len(list_url(base, [*batch, following[0]]).encode()) > max_url_bytes - 5
        )


def test_plan_batches_counts_the_base_url_path_prefix():
    dois = [parse_doi(f"10.1177/0950017014{538339 + i}") for i in range(200)]
    short = list(plan_batches(dois, "http://h", 1000, 400))
    long_base = "http://127.0.0.1:8080/crossref/" + "x" * 100
    long = list(plan_batches(dois, long_base, 1000, 400))
    assert all(len(list_url(long_base, b)) <= 400 for b in long)
    assert len(long) > len(short)


def test_plan_batches_sends_a_doi_with_a_comma_alone():
    dois = [parse_doi(d) for d in ("10.1000/a,b", "10.1177/0950017014538339", "10.1000/x,y")]
    batches = list(plan_batches(dois, BASE, 50, 4000))
    assert [dois[0]] in batches
    assert [dois[2]] in batches
    assert sorted(d.value for b in batches for d in b) == sorted(d.value for d in dois)


def test_plan_batches_keeps_input_order_around_a_doi_with_a_comma():
    dois = [
        parse_doi(d) for d in ("10.1177/0950017014538339", "10.1000/a,b", "10.7554/elife.01567")
    ]
    batches = list(plan_batches(dois, BASE, 50, 4000))
    assert [dois[1]] in batches
    assert [d for b in batches for d in b] == dois


def test_plan_batches_is_lazy():
    endless = (parse_doi(f"10.1177/0950017014{i}") for i in itertools.count())
    first = next(plan_batches(endless, BASE, 50, 4000))
    assert len(first) == 50
    assert first[0].value == "10.1177/09500170140"


def test_list_url_names_every_doi_and_rows():
    dois = [parse_doi(SICI), parse_doi("10.7554/eLife.01567")]
    url = list_url(BASE, dois)
    assert url.startswith(f"{BASE}/works?filter=doi:")
    assert parse_qs(urlsplit(url).query)["rows"] == ["2"]
    assert requested_dois(url) == [SICI, "10.7554/eLife.01567"]


# --- fetch_works ---


def test_list_answers_two_of_three_and_the_third_is_asked_singly(client, crossref):
    elife = crossref.add(ELIFE)
    pone = crossref.add(PONE)
    missing = parse_doi("10.1371/notarealdoi")

    batches = fetch_all([elife, missing, pone], client, cr_config())

    results = flat(batches)
    assert [(f.identifier, f.status) for f in results] == [
        ("10.7554/elife.01567", "ok"),
        ("10.1371/notarealdoi", "not_found"),
        ("10.1371/journal.pone.0033693", "ok"),
    ]
    assert results[0].payload == message(ELIFE)
    assert results[2].payload == message(PONE)
    assert results[0].resolved == "10.7554/elife.01567"
    assert results[1].payload is None
    assert all(f.source == SOURCE for f in results)

    (list_call,) = crossref.list_calls()
    query = parse_qs(urlsplit(list_call.request.url).query)
    assert query["filter"] == [
        "doi:10.7554/elife.01567,doi:10.1371/notarealdoi,doi:10.1371/journal.pone.0033693"
    ]
    assert query["rows"] == ["3"]
    (single_call,) = crossref.single_calls()
    assert urlsplit(single_call.request.url).path == f"{PREFIX}/works/10.1371/notarealdoi"
    assert single_call.response.status_code == 404
    assert single_call.response.content == NOT_FOUND_BODY


def test_every_doi_comes_back_once_in_input_order_over_many_batches(client, crossref):
    names = [
        ELIFE,
        PONE,
        FGENE,
        PPAT,
        "10.1101_2020.12.01.406702",
        "10.1145_3448016.3452841",
        "10.2210_pdb4hhb_pdb",
        "10.1111_(issn)1442-9993",
        "10.5694_j.1326-5377.1943.tb44329.x",
    ]
    known = [crossref.add(n) for n in names]
    unknown = [parse_doi(f"10.5555/missing-{i}") for i in range(4)]
    dois = [*known[:3], unknown[0], *known[3:6], unknown[1], unknown[2], *known[6:], unknown[3]]

    batches = fetch_all(dois, client, cr_config(batch_size=3))

    assert [len(b) for b in batches] == [3, 3, 3, 3, 1]
    results = flat(batches)
    assert [f.identifier for f in results] == [d.key for d in dois]
    assert {f.identifier: f.status for f in results} == {
        **{d.key: "ok" for d in known},
        **{d.key: "not_found" for d in unknown},
    }
    # The last batch holds one DOI: asked singly, never as a list.
    assert len(crossref.list_calls()) == 4
    assert len(crossref.single_calls()) == 4


def test_fetch_works_keeps_input_order_around_a_doi_with_a_comma(client, crossref):
    elife, pone = crossref.add(ELIFE), crossref.add(PONE)
    comma = parse_doi("10.1000/a,b")
    results = flat(fetch_all([elife, comma, pone], client, cr_config()))
    assert [f.identifier for f in results] == [elife.key, comma.key, pone.key]


def test_fetch_works_is_lazy_and_stops_cleanly(client, crossref):
    endless = (parse_doi(f"10.5555/endless-{i}") for i in itertools.count())
    gen = fetch_works(endless, client, cr_config(batch_size=2))
    first = next(gen)
    gen.close()
    assert [f.identifier for f in first] == ["10.5555/endless-0", "10.5555/endless-1"]
    assert [f.status for f in first] == ["not_found", "not_found"]


def test_alias_is_followed_to_its_prime(client, crossref):
    prime = crossref.add(ELIFE, in_list=False)
    alias = parse_doi("10.5555/OLD-eLife.01567")
    crossref.aliases[alias.key] = prime.value

    (result,) = flat(fetch_all([alias], client, cr_config()))

    assert result.status == "ok"
    assert result.identifier == "10.5555/old-elife.01567"
    assert result.resolved == "10.7554/elife.01567"
    assert result.payload == message(ELIFE)
    assert [urlsplit(c.request.url).path for c in crossref.single_calls()] == [
        f"{PREFIX}/works/10.5555/OLD-eLife.01567",
        f"{PREFIX}/works/10.7554/elife.01567",
    ]


def test_alias_missing_from_the_list_answer_is_resolved_singly(client, crossref):
    pone = crossref.add(PONE)
    prime = crossref.add(ELIFE, in_list=False)
    alias = parse_doi("10.5555/OLD-eLife.01567")
    crossref.aliases[alias.key] = prime.value

    results = flat(fetch_all([pone, alias], client, cr_config()))

    assert [(f.identifier, f.status, f.resolved) for f in results] == [
        (pone.key, "ok", pone.key),
        ("10.5555/old-elife.01567", "ok", "10.7554/elife.01567"),
    ]


def test_resolved_is_the_ascii_lower_case_key_of_the_prime(clock, crossref):
    envelope = recorded(ELIFE)
    envelope["message"]["DOI"] = "10.7554/eLife.01567"  # as a prime may be spelled
    crossref.singles[ascii_key("10.7554/eLife.01567")] = envelope
    alias = parse_doi("10.5555/ALIAS")
    crossref.aliases[alias.key] = "10.7554/eLife.01567"

    result = fetch_single(alias, make_client(clock), BASE)

    assert (result.status, result.identifier, result.resolved) == (
        "ok",
        "10.5555/alias",
        "10.7554/elife.01567",
    )


def test_list_request_refused_with_400_falls_back_to_single_lookups(client, crossref):
    dois = [crossref.add(ELIFE), crossref.add(PONE), crossref.add(FGENE)]
    crossref.list_always = (
        400,
        {"Content-Type": "application/json;charset=utf-8"},
        BAD_REQUEST_BODY,
    )

    results = flat(fetch_all(dois, client, cr_config()))

    assert [(f.identifier, f.status) for f in results] == [(d.key, "ok") for d in dois]
    assert [f.payload for f in results] == [message(ELIFE), message(PONE), message(FGENE)]
    assert len(crossref.list_calls()) == 1  # a 400 is never asked again
    # Asked side by side, in whatever order the threads take them.
    assert sorted(unquote(urlsplit(c.request.url).path) for c in crossref.single_calls()) == sorted(
        f"{PREFIX}/works/{d.value}" for d in dois
    )


def test_list_request_failing_with_503_fails_the_batch_without_single_lookups(
    client, crossref, clock
):
    dois = [crossref.add(ELIFE), crossref.add(PONE), crossref.add(FGENE)]
    crossref.list_always = (503, {"Content-Type": "text/html"}, HTML_503)

    results = flat(fetch_all(dois, client, cr_config()))

    assert [(f.identifier, f.status) for f in results] == [(d.key, "failed") for d in dois]
    for f in results:
        assert "503" in f.error
        assert f.payload is None
    assert len(crossref.list_calls()) == TEST_HTTP.max_attempts
    assert crossref.single_calls() == []
    # Backed off between attempts on the fake clock, never for real.
    assert len([s for s in clock.sleeps if s >= 0.01]) <= TEST_HTTP.max_attempts - 1


def test_429_with_retry_after_then_success(client, crossref, clock):
    dois = [crossref.add(ELIFE), crossref.add(PONE)]
    crossref.list_faults.append((429, {"Content-Type": "text/html", "Retry-After": "1"}, HTML_429))

    results = flat(fetch_all(dois, client, cr_config()))

    assert [f.status for f in results] == ["ok", "ok"]
    assert len(crossref.list_calls()) == 2
    assert crossref.single_calls() == []
    assert clock.sleeps == [pytest.approx(1.0)]


def test_sici_doi_is_percent_encoded_in_the_single_lookup(clock, crossref):
    envelope = recorded(ELIFE)
    envelope["message"]["DOI"] = SICI.lower()  # Crossref answers with the lower-case DOI
    crossref.singles[ascii_key(SICI)] = envelope
    odd = parse_doi("10.5555/[abc]<def>;ghi")  # synthetic: every character that must be encoded

    results = flat(fetch_all([parse_doi(SICI)], make_client(clock), cr_config()))
    results += flat(fetch_all([odd], make_client(clock), cr_config()))

    assert [(f.identifier, f.status) for f in results] == [
        (ascii_key(SICI), "ok"),
        (odd.key, "not_found"),
    ]
    assert results[0].resolved == ascii_key(SICI)
    sici_call, odd_call = crossref.single_calls()
    sici_path = urlsplit(sici_call.request.url).path
    assert sici_path == (
        f"{PREFIX}/works/10.1002/(SICI)1097-4571(199806)49:8%3C693::AID-ASI4%3E3.0.CO%3B2-O"
    )
    assert unquote(sici_path.removeprefix(f"{PREFIX}/works/")) == SICI
    odd_path = urlsplit(odd_call.request.url).path
    assert odd_path == f"{PREFIX}/works/10.5555/%5Babc%5D%3Cdef%3E%3Bghi"
    assert not set("[]<>;") & set(odd_path)
    assert unquote(odd_path.removeprefix(f"{PREFIX}/works/")) == odd.value


def test_sici_dois_survive_the_list_request(client, crossref):
    first = recorded(ELIFE)["message"]
    first["DOI"] = SICI.lower()
    second = recorded(PONE)["message"]
    second["DOI"] = SICI_2.lower()
    crossref.listed[ascii_key(SICI)] = first
    crossref.listed[ascii_key(SICI_2)] = second

    results = flat(fetch_all([parse_doi(SICI), parse_doi(SICI_2)], client, cr_config()))

    assert [(f.identifier, f.status) for f in results] == [
        (ascii_key(SICI), "ok"),
        (ascii_key(SICI_2), "ok"),
    ]
    (call,) = crossref.list_calls()
    assert requested_dois(call.request.url) == [SICI, SICI_2]
    assert not set("<>;") & set(urlsplit(call.request.url).query)


@pytest.mark.parametrize("url", [BASE, BASE + "/"])
def test_requests_go_under_the_base_url_path_prefix(client, crossref, url):
    dois = [crossref.add(ELIFE), crossref.add(PONE), parse_doi("10.1371/notarealdoi")]
    fetch_all(dois, client, CrossrefConfig(url=url))
    paths = [urlsplit(c.request.url).path for c in crossref.rsps.calls]
    assert paths == [f"{PREFIX}/works", f"{PREFIX}/works/10.1371/notarealdoi"]
    assert all(
        c.request.url.startswith("http://127.0.0.1:8080/crossref/works")
        for c in crossref.rsps.calls
    )


def test_user_agent_carries_the_mailto(clock, crossref):
    dois = [crossref.add(ELIFE), parse_doi("10.1371/notarealdoi")]
    fetch_all(dois, make_client(clock, Config(mailto=MAILTO)), cr_config())
    agents = [c.request.headers["User-Agent"] for c in crossref.rsps.calls]
    assert len(agents) == 2
    assert all(f"mailto:{MAILTO}" in ua for ua in agents)


def test_user_agent_without_mailto_has_none(clock, crossref):
    fetch_all([crossref.add(ELIFE)], make_client(clock, Config()), cr_config())
    (call,) = crossref.rsps.calls
    assert "mailto:" not in call.request.headers["User-Agent"]
