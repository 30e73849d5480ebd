"""Issue 16 for doi.org's CSL-JSON, field by field on recorded items (../shared/fixtures/csl and
tests/fixtures/csl). Expected values were read from the JSON by eye."""

from __future__ import annotations

import copy

import pytest
from conftest import load_json

from harvester.models import Author, Isbn, Reference, Title
from harvester.sources.doiorg import CSL_TYPES, PARSER_VERSION
from harvester.sources.doiorg import parse as parse_csl

HABANERO = "csl/10.1126_science.169.3946.635_habanero.json"
HANDLR = "csl/10.4067_s0718-48082015000300006_handlr.json"
DATACITE_BLOG = "csl/commonmeta-py_citeproc.json"


def test_parser_version_bumped() -> None:
    assert PARSER_VERSION == 2


# --- url ---


def test_crossref_csl_url_is_the_landing_page() -> None:
    item = load_json(HABANERO)
    assert item["URL"] == "http://dx.doi.org/10.1126/science.169.3946.635"
    assert parse_csl(item).url == "https://www.science.org/doi/10.1126/science.169.3946.635"


def test_crossref_csl_without_resource_has_no_url() -> None:
    # 2018 answer: URL is only the doi.org link, and the DOI gives that link anyway
    assert parse_csl(load_json(HANDLR)).url is None


def test_datacite_csl_url_is_kept() -> None:
    assert parse_csl(load_json(DATACITE_BLOG)).url == (
        "https://blog.datacite.org/eating-your-own-dog-food"
    )


# --- types, publisher, container ---


def test_datacite_blog_post() -> None:
    record = parse_csl(load_json(DATACITE_BLOG))
    assert record.type == "posted-content"  # post-weblog
    assert record.publisher == "DataCite"  # {"name": "DataCite"}
    assert record.container_title == "DataCite Blog"
    assert record.issued == "2016-12-20"


@pytest.mark.parametrize(
    ("csl_type", "expected"),
    [
        ("post-weblog", "posted-content"),
        ("post", "posted-content"),
        ("article", "posted-content"),
        ("article-journal", "journal-article"),
        ("article-magazine", "journal-article"),
        ("article-newspaper", "journal-article"),
        ("paper-conference", "proceedings-article"),
        ("chapter", "book-chapter"),
        ("book", "book"),
        ("report", "report"),
        ("thesis", "dissertation"),
        ("dataset", "dataset"),
        ("entry-encyclopedia", "reference-entry"),
        ("entry-dictionary", "reference-entry"),
        ("periodical", "journal"),
        ("standard", "standard"),
        ("software", "software"),  # no Crossref counterpart: kept
        ("journal-article", "journal-article"),  # Crossref's CSL: its own names
    ],
)
def test_csl_type_table(csl_type: str, expected: str) -> None:
    assert parse_csl({"DOI": "10.1/x", "type": csl_type}).type == expected
    assert CSL_TYPES.get(csl_type, csl_type) == expected


def test_journal_abbreviation() -> None:
    assert parse_csl(load_json(HANDLR)).container_short_title == "Ter Psicol"
    assert parse_csl(load_json(HABANERO)).container_short_title == "Science"


def test_issns_checked() -> None:
    assert parse_csl(load_json(HABANERO)).issn == ("0036-8075", "1095-9203")
    assert parse_csl(load_json(HANDLR)).issn == ("0718-4808",)


def test_references_of_crossrefs_csl() -> None:
    record = parse_csl(load_json(HABANERO))
    assert len(record.references) == 76  # references-count 76
    assert record.references[0] == Reference(
        unstructured="Waller R. Essayes of Natural Experiments (1964).", key="e_1_2_1_1_1"
    )


# --- what CSL has names for: on the real Science item, with CSL 1.0.2 variables filled in ---
# No recorded CSL answer with editors, ISBN, series or an event was found; these use the real
# item with the variables set in the shapes of the CSL schema (csl-data.json).


def science(**variables) -> dict:
    item = copy.deepcopy(load_json(HABANERO))
    item.update(variables)
    return item


def test_editors_and_translators() -> None:
    record = parse_csl(
        science(
            editor=[{"family": "Borlongan", "given": "Cesario V."}],
            translator=[{"literal": "A Translation Office"}],
        )
    )
    assert record.contributors == (
        Author(given="Cesario V.", family="Borlongan", role="editor"),
        Author(name="A Translation Office", role="translator"),
    )
    assert [a.family for a in record.authors] == ["Frank"]


def test_isbn_as_string_and_list() -> None:
    assert parse_csl(science(ISBN="978-3-662-46369-7")).isbn == (Isbn("9783662463697"),)
    typed = science(
        ISBN=["9783662463697", "9783662463703"],
        **{"isbn-type": [{"type": "print", "value": "9783662463697"}]},
    )
    assert parse_csl(typed).isbn == (Isbn("9783662463697", "print"), Isbn("9783662463703"))
    assert parse_csl(science(ISBN="9783662463698")).isbn == ()  # wrong check digit


def test_series_event_place_and_publisher_place() -> None:
    record = parse_csl(
        science(
            **{
                "collection-title": "Lecture Notes in Computer Science",
                "collection-number": 9351,
                "event-title": "MICCAI 2015",
                "event-place": "Munich",
                "event-date": {"date-parts": [[2015, 10, 5]]},
                "publisher-place": "Cham",
            }
        )
    )
    assert (record.series_title, record.series_number) == (
        "Lecture Notes in Computer Science",
        "9351",
    )
    assert (record.event_name, record.event_place, record.event_date) == (
        "MICCAI 2015",
        "Munich",
        "2015-10-05",
    )
    assert record.publisher_place == "Cham"
    assert parse_csl(science(event="SIGMOD '21")).event_name == "SIGMOD '21"  # CSL 1.0.1


def test_report_number_and_thesis_genre() -> None:
    report = parse_csl(science(type="report", number="WP 2015-01"))
    assert report.report_number == "WP 2015-01"
    assert parse_csl(science(number="5")).report_number is None  # an article's number is not
    thesis = parse_csl(science(type="thesis", genre="PhD thesis"))
    assert (thesis.type, thesis.degree) == ("dissertation", "PhD thesis")
    assert parse_csl(science(genre="Editorial")).degree is None


def test_pmid_pmcid_and_titles() -> None:
    record = parse_csl(
        science(
            PMID="17789376",
            PMCID="PMC1234567",
            **{"original-title": ["La structure de l'eau"], "title-short": "Ordinary water"},
        )
    )
    assert record.other_ids == (("pmid", "17789376"), ("pmcid", "PMC1234567"))
    assert record.titles == (
        Title("La structure de l'eau", "original"),
        Title("Ordinary water", "short"),
    )


def test_thesis_date_from_approved() -> None:
    item = science(type="thesis", approved={"date-parts": [[2020, 5, 25]]})
    del item["issued"]
    assert parse_csl(item).issued == "2020-05-25"


def test_odd_shapes_give_no_exception() -> None:
    record = parse_csl(
        {
            "DOI": "10.1/x",
            "publisher": {"name": 5},
            "editor": "Smith",
            "ISBN": 9783662463697,
            "event": {"name": " Conf "},
            "collection-number": True,
            "PMID": ["1"],
            "resource": {"primary": {"URL": 3}},
            "URL": "https://doi.org/10.1/x",
        }
    )
    assert record.publisher is None
    assert record.contributors == ()
    assert record.isbn == ()
    assert record.event_name == "Conf"
    assert record.series_number is None
    assert record.other_ids == ()
    assert record.url is None
