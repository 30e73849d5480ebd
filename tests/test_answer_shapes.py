"""An answer of the wrong shape changes nothing stored (issue 18, defect 2).

Each source answers a stored, tracked identifier with a 200 that is not the record asked for:
a real error body of a service (../shared/fixtures/errors), OpenAlex's documented error object,
or the record of another work. The stored work stays exactly as it was (every column, its
authors, identifiers, source records), no history row is written, and the identifier is failed
(`bad_answer`) and due again soon: the next run asks again.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from datetime import UTC, datetime, timedelta

import pytest
from conftest import Clock, fixture_path, load_json
from fakes import run_pipeline
from upstream import ReplayUpstream

from harvester.due import parse_time
from harvester.identifiers import parse_doi, parse_repec
from harvester.pipeline import connect, harvest_due, harvest_repec
from harvester.sources import crossref, datacite, doiorg, openalex
from harvester.store import open_store

NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
ELIFE = "10.7554/eLife.01567"
PLOS = "10.1371/journal.pone.0033693"
DRYAD = "10.5061/dryad.8515"
SCIENCE = "10.1126/science.169.3946.635"  # served by doi.org's content negotiation (as mEDRA's)
JSON = {"content-type": "application/json"}
#: Real error bodies, as recorded: Crossref's validation failure, DataCite's JSON:API errors.
CROSSREF_ERROR = fixture_path("errors/crossref_400_query-on-single-doi.json").read_bytes()
DATACITE_ERROR = fixture_path(
    "errors/datacite_404_10.4124_05f6c379-dd68-4cdb-880d-33d3e9576d52_1.json"
).read_bytes()
#: OpenAlex's error shape as developers.openalex.org/api-reference/errors documents it (no
#: OpenAlex error body is recorded), as tests/upstream.py answers a missing work.
OPENALEX_ERROR = json.dumps(
    {"error": "Invalid query parameters error.", "message": "Something went wrong."}
).encode()


@pytest.fixture
def clock():
    return Clock(NOW)


@pytest.fixture
def upstream():
    with ReplayUpstream() as server:
        server.add_crossref("10.7554_elife.01567", "10.1371_journal.pone.0033693")
        server.add_datacite("10.5061_dryad.8515")
        server.add_openalex("10.7554_elife.01567")
        server.add_csl(SCIENCE, "10.1126_science.169.3946.635_habanero", agency="mEDRA")
        yield server


@pytest.fixture
def store(tmp_path, clock):
    s = open_store(tmp_path / "h.db", now=clock)
    yield s
    s.close()


def run(upstream, store):
    config = upstream.config()
    config = dataclasses.replace(
        config, http=dataclasses.replace(config.http, max_attempts=2, backoff_max=0.02)
    )
    return harvest_due(store=store, client=connect(config), config=config, command="harvest run")


def stored(store) -> dict[str, list[tuple]]:
    """Everything a run may write about works: each table whole (a source record without the
    time it was last seen, which an unchanged answer moves)."""
    tables = {
        "works": "SELECT * FROM works ORDER BY id",
        "authors": "SELECT * FROM authors ORDER BY work_id, position",
        "identifiers": "SELECT * FROM identifiers ORDER BY work_id, scheme, key",
        "changes": "SELECT * FROM changes ORDER BY id",
        "conflicts": "SELECT * FROM conflicts ORDER BY work_id, field, source",
        "source_records": "SELECT id, source, identifier, work_id, status, payload_hash, payload"
        " FROM source_records ORDER BY id",
    }
    return {name: store.conn.execute(sql).fetchall() for name, sql in tables.items()}


def due(store, doi: str, source: str) -> dict:
    [item] = [t for t in store.watch.tracked() if t["key"] == parse_doi(doi).key]
    return item["sources"][source]


def serve_another_record(upstream, source: str, doi: str) -> None:
    """Let `source` answer `doi` with the record of another work (its own id says so)."""
    key = parse_doi(doi).key
    if source == "crossref":
        upstream.works[key] = upstream.works[parse_doi(PLOS).key]
    elif source == "datacite":
        upstream.datacite[key] = "datacite/10.4232_1.2745.json"
    elif source == "doi.org":
        item, headers, agency = upstream.csl[key]
        upstream.csl[key] = ({**item, "DOI": "10.1126/science.170.3956.412"}, headers, agency)
    elif source == "openalex":
        upstream.openalex[key] = "openalex/10.3389_fpls.2019.00816.json"


#: (source, DOI, what the wrong answer is, the path the upstream answers it on, its body).
AGENCY_CASES = [
    ("crossref", ELIFE, "another work's record", None, None),
    ("crossref", ELIFE, "Crossref's validation failure", "/crossref/works", CROSSREF_ERROR),
    ("datacite", DRYAD, "another DOI's record", None, None),
    ("datacite", DRYAD, "DataCite's errors body", "/datacite/dois/", DATACITE_ERROR),
    ("doi.org", SCIENCE, "another DOI's CSL item", None, None),
    ("doi.org", SCIENCE, "Crossref's validation failure", "/agency-csl/", CROSSREF_ERROR),
]


@pytest.mark.parametrize(
    ("source", "doi", "what", "path", "body"), AGENCY_CASES, ids=[c[2] for c in AGENCY_CASES]
)
def test_an_agency_answer_of_the_wrong_shape_changes_nothing_and_fails_the_doi(
    upstream, store, clock, source, doi, what, path, body
):
    store.watch.track([("doi", parse_doi(doi).key, doi)])
    first = run(upstream, store)
    assert first.counts.created == 1, first
    before = stored(store)

    if body is None:
        serve_another_record(upstream, source, doi)
    else:
        upstream.fail(path, 200, body, JSON, times=None)
    clock.moment = NOW + timedelta(days=31)  # the agency record is due again
    result = run(upstream, store)

    assert stored(store) == before  # not one column, row or history entry more
    assert result.exit_code == 1 and result.counts.failed == 1
    assert store.runs.failures(result.run_id) == {"bad_answer": 1}
    agency = due(store, doi, "agency")
    assert agency["last_status"] == "failed" and agency["last_error"]
    assert parse_time(agency["next_due_at"]) <= clock.moment + timedelta(hours=1)

    if body is None:
        upstream.add_crossref("10.7554_elife.01567")  # as it was
        upstream.add_datacite("10.5061_dryad.8515")
        upstream.add_csl(SCIENCE, "10.1126_science.169.3946.635_habanero", agency="mEDRA")
    upstream.faults.clear()
    clock.moment += timedelta(hours=1)
    again = run(upstream, store)  # asked again, and it answers as before: nothing changes
    assert again.exit_code == 0 and due(store, doi, "agency")["last_status"] == "ok"
    assert stored(store)["works"] == before["works"]


OPENALEX_CASES = [
    ("OpenAlex's error object", OPENALEX_ERROR),
    ("Crossref's validation failure", CROSSREF_ERROR),
    ("another work's record", None),
]


def openalex_says(store) -> tuple:
    return store.conn.execute(
        "SELECT openalex_id, oa_status, subjects, cited_by_count FROM works"
    ).fetchone()


@pytest.mark.parametrize(("what", "body"), OPENALEX_CASES, ids=[c[0] for c in OPENALEX_CASES])
def test_an_openalex_answer_of_the_wrong_shape_keeps_what_openalex_said(
    upstream, store, clock, what, body
):
    store.watch.track([("doi", parse_doi(ELIFE).key, ELIFE)])
    run(upstream, store)
    openalex_id, oa_status, subjects, _ = openalex_says(store)
    assert openalex_id and oa_status and subjects  # what the wrong answer used to wipe
    before = stored(store)

    if body is None:
        serve_another_record(upstream, "openalex", ELIFE)
    else:
        upstream.fail("/openalex/works", 200, body, JSON, times=None)
    # Only OpenAlex is due (its refresh is 7 days, the agency's 30): the enrichment alone.
    clock.moment = NOW + timedelta(days=8)
    result = run(upstream, store)

    assert stored(store) == before
    assert result.exit_code == 1 and result.counts.failed == 1
    assert store.runs.failures(result.run_id) == {"bad_answer": 1}
    # Left due: the next run asks OpenAlex again.
    assert parse_time(due(store, ELIFE, "openalex")["next_due_at"]) <= clock.moment


@pytest.mark.parametrize(("what", "body"), OPENALEX_CASES, ids=[c[0] for c in OPENALEX_CASES])
def test_beside_its_agency_a_wrong_openalex_answer_wipes_nothing_and_is_asked_again(
    upstream, store, clock, what, body
):
    # The case: agency and OpenAlex both due; the error object used to be stored as
    # the work's OpenAlex record, wiping openalex_id, oa_status and subjects, blamed on crossref.
    store.watch.track([("doi", parse_doi(ELIFE).key, ELIFE)])
    run(upstream, store)
    before = stored(store)

    if body is None:
        serve_another_record(upstream, "openalex", ELIFE)
    else:
        upstream.fail("/openalex/works", 200, body, JSON, times=None)
    clock.moment = NOW + timedelta(days=31)
    run(upstream, store)

    assert stored(store) == before
    assert parse_time(due(store, ELIFE, "openalex")["next_due_at"]) <= clock.moment


def test_a_crossref_alias_redirect_is_still_followed_to_its_prime_doi(upstream, store):
    # The one answer about another DOI that is right: Crossref's 301 from an alias.
    alias = "10.7554/eLife.01567.alias"
    upstream.aliases[parse_doi(alias).key] = ELIFE
    store.watch.track([("doi", parse_doi(alias).key, alias)])
    result = run(upstream, store)
    assert result.exit_code == 0 and result.counts.created == 1
    [(doi,)] = store.conn.execute("SELECT doi FROM works").fetchall()
    assert doi.lower() == ELIFE.lower()


def test_the_recorded_answers_pass_the_shape_checks():
    assert crossref.check_answer(load_json("crossref/10.7554_elife.01567.json")["message"])
    assert datacite.check_answer(load_json("datacite/10.5061_dryad.8515.json")) == DRYAD
    assert doiorg.check_answer(load_json("csl/10.1126_science.169.3946.635_habanero.json"))
    assert openalex.check_answer(load_json("openalex/10.7554_elife.01567.json")).lower() == (
        ELIFE.lower()
    )


#: A template in the shape of the real ones (epo/papers/2016.rdf) that lies in another archive's
#: folder and claims a stored epo paper's handle: read, it would overwrite that work.
FOREIGN_REDIF = """Template-Type: ReDIF-Paper 1.0
Title: Not the paper this handle names
Author-Name: Someone Else
Handle: RePEc:epo:papers:2016-01
"""


def test_a_repec_template_claiming_another_archives_handle_changes_nothing(
    tmp_path, upstream, store
):
    root = tmp_path / "repec"
    (root / "epo" / "papers").mkdir(parents=True)
    shutil.copy(fixture_path("redif/epo_eposeri.rdf"), root / "epo" / "eposeri.rdf")
    shutil.copy(fixture_path("redif/epo_papers_2016.rdf"), root / "epo" / "papers" / "2016.rdf")
    (root / "awu" / "journl").mkdir(parents=True)
    (root / "awu" / "journl" / "stray.rdf").write_text(FOREIGN_REDIF, encoding="utf-8")
    config = upstream.config(repec=dataclasses.replace(upstream.config().repec, url=str(root)))
    handle = parse_repec("RePEc:epo:papers:2016-01")
    first, _ = run_pipeline(harvest_repec, [], [("epo", "papers")], store=store, config=config)
    assert first.status == "ok" and first.counts.created > 0
    before = stored(store)

    result, outcomes = run_pipeline(
        harvest_repec, [], [("awu", "journl")], store=store, config=config
    )
    assert stored(store) == before  # the epo paper as it was, no history row
    assert result.counts.requested == 0 and outcomes == []
    assert store.repec.path(handle.key) == "epo/papers/2016.rdf"  # the index keeps its file
    [(errors,)] = store.conn.execute(
        "SELECT errors FROM repec_files WHERE path = 'awu/journl/stray.rdf'"
    ).fetchall()
    assert errors == 1  # skipped as a broken template is, with file and line in the log

    _, outcomes = run_pipeline(harvest_repec, [handle], store=store, config=config)
    assert [o.status for o in outcomes] == ["unchanged"]


def test_a_field_an_enrichment_stops_giving_is_blamed_on_it_in_the_history(upstream, store, clock):
    # A real change, of the right shape: OpenAlex's record of eLife without its open-access
    # block and its topics. Asked beside the agency (both due), the history used to blame the
    # fields OpenAlex took away on crossref, the source the DOI was asked of.
    store.watch.track([("doi", parse_doi(ELIFE).key, ELIFE)])
    run(upstream, store)
    work = load_json("openalex/10.7554_elife.01567.json")
    changed = {k: v for k, v in work.items() if k not in ("open_access", "topics", "concepts")}
    upstream.fail("/openalex/works", 200, json.dumps(changed).encode(), JSON, times=None)
    clock.moment = NOW + timedelta(days=31)
    run(upstream, store)

    history = dict(
        store.conn.execute(
            "SELECT field, source FROM changes WHERE kind = 'update' AND new_value IS NULL"
        ).fetchall()
    )
    assert {"oa_status", "subjects"} <= set(history)
    assert set(history.values()) == {"openalex"}, history
