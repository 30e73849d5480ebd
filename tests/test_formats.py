"""Users' bibliographic files in, stored works out: BibTeX, RIS, CSL-JSON and CSV.

The works written out are built from the recorded real responses (../shared/fixtures) with the real
parsers and merge, shaped as `store.works.get()` returns them; each format must give back what it can
carry, and its output must parse with the format's own library. The recorded doi.org BibTeX and
CSL-JSON are read field by field. What a format cannot carry is stated here, per format.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from dataclasses import replace

import bibtexparser
import pytest
import rispy
from conftest import fixture_path, load_json
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harvester.errors import BadInputFile
from harvester.formats import (
    FORMATS,
    LocalRecord,
    citation_keys,
    detect_format,
    read_records,
    write_works,
)
from harvester.formats import bibtex as bibtex_module
from harvester.formats import ris as ris_module
from harvester.formats.csljson import CSL_ITEM_TYPES
from harvester.formats.csvfile import WRITE_COLUMNS
from harvester.identifiers import isbn13
from harvester.merge import WORK_FIELDS, author_row, build_work, record_values, to_json
from harvester.models import Author, FileLink, Funder, Isbn, Record, Reference
from harvester.sources import crossref, datacite, doiorg

# --- the works: real records, as the store returns them ---------------------------------------


def stored(record: Record, work_id: int) -> dict:
    """A work dict as `store.works.get()` returns it, from one source record."""
    work = build_work([record])
    return {
        **work.values,
        "id": work_id,
        "provenance": json.dumps(work.provenance),
        "version": 1,
        "created_at": "2026-01-05T10:00:00Z",
        "updated_at": "2026-01-05T10:00:00Z",
        "authors": [author_row(author) for author in work.authors],
        "identifiers": [{"scheme": "doi", "value": work.values["doi"]}]
        if work.values["doi"]
        else [],
    }


def citing_fields(record: Record, message: dict) -> Record:
    """The issue-16 fields a Crossref message gives (editors, ISBNs by kind, the conference,
    the place, the degree, the journal's abbreviation, funders), read here from the recorded
    message where the parser does not give them yet, so that every format is tested with them."""
    found = {
        "contributors": tuple(
            Author(given=e.get("given"), family=e.get("family"), role="editor")
            for e in message.get("editor", [])
        ),
        "isbn": tuple(Isbn(isbn13(i["value"]), i["type"]) for i in message.get("isbn-type", [])),
        "event_name": (message.get("event") or {}).get("name"),
        "event_place": (message.get("event") or {}).get("location"),
        "publisher_place": message.get("publisher-location"),
        "degree": next(iter(message.get("degree", [])), None),
        "container_short_title": next(iter(message.get("short-container-title", [])), None),
        "funders": tuple(
            Funder(name=f.get("name"), doi=f.get("DOI"), awards=tuple(f.get("award", [])))
            for f in message.get("funder", [])
        ),
        "references": tuple(
            Reference(doi=r.get("DOI"), unstructured=r.get("unstructured"), key=r.get("key"))
            for r in message.get("reference", [])
        ),
    }
    return replace(record, **{k: v for k, v in found.items() if v and not getattr(record, k)})


def crossref_work(name: str, work_id: int) -> dict:
    message = load_json(f"crossref/{name}.json")["message"]
    return stored(citing_fields(crossref.parse(message), message), work_id)


def datacite_work(name: str, work_id: int) -> dict:
    return stored(datacite.parse(datacite.unwrap(load_json(f"datacite/{name}.json"))), work_id)


def arxiv_work(work_id: int) -> dict:
    """DataCite's arXiv preprint, with the arXiv id its `identifiers` give."""
    attributes = datacite.unwrap(load_json("datacite/10.48550_arxiv.2311.16162.json"))
    record = datacite.parse(attributes)
    [arxiv] = [i["identifier"] for i in attributes["identifiers"] if i["identifierType"] == "arXiv"]
    if not record.other_ids:
        record = replace(record, other_ids=(("arxiv", arxiv),))
    return stored(record, work_id)


def repec_work(work_id: int) -> dict:
    """The first paper of a recorded ReDIF file (Windows-1252, as RePEc archives often are), in
    its series (the name and provider of epo_eposeri.rdf): a working paper, a report."""
    text = fixture_path("redif/epo_papers_2016.rdf").read_bytes().decode("cp1252")
    fields = dict(
        line.split(": ", 1) for line in text.split("\r\n\r\n")[0].splitlines() if ": " in line
    )
    record = Record(
        source="repec",
        repec_handle=fields["Handle"],
        type="report",
        title=fields["Title"],
        authors=(Author(name=fields["Author-Name"]),),
        issued=fields["Creation-Date"],
        abstract=fields["Abstract"],
        url=fields["File-URL"],
        series_title="CEPR Reports and Issue Briefs",  # a working paper's series (redif)
        publisher="Center for Economic and Policy Research (CEPR)",
        report_number=fields["Handle"].rsplit(":", 1)[1],
        jel_codes=tuple(fields["Classification-JEL"].split(", ")),
        files=(FileLink(fields["File-URL"], fields["File-Format"]),),
    )
    return stored(record, work_id)


def works_for_round_trip() -> list[dict]:
    without_identifiers = crossref_work("10.7554_elife.01567", 14)
    without_identifiers.update(doi=None, url=None, identifiers=[])
    return [
        crossref_work("10.1136_jclinpath-2020-206745", 1),  # 9-paragraph abstract, ORCID
        crossref_work("10.1371_journal.ppat.1008184", 2),  # pages e1008184
        crossref_work("10.1371_journal.pone.0033693", 3),  # has updates (a correction)
        crossref_work("10.1007_978-3-662-46370-3_13", 4),  # book chapter
        crossref_work("10.1145_3448016.3452841", 5),  # proceedings, subtitle, "&" in affiliations
        crossref_work("10.1017_9781108348843", 6),  # monograph
        crossref_work("10.5694_j.1326-5377.1943.tb44329.x", 7),  # 1943, ISSN 0025-729X
        crossref_work("10.1101_2020.12.01.406702", 8),  # posted content (preprint)
        crossref_work("10.14264_uql.2020.791", 9),  # dissertation
        datacite_work("10.14457_kmitl.res.2006.17", 10),  # Thai, year 2549, unsplit name
        datacite_work("10.26102_2310-6018_2019.24.1.006", 11),  # Russian, type text
        datacite_work("10.25318_3410014001-fra", 12),  # organisation with affiliation, French
        datacite_work("10.7910_dvn_eqtqyo", 13),  # organisation name with , and ;
        without_identifiers,
        datacite_work("10.17182_hepdata.77274.v1", 15),  # LaTeX in title, 1000 authors
        datacite_work("10.4230_lipics.tqc.2013.93", 16),  # a keyword with ; in it
        datacite_work("10.5281_zenodo.48440", 17),  # software, 15-paragraph abstract
        repec_work(18),
        arxiv_work(19),
    ]


WORKS = works_for_round_trip()
KEYS = citation_keys(WORKS)
THAI, RUSSIAN, CANADA, DATAVERSE = WORKS[9:13]
NO_IDENTIFIERS, HEPDATA, LIPICS, REPEC = WORKS[13], WORKS[14], WORKS[15], WORKS[17]

# --- what each format carries -------------------------------------------------------------------

#: Fields each format gives back. CSL-JSON and CSV carry every column but relations, updates and
#: citation_counts (each source's own count: a file's copy of it is nobody's count, so the readers
#: take none; cited_by_count is the file's).
CARRIED = {
    "bibtex": {
        "doi", "repec_handle", "type", "title", "subtitle", "container_title", "issn", "volume",
        "issue", "pages", "year", "published", "publisher", "abstract", "language", "url",
        "subjects", "container_short_title", "contributors", "isbn", "series_title",
        "series_number", "report_number", "event_name", "event_place", "event_date",
        "publisher_place", "degree", "other_ids",
    },
    "ris": {
        "doi", "repec_handle", "type", "title", "container_title", "issn", "volume", "issue",
        "pages", "year", "published", "publisher", "abstract", "language", "url", "subjects",
        "container_short_title", "contributors", "isbn", "series_title", "report_number",
        "event_name", "event_place", "publisher_place", "degree", "files",
    },
    "csl-json": set(WORK_FIELDS) - {"relations", "updates", "citation_counts"},
    # CSV reads back what a person edits in a spreadsheet; the sources' detail is for reading.
    "csv": set(WORK_FIELDS) - {
        "relations", "updates", "citation_counts", "titles", "abstracts", "funders",
        "reference_list",
    },
}  # fmt: skip
#: Contributor roles BibTeX (biblatex) and RIS have a name list for; they carry names only.
NAMED_ROLES = ("editor", "translator")
#: BibTeX's one eprint holds, in this order, a RePEc handle, an arXiv id or a PubMed id.
BIBTEX_EPRINTS = ("repec_handle", "arxiv", "pmid")

#: Types a format has no name for come back as the nearest it has, or as no type.
TYPE_AFTER_ROUND_TRIP = {
    "bibtex": {"monograph": "book", "text": None, "collection": None},
    "ris": {"monograph": "book", "text": None, "collection": None},
    "csl-json": {"monograph": "book", "text": None},
    "csv": {},
}


def expected_values(work: dict, fmt: str) -> dict:
    values = {name: work[name] for name in CARRIED[fmt] if work.get(name) is not None}
    if "type" in values:
        values["type"] = TYPE_AFTER_ROUND_TRIP[fmt].get(values["type"], values["type"])
    if fmt == "ris" and "abstract" in values:
        values["abstract"] = values["abstract"].replace("\n\n", " ")  # RIS: a value is one line
    if fmt in ("bibtex", "ris"):
        # Names only, of the roles the format has a list for; ISBNs without print/electronic.
        people = [
            r for r in json.loads(values.pop("contributors", "[]")) if r["role"] in NAMED_ROLES
        ]
        keep = ("role", "given", "family", "name")
        values["contributors"] = to_json([{k: r[k] for k in keep if r.get(k)} for r in people])
        rows = json.loads(values.get("isbn", "[]"))
        if fmt == "bibtex":  # one ISBN, the print one, else the first (biber refuses a list)
            rows = [*[r for r in rows if r.get("kind") == "print"], *rows][:1]
        values["isbn"] = to_json([{"isbn": r["isbn"]} for r in rows])
    if fmt == "bibtex":
        bibtex_expected(work, values)
        if work.get("type") not in ("report", "report-component"):
            values.pop("report_number", None)  # only a @techreport's number is its own
        if work.get("type") != "dissertation":
            values.pop("degree", None)  # only a thesis's type is a degree
    if fmt == "csv":
        # Flat cells: contributors as names with their roles, file links as URLs.
        people = json.loads(values.pop("contributors", "[]"))
        keep = ("role", "given", "family", "name")
        values["contributors"] = to_json([{k: r[k] for k in keep if r.get(k)} for r in people])
        values["files"] = to_json(
            [{"url": r["url"]} for r in json.loads(values.get("files", "[]"))]
        )
    if fmt == "ris":
        values["files"] = to_json(
            [{"url": r["url"]} for r in json.loads(values.get("files", "[]"))]
        )
        ris_expected(work, values)
    return {name: value for name, value in values.items() if value is not None}


def bibtex_expected(work: dict, values: dict) -> None:
    """What BibTeX gives back: the fields biblatex's data model has for the entry type (biber
    checks that table: test_exports), one ISSN, one eprint."""
    entry_type = bibtex_module._entry_type(work)
    if entry_type == "misc":  # a work without what its type requires: @misc says no type
        values.pop("type", None)
    allowed = bibtex_module.BIBLATEX_FIELDS[entry_type] | bibtex_module.ANY_TYPE_FIELDS
    report = entry_type == "techreport"
    field_of = {
        "publisher": {"techreport": "institution", "phdthesis": "school"}.get(
            entry_type, "publisher"
        ),
        "publisher_place": "address",
        "issn": "issn",
        "isbn": "isbn",
        "volume": "volume",
        "pages": "pages",
        "issue": "number",
        "series_number": "number",
        "report_number": "number",
        "event_name": "eventtitle",
        "event_place": "venue",
        "event_date": "eventdate",
        "series_title": "type" if report else "series",
        "container_title": "booktitle" if entry_type in bibtex_module.IN_BOOK else "journal",
    }
    for column, field in field_of.items():
        if field not in allowed:
            values.pop(column, None)
    if "issn" in values:
        values["issn"] = to_json(json.loads(values["issn"])[:1])
    ids = {**json.loads(values.pop("other_ids", "{}")), "repec_handle": values.get("repec_handle")}
    eprint = next((name for name in BIBTEX_EPRINTS if ids.get(name)), None)
    values["other_ids"] = to_json({eprint: ids[eprint]} if eprint in ("arxiv", "pmid") else {})


def ris_expected(work: dict, values: dict) -> None:
    """What RIS gives back: each value under the tag Zotero's RIS import reads it from for the
    type (test_exports checks the tags against Zotero's mapping), so what Zotero has no field
    for in that type is not written."""
    zotero = ris_module.ZOTERO_TYPES[ris_module.WRITE_TYPES.get(work.get("type") or "", "GEN")]
    dropped = {
        "journalArticle": ("publisher", "publisher_place", "isbn"),
        "conferencePaper": ("publisher_place", "issn", "container_short_title"),
        "bookSection": ("issue", "issn", "container_short_title"),
        "book": ("pages", "issn", "container_title", "container_short_title"),
        "report": ("issn", "isbn", "container_title", "container_short_title"),
        "thesis": ("pages", "issn", "container_title", "container_short_title"),
        "dataset": ("issue", "issn", "container_title", "container_short_title"),
        "manuscript": ("pages", "issn", "container_title", "container_short_title", "publisher"),
        "computerProgram": ("issn", "container_title", "container_short_title"),
    }[zotero]
    for column in dropped:
        values.pop(column, None)
    for column, types in (
        ("report_number", ("report",)),
        ("degree", ("thesis",)),
        ("event_name", ("conferencePaper",) if work.get("container_title") else ()),
        ("event_place", ("conferencePaper",)),
    ):
        if zotero not in types:
            values.pop(column, None)
    editors = ("journalArticle", "bookSection", "conferencePaper", "book")
    people = json.loads(values.get("contributors") or "[]")
    values["contributors"] = to_json(
        [
            person
            for person in people
            if (person["role"] == "editor" and zotero in editors)
            or (person["role"] == "translator" and zotero not in ("conferencePaper", "dataset"))
        ]
    )


def expected_authors(work: dict, fmt: str) -> list[tuple]:
    """CSL-JSON keeps ORCIDs and affiliations; the other formats carry names only."""
    if fmt == "csl-json":
        return [tuple(row.values()) for row in work["authors"]]
    return [(row["given"], row["family"], row["name"]) for row in work["authors"]]


def as_rows(record: LocalRecord, fmt: str) -> list[tuple]:
    rows = [author_row(author) for author in record.authors]
    if fmt == "csl-json":
        return [tuple(row.values()) for row in rows]
    return [(row["given"], row["family"], row["name"]) for row in rows]


def written(works: list[dict], fmt: str) -> str:
    stream = io.StringIO()
    write_works(works, fmt, stream)
    return stream.getvalue()


@pytest.fixture(scope="module", params=FORMATS)
def round_trip(request) -> tuple[str, str, list[LocalRecord]]:
    fmt = request.param
    text = written(WORKS, fmt)
    return fmt, text, read_records(text, fmt, f"works.{fmt}")


# --- round trip ---------------------------------------------------------------------------------


def test_round_trip_gives_back_every_value_the_format_carries(round_trip) -> None:
    fmt, _, records = round_trip
    assert len(records) == len(WORKS)
    for work, record in zip(WORKS, records, strict=True):
        assert record.values == expected_values(work, fmt), work["id"]
        assert set(record.values) <= set(WORK_FIELDS)
        assert "" not in record.values.values()


def test_round_trip_gives_back_the_authors(round_trip) -> None:
    fmt, _, records = round_trip
    for work, record in zip(WORKS, records, strict=True):
        if fmt == "ris" and work is DATAVERSE:
            continue  # RIS has no mark for organisations: see test_ris_organisation_with_a_comma
        assert as_rows(record, fmt) == expected_authors(work, fmt), work["id"]
    assert len(records[WORKS.index(HEPDATA)].authors) == 1000


def test_round_trip_records_are_labelled_and_located(round_trip) -> None:
    fmt, text, records = round_trip
    lines = text.splitlines()
    starts = {"bibtex": "@", "ris": "TY  - ", "csl-json": "  {"}
    for work, record in zip(WORKS, records, strict=True):
        if fmt == "csv":
            assert lines[record.line - 1].startswith(f"{work['id']},")
            assert record.label == work["title"]
        else:
            assert lines[record.line - 1].startswith(starts[fmt])
            assert record.label == KEYS[work["id"]]
    assert records[WORKS.index(NO_IDENTIFIERS)].values.keys().isdisjoint({"doi", "repec_handle"})
    assert records[WORKS.index(REPEC)].values["repec_handle"] == "RePEc:epo:papers:2016-01"


def test_output_parses_with_the_formats_own_library(round_trip) -> None:
    fmt, text, _ = round_trip
    keys = [KEYS[work["id"]] for work in WORKS]
    if fmt == "bibtex":
        library = bibtexparser.parse_string(text)
        assert not library.failed_blocks
        entries = library.entries
        assert [entry.key for entry in entries] == keys
        assert [entry.entry_type for entry in entries][:6] == [
            "article", "article", "article", "inbook", "inproceedings", "book",
        ]  # fmt: skip
    elif fmt == "ris":
        references = rispy.loads(text)
        assert [reference["id"] for reference in references] == keys
        assert [reference["type_of_reference"] for reference in references][3:6] == [
            "CHAP", "CPAPER", "BOOK",
        ]  # fmt: skip
        assert not text.startswith("1.")  # rispy's numbering lines are not RIS
    elif fmt == "csl-json":
        items = json.loads(text)
        assert [item["id"] for item in items] == keys
        assert all(item["type"] in CSL_ITEM_TYPES for item in items)
    else:
        rows = list(csv.DictReader(io.StringIO(text)))
        assert list(rows[0]) == list(WRITE_COLUMNS)
        assert [int(row["id"]) for row in rows] == [work["id"] for work in WORKS]


def test_non_latin_text_is_written_as_it_is(round_trip) -> None:
    fmt, text, _ = round_trip
    assert THAI["title"].startswith("การเพาะเลี้ยงเนื้อเยื่อปทุมมาที่เหมาะสม")
    assert RUSSIAN["title"] == "МОДЕЛЬ СИСТЕМНОЙ ДИНАМИКИ ПРОЦЕССА ОБУЧЕНИЯ"
    for text_as_given in (THAI["title"], RUSSIAN["title"], "Ганичева", "กัญจนา แซ่เตียว"):
        assert text_as_given in text, fmt  # not \u-escaped, not LaTeX-encoded


def test_bibtex_escapes_latex_specials_and_braces_organisations() -> None:
    text = written([HEPDATA, CANADA, DATAVERSE], "bibtex")
    assert r"at \$\textbackslash{}sqrt\textbraceleft{}s\textbraceright{}=7\$ TeV" in text
    assert "author = {{Statistique Canada}}" in text
    assert "author = {{Enos, Ryan (Harvard University); Fowler," in text
    assert "month" not in text  # these have a year only
    # LaTeX would take % as a comment and & $ # _ ~ ^ as commands: all are escaped.
    special = written([{"id": 1, "title": "50% & $5 #1 a_b ~x^2 {c} \\d"}], "bibtex")
    assert (
        r"title = {50\% \& \$5 \#1 a\_b \textasciitilde{}x\textasciicircum{}2 "
        r"\textbraceleft{}c\textbraceright{} \textbackslash{}d}"
    ) in special
    [elife] = read_records(written([crossref_work("10.7554_elife.01567", 1)], "bibtex"), "bibtex")
    assert elife.values["published"] == "2014-02-11"


def test_a_keyword_with_separators_comes_back_whole_from_every_format() -> None:
    """BibTeX braces such a keyword; CSL-JSON keeps the list in custom beside its keyword text;
    RIS repeats KW; CSV writes the JSON list. A foreign file's "water; ice, steam" is still
    split (test_read_bibtex_as_people_write_it, test_read_csl_json_as_people_write_it)."""
    assert json.loads(LIPICS["subjects"]) == [
        "unextendible product basis; quantum entanglement; graph factorization"
    ]
    bib = written([LIPICS], "bibtex")
    assert (
        "keywords = {{unextendible product basis; quantum entanglement; graph factorization}}"
    ) in bib
    [item] = json.loads(written([LIPICS], "csl-json"))
    assert (
        item["keyword"] == "unextendible product basis; quantum entanglement; graph factorization"
    )
    assert item["custom"]["subjects"] == json.loads(LIPICS["subjects"])
    for fmt in FORMATS:
        [record] = read_records(written([LIPICS], fmt), fmt)
        assert record.values["subjects"] == LIPICS["subjects"], fmt
    commas = {
        "id": 1,
        "title": "T",
        "subjects": to_json(["Shipping, Ports", "Trade; Tariffs", "x"]),
    }
    for fmt in FORMATS:
        [record] = read_records(written([commas], fmt), fmt)
        assert json.loads(record.values["subjects"]) == ["Shipping, Ports", "Trade; Tariffs", "x"]


def test_ris_organisation_with_a_comma_comes_back_as_a_person() -> None:
    """RIS has no mark for organisations: a name with a comma is Family, Given. Lossy, stated."""
    [record] = read_records(written([DATAVERSE], "ris"), "ris")
    assert record.authors == (
        Author(
            family="Enos",
            given="Ryan (Harvard University); Fowler, Anthony (University Of Chicago); "
            "Vavreck, Lynn (UCLA)",
        ),
    )
    [canada] = read_records(written([CANADA], "ris"), "ris")
    assert canada.authors == (Author(name="Statistique Canada"),)


def test_csv_braces_an_organisation_name_that_holds_separators() -> None:
    text = written([DATAVERSE, CANADA], "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["authors"] == (
        "{Enos, Ryan (Harvard University); Fowler, Anthony (University Of Chicago); "
        "Vavreck, Lynn (UCLA)}"
    )
    assert rows[1]["authors"] == "Statistique Canada"
    assert rows[1]["issn"] == ""


def test_a_sici_doi_comes_back_from_every_format() -> None:
    sici = "10.1002/(SICI)1097-4571(199806)49:8<693::AID-ASI4>3.0.CO;2-O"
    works = [
        {"id": 1, "doi": sici, "title": "SICI", "url": f"https://doi.org/{sici}"},
        {"id": 2, "doi": sici, "title": "Same DOI twice"},
        {"id": 3, "title": "No identifier"},
    ]
    for fmt in FORMATS:
        records = read_records(written(works, fmt), fmt)
        assert [record.values.get("doi") for record in records] == [sici, sici, None], fmt
        # CSL-JSON reads a URL as doi.org's CSL is read: a resolver link says no more than
        # the DOI, and is not taken for a landing page.
        expected = None if fmt == "csl-json" else f"https://doi.org/{sici}"
        assert records[0].values.get("url") == expected, fmt


def test_a_work_with_missing_keys_is_written() -> None:
    """Missing keys mean empty: a work may come with a few columns only, and from a generator."""
    for fmt in FORMATS:
        stream = io.StringIO()
        write_works(({"id": n, "title": f"Title {n}", "year": 2001} for n in (1, 2)), fmt, stream)
        records = read_records(stream.getvalue(), fmt)
        assert [record.values for record in records] == [
            {"title": "Title 1", "year": 2001, "published": "2001"},
            {"title": "Title 2", "year": 2001, "published": "2001"},
        ], fmt
        assert all(record.authors == () for record in records)


# --- the recorded doi.org answers ---------------------------------------------------------------


def test_read_doiorg_bibtex_field_by_field() -> None:
    text = fixture_path("csl/10.1126_science.169.3946.635.bib").read_text(encoding="utf-8")
    [record] = read_records(text, "bibtex", "science.bib")
    assert record.label == "Frank_1970"
    assert record.line == 1
    assert record.values == {
        "type": "journal-article",
        "title": "The Structure of Ordinary Water: New data and interpretations are yielding new "
        "insights into this fascinating substance.",
        "container_title": "Science",
        "volume": "169",
        "issue": "3946",
        "pages": "635-641",  # the file has an en dash, Crossref a hyphen
        "year": 1970,
        "published": "1970-08",  # month=Aug
        "publisher": "American Association for the Advancement of Science (AAAS)",
        "issn": '["1095-9203"]',
        "doi": "10.1126/science.169.3946.635",
        "url": "http://dx.doi.org/10.1126/science.169.3946.635",
    }
    assert record.authors == (Author(given="Henry S.", family="Frank"),)


@pytest.mark.parametrize(
    "name", ["10.1126_science.169.3946.635_habanero", "10.1126_science.169.3946.635_rcrossref"]
)
def test_read_doiorg_csl_json_as_the_doiorg_source_reads_it(name: str) -> None:
    text = fixture_path(f"csl/{name}.json").read_text(encoding="utf-8")
    [record] = read_records(text, "csl-json", f"{name}.json")
    source = doiorg.parse(json.loads(text))
    # A file's citation count is nobody's count: the reader keeps it as cited_by_count only.
    from_source = {
        k: v for k, v in record_values(source).items() if v is not None and k != "citation_counts"
    }
    values = dict(record.values)
    assert values["container_short_title"] == "Science"
    assert values == from_source
    assert record.authors == source.authors
    assert record.line == 1
    assert record.label == "The Structure of Ordinary Water"  # the item has no id


def test_read_habanero_csl_json_field_by_field() -> None:
    text = fixture_path("csl/10.1126_science.169.3946.635_habanero.json").read_text()
    [record] = read_records(text, "csl-json")
    values = dict(record.values)
    assert values.pop("abstract").startswith("The train of thought pursued in this article")
    references = json.loads(values.pop("reference_list"))  # Crossref's CSL carries its list
    assert references[0] == {"key": "e_1_2_1_1_1", "unstructured": references[0]["unstructured"]}
    assert references[0]["unstructured"].startswith("Waller R. Essayes of Natural Experiments")
    assert values == {
        "type": "journal-article",
        "title": "The Structure of Ordinary Water",
        "subtitle": "New data and interpretations are yielding new insights into this "
        "fascinating substance.",
        "container_title": "Science",
        "container_short_title": "Science",
        "volume": "169",
        "issue": "3946",
        "pages": "635-641",
        "year": 1970,
        "published": "1970-08-14",
        "published_print": "1970-08-14",
        "publisher": "American Association for the Advancement of Science (AAAS)",
        "issn": '["0036-8075","1095-9203"]',
        "doi": "10.1126/science.169.3946.635",
        "url": "https://www.science.org/doi/10.1126/science.169.3946.635",  # its landing page
        "language": "en",
        "reference_count": 76,
        "cited_by_count": 92,
    }
    assert record.authors == (
        Author(
            given="Henry S.",
            family="Frank",
            affiliations=(
                "University of Pittsburgh, Mellon Institute of Carnegie-Mellon University",
            ),
        ),
    )


# --- reading what people write --------------------------------------------------------------------

BIBTEX = r"""% exported by hand
@string{sci = "Science"}
@comment{jabref-meta: databaseType:bibtex;}

@Article{Müller2015,
  author   = {M{\"u}ller, J{\"o}rg and van der Berg, Anna and Jean-Paul de la Fontaine and {World Health Organization}},
  title    = {The {DNA} of {\'e}t{\'e}: 50\% \& more},
  journal  = sci,
  year     = 2015,
  month    = jun,
  pages    = {101--109},
  number   = {4},
  doi      = {https://doi.org/10.1000/ABC_1},
  issn     = {0950-0170, 1469872x},
  keywords = {water; ice, steam},
  repec    = {repec:sae:woemps:v:29:y:2015:i:4:p:624-640},
}

@book(plato,
  author = "Plato",
  title = "Republic",
  date = {2003-05-07},
  publisher = {Penguin}
)
"""


def test_read_bibtex_as_people_write_it() -> None:
    first, second = read_records(BIBTEX, "bibtex", "mine.bib")
    assert (first.line, first.label, second.line, second.label) == (
        5,
        "Müller2015",
        19,
        "plato",
    )
    assert first.values == {
        "type": "journal-article",
        "title": "The DNA of été: 50% & more",
        "container_title": "Science",
        "year": 2015,
        "published": "2015-06",
        "pages": "101-109",
        "issue": "4",
        "doi": "10.1000/ABC_1",
        "issn": '["0950-0170","1469-872X"]',
        "subjects": '["water","ice","steam"]',
        "repec_handle": "RePEc:sae:woemps:v:29:y:2015:i:4:p:624-640",
    }
    assert first.authors == (
        Author(given="Jörg", family="Müller"),
        Author(given="Anna", family="van der Berg"),
        Author(given="Jean-Paul", family="de la Fontaine"),
        Author(name="World Health Organization"),
    )
    assert second.values == {
        "type": "book",
        "title": "Republic",
        "year": 2003,
        "published": "2003-05-07",
        "publisher": "Penguin",
    }
    assert second.authors == (Author(family="Plato"),)


RIS = (
    "TY  - CONF\r\n"
    "ID  - conf1\r\n"
    "T1  - Fast filters\r\n"
    "A1  - Pandey, Prashant\r\n"
    "A1  - ACM\r\n"
    "BT  - Proceedings of SIGMOD\r\n"
    "SP  - 1386\r\n"
    "EP  - 1399\r\n"
    "PY  - 2021\r\n"
    "DA  - 2021/06/09/\r\n"
    "SN  - 978-1-4503-8343-1\r\n"
    "AN  - WOS:000123\r\n"
    "N2  - An abstract\r\n"
    "  that goes on.\r\n"
    "KW  - filters\r\n"
    "KW  - hashing, quotients\r\n"
    "UR  - https://doi.org/10.1145/3448016.3452841; https://example.org/copy\r\n"
    "ER  - \r\n"
    "\r\n"
    "TY  - JOUR\r\n"
    "TI  - A journal article\r\n"
    "JO  - J. Abbrev.\r\n"
    "JF  - Journal of Everything\r\n"
    "SN  - 0950-0170; 1469-8722\r\n"
    "Y1  - 2014/02//\r\n"
    "AN  - RePEc:sae:woemps:v:29:y:2015:i:4:p:624-640\r\n"
    "ER  - \r\n"
)


def test_read_ris_as_people_write_it() -> None:
    conference, article = read_records(RIS, "ris", "mine.ris")
    assert (conference.line, conference.label, article.line, article.label) == (
        1, "conf1", 20, "A journal article",
    )  # fmt: skip
    assert conference.values == {
        "type": "proceedings-article",
        "title": "Fast filters",
        "container_title": "Proceedings of SIGMOD",
        "pages": "1386-1399",
        "year": 2021,
        "published": "2021-06-09",
        "abstract": "An abstract that goes on.",
        "subjects": '["filters","hashing, quotients"]',  # KW is repeated, never split
        "url": "https://doi.org/10.1145/3448016.3452841",
        "isbn": '[{"isbn":"9781450383431"}]',  # SN holds the ISBN of the proceedings
    }  # the Web of Science number in AN is not ours
    assert conference.authors == (Author(given="Prashant", family="Pandey"), Author(name="ACM"))
    assert article.values == {
        "type": "journal-article",
        "title": "A journal article",
        "container_title": "Journal of Everything",
        "issn": '["0950-0170","1469-8722"]',
        "year": 2014,
        "published": "2014-02",
        "repec_handle": "RePEc:sae:woemps:v:29:y:2015:i:4:p:624-640",
    }


CSL_ITEM = """{
  "id": "item-1",
  "type": "article",
  "title": "A <i>preprint</i>",
  "author": [
    {"family": "Beethoven", "given": "Ludwig", "non-dropping-particle": "van"},
    {"literal": "CERN"}
  ],
  "issued": {"raw": "2019-03"},
  "ISSN": "1234-5679",
  "keyword": "music, physics",
  "volume": 12,
  "DOI": "doi:10.1000/xyz",
  "custom": {"repec": "RePEc:sae:woemps:v:29:y:2015:i:4:p:624-640", "cited_by_count": 3}
}
"""


def test_read_csl_json_as_people_write_it() -> None:
    [record] = read_records(CSL_ITEM, "csl-json", "one.json")
    assert (record.line, record.label) == (1, "item-1")
    assert record.values == {
        "type": "posted-content",
        "title": "A preprint",
        "year": 2019,
        "published": "2019-03",
        "issn": '["1234-5679"]',
        "subjects": '["music","physics"]',
        "volume": "12",
        "doi": "10.1000/xyz",
        "repec_handle": "RePEc:sae:woemps:v:29:y:2015:i:4:p:624-640",
        "cited_by_count": 3,
    }
    assert record.authors == (
        Author(given="Ludwig", family="van Beethoven"),
        Author(name="CERN"),
    )
    two = read_records(f'[\n{CSL_ITEM},\n\n  {{"id": 2}}\n]', "csl-json")
    assert [(r.line, r.label) for r in two] == [(2, "item-1"), (19, "2")]


CSV = (
    "DOI,Title,authors,issn,subjects,year,provenance,id\n"
    '10.1000/a,"A title, with a comma","Smith, Jane; {Acme, Inc.}; NASA; Plato,",'
    '0950-0170; 1469-8722,"a; b",2015,"{""title"": ""crossref""}",7\n'
    "\n"
    ',"A title\nover two lines",,,"[""x, y""]",,,\n'
)


def test_read_csv_as_people_write_it() -> None:
    first, second = read_records(CSV, "csv", "mine.csv")
    assert (first.line, second.line) == (2, 4)
    assert first.values == {
        "doi": "10.1000/a",
        "title": "A title, with a comma",
        "issn": '["0950-0170","1469-8722"]',
        "subjects": '["a","b"]',
        "year": 2015,
        "published": "2015",
    }
    assert first.authors == (
        Author(given="Jane", family="Smith"),
        Author(name="Acme, Inc."),
        Author(name="NASA"),
        Author(family="Plato"),
    )
    assert second.values == {"title": "A title\nover two lines", "subjects": '["x, y"]'}
    assert second.label == "A title\nover two lines"


# --- bad input: one message with file and line, nothing imported ------------------------------

BAD = [
    # (format, text, line, words of the reason)
    ("bibtex", "", None, "empty"),
    ("bibtex", "just notes, no entries\n", None, "no BibTeX entries"),
    ("bibtex", "@misc{ok, title={Fine}}\n@article{a, title={x} author={y}}\n", 2,
     "a: title: '{x} author={y}' is not a value (a comma missing?)"),
    ("bibtex", "@misc{ok, title={Fine}}\n\n@article{a,\n  title={x\n}\n", 3,
     "this @article entry cannot be read: Unexpectedly reached end of file"),
    ("bibtex", "@article{a b, title={x}}\n", 1, "the key 'a b' holds a space"),
    ("bibtex", '@misc{ok, title={Fine}}\n@article{M{\\"u}ller,\n  title={x}}\n', 2,
     "cannot be read: Expected comma after entry key, but found {"),
    ("bibtex", "@article{k, title={x}}\n@article{a,\n  month = foo}\n", 3, "'foo' is used but not defined"),
    ("bibtex", "@misc{ok, title={Fine}}\n@article{smith,\n  year={in press}}\n", 2,
     "smith: year 'in press' is not a number"),
    ("bibtex", "@article{a, doi={10.1000}}", 1, "DOI '10.1000': missing / between"),
    ("bibtex", "@article{a, repec={RePEc:sae:wo:1}}", 1, "series must be 6 characters"),
    ("bibtex", "@article{a, issn={1234}}", 1, "ISSN '1234' is not 8 digits"),
    ("bibtex", "@article{a, year={2015}, date={2014-02-01}}", 1,
     "year 2015 does not match the date 2014-02-01"),
    ("bibtex", "@article{a, date={2014-13}}", 1, "published '2014-13' is not a date"),
    ("ris", "TI  - no type\nER  - \n", 1, "TI line outside a record (no TY line before it)"),
    ("ris", "TY  - JOUR\nER  - \nTY  - JOUR\nTI  - x\n", 3, "record has no ER line at its end"),
    ("ris", "TY  - JOUR\nTI  - x\nTY  - BOOK\nER  - \n", 1, "no ER line before the next TY (line 3)"),
    ("ris", "TY  - JOUR\nER  - \nER  - \n", 3, "ER line without a TY line before it"),
    ("ris", "Some text that is not RIS\n", None, "no RIS records"),
    ("ris", "TY  - JOUR\nER  - \nTY  - JOUR\nPY  - forthcoming\nER  - \n", 3,
     "year 'forthcoming' is not a number"),
    ("ris", "TY  - JOUR\nDO  - 10.1000\nER  - \n", 1, "DOI '10.1000'"),
    ("ris", "TY  - JOUR\nAN  - RePEc:sae\nER  - \n", 1, "RePEc handle 'RePEc:sae'"),
    ("csl-json", '[{"id": "a"},\n {"id": "b",\n  "title": }]', 3, "not valid JSON: Expecting value"),
    ("csl-json", "42", 1, "an item object or a list of them, not a number"),
    ("csl-json", '[{"id": "a"},\n "b"]', 2, "item 2 is text, not a CSL-JSON item object"),
    ("csl-json", "[]", None, "no csl-json records"),
    ("csl-json", '[{"id": "a"},\n {"id": "b", "issued": {"date-parts": [["n.d."]]}}]', 2,
     "b: year 'n.d.' is not a number"),
    ("csl-json", '{"id": "a", "issued": {"literal": "Spring"}}', 1, "does not start with a year"),
    ("csl-json", '{"id": "a", "author": "Smith, J."}', 1, "author must be a list, not text"),
    ("csl-json", '{"id": "a", "volume": [1]}', 1, "a: volume must be text, not a list"),
    ("csl-json", '{"id": "a", "DOI": "11.1/x"}', 1, "must start with 10."),
    ("csv", "doi,titel\n10.1000/a,x\n", 1, "unknown column 'titel'; known columns: doi, repec_handle"),
    ("csv", "doi,DOI\n", 1, "column 'doi' appears twice"),
    ("csv", "doi,title\n10.1000/a,x\n10.1000/b,y,z\n", 3, "3 cells, but the header has 2 columns"),
    ("csv", "title,year\nx,2015a\n", 2, "year '2015a' is not a number"),
    ("csv", "doi\nhttps://example.org/paper\n", 2, "DOI 'https://example.org/paper'"),
    ("csv", "repec_handle\nRePEc:sae:woemps\n", 2, "missing item"),
    ("csv", "year,published\n2015,2014-02\n", 2, "year 2015 does not match the date 2014-02"),
    ("csv", "title,\nx,y\n", 2, "a cell under a column without a name"),
    ("csv", "title,issn\nx,[1\n", 2, "issn starts with [ but is not a JSON list"),
    ("csv", "title\n", None, "no csv records"),
]  # fmt: skip


@pytest.mark.parametrize(("fmt", "text", "line", "reason"), BAD)
def test_bad_input_names_file_line_and_reason(fmt, text, line, reason) -> None:
    with pytest.raises(BadInputFile) as caught:
        read_records(text, fmt, "refs.txt")
    error = caught.value
    assert (error.path, error.line) == ("refs.txt", line)
    assert reason in error.reason
    where = "refs.txt" if line is None else f"refs.txt:{line}"
    assert str(error) == f"{where}: {error.reason}"
    assert error.exit_code == 2


def test_a_bad_record_late_in_a_file_stops_the_whole_file() -> None:
    good = written(WORKS[:3], "ris")
    with pytest.raises(BadInputFile) as caught:
        read_records(good + "TY  - JOUR\nPY  - n.d.\nER  - \n", "ris", "refs.ris")
    assert caught.value.line == good.count("\n") + 1


def test_a_record_without_identifiers_is_kept() -> None:
    for fmt, text in [
        ("bibtex", "@misc{note, title={Just a note}}"),
        ("ris", "TY  - GEN\nTI  - Just a note\nER  - \n"),
        ("csl-json", '[{"type": "document", "title": "Just a note"}]'),
        ("csv", "title\nJust a note\n"),
    ]:
        [record] = read_records(text, fmt)
        assert record.values == {"title": "Just a note"}, fmt  # misc/GEN/document: no type


# --- which format ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("refs.bib", "bibtex"),
        ("refs.BibTeX", "bibtex"),
        ("dir.v2/refs.ris", "ris"),
        ("zotero.json", "csl-json"),
        ("refs.csljson", "csl-json"),
        ("export.CSV", "csv"),
    ],
)
def test_detect_format_by_file_name(path: str, fmt: str) -> None:
    assert detect_format(path) == fmt


def test_detect_format_explicit_wins_and_unknown_is_explained() -> None:
    assert detect_format("refs.txt", "ris") == "ris"
    assert detect_format("refs.bib", "csv") == "csv"
    with pytest.raises(BadInputFile) as caught:
        detect_format("refs.txt")
    assert str(caught.value) == (
        "refs.txt: cannot tell the format from the file name; known endings are .bib, .bibtex, "
        ".ris, .json, .csljson, .csv, or name the format with --format "
        "(bibtex, ris, csl-json, csv)"
    )
    with pytest.raises(BadInputFile, match="unknown format 'xml'"):
        detect_format("refs.xml", "xml")


# --- any text survives --------------------------------------------------------------------------

#: Tidy text as the sources store it: one space between words, NFC (BibTeX reading normalises
#: to NFC), no control characters.
tidy_text = (
    st.text(st.characters(blacklist_categories=("Cc", "Cs", "Co", "Cn", "Zl", "Zp")), max_size=40)
    .map(lambda text: " ".join(text.split()))
    .filter(lambda text: text and unicodedata.normalize("NFC", text) == text)
)
#: Text made of what LaTeX, BibTeX's name syntax and the separators of the formats treat specially.
tricky_text = (
    st.lists(
        st.sampled_from(
            [
                *"\\{}&%$#_~^'\",;:=@-",
                "'n",
                ":=",
                "--",
                " and ",
                "and",
                r"\'e",
                r"{\"u}",
                "ü",
                "ก",
                "Ж",
                " ",
            ]
        ),
        min_size=1,
        max_size=12,
    )
    .map(lambda parts: " ".join("".join(parts).split()))
    .filter(bool)
)
any_text = st.one_of(tidy_text, tricky_text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=any_text, container=any_text, publisher=any_text)
def test_any_title_survives_every_format(title: str, container: str, publisher: str) -> None:
    # A conference paper by someone: the type that has a container and a publisher in every
    # format (biblatex's @misc, which a work without an author becomes, has neither).
    work = {
        "id": 1,
        "authors": [{"family": "Butler", "given": "Sarah"}],
        "type": "proceedings-article",
        "title": title,
        "container_title": container,
        "publisher": publisher,
    }
    for fmt in FORMATS:
        [record] = read_records(written([work], fmt), fmt)
        assert record.values == {
            "type": "proceedings-article",
            "title": title,
            "container_title": container,
            "publisher": publisher,
        }, fmt


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    family=st.one_of(st.none(), any_text),
    given_name=st.one_of(st.none(), any_text),
    organisation=any_text,
)
def test_any_name_survives_bibtex_and_csl_json(family, given_name, organisation) -> None:
    work = {"id": 1, "authors": [{"family": family, "given": given_name}, {"name": organisation}]}
    expected = [Author(given=given_name, family=family)] if family or given_name else []
    expected.append(Author(name=organisation))
    for fmt in ("bibtex", "csl-json"):
        [record] = read_records(written([work], fmt), fmt)
        assert list(record.authors) == expected, fmt
