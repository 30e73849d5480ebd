"""Integrity notices: retractions, corrections, expressions of concern and new versions said of
a work, by whom and since which run (`integrity_notices`, migration 0018)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from harvester.models import NOTICE_KINDS, Notice
from harvester.store.base import Part

_UPSERT = """INSERT INTO integrity_notices
               (work_id, kind, asserted_by, source, notice_doi, record_id, notice_date, detail,
                first_seen_run, first_seen_at, last_seen_run, last_seen_at)
             VALUES (:work_id, :kind, :asserted_by, :source, :notice_doi, :record_id, :date,
                     :detail, :run_id, :now, :run_id, :now)
             ON CONFLICT (work_id, kind, asserted_by, coalesce(notice_doi, ''),
                          coalesce(record_id, ''))
             DO UPDATE SET last_seen_run = excluded.last_seen_run,
                           last_seen_at = excluded.last_seen_at,
                           notice_date = coalesce(excluded.notice_date, notice_date),
                           detail = coalesce(excluded.detail, detail)"""


def _order(table: str = "") -> str:
    """Worst first, then the newest notice: the order `harvest show` and the digest list them in."""
    t = f"{table}." if table else ""
    ranks = " ".join(f"WHEN '{k}' THEN {i}" for i, k in enumerate(NOTICE_KINDS))
    return f"CASE {t}kind {ranks} ELSE {len(NOTICE_KINDS)} END, coalesce({t}notice_date, '') DESC, {t}id"


class Integrity(Part):
    """The `integrity_notices` table. Writes happen inside the caller's transaction."""

    def record(self, work_id: int, notices: Iterable[Notice], run_id: int | None, now: str) -> int:
        """Keep what these notices say of the work; a notice already kept is seen again (its
        `last_seen_*` moves), never duplicated. Returns how many were new."""
        rows = [
            {
                "work_id": work_id,
                "kind": n.kind,
                "asserted_by": n.asserted_by,
                "source": n.source,
                "notice_doi": n.notice_doi,
                "record_id": n.record_id,
                "date": n.date,
                "detail": n.detail,
                "run_id": run_id,
                "now": now,
            }
            for n in notices
        ]
        if not rows:
            return 0
        new = 0
        for row in rows:
            exists = self.conn.execute(
                """SELECT 1 FROM integrity_notices WHERE work_id = :work_id AND kind = :kind
                     AND asserted_by = :asserted_by
                     AND coalesce(notice_doi, '') = coalesce(:notice_doi, '')
                     AND coalesce(record_id, '') = coalesce(:record_id, '')""",
                row,
            ).fetchone()
            new += exists is None
            self.conn.execute(_UPSERT, row)
        return new

    def seen_again(self, work_ids: Sequence[int], run_id: int | None, now: str) -> None:
        """The notices of these works stand as of this run: their sources answered unchanged."""
        if work_ids:
            self.conn.execute(
                """UPDATE integrity_notices SET last_seen_run = ?, last_seen_at = ?
                    WHERE work_id IN (SELECT value FROM json_each(?))""",
                (run_id, now, json.dumps(list(work_ids))),
            )

    def for_work(self, work_id: int) -> list[dict[str, Any]]:
        """A work's notices, worst first."""
        cursor = self.conn.execute(
            f"SELECT * FROM integrity_notices WHERE work_id = ? ORDER BY {_order()}", (work_id,)
        )
        return _dicts(cursor)

    def since(self, run_id: int | None) -> list[dict[str, Any]]:
        """The notices first seen after run `run_id` (all with None), worst first, each with its
        work's DOI, handle and title: what a digest reports as new."""
        cursor = self.conn.execute(
            f"""SELECT n.*, w.doi, w.repec_handle, w.title FROM integrity_notices n
                  JOIN works w ON w.id = n.work_id
                 WHERE ? IS NULL OR n.first_seen_run > ?
                 ORDER BY {_order("n")}""",
            (run_id, run_id),
        )
        return _dicts(cursor)

    def by_work(self) -> dict[int, list[dict[str, Any]]]:
        """Every work's notices, worst first, by work id: what an export notes, in one query
        (the table holds a few rows per retracted or corrected work, not one per work)."""
        cursor = self.conn.execute(f"SELECT * FROM integrity_notices ORDER BY work_id, {_order()}")
        found: dict[int, list[dict[str, Any]]] = {}
        for row in _dicts(cursor):
            found.setdefault(row["work_id"], []).append(row)
        return found


def _dicts(cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
