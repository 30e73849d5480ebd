"""Every export read by the program people use it with: CSL-JSON validated against the CSL
schema and rendered by pandoc's citeproc, BibTeX checked by biber against biblatex's data model,
RIS read as Zotero's RIS import reads it, CSV opened flat and safe in a spreadsheet.

The library exported is harvested end to end from the kept fixtures (Crossref, DataCite, doi.org,
OpenAlex, a RePEc archive, an OAI-PMH repository) by the `harvest` command against the local
upstream, so these tests run without the corpus; with it, the works of test_formats (every kind
the corpus holds) are checked too.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import bibtexparser
import jsonschema
import pytest
import rispy
from conftest import FIXTURES, KEPT, QUICK_RETRIES, HarvestCommand
from test_kept_e2e import BLOG, CSL_DOI, ESMO, FIGSHARE
from upstream import ReplayUpstream

from harvester.formats import FORMATS, citation_keys, write_works

#: The CSL 1.0 input schema (citation-style-language/schema, schemas/input/csl-data.json, MIT),
#: read from ../shared/readers beside the corpus: a copy of what is there may not be committed.
SCHEMA_PATH = Path(os.environ.get("HARVEST_READERS", FIXTURES.parent / "readers")) / "csl-data.json"


def csl_schema() -> dict:
    if not SCHEMA_PATH.is_file():
        pytest.skip(f"the CSL schema {SCHEMA_PATH} is absent (../shared/readers): not validated")
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> dict[str, str]:
    """A store harvested from the kept fixtures, exported once in every format: {format: text}."""
    folder = tmp_path_factory.mktemp("library")
    tree = folder / "repec" / "ceu"
    (tree / "econwp").mkdir(parents=True)
    for name, target in (
        ("ceu_ceuarch.rdf", "ceuarch.rdf"),
        ("ceu_ceuseri.rdf", "ceuseri.rdf"),
        ("ceu_econwp_2025_1.rdf", "econwp/2025_1.rdf"),
        ("ceu_econwp_2025_2.rdf", "econwp/2025_2.rdf"),
    ):
        shutil.copy(KEPT / "redif" / name, tree / target)
    with ReplayUpstream() as upstream:
        upstream.add_crossref("10.53731_ybhah-9jy85", "10.1136_esmoopen-2020-000776")
        upstream.add_datacite("10.6084_m9.figshare.1449060")
        upstream.add_openalex("10.53731_ybhah-9jy85")
        upstream.add_csl(CSL_DOI, "10.4067_s0718-48082015000300006_handlr", agency="mEDRA")
        upstream.set_agency("10.5281", "DataCite")
        upstream.add_oai({"verb": "Identify"}, "oaipmh/erasmus_Identify.xml")
        upstream.add_oai(
            {"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2003-04-10"},
            "oaipmh/erasmus_ListRecords_oai_dc_from-2003-04-10.xml",
        )
        harvest = HarvestCommand(folder, upstream.env(), QUICK_RETRIES)
        harvest.env["HARVEST_REPEC_URL"] = str(folder / "repec")
        harvest.config.write_text(
            harvest.config.read_text()
            + f'[oai]\nrate = 100.0\n\n[oai.endpoints]\nerasmus = "{upstream.url_for("oai")}"\n'
        )
        assert harvest("doi", BLOG, ESMO, FIGSHARE, CSL_DOI).returncode == 0
        assert harvest("repec", "--archive", "RePEc:ceu").returncode == 1  # a Zenodo DOI: not found
        assert harvest("oai", "erasmus", "--from", "2003-04-10").returncode == 0
        exports = {}
        for fmt in FORMATS:
            target = folder / f"works.{fmt}"
            done = harvest("export", "--format", fmt, "-o", str(target))
            assert done.returncode == 0, done.stderr
            exports[fmt] = target.read_text(encoding="utf-8")
        subset = harvest("export", "--format", "bibtex", "--since", "2999-01-01")
        exports["empty"] = subset.stdout
    return exports


def corpus_works() -> list[dict]:
    """The works of test_formats (one of each kind the corpus holds); skips without the corpus."""
    from test_formats import WORKS

    return WORKS


def corpus_export(fmt: str) -> str:
    stream = io.StringIO()
    works = corpus_works()
    write_works(works, fmt, stream, citation_keys(works))
    return stream.getvalue()


# --- citation keys ------------------------------------------------------------------------------


def test_citation_keys_are_what_people_type_unique_and_the_same_in_every_format(library):
    keys = [entry.key for entry in bibtexparser.parse_string(library["bibtex"]).entries]
    assert keys[:6] == [
        "fenner2023rise",
        "iwasa2020phase",
        "dworkin2020drosophila",
        "juillerat2015procesamiento",
        "koren2025ceos",
        "koren2025managers",
    ]
    assert all(re.fullmatch(r"[a-z][a-z0-9]*", key) for key in keys)
    assert len(set(keys)) == len(keys)
    assert [item["id"] for item in json.loads(library["csl-json"])] == keys
    assert [item["citation-key"] for item in json.loads(library["csl-json"])] == keys
    assert [reference["id"] for reference in rispy.loads(library["ris"])] == keys


def test_a_key_is_author_year_and_first_word_and_does_not_move_as_works_are_added():
    butler = {
        "id": 7,
        "title": "Alone in the back office: the isolation of those who work remotely",
        "year": 2015,
        "authors": [{"family": "Butler", "given": "Sarah"}],
    }
    twin = {**butler, "id": 9, "title": "Alone again"}
    assert citation_keys([butler]) == {7: "butler2015alone"}
    assert citation_keys([twin, butler]) == {7: "butler2015alone", 9: "butler2015alonea"}
    later = {**butler, "id": 12, "title": "Alone, at last"}
    assert citation_keys([butler, twin, later]) == {
        7: "butler2015alone",
        9: "butler2015alonea",
        12: "butler2015aloneb",
    }
    # A work's key comes from the store's keys, whatever else the export holds.
    keys = citation_keys([butler, twin, later])
    stream = io.StringIO()
    write_works([later], "bibtex", stream, keys)
    assert stream.getvalue().startswith("@misc{butler2015aloneb,")
    # Other scripts are spelled in Latin letters; a work with nothing to go on is "anon".
    russian = {"id": 1, "title": "МОДЕЛЬ СИСТЕМНОЙ ДИНАМИКИ", "year": 2019,
               "authors": [{"family": "Ганичева", "given": "А. В."}]}  # fmt: skip
    assert citation_keys([russian, {"id": 2}]) == {1: "ganicheva2019model", 2: "anon"}


# --- CSL-JSON: the CSL schema, and pandoc ---------------------------------------------------------


def csl_errors(text: str) -> list[str]:
    validator = jsonschema.Draft7Validator(csl_schema())
    return [
        f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(json.loads(text))
    ]


def test_the_csl_json_export_is_valid_against_the_csl_schema(library):
    assert csl_errors(library["csl-json"]) == []


def test_the_csl_json_export_of_every_kind_of_work_in_the_corpus_is_valid():
    assert csl_errors(corpus_export("csl-json")) == []


def test_the_schema_check_would_see_what_pandoc_refuses():
    """The check can fail: a list-valued ISSN (what pandoc refused) and an ORCID on a name."""
    bad = [{"id": "a", "type": "article-journal", "ISSN": ["0950-0170"],
            "author": [{"family": "Butler", "ORCID": "https://orcid.org/0000-0002-1825-0097"}]}]  # fmt: skip
    assert len(csl_errors(json.dumps(bad))) == 2


PAPER = """---
bibliography: works.json
---

Managers and talent [@koren2025managers], and a newsletter [@fenner2023rise; @iwasa2020phase].

# References
"""


@pytest.mark.skipif(shutil.which("pandoc") is None, reason="pandoc is not installed (make tools)")
def test_pandoc_renders_a_bibliography_from_the_export(library, tmp_path):
    (tmp_path / "works.json").write_text(library["csl-json"], encoding="utf-8")
    (tmp_path / "paper.md").write_text(PAPER, encoding="utf-8")
    done = subprocess.run(
        ["pandoc", "--citeproc", "--wrap=none", "-t", "plain", "paper.md"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0 and done.stderr == "", done.stderr
    lines = [line for line in done.stdout.splitlines() if line]
    assert lines[0] == (
        "Managers and talent (Koren and Orban 2025), and a newsletter (Fenner 2023; Iwasa et al. 2020)."
    )
    assert lines[1] == "References"
    assert lines[2].startswith("Fenner, Martin. 2023. “The Rise of the (Science) Newsletter.”")
    assert lines[3].startswith("Iwasa, Satoru, Natsuko Okita, Aya Kuchiba, ")
    assert "ESMO Open 5 (4): e000776. https://doi.org/10.1136/esmoopen-2020-000776." in lines[3]
    assert lines[4].startswith(
        "Koren, Miklós, and Krisztina Orban. 2025. “Managers, Entrepreneurs, and the Allocation"
    )
    assert "CEU Working Papers. Department of Economics, Central European University." in lines[4]
    assert len(lines) == 5


# --- BibTeX: biber and biblatex's data model -------------------------------------------------------


def biber_warnings(text: str, folder: Path) -> list[str]:
    (folder / "works.bib").write_text(text, encoding="utf-8")
    done = subprocess.run(
        ["biber", "--tool", "--validate-datamodel", "works.bib"],
        cwd=folder, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return [line for line in done.stdout.splitlines() if line.startswith(("WARN", "ERROR"))]


needs_biber = pytest.mark.skipif(
    shutil.which("biber") is None, reason="biber is not installed (make tools)"
)


@needs_biber
def test_biber_finds_nothing_wrong_with_the_bibtex_export(library, tmp_path):
    assert biber_warnings(library["bibtex"], tmp_path) == []


@needs_biber
def test_biber_finds_nothing_wrong_with_every_kind_of_work_in_the_corpus(tmp_path):
    assert biber_warnings(corpus_export("bibtex"), tmp_path) == []


@needs_biber
def test_biber_would_see_a_field_the_data_model_has_not(tmp_path):
    """The check can fail: a publisher on an @article, two ISSNs in one field, no date."""
    bad = "@article{a,\n  author = {A, B},\n  title = {T},\n  journal = {J},\n  publisher = {P},\n  issn = {0950-0170, 1469-8722}\n}\n"
    assert len(biber_warnings(bad, tmp_path)) == 3


def test_a_working_paper_is_a_techreport_with_its_institution_and_number(library):
    entries = {e.key: e for e in bibtexparser.parse_string(library["bibtex"]).entries}
    paper = entries["koren2025managers"]
    assert paper.entry_type == "techreport"
    assert paper.fields_dict["institution"].value == (
        "Department of Economics, Central European University"
    )
    assert paper.fields_dict["number"].value == r"2025\_2"  # LaTeX for 2025_2
    assert paper.fields_dict["type"].value == "CEU Working Papers"
    assert paper.fields_dict["eprint"].value == "RePEc:ceu:econwp:2025_2"
    # A record that says nothing of its date gets EDTF's "year unknown", not a made-up year.
    assert entries["oostenrailway"].fields_dict["date"].value == "XXXX"


# --- RIS: as Zotero's RIS import reads it ---------------------------------------------------------

#: Zotero's RIS import (zotero/translators RIS.js at f50d4465fc40623d76d23d0690b71008ba4186c0):
#: the item type each TY becomes (importTypeMap, with exportTypeMap reversed into it) ...
ZOTERO_ITEM_TYPES = {
    "JOUR": "journalArticle", "JFULL": "journalArticle", "GEN": "journalArticle",
    "BOOK": "book", "EDBOOK": "book", "CHAP": "bookSection", "CONF": "conferencePaper",
    "CPAPER": "conferencePaper", "DATA": "dataset", "DBASE": "dataset", "RPRT": "report",
    "STAND": "report", "THES": "thesis", "MANSCPT": "manuscript", "COMP": "computerProgram",
}  # fmt: skip
#: ... and what each tag we write is read as, by item type ("*": every other type), from its
#: fieldMap and, for ED and EP, degenerateImportFieldMap. A tag missing for a type would be
#: kept by Zotero as a note saying "Unknown field".
ZOTERO_FIELD_MAP = {
    "TI": {"*": "title"},
    "AU": {"computerProgram": "creators/programmer", "*": "creators/author"},
    "A2": {"journalArticle": "creators/editor", "bookSection": "creators/editor",
           "conferencePaper": "creators/editor", "book": "creators/seriesEditor",
           "report": "creators/seriesEditor"},
    "A3": {"book": "creators/editor", "thesis": "creators/contributor"},
    "A4": {"conferencePaper": "creators/contributor", "dataset": "creators/contributor",
           "*": "creators/translator"},
    "T2": {"bookSection": "bookTitle", "conferencePaper": "conferenceName",
           "computerProgram": "seriesTitle", "report": "seriesTitle", "book": "series",
           "journalArticle": "publicationTitle"},
    "T3": {"bookSection": "series", "conferencePaper": "series", "journalArticle": "series"},
    "C1": {"conferencePaper": "place"},
    "C3": {"conferencePaper": "proceedingsTitle"},
    "CY": {"dataset": "repositoryLocation", "*": "place"},  # not conferencePaper: C1
    "DA": {"*": "date"}, "PY": {"*": "date"}, "DO": {"*": "DOI"}, "UR": {"*": "url"},
    "AB": {"*": "abstractNote"}, "KW": {"*": "tags"}, "N1": {"*": "notes"},
    "J2": {"*": "journalAbbreviation"}, "AN": {"*": "archiveLocation"},
    "L1": {"*": "attachments/PDF"}, "ID": {"*": "__ignore"},
    "IS": {"bookSection": "numberOfVolumes", "*": "issue"},  # not dataset
    "LA": {"computerProgram": "programmingLanguage", "*": "language"},
    "M3": {"manuscript": "manuscriptType", "report": "reportType", "thesis": "thesisType"},
    "PB": {"report": "institution", "dataset": "repository", "thesis": "university",
           "computerProgram": "company", "*": "publisher"},
    "SN": {"journalArticle": "ISSN", "report": "reportNumber", "*": "ISBN"},
    "SP": {"book": "numPages", "thesis": "numPages", "manuscript": "numPages", "*": "pages"},
    "EP": {"*": "pages"},
    "VL": {"*": "volume"},
}  # fmt: skip


def zotero_items(text: str) -> list[dict[str, list[str]]]:
    """The RIS records as Zotero's import maps them: {Zotero field: [values]}; a tag Zotero has
    no field for in the type is a test failure."""
    items = []
    for record in re.split(r"^ER  - *$", text, flags=re.M)[:-1]:
        pairs = re.findall(r"^([A-Z][A-Z0-9])  - (.*)$", record, flags=re.M)
        item_type = ZOTERO_ITEM_TYPES[dict(pairs)["TY"]]
        item: dict[str, list[str]] = {"itemType": [item_type]}
        for tag, value in pairs:
            if tag == "TY":
                continue
            mapping = ZOTERO_FIELD_MAP.get(tag, {})
            field = mapping.get(item_type, mapping.get("*"))
            assert field, f"Zotero reads {tag} of a {item_type} as a note: {value!r}"
            item.setdefault(field, []).append(value)
        items.append(item)
    return items


def test_zotero_reads_every_tag_of_the_ris_export_into_a_field_of_its_type(library):
    items = {item["title"][0][:30]: item for item in zotero_items(library["ris"])}
    article = items["Phase II study of lenvatinib f"]
    assert article["itemType"] == ["journalArticle"]
    assert article["publicationTitle"] == ["ESMO Open"]
    assert article["ISSN"] == ["2059-7029"]
    assert (article["volume"], article["issue"]) == (["5"], ["4"])
    assert article["pages"] == ["e000776"]
    assert "publisher" not in article  # a journal article has no publisher field in Zotero
    paper = items["Managers, Entrepreneurs, and t"]
    assert paper["itemType"] == ["report"]
    assert paper["institution"] == ["Department of Economics, Central European University"]
    assert paper["reportNumber"] == ["2025_2"]
    assert paper["seriesTitle"] == ["CEU Working Papers"]
    assert paper["archiveLocation"] == ["RePEc:ceu:econwp:2025_2"]
    assert paper["creators/author"] == ["Koren, Miklós", "Orban, Krisztina"]
    dataset = next(item for item in items.values() if item["itemType"] == ["dataset"])
    assert dataset["title"][0].startswith("Drosophila melanogaster wing images")
    assert dataset["repository"] == ["figshare"]


def test_zotero_reads_every_tag_for_every_kind_of_work_in_the_corpus():
    items = zotero_items(corpus_export("ris"))
    assert {item["itemType"][0] for item in items} >= {
        "journalArticle", "bookSection", "conferencePaper", "book", "report", "thesis",
        "dataset", "manuscript",
    }  # fmt: skip
    by_title = {item["title"][0][:24]: item for item in items}
    chapter = by_title["Clinical Symptoms and Ph"]
    assert chapter["bookTitle"] == ["Shoulder Stiffness"]
    assert chapter["ISBN"] == ["9783662463697, 9783662463703"]
    assert chapter["place"] == ["Berlin, Heidelberg"]
    conference = by_title["Vector Quotient Filters"]
    assert conference["conferenceName"] == [
        "SIGMOD/PODS '21: International Conference on Management of Data"
    ]
    assert conference["place"] == ["Virtual Event China"]
    thesis = next(item for item in items if item["itemType"] == ["thesis"])
    assert thesis["thesisType"] == ["PhD Thesis"]
    assert thesis["university"] == ["The University of Queensland"]


def test_the_zotero_check_would_see_a_tag_zotero_keeps_as_a_note():
    with pytest.raises(AssertionError, match="Zotero reads M3 of a journalArticle as a note"):
        zotero_items("TY  - JOUR\nTI  - T\nM3  - PhD Thesis\nER  - \n")


# --- CSV: flat and safe in a spreadsheet ------------------------------------------------------------


def test_the_csv_export_is_flat_one_column_per_field_no_json_in_a_cell(library):
    rows = list(csv.DictReader(io.StringIO(library["csv"])))
    assert len(rows) == len(json.loads(library["csl-json"]))
    for row in rows:
        for column, cell in row.items():
            assert not cell.startswith(("[", '{"')), (column, cell)
    paper = next(row for row in rows if row["repec_handle"] == "RePEc:ceu:econwp:2025_2")
    assert paper["authors"] == "Koren, Miklós; Orban, Krisztina"
    iwasa = next(row for row in rows if row["doi"] == ESMO)
    assert iwasa["issn"] == "2059-7029"
    assert iwasa["citation_counts"].startswith("crossref: ")
    figshare = next(row for row in rows if row["doi"] == FIGSHARE)
    assert figshare["subjects"] == (
        "Evolutionary Biology; FOS: Biological sciences; "
        "60412 Quantitative Genetics (incl. Disease and Trait Mapping Genetics)"
    )


def test_a_cell_a_spreadsheet_would_run_is_written_as_text_and_read_back_as_it_was():
    hostile = '=HYPERLINK("http://evil.example","click")'
    works = [
        {"id": 1, "title": hostile, "publisher": "+1 cmd", "volume": "-2", "issue": "@SUM(A1)"},
        {"id": 2, "title": "'=already quoted", "pages": "'plain"},
    ]
    stream = io.StringIO()
    write_works(works, "csv", stream)
    rows = list(csv.DictReader(io.StringIO(stream.getvalue())))
    assert rows[0]["title"] == "'" + hostile
    assert (rows[0]["publisher"], rows[0]["volume"], rows[0]["issue"]) == (
        "'+1 cmd", "'-2", "'@SUM(A1)",
    )  # fmt: skip
    assert rows[1]["title"] == "''=already quoted" and rows[1]["pages"] == "'plain"
    from harvester.formats import read_records

    records = read_records(stream.getvalue(), "csv")
    assert records[0].values["title"] == hostile
    assert records[0].values["publisher"] == "+1 cmd"
    assert records[1].values["title"] == "'=already quoted"
    assert records[1].values["pages"] == "'plain"


@pytest.mark.skipif(shutil.which("pandoc") is None, reason="pandoc is not installed (make tools)")
def test_the_bibliography_in_the_readme_is_what_pandoc_renders_from_the_export(library, tmp_path):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    command = "  $ pandoc --citeproc --bibliography works.json --columns=96 -t plain paper.md\n"
    shown = readme.split(command, 1)[1].split("  ```\n", 1)[0]
    paper = readme.split("  $ cat paper.md\n", 1)[1].split("\n", 1)[0].removeprefix("  ")
    (tmp_path / "works.json").write_text(library["csl-json"], encoding="utf-8")
    (tmp_path / "paper.md").write_text(paper + "\n", encoding="utf-8")
    done = subprocess.run(
        command.removeprefix("  $ ").split(), cwd=tmp_path, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [line.removeprefix("  ") for line in shown.splitlines()] == done.stdout.splitlines()
