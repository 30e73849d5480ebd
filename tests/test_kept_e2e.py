"""End to end on the kept fixtures: the `harvest` command in a subprocess, as a user runs it,
against the local upstream (tests/upstream.py) replaying only real responses this repository keeps
(tests/fixtures, sources in PROVENANCE.tsv there). So DOIs at Crossref, DataCite and through
doi.org, OpenAlex enrichment, a RePEc archive tree and an OAI-PMH repository are harvested end to
end with or without the recorded corpus in ../shared. Nothing here reaches the internet."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from conftest import KEPT, QUICK_RETRIES, HarvestCommand
from lxml import etree
from upstream import ReplayUpstream

BLOG = "10.53731/ybhah-9jy85"  # Crossref, and OpenAlex
ESMO = "10.1136/esmoopen-2020-000776"  # Crossref
FIGSHARE = "10.6084/m9.figshare.1449060"  # DataCite
CSL_DOI = "10.4067/s0718-48082015000300006"  # doi.org's CSL-JSON
OAI = "{http://www.openarchives.org/OAI/2.0/}"
DC = "{http://purl.org/dc/elements/1.1/}"


def kept(relative: str):
    return json.loads((KEPT / relative).read_bytes())


def query(db_path: Path, sql: str, *params) -> list[tuple]:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def work_row(db_path: Path, column: str, value: str, *fields: str) -> tuple:
    [row] = query(
        db_path, f"SELECT {', '.join(fields)} FROM works WHERE {column} = ? COLLATE NOCASE", value
    )
    return row


def authors(db_path: Path, doi: str) -> list[tuple]:
    return query(
        db_path,
        "SELECT given, family, name, orcid FROM authors JOIN works ON works.id = work_id "
        "WHERE doi = ? COLLATE NOCASE ORDER BY position",
        doi,
    )


@pytest.fixture
def upstream():
    with ReplayUpstream() as replay:
        replay.add_crossref("10.53731_ybhah-9jy85", "10.1136_esmoopen-2020-000776")
        replay.add_datacite("10.6084_m9.figshare.1449060")
        replay.add_openalex("10.53731_ybhah-9jy85")
        yield replay


@pytest.fixture
def harvest(tmp_path, upstream):
    return HarvestCommand(tmp_path, upstream.env(), QUICK_RETRIES)


def test_dois_are_harvested_at_their_agencies_and_a_rerun_changes_nothing(harvest, upstream):
    blog = kept("crossref/10.53731_ybhah-9jy85.json")["message"]
    esmo = kept("crossref/10.1136_esmoopen-2020-000776.json")["message"]
    figshare = kept("datacite/10.6084_m9.figshare.1449060.json")["data"]["attributes"]
    openalex = kept("openalex/10.53731_ybhah-9jy85.json")

    first = harvest("doi", BLOG, f"https://doi.org/{ESMO}", f"doi:{FIGSHARE}")
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert [line.split()[:2] for line in lines[:3]] == [
        ["created", BLOG],
        ["created", ESMO],
        ["created", FIGSHARE],
    ]
    assert lines[3].startswith("3 identifier(s): 3 created, 0 changed, 0 unchanged, 0 not found")
    # doi.org asked once about the three prefixes; Crossref's two DOIs in one list request
    assert [r for r in upstream.requests if r.startswith("/doi/ra/")] == [
        "/doi/ra/10.1136,10.53731,10.6084"
    ]
    assert upstream.count("/crossref/works?") == 1 and upstream.count("/crossref/works/") == 0
    assert upstream.count("/datacite/dois/10.6084/m9.figshare.1449060") == 1

    db = harvest.db_path
    assert work_row(db, "doi", BLOG, "title", "type", "publisher", "year", "license") == (
        blog["title"][0],
        blog["type"],
        blog["publisher"],
        2023,
        blog["license"][0]["URL"],
    )
    # OpenAlex's answer is merged into the Crossref work
    assert work_row(db, "doi", BLOG, "openalex_id", "oa_status", "oa_url") == (
        openalex["id"],
        openalex["open_access"]["oa_status"],
        openalex["open_access"]["oa_url"],
    )
    assert authors(db, BLOG) == [("Martin", "Fenner", None, "0000-0003-1419-2405")]
    assert work_row(
        db, "doi", ESMO, "title", "container_title", "volume", "issue", "pages", "year", "issn"
    ) == (
        esmo["title"][0],
        esmo["container-title"][0],
        esmo["volume"],
        esmo["issue"],
        esmo["page"],
        2020,
        json.dumps(esmo["ISSN"]),
    )
    assert [(g, f) for g, f, _, _ in authors(db, ESMO)] == [
        (a["given"], a["family"]) for a in esmo["author"]
    ]
    assert work_row(db, "doi", FIGSHARE, "title", "type", "publisher", "year", "url") == (
        figshare["titles"][0]["title"],
        "dataset",
        figshare["publisher"],
        figshare["publicationYear"],
        figshare["url"],
    )
    assert [f for _, f, _, _ in authors(db, FIGSHARE)] == [
        c["familyName"] for c in figshare["creators"]
    ]
    assert query(db, "SELECT source, status, count(*) FROM source_records GROUP BY 1, 2") == [
        ("crossref", "ok", 2),
        ("datacite", "ok", 1),
        ("openalex", "not_found", 2),
        ("openalex", "ok", 1),
    ]

    changes = query(db, "SELECT count(*) FROM changes")[0][0]
    again = harvest("doi", BLOG, ESMO, FIGSHARE)
    assert again.returncode == 0, again.stderr
    assert [line.split()[0] for line in again.stdout.splitlines()[:3]] == ["unchanged"] * 3
    assert query(db, "SELECT count(*) FROM changes")[0][0] == changes
    assert query(db, "SELECT max(version) FROM works")[0][0] == 1


def test_show_prints_and_gives_as_json_what_was_stored(harvest):
    assert harvest("doi", BLOG, FIGSHARE).returncode == 0
    shown = harvest("show", FIGSHARE)
    assert shown.returncode == 0, shown.stderr
    title = kept("datacite/10.6084_m9.figshare.1449060.json")["data"]["attributes"]["titles"][0]
    assert f"Title:       {title['title']}" in shown.stdout
    assert "Type:        dataset" in shown.stdout and "From:        datacite: " in shown.stdout
    as_json = harvest("show", "--json", f"https://doi.org/{BLOG.upper()}")
    assert as_json.returncode == 0, as_json.stderr
    work = json.loads(as_json.stdout)
    assert work["doi"] == BLOG and work["title"] == "The rise of the (science) newsletter"
    assert work["authors"][0]["family"] == "Fenner"
    assert work["authors"][0]["orcid"] == "0000-0003-1419-2405"
    assert work["openalex_id"] == "https://openalex.org/W4387341806"


def test_a_doi_of_an_agency_without_a_source_of_its_own_comes_through_doi_org(harvest, upstream):
    """The kept CSL item is served for its DOI at an agency the test names (mEDRA): the harvester
    reads CSL-JSON from doi.org for every agency other than Crossref and DataCite."""
    item = upstream.add_csl(CSL_DOI, "10.4067_s0718-48082015000300006_handlr", agency="mEDRA")
    proc = harvest("doi", CSL_DOI, "10.99999/nobody")
    assert proc.returncode == 1, proc.stderr  # one of the two was not found
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"created    {CSL_DOI}  work 1: Procesamiento semántico")
    assert lines[1] == (
        "not found  10.99999/nobody  doi.org knows no registration agency for 10.99999"
    )
    # doi.org redirected to the agency, which answered the CSL item
    assert upstream.count(f"/doi/{CSL_DOI}") == 1 and upstream.count("/agency-csl/medra/") == 1

    work = json.loads(harvest("show", "--json", CSL_DOI).stdout)
    assert (work["title"], work["container_title"]) == (item["title"], item["container-title"])
    assert (work["volume"], work["issue"], work["pages"]) == (
        item["volume"],
        item["issue"],
        item["page"],
    )
    assert work["issn"] == item["ISSN"] and work["type"] == "journal-article"
    assert [(a["given"], a["family"]) for a in work["authors"]] == [
        (a["given"], a["family"]) for a in item["author"]
    ]
    assert "From:        doi.org: " in harvest("show", CSL_DOI).stdout


@pytest.fixture
def tree(tmp_path):
    """The CEU archive laid out as it publishes it: archive and series templates, then the series'
    papers in their folder."""
    root = tmp_path / "repec"
    (root / "ceu" / "econwp").mkdir(parents=True)
    shutil.copy(KEPT / "redif/ceu_ceuarch.rdf", root / "ceu" / "ceuarch.rdf")
    shutil.copy(KEPT / "redif/ceu_ceuseri.rdf", root / "ceu" / "ceuseri.rdf")
    for number in ("2025_1", "2025_2"):
        shutil.copy(
            KEPT / f"redif/ceu_econwp_{number}.rdf", root / "ceu" / "econwp" / f"{number}.rdf"
        )
    return root


def redif_fields(name: str) -> dict[str, list[str]]:
    text = (KEPT / "redif" / name).read_text(encoding="utf-8")
    fields: dict[str, list[str]] = {}
    for key, value in re.findall(r"^([\w-]+): (.+)$", text, re.M):
        fields.setdefault(key, []).append(value)
    return fields


def test_harvest_repec_reads_the_archive_tree_and_follows_the_dois(harvest, upstream, tree):
    # Zenodo's prefix is DataCite's; its records are not kept, so DataCite answers not found.
    upstream.set_agency("10.5281", "DataCite")
    harvest.env["HARVEST_REPEC_URL"] = str(tree)
    paper_1 = redif_fields("ceu_econwp_2025_1.rdf")
    paper_2 = redif_fields("ceu_econwp_2025_2.rdf")

    one = harvest("repec", "https://ideas.repec.org/p/ceu/econwp/2025_1.html")
    assert one.returncode == 1, one.stderr  # the paper's DOI is not found at DataCite
    lines = one.stdout.splitlines()
    assert lines[0].startswith(f"created    RePEc:ceu:econwp:2025_1  work 1: {paper_1['Title'][0]}")
    assert any(line.startswith(f"not found  {paper_1['DOI'][0]}") for line in lines)
    assert upstream.count(f"/datacite/dois/{paper_1['DOI'][0]}") == 1

    archive = harvest("repec", "--archive", "RePEc:ceu")
    lines = archive.stdout.splitlines()
    assert "unchanged  RePEc:ceu:econwp:2025_1  work 1" in lines
    assert any(line.startswith("created    RePEc:ceu:econwp:2025_2  work 2: ") for line in lines)
    series = harvest("repec", "--series", "RePEc:ceu:econwp")
    assert series.returncode == 0 and "0 identifier(s)" in series.stdout  # nothing changed

    db = harvest.db_path
    for paper in (paper_1, paper_2):
        handle = paper["Handle"][0]
        # the series is the paper's collection (series_title), its provider the institution
        assert work_row(
            db, "repec_handle", handle, "title", "doi", "series_title", "publisher", "type"
        ) == (
            paper["Title"][0],
            paper["DOI"][0],
            "CEU Working Papers",
            "Department of Economics, Central European University",
            "report",
        )
        assert work_row(db, "repec_handle", handle, "container_title", "published") == (
            None,
            paper["Creation-Date"][0],
        )
        assert query(
            db,
            "SELECT given, family FROM authors JOIN works ON works.id = work_id "
            "WHERE repec_handle = ? ORDER BY position",
            handle,
        ) == list(zip(paper["Author-Name-First"], paper["Author-Name-Last"], strict=True))
    shown = harvest("show", "RePEc:ceu:econwp:2025_2")
    assert "Authors:     Miklós Koren; Krisztina Orban" in shown.stdout
    assert "From:        repec: " in shown.stdout


def test_harvest_oai_reads_a_repository_then_asks_only_for_what_changed(harvest, upstream):
    identify = "oaipmh/erasmus_Identify.xml"
    listing = "oaipmh/erasmus_ListRecords_oai_dc_from-2003-04-10.xml"
    upstream.add_oai({"verb": "Identify"}, identify)
    # served for the query it was recorded for
    upstream.add_oai(
        {"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2003-04-10"}, listing
    )
    harvest.config.write_text(
        harvest.config.read_text()
        + f'[oai]\nrate = 100.0\n\n[oai.endpoints]\nerasmus = "{upstream.url_for("oai")}"\n'
    )
    root = etree.fromstring((KEPT / listing).read_bytes())
    records = root.findall(f".//{OAI}record")
    identifiers = [r.find(f"{OAI}header/{OAI}identifier").text for r in records]

    first = harvest("oai", "erasmus", "--from", "2003-04-10")
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert [line.split()[:2] for line in lines[:-1]] == [["created", i] for i in identifiers]
    assert lines[-1].startswith("16 identifier(s): 16 created")

    db = harvest.db_path
    stored = dict(query(db, "SELECT url, title FROM works"))
    assert len(stored) == len(records) == 16
    for record in records:
        url = next(e.text for e in record.iter(f"{DC}identifier") if e.text.startswith("http"))
        assert stored[url] == " ".join(record.find(f".//{DC}title").text.split())
    types = [r.find(f".//{DC}type").text for r in records]
    assert query(db, "SELECT count(*) FROM works WHERE type = 'report'")[0][0] == types.count(
        "Working Paper"
    )

    again = harvest("oai", "erasmus", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["counts"]["requested"] == 0
    # asked from the repository's clock at the first harvest: its first answer's responseDate
    response_date = root.find(f"{OAI}responseDate").text
    assert response_date == "2003-04-30T16:08:02Z"
    assert upstream.requests[-1] == (
        "/oai?verb=ListRecords&metadataPrefix=oai_dc&from=2003-04-30T16%3A08%3A02Z"
    )


def test_the_global_options_work_after_the_command_too(harvest, tmp_path):
    elsewhere = tmp_path / "elsewhere.db"
    done = harvest("doi", ESMO, "--db", str(elsewhere), "-q")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("1 identifier(s): 1 created")  # -q: no line per identifier
    assert work_row(elsewhere, "doi", ESMO, "title")[0].startswith("Phase II study of lenvatinib")
    assert not harvest.db_path.exists()  # not the default database
    shown = harvest("show", ESMO, "--db", str(elsewhere), "--json")
    assert json.loads(shown.stdout)["doi"] == ESMO


def test_harvest_works_lists_and_filters_the_stored_works(harvest):
    assert harvest("doi", BLOG, ESMO, FIGSHARE).returncode == 0
    assert harvest("set", ESMO, "pages=1-99").returncode == 0  # ours against Crossref's

    listed = harvest("works")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[-1] == "3 work(s)"
    assert [line.split()[:2] for line in lines[:-1]] == [
        ["1", BLOG],
        ["2", ESMO],
        ["3", FIGSHARE],
    ]
    assert lines[1].endswith("[1 in conflict]")

    datacite = json.loads(harvest("works", "--source", "datacite", "--json").stdout)
    assert [w["doi"] for w in datacite] == [FIGSHARE]
    in_conflict = harvest("works", "--conflicts", "--csv").stdout.splitlines()
    assert in_conflict[0].startswith("id,doi,repec_handle,type,year,title")
    assert len(in_conflict) == 2 and in_conflict[1].startswith(f"2,{ESMO},")
    typed = json.loads(harvest("works", "--type", "dataset", "--json").stdout)
    assert [w["id"] for w in typed] == [3]
    assert harvest("works", "--since", "2999-01-01").stdout == "0 work(s)\n"


def test_harvest_merge_makes_two_stored_works_one(harvest):
    assert harvest("doi", ESMO).returncode == 0
    esmo = kept("crossref/10.1136_esmoopen-2020-000776.json")["message"]
    ours = harvest.folder / "ours.csv"
    ours.write_text(f'title,year,pages\n"{esmo["title"][0]}",2020,e000776-x\n')
    imported = harvest("import", str(ours))
    assert imported.returncode == 0, imported.stderr
    assert harvest("works").stdout.splitlines()[-1] == "2 work(s)"

    merged = harvest("merge", ESMO, "2")

    assert merged.returncode == 0, merged.stderr
    assert merged.stdout.startswith("changed    work 1  work 1 v2: pages")
    assert harvest("works").stdout.splitlines()[-1] == "1 work(s)"
    shown = harvest("show", ESMO).stdout
    assert "  Pages:       e000776-x" in shown  # your value came along, and wins
    history = harvest("history", ESMO).stdout
    assert re.search(r"^  merged_work_id\s+2 -> 1  \[local\]$", history, re.M)
    assert harvest("show", "2").returncode == 1  # gone
    same = harvest("merge", ESMO, ESMO)
    assert same.returncode == 2 and "cannot be merged with itself" in same.stderr


def test_harvest_delete_needs_yes_and_keeps_a_record(harvest):
    assert harvest("doi", ESMO, BLOG, "--track").returncode == 0

    asked = harvest("delete", ESMO)
    assert asked.returncode == 2 and "nothing deleted: add --yes" in asked.stderr
    assert asked.stdout.startswith(f"would delete       1  {ESMO}")
    assert harvest("works").stdout.splitlines()[-1] == "2 work(s)"

    done = harvest("delete", ESMO, "--yes")

    assert done.returncode == 0, done.stderr
    assert done.stdout == f"deleted  {ESMO}  (work 1)\n"
    assert harvest("works").stdout.splitlines()[-1] == "1 work(s)"
    assert harvest("show", ESMO).returncode == 1
    [(doi, record)] = query(harvest.db_path, "SELECT doi, record FROM deleted_works")
    assert doi == ESMO
    kept_record = json.loads(record)
    assert kept_record["work"]["title"].startswith("Phase II study of lenvatinib")
    assert [c["field"] for c in kept_record["history"]][:1] == ["doi"]
    tracked = harvest("tracked").stdout
    assert BLOG in tracked and ESMO not in tracked  # no longer brought back by the watch list
    assert query(
        harvest.db_path, "SELECT count(*) FROM source_records WHERE identifier = ?", ESMO.lower()
    ) == [(0,)]


def test_import_fill_gaps_keeps_the_sources_values_and_fills_only_what_they_lack(harvest):
    assert harvest("doi", ESMO).returncode == 0
    esmo = kept("crossref/10.1136_esmoopen-2020-000776.json")["message"]
    assert "language" in esmo  # Crossref gives the language and the title...
    ours = harvest.folder / "ours.csv"
    ours.write_text(f'doi,title,language,publisher_place\n{ESMO},"Our own title",fr,"London"\n')

    done = harvest("import", str(ours), "--fill-gaps")

    assert done.returncode == 0, done.stderr
    row = work_row(harvest.db_path, "doi", ESMO, "title", "language", "publisher_place")
    assert row == (esmo["title"][0], esmo["language"], "London")  # ...only the gap is ours
    origins = query(harvest.db_path, "SELECT field, origin FROM local_fields ORDER BY field")
    assert ("publisher_place", "fill") in origins
    # Without --fill-gaps, the same file wins, as before.
    assert harvest("import", str(ours)).returncode == 0
    assert work_row(harvest.db_path, "doi", ESMO, "title")[0] == "Our own title"


def test_json_on_every_command_that_reports(harvest):
    track = json.loads(harvest("track", ESMO, BLOG, "--json").stdout)
    assert track == {"identifiers": 2, "new": 2}
    assert harvest("doi", ESMO, BLOG).returncode == 0
    edited = json.loads(harvest("set", ESMO, "pages=1-9", "--json").stdout)
    assert edited["result"]["status"] == "changed" and edited["work"]["pages"] == "1-9"
    unset = json.loads(harvest("unset", ESMO, "pages", "--json").stdout)
    assert unset["result"]["fields"] == ["pages"]
    ours = harvest.folder / "ours.csv"
    ours.write_text('title,year\n"A report we wrote",2024\n')
    imported = json.loads(harvest("import", str(ours), "--json").stdout)
    assert imported["records"] == 1 and imported["without_identifier"][0]["line"] == 2
    merged = json.loads(harvest("merge", BLOG, "3", "--json").stdout)
    assert merged["work_id"] == 2
    deleted = json.loads(harvest("delete", ESMO, "--yes", "--json").stdout)
    assert [d["work"]["doi"] for d in deleted["deleted"]] == [ESMO]
    untracked = json.loads(harvest("untrack", BLOG, "--json").stdout)
    assert untracked == {"identifiers": 1, "untracked": 1}


def test_an_imported_byline_cut_short_by_and_others_leaves_the_sources_whole_one(harvest):
    assert harvest("doi", ESMO).returncode == 0
    crossref = authors(harvest.db_path, ESMO)
    ours = harvest.folder / "ours.bib"
    ours.write_text(
        "@article{kawazoe2020,\n  doi = {" + ESMO + "},\n"
        "  author = {Kawazoe, Akihito and others},\n  note = {ours}\n}\n"
    )
    done = harvest("import", str(ours))
    assert done.returncode == 0, done.stderr
    assert authors(harvest.db_path, ESMO) == crossref and len(crossref) > 1
    assert query(harvest.db_path, "SELECT field FROM local_fields WHERE field = 'authors'") == []
