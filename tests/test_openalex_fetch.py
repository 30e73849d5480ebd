"""OpenAlex fetching: batch planning, OR-filter list requests, single look-ups, merged works,
the daily allowance, and the api_key kept out of errors and logs.

HTTP is answered by `responses` with the recorded OpenAlex bodies from ../shared/fixtures; the
client's and the rate limiters' sleeps go to a fake clock, so no test ever really waits.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections import deque
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import responses
from conftest import load_json
from fakes import TEST_HTTP, FakeClock, FakeWorksApi, fake_client
from structlog.testing import capture_logs

from harvester.http import HttpClient
from harvester.identifiers import Doi, ascii_key, parse_doi
from harvester.models import Fetched
from harvester.sources.openalex import (
    NOT_ASKED,
    SOURCE,
    DailyLimitReached,
    bare_doi,
    fetch_single,
    fetch_works,
    list_url,
    plan_batches,
)
from harvester.sources.openalex import (
    parse as parse_work,
)

BASE = "http://127.0.0.1:8080/openalex"
PREFIX = "/openalex"
API_KEY = "s3cr3t-Key-0123456789abcdef"
#: The envelope OpenAlex wraps a `/works?...` list answer in, as recorded.
LIST_ENVELOPE = "openalex/list_works_sample-5.json"
HTML_503 = "<html><head><title>503 Service Temporarily Unavailable</title></head></html>"
ERROR_429 = json.dumps({"error": "Rate limit exceeded", "message": "Daily limit exceeded"})

ELIFE = "10.7554_elife.01567"
FPLS = "10.3389_fpls.2019.00816"
BIORXIV = "10.1101_097196"


def recorded(name: str) -> dict:
    """The recorded work object of openalex/{name}.json."""
    return load_json(f"openalex/{name}.json")


def doi_of(name: str) -> Doi:
    return parse_doi(bare_doi(recorded(name)["doi"]))


def work_list(items: list[dict]) -> dict:
    """A list answer shaped exactly like the recorded one, holding `items`."""
    body = copy.deepcopy(load_json(LIST_ENVELOPE))
    body["results"] = items
    body["meta"]["count"] = len(items)
    body["meta"]["per_page"] = max(len(items), 1)
    return body


# --- a fake clock and a fake OpenAlex ---


class FakeOpenAlex(FakeWorksApi):
    """`/works?filter=doi:...`, `/works/doi:{doi}` and `/works/W...` under `base`.

    `merged` answers a DOI look-up with a 301 to the surviving work's W id; `faults` are served
    to any request before normal answers, `always` to every request.
    """

    def __init__(self, rsps: responses.RequestsMock, base: str = BASE) -> None:
        super().__init__(rsps, base)
        self.works: dict[str, dict] = {}  # DOI key -> work object
        self.merged: dict[str, str] = {}  # DOI key -> W id of the surviving work
        self.faults: deque[tuple[int, dict[str, str], str]] = deque()
        self.always: tuple[int, dict[str, str], str] | None = None

    def add(self, name: str) -> Doi:
        work = recorded(name)
        self.works[ascii_key(bare_doi(work["doi"]))] = work
        return doi_of(name)

    def _fault(self):
        if self.faults:
            return self.faults.popleft()
        return self.always

    def _list(self, request):
        if fault := self._fault():
            return fault
        items = [
            self.works[ascii_key(d)]
            for d in requested_dois(request.url)
            if ascii_key(d) in self.works
        ]
        return 200, {"Content-Type": "application/json"}, json.dumps(work_list(items))

    def _single(self, request):
        if fault := self._fault():
            return fault
        rest = unquote(urlsplit(request.url).path.removeprefix(f"{self.path}/works/"))
        if rest.startswith("doi:"):
            key = ascii_key(rest.removeprefix("doi:"))
            if key in self.merged:
                return 301, {"Location": f"{self.base}/works/{self.merged[key]}"}, ""
            work = self.works.get(key)
        else:
            work = next((w for w in self.works.values() if w["id"].endswith("/" + rest)), None)
        if work is None:
            body = json.dumps({"error": "Not found", "message": f"{rest} not found"})
            return 404, {"Content-Type": "application/json"}, body
        return 200, {"Content-Type": "application/json"}, json.dumps(work)


def requested_dois(url: str) -> list[str]:
    """The DOIs of a `filter=doi:A|B|C` request, decoded as the server decodes them."""
    (filters,) = parse_qs(urlsplit(url).query)["filter"]
    assert filters.startswith("doi:"), filters
    return filters.removeprefix("doi:").split("|")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(clock: FakeClock) -> HttpClient:
    return fake_client(clock=clock)


@pytest.fixture
def openalex():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeOpenAlex(rsps)


def fetch_all(dois, client, base=BASE, api_key=API_KEY) -> list[list[Fetched]]:
    return list(fetch_works(dois, client, base, api_key))


def flat(batches: list[list[Fetched]]) -> list[Fetched]:
    return [f for batch in batches for f in batch]


def short_dois(n: int) -> list[Doi]:
    return [parse_doi(f"10.1177/0950017014{538339 + i}") for i in range(n)]


# --- plan_batches and list_url: pure and lazy ---


def test_plan_batches_takes_at_most_100_values_in_input_order():
    dois = short_dois(250)
    batches = list(plan_batches(dois, BASE))
    assert [len(b) for b in batches] == [100, 100, 50]
    assert [d for b in batches for d in b] == dois


@pytest.mark.parametrize("api_key", ["", API_KEY])
@pytest.mark.parametrize("max_url_bytes", [300, 1000, 4000])
def test_plan_batches_keeps_every_url_under_the_byte_limit(max_url_bytes, api_key):
    dois = [
        parse_doi(d)
        for i in range(300)
        for d in (
            f"10.1002/(SICI)1097-4571(1998{i % 12 + 1:02d})49:8<{600 + i}::AID-ASI4>3.0.CO;2-O",
            f"10.1234/café-münchen.{i}",
        )
    ]
    batches = list(plan_batches(dois, BASE, max_url_bytes=max_url_bytes, api_key=api_key))
    for batch in batches:
        assert 1 <= len(batch) <= 100
        assert len(list_url(BASE, batch, api_key).encode("utf-8")) <= max_url_bytes
    assert [d for b in batches for d in b] == dois
    # Filled: a batch ends only because the next DOI would not fit (3 bytes reserved for per_page).
    for batch, following in itertools.pairwise(batches):
        grown = list_url(BASE, [*batch, following[0]], api_key)
        assert len(batch) == 100 or len(grown.encode()) > max_url_bytes - 3


def test_plan_batches_sends_a_doi_with_a_pipe_or_comma_alone_keeping_order():
    dois = [
        parse_doi(d) for d in ("10.1177/1", "10.1000/a|b", "10.1177/2", "10.1000/x,y", "10.1177/3")
    ]
    batches = list(plan_batches(dois, BASE))
    assert batches == [[dois[0]], [dois[1]], [dois[2]], [dois[3]], [dois[4]]]


def test_plan_batches_is_lazy():
    def endless():
        for i in itertools.count():
            if i > 150:
                raise AssertionError("read beyond the second batch")
            yield parse_doi(f"10.1177/0950017014{i}")

    first = next(plan_batches(endless(), BASE))
    assert len(first) == 100
    assert first[0].value == "10.1177/09500170140"


def test_list_url_shape():
    dois = [parse_doi("10.7554/eLife.01567"), parse_doi("10.1002/(SICI)1097-4571<693>;2-O")]
    assert list_url(BASE, dois) == (
        f"{BASE}/works?filter=doi:10.7554/eLife.01567|10.1002/(SICI)1097-4571%3C693%3E%3B2-O"
        "&per_page=2"
    )
    keyed = list_url(BASE, dois, API_KEY)
    assert keyed.endswith(f"&per_page=2&api_key={API_KEY}")
    assert requested_dois(keyed) == [d.value for d in dois]


# --- fetch_works ---


def test_list_answers_two_of_three_and_the_third_is_not_found_without_asking_again(
    client, openalex
):
    elife, fpls = openalex.add(ELIFE), openalex.add(FPLS)
    missing = parse_doi("10.1371/notarealdoi")

    results = flat(fetch_all([elife, missing, fpls], client))

    assert [(f.identifier, f.status) for f in results] == [
        ("10.7554/elife.01567", "ok"),
        ("10.1371/notarealdoi", "not_found"),
        ("10.3389/fpls.2019.00816", "ok"),
    ]
    assert results[0].payload == recorded(ELIFE)
    assert results[2].payload == recorded(FPLS)
    assert parse_work(results[0].payload).doi == "10.7554/elife.01567"
    assert parse_work(results[2].payload).title == parse_work(recorded(FPLS)).title
    assert results[0].resolved == "10.7554/elife.01567"
    assert results[1].payload is None and results[1].error is None
    assert all(f.source == SOURCE for f in results)
    assert openalex.single_calls() == []
    (call,) = openalex.list_calls()
    query = parse_qs(urlsplit(call.request.url).query)
    assert query["filter"] == [
        "doi:10.7554/elife.01567|10.1371/notarealdoi|10.3389/fpls.2019.00816"
    ]
    assert query["per_page"] == ["3"]
    assert query["api_key"] == [API_KEY]


def test_list_answer_is_matched_case_insensitively(client, openalex):
    openalex.add(ELIFE)
    asked = parse_doi("10.7554/eLife.01567")
    results = flat(fetch_all([asked, parse_doi("10.1371/notarealdoi")], client))
    assert [(f.identifier, f.status) for f in results] == [
        ("10.7554/elife.01567", "ok"),
        ("10.1371/notarealdoi", "not_found"),
    ]


def test_merged_work_301_is_followed(client, openalex):
    survivor = recorded(ELIFE)
    openalex.add(ELIFE)
    old = parse_doi("10.5555/Merged.Old")
    openalex.merged[old.key] = survivor["id"].rsplit("/", 1)[1]

    (result,) = flat(fetch_all([old], client))

    assert result.status == "ok"
    assert result.identifier == "10.5555/merged.old"
    assert result.resolved == "10.7554/elife.01567"
    assert result.payload == survivor
    first, second = openalex.single_calls()
    assert first.response.status_code == 301
    assert urlsplit(second.request.url).path == f"{PREFIX}/works/W2121398592"


def test_api_key_is_sent_but_never_in_errors_or_logs(client, openalex):
    dois = [openalex.add(ELIFE), openalex.add(FPLS)]
    openalex.always = (503, {"Content-Type": "text/html"}, HTML_503)

    with capture_logs() as logs:
        results = flat(fetch_all(dois, client))

    assert [f.status for f in results] == ["failed", "failed"]
    assert all("503" in f.error for f in results)
    assert len(openalex.list_calls()) == TEST_HTTP.max_attempts
    assert openalex.single_calls() == []
    assert all(f"api_key={API_KEY}" in c.request.url for c in openalex.list_calls())
    assert any("api_key=***" in f.error for f in results)
    assert logs  # the retries were logged
    assert API_KEY not in repr(logs)
    assert all(API_KEY not in f.error for f in results)


def test_api_key_stays_out_of_the_daily_limit_error(client, openalex):
    openalex.always = (429, {"Content-Type": "application/json"}, ERROR_429)
    doi = openalex.add(ELIFE)
    with capture_logs() as logs, pytest.raises(DailyLimitReached) as raised:
        fetch_single(doi, client, BASE, API_KEY)
    assert raised.value.status == 429
    assert API_KEY not in str(raised.value)
    assert API_KEY not in (raised.value.url or "")
    assert "api_key=***" in str(raised.value)
    assert API_KEY not in repr(logs)


def test_403_on_the_list_fails_the_batch_without_single_lookups(client, openalex):
    dois = [openalex.add(ELIFE), openalex.add(FPLS)]
    openalex.faults.append(
        (403, {"Content-Type": "application/json"}, json.dumps({"error": "Rate limit exceeded"}))
    )
    results = flat(fetch_all(dois, client))
    assert [f.status for f in results] == ["failed", "failed"]
    assert all("403" in f.error and API_KEY not in f.error for f in results)
    assert len(openalex.list_calls()) == 1
    assert openalex.single_calls() == []


def test_daily_limit_fails_every_remaining_doi_without_further_requests(client, openalex):
    dois = [openalex.add(ELIFE), *short_dois(249)]  # three batches: 100, 100, 50
    openalex.always = (429, {"Content-Type": "application/json"}, ERROR_429)

    with capture_logs() as logs:
        batches = fetch_all(dois, client)

    assert [len(b) for b in batches] == [100, 100, 50]
    results = flat(batches)
    assert [f.identifier for f in results] == [d.key for d in dois]
    assert {(f.status, f.error) for f in results} == {("failed", NOT_ASKED)}
    assert len(openalex.rsps.calls) == TEST_HTTP.max_attempts  # only the first batch was asked
    assert [e["event"] for e in logs].count("openalex.daily_limit_reached") == 1
    assert API_KEY not in repr(logs)


def test_batches_side_by_side_come_back_in_input_order(client, openalex):
    dois = [openalex.add(ELIFE), *short_dois(150), openalex.add(FPLS), *short_dois(150)[:90]]
    batches = list(fetch_works(dois, client, BASE, API_KEY, concurrency=3))
    assert [len(b) for b in batches] == [100, 100, 42]
    results = flat(batches)
    assert [f.identifier for f in results] == [d.key for d in dois]
    assert (results[0].status, results[151].status) == ("ok", "ok")
    assert results[151].payload == recorded(FPLS)
    assert len(openalex.list_calls()) == 3


def test_daily_limit_with_batches_side_by_side_still_answers_each_doi_once(client, openalex):
    dois = [openalex.add(ELIFE), *short_dois(449)]  # five batches, three at a time
    openalex.always = (429, {"Content-Type": "application/json"}, ERROR_429)
    with capture_logs() as logs:
        results = flat(list(fetch_works(dois, client, BASE, API_KEY, concurrency=3)))
    assert [f.identifier for f in results] == [d.key for d in dois]
    assert {(f.status, f.error) for f in results} == {("failed", NOT_ASKED)}
    # At most the batches already in flight when the allowance ran out were asked.
    assert len(openalex.rsps.calls) <= 3 * TEST_HTTP.max_attempts
    assert [e["event"] for e in logs].count("openalex.daily_limit_reached") == 1


def test_daily_limit_during_single_lookups_keeps_the_answers_already_got(client, openalex):
    dois = [openalex.add(ELIFE), openalex.add(FPLS), openalex.add(BIORXIV), *short_dois(120)]
    # The list is refused, so its DOIs are looked up singly; the first single look-up is
    # answered, every request after that is refused.
    refused = {"error": "Invalid query parameters error.", "message": "x is not a valid field"}
    responses_left = iter([False])

    def gate(request):
        if next(responses_left, True):
            return 429, {"Content-Type": "application/json"}, ERROR_429
        return openalex._single(request)

    openalex.rsps.reset()
    openalex.rsps.add(responses.GET, f"{BASE}/works", json=refused, status=400)
    openalex.rsps.add_callback(
        responses.GET, re.compile(re.escape(BASE) + "/works/"), callback=gate
    )

    results = flat(fetch_all(dois, client))

    assert [f.identifier for f in results] == [d.key for d in dois]
    assert results[0].status == "ok" and results[0].payload == recorded(ELIFE)
    assert {(f.status, f.error) for f in results[1:]} == {("failed", NOT_ASKED)}
    assert len(openalex.list_calls()) == 1
    assert len(openalex.single_calls()) == 1 + TEST_HTTP.max_attempts


@pytest.mark.parametrize("url", [BASE, BASE + "/"])
def test_requests_go_under_the_base_url_path_prefix(client, openalex, url):
    dois = [openalex.add(ELIFE), openalex.add(FPLS)]
    single = parse_doi("10.1000/a|b")  # travels alone, so it is looked up singly
    results = flat(fetch_all([*dois, single], client, base=url))
    assert [f.status for f in results] == ["ok", "ok", "not_found"]
    paths = [urlsplit(c.request.url).path for c in openalex.rsps.calls]
    assert paths == [f"{PREFIX}/works", f"{PREFIX}/works/doi:10.1000/a%7Cb"]
    assert all(c.request.url.startswith(f"{BASE}/works") for c in openalex.rsps.calls)
