"""SIGKILL at varied moments of the harvests that resolve the DOIs their records carry
(`harvest oai` with DOI resolution, `harvest repec --archive`, `harvest run` with feeds): after
each kill every linked DOI is stored or due and the database is intact, and a rerun ends with
the database an uninterrupted harvest gives.

Each trial harvests into a fresh database, is killed once its run has made the k-th request to
the local upstream (k spread over the whole harvest, plus a few milliseconds of jitter so that
some kills land inside a transaction), then reruns to the end. `HARVEST_LINK_KILLS` sets the
number of kills per harvest (default 10)."""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import sqlite3
import time
from pathlib import Path

import pytest
from conftest import QUICK_RETRIES, HarvestCommand, fixture_path
from upstream import ReplayUpstream

from harvester.store import AGENCY_SOURCES

KILLS = int(os.environ.get("HARVEST_LINK_KILLS", "10"))
FAST = (
    "[openalex]\nrate = 1000.0\n[doi]\nrate = 1000.0\n[datacite]\nrate = 1000.0\n"
    "[crossref]\nbatch_size = 5\npolite_list_rate = 1000.0\n[repec]\nrate = 1000.0\n"
)


def linked_lost(db: Path) -> list[str]:
    """The DOIs of stored works that their agency never answered and that are not due."""
    conn = sqlite3.connect(db, timeout=10)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        due = "SELECT key FROM linked_dois" if "linked_dois" in tables else "SELECT 0 WHERE 0"
        marks = ",".join("?" * len(AGENCY_SOURCES))
        return [
            row[0]
            for row in conn.execute(
                f"""SELECT key FROM identifiers WHERE scheme = 'doi'
                    AND key NOT IN ({due})
                    AND key NOT IN (SELECT identifier FROM source_records
                                    WHERE source IN ({marks}))""",
                AGENCY_SOURCES,
            )
        ]
    finally:
        conn.close()


def assert_intact(db: Path) -> None:
    if not db.exists():
        return
    conn = sqlite3.connect(db, timeout=10)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()
    assert linked_lost(db) == [], "a linked DOI is neither stored nor due"


def content(db: Path) -> tuple:
    """What a harvest stored, without ids and timestamps: each work by its identifiers with its
    values, and every source's distinct answers."""
    conn = sqlite3.connect(db)
    try:
        names = {}
        for work_id, scheme, key in conn.execute("SELECT work_id, scheme, key FROM identifiers"):
            names.setdefault(work_id, []).append(f"{scheme}:{key}")
        works = sorted(
            (tuple(sorted(names.get(row[0], []))), *row[1:])
            for row in conn.execute(
                "SELECT id, doi, repec_handle, title, year, container_title, provenance, version "
                "FROM works"
            )
        )
        answers = sorted(
            conn.execute(
                "SELECT DISTINCT source, identifier, status, payload_hash FROM source_records"
            )
        )
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        due = (
            conn.execute("SELECT key FROM linked_dois").fetchall()
            if "linked_dois" in tables
            else []
        )
        return works, answers, due
    finally:
        conn.close()


def kill_and_rerun(tmp_path: Path, upstream: ReplayUpstream, config: str, args: list[str]):
    """A clean harvest, then KILLS trials of kill-then-rerun, each compared with it."""
    (tmp_path / "clean").mkdir()
    clean = HarvestCommand(tmp_path / "clean", upstream.env(), config)
    before = len(upstream.requests)
    done = clean(*args)
    assert done.returncode in (0, 1), done.stderr
    total = len(upstream.requests) - before
    assert linked_lost(clean.db_path) == []
    expected = content(clean.db_path)
    assert expected[2] == []  # nothing left due when every answer came

    rng = random.Random(20261203)
    moments = sorted(rng.randint(1, max(1, total - 1)) for _ in range(KILLS))
    kills = 0
    for trial, moment in enumerate(moments):
        folder = tmp_path / f"trial{trial}"
        folder.mkdir()
        harvest = HarvestCommand(folder, upstream.env(), config)
        start = len(upstream.requests)
        proc = harvest.start(*args)
        deadline = time.monotonic() + 30
        while len(upstream.requests) - start < moment and proc.poll() is None:
            assert time.monotonic() < deadline, "the harvest made no progress"
            time.sleep(0.002)
        time.sleep(rng.random() * 0.03)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.communicate(timeout=30)
        assert_intact(harvest.db_path)
        rerun = harvest(*args)
        assert rerun.returncode in (0, 1), rerun.stderr
        assert_intact(harvest.db_path)
        assert content(harvest.db_path) == expected, f"trial {trial}, killed at {moment}/{total}"
    assert kills >= KILLS - 1, f"only {kills} of {KILLS} harvests were still running"


@pytest.fixture
def upstream():
    with ReplayUpstream() as server:
        server.delay = 0.01
        yield server


def zenodo(upstream: ReplayUpstream) -> str:
    """Zenodo's recorded three pages; the DOIs their records carry are Zenodo's, at DataCite,
    which answers not found for each (none is in the recorded corpus): an answer to store."""
    upstream.add_zenodo_list()
    upstream.set_agency("10.5281", "DataCite")
    return f'[oai]\nrate = 1000.0\n\n[oai.endpoints]\nmirror = "{upstream.url_for("oai")}"\n'


def awu_tree(root: Path, upstream: ReplayUpstream) -> Path:
    """The recorded awu archive, its journal's empty `DOI:` fields filled, one template in
    seven, with the DOIs of the recorded Crossref works (the recorded files carry none)."""
    dois = iter(upstream.add_all_recorded())
    (root / "awu" / "journl").mkdir(parents=True)
    shutil.copy(fixture_path("redif/awu_awuseri.rdf"), root / "awu" / "awuseri.rdf")
    text = fixture_path("redif/awu_journl_prova.rdf").read_bytes()
    count = 0

    def fill(match: re.Match) -> bytes:
        nonlocal count
        count += 1
        doi = next(dois, None) if count % 7 == 1 else None
        return b"DOI: " + doi.encode() + match.group(1) if doi else match.group(0)

    filled = re.sub(rb"(?m)^DOI:[ \t]*(\r?)$", fill, text)
    (root / "awu" / "journl" / "prova.rdf").write_bytes(filled)
    return root


def test_harvest_oai_with_dois_killed_then_rerun(tmp_path, upstream):
    config = QUICK_RETRIES + FAST + zenodo(upstream)
    kill_and_rerun(tmp_path, upstream, config, ["-q", "oai", "mirror"])


def test_harvest_repec_archive_killed_then_rerun(tmp_path, upstream):
    tree = awu_tree(tmp_path / "repec", upstream)
    config = "chunk_size = 25\n" + QUICK_RETRIES + FAST
    upstream.env = lambda: {**ReplayUpstream.env(upstream), "HARVEST_REPEC_URL": str(tree)}
    kill_and_rerun(tmp_path, upstream, config, ["-q", "repec", "--archive", "RePEc:awu"])


def test_harvest_run_with_feeds_killed_then_rerun(tmp_path, upstream):
    tree = awu_tree(tmp_path / "repec", upstream)
    feeds = (
        '[[feeds]]\nkind = "repec"\narchive = "RePEc:awu"\n\n'
        '[[feeds]]\nkind = "oai"\nendpoint = "mirror"\n'
    )
    config = "chunk_size = 25\n" + QUICK_RETRIES + FAST + zenodo(upstream) + feeds
    upstream.env = lambda: {**ReplayUpstream.env(upstream), "HARVEST_REPEC_URL": str(tree)}
    kill_and_rerun(tmp_path, upstream, config, ["-q", "run"])
