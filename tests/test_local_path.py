"""The local path made cheaper (issue 19) says what it said before: a single source's work is
built as the general merge builds it, rows are the dataclasses' own fields, and the conflict
search runs only where two sources can disagree."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from conftest import FIXTURES, load_json

from harvester import merge
from harvester.config import Config
from harvester.merge import Contribution, build_work, find_conflicts, record_values
from harvester.models import Answer, Record
from harvester.pipeline import common
from harvester.sources import crossref, datacite, openalex


def corpus_records() -> list[Record]:
    """Every single work the corpus holds from Crossref, DataCite and OpenAlex, parsed."""
    found = []
    for path in sorted(Path(FIXTURES).glob("*/*.json")):
        if path.name.endswith(".meta.json") or path.name.startswith(("agency_", "list_")):
            continue
        body = json.loads(path.read_bytes())
        kind = path.parent.name
        if kind == "crossref":
            found.append(crossref.parse(crossref.unwrap(body, "work")))
        elif kind == "datacite":
            found.append(datacite.parse(body))
        elif kind == "openalex":
            found.append(openalex.parse(body))
    return found


@pytest.mark.usefixtures("fixtures_dir")
def test_a_single_sources_work_is_built_as_the_general_merge_builds_it():
    records = corpus_records()
    assert len(records) >= 45
    for record in records:
        alone = build_work([record])
        # A second contribution that says nothing takes the general path, with the same result.
        general = build_work([record, Contribution("nobody", {})])
        assert alone == general, record.doi
    local = Contribution("local", {"title": "Mine", "year": 2016, "pages": ""}, fills={"title"})
    assert build_work([local]) == build_work([local, Contribution("nobody", {})])


def _asdict_rows(items) -> str | None:
    """The rows as `dataclasses.asdict` made them before."""
    rows = [
        {k: v for k, v in dataclasses.asdict(i).items() if v not in (None, (), "")} for i in items
    ]
    return merge.to_json(rows)


@pytest.mark.usefixtures("fixtures_dir")
def test_row_values_are_what_asdict_gave_on_every_recorded_work():
    compared = 0
    for record in corpus_records():
        values = record_values(record)
        for column, items in [
            ("titles", record.titles),
            ("abstracts", record.abstracts),
            ("funders", record.funders),
            ("isbn", record.isbn),
            ("reference_list", record.references),
            ("files", record.files),
        ]:
            assert values[column] == _asdict_rows(items), (record.doi, column)
            compared += bool(items)
        relations = merge.to_json([dataclasses.asdict(r) for r in record.relations])
        assert values["relations"] == relations
        assert values["updates"] == merge.to_json([dataclasses.asdict(u) for u in record.updates])
    assert compared >= 30


def _answer(record: Record) -> Answer:
    return Answer(record.source, record.doi or "x", "ok", None, "hash", record=record)


def test_the_conflict_search_runs_only_when_two_sources_said_something(monkeypatch):
    searched = []

    def counting(said, dates="print"):
        searched.append(len(said))
        return find_conflicts(said, dates)

    monkeypatch.setattr(common, "find_conflicts", counting)
    one = Record(source="crossref", doi="10.1000/a", title="Wages and Work", pages="624-640")
    other = Record(source="openalex", doi="10.1000/a", title="Wages and Work", pages="625-640")
    work, conflicts = common.merge_work([_answer(one)], None, Config())
    assert conflicts == () and searched == []
    assert work.values["pages"] == "624-640" and work.provenance["pages"] == "crossref"

    _, conflicts = common.merge_work([_answer(one), _answer(other)], None, Config())
    assert searched == [2]
    assert {(c.source, c.value) for c in conflicts if c.field == "pages"} == {
        ("crossref", "624-640"),
        ("openalex", "625-640"),
    }
    # The user's own value against one source is two voices: searched, and reported.
    _, conflicts = common.merge_work(
        [_answer(one)], Contribution("local", {"pages": "1-2"}), Config()
    )
    assert searched == [2, 2] and {c.source for c in conflicts} == {"crossref", "local"}


def test_one_record_never_conflicts_with_itself():
    cr = crossref.parse(crossref.unwrap(load_json("crossref/10.7554_elife.01567.json"), "work"))
    assert find_conflicts([cr]) == []
