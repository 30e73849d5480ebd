"""Integrity notices from what the sources say (issue 20, item 1): Crossref's updated-by with
Retraction Watch's record ids, OpenAlex's is_retracted, DataCite's IsObsoletedBy, ReDIF's
Publication-Status; kept in `integrity_notices` with the record that says them, shown by
`harvest show` first, and noted in every export.

The Crossref retraction is the Wakefield paper's real `updated-by` (tests/fixtures, quoted from a
live answer) put into a kept Crossref record, since no whole record with a Retraction Watch entry
is kept; the OpenAlex and DataCite cases set the one documented field of a real kept answer."""

from __future__ import annotations

import copy
import json
import sqlite3

import pytest
from conftest import KEPT, HarvestCommand, load_json
from fakes import ok
from test_redif_fields import only
from upstream import ReplayUpstream

from harvester.integrity import notice_kind, notices_of
from harvester.models import NOTICE_KINDS, Notice
from harvester.sources import crossref, datacite, openalex, redif

WAKEFIELD = KEPT / "crossref" / "updated-by_10.1016_s0140-6736-97-11096-0.jsonl"
KEPT_CROSSREF = "10.53731_ybhah-9jy85"  # a real Crossref record with no updated-by of its own
RETRACTION = "10.1016/s0140-6736(10)60175-4"
CORRECTION = "10.1016/s0140-6736(04)15715-2"


def wakefield_updates() -> list[dict]:
    return [json.loads(line) for line in WAKEFIELD.read_text(encoding="utf-8").splitlines()]


def retracted_message() -> dict:
    message = copy.deepcopy(load_json(f"crossref/{KEPT_CROSSREF}.json")["message"])
    message["updated-by"] = wakefield_updates()
    return message


@pytest.mark.parametrize(
    "said, kind",
    [
        ("retraction", "retraction"),
        ("Retraction", "retraction"),
        ("expression_of_concern", "expression_of_concern"),
        ("Expression of concern", "expression_of_concern"),
        ("partial_retraction", "partial_retraction"),
        ("corrigendum", "correction"),
        ("erratum", "erratum"),
        ("new_edition", "new_version"),
        ("Reinstatement", "reinstatement"),
        ("something new", "other"),
        (None, "other"),
    ],
)
def test_the_sources_words_fold_into_the_kinds_a_digest_sorts_by(said, kind):
    assert notice_kind(said) == kind
    assert kind in NOTICE_KINDS


def test_crossref_updated_by_is_a_notice_with_who_asserted_it_and_its_record_id():
    record = crossref.parse(retracted_message())
    notices = notices_of([record])
    assert notices == (
        Notice(
            kind="correction",
            asserted_by="retraction-watch",
            source="crossref",
            notice_doi=CORRECTION,
            record_id="17269",
            date="2004-03-06",
            detail="Correction",
        ),
        Notice(
            kind="retraction",
            asserted_by="retraction-watch",
            source="crossref",
            notice_doi=RETRACTION,
            record_id="4036",
            date="2010-02-06",
            detail="Retraction",
        ),
    )


def test_update_to_and_an_update_naming_the_work_itself_say_nothing_against_it():
    message = retracted_message()
    own = message["DOI"]
    message["update-to"] = [dict(wakefield_updates()[1], DOI="10.5555/another-work")]
    message["updated-by"] = [dict(wakefield_updates()[0], DOI=own, type="new_version")]
    assert notices_of([crossref.parse(message)]) == ()


def test_a_publisher_correction_in_the_corpus_is_asserted_by_the_publisher():
    record = crossref.parse(load_json("crossref/10.1371_journal.pone.0033693.json")["message"])
    [notice] = notices_of([record])
    assert (notice.kind, notice.asserted_by, notice.notice_doi, notice.date) == (
        "correction",
        "publisher",
        "10.1371/annotation/c76da2c1-ccb8-4797-94c1-359d3ceceeda",
        "2012-05-08",
    )


def test_openalex_is_retracted_is_a_retraction_asserted_by_openalex():
    work = load_json("openalex/10.53731_ybhah-9jy85.json")
    assert work["is_retracted"] is False  # the field is in every real OpenAlex work
    assert notices_of([openalex.parse(work)]) == ()
    work["is_retracted"] = True
    assert notices_of([openalex.parse(work)]) == (
        Notice(kind="retraction", asserted_by="openalex", source="openalex"),
    )


def test_datacite_is_obsoleted_by_is_a_new_version_and_is_version_of_is_not():
    body = load_json("datacite/10.6084_m9.figshare.1449060.json")
    attributes = body["data"]["attributes"]
    attributes["relatedIdentifiers"] = [
        {
            "relationType": "IsVersionOf",
            "relatedIdentifier": "10.6084/m9.figshare.1449060",
            "relatedIdentifierType": "DOI",
        }
    ]
    assert notices_of([datacite.parse(body)]) == ()
    attributes["relatedIdentifiers"].append(
        {
            "relationType": "IsObsoletedBy",
            "relatedIdentifier": "10.6084/m9.figshare.1449060.v2",
            "relatedIdentifierType": "DOI",
        }
    )
    [notice] = notices_of([datacite.parse(body)])
    assert (notice.kind, notice.asserted_by, notice.notice_doi) == (
        "new_version",
        "datacite",
        "10.6084/m9.figshare.1449060.v2",
    )


def test_redif_publication_status_is_a_published_version_not_a_retraction():
    record = redif.to_record(only("ten_wpaper_2014-01.rdf"))
    [notice] = notices_of([record])
    assert notice.kind == "published_version" and notice.asserted_by == "repec"
    assert notice.detail.startswith("Published in Journal of Economic Behavior and Organization")


def test_one_notice_said_by_two_sources_alike_is_kept_once():
    record = crossref.parse(retracted_message())
    assert notices_of([record, record]) == notices_of([record])


# --- end to end: harvested, kept, shown, exported -------------------------------------------------


@pytest.fixture
def retracted(tmp_path):
    """A harvest of a Crossref record that Retraction Watch says was corrected and retracted."""
    with ReplayUpstream() as upstream:
        upstream.add_crossref(KEPT_CROSSREF)
        doi = load_json(f"crossref/{KEPT_CROSSREF}.json")["message"]["DOI"]
        upstream.set_agency(doi.split("/")[0], "Crossref")
        harvest = HarvestCommand(tmp_path, upstream.env(), "")
        ok(harvest("doi", doi))
        upstream.change(doi, **{"updated-by": wakefield_updates()})
        ok(harvest("doi", "--refresh", doi))
        ok(harvest("doi", "--refresh", doi))  # seen again: still one row per notice
        yield harvest, doi


def test_a_harvested_retraction_is_kept_once_with_the_run_that_first_saw_it(retracted):
    harvest, _ = retracted
    with sqlite3.connect(harvest.db_path) as db:
        rows = db.execute(
            """SELECT kind, asserted_by, source, notice_doi, record_id, notice_date,
                      first_seen_run, last_seen_run
               FROM integrity_notices ORDER BY kind"""
        ).fetchall()
    assert rows == [
        ("correction", "retraction-watch", "crossref", CORRECTION, "17269", "2004-03-06", 2, 3),
        ("retraction", "retraction-watch", "crossref", RETRACTION, "4036", "2010-02-06", 2, 3),
    ]


def test_harvest_show_names_the_retraction_before_the_fields(retracted):
    harvest, doi = retracted
    shown = ok(harvest("show", doi)).stdout.splitlines()
    notices = [line for line in shown if line.strip().startswith("Notice:")]
    assert "RETRACTION 10.1016/s0140-6736(10)60175-4 (2010-02-06)" in notices[0]
    assert "asserted by retraction-watch (record 4036)" in notices[0]
    assert "Correction 10.1016/s0140-6736(04)15715-2" in notices[1]
    assert shown.index(notices[0]) < next(i for i, s in enumerate(shown) if "Authors:" in s)
    document = json.loads(ok(harvest("show", "--json", doi)).stdout)
    assert [n["kind"] for n in document["notices"]] == ["retraction", "correction"]


def test_every_export_notes_the_retraction(retracted):
    harvest, _ = retracted
    note = f"Retraction: doi:{RETRACTION} (2010-02-06), asserted by retraction-watch"
    [item] = json.loads(ok(harvest("export", "--format", "csl-json")).stdout)
    assert item["note"].startswith(note)
    ris = ok(harvest("export", "--format", "ris")).stdout
    assert f"N1  - {note}" in ris.splitlines()
    bibtex = ok(harvest("export", "--format", "bibtex")).stdout
    [line] = [line for line in bibtex.splitlines() if line.strip().startswith("note")]
    assert "Retraction: doi:10.1016/s0140-6736(10)60175-4 (2010-02-06)" in line


def test_a_database_from_before_notices_gets_them_from_its_stored_answers(retracted):
    harvest, doi = retracted
    with sqlite3.connect(harvest.db_path) as db:
        db.execute("DELETE FROM integrity_notices")
    ok(harvest("reparse", "--all"))
    with sqlite3.connect(harvest.db_path) as db:
        kinds = db.execute("SELECT kind, record_id FROM integrity_notices ORDER BY kind").fetchall()
    assert kinds == [("correction", "17269"), ("retraction", "4036")]
    assert "RETRACTION" in ok(harvest("show", doi)).stdout


def test_the_digest_after_a_replayed_retraction_names_the_work_the_notice_and_who_said_it(
    retracted,
):
    """The issue's must-show, end to end: the notices come from the replayed Crossref answer,
    not from a row a test wrote."""
    harvest, doi = retracted
    text = ok(harvest("digest")).stdout
    assert doi in text and RETRACTION in text and "retraction-watch" in text
    assert text.index(RETRACTION) < text.index(CORRECTION)  # the retraction first
    document = json.loads(ok(harvest("digest", "--format", "json")).stdout)
    assert [
        (n["doi"], n["kind"], n["notice_doi"], n["asserted_by"], n["record_id"])
        for n in document["notices"]
    ] == [
        (doi, "retraction", RETRACTION, "retraction-watch", "4036"),
        (doi, "correction", CORRECTION, "retraction-watch", "17269"),
    ]
