"""Feeds: where each feed (an OAI-PMH set, a Crossref query, a RePEc series) stands, so that a
harvest asks only for what is new since the last one that completed, and an interrupted one
resumes where it stopped."""

from __future__ import annotations

from collections.abc import Mapping
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
        now = self.now()
        with self.transaction() as conn:
            conn.execute(
                """INSERT INTO feeds (feed, kind, endpoint, params, tried_at, cursor)
                   VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT (feed) DO UPDATE SET cursor = excluded.cursor,
                     tried_at = excluded.tried_at""",
                (feed, kind, endpoint, to_json(dict(params)), now, cursor),
            )

    def failed(
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
