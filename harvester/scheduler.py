"""`harvest schedule`'s engine (APScheduler 3.x): call the CLI's job, which runs what `harvest run`
runs and returns an exit code, on crontab schedules; on stop, let the running job finish and commit.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.util import astimezone

from harvester.errors import ConfigError, HarvesterError

log = structlog.get_logger(__name__)

#: Runs missed while the machine slept make one run, not a burst; never two copies of a job; a run
#: up to an hour late (queued behind another job, after a suspend) still happens, a later one not.
JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600}

_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DAY_NUMBERS = {**{str(n): n for n in range(8)}, **{day: n for n, day in enumerate(_DAYS)}}
_SKIPPED = object()  # what a job queued behind a running one returns when stop came meanwhile


@dataclass(frozen=True)
class ScheduledJob:
    """One named schedule: `id` names the job in logs and in the scheduler."""

    id: str
    cron: str  # crontab, 5 fields: "0 3 * * *"
    timezone: str = "UTC"


def parse_cron(expression: str, timezone: str = "UTC") -> CronTrigger:
    """A trigger that fires when crontab would, so a line copied from a crontab keeps its meaning.

    CronTrigger.from_crontab differs in two ways: weekday numbers count from Monday = 0 (crontab:
    Sunday = 0 or 7; APScheduler issue 286), so they are passed as names; and a day of month with a
    weekday fires when both match (crontab: either), which is refused rather than changed silently.
    """
    fields, where = expression.split(), f"[schedule] cron {expression!r}"
    try:
        zone = astimezone(timezone)
    except (ValueError, TypeError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        raise ConfigError(f"{where}: unknown timezone {timezone!r}") from None
    try:
        if len(fields) != 5:
            raise ValueError(f"needs 5 fields (minute hour day month weekday), not {len(fields)}")
        day, weekday = fields[2], fields[4]
        if not day.startswith("*") and not weekday.startswith("*"):
            raise ValueError("give a day of month or a weekday, not both (crontab reads 'either')")
        return CronTrigger.from_crontab(" ".join([*fields[:4], _weekdays(weekday)]), zone)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _weekdays(field: str) -> str:
    """A crontab weekday field (numbers 0-7, names, ranges, steps, lists) as APScheduler names."""
    if field == "*":
        return field
    days: set[int] = set()
    for part in field.lower().split(","):
        span, _, step = part.partition("/")
        first, _, last = ("0-6" if span == "*" else span).partition("-")
        try:
            low, high = _DAY_NUMBERS[first], _DAY_NUMBERS[last or first]
        except KeyError:
            raise ValueError(f"weekday {part!r}: use 0-7 (0 and 7 are Sunday) or sun-sat") from None
        if high < low or (step and not (step.isdigit() and int(step) > 0 and low < high)):
            raise ValueError(f"weekday {part!r}: not a range, or a step over * or a range")
        days.update(day % 7 for day in range(low, high + 1, int(step or 1)))
    return ",".join(_DAYS[day] for day in sorted(days))


def build_scheduler(
    jobs: Sequence[ScheduledJob],
    run_job: Callable[[str], Any],
    *,
    scheduler_class: type[BaseScheduler] = BackgroundScheduler,
    start_now: bool = False,
    **scheduler_kwargs: Any,
) -> BaseScheduler:
    """One scheduler calling `run_job(job.id)` on each job's schedule, one job at a time; with
    `start_now`, each job also runs once as soon as the scheduler starts (`harvest schedule
    --now`: see a new set-up work tonight's way without waiting for tonight).

    Every expression is checked before anything is built, so a bad one fails at start-up."""
    if not jobs:
        raise ConfigError('[schedule] no schedule configured: add one, e.g. nightly = "0 3 * * *"')
    ids = [job.id for job in jobs]
    if repeated := sorted({i for i in ids if ids.count(i) > 1}):
        raise ConfigError(f"[schedule] job ids must be unique, repeated: {', '.join(repeated)}")
    triggers = {job.id: parse_cron(job.cron, job.timezone) for job in jobs}
    pool = ThreadPoolExecutor(1, pool_kwargs={"thread_name_prefix": "harvest-schedule"})
    options = {
        "jobstores": {"default": MemoryJobStore()},
        "executors": {"default": pool},  # one worker: one harvest at a time
        "job_defaults": dict(JOB_DEFAULTS),
        "timezone": UTC,
    }
    scheduler = scheduler_class(**{**options, **scheduler_kwargs})

    def fire(job_id: str) -> Any:
        # Runs in the worker thread, so "job_started" is logged when the job really starts.
        if not scheduler.running:  # shutdown began while this job waited for the worker
            log.info("schedule.job_skipped", job=job_id, reason="scheduler stopping")
            return _SKIPPED
        log.info("schedule.job_started", job=job_id)
        return run_job(job_id)

    first = {"next_run_time": datetime.now(UTC)} if start_now else {}
    for job_id, trigger in triggers.items():
        scheduler.add_job(
            fire, trigger, [job_id], id=job_id, name=job_id, replace_existing=True, **first
        )
    scheduler.add_listener(_on_job_event, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    # APScheduler logs a failed job with its traceback; schedule.job_failed reports it instead.
    logging.getLogger("apscheduler.executors.default").addFilter(_drop_job_traceback)
    return scheduler


def _drop_job_traceback(record: logging.LogRecord) -> bool:
    return not str(record.msg).endswith("raised an exception")


def _on_job_event(event: Any) -> None:
    """Log how a firing ended; a job that raised leaves the scheduler running for the next one."""
    fields = {"job": event.job_id, "scheduled_for": event.scheduled_run_time.isoformat()}
    if event.code == EVENT_JOB_MISSED:
        log.warning("schedule.job_missed", **fields)  # later than misfire_grace_time
    elif event.code == EVENT_JOB_ERROR:
        exc = event.exception
        error = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, HarvesterError):  # an expected failure: its message says it all
            log.error("schedule.job_failed", **fields, error=error)
        else:
            log.error("schedule.job_failed", **fields, error=error, exc_info=exc)
    elif event.retval is not _SKIPPED:
        level = log.info if event.retval == 0 else log.warning
        level("schedule.job_finished", **fields, exit_code=event.retval)


def run_scheduler(scheduler: BaseScheduler, stop: threading.Event | None = None) -> None:
    """Run the jobs until `stop` is set, then return once a running job has finished.

    A BackgroundScheduler, so this thread (the CLI's main thread, where signal handlers run) waits
    for `stop` and itself calls shutdown(wait=True), which returns once the job has finished and the
    worker and scheduler threads are joined. A BlockingScheduler's start() returns once its loop sees
    the state "stopped", which shutdown() sets before it waits for the job: a watcher thread calling
    shutdown() would have to be joined as well, and released should start() fail.
    """
    if not isinstance(scheduler, BackgroundScheduler):
        raise TypeError("run_scheduler needs a BackgroundScheduler (see build_scheduler)")
    stop = stop if stop is not None else threading.Event()
    scheduler.start()
    try:
        runs = {job.id: job.next_run_time.isoformat() for job in scheduler.get_jobs()}
        log.info("schedule.started", next_runs=runs)
        # The timeout keeps Ctrl-C working where lock waits are not interruptible (Windows).
        while not stop.wait(1.0) and scheduler.running:
            pass
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=True)
        log.info("schedule.stopped")


def next_runs(
    jobs: Sequence[ScheduledJob], count: int = 3, now: datetime | None = None
) -> dict[str, list[datetime]]:
    """The next `count` fire times of each job from `now` on (as the scheduler would compute them),
    in the job's timezone, for `harvest schedule --dry-run` to show."""
    now = now or datetime.now(UTC)
    runs: dict[str, list[datetime]] = {}
    for job in jobs:
        trigger = parse_cron(job.cron, job.timezone)
        times: list[datetime] = []
        fire = trigger.get_next_fire_time(None, now)
        while fire and len(times) < count:
            times.append(fire)
            fire = trigger.get_next_fire_time(fire, fire)
        runs[job.id] = times
    return runs
