"""`harvest repec` end to end in-process: a series from an archive tree on disk (the real ReDIF
files), an incremental rerun, single handles, and a RePEc record linked to its DOI's Crossref record."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil

import pytest
from conftest import fixture_path, load_json
from fakes import run_pipeline
from upstream import ReplayUpstream

from harvester.config import Config
from harvester.identifiers import parse_doi, parse_repec
from harvester.pipeline import connect, harvest, harvest_repec
from harvester.sources import redif
from harvester.store import open_store

SEED_HANDLE = "RePEc:sae:woemps:v:29:y:2015:i:4:p:624-640"
SEED_DOI = "10.1177/0950017014538339"
#: A ReDIF template written for these tests in the shape of the real ones (the recorded archives
#: hold no record of the seed article): it carries the DOI by which it links to Crossref.
SEED_REDIF = f"""Template-Type: ReDIF-Article 1.0
Title: Precarious work and the labour market
Author-Name: Ann Example
Author-X-Name-First: Ann
Author-X-Name-Last: Example
Author-Workplace-Name: University of Somewhere
Journal: Work, Employment & Society
Volume: 29
Issue: 4
Pages: 624-640
Year: 2015
DOI: {SEED_DOI}
Handle: {SEED_HANDLE}
"""


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "repec"
    (root / "awu" / "journl").mkdir(parents=True)
    shutil.copy(fixture_path("redif/awu_awuseri.rdf"), root / "awu" / "awuseri.rdf")
    shutil.copy(fixture_path("redif/awu_journl_prova.rdf"), root / "awu" / "journl" / "prova.rdf")
    (root / "epo" / "papers").mkdir(parents=True)
    shutil.copy(fixture_path("redif/epo_eposeri.rdf"), root / "epo" / "eposeri.rdf")
    shutil.copy(fixture_path("redif/epo_papers_2016.rdf"), root / "epo" / "papers" / "2016.rdf")
    (root / "sae" / "woemps").mkdir(parents=True)
    (root / "sae" / "woemps" / "woemps2015.rdf").write_text(SEED_REDIF, encoding="utf-8")
    return root


@pytest.fixture
def upstream():
    with ReplayUpstream() as server:
        # The seed DOI's Crossref record: the recorded eLife work under the seed's DOI and title.
        message = load_json("crossref/10.7554_elife.01567.json")["message"]
        server.works[parse_doi(SEED_DOI).key] = {
            **message,
            "DOI": SEED_DOI,
            "title": ["Precarious work and the labour market"],
            "page": "624-641",
            "volume": "29",
            "issue": "4",
        }
        yield server


def configure(upstream, tree) -> Config:
    return upstream.config(repec=dataclasses.replace(Config().repec, url=str(tree), rate=1000.0))


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "h.db")
    yield s
    s.close()


def run(store, config, handles=(), series=(), archives=()):
    handles = [parse_repec(h) for h in handles]
    return run_pipeline(
        harvest_repec, handles, series, archives, store=store, config=config, command="test"
    )


def test_a_series_is_harvested_and_a_rerun_reads_only_what_changed(
    upstream, tree, store, monkeypatch
):
    config = configure(upstream, tree)
    result, _ = run(store, config, series=[("awu", "journl")])
    assert result.counts.created == 153 and result.status == "ok"
    first = store.works.get(
        store.works.find_work_id(
            "repec", parse_repec("RePEc:awu:journl:v:17:y:2023:i:2:p:145-148").key
        )
    )
    assert first["repec_handle"] == "RePEc:awu:journl:v:17:y:2023:i:2:p:145-148"
    assert first["volume"] == "17" and first["issue"] == "2" and first["pages"] == "145-148"
    # the journal's series template names its provider: the article's publisher
    assert (first["container_title"], first["publisher"]) == (
        "Bulletin of Political Economy",
        "Bulletin of Political Economy",
    )
    assert json.loads(first["provenance"])["title"] == "repec"

    parsed = []
    real_parse = redif.parse_file
    monkeypatch.setattr(
        redif, "parse_file", lambda data, path: parsed.append(path) or real_parse(data, path)
    )
    again, _ = run(store, config, series=[("awu", "journl")])
    assert again.counts.requested == 0 and parsed == []  # nothing changed, nothing read again

    prova = tree / "awu" / "journl" / "prova.rdf"
    text = prova.read_bytes().replace(b"Title: ", b"Title: Revised: ", 1)
    prova.write_bytes(text)
    os.utime(prova, ns=(1, 1))
    changed, _ = run(store, config, series=[("awu", "journl")])
    # Only the changed file is parsed (and the archive's series list, for the journal's name).
    assert parsed == ["awu/journl/prova.rdf", "awu/awuseri.rdf"]
    assert changed.counts.changed == 1 and changed.counts.unchanged == 152


def test_a_template_inserted_at_the_top_of_a_file_stores_only_itself(upstream, tree, store):
    """The line number says where a template is, not what it says: it is not in the stored
    payload, so a template inserted above the others moves them down without storing any of
    them again (only the new one is a new payload), and the index follows them to their lines."""
    config = configure(upstream, tree)
    run(store, config, series=[("awu", "journl")])
    rows = store.conn.execute("SELECT count(*) FROM source_records").fetchone()[0]
    handle = "RePEc:awu:journl:v:17:y:2023:i:2:p:145-148"
    stored = store.conn.execute(
        "SELECT payload_text(id) FROM source_records WHERE source = 'repec' ORDER BY id LIMIT 1"
    ).fetchone()[0]
    assert '"line"' not in stored

    def line_of(handle: str) -> int:
        query = "SELECT line FROM repec_handles WHERE key = ?"
        return store.conn.execute(query, (parse_repec(handle).key,)).fetchone()[0]

    first_line = line_of(handle)

    prova = tree / "awu" / "journl" / "prova.rdf"
    inserted = SEED_REDIF.replace("sae:woemps", "awu:journl").replace(f"DOI: {SEED_DOI}\n", "")
    prova.write_bytes(inserted.encode() + b"\n" + prova.read_bytes())
    os.utime(prova, ns=(1, 1))
    again, _ = run(store, config, series=[("awu", "journl")])
    assert (again.counts.created, again.counts.changed, again.counts.unchanged) == (1, 0, 153)
    assert store.conn.execute("SELECT count(*) FROM source_records").fetchone()[0] == rows + 1
    assert line_of(handle) == first_line + inserted.count("\n") + 1  # the index follows it


def test_single_handles_are_found_through_the_index(upstream, tree, store):
    config = configure(upstream, tree)
    result, outcomes = run(
        store, config, handles=["RePEc:epo:papers:2016-01", "RePEc:epo:papers:no-such-paper"]
    )
    assert result.exit_code == 1
    assert [o.status for o in outcomes] == ["created", "not_found"]
    assert "no template with this handle" in outcomes[1].error
    work = store.works.get(outcomes[0].work_id)
    assert work["title"] == "Low Visibility: The Fate of Air Traffic Control Privatization"
    assert work["type"] == "report"
    # the series' Name and Provider-Name, from epo/eposeri.rdf: a working paper's collection
    # and institution (BibTeX @techreport institution), not a journal
    assert (work["series_title"], work["publisher"], work["container_title"]) == (
        "CEPR Reports and Issue Briefs",
        "Center for Economic and Policy Research (CEPR)",
        None,
    )
    assert work["report_number"] is None  # the template has no Number
    assert json.loads(work["jel_codes"])[:3] == ["H", "H1", "H4"]
    assert store.repec.path(parse_repec("RePEc:epo:papers:2016-01").key) == "epo/papers/2016.rdf"


def test_a_repec_record_and_its_dois_crossref_record_are_one_work(upstream, tree, store):
    config = configure(upstream, tree)
    result, outcomes = run(store, config, handles=[SEED_HANDLE])
    assert result.exit_code == 0
    assert [o.source for o in outcomes] == ["repec", "crossref"]
    assert outcomes[0].work_id == outcomes[1].work_id
    work_id = outcomes[0].work_id
    assert store.works.find_work_id("doi", parse_doi(SEED_DOI).key) == work_id
    assert store.works.find_work_id("repec", parse_repec(SEED_HANDLE).key) == work_id
    work = store.works.get(work_id)
    assert work["repec_handle"] == SEED_HANDLE and work["doi"] == SEED_DOI
    provenance = json.loads(work["provenance"])
    assert provenance["pages"] == "crossref" and provenance["repec_handle"] == "repec"
    assert {(c["source"], c["value"]) for c in work["conflicts"] if c["field"] == "pages"} == {
        ("crossref", "624-641"),
        ("repec", "624-640"),
    }
    assert store.conn.execute("SELECT count(*) FROM works").fetchone() == (1,)


def test_a_doi_harvested_first_is_joined_by_its_repec_record(upstream, tree, store):
    config = configure(upstream, tree)
    harvest([parse_doi(SEED_DOI)], store=store, client=connect(config), config=config, command="t")
    doi_work = store.works.find_work_id("doi", parse_doi(SEED_DOI).key)
    _, outcomes = run(store, config, handles=[SEED_HANDLE])
    assert outcomes[0].work_id == doi_work
    assert store.conn.execute("SELECT count(*) FROM works").fetchone() == (1,)
    assert store.works.get(doi_work)["repec_handle"] == SEED_HANDLE


@pytest.fixture
def http_tree(tree):
    """The same archive tree served over http by Python's http.server (directory listings,
    Last-Modified, 304 to If-Modified-Since), as an archive's web server would."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(tree)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_a_series_over_http_is_harvested_and_rerun_incrementally(upstream, http_tree, store):
    config = configure(upstream, http_tree)
    result, _ = run(store, config, series=[("epo", "papers")])
    assert result.counts.created == 7
    work = store.works.get(
        store.works.find_work_id("repec", parse_repec("RePEc:epo:papers:2016-01").key)
    )
    assert work["title"] == "Low Visibility: The Fate of Air Traffic Control Privatization"
    again, _ = run(store, config, series=[("epo", "papers")])
    assert again.counts.requested == 0
    [(version,)] = store.conn.execute("SELECT version FROM repec_files").fetchall()
    assert version.startswith("modified:")


def test_a_whole_archive_is_harvested_incrementally(upstream, tree, store):
    config = configure(upstream, tree)
    result, _ = run(store, config, archives=["awu"])
    # awu holds one series here (journl, 153 articles); its arch/seri files give no works.
    assert result.counts.created == 153 and result.status == "ok"
    assert store.works.find_work_id("repec", parse_repec("RePEc:epo:papers:2016-01").key) is None
    again, _ = run(store, config, archives=["AWU"])
    assert again.counts.requested == 0


def test_a_large_file_is_stored_in_chunks_and_marked_read_only_after_the_last(
    upstream, tree, store, monkeypatch
):
    config = dataclasses.replace(configure(upstream, tree), chunk_size=50)
    batches: list[int] = []
    real_write = store.write_batch
    monkeypatch.setattr(
        store,
        "write_batch",
        lambda run_id, obs, *rest, **kw: (
            batches.append(len(obs)) or real_write(run_id, obs, *rest, **kw)
        ),
    )
    marked = []
    real_index = store.repec.index
    monkeypatch.setattr(
        store.repec,
        "index",
        lambda path, **kw: marked.append((path, len(batches))) or real_index(path, **kw),
    )
    result, _ = run(store, config, series=[("awu", "journl")])
    assert result.counts.created == 153
    assert batches == [50, 50, 50, 3]
    # prova.rdf counts as read once its fourth chunk is stored, not before.
    assert [m for m in marked if m[0] == "awu/journl/prova.rdf"] == [("awu/journl/prova.rdf", 4)]


def test_a_run_stopped_inside_a_file_reads_that_file_again(upstream, tree, store, monkeypatch):
    import threading

    config = dataclasses.replace(configure(upstream, tree), chunk_size=50)
    stop = threading.Event()
    real_write = store.write_batch
    monkeypatch.setattr(
        store,
        "write_batch",
        lambda run_id, obs, *rest, **kw: (stop.set(), real_write(run_id, obs, *rest, **kw))[1],
    )
    first, _ = run_pipeline(
        harvest_repec, (), [("awu", "journl")], store=store, config=config, stop=stop
    )
    assert first.status == "interrupted" and first.counts.created == 50
    assert store.repec.file("awu/journl/prova.rdf") == (None, None)
    monkeypatch.setattr(store, "write_batch", real_write)
    second, _ = run(store, config, series=[("awu", "journl")])
    assert second.counts.created == 103 and second.counts.unchanged == 50


def test_a_file_over_the_size_cap_is_refused_unread_and_the_rest_of_the_series_goes_on(
    upstream, tree, store
):
    huge = tree / "awu" / "journl" / "zz-huge.rdf"
    with huge.open("wb") as out:  # sparse: 100 MB on paper, nothing on disk
        out.truncate(100 * 2**20)
    config = configure(upstream, tree)
    result, outcomes = run(store, config, series=[("awu", "journl")])
    assert result.counts.created == 153 and result.counts.failed == 1
    [failed] = [o for o in outcomes if o.status == "failed"]
    assert failed.identifier == "awu/journl/zz-huge.rdf" and "over the cap" in failed.error
    assert store.repec.file("awu/journl/zz-huge.rdf") == (None, None)  # asked again next time
