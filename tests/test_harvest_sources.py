"""A harvest across sources, end to end through the local upstream: routing by registration agency,
OpenAlex enrichment, merge with provenance and conflicts, local values, aliases, not-found memory."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest
from conftest import load_json
from fakes import run_pipeline
from structlog.testing import capture_logs
from upstream import ReplayUpstream

from harvester.config import Config
from harvester.identifiers import parse_doi
from harvester.pipeline import edit_work, harvest
from harvester.render import summary_line
from harvester.sources import openalex
from harvester.store import open_store

ELIFE = "10.7554/eLife.01567"  # Crossref, and in OpenAlex
DRYAD = "10.5061/dryad.8515"  # DataCite dataset
ARXIV = "10.48550/arXiv.2311.16162"  # DataCite (arXiv)
NOBODY = "10.99999/never-registered"  # a prefix doi.org places nowhere


@pytest.fixture
def upstream():
    with ReplayUpstream() as server:
        server.add_crossref("10.7554_elife.01567", "10.1007_978-3-662-46370-3_13")
        server.add_datacite("10.5061_dryad.8515", "10.48550_arxiv.2311.16162")
        server.add_openalex("10.7554_elife.01567", "10.1007_978-3-662-46370-3_13")
        yield server


def configure(upstream: ReplayUpstream, **changes) -> Config:
    return upstream.config(**changes)


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "h.db")
    yield s
    s.close()


def run(dois, store, config, on_outcome=None, **kw):
    result, outcomes = run_pipeline(
        harvest,
        [parse_doi(d) for d in dois],
        store=store,
        config=config,
        command="test",
        on_outcome=on_outcome,
        **kw,
    )
    return result, {o.identifier: o for o in outcomes}


def stored(store, doi):
    return store.works.get(store.works.find_work_id("doi", parse_doi(doi).key))


def test_each_doi_is_resolved_at_its_agency_and_enriched_by_openalex(upstream, store):
    config = configure(upstream)
    result, outcomes = run([ELIFE, DRYAD, ARXIV, NOBODY], store, config)

    assert {k: o.status for k, o in outcomes.items()} == {
        ELIFE: "created",
        DRYAD: "created",
        ARXIV: "created",
        NOBODY: "not_found",
    }
    assert (outcomes[ELIFE].source, outcomes[DRYAD].source) == ("crossref", "datacite")
    assert "10.99999" in outcomes[NOBODY].error
    assert result.exit_code == 1

    elife = stored(store, ELIFE)
    provenance = json.loads(elife["provenance"])
    crossref_title = load_json("crossref/10.7554_elife.01567.json")["message"]["title"][0]
    assert elife["title"] == crossref_title and provenance["title"] == "crossref"
    assert provenance["authors"] == "crossref"
    # What only OpenAlex knows fills in, and says so.
    openalex_work = load_json("openalex/10.7554_elife.01567.json")
    assert elife["openalex_id"] == openalex_work["id"] and provenance["openalex_id"] == "openalex"
    assert elife["oa_status"] == openalex_work["open_access"]["oa_status"]

    dryad = stored(store, DRYAD)
    assert dryad["title"] == "Data from: A new malaria agent in African hominids."
    assert json.loads(dryad["provenance"])["title"] == "datacite"
    assert dryad["type"] == "dataset" and dryad["publisher"] == "Dryad"

    # doi.org was asked about the four prefixes in one request, and the answers are kept for
    # the next run.
    (asked,) = [r for r in upstream.requests if r.startswith("/doi/ra/")]
    assert sorted(asked.removeprefix("/doi/ra/").split(",")) == [
        "10.48550",
        "10.5061",
        "10.7554",
        "10.99999",
    ]
    assert store.agencies.known() == {
        "10.7554": "crossref",
        "10.5061": "datacite",
        "10.48550": "datacite",
        "10.99999": None,
    }
    # Every source's answer is kept, the not-found ones too.
    kept = store.conn.execute(
        "SELECT source, identifier, status FROM source_records ORDER BY source, identifier"
    ).fetchall()
    assert ("datacite", parse_doi(DRYAD).key, "ok") in kept
    assert ("openalex", parse_doi(DRYAD).key, "not_found") in kept
    assert ("doi.org", parse_doi(NOBODY).key, "not_found") in kept


def test_a_rerun_asks_doi_org_nothing_and_changes_nothing(upstream, store):
    config = configure(upstream)
    run([ELIFE, DRYAD], store, config)
    asked = len(upstream.requests)
    result, outcomes = run([ELIFE, DRYAD], store, config)
    assert {o.status for o in outcomes.values()} == {"unchanged"}
    assert result.exit_code == 0
    new_requests = upstream.requests[asked:]
    assert not any(r.startswith("/doi/ra/") for r in new_requests)
    assert store.conn.execute("SELECT count(*) FROM changes WHERE run_id = 2").fetchone() == (0,)


def test_a_doi_nobody_registered_is_not_asked_again_until_the_recheck(upstream, store):
    config = configure(upstream)
    missing = "10.7554/eLife.99999"  # a Crossref prefix, but Crossref has no such DOI
    run([missing], store, config)
    asked = upstream.count("eLife.99999") + upstream.count("elife.99999")
    assert asked >= 1

    result, outcomes = run([missing], store, config)
    assert outcomes[missing].status == "not_found" and "--refresh" in outcomes[missing].error
    assert upstream.count("eLife.99999") + upstream.count("elife.99999") == asked
    assert result.counts.not_found == 1

    run([missing], store, config, refresh=True)
    assert upstream.count("eLife.99999") + upstream.count("elife.99999") > asked

    always = configure(upstream, recheck_not_found_days=0)
    before = upstream.count("elife.99999") + upstream.count("eLife.99999")
    run([missing], store, always)
    assert upstream.count("elife.99999") + upstream.count("eLife.99999") > before


def test_other_agencies_come_through_doi_org_content_negotiation(upstream, store):
    item = upstream.add_csl(
        "10.1126/science.169.3946.635", "10.1126_science.169.3946.635_habanero", agency="mEDRA"
    )
    config = configure(upstream)
    _, outcomes = run(["10.1126/science.169.3946.635"], store, config)
    [outcome] = outcomes.values()
    assert outcome.status == "created" and outcome.source == "doi.org"
    work = stored(store, "10.1126/science.169.3946.635")
    assert work["title"] == item["title"]
    assert json.loads(work["provenance"])["title"] == "doi.org"
    assert store.agencies.known()["10.1126"] == "medra"
    assert upstream.count("/agency-csl/") == 1


def test_openalex_spent_allowance_stops_openalex_for_the_run_only(upstream, store):
    config = configure(upstream)
    upstream.limit_openalex(0)
    with capture_logs() as logs:
        result, outcomes = run([ELIFE, "10.1007/978-3-662-46370-3_13"], store, config)
    assert {o.status for o in outcomes.values()} == {"created"}
    assert result.exit_code == 0  # the agencies answered: OpenAlex only adds to them
    assert stored(store, ELIFE)["openalex_id"] is None
    assert any(e["event"] == "openalex.skipped_for_this_run" for e in logs)
    # One request, tried again once as a per-second 429 might be (max_attempts=2), then OpenAlex
    # is left alone for the rest of the run.
    assert upstream.count("/openalex/") == config.http.max_attempts == 2


def test_without_an_api_key_openalex_is_asked_in_one_list_and_the_run_says_so(upstream, store):
    config = configure(upstream)
    with capture_logs() as logs:
        result, _ = run([ELIFE, "10.1007/978-3-662-46370-3_13"], store, config)
    assert [e for e in logs if e["event"] == "openalex.no_api_key"]
    assert upstream.count("/openalex/works?") == 1
    assert upstream.count("/openalex/works/doi:") == 0
    assert upstream.api_keys == [None]  # no api_key sent: none is configured
    assert stored(store, ELIFE)["openalex_id"]
    assert result.not_enriched == {} and "not enriched" not in summary_line(result, "h.db")


def test_a_keyless_run_past_its_list_allowance_stores_from_the_agencies_and_says_so(
    upstream, store, monkeypatch
):
    """Past the list calls OpenAlex allows a keyless caller, works are stored from their agency
    at once, nothing is asked per DOI, and the summary says how many wait for OpenAlex."""
    monkeypatch.setattr(openalex, "KEYLESS_LISTS_PER_DAY", 1)
    dois = [ELIFE, "10.1007/978-3-662-46370-3_13", *upstream.add_synthetic(2)]
    with capture_logs() as logs:
        result, outcomes = run(dois, store, configure(upstream, chunk_size=2))
    assert {o.status for o in outcomes.values()} == {"created"}
    assert (result.status, result.exit_code) == ("ok", 0)
    assert (
        upstream.count("/openalex/works?") == 1
    )  # the one list allowed; the other chunk not asked
    assert upstream.count("/openalex/works/doi:") == 0
    assert result.not_enriched == {"openalex": 2}
    assert "; 2 not enriched by openalex this run (asked on a later run)" in summary_line(
        result, "h.db"
    )
    assert [e["event"] for e in logs].count("openalex.skipped_for_this_run") == 1


def test_with_an_api_key_openalex_is_asked_in_one_batch(upstream, store):
    config = configure(upstream)
    config = dataclasses.replace(config, openalex=dataclasses.replace(config.openalex, api_key="k"))
    upstream.require_openalex_key("k")
    run([ELIFE, "10.1007/978-3-662-46370-3_13"], store, config)
    assert upstream.count("/openalex/works?") == 1
    assert upstream.count("/openalex/works/doi:") == 0
    assert stored(store, ELIFE)["openalex_id"]


def test_a_source_losing_a_field_hands_it_to_the_next_one(upstream, store):
    config = configure(upstream)
    run([ELIFE], store, config)
    assert json.loads(stored(store, ELIFE)["provenance"])["volume"] == "crossref"

    upstream.change(ELIFE, volume=None)
    _, outcomes = run([ELIFE], store, config)
    work = stored(store, ELIFE)
    assert outcomes[ELIFE].status == "unchanged"  # OpenAlex has the same volume
    assert work["volume"] == "3" and json.loads(work["provenance"])["volume"] == "openalex"


def test_sources_that_disagree_leave_a_conflict_for_a_person(upstream, store):
    config = configure(upstream)
    work = load_json("openalex/10.7554_elife.01567.json")
    work["biblio"] = {**work["biblio"], "volume": "4"}
    upstream.fail(
        "/openalex/works/doi:", 200, json.dumps(work).encode(), {"Content-Type": "application/json"}
    )
    run([ELIFE], store, config)
    elife = stored(store, ELIFE)
    assert elife["volume"] == "3"  # the agency wins
    assert {(c["source"], c["value"]) for c in elife["conflicts"] if c["field"] == "volume"} == {
        ("crossref", "3"),
        ("openalex", "4"),
    }


def test_local_values_win_over_every_harvest_until_unset(upstream, store):
    config = configure(upstream)
    run([ELIFE], store, config)
    work_id = store.works.find_work_id("doi", parse_doi(ELIFE).key)
    original = stored(store, ELIFE)["title"]

    outcome = edit_work(
        work_id, {"title": "Our corrected title"}, store=store, config=config, command="set"
    )
    assert outcome.status == "changed" and outcome.fields == ("title",)
    upstream.change(ELIFE, title=["Crossref changed it too"])
    run([ELIFE], store, config)
    work = stored(store, ELIFE)
    assert work["title"] == "Our corrected title"
    assert json.loads(work["provenance"])["title"] == "local"

    edit_work(work_id, {"title": None}, store=store, config=config, command="unset")
    work = stored(store, ELIFE)
    assert work["title"] == "Crossref changed it too" != original
    sources = [
        (c["field"], c["source"]) for c in store.works.history(work_id) if c["field"] == "title"
    ]
    assert sources == [("title", "crossref"), ("title", "local"), ("title", "local")]


def test_an_alias_is_stored_under_its_prime_doi_and_finds_the_same_work(upstream, store):
    config = configure(upstream)
    upstream.aliases[parse_doi("10.7554/eLife.01567.alias").key] = ELIFE
    _, outcomes = run(["10.7554/eLife.01567.alias"], store, config)
    [outcome] = outcomes.values()
    assert outcome.status == "created"
    assert store.works.find_work_id("doi", parse_doi(ELIFE).key) == outcome.work_id
    assert (
        store.works.find_work_id("doi", parse_doi("10.7554/eLife.01567.alias").key)
        == outcome.work_id
    )
    crossref_doi = load_json("crossref/10.7554_elife.01567.json")["message"]["DOI"]
    assert stored(store, ELIFE)["doi"] == crossref_doi  # as the agency spells it
    # OpenAlex was asked about the prime DOI, which it knows.
    assert stored(store, ELIFE)["openalex_id"]


def test_the_next_chunk_is_asked_while_this_one_is_written(upstream, store):
    """The upstream pools do not wait for SQLite: while chunk 1 is being written, chunk 2's
    Crossref list request goes out."""
    dois = upstream.add_synthetic(40)
    config = configure(upstream, chunk_size=20)  # one Crossref list request per chunk
    asked_during_first_write = []

    def on_outcome(outcome) -> None:
        if asked_during_first_write:
            return
        deadline = time.monotonic() + 5
        while upstream.count("/crossref/works?filter=") < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        asked_during_first_write.append(upstream.count("/crossref/works?filter="))

    result, _ = run(dois, store, config, on_outcome=on_outcome)
    assert asked_during_first_write == [2]
    assert (result.counts.created, upstream.count("/crossref/works?filter=")) == (40, 2)
