"""An OAI feed's watermark never skips a record (issue 18, defect 10): it is clamped to the
harvester's own clock, whatever date the repository claims, and it never moves past a record
that failed to parse, so the next harvest asks for that record again.

The local upstream replays Zenodo's recorded three-page ListRecords chain; the test changes the
recorded bytes it needs changed (a responseDate a century ahead, one record's metadata in a
format no parser reads).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fakes import run_pipeline
from upstream import ReplayUpstream, fixture_bytes, replay_headers

from harvester.config import FeedConfig
from harvester.pipeline import feed_key, harvest_oai
from harvester.store import open_store

PAGE1 = "oaipmh/zenodo_ListRecords_oai_dc_page1.xml"
PAGE2 = "oaipmh/zenodo_ListRecords_oai_dc_page2.xml"
OAI_DC_NS = b'xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/"'
#: Page 2's second record (its first is deleted): the one made unreadable, and its datestamp.
UNREADABLE = "oai:zenodo.org:8333281"
UNREADABLE_DATESTAMP = "2023-10-12T01:34:35Z"


@pytest.fixture
def upstream():
    with ReplayUpstream() as server:
        server.tokens = server.add_zenodo_list()
        yield server


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "h.db")
    yield s
    s.close()


def feed(upstream) -> FeedConfig:
    return FeedConfig(kind="oai", endpoint=upstream.url_for("oai"))


def harvest(upstream, store):
    return run_pipeline(
        harvest_oai, feed(upstream), store=store, config=upstream.config(), resolve_dois=False
    )


def watermark(upstream, store) -> str | None:
    return store.feeds.get(feed_key(feed(upstream), upstream.config()))["watermark"]


def serve_instead(upstream, fixture: str, body: bytes, path_part: str) -> None:
    """Answer the request `path_part` names with `body` in place of the recorded `fixture`."""
    upstream.fail(path_part, 200, body, replay_headers(fixture), times=None)


def token_part(upstream, index: int) -> str:
    """A piece of the index-th resumption token that names its request alone (tokens share a
    long prefix, and this piece is sent as it is, unescaped)."""
    token, others = upstream.tokens[index], set(upstream.tokens) - {upstream.tokens[index]}
    for start in range(len(token) - 16):
        piece = token[start : start + 16]
        if piece.isalnum() and not any(piece in other for other in others):
            return piece
    raise AssertionError("no distinctive piece in the token")


def unreadable_page2() -> bytes:
    """Page 2 as recorded, but for UNREADABLE's metadata, put in a namespace no parser reads
    (the page's first record, a deleted one, keeps its own)."""
    first, rest = fixture_bytes(PAGE2).split(OAI_DC_NS, 1)
    broken = first + OAI_DC_NS + rest.replace(OAI_DC_NS, b'xmlns:oai_dc="urn:x-not-a-format"', 1)
    assert UNREADABLE.encode() in broken
    return broken


def test_a_response_date_in_the_future_is_clamped_to_the_harvesters_clock(upstream, store):
    ahead = fixture_bytes(PAGE1).replace(b"<responseDate>2026-", b"<responseDate>2126-", 1)
    serve_instead(upstream, PAGE1, ahead, "metadataPrefix=oai_dc")
    before = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    result, _ = harvest(upstream, store)

    after = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert result.status == "ok"
    assert before <= watermark(upstream, store) <= after  # not 2126: nothing is skipped


def test_a_record_that_failed_to_parse_holds_the_watermark_so_it_is_asked_again(upstream, store):
    serve_instead(upstream, PAGE2, unreadable_page2(), token_part(upstream, 0))

    result, outcomes = harvest(upstream, store)

    [failed] = [o for o in outcomes if o.status == "failed"]
    assert failed.identifier == UNREADABLE and result.exit_code == 1
    assert store.works.find_work_id("oai", UNREADABLE) is None
    # The listing was read to its end, yet the watermark stays at the unread record.
    assert watermark(upstream, store) <= UNREADABLE_DATESTAMP

    upstream.faults.clear()  # the repository mends the record; asked from it, it lists again
    query = {"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": UNREADABLE_DATESTAMP}
    upstream.add_oai(query, PAGE1)
    asked = len(upstream.requests)
    again, _ = harvest(upstream, store)
    listing = [r for r in list(upstream.requests)[asked:] if "ListRecords" in r]
    assert f"from={UNREADABLE_DATESTAMP[:10]}" in listing[0]  # asked from before the record
    assert again.exit_code == 0
    assert store.works.find_work_id("oai", UNREADABLE) is not None


def test_a_stored_record_answered_unreadable_later_keeps_its_work_as_it_was(upstream, store):
    # The wrong shape, for OAI: a record whose metadata no parser reads. It fails alone; the
    # work stored from its earlier, readable version is left exactly as it was.
    harvest(upstream, store)
    since = watermark(upstream, store)
    work_id = store.works.find_work_id("oai", UNREADABLE)
    before = store.works.get(work_id), store.works.history(work_id)

    query = {"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": since}
    upstream.add_oai(query, PAGE1)
    serve_instead(upstream, PAGE2, unreadable_page2(), token_part(upstream, 0))
    result, outcomes = harvest(upstream, store)

    assert [o.identifier for o in outcomes if o.status == "failed"] == [UNREADABLE]
    assert result.exit_code == 1
    assert (store.works.get(work_id), store.works.history(work_id)) == before
    assert watermark(upstream, store) <= UNREADABLE_DATESTAMP
