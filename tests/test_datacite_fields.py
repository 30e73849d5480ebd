"""Issue 16 on DataCite records, field by field: types, pages, dates, identifiers, funders,
contributors, titles and abstracts, on recorded responses (the corpus in ../shared/fixtures and
the DataCite JSON kept in tests/fixtures/datacite from Zotero's translator tests, see
PROVENANCE.tsv). Expected values are read from the files by eye and written out."""

from __future__ import annotations

import copy

import pytest
from conftest import load_json
from lxml import etree

from harvester.models import Abstract, Author, Funder, Isbn, Record, Title
from harvester.sources.datacite import (
    CONTRIBUTOR_ROLES,
    TYPES,
    attributes_from_xml,
    parse,
    unwrap,
)


def corpus(name: str) -> Record:
    return parse(unwrap(load_json(f"datacite/{name}")))


def kept(name: str) -> Record:
    return parse(load_json(f"datacite/{name}"))


def kept_attributes(name: str) -> dict:
    return copy.deepcopy(load_json(f"datacite/{name}"))


# --- types: one table ---


def test_text_typed_journal_article_by_its_own_resource_type() -> None:
    assert kept("zotero_10.5281_zenodo.2548653.json").type == "journal-article"  # "Journal article"
    assert kept("zotero_10.3205_mbi000337.json").type == "journal-article"  # "Journal Article"
    assert kept("zotero_10.21248_jfml.2018.6.json").type == "journal-article"  # "Article"
    assert corpus("10.26102_2310-6018_2019.24.1.006.json").type == "journal-article"


def test_text_blog_posting_is_posted_content_as_crossref_types_blog_posts() -> None:
    # Text/BlogPosting, with DataCite's derived citeproc "article-journal" (its Text default).
    assert kept("commonmeta-py_datacite.json").type == "posted-content"


def test_data_paper_outside_a_journal_is_posted_content() -> None:
    attributes = kept_attributes("zotero_10.34769_azkm-y326.json")
    assert parse(attributes).type == "posted-content"  # a PDF on the institute's site
    attributes["relatedItems"] = [
        {
            "relationType": "IsPublishedIn",
            "relatedItemType": "Journal",
            "titles": [{"title": "Data in Brief"}],
        }
    ]
    assert parse(attributes).type == "journal-article"


def test_general_types_keep_their_own_type() -> None:
    assert kept("zotero_10.48548_pubdata-155.json").type == "book-chapter"
    assert kept("zotero_10.25656_01_28324.json").type == "book-chapter"  # citeproc "article"
    assert corpus("10.48550_arxiv.2311.16162.json").type == "posted-content"  # "Article" inside
    assert corpus("10.17182_hepdata.77274.v1.json").type == "collection"


@pytest.mark.parametrize(
    ("types", "expected"),
    [
        ({"resourceTypeGeneral": "Text", "resourceType": "Working paper"}, "report"),
        ({"resourceTypeGeneral": "Text", "resourceType": "Book chapter"}, "book-chapter"),
        ({"resourceTypeGeneral": "Text", "resourceType": "Master's thesis"}, "dissertation"),
        ({"resourceTypeGeneral": "Other", "resourceType": "Journal article"}, "journal-article"),
        # derived entries beyond DataCite's defaults speak; its defaults do not
        ({"resourceTypeGeneral": "Text", "resourceType": "Poster", "ris": "CHAP"}, "book-chapter"),
        (
            {
                "resourceTypeGeneral": "Text",
                "resourceType": "Poster",
                "citeproc": "article-journal",
                "ris": "RPRT",
            },
            "text",
        ),
        ({"resourceType": "Report"}, "report"),
        ({"resourceTypeGeneral": "PeerReview"}, "peer-review"),
        ({"resourceTypeGeneral": "Dataset", "resourceType": "Journal article"}, "dataset"),
    ],
)
def test_type_table(types: dict, expected: str) -> None:
    assert parse({"doi": "10.1234/x", "types": types}).type == expected


def test_type_table_speaks_the_harvesters_vocabulary() -> None:
    assert set(TYPES.values()) <= {
        "journal-article",
        "posted-content",
        "proceedings-article",
        "proceedings",
        "book",
        "book-chapter",
        "report",
        "dissertation",
        "dataset",
        "peer-review",
        "journal",
        "standard",
    }


# --- pages ---


def test_container_first_page_that_is_an_issue_label_is_no_page_and_sizes_give_the_range() -> None:
    r = kept("zotero_10.21248_jfml.2018.6.json")  # firstPage "Bd. 1 Nr. 1 (2018)"
    assert r.pages == "42-79"  # sizes ["42-79 Seiten"]
    assert r.container_title == "Journal für Medienlinguistik"
    assert (r.volume, r.issue) == (None, None)


def test_no_1_2_2018_split_at_its_hyphen_is_no_page_range() -> None:
    r = kept("zotero_10.17885_heiup.jts.2018.1-2.23812.json")  # "No 1" / "2 (2018)"
    assert r.pages == "33-52"  # sizes ["33–52 Pages"], en dash
    attributes = kept_attributes("zotero_10.17885_heiup.jts.2018.1-2.23812.json")
    attributes["sizes"] = []
    assert parse(attributes).pages is None


def test_journal_name_as_first_page_is_no_page() -> None:
    r = kept("zotero_10.7916_d8959hr1.json")
    assert r.pages is None
    assert r.container_title == "Tremor and Other Hyperkinetic Movements"


def test_page_count_in_sizes_is_not_a_page_range() -> None:
    # container 181-186 and sizes ["6 pages"]: the range stays, the count is no range.
    assert corpus("10.2312_geowissenschaften.1989.7.181.json").pages == "181-186"
    attributes = dict(unwrap(load_json("datacite/10.2312_geowissenschaften.1989.7.181.json")))
    attributes["container"] = {}
    attributes["relatedItems"] = []
    assert parse(attributes).pages is None  # "6 pages" is not stored as pages
    # LIPIcs: sizes "13 pages", "527385 bytes"; the container's range is used.
    assert corpus("10.4230_lipics.tqc.2013.93.json").pages == "93-105"


def test_chapter_pages_from_the_book_it_is_published_in() -> None:
    assert kept("zotero_10.48548_pubdata-155.json").pages == "109-128"
    assert kept("zotero_10.25656_01_28324.json").pages == "179-196"


# --- authors ---


def test_creator_orcid_from_name_identifiers_and_from_id() -> None:
    assert kept("zotero_10.48548_pubdata-155.json").authors == (
        Author(
            given="Anne",
            family="Barron",
            orcid="0000-0003-2962-7985",
            affiliations=("Institute of English Studies (IES), Leuphana Universität Lüneburg",),
        ),
    )
    # DataCite JSON of content negotiation: the ORCID is the creator's `id`.
    assert kept("commonmeta-py_datacite.json").authors == (
        Author(given="Martin", family="Fenner", orcid="0000-0003-1419-2405"),
    )
    # An affiliation given as a string (schema 4.0-4.2 answers).
    assert kept("zotero_10.5281_zenodo.2548653.json").authors[1] == Author(
        given="Gloria Rosi", family="Murahwe", affiliations=("Reserve Bank of Zimbabwe",)
    )


def test_gnd_name_identifiers_are_no_orcid() -> None:
    authors = kept("zotero_10.25656_01_28324.json").authors
    assert [(a.family, a.orcid) for a in authors] == [
        ("Bonnet", None),
        ("Bakels", None),
        ("Hericks", None),
    ]


# --- contributors ---


def test_editors_of_a_proceedings_paper() -> None:
    # Given in contributors and again in the relatedItem: kept once each.
    assert corpus("10.4230_lipics.tqc.2013.93.json").contributors == (
        Author(given="Simone", family="Severini", role="editor"),
        Author(given="Fernando", family="Brandao", role="editor"),
    )


def test_administrative_contributors_are_left_out() -> None:
    # DataCurator, DataManager, HostingInstitution, RegistrationAgency: only the curator stays.
    assert kept("zotero_10.48548_pubdata-155.json").contributors == (
        Author(
            name="Medien- Und Informationszentrum",
            affiliations=("Leuphana Universität Lüneburg",),
            role="curator",
        ),
    )
    # HostingInstitution and DataManager of the geowissenschaften record.
    assert corpus("10.2312_geowissenschaften.1989.7.181.json").contributors == ()
    # nameIdentifiers as one object, HostingInstitution: left out.
    assert kept("zotero_10.25656_01_28324.json").contributors == ()


def test_research_roles_keep_the_datacite_type() -> None:
    gesis = corpus("10.4232_1.2745.json").contributors
    assert gesis[0] == Author(
        given="Karlheinz",
        family="Reif",
        affiliations=("Europäische Kommission, Brüssel",),
        role="researcher",
    )
    assert Author(name="DIMARSO, Bruessel", role="data-collector") in gesis
    assert corpus("10.4121_uuid_3926db30-f712-4394-aebc-75976070e91f.json").contributors == (
        Author(name="Eindhoven University Of Technology", role="contributor"),  # "Other"
    )


def test_contributor_role_table() -> None:
    assert CONTRIBUTOR_ROLES["Editor"] == "editor"
    assert CONTRIBUTOR_ROLES["Translator"] == "translator"
    assert CONTRIBUTOR_ROLES["HostingInstitution"] is None
    r = parse(
        {
            "doi": "10.1234/x",
            "contributors": [
                {
                    "name": "Sup, Er",
                    "givenName": "Er",
                    "familyName": "Sup",
                    "contributorType": "Supervisor",
                },
                {"name": "A contact", "contributorType": "ContactPerson"},
                {"name": "No type"},
            ],
        }
    )
    assert [(a.family or a.name, a.role) for a in r.contributors] == [
        ("Sup", "supervisor"),
        ("No type", "contributor"),
    ]


# --- funders ---


def test_funder_with_crossref_funder_id_and_its_awards() -> None:
    r = corpus("10.5063_f1m61h5x.json")
    assert r.funders == (
        Funder(
            name="National Science Foundation",
            doi="10.13039/100000001",
            awards=("0830944", "1262458", "1430508", "1443062", "1546024", "2042102"),
        ),
    )


def test_funder_without_identifier() -> None:
    assert corpus("10.26102_2310-6018_2019.24.1.006.json").funders == (
        Funder(name="РФФИ", awards=("проект № 170100728",)),
    )


def test_funder_with_ror() -> None:
    # Built from a real record, its funder given a ROR id as DataCite 4.4+ allows.
    attributes = dict(unwrap(load_json("datacite/10.5063_f1m61h5x.json")))
    attributes["fundingReferences"] = [
        {
            "funderName": "European Commission",
            "funderIdentifier": "00k4n6c32",
            "funderIdentifierType": "ROR",
            "awardNumber": "881603",
        }
    ]
    assert parse(attributes).funders == (
        Funder(name="European Commission", ror="https://ror.org/00k4n6c32", awards=("881603",)),
    )


# --- ISBN, ISSN, other identifiers ---


def test_chapter_keeps_its_books_isbns() -> None:
    # IsPublishedIn ISBN twice (one with a trailing space), the relatedItem's ISBN once more.
    assert kept("zotero_10.25656_01_28324.json").isbn == (
        Isbn(isbn="9783781560437"),
        Isbn(isbn="9783781526006"),
    )
    assert kept("zotero_10.48548_pubdata-155.json").isbn == (Isbn(isbn="9780367856397"),)
    assert corpus("10.4230_lipics.tqc.2013.93.json").isbn == (Isbn(isbn="9783939897552"),)


def test_isbn_with_a_wrong_check_digit_is_dropped() -> None:
    attributes = kept_attributes("zotero_10.48548_pubdata-155.json")
    attributes["relatedIdentifiers"][1]["relatedIdentifier"] = "978-0-367-85639-8"
    assert parse(attributes).isbn == ()


def test_issn_from_container_and_is_part_of_checked() -> None:
    assert kept("zotero_10.3205_mbi000337.json").issn == ("1865-066X",)
    attributes = kept_attributes("zotero_10.3205_mbi000337.json")
    attributes["container"]["identifier"] = "1865-0661"  # wrong check digit
    attributes["relatedIdentifiers"][0]["relatedIdentifier"] = "1865-0661"
    assert parse(attributes).issn == ()
    # "Cites" an EISSN is no container's ISSN.
    assert corpus("10.26102_2310-6018_2019.24.1.006.json").issn == ()


def test_other_identifiers() -> None:
    assert kept("zotero_10.48548_pubdata-155.json").other_ids == (
        ("handle", "20.500.14123/175"),
        ("urn", "urn:nbn:de:gbv:luen4-dspace-20.500.14123/175-7"),
    )
    assert kept("zotero_10.3205_mbi000337.json").other_ids == (
        ("urn", "urn:nbn:de:0183-mbi0003372"),  # the DOI and the local "Doc" id are not kept
    )
    assert corpus("10.48550_arxiv.2311.16162.json").other_ids == (("arxiv", "2311.16162"),)
    assert corpus("10.4230_lipics.tqc.2013.93.json").other_ids == (
        ("urn", "urn:nbn:de:0030-drops-43173"),
    )
    assert corpus("10.5063_f1m61h5x.json").other_ids == (
        ("swh", "swh:1:dir:247168dd727c19cef2ce885476d3e4102d2ca7de"),
    )
    # Local numbers mean nothing outside the depositor's system.
    assert corpus("10.4232_1.2745.json").other_ids == ()  # ZA-No., FDZ
    assert kept("zotero_10.21248_jfml.2018.6.json").other_ids == ()  # publisherId


def test_same_work_relations_give_other_ids_but_a_doi_stays_a_relation() -> None:
    r = parse(
        {
            "doi": "10.1234/x",
            "relatedIdentifiers": [
                {
                    "relationType": "IsIdenticalTo",
                    "relatedIdentifier": "12082125",
                    "relatedIdentifierType": "PMID",
                },
                {
                    "relationType": "IsPreviousVersionOf",
                    "relatedIdentifier": "999",
                    "relatedIdentifierType": "PMID",
                },
                {
                    "relationType": "IsVariantFormOf",
                    "relatedIdentifier": "10.1/y",
                    "relatedIdentifierType": "DOI",
                },
            ],
        }
    )
    assert r.other_ids == (("pmid", "12082125"),)
    assert ("is-variant-form-of", "doi", "10.1/y") in [
        (x.type, x.id_type, x.id) for x in r.relations
    ]


# --- titles, abstracts ---


def test_translated_title_and_the_abstract_in_the_record_language() -> None:
    r = kept("zotero_10.3205_mbi000337.json")  # language de; the English abstract comes first
    assert r.title == (
        "Mehr Schaden als Nutzen? Problematischer Einsatz von Textvergleichsprogrammen zur "
        "vermeintlichen Plagiatsvermeidung"
    )
    assert r.titles == (
        Title(
            title="Doing more harm than good? Disputable use of text matching software as "
            "assumed plagiarism prevention method",
            kind="translated",
            language="en",
        ),
    )
    assert r.abstract is not None
    assert r.abstract.startswith("Die Liste an selbst ernannten Plagiatsprüfprogrammen ist lang")
    assert [(a.language, a.text[:40]) for a in r.abstracts] == [
        ("en", "The number of so called plagiarism detec")
    ]


def test_abstracts_without_language_keep_their_order() -> None:
    r = corpus("10.26102_2310-6018_2019.24.1.006.json")  # language ru, no lang on descriptions
    assert r.abstract is not None
    assert r.abstract.startswith("Актуальность данной работы обусловлена важностью учета")
    assert len(r.abstracts) == 1
    assert r.abstracts[0].language is None
    assert r.abstracts[0].text.startswith("The relevance of this work is caused by importance")
    assert r.titles == (
        Title(title="MODEL OF SYSTEM DYNAMICS OF PROCESS OF TRAINING", kind="translated"),
    )


def test_only_a_translated_title_is_the_title_and_not_repeated() -> None:
    r = kept("zotero_10.34769_azkm-y326.json")
    assert r.title == (
        "Determination of the thickness of BN layers on the Al2O3 substrate by FT-IR spectroscopy"
    )
    assert r.titles == ()


def test_abstract_in_a_language_given_as_iso_639_2() -> None:
    r = parse(
        {
            "doi": "10.1234/x",
            "language": "eng",
            "descriptions": [
                {"description": "Deutsch.", "descriptionType": "Abstract", "lang": "de"},
                {"description": "English.", "descriptionType": "Abstract", "lang": "en-GB"},
            ],
        }
    )
    assert (r.abstract, r.abstracts) == ("English.", (Abstract("Deutsch.", "de"),))


# --- container, series, dates ---


def test_chapter_container_and_series_named_in_the_books_volume() -> None:
    r = kept("zotero_10.25656_01_28324.json")
    assert r.container_title == (
        "Professionalität und Professionalisierung von Lehrpersonen. Perspektiven, "
        "theoretische Rahmungen und empirische Zugänge"
    )
    assert r.series_title == "Studien zur Professionsforschung und Lehrer:innenbildung"
    assert (r.volume, r.issue) == (None, None)  # volume was the series' name; issue ""
    assert r.publisher == "Verlag Julius Klinkhardt : Bad Heilbrunn"


def test_a_reports_container_is_its_series() -> None:
    r = parse(
        {
            "doi": "10.1234/x",
            "types": {"resourceTypeGeneral": "Report"},
            "container": {"type": "Series", "title": "IZA Discussion Papers", "volume": "17"},
        }
    )
    assert (r.container_title, r.series_title, r.series_number, r.volume) == (
        None,
        "IZA Discussion Papers",
        "17",
        None,
    )


def test_deposit_year_does_not_override_the_works_date() -> None:
    # A 2024 repository deposit (publicationYear 2024, Available/Submitted/Accepted 2024-02-27)
    # of a chapter Issued 2021-11-30 in a Routledge book of 2022, IsVariantFormOf the
    # publisher's DOI 10.4324/9781003025078-6.
    r = kept("zotero_10.48548_pubdata-155.json")
    assert r.issued == "2021-11-30"  # the earliest date of the work, not the deposit's year
    assert r.published_print == "2022"  # the book's year
    assert r.revised is None
    assert ("is-variant-form-of", "doi", "10.4324/9781003025078-6") in [
        (x.type, x.id_type, x.id) for x in r.relations
    ]


def test_issued_published_print_and_revised() -> None:
    r = kept("zotero_10.7916_d8959hr1.json")
    assert (r.issued, r.published_print, r.revised) == ("2016-09-14", None, "2019-02-06")
    # Submitted/Accepted precede publication and are not issued.
    assert kept("zotero_10.17885_heiup.jts.2018.1-2.23812.json").issued == "2018-12-20"
    # Created/Issued/Updated on one day: no revision.
    assert kept("commonmeta-py_datacite.json").revised is None
    lipics = corpus("10.4230_lipics.tqc.2013.93.json")
    assert (lipics.issued, lipics.published_print) == ("2013", "2013")
    # Available is more precise than Issued "2023", but it is not the date of issue.
    assert corpus("10.48550_arxiv.2311.16162.json").issued == "2023"


# --- kept as before ---


def test_publisher_object_version_and_citation_count() -> None:
    assert kept("zotero_10.48548_pubdata-155.json").publisher == (
        "Medien- und Informationszentrum, Leuphana Universität Lüneburg"
    )
    assert kept("zotero_10.48548_pubdata-155.json").resource_version == "1"
    assert corpus("10.17182_hepdata.77274.v1.json").cited_by_count == 41


# --- kernel XML reads the same fields ---


def test_kernel_xml_contributors_funders_sizes_and_languages() -> None:
    resource = etree.fromstring(
        b'<resource xmlns="http://datacite.org/schema/kernel-4">'
        b'<identifier identifierType="DOI">10.5555/XML</identifier>'
        b'<titles><title xml:lang="de">Titel</title>'
        b'<title xml:lang="en" titleType="TranslatedTitle">Title</title></titles>'
        b'<contributors><contributor contributorType="Editor">'
        b'<contributorName nameType="Personal">Doe, Jane</contributorName>'
        b"<givenName>Jane</givenName><familyName>Doe</familyName></contributor>"
        b'<contributor contributorType="HostingInstitution"><contributorName>Repo'
        b"</contributorName></contributor></contributors>"
        b"<fundingReferences><fundingReference><funderName>National Science Foundation"
        b'</funderName><funderIdentifier funderIdentifierType="Crossref Funder ID">'
        b"https://doi.org/10.13039/100000001</funderIdentifier><awardNumber>0830944"
        b"</awardNumber></fundingReference></fundingReferences>"
        b'<alternateIdentifiers><alternateIdentifier alternateIdentifierType="URN">'
        b"urn:nbn:de:0030-drops-43173</alternateIdentifier></alternateIdentifiers>"
        b"<sizes><size>13 pages</size><size>93-105 pages</size></sizes>"
        b'<descriptions><description descriptionType="Abstract" xml:lang="en">English.'
        b'</description><description descriptionType="Abstract" xml:lang="de">Deutsch.'
        b"</description></descriptions><language>de</language>"
        b"</resource>"
    )
    r = parse(attributes_from_xml(resource))
    assert r.titles == (Title(title="Title", kind="translated", language="en"),)
    assert r.contributors == (Author(given="Jane", family="Doe", role="editor"),)
    assert r.funders == (
        Funder(name="National Science Foundation", doi="10.13039/100000001", awards=("0830944",)),
    )
    assert r.other_ids == (("urn", "urn:nbn:de:0030-drops-43173"),)
    assert r.pages == "93-105"
    assert (r.abstract, r.abstracts) == ("Deutsch.", (Abstract("English.", "en"),))
