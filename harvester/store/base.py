"""What every part of the store shares: the connection, the clock and the one way to write."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import sqlite_utils

from harvester.errors import (
    DatabaseCorrupt,
    DatabaseReadOnly,
    DiskFull,
    StoreError,
)

T = TypeVar("T")


def utc_now() -> str:
    """The timestamp format of every *_at column: ISO 8601, UTC, seconds, 'Z'."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


#: SQLite's primary result codes (the low byte of an extended one) that say what is wrong
#: with the database itself, and what each means for the person running the harvester.
_SQLITE_ERRORS: dict[int, tuple[type[StoreError], str]] = {
    11: (DatabaseCorrupt, "the database is damaged; restore a backup (or try sqlite3 .recover)"),
    26: (DatabaseCorrupt, "not an SQLite database (or damaged beyond reading)"),
    13: (DiskFull, "the disk is full; nothing of the batch in hand was written, free space and run again"),
    8: (DatabaseReadOnly, "cannot write to the database (read-only file, folder or filesystem)"),
    14: (DatabaseReadOnly, "cannot open the database file (check the permissions of it and its folder)"),
}  # fmt: skip

#: The same, for errors Python raises without a result code: SQLite's words for each.
_SQLITE_MESSAGES = {
    "malformed": 11,
    "Could not decode": 11,  # text that is not UTF-8: we never write any, so a damaged page
    "not a database": 26,
    "disk is full": 13,
    "readonly": 8,
}


def store_error(exc: sqlite3.Error, where: str) -> StoreError | None:
    """What an SQLite error means to the person running the harvester, as one of the kinds of
    StoreError (each its own exit code); None for an error that is a bug of ours (a constraint,
    a misused API), which must stay a traceback. The one place these are told apart."""
    if isinstance(exc, sqlite3.IntegrityError | sqlite3.ProgrammingError | sqlite3.InterfaceError):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    kind, meaning = _SQLITE_ERRORS.get(code & 0xFF if code is not None else -1, (StoreError, ""))
    if kind is StoreError and isinstance(exc, sqlite3.DatabaseError):
        # Python builds some errors without a code (a database the file header already refused).
        said = [c for words, c in _SQLITE_MESSAGES.items() if words in str(exc)]
        kind, meaning = _SQLITE_ERRORS[said[0]] if said else (kind, meaning)
    return kind(f"{where}: {meaning} ({exc})" if meaning else f"{where}: {exc}")


@contextmanager
def transaction(conn: sqlite3.Connection, where: str) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT: take the write lock up front, so a batch never fails half-way
    for want of it, and roll back on any exception, KeyboardInterrupt included."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield conn
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        _roll_back(conn)
        # "database is locked" after the busy timeout, disk full, read-only file, a damaged
        # page: expected failures that deserve a message, not a traceback.
        error = store_error(exc, where)
        if error is None:
            raise
        raise error from exc
    except BaseException:
        _roll_back(conn)
        raise


def _roll_back(conn: sqlite3.Connection) -> None:
    """Roll back what is open. SQLite may already have rolled back (disk full), or may not be
    able to (a damaged file): never hide the real error behind that one."""
    if conn.in_transaction:
        with suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


@dataclass(eq=False)
class Part:
    """One family of tables. Every part writes through the same connection, so a transaction
    taken by one (or by `Store.write_batch`) holds for all; `where` names the database in
    errors."""

    db: sqlite_utils.Database
    now: Callable[[], str]
    where: str

    @property
    def conn(self) -> sqlite3.Connection:
        return self.db.conn

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """This part's writes as one transaction (see `transaction`)."""
        return transaction(self.conn, self.where)


def chunks(items: list[T], size: int) -> Iterator[list[T]]:
    """`items` in lists of at most `size`, to stay within SQLite's limit on bound parameters."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
