"""Merging source records: precedence, provenance, a source losing a field, and conflicts."""

from __future__ import annotations

import dataclasses
import json

from conftest import load_json

from harvester.merge import (
    Conflict,
    Contribution,
    build_work,
    by_precedence,
    find_conflicts,
    normalised,
)
from harvester.models import Author, Record
from harvester.sources import crossref, openalex


def elife_records() -> tuple[Record, Record]:
    """The same eLife article as Crossref and OpenAlex recorded it."""
    from_crossref = crossref.parse(
        crossref.unwrap(load_json("crossref/10.7554_elife.01567.json"), "work")
    )
    from_openalex = openalex.parse(load_json("openalex/10.7554_elife.01567.json"))
    return from_crossref, from_openalex


def test_the_agency_wins_and_openalex_fills_what_it_lacks_with_provenance():
    cr, oa = elife_records()
    work = build_work(by_precedence([oa, cr]))
    assert work.values["title"] == cr.title
    assert work.provenance["title"] == "crossref"
    assert work.values["oa_status"] == oa.oa_status and work.provenance["oa_status"] == "openalex"
    assert work.values["pages"] == "e01567" and work.provenance["pages"] == "openalex"
    assert work.provenance["authors"] == "crossref"
    assert [a.family for a in work.authors][:2] == ["Sankar", "Nieminen"]


def test_a_field_the_agency_drops_falls_back_to_the_next_source():
    cr, oa = elife_records()
    without_volume = dataclasses.replace(cr, volume=None)
    work = build_work(by_precedence([oa, without_volume]))
    assert work.values["volume"] == oa.volume == "3"
    assert work.provenance["volume"] == "openalex"


def test_local_edits_win_over_every_source():
    cr, oa = elife_records()
    local = Record(source="local", title="My corrected title")
    work = build_work(by_precedence([oa, cr, local]))
    assert work.values["title"] == "My corrected title" and work.provenance["title"] == "local"
    assert work.provenance["container_title"] == "crossref"


def test_the_real_records_of_one_article_do_not_conflict():
    cr, oa = elife_records()
    assert find_conflicts([cr, oa]) == []


def test_disagreements_are_reported_with_every_sources_value():
    a = Record(source="crossref", title="Wages and Work", pages="624-640", issued="2015")
    b = Record(source="repec", title="Wages and work.", pages="625-640", issued="2016")
    conflicts = find_conflicts([a, b])
    assert Conflict("pages", "crossref", "624-640") in conflicts
    assert Conflict("pages", "repec", "625-640") in conflicts
    assert (
        Conflict("year", "crossref", "2015") in conflicts
        and Conflict("year", "repec", "2016") in conflicts
    )
    assert not any(c.field == "title" for c in conflicts)


def test_normalisation_sees_through_typography():
    assert normalised("pages", "624–40") == normalised("pages", "pp. 624 - 640") == "624-640"
    assert normalised("pages", "e01567") == "e01567"
    assert normalised("title", "Über Löhne: eine Studie") == normalised(
        "title", "uber lohne - Eine studie"
    )
    assert normalised("issue", "04") == normalised("issue", "4")
    assert normalised("title", "Wages") != normalised("title", "Wagers")


def test_precedence_can_be_changed_for_one_field():
    cr, oa = elife_records()
    cr = dataclasses.replace(cr, abstract="Crossref's abstract")
    work = build_work([cr, oa], field_precedence={"abstract": ("openalex", "crossref")})
    assert work.values["abstract"] == oa.abstract and work.provenance["abstract"] == "openalex"
    assert work.provenance["title"] == "crossref"  # every other field as by default


def test_the_users_values_join_the_merge_in_column_terms():
    cr, oa = elife_records()
    mine = Contribution("local", {"year": 2015, "pages": "1-20"}, (Author(family="Mine"),))
    work = build_work([oa, mine, cr])
    assert (work.values["year"], work.values["pages"]) == (2015, "1-20")
    assert work.provenance["year"] == work.provenance["authors"] == "local"
    assert [a.family for a in work.authors] == ["Mine"]
    assert work.values["title"] == cr.title


def test_a_source_ranked_last_still_fills_what_nobody_else_has():
    cr, oa = elife_records()
    work = build_work([oa, cr], precedence=("crossref",))
    assert work.provenance["oa_status"] == "openalex"


# --- the date a work is cited by (issue 16) ---


def jclinpath() -> Record:
    """A J Clin Pathol article online on 17 August 2020, in the print issue of May 2021
    (volume 74, issue 5), as Crossref recorded it."""
    return crossref.parse(
        crossref.unwrap(load_json("crossref/10.1136_jclinpath-2020-206745.json"), "work")
    )


def test_an_article_in_a_journal_issue_is_dated_by_its_print_issue():
    record = jclinpath()
    assert (record.issued, record.published_print, record.published_online) == (
        "2020-08-17",
        "2021-05",
        "2020-08-17",
    )
    work = build_work([record])
    assert (work.values["year"], work.values["published"]) == (2021, "2021-05")
    # the online date is kept beside it
    assert work.values["published_online"] == "2020-08-17"


def test_the_earliest_date_rule_keeps_the_online_date():
    work = build_work([jclinpath()], dates="earliest")
    assert (work.values["year"], work.values["published"]) == (2020, "2020-08-17")


def test_a_record_without_a_volume_or_issue_keeps_its_earliest_date():
    not_in_an_issue = dataclasses.replace(
        jclinpath(), type="posted-content", volume=None, issue=None
    )
    assert build_work([not_in_an_issue]).values["year"] == 2020


def test_the_year_conflict_follows_the_date_rule():
    """Crossref's article (print 2021) and the same article with only its online date: under the
    print rule they disagree on the year, and the conflict says so."""
    record = jclinpath()
    online_only = dataclasses.replace(record, source="openalex", published_print=None)
    years = {c.source: c.value for c in find_conflicts([record, online_only]) if c.field == "year"}
    assert years == {"crossref": "2021", "openalex": "2020"}
    assert not [c for c in find_conflicts([record, online_only], "earliest") if c.field == "year"]


# --- every source's citation count (issue 16) ---


def test_citation_counts_are_kept_per_source_and_the_agency_still_wins_cited_by_count():
    cr, oa = elife_records()
    work = build_work(by_precedence([oa, cr]))
    assert json.loads(work.values["citation_counts"]) == {"crossref": 36, "openalex": 45}
    assert work.values["cited_by_count"] == 36 and work.provenance["cited_by_count"] == "crossref"
    assert "citation_counts" not in work.provenance  # the value names its sources itself


# --- a local value against a source (issue 16) ---


def test_a_local_value_that_disagrees_with_a_source_wins_and_is_a_conflict():
    cr, oa = elife_records()
    mine = Contribution("local", {"pages": "624--641"})
    work = build_work([cr, oa, mine])
    assert work.values["pages"] == "624--641" and work.provenance["pages"] == "local"
    pages = {c.source: c.value for c in find_conflicts([cr, oa, mine]) if c.field == "pages"}
    assert pages == {"openalex": "e01567", "local": "624--641"}


def test_a_local_value_that_agrees_with_the_source_is_no_conflict():
    cr, oa = elife_records()
    same = Contribution("local", {"pages": "E01567", "volume": "3"})
    assert find_conflicts([cr, oa, same]) == []


def test_a_value_that_only_fills_a_gap_never_wins_over_a_source():
    cr, oa = elife_records()
    filling = Contribution(
        "local",
        {"title": "Ours", "publisher_place": "Cambridge"},
        fills=frozenset({"title", "publisher_place"}),
    )
    work = build_work([cr, oa, filling])
    assert work.values["title"] == cr.title and work.provenance["title"] == "crossref"
    assert (
        work.values["publisher_place"] == "Cambridge"
        and work.provenance["publisher_place"] == "local"
    )
    assert not [c for c in find_conflicts([cr, oa, filling]) if c.source == "local"]
