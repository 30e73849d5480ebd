"""Upstream faults, injected by the local upstream into a nightly run: every tracked identifier
ends in a definite state (stored, not found, or failed with its next retry time), the run says
there were failures, nothing raises, and the next run finishes the work."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from conftest import Clock
from upstream import ReplayUpstream

from harvester.due import parse_time
from harvester.identifiers import parse_doi
from harvester.pipeline import connect, harvest_due
from harvester.store import open_store

NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
CROSSREF_DOIS = ("10.7554/eLife.01567", "10.1371/journal.pone.0033693")
DATACITE_DOI = "10.5061/dryad.8515"
HTML = b"<html><head><title>429 Too Many Requests</title></head><body>slow down</body></html>"

#: (name, status or transfer fault, body, headers): what the local upstream answers Crossref's
#: requests with, every time, for the whole run.
STORMS = [
    ("429 with Retry-After", 429, HTML, {"Retry-After": "1", "content-type": "text/html"}),
    ("429 without Retry-After", 429, HTML, {"content-type": "text/html"}),
    ("500", 500, b"Internal Server Error", {"content-type": "text/plain"}),
    ("502", 502, b"<html>Bad Gateway</html>", {"content-type": "text/html"}),
    ("503", 503, b"<html>Service Unavailable</html>", {"content-type": "text/html"}),
    ("504", 504, b"<html>Gateway Timeout</html>", {"content-type": "text/html"}),
    ("connection reset", "reset", b"", {}),
    ("read timeout", "timeout", b"1.5", {}),
    ("truncated body", "truncate", b'{"status":"ok","message-type":"work-list","mess', {}),
    (
        "HTML with status 200",
        200,
        b"<html><body>Portal</body></html>",
        {"content-type": "text/html"},
    ),
    (
        "JSON of the wrong shape",
        200,
        b'{"status":"ok","message-type":"work-list","message":{"items":"none"}}',
        {"content-type": "application/json"},
    ),
    ("oversized body", 200, b'{"message":"' + b"x" * 300_000 + b'"}', {}),
]


#: The kind each storm is counted as in the run record (`run_failures`).
KINDS = {
    "429 with Retry-After": "rate_limited",
    "429 without Retry-After": "rate_limited",
    "500": "server_error",
    "502": "server_error",
    "503": "server_error",
    "504": "server_error",
    "connection reset": "network",
    "read timeout": "network",
    "truncated body": "network",
    "HTML with status 200": "bad_answer",
    "JSON of the wrong shape": "bad_answer",
    "oversized body": "bad_answer",
}


@pytest.fixture
def clock():
    return Clock(NOW)


@pytest.fixture
def upstream():
    with ReplayUpstream() as server:
        server.add_crossref("10.7554_elife.01567", "10.1371_journal.pone.0033693")
        server.add_datacite("10.5061_dryad.8515")
        yield server


@pytest.fixture
def store(tmp_path, clock):
    s = open_store(tmp_path / "h.db", now=clock)
    s.watch.track(("doi", parse_doi(d).key, d) for d in (*CROSSREF_DOIS, DATACITE_DOI))
    yield s
    s.close()


def configure(upstream):
    config = upstream.config()
    return dataclasses.replace(
        config,
        http=dataclasses.replace(
            config.http,
            max_attempts=3,
            backoff_initial=0.01,
            backoff_max=0.02,
            retry_after_cap=0.05,
            read_timeout=0.5,
            max_body_bytes=200_000,
        ),
    )


def run(upstream, store):
    config = configure(upstream)
    return harvest_due(store=store, client=connect(config), config=config, command="harvest run")


def states(store) -> dict[str, dict]:
    return {t["value"]: t["sources"]["agency"] for t in store.watch.tracked()}


@pytest.mark.parametrize(("name", "status", "body", "headers"), STORMS, ids=[s[0] for s in STORMS])
def test_a_storm_leaves_every_identifier_in_a_definite_state_and_a_rerun_finishes(
    upstream, store, clock, name, status, body, headers
):
    # Lists and single look-ups alike: a refused batch is asked again DOI by DOI.
    upstream.fail("/crossref/works", status, body, headers, times=None)
    result = run(upstream, store)
    assert result.status == "failures" and result.exit_code == 1
    assert result.counts.failed == len(CROSSREF_DOIS)
    agency = states(store)
    assert agency[DATACITE_DOI]["last_status"] == "ok"  # another source is not held up
    for doi in CROSSREF_DOIS:
        assert agency[doi]["last_status"] == "failed" and agency[doi]["last_error"]
        retry_at = parse_time(agency[doi]["next_due_at"])
        assert NOW < retry_at <= NOW + timedelta(hours=1)  # a definite, near retry time
    assert store.conn.execute("SELECT count(*) FROM works").fetchone() == (1,)
    assert store.runs.failures(result.run_id) == {KINDS[name]: len(CROSSREF_DOIS)}

    upstream.faults.clear()
    clock.moment = NOW + timedelta(hours=1)
    rerun = run(upstream, store)
    assert rerun.status == "ok" and rerun.counts.created == len(CROSSREF_DOIS)
    assert {s["last_status"] for s in states(store).values()} == {"ok"}


@pytest.mark.parametrize(
    ("name", "status", "body", "headers"),
    [
        s
        for s in STORMS
        if s[0] in ("429 with Retry-After", "503", "connection reset", "read timeout")
    ],
    ids=lambda v: v if (isinstance(v, str) and " " in v) or v in ("503",) else "",
)
def test_a_short_burst_is_ridden_out_by_the_retries(upstream, store, name, status, body, headers):
    upstream.fail("/crossref/works?", status, body, headers, times=2)  # 3 attempts allowed
    result = run(upstream, store)
    assert result.status == "ok" and result.counts.created == 3
    assert upstream.count("/crossref/works?") == 3


def test_through_the_cli_a_storm_is_one_line_per_failure_exit_1_and_no_traceback(
    tmp_path, upstream
):
    from conftest import QUICK_RETRIES, HarvestCommand

    harvest = HarvestCommand(tmp_path, upstream.env(), QUICK_RETRIES)
    harvest("track", *CROSSREF_DOIS)
    upstream.fail("/crossref/works", "reset", times=None)
    stormy = harvest("-v", "run")  # HarvestCommand fails the test on any traceback
    assert stormy.returncode == 1
    failed = [line for line in stormy.stdout.splitlines() if line.startswith("failed")]
    assert len(failed) == 2, stormy.stdout
    assert "0 created, 0 changed, 0 unchanged, 0 not found, 2 failed (network 2)" in stormy.stdout


def test_the_run_record_counts_each_kind_of_failure(upstream, store):
    upstream.fail(
        "/crossref/works", 503, b"<html>busy</html>", {"content-type": "text/html"}, times=None
    )
    upstream.fail(
        "/datacite/dois", 200, b"<html>Portal</html>", {"content-type": "text/html"}, times=None
    )
    result = run(upstream, store)
    assert store.runs.failures(result.run_id) == {"server_error": 2, "bad_answer": 1}
    assert store.runs.get(result.run_id)["failed"] == 3
