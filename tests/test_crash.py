"""A harvest killed with SIGKILL at any moment leaves a consistent database holding only whole
batches, and a rerun ends with exactly the database an uninterrupted harvest gives."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from upstream import CrossrefReplay

WORKS = 2000
BATCH = 50
KILLS = 20
AUTHORS_PER_WORK = 5  # the recorded eLife record the synthetic works are made from


def start_harvest(
    tmp_path: Path, upstream: CrossrefReplay, db: Path, dois: Path
) -> subprocess.Popen:
    """`harvest track --from-file` (once; tracking again is a no-op), then `harvest run` in the
    background: what is stored is not due again, so each rerun goes on where the last one died."""
    config = tmp_path / "harvester.toml"
    config.write_text(
        f"chunk_size = {BATCH}\n[crossref]\nbatch_size = {BATCH}\npolite_list_rate = 100.0\n"
        "[openalex]\nrate = 1000.0\n"
    )
    env = {
        **os.environ,
        "HARVEST_CONFIG": str(config),
        "HARVEST_DB": str(db),
        **upstream.env(),
        "HARVEST_MAILTO": "tests@example.org",
        "HARVEST_OPENALEX_API_KEY": "k",  # batched OpenAlex look-ups
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }
    harvest = [sys.executable, "-m", "harvester", "-q"]
    subprocess.run(
        [*harvest, "track", "--from-file", str(dois)],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
    )
    return subprocess.Popen(
        [*harvest, "run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def count(db: Path, table: str) -> int:
    if not db.exists():
        return 0
    conn = sqlite3.connect(db, timeout=10)
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    except sqlite3.OperationalError:  # not yet migrated
        return 0
    finally:
        conn.close()


def assert_consistent(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        works = conn.execute("SELECT count(*) FROM works").fetchone()[0]
        assert works % BATCH == 0, f"{works} works: a batch was half-written"
        assert (
            conn.execute("SELECT count(*) FROM authors").fetchone()[0] == works * AUTHORS_PER_WORK
        )
        assert conn.execute("SELECT count(DISTINCT work_id) FROM changes").fetchone()[0] == works
        kept = "SELECT count(*) FROM source_records WHERE source = ?"
        assert conn.execute(kept, ("crossref",)).fetchone()[0] == works
        assert conn.execute(kept, ("openalex",)).fetchone()[0] == works  # each not found
        assert conn.execute("SELECT count(*) FROM identifiers").fetchone()[0] == works
        created = conn.execute("SELECT coalesce(sum(created), 0) FROM runs").fetchone()[0]
        assert created == works, "the runs' counts disagree with what was written"
        return works
    finally:
        conn.close()


def snapshot(db: Path) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        works = conn.execute(
            "SELECT doi, title, version, volume, published, abstract FROM works ORDER BY doi"
        ).fetchall()
        authors = conn.execute(
            "SELECT doi, position, given, family, orcid, affiliation FROM authors "
            "JOIN works ON works.id = work_id ORDER BY doi, position"
        ).fetchall()
        changes = conn.execute(
            "SELECT doi, field, old_value, new_value, source FROM changes "
            "JOIN works ON works.id = work_id ORDER BY doi, field"
        ).fetchall()
        return [works, authors, changes]
    finally:
        conn.close()


def test_sigkill_at_random_moments_then_rerun(tmp_path):
    rng = random.Random(20261123)
    with CrossrefReplay() as upstream:
        upstream.headers["x-rate-limit-limit"] = "200"
        upstream.list_headers = {}
        upstream.delay = 0.005
        dois = tmp_path / "dois.txt"
        dois.write_text("\n".join(upstream.add_synthetic(WORKS)) + "\n")
        db = tmp_path / "killed.db"

        # Twenty moments spread over the harvest, most of them mid-batch.
        targets = sorted(
            batch * BATCH + rng.randint(1, BATCH - 1)
            for batch in rng.sample(range(WORKS // BATCH - 1), KILLS)
        )
        kills = 0
        for target in targets:
            before = count(db, "works")
            if before >= target:
                continue
            proc = start_harvest(tmp_path, upstream, db, dois)
            deadline = time.monotonic() + 60
            while count(db, "works") < target and proc.poll() is None:
                assert time.monotonic() < deadline, "the harvest made no progress"
                time.sleep(0.005)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait()
            assert_consistent(db)
        assert kills >= KILLS - 2  # one landing just as its batch committed is not killed

        rerun = start_harvest(tmp_path, upstream, db, dois)
        _, err = rerun.communicate(timeout=120)
        assert rerun.returncode == 0, err.decode()
        assert assert_consistent(db) == WORKS

        clean_db = tmp_path / "clean.db"
        clean = start_harvest(tmp_path, upstream, clean_db, dois)
        _, err = clean.communicate(timeout=120)
        assert clean.returncode == 0, err.decode()

    assert snapshot(db) == snapshot(clean_db)
