"""A person's review of integrity notices (`notice_reviews`, migration 0023): the review
console's queue of notices holds those nobody has reviewed yet. A review never changes the
notice: what a source asserted stays on record, in exports and digests alike."""

from __future__ import annotations

from typing import Any

from harvester.errors import HarvesterError
from harvester.store.base import Part

#: What a person can make of a notice: seen, it stands; or disputed.
DECISIONS = ("acknowledged", "disputed")

#: A notice and its review are the same notice when these agree ('' for no DOI or record id).
_SAME = """r.work_id = n.work_id AND r.kind = n.kind AND r.asserted_by = n.asserted_by
           AND r.notice_doi = coalesce(n.notice_doi, '') AND r.record_id = coalesce(n.record_id, '')"""


class NoticeRefused(HarvesterError):
    """A review the records rule out: no such notice. Nothing is written."""


class NoticeReviews(Part):
    """The `notice_reviews` table."""

    def review(
        self, notice_id: int, decision: str, reason: str | None, run_id: int
    ) -> dict[str, Any]:
        """Record a person's decision on a notice (a later one replaces it), in one transaction;
        NoticeRefused when no such notice is on record. Returns the notice with its review."""
        if decision not in DECISIONS:
            raise ValueError(f"review: {decision!r} is not one of {', '.join(DECISIONS)}")
        with self.transaction() as conn:
            notice = self._notice(notice_id)
            if notice is None:
                raise NoticeRefused(f"no such notice: {notice_id}; nothing was written")
            conn.execute(
                """INSERT INTO notice_reviews (work_id, kind, asserted_by, notice_doi, record_id,
                                               decision, reason, run_id, reviewed_at)
                   SELECT work_id, kind, asserted_by, coalesce(notice_doi, ''),
                          coalesce(record_id, ''), ?, ?, ?, ?
                     FROM integrity_notices WHERE id = ?
                   ON CONFLICT (work_id, kind, asserted_by, notice_doi, record_id)
                   DO UPDATE SET decision = excluded.decision,
                     reason = excluded.reason, run_id = excluded.run_id,
                     reviewed_at = excluded.reviewed_at""",
                (decision, reason, run_id, self.now(), notice_id),
            )
            return {**notice, **self.of(notice_id)}

    def of(self, notice_id: int) -> dict[str, Any]:
        """The review of a notice: decision, reason, run_id, reviewed_at (each None unreviewed)."""
        row = self.conn.execute(
            f"""SELECT r.decision, r.reason, r.run_id, r.reviewed_at
                  FROM integrity_notices n LEFT JOIN notice_reviews r ON {_SAME}
                 WHERE n.id = ?""",
            (notice_id,),
        ).fetchone()
        names = ("decision", "reason", "run_id", "reviewed_at")
        return dict(zip(names, row or (None,) * 4, strict=True))

    def unreviewed_sql(self) -> str:
        """A condition on `integrity_notices n`: nobody has reviewed the notice yet."""
        return f"NOT EXISTS (SELECT 1 FROM notice_reviews r WHERE {_SAME})"

    def _notice(self, notice_id: int) -> dict[str, Any] | None:
        cursor = self.conn.execute("SELECT * FROM integrity_notices WHERE id = ?", (notice_id,))
        row = cursor.fetchone()
        return dict(zip([d[0] for d in cursor.description], row, strict=True)) if row else None
