"""`harvest run` when a source fails too often (more than 10% of its answers, after 20) and is
paused for the rest of the run: the summary line names it, the run row records it, and the exit
code says the night did not go well. `--retry-failed` asks now what is waiting out a back-off,
and the summary of a run without it says how many identifiers are backing off, until when.
Run as cron runs it, in a subprocess, against the local upstream replaying recorded answers."""

from __future__ import annotations

import pytest
from conftest import QUICK_RETRIES, HarvestCommand
from fakes import query
from upstream import ReplayUpstream


@pytest.fixture
def upstream():
    with ReplayUpstream() as server:
        yield server


@pytest.fixture
def harvest(tmp_path, upstream):
    fast = "[openalex]\nrate = 1000.0\n[doi]\nrate = 1000.0\n[datacite]\nrate = 1000.0\n"
    return HarvestCommand(tmp_path, upstream.env(), "chunk_size = 20\n" + QUICK_RETRIES + fast)


def test_a_paused_source_is_named_in_the_summary_the_run_row_and_the_exit_code(harvest, upstream):
    dois = upstream.add_synthetic(60)
    harvest("track", *dois)
    upstream.fail("/openalex/", 500, b"Internal error", times=None)  # every OpenAlex answer
    proc = harvest("run")
    assert proc.returncode == 1, proc.stderr  # not 0: OpenAlex's share of the night is left
    [summary] = proc.stdout.splitlines()
    assert "paused for failing too often: openalex" in summary
    assert query(harvest.db_path, "SELECT status, paused FROM runs") == [("failures", "openalex")]
    assert query(harvest.db_path, "SELECT count(*) FROM works") == [(60,)]  # Crossref's stored
    left = query(
        harvest.db_path,
        "SELECT count(*) FROM watch_due WHERE source = 'openalex' AND "
        "last_status IS NULL AND next_due_at <= strftime('%Y-%m-%dT%H:%M:%SZ', 'now')",
    )
    assert left[0][0] >= 20  # what the pause left is still due


def fail_for_good(harvest, upstream) -> None:
    """A run in which every answer fails: the DOIs' agency look-ups back off (30 minutes)."""
    upstream.fail("/", 503, b"Unavailable", times=None)
    first = harvest("run")
    assert first.returncode == 1, first.stderr
    upstream.faults.clear()


def test_a_run_says_how_many_are_backing_off_and_until_when_and_retry_failed_asks_them(
    harvest, upstream
):
    dois = upstream.add_synthetic(3)
    harvest("track", *dois)
    fail_for_good(harvest, upstream)
    [(earliest,)] = query(
        harvest.db_path, "SELECT min(next_due_at) FROM watch_due WHERE last_status = 'failed'"
    )
    agency_asked = upstream.count("/ra/") + upstream.count("/crossref/")
    later = harvest("run")  # their agency is not asked again yet
    assert upstream.count("/ra/") + upstream.count("/crossref/") == agency_asked
    [summary] = later.stdout.splitlines()
    assert f"3 backing off after failing, not asked before {earliest}" in summary
    assert "--retry-failed" in summary
    plan = harvest("run", "--dry-run", "--retry-failed")
    assert "3 identifier(s) due" in plan.stdout
    retried = harvest("run", "--retry-failed")
    assert retried.returncode == 0, retried.stderr
    assert retried.stdout.startswith("3 identifier(s): 3 created"), retried.stdout
    assert "backing off" not in retried.stdout
    failed = query(harvest.db_path, "SELECT count(*) FROM watch_due WHERE last_status = 'failed'")
    assert failed == [(0,)]
