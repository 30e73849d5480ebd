"""`harvest run` in-process against the local upstream: the watch list's due identifiers by an
injected clock, the bounds of a run, a source paused for failing, and the feeds (Crossref's
recorded cursor pages, Zenodo's recorded OAI pages, a RePEc series) with their watermarks."""

from __future__ import annotations

import dataclasses
import shutil
import time
from datetime import UTC, datetime, timedelta

import pytest
from conftest import Clock, fixture_path
from fakes import run_pipeline
from upstream import ReplayUpstream

from harvester import render
from harvester.config import Config, FeedConfig
from harvester.due import format_time
from harvester.identifiers import parse_doi
from harvester.pipeline import harvest_due, plan_run
from harvester.store import open_store

NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
ELIFE, DRYAD = "10.7554/eLife.01567", "10.5061/dryad.8515"


@pytest.fixture
def clock():
    return Clock(NOW)


@pytest.fixture
def upstream():
    with ReplayUpstream() as server:
        server.add_crossref("10.7554_elife.01567")
        server.add_openalex("10.7554_elife.01567")
        server.add_datacite("10.5061_dryad.8515")
        yield server


@pytest.fixture
def store(tmp_path, clock):
    s = open_store(tmp_path / "h.db", now=clock)
    yield s
    s.close()


def track(store, *dois):
    store.watch.track(("doi", parse_doi(d).key, d) for d in dois)


def run(store, config, **options):
    return run_pipeline(harvest_due, store=store, config=config, command="harvest run", **options)


def asked(upstream, service):
    return [r for r in upstream.requests if r.startswith(f"/{service}/")]


# --- the watch list ---------------------------------------------------------------------------


def test_what_is_due_is_harvested_once_and_then_not_until_it_is_due_again(upstream, store, clock):
    config = upstream.config()
    track(store, ELIFE, DRYAD, "10.99999/nobody")
    result, outcomes = run(store, config)
    assert result.status == "ok" and result.exit_code == 0  # not found is news, not a failure
    assert sorted(o.status for o in outcomes) == ["created", "created", "not_found"]

    before = len(upstream.requests)
    again, outcomes = run(store, config)
    assert again.counts.requested == 0 and outcomes == []
    assert len(upstream.requests) == before  # nothing asked: nothing was due

    # A day later the unknown prefix and the OpenAlex misses are due again, nothing else.
    clock.moment = NOW + timedelta(days=1, minutes=1)
    plan = plan_run(store, config, clock())
    assert {(d.value, d.sources) for d in plan.due} == {
        ("10.99999/nobody", ("agency", "openalex")),
        (DRYAD, ("openalex",)),
    }


def test_only_openalex_is_asked_when_only_openalex_is_due(upstream, store, clock):
    config = upstream.config()
    track(store, ELIFE)
    run(store, config)
    crossref_before = len(asked(upstream, "crossref"))
    clock.moment = NOW + timedelta(days=8)  # OpenAlex refreshes after 7 days, Crossref after 30
    upstream.change(ELIFE)  # even a change at Crossref is not asked for before it is due
    _, outcomes = run(store, config)
    assert [(o.source, o.status) for o in outcomes] == [("openalex", "unchanged")]
    assert len(asked(upstream, "crossref")) == crossref_before
    [item] = store.watch.tracked()
    assert item["sources"]["openalex"]["next_due_at"] == format_time(clock.moment + timedelta(7))
    assert item["sources"]["agency"]["next_due_at"] == format_time(NOW + timedelta(30))


def test_max_and_the_time_budget_leave_the_rest_due(upstream, store):
    config = dataclasses.replace(upstream.config(), chunk_size=1)
    track(store, ELIFE, DRYAD)
    first, _ = run(store, config, max_items=1)
    assert first.counts.requested == 1
    assert len(plan_run(store, config, store.now()).due) == 1

    late, _ = run(store, config, deadline=time.monotonic() - 1)
    assert late.counts.requested == 0 and late.left_due == 1
    assert len(plan_run(store, config, store.now()).due) == 1


def test_a_source_failing_more_than_a_tenth_of_the_time_is_paused_and_its_work_left_due(
    upstream, store
):
    config = dataclasses.replace(upstream.config(), chunk_size=20)
    dois = upstream.add_synthetic(60)
    track(store, *dois)
    upstream.fail("/crossref/works", 500, b"Internal error", times=None)
    result, outcomes = run(store, config)
    assert result.status == "failures" and result.exit_code == 1
    errors = [o.error or "" for o in outcomes]
    paused = [e for e in errors if "paused for the rest of this run" in e]
    # Two chunks are asked side by side, so the pause reaches the third: at most one chunk
    # more than one at a time would have asked.
    assert len(paused) == 20
    tried = {s["last_status"] for t in store.watch.tracked() for s in t["sources"].values()}
    assert tried == {"failed", None}  # the paused ones keep their due time untouched
    untouched = [t for t in store.watch.tracked() if t["sources"]["agency"]["last_status"] is None]
    assert len(untouched) == 20
    # The run and its summary name the source that was paused.
    assert result.paused == ("crossref",)
    summary = render.summary_line(result, "h.db")
    assert summary.endswith(
        "; paused for failing too often: crossref (what it was due for is left for the next run)"
    )


# --- feeds ------------------------------------------------------------------------------------

MEMBER_PAGES = (
    "crossref/list_members-98_works_rows5_cursor-page1.json",
    "crossref/list_members-98_works_rows5_cursor-page2.json",
)


def with_feeds(config: Config, *feeds: FeedConfig) -> Config:
    return dataclasses.replace(config, feeds=feeds)


def feed_row(store, key):
    return store.feeds.get(key)


def test_a_crossref_feed_is_walked_with_its_cursor_and_its_watermark_moves(upstream, store):
    pages = upstream.add_crossref_feed("member:98", *MEMBER_PAGES)
    config = with_feeds(upstream.config(), FeedConfig(kind="crossref", member="98"))
    result, outcomes = run(store, config)
    dois = {item["DOI"].lower() for page in pages for item in page["message"]["items"]}
    assert result.status == "ok" and result.counts.created == len(dois) == 10
    assert {o.identifier.lower() for o in outcomes} == dois
    walk = [r for r in asked(upstream, "crossref") if "cursor=" in r]
    assert "cursor=%2A" in walk[0] and "member%3A98" in walk[0] and "from-index-date" not in walk[0]
    assert len(walk) == 3  # two pages and the end
    row = feed_row(store, "crossref member 98")
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert row["watermark"] == today and row["records"] == 10 and row["cursor"] is None

    upstream.add_crossref_feed("member:98")  # nothing new since
    again, _ = run(store, config)
    assert again.counts.requested == 0
    assert f"from-index-date%3A{today}" in [r for r in upstream.requests if "cursor=" in r][-1]


def test_an_interrupted_crossref_walk_resumes_from_its_cursor(upstream, store):
    pages = upstream.add_crossref_feed("member:98", *MEMBER_PAGES)
    config = with_feeds(upstream.config(), FeedConfig(kind="crossref", member="98"))
    cursor = pages[0]["message"]["next-cursor"]
    upstream.fail("cursor=DnF1", 500, b"Internal error", times=1)  # page 2 fails once
    first, outcomes = run(store, config)
    assert first.status == "failures" and first.counts.created == 5
    assert "feed crossref member=98" in outcomes[-1].identifier
    row = feed_row(store, "crossref member 98")
    assert row["cursor"] == cursor and row["watermark"] is None and "500" in row["error"]

    second, _ = run(store, config)
    assert second.status == "ok" and second.counts.created == 5  # page 2 only
    resumed = [r for r in upstream.requests if "cursor=" in r][-2]
    assert "cursor=DnF1" in resumed


def test_a_dead_resume_cursor_walks_again_from_the_start(upstream, store):
    pages = upstream.add_crossref_feed("member:98", *MEMBER_PAGES)
    config = with_feeds(upstream.config(), FeedConfig(kind="crossref", member="98"))
    upstream.fail("cursor=DnF1", 500, b"Internal error", times=1)
    run(store, config)
    upstream.feed_steps["member:98"] = 0  # Crossref forgot the cursor: it answers 404
    second, outcomes = run(store, config)
    assert second.status == "ok"
    assert [o.status for o in outcomes].count("unchanged") == 5  # page 1 again, unchanged
    assert feed_row(store, "crossref member 98")["watermark"] is not None
    assert pages


def test_an_oai_feed_and_a_repec_series_run_after_the_watch_list(upstream, store, tmp_path):
    upstream.add_zenodo_list()
    tree = tmp_path / "repec" / "epo" / "papers"
    tree.mkdir(parents=True)
    shutil.copy(fixture_path("redif/epo_papers_2016.rdf"), tree / "2016.rdf")
    base = upstream.config()
    config = dataclasses.replace(
        base,
        repec=dataclasses.replace(base.repec, url=str(tmp_path / "repec"), rate=1000.0),
        oai=dataclasses.replace(base.oai, endpoints={"mirror": upstream.url_for("oai")}),
        feeds=(
            FeedConfig(kind="oai", endpoint="mirror"),
            FeedConfig(kind="repec", series="RePEc:epo:papers"),
        ),
    )
    track(store, ELIFE)
    result, outcomes = run(store, config)
    assert result.status == "ok"
    sources = [o.source for o in outcomes]
    assert sources[0] == "crossref"  # the watch list first
    assert sources.count("oai") == 8 and sources.count("repec") == 7
    oai_key = f"oai {upstream.url_for('oai')} oai_dc *"
    assert feed_row(store, oai_key)["watermark"] == "2026-08-13T17:56:48Z"
    assert feed_row(store, "repec series RePEc:epo:papers")["completed_run_id"] == result.run_id
    assert store.runs.get(result.run_id)["requested"] == 1 + 8 + 7 + sum(
        1 for o in outcomes if o.source not in ("crossref", "oai", "repec")
    )


def test_a_run_works_through_what_was_due_when_it_began_page_by_page(upstream, store):
    """The due list lives in the store (temp.due_now), not in memory: paged, in order, and an
    identifier whose try moved only one of its due times is not met twice in one run."""
    dois = upstream.add_synthetic(7)
    track(store, *dois)
    now = store.now()
    assert store.watch.freeze_due(now, limit=5) == 5
    pages = list(store.watch.iter_due("doi", page=2))
    assert [i.value for i in pages] == [i.value for i in store.watch.due_items(now, 5)]
    assert len({i.key for i in pages}) == 5 and list(store.watch.iter_due("repec", page=2)) == []
    # A try that moves one source only (the agency) leaves the other due: the frozen list still
    # holds the identifier once, where a fresh query would find it again.
    store.watch.freeze_due(now)
    first = next(store.watch.iter_due("doi"))
    store.conn.execute(
        "UPDATE watch_due SET next_due_at = '2999-01-01T00:00:00Z' WHERE key = ? AND source = ?",
        (first.key, "agency"),
    )
    again = [i.key for i in store.watch.iter_due("doi")]
    assert again.count(first.key) == 1 and len(again) == 7
    assert first.key in {i.key for i in store.watch.due_items(now)}  # still due at OpenAlex
