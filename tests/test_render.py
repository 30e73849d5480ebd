"""What a user reads, from `harvester.render` directly: each function given what the pipeline and
the store really return (a harvest, an edit, a match run against the local upstream replaying
recorded answers, into a tmp database on a fixed clock), and the lines asserted as printed.

The commands themselves (that `cli.py` echoes these lines, and the exit codes) are the end-to-end
tests' business: test_cli_e2e.py, test_cli_local.py, test_match_cli.py.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import logging
import re
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from conftest import Clock, load_json
from structlog.testing import capture_logs
from test_match import (
    DIASPORA,
    ELIFE,
    GLOBAL_STATE,
    INVASIVE,
    SUNSCREENS,
    WIDGETS,
    import_bib,
    run_match,
)
from upstream import ReplayUpstream

from harvester import render
from harvester.config import FeedConfig
from harvester.errors import BadIdentifier
from harvester.formats import read_records
from harvester.identifiers import parse_doi
from harvester.pipeline import (
    RunResult,
    connect,
    edit_work,
    harvest,
    import_records,
    plan_run,
)
from harvester.pipeline.match import MatchResult, check_decisions, is_doi_harvest
from harvester.scheduler import ScheduledJob
from harvester.store import OUTCOMES, Outcome, RunCounts, open_store

ELIFE_AS_GIVEN = "10.7554/eLife.01567"
NOBODY = "10.99999/never-registered"  # a prefix doi.org places nowhere
PLOS = "10.1371/journal.pone.0033693"
NOW = "2026-11-02T03:00:00Z"


@pytest.fixture
def upstream():
    with ReplayUpstream() as server:
        server.add_crossref("10.7554_elife.01567")
        server.add_openalex("10.7554_elife.01567")
        yield server


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "h.db", now=Clock(datetime(2026, 11, 2, 3, 0, tzinfo=UTC)))
    yield s
    s.close()


def run(store, config, *dois: str) -> tuple[RunResult, list[Outcome]]:
    """`harvest doi DOI...` in-process: the run's result and its outcomes, in order."""
    outcomes: list[Outcome] = []
    result = harvest(
        [parse_doi(d) for d in dois],
        store=store,
        client=connect(config),
        config=config,
        command="harvest doi",
        on_outcome=outcomes.append,
    )
    return result, outcomes


def openalex_says_volume(upstream, volume: str) -> None:
    """The next OpenAlex answer about eLife disagrees with Crossref on the volume."""
    openalex = load_json("openalex/10.7554_elife.01567.json")
    openalex["biblio"] = {**openalex["biblio"], "volume": volume}
    body = json.dumps(openalex).encode()
    upstream.fail("/openalex/works/doi:", 200, body, {"Content-Type": "application/json"})


def field_line(text: str, label: str) -> str:
    """The value on the `  Label:   value` line of `harvest show`."""
    [line] = [x for x in text.splitlines() if x.startswith(f"  {label}:")]
    return line.split(":", 1)[1].strip()


# --- a harvest: the line per identifier, the summary -------------------------------------------


def test_each_outcome_says_what_became_of_its_identifier_and_the_summary_counts_them(
    upstream, store
):
    upstream.fail("10.1371", 500, b"boom", times=None)
    result, outcomes = run(store, upstream.config(), ELIFE_AS_GIVEN, NOBODY, PLOS)

    created, not_found, failed = (render.outcome_line(o) for o in outcomes)
    assert created == (
        "created    10.7554/eLife.01567  work 1: Automated quantitative histology reveals "
        "vascular morphodynamics duri…"
    )
    assert not_found == (
        "not found  10.99999/never-registered  doi.org knows no registration agency for 10.99999"
    )
    assert failed.startswith(
        "failed     10.1371/journal.pone.0033693  cannot tell the agency: doi.org 10.1371 (GET "
    )
    assert failed.endswith("server error HTTP 500 Internal Server Error")

    summary = render.summary_line(result, store.path, store.runs.failures(result.run_id))
    assert summary == (
        "3 identifier(s): 1 created, 0 changed, 0 unchanged, 1 not found, 1 failed "
        f"(server_error 1); run 1 in {store.path}"
    )


def test_a_changed_work_names_its_fields_and_an_unchanged_one_its_work(upstream, store):
    config = upstream.config()
    run(store, config, ELIFE_AS_GIVEN)
    upstream.change(ELIFE, volume="5")

    _, [changed] = run(store, config, ELIFE_AS_GIVEN)
    result, [unchanged] = run(store, config, ELIFE_AS_GIVEN)

    assert render.outcome_line(changed) == "changed    10.7554/eLife.01567  work 1 v2: volume"
    assert render.outcome_line(unchanged) == "unchanged  10.7554/eLife.01567  work 1"
    assert render.summary_line(result, "data/harvest.db") == (
        "1 identifier(s): 0 created, 0 changed, 1 unchanged, 0 not found, 0 failed; "
        "run 3 in data/harvest.db"
    )


def test_an_outcome_without_work_or_reason_still_reads_as_a_sentence():
    assert render.outcome_line(Outcome("10.1/x", "unchanged")) == "unchanged  10.1/x"
    assert render.outcome_line(Outcome("10.1/x", "not_found", source="crossref")) == (
        "not found  10.1/x  crossref has no record of it"
    )
    assert render.outcome_line(Outcome("10.1/x", "failed")) == "failed     10.1/x  unknown error"
    assert render.outcome_line(Outcome("10.1/x", "created", work_id=3)) == (
        "created    10.1/x  work 3: (no title)"
    )


def test_the_summary_says_a_run_was_interrupted_and_what_it_left_due():
    counts = RunCounts(requested=5, created=2, changed=1, unchanged=2)
    result = RunResult(run_id=7, status="interrupted", counts=counts, left_due=40)
    assert render.summary_line(result, "h.db") == (
        "5 identifier(s): 2 created, 1 changed, 2 unchanged, 0 not found, 0 failed; run 7 in "
        "h.db (interrupted); 40 still due (time budget, --max or a stop)"
    )


def test_one_table_of_statuses_gives_the_line_its_words_and_the_log_its_event(
    upstream, store, caplog
):
    assert set(render.OUTCOME_STATUSES) == set(OUTCOMES)
    caplog.set_level(logging.DEBUG, logger="harvester.pipeline.common")  # a line per work: debug
    with capture_logs() as logs:
        _, outcomes = run(store, upstream.config(), ELIFE_AS_GIVEN, NOBODY)
    events = [e["event"] for e in logs if e["event"].startswith("work.")]
    assert events == [render.OUTCOME_STATUSES[o.status].event for o in outcomes]
    assert events == ["work.created", "work.not_found"]
    assert render.OUTCOME_STATUSES["not_found"].label == "not found"


# --- harvest show / history ---------------------------------------------------------------------


def test_show_names_the_source_of_each_field_and_where_the_sources_disagree(upstream, store):
    openalex_says_volume(upstream, "4")
    _, [outcome] = run(store, upstream.config(), ELIFE_AS_GIVEN)

    shown = render.work_text(store.works.get(outcome.work_id))

    lines = shown.splitlines()
    assert lines[0] == f"10.7554/elife.01567  (work 1, version 1, updated {NOW})"
    assert lines[1] == (
        "  Title:       Automated quantitative histology reveals vascular morphodynamics during "
        "Arabidopsis hypocotyl secondary growth"
    )
    assert "  In:          eLife, ISSN 2050-084X" in lines
    assert "  Volume:      3" in lines  # the registration agency wins
    assert "  Identifiers: doi:10.7554/eLife.01567" in lines
    assert lines[-2] == (
        "  From:        crossref: abstract, authors, cited_by_count, container_title, doi, funders, "
        "issn, language, license, published, published_online, publisher, reference_count, "
        "reference_list, relations, title, type, url, volume, year; openalex: oa_status, oa_url, "
        "openalex_id, other_ids, pages, subjects"  # eLife's PMID and PMCID, from OpenAlex
    )
    assert lines[-1] == "  Conflict:    volume: crossref '3', openalex '4'"
    # the abstract, wrapped and indented under its label
    start = lines.index("  Abstract:")
    assert lines[start + 1].startswith("    Among various advantages, their small size")
    assert all(len(x) <= 96 and x.startswith("    ") for x in lines[start + 1 : start + 5])


def test_show_after_set_says_the_value_is_yours(upstream, store):
    config = upstream.config()
    _, [outcome] = run(store, config, ELIFE_AS_GIVEN)
    edit_work(outcome.work_id, {"title": "My title"}, store=store, config=config, command="set")

    shown = render.work_text(store.works.get(outcome.work_id))

    assert field_line(shown, "Title") == "My title"
    assert field_line(shown, "From").endswith("; local: title")
    # Your title wins, and the sources' own (the recorded OpenAlex work agrees with Crossref)
    # stays in sight as a conflict.
    conflict = field_line(shown, "Conflict")
    assert conflict.startswith("title: crossref 'Automated quantitative histology reveal")
    assert "local 'My title'" in conflict


def test_show_of_no_work():
    assert render.work_text(None) == "(no such work)"


def test_history_lists_each_change_under_its_run_with_its_source(upstream, store):
    config = upstream.config()
    _, [outcome] = run(store, config, ELIFE_AS_GIVEN)
    work_id = outcome.work_id
    upstream.change(ELIFE, volume="5")
    run(store, config, ELIFE_AS_GIVEN)
    edit_work(work_id, {"issue": "7"}, store=store, config=config, command="set")
    edit_work(work_id, {"issue": None}, store=store, config=config, command="unset")

    lines = render.history_text(store.works.get(work_id), store.works.history(work_id)).splitlines()

    assert lines[0] == (
        "10.7554/elife.01567  work 1, version 4: Automated quantitative histology reveals "
        "vascular morphodynamics duri…"
    )
    assert lines[1] == f"{NOW}  run 1"
    assert "  doi              set to 10.7554/elife.01567  [crossref]" in lines
    assert "  pages            set to e01567  [openalex]" in lines
    assert lines[-6:] == [
        f"{NOW}  run 2",
        "  volume           3 -> 5  [crossref]",
        f"{NOW}  run 3",
        "  issue            set to 7  [local]",
        f"{NOW}  run 4",
        "  issue            removed (was 7)  [local]",
    ]
    assert render.history_text(store.works.get(work_id), []).splitlines()[1:] == [
        "  no changes recorded"
    ]


def test_history_shows_the_words_that_changed_not_two_identical_truncations():
    old = (
        "Alone in the back office: the isolation of those who work alone in the service "
        "sector and what it means for them"
    )
    new = old.replace("those", "these")
    assert render.value_change(old, new) == "… the isolation of [-those-]{+these+} who work alone …"
    # A byline (JSON, without spaces) shows the one name that changed.
    byline = '[{"family":"Sankar","given":"Martial"},{"family":"Nieminen","given":"Kaisa"}]'
    more = byline.replace('"Kaisa"', '"Kaisa Maria"')
    assert render.value_change(byline, more) == '… "given":"Kaisa{+ Maria+}"}]'
    # Short values, or one rewritten whole, are shown whole.
    assert render.value_change("3", "5") == "3 -> 5"
    rewritten = render.value_change(old, "Our corrected title")
    assert rewritten == f"{old} -> Our corrected title"


def test_a_work_without_a_doi_is_named_by_its_handle_identifier_or_title():
    base = {"id": 7, "version": 1, "updated_at": NOW}
    handle = {**base, "repec_handle": "RePEc:wpa:wuwpma:0001", "doi": None}
    assert render.work_text(handle).startswith("RePEc:wpa:wuwpma:0001  (work 7")
    oai = {**base, "identifiers": [{"scheme": "oai", "value": "oai:arXiv.org:1405.1234"}]}
    assert render.history_text(oai, []).startswith("oai:oai:arXiv.org:1405.1234  work 7")
    titled = {**base, "title": "A report we wrote"}
    assert render.work_text(titled).startswith("'A report we wrote'  (work 7")
    assert render.history_text({**base}, []).startswith("work 7  work 7, version 1")
    for text in (render.work_text(titled), render.history_text(titled, [])):
        assert "None" not in text


def test_a_work_not_stored_and_an_unset_that_changes_nothing_are_told_in_words():
    assert render.not_stored("10.1/nothing") == "not in the database: 10.1/nothing"
    assert render.unset_note("publisher") == "note: publisher has no value of yours to unset"


# --- harvest import -------------------------------------------------------------------------------


def test_import_counts_the_works_and_lists_the_records_without_identifier(upstream, store):
    text = (
        "doi,title,year\n"
        "10.7554/eLife.01567,My own title,2014\n"
        ",A record without any identifier at all whose title runs on and on well past the width "
        "of one listing line,2001\n"
    )
    records = read_records(text, "csv", "mine.csv")
    result = import_records(records, store=store, config=upstream.config(), command="import")

    assert render.import_summary(result, len(records), "mine.csv").splitlines() == [
        "2 record(s) from mine.csv: 2 new work(s), 0 changed, 0 unchanged; run 1",
        "1 record(s) without DOI or RePEc handle, kept:",
        "  line 3: A record without any identifier at all whose title runs on and on well past "
        "the width of …",
    ]


# --- harvest match ---------------------------------------------------------------------------------


@pytest.fixture
def matched(store):
    """Six BibTeX records without DOI imported and matched as `harvest match --all-unmatched`
    does, against recorded Crossref searches: two linked, two for review, two without match."""
    with ReplayUpstream() as server:
        server.add_crossref_query(GLOBAL_STATE, when="state")
        server.add_crossref_query(
            ["10.1371_journal.pone.0033693", "10.7554_elife.01567"], when="histology"
        )
        server.add_crossref_query(WIDGETS, when="widget")
        config = server.config()
        names = ("elife", "invasive", "decoy", "sunscreens", "diaspora", "widget")
        ids = import_bib(store, config, *names)
        result, records, outcomes = run_match(store, config, store.matches.unmatched_work_ids())
        yield ids, list(records.values()), outcomes, result, config


def test_each_record_of_a_match_run_says_what_was_found_and_why(matched):
    ids, records, _, _, _ = matched
    lines = {r.work_id: render.match_line(r) for r in records}

    assert lines[ids["elife"]].startswith(
        f"linked     work {ids['elife']}  {ELIFE}  score 1.00 (title"
    )
    assert "first author surname matches" in lines[ids["elife"]]
    assert lines[ids["invasive"]].startswith(
        f"linked     work {ids['invasive']}  {INVASIVE}  score 0.96"
    )
    assert lines[ids["decoy"]].startswith(
        f"no match   work {ids['decoy']}  no match among 1 candidate(s): "
    )
    assert lines[ids["sunscreens"]] == (
        f"review     work {ids['sunscreens']}  1 candidate(s) (best 0.89 {SUNSCREENS}): "
        "Global state of sunscreen"
    )
    assert lines[ids["diaspora"]].startswith(
        f"review     work {ids['diaspora']}  1 candidate(s) (best 0.80 {DIASPORA}): "
    )
    assert lines[ids["widget"]].startswith(f"no match   work {ids['widget']}  no match among 5")


def test_a_record_skipped_or_whose_search_failed_says_why():
    skipped = MatchResult(4, "skipped", "A title", error="has a DOI (10.1/x)")
    failed = MatchResult(5, "failed", "A title", error="HTTP 503 from crossref")
    unsearched = MatchResult(6, "no_match", "A record never asked about")
    assert render.match_line(skipped) == "skipped    work 4  has a DOI (10.1/x)"
    assert render.match_line(failed) == "failed     work 5  HTTP 503 from crossref"
    assert (
        render.match_line(unsearched) == "no match   work 6  no match: A record never asked about"
    )


def test_the_match_summary_counts_the_records_and_points_to_the_review(matched, store):
    _, records, outcomes, result, _ = matched
    harvests = [o for o in outcomes if is_doi_harvest(o)]
    assert [o.status for o in harvests] == ["changed", "changed"]  # the two linked DOIs

    assert render.match_summary(records, harvests, result, store.path).splitlines() == [
        f"6 record(s): 2 linked, 2 for review, 2 no match, 0 failed; run 2 in {store.path}",
        "harvest match --review lists the candidates waiting for you",
    ]
    # a linked DOI whose harvest failed is said to be still to do
    failed = dataclasses.replace(harvests[0], status="failed", error="HTTP 500")
    text = render.match_summary(records, [failed], result, "h.db")
    assert (
        "; 1 linked DOI(s) not harvested yet (the next harvest match asks); run 2 in h.db" in text
    )


def test_the_review_lists_each_record_beside_its_candidates_and_how_to_settle(matched, store):
    ids, _, _, _, _ = matched
    lines = render.review_text(store.matches.pending()).splitlines()

    assert lines == [
        f"work {ids['sunscreens']}: Global state of sunscreen  (2013)",
        f"  0.89  {SUNSCREENS}  Global state of sunscreens  (2014; Osterwalder; Sohn; Herzog; "
        "Photodermatology, Photoimmunology & Photomedicine)",
        "        title 0.98 (typo or wording differs); year off by 1",
        f"work {ids['diaspora']}: Host state reactions to home state diaspora engagement policies: "
        "rethinking state soverei…  (2020)",
        f"  0.80  {DIASPORA}  Host state reactions to home state diaspora engagement policies: "
        "Rethinking sta…  (2021; Baser; Féron; Global Networks)",
        "        title 0.83 (typo or wording differs); year off by 1",
        "2 candidate(s) for 2 record(s) waiting for review",
        "settle each with: harvest match --accept ID DOI, or --reject ID DOI",
    ]
    assert render.review_text([]) == "0 candidate(s) for 0 record(s) waiting for review"


def test_a_settlement_says_each_decision_rejections_first(matched, store):
    ids, _, _, _, _ = matched
    decisions = check_decisions(
        store,
        [(str(ids["sunscreens"]), SUNSCREENS)],
        [(str(ids["diaspora"]), DIASPORA.upper())],
    )
    assert render.settled_lines(decisions) == [
        f"rejected   work {ids['diaspora']}  {DIASPORA.upper()}",
        f"accepted   work {ids['sunscreens']}  {SUNSCREENS}",
    ]
    assert render.rejected_summary(1, 9, "h.db") == "1 candidate(s) rejected; run 9 in h.db"
    document = render.settle_document(RunResult(9, "ok"), [], decisions)
    assert document["accepted"] == [{"work_id": ids["sunscreens"], "doi": SUNSCREENS}]
    assert document["rejected"] == [{"work_id": ids["diaspora"], "doi": DIASPORA.upper()}]


# --- the watch list, the plan of a run, the schedule ------------------------------------------------


def test_the_watch_list_shows_each_identifier_its_work_and_when_each_source_is_due(upstream, store):
    _, [outcome] = run(store, upstream.config(), ELIFE_AS_GIVEN)
    added = store.watch.track(
        [("doi", "10.7554/elife.01567", ELIFE_AS_GIVEN), ("doi", "10.1/abc", "10.1/ABC")]
    )

    assert render.tracked_text(store.watch.tracked()).splitlines() == [
        "10.1/ABC  (not harvested yet)",
        f"  agency    due {NOW}  last: never tried",
        f"  openalex  due {NOW}  last: never tried",
        f"10.7554/eLife.01567  (work {outcome.work_id})",
        f"  agency    due {NOW}  last: never tried",
        f"  openalex  due {NOW}  last: never tried",
        "2 identifier(s) on the watch list",
    ]
    assert render.track_summary(3, added) == (
        "3 identifier(s): 2 added to the watch list, 1 already on it; "
        "`harvest run` harvests what is due"
    )
    assert render.untrack_summary(2, 1) == "1 of 2 identifier(s) taken off the watch list"


def test_a_source_failing_again_and_again_says_how_often_and_why():
    watched = [
        {
            "value": "10.1/abc",
            "work_id": 3,
            "sources": {
                "agency": {
                    "next_due_at": NOW,
                    "last_status": "failed",
                    "streak": 3,
                    "last_error": "HTTP 503 from crossref " + "and on " * 20,
                },
            },
        }
    ]
    assert render.tracked_text(watched).splitlines()[1] == (
        f"  agency    due {NOW}  last: failed 3 times in a row: HTTP 503 from crossref and on and "
        "on and on and on and on a…"
    )


def test_the_plan_of_a_run_lists_what_is_due_and_each_feed(upstream, store):
    feed = FeedConfig("crossref", issn="2050-084X")
    config = dataclasses.replace(upstream.config(), feeds=(feed,))
    store.watch.track([("doi", "10.1/abc", "10.1/ABC")])
    plan = plan_run(store, config, store.now())

    assert render.plan_text(plan.due, plan.feeds).splitlines() == [
        f"due   10.1/ABC  at agency, openalex  (since {NOW})",
        "feed  crossref issn=2050-084X: everything (first harvest)",
        "1 identifier(s) due, 1 feed(s); nothing fetched",
    ]
    assert render.plan_text([], [(feed, "k", "2026-10-01")]).splitlines() == [
        "feed  crossref issn=2050-084X: changed since 2026-10-01",
        "0 identifier(s) due, 1 feed(s); nothing fetched",
    ]
    document = render.plan_document(plan.due, plan.feeds)
    assert document["feeds"] == [
        {"feed": "crossref issn=2050-084X", "key": "crossref issn 2050-084X", "from": None}
    ]
    assert document["due"][0]["value"] == "10.1/ABC"


def test_a_scheduled_job_and_its_next_runs():
    job = ScheduledJob("nightly", "0 3 * * *")
    upcoming = [datetime(2026, 11, 3, 3, 0, tzinfo=UTC), datetime(2026, 11, 4, 3, 0, tzinfo=UTC)]
    assert render.job_line(job, upcoming) == (
        "job nightly: 0 3 * * * (UTC); next: 2026-11-03 03:00 UTC, 2026-11-04 03:00 UTC"
    )


# --- identifiers that cannot be read, errors ----------------------------------------------------


def bad(text: str) -> str:
    with pytest.raises(BadIdentifier) as caught:
        parse_doi(text)
    return str(caught.value)


def test_unreadable_identifiers_are_listed_with_their_place_then_why_nothing_was_done():
    errors = [("argument 1", bad("not a doi")), ("ids.txt:3", bad("10.1234/"))]
    lines = render.invalid_identifiers(errors, going_on=False, valid=1)
    assert lines[0].startswith("error: argument 1: 'not a doi': ")
    assert lines[1].startswith("error: ids.txt:3: '10.1234/': ")
    assert lines[2] == (
        "2 invalid identifier(s); nothing was harvested (use --skip-invalid to go on without them)"
    )
    assert render.invalid_identifiers(errors, going_on=True, valid=1) == lines[:2]
    assert render.invalid_identifiers(errors, going_on=True, valid=0)[2:] == [
        "no valid identifier to harvest"
    ]
    assert render.invalid_identifiers([], going_on=False, valid=0) == []
    assert render.error_line(BadIdentifier("x", "why")) == "error: 'x': why"


def test_shorten_keeps_a_line_to_its_width():
    assert render.shorten("a  b\n c", 10) == "a b c"
    assert render.shorten("abcdefghij", 10) == "abcdefghij"
    assert render.shorten("abcdefghijk", 10) == "abcdefghi…"
    assert render.shorten(None, 5) == ""


# --- the JSON documents of --json -----------------------------------------------------------------


def test_the_json_of_a_run_and_of_a_work(upstream, store):
    result, outcomes = run(store, upstream.config(), ELIFE_AS_GIVEN)
    document = render.run_document(result, outcomes)
    assert document["run_id"] == 1 and document["status"] == "ok"
    assert document["counts"] == {
        "requested": 1,
        "created": 1,
        "changed": 0,
        "unchanged": 0,
        "not_found": 0,
        "failed": 0,
    }
    assert document["results"][0]["identifier"] == ELIFE_AS_GIVEN

    work = render.work_document(store.works.get(outcomes[0].work_id))
    assert work["issn"] == ["2050-084X"]  # a JSON value, not JSON text
    assert work["provenance"]["pages"] == "openalex"
    assert render.json_text({"title": "Ökonomie"}) == '{\n  "title": "Ökonomie"\n}'
    history = render.history_document(store.works.get(1), store.works.history(1))
    assert history["work_id"] == 1 and history["changes"][0]["field"] == "doi"


def test_render_needs_neither_click_nor_the_pipeline():
    """Pure text: importing it loads no click and no pipeline (which imports it in turn)."""
    code = (
        "import sys, harvester.render; "
        "print(sorted(m for m in sys.modules if m == 'click' or m.startswith('harvester.')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = ast.literal_eval(proc.stdout)  # the module names the child printed
    assert "harvester.render" in loaded
    assert not [m for m in loaded if m == "click" or m.startswith("harvester.pipeline")]
    assert not re.search(
        r"^\s*(import|from) click", render.__loader__.get_source("harvester.render"), re.M
    )
