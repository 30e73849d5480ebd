"""Issue 16, OAI-PMH oai_dc field by field: contributors, the work's date against a repository's
deposit stamps, ISBN and ISSN identifiers, a DSpace series and number, on recorded answers (kept
in tests/fixtures/oaipmh, and Zenodo's in the corpus). Expected values are read from the XML by
eye and written out literally.
"""

from __future__ import annotations

import pytest
from conftest import KEPT, fixture_path
from lxml import etree

from harvester.models import Author, Isbn, Relation
from harvester.sources.oaipmh import parse_response, record_from_oai_dc, to_record

ERASMUS = "oaipmh/erasmus_ListRecords_oai_dc_from-2003-04-10.xml"
HELDA = "oaipmh/helda_ListRecords_oai_dc.xml"
MINDS = "oaipmh/minds-wisconsin_record_oai_dc_1793-65938.xml"
OAI_DC = "{http://www.openarchives.org/OAI/2.0/oai_dc/}dc"


def records(name: str) -> dict:
    """The records of a recorded answer by OAI identifier, parsed."""
    page = parse_response(fixture_path(name).read_bytes(), "http://repository.example/oai")
    return {r.identifier: to_record(r) for r in page.records}


@pytest.fixture(scope="module")
def erasmus() -> dict:
    return records(ERASMUS)


def minds():
    """The MINDS@UW record is a <record> element alone: its oai_dc:dc is parsed."""
    root = etree.fromstring((KEPT / MINDS).read_bytes())
    return record_from_oai_dc(root.find(f".//{OAI_DC}"))


# --- people ---


def test_contributors_are_the_authors_when_a_record_has_no_creator(erasmus):
    record = erasmus["hdl:1765/316"]  # three dc:contributor, no dc:creator
    assert record.title == "Managing Product Returns: The Role of Forecasting"
    assert record.authors == (
        Author(given="B.", family="Toktay"),
        Author(given="E.A.", family="van der Laan"),  # "Laan, E.A. van der"
        Author(given="M.P.", family="de Brito"),  # "Brito, M.P. de"
    )
    assert record.contributors == ()
    assert erasmus["hdl:1765/325"].authors[2] == Author(given="Martijn", family="de Jong")
    assert erasmus["hdl:1765/323"].authors[:2] == (
        Author(given="J.", family="van den Berg"),
        Author(given="W.M.", family="van den Bergh"),
    )


def test_contributors_beside_a_creator_keep_the_role_contributor():
    record = minds()
    assert record.authors == (Author(given="Yanhong", family="He"),)
    # "Nkemnji, John (Advisor)": CSL has no advisor role; the suffix is no part of the name
    assert record.contributors == (Author(given="John", family="Nkemnji", role="contributor"),)


def test_an_organisation_as_contributor_is_kept_whole():
    (record,) = records(HELDA).values()
    assert record.authors == (Author(given="Anna", family="Tall"),)
    assert record.contributors == (
        Author(name="Helsingin yliopisto, soveltavan biologian laitos", role="contributor"),
    )


# --- dates: the work's, not the deposit's ---


def test_a_date_beside_deposit_timestamps_is_the_works_date():
    # dc:date 2013-06-13T16:16:24Z twice (DSpace's accessioned/available), then 2013
    assert minds().issued == "2013"


def test_deposit_timestamps_alone_give_no_date(erasmus):
    # Erasmus's three dc:date are each the header datestamp, to the second: the deposit
    record = erasmus["hdl:1765/308"]
    assert record.title == "Kijken in het brein: Over de mogelijkheden van neuromarketing"
    assert record.issued is None
    assert all(r.issued is None for r in erasmus.values())


def test_a_plain_year_is_the_date():
    (record,) = records(HELDA).values()
    assert record.issued == "2007"


def test_zenodo_dates_are_the_publication_dates_not_the_datestamps():
    page1 = records("oaipmh/zenodo_ListRecords_oai_dc_page1.xml")
    # header datestamp 2023-10-12T14:26:07Z, dc:date 2023-10-10
    assert page1["oai:zenodo.org:8435696"].issued == "2023-10-10"
    full = records("oaipmh/zenodo_ListRecords_oai_dc_from-until_full-page.xml")
    # dc:date "2025-07-13/2025-07-16", an interval (the summit's days): its start
    assert full["oai:zenodo.org:19368744"].issued == "2025-07-13"
    # dc:date 2025-12-28 and info:eu-repo/date/embargoEnd/2026-11-01
    assert full["oai:zenodo.org:18078267"].issued == "2025-12-28"


# --- identifiers: the landing page, ISBN, ISSN ---


def test_isbns_in_dc_identifier_are_checked_and_kept_in_13_digits(erasmus):
    assert erasmus["hdl:1765/308"].isbn == (Isbn("9789058920362"),)  # 90-5892-036-4
    assert erasmus["hdl:1765/309"].isbn == (Isbn("9789058920324"),)  # 90 - 5892 - 032 - 1
    assert erasmus["hdl:1765/315"].isbn == (Isbn("9789090149806"),)  # 90-9014980-5
    assert erasmus["hdl:1765/316"].isbn == ()


def test_issns_in_dc_identifier(erasmus):
    assert erasmus["hdl:1765/317"].issn == ("1566-5283",)  # the ERIM report series
    assert erasmus["hdl:1765/317"].isbn == ()
    (helda,) = records(HELDA).values()
    assert helda.issn == ("1796-6361",)


def test_the_url_is_the_landing_page_and_no_file_is_guessed(erasmus):
    """dc:identifier names the record's landing page (a Handle); the PDF it has (dc:format
    application/pdf) has no URL in oai_dc, so files stay empty."""
    record = erasmus["hdl:1765/316"]
    assert record.url == "http://hdl.handle.net/1765/316"
    assert record.files == ()
    assert minds().url == "http://digital.library.wisc.edu/1793/65938"


# --- series ---


def test_dspace_series_statement_gives_series_and_report_number(erasmus):
    record = erasmus["hdl:1765/316"]  # dc:relation "ERS;ERS-2003-023-LIS", a Working Paper
    assert record.type == "report"
    assert (record.series_title, record.report_number, record.series_number) == (
        "ERS",
        "ERS-2003-023-LIS",
        None,
    )
    assert erasmus["hdl:1765/319"].report_number == "ERS-2003-009-F&A"
    assert record.relations == ()  # a series statement is not a link


def test_series_of_a_work_that_is_not_a_report(erasmus):
    # dc:relation "EIA;EIA-12-MKT" and ";EIA-2002-12-MKT"; dc:type Other
    record = erasmus["hdl:1765/308"]
    assert (record.series_title, record.series_number, record.report_number) == (
        "EIA",
        "EIA-12-MKT",
        None,
    )
    # "TRAIL Poceedings series;" names the series only
    article = erasmus["hdl:1765/311"]
    assert (article.series_title, article.series_number) == ("TRAIL Poceedings series", None)


def test_subjects_language_and_type_of_a_helda_book():
    (record,) = records(HELDA).values()
    assert record.type == "book"
    assert record.language == "fi"
    assert record.subjects == (
        "peruna",
        "luonnonmukainen viljely",
        "sato",
        "määrä",
        "laatu",
        "viherlannoitus",
    )
    assert record.url == "http://hdl.handle.net/1975/7634"


# --- arXivRaw ---

ARXIV = "oaipmh/arxiv_ListRecords_arXivRaw_from-2014-10-01.xml"


@pytest.fixture(scope="module")
def arxiv() -> dict:
    return records(ARXIV)


def test_arxiv_id_url_and_dates_of_versions(arxiv):
    record = arxiv["oai:arXiv.org:0704.0716"]
    assert record.other_ids == (("arxiv", "0704.0716"),)
    assert record.url == "https://arxiv.org/abs/0704.0716"
    assert record.type == "posted-content"
    assert record.publisher == "arXiv"
    assert record.title == "Limit distributions and scaling functions"
    assert record.authors == (Author(name="Christoph Richard"),)
    # v1 Thu, 5 Apr 2007 12:45:03 GMT ... v4 Fri, 14 Nov 2008 09:07:25 GMT
    assert (record.issued, record.revised) == ("2007-04-05", "2008-11-14")
    assert record.license == "http://arxiv.org/licenses/nonexclusive-distrib/1.0/"
    assert record.subjects == ("math-ph", "math.MP")
    assert record.publication_status == (
        "Polygons, polyominoes and polycubes, 247-299, Lecture Notes in Phys., 775, Springer, "
        "Dordrecht, 2009"
    )
    assert record.doi is None
    assert record.abstract.startswith(
        "We discuss the asymptotic behaviour of models of lattice polygons, mainly on the square "
        "lattice."
    )


def test_arxiv_one_version_has_no_revision_and_its_dois_are_the_published_versions(arxiv):
    record = arxiv["oai:arXiv.org:0704.0471"]
    assert (record.issued, record.revised) == ("2007-04-03", None)
    assert record.authors == (
        Author(name="D.V. Shetty"),
        Author(name="S.J. Yennello"),
        Author(name="G.A. Souliotis"),
    )
    # <doi> names the journal article and its erratum: links, not the preprint's own DOI
    assert record.doi is None
    assert record.relations == (
        Relation("is-preprint-of", "doi", "10.1103/PhysRevC.76.024606"),
        Relation("is-preprint-of", "doi", "10.1103/PhysRevC.76.039902"),
    )
    assert record.publication_status == "Phys.Rev.C76:024606,2007; Erratum-ibid.C76:039902,2007"
    assert '"stiff"' not in record.abstract and 'extremely " stiff "' in record.abstract


def test_arxiv_authors_joined_by_and(arxiv):
    record = arxiv["oai:arXiv.org:0704.1109"]  # "Valeria M. Rosa and Patricio S. letelier"
    assert record.authors == (Author(name="Valeria M. Rosa"), Author(name="Patricio S. letelier"))
    assert (record.issued, record.revised) == ("2007-04-09", "2008-01-29")
