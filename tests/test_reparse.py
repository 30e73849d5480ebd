"""`harvest reparse`: works rebuilt from the payloads already stored after a parser changed,
without asking any upstream, the changes in the history in a run of its own. Runs on the kept
fixtures (tests/fixtures), so a clone alone runs it."""

from __future__ import annotations

import dataclasses
import sqlite3

import pytest
from conftest import QUICK_RETRIES, HarvestCommand
from fakes import run_pipeline
from upstream import ReplayUpstream

from harvester.identifiers import parse_doi
from harvester.pipeline import harvest, reparse
from harvester.sources import crossref
from harvester.store import open_store

BLOG = "10.53731/ybhah-9jy85"  # Crossref and OpenAlex, kept
ESMO = "10.1136/esmoopen-2020-000776"  # Crossref, kept


@pytest.fixture
def upstream():
    with ReplayUpstream() as replay:
        replay.add_crossref("10.53731_ybhah-9jy85", "10.1136_esmoopen-2020-000776")
        replay.add_openalex("10.53731_ybhah-9jy85")
        yield replay


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "h.db")
    yield s
    s.close()


def harvested(store, config, *dois: str) -> list:
    _, outcomes = run_pipeline(harvest, [parse_doi(d) for d in dois], store=store, config=config)
    return outcomes


def a_newer_crossref_parser(monkeypatch) -> None:
    """Crossref's parser as if it had learnt to read something new: its version moves on, and
    what it reads differs (the title, for a check a reader can follow)."""
    older = crossref.parse
    monkeypatch.setattr(crossref, "PARSER_VERSION", crossref.PARSER_VERSION + 1)
    monkeypatch.setattr(
        crossref,
        "parse",
        lambda payload: dataclasses.replace(older(payload), title=f"{older(payload).title} (v2)"),
    )


def test_a_parser_change_rebuilds_the_works_it_read_asking_nobody(upstream, store, monkeypatch):
    config = upstream.config()
    [blog, esmo] = harvested(store, config, BLOG, ESMO)
    kept_rows = store.conn.execute("SELECT count(*) FROM source_records").fetchone()[0]
    asked = len(upstream.requests)
    a_newer_crossref_parser(monkeypatch)

    outcomes: list = []
    result = reparse(store=store, config=config, on_outcome=outcomes.append)

    assert len(upstream.requests) == asked  # nothing asked upstream
    assert result.status == "ok"
    assert sorted((o.status, o.identifier, o.fields) for o in outcomes) == [
        ("changed", "10.1136/esmoopen-2020-000776", ("title",)),
        ("changed", "10.53731/ybhah-9jy85", ("title",)),
    ]
    [history] = [c for c in store.works.history(esmo.work_id) if c["run_id"] == result.run_id]
    assert history["field"] == "title" and history["new_value"].endswith(" (v2)")
    assert history["source"] == "crossref"
    kinds = store.conn.execute(
        "SELECT DISTINCT kind FROM changes WHERE run_id = ?", (result.run_id,)
    ).fetchall()
    assert kinds == [("reparse",)]  # recorded as a parser's change, not the source's
    command = store.conn.execute(
        "SELECT run_command FROM change_log WHERE run_id = ?", (result.run_id,)
    ).fetchone()[0]
    assert command == "reparse"  # the history says the change came from a reparse
    # The stored payloads are re-keyed to the new parser's hashes, not stored twice...
    assert store.conn.execute("SELECT count(*) FROM source_records").fetchone()[0] == kept_rows
    # ...so a second reparse finds nothing to do, and the next harvest knows the payloads.
    again: list = []
    reparse(store=store, config=config, on_outcome=again.append)
    assert again == []
    rerun = harvested(store, config, BLOG, ESMO)
    assert [o.status for o in rerun] == ["unchanged", "unchanged"]
    assert store.works.get(blog.work_id)["title"].endswith(" (v2)")


def test_only_the_named_sources_and_every_work_with_all(upstream, store, monkeypatch):
    config = upstream.config()
    harvested(store, config, BLOG, ESMO)
    a_newer_crossref_parser(monkeypatch)

    openalex_only: list = []
    reparse(store=store, config=config, only=["openalex"], on_outcome=openalex_only.append)
    assert openalex_only == []  # OpenAlex's parser did not change

    everything: list = []
    reparse(store=store, config=config, only=["openalex"], every=True, on_outcome=everything.append)
    assert [o.identifier for o in everything] == [BLOG]  # the one work OpenAlex answered for


def test_a_local_value_still_wins_after_a_reparse(upstream, store, monkeypatch):
    from harvester.pipeline import edit_work

    config = upstream.config()
    [esmo] = harvested(store, config, ESMO)
    edit_work(esmo.work_id, {"title": "Mine"}, store=store, config=config, command="set")
    a_newer_crossref_parser(monkeypatch)

    reparse(store=store, config=config)

    work = store.works.get(esmo.work_id)
    assert work["title"] == "Mine"
    conflicts = store.conn.execute(
        "SELECT source, value FROM conflicts WHERE work_id = ? AND field = 'title'",
        (esmo.work_id,),
    ).fetchall()
    assert ("local", "Mine") in conflicts  # and the source's own, newly read, beside it
    assert any(source == "crossref" and value.endswith(" (v2)") for source, value in conflicts)


def test_harvest_reparse_on_the_command_line(tmp_path, upstream):
    harvest_command = HarvestCommand(tmp_path, upstream.env(), QUICK_RETRIES)
    assert harvest_command("doi", ESMO).returncode == 0
    asked = len(upstream.requests)

    done = harvest_command("reparse", "--all")

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == f"unchanged  {ESMO}  work 1"
    assert "1 identifier(s): 0 created, 0 changed, 1 unchanged" in done.stdout
    assert len(upstream.requests) == asked
    db = sqlite3.connect(tmp_path / "data" / "harvest.db")
    try:
        assert (
            db.execute("SELECT command FROM runs ORDER BY id DESC")
            .fetchone()[0]
            .endswith("reparse --all")
        )
    finally:
        db.close()
