"""Matching (`harvest match`): works without a DOI, the candidates kept for them, and the links
made."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harvester.errors import StoreError
from harvester.identifiers import ascii_key
from harvester.models import MatchCandidate, MatchLink
from harvester.store.base import Part, chunks
from harvester.store.works import Works


@dataclass(eq=False)
class Matches(Part):
    """The `match_candidates` table; a link also writes the work's identifier and history, so
    this part asks `works` who owns a DOI already."""

    works: Works

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

    def candidates(self, work_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
        """The candidates kept for each of these works, whatever their decision, best first."""
        found: dict[int, list[dict[str, Any]]] = {}
        for chunk in chunks(list(work_ids), 500):
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

    def pending(self, work_ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
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

    def keep(
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
                owner = self.works.find_work_id("doi", key)
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

    def reject(self, work_id: int, doi: str) -> bool:
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
