"""Feeds: where each feed (an OAI-PMH set, a Crossref query, a RePEc series) stands, so that a
harvest asks only for what is new since the last one that completed, and an interrupted one
resumes where it stopped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harvester.merge import to_json
from harvester.store.base import Part


class Feeds(Part):
    """The `feeds` table: one row per feed, written by the three ways a harvest of it ends."""

    def get(self, feed: str) -> dict[str, Any] | None:
        """Where a feed stands (its `feeds` row), or None when it was never harvested."""
        row = self.conn.execute("SELECT * FROM feeds WHERE feed = ?", (feed,)).fetchone()
        if row is None:
            return None
        names = [d[0] for d in self.conn.execute("SELECT * FROM feeds LIMIT 0").description]
        return dict(zip(names, row, strict=True))

    def completed(
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
        values = {
            "watermark": watermark,
            "completed_at": now,
            "completed_run_id": run_id,
            "records": records,
            "tried_at": now,
            "error": None,
            "cursor": None,
        }
        # The params too: they are what the watermark was reached with.
        self._upsert_feed(feed, kind, endpoint, params, values, update=("params", *values))

    def progress(
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
        values = {"tried_at": self.now(), "cursor": cursor}
        self._upsert_feed(feed, kind, endpoint, params, values, update=("cursor", "tried_at"))

    def failed(
        self, feed: str, *, kind: str, endpoint: str, params: Mapping[str, Any], error: str
    ) -> None:
        """A harvest of the feed did not complete: say why, and leave its watermark where it was."""
        values = {"tried_at": self.now(), "error": error}
        self._upsert_feed(feed, kind, endpoint, params, values, update=("tried_at", "error"))

    def _upsert_feed(
        self,
        feed: str,
        kind: str,
        endpoint: str,
        params: Mapping[str, Any],
        values: Mapping[str, Any],
        *,
        update: Sequence[str],
    ) -> None:
        """Insert the feed's row with `values`, or set the `update` columns of the row it has:
        what a feed is (kind, endpoint) never changes, and each ending moves only its columns."""
        row = {"feed": feed, "kind": kind, "endpoint": endpoint, "params": to_json(dict(params))}
        row.update(values)
        columns = ", ".join(row)
        marks = ", ".join("?" * len(row))
        assignments = ", ".join(f"{column} = excluded.{column}" for column in update)
        with self.transaction() as conn:
            conn.execute(
                f"""INSERT INTO feeds ({columns}) VALUES ({marks})
                    ON CONFLICT (feed) DO UPDATE SET {assignments}""",
                list(row.values()),
            )
