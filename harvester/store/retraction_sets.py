"""The versions of the Retraction Watch data set that were loaded (`retraction_sets`, migration
0019): what tells a changed file from the same one read again, and when it is due."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from harvester.store.base import Part


@dataclass(frozen=True, slots=True)
class DataSetVersion:
    """One version of the data set as a load read it: where from, its fingerprint (sha256 and
    size; the ETag and Last-Modified an http server sent), and what the load made of it."""

    origin: str
    sha256: str
    bytes: int
    etag: str | None = None
    last_modified: str | None = None
    rows_read: int = 0
    rows_broken: int = 0
    rows_without_doi: int = 0
    works: int = 0
    notices_new: int = 0


class RetractionSets(Part):
    """The `retraction_sets` table. Writes happen inside the caller's transaction."""

    def latest(self) -> dict[str, Any] | None:
        """The version loaded last (its row), or None when none was ever loaded whole."""
        cursor = self.conn.execute("SELECT * FROM retraction_sets ORDER BY id DESC LIMIT 1")
        row = cursor.fetchone()
        if row is None:
            return None
        return dict(zip([d[0] for d in cursor.description], row, strict=True))

    def loaded(self, version: DataSetVersion, run_id: int, now: str) -> int:
        """A load read this version whole: keep it (in the transaction of its last batch, so
        that it is on record only if every notice of it is). Returns its id."""
        cursor = self.conn.execute(
            """INSERT INTO retraction_sets
                 (origin, sha256, bytes, etag, last_modified, rows_read, rows_broken,
                  rows_without_doi, works, notices_new, run_id, loaded_at, checked_at)
               VALUES (:origin, :sha256, :bytes, :etag, :last_modified, :rows_read,
                       :rows_broken, :rows_without_doi, :works, :notices_new, :run_id, :now,
                       :now)""",
            {**asdict(version), "run_id": run_id, "now": now},
        )
        return int(cursor.lastrowid)

    def checked(self, set_id: int, now: str) -> None:
        """The same version was found again (an unchanged file, a 304): it is as fresh as now."""
        with self.transaction() as conn:
            conn.execute("UPDATE retraction_sets SET checked_at = ? WHERE id = ?", (now, set_id))
