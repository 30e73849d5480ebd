"""`harvest oai` in-process against the local upstream replaying Zenodo's recorded OAI-PMH answers:
a complete harvest stores every record and moves the feed's watermark; an incomplete one (an error
page, a stop, a bad token that keeps failing) stores what it read and moves nothing; the DOIs the
records carry are resolved at DataCite in the same run and become one work with the record."""

from __future__ import annotations

import json
import threading

import pytest
from fakes import run_pipeline
from upstream import ReplayUpstream, fixture_bytes

from harvester.config import Config, FeedConfig
from harvester.identifiers import parse_doi
from harvester.pipeline import feed_key, harvest_oai
from harvester.sources.oaipmh import parse_response
from harvester.store import open_store

#: Records on the three recorded pages, deleted ones left out: what a first harvest stores.
PAGES = ("page1", "page2", "page3_last")


def recorded_records():
    records = []
    for page in PAGES:
        body = fixture_bytes(f"oaipmh/zenodo_ListRecords_oai_dc_{page}.xml")
        records += parse_response(body, "http://replay/").records
    return records


@pytest.fixture
def upstream():
    with ReplayUpstream() as server:
        server.add_zenodo_list()
        yield server


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "h.db")
    yield s
    s.close()


def configure(upstream) -> Config:
    return upstream.config()


def zenodo(upstream) -> FeedConfig:
    return FeedConfig(kind="oai", endpoint=upstream.url_for("oai"))


def run(upstream, store, config=None, **options):
    config = config or configure(upstream)
    return run_pipeline(
        harvest_oai,
        zenodo(upstream),
        store=store,
        config=config,
        command="test",
        resolve_dois=options.pop("resolve_dois", False),
        **options,
    )


def feed_row(upstream, store):
    return store.feeds.get(feed_key(zenodo(upstream), configure(upstream)))


def test_a_complete_harvest_stores_every_record_and_moves_the_watermark(upstream, store):
    live = [r for r in recorded_records() if not r.deleted]
    result, outcomes = run(upstream, store)
    assert result.status == "ok" and result.exit_code == 0
    assert result.counts.created == len(live) == 8
    assert {o.identifier for o in outcomes} == {r.identifier for r in live}

    first = live[0]
    work = store.works.get(store.works.find_work_id("oai", first.identifier))
    assert work["doi"] == "10.5281/zenodo.8435696"
    assert work["title"].startswith("PocketCoffea: a configuration layer for CMS analys")
    assert json.loads(work["provenance"])["title"] == "oai"
    assert store.works.find_work_id("doi", parse_doi("10.5281/zenodo.8435696").key) == work["id"]

    row = feed_row(upstream, store)
    # The repository's clock at the first answer (Zenodo's granularity is to the second).
    assert row["watermark"] == "2026-08-13T17:56:48Z"
    assert row["records"] == 9 and row["error"] is None
    assert row["completed_run_id"] == result.run_id


def test_the_next_harvest_asks_from_the_watermark_and_nothing_new_changes_nothing(upstream, store):
    run(upstream, store)
    again, outcomes = run(upstream, store)
    # Unregistered queries answer Zenodo's recorded noRecordsMatch: nothing changed since then.
    assert again.status == "ok" and outcomes == []
    asked = [r for r in upstream.requests if "verb=ListRecords" in r and "from=" in r]
    assert asked and "from=2026-08-13T17%3A56%3A48Z" in asked[-1]
    assert feed_row(upstream, store)["watermark"] == "2026-08-13T17:56:48Z"


def test_an_error_page_in_the_middle_stores_what_was_read_and_moves_nothing(upstream, store):
    tokens = upstream.add_zenodo_list()
    upstream.fail(
        f"resumptionToken={tokens[1]}", 200, b"<html><body>Maintenance</body></html>", times=None
    )
    result, outcomes = run(upstream, store)
    assert result.status == "failures" and result.exit_code == 1
    failed = [o for o in outcomes if o.status == "failed"]
    assert len(failed) == 1 and "HTML page" in failed[0].error
    assert result.counts.created == 5  # pages 1 and 2 are kept
    row = feed_row(upstream, store)
    assert row["watermark"] is None and row["completed_at"] is None
    assert "HTML page" in row["error"]

    upstream.faults.clear()
    rerun, _ = run(upstream, store)
    assert rerun.status == "ok" and rerun.counts.created == 3 and rerun.counts.unchanged == 5
    assert feed_row(upstream, store)["watermark"] == "2026-08-13T17:56:48Z"


def test_a_bad_resumption_token_restarts_from_the_same_from(upstream, store):
    tokens = upstream.add_zenodo_list()
    body = fixture_bytes("oaipmh/zenodo_error_badResumptionToken_HTTP422.xml")
    upstream.fail(f"resumptionToken={tokens[0]}", 422, body, {"content-type": "text/xml"}, times=1)
    result, _ = run(upstream, store)
    assert result.status == "ok" and result.counts.created == 8
    first_pages = [
        r for r in upstream.requests if "metadataPrefix=oai_dc" in r and "verb=ListR" in r
    ]
    assert len(first_pages) == 2  # asked again from the start

    upstream.fail(
        f"resumptionToken={tokens[0]}", 422, body, {"content-type": "text/xml"}, times=None
    )
    again, outcomes = run(upstream, store, full=True)
    assert again.status == "failures" and "badResumptionToken" in outcomes[-1].error


def test_a_stop_between_pages_ends_interrupted_without_moving_the_watermark(upstream, store):
    config = configure(upstream)
    stop = threading.Event()
    stop.set()
    result, _ = run_pipeline(
        harvest_oai,
        zenodo(upstream),
        store=store,
        config=config,
        stop=stop,
        resolve_dois=False,
    )
    assert result.status == "interrupted" and result.counts.created == 3
    assert feed_row(upstream, store) is None


def test_a_deleted_record_of_a_known_work_is_noted_and_the_work_kept(upstream, store):
    deleted = next(r for r in recorded_records() if r.deleted)
    page2 = fixture_bytes("oaipmh/zenodo_ListRecords_oai_dc_page2.xml")
    tokens = upstream.add_zenodo_list()
    # First the record is alive (the recorded page without its deleted flag)...
    alive = page2.replace(b'<header status="deleted">', b"<header>", 1)
    upstream.fail(f"resumptionToken={tokens[0]}", 200, alive, {"content-type": "text/xml"}, times=1)
    run(upstream, store)
    work_id = store.works.find_work_id("oai", deleted.identifier)
    assert work_id is not None
    title = store.works.get(work_id)["title"]

    # ...then the repository reports it deleted, as recorded.
    _, outcomes = run(upstream, store, full=True)
    said = [o for o in outcomes if o.identifier == deleted.identifier]
    assert [o.status for o in said] == ["unchanged"] and said[0].work_id == work_id
    assert store.works.get(work_id)["title"] == title  # the work stays
    [(status,)] = store.conn.execute(
        """SELECT status FROM source_records WHERE source = 'oai' AND identifier = ?
           ORDER BY last_seen_at DESC, rowid DESC LIMIT 1""",
        (deleted.identifier,),
    ).fetchall()
    assert status == "not_found"


def test_a_records_doi_is_resolved_at_its_agency_into_the_same_work(upstream, store):
    # The recorded first page, its first record renumbered to a Zenodo DOI whose DataCite record
    # is in the recorded corpus (10.5281/zenodo.48440).
    page1 = fixture_bytes("oaipmh/zenodo_ListRecords_oai_dc_page1.xml").replace(
        b"8435696", b"48440"
    )
    upstream.fail("metadataPrefix=oai_dc", 200, page1, {"content-type": "text/xml"}, times=1)
    upstream.add_datacite("10.5281_zenodo.48440")
    upstream.set_agency("10.5281", "DataCite")
    result, outcomes = run(upstream, store, resolve_dois=True)

    work_id = store.works.find_work_id("oai", "oai:zenodo.org:48440")
    assert store.works.find_work_id("doi", parse_doi("10.5281/zenodo.48440").key) == work_id
    sources = [o.source for o in outcomes if o.work_id == work_id]
    assert sources[0] == "oai" and "datacite" in sources
    work = store.works.get(work_id)
    provenance = json.loads(work["provenance"])
    assert provenance["title"] == "datacite"  # the agency wins over the repository's oai_dc
    assert {c["source"] for c in work["conflicts"] if c["field"] == "title"} == {"oai", "datacite"}
    # The other records' DOIs are not in the recorded corpus: asked, and not found.
    assert result.counts.not_found == 7
