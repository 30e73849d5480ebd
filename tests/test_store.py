"""The store: migrations, one transaction per batch, history only when something changed."""

from __future__ import annotations

import json
import sqlite3

import pytest
import sqlite_utils

from harvester.errors import StoreError
from harvester.merge import Conflict, Contribution, build_work
from harvester.models import Author, LocalEdit, Merged, NotFound, Record
from harvester.store import Answer, open_store
from harvester.store.migrations import MIGRATIONS, migrate


class Clock:
    def __init__(self) -> None:
        self.t = 0

    def __call__(self) -> str:
        self.t += 1
        return f"2026-11-23T00:00:{self.t:02d}Z"


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "sub" / "h.db", now=Clock())
    yield s
    s.close()


def record(**kw) -> Record:
    base = dict(
        source="crossref",
        doi="10.1000/ABC",
        type="journal-article",
        title="A title",
        issued="2015-08",
        authors=(Author(given="Ada", family="Lovelace", orcid="0000-0002-1825-0097"),),
    )
    return Record(**{**base, **kw})


def observe(rec: Record, key: str = "10.1000/abc", payload_hash: str | None = None) -> Merged:
    return Merged(
        source="crossref",
        key=key,
        display=rec.doi or key,
        work=build_work([rec]),
        answers=(Answer("crossref", key, "ok", "{}", payload_hash or repr(rec)),),
    )


def table_columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def test_empty_database_migrates_to_the_public_schema(store):
    conn = store.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert {r[0] for r in conn.execute("SELECT name FROM _migrations")} == {
        n for n, _ in MIGRATIONS
    }
    assert {
        "id", "doi", "repec_handle", "type", "title", "container_title", "issn", "volume", "issue",
        "pages", "year", "published", "publisher", "abstract", "url", "version", "updated_at",
    } <= table_columns(conn, "works")  # fmt: skip
    assert {
        "work_id",
        "position",
        "given",
        "family",
        "name",
        "orcid",
        "affiliation",
    } <= table_columns(conn, "authors")
    assert {
        "source", "identifier", "work_id", "status", "fetched_at", "payload", "payload_hash"
    } <= table_columns(conn, "source_records")  # fmt: skip
    assert {
        "work_id", "run_id", "field", "old_value", "new_value", "source", "changed_at"
    } <= table_columns(conn, "changes")  # fmt: skip
    assert {
        "id", "started_at", "finished_at", "command", "status", "requested", "created", "changed",
        "unchanged", "not_found", "failed",
    } <= table_columns(conn, "runs")  # fmt: skip
    indexes = {r[1] for r in conn.execute("SELECT * FROM sqlite_master WHERE type = 'index'")}
    assert "source_records_unique" in indexes


def test_reopening_applies_nothing_twice(tmp_path):
    path = tmp_path / "h.db"
    open_store(path).close()
    s = open_store(path)
    assert s.conn.execute("SELECT count(*) FROM _migrations").fetchone()[0] == len(MIGRATIONS)
    s.close()


def test_a_database_from_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "h.db"
    open_store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO _migrations VALUES ('9999_from_the_future', 'x')")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer harvester"):
        open_store(path)


def test_an_unwritable_path_is_a_store_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="cannot"):
        open_store(blocker / "h.db")


def test_created_then_unchanged_writes_no_new_version_or_changes(store):
    run = store.runs.start("test")
    [first] = store.write_batch(run, [observe(record())])
    assert first.status == "created" and first.version == 1
    created_rows = store.conn.execute("SELECT count(*) FROM changes").fetchone()[0]

    run2 = store.runs.start("test")
    [again] = store.write_batch(run2, [observe(record(), payload_hash="another hash")])
    assert again.status == "unchanged"
    assert store.conn.execute("SELECT count(*) FROM changes").fetchone()[0] == created_rows
    assert store.works.get(first.work_id)["version"] == 1
    assert store.runs.get(run2)["unchanged"] == 1 and store.runs.get(run2)["changed"] == 0


def test_a_changed_record_bumps_the_version_and_records_each_field(store):
    run = store.runs.start("test")
    [first] = store.write_batch(run, [observe(record(pages="1-10"))])
    run2 = store.runs.start("test")
    changed = record(
        title="A better title",
        pages=None,  # a change to empty
        volume="7",  # a change from empty
        authors=(Author(given="Ada", family="Lovelace"), Author(name="The Analytical Society")),
    )
    [outcome] = store.write_batch(run2, [observe(changed)])
    assert outcome.status == "changed"
    assert outcome.fields == ("title", "volume", "pages", "authors")
    work = store.works.get(first.work_id)
    assert work["version"] == 2 and work["title"] == "A better title" and work["pages"] is None
    assert [a["name"] or a["family"] for a in work["authors"]] == [
        "Lovelace",
        "The Analytical Society",
    ]
    rows = store.conn.execute(
        "SELECT field, old_value, new_value, source FROM changes WHERE run_id = ? ORDER BY id",
        (run2,),
    ).fetchall()
    assert rows[0] == ("title", "A title", "A better title", "crossref")
    assert rows[1] == ("volume", None, "7", "crossref")
    assert rows[2] == ("pages", "1-10", None, "crossref")
    assert rows[3][0] == "authors" and "Analytical Society" in rows[3][2]
    assert store.runs.get(run2)["changed"] == 1


def test_a_failing_batch_leaves_nothing_behind(store, monkeypatch):
    run = store.runs.start("test")
    good = observe(record(doi="10.1000/good"), key="10.1000/good")
    bad = observe(record(doi="10.1000/bad"), key="10.1000/bad")
    original = store.works._insert_work
    calls = []

    def explode(work, now):
        calls.append(work)
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        return original(work, now)

    monkeypatch.setattr(store.works, "_insert_work", explode)
    with pytest.raises(RuntimeError):
        store.write_batch(run, [good, bad])
    for table in ("works", "authors", "changes", "identifiers", "source_records"):
        assert store.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table
    assert store.runs.get(run)["requested"] == 0


def test_an_alias_finds_the_same_work(store):
    run = store.runs.start("test")
    obs = observe(record(doi="10.1000/PRIME"), key="10.1000/alias")
    [outcome] = store.write_batch(run, [obs])
    assert store.works.find_work_id("doi", "10.1000/alias") == outcome.work_id
    assert store.works.find_work_id("doi", "10.1000/prime") == outcome.work_id


def test_not_found_is_stored_as_such(store):
    run = store.runs.start("test")
    obs = NotFound(
        source="crossref",
        key="10.1000/nope",
        answers=(Answer("crossref", "10.1000/nope", "not_found"),),
    )
    [outcome] = store.write_batch(run, [obs])
    assert outcome.status == "not_found"
    row = store.conn.execute("SELECT status, payload FROM source_records").fetchone()
    assert row == ("not_found", None)
    store.write_batch(store.runs.start("test"), [obs])
    assert store.conn.execute("SELECT count(*) FROM source_records").fetchone()[0] == 1


def test_the_same_payload_is_kept_once(store):
    run = store.runs.start("test")
    store.write_batch(run, [observe(record(), payload_hash="h1")])
    store.write_batch(store.runs.start("test"), [observe(record(), payload_hash="h1")])
    store.write_batch(store.runs.start("test"), [observe(record(title="New"), payload_hash="h2")])
    hashes = [
        r[0] for r in store.conn.execute("SELECT payload_hash FROM source_records ORDER BY id")
    ]
    assert hashes == ["h1", "h2"]
    [work_id] = store.works.latest_answers([1])
    assert store.works.latest_answers([work_id])[work_id]["crossref"].payload_hash == "h2"


def test_an_alias_of_an_existing_work_joins_it_instead_of_keeping_its_own(store):
    """Crossref later makes X an alias of Y: X must find Y's work, never a second copy of Y."""
    run = store.runs.start("test")
    [x] = store.write_batch(run, [observe(record(doi="10.1000/X", title="X"), key="10.1000/x")])
    [y] = store.write_batch(run, [observe(record(doi="10.1000/Y", title="Y"), key="10.1000/y")])
    as_alias = Merged(
        source="crossref",
        key="10.1000/x",
        work=build_work([record(doi="10.1000/Y", title="Y")]),
        answers=(Answer("crossref", "10.1000/x", "ok", "{}", "y-again"),),
        aliases=("10.1000/y",),
    )
    [outcome] = store.write_batch(store.runs.start("test"), [as_alias])
    assert outcome.work_id == y.work_id != x.work_id
    assert store.works.find_work_id("doi", "10.1000/x") == y.work_id
    dois = [r[0] for r in store.conn.execute("SELECT doi FROM works WHERE doi = '10.1000/Y'")]
    assert dois == ["10.1000/Y"]
    # X's old work is merged into Y's, not left behind without identifiers: its source records
    # and history follow, and the merge is itself in Y's history.
    assert store.works.get(x.work_id) is None
    assert store.conn.execute("SELECT count(*) FROM works").fetchone()[0] == 1
    moved = store.conn.execute("SELECT DISTINCT work_id FROM source_records").fetchall()
    assert moved == [(y.work_id,)]
    fields = [c["field"] for c in store.works.history(y.work_id)]
    assert fields.count("title") == 2 and "merged_work_id" in fields


def test_a_read_only_command_does_not_create_a_database(tmp_path):
    missing = tmp_path / "typo" / "h.db"
    with pytest.raises(StoreError, match="no such database"):
        open_store(missing, create=False)
    assert not missing.parent.exists()


def test_processes_creating_the_same_new_database_at_once_all_succeed(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "new.db"
    code = "import sys; from harvester.store import open_store; open_store(sys.argv[1]).close()"
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(path)], stderr=subprocess.PIPE)
        for _ in range(6)
    ]
    errors = [p.communicate()[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, errors
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM _migrations").fetchone()[0] == len(MIGRATIONS)
    conn.close()


def test_agencies_are_kept_per_prefix_and_unknown_prefixes_expire(store):
    assert store.agencies.known() == {}
    store.agencies.keep({"10.5061": "datacite", "10.9999": None})
    store.agencies.keep({"10.7554": "crossref", "10.5061": "datacite"})
    assert store.agencies.known() == {
        "10.5061": "datacite",
        "10.7554": "crossref",
        "10.9999": None,
    }
    # The clock of this store counts seconds from 2026-11-23T00:00:00Z.
    assert "10.9999" not in store.agencies.known(unknown_since="2026-11-24")
    assert store.agencies.known(unknown_since="2026-11-24")["10.5061"] == "datacite"


def test_enrichment_fields_are_stored_and_compared(store):
    rec = record(subjects=("Ecology",), openalex_id="https://openalex.org/W1", oa_status="gold")
    run = store.runs.start("test")
    [created] = store.write_batch(run, [observe(rec)])
    work = store.works.get(created.work_id)
    assert (work["subjects"], work["openalex_id"], work["oa_status"]) == (
        '["Ecology"]',
        "https://openalex.org/W1",
        "gold",
    )
    [changed] = store.write_batch(
        store.runs.start("test"), [observe(record(subjects=("Ecology",), oa_status="green"))]
    )
    assert changed.fields == ("openalex_id", "oa_status")


def old_database(path, stop_before: str) -> sqlite_utils.Database:
    """A database as a harvester from before migration `stop_before` left it."""
    db = sqlite_utils.Database(sqlite3.connect(path, isolation_level=None))
    migrate(db, "2026-01-01T00:00:00Z", stop_before=stop_before)
    return db


def test_a_database_from_the_first_schema_is_upgraded_in_place(tmp_path):
    path = tmp_path / "old.db"
    old = old_database(path, stop_before=MIGRATIONS[1][0])
    assert [r[0] for r in old.execute("SELECT name FROM _migrations")] == ["0001_initial"]
    old.execute(
        "INSERT INTO works (doi, title, version, created_at, updated_at) "
        "VALUES ('10.1/x', 'Kept', 1, 't', 't')"
    )
    old.close()

    upgraded = open_store(path)
    assert upgraded.conn.execute("SELECT title, oa_status FROM works").fetchall() == [
        ("Kept", None)
    ]
    assert {"work_id", "field", "source", "value"} <= table_columns(upgraded.conn, "conflicts")
    assert {"prefix", "agency", "checked_at"} <= table_columns(upgraded.conn, "agencies")
    applied = [r[0] for r in upgraded.conn.execute("SELECT name FROM _migrations ORDER BY name")]
    assert applied == [name for name, _ in MIGRATIONS]
    upgraded.close()


def test_an_existing_history_is_classed_by_kind_when_upgraded(tmp_path):
    """0013 tells a work's first values from the corrections in a history written before it."""
    path = tmp_path / "old.db"
    old = old_database(path, stop_before="0013_change_kinds")
    for run_id, command in ((1, "harvest doi"), (2, "harvest run"), (3, "harvest reparse")):
        old.execute(
            "INSERT INTO runs (id, started_at, command, status) VALUES (?, 't', ?, 'ok')",
            [run_id, command],
        )
    old.execute(
        "INSERT INTO works (id, doi, title, version, created_at, updated_at) "
        "VALUES (1, '10.1/x', 'New', 3, 't', 't')"
    )
    rows = [
        (1, "title", None, "Old", "crossref"),  # the first values
        (1, "doi", None, "10.1/x", "crossref"),
        (2, "title", "Old", "New", "crossref"),  # a correction
        (2, "pages", None, "1-2", "openalex"),  # a value set later: a correction too
        (2, "merged_work_id", "7", "1", "crossref"),
        (3, "issue", None, "4", "crossref"),  # a newer parser's
    ]
    for run_id, field, old_value, new_value, source in rows:
        old.execute(
            "INSERT INTO changes (work_id, run_id, field, old_value, new_value, source, "
            "changed_at) VALUES (1, ?, ?, ?, ?, ?, 't')",
            [run_id, field, old_value, new_value, source],
        )
    old.close()

    upgraded = open_store(path)
    kinds = upgraded.conn.execute("SELECT run_id, field, kind FROM changes ORDER BY id").fetchall()
    upgraded.close()
    assert kinds == [
        (1, "title", "first"),
        (1, "doi", "first"),
        (2, "title", "update"),
        (2, "pages", "update"),
        (2, "merged_work_id", "merge"),
        (3, "issue", "reparse"),
    ]


def test_latest_answers_give_each_sources_last_word_about_a_work(store):
    run = store.runs.start("test")
    first = observe(record(), payload_hash="h1")
    [created] = store.write_batch(run, [first])
    later = Merged(
        source="crossref",
        key="10.1000/abc",
        work=build_work([record(title="B")]),
        answers=(
            Answer("crossref", "10.1000/abc", "ok", '{"v": 2}', "h2"),
            Answer("openalex", "10.1000/abc", "not_found"),
        ),
    )
    store.write_batch(store.runs.start("test"), [later])
    latest = store.works.latest_answers([created.work_id], with_payload=True)[created.work_id]
    assert (latest["crossref"].payload_hash, latest["crossref"].payload) == ("h2", '{"v": 2}')
    assert latest["openalex"].status == "not_found"
    assert (
        store.works.latest_answers([created.work_id])[created.work_id]["crossref"].payload is None
    )


def test_not_found_is_remembered_per_identifier_for_the_recheck_period(store):
    missing = NotFound(
        source="crossref",
        key="10.1000/gone",
        answers=(Answer("crossref", "10.1000/gone", "not_found"),),
    )
    store.write_batch(store.runs.start("test"), [missing, observe(record())])
    seen = store.agencies.recently_not_found(
        ["10.1000/gone", "10.1000/abc", "10.1000/never"], "2000"
    )
    assert list(seen) == ["10.1000/gone"]
    assert store.agencies.recently_not_found(["10.1000/gone"], "2999") == {}


def test_local_values_are_kept_apart_and_win_until_unset(store):
    [created] = store.write_batch(store.runs.start("test"), [observe(record())])
    local = Contribution("local", {"title": "Mine", "year": 2016})
    edit = LocalEdit(
        key="",
        work_id=created.work_id,
        work=build_work([record(), local]),
        local={"title": "Mine", "year": 2016},
    )
    [changed] = store.write_batch(store.runs.start("set"), [edit])
    assert changed.fields == ("title", "year")
    assert store.works.local_values([created.work_id])[created.work_id].values == {
        "title": "Mine",
        "year": 2016,
    }
    sources = {
        c["field"]: c["source"] for c in store.works.history(created.work_id) if c["run_id"] == 2
    }
    assert sources == {"title": "local", "year": "local"}
    unset = LocalEdit(
        key="",
        work_id=created.work_id,
        work=build_work([record(), Contribution("local", {"year": 2016})]),
        local={"title": None},
    )
    store.write_batch(store.runs.start("unset"), [unset])
    assert store.works.get(created.work_id)["title"] == "A title"
    assert store.works.local_values([created.work_id])[created.work_id].values == {"year": 2016}


def test_conflicts_are_replaced_by_what_sources_disagree_on_now(store):
    with_conflict = Merged(
        source="crossref",
        key="10.1000/abc",
        work=build_work([record()]),
        answers=(Answer("crossref", "10.1000/abc", "ok", "{}", "h1"),),
        conflicts=(Conflict("pages", "crossref", "1-2"), Conflict("pages", "openalex", "1-3")),
    )
    [created] = store.write_batch(store.runs.start("test"), [with_conflict])
    rows = store.conn.execute(
        "SELECT field, source, value FROM conflicts WHERE work_id = ? ORDER BY source",
        (created.work_id,),
    ).fetchall()
    assert rows == [("pages", "crossref", "1-2"), ("pages", "openalex", "1-3")]
    resolved = Merged(
        source="crossref",
        key="10.1000/abc",
        work=build_work([record(title="New")]),
        answers=(Answer("crossref", "10.1000/abc", "ok", "{}", "h2"),),
        conflicts=(),
    )
    store.write_batch(store.runs.start("test"), [resolved])
    assert store.conn.execute("SELECT count(*) FROM conflicts").fetchone()[0] == 0


def test_a_work_without_any_identifier_is_kept(store):
    local = Contribution("local", {"title": "A report we wrote"})
    obs = LocalEdit(
        key="",
        work=build_work([local]),
        local={"title": "A report we wrote"},
        origin="import",
    )
    [created] = store.write_batch(store.runs.start("import"), [obs])
    assert created.status == "created"
    assert store.works.get(created.work_id)["identifiers"] == []
    assert store.conn.execute("SELECT origin FROM local_fields").fetchall() == [("import",)]


def test_stop_before_names_a_migration_or_nothing_is_applied(tmp_path):
    db = sqlite_utils.Database(sqlite3.connect(tmp_path / "h.db", isolation_level=None))
    with pytest.raises(ValueError, match="no such migration"):
        migrate(db, "t", stop_before="0003_typo")
    assert db.table_names() == []  # refused before anything was written
    assert migrate(db, "t", stop_before=MIGRATIONS[0][0]) == []


# --- the exact schema ------------------------------------------------------------------------
# What a blank database is migrated to, whole: a migration that adds, drops or retypes a column,
# an index or a trigger must say so here (the store's parts and Datasette read these tables).

EXPECTED_COLUMNS = {
    "_migrations": {"name": str, "applied_at": str},
    "runs": {
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
        "paused": str,
    },
    "works": {
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
        "subjects": str,
        "resource_version": str,
        "openalex_id": str,
        "oa_status": str,
        "oa_url": str,
        "container_short_title": str,
        "titles": str,
        "abstracts": str,
        "contributors": str,
        "funders": str,
        "isbn": str,
        "series_title": str,
        "series_number": str,
        "report_number": str,
        "event_name": str,
        "event_place": str,
        "event_date": str,
        "publisher_place": str,
        "degree": str,
        "reference_list": str,
        "citation_counts": str,
        "other_ids": str,
        "jel_codes": str,
        "publication_status": str,
        "revised": str,
        "files": str,
    },
    "authors": {
        "work_id": int,
        "position": int,
        "given": str,
        "family": str,
        "name": str,
        "orcid": str,
        "affiliation": str,
        "repec_id": str,
    },
    "identifiers": {"scheme": str, "key": str, "value": str, "work_id": int},
    "deleted_works": {
        "work_id": int,
        "doi": str,
        "repec_handle": str,
        "title": str,
        "run_id": int,
        "deleted_at": str,
        "record": str,
    },
    "digests": {
        "id": int,
        "created_at": str,
        "status": str,
        "since_run": int,
        "until_run": int,
        "recipients": str,
        "notices": int,
        "changes": int,
        "new_works": int,
        "failures": int,
        "error": str,
    },
    "claims": {
        "id": int,
        "person_id": int,
        "work_id": int,
        "status": str,
        "found_by": str,
        "evidence": str,
        "found_at": str,
        "reason": str,
        "settled_at": str,
    },
    "people": {
        "id": int,
        "name": str,
        "created_at": str,
        "updated_at": str,
    },
    "person_ids": {
        "person_id": int,
        "scheme": str,
        "value": str,
        "key": str,
        "added_at": str,
    },
    "institutions": {
        "key": str,
        "ror": str,
        "name": str,
        "added_at": str,
    },
    "integrity_notices": {
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
    "notice_reviews": {
        "work_id": int,
        "kind": str,
        "asserted_by": str,
        "notice_doi": str,
        "record_id": str,
        "decision": str,
        "reason": str,
        "run_id": int,
        "reviewed_at": str,
    },
    "retraction_sets": {
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
    "source_records": {
        "id": int,
        "source": str,
        "identifier": str,
        "work_id": int,
        "status": str,
        "fetched_at": str,
        "last_seen_at": str,
        "payload": str,
        "payload_hash": str,
        "payload_z": bytes,
        "payload_dict": int,
        "payload_base": int,
    },
    "payload_dicts": {"id": int, "source": str, "dict": bytes, "samples": int},
    "changes": {
        "id": int,
        "work_id": int,
        "run_id": int,
        "field": str,
        "old_value": str,
        "new_value": str,
        "source": str,
        "changed_at": str,
        "kind": str,
    },
    "agencies": {"prefix": str, "agency": str, "checked_at": str},
    "conflicts": {
        "work_id": int,
        "field": str,
        "source": str,
        "value": str,
        "run_id": int,
        "seen_at": str,
    },
    "local_fields": {"work_id": int, "field": str, "value": str, "origin": str, "updated_at": str},
    "repec_files": {
        "path": str,
        "version": str,
        "content_hash": str,
        "encoding": str,
        "templates": int,
        "errors": int,
        "checked_at": str,
    },
    "repec_handles": {"key": str, "handle": str, "path": str, "type": str, "line": int},
    "feeds": {
        "feed": str,
        "kind": str,
        "endpoint": str,
        "params": str,
        "watermark": str,
        "completed_at": str,
        "completed_run_id": int,
        "records": int,
        "tried_at": str,
        "error": str,
        "cursor": str,
    },
    "watchlist": {"scheme": str, "key": str, "value": str, "added_at": str},
    "watch_due": {
        "scheme": str,
        "key": str,
        "source": str,
        "next_due_at": str,
        "last_status": str,
        "streak": int,
        "last_tried_at": str,
        "last_error": str,
    },
    "linked_dois": {
        "key": str,
        "value": str,
        "carried_by_scheme": str,
        "carried_by": str,
        "since": str,
        "next_due_at": str,
        "last_status": str,
        "streak": int,
        "last_tried_at": str,
        "last_error": str,
        "tried_run_id": int,
    },
    "works_fts": {"title": str, "abstract": str, "authors": str},
    "run_failures": {"run_id": int, "kind": str, "count": int},
    "fts_deferred": {"work_id": int},
    "match_candidates": {
        "work_id": int,
        "doi": str,
        "score": float,
        "decision": str,
        "reasons": str,
        "title": str,
        "year": int,
        "authors": str,
        "container_title": str,
        "run_id": int,
        "found_at": str,
        "settled_at": str,
        "settled_by": str,
    },
}
EXPECTED_INDEXES = {
    "idx_changes_run_id": ("changes", ("run_id",)),
    "idx_changes_kind_run_id": ("changes", ("kind", "run_id")),
    "idx_changes_work_id_changed_at": ("changes", ("work_id", "changed_at")),
    "idx_identifiers_work_id": ("identifiers", ("work_id",)),
    "idx_match_candidates_decision_work_id": ("match_candidates", ("decision", "work_id")),
    "idx_match_candidates_doi": ("match_candidates", ("doi",)),
    "idx_repec_handles_path": ("repec_handles", ("path",)),
    "idx_source_records_work_id": ("source_records", ("work_id",)),
    "idx_source_records_work_id_source_last_seen_at": (
        "source_records",
        ("work_id", "source", "last_seen_at"),
    ),
    "idx_watch_due_next_due_at": ("watch_due", ("next_due_at",)),
    "idx_linked_dois_next_due_at": ("linked_dois", ("next_due_at",)),
    "idx_works_doi": ("works", ("doi",)),
    "idx_works_openalex_id": ("works", ("openalex_id",)),
    "idx_works_repec_handle": ("works", ("repec_handle",)),
    "idx_works_updated_at": ("works", ("updated_at",)),
    "source_records_unique": ("source_records", ("source", "identifier", "payload_hash")),
    "source_records_text": ("source_records", ("id",)),
    "source_records_base": ("source_records", ("payload_base",)),
    "idx_payload_dicts_source": ("payload_dicts", ("source",)),
    "integrity_notices_key": (
        "integrity_notices",
        ("work_id", "kind", "asserted_by", None, None),
    ),
    "integrity_notices_first_seen": ("integrity_notices", ("first_seen_run",)),
    "sqlite_autoindex__migrations_1": ("_migrations", ("name",)),
    "sqlite_autoindex_agencies_1": ("agencies", ("prefix",)),
    "sqlite_autoindex_authors_1": ("authors", ("work_id", "position")),
    "sqlite_autoindex_conflicts_1": ("conflicts", ("work_id", "field", "source")),
    "sqlite_autoindex_feeds_1": ("feeds", ("feed",)),
    "sqlite_autoindex_identifiers_1": ("identifiers", ("scheme", "key")),
    "sqlite_autoindex_linked_dois_1": ("linked_dois", ("key",)),
    "sqlite_autoindex_local_fields_1": ("local_fields", ("work_id", "field")),
    "sqlite_autoindex_match_candidates_1": ("match_candidates", ("work_id", "doi")),
    "claims_person_work": ("claims", ("person_id", "work_id")),
    "idx_claims_status_person_id": ("claims", ("status", "person_id")),
    "person_ids_scheme_key": ("person_ids", ("scheme", "key")),
    "sqlite_autoindex_person_ids_1": ("person_ids", ("person_id", "scheme", "key")),
    "person_ids_held": ("person_ids", ("scheme", "key")),
    "sqlite_autoindex_institutions_1": ("institutions", ("key",)),
    "sqlite_autoindex_repec_files_1": ("repec_files", ("path",)),
    "sqlite_autoindex_repec_handles_1": ("repec_handles", ("key",)),
    "sqlite_autoindex_run_failures_1": ("run_failures", ("run_id", "kind")),
    "sqlite_autoindex_watch_due_1": ("watch_due", ("scheme", "key", "source")),
    "sqlite_autoindex_watchlist_1": ("watchlist", ("scheme", "key")),
    "sqlite_autoindex_notice_reviews_1": (
        "notice_reviews",
        ("work_id", "kind", "asserted_by", "notice_doi", "record_id"),
    ),
}
EXPECTED_TRIGGERS = {
    "authors_fts_delete": "authors",
    "authors_fts_insert": "authors",
    "authors_fts_update": "authors",
    "fts_deferred_done": "fts_deferred",
    "works_fts_delete": "works",
    "works_fts_insert": "works",
    "works_fts_update": "works",
}
EXPECTED_VIEWS = {"change_log", "works_with_authors"}

#: FTS5's own tables behind works_fts: their columns are SQLite's business.
FTS5_SHADOW_TABLES = {
    f"works_fts_{part}" for part in ("data", "idx", "content", "docsize", "config")
}


def test_a_blank_database_migrates_to_exactly_this_schema(tmp_path):
    db = open_store(tmp_path / "h.db").db
    assert set(db.table_names()) == set(EXPECTED_COLUMNS) | FTS5_SHADOW_TABLES
    for table in db.tables:
        if table.name not in FTS5_SHADOW_TABLES:
            assert table.columns_dict == EXPECTED_COLUMNS[table.name], table.name
    indexes = {
        name: (table, tuple(row[2] for row in db.execute(f"PRAGMA index_info('{name}')")))
        for name, table in db.execute(
            "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index'"
        )
    }
    assert indexes == EXPECTED_INDEXES
    triggers = dict(db.execute("SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger'"))
    assert triggers == EXPECTED_TRIGGERS
    assert set(db.view_names()) == EXPECTED_VIEWS
    db.close()


# --- the parts behind the facade --------------------------------------------------------------


def test_the_parts_write_in_the_facades_one_transaction(store, monkeypatch):
    """A batch's works, due times and run counts commit together or not at all."""
    store.watch.track([("doi", "10.1000/abc", "10.1000/ABC")])
    due_before = store.watch.tracked()
    run = store.runs.start("test")

    def explode(*args):
        raise RuntimeError("after the works, before the counts")

    monkeypatch.setattr(store.runs, "add_outcomes", explode)
    with pytest.raises(RuntimeError):
        store.write_batch(run, [observe(record())])
    assert store.conn.execute("SELECT count(*) FROM works").fetchone()[0] == 0
    assert store.watch.tracked() == due_before
    assert store.runs.counts(run).requested == 0


def populate(store) -> dict[str, int]:
    """Works with several sources, an alias, a RePEc handle, local values (authors among them)
    and a not-found answer that names no work."""
    run = store.runs.start("test")
    [a, b] = store.write_batch(
        run,
        [
            observe(record(doi="10.1000/A"), key="10.1000/a", payload_hash="a1"),
            Merged(
                source="crossref",
                key="10.1000/b-alias",
                work=build_work([record(doi="10.1000/B", title="B")]),
                answers=(Answer("crossref", "10.1000/b-alias", "ok", '{"b": 1}', "b1"),),
                aliases=("10.1000/b",),
            ),
        ],
    )
    later = Merged(
        source="crossref",
        key="10.1000/a",
        work=build_work([record(doi="10.1000/A", title="A, again")]),
        answers=(
            Answer("crossref", "10.1000/a", "ok", '{"a": 2}', "a2"),
            Answer("openalex", "10.1000/a", "not_found"),
        ),
    )
    handle = Merged(
        source="repec",
        key="repec:wpa:wuwpma:0001",
        scheme="repec",
        work=build_work([record(source="repec", doi=None, repec_handle="RePEc:wpa:wuwpma:0001")]),
        answers=(Answer("repec", "repec:wpa:wuwpma:0001", "ok", '{"r": 1}', "r1"),),
    )
    gone = NotFound(
        source="crossref",
        key="10.1000/gone",
        answers=(Answer("crossref", "10.1000/gone", "not_found"),),
    )
    [_, c, _] = store.write_batch(store.runs.start("test"), [later, handle, gone])
    byline = json.dumps([{"family": "Hopper", "given": "Grace"}])
    local = {"title": "Mine", "year": 2016, "authors": byline}
    edit = LocalEdit(
        key="",
        work_id=a.work_id,
        work=build_work([record(), Contribution("local", {"title": "Mine", "year": 2016})]),
        local=local,
    )
    store.write_batch(store.runs.start("set"), [edit])
    return {"a": a.work_id, "b": b.work_id, "c": c.work_id}


def test_a_snapshot_agrees_with_the_reads_it_replaces(store):
    ids = populate(store)
    keys = [
        ("doi", "10.1000/a"),
        ("doi", "10.1000/b-alias"),
        ("doi", "10.1000/b"),
        ("doi", "10.1000/a"),  # asked twice
        ("doi", "10.1000/gone"),  # answered, but no work
        ("doi", "10.1000/never"),
        ("repec", "repec:wpa:wuwpma:0001"),
        ("repec", "10.1000/a"),  # a DOI key under another scheme finds nothing
    ]
    snapshot = store.works.snapshot(keys)

    work_ids = {}
    for scheme in ("doi", "repec"):
        asked = [key for s, key in keys if s == scheme]
        found = store.works.find_work_ids(scheme, asked)
        work_ids.update({(scheme, key): work_id for key, work_id in found.items()})
    found_ids = sorted(set(work_ids.values()))
    assert dict(snapshot.work_ids) == work_ids
    assert sorted(set(work_ids.values())) == sorted(ids.values())
    assert snapshot.answers == store.works.latest_answers(found_ids, with_payload=True)
    assert snapshot.local == store.works.local_values(found_ids)
    # What it holds, so that agreement is not agreement on nothing.
    assert snapshot.answers[ids["a"]]["crossref"].payload == '{"a": 2}'
    assert snapshot.answers[ids["a"]]["openalex"].status == "not_found"
    assert snapshot.local[ids["a"]].values == {"title": "Mine", "year": 2016}
    assert snapshot.local[ids["a"]].authors == (Author(given="Grace", family="Hopper"),)
    assert set(snapshot.local) == {ids["a"]}


def test_a_snapshot_reads_a_whole_chunk_in_three_queries(store):
    ids = populate(store)
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    try:
        # Far more keys than one IN (...) list may bind: still three queries.
        keys = [("doi", f"10.1000/unknown-{n}") for n in range(40_000)]
        snapshot = store.works.snapshot([*keys, ("doi", "10.1000/a")])
    finally:
        store.conn.set_trace_callback(None)
    assert len(statements) == 3, statements
    assert dict(snapshot.work_ids) == {("doi", "10.1000/a"): ids["a"]}
    assert set(snapshot.answers) == {ids["a"]} and set(snapshot.local) == {ids["a"]}


def test_a_snapshot_of_nothing_known_is_empty(store):
    populate(store)
    snapshot = store.works.snapshot([("doi", "10.1000/never")])
    assert (dict(snapshot.work_ids), dict(snapshot.answers), dict(snapshot.local)) == ({}, {}, {})
    assert store.works.snapshot([]).work_ids == {}
