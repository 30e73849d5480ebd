"""Crossref feeds: a standing query (ISSN, prefix or member, indexed since a date) walked by cursor.

Pure parts (FeedQuery, feed_params, parse_feed_page) on the recorded work-list answers; iter_feed
with `responses` serving the recorded members-98 cursor pages and the recorded error bodies from
../shared/fixtures. The client's and the rate limiters' sleeps go to a fake clock.
"""

from __future__ import annotations

import copy
import json
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from conftest import fixture_path, load_json, load_meta
from fakes import FakeClock, fake_client
from responses import matchers

from harvester.config import Config
from harvester.errors import ClientError, NotFound, TransientError, UpstreamError
from harvester.http import HttpClient
from harvester.sources.crossref import (
    SOURCE,
    CursorExpired,
    FeedPage,
    FeedQuery,
    feed_params,
    iter_feed,
    parse_feed_page,
)
from harvester.sources.crossref import (
    parse as parse_work,
)

BASE = "http://127.0.0.1:8080/crossref"
WORKS = f"{BASE}/works"
PAGE1 = "crossref/list_members-98_works_rows5_cursor-page1.json"
PAGE2 = "crossref/list_members-98_works_rows5_cursor-page2.json"
EMPTY = "crossref/list_works_query-adfaaf_empty.json"
BAD_CURSOR = "errors/crossref_404_bad-cursor.json"
CURSOR_500 = "errors/crossref_500_cursor-5.json"
BAD_REQUEST = "errors/crossref_400_sample-200.json"
NOT_FOUND_TEXT = "errors/crossref_404_works_10.1371_notarealdoi.txt"
MEMBER_98 = FeedQuery(member="98")


def recorded_cursor(relative: str) -> str:
    """The cursor the recorded request sent, decoded as the server decodes it."""
    (cursor,) = parse_qs(urlsplit(load_meta(relative)["request"]["url"]).query)["cursor"]
    return cursor


def body(relative: str) -> bytes:
    return fixture_path(relative).read_bytes()


def end_page() -> dict:
    """The end of a walk: derived from recorded page 2 with its items emptied (Crossref keeps
    answering with a cursor once the items run out). Not itself a recording."""
    page = copy.deepcopy(load_json(PAGE2))
    page["message"]["items"] = []
    return page


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(clock: FakeClock) -> HttpClient:
    return fake_client(Config(mailto="someone@example.org"), clock=clock)


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def at_cursor(cursor: str) -> list:
    return [matchers.query_param_matcher({"cursor": cursor}, strict_match=False)]


def serve(rsps, cursor: str, status: int, content: bytes | str, content_type: str) -> None:
    rsps.add(
        responses.GET,
        WORKS,
        body=content,
        status=status,
        content_type=content_type,
        match=at_cursor(cursor),
    )


def refuse_others(rsps) -> None:
    """Registered last, so it answers once the expected answers are used up: a walk that asks
    again (e.g. does not follow next-cursor) fails with a ClientError instead of looping forever
    on the last answer `responses` keeps repeating."""
    rsps.add(responses.GET, WORKS, status=418, body="unexpected request")


def sent(call) -> dict[str, str]:
    """The query of a request, decoded as the server decodes it."""
    return {k: v for k, (v,) in parse_qs(urlsplit(call.request.url).query).items()}


# --- FeedQuery and feed_params: pure ---


#: One feed query of each kind, and the filter it asks Crossref for.
QUERIES = [
    (FeedQuery(issn="0950-0170"), "issn:0950-0170"),
    (FeedQuery(prefix="10.5555"), "prefix:10.5555"),
    (FeedQuery(member="98"), "member:98"),
]


@pytest.mark.parametrize(("query", "expected"), QUERIES)
def test_feed_params_with_from_index_date(query: FeedQuery, expected: str) -> None:
    assert feed_params(query, "2026-12-01", 1000, "*") == {
        "filter": f"from-index-date:2026-12-01,{expected}",
        "rows": "1000",
        "cursor": "*",
    }


@pytest.mark.parametrize(("query", "expected"), QUERIES)
def test_feed_params_without_from_index_date(query: FeedQuery, expected: str) -> None:
    assert feed_params(query, None, 5, "AoJ8z") == {
        "filter": expected,
        "rows": "5",
        "cursor": "AoJ8z",
    }


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"issn": "0950-0170", "prefix": "10.5555"},
        {"prefix": "10.5555", "member": "98"},
        {"issn": "0950-0170", "prefix": "10.5555", "member": "98"},
    ],
)
def test_feed_query_needs_exactly_one_kind(fields: dict) -> None:
    with pytest.raises(ValueError, match="exactly one of issn, prefix, member or orcid"):
        FeedQuery(**fields)


@pytest.mark.parametrize("value", ["", " 98", "98,member:99"])
def test_feed_query_refuses_values_that_break_the_filter(value: str) -> None:
    with pytest.raises(ValueError, match="member"):
        FeedQuery(member=value)


@pytest.mark.parametrize("rows", [0, 1001, -1, True])
def test_feed_params_rows_out_of_range(rows: int) -> None:
    with pytest.raises(ValueError, match="rows"):
        feed_params(MEMBER_98, None, rows, "*")


def test_feed_params_rows_bounds_are_allowed() -> None:
    assert feed_params(MEMBER_98, None, 1, "*")["rows"] == "1"
    assert feed_params(MEMBER_98, None, 1000, "*")["rows"] == "1000"


@pytest.mark.parametrize("date", ["01-12-2026", "2026/12/01", "2026-12-01T00:00:00", ""])
def test_feed_params_refuses_a_date_crossref_would_not_take(date: str) -> None:
    with pytest.raises(ValueError, match="from_index_date"):
        feed_params(MEMBER_98, date, 10, "*")


def test_feed_params_takes_a_year_or_a_month() -> None:
    assert feed_params(MEMBER_98, "2026", 10, "*")["filter"] == "from-index-date:2026,member:98"
    assert feed_params(MEMBER_98, "2026-12", 10, "*")["filter"].startswith(
        "from-index-date:2026-12,"
    )


# --- parse_feed_page: pure, on the recorded work lists ---


def test_parse_feed_page_recorded_cursor_page() -> None:
    recorded = load_json(PAGE1)
    page = parse_feed_page(recorded)
    assert isinstance(page, FeedPage)
    assert len(page.items) == 5
    assert page.total_results == 138567
    assert page.next_cursor == recorded["message"]["next-cursor"]
    assert page.next_cursor and page.next_cursor.startswith("DnF1ZXJ5VGhlbkZldGNo")
    assert page.items[0]["DOI"] == "10.4061/2010/505436"


def test_parse_feed_page_recorded_empty_list() -> None:
    page = parse_feed_page(load_json(EMPTY))
    assert page.items == []
    assert page.total_results == 0
    assert page.next_cursor is None  # the recorded request used no cursor


def test_recorded_feed_items_are_works_parse_work_reads() -> None:
    items = parse_feed_page(load_json(PAGE1)).items + parse_feed_page(load_json(PAGE2)).items
    records = [parse_work(item) for item in items]
    assert [r.doi for r in records] == [item["DOI"] for item in items]
    assert all(r.source == SOURCE for r in records)
    assert sum(1 for r in records if r.title) >= 8  # real works: almost all have a title


# --- iter_feed: the walk ---


def serve_walk(rsps) -> str:
    """Page 1 for "*", then page 2 and the (derived) end page for the recorded next-cursor."""
    cursor = load_json(PAGE1)["message"]["next-cursor"]
    assert recorded_cursor(PAGE2) == cursor  # the recording sent page 1's next-cursor for page 2
    serve(rsps, "*", 200, body(PAGE1), "application/json")
    serve(rsps, cursor, 200, body(PAGE2), "application/json")
    serve(rsps, cursor, 200, json.dumps(end_page()), "application/json")
    refuse_others(rsps)
    return cursor


def test_iter_feed_walks_to_the_empty_page_and_stops(rsps, client: HttpClient) -> None:
    serve_walk(rsps)
    pages = list(iter_feed(client, BASE, MEMBER_98, from_index_date="2026-12-01", rows=5))
    assert len(rsps.calls) == 3  # page 1, page 2, the empty page; nothing after it
    assert len(pages) == 2  # the empty page ends the walk and is not yielded
    assert [len(p.items) for p in pages] == [5, 5]
    dois = [item["DOI"] for p in pages for item in p.items]
    assert len(set(dois)) == 10
    assert dois[0] == "10.4061/2010/505436" and dois[-1] == "10.1046/j.1399543x.2000.010407.x"
    assert all(p.total_results == 138567 for p in pages)


def test_iter_feed_request_carries_filter_rows_and_cursors(rsps, client: HttpClient) -> None:
    cursor = serve_walk(rsps)
    pages = list(iter_feed(client, BASE, MEMBER_98, from_index_date="2026-12-01", rows=5))
    queries = [sent(call) for call in rsps.calls]
    assert [urlsplit(call.request.url).path for call in rsps.calls] == ["/crossref/works"] * 3
    assert all(q["filter"] == "from-index-date:2026-12-01,member:98" for q in queries)
    assert all(q["rows"] == "5" for q in queries)
    assert [q["cursor"] for q in queries] == ["*", cursor, cursor]
    assert pages[0].next_cursor == cursor  # the resume point the caller records
    assert set(queries[0]) == {"filter", "rows", "cursor"}  # no offset: Crossref refuses it


def test_iter_feed_issn_without_date_and_trailing_slash(rsps, client: HttpClient) -> None:
    serve(rsps, "*", 200, json.dumps(end_page()), "application/json")
    pages = list(iter_feed(client, BASE + "/", FeedQuery(issn="0950-0170"), from_index_date=None))
    assert pages == []  # nothing indexed: no page, a normal end
    (call,) = rsps.calls
    assert urlsplit(call.request.url).path == "/crossref/works"
    assert sent(call) == {"filter": "issn:0950-0170", "rows": "1000", "cursor": "*"}


def test_iter_feed_recorded_empty_list_is_a_normal_end(rsps, client: HttpClient) -> None:
    serve(rsps, "*", 200, body(EMPTY), "application/json")
    feed = FeedQuery(prefix="10.5555")
    assert list(iter_feed(client, BASE, feed, from_index_date="2026-12-01")) == []
    assert len(rsps.calls) == 1


def test_iter_feed_is_lazy(rsps, client: HttpClient) -> None:
    cursor = serve_walk(rsps)
    walk = iter_feed(client, BASE, MEMBER_98, from_index_date=None, rows=5)
    assert len(rsps.calls) == 0
    first = next(walk)
    assert len(rsps.calls) == 1
    assert first.next_cursor == cursor
    next(walk)
    assert len(rsps.calls) == 2
    with pytest.raises(StopIteration):
        next(walk)
    assert len(rsps.calls) == 3


def test_iter_feed_resumes_from_a_given_cursor(rsps, client: HttpClient) -> None:
    cursor = serve_walk(rsps)
    pages = list(iter_feed(client, BASE, MEMBER_98, from_index_date=None, rows=5, cursor=cursor))
    assert [sent(c)["cursor"] for c in rsps.calls] == [cursor, cursor]
    assert [len(p.items) for p in pages] == [5]


def test_iter_feed_stops_when_next_cursor_is_missing(rsps, client: HttpClient) -> None:
    page = load_json(PAGE1)  # derived: the recorded page 1 without its next-cursor
    del page["message"]["next-cursor"]
    serve(rsps, "*", 200, json.dumps(page), "application/json")
    refuse_others(rsps)
    pages = list(iter_feed(client, BASE, MEMBER_98, from_index_date=None, rows=5))
    assert len(rsps.calls) == 1
    assert [len(p.items) for p in pages] == [5]
    assert pages[0].next_cursor is None


def test_iter_feed_validates_before_any_request(rsps, client: HttpClient) -> None:
    with pytest.raises(ValueError, match="rows"):
        iter_feed(client, BASE, MEMBER_98, from_index_date=None, rows=0)
    with pytest.raises(ValueError, match="from_index_date"):
        iter_feed(client, BASE, MEMBER_98, from_index_date="yesterday")
    assert len(rsps.calls) == 0


# --- iter_feed: refusals and failures ---


def test_recorded_bad_cursor_404_raises_cursor_expired(rsps, client: HttpClient) -> None:
    assert load_meta(BAD_CURSOR)["response"]["status"] == 404
    serve(rsps, "stale", 404, body(BAD_CURSOR), "application/json")
    walk = iter_feed(client, BASE, MEMBER_98, from_index_date="2026-12-01", cursor="stale")
    with pytest.raises(CursorExpired) as caught:
        next(walk)
    assert caught.value.status == 404
    assert caught.value.source == SOURCE
    assert "cursor-invalid" in str(caught.value)
    assert "Cursor specified but it is invalid" in str(caught.value)
    assert isinstance(caught.value, ClientError)
    assert len(rsps.calls) == 1  # a refused cursor is not asked again


def test_cursor_expiring_mid_walk_after_pages_were_yielded(rsps, client: HttpClient) -> None:
    cursor = load_json(PAGE1)["message"]["next-cursor"]
    serve(rsps, "*", 200, body(PAGE1), "application/json")
    serve(rsps, cursor, 404, body(BAD_CURSOR), "application/json")
    refuse_others(rsps)
    walk = iter_feed(client, BASE, MEMBER_98, from_index_date="2026-12-01", rows=5)
    assert len(next(walk).items) == 5
    with pytest.raises(CursorExpired):
        next(walk)


def test_400_naming_the_cursor_raises_cursor_expired(rsps, client: HttpClient) -> None:
    # Derived from the recorded 400 validation-failure body, with a message about the cursor.
    refusal = load_json(BAD_REQUEST)
    refusal["message"] = [
        {"type": "cursor-invalid", "value": "stale", "message": "Cursor is no longer valid"}
    ]
    serve(rsps, "stale", 400, json.dumps(refusal), "application/json;charset=utf-8")
    with pytest.raises(CursorExpired) as caught:
        list(iter_feed(client, BASE, MEMBER_98, from_index_date=None, cursor="stale"))
    assert caught.value.status == 400


def test_recorded_400_not_about_the_cursor_is_a_client_error(rsps, client: HttpClient) -> None:
    serve(rsps, "stale", 400, body(BAD_REQUEST), "application/json;charset=utf-8")
    with pytest.raises(ClientError) as caught:
        list(iter_feed(client, BASE, MEMBER_98, from_index_date=None, cursor="stale"))
    assert not isinstance(caught.value, CursorExpired)
    assert "must be a positive integer less than or equal to 100" in str(caught.value)
    assert len(rsps.calls) == 1


def test_cursor_refused_on_the_first_request_is_not_expiry(rsps, client: HttpClient) -> None:
    # "*" cannot expire: CursorExpired there would make a restart-from-"*" caller loop.
    serve(rsps, "*", 404, body(BAD_CURSOR), "application/json")
    with pytest.raises(NotFound) as caught:
        list(iter_feed(client, BASE, MEMBER_98, from_index_date=None))
    assert not isinstance(caught.value, CursorExpired)


def test_plain_text_404_is_not_found(rsps, client: HttpClient) -> None:
    serve(rsps, "stale", 404, body(NOT_FOUND_TEXT), "text/plain")
    with pytest.raises(NotFound) as caught:
        list(iter_feed(client, BASE, MEMBER_98, from_index_date=None, cursor="stale"))
    assert not isinstance(caught.value, CursorExpired)


def test_recorded_500_on_a_cursor_is_not_retried(rsps, client: HttpClient) -> None:
    # HttpClient does not retry 500 (Crossref's 500 is a deterministic exception): one request,
    # a plain UpstreamError carrying the status, neither transient nor a cursor expiry.
    assert load_meta(CURSOR_500)["response"]["status"] == 500
    serve(rsps, "5", 500, body(CURSOR_500), "application/json")
    with pytest.raises(UpstreamError) as caught:
        list(iter_feed(client, BASE, MEMBER_98, from_index_date=None, cursor="5"))
    assert type(caught.value) is UpstreamError
    assert caught.value.status == 500
    assert "Response Exception" in str(caught.value)
    assert len(rsps.calls) == 1


def test_503_on_a_page_is_retried_by_the_client(rsps, client: HttpClient, clock: FakeClock) -> None:
    cursor = load_json(PAGE1)["message"]["next-cursor"]
    serve(rsps, "*", 200, body(PAGE1), "application/json")
    serve(rsps, cursor, 503, "", "text/html")
    serve(rsps, cursor, 200, body(PAGE2), "application/json")
    serve(rsps, cursor, 200, json.dumps(end_page()), "application/json")
    refuse_others(rsps)
    pages = list(iter_feed(client, BASE, MEMBER_98, from_index_date=None, rows=5))
    assert [len(p.items) for p in pages] == [5, 5]
    assert [c.response.status_code for c in rsps.calls] == [200, 503, 200, 200]
    assert clock.sleeps  # the retry waited (on the fake clock)


def test_truncated_json_page_is_transient(rsps, client: HttpClient) -> None:
    serve(rsps, "*", 200, body(PAGE1)[:500], "application/json")
    with pytest.raises(TransientError):
        list(iter_feed(client, BASE, MEMBER_98, from_index_date=None, rows=5))
