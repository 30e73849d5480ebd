"""People the harvester follows (issue 21, first part): their identifiers checked on real ones
(ORCID iDs, RePEc author short-ids, OpenAlex author ids and ROR ids read from the kept
fixtures), and `harvest person add/set/list/show/remove` run as a user runs them. Bad input (a
wrong check digit, an unknown person, an id another person holds) is one line and exit 2, and
the database is byte for byte what it was (compared as an SQL dump)."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
from conftest import HarvestCommand, fixture_path
from stdnum.iso7064 import mod_11_2

from harvester.errors import BadIdentifier
from harvester.people import (
    parse_openalex_author,
    parse_orcid,
    parse_person_id,
    parse_ras,
    parse_ror,
    read_person_id,
)
from harvester.store import open_store

#: ORCID's own example iD (Josiah Carberry), as its documentation gives it.
CARBERRY = "0000-0002-1825-0097"


def kept(pattern: str) -> list[Path]:
    return sorted(fixture_path(".").glob(pattern))


def kept_text(pattern: str) -> str:
    return "".join(p.read_text(encoding="utf-8", errors="replace") for p in kept(pattern))


#: Real identifiers, as the upstreams wrote them in the kept responses.
ORCIDS_IN_NAMES = sorted(
    {m[0] for p in kept("orcid/*.json") if (m := re.match(r"\d{4}-\d{4}-\d{4}-\d{3}[\dX]", p.name))}
)
ORCIDS_IN_DATACITE = sorted(
    set(re.findall(r"orcid\.org/(\d{4}-\d{4}-\d{4}-\d{3}[\dX])", kept_text("datacite/*.json")))
)
RAS_SHORT_IDS = [
    re.search(r"^Short-Id: (\S+)", p.read_text(), re.M)[1] for p in kept("redif/ras_*.redif")
]
OPENALEX_AUTHORS = sorted(
    set(re.findall(r"https://openalex\.org/(A\d+)", kept_text("openalex/*.json")))
)
RORS = sorted(set(re.findall(r"https://ror\.org/(0[0-9a-z]{8})\b", kept_text("datacite/*.json"))))


def test_the_kept_fixtures_hold_real_ids_of_every_scheme():
    assert ORCIDS_IN_NAMES == ["0000-0003-1444-9135", "0000-0003-1620-1408"]
    assert any(o.endswith("X") for o in ORCIDS_IN_DATACITE)
    assert RAS_SHORT_IDS == ["pbe27", "pry2"]
    assert OPENALEX_AUTHORS and len(RORS) >= 3


# --- the identifiers, pure ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        CARBERRY,
        f"https://orcid.org/{CARBERRY}",
        f"orcid.org/{CARBERRY}",
        f"  http://orcid.org/{CARBERRY}/ ",
        "0000000218250097",
    ],
)
def test_orcids_documented_example_is_valid_in_every_form_people_paste(text):
    assert parse_orcid(text).value == CARBERRY
    assert parse_orcid(text).key == CARBERRY


@pytest.mark.parametrize("orcid", ORCIDS_IN_NAMES + ORCIDS_IN_DATACITE)
def test_real_orcid_ids_are_valid_and_a_lower_case_x_is_read(orcid):
    assert parse_orcid(orcid).value == orcid
    assert parse_orcid(orcid.lower()).value == orcid
    assert parse_orcid(f"https://orcid.org/{orcid}").value == orcid


def test_a_wrong_check_digit_is_refused_saying_which_digit_was_due():
    with pytest.raises(BadIdentifier, match=r"wrong check digit .*MOD 11-2 gives 7"):
        parse_orcid("0000-0002-1825-0098")
    for orcid in ORCIDS_IN_NAMES:
        wrong = orcid[:-1] + ("0" if orcid[-1] != "0" else "1")
        with pytest.raises(BadIdentifier, match="wrong check digit"):
            parse_orcid(wrong)


def test_an_id_with_a_right_check_digit_outside_orcids_blocks_is_refused():
    outside = "000000009999999"  # below 0000-0001-5000-0007
    text = f"{outside}{mod_11_2.calc_check_digit(outside)}"
    assert mod_11_2.is_valid(text)
    with pytest.raises(BadIdentifier, match="not in the blocks ORCID assigns"):
        parse_orcid(text)
    inside_the_new_block = "000900012345678"
    assert parse_orcid(inside_the_new_block + mod_11_2.calc_check_digit(inside_the_new_block))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0000-0002-1825",
        "0000-0002-1825-00977",
        "https://example.org/0000-0002-1825-0097",
        "0000-0002-1825-009\x1b",
    ],
)
def test_what_is_not_an_orcid_id_is_refused(text):
    with pytest.raises(BadIdentifier):
        parse_orcid(text)


@pytest.mark.parametrize("short", RAS_SHORT_IDS)
def test_real_ras_short_ids_are_valid_in_lower_case(short):
    assert parse_ras(short).value == short
    assert parse_ras(short.upper()).key == short
    assert parse_ras(f"https://ideas.repec.org/e/{short}.html").value == short
    assert parse_ras(f"http://econpapers.repec.org/RAS/{short}.htm").value == short


def test_a_persons_repec_handle_or_a_paper_is_not_a_short_id():
    handle = re.search(r"^Handle: (\S+)", fixture_path("redif/ras_pbe27.redif").read_text(), re.M)[
        1
    ]
    with pytest.raises(BadIdentifier, match="person's handle"):
        parse_ras(handle)
    for text in ("pbe", "27", "xbe27", "repec:cpr:ceprdp:1419"):
        with pytest.raises(BadIdentifier):
            parse_ras(text)


@pytest.mark.parametrize("author", [*OPENALEX_AUTHORS, "A5023888391"])
def test_openalex_author_ids_as_key_or_id_url(author):
    assert parse_openalex_author(author).value == author
    assert parse_openalex_author(f"https://openalex.org/{author}").value == author
    assert parse_openalex_author(author.lower()).key == author


def test_another_kind_of_openalex_entity_is_not_an_author():
    with pytest.raises(BadIdentifier, match="another kind of entity"):
        parse_openalex_author("https://openalex.org/W2741809807")


@pytest.mark.parametrize("ror", RORS)
def test_real_ror_ids_pass_their_check_digits(ror):
    assert parse_ror(ror).value == f"https://ror.org/{ror}"
    assert parse_ror(f"https://ror.org/{ror}").key == ror
    assert parse_ror(ror.upper()).key == ror


@pytest.mark.parametrize("ror", RORS)
def test_a_ror_id_with_other_check_digits_is_refused(ror):
    other = f"{(int(ror[-2:]) + 1) % 100:02d}"
    with pytest.raises(BadIdentifier, match="wrong check digits"):
        parse_ror(ror[:-2] + other)


def test_a_ror_id_with_letters_crockford_leaves_out_is_refused():
    # ROR's example of a valid id and of ids that are not (Crossref's account of ror.org/facts).
    assert parse_ror("https://ror.org/01k4yrm29")
    for text in (
        "https://ror.org/11k4yrm29",
        "https://ror.org/01k34yrm29",
        "https://ror.org/01kOyrm29",
    ):
        with pytest.raises(BadIdentifier, match="not a ROR id"):
            parse_ror(text)


@pytest.mark.parametrize(
    ("scheme", "text"),
    [("orcid", CARBERRY), ("ras", "pbe27"), ("openalex", "A5023888391"), ("ror", "05gq02987")],
)
def test_parsing_a_value_gives_the_same_id_and_its_form_tells_its_scheme(scheme, text):
    parsed = parse_person_id(scheme, text)
    assert parse_person_id(scheme, parsed.value) == parsed
    assert read_person_id(parsed.value) == parsed
    assert read_person_id(text) == parsed


def test_text_that_is_no_id_is_told_apart_from_a_broken_id():
    assert read_person_id("Roland Benabou") is None
    with pytest.raises(BadIdentifier):
        read_person_id("0000-0002-1825-0098")


# --- harvest person, end to end -----------------------------------------------------------------


@pytest.fixture
def harvest(tmp_path) -> HarvestCommand:
    return HarvestCommand(tmp_path, {}, "")


def dump(harvest: HarvestCommand) -> list[str]:
    """The whole database as SQL, as committed."""
    conn = sqlite3.connect(harvest.db_path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def people_rows(harvest: HarvestCommand) -> list[tuple]:
    conn = sqlite3.connect(harvest.db_path)
    try:
        return conn.execute(
            "SELECT p.id, p.name, i.scheme, i.value FROM people p "
            "LEFT JOIN person_ids i ON i.person_id = p.id ORDER BY p.id, i.scheme"
        ).fetchall()
    finally:
        conn.close()


def refused(proc, *words: str) -> None:
    """Exit 2 with one line on stderr, no traceback (HarvestCommand checks that), saying `words`."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_add_a_person_then_list_and_show_them_as_text_and_json(harvest):
    added = harvest(
        "person",
        "add",
        "Roland Benabou",
        "--ras",
        "PBE27",
        "--orcid",
        f"https://orcid.org/{CARBERRY}",
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == f"added  person 1  Roland Benabou  (orcid {CARBERRY}, ras pbe27)"
    assert people_rows(harvest) == [
        (1, "Roland Benabou", "orcid", CARBERRY),
        (1, "Roland Benabou", "ras", "pbe27"),
    ]

    listing = harvest("person", "list")
    assert listing.stdout.splitlines() == [
        f"person 1  Roland Benabou  (orcid {CARBERRY}, ras pbe27)"
    ]
    document = json.loads(harvest("person", "list", "--json").stdout)
    assert [(p["id"], p["name"]) for p in document["people"]] == [(1, "Roland Benabou")]
    assert {(i["scheme"], i["value"]) for i in document["people"][0]["ids"]} == {
        ("orcid", CARBERRY),
        ("ras", "pbe27"),
    }

    # PERSON: the number, or any id they carry, in any form people paste it.
    for person in (
        "1",
        "pbe27",
        CARBERRY,
        f"orcid.org/{CARBERRY}",
        "https://ideas.repec.org/e/pbe27.html",
    ):
        shown = harvest("person", "show", person)
        assert shown.returncode == 0, (person, shown.stderr)
        assert shown.stdout.splitlines()[0] == "person 1  Roland Benabou", person
        assert re.search(rf"^  ORCID iD +{CARBERRY}  \(added ", shown.stdout, re.M), shown.stdout
        assert re.search(r"^  RePEc author short-id +pbe27  \(added ", shown.stdout, re.M)
    as_json = json.loads(harvest("person", "show", "pbe27", "--json").stdout)
    assert as_json == document["people"][0]


def test_an_id_is_added_to_a_person_on_record(harvest):
    harvest("person", "add", "Roland Benabou", "--ras", "pbe27")
    harvest("person", "add", "John Ryding", "--ras", "pry2")
    added = harvest(
        "person",
        "set",
        "pbe27",
        "--orcid",
        CARBERRY,
        "--openalex",
        "https://openalex.org/A5023888391",
        "--ror",
        "05gq02987",
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith(
        f"added ORCID iD {CARBERRY}, OpenAlex author id A5023888391, ROR id https://ror.org/05gq02987 to  person 1"
    )
    assert people_rows(harvest) == [
        (1, "Roland Benabou", "openalex", "A5023888391"),
        (1, "Roland Benabou", "orcid", CARBERRY),
        (1, "Roland Benabou", "ras", "pbe27"),
        (1, "Roland Benabou", "ror", "https://ror.org/05gq02987"),
        (2, "John Ryding", "ras", "pry2"),
    ]
    # The new id finds them now; one they hold already is no change.
    assert harvest("person", "show", "A5023888391").stdout.startswith("person 1  Roland Benabou")
    before = dump(harvest)
    again = harvest("person", "set", "1", "--ras", "pbe27")
    assert again.returncode == 0 and again.stdout.startswith("unchanged")
    assert dump(harvest) == before
    renamed = harvest("person", "set", "2", "--name", "John  Ryding ")
    assert renamed.returncode == 0 and (2, "John Ryding", "ras", "pry2") in people_rows(harvest)


def test_an_id_another_person_holds_is_refused_naming_them_and_nothing_is_written(harvest):
    harvest("person", "add", "Roland Benabou", "--ras", "pbe27", "--orcid", CARBERRY)
    harvest("person", "add", "John Ryding", "--ras", "pry2")
    before = dump(harvest)

    other = harvest(
        "person",
        "add",
        "Someone Else",
        "--openalex",
        "A5023888391",
        "--orcid",
        f"https://orcid.org/{CARBERRY}",
    )
    refused(
        other, f"ORCID iD {CARBERRY} is held by person 1 (Roland Benabou)", "harvest person set 1"
    )
    assert dump(harvest) == before

    onto = harvest("person", "set", "pry2", "--ror", "05gq02987", "--ras", "PBE27")
    refused(onto, "RePEc author short-id pbe27 is held by person 1 (Roland Benabou)")
    assert dump(harvest) == before


def test_a_wrong_check_digit_is_one_line_and_exit_2_with_nothing_written(harvest):
    first = harvest("person", "add", "Josiah Carberry", "--orcid", "0000-0002-1825-0098")
    refused(first, "'0000-0002-1825-0098'", "wrong check digit", "gives 7")
    assert not harvest.db_path.exists()  # checked before the database is opened

    harvest("person", "add", "Roland Benabou", "--ras", "pbe27")
    before = dump(harvest)
    for args in (
        ("person", "add", "Josiah Carberry", "--ras", "pjc1", "--orcid", "0000-0002-1825-0098"),
        ("person", "set", "1", "--ror", "https://ror.org/05gq02988"),
        ("person", "set", "1", "--openalex", "W2741809807"),
        ("person", "add", "  ", "--ras", "pjc1"),
    ):
        refused(harvest(*args))
        assert dump(harvest) == before, args


def test_an_unknown_person_is_one_line_and_exit_2_with_nothing_written(harvest):
    harvest("person", "add", "Roland Benabou", "--ras", "pbe27")
    before = dump(harvest)
    for args in (
        ("person", "show", "7"),
        ("person", "show", "pry2"),
        ("person", "set", "7", "--ras", "pry2"),
        ("person", "remove", "pbe27", "pry2", "--yes"),
    ):
        refused(harvest(*args), "no such person: ")
        assert dump(harvest) == before, args
    refused(harvest("person", "show", "0000-0002-1825-0098"), "wrong check digit")


def test_remove_is_a_dry_run_without_yes(harvest):
    harvest("person", "add", "Roland Benabou", "--ras", "pbe27", "--orcid", CARBERRY)
    harvest("person", "add", "John Ryding", "--ras", "pry2")
    before = dump(harvest)

    dry = harvest("person", "remove", CARBERRY)
    assert dry.returncode == 2
    assert (
        dry.stdout.strip()
        == f"would remove  person 1  Roland Benabou  (orcid {CARBERRY}, ras pbe27)"
    )
    assert dry.stderr.strip() == "nothing removed: add --yes to remove"
    assert dump(harvest) == before

    gone = harvest("person", "remove", CARBERRY, "--yes", "--json")
    assert gone.returncode == 0, gone.stderr
    assert [p["name"] for p in json.loads(gone.stdout)["removed"]] == ["Roland Benabou"]
    assert people_rows(harvest) == [(2, "John Ryding", "ras", "pry2")]
    refused(harvest("person", "show", "pbe27"), "no such person: pbe27")
    # Their ids are free again: a new person may carry them.
    again = harvest("person", "add", "Roland Benabou", "--ras", "pbe27")
    assert again.returncode == 0 and again.stdout.startswith("added  person 3")


def test_set_with_nothing_to_set_is_a_usage_error(harvest):
    harvest("person", "add", "Roland Benabou", "--ras", "pbe27")
    before = dump(harvest)
    proc = harvest("person", "set", "1")
    assert proc.returncode == 2 and "nothing to set" in proc.stderr
    assert dump(harvest) == before


# --- the claim queue ------------------------------------------------------------------------------

PAPERS = ("10.1000/one", "10.1000/two")


def claims_setup(harvest: HarvestCommand) -> dict[str, int]:
    """Two people and two works stored as a user stores them without asking anyone (`harvest
    import` of a CSV); the works' numbers by DOI."""
    path = harvest.folder / "works.csv"
    path.write_text("doi,title\n" + "".join(f"{d},A paper {d}\n" for d in PAPERS))
    assert harvest("import", str(path)).returncode == 0
    harvest("person", "add", "Roland Benabou", "--ras", "pbe27", "--orcid", CARBERRY)
    harvest("person", "add", "John Ryding", "--ras", "pry2")
    conn = sqlite3.connect(harvest.db_path)
    try:
        return dict(conn.execute("SELECT doi, id FROM works"))
    finally:
        conn.close()


def offer(harvest: HarvestCommand, *candidates: tuple[int, int, str, str]) -> list:
    """Candidates as a feed offers them: in its own transaction, through the store."""
    store = open_store(harvest.db_path)
    try:
        with store.transaction():
            return [store.claims.offer(*candidate) for candidate in candidates]
    finally:
        store.close()


def test_a_work_two_feeds_find_for_a_person_is_one_claim_with_both_feeds_evidence(harvest):
    works = claims_setup(harvest)
    one, two = works["10.1000/one"], works["10.1000/two"]
    offered = offer(
        harvest,
        (1, one, "orcid", "listed in their ORCID record"),
        (1, one, "ras", "claimed in RAS (author-article)"),
        (1, one, "orcid", "listed again"),
        (2, one, "ras", "claimed in RAS (author-paper)"),
        (1, two, "openalex", "name match 0.93"),
    )
    assert [(o.claim_id, o.outcome) for o in offered] == [
        (1, "new"),
        (1, "seen"),
        (1, "seen"),
        (2, "new"),
        (3, "new"),
    ]
    listed = harvest("claims", "--json")
    claims = json.loads(listed.stdout)["claims"]
    assert [(c["id"], c["person_id"], c["doi"], c["status"]) for c in claims] == [
        (1, 1, "10.1000/one", "pending"),
        (2, 2, "10.1000/one", "pending"),
        (3, 1, "10.1000/two", "pending"),
    ]
    assert claims[0]["found_by"] == ["orcid", "ras"]
    assert claims[0]["evidence"] == {
        "orcid": "listed in their ORCID record",
        "ras": "claimed in RAS (author-article)",
    }
    text = harvest("claims", "--person", "pry2").stdout.splitlines()
    assert text == [
        "claim 2  pending  person 2 (John Ryding)  10.1000/one  A paper 10.1000/one  found by ras"
    ]


def test_accept_and_reject_keep_the_reason_and_a_rejected_claim_is_never_offered_again(harvest):
    works = claims_setup(harvest)
    one, two = works["10.1000/one"], works["10.1000/two"]
    offer(harvest, (1, one, "orcid", "listed"), (1, two, "openalex", "name match 0.71"))

    accepted = harvest("claims", "accept", "1", "--reason", "in their CV")
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout.strip().endswith("found by orcid  reason: in their CV")
    rejected = harvest("claims", "reject", "2", "--reason", "another R. Benabou", "--json")
    (claim,) = json.loads(rejected.stdout)["claims"]
    assert (claim["status"], claim["reason"]) == ("rejected", "another R. Benabou")
    assert claim["settled_at"]

    # Found again, by the same feed or another: still rejected, and not in the queue.
    again = offer(harvest, (1, two, "openalex", "name match 0.71"), (1, two, "crossref", "orcid"))
    assert [(o.claim_id, o.status, o.outcome) for o in again] == [(2, "rejected", "rejected")] * 2
    assert harvest("claims").stdout.strip() == "No claims waiting (--all shows the settled ones)."
    every = json.loads(harvest("claims", "--all", "--json").stdout)["claims"]
    assert [(c["id"], c["status"], c["found_by"]) for c in every] == [
        (1, "accepted", ["orcid"]),
        (2, "rejected", ["openalex"]),
    ]


def test_an_unknown_claim_or_person_is_one_line_and_exit_2_and_nothing_is_settled(harvest):
    works = claims_setup(harvest)
    offer(harvest, (1, works["10.1000/one"], "orcid", "listed"))
    before = dump(harvest)
    refused(harvest("claims", "accept", "1", "9", "--reason", "yes"), "no such claim: 9")
    assert dump(harvest) == before
    refused(harvest("claims", "--person", "pxx9"), "no such person: pxx9")
    assert dump(harvest) == before


def test_removing_a_person_removes_their_claims_and_a_deleted_work_leaves_its_claim(harvest):
    works = claims_setup(harvest)
    offer(
        harvest, (1, works["10.1000/one"], "orcid", "listed"), (2, works["10.1000/two"], "ras", "x")
    )
    assert harvest("delete", "10.1000/two", "--yes").returncode == 0
    (left,) = json.loads(harvest("claims", "--person", "2", "--json").stdout)["claims"]
    assert (left["work_id"], left["doi"]) == (works["10.1000/two"], None)
    assert "(deleted)" in harvest("claims", "--person", "2").stdout
    assert harvest("person", "remove", "1", "--yes").returncode == 0
    remaining = json.loads(harvest("claims", "--all", "--json").stdout)["claims"]
    assert [c["person_id"] for c in remaining] == [2]


def test_a_merge_moves_the_absorbed_works_claims_and_keeps_a_decision(harvest):
    """`harvest merge` of two works one person has claims on: one claim is left, on the work
    kept, with the decision the absorbed one's claim had; another person's claim moves."""
    works = claims_setup(harvest)
    one, two = works["10.1000/one"], works["10.1000/two"]
    offer(harvest, (1, one, "orcid", "listed"), (1, two, "ras", "claimed"), (2, two, "ras", "x"))
    assert harvest("claims", "reject", "2", "--reason", "not hers").returncode == 0
    assert harvest("merge", str(one), str(two)).returncode == 0
    claims = json.loads(harvest("claims", "--all", "--json").stdout)["claims"]
    assert [(c["person_id"], c["work_id"], c["status"], c["reason"]) for c in claims] == [
        (1, one, "rejected", "not hers"),
        (2, one, "pending", None),
    ]
