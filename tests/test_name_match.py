"""matching.name_match: how well a byline's name fits a person followed (issue 21: the
institution feed offers a claim from NAME_MATCH_MIN up). Names as OpenAlex's recorded bylines
write them (display_name and raw_author_name of tests/fixtures and the shared corpus)."""

from __future__ import annotations

import pytest

from harvester.matching import NAME_MATCH_MIN, name_match


@pytest.mark.parametrize(
    ("person", "author", "score"),
    [
        ("Frédéric Labrosse", "Frederic Labrosse", 1.0),  # accents and case aside
        ("Joseph Mearman", "Joseph W. Mearman", 0.95),  # a middle initial more
        ("Joseph Mearman", "J. W. Mearman", 0.92),  # initials only
        ("Joseph Mearman", "Mearman, J.", 0.92),  # family name first
        ("Joseph Mearman", "Mearman", 0.6),  # no given name to compare
        ("Hans van der Berg", "H. Berg", 0.87),  # the family name's last word only
    ],
)
def test_a_name_fits_by_family_name_and_given_names(person, author, score):
    assert name_match(person, author) == pytest.approx(score)
    assert name_match(author, person) == pytest.approx(score)


@pytest.mark.parametrize(
    ("person", "author"),
    [
        ("Joseph Mearman", "Jane Mearman"),  # another first name, the same initial
        ("Joseph Mearman", "K. Mearman"),  # another initial
        ("Joseph Mearman", "Andrew T. Wilson"),  # another family name
        ("Joseph Mearman", ""),
    ],
)
def test_another_person_scores_nothing(person, author):
    assert name_match(person, author) == 0.0


def test_only_family_name_and_first_initial_together_reach_a_claim():
    assert name_match("Martial Sankar", "M. Sankar") >= NAME_MATCH_MIN
    assert name_match("Martial Sankar", "Sankar") < NAME_MATCH_MIN
    assert name_match("Hans van der Berg", "H. Berg") < NAME_MATCH_MIN
