"""A DOI that a RePEc or OAI record carries is never lost: it is recorded as due in the
transaction that stores the record, and stays due until its agency has answered, whatever happens
to the lookup (a failure, a kill) and whatever happens to the record (a rerun that sees it
unchanged, a watermark that moved past it, a file already read)."""

from __future__ import annotations

import sqlite3

import pytest
from conftest import QUICK_RETRIES, HarvestCommand
from upstream import ReplayUpstream, fixture_bytes

from harvester.identifiers import parse_doi

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
