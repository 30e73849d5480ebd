"""Issue 16, OpenAlex field by field: types, abstracts without markup, PMID/PMCID, funders with
their awards, checked ISSNs and containers, on recorded works (the corpus via load_json, and the
kept fixtures). Expected values are read from the JSON by eye and written out literally.
"""

from __future__ import annotations

import copy

from conftest import load_json

from harvester.models import Funder
from harvester.sources.openalex import (
    CROSSREF_TYPES,
    OPENALEX_TYPES,
    abstract_from_inverted_index,
    work_type,
)
from harvester.sources.openalex import parse as parse_work


def work(name: str):
    return parse_work(load_json(f"openalex/{name}"))


# --- types: one table, Crossref's names ---


def test_every_openalex_type_maps_to_a_crossref_type_name() -> None:
    assert set(OPENALEX_TYPES.values()) <= CROSSREF_TYPES
    assert OPENALEX_TYPES["article"] == "journal-article"
    assert OPENALEX_TYPES["preprint"] == "posted-content"
    assert OPENALEX_TYPES["conference-paper"] == "proceedings-article"
    assert OPENALEX_TYPES["dissertation"] == "dissertation"
    assert OPENALEX_TYPES["supplementary-materials"] == "component"


def test_raw_type_of_the_primary_location_wins_when_it_is_a_crossref_name() -> None:
    # (OpenAlex type, primary_location.raw_type) as recorded -> the type stored
    assert work("10.1017_9781108348843.json").type == "monograph"  # book, monograph
    assert work("10.1101_097196.json").type == "posted-content"  # preprint, posted-content
    assert work("10.1145_3448016.3452841.json").type == "proceedings-article"
    assert work("10.2210_pdb4hhb_pdb.json").type == "dataset"  # dataset, dataset
    assert work("10.1007_978-3-662-46370-3_13.json").type == "book-chapter"


def test_a_raw_type_that_is_not_crossrefs_leaves_the_table_to_decide() -> None:
    figure = work("10.1371_journal.pmed.0030277.g001.json")  # type other, raw_type "Image"
    assert figure.type == "other"
    items = load_json("openalex/list_works_sample-5.json")["results"]
    # W2600965442: type article, no raw_type at all
    assert items[0]["id"] == "https://openalex.org/W2600965442"
    assert work_type(items[0], items[0]["primary_location"] or {}) == "journal-article"
    # W7120675484: a repository location whose raw_type is "info:eu-repo/semantics/publishedVersion"
    assert items[3]["id"] == "https://openalex.org/W7120675484"
    assert items[3]["primary_location"]["raw_type"] == "info:eu-repo/semantics/publishedVersion"
    assert parse_work(items[3]).type == "journal-article"


def test_type_crossref_of_older_answers_is_read_first() -> None:
    body = copy.deepcopy(load_json("openalex/10.7554_elife.01567.json"))
    body["type_crossref"] = "journal-article"  # as OpenAlex answered before raw_type came
    body["primary_location"]["raw_type"] = None
    body["type"] = "review"
    assert parse_work(body).type == "journal-article"


def test_an_openalex_type_not_in_the_table_is_kept_as_given() -> None:
    body = copy.deepcopy(load_json("openalex/10.7554_elife.01567.json"))
    body["primary_location"]["raw_type"] = None
    body["type"] = "new-kind"
    assert parse_work(body).type == "new-kind"


# --- abstract: plain text, no markup ---


def test_abstract_with_escaped_html_in_its_inverted_index_becomes_text() -> None:
    """The kept figure record: figshare's HTML caption, escaped (&lt;p&gt;), with line breaks
    escaped into a backslash and an n, is what OpenAlex indexed."""
    body = load_json("openalex/10.1371_journal.pmed.0030277.g001.json")
    rebuilt = abstract_from_inverted_index(body["abstract_inverted_index"])
    assert rebuilt.startswith("&lt;div&gt;&lt;p&gt;(A) Whole blood was diluted 1:4")
    assert "ECL.&lt;/p&gt;\\n &lt;p&gt;(B)" in rebuilt

    abstract = parse_work(body).abstract

    assert abstract.split("\n\n") == [
        "(A) Whole blood was diluted 1:4 with RPMI and stimulated with 10 μg/ml sonicated "
        "M. tuberculosis (MTB) or M. bovis BCG (BCG). Triton X-100 (0.5%) was added 24 h later, "
        "and IL-32 concentration was measured by ECL.",
        "(B) Stimulation of freshly isolated PBMCs with various concentrations of LPS or "
        "sonicated M. tuberculosis stimulated IL-32 synthesis in a dose-dependent manner.",
        "(C and D) Freshly isolated PBMCs were stimulated with TLR4 (LPS, 100 ng/ml), TLR2 "
        "(Pam3Cys, 10 μg/ml), TLR3 (poly I:C, 5 μg/ml), M. tuberculosis, M. bovis BCG, or "
        "S. aureus (all at 1 × 107 microorganisms/milliliter, heat-killed). After 24 h of "
        "stimulation, LPS-, M. tuberculosis–, and M. bovis BCG–stimulated production of IL-32 "
        "(C) or IL-6 (D) was measured by ECL.",
        "Data are presented as means ± SEM (n = 8).",
    ]
    assert "&lt;" not in abstract and "<" not in abstract and "\\n" not in abstract


def test_a_less_than_sign_between_words_stays_text() -> None:
    abstract = work("10.1155_2012_291294.json").abstract
    assert "<" in abstract  # the index has "<" at positions 114, 157 and 212
    assert "\n" not in abstract


def test_jats_words_in_an_inverted_index_are_read_as_markup() -> None:
    """A recorded index with JATS tags as words is not in the corpus; the kept blog post's own
    index is used with its first and last words wrapped as Crossref deposits JATS."""
    body = copy.deepcopy(load_json("openalex/10.53731_ybhah-9jy85.json"))
    plain = parse_work(body).abstract
    index = body["abstract_inverted_index"]
    first = next(word for word, positions in index.items() if 0 in positions)
    index[f"<jats:p>{first}"] = index.pop(first)
    last_position = max(p for positions in index.values() for p in positions)
    last = next(word for word, positions in index.items() if last_position in positions)
    index[f"{last}</jats:p>"] = index.pop(last)

    assert parse_work(body).abstract == plain
    assert "jats" not in plain


# --- identifiers ---


def test_pmid_is_kept_in_other_ids_as_digits() -> None:
    record = work("10.1155_2012_291294.json")  # ids.pmid https://pubmed.ncbi.nlm.nih.gov/23326660
    assert record.other_ids == (("pmid", "23326660"),)
    assert work("10.7554_elife.01567.json").other_ids == (("pmid", "24520159"),)
    # ids.mag is not kept: its number is the OpenAlex id's
    assert record.openalex_id == "https://openalex.org/W2157853701"


def test_pmcid_is_kept_with_its_pmc_prefix() -> None:
    body = copy.deepcopy(load_json("openalex/10.7554_elife.01567.json"))
    # ids.pmcid as OpenAlex writes it (its documentation's W2741809807)
    body["ids"]["pmcid"] = "https://www.ncbi.nlm.nih.gov/pmc/articles/5815332"
    assert parse_work(body).other_ids == (("pmid", "24520159"), ("pmcid", "PMC5815332"))


def test_a_work_without_pubmed_ids_has_no_other_ids() -> None:
    assert work("10.1017_9781108348843.json").other_ids == ()


def test_issns_are_checked_and_a_wrong_check_digit_is_dropped() -> None:
    assert work("10.1155_2012_291294.json").issn == ("2090-1836", "2090-1844")
    assert work("10.3389_fpls.2019.00816.json").issn == ("1664-462X",)
    body = copy.deepcopy(load_json("openalex/10.1155_2012_291294.json"))
    body["primary_location"]["source"]["issn"] = ["2090-1836", "2090-1845"]  # last digit wrong
    assert parse_work(body).issn == ("2090-1836",)


# --- funders ---


def test_funders_carry_their_rors_and_the_awards_openalex_names_for_them() -> None:
    record = work("10.1016_j.ejphar.2015.03.018.json")
    assert record.funders == (
        Funder(
            name="National Institutes of Health",
            ror="https://ror.org/01cwqze88",
            awards=(
                "T32 OD011089",
                "R01 NS089482",
                "K01 OD018244",
                "T32OD011089",
                "R01 NS077869",
                "P40OD013117",
                "P40 OD013117",
                "P01 MH070306",
            ),
        ),
        Funder(
            name="National Institute of Mental Health",
            ror="https://ror.org/04xeg9z08",
            awards=("P01MH070306", "P01 MH070306", "R25 MH080661"),
        ),
        Funder(
            name="National Institute of Neurological Disorders and Stroke",
            ror="https://ror.org/01s5ya894",
            awards=("R01 NS076357", "R01 NS077869", "R01 NS089482", "R01NS089482"),
        ),
    )


def test_a_funder_without_an_award_is_kept_by_name_and_ror() -> None:
    record = work("10.3389_fpls.2019.00816.json")
    assert record.funders == (
        Funder(
            name="European Cooperation in Science and Technology",
            ror="https://ror.org/01bstzn19",
            awards=("CA17111",),
        ),
        Funder(
            name="Forskningsrådet om Hälsa, Arbetsliv och Välfärd",
            ror="https://ror.org/02d290r06",
        ),
    )


def test_funders_without_awards_and_no_funders() -> None:
    assert work("10.7554_elife.01567.json").funders == (
        Funder(
            name="Schweizerischer Nationalfonds zur Förderung der Wissenschaftlichen Forschung",
            ror="https://ror.org/00yjd3n13",
        ),
        Funder(name="EMBO", ror="https://ror.org/04wfr2810"),
        Funder(name="Université de Lausanne", ror="https://ror.org/019whta54"),
    )
    assert work("10.1101_097196.json").funders == ()


# --- what OpenAlex does not give, or is left to others ---


def test_referenced_works_are_counted_not_listed() -> None:
    """referenced_works are OpenAlex ids (W...), not DOIs nor citations: the list is left to
    Crossref, which gives DOIs and the printed text; OpenAlex's count is kept."""
    body = load_json("openalex/10.7554_elife.01567.json")
    assert body["referenced_works"][0].startswith("https://openalex.org/W")
    record = parse_work(body)
    assert record.references == ()
    assert record.reference_count == body["referenced_works_count"]


def test_subjects_stay_topics_and_keywords_are_not_added() -> None:
    body = load_json("openalex/10.3389_fpls.2019.00816.json")
    record = parse_work(body)
    assert record.subjects == (
        "Polyamine Metabolism and Applications",
        "Plant tissue culture and regeneration",
        "Postharvest Quality and Shelf Life Management",
    )
    assert "Polyamine" not in record.subjects  # keywords[0]
    assert record.container_short_title is None  # the embedded source has no abbreviation
    assert record.isbn == ()
    assert record.language == "en"
