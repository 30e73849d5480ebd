"""A database that cannot be used ends a command with one line on stderr and an exit code of its
own, never a traceback, whichever command met it: damaged (4), disk full (5), read-only (6),
written by a newer harvester (7). Each test makes the broken file (or the full or read-only
filesystem) itself and runs `harvest` as a user would, in a subprocess."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import HarvestCommand
from fakes import ok, query

from harvester import cli
from harvester.errors import DatabaseCorrupt, DatabaseReadOnly, DatabaseTooNew, DiskFull

CORRUPT, FULL, READ_ONLY, TOO_NEW = 4, 5, 6, 7

#: A service nobody listens on: a command that asks the network fails its identifiers, quickly.
NOWHERE = "http://127.0.0.1:9"


def records(path: Path, count: int, start: int = 0) -> Path:
    """A CSV of `count` works of your own, to import (no network needed)."""
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["doi", "title", "year", "authors"])
        for n in range(start, start + count):
            title = f"Work {n}, with a title long enough to fill pages of the database quickly"
            writer.writerow([f"10.5555/broken.{n}", title, 2001, f"Family{n}, Given"])
    return path


@pytest.fixture
def harvest(tmp_path) -> HarvestCommand:
    env = {f"HARVEST_{name}_URL": NOWHERE for name in ("CROSSREF", "DOI", "DATACITE", "OPENALEX")}
    config = "[http]\nmax_attempts = 1\n"
    return HarvestCommand(tmp_path, env, config)


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    """The one line a person reads on stderr (JSON log records aside), with no traceback."""
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line and not line.startswith("{")]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


#: Commands that read, write, or plan, each of which must say the same of a broken database.
COMMANDS = [
    ("doi", "10.5555/broken.1"),
    ("export", "--format", "csv", "-o", "works.csv"),
    ("run", "--dry-run"),
    ("show", "10.5555/broken.1"),
    ("history", "10.5555/broken.1"),
    ("works",),
    ("import", "more.csv"),
]


@pytest.mark.parametrize("damage", ["truncated", "not a database"])
def test_a_damaged_database_gives_one_line_and_exit_4_in_every_command(harvest, damage):
    ok(harvest("-q", "import", str(records(harvest.folder / "first.csv", 2000))))
    records(harvest.folder / "more.csv", 10, start=5000)
    query(harvest.db_path, "PRAGMA wal_checkpoint(TRUNCATE)")
    if damage == "truncated":  # half the file gone: pages the index points to are missing
        with harvest.db_path.open("r+b") as stream:
            stream.truncate(harvest.db_path.stat().st_size // 2)
    else:
        harvest.db_path.write_bytes(b"this is not an SQLite database\n" * 4096)
    for command in COMMANDS:
        proc = harvest(*command)
        assert proc.returncode == CORRUPT, (command, proc.stderr)
        line = one_error_line(proc)
        assert (str(harvest.db_path) in line and "damaged" in line) or "not an SQLite" in line
        assert "0 identifier(s) due" not in proc.stdout  # --dry-run no longer says all is well
    assert not (harvest.folder / "works.csv").exists()


def test_an_export_meeting_damaged_pages_gives_one_line_and_exit_4(harvest):
    ok(harvest("-q", "import", str(records(harvest.folder / "first.csv", 3000))))
    query(harvest.db_path, "PRAGMA wal_checkpoint(TRUNCATE)")
    size = harvest.db_path.stat().st_size
    with harvest.db_path.open("r+b") as stream:  # pages of works in the middle overwritten
        for offset in range(size // 3, size // 3 + 200 * 4096, 4096):
            stream.seek(offset)
            stream.write(b"\xde\xad\xbe\xef" * 256)
    proc = harvest("export", "--format", "csv", "-o", "works.csv")
    assert proc.returncode == CORRUPT, proc.stderr
    assert "damaged" in one_error_line(proc)
    assert not (harvest.folder / "works.csv").exists()


def test_a_database_from_a_newer_harvester_is_refused_untouched_with_exit_7(harvest):
    ok(harvest("-q", "import", str(records(harvest.folder / "first.csv", 3))))
    records(harvest.folder / "more.csv", 3, start=100)
    query(harvest.db_path, "PRAGMA wal_checkpoint(TRUNCATE)")
    conn = sqlite3.connect(harvest.db_path)
    with conn:
        conn.execute("INSERT INTO _migrations VALUES ('9999_from_the_future', '2030-01-01')")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    before = digest(harvest.db_path)
    for command in COMMANDS:
        proc = harvest(*command)
        assert proc.returncode == TOO_NEW, (command, proc.stderr)
        assert "newer harvester" in one_error_line(proc)
    assert digest(harvest.db_path) == before


@contextlib.contextmanager
def mounted(what: list[str], folder: Path) -> Iterator[None]:
    """`mount WHAT... FOLDER` for the block, or skip the test where this user cannot mount."""
    folder.mkdir(exist_ok=True)
    done = subprocess.run(["mount", *what, str(folder)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount {' '.join(what)} here: {done.stderr.strip() or 'not root'}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def test_a_full_disk_gives_one_line_and_exit_5_and_keeps_what_was_committed(harvest, tmp_path):
    disk = tmp_path / "small-disk"
    with mounted(["-t", "tmpfs", "-o", "size=1m", "tmpfs"], disk):
        harvest.env["HARVEST_DB"] = str(disk / "harvest.db")
        ok(harvest("-q", "import", str(records(tmp_path / "first.csv", 5))))
        proc = harvest("-q", "import", str(records(tmp_path / "more.csv", 4000, start=100)))
        assert proc.returncode == FULL, proc.stderr
        assert "disk is full" in one_error_line(proc)
        assert query(disk / "harvest.db", "PRAGMA integrity_check") == [("ok",)]
        assert query(disk / "harvest.db", "SELECT count(*) FROM works") == [(5,)]


def test_an_export_to_a_full_disk_exits_5_and_keeps_the_previous_file(harvest, tmp_path):
    ok(harvest("-q", "import", str(records(tmp_path / "first.csv", 3000))))
    disk = tmp_path / "small-disk"
    with mounted(["-t", "tmpfs", "-o", "size=64k", "tmpfs"], disk):
        target = disk / "works.csv"
        target.write_text("an older export\n")
        proc = harvest("export", "--format", "csv", "-o", str(target))
        assert proc.returncode == FULL, proc.stderr
        assert "disk is full" in one_error_line(proc)
        assert target.read_text() == "an older export\n"
        assert sorted(p.name for p in disk.iterdir()) == ["works.csv"]


def test_a_database_that_reached_its_size_limit_exits_5(tmp_path, monkeypatch, capsys):
    """The same as a full disk, where no filesystem can be mounted: SQLite's page limit on the
    connection gives the very error ("database or disk is full")."""
    database = tmp_path / "harvest.db"
    monkeypatch.setenv("HARVEST_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("")
    with pytest.raises(SystemExit) as first:
        cli.main(["--db", str(database), "-q", "import", str(records(tmp_path / "a.csv", 5))])
    assert first.value.code == 0
    connect = sqlite3.connect

    def limited(*args, **kwargs):
        conn = connect(*args, **kwargs)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + 2}")
        return conn

    monkeypatch.setattr(sqlite3, "connect", limited)
    capsys.readouterr()
    more = str(records(tmp_path / "b.csv", 2000, start=100))
    with pytest.raises(SystemExit) as full:
        cli.main(["--db", str(database), "-q", "--log-format", "json", "import", more])
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert full.value.code == FULL, err
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        line for line in err.splitlines() if not line.startswith("{") and line
    ]
    assert "disk is full" in err and "Traceback" not in err
    assert query(database, "SELECT count(*) FROM works") == [(5,)]


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[Path]:
    """`folder` and what it holds, read-only for the harvester: chmod for a user; for root, whom
    permissions do not stop, a read-only bind mount of it (the path to use is yielded)."""
    if os.geteuid() != 0:
        modes = {path: path.stat().st_mode for path in [folder, *folder.iterdir()]}
        for path in modes:
            path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield folder
        finally:
            for path, mode in modes.items():
                path.chmod(mode)
        return
    view = folder.with_name(folder.name + "-read-only")
    with mounted(["--bind", "-o", "ro", str(folder)], view):
        yield view


def test_a_read_only_database_gives_one_line_and_exit_6(harvest):
    ok(harvest("-q", "import", str(records(harvest.folder / "first.csv", 5))))
    records(harvest.folder / "more.csv", 5, start=100)
    query(harvest.db_path, "PRAGMA wal_checkpoint(TRUNCATE)")
    before = digest(harvest.db_path)
    with read_only(harvest.db_path.parent) as view:
        proc = harvest("--db", str(view / "harvest.db"), "import", "more.csv")
        assert proc.returncode == READ_ONLY, proc.stderr
        assert "cannot" in one_error_line(proc)
    assert digest(harvest.db_path) == before
    assert query(harvest.db_path, "SELECT count(*) FROM works") == [(5,)]


def test_each_kind_of_broken_database_has_its_own_exit_code_in_the_readme():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    kinds = (DatabaseCorrupt, DiskFull, DatabaseReadOnly, DatabaseTooNew)
    assert [kind.exit_code for kind in kinds] == [CORRUPT, FULL, READ_ONLY, TOO_NEW]
    for code in (CORRUPT, FULL, READ_ONLY, TOO_NEW):
        assert f"\n| {code} |" in readme
