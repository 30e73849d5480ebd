"""The change feed's reading of the store (issue 20): the `changes` rows of each (run, work), a
page at a time, newest first, for `harvester.feed` to write as Atom or JSON Feed.

Read-only, on a plain `sqlite3.Connection`, so that `harvest feed` (the store's connection) and
the Datasette route (Datasette's own read connection) read the very same pages.

What a subscriber is told, by `changes.kind`:

- `update` (a source or you changed a value) and `merge` (two works made one): what the feed is
  for, field by field, old → new, by source;
- `first` (a new work's first values): one "new work" entry, not its dozens of first values: that
  a work arrived is the news, and its values are on its page;
- `reparse` (a newer parser read another value from a payload already stored) is left out: it is
  the harvester that changed, not the work, and an upgrade would flood every subscriber with
  every work at once.

An entry is a (run, work): its id is made of the database's identity, the work's id and the
run's id, none of which ever changes. Pages are keyed on (run id, work id), newest first, so
the page after a cursor holds the same entries however many runs come later. A run still
`running` is not shown until it ends, so an entry once seen never changes; only a merge moves an
absorbed work's history (and so its entries) to the work that absorbed it, whose entries then
name it as it is now.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from harvester.merge import WORK_FIELDS

#: The kinds of change a subscriber is told of (see the module's docstring).
FEED_KINDS = ("first", "update", "merge")

#: The namespace of the harvester's name-based ids (RFC 9562 version 5): fixed forever, since
#: every entry id a subscriber holds is derived from it.
HARVESTER_NAMESPACE = uuid.UUID("6c0b8f8e-5a3e-4d0a-9a57-3f1f6a1d2c20")


@dataclass(frozen=True)
class FeedQuery:
    """Which entries, and which page of them: `before` is the (run id, work id) cursor of the
    last entry of the page before (None: the newest page)."""

    tracked: bool = False
    since: str | None = None  # an *_at moment: entries with a change at or after it
    fields: tuple[str, ...] = ()  # entries that changed one of these fields
    works: tuple[int, ...] = ()  # entries of these works
    before: tuple[int, int] | None = None
    limit: int = 50

    def identity(self) -> str:
        """What names this feed among the database's feeds (the paging and `since`, which only
        trim it, left out): its id is the same on every page and every day."""
        parts = [
            "tracked" if self.tracked else "all",
            "fields=" + ",".join(sorted(self.fields)),
            "works=" + ",".join(str(w) for w in sorted(self.works)),
        ]
        return " ".join(parts)


@dataclass(frozen=True)
class Change:
    """One `changes` row as the feed shows it."""

    field: str
    old_value: str | None
    new_value: str | None
    source: str
    kind: str
    changed_at: str


@dataclass(frozen=True)
class ChangedWork:
    """One entry: what a run changed in a work, and the work as it was named after that run
    (its title, DOI and handle then, so that the entry reads the same forever)."""

    run_id: int
    work_id: int
    run_started_at: str
    run_status: str
    title: str | None
    doi: str | None
    repec_handle: str | None
    url: str | None
    changes: tuple[Change, ...]

    @property
    def cursor(self) -> tuple[int, int]:
        return (self.run_id, self.work_id)

    @property
    def is_new(self) -> bool:
        return any(c.kind == "first" for c in self.changes)

    @property
    def updated(self) -> str:
        return max(c.changed_at for c in self.changes)


@dataclass(frozen=True)
class ChangePage:
    """A page of entries, newest first; `next` is the cursor of the page after it (None: the
    last page); `updated` the newest change of the whole feed (the same on every page, and
    from one invocation to the next while nothing changes); `database` the database's
    identity, which every id is made from."""

    entries: tuple[ChangedWork, ...]
    next: tuple[int, int] | None
    updated: str
    database: uuid.UUID
    query: FeedQuery = field(repr=False)

    @property
    def feed_id(self) -> str:
        return f"urn:uuid:{uuid.uuid5(self.database, 'feed ' + self.query.identity())}"


def entry_id(database: uuid.UUID, work_id: int, run_id: int) -> str:
    """The id of the entry of (work, run): a name-based UUID of the database, the work and the
    run, so two invocations, two pages and two filters give the entry the same id."""
    return f"urn:uuid:{uuid.uuid5(database, f'change work={work_id} run={run_id}')}"


def database_identity(conn: sqlite3.Connection) -> tuple[uuid.UUID, str]:
    """The database's identity and its creation moment: the time its first migration was applied
    (kept in the file, so a copy or a move keeps it; no migration needed to hold one)."""
    row = conn.execute("SELECT applied_at FROM _migrations WHERE name = '0001_initial'").fetchone()
    created = row[0] if row else ""
    return uuid.uuid5(HARVESTER_NAMESPACE, f"harvester database created {created}"), created


#: What `changes.field` holds besides the work's own fields: a match's DOI, a merge.
_HISTORY_FIELDS = ("authors", "matched_doi", "merged_work_id")


def check_fields(names: Sequence[str]) -> tuple[str, ...]:
    """The fields a feed is limited to, each one that a change can be of: a typo is refused
    (naming the fields there are) rather than giving an empty feed that looks like no news."""
    known = (*WORK_FIELDS, *_HISTORY_FIELDS)
    for name in names:
        if name not in known:
            raise ValueError(f"{name!r} is not a field; fields: {', '.join(known)}")
    return tuple(dict.fromkeys(names))


def parse_cursor(text: str) -> tuple[int, int]:
    """A cursor as links and `--before` carry it, `RUN-WORK` (e.g. `12-345`); ValueError else."""
    run, sep, work = text.strip().partition("-")
    if not sep or not run.isdigit() or not work.isdigit():
        raise ValueError(f"{text!r} is not a cursor like 12-345 (a run id, a dash, a work id)")
    return int(run), int(work)


def format_cursor(cursor: tuple[int, int]) -> str:
    return f"{cursor[0]}-{cursor[1]}"


def read_page(conn: sqlite3.Connection, query: FeedQuery) -> ChangePage:
    """The page of entries `query` asks for, and the cursor of the next one, read in one read
    transaction: one snapshot of the database (WAL), whatever a writer commits meanwhile."""
    if conn.in_transaction:
        return _read_page(conn, query)
    conn.execute("BEGIN")
    try:
        return _read_page(conn, query)
    finally:
        conn.execute("ROLLBACK")


def _read_page(conn: sqlite3.Connection, query: FeedQuery) -> ChangePage:
    database, created = database_identity(conn)
    picked = _pick(conn, query, query.limit + 1)
    more = len(picked) > query.limit
    picked = picked[: query.limit]
    entries = tuple(_entry(conn, run, work_id) for run, work_id in picked)
    newest = entries[0] if entries and query.before is None else None
    if newest is None:  # a later page: the feed's newest entry is on the first
        first = _pick(conn, replace(query, before=None), 1)
        newest = _entry(conn, *first[0]) if first else None
    return ChangePage(
        entries=entries,
        next=entries[-1].cursor if more and entries else None,
        updated=newest.updated if newest else created,
        database=database,
        query=query,
    )


def _pick(conn: sqlite3.Connection, query: FeedQuery, limit: int) -> list[tuple[dict, int]]:
    """Up to `limit` (run, work id) pairs, newest first, after the cursor: run by run (a run's
    rows are found by `changes.run_id`'s index), so the newest page never reads the whole
    history."""
    kinds = ", ".join(f"'{k}'" for k in FEED_KINDS)
    clauses = [f"c.kind IN ({kinds})"]
    params: list = []
    if query.since:
        clauses.append("c.changed_at >= ?")
        params.append(query.since)
    if query.fields:
        clauses.append(f"c.field IN ({', '.join('?' * len(query.fields))})")
        params.extend(query.fields)
    if query.works:
        clauses.append(f"c.work_id IN ({', '.join('?' * len(query.works))})")
        params.extend(query.works)
    if query.tracked:
        clauses.append(
            """c.work_id IN (SELECT i.work_id FROM watchlist w
                             JOIN identifiers i ON i.scheme = w.scheme AND i.key = w.key)"""
        )
    where = " AND ".join(clauses)
    run_clauses, run_params = ["status != 'running'"], []
    if query.before is not None:
        run_clauses.append("id <= ?")
        run_params.append(query.before[0])
    if query.since:
        run_clauses.append("coalesce(finished_at, started_at) >= ?")
        run_params.append(query.since)
    runs = conn.execute(
        f"""SELECT id, started_at, status FROM runs WHERE {" AND ".join(run_clauses)}
            ORDER BY id DESC""",
        run_params,
    ).fetchall()
    picked: list[tuple[dict, int]] = []
    for run_id, started_at, status in runs:
        below = ""
        extra: list = []
        if query.before is not None and run_id == query.before[0]:
            below = " AND c.work_id < ?"
            extra = [query.before[1]]
        rows = conn.execute(
            f"""SELECT DISTINCT c.work_id FROM changes c
                WHERE c.run_id = ? AND {where}{below}
                ORDER BY c.work_id DESC LIMIT ?""",
            [run_id, *params, *extra, limit - len(picked)],
        ).fetchall()
        run = {"id": run_id, "started_at": started_at, "status": status}
        picked.extend((run, work_id) for (work_id,) in rows)
        if len(picked) >= limit:
            break
    return picked


def _entry(conn: sqlite3.Connection, run: dict, work_id: int) -> ChangedWork:
    """The entry of (run, work): every change of the feed's kinds the run made to the work, in
    the order made, whatever the query picked it by (an entry is the same in every feed)."""
    kinds = ", ".join(f"'{k}'" for k in FEED_KINDS)
    rows = conn.execute(
        # By the work's index (`+` keeps SQLite off the (kind, run_id) one, which would read
        # every row of a big run for each entry).
        f"""SELECT field, old_value, new_value, source, kind, changed_at FROM changes
            WHERE work_id = ? AND +run_id = ? AND +kind IN ({kinds}) ORDER BY id""",
        (work_id, run["id"]),
    ).fetchall()
    merged = conn.execute(
        "SELECT 1 FROM changes WHERE work_id = ? AND +kind = 'merge' LIMIT 1", (work_id,)
    ).fetchone()
    if merged:  # its history holds another work's too: name it as it is now
        row = conn.execute(f"SELECT {', '.join(_NAMES)} FROM works WHERE id = ?", (work_id,))
        names = dict(zip(_NAMES, row.fetchone() or (None,) * len(_NAMES), strict=True))
    else:
        names = {name: _value_after(conn, work_id, run["id"], name) for name in _NAMES}
    return ChangedWork(
        run_id=run["id"],
        work_id=work_id,
        run_started_at=run["started_at"],
        run_status=run["status"],
        title=names["title"],
        doi=names["doi"],
        repec_handle=names["repec_handle"],
        url=names["url"],
        changes=tuple(Change(*row) for row in rows),
    )


#: The fields that name a work in an entry, each as it was after the entry's run (as it is
#: now, for a work that absorbed another: its history holds both works' values).
_NAMES = ("title", "doi", "repec_handle", "url")


def _value_after(conn: sqlite3.Connection, work_id: int, run_id: int, name: str) -> str | None:
    """A field's value just after a run: the newest change of it up to that run (`change_log`
    fills in a first value its row leaves out); a field never set has none."""
    row = conn.execute(
        """SELECT new_value FROM change_log
           WHERE work_id = ? AND field = ? AND run_id <= ? AND kind != 'merge'
           ORDER BY id DESC LIMIT 1""",
        (work_id, name, run_id),
    ).fetchone()
    return row[0] if row else None


def parse_work_ids(texts: Sequence[str]) -> tuple[int, ...]:
    """Work ids as the Datasette route takes them (`work=12`); `harvest feed --work` also takes
    DOIs and handles, through `pipeline.local.find_works`. ValueError for anything else."""
    ids = []
    for text in texts:
        if not text.strip().isdigit() or int(text) > 2**63 - 1:
            raise ValueError(f"work={text!r}: a work's id in the database, e.g. work=12")
        ids.append(int(text))
    return tuple(dict.fromkeys(ids))
