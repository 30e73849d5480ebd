"""Person feeds (issue 21): ORCID's and RAS's candidates read from the recorded answers, ORCID's
refusals (documented texts, no recorded body exists), and the driver in-process against the
local upstream: a feed plugged in by one line, a failed lookup that keeps the watermark, `harvest
run` taking the people in, and a person removed with their watermarks."""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil

import pytest
import responses
from conftest import KEPT, fixture_path, load_json
from fakes import UNPACED, fake_client, run_pipeline
from upstream import ReplayUpstream

from harvester import sources
from harvester.config import Config, PeopleConfig, RasConfig, load_config
from harvester.errors import ConfigError
from harvester.identifiers import Doi, RepecHandle, parse_doi
from harvester.people import parse_person_id
from harvester.pipeline import harvest_due, harvest_people
from harvester.sources import orcid, ras
from harvester.sources.base import Candidate, FeedState, PersonPage
from harvester.store import open_store

WORKS = KEPT / "orcid" / "0000-0003-1444-9135_works_6-groups.json"
ID = "0000-0003-1444-9135"
URL = f"https://pub.orcid.org/v3.0/{ID}/works"
JSON_TYPE = "application/json;charset=UTF-8"


def orcid_client(config: Config):
    return fake_client(config, pools={orcid.POOL: UNPACED})


# --- ORCID's candidates ---


def test_the_recorded_works_give_their_dois_as_own_candidates_and_count_the_name_only_ones():
    works = orcid.parse_works(json.loads(WORKS.read_bytes()))
    candidates, without_ids = orcid.work_candidates(works)
    assert [c.identifier.key for c in candidates] == [
        "10.3897/biss.2.25589",
        "10.5281/zenodo.1238947",
        "10.1111/ele.12279",
        "10.1111/1365-2745.12293",  # two summaries of one DOI: one candidate
    ]
    assert {(c.evidence, c.own) for c in candidates} == {("orcid-listed", True)}
    assert without_ids == 2  # the two figshare groups: a title, no id


def test_a_repec_handle_or_ideas_link_among_a_works_ids_is_a_candidate():
    work = orcid.parse_works(json.loads(WORKS.read_bytes()))[4]
    linked = dataclasses.replace(
        work,
        other_ids=(
            ("uri", "https://ideas.repec.org/p/ceu/econwp/2025_2.html"),
            ("source-work-id", "RePEc:ceu:econwp:2012_1"),
            ("uri", "https://example.org/not-repec"),
        ),
    )
    candidates, without_ids = orcid.work_candidates([linked])
    assert [c.identifier for c in candidates] == [
        RepecHandle("ceu", "econwp", "2025_2"),
        RepecHandle("ceu", "econwp", "2012_1"),
    ]
    assert without_ids == 0


@responses.activate
def test_an_unchanged_record_is_one_request_and_no_candidate():
    responses.get(URL, body=WORKS.read_bytes(), content_type=JSON_TYPE)
    since = "2018-08-10T20:50:43.573Z"  # the record's last-modified-date
    [page] = orcid.person_pages(ID, Config(), orcid_client(Config()), FeedState(since))
    assert page == PersonPage(candidates=[], watermark=since)
    assert len(responses.calls) == 1


@responses.activate
def test_a_changed_record_offers_only_the_works_changed_since_the_watermark():
    responses.get(URL, body=WORKS.read_bytes(), content_type=JSON_TYPE)
    # Between the groups' dates: 2018-05-21 (biss) and 2018-08-10 (zenodo) are after it.
    since = "2016-06-01T00:00:00.000Z"
    [page] = orcid.person_pages(ID, Config(), orcid_client(Config()), FeedState(since))
    assert [c.identifier.key for c in page.candidates] == [
        "10.3897/biss.2.25589",
        "10.5281/zenodo.1238947",
    ]
    assert page.watermark == "2018-08-10T20:50:43.573Z"


#: ORCID's documented error object for a deprecated record (apiError.9007 in ORCID-Source's
#: api_en.properties: "This account is deprecated. Please refer to account: ..."). No recorded
#: answer of one was found in other projects' fixtures.
PRIMARY = "0000-0002-1825-0097"


def deprecated_body(asked: str) -> dict:
    return {
        "response-code": 301,
        "developer-message": "301 Moved Permanently: This account is deprecated. Please refer "
        f"to account: https://orcid.org/{PRIMARY}. ORCID https://orcid.org/{asked}",
        "user-message": f"This account is deprecated. Please refer to account: "
        f"https://orcid.org/{PRIMARY}.",
        "error-code": 9007,
    }


@responses.activate
def test_a_deprecated_record_redirected_off_the_api_host_names_the_primary():
    responses.get(
        URL,
        status=301,
        json=deprecated_body(ID),
        headers={"Location": f"https://orcid.org/{PRIMARY}/works"},
    )
    with pytest.raises(orcid.RecordDeprecated) as caught:
        orcid.fetch_works(ID, orcid_client(Config()), Config())
    assert caught.value.primary == PRIMARY
    assert f"ORCID record {ID} is deprecated" in str(caught.value)
    assert len(responses.calls) == 1


@responses.activate
def test_a_deprecated_record_answered_with_its_error_object_names_the_primary():
    responses.get(URL, status=200, json=deprecated_body(ID))
    with pytest.raises(orcid.RecordDeprecated) as caught:
        orcid.fetch_works(ID, orcid_client(Config()), Config())
    assert caught.value.primary == PRIMARY


# --- RAS's candidates ---


def test_each_claimed_handle_and_the_doi_its_item_names_is_an_own_candidate():
    person = ras.parse_person(fixture_path("redif/ras_pbe27.redif").read_bytes(), "b/pbe27.rdf")
    candidates = ras.claim_candidates(person)
    handles = [c for c in candidates if isinstance(c.identifier, RepecHandle)]
    dois = [c for c in candidates if isinstance(c.identifier, Doi)]
    assert len(handles) == len(person.claims) == 141
    assert [c.identifier.key for c in dois] == ["10.1086/684853"]
    assert {(c.evidence, c.own) for c in candidates} == {("ras-claimed", True)}


def test_an_unchanged_ras_file_gives_no_candidate(tmp_path):
    (tmp_path / "r").mkdir()
    shutil.copy(fixture_path("redif/ras_pry2.redif"), tmp_path / "r" / "pry2.rdf")
    config = Config(ras=RasConfig(url=str(tmp_path)))
    [first] = ras.person_pages("pry2", config, fake_client(config), FeedState(None))
    assert len(first.candidates) == 7 and first.watermark.startswith("sha256:")
    [again] = ras.person_pages("pry2", config, fake_client(config), FeedState(first.watermark))
    assert again == PersonPage(candidates=[], watermark=first.watermark)


# --- config ---


def test_auto_accept_own_is_on_by_default_and_can_be_turned_off(tmp_path):
    assert Config().people == PeopleConfig(auto_accept_own=True)
    path = tmp_path / "harvester.toml"
    path.write_text("[people]\nauto_accept_own = false\n")
    assert load_config(path, env={}).people.auto_accept_own is False
    path.write_text('[people]\nauto_accept_own = "yes"\n')
    with pytest.raises(ConfigError, match="auto_accept_own must be bool"):
        load_config(path, env={})


# --- the driver, in-process ---

CLAIM_STATUSES = ("pending", "accepted", "rejected")
BLOG = "10.53731/ybhah-9jy85"
DATASET = "10.6084/m9.figshare.1449060"


@pytest.fixture
def upstream():
    with ReplayUpstream() as server:
        server.add_crossref("10.53731_ybhah-9jy85")
        server.add_datacite("10.6084_m9.figshare.1449060")
        body = copy.deepcopy(load_json("orcid/0000-0003-1444-9135_works_6-groups.json"))
        body["group"] = body["group"][:1]
        for holder in (body["group"][0], *body["group"][0]["work-summary"]):
            holder["external-ids"]["external-id"][0]["external-id-value"] = BLOG
        server.add_orcid(ID, body)
        yield server


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "h.db")
    yield s
    s.close()


def a_person(store, **ids: str) -> int:
    return store.people.add("A. Researcher", [parse_person_id(k, v) for k, v in ids.items()])


def by_name_pages(value, config, client, state):
    """A person feed plugged in as the other feeds are (one line of PERSON_FEEDS): a work
    found by name alone, not the person's own record."""
    yield PersonPage(candidates=[Candidate(parse_doi(DATASET), "name-match:0.87")], watermark="1")


def test_a_feed_plugged_in_by_one_line_offers_a_pending_claim_beside_the_own_ones(
    upstream, store, monkeypatch
):
    extra = sources.PersonFeed("by-name", "orcid", by_name_pages)
    monkeypatch.setattr(sources, "PERSON_FEEDS", {**sources.PERSON_FEEDS, "by-name": extra})
    person = a_person(store, orcid=ID)
    result, _ = run_pipeline(harvest_people, None, store=store, config=upstream.config())
    assert result.exit_code == 0
    claims = {c["doi"].lower(): c for c in store.claims.listing(person, CLAIM_STATUSES)}
    assert claims[BLOG]["status"] == "accepted" and claims[BLOG]["found_by"] == ["orcid"]
    assert claims[DATASET]["status"] == "pending"
    assert claims[DATASET]["evidence"] == {"by-name": "name-match:0.87"}
    assert store.feeds.get(f"person:by-name:orcid:{ID}")["watermark"] == "1"


def test_a_lookup_that_failed_keeps_the_watermark_and_the_next_run_asks_again(upstream, store):
    person = a_person(store, orcid=ID)
    upstream.fail("/crossref/works", 500, times=None)
    config = upstream.config()
    result, _ = run_pipeline(harvest_people, None, store=store, config=config)
    assert result.exit_code == 1
    feed = store.feeds.get(f"person:orcid:{ID}")
    assert feed["watermark"] is None and "could not be harvested" in feed["error"]
    assert store.claims.listing(person, CLAIM_STATUSES) == []
    upstream.faults.clear()
    result, _ = run_pipeline(harvest_people, None, store=store, config=config)
    assert result.exit_code == 0
    [claim] = store.claims.listing(person, CLAIM_STATUSES)
    assert claim["status"] == "accepted"
    assert store.feeds.get(f"person:orcid:{ID}")["watermark"] == "2018-08-10T20:50:43.573Z"


def two_pages(value, config, client, state):
    """A person feed of two pages with a cursor; page 1 names the blog post, page 2 the
    dataset. Resumed at "c1", it gives page 2 alone."""
    if state.resume != "c1":
        yield PersonPage(candidates=[Candidate(parse_doi(BLOG), "name-match:0.9")], resume="c1")
    yield PersonPage(candidates=[Candidate(parse_doi(DATASET), "name-match:0.9")], watermark="w")


def test_a_page_whose_work_failed_is_read_again_not_resumed_past(upstream, store, monkeypatch):
    """Page 1's work cannot be harvested (Crossref answers 500), page 2's can: the feed keeps
    no cursor past page 1, so the next run reads page 1 again and offers its claim."""
    feed = sources.PersonFeed("paged", "orcid", two_pages)
    monkeypatch.setattr(sources, "PERSON_FEEDS", {"paged": feed})
    person = a_person(store, orcid=ID)
    upstream.fail("/crossref/works", 500, times=None)
    config = upstream.config()
    result, _ = run_pipeline(harvest_people, None, store=store, config=config)
    assert result.exit_code == 1
    row = store.feeds.get(f"person:paged:orcid:{ID}")
    assert row["watermark"] is None and row["cursor"] is None
    upstream.faults.clear()
    result, _ = run_pipeline(harvest_people, None, store=store, config=config)
    assert result.exit_code == 0
    claims = {c["doi"].lower() for c in store.claims.listing(person, CLAIM_STATUSES)}
    assert claims == {BLOG, DATASET}
    assert store.feeds.get(f"person:paged:orcid:{ID}")["watermark"] == "w"


def test_the_nightly_run_harvests_the_people_after_the_feeds(upstream, store):
    person = a_person(store, orcid=ID)
    result, outcomes = run_pipeline(harvest_due, store=store, config=upstream.config())
    assert result.exit_code == 0
    assert [o.identifier.lower() for o in outcomes] == [BLOG]
    [claim] = store.claims.listing(person, CLAIM_STATUSES)
    assert claim["status"] == "accepted"
    # accepted, so tracked: the next nightly has it on its watch list
    assert [t["key"] for t in store.watch.tracked()] == [BLOG]


def test_a_person_removed_takes_their_watermarks_with_them(upstream, store):
    person = a_person(store, orcid=ID)
    run_pipeline(harvest_people, None, store=store, config=upstream.config())
    assert store.feeds.get(f"person:orcid:{ID}") is not None
    store.people.remove([person])
    assert store.feeds.get(f"person:orcid:{ID}") is None
    again = a_person(store, orcid=ID)
    run_pipeline(harvest_people, None, store=store, config=upstream.config())
    assert [c["status"] for c in store.claims.listing(again, CLAIM_STATUSES)] == ["accepted"]


def test_a_claim_accepted_by_hand_has_its_work_tracked(upstream, store):
    person = a_person(store, orcid=ID)
    config = dataclasses.replace(upstream.config(), people=PeopleConfig(auto_accept_own=False))
    run_pipeline(harvest_people, None, store=store, config=config)
    [claim] = store.claims.listing(person)
    assert claim["status"] == "pending" and store.watch.tracked() == []
    store.claims.settle([claim["id"]], "accepted", "in her CV")
    assert [t["key"] for t in store.watch.tracked()] == [BLOG]
