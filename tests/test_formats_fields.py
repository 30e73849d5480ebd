"""Field by field, the rules of issue 16 for imports and exports: LaTeX decoded by bibtexparser 2,
"and others", the new fields in and out of each format, and the real consumers (biber, pandoc).

The .bib files are other projects' own test data (tests/fixtures/bibtex, PROVENANCE.tsv); the works
written out are those of test_formats (real recorded records).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import shutil
import subprocess

import pytest
from conftest import KEPT
from test_formats import CARRIED, REPEC, WORKS, expected_values, written

from harvester.errors import BadInputFile
from harvester.formats import FORMATS, read_records
from harvester.merge import author_row
from harvester.models import Author


def kept_bib(name: str) -> str:
    return (KEPT / "bibtex" / name).read_text(encoding="utf-8")


def biblatex_examples() -> dict:
    records = read_records(kept_bib("biblatex_examples_excerpt.bib"), "bibtex", "examples.bib")
    return {record.label: record for record in records}


def by_id(work_id: int) -> dict:
    [work] = [work for work in WORKS if work["id"] == work_id]
    return work


# --- LaTeX -> Unicode (bibtexparser's LatexDecodingMiddleware) ----------------------------------


def test_latex_accents_in_biblatex_examples_become_letters() -> None:
    records = biblatex_examples()
    assert records["aksin"].authors[:4] == (
        Author(given="Özge", family="Aksın"),  # {\i} is the dotless ı of Turkish
        Author(given="Hayati", family="Türkmen"),
        Author(given="Levent", family="Artok"),
        Author(given="Bekir", family="Çetinkaya"),  # {\c{C}}
    )
    assert records["aksin"].authors[5] == Author(given="Orhan", family="Büyükgüngör")
    assert records["vazques-de-parga"].authors == (
        Author(given="Luis", family="Vázques de Parga"),
        Author(given="José María", family="Lacarra"),  # Mar{\'i}a
        Author(given="Juan", family="Uría Ríu"),
    )
    assert records["almendro"].authors[1] == Author(given="Jacinto", family="Martín")
    assert records["brandt"].values["title"] == (
        "Die nordischen Länder von der Mitte des 11. Jahrhunderts bis 1448"
    )  # 11.~Jahrhunderts: the tie is a space; the two lines are one title
    assert records["aksin"].values["container_title"] == "J. Organomet. Chem."  # @string jomch
    assert records["geer"].values["title"] == "Earl, Saint, Bishop, Skald – and Music"  # ~--


@pytest.mark.parametrize(
    ("latex", "text"),
    [
        (r"Garc{\'\i}a", "García"),  # not Garcıa
        (r"Garc\'{\i}a", "García"),
        (r"G{\"o}del", "Gödel"),
        (r"Fran\c{c}ois", "François"),
        (r"Erd\H{o}s", "Erdős"),
        (r"{\v S}koda", "Škoda"),
        (r"Bronis{\l}aw", "Bronisław"),
        (r"Encyclop{\ae}dia", "Encyclopædia"),
        (r"Stra{\ss}e", "Straße"),
    ],
)
def test_latex_escapes_become_the_right_letters(latex: str, text: str) -> None:
    [record] = read_records(f"@misc{{k, author = {{{latex}, Ana}}, title = {{{latex}}}}}", "bibtex")
    assert record.values["title"] == text
    assert record.authors == (Author(given="Ana", family=text),)


# --- "and others" -----------------------------------------------------------------------------


def test_and_others_is_no_author_and_says_the_byline_goes_on(caplog) -> None:
    """biber's own truncation test file: "Anne Elk and others" is Anne Elk, and more."""
    with caplog.at_level(logging.WARNING, logger="harvester.formats.bibtex"):
        records = read_records(kept_bib("biber_truncation.bib"), "bibtex", "truncation.bib")
    by_key = {record.label: record for record in records}
    assert by_key["us2"].authors == (Author(given="Anne", family="Elk"),)
    assert by_key["us2"].more_authors is True
    assert by_key["us1"].authors == (Author(given="Anne", family="Elk"),)
    assert by_key["us1"].more_authors is False
    assert [a.family for a in by_key["us4"].authors] == ["Uthor", "Ditor", "Writer", "Doe"]
    assert not any(record.more_authors for record in records if record.label != "us2")
    assert not any("others" in str(a) for record in records for a in record.authors)
    assert [r.getMessage() for r in caplog.records] == [
        'us2: the byline goes on ("and others"): only the 1 listed authors are read'
    ]


def test_others_as_a_family_name_is_still_written_so_that_it_is_read_back() -> None:
    """A person whose family name is "Others" must not turn into "and others" on export."""
    work = {"id": 1, "title": "T", "authors": [{"family": "Others"}, {"family": "Elk"}]}
    [record] = read_records(written([work], "bibtex"), "bibtex")
    assert record.authors == (Author(family="Others"), Author(family="Elk"))
    assert record.more_authors is False


# --- biblatex's fields read -------------------------------------------------------------------


def test_biblatex_examples_field_by_field() -> None:
    records = biblatex_examples()
    bland = records["averroes/bland"].values
    assert json.loads(bland["contributors"]) == [
        {"family": "Bland", "given": "Kalman P.", "role": "editor"},
        {"family": "Bland", "given": "Kalman P.", "role": "translator"},
    ]
    assert bland["series_title"] == "Moreshet: Studies in Jewish History, Literature and Thought"
    assert bland["series_number"] == "7"  # a book's number is its number in the series
    assert "issue" not in bland
    assert bland["publisher_place"] == "New York"  # biblatex's location
    assert records["gonzalez"].values["isbn"] == '[{"isbn":"9780816520664"}]'  # 0-816-52066-6
    salam = records["salam"].values
    assert (salam["event_place"], salam["event_date"]) == (
        "Aspenäsgarden, Lerum",
        "1968-05-19/1968-05-25",
    )
    assert salam["publisher"] == "Almquist & Wiksell"
    assert salam["container_title"] == "Elementary particle theory"
    padhye = records["padhye"].values
    assert (padhye["type"], padhye["report_number"], padhye["publisher"]) == (
        "report",
        "99-02",
        "University of Massachusetts",
    )
    assert "container_title" not in padhye  # type = {techreport} is biblatex's key, no series
    geer = records["geer"].values
    assert (geer["type"], geer["degree"], geer["publisher"]) == (
        "dissertation",
        "PhD thesis",  # biblatex's key phdthesis, as biblatex prints it
        "Uppsala Universitet",
    )
    assert records["baez/article"].values["other_ids"] == '{"arxiv":"math/0307200v3"}'
    assert records["aksin"].values["issue"] == "13"


def test_works_of_the_biblatex_examples_survive_every_format() -> None:
    """The examples imported, then exported and read back by each format: what the format
    carries comes back unchanged (series, editors, translators, events, places, ISBNs)."""
    works = []
    for number, record in enumerate(biblatex_examples().values(), start=1):
        work = {"id": number, **dict.fromkeys(CARRIED["csv"]), **record.values}
        work["authors"] = [author_row(author) for author in record.authors]
        works.append(work)
    for fmt in FORMATS:
        records = read_records(written(works, fmt), fmt)
        for work, record in zip(works, records, strict=True):
            assert record.values == expected_values(work, fmt), (fmt, work["id"])


# --- what each format writes ------------------------------------------------------------------


def bib_entry(work: dict) -> str:
    return written([work], "bibtex")


def test_a_repec_working_paper_is_a_techreport_with_its_institution() -> None:
    text = bib_entry(REPEC)
    assert text.startswith("@techreport{max2016low,")
    assert "  eprint = {RePEc:epo:papers:2016-01},\n  eprinttype = {repec},\n" in text
    assert "  institution = {Center for Economic and Policy Research (CEPR)},\n" in text
    assert "  type = {CEPR Reports and Issue Briefs},\n" in text  # the series, as IDEAS writes it
    assert "  number = {2016-01},\n" in text
    assert "journal" not in text and "publisher" not in text
    ris = written([REPEC], "ris")
    assert "TY  - RPRT\n" in ris and "SN  - 2016-01\n" in ris  # Zotero's reportNumber
    assert "PB  - Center for Economic and Policy Research (CEPR)\n" in ris
    assert (
        "L1  - http://cepr.net/images/stories/reports/low-visibility-atc-privatization-2016-02.pdf\n"
        in ris
    )
    [item] = json.loads(written([REPEC], "csl-json"))
    # The series of a working paper is CSL's collection-title (RePEc's series_title).
    assert (item["type"], item["number"], item["collection-title"]) == (
        "report",
        "2016-01",
        "CEPR Reports and Issue Briefs",
    )
    assert item["custom"]["jel_codes"] == [
        "H",
        "H1",
        "H4",
        "D",
        "D2",
        "D22",
        "D72",
        "D7",
        "L",
        "L3",
        "L33",
    ]


def test_bibtex_writes_editors_isbn_place_event_degree_and_arxiv() -> None:
    ppat, chapter, proceedings, thesis, arxiv = (by_id(n) for n in (2, 4, 5, 9, 19))
    assert "  editor = {Tran Van Nhieu, Guy},\n" in bib_entry(ppat)
    assert "  shortjournal = {PLoS Pathog},\n" in bib_entry(ppat)
    text = bib_entry(chapter)
    assert "  isbn = {9783662463697},\n" in text  # the print ISBN: biblatex has one
    assert "  address = {Berlin, Heidelberg},\n" in text
    text = bib_entry(proceedings)
    assert (
        "  eventtitle = {SIGMOD/PODS '21: International Conference on Management of Data},\n"
        in text
    )
    assert "  venue = {Virtual Event China},\n" in text
    text = bib_entry(thesis)
    assert text.startswith("@phdthesis{")
    assert (
        "  type = {PhD Thesis},\n" in text
        and "  school = {The University of Queensland},\n" in text  # not the depositing library
    )
    text = bib_entry(arxiv)
    assert "  eprint = {2311.16162},\n  eprinttype = {arxiv},\n" in text
    status = {"id": 1, "title": "T", "publication_status": "Published in Journal of X, 2015"}
    assert "  note = {Published in Journal of X, 2015}\n}" in bib_entry(status)
    [record] = read_records(bib_entry(status), "bibtex")
    assert "publication_status" not in record.values  # a foreign note is no status: not read


def test_ris_writes_editors_isbns_series_place_and_conference() -> None:
    ppat, chapter, proceedings, thesis = (by_id(n) for n in (2, 4, 5, 9))
    assert "A2  - Tran Van Nhieu, Guy\n" in written([ppat], "ris")
    assert "J2  - PLoS Pathog\n" in written([ppat], "ris")
    text = written([chapter], "ris")
    assert "SN  - 9783662463697, 9783662463703\n" in text  # one SN: Zotero keeps one ISBN field
    assert "CY  - Berlin, Heidelberg\n" in text
    # Zotero reads a conference paper's T2 as the conference's name, C3 as the proceedings'.
    assert "T2  - SIGMOD/PODS '21: International Conference on Management of Data\n" in written(
        [proceedings], "ris"
    )
    assert "M3  - PhD Thesis\n" in written([thesis], "ris")
    series = {"id": 1, "type": "book", "series_title": "Lecture Notes", "title": "T"}
    assert "T2  - Lecture Notes\n" in written([series], "ris")  # a book's T2 is its series


def test_csl_json_writes_csl_variables_and_keeps_the_rest_in_custom() -> None:
    ppat, chapter, proceedings, thesis = (by_id(n) for n in (2, 4, 5, 9))
    [item] = json.loads(written([ppat], "csl-json"))
    assert item["editor"] == [{"family": "Tran Van Nhieu", "given": "Guy"}]
    assert item["container-title-short"] == "PLoS Pathog"
    assert item["custom"]["funders"] == [
        {
            "awards": ["NA 240/10-2"],
            "doi": "10.13039/501100001659",
            "name": "Deutsche Forschungsgemeinschaft",
        }
    ]
    assert "citation_counts" not in item["custom"]  # each source's own count, not the file's
    [item] = json.loads(written([chapter], "csl-json"))
    assert item["ISBN"] == "9783662463697, 9783662463703"
    assert item["custom"]["isbn"] == [
        {"isbn": "9783662463697", "kind": "print"},
        {"isbn": "9783662463703", "kind": "electronic"},
    ]
    assert item["publisher-place"] == "Berlin, Heidelberg"
    [item] = json.loads(written([proceedings], "csl-json"))
    assert (item["event-title"], item["event-place"]) == (
        "SIGMOD/PODS '21: International Conference on Management of Data",
        "Virtual Event China",
    )
    [item] = json.loads(written([thesis], "csl-json"))
    assert (item["type"], item["genre"]) == ("thesis", "PhD Thesis")


def test_csl_json_from_elsewhere_is_read_from_its_variables() -> None:
    """Without our custom, the CSL variables give the contributors, ISBNs and identifiers."""
    item = {
        "id": "x",
        "type": "chapter",
        "title": "A chapter",
        "editor": [{"family": "Lucas", "given": "D. W."}],
        "translator": [{"literal": "Anonymous"}],
        "ISBN": "0-816-52066-6",
        "PMID": "12345678",
        "collection-title": "Clarendon Aristotle",
        "collection-number": 3,
        "journalAbbreviation": "Short",
        "event": "A conference",
        "genre": "Working paper",  # not a thesis: no degree
    }
    [record] = read_records(json.dumps(item), "csl-json")
    assert record.values == {
        "type": "book-chapter",
        "title": "A chapter",
        "contributors": '[{"family":"Lucas","given":"D. W.","role":"editor"},'
        '{"name":"Anonymous","role":"translator"}]',
        "isbn": '[{"isbn":"9780816520664"}]',
        "other_ids": '{"pmid":"12345678"}',
        "series_title": "Clarendon Aristotle",
        "series_number": "3",
        "container_short_title": "Short",
        "event_name": "A conference",
    }


def test_an_isbn_with_a_wrong_check_digit_is_refused_by_bibtex_and_skipped_in_ris_sn() -> None:
    with pytest.raises(BadInputFile) as caught:
        read_records("@book{k, isbn = {0-816-52066-7}}", "bibtex", "refs.bib")
    assert str(caught.value) == (
        "refs.bib:1: k: ISBN '0-816-52066-7' is not a valid ISBN (length or check digit)"
    )
    [record] = read_records("TY  - BOOK\nSN  - 0-816-52066-7\nER  - \n", "ris")
    assert "isbn" not in record.values


def test_csv_carries_contributors_and_the_other_new_columns() -> None:
    rows = list(csv.DictReader(io.StringIO(written([by_id(2), REPEC], "csv"))))
    assert rows[0]["contributors"] == "Tran Van Nhieu, Guy (editor)"
    assert rows[1]["report_number"] == "2016-01"
    assert rows[1]["jel_codes"] == "H; H1; H4; D; D2; D22; D72; D7; L; L3; L33"
    assert rows[0]["citation_counts"] == "crossref: 32"  # written, ignored on read
    [record, repec] = read_records(written([by_id(2), REPEC], "csv"), "csv")
    assert "citation_counts" not in record.values
    assert json.loads(record.values["contributors"]) == [
        {"family": "Tran Van Nhieu", "given": "Guy", "role": "editor"}
    ]
    assert json.loads(repec.values["jel_codes"])[:3] == ["H", "H1", "H4"]


# --- real consumers ---------------------------------------------------------------------------


def run(command: list[str], tmp_path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=120, **kwargs
    )


@pytest.mark.skipif(shutil.which("biber") is None, reason="biber is not installed")
def test_biber_reads_the_bibtex_export_without_errors_or_invalid_values(tmp_path) -> None:
    (tmp_path / "works.bib").write_text(written(WORKS, "bibtex"), encoding="utf-8")
    result = run(["biber", "--tool", "works.bib"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    messages = [line for line in result.stdout.splitlines() if " - " in line]
    assert not [line for line in messages if line.startswith(("ERROR", "WARN"))]
    out = (tmp_path / "works_bibertool.bib").read_text(encoding="utf-8")
    for kept in (  # biber's data model knows these fields and keeps them
        "EDITOR = {Tran Van Nhieu, Guy}",
        "ISBN = {9783662463697}",
        "EVENTTITLE = {SIGMOD/PODS '21: International Conference on Management of Data}",
        "VENUE = {Virtual Event China}",
        "EPRINT = {2311.16162}",
        "INSTITUTION = {Center for Economic and Policy Research (CEPR)}",
    ):
        assert kept in out


@pytest.mark.skipif(shutil.which("pandoc") is None, reason="pandoc is not installed")
def test_pandoc_reads_the_csl_json_export_with_the_new_variables(tmp_path) -> None:
    (tmp_path / "works.json").write_text(written(WORKS, "csl-json"), encoding="utf-8")
    result = run(["pandoc", "-f", "csljson", "-t", "csljson", "works.json"], tmp_path)
    assert result.returncode == 0, result.stderr
    items = {item.get("DOI") or item["id"]: item for item in json.loads(result.stdout)}
    assert len(items) == len(WORKS)
    assert items["10.1371/journal.ppat.1008184"]["editor"] == [
        {"family": "Tran Van Nhieu", "given": "Guy"}
    ]
    assert items["10.1007/978-3-662-46370-3_13"]["publisher-place"] == "Berlin, Heidelberg"
    assert items["10.1145/3448016.3452841"]["event-place"] == "Virtual Event China"
    assert items["10.14264/uql.2020.791"]["genre"] == "PhD Thesis"
    assert items["max2016low"]["number"] == "2016-01"
    assert items["10.1136/jclinpath-2020-206745"]["ISSN"] == "0021-9746, 1472-4146"
