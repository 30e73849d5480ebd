"""The pure Crossref parser, checked against the recorded responses in ../shared/fixtures/crossref.

Expected values were read from the fixture files and are written out literally, so a reader can
check them against the JSON by eye.
"""

from __future__ import annotations

import copy
import json

import pytest
from conftest import fixture_path, load_json
from fakes import recorded_names

from harvester.errors import BadPayload
from harvester.models import Author, Record, Relation, Update
from harvester.sources.crossref import (
    SOURCE,
    WorkList,
    date_parts_to_iso,
    jats_to_text,
    parse_work_list,
    unwrap,
)
from harvester.sources.crossref import (
    parse as parse_work,
)


def work(name: str) -> Record:
    return parse_work(unwrap(load_json(f"crossref/{name}"), "work"))


# --- every recorded response parses ---


@pytest.mark.parametrize("name", recorded_names("crossref"))
def test_every_recorded_crossref_response_parses(name: str) -> None:
    body = json.loads(fixture_path(f"crossref/{name}").read_bytes())
    kind = body["message-type"]
    if kind == "work":
        record = parse_work(unwrap(body, "work"))
        assert record.source == SOURCE == "crossref"
        assert record.doi == body["message"]["DOI"]
    elif kind == "work-list":
        page = parse_work_list(body)
        assert page.total == body["message"]["total-results"]
        records = [parse_work(item) for item in page.items]
        assert [r.doi for r in records] == [i["DOI"] for i in body["message"]["items"]]
    elif kind == "work-agency":
        message = unwrap(body, "work-agency")
        assert message["agency"]["id"] in {"crossref", "medra"}
    else:
        pytest.fail(f"{name}: message-type {kind!r} has no parser yet")


# --- single works, field by field ---


def test_elife_article() -> None:
    record = work("10.7554_elife.01567.json")
    assert record.doi == "10.7554/elife.01567"
    assert record.type == "journal-article"
    assert record.title == (
        "Automated quantitative histology reveals vascular morphodynamics during Arabidopsis "
        "hypocotyl secondary growth"
    )
    assert record.subtitle is None
    assert record.container_title == "eLife"
    assert record.issn == ("2050-084X",)
    assert record.volume == "3"
    assert record.issue is None
    assert record.pages is None  # only article-number "e01567", which is not pages
    assert record.issued == "2014-02-11"
    assert record.published_online == "2014-02-11"
    assert record.published_print is None
    assert record.publisher == "eLife Sciences Publications, Ltd"
    assert record.language == "en"
    # the landing page (resource.primary.URL), not `URL`, the doi.org link the DOI gives anyway
    assert record.url == "https://elifesciences.org/articles/01567"
    assert record.license == "http://creativecommons.org/licenses/by/3.0/"
    assert record.reference_count == 27
    assert record.cited_by_count == 36
    lausanne = (
        "Department of Plant Molecular Biology, University of Lausanne, Lausanne, Switzerland"
    )
    assert record.authors == (
        Author(given="Martial", family="Sankar", affiliations=(lausanne,)),
        Author(given="Kaisa", family="Nieminen", affiliations=(lausanne,)),
        Author(given="Laura", family="Ragni", affiliations=(lausanne,)),
        Author(
            given="Ioannis",
            family="Xenarios",
            affiliations=("Vital-IT, Swiss Institute of Bioinformatics, Lausanne, Switzerland",),
        ),
        Author(given="Christian S", family="Hardtke", affiliations=(lausanne,)),
    )
    assert record.abstract.startswith(
        "Among various advantages, their small size makes model organisms preferred subjects "
        "of investigation. Yet, even in model systems"
    )
    assert record.abstract.endswith("for example equidistant phloem pole formation.")
    assert "<" not in record.abstract
    assert "jats" not in record.abstract
    assert "\n" not in record.abstract  # a single <jats:p>
    assert Relation("is-supplemented-by", "doi", "10.5061/dryad.b835k") in record.relations
    assert record.relations == (
        Relation("has-review", "doi", "10.7554/eLife.01567.016"),
        Relation("has-review", "doi", "10.7554/eLife.01567.017"),
        Relation("is-supplemented-by", "doi", "10.5061/dryad.b835k"),
    )
    assert record.updates == ()


def test_component_without_title() -> None:
    record = work("10.1371_journal.pmed.0030277.g001.json")
    assert record.doi == "10.1371/journal.pmed.0030277.g001"
    assert record.type == "component"
    assert record.title is None  # "title": []
    assert record.container_title is None
    assert record.issued is None  # "date-parts": [[null]]
    assert record.authors == ()
    assert record.issn == ()
    assert record.license is None
    assert record.relations == (Relation("is-component-of", "doi", "10.1371/journal.pmed.0030277"),)


def test_correction_shows_as_updated_by() -> None:
    record = work("10.1371_journal.pone.0033693.json")
    assert record.updates == (
        Update(
            direction="updated-by",
            doi="10.1371/annotation/c76da2c1-ccb8-4797-94c1-359d3ceceeda",
            type="correction",
            label="Correction",
            date="2012-05-08",
            source="publisher",
        ),
    )
    # The record has an editor: editors are not authors.
    assert len(record.authors) == 6
    assert "Borlongan" not in [a.family for a in record.authors]
    assert record.pages == "e33693"
    assert record.license == "http://creativecommons.org/licenses/by/4.0/"  # "unspecified" only


def test_update_to_and_updated_by_new_version() -> None:
    record = work("10.1371_journal.ppat.1008184.json")
    assert record.updates == (
        Update(
            "update-to",
            "10.1371/journal.ppat.1008184",
            "new_version",
            "New version",
            "2020-01-30",
            source="publisher",
        ),
        Update(
            "updated-by",
            "10.1371/journal.ppat.1008184",
            "new_version",
            "New version",
            "2020-01-30",
            source="publisher",
        ),
    )
    assert record.relations == (Relation("new_version", "doi", "10.1371/journal.ppat.1008184"),)
    # Non-ASCII author names come through unchanged; https ORCID -> bare form.
    assert record.authors[2] == Author(given="Sabrina", family="Mühlen")
    assert record.authors[3] == Author(given="Petra", family="Dersch", orcid="0000-0001-8177-3280")
    assert "Tran Van Nhieu" not in [a.family for a in record.authors]  # the editor


def test_fifteen_authors_in_order_with_orcid() -> None:
    record = work("10.1136_jclinpath-2020-206745.json")
    assert [(a.given, a.family) for a in record.authors] == [
        ("Jun", "Xu"),
        ("Shoufang", "Qu"),
        ("Nan", "Sun"),
        ("Wenxin", "Zhang"),
        ("Juanli", "Zhang"),
        ("Qingtao", "Song"),
        ("Mufei", "Lin"),
        ("Wei", "Gao"),
        ("Qiaosong", "Zheng"),
        ("Mipeng", "Han"),
        ("Chenglong", "Na"),
        ("Ren", "Xu"),
        ("Xiaoyan", "Chang"),
        ("Xuexi", "Yang"),
        ("Jie", "Huang"),
    ]
    assert [a.orcid for a in record.authors if a.orcid] == ["0000-0002-3513-6501"]
    assert record.authors[13].orcid == "0000-0002-3513-6501"
    assert record.authors[0].affiliations == (
        "Department of Neurosurgery, China-Japan Friendship Hospital, Beijing, China",
    )
    # Title with <i> markup and pretty-printer line breaks around it.
    assert record.title == (
        "Construction of a reference material panel for detecting KRAS/NRAS/EGFR/BRAF/MET "
        "mutations in plasma ctDNA"
    )
    assert record.issn == ("0021-9746", "1472-4146")  # print first
    assert record.volume == "74"
    assert record.issue == "5"
    assert record.pages == "314-320"
    # Partial dates stay partial.
    assert record.issued == "2020-08-17"
    assert record.published_online == "2020-08-17"
    assert record.published_print == "2021-05"
    # Structured JATS abstract: section titles kept as their own paragraphs.
    paragraphs = record.abstract.split("\n\n")
    assert paragraphs[0] == "Background"
    assert paragraphs[1].startswith("The absence of high-quality next-generation sequencing")
    assert paragraphs[2] == "Objective"
    assert (
        "Kirsten rat sarcoma viral oncogene (KRAS)/neuroblastoma ras oncogene (NRAS)/"
        in (paragraphs[3])
    )
    assert paragraphs[4::2] == ["Methods", "Results", "Conclusion"]
    assert "six mutations in KRAS, two mutations in NRAS, three in BRAF" in paragraphs[7]
    assert paragraphs[9].startswith("RM for a KRAS/NRAS/EGFR/BRAF/MET mutation panel")
    assert "<" not in record.abstract
    assert "jats" not in record.abstract
    assert "  " not in record.abstract


def test_orcid_http_form_and_escaped_text_in_list_items() -> None:
    page = parse_work_list(
        load_json("crossref/list_works_query-global-state_filter-has-orcid_rows3.json")
    )
    records = [parse_work(item) for item in page.items]
    assert records[0].authors[0].orcid == "0000-0003-1572-5357"  # "http://orcid.org/0000-..."
    assert records[2].container_title == "Photodermatology, Photoimmunology & Photomedicine"
    assert records[1].authors[0].affiliations == (
        "School of Government and International Affairs, Durham University, United Kingdom "
        "& SIGLA Stellenbosch University South Africa",
    )


def test_affiliation_entity_unescaped() -> None:
    record = work("10.1145_3448016.3452841.json")
    assert record.authors[0].affiliations == (
        "Lawrence Berkeley National Lab & University of California, Berkeley, Berkeley, CA, USA",
    )
    assert record.subtitle == "Overcoming the Time/Space Trade-Off in Filter Design"


def test_organisational_author() -> None:
    # No recorded Crossref fixture (single works or list items) has an organisational author
    # ({"name": ...} with no family), so this one is hand-built from the documented shape.
    message = {
        "DOI": "10.5555/example",
        "author": [
            {"name": "  The  ENCODE Project Consortium ", "sequence": "first", "affiliation": []},
            {"given": "Ann", "family": "Smith", "sequence": "additional", "affiliation": []},
        ],
    }
    assert parse_work(message).authors == (
        Author(name="The ENCODE Project Consortium"),
        Author(given="Ann", family="Smith"),
    )


def test_author_with_no_name_is_skipped() -> None:
    # A real dissertation item whose first author entry is empty ({"sequence": "additional"}).
    page = parse_work_list(load_json("crossref/list_works_query-widget_cursor-page3.json"))
    record = parse_work(page.items[4])
    assert record.doi == "10.31390/gradschool_theses.6125"
    assert record.type == "dissertation"
    assert record.authors == (
        Author(
            given="Joshua",
            family="Rovira",
            affiliations=("Louisiana State University and Agricultural and Mechanical College",),
        ),
    )


def test_many_authors_in_list_item() -> None:
    page = parse_work_list(
        load_json("crossref/list_works_filter-prefix-10.5555_type-journal-article_rows20.json")
    )
    record = parse_work(page.items[10])
    assert record.doi == "10.5555/test_20101004100"
    assert len(record.authors) == 19
    assert record.authors[0] == Author(
        given="Rainer",
        family="Kaiser",
        orcid="0000-0003-1750-3395",
        affiliations=(
            "DZHK (German Centre for Cardiovascular Research), partner site Munich Heart "
            "Alliance, Germany, Germany",
        ),
    )
    assert (record.authors[13].given, record.authors[13].family) == ("Stefan", "Kääb")
    assert (record.authors[-1].given, record.authors[-1].family) == ("Leo", "Nicolai")
    # Whitespace collapsed in titles.
    assert parse_work(page.items[13]).title == (
        "Further Crossvalidation of Regression-Based Neuropsychological Norms with an Update "
        "for the Boston Naming Test"
    )
    assert parse_work(page.items[19]).title == "Article Nov 16, 2006 11:51"


def test_book_chapter() -> None:
    record = work("10.1007_978-3-662-46370-3_13.json")
    assert record.type == "book-chapter"
    assert record.title == "Clinical Symptoms and Physical Examinations"
    assert record.container_title == "Shoulder Stiffness"  # the book
    assert record.pages == "155-158"
    assert record.issn == ()  # ISBNs 9783662463697 / 9783662463703 are not ISSNs
    assert record.issued == "2015"
    assert record.published_print == "2015"
    assert record.publisher == "Springer Berlin Heidelberg"
    assert record.license == "https://www.springernature.com/gp/researchers/text-and-data-mining"
    assert record.authors == (
        Author(given="Ronald L.", family="Diercks"),
        Author(given="Tom Clement", family="Ludvigsen"),
    )
    assert record.reference_count == 22


def test_german_article_first_title_and_partial_issued() -> None:
    record = work("10.1007_s00120-007-1345-2.json")
    assert record.title == "Penisverletzung durch eine Moulinette"  # first of two titles
    assert record.subtitle == "Folge einer autoerotischen Selbstverstümmelung"
    assert record.language == "de"
    assert record.container_title == "Der Urologe"
    assert record.authors == (Author(given="M.", family="Lehsnau"),)
    assert record.issued == "2007-07"
    assert record.published_print == "2007-07"
    assert record.published_online == "2007-07-08"
    assert record.issn == ("0340-2592", "1433-0563")


def test_non_ascii_author_names() -> None:
    record = work("10.3389_fgene.2017.00147.json")
    assert record.authors[:2] == (
        Author(given="Josef", family="Pánek"),
        Author(given="Martin", family="Modrák"),
    )
    assert record.relations == (Relation("has-preprint", "doi", "10.1101/171108"),)


def test_doi_with_parentheses() -> None:
    record = work("10.1111_(issn)1442-9993.json")
    assert record.doi == "10.1111/(issn)1442-9993"
    assert record.type == "journal"
    assert record.title == "Austral Ecology"
    assert record.issn == ("1442-9985", "1442-9993")
    assert record.url == "http://doi.wiley.com/10.1111/(ISSN)1442-9993"  # resource.primary.URL
    assert record.issued is None
    assert record.authors == ()


def test_licence_without_vor_takes_the_first() -> None:
    record = work("10.1016_j.neurobiolaging.2010.03.024.json")
    assert record.license == "https://www.elsevier.com/tdm/userlicense/1.0/"
    assert record.issn == ("0197-4580",)
    assert record.issued == "2012-03"


def test_duplicate_relations_collapse() -> None:
    # is-version-of is asserted twice (by subject and by object) for the same DOI.
    record = work("10.54900_rckn8ey-1fm76va-qsrnf.json")
    assert record.relations == (Relation("is-version-of", "doi", "10.54900/99e78-20w68"),)
    assert record.abstract.startswith("Today we are announcing Upstream.")


def test_posted_content_drops_abstract_heading() -> None:
    record = work("10.1101_2020.12.01.406702.json")
    assert record.title == (
        "Identification of a novel cationic glycolipid in Streptococcus agalactiae that "
        "contributes to brain entry and meningitis"
    )
    assert record.abstract.startswith("Bacterial membrane lipids are critical")
    assert "Abstract" not in record.abstract
    assert "synthesized in high abundance by the bacterium Streptococcus agalactiae (Group B " in (
        record.abstract
    )


def test_partial_dates_built_from_a_real_record() -> None:
    message = copy.deepcopy(load_json("crossref/10.7554_elife.01567.json")["message"])
    message["issued"] = {"date-parts": [[2014, 2]]}
    message["published-online"] = {"date-parts": [[2014]]}
    message["published-print"] = {"date-parts": [[None]]}
    record = parse_work(message)
    assert (record.issued, record.published_online, record.published_print) == (
        "2014-02",
        "2014",
        None,
    )


# --- robustness ---


def test_wrong_types_are_treated_as_missing() -> None:
    message = {
        "DOI": "10.5555/odd",
        "type": None,
        "title": "not a list",
        "subtitle": [None, 3, "  Real   subtitle "],
        "container-title": None,
        "ISSN": "1234-5678",
        "issn-type": [{"value": None}, "x"],
        "volume": 12,
        "issue": True,
        "page": ["1-2"],
        "issued": "2014",
        "published-print": {"date-parts": "2014"},
        "published-online": {"date-parts": [[2014, 13, 1]]},
        "publisher": {"name": "x"},
        "author": "Smith, J.",
        "abstract": ["<jats:p>x</jats:p>"],
        "license": {"URL": "https://example.org/l", "content-version": "tdm"},
        "relation": {"cites": {"id-type": "doi", "id": "10.5555/one"}, "is-part-of": "x"},
        "update-to": {"DOI": "10.5555/old", "type": "retraction"},
        "updated-by": [None, {"type": "correction"}],
        "references-count": "12",
        "is-referenced-by-count": -1,
        "language": 7,
        "URL": None,
    }
    record = parse_work(message)
    assert record == Record(
        source="crossref",
        doi="10.5555/odd",
        subtitle="Real subtitle",
        volume="12",
        published_online="2014",
        license="https://example.org/l",
        relations=(Relation("cites", "doi", "10.5555/one"),),  # a single dict, not a list
        updates=(Update("update-to", "10.5555/old", "retraction"),),
    )


def test_select_partial_items_parse() -> None:
    page = parse_work_list(load_json("crossref/list_works_query-ecology_select-DOI-title.json"))
    assert page.total == 586628
    assert len(page.items) == 20
    assert page.next_cursor is None
    first = parse_work(page.items[0])
    assert first == Record(
        source="crossref", doi="10.1093/obo/9780199830060-0238", title="Communicating Ecology"
    )


@pytest.mark.parametrize("message", [None, [], "10.5555/x", 5, {"title": ["No DOI"]}, {"DOI": " "}])
def test_parse_work_rejects_non_objects_and_missing_doi(message) -> None:
    with pytest.raises(BadPayload) as caught:
        parse_work(message)
    assert caught.value.source == "crossref"


def test_parse_work_on_an_envelope_says_to_unwrap() -> None:
    with pytest.raises(BadPayload, match="unwrap"):
        parse_work(load_json("crossref/10.7554_elife.01567.json"))


# --- lists and cursors ---


@pytest.mark.parametrize("page", [1, 2, 3])
def test_cursor_pages(page: int) -> None:
    result = parse_work_list(load_json(f"crossref/list_works_query-widget_cursor-page{page}.json"))
    assert isinstance(result, WorkList)
    assert result.total == 454
    assert len(result.items) == 20
    assert result.next_cursor.startswith("DnF1ZXJ5VGhlbkZldGNoJAAAAAAd55AFFjJLRW01")
    assert result.next_cursor.endswith("RHandkUQ==")
    assert len(result.next_cursor) == 1512


def test_cursor_page_items() -> None:
    result = parse_work_list(load_json("crossref/list_works_query-widget_cursor-page1.json"))
    first = parse_work(result.items[0])
    assert first.doi == "10.1007/978-1-4302-0197-7_9"
    assert first.title == "Widget Mania: Using a GUI Widget Framework"
    assert first.type == "book-chapter"
    assert first.issued is None


def test_member_works_cursor() -> None:
    result = parse_work_list(load_json("crossref/list_members-98_works_rows5_cursor-page1.json"))
    assert result.total == 138567
    assert len(result.items) == 5
    assert result.next_cursor is not None
    assert parse_work(result.items[1]).issued == "2016"


def test_empty_list() -> None:
    result = parse_work_list(load_json("crossref/list_works_query-adfaaf_empty.json"))
    assert result == WorkList(items=[], total=0, next_cursor=None)


def test_rows0_facet_list_has_total_but_no_items() -> None:
    result = parse_work_list(load_json("crossref/list_members-2984_works_rows0_facet-issn.json"))
    assert result == WorkList(items=[], total=851692, next_cursor=None)


@pytest.mark.parametrize(
    "message",
    [
        {"total-results": 1},
        {"items": "x", "total-results": 1},
        {"items": [1], "total-results": 1},
        {"items": [], "total-results": "1"},
        [],
    ],
)
def test_malformed_work_list(message) -> None:
    body = {"status": "ok", "message-type": "work-list", "message": message}
    with pytest.raises(BadPayload):
        parse_work_list(body)


# --- envelopes and errors ---


def test_agency() -> None:
    message = unwrap(load_json("crossref/agency_10.1430_8105.json"), "work-agency")
    assert message == {"DOI": "10.1430/8105", "agency": {"id": "medra", "label": "mEDRA"}}


def test_validation_failure() -> None:
    with pytest.raises(BadPayload) as caught:
        unwrap(load_json("errors/crossref_400_sample-200.json"), "work-list")
    text = str(caught.value)
    assert "'work-list'" in text
    assert "'failed'" in text
    assert "validation-failure" in text
    assert "integer-not-valid" in text
    assert "less than or equal to 100" in text
    assert caught.value.source == "crossref"


def test_bad_cursor() -> None:
    with pytest.raises(BadPayload) as caught:
        parse_work_list(load_json("errors/crossref_404_bad-cursor.json"))
    text = str(caught.value)
    assert "resource-failure" in text
    assert "cursor-invalid" in text
    assert "Cursor specified but it is invalid" in text


def test_query_on_single_doi() -> None:
    with pytest.raises(BadPayload, match="This route does not support field query parameters"):
        unwrap(load_json("errors/crossref_400_query-on-single-doi.json"), "work")


def test_server_exception() -> None:
    with pytest.raises(BadPayload, match=r"'error'.*'exception'.*Response Exception"):
        unwrap(load_json("errors/crossref_500_cursor-5.json"), "work-list")


def test_list_envelope_where_a_work_was_expected() -> None:
    with pytest.raises(BadPayload) as caught:
        unwrap(load_json("crossref/list_works_query-adfaaf_empty.json"), "work")
    assert "expected message-type 'work', got 'work-list'" in str(caught.value)


def test_plain_text_not_found_body() -> None:
    text = fixture_path("errors/crossref_404_works_10.1371_notarealdoi.txt").read_text()
    with pytest.raises(BadPayload, match="Resource not found"):
        unwrap(text, "work")


@pytest.mark.parametrize(
    "body",
    [None, [], {"status": "ok", "message-type": "work"}, {"status": "ok", "message": {}}],
)
def test_other_bad_envelopes(body) -> None:
    with pytest.raises(BadPayload, match="'work'"):
        unwrap(body, "work")


# --- jats_to_text ---


def test_jats_sections_with_titles() -> None:
    markup = (
        "<jats:sec><jats:title>Background</jats:title><jats:p>First   part.</jats:p></jats:sec>"
        "\n  <jats:sec>\n<jats:title>Methods</jats:title>\n<jats:p>\n  Second\n  part.\n"
        "</jats:p></jats:sec>"
    )
    assert jats_to_text(markup) == "Background\n\nFirst part.\n\nMethods\n\nSecond part."


@pytest.mark.parametrize("heading", ["Abstract", "Summary", "ABSTRACT", "Abstract:"])
def test_jats_generic_heading_dropped(heading: str) -> None:
    markup = f"<jats:title>{heading}</jats:title><jats:p>Body.</jats:p><jats:p>More.</jats:p>"
    assert jats_to_text(markup) == "Body.\n\nMore."


def test_jats_other_heading_kept() -> None:
    assert jats_to_text("<jats:title>Abstract of a talk</jats:title><jats:p>x</jats:p>") == (
        "Abstract of a talk\n\nx"
    )


def test_jats_sup_sub_inline() -> None:
    markup = (
        "<jats:p>E = mc<jats:sup>2</jats:sup> for H<jats:sub>2</jats:sub>O"
        " at 10<jats:sup>−3</jats:sup> M</jats:p>"
    )
    assert jats_to_text(markup) == "E = mc2 for H2O at 10−3 M"


def test_jats_entities() -> None:
    markup = "<jats:p>Smith &amp; Jones: &lt;5% of &#946;-cells &#x3b3; &quot;ok&quot;</jats:p>"
    assert jats_to_text(markup) == 'Smith & Jones: <5% of β-cells γ "ok"'


def test_jats_nested_italic() -> None:
    markup = (
        "<jats:p>In <jats:italic>Drosophila <jats:bold>melanogaster</jats:bold></jats:italic>"
        " flies, <jats:italic>p</jats:italic> &lt; 0.05.</jats:p>"
    )
    assert jats_to_text(markup) == "In Drosophila melanogaster flies, p < 0.05."


def test_jats_layout_whitespace_around_inline_markup() -> None:
    markup = (
        "<jats:p>\n  oncogene (\n  <jats:italic>KRAS</jats:italic>\n  )/rest in\n"
        "  <jats:italic>NRAS</jats:italic>\n  , and\n  <jats:italic>MET</jats:italic>\n"
        "  gain\n</jats:p>"
    )
    assert jats_to_text(markup) == "oncogene (KRAS)/rest in NRAS, and MET gain"


def test_plain_text_unchanged() -> None:
    text = "A plain abstract, with no markup at all (p < 0.05)."
    assert jats_to_text(text) == text
    assert jats_to_text("One.\n\nTwo\nlines.") == "One.\n\nTwo lines."
    assert jats_to_text("") == ""


def test_html_abstract() -> None:
    assert jats_to_text("<p>One<br/>Two</p><p>Three <i>x</i></p>") == "One\n\nTwo\n\nThree x"


# --- date_parts_to_iso ---


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"date-parts": [[2014, 2, 11]]}, "2014-02-11"),
        ({"date-parts": [[2014, 2]]}, "2014-02"),
        ({"date-parts": [[2014]]}, "2014"),
        ({"date-parts": [[None]]}, None),
        ({"date-parts": [[]]}, None),
        ({"date-parts": []}, None),
        ({}, None),
        (None, None),
        ({"date-parts": [[2014, None, 3]]}, "2014"),
        ({"date-parts": [[2014, 13, 1]]}, "2014"),
        ({"date-parts": [[2014, 2, 0]]}, "2014-02"),
        ({"date-parts": [["2014", "2"]]}, "2014-02"),
        ({"date-parts": [[True]]}, None),
        ({"date-parts": "2014"}, None),
        ({"date-parts": [[1943, 3]], "date-time": "1943-03-01T00:00:00Z"}, "1943-03"),
    ],
)
def test_date_parts_to_iso(value, expected) -> None:
    assert date_parts_to_iso(value) == expected
