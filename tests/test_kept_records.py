"""The parsers and the end-to-end path on the real responses this repository keeps
(tests/fixtures, PROVENANCE.tsv), so that a clone alone tests them: these run whether or not
../shared/fixtures is beside the clone."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from conftest import KEPT, QUICK_RETRIES, HarvestCommand
from upstream import ReplayUpstream

from harvester import sources
from harvester.sources.oaipmh import parse_response, to_record

CROSSREF = "crossref/commonmeta-py_crossref.json"
DATACITE = "datacite/commonmeta-py_datacite.json"
CSL = "csl/commonmeta-py_citeproc.json"
OAI = "oaipmh/sickle_GetRecord.xml"


def raw(relative: str):
    return json.loads((KEPT / relative).read_bytes())


def parse(source: str, payload):
    """What the harvester makes of a payload: the registered source's parser."""
    return sources.SOURCES[source].parse(payload)


def test_crossref_work_field_by_field():
    message = raw(CROSSREF)
    record = parse("crossref", message)
    assert record.doi == message["DOI"] == "10.7554/elife.01567"
    assert record.title == message["title"][0]
    assert record.container_title == "eLife" and record.issn == ("2050-084X",)
    assert record.volume == "3" and record.type == "journal-article"
    assert record.issued == "2014-02-11" and record.published_online == "2014-02-11"
    assert record.publisher == "eLife Sciences Publications, Ltd"
    assert [(a.family, a.given) for a in record.authors] == [
        (a["family"], a["given"]) for a in message["author"]
    ]
    assert record.authors[3].affiliations == (
        "Vital-IT, Swiss Institute of Bioinformatics, Lausanne, Switzerland",
    )
    assert record.abstract.startswith("Among various advantages, their small size")
    assert "<jats:p>" not in record.abstract
    assert record.license == "http://creativecommons.org/licenses/by/3.0/"
    assert record.reference_count == 27 and record.cited_by_count == 26
    assert [(r.type, r.id) for r in record.relations] == [
        ("is-supplemented-by", "10.5061/dryad.b835k")
    ]


def test_datacite_record_field_by_field():
    attributes = raw(DATACITE)
    record = parse("datacite", attributes)
    assert record.doi == "10.5438/4k3m-nyvg"
    assert record.title == "Eating your own Dog Food"
    assert record.publisher == "DataCite" and record.issued.startswith("2016")
    assert [(a.family, a.given) for a in record.authors] == [("Fenner", "Martin")]
    assert record.subjects == ("datacite", "doi", "metadata")
    assert record.resource_version == "1.0"
    assert record.abstract.startswith("Eating your own dog food is a slang term")
    assert ("references", "doi", "10.5438/0012") in [
        (r.type, r.id_type, r.id) for r in record.relations
    ]


def test_csl_item_field_by_field():
    item = raw(CSL)
    record = parse("doi.org", item)
    assert record.doi == "10.5438/4k3m-nyvg"
    assert record.title == "Eating your own Dog Food"
    assert record.container_title == "DataCite Blog"
    assert record.issued == "2016-12-20"
    assert [(a.family, a.given) for a in record.authors] == [("Fenner", "Martin")]
    assert record.url == "https://blog.datacite.org/eating-your-own-dog-food"


def test_oai_dc_record_field_by_field():
    page = parse_response((KEPT / OAI).read_bytes(), "http://test.example.com/oai")
    (oai_record,) = page.records
    assert oai_record.identifier == "oai:test.example.com:1996652"
    assert page.response_date == "2013-02-27T10:07:54Z"
    record = to_record(oai_record)
    assert record.title == "Sample Title" and record.publisher == "Sample Publisher"
    assert record.issued == "2011" and record.language == "eng"
    # dc:creator is one string: kept whole, as the record gives it (twice, as it does)
    assert [a.name for a in record.authors] == ["John Doe", "John Doe"]
    assert record.type == "journal-article"  # info:eu-repo/semantics/article
    assert record.url == "http://test.example.com/publication/1996652"


# --- end to end: `harvest doi` against the local upstream serving a kept record ---------------


@pytest.fixture
def upstream():
    with ReplayUpstream() as server:
        message = raw(CROSSREF)
        server.works[message["DOI"].lower()] = message
        yield server


def test_harvest_doi_end_to_end_stores_the_kept_crossref_record(tmp_path: Path, upstream):
    harvest = HarvestCommand(tmp_path, upstream.env(), QUICK_RETRIES)
    first = harvest("doi", "https://doi.org/10.7554/eLife.01567")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("created    10.7554/eLife.01567  work 1: Automated quantitative")
    conn = sqlite3.connect(harvest.db_path)
    title, volume, issn = conn.execute("SELECT title, volume, issn FROM works").fetchone()
    assert title.startswith("Automated quantitative histology") and volume == "3"
    assert json.loads(issn) == ["2050-084X"]
    assert [r[0] for r in conn.execute("SELECT family FROM authors ORDER BY position")] == [
        "Sankar",
        "Nieminen",
        "Ragni",
        "Xenarios",
        "Hardtke",
    ]
    conn.close()
    again = harvest("doi", "10.7554/elife.01567")
    assert again.returncode == 0 and again.stdout.startswith("unchanged  10.7554/elife.01567")
    shown = harvest("show", "10.7554/elife.01567")
    assert "From:" in shown.stdout and "crossref" in shown.stdout


def test_a_feed_record_is_parsed_once_on_its_way_to_the_store(tmp_path: Path, monkeypatch):
    from harvester.config import Config
    from harvester.models import Merged
    from harvester.pipeline.feeds import observe_record
    from harvester.sources import oaipmh
    from harvester.store import open_store

    page = parse_response((KEPT / OAI).read_bytes(), "http://test.example.com/oai")
    fetched = oaipmh._feed_answer(page.records[0])
    calls = []
    real = oaipmh.parse
    monkeypatch.setattr(oaipmh, "parse", lambda payload: calls.append(1) or real(payload))
    store = open_store(tmp_path / "h.db")
    try:
        observation = observe_record(store, Config(), "oai", fetched)
    finally:
        store.close()
    assert isinstance(observation, Merged) and observation.work.values["title"] == "Sample Title"
    assert len(calls) == 1  # read for its links, and that same record merged
