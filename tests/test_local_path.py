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


@pytest.fixture
def json_log():
    """JSON logging at info (as under cron) into a buffer; the process-wide set-up restored."""
    import io
    import logging

    import structlog

    from harvester.log import configure_logging

    root = logging.getLogger()
    handlers, level, saved = root.handlers[:], root.level, structlog.get_config()
    stream = io.StringIO()
    configure_logging("json", 0, stream=stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    structlog.reset_defaults()
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)


def test_one_info_line_per_batch_a_warning_per_failure_and_no_line_per_work(json_log):
    from harvester.models import Outcome

    outcomes = [
        *(Outcome(f"10.1000/{n}", "created", work_id=n, source="crossref") for n in range(150)),
        *(Outcome(f"10.1000/u{n}", "unchanged", work_id=n, source="crossref") for n in range(49)),
        Outcome("10.1000/bad", "failed", source="crossref", error="HTTP 500"),
    ]
    for outcome in outcomes:
        common.log_outcome(outcome)
    common.log_batch(outcomes)
    events = json_log()
    assert [(e["event"], e["level"]) for e in events] == [
        ("work.failed", "warning"),
        ("batch.written", "info"),
    ]
    assert events[0]["identifier"] == "10.1000/bad" and events[0]["error"] == "HTTP 500"
    batch = events[1]
    assert (batch["works"], batch["created"], batch["unchanged"], batch["failed"]) == (
        200,
        150,
        49,
        1,
    )


def test_a_debug_event_below_the_level_is_dropped_before_any_processor_runs(json_log):
    import structlog

    from harvester import log as harvester_log

    masked = []
    processors = structlog.get_config()["processors"]
    index = processors.index(harvester_log.mask_event)
    processors[index] = lambda logger, name, event: masked.append(event) or event
    structlog.get_logger("harvester.test").debug("work.created", identifier="10.1000/x")
    structlog.get_logger("harvester.test").info("batch.written", works=1)
    assert [e["event"] for e in masked] == ["batch.written"]
    assert [e["event"] for e in json_log()] == ["batch.written"]
