"""When tracked identifiers are next due: the pure policy with an injected clock, then the watch list
in the store, moved by what each written batch tried."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import Clock

from harvester.due import (
    DuePolicy,
    DueState,
    format_time,
    next_due,
    parse_duration,
    parse_since,
    parse_time,
)
from harvester.models import Failed, NotFound, Unchanged
from harvester.pipeline.common import Run
from harvester.store import Answer, open_store

NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
POLICY = DuePolicy()


def after(state: DueState) -> timedelta:
    return state.next_due_at - NOW


# --- the policy -----------------------------------------------------------------------------


def test_found_is_refreshed_after_the_interval_of_the_source_that_answered():
    assert after(next_due("ok", "crossref", None, NOW, POLICY)) == timedelta(days=30)
    assert after(next_due("ok", "openalex", None, NOW, POLICY)) == timedelta(days=7)
    custom = DuePolicy(refresh_days={"crossref": 2.0}, default_refresh_days=9.0)
    assert after(next_due("ok", "crossref", None, NOW, custom)) == timedelta(days=2)
    assert after(next_due("ok", "datacite", None, NOW, custom)) == timedelta(days=9)


def test_not_found_backs_off_from_days_to_weeks_to_months():
    state, waits = None, []
    for _ in range(6):
        state = next_due("not_found", "crossref", state, NOW, POLICY)
        waits.append(after(state).days)
    assert waits == [1, 4, 16, 64, 180, 180]
    assert state.streak == 6 and state.last_status == "not_found"


def test_failures_are_retried_with_exponential_back_off_up_to_a_cap():
    state, waits = None, []
    for _ in range(11):
        state = next_due("failed", "datacite", state, NOW, POLICY)
        waits.append(after(state))
    assert waits[:4] == [timedelta(minutes=m) for m in (30, 60, 120, 240)]
    assert waits[-1] == timedelta(days=7)


def test_a_success_ends_a_streak_of_failures():
    failed = next_due("failed", "crossref", DueState(NOW, "failed", 5), NOW, POLICY)
    assert failed.streak == 6
    ok = next_due("ok", "crossref", failed, NOW, POLICY)
    assert ok.streak == 1 and after(ok) == timedelta(days=30)
    again = next_due("failed", "crossref", ok, NOW, POLICY)
    assert again.streak == 1 and after(again) == timedelta(minutes=30)


def test_unknown_status_is_refused():
    with pytest.raises(ValueError, match="unknown status"):
        next_due("maybe", None, None, NOW, POLICY)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90m", 5400), ("2h", 7200), ("1h30m", 5400), ("3600s", 3600), ("45", 2700), ("1d", 86400)],
)
def test_durations_as_people_write_them(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "soon", "2x", "h", "0m", "-5m"])
def test_bad_durations_are_refused(text):
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_times_round_trip_in_the_stored_format():
    assert format_time(parse_time("2026-12-02T03:00:00Z")) == "2026-12-02T03:00:00Z"


# --- the watch list in the store ---------------------------------------------------------------


@pytest.fixture
def clock():
    return Clock(NOW)


@pytest.fixture
def store(tmp_path, clock):
    s = open_store(tmp_path / "h.db", now=clock)
    yield s
    s.close()


DOI = ("doi", "10.7554/elife.01567", "10.7554/eLife.01567")
HANDLE = ("repec", "repec:epo:papers:2016-01", "RePEc:epo:papers:2016-01")


def observed(store, *observations):
    with Run(store, "test", policy=POLICY) as run:
        run.write(list(observations))


def sources_of(store, key):
    [item] = [t for t in store.watch.tracked() if t["key"] == key]
    return item["sources"]


def test_tracked_identifiers_are_due_at_once_at_each_of_their_sources(store):
    assert store.watch.track([DOI, HANDLE, DOI]) == 2
    assert store.watch.track([DOI]) == 0
    due = store.watch.due_items(format_time(NOW))
    assert [(d.scheme, d.sources) for d in due] == [
        ("doi", ("agency", "openalex")),
        ("repec", ("repec",)),
    ]
    assert store.watch.due_items(format_time(NOW - timedelta(seconds=1))) == []


def test_a_written_batch_moves_the_due_times_of_what_it_tried(store, clock):
    store.watch.track([DOI, HANDLE])
    crossref = Answer("crossref", DOI[1], "ok", "{}", "h1")
    openalex = Answer("openalex", DOI[1], "not_found")
    observed(
        store,
        Unchanged(source="crossref", key=DOI[1], answers=(crossref, openalex)),
        Failed(source="repec", key=HANDLE[1], scheme="repec", error="tree unreachable"),
    )
    doi = sources_of(store, DOI[1])
    assert doi["agency"]["next_due_at"] == "2027-01-01T03:00:00Z"  # 30 days (Crossref)
    assert doi["openalex"]["next_due_at"] == "2026-12-03T03:00:00Z"  # not found: 1 day
    handle = sources_of(store, HANDLE[1])["repec"]
    assert handle["last_status"] == "failed" and handle["last_error"] == "tree unreachable"
    assert handle["next_due_at"] == "2026-12-02T03:30:00Z"

    clock.moment = NOW + timedelta(hours=1)
    due = store.watch.due_items(clock())
    assert [(d.key, d.sources) for d in due] == [(HANDLE[1], ("repec",))]


def test_an_agency_that_does_not_know_the_doi_backs_off_openalex_too(store):
    store.watch.track([DOI])
    observed(
        store,
        NotFound(source="crossref", key=DOI[1], answers=(Answer("crossref", DOI[1], "not_found"),)),
    )
    sources = sources_of(store, DOI[1])
    assert {s["last_status"] for s in sources.values()} == {"not_found"}
    assert {s["next_due_at"] for s in sources.values()} == {"2026-12-03T03:00:00Z"}


def test_a_remembered_not_found_and_untracked_identifiers_move_nothing(store):
    store.watch.track([DOI])
    observed(
        store,
        NotFound(source="cache", key=DOI[1]),
        Unchanged(source="crossref", key="10.1000/other", answers=()),
    )
    assert {s["last_status"] for s in sources_of(store, DOI[1]).values()} == {None}
    assert store.conn.execute("SELECT count(*) FROM watch_due").fetchone() == (2,)


def test_untrack_forgets_the_identifier_but_keeps_its_work(store):
    store.watch.track([DOI, HANDLE])
    assert store.watch.untrack([(DOI[0], DOI[1]), ("doi", "10.1000/never")]) == 1
    assert [t["key"] for t in store.watch.tracked()] == [HANDLE[1]]
    assert store.conn.execute("SELECT count(*) FROM watch_due").fetchone() == (1,)


def test_due_items_come_longest_due_first_and_respect_a_limit(store, clock):
    store.watch.track([HANDLE])
    clock.moment = NOW + timedelta(minutes=5)
    store.watch.track([DOI])
    due = store.watch.due_items(clock(), limit=1)
    assert [d.key for d in due] == [HANDLE[1]]


def test_runs_left_running_by_a_killed_process_are_recovered(store):
    run_id = store.runs.start("harvest run")
    assert store.runs.recover_stale() == 1
    assert store.runs.get(run_id)["status"] == "interrupted"
    assert store.runs.recover_stale() == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-01", "2026-11-01T00:00:00"),
        ("2026-11-01T12:30:00Z", "2026-11-01T12:30:00"),
        ("2026-11-01T13:30:00+01:00", "2026-11-01T12:30:00"),
        ("today", "2026-12-02T00:00:00"),
        ("yesterday", "2026-12-01T00:00:00"),
        ("Yesterday ", "2026-12-01T00:00:00"),
        ("7d", "2026-11-25T03:00:00"),
        ("12h", "2026-12-01T15:00:00"),
        ("90m", "2026-12-02T01:30:00"),
    ],
)
def test_since_takes_dates_words_and_durations_back_from_now(text, expected):
    assert parse_since(text, NOW).strftime("%Y-%m-%dT%H:%M:%S") == expected
    assert parse_since(text, NOW).tzinfo is not None


@pytest.mark.parametrize("text", ["last week", "", "7 parsecs", "2026-13-01"])
def test_since_refuses_what_it_cannot_read_naming_the_forms_it_takes(text):
    with pytest.raises(ValueError, match="today, yesterday, or a time back like 7d"):
        parse_since(text, NOW)
