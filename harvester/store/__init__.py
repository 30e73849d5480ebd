"""The SQLite store: open (WAL, migrations), and write one batch of observations per transaction.

Writes use plain SQL on one connection in autocommit mode with an explicit `BEGIN IMMEDIATE` per
batch: a kill at any moment leaves either the whole batch or none of it, and readers (Datasette)
keep reading the last committed state throughout.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from harvester.errors import StoreError
from harvester.identifiers import ascii_key
from harvester.merge import (
    WORK_FIELDS,
    FieldChange,
    Value,
    WorkValues,
    author_row,
    comparable,
    diff,
    rows_json,
    to_json,
)
from harvester.store.migrations import migrate

OUTCOMES = ("created", "changed", "unchanged", "not_found", "failed")


def utc_now() -> str:
    """The timestamp format of every *_at column: ISO 8601, UTC, seconds, 'Z'."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Observation:
    """What one source said about one requested identifier in this run, ready to be written.

    status: "ok" (work holds the new values), "unchanged" (the same payload as last time),
    "not_found" or "failed". `key` is the requested DOI key; `aliases` are further keys (such as the
    prime DOI an alias resolved to) that must find the same work.
    """

    source: str
    key: str
    status: str
    display: str = ""
    work: WorkValues | None = None
    payload: str | None = None
    payload_hash: str | None = None
    aliases: tuple[str, ...] = ()
    error: str | None = None
    scheme: str = "doi"


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result for one requested identifier, as reported to the user and counted in the run."""

    identifier: str
    status: str  # one of OUTCOMES
    work_id: int | None = None
    version: int | None = None
    fields: tuple[str, ...] = ()
    title: str | None = None
    error: str | None = None
    source: str | None = None


@dataclass
class RunCounts:
    requested: int = 0
    created: int = 0
    changed: int = 0
    unchanged: int = 0
    not_found: int = 0
    failed: int = 0

    def add(self, outcome: Outcome) -> None:
        self.requested += 1
        setattr(self, outcome.status, getattr(self, outcome.status) + 1)


@dataclass
class Store:
    db: sqlite_utils.Database
    path: str
    now: Any = field(default=utc_now)  # injectable clock for tests

    @property
    def conn(self) -> sqlite3.Connection:
        return self.db.conn

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT: take the write lock up front, so a batch never fails half-way
        for want of it, and roll back on any exception, KeyboardInterrupt included."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            yield self.conn
        except sqlite3.OperationalError as exc:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            # "database is locked" after the busy timeout, disk full, read-only file: expected
            # failures that deserve a message, not a traceback.
            raise StoreError(f"{self.path}: {exc}") from exc
        except BaseException:
            # SQLite may already have rolled back (disk full): never hide the real error.
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # --- runs -------------------------------------------------------------------------------

    def start_run(self, command: str) -> int:
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO runs (started_at, command, status) VALUES (?, ?, 'running')",
                (self.now(), command),
            )
        return int(cur.lastrowid)

    def finish_run(self, run_id: int, status: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE runs SET finished_at = ?, status = ? WHERE id = ?",
                (self.now(), status, run_id),
            )

    def run(self, run_id: int) -> dict[str, Any]:
        return dict(self.db["runs"].get(run_id))

    def run_counts(self, run_id: int) -> RunCounts:
        """The counts of a run as committed: the one truth, whatever happened in memory."""
        row = self.run(run_id)
        return RunCounts(**{k: row[k] for k in vars(RunCounts())})

    # --- reads ------------------------------------------------------------------------------

    def known_payloads(self, source: str, keys: Sequence[str]) -> dict[str, tuple[str, int | None]]:
        """The latest payload hash and work id each identifier had at `source`, for skipping
        identical payloads without parsing them."""
        found: dict[str, tuple[str, int | None]] = {}
        for chunk in _chunks(list(keys), 500):
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"""SELECT identifier, payload_hash, work_id, max(last_seen_at)
                    FROM source_records WHERE source = ? AND identifier IN ({marks})
                    GROUP BY identifier""",
                (source, *chunk),
            )
            for identifier, payload_hash, work_id, _ in rows:
                found[identifier] = (payload_hash, work_id)
        return found

    def find_work_id(self, scheme: str, key: str) -> int | None:
        row = self.conn.execute(
            "SELECT work_id FROM identifiers WHERE scheme = ? AND key = ?", (scheme, key)
        ).fetchone()
        return row[0] if row else None

    def known_agencies(self, prefixes: Sequence[str]) -> dict[str, str | None]:
        """The registration agency already learned for each DOI prefix (None: doi.org knew none)."""
        found: dict[str, str | None] = {}
        for chunk in _chunks(list(prefixes), 500):
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"SELECT prefix, agency FROM agencies WHERE prefix IN ({marks})", chunk
            )
            found.update(dict(rows.fetchall()))
        return found

    def keep_agencies(self, learned: Mapping[str, str | None]) -> None:
        """Remember what doi.org said of each prefix, so that it is asked once, not every night."""
        if not learned:
            return
        with self.transaction() as conn:
            now = self.now()
            conn.executemany(
                """INSERT INTO agencies (prefix, agency, checked_at) VALUES (?, ?, ?)
                   ON CONFLICT (prefix) DO UPDATE SET
                     agency = excluded.agency, checked_at = excluded.checked_at""",
                [(prefix, agency, now) for prefix, agency in learned.items()],
            )

    def find_work_by_id(self, work_id: int) -> int | None:
        row = self.conn.execute("SELECT id FROM works WHERE id = ?", (work_id,)).fetchone()
        return row[0] if row else None

    def work(self, work_id: int) -> dict[str, Any] | None:
        """A stored work with its authors and identifiers, or None."""
        cur = self.conn.execute("SELECT * FROM works WHERE id = ?", (work_id,))
        row = cur.fetchone()
        if row is None:
            return None
        work = dict(zip([d[0] for d in cur.description], row, strict=True))
        work["authors"] = self._author_rows(work_id)
        work["identifiers"] = [
            {"scheme": s, "value": v}
            for s, v in self.conn.execute(
                "SELECT scheme, value FROM identifiers WHERE work_id = ? ORDER BY scheme, key",
                (work_id,),
            )
        ]
        return work

    def history(self, work_id: int) -> list[dict[str, Any]]:
        cur = self.conn.execute(
            """SELECT id, run_id, changed_at, source, field, old_value, new_value
               FROM changes WHERE work_id = ? ORDER BY id""",
            (work_id,),
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur]

    def _author_rows(self, work_id: int) -> list[dict[str, Any]]:
        cur = self.conn.execute(
            """SELECT given, family, name, orcid, affiliation FROM authors
               WHERE work_id = ? ORDER BY position""",
            (work_id,),
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur]

    def _current_values(self, work_id: int) -> tuple[dict[str, Value], int]:
        columns = ", ".join(WORK_FIELDS)
        row = self.conn.execute(
            f"SELECT {columns}, version FROM works WHERE id = ?", (work_id,)
        ).fetchone()
        values = dict(zip(WORK_FIELDS, row[: len(WORK_FIELDS)], strict=True))
        values["authors"] = rows_json(self._author_rows(work_id))
        return values, row[-1]

    # --- writes -----------------------------------------------------------------------------

    def write_batch(self, run_id: int, observations: Iterable[Observation]) -> list[Outcome]:
        """Write one batch in one transaction and add its outcomes to the run's counts."""
        outcomes: list[Outcome] = []
        with self.transaction():
            now = self.now()
            for obs in observations:
                outcomes.append(self._write(run_id, obs, now))
            counts = RunCounts()
            for outcome in outcomes:
                counts.add(outcome)
            self.conn.execute(
                """UPDATE runs SET requested = requested + ?, created = created + ?,
                   changed = changed + ?, unchanged = unchanged + ?,
                   not_found = not_found + ?, failed = failed + ? WHERE id = ?""",
                (
                    counts.requested,
                    counts.created,
                    counts.changed,
                    counts.unchanged,
                    counts.not_found,
                    counts.failed,
                    run_id,
                ),
            )
        return outcomes

    def _write(self, run_id: int, obs: Observation, now: str) -> Outcome:
        if obs.status == "failed":
            return Outcome(obs.display or obs.key, "failed", error=obs.error, source=obs.source)
        # The identifier the source answered with (the prime DOI of an alias) decides the work,
        # so that an alias can never keep a second work of its own.
        work_id = None
        for key in (*obs.aliases, obs.key):
            work_id = work_id or self.find_work_id(obs.scheme, key)
        if obs.status == "not_found":
            self._keep_payload(obs, work_id, now)
            return Outcome(obs.display or obs.key, "not_found", work_id=work_id, source=obs.source)
        if obs.status == "unchanged" or obs.work is None:
            self._keep_payload(obs, work_id, now)
            return Outcome(obs.display or obs.key, "unchanged", work_id=work_id, source=obs.source)

        new = comparable(obs.work)
        if work_id is None:
            work_id = self._insert_work(obs.work, now)
            changes = diff({}, new)
            status, version = "created", 1
        else:
            old, version = self._current_values(work_id)
            changes = diff(old, new)
            status = "changed" if changes else "unchanged"
            if changes:
                version += 1
                self._update_work(work_id, obs.work, version, changes, now)
        self._link_identifiers(obs, work_id)
        self._keep_payload(obs, work_id, now)
        self._record_changes(work_id, run_id, changes, obs, now)
        return Outcome(
            obs.display or obs.key,
            status,
            work_id=work_id,
            version=version,
            fields=tuple(c.field for c in changes) if status == "changed" else (),
            title=obs.work.values.get("title"),  # type: ignore[arg-type]
            source=obs.source,
        )

    def _insert_work(self, work: WorkValues, now: str) -> int:
        columns = [*WORK_FIELDS, "provenance", "version", "created_at", "updated_at"]
        values = [*(work.values[f] for f in WORK_FIELDS), to_json(work.provenance), 1, now, now]
        cur = self.conn.execute(
            f"INSERT INTO works ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            values,
        )
        work_id = int(cur.lastrowid)
        self._replace_authors(work_id, work)
        return work_id

    def _update_work(
        self, work_id: int, work: WorkValues, version: int, changes: Sequence[FieldChange], now: str
    ) -> None:
        assignments = ", ".join(f"{f} = ?" for f in WORK_FIELDS)
        self.conn.execute(
            f"UPDATE works SET {assignments}, provenance = ?, version = ?, updated_at = ? "
            "WHERE id = ?",
            [
                *(work.values[f] for f in WORK_FIELDS),
                to_json(work.provenance),
                version,
                now,
                work_id,
            ],
        )
        if any(c.field == "authors" for c in changes):
            self._replace_authors(work_id, work)

    def _replace_authors(self, work_id: int, work: WorkValues) -> None:
        self.conn.execute("DELETE FROM authors WHERE work_id = ?", (work_id,))
        self.conn.executemany(
            """INSERT INTO authors (work_id, position, given, family, name, orcid, affiliation)
               VALUES (:work_id, :position, :given, :family, :name, :orcid, :affiliation)""",
            [
                {"work_id": work_id, "position": i, **author_row(a)}
                for i, a in enumerate(work.authors, start=1)
            ],
        )

    def _link_identifiers(self, obs: Observation, work_id: int) -> None:
        """Every key that named this work (as asked, as answered) finds it from now on."""
        doi = obs.work.values.get("doi") if obs.work else None
        pairs = {obs.key: obs.display or obs.key}
        if isinstance(doi, str):
            pairs.setdefault(ascii_key(doi), doi)
        for alias in obs.aliases:
            pairs.setdefault(alias, alias)
        self.conn.executemany(
            """INSERT INTO identifiers (scheme, key, value, work_id) VALUES (?, ?, ?, ?)
               ON CONFLICT (scheme, key) DO UPDATE SET work_id = excluded.work_id""",
            [(obs.scheme, k, v, work_id) for k, v in pairs.items()],
        )

    def _keep_payload(self, obs: Observation, work_id: int | None, now: str) -> None:
        """Each distinct payload is kept once; seeing it again only moves its last_seen_at."""
        payload_hash = obs.payload_hash or obs.status
        self.conn.execute(
            """INSERT INTO source_records
                 (source, identifier, work_id, status, fetched_at, last_seen_at, payload,
                  payload_hash)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (source, identifier, payload_hash) DO UPDATE SET
                 last_seen_at = excluded.last_seen_at,
                 work_id = coalesce(excluded.work_id, work_id)""",
            (
                obs.source,
                obs.key,
                work_id,
                "not_found" if obs.status == "not_found" else "ok",
                now,
                now,
                obs.payload,
                payload_hash,
            ),
        )

    def _record_changes(
        self, work_id: int, run_id: int, changes: Sequence[FieldChange], obs: Observation, now: str
    ) -> None:
        provenance = obs.work.provenance if obs.work else {}
        self.conn.executemany(
            """INSERT INTO changes
                 (work_id, run_id, field, old_value, new_value, source, changed_at)
               VALUES (?, ?, ?, ?, ?, ?, ?)""",
            [
                (
                    work_id,
                    run_id,
                    c.field,
                    _text(c.old),
                    _text(c.new),
                    provenance.get(c.field, obs.source),
                    now,
                )
                for c in changes
            ],
        )


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
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: cannot open the database: {exc}") from None
    except OSError as exc:
        raise StoreError(f"{path}: cannot create the database folder: {exc.strerror}") from None
    return Store(db=db, path=str(path), now=now)


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


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _text(value: Value) -> str | None:
    return None if value is None else str(value)
