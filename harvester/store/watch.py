"""The watch list: the identifiers `harvest run` keeps fresh, and when each is due where."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

from harvester import sources
from harvester.due import DuePolicy, DueState, format_time, next_due, parse_time
from harvester.models import DueItem, Tried
from harvester.store.base import Part


def watch_rows(
    conn: sqlite3.Connection, identifiers: Iterable[tuple[str, str, str]], now: str
) -> int:
    """`Watch.track` inside the caller's transaction (a claim accepted with its work watched in
    the same commit). Returns how many were new."""
    new = 0
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
            [(scheme, key, source, now) for source in sources.due_slots()[scheme]],
        )
    return new


class Watch(Part):
    """The `watchlist` and `watch_due` tables, and the temporary `due_now` of a run."""

    def track(self, identifiers: Iterable[tuple[str, str, str]]) -> int:
        """Watch (scheme, key, value) identifiers; new ones are due at once at each of their
        sources. Returns how many were new."""
        with self.transaction() as conn:
            return watch_rows(conn, identifiers, self.now())

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

    def forget_work(self, work_id: int) -> int:
        """Stop watching every identifier of a work (inside the caller's transaction: a
        deletion); returns how many were watched."""
        names = "SELECT scheme, key FROM identifiers WHERE work_id = ?"
        self.conn.execute(f"DELETE FROM watch_due WHERE (scheme, key) IN ({names})", (work_id,))
        cur = self.conn.execute(
            f"DELETE FROM watchlist WHERE (scheme, key) IN ({names})", (work_id,)
        )
        return cur.rowcount

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

    def due_items(
        self, now: str, limit: int | None = None, *, retry_failed: bool = False
    ) -> list[DueItem]:
        """Watched identifiers due at `now` at one source or more, the longest due first."""
        self.freeze_due(now, limit, retry_failed=retry_failed)
        return [*self.iter_due("doi"), *self.iter_due("repec")]

    def backing_off(self, now: str) -> tuple[int, str | None]:
        """How many watched identifiers wait out a back-off after failing at some source (not
        due at it before a later time), and the earliest of those times: what a run skips
        unless `retry_failed`."""
        count, earliest = self.conn.execute(
            """SELECT count(DISTINCT scheme || ' ' || key), min(next_due_at) FROM watch_due
               JOIN watchlist USING (scheme, key)
               WHERE last_status = 'failed' AND next_due_at > ?""",
            (now,),
        ).fetchone()
        return int(count), earliest

    def freeze_due(self, now: str, limit: int | None = None, *, retry_failed: bool = False) -> int:
        """Keep what is due at `now` (at most `limit`, the longest due first) in the temporary
        table `due_now` for `iter_due`, and say how many. A run works through this snapshot
        rather than asking again, so an identifier whose try moved only some of its due times
        is not met twice, and a nightly of any size is not held in memory. With `retry_failed`,
        what failed is due now too, whatever its back-off says."""
        self.conn.execute("DROP TABLE IF EXISTS temp.due_now")
        self.conn.execute(
            """CREATE TEMP TABLE due_now AS
               SELECT w.scheme, w.key, w.value, group_concat(d.source) AS sources,
                      min(d.next_due_at) AS due
               FROM watchlist w JOIN watch_due d USING (scheme, key)
               WHERE d.next_due_at <= ? OR (? AND d.last_status = 'failed')
               GROUP BY w.scheme, w.key
               ORDER BY due, w.scheme, w.key
               LIMIT ?""",
            (now, retry_failed, -1 if limit is None else limit),
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
            for _, _, key, value, slots, due in rows:
                yield DueItem(scheme, key, value, tuple(sorted(slots.split(","))), due)
            last = rows[-1][0]

    def record_tries(self, tries: Iterable[Tried], policy: DuePolicy, now: str) -> None:
        """Move the due time of each tracked identifier's source by how its try ended; an
        identifier that is not tracked has no due time to move. The due times of the whole
        batch are read in one query and written in one `executemany`; a source tried twice
        in the batch moves from where its first try left it, as one by one."""
        tries = list(tries)
        if not tries:
            return
        asked = sorted({(t.scheme, t.key, t.source) for t in tries})
        rows = self.conn.execute(_DUE_OF_TRIPLES, (json.dumps(asked),))
        states = {
            (scheme, key, source): (due, status, streak)
            for scheme, key, source, due, status, streak in rows
        }
        moment = parse_time(now)
        moved = []
        for tried in tries:
            slot = (tried.scheme, tried.key, tried.source)
            row = states.get(slot)
            if row is None:
                continue
            previous = DueState(parse_time(row[0]), row[1], row[2] or 0)
            state = next_due(tried.status, tried.answered_by, previous, moment, policy)
            due = format_time(state.next_due_at)
            states[slot] = (due, state.last_status, state.streak)
            moved.append((due, state.last_status, state.streak, now, tried.error, *slot))
        self.conn.executemany(
            """UPDATE watch_due SET next_due_at = ?, last_status = ?, streak = ?,
                 last_tried_at = ?, last_error = ?
               WHERE scheme = ? AND key = ? AND source = ?""",
            moved,
        )


#: The due state of each [scheme, key, source] of the JSON array bound to it, in one query.
_DUE_OF_TRIPLES = """SELECT d.scheme, d.key, d.source, d.next_due_at, d.last_status, d.streak
                     FROM json_each(?) AS k
                     JOIN watch_due d ON d.scheme = json_extract(k.value, '$[0]')
                                     AND d.key = json_extract(k.value, '$[1]')
                                     AND d.source = json_extract(k.value, '$[2]')"""
