"""`harvest match` (issue 9) in-process: records without a DOI, imported from BibTeX or harvested
from RePEc, matched through the local upstream answering `query.bibliographic` with recorded
Crossref result lists (tests/upstream.py `add_crossref_query`), and the pure helpers around the
scoring (`harvester.matching`, tested on its own in test_matching.py).

The result lists are real: the recorded "global state" search (a true hit and two neighbours), the
recorded "widget" search, and recorded single works wrapped in the recorded list envelope.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path

import pytest
from conftest import fixture_path, load_json
from fakes import run_pipeline
from upstream import ReplayUpstream

from harvester.config import Config, MatchConfig, load_config
from harvester.errors import ConfigError, StoreError
from harvester.formats import read_records
from harvester.identifiers import parse_doi, parse_repec
from harvester.matching import Citation
from harvester.models import Author, Record
from harvester.pipeline import (
    connect,
    harvest,
    harvest_repec,
    import_records,
    match_works,
    refusal,
    settle_matches,
)
from harvester.pipeline.match import assess, citation_of, query_text
from harvester.sources import crossref
from harvester.store import MatchCandidate, MatchLink, open_store

GLOBAL_STATE = "crossref/list_works_query-global-state_filter-has-orcid_rows3.json"
WIDGETS = "crossref/list_works_query-widget_cursor-page1.json"

ELIFE = load_json("crossref/10.7554_elife.01567.json")["message"]["DOI"]  # as Crossref spells it
INVASIVE = "10.1111/geb.12517"  # the true hit of the recorded "global state" search
SUNSCREENS = "10.1111/phpp.12112"  # "Global state of sunscreens", in the same recorded list
DIASPORA = "10.1111/glob.12341"  # "Host state reactions to home state diaspora ...", likewise

ELIFE_TITLE = load_json("crossref/10.7554_elife.01567.json")["message"]["title"][0]

#: A user's file: titles, authors and years, no DOI. Each entry is a case of the issue.
BIB = {
    # eLife's title with a typo (one letter dropped), the first two authors, year and journal
    "elife": f"""@article{{sankar2014,
  title = {{{ELIFE_TITLE.replace("quantitative", "quantitatve")}}},
  author = {{Sankar, Martial and Nieminen, Kaisa}},
  journal = {{eLife}},
  year = {{2014}},
}}
""",
    # the recorded search's true hit, misspelt, cited with its print year (Crossref: 2016)
    "invasive": """@article{turbelin2017,
  title = {Maping the global state of invasive alien species: patterns of invasion and policy responses},
  author = {Turbelin, Anna J. and Malamud, Bruce D. and Francis, Robert A.},
  journal = {Global Ecology and Biogeography},
  year = {2017},
}
""",
    # a decoy: a title close to the hit's, by other people
    "decoy": """@article{seebens2017,
  title = {Mapping the global state of invasive alien species: drivers of first records},
  author = {Seebens, Hanno},
  journal = {Nature Communications},
  year = {2017},
}
""",
    # doubtful: no authors, the year one off
    "sunscreens": """@misc{sunscreens,
  title = {Global state of sunscreen},
  year = {2013},
}
""",
    # doubtful too: no authors, a typo, the year one off
    "diaspora": """@misc{diaspora,
  title = {Host state reactions to home state diaspora engagement policies: rethinking state sovereignty},
  year = {2020},
}
""",
    # a decoy in the recorded "widget" search: a close title, another author, another year
    "widget": """@incollection{smith2021,
  title = {Adding widget sizes},
  author = {Smith, John},
  year = {2021},
}
""",
}


# --- set-up ---------------------------------------------------------------------------------


@pytest.fixture
def upstream():
    with ReplayUpstream() as server:
        yield server


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "h.db")
    yield s
    s.close()


def import_bib(store, config, *names: str) -> dict[str, int]:
    """Import the named entries of BIB as `harvest import refs.bib` does; their work ids."""
    records = read_records("\n".join(BIB[n] for n in names), "bibtex", "refs.bib")
    result = import_records(records, store=store, config=config, command="harvest import refs.bib")
    assert [o.status for o in result.outcomes] == ["created"] * len(names)
    return {name: o.work_id for name, o in zip(names, result.outcomes, strict=True)}


def run_match(store, config, work_ids):
    records = []
    result, outcomes = run_pipeline(
        match_works,
        work_ids,
        store=store,
        config=config,
        command="harvest match",
        on_match=records.append,
    )
    return result, {r.work_id: r for r in records}, outcomes


def query(store, sql: str, *params) -> list[tuple]:
    return store.conn.execute(sql, params).fetchall()


def candidates(store, work_id: int) -> list[tuple]:
    return query(
        store,
        "SELECT doi, decision, settled_by FROM match_candidates WHERE work_id = ? ORDER BY doi",
        work_id,
    )


def elife_search(upstream) -> None:
    """eLife among two other recorded works, as a search about its histology would list them."""
    upstream.add_crossref_query(
        ["10.1371_journal.pone.0033693", "10.7554_elife.01567", "10.1371_journal.ppat.1008184"],
        when="histology",
    )


# --- a record found: linked, one work, history ------------------------------------------------


def test_a_bibtex_entry_without_doi_is_linked_to_its_doi_on_its_own_work(upstream, store):
    elife_search(upstream)
    config = upstream.config()
    ids = import_bib(store, config, "elife")
    work_id = ids["elife"]
    assert store.matches.unmatched_work_ids() == [work_id]

    result, records, outcomes = run_match(store, config, store.matches.unmatched_work_ids())

    # The search: the record's title, first author and journal; a year either side; 5 rows.
    [params] = upstream.queries
    assert params["query.bibliographic"] == (
        f"{ELIFE_TITLE.replace('quantitative', 'quantitatve')} sankar eLife"
    )
    assert params["filter"] == "from-pub-date:2013-01-01,until-pub-date:2015-12-31"
    assert params["rows"] == "5"

    found = records[work_id]
    assert (found.status, found.doi) == ("linked", ELIFE)
    assert found.score >= 0.9 and "first author surname matches" in found.reasons
    assert [(o.identifier, o.status, o.work_id) for o in outcomes] == [(ELIFE, "changed", work_id)]
    assert (result.status, result.exit_code) == ("ok", 0)

    # One work, the record's: its own values win, the agency's fill in the rest.
    assert query(store, "SELECT count(*) FROM works") == [(1,)]
    work = store.works.get(work_id)
    message = load_json("crossref/10.7554_elife.01567.json")["message"]
    assert work["doi"] == ELIFE
    assert work["title"] == ELIFE_TITLE.replace("quantitative", "quantitatve")  # the user's
    assert (work["volume"], work["publisher"]) == (message["volume"], message["publisher"])
    assert work["issn"] == json.dumps(message["ISSN"], separators=(",", ":"))
    provenance = json.loads(work["provenance"])
    assert provenance["doi"] == "crossref" and provenance["title"] == "local"
    schemes = {i["scheme"] for i in work["identifiers"]}
    assert schemes == {"doi", "record"}  # found by its DOI now, and by its record key still
    assert store.works.find_work_id("doi", parse_doi(ELIFE).key) == work_id

    # History: the link, by the match, and the DOI's values, by Crossref, in the match's run.
    changes = {(c["field"], c["source"], c["run_id"]) for c in store.works.history(work_id)}
    assert ("matched_doi", "match", result.run_id) in changes
    assert ("doi", "crossref", result.run_id) in changes
    assert ("volume", "crossref", result.run_id) in changes
    assert candidates(store, work_id) == [(ELIFE, "accepted", "match")]
    [run] = query(store, "SELECT status, requested, changed, failed FROM runs WHERE id = ?", 2)
    assert run == ("ok", 1, 1, 0)

    # Matched: not asked again.
    assert store.matches.unmatched_work_ids() == []
    _, records, _ = run_match(store, config, [work_id])
    assert records[work_id].status == "skipped" and len(upstream.queries) == 1


def test_the_recorded_search_links_the_true_work_and_none_of_its_neighbours(upstream, store):
    upstream.add_crossref_query(GLOBAL_STATE, when="global state")
    config = upstream.config()
    ids = import_bib(store, config, "invasive", "decoy")

    result, records, _ = run_match(store, config, store.matches.unmatched_work_ids())

    assert (records[ids["invasive"]].status, records[ids["invasive"]].doi) == ("linked", INVASIVE)
    assert "year off by 1" in records[ids["invasive"]].reasons
    assert records[ids["decoy"]].status == "no_match"
    assert store.works.get(ids["decoy"])["doi"] is None
    assert candidates(store, ids["decoy"]) == []
    assert query(store, "SELECT count(*) FROM works") == [(2,)]
    # Crossref's own date filter kept the 2021 and 2014 neighbours out of the 2016-2018 window.
    assert [p["filter"] for p in upstream.queries] == [
        "from-pub-date:2016-01-01,until-pub-date:2018-12-31"
    ] * 2
    assert result.exit_code == 0


def test_a_decoy_with_a_close_title_by_someone_else_is_not_linked(upstream, store):
    upstream.add_crossref_query(WIDGETS, when="widget")
    config = upstream.config()
    ids = import_bib(store, config, "widget")

    result, records, outcomes = run_match(store, config, [ids["widget"]])

    assert records[ids["widget"]].status == "no_match"
    assert records[ids["widget"]].asked == 5
    assert store.works.get(ids["widget"])["doi"] is None
    assert query(store, "SELECT count(*) FROM match_candidates") == [(0,)]
    assert query(store, "SELECT count(*) FROM identifiers WHERE scheme = 'doi'") == [(0,)]
    assert [o.status for o in outcomes] == ["unchanged"]  # counted, nothing written
    assert (result.status, result.counts.unchanged) == ("ok", 1)
    # Not found is not remembered: a later --all-unmatched asks again (Crossref grows).
    assert store.matches.unmatched_work_ids() == [ids["widget"]]


# --- doubtful: review, accept, reject ---------------------------------------------------------


def test_a_doubtful_candidate_waits_for_review_and_accepting_it_links_it(upstream, store):
    upstream.add_crossref_query(GLOBAL_STATE, when="global state")
    config = upstream.config()
    ids = import_bib(store, config, "sunscreens")
    work_id = ids["sunscreens"]

    _, records, _ = run_match(store, config, store.matches.unmatched_work_ids())

    found = records[work_id]
    assert found.status == "review" and found.doi == SUNSCREENS
    assert 0.7 <= found.score < 0.9
    assert store.works.get(work_id)["doi"] is None
    [pending] = store.matches.pending()
    assert (pending["work_id"], pending["doi"], pending["decision"]) == (
        work_id,
        SUNSCREENS,
        "pending",
    )
    assert pending["title"] == "Global state of sunscreens"
    assert pending["work_title"] == "Global state of sunscreen"
    assert (pending["year"], pending["work_year"]) == (2014, 2013)
    assert "year off by 1" in pending["reasons"]
    # Waiting for a person: --all-unmatched does not ask again.
    assert store.matches.unmatched_work_ids() == []

    assert refusal(store, work_id, SUNSCREENS, accept=True) is None
    result, outcomes = run_pipeline(
        settle_matches,
        [(work_id, SUNSCREENS)],
        [],
        store=store,
        config=config,
        command="harvest match --accept",
    )
    assert [(o.status, o.work_id) for o in outcomes] == [("changed", work_id)]
    assert result.exit_code == 0
    work = store.works.get(work_id)
    assert work["doi"] == SUNSCREENS and work["container_title"]
    assert query(store, "SELECT count(*) FROM works") == [(1,)]
    assert candidates(store, work_id) == [(SUNSCREENS, "accepted", "local")]
    assert store.matches.pending() == []
    assert ("matched_doi", "local") in {
        (c["field"], c["source"]) for c in store.works.history(work_id)
    }


def test_a_rejected_candidate_leaves_review_and_is_never_offered_again(upstream, store):
    upstream.add_crossref_query(GLOBAL_STATE, when="state")
    config = upstream.config()
    ids = import_bib(store, config, "diaspora")
    work_id = ids["diaspora"]

    _, records, _ = run_match(store, config, [work_id])
    assert (records[work_id].status, records[work_id].doi) == ("review", DIASPORA)

    run_pipeline(
        settle_matches,
        [],
        [(work_id, DIASPORA)],
        store=store,
        config=config,
        command="harvest match --reject",
    )
    assert store.matches.pending() == []
    assert candidates(store, work_id) == [(DIASPORA, "rejected", "local")]
    assert (
        store.matches.unmatched_work_ids() == []
    )  # refused by a person: not asked again by itself
    # Named explicitly it is asked again, and what was rejected is not offered again.
    _, records, _ = run_match(store, config, [work_id])
    assert records[work_id].status == "no_match"
    assert len(upstream.queries) == 2
    assert candidates(store, work_id) == [(DIASPORA, "rejected", "local")]


def test_settling_refuses_what_is_not_a_candidate_or_names_another_work(upstream, store):
    upstream.add_crossref_query(GLOBAL_STATE, when="global state")
    upstream.add_crossref("10.7554_elife.01567")
    config = upstream.config()
    ids = import_bib(store, config, "sunscreens")
    work_id = ids["sunscreens"]
    run_match(store, config, [work_id])

    assert "not a candidate of work" in refusal(store, work_id, ELIFE, accept=True)
    assert "not a candidate of work" in refusal(store, work_id, ELIFE, accept=False)
    assert f"no work {work_id + 99}" in refusal(store, work_id + 99, SUNSCREENS, accept=True)
    # The candidate's DOI comes to identify another work (harvested by DOI meanwhile).
    harvest(
        [parse_doi(SUNSCREENS)], store=store, client=connect(config), config=config, command="t"
    )
    other = store.works.find_work_id("doi", parse_doi(SUNSCREENS).key)
    assert other != work_id
    assert f"already identifies work {other}" in refusal(store, work_id, SUNSCREENS, accept=True)
    # ... and the store would not link it anyway.
    with pytest.raises(StoreError, match=f"already identifies work {other}"):
        store.matches.keep(1, [], [MatchLink(work_id, SUNSCREENS, "local")])
    assert store.works.get(work_id)["doi"] is None


def test_a_linked_work_takes_no_second_doi(upstream, store):
    config = upstream.config()
    work_id = import_bib(store, config, "sunscreens")["sunscreens"]
    run_id = store.runs.start("t")
    store.matches.keep(
        run_id,
        [
            MatchCandidate(work_id, SUNSCREENS, 0.88, "pending", "a"),
            MatchCandidate(work_id, DIASPORA, 0.75, "pending", "b"),
        ],
        [MatchLink(work_id, SUNSCREENS, "local")],
    )
    # Linking one settles the others: a work has one DOI.
    assert candidates(store, work_id) == [
        (DIASPORA, "rejected", "local"),
        (SUNSCREENS, "accepted", "local"),
    ]
    assert refusal(store, work_id, DIASPORA, accept=True) == (
        f"work {work_id} is already linked to {SUNSCREENS}; a work has one DOI"
    )
    assert refusal(store, work_id, SUNSCREENS, accept=True) is None  # harvest it again


# --- what must never be linked automatically ---------------------------------------------------


def test_a_doi_that_identifies_another_work_is_kept_for_review_not_linked(upstream, store):
    elife_search(upstream)
    config = upstream.config()
    harvest([parse_doi(ELIFE)], store=store, client=connect(config), config=config, command="t")
    stored = store.works.find_work_id("doi", parse_doi(ELIFE).key)
    ids = import_bib(store, config, "elife")  # the user's own entry for the same work

    _, records, outcomes = run_match(store, config, [ids["elife"]])

    found = records[ids["elife"]]
    assert (found.status, found.doi) == ("review", ELIFE)
    assert f"veto: DOI already identifies work {stored}" in found.reasons
    assert store.works.get(ids["elife"])["doi"] is None
    assert store.works.find_work_id("doi", parse_doi(ELIFE).key) == stored
    assert [o.status for o in outcomes] == ["unchanged"]


def test_two_records_of_one_work_do_not_both_get_its_doi(upstream, store):
    elife_search(upstream)
    config = upstream.config()
    twin = BIB["elife"].replace("sankar2014", "sankar2014b").replace("quantitatve", "quantitativ")
    records = read_records(BIB["elife"] + twin, "bibtex", "refs.bib")
    result = import_records(records, store=store, config=config, command="harvest import")
    first, second = (o.work_id for o in result.outcomes)

    _, found, _ = run_match(store, config, [first, second])

    assert (found[first].status, found[first].doi) == ("linked", ELIFE)
    assert found[second].status == "review"
    assert f"DOI already identifies work {first}" in found[second].reasons
    assert store.works.get(second)["doi"] is None


# --- RePEc records without a DOI (item 4) ------------------------------------------------------


def test_a_repec_paper_without_doi_is_linked_to_its_crossref_doi(upstream, store, tmp_path):
    """A real ReDIF paper (CEPR's, recorded) has no DOI. Crossref's list for it: the paper as a
    Crossref report (the recorded PLOS work's shape under the paper's DOI, title, author and
    date; 10.5555 is Crossref's test prefix) among the recorded "widget" results."""
    tree = tmp_path / "repec"
    (tree / "epo" / "papers").mkdir(parents=True)
    (tree / "epo" / "papers" / "2016.rdf").write_bytes(
        fixture_path("redif/epo_papers_2016.rdf").read_bytes()
    )
    config = upstream.config(repec=dataclasses.replace(Config().repec, url=str(tree), rate=1000.0))
    handle = parse_repec("RePEc:epo:papers:2016-01")
    harvest_repec([handle], store=store, client=connect(config), config=config, command="t")
    work_id = store.works.find_work_id("repec", handle.key)
    paper = store.works.get(work_id)
    assert paper["doi"] is None and paper["title"].startswith("Low Visibility")

    report = {
        **load_json("crossref/10.1371_journal.pone.0033693.json")["message"],
        "DOI": "10.5555/cepr.low-visibility.2016",
        "type": "report",
        "title": ["Low visibility: the fate of air traffic control privatization"],
        "author": [
            {"given": "Max B.", "family": "Sawicky", "sequence": "first", "affiliation": []}
        ],
        "issued": {"date-parts": [[2016, 2]]},
        "published-online": {"date-parts": [[2016, 2]]},
        "published-print": {"date-parts": [[2016, 2]]},
        "container-title": [],
    }
    widgets = load_json(WIDGETS)["message"]["items"]
    upstream.add_crossref_query([*widgets[:4], report], when="air traffic")

    result, records, outcomes = run_match(store, config, store.matches.unmatched_work_ids())

    assert (records[work_id].status, records[work_id].doi) == ("linked", report["DOI"])
    work = store.works.get(work_id)
    assert work["doi"] == report["DOI"] and work["repec_handle"] == handle.value
    assert query(store, "SELECT count(*) FROM works") == [(1,)]
    sources = {
        s for (s,) in query(store, "SELECT source FROM source_records WHERE work_id = ?", work_id)
    }
    assert {"repec", "crossref"} <= sources
    assert [o.status for o in outcomes] == ["changed"] and result.exit_code == 0
    # A rerun of the series keeps the DOI: the Crossref record is one of the work's sources.
    harvest_repec([handle], store=store, client=connect(config), config=config, command="t")
    assert store.works.get(work_id)["doi"] == report["DOI"]


# --- failures: nothing lost -----------------------------------------------------------------


@pytest.mark.parametrize(("status", "kind"), [(500, "server_error"), (429, "rate_limited")])
def test_a_failing_search_leaves_the_record_unmatched_and_the_run_failed(
    upstream, store, status, kind
):
    elife_search(upstream)
    config = upstream.config()
    ids = import_bib(store, config, "elife")
    upstream.fail("query.bibliographic", status, times=None)

    result, records, outcomes = run_match(store, config, store.matches.unmatched_work_ids())

    assert records[ids["elife"]].status == "failed"
    assert (result.status, result.exit_code, result.counts.failed) == ("failures", 1, 1)
    assert store.runs.failures(result.run_id) == {kind: 1}
    assert [o.status for o in outcomes] == ["failed"]
    assert store.works.get(ids["elife"])["doi"] is None
    assert candidates(store, ids["elife"]) == []
    if status == 429:  # retried before giving up
        assert upstream.count("query.bibliographic") == config.http.max_attempts

    upstream.faults.clear()
    result, records, _ = run_match(store, config, store.matches.unmatched_work_ids())
    assert records[ids["elife"]].status == "linked" and result.exit_code == 0


def test_a_link_whose_harvest_failed_is_harvested_by_the_next_match(upstream, store):
    elife_search(upstream)
    config = upstream.config()
    ids = import_bib(store, config, "elife")
    work_id = ids["elife"]
    upstream.fail("filter=doi", 503, times=None)
    upstream.fail("/works/10.7554", 503, times=None)

    result, records, outcomes = run_match(store, config, [work_id])

    assert records[work_id].status == "linked"
    assert [(o.identifier, o.status) for o in outcomes] == [(ELIFE, "failed")]
    assert result.exit_code == 1
    # The link stands (the DOI finds the work), the agency's values are still missing.
    assert store.works.find_work_id("doi", parse_doi(ELIFE).key) == work_id
    assert store.works.get(work_id)["doi"] is None
    assert store.matches.unmatched_work_ids() == [work_id]

    upstream.faults.clear()
    searches = len(upstream.queries)
    result, records, outcomes = run_match(store, config, store.matches.unmatched_work_ids())
    assert records[work_id].status == "linked"
    assert len(upstream.queries) == searches  # not searched again: the DOI is harvested again
    assert [(o.identifier, o.status) for o in outcomes] == [(ELIFE, "changed")]
    assert store.works.get(work_id)["doi"] == ELIFE
    links = [c for c in store.works.history(work_id) if c["field"] == "matched_doi"]
    assert len(links) == 1


# --- the store ----------------------------------------------------------------------------------


def test_the_migration_creates_match_candidates(store):
    columns = [r[1] for r in query(store, "PRAGMA table_info(match_candidates)")]
    assert columns == [
        "work_id", "doi", "score", "decision", "reasons", "title", "year", "authors",
        "container_title", "run_id", "found_at", "settled_at", "settled_by",
    ]  # fmt: skip
    with pytest.raises(sqlite3.IntegrityError):
        store.conn.execute(
            "INSERT INTO match_candidates (work_id, doi, score, decision, found_at) "
            "VALUES (1, '10.1/x', 0.8, 'maybe', 'now')"
        )


def test_a_work_with_candidates_can_still_be_merged_into_another(upstream, store):
    """When two works turn out to be one (an alias), the store deletes the orphan: its
    candidates go with it instead of blocking the merge."""
    config = upstream.config()
    ids = import_bib(store, config, "sunscreens", "diaspora")
    run_id = store.runs.start("t")
    store.matches.keep(
        run_id, [MatchCandidate(ids["sunscreens"], SUNSCREENS, 0.8, "pending", "title 0.98")], []
    )
    with store.transaction():
        store.works._absorb(ids["sunscreens"], ids["diaspora"], run_id, "crossref", store.now())
    assert store.works.get(ids["sunscreens"]) is None
    assert query(store, "SELECT count(*) FROM match_candidates") == [(0,)]


def test_a_candidate_seen_again_is_rescored_but_a_persons_decision_stands(upstream, store):
    config = upstream.config()
    ids = import_bib(store, config, "sunscreens")
    work_id = ids["sunscreens"]
    run_id = store.runs.start("t")
    store.matches.keep(run_id, [MatchCandidate(work_id, SUNSCREENS, 0.8, "pending", "a")], [])
    store.matches.keep(
        run_id, [MatchCandidate(work_id, "10.1111/PHPP.12112", 0.85, "pending", "b")], []
    )
    assert query(store, "SELECT doi, score, reasons FROM match_candidates") == [
        (SUNSCREENS, 0.85, "b")
    ]
    assert store.matches.reject(work_id, "10.1111/PHPP.12112")
    store.matches.keep(run_id, [MatchCandidate(work_id, SUNSCREENS, 0.86, "pending", "c")], [])
    assert candidates(store, work_id) == [(SUNSCREENS, "rejected", "local")]
    assert not store.matches.reject(work_id, "10.9999/never-a-candidate")


# --- pure helpers -------------------------------------------------------------------------------


def test_bibliographic_params_window_rows_and_no_year():
    assert crossref.bibliographic_params(" A  title\n", year=2014, year_window=1, rows=5) == {
        "query.bibliographic": "A title",
        "filter": "from-pub-date:2013-01-01,until-pub-date:2015-12-31",
        "rows": "5",
    }
    assert crossref.bibliographic_params("A title", year=2014, year_window=0, rows=1)["filter"] == (
        "from-pub-date:2014-01-01,until-pub-date:2014-12-31"
    )
    assert "filter" not in crossref.bibliographic_params(
        "A title", year=None, year_window=1, rows=5
    )
    for bad in ({"rows": 0}, {"rows": 1001}, {"year_window": -1}):
        with pytest.raises(ValueError):
            crossref.bibliographic_params("A", **{"year": 2000, "year_window": 1, "rows": 5, **bad})
    with pytest.raises(ValueError):
        crossref.bibliographic_params("  ", year=2000, year_window=1, rows=5)


def test_parse_candidates_reads_a_recorded_search_and_skips_items_without_doi():
    items = load_json(GLOBAL_STATE)["message"]["items"]
    records = crossref.parse_candidates([*items, {"title": ["no DOI"]}, "not a work"])
    assert [r.doi for r in records] == [INVASIVE, DIASPORA, SUNSCREENS]
    assert records[0].authors[0].family == "Turbelin"


def test_citation_of_a_stored_work_and_the_query_it_makes():
    work = {
        "title": "Vector Quotient Filters",
        "subtitle": "Overcoming the Time/Space Trade-Off in Filter Design",
        "authors": [
            {"given": "Prashant", "family": "Pandey"},
            {"name": "The Filter Consortium"},
            {"given": None, "family": "Conway"},
        ],
        "year": 2021,
        "container_title": "SIGMOD",
    }
    citation = citation_of(work)
    assert citation == Citation(
        "Vector Quotient Filters: Overcoming the Time/Space Trade-Off in Filter Design",
        ("Pandey, Prashant", "The Filter Consortium", "Conway"),
        2021,
        "SIGMOD",
    )
    assert query_text(citation) == (
        "Vector Quotient Filters: Overcoming the Time/Space Trade-Off in Filter Design pandey SIGMOD"
    )
    assert citation_of({"title": "  ", "authors": []}) is None
    assert query_text(Citation("Only a title")) == "Only a title"


def _recorded(name: str) -> Record:
    return crossref.parse(load_json(f"crossref/{name}.json")["message"])


def test_assess_links_one_sure_candidate_and_keeps_doubtful_ones():
    elife, plos = _recorded("10.7554_elife.01567"), _recorded("10.1371_journal.pone.0033693")
    sure = Citation(elife.title, ("Sankar, M.",), 2014, "eLife")
    outcome = assess(sure, [plos, elife, elife], accept=0.9, review=0.7)
    assert outcome.decision == "accept" and outcome.chosen.record is elife
    assert outcome.asked == 3

    doubtful = Citation(elife.title, (), None)  # a title alone is never enough
    outcome = assess(doubtful, [plos, elife], accept=0.9, review=0.7)
    assert outcome.decision == "review" and outcome.chosen is None
    assert [c.doi for c in outcome.kept] == [ELIFE]

    # What a person rejected is not offered again; a DOI of another work is never accepted.
    again = assess(sure, [elife], rejected={parse_doi(ELIFE).key}, accept=0.9, review=0.7)
    assert (again.decision, again.chosen, again.kept) == ("reject", None, ())
    taken = assess(sure, [elife], taken={parse_doi(ELIFE).key: 7}, accept=0.9, review=0.7)
    assert taken.decision == "review"
    assert taken.kept[0].reasons.endswith("veto: DOI already identifies work 7")
    # Thresholds come from the caller: a stricter accept leaves the sure one for review.
    strict = assess(
        Citation(elife.title.lower() + " x", ("Sankar, M.",), 2015),
        [elife],
        accept=0.99,
        review=0.7,
    )
    assert strict.decision == "review"


def test_assess_with_no_candidates_or_only_poor_ones_rejects():
    widgets = crossref.parse_candidates(load_json(WIDGETS)["message"]["items"])
    cited = Citation("Adding widget sizes", ("Smith, John",), 2021)
    outcome = assess(cited, widgets, accept=0.9, review=0.7)
    assert (outcome.decision, outcome.kept) == ("reject", ())
    assert assess(cited, [], accept=0.9, review=0.7).decision == "reject"
    nameless = Record(
        source="crossref", doi=None, title="Adding widget sizes", authors=(Author(family="Smith"),)
    )
    assert assess(cited, [nameless], accept=0.9, review=0.7).kept == ()


# --- configuration ----------------------------------------------------------------------------


def test_match_config_defaults_and_the_shipped_file():
    assert Config().match == MatchConfig(accept=0.9, review=0.7, rows=5, year_window=1)
    shipped = Path(__file__).resolve().parents[1] / "config" / "harvester.toml"
    assert load_config(shipped, env={}).match == MatchConfig()


@pytest.mark.parametrize(
    ("lines", "named"),
    [
        ("review = 0.95", "0 < review <= accept <= 1"),
        ("accept = 1.2", "0 < review <= accept <= 1"),
        ("review = 0", "0 < review <= accept <= 1"),
        ("rows = 0", "rows"),
        ("year_window = -1", "year_window"),
        ('rows = "5"', "rows"),
        ("treshold = 0.8", "treshold"),
    ],
)
def test_bad_match_settings_are_refused_naming_the_file(tmp_path, lines, named):
    path = tmp_path / "bad.toml"
    path.write_text(f"[match]\n{lines}\n")
    with pytest.raises(ConfigError, match=named) as refused:
        load_config(path, env={})
    assert str(path) in str(refused.value)
