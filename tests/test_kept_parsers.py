"""Every parser on the real responses this repository keeps (tests/fixtures; their sources are in
tests/fixtures/PROVENANCE.tsv), so the parsers are tested with or without the recorded corpus in
../shared. Expected values are read from the raw fixture beside the parse, or written out where
the file shows them plainly; a field the parser got wrong fails here."""

from __future__ import annotations

import json
import re

import pytest
from conftest import KEPT
from lxml import etree

from harvester.models import Relation
from harvester.sources import crossref, datacite, doiorg, oaipmh, openalex, redif, routing

OAI_URL = "http://dspace.ubib.eur.nl/oai/"

#: The one place this file calls the parsers (their names are about to become a uniform `parse`):
#: what a source answers -> what the harvester reads from it.
PARSERS = {
    "crossref": lambda data: crossref.parse(crossref.unwrap(json.loads(data), "work")),
    "datacite": lambda data: datacite.parse(datacite.unwrap(json.loads(data))),
    "openalex": lambda data: openalex.parse(json.loads(data)),
    "doi.org": lambda data: doiorg.parse(json.loads(data)),
    "doi.org/ra": lambda data, asked: routing.parse_agency(json.loads(data), asked),
    "redif": lambda data, path: redif.parse_file(data, path),
    "redif work": lambda template, series: redif.to_record(template, series),
    "oai": lambda data: oaipmh.parse_response(data, OAI_URL),
    "oai identify": lambda data: oaipmh.parse_identify(data, OAI_URL),
    "oai record": lambda record: oaipmh.to_record(record),
}


def parse(kind: str, *args):
    return PARSERS[kind](*args)


def raw(relative: str) -> bytes:
    return (KEPT / relative).read_bytes()


def orcid_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


# --- Crossref /works/{doi} ---

BLOG = "crossref/10.53731_ybhah-9jy85.json"
ESMO = "crossref/10.1136_esmoopen-2020-000776.json"


def test_crossref_blog_post():
    message = json.loads(raw(BLOG))["message"]
    record = parse("crossref", raw(BLOG))
    assert record.source == "crossref"
    assert record.doi == message["DOI"] == "10.53731/ybhah-9jy85"
    assert record.type == message["type"] == "posted-content"
    assert record.title == message["title"][0] == "The rise of the (science) newsletter"
    # no container-title: the blog's name is group-title, its ISSN in relation is-part-of
    assert message["container-title"] == [] and message["group-title"] == "Front Matter"
    assert record.container_title == "Front Matter"
    assert record.issn == ("2749-9952",)
    assert message["issued"]["date-parts"] == [[2023, 10, 4]] and record.issued == "2023-10-04"
    assert record.publisher == message["publisher"] == "Front Matter"
    [author] = record.authors
    [given] = message["author"]
    assert (
        (author.given, author.family) == (given["given"], given["family"]) == ("Martin", "Fenner")
    )
    assert author.orcid == orcid_of(given["ORCID"]) == "0000-0003-1419-2405"
    # the JATS abstract as text: the words of the markup, no tags
    assert record.abstract.split() == re.sub(r"<[^>]+>", " ", message["abstract"]).split()
    assert "<" not in record.abstract
    assert record.license == "https://creativecommons.org/licenses/by/4.0/legalcode"
    assert record.reference_count == message["references-count"] == 3
    # the landing page, not message["URL"] (https://doi.org/10.53731/ybhah-9jy85)
    assert record.url == message["resource"]["primary"]["URL"]
    assert record.url == "https://blog.front-matter.de/posts/the-rise-of-the-science-newsletter/"
    # is-version-of is asserted twice (by subject and object): one relation
    assert len(message["relation"]["is-version-of"]) == 2
    assert record.relations == (
        Relation("is-part-of", "issn", "2749-9952"),
        Relation("is-version-of", "doi", "10.53731/q5ges-cp507"),
    )


def test_crossref_journal_article():
    message = json.loads(raw(ESMO))["message"]
    record = parse("crossref", raw(ESMO))
    assert record.doi == message["DOI"] == "10.1136/esmoopen-2020-000776"
    assert record.type == "journal-article"
    assert record.title == message["title"][0]
    assert record.title.startswith("Phase II study of lenvatinib for metastatic colorectal cancer")
    assert record.container_title == message["container-title"][0] == "ESMO Open"
    assert record.issn == tuple(message["ISSN"]) == ("2059-7029",)
    assert (record.volume, record.issue) == (message["volume"], message["issue"]) == ("5", "4")
    assert record.pages == message["page"] == "e000776"
    assert record.issued == record.published_print == "2020"  # date-parts [[2020]]
    assert record.publisher == message["publisher"] == "Elsevier BV"
    assert len(record.authors) == len(message["author"]) == 13
    assert [(a.given, a.family) for a in record.authors] == [
        (a["given"], a["family"]) for a in message["author"]
    ]
    assert [a.orcid for a in record.authors] == [
        orcid_of(a["ORCID"]) if "ORCID" in a else None for a in message["author"]
    ]
    # two licences: Elsevier's TDM licence and the version of record's CC BY-NC; the latter counts
    assert [entry["content-version"] for entry in message["license"]] == ["tdm", "vor"]
    assert record.license == message["license"][1]["URL"]
    assert record.language == "en"
    assert record.reference_count == message["references-count"] == 28
    assert record.cited_by_count == message["is-referenced-by-count"] == 5


# --- DataCite /dois/{doi} ---

FIGSHARE = "datacite/10.6084_m9.figshare.1449060.json"


def test_datacite_dataset():
    attributes = json.loads(raw(FIGSHARE))["data"]["attributes"]
    record = parse("datacite", raw(FIGSHARE))
    assert record.source == "datacite"
    assert record.doi == attributes["doi"] == "10.6084/m9.figshare.1449060"
    assert attributes["types"]["resourceTypeGeneral"] == "Dataset" and record.type == "dataset"
    assert record.title == attributes["titles"][0]["title"]
    assert record.title == (
        "Drosophila melanogaster wing images from low and high altitude populations in Ethiopia "
        "and Zambia."
    )
    assert record.publisher == attributes["publisher"] == "figshare"
    assert record.issued == str(attributes["publicationYear"]) == "2020"
    assert [(a.given, a.family) for a in record.authors] == [
        (c["givenName"], c["familyName"]) for c in attributes["creators"]
    ]
    assert [a.family for a in record.authors] == ["Dworkin", "Pool", "Pitchers", "Pesevski"]
    assert record.authors[0].orcid == "0000-0002-2874-287X"
    assert [a.orcid for a in record.authors[1:]] == [None, None, None]
    assert record.license == attributes["rightsList"][0]["rightsUri"]
    assert record.url == attributes["url"]
    # the HTML of the description (<i>, <br>) is gone, its words are kept
    description = attributes["descriptions"][0]["description"]
    assert "<i>" in description and "<" not in record.abstract
    assert record.abstract.split() == re.sub(r"<[^>]+>", " ", description).split()
    # "FOS: Biological sciences" is given twice (two schemes): kept once
    given = [s["subject"] for s in attributes["subjects"]]
    assert given.count("FOS: Biological sciences") == 2
    assert record.subjects == tuple(dict.fromkeys(given))
    assert record.reference_count == attributes["referenceCount"] == 1
    assert record.cited_by_count == attributes["citationCount"] == 1


# --- OpenAlex /works/doi:{doi} ---

OA_BLOG = "openalex/10.53731_ybhah-9jy85.json"
OA_FIGURE = "openalex/10.1371_journal.pmed.0030277.g001.json"


def inverted(index: dict[str, list[int]]) -> list[str]:
    """The words of an abstract_inverted_index in their order."""
    positions = {p: word for word, ps in index.items() for p in ps}
    return [positions[p] for p in sorted(positions)]


def test_openalex_blog_post():
    work = json.loads(raw(OA_BLOG))
    record = parse("openalex", raw(OA_BLOG))
    assert record.source == "openalex"
    assert (
        work["doi"] == "https://doi.org/10.53731/ybhah-9jy85"
        and record.doi == "10.53731/ybhah-9jy85"
    )
    assert record.openalex_id == work["id"] == "https://openalex.org/W4387341806"
    assert record.title == work["title"] == "The rise of the (science) newsletter"
    assert record.issued == work["publication_date"] == "2023-10-04"
    [author] = record.authors
    [authorship] = work["authorships"]
    assert author.name == authorship["author"]["display_name"] == "Martin Fenner"
    assert author.orcid == orcid_of(authorship["author"]["orcid"]) == "0000-0003-1419-2405"
    assert author.affiliations == tuple(authorship["raw_affiliation_strings"]) == ("Front Matter",)
    assert (record.oa_status, record.oa_url) == (
        work["open_access"]["oa_status"],
        work["open_access"]["oa_url"],
    )
    assert record.oa_status == "gold"
    assert record.abstract.split() == inverted(work["abstract_inverted_index"])
    assert record.abstract.startswith("Newsletters have been around forever")
    assert record.reference_count == work["referenced_works_count"] == 3
    assert record.cited_by_count == work["cited_by_count"] == 0
    assert record.language == work["language"] == "en"
    assert record.subjects == tuple(t["display_name"] for t in work["topics"])


def test_openalex_figure_at_a_repository():
    work = json.loads(raw(OA_FIGURE))
    record = parse("openalex", raw(OA_FIGURE))
    assert record.doi == "10.1371/journal.pmed.0030277.g001"
    assert record.title == work["display_name"] == "Stimulation of IL-32 by Mycobacteria"
    assert record.type == work["type"] == "other"
    source = work["primary_location"]["source"]
    assert record.container_title == source["display_name"] == "Figshare"
    assert record.publisher == source["host_organization_name"] == "Figshare (United Kingdom)"
    # twelve authorships, none with an OpenAlex author id or ORCID: names as displayed, in order
    assert [a.name for a in record.authors] == [
        a["author"]["display_name"] for a in work["authorships"]
    ]
    assert len(record.authors) == 12 and record.authors[0].name == "Mihai G Netea (15649)"
    assert all(a.orcid is None for a in record.authors)
    assert record.oa_status == work["open_access"]["oa_status"] == "green"
    assert record.url == work["primary_location"]["landing_page_url"]
    assert record.license == work["primary_location"]["license"] == "cc-by"
    # the index holds figshare's caption as escaped HTML ("&lt;div&gt;&lt;p&gt;(A)"): text now
    assert inverted(work["abstract_inverted_index"])[0] == "&lt;div&gt;&lt;p&gt;(A)"
    assert record.abstract.startswith("(A) Whole blood was diluted 1:4 with RPMI")
    assert record.abstract.endswith("Data are presented as means ± SEM (n = 8).")
    assert "&lt;" not in record.abstract and "<" not in record.abstract
    assert record.issued == work["publication_date"] == "2015-12-02"


# --- doi.org content negotiation (CSL-JSON) and /ra ---

CSL = "csl/10.4067_s0718-48082015000300006_handlr.json"


def test_csl_journal_article():
    item = json.loads(raw(CSL))
    record = parse("doi.org", raw(CSL))
    assert record.source == "doi.org"
    assert record.doi == item["DOI"] == "10.4067/s0718-48082015000300006"
    assert item["type"] == "article-journal" and record.type == "journal-article"
    assert record.title == item["title"]
    assert record.title.startswith("Procesamiento semántico de palabras epistémicas")
    assert record.container_title == item["container-title"] == "Terapia psicológica"
    assert record.issn == tuple(item["ISSN"]) == ("0718-4808",)
    assert (record.volume, record.issue, record.pages) == ("33", "3", "221-238")
    assert (item["volume"], item["issue"], item["page"]) == ("33", "3", "221-238")
    assert record.issued == record.published_online == "2015-12"  # date-parts [[2015, 12]]
    assert [(a.given, a.family) for a in record.authors] == [
        (a["given"], a["family"]) for a in item["author"]
    ]
    assert record.authors[2].given == "Ramón D"
    assert record.publisher == item["publisher"]
    assert record.language == "en"
    # URL is only the doi.org link (http://dx.doi.org/10.4067/...) and this 2018 answer has no
    # resource.primary.URL: no landing page is known, and the DOI gives the link
    assert item["URL"] == "http://dx.doi.org/10.4067/s0718-48082015000300006"
    assert record.url is None


@pytest.mark.parametrize(
    ("name", "prefix", "agency"),
    [
        ("doiorg-ra_10.53731.json", "10.53731", "crossref"),
        ("doiorg-ra_10.6084.json", "10.6084", "datacite"),
    ],
)
def test_ra_answer_names_the_agency(name, prefix, agency):
    [entry] = json.loads(raw(f"csl/{name}"))
    assert entry["DOI"] == prefix
    assert parse("doi.org/ra", raw(f"csl/{name}"), prefix) == entry["RA"].lower() == agency


# --- ReDIF: an archive, its series and two papers ---


def redif_file(name: str) -> redif.RedifFile:
    return parse("redif", raw(f"redif/{name}"), name)


def test_redif_archive_and_series():
    archive = redif_file("ceu_ceuarch.rdf")
    assert archive.errors == ()
    [template] = archive.templates
    assert (template.type, template.handle) == ("archive", "RePEc:ceu")
    assert template.get("url") == "https://ceu-economics-and-business.github.io/RePEc/metadata/"

    series = redif_file("ceu_ceuseri.rdf")
    assert series.errors == ()
    [template] = series.templates
    assert (template.type, template.handle) == ("series", "RePEc:ceu:econwp")
    assert redif.series_names(series.templates) == {"repec:ceu:econwp": "CEU Working Papers"}
    assert "Name: CEU Working Papers\n" in raw("redif/ceu_ceuseri.rdf").decode()


@pytest.mark.parametrize("name", ["ceu_econwp_2025_1.rdf", "ceu_econwp_2025_2.rdf"])
def test_redif_paper(name):
    text = raw(f"redif/{name}").decode("utf-8")

    def field(key: str) -> list[str]:
        return re.findall(rf"^{key}: (.+)$", text, re.M)

    parsed = redif_file(name)
    assert parsed.encoding == "utf-8" and parsed.errors == ()
    [template] = parsed.templates
    series = redif.series_names(redif_file("ceu_ceuseri.rdf").templates)
    record = parse("redif work", template, series)
    assert record.source == "repec"
    assert record.repec_handle == field("Handle")[0]
    assert record.type == "report"  # a ReDIF-Paper
    assert record.title == field("Title")[0]
    assert record.doi == field("DOI")[0]
    assert record.issued == field("Creation-Date")[0] == "2025-09-30"
    # the series' name is the paper's collection (CSL collection-title), not a journal
    assert (record.container_title, record.series_title) == (None, "CEU Working Papers")
    assert record.report_number == field("Number")[0]
    assert [(a.given, a.family) for a in record.authors] == list(
        zip(field("Author-Name-First"), field("Author-Name-Last"), strict=True)
    )
    assert [f"{a.given} {a.family}" for a in record.authors] == field("Author-Name")
    assert record.authors[0].given == "Miklós"  # UTF-8 read as such
    assert record.abstract == field("Abstract")[0]
    assert record.url == field("File-URL")[0]


# --- OAI-PMH: Identify, a complete ListRecords page (oai_dc), a page with a resumptionToken ---

IDENTIFY = "oaipmh/erasmus_Identify.xml"
ERASMUS = "oaipmh/erasmus_ListRecords_oai_dc_from-2003-04-10.xml"
ARXIV = "oaipmh/arxiv_ListRecords_arXivRaw_from-2014-10-01.xml"
OAI = "{http://www.openarchives.org/OAI/2.0/}"
DC = "{http://purl.org/dc/elements/1.1/}"


def test_oai_identify():
    root = etree.fromstring(raw(IDENTIFY))

    def text(name: str) -> str:
        return root.find(f"{OAI}Identify/{OAI}{name}").text

    identify = parse("oai identify", raw(IDENTIFY))
    assert (
        identify.repository_name == text("repositoryName") == "Erasmus University : Research Online"
    )
    assert identify.base_url == text("baseURL") == OAI_URL
    assert identify.granularity == text("granularity") == "YYYY-MM-DDThh:mm:ssZ"
    assert identify.earliest_datestamp == text("earliestDatestamp")
    assert identify.deleted_record == text("deletedRecord") == "no"
    assert identify.admin_emails == (text("adminEmail"),)
    assert identify.response_date == root.find(f"{OAI}responseDate").text


def test_oai_list_records_page():
    root = etree.fromstring(raw(ERASMUS))
    records = root.findall(f".//{OAI}record")
    page = parse("oai", raw(ERASMUS))
    assert page.verb == "ListRecords"
    assert page.response_date == root.find(f"{OAI}responseDate").text == "2003-04-30T16:08:02Z"
    assert page.resumption_token is None  # the whole list in one answer
    assert len(page.records) == len(records) == 16
    assert [r.identifier for r in page.records] == [
        r.find(f"{OAI}header/{OAI}identifier").text for r in records
    ]
    assert [r.datestamp for r in page.records] == [
        r.find(f"{OAI}header/{OAI}datestamp").text for r in records
    ]
    assert [r.sets for r in page.records] == [
        tuple(s.text for s in r.findall(f"{OAI}header/{OAI}setSpec")) for r in records
    ]
    assert {r.metadata_prefix for r in page.records} == {"oai_dc"}  # from <request>


@pytest.mark.parametrize("position", [0, 1, 4, 15])
def test_oai_dc_record(position):
    element = etree.fromstring(raw(ERASMUS)).findall(f".//{OAI}record")[position]

    def dc(name: str) -> list[str]:
        return [e.text for e in element.iter(f"{DC}{name}")]

    record = parse("oai record", parse("oai", raw(ERASMUS)).records[position])
    assert record.source == "oai"
    assert record.title == " ".join(dc("title")[0].split())
    assert record.url == next(i for i in dc("identifier") if i.startswith("http"))
    assert record.url.startswith("http://hdl.handle.net/1765/")
    # every dc:date is the repository's own timestamp (the header datestamp, to the second):
    # its deposit, not the date of the work, so no issued date
    header = element.find(f"{OAI}header/{OAI}datestamp").text
    assert set(dc("date")) == {header}
    assert record.issued is None
    assert record.language == dc("language")[0]
    assert record.subjects == tuple(dict.fromkeys(dc("subject")))
    assert record.abstract.split() == dc("description")[0].split()
    assert record.doi is None  # none of its identifiers is a DOI


def test_oai_dc_types():
    page = parse("oai", raw(ERASMUS))
    by_id = {r.identifier: parse("oai record", r) for r in page.records}
    assert by_id["hdl:1765/308"].type == "other"  # dc:type Other
    assert by_id["hdl:1765/311"].type == "journal-article"  # dc:type Article
    assert by_id["hdl:1765/316"].type == "report"  # dc:type Working Paper


def test_oai_page_with_a_resumption_token():
    root = etree.fromstring(raw(ARXIV))
    token = root.find(f".//{OAI}resumptionToken")
    page = parse("oai", raw(ARXIV))
    assert page.resumption_token == token.text == "726959|1001"
    assert page.cursor == int(token.get("cursor")) == 0
    assert page.complete_list_size == int(token.get("completeListSize")) == 58011
    assert [r.identifier for r in page.records] == [h.text for h in root.iter(f"{OAI}identifier")]
    assert page.records[0].sets == ("physics:nucl-ex", "physics:nucl-th")
    assert {r.metadata_prefix for r in page.records} == {"arXivRaw"}
    # arXivRaw is read now (it was refused by name when no parser read it)
    record = parse("oai record", page.records[0])
    assert record.other_ids == (("arxiv", "0704.0471"),)
    assert record.url == "https://arxiv.org/abs/0704.0471"


def test_oai_no_records_match():
    body = raw("oaipmh/arxiv_error_noRecordsMatch.xml")
    message = etree.fromstring(body).find(f"{OAI}error").text
    with pytest.raises(oaipmh.NoRecordsMatch) as caught:
        parse("oai", body)
    assert caught.value.code == "noRecordsMatch"
    assert message in str(caught.value)
