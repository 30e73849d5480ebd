"""The nightly harvest as cron and a user run it: `harvest track`, `tracked`, `untrack`, `run`
(and `--dry-run`), `schedule --dry-run`, and one writer at a time: a second `harvest run` exits 3
naming the first, `--wait` waits for it, and a writer killed with SIGKILL leaves nothing stuck."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time

import pytest
from conftest import QUICK_RETRIES, HarvestCommand
from fakes import query
from upstream import ReplayUpstream

ELIFE, DRYAD, PLOS = "10.7554/eLife.01567", "10.5061/dryad.8515", "10.1371/journal.pone.0033693"


@pytest.fixture
def upstream():
    with ReplayUpstream() as server:
        server.add_crossref("10.7554_elife.01567", "10.1371_journal.pone.0033693")
        server.add_datacite("10.5061_dryad.8515")
        yield server


@pytest.fixture
def harvest(tmp_path, upstream):
    fast = "[openalex]\nrate = 1000.0\n[doi]\nrate = 1000.0\n[datacite]\nrate = 1000.0\n"
    return HarvestCommand(tmp_path, upstream.env(), QUICK_RETRIES + fast)


def runs(harvest) -> list[tuple]:
    return query(harvest.db_path, "SELECT id, command, status FROM runs ORDER BY id")


def holder(harvest, timeout: float = 20.0) -> dict:
    """The lock file's holder, once a writer has taken the lock."""
    path = harvest.db_path.with_name("harvest.db.lock")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            text = path.read_text()
            if text:
                return json.loads(text)
        except (FileNotFoundError, json.JSONDecodeError):
            pass
        time.sleep(0.05)
    raise AssertionError("no writer took the lock")


def test_the_watch_list_from_track_to_a_quiet_second_run(harvest):
    added = harvest("track", ELIFE, DRYAD, "not a doi", "--skip-invalid")
    assert added.returncode == 0, added.stderr
    assert "2 identifier(s): 2 added to the watch list, 0 already on it" in added.stdout
    assert "not a DOI or RePEc handle" in added.stderr

    plan = harvest("run", "--dry-run")
    assert plan.returncode == 0
    assert f"due   {ELIFE}  at agency, openalex" in plan.stdout
    assert "2 identifier(s) due, 0 feed(s); nothing fetched" in plan.stdout
    assert runs(harvest) == []  # a dry run writes no run

    first = harvest("run")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().splitlines() == [
        f"2 identifier(s): 2 created, 0 changed, 0 unchanged, 0 not found, 0 failed; run 1 in "
        f"{harvest.db_path}"
    ]
    second = harvest("run")
    assert second.stdout.startswith("0 identifier(s)") and second.returncode == 0

    listed = harvest("tracked")
    assert f"{ELIFE}  (work " in listed.stdout and "agency    due 20" in listed.stdout
    assert "last: ok" in listed.stdout and "2 identifier(s) on the watch list" in listed.stdout

    gone = harvest("untrack", DRYAD, PLOS)
    assert gone.returncode == 1 and "1 of 2 identifier(s) taken off" in gone.stdout
    assert len(json.loads(harvest("tracked", "--json").stdout)) == 1


def test_doi_track_puts_what_it_resolved_on_the_watch_list_not_yet_due(harvest):
    done = harvest("doi", PLOS, "--track")
    assert done.returncode == 0, done.stderr
    [item] = json.loads(harvest("tracked", "--json").stdout)
    assert item["value"] == PLOS and item["sources"]["agency"]["last_status"] == "ok"
    assert harvest("run", "--dry-run").stdout.startswith("0 identifier(s) due")


def test_run_reports_bad_options_and_configuration_with_exit_2(harvest):
    bad = harvest("run", "--time-budget", "soon")
    assert bad.returncode == 2 and "not a duration" in bad.stderr
    harvest.config.write_text('[schedule.jobs]\nnightly = "61 * * * *"\n')
    schedule = harvest("schedule", "--dry-run")
    assert schedule.returncode == 2 and "'61 * * * *'" in schedule.stderr
    harvest.config.write_text('[[feeds]]\nkind = "crossref"\nissn = "0950-0170"\nseries = "x"\n')
    feeds = harvest("run")
    assert feeds.returncode == 2 and "series is not a crossref setting" in feeds.stderr


def test_schedule_dry_run_prints_the_jobs_and_when_they_fire(harvest):
    harvest.config.write_text('[schedule.jobs]\nweekly = "30 4 * * 0"\n')
    shown = harvest("schedule", "--dry-run")
    assert shown.returncode == 0, shown.stderr
    assert "job nightly: 0 3 * * * (UTC); next: " in shown.stdout
    assert "job weekly: 30 4 * * 0 (UTC); next: " in shown.stdout


def test_a_second_writer_exits_3_naming_the_first_and_wait_waits(harvest, upstream):
    harvest("track", ELIFE, DRYAD, PLOS)
    upstream.delay = 1.5  # the first run takes a few seconds (OpenAlex asked beside the agencies)
    first = harvest.start("run")
    try:
        held = holder(harvest)
        assert held["pid"] == first.pid and held["command"] == "harvest run"
        second = harvest("run")
        assert second.returncode == 3
        assert f"pid {first.pid}" in second.stderr and '"harvest run"' in second.stderr
        assert "--wait" in second.stderr
        one_off = harvest("doi", ELIFE)
        assert one_off.returncode == 3  # a one-off writer waits its turn too
        waited = harvest("--wait", "60", "run")
        assert waited.returncode == 0, waited.stderr
    finally:
        first.wait(timeout=60)
    assert first.returncode == 0
    assert [status for _, _, status in runs(harvest)] == ["ok", "ok"]


def test_a_writer_killed_with_sigkill_leaves_no_lock_and_no_run_running(harvest, upstream):
    harvest("track", ELIFE, DRYAD, PLOS)
    upstream.delay = 0.5
    first = harvest.start("run")
    holder(harvest)
    for _ in range(200):  # until its run row exists
        if harvest.db_path.exists() and runs(harvest):
            break
        time.sleep(0.05)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    assert runs(harvest)[0][2] == "running"

    upstream.delay = 0
    after = harvest("run")
    assert after.returncode == 0, after.stderr
    statuses = [status for _, _, status in runs(harvest)]
    assert statuses == ["interrupted", "ok"]  # recovered, then the work done
    conn = sqlite3.connect(harvest.db_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT count(*) FROM works").fetchone() == (3,)
    finally:
        conn.close()


def test_a_second_writer_through_a_symlink_to_the_database_exits_3(harvest, upstream):
    harvest("track", ELIFE, DRYAD, PLOS)
    upstream.delay = 0.5  # the first run takes a few seconds
    first = harvest.start("run")
    try:
        held = holder(harvest)
        assert held["pid"] == first.pid
        alias = harvest.folder / "alias.db"
        alias.symlink_to(harvest.db_path)
        second = harvest("--db", str(alias), "run")
        assert second.returncode == 3, second.stderr
        assert f"pid {first.pid}" in second.stderr
    finally:
        first.wait(timeout=60)
    assert first.returncode == 0
    assert [status for _, _, status in runs(harvest)] == ["ok"]  # the second never started
