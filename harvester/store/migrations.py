"""Named schema migrations: the only way the schema is created or changed.

Each migration runs once, in order, inside its own transaction, and is recorded by name in
`_migrations`. A database that records a migration this code does not know comes from a newer
harvester, and is refused rather than written to with an older idea of the schema.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import sqlite_utils

from harvester.errors import DatabaseTooNew, StoreError
from harvester.store.base import store_error

Migration = Callable[[sqlite_utils.Database], None]


def m0001_initial(db: sqlite_utils.Database) -> None:
    """works, authors, identifiers, source_records, changes and runs: the public face in Datasette."""
    db["runs"].create(
        {
            "id": int,
            "started_at": str,
            "finished_at": str,
            "command": str,
            "status": str,
            "requested": int,
            "created": int,
            "changed": int,
            "unchanged": int,
            "not_found": int,
            "failed": int,
        },
        pk="id",
        not_null={"started_at", "command", "status"},
        defaults={
            k: 0 for k in ("requested", "created", "changed", "unchanged", "not_found", "failed")
        },
    )
    db["works"].create(
        {
            "id": int,
            "doi": str,
            "repec_handle": str,
            "type": str,
            "title": str,
            "subtitle": str,
            "container_title": str,
            "issn": str,
            "volume": str,
            "issue": str,
            "pages": str,
            "year": int,
            "published": str,
            "published_print": str,
            "published_online": str,
            "publisher": str,
            "abstract": str,
            "language": str,
            "license": str,
            "url": str,
            "reference_count": int,
            "cited_by_count": int,
            "relations": str,
            "updates": str,
            "provenance": str,
            "version": int,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"version", "created_at", "updated_at"},
    )
    db["authors"].create(
        {
            "work_id": int,
            "position": int,
            "given": str,
            "family": str,
            "name": str,
            "orcid": str,
            "affiliation": str,
        },
        pk=("work_id", "position"),
        foreign_keys=[("work_id", "works", "id")],
    )
    db["identifiers"].create(
        {"scheme": str, "key": str, "value": str, "work_id": int},
        pk=("scheme", "key"),
        foreign_keys=[("work_id", "works", "id")],
        not_null={"value", "work_id"},
    )
    db["source_records"].create(
        {
            "id": int,
            "source": str,
            "identifier": str,
            "work_id": int,
            "status": str,
            "fetched_at": str,
            "last_seen_at": str,
            "payload": str,
            "payload_hash": str,
        },
        pk="id",
        foreign_keys=[("work_id", "works", "id")],
        not_null={"source", "identifier", "status", "fetched_at", "last_seen_at", "payload_hash"},
    )
    db["changes"].create(
        {
            "id": int,
            "work_id": int,
            "run_id": int,
            "field": str,
            "old_value": str,
            "new_value": str,
            "source": str,
            "changed_at": str,
        },
        pk="id",
        foreign_keys=[("work_id", "works", "id"), ("run_id", "runs", "id")],
        not_null={"work_id", "field", "source", "changed_at"},
    )
    db["works"].create_index(["doi"])
    db["works"].create_index(["repec_handle"])
    db["works"].create_index(["updated_at"])
    db["identifiers"].create_index(["work_id"])
    db["source_records"].create_index(
        ["source", "identifier", "payload_hash"], unique=True, index_name="source_records_unique"
    )
    db["source_records"].create_index(["work_id"])
    db["changes"].create_index(["work_id", "changed_at"])
    db["changes"].create_index(["run_id"])


def m0002_agencies_conflicts_enrichment(db: sqlite_utils.Database) -> None:
    """The registration agency of each DOI prefix (asked of doi.org once, then kept; NULL when
    doi.org does not know it), the values sources disagree on, and the fields DataCite and
    OpenAlex add to a work."""
    db["agencies"].create(
        {"prefix": str, "agency": str, "checked_at": str},
        pk="prefix",
        not_null={"checked_at"},
    )
    db["conflicts"].create(
        {
            "work_id": int,
            "field": str,
            "source": str,
            "value": str,
            "run_id": int,
            "seen_at": str,
        },
        pk=("work_id", "field", "source"),
        foreign_keys=[("work_id", "works", "id"), ("run_id", "runs", "id")],
        not_null={"seen_at"},
    )
    for column in ("subjects", "resource_version", "openalex_id", "oa_status", "oa_url"):
        db["works"].add_column(column, str)
    db["works"].create_index(["openalex_id"])


def m0003_local_fields(db: sqlite_utils.Database) -> None:
    """The user's own values for a work (imported or set by hand), one row per field, kept apart
    from what sources say so that they win until unset and survive every harvest. `authors` holds
    the author rows as JSON."""
    db["local_fields"].create(
        {"work_id": int, "field": str, "value": str, "origin": str, "updated_at": str},
        pk=("work_id", "field"),
        foreign_keys=[("work_id", "works", "id")],
        not_null={"origin", "updated_at"},
    )
    # "Which source said what about this work, latest first" is the read behind every merge.
    db["source_records"].create_index(["work_id", "source", "last_seen_at"])


def m0004_repec_index(db: sqlite_utils.Database) -> None:
    """Where each RePEc handle lives in the archive tree, and what each file was when last read,
    so that a single handle is found without walking the tree and an unchanged file is not read
    (or parsed) again."""
    db["repec_files"].create(
        {
            "path": str,
            "version": str,
            "content_hash": str,
            "encoding": str,
            "templates": int,
            "errors": int,
            "checked_at": str,
        },
        pk="path",
        not_null={"checked_at"},
    )
    db["repec_handles"].create(
        {"key": str, "handle": str, "path": str, "type": str, "line": int},
        pk="key",
        not_null={"handle", "path", "type"},
    )
    db["repec_handles"].create_index(["path"])


def m0005_feeds(db: sqlite_utils.Database) -> None:
    """Where each feed (an OAI-PMH endpoint, format and set; later Crossref queries) stands:
    the `from` to ask with next time, moved only when a harvest completed, and the last failure.
    `feed` is the feed's key, e.g. "oai https://zenodo.org/oai2d oai_dc user-rdmo"."""
    db["feeds"].create(
        {
            "feed": str,
            "kind": str,
            "endpoint": str,
            "params": str,  # JSON: metadata_prefix, set, ...
            "watermark": str,  # the next harvest asks from here; NULL: from the beginning
            "completed_at": str,  # when a harvest last read the feed to its end
            "completed_run_id": int,
            "records": int,  # records read by that harvest
            "tried_at": str,
            "error": str,  # why the last try did not complete; NULL after a completed one
        },
        pk="feed",
        not_null={"kind", "endpoint"},
    )


def m0006_watch_list(db: sqlite_utils.Database) -> None:
    """The watch list `harvest run` keeps fresh: what is tracked, and per identifier and source
    (`agency`: a DOI's registration agency, whichever it is; `openalex`; `repec` for a handle)
    when it is next due and how its last tries ended. Feeds gain the cursor of a harvest in
    progress."""
    db["watchlist"].create(
        {"scheme": str, "key": str, "value": str, "added_at": str},
        pk=("scheme", "key"),
        not_null={"value", "added_at"},
    )
    db["watch_due"].create(
        {
            "scheme": str,
            "key": str,
            "source": str,
            "next_due_at": str,
            "last_status": str,  # ok | not_found | failed; NULL: never tried
            "streak": int,  # tries in a row that ended with last_status
            "last_tried_at": str,
            "last_error": str,
        },
        pk=("scheme", "key", "source"),
        not_null={"next_due_at"},
        defaults={"streak": 0},
    )
    db["watch_due"].create_index(["next_due_at"])
    db["feeds"].add_column("cursor", str)


def m0007_datasette(db: sqlite_utils.Database) -> None:
    """What Datasette shows besides the tables: `works_fts`, full-text search over each work's
    title, abstract and author names (rowid = works.id); `works_with_authors`, a work on one
    readable line; and `change_log`, each change beside the work's title and the run that made it.

    Triggers keep `works_fts` in step with `works` and `authors`, so every writer (a harvest, an
    import, `harvest set`, a hand-typed UPDATE) keeps it right. Each trigger rebuilds the work's
    row whole (delete, then insert: no conflict clause, which an outer `INSERT OR IGNORE` would
    override). The store replaces a work's authors by deleting them and inserting the new ones,
    one row at a time, so after the last insert the row holds the new byline."""
    conn = db.conn
    conn.execute(
        """CREATE VIRTUAL TABLE works_fts USING fts5(
             title, abstract, authors,
             tokenize = 'unicode61 remove_diacritics 2'  -- "muller" finds "Müller"
           )"""
    )
    # "Given Family" (or an organisation's name) of the first 100 authors in byline order. The
    # author triggers rebuild this once per author row written, so indexing a byline of
    # thousands (a physics collaboration) whole would take quadratic time on every write of it.
    names = """(SELECT group_concat(author, '; ') FROM (
                  SELECT trim(ifnull(a.given, '') || ' ' || ifnull(a.family, '') || ' '
                              || ifnull(a.name, '')) AS author
                  FROM authors a
                  WHERE a.work_id = w.id AND a.position <= 100
                  ORDER BY a.position))"""

    def refresh(work_ids: str) -> str:
        """The trigger body that rebuilds the index rows of the works `work_ids` names."""
        return f"""
            DELETE FROM works_fts WHERE rowid IN ({work_ids});
            INSERT INTO works_fts (rowid, title, abstract, authors)
              SELECT w.id, w.title, w.abstract, {names} FROM works w WHERE w.id IN ({work_ids});"""

    triggers = {
        "works_fts_insert": ("AFTER INSERT ON works", refresh("new.id")),
        # Only when the indexed text changed: a new version rewrites every column.
        "works_fts_update": (
            """AFTER UPDATE OF title, abstract ON works
               WHEN old.title IS NOT new.title OR old.abstract IS NOT new.abstract""",
            refresh("new.id"),
        ),
        "works_fts_delete": (
            "AFTER DELETE ON works",
            "DELETE FROM works_fts WHERE rowid = old.id;",
        ),
        "authors_fts_insert": (
            "AFTER INSERT ON authors WHEN new.position <= 100",
            refresh("new.work_id"),
        ),
        "authors_fts_update": (
            "AFTER UPDATE ON authors WHEN old.position <= 100 OR new.position <= 100",
            refresh("old.work_id, new.work_id"),
        ),
        "authors_fts_delete": (
            "AFTER DELETE ON authors WHEN old.position <= 100",
            refresh("old.work_id"),
        ),
    }
    for name, (when, body) in triggers.items():
        conn.execute(f"CREATE TRIGGER {name} {when} BEGIN {body} END")
    conn.execute(
        f"""INSERT INTO works_fts (rowid, title, abstract, authors)
            SELECT w.id, w.title, w.abstract, {names} FROM works w"""
    )

    conn.execute(
        """CREATE VIEW works_with_authors AS
           SELECT
             w.id,
             w.doi,
             w.repec_handle,
             w.title,
             -- "Family, Given; Family, Given; Organisation" in byline order
             (SELECT group_concat(author, '; ') FROM (
                SELECT CASE WHEN a.family IS NOT NULL AND a.given IS NOT NULL
                            THEN a.family || ', ' || a.given
                            ELSE coalesce(a.family, a.given, a.name) END AS author
                FROM authors a WHERE a.work_id = w.id ORDER BY a.position)) AS authors,
             -- "doi 10.7554/eLife.01567; repec RePEc:sae:woemps:v:29:y:2015:i:4:p:624-640"
             (SELECT group_concat(identifier, '; ') FROM (
                SELECT i.scheme || ' ' || i.value AS identifier
                FROM identifiers i WHERE i.work_id = w.id ORDER BY i.scheme, i.key)) AS identifiers,
             w.type,
             w.year,
             w.container_title,
             w.version,
             w.updated_at
           FROM works w"""
    )
    conn.execute(
        """CREATE VIEW change_log AS
           SELECT
             c.id,
             c.changed_at,
             c.work_id,
             w.doi,
             w.title,
             c.field,
             c.old_value,
             c.new_value,
             c.source,
             c.run_id,
             r.command AS run_command,
             r.started_at AS run_started_at,
             r.status AS run_status
           FROM changes c
           LEFT JOIN works w ON w.id = c.work_id
           LEFT JOIN runs r ON r.id = c.run_id"""
    )


def m0008_run_failures(db: sqlite_utils.Database) -> None:
    """How many identifiers of each run failed, by kind (rate_limited, server_error, network,
    bad_answer, refused, paused, other): the morning's first question after "did it fail?" is
    "how?"."""
    db["run_failures"].create(
        {"run_id": int, "kind": str, "count": int},
        pk=("run_id", "kind"),
        not_null={"count"},
        foreign_keys=[("run_id", "runs", "id")],
    )


def m0009_fts_once_per_work(db: sqlite_utils.Database) -> None:
    """Index a work's byline once per write, not once per author row.

    0007's author triggers rebuilt the work's `works_fts` row after every author row inserted or
    deleted, so writing a work with k authors indexed it 2k + 1 times: a sixth of a first
    harvest's time (bench/README.md). Now a writer that replaces a whole byline first puts the
    work in `fts_deferred`; the author triggers skip works listed there, and taking the work out
    again rebuilds its row once. Every other writer (a hand-typed UPDATE of one author) still
    has the per-row triggers, so the index stays right whoever writes."""
    conn = db.conn
    db["fts_deferred"].create({"work_id": int}, pk="work_id")
    names = """(SELECT group_concat(author, '; ') FROM (
                  SELECT trim(ifnull(a.given, '') || ' ' || ifnull(a.family, '') || ' '
                              || ifnull(a.name, '')) AS author
                  FROM authors a
                  WHERE a.work_id = w.id AND a.position <= 100
                  ORDER BY a.position))"""

    def refresh(work_ids: str) -> str:
        return f"""
            DELETE FROM works_fts WHERE rowid IN ({work_ids});
            INSERT INTO works_fts (rowid, title, abstract, authors)
              SELECT w.id, w.title, w.abstract, {names} FROM works w WHERE w.id IN ({work_ids});"""

    def live(work_id: str) -> str:
        return f"NOT EXISTS (SELECT 1 FROM fts_deferred d WHERE d.work_id = {work_id})"

    triggers = {
        "authors_fts_insert": (
            f"AFTER INSERT ON authors WHEN new.position <= 100 AND {live('new.work_id')}",
            refresh("new.work_id"),
        ),
        "authors_fts_update": (
            f"""AFTER UPDATE ON authors WHEN (old.position <= 100 OR new.position <= 100)
                AND {live("old.work_id")} AND {live("new.work_id")}""",
            refresh("old.work_id, new.work_id"),
        ),
        "authors_fts_delete": (
            f"AFTER DELETE ON authors WHEN old.position <= 100 AND {live('old.work_id')}",
            refresh("old.work_id"),
        ),
        "fts_deferred_done": ("AFTER DELETE ON fts_deferred", refresh("old.work_id")),
    }
    for name, (when, body) in triggers.items():
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")
        conn.execute(f"CREATE TRIGGER {name} {when} BEGIN {body} END")


def m0010_match_candidates(db: sqlite_utils.Database) -> None:
    """The DOIs `harvest match` found for works that had none: one row per (work, candidate DOI)
    worth keeping, `pending` for a person to settle, `accepted` once linked, `rejected` once
    refused (and never offered for that work again). Candidates below the review threshold are
    not kept.

    The DOI compares case-insensitively for ASCII letters (COLLATE NOCASE), as identifier keys
    do. A work's candidates go with it when it is merged into another and deleted (ON DELETE
    CASCADE): they were questions about a work that no longer exists, and the history row of a
    link (`changes.field` = matched_doi) moves to the survivor with the rest of its history."""
    db.conn.execute(
        """CREATE TABLE match_candidates (
             work_id INTEGER NOT NULL REFERENCES works (id) ON DELETE CASCADE,
             doi TEXT NOT NULL COLLATE NOCASE,
             score REAL NOT NULL,
             decision TEXT NOT NULL
               CHECK (decision IN ('pending', 'accepted', 'rejected')),
             reasons TEXT,
             title TEXT,
             year INTEGER,
             authors TEXT,
             container_title TEXT,
             run_id INTEGER REFERENCES runs (id),
             found_at TEXT NOT NULL,
             settled_at TEXT,
             settled_by TEXT,
             PRIMARY KEY (work_id, doi)
           )"""
    )
    db["match_candidates"].create_index(["decision", "work_id"])
    db["match_candidates"].create_index(["doi"])


def m0011_whole_records(db: sqlite_utils.Database) -> None:
    """What citing and cataloguing need beyond the basics (issue 16): a column of `works` for
    each new field (lists and objects as JSON text, as before), and each author's RePEc id. The
    values of existing works are filled by the next harvest of each, or at once by `harvest
    reparse`, which rebuilds them from the payloads already stored."""
    works = db["works"]
    for name in (
        "container_short_title",
        "titles",
        "abstracts",
        "contributors",
        "funders",
        "isbn",
        "series_title",
        "series_number",
        "report_number",
        "event_name",
        "event_place",
        "event_date",
        "publisher_place",
        "degree",
        "reference_list",
        "citation_counts",
        "other_ids",
        "jel_codes",
        "publication_status",
        "revised",
        "files",
    ):
        works.add_column(name, str)
    db["authors"].add_column("repec_id", str)


def m0012_deleted_works(db: sqlite_utils.Database) -> None:
    """What `harvest delete` removed: one row per deleted work, with the run that deleted it,
    its DOI, handle and title to find it by, and `record` (JSON: the work as `harvest show
    --json` gave it, and its history), so a deletion is on record and can be undone by hand."""
    db["deleted_works"].create(
        {
            "work_id": int,
            "doi": str,
            "repec_handle": str,
            "title": str,
            "run_id": int,
            "deleted_at": str,
            "record": str,
        },
        pk="work_id",
        not_null={"run_id", "deleted_at", "record"},
        foreign_keys=[("run_id", "runs", "id")],
    )


def m0013_change_kinds(db: sqlite_utils.Database) -> None:
    """What each change is (`changes.kind`): `first`, a new work's first values; `update`, a
    value a source (or you) changed; `reparse`, a value a newer parser read from a payload
    already stored; `merge`, two works made one. A history or "what changed" shows the
    corrections without wading through every new work's first values. Existing rows are
    classed from what they say: a work's first run's rows that set a value from nothing are
    its first values."""
    conn = db.conn
    conn.execute("ALTER TABLE changes ADD COLUMN kind TEXT NOT NULL DEFAULT 'update'")
    conn.execute("UPDATE changes SET kind = 'merge' WHERE field = 'merged_work_id'")
    conn.execute(
        """UPDATE changes SET kind = 'first'
           WHERE old_value IS NULL AND kind = 'update' AND run_id = (
             SELECT min(e.run_id) FROM changes e WHERE e.work_id = changes.work_id)"""
    )
    conn.execute(
        """UPDATE changes SET kind = 'reparse'
           WHERE kind = 'update'
             AND run_id IN (SELECT id FROM runs WHERE command LIKE '%reparse%')"""
    )
    db["changes"].create_index(["kind", "run_id"])
    conn.execute("DROP VIEW change_log")
    conn.execute(
        """CREATE VIEW change_log AS
           SELECT
             c.id,
             c.changed_at,
             c.work_id,
             w.doi,
             w.title,
             c.field,
             c.old_value,
             c.new_value,
             c.source,
             c.kind,
             c.run_id,
             r.command AS run_command,
             r.started_at AS run_started_at,
             r.status AS run_status
           FROM changes c
           LEFT JOIN works w ON w.id = c.work_id
           LEFT JOIN runs r ON r.id = c.run_id"""
    )


def m0014_linked_dois(db: sqlite_utils.Database) -> None:
    """The DOIs that RePEc and OAI records carry and whose agency has not answered yet: written
    in the transaction that stores the carrying record, deleted in the one that stores the
    agency's answer (found or not found), so a failed or killed lookup leaves the DOI due here
    rather than lost behind a record that the next run sees unchanged. `carried_by` is the
    record's (scheme, key); the due columns are those of `watch_due`, and `tried_run_id` says
    which run last asked, so that no run asks one twice. The DOIs of works that a RePEc or OAI
    record made and no agency answered for are due from the upgrade on."""
    db["linked_dois"].create(
        {
            "key": str,
            "value": str,
            "carried_by_scheme": str,
            "carried_by": str,
            "since": str,
            "next_due_at": str,
            "last_status": str,  # failed; NULL: never asked
            "streak": int,
            "last_tried_at": str,
            "last_error": str,
            "tried_run_id": int,
        },
        pk="key",
        not_null={"value", "since", "next_due_at"},
        defaults={"streak": 0},
    )
    db["linked_dois"].create_index(["next_due_at"])
    # The DOIs already lost that way: those of works a RePEc or OAI record made, due at once.
    db.conn.execute(
        """INSERT OR IGNORE INTO linked_dois
             (key, value, carried_by_scheme, carried_by, since, next_due_at)
           SELECT i.key, i.value, r.source, min(r.identifier), min(r.last_seen_at),
                  min(r.last_seen_at)
           FROM identifiers i JOIN source_records r ON r.work_id = i.work_id
           WHERE i.scheme = 'doi' AND r.source IN ('oai', 'repec')
             AND NOT EXISTS (SELECT 1 FROM source_records a WHERE a.identifier = i.key
                             AND a.source IN ('crossref', 'datacite', 'doi.org'))
           GROUP BY i.key"""
    )


def m0015_runs_paused(db: sqlite_utils.Database) -> None:
    """Which sources a run paused for failing too often (`runs.paused`, comma-separated; NULL:
    none): the run row says why what was due for them is still due."""
    db["runs"].add_column("paused", str)


def m0016_compressed_payloads(db: sqlite_utils.Database) -> None:
    """Payloads as zstd frames (`harvester.store.payloads`): `payload_z` the frame,
    `payload_dict` the dictionary it was compressed with (`payload_dicts`, one per source,
    trained on its first payloads), `payload_base` the earlier whole payload of the same
    source and identifier a new version is a delta against. `payload` keeps the text of the
    rows not compressed yet: `open_store` compresses them after this migration, 500 rows per
    transaction, resuming where a killed conversion stopped; the partial index
    `source_records_text` finds those rows at once, and holds none afterwards."""
    db["payload_dicts"].create(
        {"id": int, "source": str, "dict": bytes, "samples": int},
        pk="id",
        not_null={"source", "dict"},
    )
    db["payload_dicts"].create_index(["source"], unique=True)
    records = db["source_records"]
    records.add_column("payload_z", bytes)
    records.add_column("payload_dict", int)
    records.add_column("payload_base", int)
    db.conn.execute(
        "CREATE INDEX source_records_text ON source_records (id) WHERE payload IS NOT NULL"
    )
    db.conn.execute(
        "CREATE INDEX source_records_base ON source_records (payload_base) "
        "WHERE payload_base IS NOT NULL"
    )


def m0017_first_values_left_out(db: sqlite_utils.Database) -> None:
    """A new work's long first values (over 80 characters: a reference list, a byline, an
    abstract) are no longer repeated in its `changes` rows (kind first, new_value NULL): they
    were half the database, and the work's row holds them. `change_log` shows them as they
    were, in plain SQL that any SQLite reader runs: the value before the field's next change,
    or, when it never changed, the work's value now (its column; the byline as the JSON
    `merge.rows_json` makes). The columns are those `works` has at this migration; a later
    one that adds a column of works must define the view again."""
    conn = db.conn
    bookkeeping = {"id", "provenance", "version", "created_at", "updated_at"}
    columns = [row[1] for row in conn.execute("PRAGMA table_info(works)")]
    now = " ".join(
        f"WHEN '{name}' THEN CAST(w.{name} AS TEXT)" for name in columns if name not in bookkeeping
    )
    byline = """(SELECT nullif(json_group_array(json(o)), '[]') FROM (
                   SELECT json_patch('{}', json_object(
                            'affiliation', a.affiliation, 'family', a.family, 'given', a.given,
                            'name', a.name, 'orcid', a.orcid, 'repec_id', a.repec_id)) AS o
                   FROM authors a WHERE a.work_id = c.work_id ORDER BY a.position))"""
    conn.execute("DROP VIEW change_log")
    conn.execute(
        f"""CREATE VIEW change_log AS
           SELECT
             c.id,
             c.changed_at,
             c.work_id,
             w.doi,
             w.title,
             c.field,
             c.old_value,
             CASE WHEN c.new_value IS NOT NULL OR c.kind != 'first' THEN c.new_value
                  ELSE coalesce(
                    (SELECT n.old_value FROM changes n
                      WHERE n.work_id = c.work_id AND n.field = c.field AND n.id > c.id
                        AND n.kind != 'merge'
                      ORDER BY n.id LIMIT 1),
                    CASE c.field {now} WHEN 'authors' THEN {byline} END)
             END AS new_value,
             c.source,
             c.kind,
             c.run_id,
             r.command AS run_command,
             r.started_at AS run_started_at,
             r.status AS run_status
           FROM changes c
           LEFT JOIN works w ON w.id = c.work_id
           LEFT JOIN runs r ON r.id = c.run_id"""
    )


def m0018_integrity_notices(db: sqlite_utils.Database) -> None:
    """What is said about a work's standing (issue 20): one row per (work, kind, who asserted
    it, notice DOI, that database's record id): a retraction, correction, expression of concern,
    withdrawal or new version, with the source the harvester read it from (`crossref`,
    `retraction-watch`, `openalex`, `datacite`, `repec`), the notice's date, and the run that
    first saw it, so a digest can say what is new since the last one. `last_seen_run` moves
    each time a source says it again; a notice no source repeats stays on record."""
    db["integrity_notices"].create(
        {
            "id": int,
            "work_id": int,
            "kind": str,
            "asserted_by": str,
            "source": str,
            "notice_doi": str,
            "record_id": str,
            "notice_date": str,
            "detail": str,
            "first_seen_run": int,
            "first_seen_at": str,
            "last_seen_run": int,
            "last_seen_at": str,
        },
        pk="id",
        not_null={"work_id", "kind", "asserted_by", "source", "first_seen_at", "last_seen_at"},
        foreign_keys=[("work_id", "works", "id"), ("first_seen_run", "runs", "id")],
    )
    db.conn.execute(
        """CREATE UNIQUE INDEX integrity_notices_key ON integrity_notices
             (work_id, kind, asserted_by, coalesce(notice_doi, ''), coalesce(record_id, ''))"""
    )
    db.conn.execute(
        "CREATE INDEX integrity_notices_first_seen ON integrity_notices (first_seen_run)"
    )


def m0019_retraction_sets(db: sqlite_utils.Database) -> None:
    """The versions of the Retraction Watch data set `harvest retractions load` read (issue
    20): from where, its sha256 and size, the ETag and Last-Modified its server sent, how many
    rows were read, broken and without an original paper DOI, how many stored works it named
    and how many notices were new, in which run; `checked_at` moves each time the same version
    is found again, so a reload of an unchanged file says so and `harvest run` knows when it
    is due. A row is written only when a load read the whole file."""
    db["retraction_sets"].create(
        {
            "id": int,
            "origin": str,
            "sha256": str,
            "bytes": int,
            "etag": str,
            "last_modified": str,
            "rows_read": int,
            "rows_broken": int,
            "rows_without_doi": int,
            "works": int,
            "notices_new": int,
            "run_id": int,
            "loaded_at": str,
            "checked_at": str,
        },
        pk="id",
        not_null={"origin", "sha256", "loaded_at", "checked_at"},
        foreign_keys=[("run_id", "runs", "id")],
    )


def m0020_digests(db: sqlite_utils.Database) -> None:
    """The digests of `harvest digest` (issue 20): one row per digest sent, refused or marked
    read, with the runs it covers (`since_run` exclusive, NULL from the first; `until_run`
    inclusive) and what it held. The point the next digest starts from is the `until_run` of
    the last one delivered (`sent` or `marked`); a digest the SMTP server refused is kept as
    `failed` with the error and moves nothing, so the next one covers its runs too."""
    db["digests"].create(
        {
            "id": int,
            "created_at": str,
            "status": str,  # sent | marked | failed
            "since_run": int,
            "until_run": int,
            "recipients": str,
            "notices": int,
            "changes": int,
            "new_works": int,
            "failures": int,
            "error": str,
        },
        pk="id",
        not_null={"created_at", "status"},
        defaults={"notices": 0, "changes": 0, "new_works": 0, "failures": 0},
    )


def m0021_people(db: sqlite_utils.Database) -> None:
    """The people the harvester follows (issue 21): `people`, one row per person (a name, when
    added and last changed), and `person_ids`, their identifiers (ORCID iD, RePEc author
    short-id, OpenAlex author id, ROR id; several per person), each in its canonical form
    (`value`) and under the `key` that no two people may share; and `claims`, the works found
    through a person, each pending until accepted or rejected (with a reason)."""
    db["people"].create(
        {"id": int, "name": str, "created_at": str, "updated_at": str},
        pk="id",
        not_null={"name", "created_at", "updated_at"},
    )
    db["person_ids"].create(
        {"person_id": int, "scheme": str, "value": str, "key": str, "added_at": str},
        pk=("scheme", "key"),
        not_null={"person_id", "scheme", "value", "key", "added_at"},
        foreign_keys=[("person_id", "people", "id")],
    )
    db["person_ids"].create_index(["person_id"])
    # The claim queue: a work found through a person, one claim per (person, work) whichever
    # feeds found it (each feed's evidence in `evidence`, JSON). No foreign key on work_id: a
    # work `harvest delete` removes must not be held back by a claim on it.
    db["claims"].create(
        {
            "id": int,
            "person_id": int,
            "work_id": int,
            "status": str,  # pending | accepted | rejected
            "found_by": str,
            "evidence": str,
            "found_at": str,
            "reason": str,
            "settled_at": str,
        },
        pk="id",
        not_null={"person_id", "work_id", "status", "found_by", "evidence", "found_at"},
        foreign_keys=[("person_id", "people", "id")],
    )
    db.conn.execute("CREATE UNIQUE INDEX claims_person_work ON claims (person_id, work_id)")
    db["claims"].create_index(["status", "person_id"])


def m0022_institutions(db: sqlite_utils.Database) -> None:
    """The institutions the harvester follows (issue 21): `institutions`, one row per ROR id
    (`key` the bare id, `ror` its URL, a name), in a table of their own rather than as people:
    an institution has no claims of its own, and many people belong to one. So a person's ROR
    id (person_ids, scheme "ror") is one that several people may carry: `person_ids` is keyed
    by (person_id, scheme, key) from now on, and every other identifier stays held by one
    person at most (a unique index on (scheme, key) for every scheme but "ror")."""
    db["institutions"].create(
        {"key": str, "ror": str, "name": str, "added_at": str},
        pk="key",
        not_null={"key", "ror", "added_at"},
    )
    db["person_ids"].transform(pk=("person_id", "scheme", "key"))
    db.conn.execute(
        "CREATE UNIQUE INDEX person_ids_held ON person_ids (scheme, key) WHERE scheme != 'ror'"
    )


def m0023_notice_reviews(db: sqlite_utils.Database) -> None:
    """A person's review of an integrity notice in the review console (issue 22): seen and let
    stand (`acknowledged`) or `disputed`, with the reason and the run it was recorded in. The
    notice itself never changes (what a source asserts stays on record, in exports and
    digests); a reviewed notice only leaves the queue. Keyed as `integrity_notices` is, by what
    the notice is ('' for no notice DOI or record id), not by its row number: a number a deleted
    notice freed is not another notice's review, and no foreign key holds back a work's deletion."""
    db["notice_reviews"].create(
        {
            "work_id": int,
            "kind": str,
            "asserted_by": str,
            "notice_doi": str,
            "record_id": str,
            "decision": str,  # acknowledged | disputed
            "reason": str,
            "run_id": int,
            "reviewed_at": str,
        },
        pk=("work_id", "kind", "asserted_by", "notice_doi", "record_id"),
        not_null={
            "work_id",
            "kind",
            "asserted_by",
            "notice_doi",
            "record_id",
            "decision",
            "reviewed_at",
        },
        foreign_keys=[("run_id", "runs", "id")],
    )


def m0024_person_ids_by_scheme(db: sqlite_utils.Database) -> None:
    """Who carries an id, looked up by (scheme, key) for every scheme: 0022's unique index
    leaves out "ror", so the people of an institution were found by reading every id on record.
    The index on `person_id` alone goes: the primary key (person_id, scheme, key) begins with
    it."""
    db.conn.execute("DROP INDEX IF EXISTS idx_person_ids_person_id")
    db.conn.execute("CREATE INDEX person_ids_scheme_key ON person_ids (scheme, key)")


#: In order. Append new migrations; never edit or reorder one that has shipped.
MIGRATIONS: list[tuple[str, Migration]] = [
    ("0001_initial", m0001_initial),
    ("0002_agencies_conflicts_enrichment", m0002_agencies_conflicts_enrichment),
    ("0003_local_fields", m0003_local_fields),
    ("0004_repec_index", m0004_repec_index),
    ("0005_feeds", m0005_feeds),
    ("0006_watch_list", m0006_watch_list),
    ("0007_datasette", m0007_datasette),
    ("0008_run_failures", m0008_run_failures),
    ("0009_fts_once_per_work", m0009_fts_once_per_work),
    ("0010_match_candidates", m0010_match_candidates),
    ("0011_whole_records", m0011_whole_records),
    ("0012_deleted_works", m0012_deleted_works),
    ("0013_change_kinds", m0013_change_kinds),
    ("0014_linked_dois", m0014_linked_dois),
    ("0015_runs_paused", m0015_runs_paused),
    ("0016_compressed_payloads", m0016_compressed_payloads),
    ("0017_first_values_left_out", m0017_first_values_left_out),
    ("0018_integrity_notices", m0018_integrity_notices),
    ("0019_retraction_sets", m0019_retraction_sets),
    ("0020_digests", m0020_digests),
    ("0021_people", m0021_people),
    ("0022_institutions", m0022_institutions),
    ("0023_notice_reviews", m0023_notice_reviews),
    ("0024_person_ids_by_scheme", m0024_person_ids_by_scheme),
]


def migrate(
    db: sqlite_utils.Database, now: str, where: str = "database", *, stop_before: str | None = None
) -> list[str]:
    """Apply the migrations not yet applied; return their names. Refuse a database from a newer schema.

    `stop_before` (a migration's name) applies only those before it, leaving the schema as an
    older harvester left it: what a test of an upgrade starts from."""
    names = [name for name, _ in MIGRATIONS]
    if stop_before is not None and stop_before not in names:
        raise ValueError(f"stop_before={stop_before!r}: no such migration")
    todo = MIGRATIONS[: names.index(stop_before)] if stop_before is not None else MIGRATIONS
    conn = db.conn
    conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
    applied = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
    known = {name for name, _ in MIGRATIONS}
    unknown = sorted(applied - known)
    if unknown:
        raise DatabaseTooNew(
            f"{where} was written by a newer harvester (migration {unknown[-1]} is unknown "
            "here); upgrade harvester to use it"
        )
    done = []
    for name, migration in todo:
        if name in applied:
            continue
        try:
            conn.execute("BEGIN IMMEDIATE")
            # Another process may have applied it while we waited for the write lock.
            if conn.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone():
                conn.execute("COMMIT")
                continue
            migration(db)
            conn.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, now))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            error = store_error(exc, f"{where}: migration {name} failed")
            raise error or StoreError(f"{where}: migration {name} failed: {exc}") from exc
        done.append(name)
    return done
