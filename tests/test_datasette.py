"""The harvest as people inspect it: the real Datasette, with config/datasette.yml, on a database
built by real harvests through the local upstream. Every table and view renders, every canned
query answers the question it is named for, facets count, the search box finds a work by its
title, abstract or authors and follows their changes, and Datasette reads while a harvest writes.
"""

from __future__ import annotations

import asyncio
import copy
import html
import json
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
import yaml
from conftest import Clock, load_json
from datasette.app import Datasette
from fakes import query
from upstream import ReplayUpstream

from harvester.due import format_time
from harvester.identifiers import parse_doi
from harvester.merge import WorkValues
from harvester.models import Author
from harvester.pipeline import connect, harvest, harvest_due
from harvester.store import migrations, open_store

ROOT = Path(__file__).resolve().parents[1]
METADATA_FILE = ROOT / "config" / "datasette.yml"
METADATA = yaml.safe_load(METADATA_FILE.read_text(encoding="utf-8"))
HARVEST = METADATA["databases"]["harvest"]

ELIFE = "10.7554/eLife.01567"  # Crossref and OpenAlex; changed by the last run
PONE = "10.1371/journal.pone.0033693"  # Crossref: updated-by a correction
PPAT = "10.1371/journal.ppat.1008184"  # Crossref: updated-by a new version, not a correction
DRYAD = "10.5061/dryad.8515"  # DataCite dataset
NOBODY = "10.99999/never-registered"  # no agency knows it: not found
FAILING = "10.1371/journal.pmed.0030277.g001"  # tracked, and every answer about it is a 503

NEW_TITLE = "Automated histology of Arabidopsis hypocotyl growth, recounted"
NEW_AUTHOR = {"given": "Zoë", "family": "Quennell", "sequence": "additional", "affiliation": []}

#: Days before now of the three runs the database is built by; the third is "the last run".
RUN_DAYS_AGO = (40, 10, 2)


def serve(upstream: ReplayUpstream) -> None:
    upstream.add_crossref(
        "10.7554_elife.01567", "10.1371_journal.pone.0033693", "10.1371_journal.ppat.1008184"
    )
    upstream.add_datacite("10.5061_dryad.8515")
    upstream.add_openalex("10.7554_elife.01567")


def harvest_dois(store, config, *dois):
    return harvest(
        [parse_doi(d) for d in dois],
        store=store,
        client=connect(config),
        config=config,
        command="harvest doi " + " ".join(dois),
    )


def change_elife(upstream: ReplayUpstream, **fields) -> None:
    """What Crossref says of eLife changes: a new title, Xenarios leaves the byline and Quennell
    joins it, the volume becomes one OpenAlex disagrees with."""
    message = load_json("crossref/10.7554_elife.01567.json")["message"]
    authors = [a for a in message["author"] if a.get("family") != "Xenarios"] + [NEW_AUTHOR]
    upstream.change(ELIFE, **{"title": [NEW_TITLE], "author": authors, "volume": "4", **fields})


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """data/harvest.db after three runs: 40 days ago a harvest of five DOIs (one not found), 10
    days ago a `harvest run` of a tracked DOI whose every answer failed, 2 days ago a harvest in
    which eLife's title, authors and volume changed. Returns (path, the runs' start times)."""
    path = tmp_path_factory.mktemp("datasette") / "data" / "harvest.db"
    now = datetime.now(UTC).replace(microsecond=0)
    starts = [now - timedelta(days=days) for days in RUN_DAYS_AGO]
    clock = Clock(starts[0])
    with ReplayUpstream() as upstream:
        serve(upstream)
        config = upstream.config()
        store = open_store(path, now=clock)
        try:
            result = harvest_dois(store, config, ELIFE, PONE, PPAT, DRYAD, NOBODY)
            assert (result.counts.created, result.counts.not_found) == (4, 1)

            clock.moment = starts[1]
            store.watch.track([("doi", parse_doi(FAILING).key, FAILING)])
            upstream.fail("pmed.0030277", 503, times=None)
            result = harvest_due(
                store=store, client=connect(config), config=config, command="harvest run"
            )
            assert result.counts.failed == 1
            upstream.faults.clear()

            clock.moment = starts[2]
            change_elife(upstream)
            result = harvest_dois(store, config, ELIFE)
            assert result.counts.changed == 1
        finally:
            store.close()
    return path, starts


@pytest.fixture
def db(built) -> Path:
    return built[0]


def browse(db: Path, *paths: str) -> list:
    """GET each path from a Datasette serving `db` with the metadata, as `datasette data/harvest.db
    -m config/datasette.yml` does (the database is named after the file: harvest)."""

    async def go():
        # A copy: Datasette adds to the dict it is given (each canned query's name).
        ds = Datasette([str(db)], metadata=copy.deepcopy(METADATA))
        await ds.invoke_startup()
        try:
            return [await ds.client.get(path) for path in paths]
        finally:
            ds.databases["harvest"].close()

    return asyncio.run(go())


def rows(db: Path, path: str, **params) -> list[dict]:
    (response,) = browse(db, f"{path}.json?" + urlencode({"_shape": "array", **params}))
    assert response.status_code == 200, response.text
    return response.json()


def schema(db: Path) -> dict[str, tuple[str, list[str]]]:
    """Every table and view of the database (not FTS5's own shadow tables): name -> (type,
    columns)."""
    conn = sqlite3.connect(db)
    try:
        found = conn.execute(
            """SELECT name, type FROM sqlite_master
               WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%'
                 AND name NOT GLOB 'works_fts_*'"""
        ).fetchall()
        return {
            name: (kind, [c[1] for c in conn.execute(f'PRAGMA table_info("{name}")')])
            for name, kind in found
        }
    finally:
        conn.close()


def work_id(db: Path, doi: str) -> int:
    ((found,),) = query(db, "SELECT work_id FROM identifiers WHERE key = ?", parse_doi(doi).key)
    return found


# --- every table, view and canned query renders ---------------------------------------------


def test_every_table_and_view_renders_as_html_and_json(db):
    tables = schema(db)
    assert {"works", "changes", "runs", "works_with_authors", "change_log"} <= set(tables)
    paths = [f"/harvest/{name}{suffix}" for name in tables for suffix in ("", ".json?_shape=array")]
    responses = browse(db, "/", "/harvest", *paths)
    assert [r.status_code for r in responses] == [200] * len(responses)
    index = responses[1].text
    for name, response in zip(paths, responses[2:], strict=True):
        table = name.split("/")[2].split(".")[0]
        if name.endswith(".json?_shape=array"):
            count = query(db, f'SELECT count(*) FROM "{table}"')[0][0]
            assert len(response.json()) == min(count, 100), name
        else:
            assert f"<h1>{HARVEST['tables'][table]['title']}" in response.text, name
            # Datasette lists the FTS index among the hidden tables, every other one by name.
            assert f'href="/harvest/{table}"' in index or table == "works_fts"
    # The views hold what their names promise.
    (work,) = rows(db, "/harvest/works_with_authors", id=str(work_id(db, ELIFE)))
    assert work["authors"] == "Sankar, Martial; Nieminen, Kaisa; Ragni, Laura; " + (
        "Hardtke, Christian S; Quennell, Zoë"
    )
    assert work["identifiers"] == f"doi {ELIFE}" and work["version"] == 2
    assert work["title"] == NEW_TITLE
    log = rows(db, "/harvest/change_log", field="title", work_id=str(work["id"]))
    recorded_title = load_json("crossref/10.7554_elife.01567.json")["message"]["title"][0]
    assert [(c["new_value"], c["run_id"]) for c in log] == [(NEW_TITLE, 3), (recorded_title, 1)]
    assert (log[0]["title"], log[0]["run_command"], log[0]["run_status"]) == (
        NEW_TITLE,
        f"harvest doi {ELIFE}",
        "ok",
    )


def test_every_canned_query_runs_as_html_and_json(db, built):
    since = built[1][2].date().isoformat()
    names = list(HARVEST["queries"])
    assert len(names) == 11
    responses = browse(
        db,
        *(f"/harvest/{name}?since={since}" for name in names),
        *(f"/harvest/{name}.json?_shape=array&since={since}" for name in names),
    )
    assert [r.status_code for r in responses] == [200] * len(responses)
    pages, answers = responses[: len(names)], responses[len(names) :]
    for name, page in zip(names, pages, strict=True):
        assert HARVEST["queries"][name]["title"] in html.unescape(page.text)
    for answer in answers:
        assert isinstance(answer.json(), list)


def test_what_changed_in_the_last_run_and_since_a_date(db, built):
    starts = built[1]
    last = rows(db, "/harvest/last_run_changes")
    assert {(c["run_id"], c["doi"], c["field"]) for c in last} == {
        (3, parse_doi(ELIFE).key, field) for field in ("title", "authors", "volume")
    }
    (title,) = [c for c in last if c["field"] == "title"]
    assert title["new_value"] == NEW_TITLE and title["title"] == NEW_TITLE

    recent = rows(db, "/harvest/changed_since", since=(starts[2] - timedelta(days=1)).date())
    assert [(c["run_id"], c["field"]) for c in recent] == [(c["run_id"], c["field"]) for c in last]
    everything = rows(db, "/harvest/changed_since", since=starts[0].date().isoformat())
    assert len(everything) == query(db, "SELECT count(*) FROM changes")[0][0] > len(last)
    assert rows(db, "/harvest/changed_since", since=format_time(starts[2])) == recent
    assert rows(db, "/harvest/changed_since", since="2999-01-01") == []


def test_works_corrected_or_retracted_leave_new_versions_out(db):
    found = rows(db, "/harvest/corrected_or_retracted")
    assert [
        (w["doi"], w["kind"], w["asserted_by"], w["notice_doi"], w["notice_date"]) for w in found
    ] == [
        (
            PONE.lower(),
            "correction",
            "publisher",
            "10.1371/annotation/c76da2c1-ccb8-4797-94c1-359d3ceceeda",
            "2012-05-08",
        )
    ]
    assert found[0]["first_seen_run"] == 1
    # The new version of PPAT is in `updates` too, and rightly not listed.
    assert (
        "new_version"
        in query(db, "SELECT updates FROM works WHERE id = ?", work_id(db, PPAT))[0][0]
    )


def test_conflicts_between_sources_show_the_kept_value(db):
    """Crossref's new title and volume for eLife are not OpenAlex's; Crossref's are kept."""
    found = rows(db, "/harvest/source_conflicts")
    recorded_title = load_json("crossref/10.7554_elife.01567.json")["message"]["title"][0]
    assert [(c["field"], c["source"], c["source_value"], c["kept_value"]) for c in found] == [
        ("title", "crossref", NEW_TITLE, NEW_TITLE),
        ("title", "openalex", recorded_title, NEW_TITLE),
        ("volume", "crossref", "4", "4"),
        ("volume", "openalex", "3", "4"),
    ]
    assert {c["doi"] for c in found} == {parse_doi(ELIFE).key}


def test_identifiers_that_keep_failing_or_are_not_found(db):
    found = rows(db, "/harvest/failing_identifiers")
    by_identifier = {(r["identifier"], r["source"]): r for r in found}
    failing = by_identifier[(FAILING, "agency")]
    assert (failing["status"], failing["tries_in_a_row"]) == ("failed", 1)
    assert "503" in failing["last_error"] and failing["next_due_at"]
    nobody = by_identifier[(parse_doi(NOBODY).key, "doi.org")]
    assert nobody["status"] == "not_found"
    assert {r["status"] for r in found} == {"failed", "not_found"}
    assert found[0]["status"] == "failed"  # failures first
    # Works that were found are not listed, not even where OpenAlex had nothing on them.
    assert not {r["identifier"] for r in found} & {parse_doi(d).key for d in (ELIFE, PONE, DRYAD)}


def test_works_missing_an_abstract_or_orcids(db):
    found = rows(db, "/harvest/missing_abstract_or_orcids")
    expected = {}
    for (wid,) in query(db, "SELECT id FROM works"):
        (abstract,) = query(db, "SELECT abstract FROM works WHERE id = ?", wid)[0]
        people = query(
            db,
            """SELECT family, orcid FROM authors
               WHERE work_id = ? AND (family IS NOT NULL OR given IS NOT NULL) ORDER BY position""",
            wid,
        )
        without = [family for family, orcid in people if not orcid]
        if not abstract or without:
            expected[wid] = (int(not abstract), without)
    assert {
        w["work_id"]: (
            w["missing_abstract"],
            [n.split(",")[0] for n in (w["without_orcid"] or "").split("; ") if n],
        )
        for w in found
    } == expected
    assert any(missing for missing, _ in expected.values())  # both halves are exercised
    assert any(without for _, without in expected.values())


def test_runs_of_the_last_30_days_with_their_counts(db):
    found = rows(db, "/harvest/recent_runs")
    assert [r["id"] for r in found] == [3, 2]  # run 1, 40 days ago, is older
    last, tracked = found
    assert (last["changed"], last["requested"], last["field_changes"]) == (1, 1, 3)
    assert (tracked["command"], tracked["status"], tracked["failed"]) == (
        "harvest run",
        "failures",
        1,
    )
    assert last["seconds"] is not None and last["seconds"] >= 0


# --- facets and search ----------------------------------------------------------------------


def test_the_facets_of_every_table_count_its_rows(db):
    faceted = {name: meta["facets"] for name, meta in HARVEST["tables"].items() if "facets" in meta}
    assert faceted["works"] == ["type", "year", "container_title"]
    assert faceted["changes"] == ["kind", "field", "source"] and faceted["runs"] == ["status"]
    # Every value counted, not the first 30 (changes.field has more than 30 distinct fields).
    responses = browse(db, *(f"/harvest/{name}.json?_size=0&_facet_size=max" for name in faceted))
    for (name, facets), response in zip(faceted.items(), responses, strict=True):
        assert response.status_code == 200, name
        results = response.json()["facet_results"]
        assert sorted(results) == sorted(facets), name
        for facet in facets:
            counts = {r["value"]: r["count"] for r in results[facet]["results"]}
            column = f'"{facet}"'
            stored = dict(
                query(
                    db,
                    f"""SELECT {column}, count(*) FROM "{name}"
                        WHERE {column} IS NOT NULL AND {column} != '' GROUP BY {column}""",
                )
            )
            assert counts == stored, (name, facet)
    # The metadata's facets are what a new user sees; ?_facet= adds to them.
    (response,) = browse(db, "/harvest/works.json?_size=0&_facet=publisher")
    publishers = response.json()["facet_results"]["publisher"]["results"]
    assert {p["value"] for p in publishers} >= {"Dryad", "eLife Sciences Publications, Ltd"}
    types = {r["value"]: r["count"] for r in response.json()["facet_results"]["type"]["results"]}
    assert types == {"journal-article": 3, "dataset": 1}


@pytest.mark.parametrize("table", ["works", "works_with_authors"])
def test_search_finds_a_work_by_title_abstract_and_author(db, table):
    (page,) = browse(db, f"/harvest/{table}")
    assert 'name="_search"' in page.text  # the search box is there

    def found(word: str, **column) -> set[int]:
        return {w["id"] for w in rows(db, f"/harvest/{table}", _search=word, **column)}

    elife, pone, dryad = (work_id(db, d) for d in (ELIFE, PONE, DRYAD))
    assert found("Methylphenidate") == {pone}  # title
    assert found("malaria") == {dryad}  # title and abstract
    assert found("phloem") == {elife}  # abstract only
    assert found("Smeyne") == {pone}  # an author's family name
    assert found("Hardtke") == {elife}
    assert found("Christian") == {elife, work_id(db, PPAT)}  # given names too
    assert found("no-such-word-anywhere") == set()


def test_search_follows_the_changes_of_title_and_authors(db):
    elife = work_id(db, ELIFE)

    def found(**search) -> set[int]:
        return {w["id"] for w in rows(db, "/harvest/works", **search)}

    assert found(_search="recounted") == {elife}  # the new title
    assert found(_search_title="quantitative") == set()  # the old title's word is gone...
    assert found(_search="quantitative") == {elife}  # ...though the abstract still has it
    assert found(_search="Quennell") == {elife}  # joined the byline
    assert found(_search="zoe") == {elife}  # diacritics do not matter: Zoë
    assert found(_search="Xenarios") == set()  # left it
    indexed = query(db, "SELECT authors FROM works_fts WHERE rowid = ?", elife)[0][0]
    assert (
        indexed == "Martial Sankar; Kaisa Nieminen; Laura Ragni; Christian S Hardtke; Zoë Quennell"
    )


# --- the index is kept by triggers, whoever writes --------------------------------------------


def indexed(store) -> dict[int, tuple]:
    return {
        row[0]: row[1:]
        for row in store.conn.execute("SELECT rowid, title, abstract, authors FROM works_fts")
    }


def add_work(store, title: str, abstract: str | None = None) -> int:
    cur = store.conn.execute(
        """INSERT INTO works (title, abstract, version, created_at, updated_at)
           VALUES (?, ?, 1, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')""",
        (title, abstract),
    )
    return int(cur.lastrowid)


def add_authors(store, wid: int, *authors: tuple) -> None:
    store.conn.executemany(
        "INSERT INTO authors (work_id, position, given, family, name) VALUES (?, ?, ?, ?, ?)",
        [(wid, n, *a) for n, a in enumerate(authors, start=1)],
    )


def test_triggers_keep_the_index_in_step_with_every_write(tmp_path):
    store = open_store(tmp_path / "harvest.db")
    first = add_work(store, "On mice", "An abstract")
    add_authors(store, first, ("Ann", "Lee", None), (None, None, "ACME Lab"), ("Bo", "Ng", None))
    other = add_work(store, "On rats")
    assert indexed(store) == {
        first: ("On mice", "An abstract", "Ann Lee; ACME Lab; Bo Ng"),
        other: ("On rats", None, None),
    }
    # The store's way of replacing a byline: delete every author, insert the new ones.
    store.conn.execute("DELETE FROM authors WHERE work_id = ?", (first,))
    add_authors(store, first, ("Cy", "Orr", None), ("Ann", "Lee", None))
    store.conn.execute(
        "UPDATE authors SET family = 'Leigh' WHERE work_id = ? AND position = 2", (first,)
    )
    store.conn.execute("UPDATE works SET title = 'On voles' WHERE id = ?", (first,))
    assert indexed(store)[first] == ("On voles", "An abstract", "Cy Orr; Ann Leigh")
    store.conn.execute("UPDATE works SET abstract = NULL WHERE id = ?", (first,))
    assert indexed(store)[first] == ("On voles", None, "Cy Orr; Ann Leigh")
    # An author moved to another work leaves the one and joins the other.
    store.conn.execute(
        "UPDATE authors SET work_id = ? WHERE work_id = ? AND position = 1", (other, first)
    )
    assert indexed(store)[first][2] == "Ann Leigh" and indexed(store)[other][2] == "Cy Orr"
    # A byline emptied (its authors deleted, none inserted) leaves no name behind.
    store.conn.execute("DELETE FROM authors WHERE work_id = ?", (first,))
    assert indexed(store)[first] == ("On voles", None, None)
    # A deleted work (the store deletes one merged into another) leaves the index.
    store.conn.execute("DELETE FROM authors WHERE work_id = ?", (other,))
    store.conn.execute("DELETE FROM works WHERE id = ?", (other,))
    assert set(indexed(store)) == {first}

    def hits(words: str) -> list[tuple]:
        sql = "SELECT rowid FROM works_fts WHERE works_fts MATCH ?"
        return store.conn.execute(sql, (words,)).fetchall()

    assert (hits("voles"), hits("mice"), hits("leigh"), hits("orr")) == ([(first,)], [], [], [])
    # FTS5's own check that the index holds exactly what its rows say (raises if not).
    store.conn.execute("INSERT INTO works_fts (works_fts) VALUES ('integrity-check')")
    store.close()


def test_the_store_indexes_a_byline_once_not_once_per_author(tmp_path):
    """Migration 0009: a work written with k authors had its index row rebuilt 2k + 1 times."""
    store = open_store(tmp_path / "harvest.db")
    wid = add_work(store, "On many hands")
    before = store.conn.total_changes  # rows written, by triggers too
    authors = tuple(Author(given=f"Given{n}", family=f"Family{n}") for n in range(1, 31))
    work = WorkValues(values={"title": "On many hands"}, provenance={}, authors=authors)
    with store.transaction():
        store.works._replace_authors(wid, work)
    written = store.conn.total_changes - before - 30 - 2  # less the authors and fts_deferred
    assert store.conn.execute("SELECT count(*) FROM fts_deferred").fetchone() == (0,)
    assert indexed(store)[wid][2].split("; ")[:2] == ["Given1 Family1", "Given2 Family2"]
    # A hand-typed edit of one author still reaches the index, through one rebuild of its row:
    # as many index writes as the store's whole byline of 30 took.
    before = store.conn.total_changes
    store.conn.execute(
        "UPDATE authors SET family = 'Xu' WHERE work_id = ? AND position = 1", (wid,)
    )
    assert indexed(store)[wid][2].startswith("Given1 Xu; ")
    assert store.conn.total_changes - before - 1 == written
    store.conn.execute("INSERT INTO works_fts (works_fts) VALUES ('integrity-check')")
    store.close()


def test_only_the_first_hundred_authors_are_indexed(tmp_path):
    """A byline of thousands would cost quadratic time to index whole on every write of it."""
    store = open_store(tmp_path / "harvest.db")
    wid = add_work(store, "A collaboration's paper")
    add_authors(store, wid, *((f"Given{n}", f"Family{n}", None) for n in range(1, 151)))
    names = indexed(store)[wid][2].split("; ")
    assert names == [f"Given{n} Family{n}" for n in range(1, 101)]
    store.conn.execute("DELETE FROM authors WHERE work_id = ? AND position > 100", (wid,))
    assert indexed(store)[wid][2].split("; ") == names
    store.close()


def test_the_migration_indexes_the_works_stored_before_it(tmp_path, monkeypatch):
    path = tmp_path / "harvest.db"
    with monkeypatch.context() as patch:
        names = [name for name, _ in migrations.MIGRATIONS]
        before = migrations.MIGRATIONS[: names.index("0007_datasette")]
        patch.setattr(migrations, "MIGRATIONS", before)
        store = open_store(path)
        wid = add_work(store, "Stored before Datasette came", "Old abstract")
        add_authors(store, wid, ("Old", "Timer", None))
        assert (
            store.conn.execute("SELECT name FROM sqlite_master WHERE name = 'works_fts'").fetchall()
            == []
        )
        store.close()
    store = open_store(path)
    assert indexed(store) == {wid: ("Stored before Datasette came", "Old abstract", "Old Timer")}
    store.close()
    assert rows(path, "/harvest/works", _search="timer")[0]["id"] == wid


# --- the metadata file --------------------------------------------------------------------------


def test_the_metadata_describes_every_table_view_and_column(tmp_path):
    """Adding a table, view or column without describing it here fails this test."""
    store = open_store(tmp_path / "harvest.db")
    store.close()
    tables = schema(tmp_path / "harvest.db")
    described = HARVEST["tables"]
    assert METADATA["title"] and METADATA["description"] and HARVEST["description"]
    assert sorted(described) == sorted(tables)  # every one, and none that does not exist
    for name, (_, columns) in tables.items():
        meta = described[name]
        assert meta.get("title") and meta.get("description"), name
        assert list(meta["columns"]) == columns, name  # every column, in the table's order
        assert all(isinstance(text, str) and text.strip() for text in meta["columns"].values())
        used = [*meta.get("facets", []), meta.get("sort"), meta.get("sort_desc")]
        assert {c for c in used if c} <= set(columns), name
        assert meta.get("label_column", columns[0]) in columns
        if "fts_table" in meta:
            assert meta["fts_table"] in tables and meta["fts_pk"] in columns
    assert described["works"]["fts_table"] == described["works_with_authors"]["fts_table"]
    for name, canned in HARVEST["queries"].items():
        assert canned["title"] and canned["description"] and canned["sql"], name
    assert ":since" in HARVEST["queries"]["changed_since"]["sql"]


def test_datasette_starts_with_the_metadata_file_from_the_command_line(db):
    """The command the README gives, with --get: the real CLI parses the file and serves."""
    command = [sys.executable, "-m", "datasette", "serve", str(db), "-m", str(METADATA_FILE)]
    for path, expect in (
        ("/-/metadata.json", None),
        ("/harvest/recent_runs.json?_shape=array", "harvest run"),
    ):
        proc = subprocess.run(
            [*command, "--get", path], capture_output=True, text=True, timeout=60, check=False
        )
        assert proc.returncode == 0, proc.stderr
        if expect is None:
            served = json.loads(proc.stdout)["databases"]["harvest"]
            assert served["tables"] == HARVEST["tables"]
            assert {name: q["sql"] for name, q in served["queries"].items()} == {
                name: q["sql"] for name, q in HARVEST["queries"].items()
            }
        else:
            assert expect in proc.stdout


# --- reading while a harvest writes --------------------------------------------------------


def test_datasette_reads_while_a_harvest_writes(tmp_path):
    """Each harvest is paused inside its write transaction, its changes written but not
    committed, while Datasette reads: every read succeeds at once and sees the last commit (WAL
    readers neither wait for the writer nor see half a batch); after the commit the next reads
    see it; and Datasette leaves no read open that would keep the writer from checkpointing."""
    path = tmp_path / "data" / "harvest.db"
    titles = [f"Automated histology, revision number{n}" for n in range(3)]
    reads = [
        "/harvest/works.json?_shape=array",
        "/harvest/works_with_authors.json?_shape=array&_search=histology",
        "/harvest/change_log.json?_shape=array&_size=max",
        "/harvest/last_run_changes.json?_shape=array",
        "/harvest/runs",
    ]
    with ReplayUpstream() as upstream:
        serve(upstream)
        config = upstream.config()
        store = open_store(path)
        harvest_dois(store, config, ELIFE, DRYAD)
        store.close()
        inside, go_on = threading.Event(), threading.Event()
        outcome: dict[str, object] = {}

        def write() -> None:
            try:
                writer = open_store(path)
                record_tries = writer.watch.record_tries  # the last step before the batch commits

                def pause_before_commit(*args) -> None:
                    record_tries(*args)
                    inside.set()
                    assert go_on.wait(30), "Datasette never read"
                    go_on.clear()

                writer.watch.record_tries = pause_before_commit
                for title in titles:
                    change_elife(upstream, title=[title])
                    assert harvest_dois(writer, config, ELIFE).counts.changed == 1
                outcome["checkpoint"] = writer.conn.execute(
                    "PRAGMA wal_checkpoint(TRUNCATE)"
                ).fetchone()
                writer.close()
            except BaseException as exc:  # reported by the main thread
                outcome["error"] = exc
                inside.set()  # never leave the reader waiting

        async def read_while_writing():
            ds = Datasette([str(path)], metadata=copy.deepcopy(METADATA))
            await ds.invoke_startup()
            thread = threading.Thread(target=write)
            thread.start()
            rounds = []
            for _ in titles:
                assert await asyncio.to_thread(inside.wait, 30)
                inside.clear()
                if "error" in outcome:
                    break
                rounds.append([await ds.client.get(read) for read in reads])
                go_on.set()
            await asyncio.to_thread(thread.join, 60)
            final = await ds.client.get(reads[0])
            ds.databases["harvest"].close()
            return rounds, final

        rounds, final = asyncio.run(read_while_writing())
    assert "error" not in outcome, outcome.get("error")
    assert query(path, "PRAGMA journal_mode") == [("wal",)]
    recorded_title = load_json("crossref/10.7554_elife.01567.json")["message"]["title"][0]
    committed = [recorded_title, *titles]
    assert len(rounds) == len(titles)
    for n, answers in enumerate(rounds):
        assert [(r.status_code, "locked" in r.text) for r in answers] == [(200, False)] * len(reads)
        works, searched, log, last_run, _ = answers
        elife = {w["doi"]: w for w in works.json()}[parse_doi(ELIFE).key]
        assert elife["title"] == committed[n]  # the last commit, not the batch in hand
        assert [w["title"] for w in searched.json()] == [committed[n]]
        # The run in hand (run n + 2) is committed as started, its changes are not yet: the
        # last run that changed something is the one before (the first run only created).
        assert max(c["run_id"] for c in log.json()) == n + 1
        assert {c["run_id"] for c in last_run.json()} == (set() if n == 0 else {n + 1})
    assert {w["doi"]: w["title"] for w in final.json()}[parse_doi(ELIFE).key] == titles[-1]
    busy, _, _ = outcome["checkpoint"]
    assert busy == 0


def test_what_a_person_published_and_what_is_still_unclaimed(built, tmp_path):
    """The per-person query on claims made by the store's own calls: accepted works first,
    then the pending ones; a rejected claim and another person's are not listed."""
    path = tmp_path / "harvest.db"
    path.write_bytes(built[0].read_bytes())
    store = open_store(path)
    try:
        ada = store.people.add("Ada Lovelace", [])
        other = store.people.add("Charles Babbage", [])
        elife, pone, ppat = (work_id(path, doi) for doi in (ELIFE, PONE, PPAT))
        with store.transaction():
            for work in (elife, pone, ppat):
                store.claims.offer(ada, work, "orcid", "listed in the ORCID record")
            store.claims.offer(other, pone, "ras", "claimed in RAS")
        claims = {c["work_id"]: c["id"] for c in store.claims.listing(ada)}
        store.claims.settle([claims[elife]], "accepted", "her ORCID record")
        store.claims.settle([claims[ppat]], "rejected", "not hers")
    finally:
        store.close()
    found = rows(path, "/harvest/person_works", person=ada, year="")
    assert [(r["work_id"], r["status"]) for r in found] == [(elife, "accepted"), (pone, "pending")]
    assert {r["person"] for r in found} == {"Ada Lovelace"}
    year = found[0]["year"]
    in_year = rows(path, "/harvest/person_works", person=ada, year=str(year))
    assert [r["work_id"] for r in in_year] == [r["work_id"] for r in found if r["year"] == year]


def test_the_claims_waiting_for_someone_with_whose_they_are_and_why(built, tmp_path):
    """The claim queue across people: pending claims only, oldest first, with the person's
    name and the evidence each feed gave; `person` narrows it to one of them."""
    path = tmp_path / "harvest.db"
    path.write_bytes(built[0].read_bytes())
    store = open_store(path)
    try:
        ada = store.people.add("Ada Lovelace", [])
        other = store.people.add("Charles Babbage", [])
        elife, pone, ppat = (work_id(path, doi) for doi in (ELIFE, PONE, PPAT))
        with store.transaction():
            store.claims.offer(ada, elife, "openalex", "affiliation name-match:0.92")
            store.claims.offer(ada, ppat, "crossref", "crossref-orcid")
            store.claims.offer(other, pone, "openalex", "openalex-author")
        [settled] = [c["id"] for c in store.claims.listing(ada) if c["work_id"] == ppat]
        store.claims.settle([settled], "rejected", "not hers")
    finally:
        store.close()
    every = rows(path, "/harvest/pending_claims", person="")
    assert [(r["person"], r["work_id"]) for r in every] == [
        ("Ada Lovelace", elife),
        ("Charles Babbage", pone),
    ]
    assert json.loads(every[0]["evidence"]) == {"openalex": "affiliation name-match:0.92"}
    assert every[0]["doi"] == parse_doi(ELIFE).key
    hers = rows(path, "/harvest/pending_claims", person=str(other))
    assert [r["work_id"] for r in hers] == [pone]
