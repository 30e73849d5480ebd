"""Typed errors. Library code raises these; only `cli.py` turns them into messages and exit codes."""

from __future__ import annotations


class HarvesterError(Exception):
    """Base of every error the harvester expects and reports without a traceback."""

    #: Exit code the CLI uses when this error ends a command.
    exit_code = 1


class BadIdentifier(HarvesterError, ValueError):
    """Input that is not a DOI or RePEc handle. Carries the input and the reason, for a one-line message."""

    exit_code = 2

    def __init__(self, text: str, reason: str) -> None:
        self.text = text
        self.reason = reason
        super().__init__(f"{text!r}: {reason}")


class BadInputFile(HarvesterError):
    """A bibliographic file that cannot be read; carries the file, the line (when known) and why,
    so the user can go straight to the place to fix. Nothing of such a file is imported."""

    exit_code = 2

    def __init__(self, path: str, line: int | None, reason: str) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        where = path if line is None else f"{path}:{line}"
        super().__init__(f"{where}: {reason}")


class BadEdit(HarvesterError):
    """A `harvest set` / `unset` the rules refuse: a field that cannot be edited, a value the field
    cannot hold, an identifier that names another work. Nothing is written; the CLI shows it as a
    usage error (exit 2), since it is the command line that has to change."""

    exit_code = 2


class MatchRefused(HarvesterError):
    """An `--accept` or `--reject` that the stored candidates rule out: exit 2, nothing written."""

    exit_code = 2


class ConfigError(HarvesterError):
    """The configuration file or an environment override is wrong; names the key and what is wrong."""

    exit_code = 2


class StoreError(HarvesterError):
    """The database cannot be opened or used: no database where one was expected, or SQLite
    refused for another reason (a lock held past the busy timeout). The kinds below say more,
    each with its own exit code, so that a cron wrapper can tell them apart."""

    exit_code = 2


class DatabaseCorrupt(StoreError):
    """The file is not an SQLite database, or its pages are damaged ("malformed"). Restoring a
    backup (or `sqlite3 FILE .recover`) is the way out; harvesting again is not."""

    exit_code = 4


class DiskFull(StoreError):
    """The disk (or the filesystem's quota) is full: the batch in hand was rolled back, what was
    committed before stays (an export's previous file too). Free space, then run again."""

    exit_code = 5


class DatabaseReadOnly(StoreError):
    """The database, or the folder it lives in (where SQLite keeps its -wal and -shm files and
    the writer lock lives), cannot be written by this user."""

    exit_code = 6


class DatabaseTooNew(StoreError):
    """The database was written by a newer harvester (a migration this code does not know);
    it is refused untouched. Upgrade harvester to use it."""

    exit_code = 7


class UpstreamError(HarvesterError):
    """A request to an upstream service did not give a usable answer.

    Carries the source, the identifier (when the request was about one) and the HTTP status, so that
    the run record and the per-identifier line can say exactly what failed.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        identifier: str | None = None,
        status: int | None = None,
        url: str | None = None,
    ) -> None:
        self.source = source
        self.identifier = identifier
        self.status = status
        self.url = url
        super().__init__(message)


class Unreachable(HarvesterError):
    """A service's name does not resolve: no network, no DNS, or a mistyped base URL. Not one
    identifier's failure but the run's, so it is not an UpstreamError (which a source turns into
    a failed answer) and it ends the run at once with one line; what was stored stays."""

    def __init__(self, host: str, source: str | None = None) -> None:
        self.host, self.source = host, source
        check = f"the network, or the {source} URL in the config" if source else "the network"
        super().__init__(
            f"cannot resolve {host} (no network or DNS?): stopped asking; what was stored is "
            f"kept, and the next run asks again. Check {check}."
        )


class NotFound(UpstreamError):
    """The service answered that it does not know the identifier (usually HTTP 404)."""


class RateLimited(UpstreamError):
    """HTTP 429 still answered after the retries; `retry_after` is what the server last asked for."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)


class TransientError(UpstreamError):
    """A failure that may pass: 5xx, connection reset, timeout, truncated body. Retried, then raised."""


class SourceExhausted(UpstreamError):
    """The source will not answer again this run (e.g. a daily allowance spent): stop asking it."""


class Abandoned(UpstreamError):
    """Not asked: the run was stopped and no longer wants this answer (a look-ahead chunk)."""


class BadPayload(UpstreamError):
    """The service answered, but not with what was asked for: HTML instead of JSON, the wrong shape."""


class ClientError(UpstreamError):
    """A 4xx other than 404 and 429: our request was wrong, so asking again would not help."""


class LockHeld(HarvesterError):
    """Another process holds the writer lock; the message names it. Cron can simply retry later."""

    exit_code = 3


class DigestNotSent(HarvesterError):
    """The SMTP server refused the digest (or a recipient), or could not be reached: nothing
    is marked sent, so the next digest covers the same runs again. Its own exit code, so a
    cron wrapper can tell "the e-mail did not go" from a harvest's failures."""

    exit_code = 8


#: The kinds of failure a run record counts (`run_failures.kind`), from `failure_kind`.
FAILURE_KINDS = (
    "rate_limited",  # 429 after every retry
    "server_error",  # 5xx after the retries (500 is not retried)
    "network",  # resets, timeouts, refused connections, bodies cut short
    "bad_answer",  # HTML where JSON was expected, the wrong shape, a body over the cap
    "refused",  # another 4xx: the request itself was wrong
    "paused",  # not asked: the source failed too often in this run
    "other",
)


def failure_kind(exc: BaseException) -> str:
    """Which of FAILURE_KINDS an upstream failure is, for the run record."""
    if isinstance(exc, RateLimited):
        return "rate_limited"
    if isinstance(exc, BadPayload):
        return "bad_answer"
    if isinstance(exc, ClientError):
        return "refused"
    status = getattr(exc, "status", None)
    if isinstance(status, int) and status >= 500:
        return "server_error"
    if isinstance(exc, TransientError):
        return "network"
    return "other"
