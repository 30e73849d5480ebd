"""The real shapes issues 20 and 21 are built on stay real and complete.

Each kept file must be present, parse as what it is (JSON, CSV, ReDIF text) and still hold the
keys the issues rely on: Retraction Watch's columns, ORCID's group/work-summary/put-code/external-ids
(with a group that has none), ORCID's error body, and the RAS ReDIF-Person fields. A file trimmed
or edited by hand until one of those is gone fails here, not in the feature built on it.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from conftest import KEPT

RW_CSV = KEPT / "retractionwatch" / "egonw_labs-export-2023_1row.csv"
ORCID_WORKS = KEPT / "orcid" / "0000-0003-1444-9135_works_6-groups.json"
ORCID_EMPTY = KEPT / "orcid" / "0000-0003-1620-1408_works_empty.json"
ORCID_404 = KEPT / "orcid" / "error_404_Asfaf_person.json"
RAS_PBE27 = KEPT / "redif" / "ras_pbe27.redif"
RAS_PRY2 = KEPT / "redif" / "ras_pry2.redif"

RW_COLUMNS = [
    "Record ID",
    "Title",
    "Subject",
    "Institution",
    "Journal",
    "Publisher",
    "Country",
    "Author",
    "URLS",
    "ArticleType",
    "RetractionDate",
    "RetractionDOI",
    "RetractionPubMedID",
    "OriginalPaperDate",
    "OriginalPaperDOI",
    "OriginalPaperPubMedID",
    "RetractionNature",
    "Reason",
    "Paywalled",
    "Notes",
]


def provenance() -> dict[str, dict[str, str]]:
    with (KEPT / "PROVENANCE.tsv").open(newline="", encoding="utf-8") as f:
        return {r["file"]: r for r in csv.DictReader(f, delimiter="\t")}


@pytest.mark.parametrize("path", [RW_CSV, ORCID_WORKS, ORCID_EMPTY, ORCID_404, RAS_PBE27, RAS_PRY2])
def test_each_shape_is_present_with_its_provenance(path):
    row = provenance()[str(path.relative_to(KEPT))]
    assert path.stat().st_size > 0
    assert row["repo"] and row["path"] and len(row["commit"]) == 40


def test_retraction_watch_csv_has_the_real_header_and_a_row_naming_paper_and_notice():
    text = RW_CSV.read_text(encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    assert reader.fieldnames == RW_COLUMNS
    [row] = list(reader)
    assert row["Record ID"] == "50438"
    assert row["RetractionNature"] == "Retraction"
    assert row["OriginalPaperDOI"] == "10.1155/2021/6907871"
    assert row["RetractionDOI"] == "10.1155/2023/9804945"
    assert (row["RetractionDate"], row["OriginalPaperDate"]) == ("8/16/2023 0:00", "9/24/2021 0:00")
    # A quoted field with commas, and ';'-lists that end in ';'.
    assert (
        row["Institution"]
        == "Education Department, Taiyuan Normal University, Taiyuan, Shanxi, China;"
    )
    reasons = [r for r in row["Reason"].split(";") if r]
    assert len(reasons) == 8 and all(r.startswith("+") for r in reasons)
    assert len(row["URLS"].split(";")) == 2


def test_orcid_works_groups_carry_put_codes_and_typed_external_ids():
    body = json.loads(ORCID_WORKS.read_bytes())
    assert body["path"] == "/0000-0003-1444-9135/works"
    groups = body["group"]
    assert len(groups) == 6
    summaries = [s for g in groups for s in g["work-summary"]]
    assert all(isinstance(s["put-code"], int) for s in summaries)
    assert len({s["put-code"] for s in summaries}) == len(summaries) == 7
    id_types = {
        e["external-id-type"]
        for s in summaries
        for e in ((s["external-ids"] or {}).get("external-id") or [])
    }
    assert {"doi", "issn"} <= id_types
    # One work claimed by two sources is one group with two summaries.
    [twice] = [g for g in groups if len(g["work-summary"]) == 2]
    assert {s["source"]["source-name"]["value"] for s in twice["work-summary"]} == {
        "Crossref Metadata Search",
        "Crossref",
    }
    # ORCID normalizes a DOI and keeps what the source sent.
    zenodo = [
        e
        for g in groups
        for e in g["external-ids"]["external-id"]
        if e["external-id-value"] == "10.5281/ZENODO.1238947"
    ]
    assert zenodo[0]["external-id-normalized"]["value"] == "10.5281/zenodo.1238947"


def test_orcid_works_include_groups_with_no_external_ids_only_a_url():
    groups = json.loads(ORCID_WORKS.read_bytes())["group"]
    bare = [g for g in groups if g["external-ids"]["external-id"] == []]
    assert len(bare) == 2
    for g in bare:
        [s] = g["work-summary"]
        assert s["external-ids"] is None
        assert s["url"]["value"].startswith("http://dx.doi.org/10.6084/m9.figshare.")


def test_orcid_record_with_no_works_has_an_empty_group_list():
    body = json.loads(ORCID_EMPTY.read_bytes())
    assert body == {"last-modified-date": None, "group": [], "path": "/0000-0003-1620-1408/works"}


def test_orcid_error_body_says_the_record_was_not_found():
    body = json.loads(ORCID_404.read_bytes())
    assert body["response-code"] == 404 and body["error-code"] == 9016
    assert "ORCID iD Asfaf not found" in body["developer-message"]
    assert set(body) == {
        "response-code",
        "developer-message",
        "user-message",
        "error-code",
        "more-info",
    }
    sidecar = json.loads(ORCID_404.with_name("error_404_Asfaf_person.meta.json").read_bytes())
    assert sidecar["response"]["status"] == 404


def redif_fields(path) -> list[tuple[str, str]]:
    """Field name and value of each line that starts a field (continuations are skipped)."""
    text = path.read_text(encoding="utf-8")
    out = []
    for line in text.split("\n"):
        if line and not line[0].isspace() and not line.startswith("/") and ":" in line:
            name, value = line.split(":", 1)
            out.append((name, value.strip()))
    return out


@pytest.mark.parametrize(
    ("path", "short_id", "name", "workplaces", "papers", "articles"),
    [(RAS_PBE27, "pbe27", "Roland Benabou", 6, 99, 38), (RAS_PRY2, "pry2", "John Ryding", 0, 2, 4)],
)
def test_ras_person_records_have_the_fields_issue_21_reads(
    path, short_id, name, workplaces, papers, articles
):
    fields = redif_fields(path)
    assert fields[0] == ("Template-Type", "ReDIF-Person 1.0")
    one = {k: v for k, v in fields}
    assert one["Short-Id"] == short_id and one["Name-Full"] == name
    assert one["Handle"].startswith("repec:per:")
    institutions = [v for k, v in fields if k == "Workplace-Institution"]
    assert len(institutions) == workplaces and all(v.startswith("RePEc:edi:") for v in institutions)
    # RAS writes the claims with lower-case field names.
    assert sum(k == "author-paper" for k, _ in fields) == papers
    assert sum(k == "author-article" for k, _ in fields) == articles
    assert all(v.startswith("repec:") for k, v in fields if k.startswith("author-"))
