"""ReDIF templates -> Record, field by field (issue 16), on real templates: the kept ones in
tests/fixtures/redif (CGD, CEU and Tennessee working papers; their sources are in
PROVENANCE.tsv) and the shared corpus. Expected values are read from the files by eye and written
out literally. Shapes no real file showed (a DOI in Publication-Status, "Lastname, Firstname")
are tested on the smallest template that has them, with the spec's own examples.
"""

from __future__ import annotations

import pytest
from conftest import fixture_path

from harvester.models import Author, FileLink, Relation
from harvester.sources import redif
from harvester.sources.redif import (
    PARSER_VERSION,
    RedifFile,
    Template,
    parse_file,
    record_from_payload,
    series_names,
    series_providers,
    split_name,
    template_payload,
    to_record,
)


def redif_file(name: str) -> RedifFile:
    return parse_file(fixture_path(f"redif/{name}").read_bytes(), name)


def only(name: str) -> Template:
    parsed = redif_file(name)
    assert parsed.errors == ()
    [template] = parsed.templates
    return template


def one(text: str) -> Template:
    [item] = redif.iter_templates(text.splitlines(keepends=True), "test.rdf")
    assert isinstance(item, Template), item
    return item


def cgd_series() -> tuple[dict[str, str], dict[str, str]]:
    templates = redif_file("cgd_cgdseri.rdf").templates
    return series_names(templates), series_providers(templates)


PAPER = "Template-Type: ReDIF-Paper 1.0\nHandle: RePEc:abc:wpaper:1\nTitle: T\n"


def test_parser_version_is_bumped_for_the_new_fields():
    assert PARSER_VERSION == 2


# --- authors ---


def test_middle_names_are_part_of_the_given_name_and_author_person_is_the_repec_id():
    record = to_record(only("cgd_wpaper_wp700.rdf"), *cgd_series())
    # "Author-X-Name-First: Victoria" + "Author-X-Name-Middle: Y." + "Author-X-Name-Last: Fan"
    assert record.authors == (
        Author(
            given="Victoria Y.",
            family="Fan",
            affiliations=("Center for Global Development",),
            repec_id="pfa325",
        ),
        Author(given="Brian S.", family="Webster", affiliations=("Center for Global Development",)),
        Author(
            given="Venkatesh",
            family="Subramanian",
            affiliations=("The University of Texas at Dallas",),
        ),
        Author(given="Karen A.", family="Grépin", affiliations=("Hong Kong University",)),
        Author(given="David A.", family="Watkins", affiliations=("University of Washington",)),
        Author(given="Joseph L.", family="Dieleman", affiliations=("University of Washington",)),
    )


def test_a_middle_name_already_in_the_first_name_is_not_written_twice():
    t = one(
        PAPER + "Author-Name: Christian A. Vossler\nAuthor-Name-First: Christian A.\n"
        "Author-Name-Middle: A.\nAuthor-Name-Last: Vossler\n"
    )
    assert to_record(t).authors == (Author(given="Christian A.", family="Vossler"),)


def test_split_names_and_e_mail_addresses_are_not_kept():
    template = only("cgd_wpaper_wp117.rdf")
    assert [c.get("email") for c in template.clusters_of("author")] == [
        "mkremer@fas.harvard.edu",
        None,
    ]
    record = to_record(template)
    assert record.authors == (
        Author(given="Michael", family="Kremer"),  # "Author-X-Name-First:  Michael"
        Author(given="Alix", family="Peterson Zwane"),
    )
    payload = template_payload(template, "Working Papers", "Center for Global Development")
    assert "mkremer@fas.harvard.edu" not in repr(payload)
    assert ["name", "Michael Kremer"] in payload["clusters"][0]["fields"]


def test_author_person_short_ids_from_the_corpus():
    parsed = redif_file("epo_papers_2005.rdf")
    [baker] = to_record(parsed.templates[1]).authors  # "Author-Person: pba441"
    assert baker == Author(given="Dean", family="Baker", repec_id="pba441")
    # "Author-Person:" empty for three of four authors
    assert [a.repec_id for a in to_record(parsed.templates[0]).authors] == [
        None,
        None,
        "ppe220",
        None,
    ]


def test_an_author_person_that_is_no_short_id_is_not_kept():
    t = one(
        PAPER + "Author-Name: Thomas Krichel\nAuthor-Person: RePEc:per:1965-06-05:thomas_krichel\n"
        "Author-Name: Mark Weisbrot \nAuthor-Person: pwe148 \n"
    )
    assert [a.repec_id for a in to_record(t).authors] == [None, "pwe148"]


@pytest.mark.parametrize(
    ("name", "split"),
    [
        # direct order, as the corpus writes Author-Name alone (epo, cxs, awu)
        ("Dean Baker", ("Baker", "Dean")),
        ("Tracey-Lee Solomon", ("Solomon", "Tracey-Lee")),
        ("Max B. Sawicky", ("Sawicky", "Max B.")),
        ("Nikolaos Th. Chatzarakis", ("Chatzarakis", "Nikolaos Th.")),
        ("J. Scott Holladay", ("Holladay", "J. Scott")),
        ("Annelie van Niekerk", ("van Niekerk", "Annelie")),
        ("Nicolaas van der Wath", ("van der Wath", "Nicolaas")),
        ("Lorenzo Di Domenico", ("Di Domenico", "Lorenzo")),
        ("Bálint Szilágyi", ("Szilágyi", "Bálint")),
        # "Lastname, Firstname", the form the ReDIF spec recommends (its examples)
        ("Sturm, J.F.", ("Sturm", "J.F.")),
        ("Lang, William", ("Lang", "William")),
        ("Smith, Adam", ("Smith", "Adam")),
        # the family name cannot be told: "Veronese Passarella" and "Forges Davanzati" are
        # family names, "Enrico Sergio" and "Hye Jin" given names
        ("Marco Veronese Passarella", None),
        ("Guglielmo Forges Davanzati", None),
        ("Enrico Sergio Levrero", None),
        ("Hye Jin Rho", None),
        # organisations and what is no name
        ("BER team", None),
        ("IMF Staff", None),
        ("University of Tennessee, Department of Economics", None),
        ("et al", None),
        ("Smith, Jr.", None),
        ("Plato", None),
    ],
)
def test_split_name(name, split):
    assert split_name(name) == split


def test_an_organisation_as_author_stays_whole():
    [template] = redif_file("cxs_wpaper.rdf").templates[:1]
    assert to_record(template).authors == (Author(name="BER team"),)


def test_editors_are_contributors():
    t = one(
        "Template-Type: ReDIF-Chapter 1.0\nHandle: RePEc:abc:chapts:7\nTitle: A Chapter\n"
        "Author-Name: Jane Doe\nEditor-Name: Lang, William\nEditor-Email: w@example.org\n"
        "Book-Title: The Book\n"
    )
    record = to_record(t)
    assert record.authors == (Author(given="Jane", family="Doe"),)
    assert record.contributors == (Author(given="William", family="Lang", role="editor"),)


# --- series, publisher, numbers ---


def test_a_working_paper_inherits_its_series_provider_as_publisher():
    names, providers = cgd_series()
    assert names == {"repec:cgd:wpaper": "Working Papers", "repec:cgd:ppaper": "Policy Papers"}
    assert providers == {
        "repec:cgd:wpaper": "Center for Global Development",
        "repec:cgd:ppaper": "Center for Global Development",
    }
    record = to_record(only("cgd_wpaper_wp700.rdf"), names, providers)
    assert record.type == "report"
    assert record.publisher == "Center for Global Development"  # BibTeX: institution
    assert record.series_title == "Working Papers"  # its collection, not a journal
    assert record.container_title is None
    assert (record.report_number, record.issue) == ("700", None)  # "Number: 700"


def test_the_ceu_series_provider():
    templates = redif_file("ceu_ceuseri.rdf").templates
    record = to_record(
        only("ceu_econwp_2025_1.rdf"), series_names(templates), series_providers(templates)
    )
    assert record.publisher == "Department of Economics, Central European University"
    assert record.series_title == "CEU Working Papers"
    assert record.report_number == "2025_1"
    # the archive template names no provider: its Name is the archive's, not a publisher
    [archive] = redif_file("ceu_ceuarch.rdf").templates
    assert archive.get("provider-name") is None


def test_the_corpus_series_providers():
    epo = redif_file("epo_eposeri.rdf").templates
    # "Provider-Name: Center for Economic and Policy Research (CEPR) " with a trailing space
    assert series_providers(epo) == {
        "repec:epo:papers": "Center for Economic and Policy Research (CEPR)",
        "repec:epo:booksx": "Center for Economic and Policy Research (CEPR)",
    }
    paper = to_record(
        redif_file("epo_papers_2016.rdf").templates[0], series_names(epo), series_providers(epo)
    )
    assert (paper.publisher, paper.series_title, paper.container_title) == (
        "Center for Economic and Policy Research (CEPR)",
        "CEPR Reports and Issue Briefs",
        None,
    )
    # an article's series is its journal; the journal's provider its publisher
    awu = redif_file("awu_awuseri.rdf").templates
    article = to_record(
        redif_file("awu_journl_prova.rdf").templates[0], series_names(awu), series_providers(awu)
    )
    assert (article.container_title, article.series_title, article.publisher) == (
        "Bulletin of Political Economy",
        None,
        "Bulletin of Political Economy",
    )
    assert (article.volume, article.issue, article.report_number) == ("17", "2", None)


def test_a_publisher_the_template_names_wins_over_the_series_provider():
    t = one(
        "Template-Type: ReDIF-Book 1.0\nHandle: RePEc:abc:bookss:9\nTitle: A Book\n"
        "Publisher-Name: Big Press\nNumber: 12\n"
    )
    record = to_record(t, {"repec:abc:bookss": "Big Series"}, {"repec:abc:bookss": "Provider"})
    assert (record.publisher, record.series_title, record.series_number) == (
        "Big Press",
        "Big Series",
        "12",
    )
    assert (record.container_title, record.report_number, record.issue) == (None, None, None)


def test_the_stored_payload_carries_the_series_provider():
    names, providers = cgd_series()
    template = only("cgd_wpaper_wp700.rdf")
    payload = template_payload(template, "Working Papers", "Center for Global Development")
    assert payload["series_provider"] == "Center for Global Development"
    assert record_from_payload(payload) == to_record(template, names, providers)
    # a payload stored before version 2 has no series_provider: no publisher can be made up
    del payload["series_provider"]
    old = record_from_payload(payload)
    assert (old.publisher, old.series_title) == (None, "Working Papers")


# --- subjects, status, dates, files ---


def test_jel_codes_and_keywords():
    record = to_record(only("ten_wpaper_2014-01.rdf"))
    assert record.jel_codes == ("Q4", "Q5", "D8")  # "Classification-JEL: Q4, Q5, D8"
    assert record.subjects == ("Energy Demand", "Air Pollution", "Conservation", "Media")
    cxs = to_record(redif_file("cxs_wpaper.rdf").templates[0])
    assert cxs.jel_codes == ("O55", "O43", "P16")  # "O55 O43 P16", split on spaces
    epo = to_record(redif_file("epo_papers_2016.rdf").templates[0])
    # "H, H1, H4, D, D2, D22, D72, D7, L, L3, L33": categories are JEL codes too
    assert epo.jel_codes == ("H", "H1", "H4", "D", "D2", "D22", "D72", "D7", "L", "L3", "L33")
    # the spec's "C12; C30", lower case, a repeat and junk
    t = one(PAPER + "Classification-JEL: C12; c30, C12 JEL:Q5 12\n")
    assert to_record(t).jel_codes == ("C12", "C30")
    # "Keywords: Diarrheal Diseases, Global Health, " and an empty Classification-JEL
    wp117 = to_record(only("cgd_wpaper_wp117.rdf"))
    assert (wp117.subjects, wp117.jel_codes) == (("Diarrheal Diseases", "Global Health"), ())
    # the list's full stop is not part of the last keyword; "U.S." keeps its own
    t = one(PAPER + "Keywords: mental health, digital exposure.\nKeywords: U.S.\n")
    assert to_record(t).subjects == ("mental health", "digital exposure", "U.S.")


def test_publication_status_is_kept_as_text():
    record = to_record(only("ten_wpaper_2014-01.rdf"))
    assert record.publication_status == (
        "Published in Journal of Economic Behavior and Organization, Feb 2015, pages 1-37"
    )
    assert record.relations == ()  # no DOI named: nothing to link
    scorecard = redif_file("epo_papers_2005.rdf")
    health = to_record(next(t for t in scorecard.templates if t.handle.endswith("2005-14")))
    assert health.publication_status == (  # two, each continued over lines: one a line
        "Published in International Journal of Health Services, vol. 35, no. 4, pp. 655-673.\n"
        'Published in "Mercados de trabajo y desigualdad en el plano económico en los Estados '
        'Unidos desde finales de la década de los años setenta," in Gerardo Fujii and Santos M. '
        "Ruesga (eds.), El trabajo en un mundo globalizado, Madrid: Ediciones Pirámide, 2004."
    )
    # "Publication-Status:" empty
    assert to_record(scorecard.templates[0]).publication_status is None


def test_a_doi_in_publication_status_links_the_published_version():
    t = one(
        PAPER + "DOI: 10.5281/zenodo.17208544\n"
        "Publication-Status: Published in Journal of Economic Behavior and Organization,\n"
        "  2015, vol. 110, pages 1-37 (doi:10.1016/j.jebo.2014.12.009).\n"
        "Article-Handle: RePEc:eee:jeborg:v:110:y:2015:i:c:p:1-37\n"
    )
    record = to_record(t)
    assert record.doi == "10.5281/zenodo.17208544"  # the paper's own DOI stays its own
    assert record.relations == (
        Relation("is-preprint-of", "repec", "RePEc:eee:jeborg:v:110:y:2015:i:c:p:1-37"),
        Relation("is-preprint-of", "doi", "10.1016/j.jebo.2014.12.009"),
    )
    # a status naming the paper's own DOI is no other version
    same = one(PAPER + "DOI: 10.1/x\nPublication-Status: Published as https://doi.org/10.1/x\n")
    assert to_record(same).relations == ()


def test_revision_date_and_every_file():
    record = to_record(only("ceu_econwp_2012_1.rdf"))
    assert (record.issued, record.revised) == ("2012-05-05", "2013-03-25")
    assert record.files == (
        FileLink(
            "http://www.personal.ceu.hu/staff/repec/pdf/2012_1.pdf", "application/pdf", "Full text"
        ),
        FileLink(
            "http://www.personal.ceu.hu/staff/repec/pdf/2012_1_revised.pdf",
            "application/pdf",
            "Full text",
        ),
        FileLink(
            "http://www.personal.ceu.hu/staff/repec/pdf/stata_program_documents_1.pdf",
            "application/pdf",
            "Full text",
        ),
    )
    assert record.url == "http://www.personal.ceu.hu/staff/repec/pdf/2012_1.pdf"  # the first
    # a repeated Revision-Date: the latest
    t = one(PAPER + "Revision-Date: 2013-02\nRevision-Date: 2014-01-05\nRevision-Date: 2013\n")
    assert to_record(t).revised == "2014-01-05"


def test_files_with_their_format_and_function():
    wp117 = to_record(only("cgd_wpaper_wp117.rdf"))
    assert wp117.files == (
        FileLink(
            "https://www.cgdev.org/publication/"
            "cost-effective-prevention-diarrheal-diseases-critical-review-working-paper-117",
            "text/html",
        ),
        FileLink(
            "https://www.cgdev.org/sites/default/files/13495_file_Kremer_Diarrheal_Prevention.pdf",
            "application/pdf",
        ),
    )
    assert wp117.url == wp117.files[0].url  # the landing page, listed first
    # "File-URL:https://..." without a space; "File-Format: Application/pdf" is a media type
    ten = to_record(only("ten_wpaper_2014-01.rdf"))
    assert ten.files == (
        FileLink(
            "https://university-of-tennessee-econ.github.io/repec/pdf/2014-01.pdf",
            "application/pdf",
            "First version, 2014",
        ),
    )


def test_language_length_and_abstract():
    first = to_record(redif_file("epo_papers_2005.rdf").templates[0])
    assert first.language == "en"  # "Language: en"
    assert first.abstract.startswith("This report debunks three common myths about housing")
    ten = to_record(only("ten_wpaper_2014-01.rdf"))
    # "Length:  26 pages" is a page count, not a page range: pages stays empty
    assert (ten.pages, ten.language, ten.issued) == (None, None, "2014-10")
    assert to_record(one(PAPER + "Language: FR\n")).language == "fr"
