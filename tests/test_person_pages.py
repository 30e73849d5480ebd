"""The OpenAlex and Crossref feeds of a person and of an institution (issue 21): what they ask
(the author id, ROR or ORCID filter, the cursor, the watermark where allowed) and what they
hand the feed driver (each work an answer, and a candidate with its evidence).

HTTP is answered by `responses`. The OpenAlex pages are the recorded author listing's envelope
(tests/fixtures/openalex/list_works_filter-author.id-...: its meta as recorded) around recorded
works, with `meta.next_cursor` set where a page is to have a next one: no recorded cursor walk
of an author or an institution was found (see PROVENANCE.tsv). The Crossref pages are the
recorded cursor walk of member 98 (../shared/fixtures) around a recorded work carrying an ORCID.
"""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from conftest import load_json
from fakes import FakeClock, fake_client

from harvester.config import Config
from harvester.identifiers import parse_doi as _doi
from harvester.sources import crossref, openalex
from harvester.sources.base import Candidate, FeedState
from harvester.sources.openalex import DailyLimitReached, keyless_allowance

BASE = "http://127.0.0.1:8080/openalex"
CROSSREF = "http://127.0.0.1:8080/crossref"
AUTHOR_LISTING = "openalex/list_works_filter-author.id-A5017898742_select-display_name-id.json"
#: Martin Fenner's blog post: one authorship, OpenAlex author A5069389160, with his ORCID iD.
FENNER_POST = "openalex/10.53731_ybhah-9jy85.json"
#: A figure of a PLOS Medicine article: authors without OpenAlex ids or ORCID iDs.
PLOS_FIGURE = "openalex/10.1371_journal.pmed.0030277.g001.json"
FENNER_ORCID = "0000-0003-1419-2405"
TODAY = datetime.now(UTC).strftime("%Y-%m-%d")


def person(number: int, name: str, **ids: str) -> dict:
    """A person as Store.people.get gives one."""
    return {
        "id": number,
        "name": name,
        "ids": [{"scheme": scheme, "key": key, "value": key} for scheme, key in ids.items()],
    }


FENNER = person(1, "Martin Fenner", openalex="A5069389160", orcid=FENNER_ORCID)


def listing(works: list[dict], next_cursor: str | None) -> dict:
    body = copy.deepcopy(load_json(AUTHOR_LISTING))
    body["meta"].update(count=len(works), per_page=openalex.WORKS_PER_PAGE, page=None)
    body["meta"]["next_cursor"] = next_cursor
    body["results"] = works
    return body


def config(api_key: str = "") -> Config:
    base = Config(mailto="someone@example.org")
    return dataclasses.replace(
        base,
        openalex=dataclasses.replace(base.openalex, url=BASE, api_key=api_key),
        crossref=dataclasses.replace(base.crossref, url=CROSSREF),
    )


def asked(call) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


@pytest.fixture
def rsps():
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def client():
    return fake_client(config(), clock=FakeClock())


def two_pages(rsps) -> None:
    rsps.get(f"{BASE}/works", json=listing([load_json(FENNER_POST)], "IlsxNjA5MzcyODAwMDAwXSI="))
    rsps.get(f"{BASE}/works", json=listing([load_json(PLOS_FIGURE)], None))


def test_a_persons_works_are_walked_by_cursor_each_an_answer_and_a_candidate(rsps, client):
    two_pages(rsps)
    pages = list(openalex.person_pages(FENNER, FeedState(since=None), client, config()))

    first, second = (asked(call) for call in rsps.calls)
    assert first == {"filter": "author.id:A5069389160", "per_page": "100", "cursor": "*"}
    assert second["cursor"] == "IlsxNjA5MzcyODAwMDAwXSI="
    assert [p.resume for p in pages] == ["IlsxNjA5MzcyODAwMDAwXSI=", None]
    assert {p.watermark for p in pages} == {TODAY}
    [post], [figure] = (p.answers for p in pages)
    assert (post.source, post.status, post.display) == ("openalex", "ok", "10.53731/ybhah-9jy85")
    assert openalex.parse(post.payload).title == openalex.parse(load_json(FENNER_POST)).title
    # His ORCID iD is on the byline of the first; the second is listed for his author id only.
    assert [c for p in pages for c in p.candidates] == [
        Candidate(_doi("10.53731/ybhah-9jy85"), "orcid-in-authorship", False),
        Candidate(_doi("10.1371/journal.pmed.0030277.g001"), "openalex-author", False),
    ]
    assert figure.identifier == _doi("10.1371/journal.pmed.0030277.g001").key


def test_with_an_api_key_only_what_changed_since_the_watermark_is_asked(rsps):
    rsps.get(f"{BASE}/works", json=listing([], None))
    keyed = config(api_key="k3y")
    list(openalex.person_pages(FENNER, FeedState(since="2026-11-30"), fake_client(keyed), keyed))
    [call] = rsps.calls
    assert asked(call)["filter"] == "author.id:A5069389160,from_updated_date:2026-11-30"
    assert asked(call)["api_key"] == "k3y"


def test_without_a_key_the_whole_listing_is_asked_again(rsps, client):
    """OpenAlex allows from_updated_date only to a key holder: keyless, every run lists all."""
    rsps.get(f"{BASE}/works", json=listing([], None))
    pages = list(openalex.person_pages(FENNER, FeedState(since="2026-11-30"), client, config()))
    [call] = rsps.calls
    assert asked(call)["filter"] == "author.id:A5069389160"
    assert "api_key" not in asked(call)
    assert [(p.answers, p.resume, p.watermark) for p in pages] == [([], None, TODAY)]


def test_an_unfinished_walk_resumes_from_its_cursor(rsps, client):
    rsps.get(f"{BASE}/works", json=listing([load_json(PLOS_FIGURE)], None))
    state = FeedState(since=None, resume="IlsxNjA5MzcyODAwMDAwXSI=")
    list(openalex.person_pages(FENNER, state, client, config()))
    [call] = rsps.calls
    assert asked(call)["cursor"] == "IlsxNjA5MzcyODAwMDAwXSI="


def test_a_person_without_an_openalex_id_is_not_asked(rsps, client):
    nobody = person(2, "Ann Other", orcid=FENNER_ORCID)
    assert list(openalex.person_pages(nobody, FeedState(since=None), client, config())) == []
    assert not rsps.calls


def test_a_spent_keyless_allowance_stops_the_walk_before_asking(rsps, client):
    allowance = keyless_allowance(client)
    while allowance.take():
        pass
    with pytest.raises(DailyLimitReached):
        list(openalex.person_pages(FENNER, FeedState(since=None), client, config()))
    assert not rsps.calls


# --- the institution feed ---

#: eLife 2014: four authors at the University of Lausanne (ROR 019whta54), one elsewhere.
ELIFE = "openalex/10.7554_elife.01567.json"
LAUSANNE = {"ror": "https://ror.org/019whta54", "key": "019whta54", "name": "Lausanne"}


def test_an_institutions_works_are_claims_only_for_its_people_the_byline_names(rsps, client):
    work = load_json(ELIFE)
    rsps.get(f"{BASE}/works", json=listing([work], None))
    authors = {a["author"]["display_name"]: a for a in work["authorships"]}
    nieminen = openalex.bare_orcid(authors["Kaisa Nieminen"]["author"]["orcid"])
    people = [
        person(1, "M. Sankar"),  # by name alone: family name and first initial
        person(2, "K. Nieminen-Someone", orcid=nieminen),  # by the ORCID on her authorship
        person(3, "Jane Ragni"),  # another first name: not her
        person(4, "Ioannis Xenarios"),  # the right name, but not at Lausanne on this work
    ]
    [got] = openalex.institution_pages(LAUSANNE, people, FeedState(since=None), client, config())

    [call] = rsps.calls
    assert asked(call)["filter"] == "authorships.institutions.ror:https://ror.org/019whta54"
    doi = _doi(work["doi"])
    assert [a.identifier for a in got.page.answers] == [doi.key]
    assert got.page.candidates == []
    assert got.claims == [
        (1, Candidate(doi, "affiliation name-match:0.92")),
        (2, Candidate(doi, "orcid-in-authorship")),
    ]


# --- Crossref: the works under a person's ORCID iD ---

PAGE2 = "crossref/list_members-98_works_rows5_cursor-page2.json"
FENNER_CROSSREF = "crossref/10.53731_ybhah-9jy85.json"


def test_crossref_lists_a_persons_orcid_works_as_a_second_opinion(rsps, client):
    page = copy.deepcopy(load_json(PAGE2))
    page["message"]["items"] = [load_json(FENNER_CROSSREF)["message"]]
    end = copy.deepcopy(page)
    end["message"]["items"] = []
    rsps.get(f"{CROSSREF}/works", json=page)
    rsps.get(f"{CROSSREF}/works", json=end)
    state = FeedState(since="2026-11-30")
    pages = list(crossref.orcid_pages(FENNER, state, client, config()))

    first, second = (asked(call) for call in rsps.calls)
    assert first["filter"] == f"from-index-date:2026-11-30,orcid:{FENNER_ORCID}"
    assert (first["cursor"], first["rows"]) == ("*", "1000")
    cursor = page["message"]["next-cursor"]
    assert second["cursor"] == cursor
    assert [p.resume for p in pages] == [f"{FENNER_ORCID} {cursor}", None]
    assert [c for p in pages for c in p.candidates] == [
        Candidate(_doi("10.53731/ybhah-9jy85"), "crossref-orcid", False)
    ]
    assert [a.source for a in pages[0].answers] == ["crossref"]
    assert {p.watermark for p in pages} == {TODAY}


def test_crossref_resumes_the_orcid_walk_it_was_in(rsps, client):
    end = copy.deepcopy(load_json(PAGE2))
    end["message"]["items"] = []
    rsps.get(f"{CROSSREF}/works", json=end)
    state = FeedState(since=None, resume=f"{FENNER_ORCID} CURSOR123")
    list(crossref.orcid_pages(FENNER, state, client, config()))
    [call] = rsps.calls
    assert asked(call)["cursor"] == "CURSOR123"
    assert asked(call)["filter"] == f"orcid:{FENNER_ORCID}"


# --- against the local upstream (tests/upstream.py): the author and ROR filters it replays ---


def test_the_replay_upstream_walks_an_institution_and_an_author_page_by_page(monkeypatch):
    """Two recorded works, at Lausanne (eLife) and elsewhere (Springer), one work a page: the
    institution's walk ends after its one work; an author's walks both of their ids' works,
    page by page with the cursor, and with a key only those updated since the watermark."""
    from upstream import ReplayUpstream

    monkeypatch.setattr(openalex, "WORKS_PER_PAGE", 1)
    with ReplayUpstream() as upstream:
        upstream.add_openalex(
            "10.7554_elife.01567", "10.1007_978-3-662-46370-3_13", "10.1101_097196"
        )
        replay = upstream.config()
        client = fake_client(replay)
        people = [person(1, "M. Sankar")]
        pages = list(
            openalex.institution_pages(LAUSANNE, people, FeedState(since=None), client, replay)
        )
        elife = _doi(load_json(ELIFE)["doi"])
        assert [[a.identifier for a in p.page.answers] for p in pages] == [[elife.key]]
        assert pages[-1].page.resume is None
        assert [claims for p in pages for claims in p.claims] == [
            (1, Candidate(elife, "affiliation name-match:0.92"))
        ]

        # One person with two OpenAlex ids (a split profile): two works, a page each.
        both = person(1, "Martial Sankar", openalex="A5044224796|A5021980337")
        both["ids"] = [
            {"scheme": "openalex", "key": key, "value": key}
            for key in ("A5044224796", "A5021980337")
        ]
        walked = list(openalex.person_pages(both, FeedState(since=None), client, replay))
        springer = _doi(load_json("openalex/10.1007_978-3-662-46370-3_13.json")["doi"])
        assert [[c.identifier for c in p.candidates] for p in walked] == [[elife], [springer]]
        assert [p.resume for p in walked] == ["1", None]
        # With a key, only what OpenAlex updated since the watermark (Springer's 22 July).
        keyed = dataclasses.replace(
            replay, openalex=dataclasses.replace(replay.openalex, api_key="k3y")
        )
        since = FeedState(since="2026-07-20")
        changed = list(openalex.person_pages(both, since, fake_client(keyed), keyed))
        assert [c.identifier for p in changed for c in p.candidates] == [springer]


def test_by_one_id_the_feeds_walk_as_for_a_person_who_carries_only_it(rsps, client):
    """The shape `sources.PERSON_FEEDS` pulls a feed in: (id value, config, client, state)."""
    from harvester.sources import PERSON_FEEDS

    assert (PERSON_FEEDS["openalex"].scheme, PERSON_FEEDS["crossref"].scheme) == (
        "openalex",
        "orcid",
    )
    two_pages(rsps)
    walked = list(
        PERSON_FEEDS["openalex"].pages("A5069389160", config(), client, FeedState(since=None))
    )
    assert asked(rsps.calls[0])["filter"] == "author.id:A5069389160"
    # Their ORCID iD is not known by the id alone: the evidence is the author id.
    assert {c.evidence for p in walked for c in p.candidates} == {"openalex-author"}
