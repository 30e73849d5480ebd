"""The SQLite store: open (WAL, migrations), and write one batch of observations per transaction.

Writes use plain SQL on one connection in autocommit mode with an explicit `BEGIN IMMEDIATE` per
batch: a kill at any moment leaves either the whole batch or none of it, and readers (Datasette)
keep reading the last committed state throughout.

`Store` is a facade over its parts, one per family of tables, all on the one connection:
`store.works`, `.runs`, `.watch`, `.links`, `.feeds`, `.repec`, `.matches`, `.agencies`,
`.integrity`, `.retraction_sets`, `.digests`, `.people`, `.claims` and `.institutions`
(`store.feeds.completed(...)`, `store.watch.track(...)`). The types that flow in and out live
in `harvester.models` and are re-exported here for the callers that import them from the store.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils

from harvester.due import DuePolicy
from harvester.errors import DatabaseReadOnly, StoreError
from harvester.models import (
    OUTCOMES,
    Answer,
    DueItem,
    MatchCandidate,
    MatchLink,
    Observation,
    Outcome,
    RunCounts,
    Snapshot,
    StoredAnswer,
    Tried,
    Unchanged,
)
from harvester.store import base
from harvester.store.agencies import AGENCY_SOURCES, Agencies
from harvester.store.base import utc_now
from harvester.store.digests import Digests
from harvester.store.feeds import Feeds
from harvester.store.integrity import Integrity
from harvester.store.links import LinkedDois
from harvester.store.matches import Matches
from harvester.store.migrations import migrate
from harvester.store.notice_reviews import NoticeReviews
from harvester.store.payloads import attach
from harvester.store.people import Claims, Institutions, People
from harvester.store.repec_index import RepecIndex
from harvester.store.retraction_sets import RetractionSets
from harvester.store.runs import Runs
from harvester.store.watch import Watch
from harvester.store.works import Works

__all__ = [
    "AGENCY_SOURCES",
    "OUTCOMES",
    "Answer",
    "DueItem",
    "MatchCandidate",
    "MatchLink",
    "Observation",
    "Outcome",
    "RunCounts",
    "Snapshot",
    "Store",
    "StoredAnswer",
    "Tried",
    "open_store",
    "register_functions",
    "utc_now",
]


@dataclass
class Store:
    """The open database: its parts, and the one transaction a batch is written in."""

    db: sqlite_utils.Database
    path: str
    now: Any = field(default=utc_now)  # injectable clock for tests
    works: Works = field(init=False, repr=False, compare=False)
    runs: Runs = field(init=False, repr=False, compare=False)
    watch: Watch = field(init=False, repr=False, compare=False)
    links: LinkedDois = field(init=False, repr=False, compare=False)
    feeds: Feeds = field(init=False, repr=False, compare=False)
    repec: RepecIndex = field(init=False, repr=False, compare=False)
    matches: Matches = field(init=False, repr=False, compare=False)
    agencies: Agencies = field(init=False, repr=False, compare=False)
    integrity: Integrity = field(init=False, repr=False, compare=False)
    retraction_sets: RetractionSets = field(init=False, repr=False, compare=False)
    digests: Digests = field(init=False, repr=False, compare=False)
    people: People = field(init=False, repr=False, compare=False)
    claims: Claims = field(init=False, repr=False, compare=False)
    institutions: Institutions = field(init=False, repr=False, compare=False)
    notice_reviews: NoticeReviews = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        shared = (self.db, self.now, self.path)
        self.works = Works(*shared)
        self.runs = Runs(*shared)
        self.watch = Watch(*shared)
        self.links = LinkedDois(*shared)
        self.feeds = Feeds(*shared)
        self.repec = RepecIndex(*shared)
        self.matches = Matches(*shared, works=self.works)
        self.agencies = Agencies(*shared)
        self.integrity = Integrity(*shared)
        self.retraction_sets = RetractionSets(*shared)
        self.digests = Digests(*shared, integrity=self.integrity)
        self.people = People(*shared)
        self.claims = Claims(*shared)
        self.institutions = Institutions(*shared)
        self.notice_reviews = NoticeReviews(*shared)
        self.works.payloads = attach(self.conn)

    @property
    def conn(self) -> sqlite3.Connection:
        """The one connection every part reads and writes through."""
        return self.db.conn

    def close(self) -> None:
        """Close the connection (the parts share it: the whole store is closed)."""
        self.db.close()

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT: take the write lock up front, so a batch never fails half-way
        for want of it, and roll back on any exception, KeyboardInterrupt included."""
        return base.transaction(self.conn, self.path)

    def write_batch(
        self,
        run_id: int,
        observations: Iterable[Observation],
        tries: Iterable[Tried] = (),
        policy: DuePolicy | None = None,
        *,
        links_due: bool = False,
        on_written: Callable[[int], None] | None = None,
    ) -> list[Outcome]:
        """Write one batch in one transaction and add its outcomes to the run's counts; with
        `tries`, move the due times of the tracked identifiers in the same transaction, so that
        what was stored is never asked again too soon, nor what was lost too late. With
        `links_due`, the DOIs these records carry are due at their agency (`linked_dois`) from
        this same commit until it answers; every DOI's answer here settles its own.
        `on_written(done)` follows the writing of a big batch (see `Works.write_many`)."""
        observations = list(observations)
        policy = policy or DuePolicy()
        payloads = self.works.payloads
        with self.transaction():
            payloads.refresh()
            now = self.now()
            outcomes = self.works.write_many(run_id, observations, now, on_written)
            self._keep_notices(run_id, observations, outcomes, now)
            payloads.train_when_due(
                {a.source for obs in observations for a in getattr(obs, "answers", ())}
            )
            self.watch.record_tries(tries, policy, now)
            self.links.settle(observations, run_id, policy, now)
            if links_due:
                self.links.mark_due(observations, now)
            self.runs.add_outcomes(run_id, outcomes)
        return outcomes

    def _keep_notices(
        self,
        run_id: int,
        observations: Sequence[Observation],
        outcomes: Sequence[Outcome],
        now: str,
    ) -> None:
        """The integrity notices of the works this batch wrote (one outcome per observation,
        in order), so a retraction is kept in the same commit as the record that says it. The
        notices of a work whose sources said again what they said are seen again, in one
        statement for the batch."""
        again = []
        for obs, outcome in zip(observations, outcomes, strict=True):
            if outcome.work_id is None:
                continue
            if isinstance(obs, Unchanged):
                again.append(outcome.work_id)
            elif (work := getattr(obs, "work", None)) is not None and work.notices:
                self.integrity.record(outcome.work_id, work.notices, run_id, now)
        self.integrity.seen_again(again, run_id, now)


def open_store(path: str | os.PathLike[str], *, now=utc_now, create: bool = True) -> Store:
    """Open the database at `path` in WAL mode, migrated to this code's schema.

    With `create` False (commands that only read), a missing database is an error rather than a
    new empty file left behind by a typo in --db.
    """
    path = Path(path)
    if not create and not path.exists():
        raise StoreError(f"{path}: no such database (harvest something first, or check --db)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
        _set_wal(conn)
        # NORMAL in WAL mode never corrupts and never loses a committed batch to a killed process;
        # only an OS crash or power cut may lose the last commits, which a rerun fetches again.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        db = sqlite_utils.Database(conn)
        migrate(db, now(), where=str(path))
        convert_payloads(conn, str(path))
    except sqlite3.Error as exc:
        error = base.store_error(exc, str(path))
        raise error or StoreError(f"{path}: cannot open the database: {exc}") from None
    except OSError as exc:
        raise StoreError(f"{path}: cannot create the database folder: {exc.strerror}") from None
    return Store(db=db, path=str(path), now=now)


def register_functions(conn: sqlite3.Connection) -> None:
    """`payload_text(id)` on a connection the harvester did not open (Datasette's, through
    `harvester.datasette_plugin`), as `Store` has it on its own."""
    attach(conn)


def convert_payloads(conn: sqlite3.Connection, where: str) -> int:
    """Compress what an older harvester stored as text (migration 0016), a batch per
    transaction; a database this process may not write is read as it is (both forms read
    alike) and converted by the next writer."""
    applied = "SELECT 1 FROM _migrations WHERE name = '0016_compressed_payloads'"
    if conn.execute(applied).fetchone() is None:  # a test's older schema
        return 0
    try:
        return attach(conn).convert(where)
    except DatabaseReadOnly:
        return 0


def _set_wal(conn: sqlite3.Connection, tries: int = 50) -> None:
    """Switch to WAL. The switch ignores the busy timeout, so two processes creating the same new
    database at once would fail here; wait a little and try again instead."""
    for attempt in range(tries):
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == tries - 1:
                raise
            time.sleep(0.05 + 0.01 * attempt)
