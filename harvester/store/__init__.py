"""The SQLite store: open (WAL, migrations), and write one batch of observations per transaction.

Writes use plain SQL on one connection in autocommit mode with an explicit `BEGIN IMMEDIATE` per
batch: a kill at any moment leaves either the whole batch or none of it, and readers (Datasette)
keep reading the last committed state throughout.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from harvester.due import DUE_SOURCES, DuePolicy, DueState, format_time, next_due, parse_time
from harvester.errors import StoreError
from harvester.identifiers import ascii_key
from harvester.merge import (
    INT_FIELDS,
    WORK_FIELDS,
    Conflict,
    Contribution,
    FieldChange,
    Value,
    WorkValues,
    author_row,
    authors_from_rows,
    comparable,
    diff,
    rows_json,
    to_json,
)
from harvester.models import (  # noqa: F401  re-exported: callers import them from the store
    OUTCOMES,
    Answer,
    DueItem,
    MatchCandidate,
    MatchLink,
    Observation,
    Outcome,
    RunCounts,
    StoredAnswer,
    Tried,
)
from harvester.store.migrations import migrate

#: The sources that speak for a DOI (its registration agencies); OpenAlex only adds to them.
AGENCY_SOURCES = ("crossref", "datacite", "doi.org")


def utc_now() -> str:
    """The timestamp format of every *_at column: ISO 8601, UTC, seconds, 'Z'."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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

    def find_work_id(self, scheme: str, key: str) -> int | None:
        row = self.conn.execute(
            "SELECT work_id FROM identifiers WHERE scheme = ? AND key = ?", (scheme, key)
        ).fetchone()
        return row[0] if row else None

    def iter_works(self, *, since: str | None = None, changed: bool = False) -> Iterator[dict]:
        """Stored works for export, oldest first: updated at or after `since`, and with `changed`
        only those whose values changed after they were first stored."""
        clauses, params = [], []
        if since:
            clauses.append("updated_at >= ?")
            params.append(since)
        if changed:
            clauses.append("version > 1")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        ids = [r[0] for r in self.conn.execute(f"SELECT id FROM works {where} ORDER BY id", params)]
        for work_id in ids:
            work = self.work(work_id)
            if work is not None:
                yield work

    def find_work_ids(self, scheme: str, keys: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in _chunks(list(keys), 500):
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"SELECT key, work_id FROM identifiers WHERE scheme = ? AND key IN ({marks})",
                (scheme, *chunk),
            )
            found.update(dict(rows.fetchall()))
        return found

    def latest_answers(
        self, work_ids: Sequence[int], *, with_payload: bool = False
    ) -> dict[int, dict[str, StoredAnswer]]:
        """The latest answer of every source about each work (payload text only if asked for:
        deciding whether anything changed needs the hashes alone)."""
        found: dict[int, dict[str, StoredAnswer]] = {}
        payload = "payload" if with_payload else "NULL"
        for chunk in _chunks(list(work_ids), 500):
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"""SELECT work_id, source, identifier, status, payload_hash, {payload}
                    FROM (SELECT *, row_number() OVER (
                            PARTITION BY work_id, source ORDER BY last_seen_at DESC, id DESC) AS n
                          FROM source_records WHERE work_id IN ({marks}))
                    WHERE n = 1""",
                chunk,
            )
            for work_id, source, identifier, status, payload_hash, text in rows:
                found.setdefault(work_id, {})[source] = StoredAnswer(
                    source, identifier, status, payload_hash, text
                )
        return found

    def local_values(self, work_ids: Sequence[int]) -> dict[int, Contribution]:
        """The user's own values for each work that has any, as a contribution to the merge."""
        found: dict[int, tuple[dict[str, Value], tuple]] = {}
        for chunk in _chunks(list(work_ids), 500):
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"SELECT work_id, field, value FROM local_fields WHERE work_id IN ({marks})", chunk
            )
            for work_id, name, value in rows:
                values, _ = found.setdefault(work_id, ({}, ()))
                if name == "authors":
                    found[work_id] = (values, authors_from_rows(json.loads(value)))
                else:
                    values[name] = int(value) if name in INT_FIELDS else value
        return {
            work_id: Contribution("local", values, authors)
            for work_id, (values, authors) in found.items()
        }

    def recently_not_found(self, keys: Sequence[str], since: str) -> dict[str, str]:
        """Requested DOIs whose agency said "not found" at `since` or later, with when it last
        said so: these are not asked again until the recheck period is over."""
        found: dict[str, str] = {}
        agencies = ",".join("?" * len(AGENCY_SOURCES))
        for chunk in _chunks(list(keys), 500):
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"""SELECT identifier, status, last_seen_at FROM (
                      SELECT identifier, status, last_seen_at, row_number() OVER (
                        PARTITION BY identifier ORDER BY last_seen_at DESC, id DESC) AS n
                      FROM source_records
                      WHERE identifier IN ({marks}) AND source IN ({agencies}))
                    WHERE n = 1""",
                (*chunk, *AGENCY_SOURCES),
            )
            for identifier, status, seen in rows:
                if status == "not_found" and seen >= since:
                    found[identifier] = seen
        return found

    def known_agencies(self, unknown_since: str | None = None) -> dict[str, str | None]:
        """The registration agency learned for each DOI prefix (one row per prefix: a small
        table). A prefix doi.org did not know (None) counts only if checked at or after
        `unknown_since`, so that a registrant new since then is asked about again."""
        rows = self.conn.execute(
            "SELECT prefix, agency FROM agencies WHERE agency IS NOT NULL OR checked_at >= ?",
            (unknown_since or "",),
        )
        return dict(rows.fetchall())

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
        work["conflicts"] = [
            {"field": f, "source": s, "value": v}
            for f, s, v in self.conn.execute(
                "SELECT field, source, value FROM conflicts WHERE work_id = ? ORDER BY field, source",
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

    # --- the RePEc index ----------------------------------------------------------------------

    def repec_file(self, path: str) -> tuple[str | None, str | None]:
        """(version, content hash) of an archive file when last read, or (None, None)."""
        row = self.conn.execute(
            "SELECT version, content_hash FROM repec_files WHERE path = ?", (path,)
        ).fetchone()
        return (row[0], row[1]) if row else (None, None)

    def repec_path(self, handle_key: str) -> str | None:
        """The archive file that holds a handle, as last indexed."""
        row = self.conn.execute(
            "SELECT path FROM repec_handles WHERE key = ?", (handle_key,)
        ).fetchone()
        return row[0] if row else None

    def index_repec_file(
        self,
        path: str,
        *,
        version: str | None,
        content_hash: str | None,
        encoding: str | None = None,
        handles: Sequence[tuple[str, str, str, int]] | None = None,
        errors: int = 0,
    ) -> None:
        """Record what a file was when its works were last stored (`version` and `content_hash`;
        None: never, so a series harvest reads it); with `handles` ((key, handle, type, line) of
        each template), also which handles it holds, replacing what it held before."""
        with self.transaction() as conn:
            if handles is not None:
                conn.execute("DELETE FROM repec_handles WHERE path = ?", (path,))
                conn.executemany(
                    """INSERT INTO repec_handles (key, handle, path, type, line)
                       VALUES (?, ?, ?, ?, ?)
                       ON CONFLICT (key) DO UPDATE SET handle = excluded.handle,
                         path = excluded.path, type = excluded.type, line = excluded.line""",
                    [(key, handle, path, kind, line) for key, handle, kind, line in handles],
                )
            conn.execute(
                """INSERT INTO repec_files
                     (path, version, content_hash, encoding, templates, errors, checked_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (path) DO UPDATE SET version = excluded.version,
                     content_hash = excluded.content_hash,
                     encoding = coalesce(excluded.encoding, encoding),
                     templates = coalesce(excluded.templates, templates),
                     errors = excluded.errors, checked_at = excluded.checked_at""",
                (
                    path,
                    version,
                    content_hash,
                    encoding,
                    None if handles is None else len(handles),
                    errors,
                    self.now(),
                ),
            )

    # --- the watch list -----------------------------------------------------------------------

    def track(self, identifiers: Iterable[tuple[str, str, str]]) -> int:
        """Watch (scheme, key, value) identifiers; new ones are due at once at each of their
        sources. Returns how many were new."""
        now = self.now()
        new = 0
        with self.transaction() as conn:
            for scheme, key, value in identifiers:
                cur = conn.execute(
                    """INSERT INTO watchlist (scheme, key, value, added_at) VALUES (?, ?, ?, ?)
                       ON CONFLICT DO NOTHING""",
                    (scheme, key, value, now),
                )
                new += cur.rowcount
                conn.executemany(
                    """INSERT INTO watch_due (scheme, key, source, next_due_at)
                       VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING""",
                    [(scheme, key, source, now) for source in DUE_SOURCES[scheme]],
                )
        return new

    def untrack(self, identifiers: Iterable[tuple[str, str]]) -> int:
        """Stop watching (scheme, key) identifiers; their works stay. Returns how many were watched."""
        gone = 0
        with self.transaction() as conn:
            for scheme, key in identifiers:
                conn.execute("DELETE FROM watch_due WHERE scheme = ? AND key = ?", (scheme, key))
                cur = conn.execute(
                    "DELETE FROM watchlist WHERE scheme = ? AND key = ?", (scheme, key)
                )
                gone += cur.rowcount
        return gone

    def tracked(self) -> list[dict[str, Any]]:
        """Every watched identifier with, per source, when it is due and how its last try ended;
        the soonest due first."""
        rows = self.conn.execute(
            """SELECT w.scheme, w.key, w.value, w.added_at, d.source, d.next_due_at,
                      d.last_status, d.streak, d.last_tried_at, d.last_error,
                      (SELECT work_id FROM identifiers i
                        WHERE i.scheme = w.scheme AND i.key = w.key) AS work_id
               FROM watchlist w JOIN watch_due d USING (scheme, key)
               ORDER BY w.scheme, w.key, d.source"""
        ).fetchall()
        watched: dict[tuple[str, str], dict[str, Any]] = {}
        for scheme, key, value, added, source, due, status, streak, tried, error, work in rows:
            item = watched.setdefault(
                (scheme, key),
                {
                    "scheme": scheme,
                    "key": key,
                    "value": value,
                    "added_at": added,
                    "work_id": work,
                    "sources": {},
                },
            )
            item["sources"][source] = {
                "next_due_at": due,
                "last_status": status,
                "streak": streak,
                "last_tried_at": tried,
                "last_error": error,
            }
        return sorted(
            watched.values(),
            key=lambda w: (min(s["next_due_at"] for s in w["sources"].values()), w["value"]),
        )

    def due_items(self, now: str, limit: int | None = None) -> list[DueItem]:
        """Watched identifiers due at `now` at one source or more, the longest due first."""
        self.freeze_due(now, limit)
        return [*self.iter_due("doi"), *self.iter_due("repec")]

    def freeze_due(self, now: str, limit: int | None = None) -> int:
        """Keep what is due at `now` (at most `limit`, the longest due first) in the temporary
        table `due_now` for `iter_due`, and say how many. A run works through this snapshot
        rather than asking again, so an identifier whose try moved only some of its due times
        is not met twice, and a nightly of any size is not held in memory."""
        self.conn.execute("DROP TABLE IF EXISTS temp.due_now")
        self.conn.execute(
            """CREATE TEMP TABLE due_now AS
               SELECT w.scheme, w.key, w.value, group_concat(d.source) AS sources,
                      min(d.next_due_at) AS due
               FROM watchlist w JOIN watch_due d USING (scheme, key)
               WHERE d.next_due_at <= ?
               GROUP BY w.scheme, w.key
               ORDER BY due, w.scheme, w.key
               LIMIT ?""",
            (now, -1 if limit is None else limit),
        )
        return int(self.conn.execute("SELECT count(*) FROM temp.due_now").fetchone()[0])

    def iter_due(self, scheme: str, page: int = 500) -> Iterator[DueItem]:
        """The identifiers of one scheme in the last `freeze_due`, in its order, a page at a
        time."""
        last = 0
        while True:
            rows = self.conn.execute(
                """SELECT rowid, scheme, key, value, sources, due FROM temp.due_now
                   WHERE scheme = ? AND rowid > ? ORDER BY rowid LIMIT ?""",
                (scheme, last, page),
            ).fetchall()
            if not rows:
                return
            for _, _, key, value, sources, due in rows:
                yield DueItem(scheme, key, value, tuple(sorted(sources.split(","))), due)
            last = rows[-1][0]

    def _record_tries(self, tries: Iterable[Tried], policy: DuePolicy, now: str) -> None:
        """Move the due time of each tracked identifier's source by how its try ended; an
        identifier that is not tracked has no due time to move."""
        moment = parse_time(now)
        for tried in tries:
            row = self.conn.execute(
                """SELECT next_due_at, last_status, streak FROM watch_due
                   WHERE scheme = ? AND key = ? AND source = ?""",
                (tried.scheme, tried.key, tried.source),
            ).fetchone()
            if row is None:
                continue
            previous = DueState(parse_time(row[0]), row[1], row[2] or 0)
            state = next_due(tried.status, tried.answered_by, previous, moment, policy)
            self.conn.execute(
                """UPDATE watch_due SET next_due_at = ?, last_status = ?, streak = ?,
                     last_tried_at = ?, last_error = ?
                   WHERE scheme = ? AND key = ? AND source = ?""",
                (
                    format_time(state.next_due_at),
                    state.last_status,
                    state.streak,
                    now,
                    tried.error,
                    tried.scheme,
                    tried.key,
                    tried.source,
                ),
            )

    def recover_stale_runs(self) -> int:
        """Runs still `running` though no writer is alive (the caller holds the writer lock): a
        process killed with `kill -9` never wrote its end. They become `interrupted`."""
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE runs SET status = 'interrupted', finished_at = ? WHERE status = 'running'",
                (self.now(),),
            )
        return cur.rowcount

    # --- matching ---------------------------------------------------------------------------
    # `harvest match`: works without a DOI, the candidates kept for them, and the links made.

    def unmatched_work_ids(self, limit: int | None = None) -> list[int]:
        """The works `harvest match --all-unmatched` asks about, oldest first: no DOI, a title,
        and no candidate kept, so neither waiting for a person (pending) nor refused by one
        (rejected); a person names such a work by id to have it asked again. A work linked by
        an earlier run whose DOI harvest did not complete (accepted, still no DOI) is included,
        so that its DOI is harvested again."""
        rows = self.conn.execute(
            """SELECT w.id FROM works w
               WHERE w.doi IS NULL AND trim(coalesce(w.title, '')) != ''
                 AND (NOT EXISTS (SELECT 1 FROM match_candidates m WHERE m.work_id = w.id)
                      OR EXISTS (SELECT 1 FROM match_candidates m
                                 WHERE m.work_id = w.id AND m.decision = 'accepted'))
               ORDER BY w.id
               LIMIT ?""",
            (-1 if limit is None else limit,),
        )
        return [row[0] for row in rows]

    def match_candidates(self, work_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
        """The candidates kept for each of these works, whatever their decision, best first."""
        found: dict[int, list[dict[str, Any]]] = {}
        for chunk in _chunks(list(work_ids), 500):
            marks = ",".join("?" * len(chunk))
            cur = self.conn.execute(
                f"""SELECT * FROM match_candidates WHERE work_id IN ({marks})
                    ORDER BY work_id, score DESC, doi""",
                chunk,
            )
            names = [d[0] for d in cur.description]
            for row in cur:
                item = dict(zip(names, row, strict=True))
                found.setdefault(item["work_id"], []).append(item)
        return found

    def pending_matches(self, work_ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
        """Candidates waiting for a person (of these works, or all), each beside what its work
        says (`work_title`, `work_year`, `work_authors`, `work_container`): by work, best first."""
        where = ""
        params: list[Any] = []
        if work_ids is not None:
            where = f"AND m.work_id IN ({','.join('?' * len(work_ids))})"
            params = list(work_ids)
        cur = self.conn.execute(
            f"""SELECT m.*, w.title AS work_title, w.year AS work_year,
                       w.container_title AS work_container,
                       (SELECT group_concat(surname, '; ') FROM (
                          SELECT coalesce(a.family, a.name) AS surname FROM authors a
                          WHERE a.work_id = w.id ORDER BY a.position)) AS work_authors
                FROM match_candidates m JOIN works w ON w.id = m.work_id
                WHERE m.decision = 'pending' {where}
                ORDER BY m.work_id, m.score DESC, m.doi""",
            params,
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur]

    def keep_matches(
        self, run_id: int, candidates: Sequence[MatchCandidate], links: Sequence[MatchLink]
    ) -> None:
        """Keep a batch's candidates and make its links, in one transaction. A candidate seen
        again gets its new score and reasons; a person's decision on it stands. A link makes the
        DOI an identifier of the work (so the DOI's harvest lands on it), marks the candidate
        accepted and the work's other pending ones rejected (a work has one DOI), and writes a
        `matched_doi` change to the work's history. A DOI that identifies another work is
        never linked: StoreError (callers check first)."""
        if not candidates and not links:
            return
        with self.transaction() as conn:
            now = self.now()
            conn.executemany(
                """INSERT INTO match_candidates
                     (work_id, doi, score, decision, reasons, title, year, authors,
                      container_title, run_id, found_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (work_id, doi) DO UPDATE SET
                     score = excluded.score, reasons = excluded.reasons,
                     title = excluded.title, year = excluded.year, authors = excluded.authors,
                     container_title = excluded.container_title,
                     decision = CASE WHEN decision = 'pending' THEN excluded.decision
                                     ELSE decision END""",
                [
                    (
                        c.work_id,
                        c.doi,
                        c.score,
                        c.decision,
                        c.reasons or None,
                        c.title,
                        c.year,
                        c.authors,
                        c.container_title,
                        run_id,
                        now,
                    )
                    for c in candidates
                ],
            )
            for link in links:
                key = ascii_key(link.doi)
                owner = self.find_work_id("doi", key)
                if owner is not None and owner != link.work_id:
                    raise StoreError(
                        f"{link.doi} already identifies work {owner}: not linked to work "
                        f"{link.work_id}"
                    )
                conn.execute(
                    """INSERT INTO identifiers (scheme, key, value, work_id)
                       VALUES ('doi', ?, ?, ?) ON CONFLICT (scheme, key) DO NOTHING""",
                    (key, link.doi, link.work_id),
                )
                conn.execute(
                    """UPDATE match_candidates SET decision = 'accepted', settled_at = ?,
                         settled_by = ?
                       WHERE work_id = ? AND doi = ?""",
                    (now, link.source, link.work_id, link.doi),
                )
                conn.execute(
                    """UPDATE match_candidates SET decision = 'rejected', settled_at = ?,
                         settled_by = ?
                       WHERE work_id = ? AND doi != ? AND decision = 'pending'""",
                    (now, link.source, link.work_id, link.doi),
                )
                conn.execute(
                    """INSERT INTO changes
                         (work_id, run_id, field, old_value, new_value, source, changed_at)
                       VALUES (?, ?, 'matched_doi', NULL, ?, ?, ?)""",
                    (link.work_id, run_id, link.doi, link.source, now),
                )

    def reject_match(self, work_id: int, doi: str) -> bool:
        """A person refuses a candidate: it is never offered for this work again. An accepted
        one is not undone. False when there was no such candidate to reject."""
        with self.transaction() as conn:
            cur = conn.execute(
                """UPDATE match_candidates SET decision = 'rejected', settled_at = ?,
                     settled_by = 'local'
                   WHERE work_id = ? AND doi = ? AND decision != 'accepted'""",
                (self.now(), work_id, doi),
            )
        return cur.rowcount > 0

    # --- feeds ------------------------------------------------------------------------------

    def feed(self, feed: str) -> dict[str, Any] | None:
        """Where a feed stands (its `feeds` row), or None when it was never harvested."""
        row = self.conn.execute("SELECT * FROM feeds WHERE feed = ?", (feed,)).fetchone()
        if row is None:
            return None
        names = [d[0] for d in self.conn.execute("SELECT * FROM feeds LIMIT 0").description]
        return dict(zip(names, row, strict=True))

    def feed_completed(
        self,
        feed: str,
        *,
        kind: str,
        endpoint: str,
        params: Mapping[str, Any],
        watermark: str | None,
        run_id: int,
        records: int,
    ) -> None:
        """A harvest read the feed to its end, everything stored: move its watermark."""
        now = self.now()
        with self.transaction() as conn:
            conn.execute(
                """INSERT INTO feeds (feed, kind, endpoint, params, watermark, completed_at,
                     completed_run_id, records, tried_at, error)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)
                   ON CONFLICT (feed) DO UPDATE SET params = excluded.params,
                     watermark = excluded.watermark, completed_at = excluded.completed_at,
                     completed_run_id = excluded.completed_run_id, records = excluded.records,
                     tried_at = excluded.tried_at, error = NULL, cursor = NULL""",
                (feed, kind, endpoint, to_json(dict(params)), watermark, now, run_id, records, now),
            )

    def feed_progress(
        self,
        feed: str,
        *,
        kind: str,
        endpoint: str,
        params: Mapping[str, Any],
        cursor: str | None,
    ) -> None:
        """Where a harvest in progress has got to (the cursor after the last stored page), so an
        interrupted one can resume; the watermark does not move."""
        now = self.now()
        with self.transaction() as conn:
            conn.execute(
                """INSERT INTO feeds (feed, kind, endpoint, params, tried_at, cursor)
                   VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT (feed) DO UPDATE SET cursor = excluded.cursor,
                     tried_at = excluded.tried_at""",
                (feed, kind, endpoint, to_json(dict(params)), now, cursor),
            )

    def feed_failed(
        self, feed: str, *, kind: str, endpoint: str, params: Mapping[str, Any], error: str
    ) -> None:
        """A harvest of the feed did not complete: say why, and leave its watermark where it was."""
        now = self.now()
        with self.transaction() as conn:
            conn.execute(
                """INSERT INTO feeds (feed, kind, endpoint, params, tried_at, error)
                   VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT (feed) DO UPDATE SET tried_at = excluded.tried_at,
                     error = excluded.error""",
                (feed, kind, endpoint, to_json(dict(params)), now, error),
            )

    # --- writes -----------------------------------------------------------------------------

    def write_batch(
        self,
        run_id: int,
        observations: Iterable[Observation],
        tries: Iterable[Tried] = (),
        policy: DuePolicy | None = None,
    ) -> list[Outcome]:
        """Write one batch in one transaction and add its outcomes to the run's counts; with
        `tries`, move the due times of the tracked identifiers in the same transaction, so that
        what was stored is never asked again too soon, nor what was lost too late."""
        outcomes: list[Outcome] = []
        with self.transaction():
            now = self.now()
            for obs in observations:
                outcomes.append(self._write(run_id, obs, now))
            self._record_tries(tries, policy or DuePolicy(), now)
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
            kinds = Counter(o.error_kind for o in outcomes if o.status == "failed")
            self.conn.executemany(
                """INSERT INTO run_failures (run_id, kind, count) VALUES (?, ?, ?)
                   ON CONFLICT (run_id, kind) DO UPDATE SET count = count + excluded.count""",
                [(run_id, kind or "other", n) for kind, n in kinds.items()],
            )
        return outcomes

    def run_failures(self, run_id: int) -> dict[str, int]:
        """How many identifiers of a run failed, by kind (errors.FAILURE_KINDS)."""
        rows = self.conn.execute(
            "SELECT kind, count FROM run_failures WHERE run_id = ? ORDER BY kind", (run_id,)
        )
        return dict(rows.fetchall())

    def _write(self, run_id: int, obs: Observation, now: str) -> Outcome:
        display = obs.display or obs.key
        if obs.status == "failed":
            return Outcome(
                display,
                "failed",
                error=obs.error,
                source=obs.source,
                error_kind=obs.error_kind or "other",
            )
        work_id = self._resolve_work(obs, run_id, now)
        if obs.status in ("not_found", "unchanged") or obs.work is None:
            for answer in obs.answers:
                self._keep_answer(answer, work_id, now)
            status = "not_found" if obs.status == "not_found" else "unchanged"
            return Outcome(display, status, work_id=work_id, error=obs.error, source=obs.source)

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
            else:
                # Same values, perhaps from another source now (one dropped a field that the
                # next one has): the provenance must say who gives each value today.
                self.conn.execute(
                    "UPDATE works SET provenance = ? WHERE id = ? AND provenance IS NOT ?",
                    (to_json(obs.work.provenance), work_id, to_json(obs.work.provenance)),
                )
        if obs.local is not None:
            self._write_local(work_id, obs.local, obs.local_origin, now)
        self._link_identifiers(obs, work_id)
        for answer in obs.answers:
            self._keep_answer(answer, work_id, now)
        self._record_changes(work_id, run_id, changes, obs, now)
        if obs.conflicts is not None:
            self._replace_conflicts(work_id, run_id, obs.conflicts, now)
        return Outcome(
            display or f"work {work_id}",
            status,
            work_id=work_id,
            version=version,
            fields=tuple(c.field for c in changes) if status == "changed" else (),
            title=obs.work.values.get("title"),  # type: ignore[arg-type]
            source=obs.source,
        )

    def _resolve_work(self, obs: Observation, run_id: int, now: str) -> int | None:
        """The work an observation is about. The identifier the source answered with (the prime
        DOI of an alias) decides, so an alias never keeps a work of its own; if it had one from
        before it became an alias, that work is merged into the prime's."""
        if obs.work_id is not None:
            return obs.work_id
        if not obs.key:
            return None
        prime = next(
            (w for alias in obs.aliases if (w := self.find_work_id(obs.scheme, alias))), None
        )
        asked = self.find_work_id(obs.scheme, obs.key)
        if prime is not None and asked is not None and prime != asked:
            self._absorb(asked, prime, run_id, obs.source, now)
        found = prime or asked
        # Another identifier the record names (the DOI in a RePEc record) may have a work of its
        # own already: the two are one work, the one found first surviving.
        for scheme, key in obs.links:
            linked = self.find_work_id(scheme, key)
            if linked is not None and found is not None and linked != found:
                self._absorb(linked, found, run_id, obs.source, now)
            found = found or linked
        return found

    def _absorb(self, orphan: int, survivor: int, run_id: int, source: str, now: str) -> None:
        """Move everything known about `orphan` to `survivor` and delete it: its identifiers, its
        source records and its history follow; the survivor's own local values win over the
        orphan's. The merge itself is a change in the survivor's history."""
        conn = self.conn
        for table in ("source_records", "identifiers", "changes"):
            conn.execute(f"UPDATE {table} SET work_id = ? WHERE work_id = ?", (survivor, orphan))
        conn.execute(
            """INSERT OR IGNORE INTO local_fields (work_id, field, value, origin, updated_at)
               SELECT ?, field, value, origin, updated_at FROM local_fields WHERE work_id = ?""",
            (survivor, orphan),
        )
        for table in ("local_fields", "conflicts", "authors"):
            conn.execute(f"DELETE FROM {table} WHERE work_id = ?", (orphan,))
        conn.execute("DELETE FROM works WHERE id = ?", (orphan,))
        conn.execute(
            """INSERT INTO changes (work_id, run_id, field, old_value, new_value, source, changed_at)
               VALUES (?, ?, 'merged_work_id', ?, ?, ?, ?)""",
            (survivor, run_id, str(orphan), str(survivor), source, now),
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
        """The byline whole, with the search index rebuilt once after it, not per author row
        (migration 0009's `fts_deferred`)."""
        self.conn.execute("INSERT OR IGNORE INTO fts_deferred (work_id) VALUES (?)", (work_id,))
        self.conn.execute("DELETE FROM authors WHERE work_id = ?", (work_id,))
        self.conn.executemany(
            """INSERT INTO authors (work_id, position, given, family, name, orcid, affiliation)
               VALUES (:work_id, :position, :given, :family, :name, :orcid, :affiliation)""",
            [
                {"work_id": work_id, "position": i, **author_row(a)}
                for i, a in enumerate(work.authors, start=1)
            ],
        )
        self.conn.execute("DELETE FROM fts_deferred WHERE work_id = ?", (work_id,))

    def _link_identifiers(self, obs: Observation, work_id: int) -> None:
        """Every key that named this work (as asked, as answered, its DOI and RePEc handle as
        merged) finds it from now on."""
        pairs: dict[tuple[str, str], str] = {}
        if obs.key:
            pairs[(obs.scheme, obs.key)] = obs.identifier_value or obs.display or obs.key
        for alias in obs.aliases:
            pairs.setdefault((obs.scheme, alias), alias)
        values = obs.work.values if obs.work else {}
        doi, handle = values.get("doi"), values.get("repec_handle")
        if isinstance(doi, str):
            pairs.setdefault(("doi", ascii_key(doi)), doi)
        if isinstance(handle, str):
            pairs.setdefault(("repec", ascii_key(handle)), handle)
        self.conn.executemany(
            """INSERT INTO identifiers (scheme, key, value, work_id) VALUES (?, ?, ?, ?)
               ON CONFLICT (scheme, key) DO UPDATE SET work_id = excluded.work_id""",
            [(scheme, key, value, work_id) for (scheme, key), value in pairs.items()],
        )

    def _keep_answer(self, answer: Answer, work_id: int | None, now: str) -> None:
        """Each distinct payload is kept once; seeing it again only moves its last_seen_at
        (tried first: most answers of a harvest were seen before, and need no text at all)."""
        seen = self.conn.execute(
            """UPDATE source_records SET last_seen_at = ?, work_id = coalesce(?, work_id)
               WHERE source = ? AND identifier = ? AND payload_hash = ?""",
            (now, work_id, answer.source, answer.identifier, answer.fingerprint),
        )
        if seen.rowcount:
            return
        self.conn.execute(
            """INSERT INTO source_records
                 (source, identifier, work_id, status, fetched_at, last_seen_at, payload,
                  payload_hash)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (source, identifier, payload_hash) DO UPDATE SET
                 last_seen_at = excluded.last_seen_at,
                 work_id = coalesce(excluded.work_id, work_id)""",
            (
                answer.source,
                answer.identifier,
                work_id,
                answer.status,
                now,
                now,
                answer.text(),
                answer.fingerprint,
            ),
        )

    def _write_local(
        self, work_id: int, local: Mapping[str, Value | None], origin: str, now: str
    ) -> None:
        """Set (or, for None, unset) the user's own values of a work."""
        for name, value in local.items():
            if value is None:
                self.conn.execute(
                    "DELETE FROM local_fields WHERE work_id = ? AND field = ?", (work_id, name)
                )
            else:
                self.conn.execute(
                    """INSERT INTO local_fields (work_id, field, value, origin, updated_at)
                       VALUES (?, ?, ?, ?, ?)
                       ON CONFLICT (work_id, field) DO UPDATE SET value = excluded.value,
                         origin = excluded.origin, updated_at = excluded.updated_at""",
                    (work_id, name, str(value), origin, now),
                )

    def _replace_conflicts(
        self, work_id: int, run_id: int, conflicts: Sequence[Conflict], now: str
    ) -> None:
        """The work's conflicts are what its sources disagree on now: older ones are dropped."""
        self.conn.execute("DELETE FROM conflicts WHERE work_id = ?", (work_id,))
        self.conn.executemany(
            """INSERT OR REPLACE INTO conflicts (work_id, field, source, value, run_id, seen_at)
               VALUES (?, ?, ?, ?, ?, ?)""",
            [(work_id, c.field, c.source, c.value, run_id, now) for c in conflicts],
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
                    # A user's edit is the user's change, whichever source's value it uncovers.
                    "local" if obs.source == "local" else provenance.get(c.field, obs.source),
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
