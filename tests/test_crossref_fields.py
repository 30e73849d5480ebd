"""Issue 16 for Crossref works, field by field on recorded responses (../shared/fixtures/crossref
and tests/fixtures/crossref). Expected values were read from the JSON by eye."""

from __future__ import annotations

import copy

import pytest
from conftest import load_json

from harvester.merge import record_values
from harvester.models import Author, Funder, Isbn, Reference, Title, Update
from harvester.sources.crossref import CROSSREF_TYPES, PARSER_VERSION, unwrap
from harvester.sources.crossref import parse as parse_work


def work(name: str) -> object:
    return parse_work(unwrap(load_json(f"crossref/{name}"), "work"))


def item(name: str, index: int):
    return parse_work(load_json(f"crossref/{name}")["message"]["items"][index])


def test_parser_version_bumped() -> None:
    assert PARSER_VERSION == 2


# --- url: the landing page ---


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("10.7554_elife.01567.json", "https://elifesciences.org/articles/01567"),
        ("10.1371_journal.pone.0033693.json", "https://dx.plos.org/10.1371/journal.pone.0033693"),
        (
            "10.1016_j.neurobiolaging.2010.03.024.json",
            "https://linkinghub.elsevier.com/retrieve/pii/S0197458010001570",
        ),
        ("10.14264_uql.2020.791.json", "http://espace.library.uq.edu.au/view/UQ:23a1e74"),
    ],
)
def test_url_is_the_landing_page(name: str, url: str) -> None:
    assert work(name).url == url


def test_select_items_without_resource_have_no_url() -> None:
    # select=DOI,title: no resource, no URL: nothing to say
    page = load_json("crossref/list_works_query-ecology_select-DOI-title.json")
    assert parse_work(page["message"]["items"][0]).url is None


# --- dates ---


def test_online_2020_print_issue_2021_is_cited_as_2021() -> None:
    # The seed record 10.1177/0950017014538339 is not in the corpus; this one has the same
    # shape: online 2020-08-17, in volume 74 issue 5 of May 2021.
    record = work("10.1136_jclinpath-2020-206745.json")
    assert (record.issued, record.published_online, record.published_print) == (
        "2020-08-17",
        "2020-08-17",
        "2021-05",
    )
    assert (record.volume, record.issue) == ("74", "5")
    assert record_values(record)["year"] == 2021  # the default rule: print
    assert record_values(record)["published"] == "2021-05"
    assert record_values(record, "earliest")["year"] == 2020


def test_dissertation_date_is_approved() -> None:
    record = work("10.14264_uql.2020.791.json")  # issued [[null]], approved 2020-05-25
    assert record.type == "dissertation"
    assert record.issued == "2020-05-25"
    assert record.published_print is None and record.published_online is None
    assert record_values(record)["year"] == 2020
    assert record.degree == "PhD Thesis"
    # the degree-granting institution, not the depositing "University of Queensland Library"
    assert record.publisher == "The University of Queensland"


def test_masters_thesis_in_a_list() -> None:
    record = item("list_works_query-widget_cursor-page3.json", 4)
    assert record.doi == "10.31390/gradschool_theses.6125"
    assert record.issued == "2025-04-01"
    assert record.degree == "Master of Science in Computer Science (MSCS)"
    assert record.publisher == "Louisiana State University and Agricultural and Mechanical College"
    assert record.url == "https://repository.lsu.edu/gradschool_theses/6125"


def test_report_approved_later_does_not_override_issued() -> None:
    record = item("list_works_query-widget_cursor-page2.json", 9)  # approved 2008-02-06
    assert record.doi == "10.2172/10115553"
    assert record.type == "report"
    assert record.issued == "1992-10-01"
    assert record.publisher == "Office of Scientific and Technical Information (OSTI)"


# --- types ---


def test_type_table_is_crossrefs_vocabulary() -> None:
    assert all(key == value for key, value in CROSSREF_TYPES.items())
    for name in ("journal-article", "book-chapter", "posted-content", "dissertation", "monograph"):
        assert CROSSREF_TYPES[name] == name
    assert parse_work({"DOI": "10.1/x", "type": "a-future-type"}).type == "a-future-type"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("10.1017_9781108348843.json", "monograph"),
        ("10.2210_pdb4hhb_pdb.json", "dataset"),
        ("10.7554_elife.55167.sa2.json", "peer-review"),
        ("10.1109_icdcsw.2003.1203662.json", "proceedings-article"),
    ],
)
def test_recorded_types_kept(name: str, expected: str) -> None:
    assert work(name).type == expected


# --- posted content: where it was posted ---


def test_blog_post_keeps_blog_name_and_issn() -> None:
    record = work("10.53731_ybhah-9jy85.json")  # kept fixture
    assert record.container_title == "Front Matter"  # group-title
    assert record.issn == ("2749-9952",)  # relation is-part-of, id-type issn


def test_rogue_scholar_blog_is_group_title_not_its_host() -> None:
    record = work("10.54900_rckn8ey-1fm76va-qsrnf.json")
    assert record.container_title == "Upstream"  # institution is the host, "Front Matter"
    assert record.publisher == "Front Matter"
    blog = item("list_works_query-widget_cursor-page1.json", 19)
    assert blog.container_title == "chem-bla-ics"


def test_preprint_server_is_institution_not_subject() -> None:
    record = work("10.1101_2020.12.01.406702.json")
    assert record.container_title == "bioRxiv"  # group-title is "Microbiology"
    assert record.url == "http://biorxiv.org/lookup/doi/10.1101/2020.12.01.406702"


# --- contributors, funders ---


def test_editor_is_a_contributor_with_role() -> None:
    record = work("10.1371_journal.pone.0033693.json")
    assert record.contributors == (Author(given="Cesario V.", family="Borlongan", role="editor"),)
    assert all(a.role is None for a in record.authors)
    assert record_values(record)["contributors"] is not None


def test_funders_with_doi_and_awards() -> None:
    record = work("10.1016_j.neurobiolaging.2010.03.024.json")
    assert record.funders == (
        Funder(
            name="Ministry of Education, Science and Technology",
            doi="10.13039/501100004085",
            awards=("R32-10064",),
        ),
        Funder(name="Stem Cell Research Center", awards=("SC4170",)),
    )


def test_funders_of_a_proceedings_paper() -> None:
    record = work("10.1145_3448016.3452841.json")
    assert [(f.name, f.doi) for f in record.funders] == [
        ("NSF (National Science Foundation)", "10.13039/100000001"),
        ("DOE U.S. Department of Energy", "10.13039/100000015"),
    ]
    assert record.funders[1].awards == ("DE-AC02-05CH11231,17-SC-20-SC",)


def test_funder_ror_from_id_list() -> None:
    # Built from the real record: its funder's id list given a ROR entry, the shape Crossref
    # uses for ids ({"id", "id-type", "asserted-by"}, as institution ids in 10.2210/pdb4hhb/pdb).
    message = copy.deepcopy(load_json("crossref/10.1371_journal.ppat.1008184.json")["message"])
    message["funder"][0]["id"].append(
        {"id": "https://ror.org/018mejw64", "id-type": "ROR", "asserted-by": "publisher"}
    )
    assert parse_work(message).funders == (
        Funder(
            name="Deutsche Forschungsgemeinschaft",
            doi="10.13039/501100001659",
            ror="https://ror.org/018mejw64",
            awards=("NA 240/10-2",),
        ),
    )


# --- ISBN, ISSN, places ---


def test_chapter_isbns_print_and_electronic() -> None:
    record = work("10.1007_978-3-662-46370-3_13.json")
    assert record.isbn == (Isbn("9783662463697", "print"), Isbn("9783662463703", "electronic"))
    assert record.publisher_place == "Berlin, Heidelberg"


def test_monograph_isbns_in_the_order_given() -> None:
    record = work("10.1017_9781108348843.json")
    assert record.isbn == (
        Isbn("9781108348843", "electronic"),
        Isbn("9781108425728", "print"),
        Isbn("9781108443241", "print"),
    )


def test_bad_isbn_and_issn_dropped() -> None:
    message = copy.deepcopy(load_json("crossref/10.1007_978-3-662-46370-3_13.json")["message"])
    message["isbn-type"][0]["value"] = "9783662463698"  # check digit off by one
    message["ISBN"] = ["9783662463698", "9783662463703"]
    message["ISSN"] = ["0340-2593", "0340-2592"]
    record = parse_work(message)
    assert record.isbn == (Isbn("9783662463703", "electronic"),)
    assert record.issn == ("0340-2592",)


def test_issns_checked_print_first() -> None:
    record = work("10.7554_elife.01567.json")
    assert record.issn == ("2050-084X",)
    assert work("10.1136_jclinpath-2020-206745.json").issn == ("0021-9746", "1472-4146")


def test_journal_abbreviation() -> None:
    assert work("10.1007_s00120-007-1345-2.json").container_short_title == "Urologe"
    assert work("10.1136_jclinpath-2020-206745.json").container_short_title == "J Clin Pathol"
    assert work("10.1371_journal.pone.0033693.json").container_short_title == "PLoS ONE"


# --- conferences ---


def test_event_with_start_date() -> None:
    record = item("list_works_query-widget_cursor-page1.json", 5)
    assert record.doi == "10.1109/afrcon.2009.5308146"
    assert (record.event_name, record.event_place, record.event_date) == (
        "AFRICON 2009 (AFRICON)",
        "Nairobi, Kenya",
        "2009-09-23",
    )


def test_event_without_date() -> None:
    record = work("10.1145_3448016.3452841.json")
    assert record.event_name == "SIGMOD/PODS '21: International Conference on Management of Data"
    assert record.event_place == "Virtual Event China"
    assert record.event_date is None
    assert record.publisher_place == "New York, NY, USA"


# --- titles ---


def test_second_title_is_an_alternative() -> None:
    record = work("10.1007_s00120-007-1345-2.json")
    assert record.title == "Penisverletzung durch eine Moulinette"
    assert record.titles == (Title("Penile injury caused by a Moulinette", "alternative"),)


def test_original_and_short_titles() -> None:
    # No recorded work has a non-empty original-title or short-title (all are []); the real
    # record with those fields filled in the documented shape (lists of strings).
    message = copy.deepcopy(load_json("crossref/10.7554_elife.01567.json")["message"])
    message["original-title"] = ["Histologie quantitative automatisée"]
    message["short-title"] = ["Automated histology"]
    assert parse_work(message).titles == (
        Title("Histologie quantitative automatisée", "original"),
        Title("Automated histology", "short"),
    )
    assert work("10.7554_elife.01567.json").titles == ()


# --- references ---


def test_references_doi_text_and_key() -> None:
    record = work("10.53731_ybhah-9jy85.json")  # kept fixture
    assert record.references == (
        Reference(
            doi="10.1038/d41586-023-02554-0",
            unstructured="Vidal Valero, M. (2023). Thousands of scientists are cutting back on "
            "Twitter, seeding angst and uncertainty. Nature, 620(7974), 482–484.",
            key="ref1",
        ),
        Reference(
            doi="10.24343/c34w2h",
            unstructured="Bilder, G., Lin, J.& Neylon, C. (2020). The Principles of Open "
            "Scholarly Infrastructure. The Principles of Open Scholarly Infrastructure.",
            key="ref2",
        ),
        Reference(
            doi="10.53731/9cdnt-2k006",
            unstructured="Fenner, M. (2023, July 31). The Rogue Scholar weekly newsletter "
            "launches on Wednesday. Front Matter.",
            key="ref3",
        ),
    )


def test_structured_reference_keeps_its_parts() -> None:
    record = work("10.1371_journal.pone.0033693.json")
    assert len(record.references) == 70  # reference-count 70: none lost
    assert record.references[0] == Reference(doi="10.1038/sj.npp.1301164", key="ref1")
    by_key = {r.key: r for r in record.references}
    assert by_key["ref23"] == Reference(
        unstructured="I Miyazaki, 2008, Dopaminergic neuron-specific oxidative stress caused by "
        "dopamine itself., Acta Med Okayama, 62, 141",
        key="ref23",
    )


# --- updates: who asserted them ---


def test_update_source_publisher() -> None:
    [update] = work("10.1371_journal.pone.0033693.json").updates
    assert update.source == "publisher"
    assert update.record_id is None


def test_retraction_watch_update_with_record_id() -> None:
    # No recorded response with a Retraction Watch assertion was found. The real record with
    # its updated-by replaced by the entries Crossref answered for the Wakefield paper
    # 10.1016/s0140-6736(97)11096-0, as quoted from a live answer in a public write-up: the
    # date only as date-time, the record id as a string. The second entry (the publisher's
    # assertion of the same notice, record id as a number) is made up, to check both forms.
    message = copy.deepcopy(load_json("crossref/10.1371_journal.pone.0033693.json")["message"])
    message["updated-by"] = [
        {
            "DOI": "10.1016/s0140-6736(10)60175-4",
            "type": "retraction",
            "label": "Retraction",
            "source": "retraction-watch",
            "updated": {"date-time": "2010-02-06T00:00:00Z"},
            "record-id": "4036",
        },
        {
            "DOI": "10.1016/s0140-6736(10)60175-4",
            "type": "retraction",
            "label": "Retraction",
            "source": "publisher",
            "updated": {"date-parts": [[2010, 2, 6]]},
            "record-id": 4036,
        },
    ]
    assert parse_work(message).updates == (
        Update(
            "updated-by",
            "10.1016/s0140-6736(10)60175-4",
            "retraction",
            "Retraction",
            "2010-02-06",
            source="retraction-watch",
            record_id="4036",
        ),
        Update(
            "updated-by",
            "10.1016/s0140-6736(10)60175-4",
            "retraction",
            "Retraction",
            "2010-02-06",
            source="publisher",
            record_id="4036",
        ),
    )


# --- left alone, on purpose ---


def test_alternative_id_is_not_an_identifier_we_keep() -> None:
    # alternative-id is the publisher's internal id (Elsevier's PII, Springer's "1345") or the
    # DOI again: no scheme, so not an other_id.
    assert work("10.1016_j.neurobiolaging.2010.03.024.json").other_ids == ()


def test_one_abstract_without_language() -> None:
    # Crossref gives one JATS abstract string and no language for it: nothing for `abstracts`.
    assert work("10.7554_elife.01567.json").abstracts == ()


def test_odd_shapes_give_no_exception() -> None:
    message = {
        "DOI": "10.5555/odd",
        "editor": "Smith",
        "translator": [None, {"name": "  "}],
        "funder": [{"award": "x"}, "x", {"name": "F", "award": [None, " A1 "], "DOI": 5}],
        "isbn-type": [{"value": 9783662463697}],
        "ISBN": "978-3-662-46369-7",
        "event": ["x"],
        "degree": "PhD",
        "reference": [{"key": "r"}, {"DOI": " "}, 4],
        "approved": {"date-parts": [[2020, 13]]},
        "resource": {"primary": "https://example.org"},
        "updated-by": [{"DOI": "10.1/x", "record-id": True, "updated": {"date-time": 5}}],
        "relation": {"is-part-of": [{"id-type": "ISSN", "id": "2050-084x"}]},
        "group-title": "G",
        "type": "posted-content",
    }
    record = parse_work(message)
    assert record.contributors == ()
    assert record.funders == (Funder(name="F", awards=("A1",)),)
    assert record.isbn == (Isbn("9783662463697"),)
    assert record.issued == "2020"
    assert record.url is None
    assert record.degree is None
    assert record.references == ()
    assert record.updates == (Update("updated-by", "10.1/x", "unknown"),)
    assert record.issn == ("2050-084X",)
    assert record.container_title == "G"
