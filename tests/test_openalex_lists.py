"""OpenAlex without an API key: asked in OR-filter lists, as with one, never a request per DOI,
and within what OpenAlex allows a keyless caller (KEYLESS_LISTS_PER_DAY list calls a day, 100
requests a second for everyone).

HTTP is answered by `responses` (test_openalex_fetch's FakeOpenAlex, the recorded works), with sleeps
on a fake clock; the nightly at the end runs against the local upstream (tests/upstream.py).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from conftest import Clock
from fakes import FakeClock, fake_client, run_pipeline
from structlog.testing import capture_logs
from test_openalex_fetch import (
    BASE,
    BIORXIV,
    ELIFE,
    FakeOpenAlex,
    recorded,
    requested_dois,
    short_dois,
)
from upstream import ReplayUpstream

from harvester.config import Config
from harvester.http import RateLimiter
from harvester.identifiers import parse_doi
from harvester.pipeline import harvest_due
from harvester.render import summary_line
from harvester.sources import openalex
from harvester.sources.openalex import (
    KEYLESS_LISTS_PER_DAY,
    NOT_ASKED,
    ListAllowance,
    fetch_works,
)
from harvester.store import open_store

#: OpenAlex's cap on requests a second, key or not (developers.openalex.org, "Rate Limits").
OPENALEX_REQUESTS_PER_SECOND = 100


def keyless_config() -> Config:
    base = Config()
    return dataclasses.replace(base, openalex=dataclasses.replace(base.openalex, url=BASE))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeOpenAlex(rsps)


def fetch(dois, client, config=None):
    """What the pipeline asks of OpenAlex for one chunk: `openalex.fetch`, drained."""
    return [f for batch in openalex.fetch(dois, client, config or keyless_config()) for f in batch]


def test_without_a_key_openalex_is_asked_in_lists_not_per_doi(fake):
    dois = [fake.add(ELIFE), parse_doi("10.1371/notarealdoi"), fake.add(BIORXIV), *short_dois(197)]

    results = fetch(dois, fake_client())

    assert [f.identifier for f in results] == [d.key for d in dois]
    assert [(f.status, f.payload) for f in results[:3]] == [
        ("ok", recorded(ELIFE)),
        ("not_found", None),
        ("ok", recorded(BIORXIV)),
    ]
    assert fake.single_calls() == []
    assert [len(requested_dois(c.request.url)) for c in fake.list_calls()] == [100, 100]
    assert all("api_key" not in parse_qs(urlsplit(c.request.url).query) for c in fake.list_calls())


def test_the_pipeline_asks_openalex_beside_the_agencies_with_or_without_a_key():
    keyed = Config()
    keyed = dataclasses.replace(keyed, openalex=dataclasses.replace(keyed.openalex, api_key="k"))
    assert openalex.batches(Config()) and openalex.batches(keyed)


def test_a_run_sends_no_more_lists_than_the_keyless_daily_allowance(fake):
    """Two chunks of one run share the allowance; what is past it is left unasked (failed with
    NOT_ASKED, so the pipeline keeps the work's agency record and leaves OpenAlex due), said
    once, and nothing is asked per DOI instead. The next run (a new client) may ask again."""
    client = fake_client()
    per_chunk = (KEYLESS_LISTS_PER_DAY // 2 + 10) * 100  # two chunks: 20 lists past the allowance
    first, second = short_dois(per_chunk), short_dois(2 * per_chunk)[per_chunk:]

    with capture_logs() as logs:
        results = fetch(first, client) + fetch(second, client)

    assert len(fake.list_calls()) == KEYLESS_LISTS_PER_DAY
    assert fake.single_calls() == []
    asked = KEYLESS_LISTS_PER_DAY * 100
    assert {f.status for f in results[:asked]} == {"not_found"}  # answered: OpenAlex lacks them
    assert {(f.status, f.error) for f in results[asked:]} == {("failed", NOT_ASKED)}
    assert [e["event"] for e in logs].count("openalex.daily_limit_reached") == 1
    assert len(results) == 2 * per_chunk

    fetch(short_dois(100), fake_client())  # another run
    assert len(fake.list_calls()) == KEYLESS_LISTS_PER_DAY + 1


def test_a_list_split_after_a_500_spends_the_allowance_for_each_half(fake, clock: FakeClock):
    client = fake_client(clock=clock)
    dois = [fake.add(ELIFE), *short_dois(99)]
    body = json.dumps({"error": "Internal Server Error"})
    fake.faults.append((500, {"Content-Type": "application/json"}, body))  # not retried

    results = [f for b in fetch_works(dois, client, BASE, allowance=ListAllowance(2)) for f in b]

    # The whole list, then its first half; the second half is past the allowance: not asked.
    assert len(fake.list_calls()) == 2
    assert results[0].status == "ok" and results[0].payload == recorded(ELIFE)
    assert {f.status for f in results[1:50]} == {"not_found"}
    assert {(f.status, f.error) for f in results[50:]} == {("failed", NOT_ASKED)}
    assert fake.single_calls() == []


def test_a_list_refused_for_want_of_a_key_is_not_asked_per_doi(fake):
    refusal = json.dumps({"error": "API key required", "message": "Pass a valid api_key."})
    fake.always = (401, {"Content-Type": "application/json"}, refusal)

    with capture_logs() as logs:
        results = fetch(short_dois(300), fake_client())

    assert {(f.status, f.error) for f in results} == {("failed", NOT_ASKED)}
    # The lists already in flight when the first refusal came, and no look-up per DOI.
    assert 1 <= len(fake.list_calls()) <= keyless_config().openalex.concurrency
    assert fake.single_calls() == []
    assert [e["event"] for e in logs].count("openalex.daily_limit_reached") == 1


def test_a_doi_that_must_travel_alone_is_a_free_single_look_up(fake):
    lone = parse_doi("10.1000/a|b")  # "|" would split the OR filter
    results = fetch([fake.add(ELIFE), *short_dois(10), lone], fake_client())
    assert (results[0].status, results[-1].status) == ("ok", "not_found")
    assert len(fake.list_calls()) == 1 and len(fake.single_calls()) == 1


class TimedOpenAlex(FakeOpenAlex):
    """FakeOpenAlex noting the (fake) time each list request starts at."""

    def __init__(self, rsps: responses.RequestsMock, clock: FakeClock) -> None:
        self.clock, self.starts = clock, []
        super().__init__(rsps)

    def _list(self, request):
        self.starts.append(self.clock.clock())
        return super()._list(request)


def test_keyless_lists_are_paced_under_openalexs_limits(clock: FakeClock):
    """With the rate as shipped ([openalex] rate 10 a second, [http] pace), the lists of a
    keyless run never start more than that rate, well below OpenAlex's 100 a second, in any
    one-second window. (One list in flight at a time: with several, the threads' sleeps all
    move the one fake clock, which then no longer reads the starts the limiter gave them.)"""
    config = keyless_config()
    config = dataclasses.replace(
        config, openalex=dataclasses.replace(config.openalex, concurrency=1)
    )
    limit = config.openalex.limit
    client = fake_client(config, clock=clock)
    pool = RateLimiter(
        "openalex:list", limit, pace=config.http.pace, clock=clock.clock, sleep=clock.sleep
    )
    client.add_limiter("openalex:list", pool)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        timed = TimedOpenAlex(rsps, clock)
        fetch(short_dois(4000), client, config)

    starts = timed.starts
    assert len(starts) == 40
    busiest = max(sum(1 for t in starts if s <= t < s + 1.0) for s in starts)
    assert busiest <= Config().openalex.rate <= OPENALEX_REQUESTS_PER_SECOND
    assert max(starts) >= (len(starts) - limit.rate) / limit.rate  # paced, not sent at once


# --- a keyless `harvest run` whose OpenAlex refreshes outgrow the allowance --------------------

NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
SPRINGER = "10.1007/978-3-662-46370-3_13"


def test_a_nightly_past_the_keyless_allowance_leaves_openalex_due_and_fails_nothing(
    tmp_path, monkeypatch
):
    """Only OpenAlex is due (its 7 days are up, the agencies' 30 are not). With the keyless list
    allowance spent after one chunk, the other works are unchanged, not failed; the run ends ok
    and says how many wait for OpenAlex, which stays due for them and not for the ones asked."""
    clock = Clock(NOW)
    with ReplayUpstream() as upstream:
        upstream.add_crossref("10.7554_elife.01567", "10.1007_978-3-662-46370-3_13")
        upstream.add_openalex("10.7554_elife.01567", "10.1007_978-3-662-46370-3_13")
        dois = ["10.7554/eLife.01567", SPRINGER, *upstream.add_synthetic(2)]
        config = upstream.config(chunk_size=2)
        store = open_store(tmp_path / "h.db", now=clock)
        try:
            store.watch.track(("doi", parse_doi(d).key, d) for d in dois)
            first, _ = run_pipeline(harvest_due, store=store, config=config, command="run")
            assert first.status == "ok" and first.not_enriched == {}

            clock.moment = NOW + timedelta(days=8)
            monkeypatch.setattr(openalex, "KEYLESS_LISTS_PER_DAY", 1)
            lists_before = upstream.count("/openalex/works?")
            result, outcomes = run_pipeline(harvest_due, store=store, config=config, command="run")

            assert [o.status for o in outcomes] == ["unchanged"] * 4
            assert (result.status, result.exit_code, result.counts.failed) == ("ok", 0, 0)
            assert upstream.count("/openalex/works?") == lists_before + 1
            assert upstream.count("/openalex/works/doi:") == 0
            assert result.not_enriched == {"openalex": 2}
            assert "; 2 not enriched by openalex this run" in summary_line(result, "h.db")
            due_now = {i.key for i in store.watch.due_items(store.now())}
            assert len(due_now) == 2  # the two left: still due for OpenAlex
        finally:
            store.close()
