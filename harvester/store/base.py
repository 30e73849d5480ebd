"""What every part of the store shares: the connection, the clock and the one way to write."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import sqlite_utils

from harvester.errors import StoreError

T = TypeVar("T")


def utc_now() -> str:
    """The timestamp format of every *_at column: ISO 8601, UTC, seconds, 'Z'."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@contextmanager
def transaction(conn: sqlite3.Connection, where: str) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT: take the write lock up front, so a batch never fails half-way
    for want of it, and roll back on any exception, KeyboardInterrupt included."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield conn
    except sqlite3.OperationalError as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        # "database is locked" after the busy timeout, disk full, read-only file: expected
        # failures that deserve a message, not a traceback.
        raise StoreError(f"{where}: {exc}") from exc
    except BaseException:
        # SQLite may already have rolled back (disk full): never hide the real error.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


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
