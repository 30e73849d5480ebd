"""`harvest match` as a new user runs it (issue 9): a BibTeX file with titles, authors and years
but no DOI is imported, `harvest match --all-unmatched` links what Crossref surely knows, leaves
the doubtful for `--review`, `--accept` and `--reject`, and links nothing wrongly. The command runs
in a subprocess against the local upstream replaying recorded Crossref search results.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import QUICK_RETRIES, HarvestCommand
from fakes import ok, query
from test_match import BIB, DIASPORA, ELIFE, GLOBAL_STATE, INVASIVE, SUNSCREENS, WIDGETS
from upstream import ReplayUpstream


@pytest.fixture
def upstream():
    with ReplayUpstream() as replay:
        replay.add_crossref_query(GLOBAL_STATE, when="state")
        replay.add_crossref_query(
            ["10.1371_journal.pone.0033693", "10.7554_elife.01567"], when="histology"
        )
        replay.add_crossref_query(WIDGETS, when="widget")
        yield replay


@pytest.fixture
def harvest(tmp_path, upstream):
    command = HarvestCommand(
        tmp_path,
        upstream.env(),
        QUICK_RETRIES + "[openalex]\nrate = 1000.0\n[doi]\nrate = 1000.0\n",
    )
    bib = tmp_path / "refs.bib"
    bib.write_text(
        "\n".join(
            BIB[n] for n in ("elife", "invasive", "decoy", "sunscreens", "diaspora", "widget")
        )
    )
    ok(command("import", str(bib)))
    return command


def work_ids(db: Path) -> dict[str, int]:
    """Work id by the first word of its title, lower-cased (each entry's differs)."""
    return {t.split()[0].lower(): i for i, t in query(db, "SELECT id, title FROM works")}


def line_of(stdout: str, work_id: int) -> str:
    [line] = [x for x in stdout.splitlines() if re.search(rf"\bwork {work_id}\b  ", x)]
    return line


def test_import_then_match_links_the_sure_ones_and_leaves_the_doubtful_for_review(
    harvest, upstream
):
    db = harvest.db_path
    ids = work_ids(db)  # automated, maping, mapping, global, host, adding
    assert query(db, "SELECT count(*) FROM works WHERE doi IS NULL") == [(6,)]

    proc = ok(harvest("match", "--all-unmatched"))

    out = proc.stdout
    assert line_of(out, ids["automated"]).startswith(
        f"linked     work {ids['automated']}  {ELIFE}  score 1.00 (title"
    )
    assert "first author surname matches" in line_of(out, ids["automated"])
    assert line_of(out, ids["maping"]).startswith(
        f"linked     work {ids['maping']}  {INVASIVE}  score 0.96"
    )
    assert line_of(out, ids["mapping"]).startswith(
        f"no match   work {ids['mapping']}  no match among 1 candidate"
    )
    assert line_of(out, ids["global"]).startswith(
        f"review     work {ids['global']}  1 candidate(s) (best 0.89 {SUNSCREENS})"
    )
    assert line_of(out, ids["host"]).startswith(
        f"review     work {ids['host']}  1 candidate(s) (best 0.80 {DIASPORA})"
    )
    assert line_of(out, ids["adding"]).startswith(
        f"no match   work {ids['adding']}  no match among 5"
    )
    # each linked DOI's harvest, as `harvest doi` prints it
    assert f"changed    {ELIFE}  work {ids['automated']} v2: doi, " in out
    assert f"changed    {INVASIVE}  work {ids['maping']} v2: doi, " in out
    assert "6 record(s): 2 linked, 2 for review, 2 no match, 0 failed; run 2 in" in out
    assert out.rstrip().endswith("harvest match --review lists the candidates waiting for you")

    # Nothing linked wrongly, no duplicate: six works, two with the DOIs they are.
    assert query(db, "SELECT id, doi FROM works WHERE doi IS NOT NULL ORDER BY id") == [
        (ids["automated"], ELIFE),
        (ids["maping"], INVASIVE),
    ]
    assert query(db, "SELECT count(*) FROM works") == [(6,)]
    assert query(
        db, "SELECT status, requested, changed, unchanged, failed FROM runs WHERE id = 2"
    ) == [("ok", 6, 2, 4, 0)]
    shown = ok(harvest("show", str(ids["automated"]))).stdout
    assert shown.startswith(f"{ELIFE}  (work {ids['automated']}, version 2")
    assert re.search(r"From:\s+crossref: [^;]*\bdoi\b[^;]*; local: [^;]*\btitle\b", shown)
    history = ok(harvest("history", ELIFE)).stdout
    assert re.search(rf"matched_doi\s+set to {re.escape(ELIFE)}  \[match\]", history)
    assert re.search(rf"doi\s+set to {re.escape(ELIFE)}  \[crossref\]", history)

    # --review: each doubtful record beside its candidates, with score and reasons.
    review = ok(harvest("match", "--review")).stdout.splitlines()
    assert review[0] == f"work {ids['global']}: Global state of sunscreen  (2013)"
    assert review[1].startswith(
        f"  0.89  {SUNSCREENS}  Global state of sunscreens  (2014; Osterwalder;"
    )
    assert review[2].strip() == "title 0.98 (typo or wording differs); year off by 1"
    assert review[3].startswith(f"work {ids['host']}: Host state reactions")
    assert review[-2] == "2 candidate(s) for 2 record(s) waiting for review"
    as_json = json.loads(ok(harvest("match", "--review", "--json")).stdout)
    assert [(r["work_id"], r["doi"]) for r in as_json] == [
        (ids["global"], SUNSCREENS),
        (ids["host"], DIASPORA),
    ]
    only = ok(harvest("match", "--review", str(ids["host"]))).stdout
    assert SUNSCREENS not in only and DIASPORA in only

    # --accept links like an automatic match; --reject takes the candidate out of review.
    accepted = ok(harvest("match", "--accept", str(ids["global"]), SUNSCREENS)).stdout
    assert accepted.splitlines()[0] == f"accepted   work {ids['global']}  {SUNSCREENS}"
    assert f"changed    {SUNSCREENS}  work {ids['global']} v2: doi, " in accepted
    rejected = ok(harvest("match", "--reject", str(ids["host"]), DIASPORA.upper())).stdout
    assert rejected.splitlines()[0] == f"rejected   work {ids['host']}  {DIASPORA.upper()}"
    assert rejected.splitlines()[1].startswith("1 candidate(s) rejected; run 4 in ")
    assert ok(harvest("match", "--review")).stdout.startswith("0 candidate(s) for 0 record(s)")
    assert query(db, "SELECT doi FROM works WHERE id = ?", ids["global"]) == [(SUNSCREENS,)]
    assert query(db, "SELECT doi FROM works WHERE id = ?", ids["host"]) == [(None,)]
    assert query(
        db, "SELECT work_id, decision, settled_by FROM match_candidates ORDER BY work_id"
    ) == [
        (ids["automated"], "accepted", "match"),
        (ids["maping"], "accepted", "match"),
        (ids["global"], "accepted", "local"),
        (ids["host"], "rejected", "local"),
    ]
    history = ok(harvest("history", str(ids["global"]))).stdout
    assert re.search(rf"matched_doi\s+set to {re.escape(SUNSCREENS)}  \[local\]", history)

    # A second --all-unmatched asks only what found nothing: the rejected one is left alone.
    searches = len(upstream.queries)
    again = ok(harvest("match", "--all-unmatched", "--json"))
    document = json.loads(again.stdout)
    assert sorted(r["work_id"] for r in document["records"]) == sorted(
        [ids["mapping"], ids["adding"]]
    )
    assert {r["status"] for r in document["records"]} == {"no_match"}
    assert document["status"] == "ok" and document["counts"]["unchanged"] == 2
    assert len(upstream.queries) == searches + 2


def test_bad_input_exits_2_with_one_line_and_writes_nothing(harvest):
    db = harvest.db_path
    ok(harvest("match", "--all-unmatched"))
    ids = work_ids(db)
    before = query(db, "SELECT count(*) FROM runs"), query(db, "SELECT * FROM match_candidates")

    cases = [
        ((), "give IDs or --all-unmatched"),
        (("999",), "'999': no such work in the database"),
        (("not-an-id",), "'not-an-id': not a DOI or RePEc handle"),
        (("RePEc:epo:papers:2016-01",), "no such work in the database"),
        (("3", "--all-unmatched"), "not both"),
        (("--review", "--accept", "4", SUNSCREENS), "one of these"),
        (("--max", "2", "--review"), "--max goes with IDs or --all-unmatched"),
        (("--accept", str(ids["global"]), "not-a-doi"), "'not-a-doi': not a DOI"),
        (("--accept", "999", SUNSCREENS), "'999': no such work in the database"),
        (
            ("--accept", str(ids["global"]), ELIFE),
            f"{ELIFE} is not a candidate of work {ids['global']}",
        ),
        (("--reject", str(ids["automated"]), ELIFE), "is already linked to work"),
        (
            (
                "--accept",
                str(ids["global"]),
                SUNSCREENS,
                "--reject",
                str(ids["global"]),
                SUNSCREENS,
            ),
            "the same DOI given to --accept and --reject",
        ),
        (
            (
                "--accept",
                str(ids["global"]),
                SUNSCREENS,
                "--accept",
                str(ids["global"]),
                SUNSCREENS,
            ),
            "--accept one DOI per work",
        ),
    ]
    for args, message in cases:
        proc = harvest("match", *args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert message in proc.stderr, (args, proc.stderr)
        assert proc.stdout == "", args
        assert (
            query(db, "SELECT count(*) FROM runs"),
            query(db, "SELECT * FROM match_candidates"),
        ) == before

    # An --accept whose DOI came to identify another work (harvested by DOI since) is refused.
    ok(harvest("doi", SUNSCREENS))
    other = query(db, "SELECT work_id FROM identifiers WHERE key = ?", SUNSCREENS)[0][0]
    proc = harvest("match", "--accept", str(ids["global"]), SUNSCREENS)
    assert proc.returncode == 2
    assert (
        f"{SUNSCREENS} already identifies work {other}; one DOI cannot name two works"
        in proc.stderr
    )
    assert query(db, "SELECT doi FROM works WHERE id = ?", ids["global"]) == [(None,)]


@pytest.mark.parametrize("args", [("--review",), ("--all-unmatched",), ("--reject", "1", ELIFE)])
def test_matching_in_a_database_that_does_not_exist_is_refused(tmp_path, upstream, args):
    command = HarvestCommand(tmp_path, upstream.env(), QUICK_RETRIES)
    proc = command("match", *args)
    assert proc.returncode == 2 and "no such database" in proc.stderr
    assert not command.db_path.exists()


def test_a_failing_crossref_leaves_records_unmatched_and_exits_1(harvest, upstream):
    upstream.fail("query.bibliographic", 503, times=None)
    proc = harvest("match", "--all-unmatched")
    assert proc.returncode == 1, proc.stderr
    assert "6 record(s): 0 linked, 0 for review, 0 no match, 6 failed" in proc.stdout
    assert all(line.startswith("failed") for line in proc.stdout.splitlines()[:6])
    db = harvest.db_path
    assert query(db, "SELECT status, failed FROM runs WHERE id = 2") == [("failures", 6)]
    assert query(db, "SELECT kind, count FROM run_failures WHERE run_id = 2") == [
        ("server_error", 6)
    ]
    assert query(db, "SELECT count(*) FROM works WHERE doi IS NULL") == [(6,)]
    assert query(db, "SELECT count(*) FROM match_candidates") == [(0,)]

    upstream.faults.clear()
    proc = ok(harvest("match", "--all-unmatched"))
    assert "6 record(s): 2 linked, 2 for review, 2 no match, 0 failed" in proc.stdout
