"""The pure OpenAlex parser, checked against the recorded responses in ../shared/fixtures/openalex.

Expected values were read from the fixture files and are written out literally, so a reader can
check them against the JSON by eye.
"""

from __future__ import annotations

import copy
import json

import pytest
from conftest import fixture_path, load_json, load_meta
from fakes import recorded_names

from harvester.errors import BadPayload
from harvester.models import Author, Record
from harvester.sources.openalex import (
    SOURCE,
    WorkList,
    abstract_from_inverted_index,
    bare_doi,
    parse_work_list,
)
from harvester.sources.openalex import (
    parse as parse_work,
)


def work(name: str) -> Record:
    return parse_work(load_json(f"openalex/{name}"))


# --- every recorded response parses ---


@pytest.mark.parametrize("name", recorded_names("openalex"))
def test_every_recorded_openalex_response_parses(name: str) -> None:
    body = json.loads(fixture_path(f"openalex/{name}").read_bytes())
    if "results" in body:
        page = parse_work_list(body)
        assert page.total == body["meta"]["count"]
        records = [parse_work(item) for item in page.items]
        assert [r.openalex_id for r in records] == [i["id"] for i in body["results"]]
    else:
        records = [parse_work(body)]
        assert records[0].openalex_id == body["id"]
    for record in records:
        assert record.source == SOURCE == "openalex"
        assert record.doi is None or record.doi.startswith("10.")
        if record.abstract is not None:
            assert "  " not in record.abstract
        for author in record.authors:
            assert author.given is None and author.family is None  # OpenAlex does not split names
            assert author.name or author.orcid


# --- single works, field by field ---


def test_elife_article() -> None:
    record = work("10.7554_elife.01567.json")
    assert record.doi == "10.7554/elife.01567"
    assert record.openalex_id == "https://openalex.org/W2121398592"
    assert record.type == "journal-article"  # primary_location.raw_type (OpenAlex: "article")
    assert record.title == (
        "Automated quantitative histology reveals vascular morphodynamics during Arabidopsis "
        "hypocotyl secondary growth"
    )
    assert record.container_title == "eLife"
    assert record.issn == ("2050-084X",)
    assert record.volume == "3"
    assert record.issue is None
    assert record.pages == "e01567"  # first_page == last_page == "e01567": given once
    assert record.issued == "2014-02-11"
    assert record.publisher == "eLife Sciences Publications Ltd"
    assert record.language == "en"
    assert record.url == "https://doi.org/10.7554/elife.01567"
    assert record.license == "cc-by"  # OpenAlex's short licence id, not a URL
    assert record.reference_count == 29
    assert record.cited_by_count == 45
    assert record.oa_status == "gold"
    assert record.oa_url == "https://doi.org/10.7554/elife.01567"  # best: no pdf_url, landing page
    assert record.subjects == (
        "Plant Molecular Biology Research",
        "Leaf Properties and Growth Measurement",
        "Plant nutrient uptake and metabolism",
    )
    lausanne = ("University of Lausanne",)
    assert record.authors == (
        Author(name="Martial Sankar", affiliations=lausanne),
        Author(name="Kaisa Nieminen", orcid="0000-0001-7004-9422", affiliations=lausanne),
        Author(name="Laura Ragni", orcid="0000-0002-3651-8966", affiliations=lausanne),
        Author(
            name="Ioannis Xénarios",
            orcid="0000-0002-3413-6841",
            affiliations=("SIB Swiss Institute of Bioinformatics",),
        ),
        Author(name="Christian S. Hardtke", orcid="0000-0003-3203-1058", affiliations=lausanne),
    )
    # The abstract, rebuilt from the inverted index: same text as Crossref's JATS abstract.
    assert record.abstract.startswith(
        "Among various advantages, their small size makes model organisms preferred subjects "
        "of investigation. Yet, even in model systems detailed analysis of numerous developmental "
        "processes at cellular level"
    )
    assert record.abstract.endswith(
        "for example equidistant phloem pole formation. DOI: http://dx.doi.org/10.7554/eLife.01567.001."
    )
    assert "  " not in record.abstract
    assert len(record.abstract.split(" ")) == 151  # 151 positions, no gaps
    assert record.relations == ()
    assert record.updates == ()


def test_book_chapter_without_abstract() -> None:
    body = load_json("openalex/10.1007_978-3-662-46370-3_13.json")
    assert body["abstract_inverted_index"] is None
    record = parse_work(body)
    assert record.doi == "10.1007/978-3-662-46370-3_13"
    assert record.type == "book-chapter"
    assert record.title == "Clinical Symptoms and Physical Examinations"
    assert record.abstract is None
    # primary_location.source is null: the book is the raw_source_name Springer gave
    assert record.container_title == "Shoulder Stiffness"
    assert record.issn == ()
    assert record.publisher is None
    assert record.pages == "155-158"
    assert record.volume is None
    assert record.issued == "2015-01-01"  # as OpenAlex gives it (Crossref has only "2015")
    assert record.reference_count == 19
    assert record.cited_by_count == 1
    assert record.oa_status == "closed"
    assert record.oa_url is None  # best_oa_location null, open_access.oa_url null
    assert record.license is None
    assert record.authors == (
        Author(
            name="Ron L. Diercks",
            orcid="0000-0001-9873-208X",
            affiliations=("University Medical Center Groningen", "University of Groningen"),
        ),
        Author(name="Tom C. Ludvigsen", affiliations=("Oslo University Hospital",)),
    )


def test_empty_title() -> None:
    # PROVENANCE.tsv calls this "title = null"; the recorded body holds empty strings for both
    # title and display_name, which count as missing.
    body = load_json("openalex/10.7600_jspfsm.56.60.json")
    assert (body["title"], body["display_name"]) == ("", "")
    record = parse_work(body)
    assert record.title is None
    assert record.doi == "10.7600/jspfsm.56.60"
    assert record.container_title == "Japanese Journal of Physical Fitness and Sports Medicine"
    assert record.issn == ("0039-906X", "1881-4751")
    assert (record.volume, record.issue, record.pages) == ("56", "1", "60")
    assert record.issued == "2007-01-01"
    assert record.abstract is None
    assert record.subjects == ()  # no topics; the one concept scores 0.342
    assert record.oa_status == "bronze"
    assert record.oa_url == "https://www.jstage.jst.go.jp/article/jspfsm/56/1/56_1_60/_pdf"
    # Authors with "id": null still have a name.
    assert record.authors == (Author(name="宮地 元彦"), Author(name="山元 健太"))


def test_title_falls_back_to_display_name() -> None:
    body = copy.deepcopy(load_json("openalex/10.7600_jspfsm.56.60.json"))
    body["title"] = None
    body["display_name"] = "  A  display name "
    assert parse_work(body).title == "A display name"


def test_sici_doi_kept_intact() -> None:
    record = work("10.1890_0012-9658_2006_87_2832_tiopma_2.0.co_2.json")
    assert record.doi == "10.1890/0012-9658(2006)87[2832:tiopma]2.0.co;2"
    assert record.url == "https://doi.org/10.1890/0012-9658(2006)87[2832:tiopma]2.0.co;2"
    # The request was percent-encoded; the answer carries the DOI literally.
    meta = load_meta("openalex/10.1890_0012-9658_2006_87_2832_tiopma_2.0.co_2.json")
    assert "87%5B2832:tiopma%5D2.0.co;2" in meta["request"]["url"]
    assert record.title == (
        "THE IMPACT OF PARASITE MANIPULATION AND PREDATOR FORAGING BEHAVIOR ON PREDATOR–PREY "
        "COMMUNITIES"
    )
    assert record.container_title == "Ecology"
    assert record.issn == ("0012-9658", "1939-9170")
    assert (record.volume, record.issue, record.pages) == ("87", "11", "2832-2841")
    assert record.publisher == "Wiley"
    assert record.abstract.startswith(
        "Parasites are known to directly affect their hosts at both the individual and "
        "population level."
    )
    assert [(a.name, a.orcid) for a in record.authors] == [
        ("Andy Fenton", "0000-0002-7676-917X"),
        ("Sean A. Rands", "0000-0002-7400-005X"),
    ]


def test_ten_authorships_in_order_with_bare_orcids() -> None:
    record = work("10.1016_j.ejphar.2015.03.018.json")
    assert [(a.name, a.orcid) for a in record.authors] == [
        ("Sarah E. Beck", "0000-0002-6376-5276"),
        ("Suzanne E. Queen", "0009-0001-7220-5254"),
        ("Kenneth W. Witwer", "0000-0003-1664-4233"),
        ("Kelly A. Metcalf Pate", "0000-0003-4799-4631"),
        ("Lisa M. Mangus", "0000-0002-3896-517X"),  # "https://orcid.org/0000-0002-3896-517X"
        ("Lúcio Gama", "0000-0001-9511-012X"),
        ("Robert J. Adams", "0000-0002-2142-9813"),
        ("Janice E. Clements", "0000-0002-3096-1457"),
        ("M. Christine Zink", None),
        ("Joseph L. Mankowski", "0000-0002-6283-4727"),
    ]
    assert record.authors[0].affiliations == ("Johns Hopkins University", "Johns Hopkins Medicine")
    assert record.abstract is None
    assert record.volume == "759"
    assert record.pages == "303-312"
    assert record.issued == "2015-04-06"
    assert record.reference_count == 109
    assert record.cited_by_count == 27


def test_preprint_eleven_authorships_and_abstract_heading_dropped() -> None:
    body = load_json("openalex/10.1101_097196.json")
    rebuilt = abstract_from_inverted_index(body["abstract_inverted_index"])
    assert rebuilt.startswith("Abstract This article presents a practical roadmap")
    record = parse_work(body)
    assert record.abstract.startswith(
        "This article presents a practical roadmap for scholarly data repositories to implement "
        "data citation in accordance with the Joint Declaration of Data Citation Principles"
    )
    assert record.type == "posted-content"  # raw_type; OpenAlex's own type is "preprint"
    assert record.container_title == "bioRxiv (Cold Spring Harbor Laboratory)"
    assert record.publisher == "Cold Spring Harbor Laboratory"
    assert record.issn == ()
    assert record.license == "cc-by"
    assert record.oa_status == "green"
    assert (
        record.oa_url == "https://www.biorxiv.org/content/biorxiv/early/2017/10/09/097196.full.pdf"
    )
    assert [a.name for a in record.authors] == [
        "Martin Fenner",
        "Mercè Crosas",
        "Jeffrey Grethe",
        "David Kennedy",
        "Henning Hermjakob",
        "Philippe Rocca-Serra",
        "Gustavo Durand",
        "Robin Berjon",
        "Sebastian Karcher",
        "Maryann Martone",
        "Timothy Clark",
    ]
    assert record.authors[0] == Author(
        name="Martin Fenner", orcid="0000-0003-1419-2405", affiliations=("DataCite",)
    )
    assert record.authors[-1].affiliations == (
        "Harvard University",
        "Massachusetts General Hospital",
    )


def test_german_article() -> None:
    record = work("10.1007_s00120-007-1345-2.json")
    assert record.language == "de"
    assert record.title == "Penisverletzung durch eine Moulinette"
    assert record.container_title == "Der Urologe"
    assert record.issn == ("0340-2592", "1433-0563")
    assert record.publisher == "Springer Nature"
    assert (record.volume, record.issue, record.pages) == ("46", "7", "776-779")
    assert record.issued == "2007-04-13"
    assert record.authors == (
        Author(name="Mike Lehsnau", affiliations=("Unfallkrankenhaus Berlin",)),
    )
    assert record.abstract is None


def test_dataset() -> None:
    record = work("10.2210_pdb4hhb_pdb.json")
    assert record == Record(
        source="openalex",
        doi="10.2210/pdb4hhb/pdb",
        type="dataset",
        title="THE CRYSTAL STRUCTURE OF HUMAN DEOXYHAEMOGLOBIN AT 1.74 ANGSTROMS RESOLUTION",
        # primary_location.source is null; raw_source_name names the database
        container_title="Worldwide Protein Data Bank",
        issued="1984-03-07",
        authors=(Author(name="G. Fermi"), Author(name="M.F. Perutz")),
        language="en",
        url="https://doi.org/10.2210/pdb4hhb/pdb",
        reference_count=0,
        cited_by_count=1,
        # No topics: the concepts scoring >= 0.5 ("Resolution (logic)" has 0.485).
        subjects=("Angstrom", "Crystal structure", "Materials science", "Crystallography"),
        openalex_id="https://openalex.org/W6945048743",
        oa_status="closed",
    )


def test_oa_url_prefers_best_pdf_then_landing_page_then_open_access() -> None:
    gold = work("10.1155_2012_291294.json")
    assert gold.oa_status == "gold"
    assert gold.oa_url == "https://downloads.hindawi.com/journals/pm/2012/291294.pdf"
    assert gold.license == "cc-by"
    assert gold.pages == "1-7"
    assert gold.volume == "2012"
    frontiers = work("10.3389_fpls.2019.00816.json")  # best_oa_location.pdf_url is null
    assert frontiers.oa_url == "https://doi.org/10.3389/fpls.2019.00816"
    assert frontiers.pages == "816"  # first_page == last_page
    # Without a best_oa_location, open_access.oa_url is used; the licence comes from primary.
    body = copy.deepcopy(load_json("openalex/10.3390_publications6020015.json"))
    body["best_oa_location"] = None
    record = parse_work(body)
    assert record.oa_url == "https://www.mdpi.com/2304-6775/6/2/15/pdf?version=1525347674"
    assert record.license == "cc-by"
    assert record.oa_status == "gold"


def test_book_uses_raw_affiliation_when_no_institution() -> None:
    record = work("10.1017_9781108348843.json")
    assert record.type == "monograph"  # primary_location.raw_type, Crossref's name
    # The source is an "ebook platform", the publisher's shelf, not a container of the book.
    assert record.container_title is None
    assert record.publisher == "Cambridge University Press"
    assert record.authors == (
        Author(
            name="Vincent S. Leung",
            orcid="0000-0001-5516-8714",
            affiliations=("Lingnan University, Hong Kong,",),  # institutions: []
        ),
    )
    assert record.abstract.startswith(
        "Why did the past matter so greatly in ancient China? How did it matter and to whom?"
    )
    assert record.abstract.endswith("Significant power lies in the retelling of the past.")
    assert record.oa_status == "bronze"


def test_conference_paper_names_and_affiliations() -> None:
    record = work("10.1145_3448016.3452841.json")
    assert record.type == "proceedings-article"  # raw_type; OpenAlex says "conference-paper"
    # No source; raw_source_name is the proceedings volume
    assert record.container_title == (
        "Proceedings of the 2021 International Conference on Management of Data"
    )
    assert record.pages == "1386-1399"
    assert record.authors[0].affiliations == (
        "Lawrence Berkeley National Laboratory",
        "University of California, Berkeley",
    )
    # No institution: the raw string.
    assert record.authors[1] == Author(
        name="Alex Conway",
        orcid="0000-0003-4890-7413",
        affiliations=("VMware Research, Palo Alto, CA, USA",),
    )
    assert record.authors[4].name == "Martı́n Farach-Colton"  # dotless i + combining acute, as given
    assert record.abstract.startswith(
        "Today's filters, such as quotient, cuckoo, and Morton, have a trade-off between space "
        "and speed;"
    )
    assert "scales 3× with four threads" in record.abstract


def test_garbled_authorships_are_kept_as_given() -> None:
    # OpenAlex took two affiliation strings for authors here; the parser does not guess.
    record = work("10.3934_nhm.2009.4.249.json")
    assert [a.name for a in record.authors] == [
        "Valérie dos Santos",
        ",LAGEP, Université de Lyon, Lyon, F-69003",
        "Bernhard Maschke",
        "Yann Le Gorrec",
        ",FEMTO-ST/AS2M, ENSMM Besan¸con, 24 rue Alain Savary, 25 000 Besanon",
    ]
    assert record.authors[3] == Author(name="Yann Le Gorrec", orcid="0000-0001-6935-1915")
    assert record.issn == ("1556-1801", "1556-181X")


def test_abstract_with_less_than_sign_and_thin_spaces() -> None:
    record = work("10.1155_2012_291294.json")
    assert record.abstract.endswith(
        "Clinicians should retest low-risk individuals with initial QFT results < 1.11 IU/mL."
    )
    page = parse_work_list(load_json("openalex/list_works_sample-5.json"))
    glue = parse_work(page.items[2])
    assert glue.abstract.startswith(
        "Evaluating the effect of Histoacryl on the outcome and recurrence rate after excision"
    )
    assert "31.5\u2009±\u20095.6" in glue.abstract  # a token with thin spaces stays one token


# --- the list answer ---


def test_sample_list() -> None:
    page = parse_work_list(load_json("openalex/list_works_sample-5.json"))
    assert isinstance(page, WorkList)
    assert page.total == 5
    assert page.next_cursor is None  # not a cursor request
    records = [parse_work(item) for item in page.items]
    assert [r.openalex_id for r in records] == [
        "https://openalex.org/W2600965442",
        "https://openalex.org/W2042435470",
        "https://openalex.org/W2497229624",
        "https://openalex.org/W7120675484",
        "https://openalex.org/W2117049431",
    ]
    assert [r.doi for r in records] == [
        None,
        None,
        "10.5580/1cbc",
        None,
        "10.1016/j.landusepol.2004.08.009",
    ]
    assert records[0].container_title == "Бизнес. Общество. Власть"
    assert records[0].issn == ()  # issn_l and issn are null
    assert (records[0].issue, records[0].pages) == ("22", "15-27")
    assert records[1].container_title is None
    assert records[2].authors == ()  # authorships: []
    assert records[2].url == "http://doi.org/10.5580/1cbc"
    assert records[3].language == "pt"
    assert records[3].license == "other-oa"
    assert records[3].oa_status == "green"
    assert records[3].authors == (Author(name="João Maurício Adeodato"),)
    assert records[4].authors == (
        Author(
            name="Maria Franca Norese",
            orcid="0000-0001-7317-8107",
            affiliations=("Politecnico di Torino",),
        ),
    )


def test_cursor_is_read_from_meta() -> None:
    body = copy.deepcopy(load_json("openalex/list_works_sample-5.json"))
    body["meta"]["next_cursor"] = (
        "IlsxNjA5MzcyODAwMDAwLCAnaHR0cHM6Ly9vcGVuYWxleC5vcmcvVzI0ODg0OTk2NDInXSI="
    )
    page = parse_work_list(body)
    assert page.next_cursor == body["meta"]["next_cursor"]
    body["meta"]["next_cursor"] = None
    body["results"] = []
    assert parse_work_list(body) == WorkList(items=[], total=5, next_cursor=None)


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "<html>",
        {"meta": {"count": 1}},
        {"meta": {"count": 1}, "results": {"id": "W1"}},
        {"meta": {"count": 1}, "results": ["W1"]},
        {"results": []},
        {"meta": {"count": "5"}, "results": []},
        {"error": "Invalid query parameters error.", "message": "x is not a valid field"},
    ],
)
def test_parse_work_list_rejects_wrong_shapes(body) -> None:
    with pytest.raises(BadPayload) as caught:
        parse_work_list(body)
    assert caught.value.source == "openalex"


# --- robustness ---


def test_wrong_types_are_treated_as_missing() -> None:
    work_object = {
        "id": 5,
        "doi": "not a doi",
        "ids": {"doi": "https://doi.org/10.5555/odd", "openalex": "https://openalex.org/W1"},
        "type": None,
        "title": ["x"],
        "display_name": "  Real   title ",
        "publication_date": "2014-13-40",
        "publication_year": "2014",
        "language": 7,
        "primary_location": {"source": "x", "landing_page_url": ["u"], "license": 3},
        "best_oa_location": [],
        "open_access": {"oa_status": None, "oa_url": 5},
        "biblio": {"volume": 12, "issue": True, "first_page": None, "last_page": "9"},
        "authorships": [None, "Smith", {"author": None}, {"author": {"display_name": 3}}],
        "abstract_inverted_index": ["a", "b"],
        "cited_by_count": -1,
        "referenced_works_count": "3",
        "referenced_works": ["W2", "W3"],
        "topics": "x",
        "concepts": [{"display_name": "High", "score": True}, {"display_name": "Low"}],
    }
    assert parse_work(work_object) == Record(
        source="openalex",
        doi="10.5555/odd",
        title="Real title",
        volume="12",
        issued="2014",  # month 13 ends the date; then only the year is left
        reference_count=2,  # len(referenced_works)
        openalex_id="https://openalex.org/W1",
    )


def test_empty_object_gives_an_empty_record() -> None:
    assert parse_work({}) == Record(source="openalex")


def test_publication_year_when_no_date() -> None:
    body = copy.deepcopy(load_json("openalex/10.7554_elife.01567.json"))
    del body["publication_date"]
    assert parse_work(body).issued == "2014"
    body["publication_year"] = None
    assert parse_work(body).issued is None


def test_concepts_are_used_only_without_topics() -> None:
    body = copy.deepcopy(load_json("openalex/10.1007_s00120-007-1345-2.json"))
    body["topics"] = []
    # concepts: Gynecology 0.5857, Medicine 0.4666
    assert parse_work(body).subjects == ("Gynecology",)


@pytest.mark.parametrize("work_object", [None, [], "W1", 5])
def test_parse_work_rejects_non_objects(work_object) -> None:
    with pytest.raises(BadPayload) as caught:
        parse_work(work_object)
    assert caught.value.source == "openalex"


def test_parse_work_on_a_list_answer_says_so() -> None:
    with pytest.raises(BadPayload, match="parse_work_list"):
        parse_work(load_json("openalex/list_works_sample-5.json"))


# --- abstract_from_inverted_index ---


def test_inverted_index_places_repeated_words() -> None:
    index = {"the": [0, 4], "cat": [1], "saw": [2, 6], "a": [3], "dog": [5], ".": [7]}
    assert abstract_from_inverted_index(index) == "the cat saw a the dog saw ."


def test_inverted_index_order_of_keys_does_not_matter() -> None:
    index = {"world": [1], "hello": [0]}
    assert abstract_from_inverted_index(index) == "hello world"


def test_inverted_index_skips_gaps() -> None:
    assert abstract_from_inverted_index({"a": [0], "b": [2], "c": [7]}) == "a b c"
    assert abstract_from_inverted_index({"late": [10**9], "early": [3]}) == "early late"


@pytest.mark.parametrize("index", [None, {}, [], "text", 5, {"a": []}, {"": [0]}, {"a": "0"}])
def test_inverted_index_missing_or_empty_gives_none(index) -> None:
    assert abstract_from_inverted_index(index) is None


def test_inverted_index_ignores_bad_values() -> None:
    index = {
        "ok": [0],
        "fine": [1, -1, "2", None, True, 2.0],
        "  ": [2],
        7: [3],
        "text": [4],
        "none": None,
        "num": 5,
    }
    assert abstract_from_inverted_index(index) == "ok fine text"


def test_inverted_index_first_word_wins_a_shared_position() -> None:
    assert abstract_from_inverted_index({"one": [0], "two": [0, 1]}) == "one two"


def test_inverted_index_never_doubles_spaces() -> None:
    text = abstract_from_inverted_index({" padded ": [0], "word": [1], "\t": [2], "end": [3]})
    assert text == "padded word end"


def test_real_inverted_index_rebuilds_every_position() -> None:
    index = load_json("openalex/10.3390_publications6020015.json")["abstract_inverted_index"]
    text = abstract_from_inverted_index(index)
    assert text.startswith(
        "Gigantic particle accelerators, incredibly complex detectors, an antimatter factory and "
        "the discovery of the Higgs boson—this is part of what makes CERN famous."
    )
    assert len(text.split(" ")) == max(p for ps in index.values() for p in ps) + 1 == 145
    assert "  " not in text


# --- bare_doi ---


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://doi.org/10.1/X", "10.1/X"),
        ("http://dx.doi.org/10.7554/eLife.01567", "10.7554/eLife.01567"),
        ("doi:10.1101/097196", "10.1101/097196"),
        ("10.2210/pdb4hhb/pdb", "10.2210/pdb4hhb/pdb"),
        (" https://doi.org/10.5580/1cbc ", "10.5580/1cbc"),
        (
            "https://doi.org/10.1890/0012-9658(2006)87[2832:tiopma]2.0.co;2",
            "10.1890/0012-9658(2006)87[2832:tiopma]2.0.co;2",
        ),
        ("https://openalex.org/W2121398592", None),
        ("https://doi.org/", None),
        ("10.1234", None),
        ("", None),
        (None, None),
        (10.1, None),
    ],
)
def test_bare_doi(value, expected) -> None:
    assert bare_doi(value) == expected


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("Abstract Background We studied", "Background We studied"),
        ("Summary: The results", "The results"),
        ("Abstract algebra is hard", "Abstract algebra is hard"),  # a word, not a heading
        ("Abstract", "Abstract"),
    ],
)
def test_leading_abstract_heading(words: str, expected: str) -> None:
    index = {}
    for position, word in enumerate(words.split(" ")):
        index.setdefault(word, []).append(position)
    assert parse_work({"abstract_inverted_index": index}).abstract == expected
