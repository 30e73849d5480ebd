"""The OpenAlex cursor walk (issue 21) on a real recorded one: diophila's cassette of a /works
listing asked with `cursor=*`, whose `meta.next_cursor` the second request was asked with, and
that second answer, which ends the walk (next_cursor null, results []).

The pages were recorded for a DOI filter (two PLOS ONE works, per_page 25); here they answer an
author's walk, since what is tested is the walk: which cursor is asked, when it stops, and what
each page hands the feed driver. HTTP is answered by `responses`, each page by its `cursor`.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from conftest import fixture_path, load_json, load_meta
from fakes import FakeClock, fake_client
from responses import matchers
from test_person_pages import BASE, asked, config

from harvester.identifiers import parse_doi
from harvester.sources import openalex
from harvester.sources.base import Candidate, FeedState
from harvester.sources.openalex import parse_work_list

PAGE1 = "openalex/list_works_cursor_page1_filter-doi-pone.0266781-pone.0267149.json"
PAGE2 = "openalex/list_works_cursor_page2_end_filter-doi-pone.0266781-pone.0267149.json"
#: The cursor the recording's second request was asked with, read from its URL as recorded.
RECORDED_CURSOR = parse_qs(urlsplit(load_meta(PAGE2)["request"]["url"]).query)["cursor"][0]
#: The two works of the recorded listing, in its order.
LISTED = ["10.1371/journal.pone.0266781", "10.1371/journal.pone.0267149"]
#: Jason Cham's OpenAlex author id (the first work's first author): the walk's filter.
AUTHOR = "A2339840688"


@pytest.fixture
def rsps():
    with responses.RequestsMock() as mock:  # every page registered must be asked for
        for page, cursor in ((PAGE1, "*"), (PAGE2, RECORDED_CURSOR)):
            mock.get(
                f"{BASE}/works",
                body=fixture_path(page).read_bytes(),
                content_type="application/json",
                match=[matchers.query_param_matcher({"cursor": cursor}, strict_match=False)],
            )
        yield mock


@pytest.fixture
def client():
    return fake_client(config(), clock=FakeClock())


def test_page_one_carries_the_cursor_page_two_was_asked_with_and_its_works():
    page = parse_work_list(load_json(PAGE1))
    assert page.next_cursor == RECORDED_CURSOR
    assert page.total == 2
    assert [openalex.bare_doi(w["doi"]) for w in page.items] == LISTED
    assert [w["id"] for w in page.items] == [
        "https://openalex.org/W4224016882",
        "https://openalex.org/W4223895588",
    ]


def test_page_two_ends_the_walk():
    page = parse_work_list(load_json(PAGE2))
    assert (page.next_cursor, page.items, page.total) == (None, [], 2)


def test_the_walk_asks_star_then_the_recorded_cursor_and_stops_after_the_empty_page(rsps, client):
    walk = openalex.author_pages(AUTHOR, config(), client, FeedState(since=None))

    first = next(walk)
    assert len(rsps.calls) == 1  # a page is asked only once the one before is handed on
    assert first.resume == RECORDED_CURSOR
    rest = list(walk)

    assert len(rsps.calls) == 2  # no third request after next_cursor null
    one, two = (asked(call) for call in rsps.calls)
    assert one == {"filter": f"author.id:{AUTHOR}", "per_page": "100", "cursor": "*"}
    assert two == {**one, "cursor": RECORDED_CURSOR}
    # Sent as the recording sent it: "=" escaped.
    assert (
        f"cursor={RECORDED_CURSOR.replace('=', '%3D')}" in urlsplit(rsps.calls[1].request.url).query
    )
    [last] = rest
    assert (last.answers, last.candidates, last.resume) == ([], [], None)


def test_each_listed_work_with_a_doi_is_an_answer_and_a_candidate(rsps, client):
    first, _ = openalex.author_pages(AUTHOR, config(), client, FeedState(since=None))
    works = load_json(PAGE1)["results"]

    assert [(a.source, a.status, a.display) for a in first.answers] == [
        ("openalex", "ok", doi) for doi in LISTED
    ]
    assert [a.identifier for a in first.answers] == [parse_doi(d).key for d in LISTED]
    assert [openalex.parse(a.payload).title for a in first.answers] == [
        openalex.parse(w).title for w in works
    ]
    # By author id alone (no ORCID iD known to author_pages): OpenAlex's listing is the evidence.
    assert first.candidates == [Candidate(parse_doi(d), "openalex-author", False) for d in LISTED]


def test_a_walk_kept_at_the_recorded_cursor_resumes_there_and_ends(client):
    with responses.RequestsMock() as mock:
        mock.get(
            f"{BASE}/works",
            body=fixture_path(PAGE2).read_bytes(),
            content_type="application/json",
            match=[matchers.query_param_matcher({"cursor": RECORDED_CURSOR}, strict_match=False)],
        )
        state = FeedState(since=None, resume=RECORDED_CURSOR)
        pages = list(openalex.author_pages(AUTHOR, config(), client, state))
        assert len(mock.calls) == 1
    assert [(p.answers, p.resume) for p in pages] == [([], None)]
