"""`harvest institution add|list|show|remove` (issue 21): the institutions followed by ROR id,
in a table of their own, and their people: those whose ids carry the ROR id, which, unlike
every other id, several people may carry. Run as a user runs them, in a subprocess."""

from __future__ import annotations

import json
import sqlite3

import pytest
from conftest import HarvestCommand
from test_people import refused

#: The University of Lausanne, as OpenAlex's recorded eLife work 10.7554/eLife.01567 names it.
LAUSANNE = "019whta54"


@pytest.fixture
def harvest(tmp_path) -> HarvestCommand:
    return HarvestCommand(tmp_path, {}, "")


def dump(harvest: HarvestCommand) -> list[str]:
    conn = sqlite3.connect(harvest.db_path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def test_add_list_and_show_an_institution_with_the_people_who_carry_its_ror(harvest):
    added = harvest("institution", "add", LAUSANNE, "--name", "University of Lausanne")
    assert added.returncode == 0, added.stderr
    line = f"institution https://ror.org/{LAUSANNE}  University of Lausanne"
    assert added.stdout.strip() == f"added  {line}  (0 people)"
    # Two people of one institution: its ROR id is theirs both (no other id may be shared).
    for name in ("Martial Sankar", "Kaisa Nieminen"):
        person = harvest("person", "add", name, "--ror", f"https://ror.org/{LAUSANNE}")
        assert person.returncode == 0, person.stderr
    assert harvest("institution", "list").stdout.splitlines() == [f"{line}  (2 people)"]

    shown = harvest("institution", "show", f"ror.org/{LAUSANNE}")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[2:] == [
        f"  person 1  Martial Sankar  (ror https://ror.org/{LAUSANNE})",
        f"  person 2  Kaisa Nieminen  (ror https://ror.org/{LAUSANNE})",
    ]
    document = json.loads(harvest("institution", "show", LAUSANNE, "--json").stdout)
    assert (document["ror"], document["people"]) == (f"https://ror.org/{LAUSANNE}", 2)
    assert [p["name"] for p in document["members"]] == ["Martial Sankar", "Kaisa Nieminen"]
    # A shared ROR id no longer names one person.
    refused(harvest("person", "show", LAUSANNE), "2 people carry", "name one by their number")


def test_added_again_it_is_renamed_not_doubled(harvest):
    harvest("institution", "add", LAUSANNE)
    again = harvest("institution", "add", f"https://ror.org/{LAUSANNE}", "--name", "UNIL")
    assert (
        again.stdout.strip()
        == f"already followed  institution https://ror.org/{LAUSANNE}  UNIL  (0 people)"
    )
    listing = json.loads(harvest("institution", "list", "--json").stdout)["institutions"]
    assert [(i["key"], i["name"]) for i in listing] == [(LAUSANNE, "UNIL")]


def test_a_bad_or_unknown_ror_is_one_line_and_exit_2_with_nothing_written(harvest):
    harvest("institution", "add", LAUSANNE)
    before = dump(harvest)
    refused(harvest("institution", "add", "019whta55"), "wrong check digits", "expected 54")
    refused(harvest("institution", "add", "Lausanne"), "not a ROR id")
    for args in (("show", "05gq02987"), ("remove", "05gq02987", "--yes")):
        refused(harvest("institution", *args), "no such institution: https://ror.org/05gq02987")
    assert dump(harvest) == before


def test_remove_is_a_dry_run_without_yes_and_leaves_its_people(harvest):
    harvest("institution", "add", LAUSANNE)
    harvest("person", "add", "Martial Sankar", "--ror", LAUSANNE)
    before = dump(harvest)
    dry = harvest("institution", "remove", LAUSANNE)
    assert dry.returncode == 2 and dry.stderr.strip() == "nothing removed: add --yes to remove"
    assert dump(harvest) == before

    gone = harvest("institution", "remove", LAUSANNE, "--yes", "--json")
    assert gone.returncode == 0, gone.stderr
    assert [i["key"] for i in json.loads(gone.stdout)["removed"]] == [LAUSANNE]
    assert "No institutions followed yet" in harvest("institution", "list").stdout
    assert "Martial Sankar" in harvest("person", "show", "1").stdout


def test_every_other_id_is_still_held_by_one_person(harvest):
    harvest("person", "add", "Roland Benabou", "--ras", "pbe27", "--ror", LAUSANNE)
    before = dump(harvest)
    refused(
        harvest("person", "add", "Someone Else", "--ras", "pbe27", "--ror", LAUSANNE),
        "held by person 1",
    )
    assert dump(harvest) == before


# --- harvest institution harvest: against the local upstream (tests/upstream.py) ---


def claims_rows(harvest: HarvestCommand) -> list[tuple]:
    conn = sqlite3.connect(harvest.db_path)
    try:
        return conn.execute(
            "SELECT c.person_id, w.doi, c.status, c.found_by, c.evidence FROM claims c "
            "JOIN works w ON w.id = c.work_id ORDER BY c.id"
        ).fetchall()
    finally:
        conn.close()


def test_an_institutions_works_are_stored_and_its_named_people_get_pending_claims(tmp_path):
    """eLife 10.7554/eLife.01567 lists four authors at Lausanne: Martial Sankar, followed as
    "M. Sankar" of Lausanne, gets a claim by name, pending; Jane Ragni (another first name) and
    a person of another institution get none. Springer's chapter, elsewhere, is not listed. A
    rerun asks the listing again (no key: OpenAlex allows no from_updated_date) and offers
    nothing twice."""
    from conftest import QUICK_RETRIES
    from upstream import ReplayUpstream

    with ReplayUpstream() as upstream:
        upstream.add_crossref("10.7554_elife.01567", "10.1007_978-3-662-46370-3_13")
        upstream.add_openalex("10.7554_elife.01567", "10.1007_978-3-662-46370-3_13")
        harvest = HarvestCommand(tmp_path, upstream.env(), QUICK_RETRIES)
        harvest("institution", "add", LAUSANNE, "--name", "University of Lausanne")
        harvest("person", "add", "M. Sankar", "--ror", LAUSANNE)
        harvest("person", "add", "Jane Ragni", "--ror", LAUSANNE)
        harvest("person", "add", "Ron Diercks", "--ror", "05gq02987")

        first = harvest("institution", "harvest")
        assert first.returncode == 0, first.stderr
        assert claims_rows(harvest) == [
            (
                1,
                "10.7554/elife.01567",
                "pending",
                "openalex",
                json.dumps({"openalex": "affiliation name-match:0.92"}),
            ),
        ]
        conn = sqlite3.connect(harvest.db_path)
        try:
            dois = [r[0] for r in conn.execute("SELECT doi FROM works ORDER BY doi")]
            feed = conn.execute(
                "SELECT watermark, error FROM feeds WHERE feed = ?",
                (f"institution:openalex:{LAUSANNE}",),
            ).fetchone()
        finally:
            conn.close()
        assert dois == ["10.7554/elife.01567"]
        assert feed[0] and feed[1] is None
        lists = [r for r in upstream.requests if r.startswith("/openalex/works?")]
        assert len(lists) == 1 and "authorships.institutions.ror" in lists[0]

        again = harvest("institution", "harvest", f"https://ror.org/{LAUSANNE}")
        assert again.returncode == 0, again.stderr
        assert len(claims_rows(harvest)) == 1
        refused(harvest("institution", "harvest", "05gq02987"), "no such institution")


def test_the_nightly_run_pulls_the_institutions_followed(tmp_path):
    """`harvest run` (cron's command) takes the institutions in after the people: the listing
    is asked, its works stored, the claim offered, the feed's watermark set."""
    from conftest import QUICK_RETRIES
    from upstream import ReplayUpstream

    with ReplayUpstream() as upstream:
        upstream.add_crossref("10.7554_elife.01567")
        upstream.add_openalex("10.7554_elife.01567")
        harvest = HarvestCommand(tmp_path, upstream.env(), QUICK_RETRIES)
        harvest("institution", "add", LAUSANNE, "--name", "University of Lausanne")
        harvest("person", "add", "M. Sankar", "--ror", LAUSANNE)
        run = harvest("run")
        assert run.returncode == 0, run.stderr
        assert [(doi, status) for _, doi, status, *_ in claims_rows(harvest)] == [
            ("10.7554/elife.01567", "pending")
        ]
        lists = [r for r in upstream.requests if "authorships.institutions.ror" in r]
        assert len(lists) == 1
        conn = sqlite3.connect(harvest.db_path)
        try:
            [(watermark,)] = conn.execute(
                "SELECT watermark FROM feeds WHERE feed = ?", (f"institution:openalex:{LAUSANNE}",)
            ).fetchall()
        finally:
            conn.close()
        assert watermark
        # Unfollowed, its listing's watermark goes too: followed again, it starts afresh.
        assert harvest("institution", "remove", LAUSANNE, "--yes").returncode == 0
        conn = sqlite3.connect(harvest.db_path)
        try:
            left = conn.execute("SELECT feed FROM feeds WHERE feed LIKE 'institution:%'")
            assert left.fetchall() == []
        finally:
            conn.close()
