"""DataCite asked in lists end to end: the harvest pipeline against the local replay upstream
(tests/upstream.py, `/datacite/dois?ids=`), with the recorded DataCite records.

What it guarantees: the DataCite DOIs of a harvest go out as one `/dois?ids=` request, a DOI the
list leaves out is asked on its own, the stored payload keeps no base64 XML, and the payload of a
single look-up is the list's, so asking a DOI one way then the other keeps one payload.
"""

from __future__ import annotations

import json

import pytest
from conftest import load_json
from fakes import run_pipeline
from upstream import ReplayUpstream

from harvester.identifiers import parse_doi
from harvester.pipeline import harvest
from harvester.sources import datacite
from harvester.store import open_store

NAMES = (
    "10.5061_dryad.8515",
    "10.48550_arxiv.2311.16162",
    "10.4232_1.2745",
    "10.5281_zenodo.48440",
)
UNKNOWN = "10.5061/dryad.never-registered"


@pytest.fixture
def upstream():
    with ReplayUpstream() as server:
        yield server


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "h.db")
    yield s
    s.close()


def run(dois, store, config):
    _, outcomes = run_pipeline(
        harvest, [parse_doi(d) for d in dois], store=store, config=config, command="test"
    )
    return {o.identifier: o.status for o in outcomes}


def test_datacite_dois_go_in_one_list_and_the_miss_is_asked_singly(upstream, store):
    dois = upstream.add_datacite(*NAMES)
    config = upstream.config()

    statuses = run([*dois, UNKNOWN], store, config)

    assert statuses == {
        **{parse_doi(d).key: "created" for d in dois},
        parse_doi(UNKNOWN).key: "not_found",
    }
    lists = [r for r in upstream.requests if r.startswith("/datacite/dois?")]
    singles = [r for r in upstream.requests if r.startswith("/datacite/dois/")]
    assert len(lists) == 1 and f"page%5Bsize%5D={len(dois) + 1}" in lists[0]
    assert singles == [f"/datacite/dois/{UNKNOWN}"]
    rows = store.conn.execute(
        "SELECT identifier, payload_text(id) FROM source_records WHERE source = 'datacite' AND status = 'ok'"
    ).fetchall()
    assert len(rows) == len(dois)
    for _, payload in rows:
        assert "xml" not in json.loads(payload)["data"]["attributes"]


def test_a_record_from_the_list_and_one_from_a_single_look_up_are_unchanged_on_rerun(
    upstream, store
):
    dois = upstream.add_datacite(*NAMES)
    config = upstream.config()
    run(dois, store, config)
    # The second run asks one DOI alone (a batch of one is a single look-up): the single answer,
    # with its XML and relationship lists, is stored as the list's copy was, so nothing changed.
    assert run(dois[:1], store, config) == {parse_doi(dois[0]).key: "unchanged"}
    assert run(dois, store, config) == {parse_doi(d).key: "unchanged" for d in dois}
    assert store.conn.execute("SELECT count(*) FROM changes WHERE run_id > 1").fetchone() == (0,)
    # A payload that differed would be kept again (history): one payload per DOI, still.
    kept = "SELECT count(*) FROM source_records WHERE source = 'datacite'"
    assert store.conn.execute(kept).fetchone() == (len(dois),)


def test_the_stored_record_reads_as_the_recorded_answer(upstream, store):
    (doi,) = upstream.add_datacite(NAMES[0])
    run([doi], store, upstream.config())
    (payload,) = store.conn.execute(
        "SELECT payload_text(id) FROM source_records WHERE source = 'datacite'"
    ).fetchone()
    recorded = load_json(f"datacite/{NAMES[0]}.json")
    assert datacite.parse(json.loads(payload)) == datacite.parse(recorded)
