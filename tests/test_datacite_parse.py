"""The pure DataCite parser, checked against the recorded responses in ../shared/fixtures/datacite.

Expected values were read from the fixture files and are written out literally, so a reader can
check them against the JSON by eye. Some fixtures were recorded in 2021 by bolognese, the others
in 2026; both shapes are covered.
"""

from __future__ import annotations

import copy
import json
import time

import pytest
from conftest import fixture_path, load_json
from fakes import recorded_names
from lxml import etree

from harvester.errors import BadPayload, NotFound
from harvester.models import Author, Record, Relation
from harvester.sources.datacite import (
    SOURCE,
    attributes_from_xml,
    is_kernel_xml,
    parse_error,
    split_family_given,
    unwrap,
)
from harvester.sources.datacite import (
    parse as parse_doi_record,
)

NOT_FOUND = "errors/datacite_404_10.4124_05f6c379-dd68-4cdb-880d-33d3e9576d52_1.json"


def record(name: str) -> Record:
    return parse_doi_record(unwrap(load_json(f"datacite/{name}")))


def attributes(name: str) -> dict:
    """A deep copy of a fixture's attributes, to build variants from."""
    return copy.deepcopy(dict(unwrap(load_json(f"datacite/{name}"))))


# --- every recorded response parses ---


@pytest.mark.parametrize("name", recorded_names("datacite"))
def test_every_recorded_datacite_response_parses(name: str) -> None:
    body = json.loads(fixture_path(f"datacite/{name}").read_bytes())
    parsed = parse_doi_record(unwrap(body))
    assert parsed.source == SOURCE == "datacite"
    assert parsed.doi == body["data"]["attributes"]["doi"]
    assert parsed.title
    assert parsed.type
    assert parsed.authors
    # The whole answer and its data resource are accepted as well as the attributes.
    assert parse_doi_record(body) == parsed
    assert parse_doi_record(body["data"]) == parsed


# --- single records, field by field ---


def test_arxiv_preprint() -> None:
    r = record("10.48550_arxiv.2311.16162.json")
    assert r.doi == "10.48550/arxiv.2311.16162"
    assert r.type == "posted-content"  # resourceTypeGeneral Preprint
    assert r.title == (
        "Leveraging Artificial Intelligence Technology for Mapping Research to Sustainable "
        "Development Goals: A Case Study"
    )
    assert r.subtitle is None
    assert r.issued == "2023"  # publicationYear 2023; the Issued date is "2023" too
    assert r.publisher == "arXiv"
    assert len(r.authors) == 10
    assert r.authors[0] == Author(given="Hui", family="Yin")
    assert r.authors[4] == Author(given="Luis", family="Salvador-Carulla")
    assert r.authors[9] == Author(given="Wing Wah", family="Tham")
    assert r.container_title is None  # container is {}
    assert (r.volume, r.issue, r.pages, r.issn) == (None, None, None, ())
    assert r.abstract is not None
    assert r.abstract.startswith(
        "The number of publications related to the Sustainable Development Goals (SDGs) "
        "continues to grow."
    )
    assert r.abstract.endswith("can achieve reliable results for mapping research to the SDGs.")
    assert r.subjects == (
        "Digital Libraries (cs.DL)",
        "Artificial Intelligence (cs.AI)",
        "Computation and Language (cs.CL)",
        "FOS: Computer and information sciences",  # given twice (with and without schemeUri)
        "I.2.7",
    )
    assert r.license == "https://creativecommons.org/licenses/by/4.0/legalcode"
    assert r.language is None  # null in the answer
    assert r.url == "https://arxiv.org/abs/2311.16162"
    assert r.resource_version == "1"
    assert r.relations == ()
    assert r.cited_by_count == 0
    assert r.reference_count == 0
    assert r.published_print is None and r.published_online is None


def test_dryad_dataset_with_non_ascii_names() -> None:
    r = record("10.5061_dryad.8515.json")
    assert r.doi == "10.5061/dryad.8515"
    assert r.type == "dataset"
    assert r.title == "Data from: A new malaria agent in African hominids."
    assert r.issued == "2011-02-01"  # Issued "2011-02-01T17:22:41Z", same year as publicationYear
    assert r.publisher == "Dryad"
    assert len(r.authors) == 8
    assert r.authors[0] == Author(
        given="Benjamin",
        family="Ollomo",
        affiliations=("Centre International de Recherches Médicales de Franceville",),
    )
    assert r.authors[3] == Author(given="Emmanuel J. P.", family="Douzery")
    assert r.authors[4] == Author(
        given="Céline",
        family="Arnathau",
        affiliations=("Centre National de la Recherche Scientifique",),
    )
    assert r.authors[5].given == "Dieudonné"
    assert r.authors[7] == Author(
        given="François",
        family="Renaud",
        affiliations=("Centre National de la Recherche Scientifique",),
    )
    # The abstract's hard line wraps are collapsed; the "Other" description is not used.
    assert r.abstract is not None
    assert r.abstract.startswith(
        "Plasmodium falciparum is the major human malaria agent responsible for 200 to 300 "
        "million infections and one to three million deaths annually, mainly among African infants."
    )
    assert "\n" not in r.abstract
    assert "Ollomo_PLoSPathog_2009" not in r.abstract
    assert r.subjects == ("Plasmodium", "Malaria", "mitochondrial genome", "Parasites")
    assert r.language == "en"
    assert r.license == "https://creativecommons.org/publicdomain/zero/1.0/legalcode"
    assert r.url == "https://datadryad.org/dataset/doi:10.5061/dryad.8515"
    assert r.resource_version == "1"
    assert r.relations == (Relation("is-cited-by", "doi", "10.1371/journal.ppat.1000446"),)
    assert r.cited_by_count == 1
    assert r.reference_count == 1


def test_thai_title_creator_and_publisher_stay_intact() -> None:
    r = record("10.14457_kmitl.res.2006.17.json")  # recorded 2021, schema kernel-3
    assert r.doi == "10.14457/kmitl.res.2006.17"
    assert r.type == "dataset"
    assert r.title == "การเพาะเลี้ยงเนื้อเยื่อปทุมมาที่เหมาะสม สำหรับการถ่ายยีนโดยใช้อะโกรแบคทีเรียม /"
    assert r.publisher == "ภาควิชาพืชสวน สถาบันเทคโนโลยีพระจอมเกล้าเจ้าคุณทหารลาดกระบัง,"
    # No nameType and no given/family: the name stays whole.
    assert r.authors == (Author(name="กัญจนา แซ่เตียว"),)
    assert r.subjects == ("การเพาะเลี้ยงเนื้อเยื่อพืช", "ปทุมมา", "การถ่ายยีน", "อะโกรแบคทีเรียม")
    # publicationYear 2549 is a Buddhist-era year (2006 CE); it is kept as the source gives it.
    assert r.issued == "2549"
    assert r.abstract is None  # descriptions: []
    assert r.license is None  # rightsList: []
    assert r.resource_version is None  # version: null
    assert r.language is None


def test_cyrillic_title_and_creators() -> None:
    r = record("10.26102_2310-6018_2019.24.1.006.json")
    assert r.doi == "10.26102/2310-6018/2019.24.1.006"  # several '/' in the suffix
    # resourceTypeGeneral Text, whose own resourceType says "Journal Article"
    assert r.type == "journal-article"
    assert r.title == "МОДЕЛЬ СИСТЕМНОЙ ДИНАМИКИ ПРОЦЕССА ОБУЧЕНИЯ"
    assert r.subtitle is None  # the English one is a TranslatedTitle, not a subtitle
    assert r.authors == (
        Author(
            given="А.В.",
            family="Ганичева",
            affiliations=("Тверская государственная сельскохозяйственная академия",),
        ),
        Author(
            given="А.В.",
            family="Ганичев",
            affiliations=("Тверской государственный технический университет",),
        ),
    )
    assert r.publisher == "МОДЕЛИРОВАНИЕ, ОПТИМИЗАЦИЯ И ИНФОРМАЦИОННЫЕ ТЕХНОЛОГИИ"
    assert r.container_title == "№1(24) (2019)"
    assert r.issued == "2019-02-09"
    assert r.language == "ru"
    assert r.abstract is not None
    assert r.abstract.startswith("Актуальность данной работы обусловлена важностью учета")
    assert r.subjects == (
        "группа обучаемых",
        "модель",
        "коэффициенты влияния",
        "система дифференциальных уравнений",
        "решение",
        "group of trainees",
        "model",
        "coefficients of influence",
        "system of differential equations",
        "solution",  # listed twice in the answer
    )
    assert r.relations == (
        Relation("cites", "eissn", "2310-6018"),
        Relation(
            "is-cited-by",
            "url",
            "https://moit.vivt.ru/wp-content/uploads/2019/01/GanichevaGanichev_1_19_1.pdf",
        ),
    )
    assert r.reference_count == 1


def test_hepdata_record_with_1000_creators() -> None:
    body = load_json("datacite/10.17182_hepdata.77274.v1.json")
    started = time.perf_counter()
    r = parse_doi_record(unwrap(body))
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0  # takes milliseconds; the bound only catches quadratic behaviour
    assert r.doi == "10.17182/hepdata.77274.v1"
    assert r.type == "collection"
    assert len(r.authors) == 1000
    assert r.authors[0] == Author(
        given="Jaroslav", family="Adam", affiliations=("Prague, Tech. U.",)
    )
    assert r.authors[-1] == Author(
        given="Maksym", family="Zyzak", affiliations=("Frankfurt U., FIAS",)
    )
    assert r.title == (
        "Measurement of azimuthal correlations of D mesons and charged particles in pp "
        "collisions at $\\sqrt{s}=7$ TeV and p-Pb collisions at $\\sqrt{s_{\\rm NN}}=5.02$ TeV"
    )
    assert r.issued == "2017"
    assert r.publisher == "HEPData"
    # 43 related identifiers, but 42 carry no identifier at all; the one URL is padded with
    # newlines and spaces in the answer.
    assert r.relations == (
        Relation("is-supplement-to", "url", "https://inspirehep.net/literature/1464839"),
    )
    assert r.cited_by_count == 41
    assert r.reference_count == 1
    assert r.resource_version == "1"
    assert r.license is None


def test_doi_with_colon_and_orcid_in_2021_shape() -> None:
    r = record("10.4121_uuid_3926db30-f712-4394-aebc-75976070e91f.json")
    assert r.doi == "10.4121/uuid:3926db30-f712-4394-aebc-75976070e91f"
    # 2021 shape: bare identifier, nameIdentifierScheme "https://orcid.org/".
    assert r.authors == (
        Author(given="Boudewijn", family="van Dongen", orcid="0000-0002-3978-6464"),
    )
    assert r.title == "BPI Challenge 2012"
    assert r.issued == "2012-04-23"
    assert r.language == "nl"
    assert r.abstract == "Event log of a loan application process"
    assert r.license == "https://doi.org/10.4121/resource:terms_of_use"
    assert "000 Computer science, knowledge & systems" in r.subjects  # "&amp;" unescaped
    assert r.relations == (
        Relation("references", "url", "http://www.win.tue.nl/bpi/2012/challenge"),
        Relation(
            "references", "url", "https://doi.org/10.4121/uuid:5f3067df-f10b-45da-b98b-86ae4c7a310b"
        ),
        Relation(
            "references", "url", "https://doi.org/10.4121/uuid:7f787965-da13-4bb8-a3fd-242f08aef9c4"
        ),
    )
    assert r.cited_by_count == 3
    assert r.reference_count == 2


def test_doi_with_plus_sign() -> None:
    r = record("10.5067_terra+aqua_ceres_cldtyphist_l3.004.json")
    assert r.doi == "10.5067/terra+aqua/ceres/cldtyphist_l3.004"
    assert r.title == "CERES Level 3 Cloud Type Historgram Terra+Aqua HDF file - Edition4"
    # No nameType, but givenName/familyName are given (givenName " Takmeng" with a space).
    assert r.authors == (Author(given="Takmeng", family="Wong"),)
    assert r.publisher == "NASA Langley Atmospheric Science Data Center DAAC"
    assert r.issued == "2016"
    assert r.abstract is None
    assert r.subjects == ()


def test_zenodo_software_version_and_html_abstract() -> None:
    r = record("10.5281_zenodo.48440.json")
    assert r.doi == "10.5281/zenodo.48440"
    assert r.type == "software"
    assert r.resource_version == "v1.0"
    assert r.title == "Analysis Tools for Crossover Experiment of UI using Choice Architecture"
    assert r.authors == (Author(given="Kristian", family="Garza"),)
    assert r.issued == "2016-03-27"
    assert r.publisher == "Zenodo"
    assert r.license == "https://creativecommons.org/licenses/by-nc-sa/4.0/legalcode"
    assert r.subjects == ("choice architecture", "crossover experiment", "hci")
    assert r.relations == (
        Relation(
            "is-supplement-to",
            "url",
            "https://github.com/kjgarza/frame_experiment_analysis/tree/v1.0",
        ),
    )
    # The description is studded with <br>: tags are dropped, each <br> ends a paragraph.
    assert r.abstract is not None
    assert "<br>" not in r.abstract
    assert r.abstract.startswith(
        "This tools are used to analyse the data produced by the Crosssover Experiment"
    )
    assert "\n\n- Visualisation functions\n\n" in r.abstract
    assert r.abstract.endswith("This work supports my PhD Thesis at University of Manchester.")


def test_knb_software_orcids_in_2026_shape() -> None:
    r = record("10.5063_f1m61h5x.json")
    assert r.type == "software"
    assert r.resource_version == "2.2.2"
    assert len(r.authors) == 10
    # 2026 shape: nameIdentifierScheme "ORCID", identifier as a full https://orcid.org/ URL.
    assert r.authors[0] == Author(
        given="Matthew",
        family="Jones",
        orcid="0000-0003-0077-4738",
        affiliations=("National Center for Ecological Analysis and Synthesis",),
    )
    assert r.authors[1].orcid == "0000-0002-2192-403X"
    assert r.authors[9] == Author(
        given="Scott", family="Chamberlain", orcid="0000-0003-1444-9135", affiliations=("rOpenSci",)
    )
    assert r.license == "http://www.apache.org/licenses/LICENSE-2.0"
    assert r.issued == "2022"  # the Issued date is "2022"; "Created" 2022-06-10 is not issued


def test_journal_article_with_container() -> None:
    r = record("10.2312_geowissenschaften.1989.7.181.json")
    assert r.doi == "10.2312/geowissenschaften.1989.7.181"
    assert r.type == "journal-article"
    assert r.title == "An Overview of the Geology of Canadian Gold Occurrences"
    assert r.container_title == "Die Geowissenschaften"
    assert r.issn == ("0933-0704",)
    assert (r.volume, r.issue, r.pages) == ("7", "7", "181-186")
    assert r.issued == "1989-01-01"
    assert r.publisher == "VCH Verlagsgesellschaft mbH"
    assert r.authors == (Author(given="David J", family="Mossman"),)
    assert r.license == "VCH Verlagsgesellschaft mbH"  # rights text only, no rightsUri
    assert r.relations == (Relation("is-published-in", "issn", "0933-0704"),)
    assert r.resource_version == "1.0"


def test_container_falls_back_to_related_items() -> None:
    attrs = attributes("10.2312_geowissenschaften.1989.7.181.json")
    attrs["container"] = {}
    r = parse_doi_record(attrs)
    assert r.container_title == "Die Geowissenschaften"
    assert r.issn == ("0933-0704",)
    assert (r.volume, r.issue, r.pages) == ("7", "7", "181-186")
    # A related item the record is not published in is no container.
    attrs["relatedItems"][0]["relationType"] = "IsCitedBy"
    r = parse_doi_record(attrs)
    assert (r.container_title, r.volume, r.pages) == (None, None, None)
    # The ISSN the record IsPublishedIn is still named by its relatedIdentifiers.
    assert r.issn == ("0933-0704",)


def test_conference_paper() -> None:
    r = record("10.4230_lipics.tqc.2013.93.json")
    assert r.doi == "10.4230/lipics.tqc.2013.93"
    assert r.type == "proceedings-article"
    assert r.title == "The Minimum Size of Qubit Unextendible Product Bases"
    assert r.container_title == "LIPIcs, Volume 22, TQC 2013"
    assert (r.volume, r.issue, r.pages) == (
        "22",
        None,
        "93-105",
    )  # container "number" 6 is no issue
    # The container's identifier is a DOI; the series ISSN comes from relatedItems.
    assert r.issn == ("1868-8969",)
    assert r.issued == "2013"
    assert r.publisher == "Schloss Dagstuhl – Leibniz-Zentrum für Informatik"
    assert r.license == "https://creativecommons.org/licenses/by/3.0/legalcode"
    assert r.relations == (
        Relation("is-part-of", "doi", "10.4230/LIPIcs.TQC.2013"),
        Relation("is-part-of", "isbn", "978-3-939897-55-2"),
        Relation("is-part-of", "issn", "1868-8969"),
    )


def test_missing_abstract_is_none() -> None:
    # An Abstract description with no text, next to SeriesInformation.
    assert record("10.2312_geowissenschaften.1989.7.181.json").abstract is None
    # No descriptions at all.
    assert record("10.7910_dvn_eqtqyo.json").abstract is None


def test_organisational_creators() -> None:
    canada = record("10.25318_3410014001-fra.json")
    assert canada.authors == (
        Author(
            name="Statistique Canada", affiliations=("Canada Mortgage and Housing Corporation",)
        ),
    )
    assert canada.title == (
        "Société canadienne d'hypothèques et de logement, logements mis en chantier dans les "
        "centres de 10 000 habitants et plus, pour Canada, provinces, et régions métropolitaines "
        "de recensement, désaisonnalisées au taux annuel, trimestriel"
    )
    assert canada.type == "dataset"
    gesis = record("10.4232_1.2745.json")
    assert gesis.authors == (Author(name="Europäische Kommission"),)


def test_creator_name_not_split_by_the_source_stays_whole() -> None:
    r = record("10.7910_dvn_eqtqyo.json")
    assert r.authors == (
        Author(
            name="Enos, Ryan (Harvard University); Fowler, Anthony (University Of Chicago); "
            "Vavreck, Lynn (UCLA)"
        ),
    )


def test_title_subtitle_and_the_abstract_in_the_record_language() -> None:
    r = record("10.4232_1.2745.json")
    assert r.title == "Flash Eurobarometer 54 (Madrid Summit)"
    assert r.subtitle == "The Common European Currency"
    assert r.titles == ()  # the English title and subtitle repeat the German ones word for word
    # language "en": the English abstract (given second) is the abstract, the German one beside it
    assert r.abstract is not None
    assert r.abstract.startswith(
        "Attitude to the common European currency and information needs about the new currency."
    )
    assert [(a.language, a.text[:37]) for a in r.abstracts] == [
        ("de", "Das Gipfeltreffen von Madrid. Themen:")
    ]
    assert r.resource_version == "1.0.0"
    assert r.issued == "1996"


# --- hand-built variants ---


def test_missing_or_null_titles() -> None:
    # No recorded answer lacks a title, so these are built from one that has it.
    attrs = attributes("10.5281_zenodo.48440.json")
    for titles in (None, [], [{"title": None}], [{"lang": "en"}], "a string", [None]):
        attrs["titles"] = titles
        r = parse_doi_record(attrs)
        assert (r.title, r.subtitle) == (None, None)
        assert r.doi == "10.5281/zenodo.48440"
    del attrs["titles"]
    assert parse_doi_record(attrs).title is None
    # Only typed titles: the first one stands in for the title.
    attrs["titles"] = [
        {"title": "Übersetzt", "titleType": "TranslatedTitle"},
        {"title": "Sub", "titleType": "Subtitle"},
    ]
    r = parse_doi_record(attrs)
    assert (r.title, r.subtitle) == ("Übersetzt", "Sub")


def test_wrong_types_count_as_missing() -> None:
    attrs = {
        "doi": "10.1234/example",
        "titles": {"title": 5},
        "creators": [None, 3, {"name": None}, {"name": "Org", "nameType": "Organizational"}],
        "publisher": ["not", "a", "string"],
        "publicationYear": "around 2020",
        "dates": "2020",
        "types": "Dataset",
        "container": ["x"],
        "relatedItems": {"relationType": "IsPublishedIn", "titles": "x", "volume": True},
        "descriptions": [{"descriptionType": "Abstract", "description": ["a", "b"]}],
        "subjects": [{"subject": 1}, "loose"],
        "rightsList": [{"rightsUri": 7}],
        "relatedIdentifiers": [{"relationType": "Cites"}, {"relatedIdentifier": "x"}],
        "language": 1,
        "url": {},
        "version": None,
        "citationCount": "12",
        "referenceCount": -1,
    }
    r = parse_doi_record(attrs)
    assert r == Record(source="datacite", doi="10.1234/example", authors=(Author(name="Org"),))


def test_publisher_object_affiliation_objects_and_single_name_identifier() -> None:
    # Shapes of schema 4.5 answers asked with publisher=true&affiliation=true.
    r = parse_doi_record(
        {
            "doi": "10.1234/example",
            "publisher": {"name": "Zenodo", "publisherIdentifier": "https://ror.org/0"},
            "creators": [
                {
                    "nameType": "Personal",
                    "givenName": "Ada",
                    "familyName": "Lovelace",
                    "nameIdentifiers": {
                        "nameIdentifier": "https://orcid.org/0000-0002-1825-0097",
                        "nameIdentifierScheme": "ORCID",
                    },
                    "affiliation": [
                        {"name": "University of London", "affiliationIdentifier": "x"},
                        {"name": "University of London"},
                        "Analytical Society",
                    ],
                },
                {"name": "Babbage, Charles", "nameType": "Personal"},
            ],
        }
    )
    assert r.publisher == "Zenodo"
    assert r.authors == (
        Author(
            given="Ada",
            family="Lovelace",
            orcid="0000-0002-1825-0097",
            affiliations=("University of London", "Analytical Society"),
        ),
        Author(name="Babbage, Charles"),  # personal, but not split by the source
    )


@pytest.mark.parametrize(
    ("general", "expected"),
    [
        ("JournalArticle", "journal-article"),
        ("Dataset", "dataset"),
        ("Software", "software"),
        ("Preprint", "posted-content"),
        ("ConferencePaper", "proceedings-article"),
        ("Text", "text"),
        ("Collection", "collection"),
        ("BookChapter", "book-chapter"),
        ("Book", "book"),
        ("Dissertation", "dissertation"),
        ("Report", "report"),
        ("PhysicalObject", "physical-object"),
        ("OutputManagementPlan", "output-management-plan"),
        ("Audiovisual", "audiovisual"),
    ],
)
def test_resource_type_general_is_normalised(general: str, expected: str) -> None:
    r = parse_doi_record({"doi": "10.1234/x", "types": {"resourceTypeGeneral": general}})
    assert r.type == expected


def test_issued_is_the_earliest_issued_date_or_year() -> None:
    base = {"doi": "10.1234/x", "publicationYear": 2020}
    assert parse_doi_record(base).issued == "2020"
    assert parse_doi_record({**base, "publicationYear": "2020"}).issued == "2020"
    dated = {
        **base,
        "dates": [
            {"date": "2020-03", "dateType": "Issued"},
            {"date": "2020-03-04", "dateType": "Available"},  # not Issued
        ],
    }
    assert parse_doi_record(dated).issued == "2020-03"
    # An Issued date before publicationYear wins: that year may be a deposit's (see the
    # pubdata test in test_datacite_fields.py); earlier this date was ignored.
    dated["dates"].insert(0, {"date": "2019-05-01", "dateType": "Issued"})
    assert parse_doi_record(dated).issued == "2019-05-01"
    no_year = {"doi": "10.1234/x", "dates": [{"date": "2018-13-40", "dateType": "Issued"}]}
    assert parse_doi_record(no_year).issued == "2018"  # month out of range ends the date


def test_relations_are_deduplicated_and_sorted() -> None:
    r = parse_doi_record(
        {
            "doi": "10.1234/x",
            "relatedIdentifiers": [
                {
                    "relationType": "IsSupplementTo",
                    "relatedIdentifier": "10.1/b",
                    "relatedIdentifierType": "DOI",
                },
                {
                    "relationType": "IsSupplementTo",
                    "relatedIdentifier": "10.1/b",
                    "relatedIdentifierType": "DOI",
                },
                {
                    "relationType": "HasVersion",
                    "relatedIdentifier": "10.1/a",
                    "relatedIdentifierType": "DOI",
                },
                {
                    "relationType": "IsNewVersionOf",
                    "relatedIdentifier": "arXiv:1",
                    "relatedIdentifierType": "arXiv",
                },
                {"relationType": "Cites", "relatedIdentifier": "x"},
            ],
        }
    )
    assert r.relations == (
        Relation("cites", "unknown", "x"),
        Relation("has-version", "doi", "10.1/a"),
        Relation("is-new-version-of", "arxiv", "arXiv:1"),
        Relation("is-supplement-to", "doi", "10.1/b"),
    )


def test_access_statement_is_not_a_licence() -> None:
    r = parse_doi_record(
        {
            "doi": "10.1234/x",
            "rightsList": [
                {"rights": "Open Access", "rightsUri": "info:eu-repo/semantics/openAccess"},
                {
                    "rights": "CC BY 4.0",
                    "rightsUri": "https://creativecommons.org/licenses/by/4.0/",
                },
            ],
        }
    )
    assert r.license == "https://creativecommons.org/licenses/by/4.0/"


# --- envelopes and errors ---


def test_unwrap_gives_attributes_with_the_id() -> None:
    body = load_json("datacite/10.5061_dryad.8515.json")
    attrs = unwrap(body)
    assert attrs["id"] == "10.5061/dryad.8515"
    assert attrs["doi"] == "10.5061/dryad.8515"
    # The DOI falls back to the resource id when attributes leave it out.
    del attrs["doi"]
    assert parse_doi_record(attrs).doi == "10.5061/dryad.8515"


def test_not_found_errors_body() -> None:
    body = load_json(NOT_FOUND)
    assert parse_error(body) == "The resource you are looking for doesn't exist."
    with pytest.raises(NotFound) as caught:
        unwrap(body)
    assert str(caught.value) == "DataCite: The resource you are looking for doesn't exist."
    assert caught.value.source == "datacite"
    assert caught.value.status == 404
    with pytest.raises(NotFound):
        parse_doi_record(body)


def test_other_errors_body_is_bad_payload() -> None:
    body = {"errors": [{"status": "401", "title": "Bad credentials.", "detail": "Token expired"}]}
    assert parse_error(body) == "Bad credentials.: Token expired"
    with pytest.raises(BadPayload, match="Bad credentials"):
        unwrap(body)


def test_parse_error_of_other_bodies_is_none() -> None:
    assert parse_error(load_json("datacite/10.5061_dryad.8515.json")) is None
    assert parse_error({"errors": []}) is None
    assert parse_error("<html>") is None
    assert parse_error(None) is None


@pytest.mark.parametrize(
    "body",
    [
        None,
        "<html>Service Unavailable</html>",
        [],
        {},
        {"data": None},
        {"data": []},
        {"data": {"id": "x", "type": "clients", "attributes": {}}},
        {"data": {"id": "10.1/x", "type": "dois"}},
        {"data": {"id": "10.1/x", "type": "dois", "attributes": "x"}},
    ],
)
def test_unwrap_rejects_other_shapes(body) -> None:
    with pytest.raises(BadPayload, match="DataCite"):
        unwrap(body)


def test_record_without_doi_is_bad_payload() -> None:
    with pytest.raises(BadPayload, match="no doi"):
        parse_doi_record({"titles": [{"title": "No identifier"}]})
    with pytest.raises(BadPayload):
        parse_doi_record({"doi": "  "})
    with pytest.raises(BadPayload):
        parse_doi_record(["not", "an", "object"])  # type: ignore[arg-type]


def test_record_without_doi_is_read_when_a_doi_is_not_required() -> None:
    attrs = {"url": "https://hdl.example.org/123/9", "titles": [{"title": "Handle only"}]}

    r = parse_doi_record(attrs, require_doi=False)

    assert (r.doi, r.url, r.title, r.source) == (
        None,
        "https://hdl.example.org/123/9",
        "Handle only",
        "datacite",
    )
    with pytest.raises(BadPayload, match="no doi"):
        parse_doi_record(attrs)
    # A DOI that is there is read as always.
    assert parse_doi_record({**attrs, "doi": "10.5555/x"}, require_doi=False).doi == "10.5555/x"


# --- kernel XML -> attributes ---

KERNEL_4 = "http://datacite.org/schema/kernel-4"


def kernel_resource(inner: str, namespace: str = KERNEL_4) -> etree._Element:
    return etree.fromstring(f'<resource xmlns="{namespace}">{inner}</resource>'.encode())


def test_attributes_from_xml_of_a_recorded_zenodo_resource() -> None:
    page = etree.fromstring(
        fixture_path("oaipmh/zenodo_GetRecord_datacite_10357859.xml").read_bytes()
    )
    resource = page.find(f".//{{{KERNEL_4}}}resource")

    attrs = attributes_from_xml(resource)

    assert attrs["doi"] == "10.5281/zenodo.10357859"
    assert "url" not in attrs
    assert attrs["creators"][0] == {
        "name": "Klar, Jochen",
        "nameType": "Personal",
        "givenName": "Jochen",
        "familyName": "Klar",
        "nameIdentifiers": [
            {
                "nameIdentifier": "0000-0002-5883-4273",
                "nameIdentifierScheme": "ORCID",
                "schemeUri": None,
            }
        ],
        "affiliation": [],
    }
    assert attrs["titles"] == [{"title": "Research Data Management Organiser (RDMO)"}]
    assert attrs["version"] == "2.1.0"
    assert attrs["rightsList"][0] == {
        "rights": "Apache License 2.0",
        "rightsUri": "http://www.apache.org/licenses/LICENSE-2.0",
    }
    assert [d["descriptionType"] for d in attrs["descriptions"]] == ["Abstract", "Other"]
    assert {
        "relatedIdentifier": "10.5281/zenodo.596581",
        "relatedIdentifierType": "DOI",
        "relationType": "IsVersionOf",
    } in attrs["relatedIdentifiers"]
    # ... which parse_doi_record reads as it reads the REST API's JSON.
    r = parse_doi_record(attrs)
    assert (r.doi, r.type, r.resource_version, r.license) == (
        "10.5281/zenodo.10357859",
        "software",
        "2.1.0",
        "http://www.apache.org/licenses/LICENSE-2.0",
    )
    assert json.loads(json.dumps(attrs)) == attrs  # plain JSON: keepable as a JSON view


def test_attributes_from_xml_splits_kernel_3_personal_names_only() -> None:
    resource = kernel_resource(
        '<identifier identifierType="Handle">https://hdl.example.org/123/9</identifier>'
        "<creators>"
        "<creator><creatorName>Curie, Marie</creatorName></creator>"
        '<creator><creatorName nameType="Personal">Doe,  Jane  </creatorName></creator>'
        '<creator><creatorName nameType="Personal">University of X, Department of Economics '
        "and Finance</creatorName></creator>"
        '<creator><creatorName nameType="Organizational">Institute of Things, Lab A</creatorName>'
        "</creator>"
        "</creators>",
        "http://datacite.org/schema/kernel-3",
    )

    attrs = attributes_from_xml(resource)

    assert (attrs.get("doi"), attrs["url"]) == (None, "https://hdl.example.org/123/9")
    assert [(c["name"], c["givenName"], c["familyName"]) for c in attrs["creators"]] == [
        ("Curie, Marie", None, None),  # no nameType: not known to be a person
        ("Doe,  Jane", "Jane", "Doe"),
        ("University of X, Department of Economics and Finance", None, None),
        ("Institute of Things, Lab A", None, None),
    ]
    assert [
        a.name or (a.family, a.given) for a in parse_doi_record(attrs, require_doi=False).authors
    ] == [
        "Curie, Marie",
        ("Doe", "Jane"),
        "University of X, Department of Economics and Finance",
        "Institute of Things, Lab A",
    ]


def test_attributes_from_xml_reads_breaks_related_items_and_dates() -> None:
    resource = kernel_resource(
        '<identifier identifierType="DOI">10.5555/XML</identifier>'
        '<descriptions><description descriptionType="Abstract">One.<br/>Two <i>in</i> it.'
        "</description></descriptions>"
        '<dates><date dateType="Issued">2021-05-06</date></dates>'
        "<publicationYear>2021</publicationYear>"
        '<relatedItems><relatedItem relationType="IsPublishedIn" relatedItemType="Journal">'
        '<relatedItemIdentifier relatedItemIdentifierType="ISSN">1234-5679</relatedItemIdentifier>'
        "<titles><title>Journal of Things</title></titles><volume>4</volume>"
        "<firstPage>10</firstPage><lastPage>20</lastPage></relatedItem></relatedItems>"
    )

    attrs = attributes_from_xml(resource)

    assert attrs["descriptions"] == [
        {"description": "One.\nTwo in it.", "descriptionType": "Abstract"}
    ]
    assert attrs["relatedItems"] == [
        {
            "relationType": "IsPublishedIn",
            "relatedItemType": "Journal",
            "relatedItemIdentifier": {
                "relatedItemIdentifier": "1234-5679",
                "relatedItemIdentifierType": "ISSN",
            },
            "titles": [{"title": "Journal of Things"}],
            "volume": "4",
            "issue": None,
            "firstPage": "10",
            "lastPage": "20",
            "publicationYear": None,
        }
    ]
    r = parse_doi_record(attrs)
    assert (r.doi, r.issued, r.container_title, r.issn, r.pages) == (
        "10.5555/XML",
        "2021-05-06",
        "Journal of Things",
        ("1234-5679",),
        "10-20",
    )


def test_attributes_from_xml_opens_the_oai_datacite_envelope() -> None:
    envelope = etree.fromstring(
        b'<oai_datacite xmlns="http://schema.datacite.org/oai/oai-1.1/"><payload>'
        b'<resource xmlns="http://datacite.org/schema/kernel-4">'
        b'<identifier identifierType="DOI">10.5555/IN</identifier></resource>'
        b"</payload></oai_datacite>"
    )
    assert is_kernel_xml(envelope)
    assert attributes_from_xml(envelope)["doi"] == "10.5555/IN"


@pytest.mark.parametrize(
    ("xml", "says"),
    [
        (b'<oai_datacite xmlns="http://schema.datacite.org/oai/oai-1.1/"/>', "without a payload"),
        (
            b'<dc xmlns="http://purl.org/dc/elements/1.1/"/>',
            "expected a kernel <resource>, got <dc>",
        ),
        (b"<resource/>", "got <resource> in no namespace"),
    ],
)
def test_attributes_from_xml_refuses_what_is_not_a_kernel_resource(xml, says) -> None:
    element = etree.fromstring(xml)
    with pytest.raises(BadPayload, match=says):
        attributes_from_xml(element)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Smith, John", ("Smith", "John")),
        ("  de la Cruz ,  Ana María ", ("de la Cruz", "Ana María")),
        ("Ayumu Tsubosaka", None),
        ("Smith,", None),
        (", John", None),
        ("University of Somewhere, Department of Economics and Finance", None),
        ("", None),
        (None, None),
    ],
)
def test_split_family_given(name, expected) -> None:
    assert split_family_given(name) == expected
