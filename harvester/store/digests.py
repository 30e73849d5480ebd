"""Digests: what `harvest digest` reads for the runs since the last one, and where each digest
left the point the next starts from (`digests`, migration 0020)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from harvester.store.base import Part
from harvester.store.integrity import Integrity

#: How a digest ended: these move the point (it was read, or there was nothing to read);
#: `failed` (the SMTP server refused, or could not be reached) moves nothing.
DELIVERED = ("sent", "marked", "empty")
DIGEST_STATUSES = (*DELIVERED, "failed")

#: The tracked works: every work one of whose identifiers is on the watch list.
_TRACKED = """SELECT i.work_id FROM watchlist l
               JOIN identifiers i ON i.scheme = l.scheme AND i.key = l.key"""


def point_of(rows: Iterable[Mapping[str, Any]]) -> int | None:
    """The run the digests delivered so far cover up to, from their rows in order: a digest
    moves the point only when it started at or before it (a `--since` that left runs out
    covers no gap), so a run is never skipped by a later, narrower digest. None: no digest
    was delivered yet, everything is new."""
    point: int | None = None
    for row in rows:
        if row["status"] not in DELIVERED or row["until_run"] is None:
            continue
        since = row["since_run"]
        if since is None or (point is not None and since <= point):
            point = row["until_run"] if point is None else max(point, row["until_run"])
    return point


@dataclass(eq=False)
class Digests(Part):
    """The `digests` table, and the reads of what a digest reports (the notices through the
    `integrity` part, which knows their order)."""

    integrity: Integrity

    def point(self) -> int | None:
        """The run the last delivered digest covers up to (None: none yet)."""
        rows = self._dicts("SELECT status, since_run, until_run FROM digests ORDER BY id")
        return point_of(rows)

    def covered_until(self) -> int | None:
        """The last run a digest made now may cover: the newest run, or the one before the
        first still running (its changes are not all written yet; the next digest has it)."""
        row = self.conn.execute(
            """SELECT coalesce((SELECT min(id) - 1 FROM runs WHERE status = 'running'),
                               (SELECT max(id) FROM runs))"""
        ).fetchone()
        return row[0] if row and row[0] else None

    def run_before(self, moment: str) -> int | None:
        """The last run started before `moment` (a `--since`): a digest from it covers the
        runs from `moment` on. None when every run is later."""
        row = self.conn.execute("SELECT max(id) FROM runs WHERE started_at < ?", (moment,))
        return row.fetchone()[0]

    def contents(self, since_run: int | None, until_run: int | None) -> dict[str, Any]:
        """What happened in the runs after `since_run` up to `until_run`, as rows for
        `digest.build`: the integrity notices first seen (of any stored work), the changes of
        tracked works (not their first values), the works first stored by those runs that are
        not tracked (with each run's command, for `digest.build` to keep those of feeds), the
        runs that did not end ok, and the tracked identifiers and feeds whose last try since
        `since_run` failed."""
        if until_run is None:  # no run at all yet
            return {k: [] for k in _SECTIONS} | {"since_at": None}
        low = -1 if since_run is None else since_run
        notices = [
            n
            for n in self.integrity.since(since_run)
            if n["first_seen_run"] is None or n["first_seen_run"] <= until_run
        ]
        since_at = self._end_of(since_run)
        return {
            "since_at": since_at,
            "notices": notices,
            "changes": self._dicts(
                f"""SELECT c.id, c.work_id, c.run_id, c.field, c.old_value, c.new_value,
                           c.source, c.kind, c.changed_at, w.doi, w.repec_handle, w.title
                    FROM changes c JOIN works w ON w.id = c.work_id
                    WHERE c.kind != 'first' AND c.run_id > ? AND c.run_id <= ?
                      AND c.work_id IN ({_TRACKED})
                    ORDER BY c.work_id, c.id""",
                (low, until_run),
            ),
            "new_works": self._dicts(
                f"""SELECT c.work_id, min(c.run_id) AS run_id, r.command,
                           group_concat(DISTINCT c.source) AS sources,
                           w.doi, w.repec_handle, w.title, w.container_title, w.year
                    FROM changes c JOIN runs r ON r.id = c.run_id
                    JOIN works w ON w.id = c.work_id
                    WHERE c.kind = 'first' AND c.run_id > ? AND c.run_id <= ?
                      AND c.work_id NOT IN ({_TRACKED})
                    GROUP BY c.work_id, r.command
                    ORDER BY c.work_id""",
                (low, until_run),
            ),
            "failed_runs": self._failed_runs(low, until_run),
            "failing": self._dicts(
                """SELECT d.scheme, d.key, l.value, d.source, d.last_status, d.streak,
                          d.last_tried_at, d.last_error, d.next_due_at,
                          (SELECT work_id FROM identifiers i
                            WHERE i.scheme = d.scheme AND i.key = d.key) AS work_id
                   FROM watch_due d JOIN watchlist l USING (scheme, key)
                   WHERE d.last_status IN ('failed', 'not_found')
                     AND (? IS NULL OR d.last_tried_at > ?)
                   ORDER BY d.last_status, d.streak DESC, l.value, d.source""",
                (since_at, since_at),
            ),
            "failed_feeds": self._dicts(
                """SELECT feed, kind, endpoint, watermark, completed_at, tried_at, error
                   FROM feeds WHERE error IS NOT NULL AND (? IS NULL OR tried_at > ?)
                   ORDER BY feed""",
                (since_at, since_at),
            ),
        }

    def record(
        self,
        *,
        status: str,
        since_run: int | None,
        until_run: int | None,
        counts: Mapping[str, int],
        recipients: Iterable[str] = (),
        error: str | None = None,
    ) -> int:
        """Keep how a digest ended; a delivered one moves the point (`point_of`)."""
        if status not in DIGEST_STATUSES:
            raise ValueError(f"digest status {status!r}")
        with self.transaction() as conn:
            cur = conn.execute(
                """INSERT INTO digests (created_at, status, since_run, until_run, recipients,
                                        notices, changes, new_works, failures, error)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    self.now(),
                    status,
                    since_run,
                    until_run,
                    ", ".join(recipients) or None,
                    counts.get("notices", 0),
                    counts.get("changes", 0),
                    counts.get("new_works", 0),
                    counts.get("failures", 0),
                    error,
                ),
            )
        return int(cur.lastrowid)

    def history(self) -> list[dict[str, Any]]:
        """Every digest kept, the newest first."""
        return self._dicts("SELECT * FROM digests ORDER BY id DESC")

    def _end_of(self, run_id: int | None) -> str | None:
        """When run `run_id` ended (or began, if it never said): tries after it are new."""
        if run_id is None:
            return None
        row = self.conn.execute(
            "SELECT coalesce(finished_at, started_at) FROM runs WHERE id = ?", (run_id,)
        ).fetchone()
        return row[0] if row else None

    def _failed_runs(self, low: int, until_run: int) -> list[dict[str, Any]]:
        runs = self._dicts(
            """SELECT id, command, started_at, finished_at, status, requested, failed,
                      not_found, paused
               FROM runs WHERE id > ? AND id <= ? AND status NOT IN ('ok', 'running')
               ORDER BY id""",
            (low, until_run),
        )
        for run in runs:
            kinds = self.conn.execute(
                "SELECT kind, count FROM run_failures WHERE run_id = ? ORDER BY kind",
                (run["id"],),
            )
            run["failures"] = dict(kinds.fetchall())
        return runs

    def _dicts(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
        cursor = self.conn.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


_SECTIONS = ("notices", "changes", "new_works", "failed_runs", "failing", "failed_feeds")
