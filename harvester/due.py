"""When a tracked identifier is next asked of each source: pure functions of what the source said
last and the clock, so the whole policy can be read (and tested) here.

Each tracked identifier has a due time per source: for a DOI, `agency` (its record at Crossref,
DataCite or another agency through doi.org, whichever registered it) and `openalex` (the
enrichment); for a RePEc handle, `repec`. After a try:

- found: asked again after the refresh interval of the source that answered (`[watch]
  refresh_days`: Crossref 30 days, OpenAlex 7, ...);
- not found: asked again after a back-off that grows from days to weeks to months
  (`not_found_first_days` x `not_found_factor` per further miss, at most `not_found_max_days`),
  because a DOI that does not exist today may be registered tomorrow, but rarely is;
- failed (the source was down, slow or refused): retried with exponential back-off from
  `retry_first_minutes`, at most `retry_max_days`; a run selects what is due once, so nothing is
  tried twice in one run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

STATUSES = ("ok", "not_found", "failed")


@dataclass(frozen=True)
class DuePolicy:
    """The intervals of `[watch]` in the config."""

    refresh_days: dict[str, float] = field(
        default_factory=lambda: {
            "crossref": 30.0,
            "datacite": 30.0,
            "doi.org": 30.0,
            "openalex": 7.0,
            "repec": 30.0,
        }
    )
    default_refresh_days: float = 30.0
    not_found_first_days: float = 1.0
    not_found_factor: float = 4.0
    not_found_max_days: float = 180.0
    retry_first_minutes: float = 30.0
    retry_max_days: float = 7.0


@dataclass(frozen=True)
class DueState:
    """One source of one tracked identifier as it stands: when it is due, how its last try ended, and how
    many tries in a row ended that way (the back-off grows with it)."""

    next_due_at: datetime
    last_status: str | None = None
    streak: int = 0


def next_due(
    status: str,
    answered_by: str | None,
    previous: DueState | None,
    now: datetime,
    policy: DuePolicy,
) -> DueState:
    """The state of a source after a try that ended with `status` ("ok", "not_found" or
    "failed") at `now`; `answered_by` is the source that answered (for its refresh interval)."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r} (known: {', '.join(STATUSES)})")
    streak = previous.streak + 1 if previous and previous.last_status == status else 1
    if status == "ok":
        days = policy.refresh_days.get(answered_by or "", policy.default_refresh_days)
        return DueState(now + timedelta(days=days), "ok", streak)
    if status == "not_found":
        days = policy.not_found_first_days * policy.not_found_factor ** (streak - 1)
        delay = timedelta(days=min(days, policy.not_found_max_days))
        return DueState(now + delay, "not_found", streak)
    minutes = policy.retry_first_minutes * 2 ** (streak - 1)
    delay = min(timedelta(minutes=minutes), timedelta(days=policy.retry_max_days))
    return DueState(now + delay, "failed", streak)


def parse_time(text: str) -> datetime:
    """A stored UTC time ("2026-12-02T03:00:00Z")."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """A duration as people write it for `--time-budget`: "90m", "2h", "1h30m", "3600s", "45"
    (minutes). ValueError with the reason otherwise."""
    cleaned = text.strip().lower().replace(" ", "")
    if cleaned.isdigit():
        return timedelta(minutes=int(cleaned))
    seconds, number = 0.0, ""
    for char in cleaned:
        if char.isdigit() or char == ".":
            number += char
        elif char in _UNITS and number:
            seconds += float(number) * _UNITS[char]
            number = ""
        else:
            raise ValueError(f"{text!r} is not a duration like 90m, 2h, 1h30m or 3600s")
    if number or seconds <= 0:
        raise ValueError(f"{text!r} is not a duration like 90m, 2h, 1h30m or 3600s")
    return timedelta(seconds=seconds)


def parse_since(text: str, now: datetime) -> datetime:
    """The moment `--since` names, in UTC: a date or ISO time ("2026-11-01",
    "2026-11-01T12:00:00Z"), "today" or "yesterday" (from midnight UTC), or a duration back from
    `now` ("7d", "12h", "90m"). ValueError with the forms accepted otherwise."""
    cleaned = text.strip().lower()
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if cleaned in ("today", "yesterday"):
        return midnight - timedelta(days=1 if cleaned == "yesterday" else 0)
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        try:
            return now.astimezone(UTC) - parse_duration(cleaned)
        except ValueError:
            raise ValueError(
                f"{text!r} is not a date like 2026-11-01 or 2026-11-01T12:00:00Z, "
                "today, yesterday, or a time back like 7d or 12h"
            ) from None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
