"""Works and what hangs off them: identifiers, authors, source records, local values, conflicts
and history. The reads the pipeline merges from, and the write of one observation (`write`),
which `Store.write_batch` calls inside its transaction."""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from harvester.identifiers import ascii_key
from harvester.merge import (
    INT_FIELDS,
    WORK_FIELDS,
    Conflict,
    Contribution,
    FieldChange,
    Value,
    WorkValues,
    author_row,
    authors_from_rows,
    comparable,
    diff,
    rows_json,
    to_json,
)
from harvester.models import (
    Answer,
    Failed,
    LocalEdit,
    Merged,
    NotFound,
    Observation,
    Outcome,
    Rekeyed,
    Snapshot,
    StoredAnswer,
    Unchanged,
)
from harvester.store.base import Part, chunks
from harvester.store.payloads import Payloads, attach

#: What `_LATEST_ANSWERS` reads of the payload: its four columns (`Payloads.decode`), or none.
#: How often `write_many` reports its progress: rarely enough to cost nothing, often enough
#: for a bar to move.
PROGRESS_EVERY = 100

_PAYLOAD_COLUMNS = "payload, payload_z, payload_dict, payload_base"
_NO_PAYLOAD = "NULL, NULL, NULL, NULL"

#: The latest answer of every source about each work in `{ids}` (`{payload}`: the payload
#: columns, or NULLs when only the hashes are wanted).
_LATEST_ANSWERS = """SELECT work_id, source, identifier, status, payload_hash, {payload}
                    FROM (SELECT *, row_number() OVER (
                            PARTITION BY work_id, source ORDER BY last_seen_at DESC, id DESC) AS n
                          FROM source_records WHERE work_id IN ({ids}))
                    WHERE n = 1"""

#: The user's own values of each work in `{ids}`.
_LOCAL_VALUES = "SELECT work_id, field, value, origin FROM local_fields WHERE work_id IN ({ids})"

#: The work of each [scheme, key] pair in the JSON array bound to it, in one query.
_WORK_IDS_OF_PAIRS = """SELECT i.scheme, i.key, i.work_id
                        FROM json_each(?) AS k
                        JOIN identifiers i ON i.scheme = json_extract(k.value, '$[0]')
                                          AND i.key = json_extract(k.value, '$[1]')"""

#: The work ids of the JSON array bound to it, for `IN ({ids})`.
_JSON_IDS = "SELECT value FROM json_each(?)"

#: A key that names a work from now on (moved to it from any work it named before).
_LINK_IDENTIFIER = """INSERT INTO identifiers (scheme, key, value, work_id) VALUES (?, ?, ?, ?)
                      ON CONFLICT (scheme, key) DO UPDATE SET work_id = excluded.work_id"""

#: An answer kept: a new row, or (the same payload seen again) its last_seen_at moved.
_KEEP_ANSWER = """INSERT INTO source_records
                    (source, identifier, work_id, status, fetched_at, last_seen_at, payload_z,
                     payload_dict, payload_base, payload_hash)
                  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                  ON CONFLICT (source, identifier, payload_hash) DO UPDATE SET
                    last_seen_at = excluded.last_seen_at,
                    work_id = coalesce(excluded.work_id, work_id)"""

#: One history row.
_CHANGE = """INSERT INTO changes
               (work_id, run_id, field, old_value, new_value, source, changed_at, kind)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)"""

#: One conflict of a work as it is now.
_CONFLICT = """INSERT OR REPLACE INTO conflicts (work_id, field, source, value, run_id, seen_at)
               VALUES (?, ?, ?, ?, ?, ?)"""

#: A new work's row (its id the next after the highest).
_INSERT_WORK = (
    f"INSERT INTO works ({', '.join([*WORK_FIELDS, 'provenance', 'version', 'created_at', 'updated_at'])}) "
    f"VALUES ({', '.join('?' * (len(WORK_FIELDS) + 4))})"
)

#: One author of a byline.
_AUTHOR = """INSERT INTO authors
               (work_id, position, given, family, name, orcid, affiliation, repec_id)
             VALUES
               (:work_id, :position, :given, :family, :name, :orcid, :affiliation, :repec_id)"""

#: One value of the user's own.
_LOCAL_VALUE = """INSERT INTO local_fields (work_id, field, value, origin, updated_at)
                  VALUES (?, ?, ?, ?, ?)
                  ON CONFLICT (work_id, field) DO UPDATE SET value = excluded.value,
                    origin = excluded.origin, updated_at = excluded.updated_at"""


class Works(Part):
    """The `works` table and its satellites (identifiers, authors, source_records, local_fields,
    conflicts, changes), read and written together because a work is written as one whole."""

    #: While `write_many` writes a batch: the keys linked to a work so far, and whether a work
    #: was absorbed (what the batch's one read of its keys can no longer answer for).
    _linked: set[tuple[str, str]] | None = None
    _absorbed: bool = False

    @functools.cached_property
    def payloads(self) -> Payloads:
        """How payloads are compressed and read on this connection (`Store` sets its own)."""
        return attach(self.conn)

    # --- reads -----------------------------------------------------------------------------

    def find_work_id(self, scheme: str, key: str) -> int | None:
        """The work a (scheme, key) identifier finds, or None."""
        row = self.conn.execute(
            "SELECT work_id FROM identifiers WHERE scheme = ? AND key = ?", (scheme, key)
        ).fetchone()
        return row[0] if row else None

    def find_work_ids(self, scheme: str, keys: Sequence[str]) -> dict[str, int]:
        """The work each of these keys of one scheme finds (keys that find none are absent)."""
        found: dict[str, int] = {}
        for chunk in chunks(list(keys), 500):
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"SELECT key, work_id FROM identifiers WHERE scheme = ? AND key IN ({marks})",
                (scheme, *chunk),
            )
            found.update(dict(rows.fetchall()))
        return found

    def find_work_by_id(self, work_id: int) -> int | None:
        """`work_id` if such a work is stored (a user names works by id), else None."""
        row = self.conn.execute("SELECT id FROM works WHERE id = ?", (work_id,)).fetchone()
        return row[0] if row else None

    def get(self, work_id: int) -> dict[str, Any] | None:
        """A stored work with its authors and identifiers, or None."""
        cur = self.conn.execute("SELECT * FROM works WHERE id = ?", (work_id,))
        row = cur.fetchone()
        if row is None:
            return None
        work = dict(zip([d[0] for d in cur.description], row, strict=True))
        work["authors"] = self._author_rows(work_id)
        work["identifiers"] = [
            {"scheme": s, "value": v}
            for s, v in self.conn.execute(
                "SELECT scheme, value FROM identifiers WHERE work_id = ? ORDER BY scheme, key",
                (work_id,),
            )
        ]
        work["conflicts"] = [
            {"field": f, "source": s, "value": v}
            for f, s, v in self.conn.execute(
                "SELECT field, source, value FROM conflicts WHERE work_id = ? ORDER BY field, source",
                (work_id,),
            )
        ]
        return work

    def history(self, work_id: int) -> list[dict[str, Any]]:
        """Every change of a work's values, oldest first, as `changes` rows; a first value the
        row does not repeat (`_record_changes`) filled in as it was."""
        cur = self.conn.execute(
            """SELECT id, run_id, changed_at, source, field, old_value, new_value, kind
               FROM changes WHERE work_id = ? ORDER BY id""",
            (work_id,),
        )
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, row, strict=True)) for row in cur]
        if any(r["new_value"] is None and r["kind"] == "first" for r in rows):
            self._fill_first_values(work_id, rows)
        for row in rows:
            del row["kind"]
        return rows

    def _fill_first_values(self, work_id: int, rows: list[dict[str, Any]]) -> None:
        """A first value left out of its row is the value before the field's next change, or,
        when it never changed, the work's value now: every change after it is in the history."""
        current: dict[str, str | None] | None = None
        for i, row in enumerate(rows):
            if row["new_value"] is not None or row["kind"] != "first":
                continue
            later = next(
                (r for r in rows[i + 1 :] if r["field"] == row["field"] and r["kind"] != "merge"),
                None,
            )
            if later is not None:
                row["new_value"] = later["old_value"]
                continue
            if current is None:
                values, _ = self._current_values(work_id)
                current = {name: _text(value) for name, value in values.items()}
            row["new_value"] = current.get(row["field"])

    def _keep_first_values(self, work_id: int) -> None:
        """Write out the first values a work's rows leave out (before its history moves to
        another work, where its values now no longer tell what they were)."""
        rows = self.history(work_id)
        self.conn.executemany(
            "UPDATE changes SET new_value = ? WHERE id = ? AND new_value IS NULL",
            [(r["new_value"], r["id"]) for r in rows if r["new_value"] is not None],
        )

    def listing(
        self,
        *,
        since: str | None = None,
        types: Sequence[str] = (),
        source: str | None = None,
        conflicts: bool = False,
        ids: Sequence[int] = (),
    ) -> Iterator[dict[str, Any]]:
        """One row per stored work for `harvest works`, oldest first: its id, identifiers, type,
        year, title and update time, with how many conflicts it has; updated since `since`, of
        one of `types`, with an answer from `source`, or only those with conflicts."""
        clauses, params = [], []
        if since:
            clauses.append("w.updated_at >= ?")
            params.append(since)
        if types:
            clauses.append(f"w.type IN ({', '.join('?' * len(types))})")
            params.extend(types)
        if source:
            clauses.append(
                "EXISTS (SELECT 1 FROM source_records r WHERE r.work_id = w.id AND r.source = ?)"
            )
            params.append(source)
        if conflicts:
            clauses.append("EXISTS (SELECT 1 FROM conflicts c WHERE c.work_id = w.id)")
        if ids:
            clauses.append(f"w.id IN ({', '.join('?' * len(ids))})")
            params.extend(ids)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        cur = self.conn.execute(
            f"""SELECT w.id, w.doi, w.repec_handle, w.type, w.year, w.title, w.version,
                       w.updated_at,
                       (SELECT count(DISTINCT field) FROM conflicts c WHERE c.work_id = w.id)
                         AS conflicts
                FROM works w {where} ORDER BY w.id""",
            params,
        )
        names = [d[0] for d in cur.description]
        for row in cur:
            yield dict(zip(names, row, strict=True))

    def count(self, *, since: str | None = None, changed: bool = False) -> int:
        """How many works `iter_works` gives with the same filters."""
        where, params = _export_filter(since, changed)
        return self.conn.execute(f"SELECT count(*) FROM works {where}", params).fetchone()[0]

    def listing_row(self, work_id: int) -> dict[str, Any]:
        """The `listing` row of one work."""
        return next(row for row in self.listing(ids=[work_id]))

    def iter_works(self, *, since: str | None = None, changed: bool = False) -> Iterator[dict]:
        """Stored works for export, oldest first: updated at or after `since`, and with `changed`
        only those whose values changed after they were first stored."""
        where, params = _export_filter(since, changed)
        ids = [r[0] for r in self.conn.execute(f"SELECT id FROM works {where} ORDER BY id", params)]
        for work_id in ids:
            work = self.get(work_id)
            if work is not None:
                yield work

    def key_material(self) -> Iterator[dict[str, Any]]:
        """What the citation key of every work is made of (`formats.citation_keys`): title, year,
        date, first author, and the other contributors for a work without authors. Keys made
        over the whole store stay the same whatever an export holds."""
        rows = self.conn.execute(
            """SELECT w.id, w.title, w.year, w.published, w.contributors, a.given, a.family, a.name
                 FROM works w LEFT JOIN authors a ON a.work_id = w.id AND a.position = 1
                ORDER BY w.id"""
        )
        for work_id, title, year, published, contributors, given, family, name in rows:
            first = {"given": given, "family": family, "name": name}
            yield {
                "id": work_id,
                "title": title,
                "year": year,
                "published": published,
                "authors": [first] if given or family or name else [],
                "contributors": contributors,
            }

    def latest_answers(
        self, work_ids: Sequence[int], *, with_payload: bool = False
    ) -> dict[int, dict[str, StoredAnswer]]:
        """The latest answer of every source about each work (payload text only if asked for:
        deciding whether anything changed needs the hashes alone)."""
        found: dict[int, dict[str, StoredAnswer]] = {}
        payload = _PAYLOAD_COLUMNS if with_payload else _NO_PAYLOAD
        for chunk in chunks(list(work_ids), 500):
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(_LATEST_ANSWERS.format(payload=payload, ids=marks), chunk)
            _gather_answers(found, rows, self.payloads)
        return found

    def ids_with_payloads(self, sources: Iterable[str] = ()) -> Iterator[int]:
        """The works that hold a stored payload (of one of `sources`, when named), in id order,
        read lazily a page at a time, so that the caller may write between pages."""
        names = sorted(set(sources))
        where = f"AND source IN ({', '.join('?' * len(names))})" if names else ""
        last = 0
        while True:
            page = [
                row[0]
                for row in self.conn.execute(
                    f"""SELECT DISTINCT work_id FROM source_records
                        WHERE work_id > ? AND status = 'ok' {where}
                        ORDER BY work_id LIMIT 1000""",
                    (last, *names),
                )
            ]
            if not page:
                return
            yield from page
            last = page[-1]

    def local_values(self, work_ids: Sequence[int]) -> dict[int, Contribution]:
        """The user's own values for each work that has any, as a contribution to the merge."""
        found: dict[int, _Held] = {}
        for chunk in chunks(list(work_ids), 500):
            marks = ",".join("?" * len(chunk))
            _gather_local(found, self.conn.execute(_LOCAL_VALUES.format(ids=marks), chunk))
        return _contributions(found)

    def snapshot(self, keys: Iterable[tuple[str, str]]) -> Snapshot:
        """What the store holds about these (scheme, key) identifiers, in three queries whatever
        their number: the works they find, the latest answer of every source about those works
        with its payload, and the works' local values. A chunk of the pipeline reads the store
        once this way instead of once per work; what it reads agrees with `find_work_ids`,
        `latest_answers(with_payload=True)` and `local_values`."""
        pairs = sorted({(scheme, key) for scheme, key in keys})
        rows = self.conn.execute(_WORK_IDS_OF_PAIRS, (json.dumps(pairs),))
        work_ids = {(scheme, key): work_id for scheme, key, work_id in rows}
        ids = json.dumps(sorted(set(work_ids.values())))
        answers: dict[int, dict[str, StoredAnswer]] = {}
        query = _LATEST_ANSWERS.format(payload=_PAYLOAD_COLUMNS, ids=_JSON_IDS)
        _gather_answers(answers, self.conn.execute(query, (ids,)), self.payloads)
        local: dict[int, _Held] = {}
        _gather_local(local, self.conn.execute(_LOCAL_VALUES.format(ids=_JSON_IDS), (ids,)))
        return Snapshot(work_ids=work_ids, answers=answers, local=_contributions(local))

    def _author_rows(self, work_id: int) -> list[dict[str, Any]]:
        cur = self.conn.execute(
            """SELECT given, family, name, orcid, affiliation, repec_id FROM authors
               WHERE work_id = ? ORDER BY position""",
            (work_id,),
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur]

    def _provenance(self, work_id: int) -> dict[str, str]:
        """The stored work's provenance: field -> the source whose value it holds."""
        row = self.conn.execute("SELECT provenance FROM works WHERE id = ?", (work_id,)).fetchone()
        return json.loads(row[0]) if row and row[0] else {}

    def _current_values(self, work_id: int) -> tuple[dict[str, Value], int]:
        columns = ", ".join(WORK_FIELDS)
        row = self.conn.execute(
            f"SELECT {columns}, version FROM works WHERE id = ?", (work_id,)
        ).fetchone()
        values = dict(zip(WORK_FIELDS, row[: len(WORK_FIELDS)], strict=True))
        values["authors"] = rows_json(self._author_rows(work_id))
        return values, row[-1]

    # --- writes ----------------------------------------------------------------------------

    def delete(self, work_id: int, run_id: int, now: str) -> dict[str, Any] | None:
        """Delete a work and everything that hangs off it (inside the caller's transaction),
        keeping it in `deleted_works` as it was, with its history. Returns that record, or None
        when there is no such work."""
        work = self.get(work_id)
        if work is None:
            return None
        record = {"work": work, "history": self.history(work_id)}
        # A payload of another work kept as a delta against one of this work's stays readable.
        self.payloads.materialize(
            row[0]
            for row in self.conn.execute(
                """SELECT d.id FROM source_records d JOIN source_records b ON b.id = d.payload_base
                   WHERE b.work_id = ? AND d.work_id IS NOT ?""",
                (work_id, work_id),
            ).fetchall()
        )
        self.conn.execute(
            """INSERT INTO deleted_works
                 (work_id, doi, repec_handle, title, run_id, deleted_at, record)
               VALUES (?, ?, ?, ?, ?, ?, ?)""",
            (
                work_id,
                work.get("doi"),
                work.get("repec_handle"),
                work.get("title"),
                run_id,
                now,
                json.dumps(record, ensure_ascii=False, sort_keys=True),
            ),
        )
        for table in (
            "integrity_notices",
            "notice_reviews",
            "local_fields",
            "conflicts",
            "authors",
            "identifiers",
            "source_records",
            "changes",
        ):
            self.conn.execute(f"DELETE FROM {table} WHERE work_id = ?", (work_id,))
        self.conn.execute("DELETE FROM works WHERE id = ?", (work_id,))
        return record

    def write_many(
        self,
        run_id: int,
        observations: Sequence[Observation],
        now: str,
        on_written: Callable[[int], None] | None = None,
    ) -> list[Outcome]:
        """Write a batch's observations in order (inside the caller's transaction) and say what
        became of each, as `write` one by one would. The works every key of the batch finds are
        read in one query, and two kinds of observation take a fast path from there:

        - unchanged works: the last-seen times of a run of unchanged answers move in one
          `executemany`, so an unchanged chunk costs a few statements, not a few per work;
        - new works (keys that find no work): a run of them is written a table at a time
          (`_create_works`), one `executemany` per table for the run.

        A work whose keys another write of the batch may have moved (a key it linked, a work it
        absorbed), or whose keys find two works (to be merged), and every change to a stored
        work, is written the one-by-one way, after the runs before it. `on_written(done)`
        follows a big batch (`harvest import`'s whole file) every `PROGRESS_EVERY`
        observations."""
        found = self._works_of_keys(observations)
        self._linked, self._absorbed = set(), False
        outcomes: list[Outcome] = []
        seen: list[tuple[Answer, int | None]] = []
        new = _NewWorks()
        try:
            for done, obs in enumerate(observations):
                if on_written is not None and done % PROGRESS_EVERY == 0:
                    on_written(done)
                work_id = self._unchanged_work(obs, found)
                if work_id is not _SLOW and not new.holds_answer_of(obs):
                    assert isinstance(obs, Unchanged)
                    seen.extend((answer, work_id) for answer in obs.answers)
                    display = obs.display or obs.key
                    outcomes.append(
                        Outcome(display, "unchanged", work_id=work_id, source=obs.source)  # type: ignore[arg-type]
                    )
                    continue
                if self._new_work(obs, found, new):
                    assert isinstance(obs, Merged | LocalEdit)
                    outcomes.append(self._add_new_work(new, obs))
                    continue
                self._create_works(run_id, new, now)
                self._keep_seen(seen, now)
                seen = []
                outcomes.append(self.write(run_id, obs, now))
            self._create_works(run_id, new, now)
            self._keep_seen(seen, now)
        finally:
            self._linked, self._absorbed = None, False
        return outcomes

    def _works_of_keys(self, observations: Sequence[Observation]) -> dict[tuple[str, str], int]:
        """The work each key of the batch's unchanged and not yet stored observations finds
        now, in one query."""
        pairs = {
            pair
            for obs in observations
            if isinstance(obs, Unchanged | Merged | LocalEdit) and obs.work_id is None and obs.key
            for pair in _lookup_pairs(obs)
        }
        if not pairs:
            return {}
        rows = self.conn.execute(_WORK_IDS_OF_PAIRS, (json.dumps(sorted(pairs)),))
        return {(scheme, key): work_id for scheme, key, work_id in rows}

    def _new_work(
        self, obs: Observation, found: Mapping[tuple[str, str], int], new: _NewWorks
    ) -> bool:
        """Whether `obs` is a work `_resolve_work` would find none for, from the batch's one
        read of its keys, and that `_create_works` can write with the run in `new`."""
        if not isinstance(obs, Merged | LocalEdit) or obs.work_id is not None or self._absorbed:
            return False
        if not self.conn.in_transaction:  # the bylines' keys are checked at the commit
            return False
        if getattr(obs, "absorbs", ()) or getattr(obs, "rekeyed", ()):
            return False
        pairs = _lookup_pairs(obs) if obs.key else []
        if any(pair in found for pair in pairs):
            return False
        if self._linked and not self._linked.isdisjoint(pairs):
            return False
        return not new.holds_answer_of(obs)

    def _add_new_work(self, new: _NewWorks, obs: Merged | LocalEdit) -> Outcome:
        """Put `obs` in the run of new works, with the id SQLite will give it (the next after
        the highest: the run is written before any other work of the batch)."""
        if not new.works:
            new.next_id = self.conn.execute(
                "SELECT coalesce(max(id), 0) + 1 FROM works"
            ).fetchone()[0]
        work_id = new.next_id
        new.next_id += 1
        new.works.append((work_id, obs))
        new.answers.update((a.source, a.identifier) for a in getattr(obs, "answers", ()))
        value = obs.identifier_value if isinstance(obs, LocalEdit) else ""
        aliases = obs.aliases if isinstance(obs, Merged) else ()
        assert self._linked is not None
        self._linked.update(_identifier_pairs(obs, value, aliases))
        self._linked.update(_lookup_pairs(obs) if obs.key else [])
        display = obs.display or obs.key
        return Outcome(
            display or f"work {work_id}",
            "created",
            work_id=work_id,
            version=1,
            title=obs.work.values.get("title"),  # type: ignore[arg-type]
            source=obs.source,
        )

    def _create_works(self, run_id: int, new: _NewWorks, now: str) -> None:
        """Write the run of new works in `new` as `_write_work` would write each, a table at a
        time, and empty it. The bylines go in before the works (their foreign keys checked at
        the batch's commit), so that each work's search row is made once, whole, by the works
        insert trigger, instead of once for the work and again for its byline."""
        if not new.works:
            return
        conn, works = self.conn, new.works
        ids = json.dumps([work_id for work_id, _ in works])
        conn.execute("PRAGMA defer_foreign_keys = ON")
        conn.executemany(
            "INSERT OR IGNORE INTO fts_deferred (work_id) VALUES (?)",
            [(work_id,) for work_id, _ in works],
        )
        conn.execute(f"DELETE FROM authors WHERE work_id IN ({_JSON_IDS})", (ids,))
        conn.executemany(
            _AUTHOR, [row for work_id, obs in works for row in _author_rows_of(work_id, obs.work)]
        )
        conn.execute(f"DELETE FROM fts_deferred WHERE work_id IN ({_JSON_IDS})", (ids,))
        for work_id, obs in works:
            if self._insert_work(obs.work, now) != work_id:  # only past 2**63 - 1 works
                raise sqlite3.IntegrityError(f"work {work_id} got another id")
        conn.execute("PRAGMA defer_foreign_keys = OFF")
        local: list[tuple[Any, ...]] = []
        answers: list[tuple[Answer, int]] = []
        links: list[tuple[Any, ...]] = []
        changes: list[tuple[Any, ...]] = []
        conflicts: list[tuple[Any, ...]] = []
        for work_id, obs in works:
            if isinstance(obs, LocalEdit):
                local.extend(
                    (work_id, name, str(value), obs.origin, now)
                    for name, value in obs.local.items()
                    if value is not None  # unsetting a value of a new work: there is none
                )
                pairs = _identifier_pairs(obs, obs.identifier_value)
            else:
                answers.extend((answer, work_id) for answer in obs.answers)
                pairs = _identifier_pairs(obs, aliases=obs.aliases)
            links.extend((scheme, key, value, work_id) for (scheme, key), value in pairs.items())
            first = diff({}, comparable(obs.work))
            changes.extend(_change_rows(work_id, run_id, first, obs, now, first=True))
            if obs.conflicts is not None:
                conflicts.extend(_conflict_rows(work_id, run_id, obs.conflicts, now))
        conn.executemany(_LOCAL_VALUE, local)
        encoded = self.payloads.encode_many(
            [(a.source, a.identifier, a.text()) for a, _ in answers]
        )
        conn.executemany(
            _KEEP_ANSWER,
            [
                (a.source, a.identifier, work_id, a.status, now, now, *z, a.fingerprint)
                for (a, work_id), z in zip(answers, encoded, strict=True)
            ],
        )
        conn.executemany(_LINK_IDENTIFIER, links)
        conn.executemany(_CHANGE, changes)
        conn.executemany(_CONFLICT, conflicts)
        new.works, new.answers = [], set()

    def _unchanged_work(self, obs: Observation, found: Mapping[tuple[str, str], int]) -> object:
        """The work an unchanged observation is about, as `_resolve_work` would find it, from
        the batch's one read of its keys; `_SLOW` for any other observation, and for one that
        needs `_resolve_work` itself (a merge of two works, keys moved by this batch)."""
        if not isinstance(obs, Unchanged):
            return _SLOW
        if obs.work_id is not None:
            return obs.work_id
        if not obs.key:
            return None
        if self._absorbed or (self._linked and not self._linked.isdisjoint(_lookup_pairs(obs))):
            return _SLOW
        prime = next((w for alias in obs.aliases if (w := found.get((obs.scheme, alias)))), None)
        asked = found.get((obs.scheme, obs.key))
        if prime is not None and asked is not None and prime != asked:
            return _SLOW
        work_id = prime or asked
        for pair in obs.links:
            linked = found.get(pair)
            if linked is not None and work_id is not None and linked != work_id:
                return _SLOW
            work_id = work_id or linked
        return work_id

    def _keep_seen(self, seen: Sequence[tuple[Answer, int | None]], now: str) -> None:
        """`_keep_answer` for answers seen before, in one statement: each (source, identifier,
        hash) is one row at most, so if fewer rows moved than answers were given, some answer
        is new after all and every one of them goes the one-by-one way (moving a row twice
        moves it to the same place)."""
        if not seen:
            return
        moved = self.conn.executemany(
            """UPDATE source_records SET last_seen_at = ?, work_id = coalesce(?, work_id)
               WHERE source = ? AND identifier = ? AND payload_hash = ?""",
            [(now, w, a.source, a.identifier, a.fingerprint) for a, w in seen],
        )
        if moved.rowcount != len(seen):
            for answer, work_id in seen:
                self._keep_answer(answer, work_id, now)

    def write(self, run_id: int, obs: Observation, now: str) -> Outcome:
        """Write one observation (inside the caller's transaction: `Store.write_batch`) and say
        what became of it; a failure is only reported, never stored."""
        display = obs.display or obs.key
        match obs:
            case Failed():
                kind = obs.error_kind or "other"
                return Outcome(
                    display, "failed", error=obs.error, source=obs.source, error_kind=kind
                )
            case NotFound():
                work_id = self._resolve_work(obs, run_id, now)
                self._keep_answers(obs.answers, work_id, now)
                return Outcome(
                    display, "not_found", work_id=work_id, error=obs.error, source=obs.source
                )
            case Unchanged():
                work_id = self._resolve_work(
                    obs, run_id, now, work_id=obs.work_id, aliases=obs.aliases, links=obs.links
                )
                self._keep_answers(obs.answers, work_id, now)
                return Outcome(display, "unchanged", work_id=work_id, source=obs.source)
            case Merged() | LocalEdit():
                return self._write_work(run_id, obs, display, now)
        raise TypeError(f"not an observation: {obs!r}")

    def _write_work(self, run_id: int, obs: Merged | LocalEdit, display: str, now: str) -> Outcome:
        """Store the work as merged: a new version when its values changed, with the history of
        each field and the conflicts as they are now."""
        if isinstance(obs, LocalEdit):
            work_id = self._resolve_work(obs, run_id, now, work_id=obs.work_id)
            for orphan in obs.absorbs:
                if work_id is not None:
                    self._absorb(orphan, work_id, run_id, "local", now)
        else:
            work_id = self._resolve_work(
                obs, run_id, now, work_id=obs.work_id, aliases=obs.aliases, links=obs.links
            )
        new = comparable(obs.work)
        gave: dict[str, str] = {}  # who gave each value until now: blamed for taking it away
        if work_id is None:
            work_id = self._insert_work(obs.work, now)
            self._replace_authors(work_id, obs.work)
            changes = diff({}, new)
            status, version = "created", 1
        else:
            old, version = self._current_values(work_id)
            gave = self._provenance(work_id)
            changes = diff(old, new)
            status = "changed" if changes else "unchanged"
            if changes:
                version += 1
                self._update_work(work_id, obs.work, version, changes, now)
            else:
                # Same values, perhaps from another source now (one dropped a field that the
                # next one has): the provenance must say who gives each value today.
                self.conn.execute(
                    "UPDATE works SET provenance = ? WHERE id = ? AND provenance IS NOT ?",
                    (to_json(obs.work.provenance), work_id, to_json(obs.work.provenance)),
                )
        if isinstance(obs, LocalEdit):
            self._write_local(work_id, obs.local, obs.origin, now)
            self._link_identifiers(obs, work_id, obs.identifier_value)
        else:
            self._rekey(obs.rekeyed)
            self._keep_answers(obs.answers, work_id, now)
            self._link_identifiers(obs, work_id, aliases=obs.aliases)
        self._record_changes(
            work_id, run_id, changes, obs, now, first=status == "created", gave=gave
        )
        if obs.conflicts is not None:
            self._replace_conflicts(work_id, run_id, obs.conflicts, now)
        return Outcome(
            display or f"work {work_id}",
            status,
            work_id=work_id,
            version=version,
            fields=tuple(c.field for c in changes) if status == "changed" else (),
            title=obs.work.values.get("title"),  # type: ignore[arg-type]
            source=obs.source,
        )

    def _resolve_work(
        self,
        obs: Observation,
        run_id: int,
        now: str,
        *,
        work_id: int | None = None,
        aliases: tuple[str, ...] = (),
        links: tuple[tuple[str, str], ...] = (),
    ) -> int | None:
        """The work an observation is about: `work_id` when the caller knows it, else the one its
        keys find. The identifier the source answered with (the prime DOI of an alias, in
        `aliases`) decides, so an alias never keeps a work of its own; if it had one from before
        it became an alias, that work is merged into the prime's."""
        if work_id is not None:
            return work_id
        if not obs.key:
            return None
        prime = next((w for alias in aliases if (w := self.find_work_id(obs.scheme, alias))), None)
        asked = self.find_work_id(obs.scheme, obs.key)
        if prime is not None and asked is not None and prime != asked:
            self._absorb(asked, prime, run_id, obs.source, now)
        found = prime or asked
        # Another identifier the record names (the DOI in a RePEc record) may have a work of its
        # own already: the two are one work, the one found first surviving.
        for scheme, key in links:
            linked = self.find_work_id(scheme, key)
            if linked is not None and found is not None and linked != found:
                self._absorb(linked, found, run_id, obs.source, now)
            found = found or linked
        return found

    def _move_claims(self, orphan: int, survivor: int) -> None:
        """A person's claim on the orphan becomes theirs on the survivor. Where the person has
        one on each, the survivor's stands, with the orphan's decision if only that one was
        settled (an accepted or rejected work stays so once merged); the orphan's goes."""
        self.conn.execute(
            """UPDATE claims AS s
                  SET status = o.status, reason = o.reason, settled_at = o.settled_at
                 FROM claims AS o
                WHERE o.work_id = ? AND s.work_id = ? AND s.person_id = o.person_id
                  AND s.status = 'pending' AND o.status != 'pending'""",
            (orphan, survivor),
        )
        self.conn.execute(
            "UPDATE OR IGNORE claims SET work_id = ? WHERE work_id = ?", (survivor, orphan)
        )

    def _absorb(self, orphan: int, survivor: int, run_id: int, source: str, now: str) -> None:
        """Move everything known about `orphan` to `survivor` and delete it: its identifiers, its
        source records and its history follow; the survivor's own local values win over the
        orphan's. The merge itself is a change in the survivor's history."""
        conn = self.conn
        self._absorbed = True  # identifiers moved: `write_many` reads none from before any more
        self._keep_first_values(orphan)
        self._keep_first_values(survivor)
        for table in ("source_records", "identifiers", "changes"):
            conn.execute(f"UPDATE {table} SET work_id = ? WHERE work_id = ?", (survivor, orphan))
        conn.execute(
            """INSERT OR IGNORE INTO local_fields (work_id, field, value, origin, updated_at)
               SELECT ?, field, value, origin, updated_at FROM local_fields WHERE work_id = ?""",
            (survivor, orphan),
        )
        for table in ("integrity_notices", "notice_reviews"):  # a review follows its notice
            conn.execute(
                f"UPDATE OR IGNORE {table} SET work_id = ? WHERE work_id = ?", (survivor, orphan)
            )
        self._move_claims(orphan, survivor)
        for table in (
            "integrity_notices",
            "notice_reviews",
            "local_fields",
            "conflicts",
            "authors",
            "claims",
        ):
            conn.execute(f"DELETE FROM {table} WHERE work_id = ?", (orphan,))
        conn.execute("DELETE FROM works WHERE id = ?", (orphan,))
        conn.execute(
            """INSERT INTO changes
                 (work_id, run_id, field, old_value, new_value, source, changed_at, kind)
               VALUES (?, ?, 'merged_work_id', ?, ?, ?, ?, 'merge')""",
            (survivor, run_id, str(orphan), str(survivor), source, now),
        )

    def _insert_work(self, work: WorkValues, now: str) -> int:
        """The `works` row of a new work (its byline is the caller's), and the id it got."""
        values = [*(work.values[f] for f in WORK_FIELDS), to_json(work.provenance), 1, now, now]
        cur = self.conn.execute(_INSERT_WORK, values)
        return int(cur.lastrowid)

    def _update_work(
        self, work_id: int, work: WorkValues, version: int, changes: Sequence[FieldChange], now: str
    ) -> None:
        assignments = ", ".join(f"{f} = ?" for f in WORK_FIELDS)
        self.conn.execute(
            f"UPDATE works SET {assignments}, provenance = ?, version = ?, updated_at = ? "
            "WHERE id = ?",
            [
                *(work.values[f] for f in WORK_FIELDS),
                to_json(work.provenance),
                version,
                now,
                work_id,
            ],
        )
        if any(c.field == "authors" for c in changes):
            self._replace_authors(work_id, work)

    def _replace_authors(self, work_id: int, work: WorkValues) -> None:
        """The byline whole, with the search index rebuilt once after it, not per author row
        (migration 0009's `fts_deferred`)."""
        self.conn.execute("INSERT OR IGNORE INTO fts_deferred (work_id) VALUES (?)", (work_id,))
        self.conn.execute("DELETE FROM authors WHERE work_id = ?", (work_id,))
        self.conn.executemany(_AUTHOR, _author_rows_of(work_id, work))
        self.conn.execute("DELETE FROM fts_deferred WHERE work_id = ?", (work_id,))

    def _link_identifiers(
        self,
        obs: Merged | LocalEdit,
        work_id: int,
        value: str = "",
        aliases: tuple[str, ...] = (),
    ) -> None:
        """Every key that named this work (as asked, shown as `value`; as answered, `aliases`;
        its DOI and RePEc handle as merged) finds it from now on."""
        pairs = _identifier_pairs(obs, value, aliases)
        if self._linked is not None:
            self._linked.update(pairs)
        self.conn.executemany(
            _LINK_IDENTIFIER,
            [(scheme, key, value, work_id) for (scheme, key), value in pairs.items()],
        )

    def _rekey(self, rekeyed: Iterable[Rekeyed]) -> None:
        self.conn.executemany(
            """UPDATE OR IGNORE source_records SET payload_hash = ?
               WHERE source = ? AND identifier = ? AND payload_hash = ?""",
            [(r.new, r.source, r.identifier, r.old) for r in rekeyed],
        )

    def _keep_answers(self, answers: Iterable[Answer], work_id: int | None, now: str) -> None:
        for answer in answers:
            self._keep_answer(answer, work_id, now)

    def _keep_answer(self, answer: Answer, work_id: int | None, now: str) -> None:
        """Each distinct payload is kept once; seeing it again only moves its last_seen_at
        (tried first: most answers of a harvest were seen before, and need no text at all)."""
        seen = self.conn.execute(
            """UPDATE source_records SET last_seen_at = ?, work_id = coalesce(?, work_id)
               WHERE source = ? AND identifier = ? AND payload_hash = ?""",
            (now, work_id, answer.source, answer.identifier, answer.fingerprint),
        )
        if seen.rowcount:
            return
        text = answer.text()
        encoded = (
            (None, None, None)
            if text is None
            else self.payloads.encode(answer.source, answer.identifier, text)
        )
        self.conn.execute(
            _KEEP_ANSWER,
            (
                answer.source,
                answer.identifier,
                work_id,
                answer.status,
                now,
                now,
                *encoded,
                answer.fingerprint,
            ),
        )

    def _write_local(
        self, work_id: int, local: Mapping[str, Value | None], origin: str, now: str
    ) -> None:
        """Set (or, for None, unset) the user's own values of a work."""
        for name, value in local.items():
            if value is None:
                self.conn.execute(
                    "DELETE FROM local_fields WHERE work_id = ? AND field = ?", (work_id, name)
                )
            else:
                self.conn.execute(_LOCAL_VALUE, (work_id, name, str(value), origin, now))

    def _replace_conflicts(
        self, work_id: int, run_id: int, conflicts: Sequence[Conflict], now: str
    ) -> None:
        """The work's conflicts are what its sources disagree on now: older ones are dropped."""
        self.conn.execute("DELETE FROM conflicts WHERE work_id = ?", (work_id,))
        self.conn.executemany(_CONFLICT, _conflict_rows(work_id, run_id, conflicts, now))

    def _record_changes(
        self,
        work_id: int,
        run_id: int,
        changes: Sequence[FieldChange],
        obs: Merged | LocalEdit,
        now: str,
        *,
        first: bool,
        gave: Mapping[str, str] | None = None,
    ) -> None:
        """One history row per changed field, blamed on the source whose value the field now
        holds, or, for a field no source gives any more, on the one that gave it (`gave`: the
        provenance before), not on the source the identifier was asked of."""
        self.conn.executemany(
            _CHANGE, _change_rows(work_id, run_id, changes, obs, now, first=first, gave=gave)
        )


#: `Works._unchanged_work`: this observation is written by `Works.write`.
_SLOW = object()


def _identifier_pairs(
    obs: Merged | LocalEdit, value: str = "", aliases: tuple[str, ...] = ()
) -> dict[tuple[str, str], str]:
    """The (scheme, key) -> value of every key `_link_identifiers` links to a work."""
    pairs: dict[tuple[str, str], str] = {}
    if obs.key:
        pairs[(obs.scheme, obs.key)] = value or obs.display or obs.key
    for alias in aliases:
        pairs.setdefault((obs.scheme, alias), alias)
    values = obs.work.values
    doi, handle = values.get("doi"), values.get("repec_handle")
    if isinstance(doi, str):
        pairs.setdefault(("doi", ascii_key(doi)), doi)
    if isinstance(handle, str):
        pairs.setdefault(("repec", ascii_key(handle)), handle)
    return pairs


def _author_rows_of(work_id: int, work: WorkValues) -> list[dict[str, Any]]:
    return [
        {"work_id": work_id, "position": i, **author_row(a)}
        for i, a in enumerate(work.authors, start=1)
    ]


def _conflict_rows(
    work_id: int, run_id: int, conflicts: Sequence[Conflict], now: str
) -> list[tuple[Any, ...]]:
    return [(work_id, c.field, c.source, c.value, run_id, now) for c in conflicts]


def _change_rows(
    work_id: int,
    run_id: int,
    changes: Sequence[FieldChange],
    obs: Merged | LocalEdit,
    now: str,
    *,
    first: bool,
    gave: Mapping[str, str] | None = None,
) -> list[tuple[Any, ...]]:
    """The rows of `Works._record_changes`."""
    provenance = {**(gave or {}), **obs.work.provenance}
    reparsed = isinstance(obs, Merged) and obs.reparsed
    kind = "first" if first else "reparse" if reparsed else "update"
    # A new work's long first values (a reference list, a byline, an abstract) are its row
    # in `works` already: the history row leaves them out (`history` fills them in).
    shown = _short if first else _text
    by_hand = _by_hand(obs)
    return [
        (
            work_id,
            run_id,
            c.field,
            _text(c.old),
            shown(c.new),
            "local" if by_hand else provenance.get(c.field, obs.source),
            now,
            kind,
        )
        for c in changes
    ]


class _NewWorks:
    """A run of new works `Works.write_many` has yet to write (`Works._create_works`): each
    with its id, and the (source, identifier) of their answers (a second answer of one of those
    in the batch is written after the run, as `_keep_answer` would find the first's row)."""

    def __init__(self) -> None:
        self.works: list[tuple[int, Merged | LocalEdit]] = []
        self.answers: set[tuple[str, str]] = set()
        self.next_id = 0

    def holds_answer_of(self, obs: Observation) -> bool:
        return bool(self.answers) and any(
            (a.source, a.identifier) in self.answers for a in getattr(obs, "answers", ())
        )


def _lookup_pairs(obs: Unchanged | Merged | LocalEdit) -> list[tuple[str, str]]:
    """Every (scheme, key) `_resolve_work` may look up for an observation (a user's edit names
    its work by its key alone)."""
    if isinstance(obs, LocalEdit):
        return [(obs.scheme, obs.key)]
    return [
        (obs.scheme, obs.key),
        *((obs.scheme, alias) for alias in obs.aliases),
        *obs.links,
    ]


def _gather_answers(
    found: dict[int, dict[str, StoredAnswer]],
    rows: Iterable[tuple[Any, ...]],
    payloads: Payloads,
) -> None:
    for work_id, source, identifier, status, payload_hash, *payload in rows:
        found.setdefault(work_id, {})[source] = StoredAnswer(
            source, identifier, status, payload_hash, payloads.decode(*payload)
        )


#: What a work's own values are read into: its values, byline and the fields that only fill.
_Held = tuple[dict[str, Value], tuple, set[str]]

#: The origin of a value of yours that only fills a gap (`harvest import --fill-gaps`).
FILL = "fill"


def _gather_local(found: dict[int, _Held], rows: Iterable[tuple[Any, ...]]) -> None:
    for work_id, name, value, origin in rows:
        values, _, fills = found.setdefault(work_id, ({}, (), set()))
        if origin == FILL:
            fills.add(name)
        if name == "authors":
            found[work_id] = (values, authors_from_rows(json.loads(value)), fills)
        else:
            values[name] = int(value) if name in INT_FIELDS else value


def _contributions(found: Mapping[int, _Held]) -> dict[int, Contribution]:
    return {
        work_id: Contribution("local", values, authors, frozenset(fills))
        for work_id, (values, authors, fills) in found.items()
    }


def _export_filter(since: str | None, changed: bool) -> tuple[str, list[str]]:
    """The WHERE clause of an export: updated at or after `since`, changed since first stored."""
    clauses, params = [], []
    if since:
        clauses.append("updated_at >= ?")
        params.append(since)
    if changed:
        clauses.append("version > 1")
    return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), params


def _by_hand(obs: Merged | LocalEdit) -> bool:
    """A user's edit is the user's change, whichever source's value it uncovers; the values a
    merge of two works brings are their sources'."""
    return isinstance(obs, LocalEdit) and not obs.absorbs


def _text(value: Value) -> str | None:
    return None if value is None else str(value)


#: A first value longer than this is left out of its history row (`Works.history` fills it in).
FIRST_VALUE_KEPT = 80


def _short(value: Value) -> str | None:
    text = _text(value)
    return text if text is None or len(text) <= FIRST_VALUE_KEPT else None
