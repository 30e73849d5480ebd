"""Linked DOIs: the DOIs that RePEc and OAI records carry, due at their agency until it has
answered, so that no failed or killed lookup loses one behind a record seen unchanged."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from harvester.due import DuePolicy, DueState, format_time, next_due, parse_time
from harvester.models import Failed, Merged, NotFound, Observation, Unchanged
from harvester.store.agencies import AGENCY_SOURCES
from harvester.store.base import Part, chunks

#: The agency sources as named parameters of `_MARK`.
_AGENCY_PARAMS = {f"agency{i}": name for i, name in enumerate(AGENCY_SOURCES)}
_AGENCIES = ", ".join(f":{name}" for name in _AGENCY_PARAMS)

#: Due unless its agency has answered already (found or not found); the value as the work's
#: identifiers spell it.
_MARK = f"""INSERT INTO linked_dois
              (key, value, carried_by_scheme, carried_by, since, next_due_at)
            SELECT :key, coalesce(
                     (SELECT value FROM identifiers WHERE scheme = 'doi' AND key = :key), :key),
                   :scheme, :carrier, :now, :now
            WHERE NOT EXISTS (SELECT 1 FROM source_records
                              WHERE identifier = :key AND source IN ({_AGENCIES}))
            ON CONFLICT (key) DO NOTHING"""


class LinkedDois(Part):
    """The `linked_dois` table, written inside `Store.write_batch`'s transaction."""

    def mark_due(self, observations: Iterable[Observation], now: str) -> None:
        """The DOIs these just written records carry, due now unless their agency answered."""
        self.conn.executemany(
            _MARK,
            [
                {"key": key, "scheme": obs.scheme, "carrier": obs.key, "now": now, **_AGENCY_PARAMS}
                for obs in observations
                if isinstance(obs, Merged | Unchanged)
                for scheme, key in obs.links
                if scheme == "doi"
            ],
        )

    def settle(
        self, observations: Iterable[Observation], run_id: int, policy: DuePolicy, now: str
    ) -> None:
        """What this run's lookups of DOIs say: answered by the agency (found or not), no longer
        due; failed at the agency, due again after the failure back-off of `[watch]`. A DOI left
        unasked (its agency paused) stays due as it was. The answered ones go in one
        statement per run of them between failures (kept in order, as one by one)."""
        settled: list[tuple[str]] = []
        for obs in observations:
            if obs.scheme != "doi" or not obs.key:
                continue
            answered = isinstance(obs, NotFound) or (
                isinstance(obs, Merged | Unchanged)
                and any(a.source in AGENCY_SOURCES for a in obs.answers)
            )
            if answered:
                settled.extend((k,) for k in (obs.key, *getattr(obs, "aliases", ())))
            elif isinstance(obs, Failed) and obs.source in AGENCY_SOURCES:
                self._forget(settled)
                settled = []
                self._failed(obs, run_id, policy, now)
        self._forget(settled)

    def _forget(self, keys: list[tuple[str]]) -> None:
        if keys:
            self.conn.executemany("DELETE FROM linked_dois WHERE key = ?", keys)

    def _failed(self, obs: Failed, run_id: int, policy: DuePolicy, now: str) -> None:
        row = self.conn.execute(
            "SELECT next_due_at, last_status, streak FROM linked_dois WHERE key = ?", (obs.key,)
        ).fetchone()
        if row is None:
            return
        previous = DueState(parse_time(row[0]), row[1], row[2] or 0)
        state = next_due("failed", obs.source, previous, parse_time(now), policy)
        self.conn.execute(
            """UPDATE linked_dois SET next_due_at = ?, last_status = ?, streak = ?,
                 last_tried_at = ?, last_error = ?, tried_run_id = ?
               WHERE key = ?""",
            (
                format_time(state.next_due_at),
                state.last_status,
                state.streak,
                now,
                obs.error,
                run_id,
                obs.key,
            ),
        )

    def pending(self, keys: Sequence[str], run_id: int) -> dict[str, str]:
        """Those of `keys` still due at their agency and not asked yet in run `run_id`, with
        their values."""
        found: dict[str, str] = {}
        for chunk in chunks(list(keys), 500):
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"""SELECT key, value FROM linked_dois
                    WHERE key IN ({marks}) AND tried_run_id IS NOT ?""",
                (*chunk, run_id),
            )
            found.update(rows.fetchall())
        return found

    def due(self, run_id: int, by: str | None = None) -> list[tuple[str, str]]:
        """(key, value) of the linked DOIs not yet asked in run `run_id`: those due at `by`
        (a nightly keeps to the failure back-off), or all of them (`by` None: a user asked for
        a harvest now); the longest due first."""
        rows = self.conn.execute(
            """SELECT key, value FROM linked_dois
               WHERE tried_run_id IS NOT ? AND (? IS NULL OR next_due_at <= ?)
               ORDER BY next_due_at, key""",
            (run_id, by, by),
        )
        return [(key, value) for key, value in rows]

    def forget_work(self, work_id: int) -> None:
        """No DOI of a deleted work is due any more (inside the caller's transaction)."""
        self.conn.execute(
            """DELETE FROM linked_dois WHERE key IN (
                 SELECT key FROM identifiers WHERE work_id = ? AND scheme = 'doi')""",
            (work_id,),
        )
