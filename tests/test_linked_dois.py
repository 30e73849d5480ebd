"""A DOI that a RePEc or OAI record carries is never lost: it is recorded as due in the
transaction that stores the record, and stays due until its agency has answered, whatever happens
to the lookup (a failure, a kill) and whatever happens to the record (a rerun that sees it
unchanged, a watermark that moved past it, a file already read)."""

from __future__ import annotations

import sqlite3

import pytest
import sqlite_utils
from conftest import QUICK_RETRIES, HarvestCommand
from upstream import ReplayUpstream, fixture_bytes

from harvester.identifiers import parse_doi
from harvester.store import open_store
from harvester.store.migrations import migrate

#: The Zenodo record on the recorded first page renumbered to a DOI whose DataCite record is in
#: the recorded corpus, as tests/test_oai_harvest.py does.
LINKED = "10.5281/zenodo.48440"
FAST = "[openalex]\nrate = 1000.0\n[doi]\nrate = 1000.0\n[datacite]\nrate = 1000.0\n"


def zenodo_page1() -> bytes:
    return fixture_bytes("oaipmh/zenodo_ListRecords_oai_dc_page1.xml").replace(b"8435696", b"48440")


@pytest.fixture
def upstream():
    with ReplayUpstream() as server:
        server.add_zenodo_list()
        server.add_datacite("10.5281_zenodo.48440")
        server.set_agency("10.5281", "DataCite")
        yield server


def oai_command(tmp_path, upstream) -> HarvestCommand:
    endpoints = f'[oai]\nrate = 1000.0\n\n[oai.endpoints]\nmirror = "{upstream.url_for("oai")}"\n'
    return HarvestCommand(tmp_path, upstream.env(), QUICK_RETRIES + FAST + endpoints)


def agency_answers(db, doi: str) -> list[tuple[str, str]]:
    """The (source, status) answers its agency gave for a DOI, as stored."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT source, status FROM source_records WHERE identifier = ? AND source != 'openalex'",
            (parse_doi(doi).key,),
        ).fetchall()
    finally:
        conn.close()


def due_links(db) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [row[0] for row in conn.execute("SELECT key FROM linked_dois ORDER BY key")]
    finally:
        conn.close()


def test_a_linked_doi_whose_agency_failed_is_due_and_the_next_run_stores_it(tmp_path, upstream):
    harvest = oai_command(tmp_path, upstream)
    upstream.fail("metadataPrefix=oai_dc", 200, zenodo_page1(), {"content-type": "text/xml"})
    upstream.fail("zenodo.48440", 500, times=None)  # DataCite down for this one DOI

    first = harvest("oai", "mirror")
    assert first.returncode == 1, first.stderr  # a lookup failed: not ok
    assert f"failed     {LINKED}" in first.stdout
    assert agency_answers(harvest.db_path, LINKED) == []
    assert due_links(harvest.db_path) == [parse_doi(LINKED).key]

    upstream.faults.clear()  # DataCite healthy again; the repository lists nothing new
    second = harvest("oai", "mirror")
    assert second.returncode == 0, second.stderr
    assert agency_answers(harvest.db_path, LINKED) == [("datacite", "ok")]
    assert due_links(harvest.db_path) == []
    conn = sqlite3.connect(harvest.db_path)
    try:
        [(work,)] = conn.execute(
            "SELECT work_id FROM identifiers WHERE scheme = 'oai' AND key = 'oai:zenodo.org:48440'"
        ).fetchall()
        [(linked,)] = conn.execute(
            "SELECT work_id FROM identifiers WHERE scheme = 'doi' AND key = ?",
            (parse_doi(LINKED).key,),
        ).fetchall()
    finally:
        conn.close()
    assert work == linked  # the repository's record and the agency's are one work


def test_an_upgrade_makes_the_doi_lost_before_it_due(tmp_path):
    """A database from before 0014 whose harvest lost a linked DOI: due after the upgrade; a
    DOI its agency answered is not."""
    path = tmp_path / "old.db"
    old = sqlite_utils.Database(sqlite3.connect(path, isolation_level=None))
    migrate(old, "2026-01-01T00:00:00Z", stop_before="0014_linked_dois")
    for work_id, oai, doi in (
        (1, "oai:zenodo.org:1", "10.5281/zenodo.1"),
        (2, "oai:z:2", "10.1/b"),
    ):
        old.execute(
            "INSERT INTO works (id, doi, version, created_at, updated_at) VALUES (?, ?, 1, 't', 't')",
            [work_id, doi],
        )
        old.execute(
            "INSERT INTO identifiers (scheme, key, value, work_id) VALUES ('doi', ?, ?, ?)",
            [doi, doi, work_id],
        )
        old.execute(
            "INSERT INTO source_records (source, identifier, work_id, status, fetched_at, "
            "last_seen_at, payload_hash) VALUES ('oai', ?, ?, 'ok', 't', 't', ?)",
            [oai, work_id, f"h{work_id}"],
        )
    old.execute(
        "INSERT INTO source_records (source, identifier, work_id, status, fetched_at, "
        "last_seen_at, payload_hash) VALUES ('crossref', '10.1/b', 2, 'ok', 't', 't', 'c')"
    )
    old.close()
    store = open_store(path)
    try:
        rows = store.conn.execute("SELECT key, carried_by FROM linked_dois").fetchall()
    finally:
        store.close()
    assert rows == [("10.5281/zenodo.1", "oai:zenodo.org:1")]
