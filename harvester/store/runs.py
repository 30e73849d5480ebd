"""Runs: one row per harvest command, its counts and its failures by kind."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from harvester.models import Outcome, RunCounts
from harvester.store.base import Part


class Runs(Part):
    """The `runs` and `run_failures` tables: what each command did, as committed."""

    def start(self, command: str) -> int:
        """A new run, `running` until `finish`: its id is what its batches are counted under."""
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO runs (started_at, command, status) VALUES (?, ?, 'running')",
                (self.now(), command),
            )
        return int(cur.lastrowid)

    def finish(self, run_id: int, status: str, paused: Sequence[str] = ()) -> None:
        """The run's end, how it ended (completed, failed, interrupted) and the sources it
        paused for failing too often (`paused`, comma-separated; NULL when none)."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE runs SET finished_at = ?, status = ?, paused = ? WHERE id = ?",
                (self.now(), status, ",".join(paused) or None, run_id),
            )

    def get(self, run_id: int) -> dict[str, Any]:
        """The run's `runs` row."""
        return dict(self.db["runs"].get(run_id))

    def counts(self, run_id: int) -> RunCounts:
        """The counts of a run as committed: the one truth, whatever happened in memory."""
        row = self.get(run_id)
        return RunCounts(**{k: row[k] for k in vars(RunCounts())})

    def failures(self, run_id: int) -> dict[str, int]:
        """How many identifiers of a run failed, by kind (errors.FAILURE_KINDS)."""
        rows = self.conn.execute(
            "SELECT kind, count FROM run_failures WHERE run_id = ? ORDER BY kind", (run_id,)
        )
        return dict(rows.fetchall())

    def recover_stale(self) -> int:
        """Runs still `running` though no writer is alive (the caller holds the writer lock): a
        process killed with `kill -9` never wrote its end. They become `interrupted`."""
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE runs SET status = 'interrupted', finished_at = ? WHERE status = 'running'",
                (self.now(),),
            )
        return cur.rowcount

    def add_outcomes(self, run_id: int, outcomes: Sequence[Outcome]) -> None:
        """Add a batch's outcomes to the run's counts and failures, inside the caller's
        transaction (`Store.write_batch`), so that the counts are those of what was stored."""
        counts = RunCounts()
        for outcome in outcomes:
            counts.add(outcome)
        self.conn.execute(
            """UPDATE runs SET requested = requested + ?, created = created + ?,
               changed = changed + ?, unchanged = unchanged + ?,
               not_found = not_found + ?, failed = failed + ? WHERE id = ?""",
            (
                counts.requested,
                counts.created,
                counts.changed,
                counts.unchanged,
                counts.not_found,
                counts.failed,
                run_id,
            ),
        )
        kinds = Counter(o.error_kind for o in outcomes if o.status == "failed")
        self.conn.executemany(
            """INSERT INTO run_failures (run_id, kind, count) VALUES (?, ?, ?)
               ON CONFLICT (run_id, kind) DO UPDATE SET count = count + excluded.count""",
            [(run_id, kind or "other", n) for kind, n in kinds.items()],
        )
