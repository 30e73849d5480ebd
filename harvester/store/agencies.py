"""Registration agencies: which agency speaks for each DOI prefix, and which DOIs their agency
said it does not know lately."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from harvester import sources
from harvester.store.base import Part, chunks

#: The sources that speak for a DOI (its registration agencies); OpenAlex only adds to them.
#: The sources whose "not found" means the DOI does not exist (its agency said so).
AGENCY_SOURCES = tuple(sorted(sources.AGENCY_NAMES))


class Agencies(Part):
    """The `agencies` table, and the agencies' not-found answers in `source_records`."""

    def known(self, unknown_since: str | None = None) -> dict[str, str | None]:
        """The registration agency learned for each DOI prefix (one row per prefix: a small
        table). A prefix doi.org did not know (None) counts only if checked at or after
        `unknown_since`, so that a registrant new since then is asked about again."""
        rows = self.conn.execute(
            "SELECT prefix, agency FROM agencies WHERE agency IS NOT NULL OR checked_at >= ?",
            (unknown_since or "",),
        )
        return dict(rows.fetchall())

    def keep(self, learned: Mapping[str, str | None]) -> None:
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

    def recently_not_found(self, keys: Sequence[str], since: str) -> dict[str, str]:
        """Requested DOIs whose agency said "not found" at `since` or later, with when it last
        said so: these are not asked again until the recheck period is over."""
        found: dict[str, str] = {}
        agencies = ",".join("?" * len(AGENCY_SOURCES))
        for chunk in chunks(list(keys), 500):
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
