"""People end to end (issue 21): `harvest person add`, then `harvest person harvest` in a
subprocess against the local upstream (ORCID's /works replayed, a RAS folder and a RePEc archive
tree on disk), as a user runs them: the works their ORCID and RAS records list are harvested and
linked (DOI <-> RePEc), the claims their own records back accepted and tracked, a name-matched
candidate left pending, a rerun asking only what changed; and the bad input a user meets."""

from __future__ import annotations

import copy
import json
import shutil

import pytest
from conftest import QUICK_RETRIES, HarvestCommand, fixture_path, load_json
from fakes import query
from upstream import ReplayUpstream

from harvester.store import open_store

ORCID = "0000-0003-1444-9135"  # the recorded record's iD (ropensci rorcid's works.yml)
WORKS = "orcid/0000-0003-1444-9135_works_6-groups.json"
BLOG = "10.53731/ybhah-9jy85"  # a kept Crossref record (and OpenAlex's)
PAPER_DOI = "10.5281/zenodo.17238595"  # the DOI the RePEc record of ceu:econwp:2025_2 carries
PAPER = "RePEc:ceu:econwp:2025_2"
OLD_PAPER = "RePEc:ceu:econwp:2012_1"
NEW_PAPER = "RePEc:ceu:econwp:2025_1"
ARTICLE = "10.1136/esmoopen-2020-000776"  # a kept Crossref record, listed by ORCID later
DATASET = "10.6084/m9.figshare.1449060"  # a kept DataCite record: the name-matched candidate


def orcid_record() -> dict:
    """The recorded /works of 0000-0003-1444-9135 with the DOIs of its first two groups changed
    to DOIs this upstream holds records of (the blog post; the RePEc paper's DOI, written in
    upper case as DataCite writes it): every key, value and group otherwise as recorded. Its
    other two DOIs have no record here (not found: no claim), its two figshare groups no id."""
    body = copy.deepcopy(load_json(WORKS))
    for group, doi in zip(body["group"], (BLOG, PAPER_DOI.upper()), strict=False):
        for holder in (group, *group["work-summary"]):
            for ext in holder["external-ids"]["external-id"]:
                ext["external-id-value"] = doi
                if ext.get("external-id-normalized"):
                    ext["external-id-normalized"]["value"] = doi.lower()
    return body


def with_new_work(body: dict) -> dict:
    """The record a day later: one more work (the shape of its third group, a new put-code and
    DOI) and the record's last-modified-date moved past every group's."""
    body = copy.deepcopy(body)
    later = body["last-modified-date"]["value"] + 86_400_000
    group = copy.deepcopy(body["group"][2])
    group["last-modified-date"] = {"value": later}
    for holder in (group, *group["work-summary"]):
        for ext in holder["external-ids"]["external-id"]:
            ext["external-id-value"] = ARTICLE
            if ext.get("external-id-normalized"):
                ext["external-id-normalized"]["value"] = ARTICLE
    for summary in group["work-summary"]:
        summary["put-code"] = 99999999
        summary["last-modified-date"] = {"value": later}
    body["group"].append(group)
    body["last-modified-date"] = {"value": later}
    return body


def ras_record(*handles: str) -> str:
    """The real RAS record of pry2 (tests/fixtures/redif/ras_pry2.redif) with its claims
    replaced by handles of the archive tree served here, written as RAS writes them (lower
    case, `author-paper:`); every other line as recorded."""
    lines = fixture_path("redif/ras_pry2.redif").read_text(encoding="utf-8").split("\n")
    kept = [line for line in lines if not line.startswith("author-")]
    at = kept.index(next(line for line in kept if line.startswith("Short-Id:")))
    claims = [f"author-paper: {h.lower()}" for h in handles]
    return "\n".join(kept[:at] + claims + kept[at:])


@pytest.fixture
def upstream():
    with ReplayUpstream() as server:
        server.add_crossref("10.53731_ybhah-9jy85", "10.1136_esmoopen-2020-000776")
        server.add_datacite("10.6084_m9.figshare.1449060")
        # The RePEc paper's DOI: the kept Crossref record under its DOI and title (no record of
        # it is kept), so the RePEc record and its DOI's record become one work.
        message = load_json("crossref/10.53731_ybhah-9jy85.json")["message"]
        server.works[PAPER_DOI] = {
            **message,
            "DOI": PAPER_DOI,
            "title": ["Managers, Entrepreneurs, and the Allocation of Talent"],
        }
        server.add_orcid(ORCID, orcid_record())
        yield server


@pytest.fixture
def folders(tmp_path):
    """The RePEc archive tree (the real ceu files) and the RAS folder (pry2's record)."""
    tree = tmp_path / "repec"
    (tree / "ceu" / "econwp").mkdir(parents=True)
    shutil.copy(fixture_path("redif/ceu_ceuarch.rdf"), tree / "ceu" / "ceuarch.rdf")
    shutil.copy(fixture_path("redif/ceu_ceuseri.rdf"), tree / "ceu" / "ceuseri.rdf")
    for item in ("2012_1", "2025_1", "2025_2"):
        shutil.copy(fixture_path(f"redif/ceu_econwp_{item}.rdf"), tree / "ceu" / "econwp")
    ras = tmp_path / "ras"
    (ras / "r").mkdir(parents=True)
    (ras / "r" / "pry2.rdf").write_text(ras_record(PAPER, OLD_PAPER), encoding="utf-8")
    return tree, ras


@pytest.fixture
def harvest(tmp_path, upstream, folders):
    tree, ras = folders
    work = tmp_path / "work"
    work.mkdir()
    env = {**upstream.env(), "HARVEST_REPEC_URL": str(tree), "HARVEST_RAS_URL": str(ras)}
    return HarvestCommand(work, env, QUICK_RETRIES)


def claims(db) -> dict[str, tuple[str, str]]:
    """Each claim as (its work's RePEc handle, else its DOI) -> (status, found_by)."""
    rows = query(
        db,
        """SELECT coalesce(w.repec_handle, w.doi), c.status, c.found_by
             FROM claims c JOIN works w ON w.id = c.work_id ORDER BY c.id""",
    )
    return {ident.lower(): (status, found_by) for ident, status, found_by in rows}


def test_a_person_is_harvested_linked_claimed_and_a_rerun_asks_only_what_changed(
    harvest, upstream, folders
):
    added = harvest("person", "add", "A. Researcher", "--orcid", ORCID, "--ras", "pry2")
    assert added.returncode == 0, added.stderr
    # A candidate found by name alone (another feed's evidence), waiting for the person.
    assert harvest("doi", DATASET).returncode == 0
    db = harvest.db_path
    store = open_store(db)
    [(dataset_work,)] = query(db, "SELECT id FROM works")
    with store.transaction():
        store.claims.offer(1, dataset_work, "openalex", "name-match:0.87")
    store.close()

    first = harvest("person", "harvest")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "person 1 (A. Researcher): 4 claim(s): 3 accepted, 1 pending, 0 rejected" in (
        first.stdout
    )
    # The RePEc record and its DOI's record are one work, claimed once, found by both feeds.
    [(doi,)] = query(db, "SELECT doi FROM works WHERE repec_handle = ?", PAPER)
    assert doi.lower() == PAPER_DOI
    found = claims(db)
    assert found == {
        DATASET: ("pending", "openalex"),
        BLOG: ("accepted", "orcid"),
        PAPER.lower(): ("accepted", "orcid,ras"),
        OLD_PAPER.lower(): ("accepted", "ras"),
    }
    [(evidence,)] = query(
        db, "SELECT evidence FROM claims JOIN works w ON w.id = work_id WHERE w.doi = ?", doi
    )
    assert json.loads(evidence) == {"orcid": "orcid-listed", "ras": "ras-claimed"}
    # The accepted works are tracked; the name-matched one is not.
    watched = {key for (key,) in query(db, "SELECT key FROM watchlist")}
    assert watched == {BLOG, PAPER_DOI, PAPER.lower(), OLD_PAPER.lower()}
    # The ORCID record was asked once; the DOIs no agency knows made no claim.
    assert upstream.count(f"/orcid/v3.0/{ORCID}/works") == 1
    [(works,)] = query(db, "SELECT count(*) FROM works")
    assert works == 4

    pending = harvest("claims")
    assert pending.returncode == 0
    [line] = pending.stdout.splitlines()
    assert line.startswith("claim 1  pending  person 1 (A. Researcher)  10.6084/")

    # A rerun with nothing changed asks ORCID's /works, and Crossref's second opinion only for
    # what it indexed since the last walk (the RAS file is read, unchanged).
    upstream.requests.clear()
    second = harvest("person", "harvest", "pry2")
    assert second.returncode == 0, second.stdout + second.stderr
    orcid_works, crossref_since = upstream.requests
    assert orcid_works == f"/orcid/v3.0/{ORCID}/works"
    assert crossref_since.startswith("/crossref/works?filter=from-index-date%3A2")
    assert f"orcid%3A{ORCID}" in crossref_since
    assert claims(db) == found

    # A claim rejected stays rejected, even when the person's record lists it again.
    [(old_claim,)] = query(
        db,
        "SELECT c.id FROM claims c JOIN works w ON w.id = c.work_id WHERE w.repec_handle = ?",
        OLD_PAPER,
    )
    rejected = harvest("claims", "reject", str(old_claim), "--reason", "not theirs")
    assert rejected.returncode == 0, rejected.stderr

    # Both records change: ORCID lists one more work, RAS one more paper. Only those are asked.
    upstream.add_orcid(ORCID, with_new_work(orcid_record()))
    _, ras = folders
    (ras / "r" / "pry2.rdf").write_text(ras_record(PAPER, OLD_PAPER, NEW_PAPER), encoding="utf-8")
    upstream.requests.clear()
    third = harvest("person", "harvest", ORCID)
    assert third.returncode == 0, third.stdout + third.stderr
    asked = [r for r in upstream.requests if not r.startswith("/orcid/")]
    assert any("esmoopen" in r for r in asked), asked
    assert not any("ybhah" in r or "17238595" in r or "figshare" in r for r in asked), asked
    assert upstream.count("/orcid/") == 1
    now = claims(db)
    assert now[ARTICLE] == ("accepted", "orcid")
    assert now[NEW_PAPER.lower()] == ("accepted", "ras")
    assert now[OLD_PAPER.lower()] == ("rejected", "ras")
    [(reason,)] = query(db, "SELECT reason FROM claims WHERE id = ?", old_claim)
    assert reason == "not theirs"


def test_auto_accept_off_leaves_every_claim_pending(harvest, upstream):
    harvest.config.write_text(harvest.config.read_text() + "\n[people]\nauto_accept_own = false\n")
    assert harvest("person", "add", "A. Researcher", "--orcid", ORCID).returncode == 0
    run = harvest("person", "harvest")
    assert run.returncode == 0, run.stdout + run.stderr
    assert {status for status, _ in claims(harvest.db_path).values()} == {"pending"}
    assert query(harvest.db_path, "SELECT count(*) FROM watchlist") == [(0,)]


# --- bad input ---------------------------------------------------------------------------------


def nothing_written(db) -> bool:
    return all(
        query(db, f"SELECT count(*) FROM {table}") == [(0,)]
        for table in ("works", "claims", "watchlist", "feeds")
    )


def test_an_orcid_id_with_a_wrong_check_digit_is_refused_before_anything_is_written(harvest):
    refused = harvest("person", "add", "A. Researcher", "--orcid", "0000-0003-1444-9136")
    assert refused.returncode == 2
    [line] = refused.stderr.splitlines()
    assert "0000-0003-1444-9136" in line and "check digit" in line
    assert not harvest.db_path.exists() or query(
        harvest.db_path, "SELECT count(*) FROM people"
    ) == [(0,)]


def test_an_unknown_ras_id_is_one_failed_line_and_nothing_is_written(harvest, upstream):
    assert harvest("person", "add", "Nobody", "--ras", "pzz999").returncode == 0
    run = harvest("person", "harvest")
    assert run.returncode == 1
    [failed] = [line for line in run.stdout.splitlines() if line.startswith("failed")]
    assert "person 1 ras pzz999" in failed and "no such RAS person pzz999" in failed
    assert nothing_written(harvest.db_path)
    assert upstream.requests == []


#: ORCID's documented answer for a deactivated record: HTTP 409 with error 9044, its texts those
#: of `apiError.9044` in ORCID-Source's api_en.properties (the developer message completed with
#: the record's iD, as OrcidSecurityManagerImpl raises it). No recorded answer of a deactivated
#: record was found in other projects' fixtures, so this is built from that documented text.
DEACTIVATED_ID = "0000-0002-1825-0097"
DEACTIVATED = {
    "response-code": 409,
    "developer-message": "409 Conflict: The ORCID record is deactivated and cannot be edited. "
    f"Full validation error: {DEACTIVATED_ID} is deactivated",
    "user-message": "The ORCID record is deactivated.",
    "error-code": 9044,
    "more-info": "https://members.orcid.org/api/resources/troubleshooting",
}


def test_a_deactivated_orcid_record_is_one_failed_line_and_nothing_is_written(harvest, upstream):
    upstream.orcid_error(DEACTIVATED_ID, 409, DEACTIVATED)
    assert harvest("person", "add", "Gone", "--orcid", DEACTIVATED_ID).returncode == 0
    run = harvest("person", "harvest")
    assert run.returncode == 1
    [failed] = [line for line in run.stdout.splitlines() if line.startswith("failed")]
    assert f"the ORCID record {DEACTIVATED_ID} is deactivated (HTTP 409)" in failed
    assert "Traceback" not in run.stderr
    assert nothing_written(harvest.db_path)


def test_a_deprecated_orcid_record_names_the_primary_and_nothing_is_written(harvest, upstream):
    """ORCID answers a deprecated iD with a 301 to the primary record's same path (apiError.9007,
    documented text as above): followed, its answer is another iD's, refused naming it."""
    deprecated, primary = "0000-0001-5109-3700", ORCID
    body = {
        "response-code": 301,
        "developer-message": "301 Moved Permanently: This account is deprecated. Please refer "
        f"to account: https://orcid.org/{primary}. ORCID https://orcid.org/{deprecated}",
        "user-message": f"This account is deprecated. Please refer to account: "
        f"https://orcid.org/{primary}.",
        "error-code": 9007,
    }
    location = f"{upstream.url_for('orcid')}/v3.0/{primary}/works"
    upstream.orcid_error(deprecated, 301, body, {"Location": location})
    assert harvest("person", "add", "Moved", "--orcid", deprecated).returncode == 0
    run = harvest("person", "harvest")
    assert run.returncode == 1
    [failed] = [line for line in run.stdout.splitlines() if line.startswith("failed")]
    assert f"the ORCID record {deprecated} is deprecated" in failed
    assert f"primary record for it is {primary}" in failed
    assert nothing_written(harvest.db_path)


def test_the_dry_run_lists_each_feed_of_the_people_and_institutions_and_from_where(harvest):
    """`harvest run --dry-run` shows what a nightly would ask of the people followed: each feed
    of each id, from the start first, then since its watermark; nothing fetched."""
    assert (
        harvest("person", "add", "A. Researcher", "--orcid", ORCID, "--ras", "pry2").returncode == 0
    )
    assert harvest("institution", "add", "019whta54", "--name", "Lausanne").returncode == 0
    plan = harvest("run", "--dry-run")
    assert plan.returncode == 0, plan.stderr
    assert plan.stdout.splitlines() == [
        f"feed  person 1 (A. Researcher) orcid {ORCID}: everything (first harvest)",
        f"feed  person 1 (A. Researcher) crossref {ORCID}: everything (first harvest)",
        "feed  person 1 (A. Researcher) ras pry2: everything (first harvest)",
        "feed  institution https://ror.org/019whta54 openalex: everything (first harvest)",
        "0 identifier(s) due, 0 feed(s), 4 of people and institutions; nothing fetched",
    ]
    assert harvest("person", "harvest").returncode == 0
    document = json.loads(harvest("run", "--dry-run", "--json").stdout)
    marks = {f["key"]: f["from"] for f in document["followed"]}
    assert marks[f"person:orcid:{ORCID}"]  # the record's last-modified date
    assert marks["person:ras:pry2"] and marks[f"person:crossref:orcid:{ORCID}"]
    assert marks["institution:openalex:019whta54"] is None  # not harvested yet
