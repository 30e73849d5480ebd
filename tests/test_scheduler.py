"""`harvest schedule`'s engine: wiring, cron parsing, firing, failures and a clean stop.

Nothing waits for a cron time: a job is made due by setting its next run time to now.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

import pytest
from apscheduler.events import EVENT_JOB_SUBMITTED
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from structlog.testing import capture_logs

from harvester.errors import ConfigError, UpstreamError
from harvester.scheduler import (
    ScheduledJob,
    build_scheduler,
    next_runs,
    parse_cron,
    run_scheduler,
)

NIGHTLY = ScheduledJob("nightly", "0 3 * * *")
WEEKLY = ScheduledJob("weekly", "30 4 * * 0")
TIMEOUT = 5.0


@pytest.fixture
def make_scheduler():
    """build_scheduler with a BackgroundScheduler; whatever is still running is shut down after."""
    built = []

    def make(jobs, run_job):
        scheduler = build_scheduler(jobs, run_job, scheduler_class=BackgroundScheduler)
        built.append(scheduler)
        return scheduler

    yield make
    for scheduler in built:
        if scheduler.running:
            scheduler.shutdown(wait=True)


def wait_until(predicate, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s")
        time.sleep(0.01)


def fire_now(scheduler, job_id):
    """Make a job due now instead of at its cron time: the scheduler runs it at once."""
    scheduler.modify_job(job_id, next_run_time=datetime.now(UTC))


def events(logs, name):
    return [entry for entry in logs if entry["event"] == name]


def run_in_thread(scheduler, stop):
    """run_scheduler in a thread (so a bug cannot hang the suite); records whether it returned."""
    outcome = {}

    def target():
        run_scheduler(scheduler, stop)
        outcome["returned_at"] = time.monotonic()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    wait_until(lambda: scheduler.running)
    return thread, outcome


def test_build_scheduler_wires_each_job_with_its_cron_trigger_and_the_defaults(make_scheduler):
    def run_job(job_id):
        return 0

    scheduler = make_scheduler([NIGHTLY, WEEKLY], run_job)
    scheduler.start(paused=True)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert sorted(jobs) == ["nightly", "weekly"]
    for job_id, job in jobs.items():
        assert job.name == job_id
        assert job.args == (job_id,)
        assert isinstance(job.trigger, CronTrigger)
        assert str(job.trigger.timezone) == "UTC"
        assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, 3600)
    fields = {field.name: str(field) for field in jobs["nightly"].trigger.fields}
    assert (fields["hour"], fields["minute"]) == ("3", "0")
    fields = {field.name: str(field) for field in jobs["weekly"].trigger.fields}
    assert (fields["hour"], fields["minute"], fields["day_of_week"]) == ("4", "30", "sun")
    assert str(scheduler.timezone) == "UTC"
    scheduler.shutdown()


def test_next_runs_counts_from_a_fixed_now():
    now = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)  # a Wednesday
    runs = next_runs([NIGHTLY, WEEKLY], now=now)
    assert runs["nightly"] == [datetime(2026, 12, day, 3, 0, tzinfo=UTC) for day in (3, 4, 5)]
    # crontab's weekday 0 is Sunday (APScheduler 3.x alone would read it as Monday, 7 December)
    assert runs["weekly"] == [datetime(2026, 12, day, 4, 30, tzinfo=UTC) for day in (6, 13, 20)]
    assert next_runs([NIGHTLY], count=1, now=now) == {"nightly": [runs["nightly"][0]]}


@pytest.mark.parametrize(
    ("weekday", "names"),
    [
        ("0", "sun"),
        ("7", "sun"),
        ("1-5", "mon,tue,wed,thu,fri"),
        ("5-7", "sun,fri,sat"),
        ("*/2", "sun,tue,thu,sat"),
        ("mon,3", "mon,wed"),
    ],
)
def test_weekdays_mean_what_they_mean_in_crontab(weekday, names):
    trigger = parse_cron(f"0 3 * * {weekday}")
    assert {field.name: str(field) for field in trigger.fields}["day_of_week"] == names


def test_a_timezone_moves_the_fire_times():
    job = ScheduledJob("berlin", "0 3 * * *", timezone="Europe/Berlin")
    first = next_runs([job], count=1, now=datetime(2026, 12, 2, 10, 0, tzinfo=UTC))["berlin"][0]
    assert first.astimezone(UTC) == datetime(2026, 12, 3, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("61 * * * *", "maximum value (59)"),
        ("not a cron", "needs 5 fields"),
        ("0 3 * * 8", "weekday '8'"),
        ("0 3 1 * 1", "not both"),
    ],
)
def test_a_bad_cron_expression_is_a_config_error_naming_it(expression, reason):
    with pytest.raises(ConfigError) as info:
        parse_cron(expression)
    assert f"cron {expression!r}" in str(info.value)
    assert reason in str(info.value)
    with pytest.raises(ConfigError):
        build_scheduler([ScheduledJob("nightly", expression)], print)


def test_an_unknown_timezone_is_a_config_error_naming_the_expression():
    with pytest.raises(ConfigError, match=r"cron '0 3 \* \* \*': unknown timezone 'Mars/Olympus'"):
        parse_cron("0 3 * * *", "Mars/Olympus")


def test_duplicate_job_ids_are_a_config_error():
    with pytest.raises(ConfigError, match="repeated: nightly"):
        build_scheduler([NIGHTLY, WEEKLY, ScheduledJob("nightly", "0 5 * * *")], print)


def test_no_jobs_is_a_config_error():
    with pytest.raises(ConfigError, match="no schedule configured"):
        build_scheduler([], print)


def test_a_due_job_runs_with_its_id_and_its_exit_code_is_logged(make_scheduler):
    received, ran = [], threading.Event()

    def run_job(job_id):
        received.append(job_id)
        ran.set()
        return 3

    with capture_logs() as logs:
        scheduler = make_scheduler([NIGHTLY, WEEKLY], run_job)
        scheduler.start()
        fire_now(scheduler, "weekly")
        assert ran.wait(TIMEOUT)
        wait_until(lambda: events(logs, "schedule.job_finished"))
        scheduler.shutdown(wait=True)
    assert received == ["weekly"]
    assert events(logs, "schedule.job_started")[0]["job"] == "weekly"
    finished = events(logs, "schedule.job_finished")
    assert [(e["job"], e["exit_code"]) for e in finished] == [("weekly", 3)]
    assert finished[0]["log_level"] == "warning"  # an exit code other than 0 is worth seeing


def test_run_scheduler_returns_promptly_when_stopped_while_idle(make_scheduler):
    before = set(threading.enumerate())
    stop = threading.Event()
    with capture_logs() as logs:
        scheduler = make_scheduler([NIGHTLY, WEEKLY], lambda job_id: 0)
        thread, outcome = run_in_thread(scheduler, stop)
        wait_until(lambda: events(logs, "schedule.started"))
        stopped_at = time.monotonic()
        stop.set()
        thread.join(TIMEOUT)
    assert not thread.is_alive()
    assert outcome["returned_at"] - stopped_at < TIMEOUT
    assert not scheduler.running
    started = events(logs, "schedule.started")[0]["next_runs"]
    assert sorted(started) == ["nightly", "weekly"]
    assert started["nightly"].endswith("T03:00:00+00:00")
    assert events(logs, "schedule.stopped")
    leftover = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert leftover == []  # neither the scheduler's thread nor the worker survives


def test_run_scheduler_lets_the_running_job_finish_before_returning(make_scheduler):
    stop, started, done = threading.Event(), threading.Event(), threading.Event()

    def run_job(job_id):
        started.set()
        time.sleep(0.3)  # the batch in hand
        done.set()
        return 0

    with capture_logs() as logs:
        scheduler = make_scheduler([NIGHTLY], run_job)
        thread, outcome = run_in_thread(scheduler, stop)
        fire_now(scheduler, "nightly")
        assert started.wait(TIMEOUT)
        stop.set()
        thread.join(TIMEOUT)
    assert not thread.is_alive()
    assert "returned_at" in outcome
    assert done.is_set()
    order = [
        e["event"] for e in logs if e["event"] in ("schedule.job_finished", "schedule.stopped")
    ]
    assert order == ["schedule.job_finished", "schedule.stopped"]


def test_a_job_queued_behind_the_running_one_does_not_start_after_stop(make_scheduler):
    stop, started, submitted, calls = threading.Event(), threading.Event(), [], []

    def run_job(job_id):
        calls.append(job_id)
        started.set()
        time.sleep(0.3)
        return 0

    with capture_logs() as logs:
        scheduler = make_scheduler([NIGHTLY, WEEKLY], run_job)
        scheduler.add_listener(lambda event: submitted.append(event.job_id), EVENT_JOB_SUBMITTED)
        thread, _ = run_in_thread(scheduler, stop)
        fire_now(scheduler, "nightly")
        fire_now(scheduler, "weekly")
        wait_until(lambda: len(submitted) == 2)  # one runs, one waits for the single worker
        assert started.wait(TIMEOUT)
        stop.set()
        thread.join(TIMEOUT)
    assert not thread.is_alive()
    assert len(calls) == 1
    skipped = events(logs, "schedule.job_skipped")
    assert [e["job"] for e in skipped] == [j for j in ("nightly", "weekly") if j not in calls]
    assert len(events(logs, "schedule.job_finished")) == 1


def test_a_job_raising_a_harvester_error_leaves_the_scheduler_running(make_scheduler, caplog):
    calls, second = [], threading.Event()

    def run_job(job_id):
        calls.append(job_id)
        if len(calls) == 1:
            raise UpstreamError("crossref: HTTP 503 after 5 tries")
        second.set()
        return 0

    caplog.set_level(logging.INFO, logger="apscheduler")
    with capture_logs() as logs:
        scheduler = make_scheduler([NIGHTLY], run_job)
        scheduler.start()
        fire_now(scheduler, "nightly")
        wait_until(lambda: events(logs, "schedule.job_failed"))
        fire_now(scheduler, "nightly")
        assert second.wait(TIMEOUT)
        wait_until(lambda: events(logs, "schedule.job_finished"))
        scheduler.shutdown(wait=True)
    assert calls == ["nightly", "nightly"]
    [failed] = events(logs, "schedule.job_failed")
    assert failed["error"] == "UpstreamError: crossref: HTTP 503 after 5 tries"
    assert "exc_info" not in failed  # an expected error: its message, no traceback
    assert events(logs, "schedule.job_finished")[0]["exit_code"] == 0
    assert not [r for r in caplog.records if r.name.startswith("apscheduler") and r.exc_info]


def test_an_unexpected_error_is_logged_with_its_traceback(make_scheduler):
    def run_job(job_id):
        raise KeyError("oops")

    with capture_logs() as logs:
        scheduler = make_scheduler([NIGHTLY], run_job)
        scheduler.start()
        fire_now(scheduler, "nightly")
        wait_until(lambda: events(logs, "schedule.job_failed"))
        scheduler.shutdown(wait=True)
    [failed] = events(logs, "schedule.job_failed")
    assert isinstance(failed["exc_info"], KeyError)


def test_run_scheduler_refuses_a_blocking_scheduler():
    scheduler = build_scheduler([NIGHTLY], print, scheduler_class=BlockingScheduler)
    with pytest.raises(TypeError, match="BackgroundScheduler"):
        run_scheduler(scheduler, threading.Event())
