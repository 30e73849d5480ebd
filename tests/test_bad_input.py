"""Bad input of every kind, through the CLI as a user meets it: a clear message naming what is
wrong and where, exit code 2, no traceback, and nothing written (no database, or the database
exactly as it was)."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest
from conftest import QUICK_RETRIES, HarvestCommand
from upstream import ReplayUpstream


@pytest.fixture
def upstream():
    with ReplayUpstream() as server:
        server.add_crossref("10.7554_elife.01567")
        yield server


@pytest.fixture
def harvest(tmp_path, upstream):
    return HarvestCommand(tmp_path, upstream.env(), QUICK_RETRIES)


def fingerprint(harvest) -> str | None:
    """The database as stored (its bytes), or None when there is none."""
    if not harvest.db_path.exists():
        return None
    conn = sqlite3.connect(harvest.db_path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return hashlib.sha256(harvest.db_path.read_bytes()).hexdigest()


IDENTIFIERS = [
    ("doi", "not a doi", "not a DOI"),
    ("doi", "10.1234/", "empty suffix"),
    ("doi", "11.1234/abc", "not a DOI"),
    ("doi", "10.1234/ab\x07c", "control character"),
    ("doi", "10.1234/" + "x" * 10_000, "too long"),
    ("repec", "RePEc:sa:woemps:v:29", "archive must be 3"),
    ("repec", "RePEc:sae:woemp:v:29", "series must be 6"),
    ("track", "RePEc:sae", "series must be 6"),
]


@pytest.mark.parametrize(("command", "text", "said"), IDENTIFIERS)
def test_a_broken_identifier_is_named_with_its_place_and_nothing_is_written(
    harvest, command, text, said
):
    before = fingerprint(harvest)
    proc = harvest(command, "10.7554/eLife.01567", text)
    assert proc.returncode == 2
    assert "argument 2" in proc.stderr and said in proc.stderr
    assert "nothing was harvested" in proc.stderr or "nothing" in proc.stderr
    assert fingerprint(harvest) == before is None


def test_a_file_of_identifiers_with_broken_lines_names_each_line(harvest, tmp_path):
    harvest("doi", "10.7554/eLife.01567")  # a database exists: it must stay as it is
    before = fingerprint(harvest)
    listing = tmp_path / "dois.txt"
    listing.write_bytes(
        b"10.7554/eLife.01567\n"
        b"10.1234/caf\xe9\n"  # Windows-1252 among UTF-8 lines
        b"10.1234/" + b"y" * 10_000 + b"\n"
        b"\xef\xbb\xbf10.1234/bom-in-the-middle\n"
        b"10.1234/tab\there\n"
    )
    proc = harvest("doi", "--from-file", str(listing))
    assert proc.returncode == 2
    assert f"{listing}:2: " in proc.stderr and "not UTF-8 (byte 0xe9 at column 12)" in proc.stderr
    assert f"{listing}:3: " in proc.stderr and "too long" in proc.stderr
    assert f"{listing}:5: " in proc.stderr
    assert fingerprint(harvest) == before

    # Line 4's BOM is cleaned off like any invisible character: a DOI, just not a known one.
    skipped = harvest("doi", "--from-file", str(listing), "--skip-invalid")
    assert skipped.returncode == 1
    assert "2 identifier(s): 0 created, 0 changed, 1 unchanged, 1 not found" in skipped.stdout


CONFIGS = [
    ("[crossref]\nbatch_size = 'fifty'\n", "batch_size must be int"),
    ("[crossref]\nspeed = 3\n", "unknown key 'speed'"),
    ("chunk_size = 0\n", "chunk_size must be 1 to 10000"),
    ("[watch\n", "not valid TOML"),
]


@pytest.mark.parametrize(("text", "said"), CONFIGS)
def test_a_broken_configuration_file_is_named_and_nothing_is_written(harvest, text, said):
    harvest.config.write_text(text)
    proc = harvest("doi", "10.7554/eLife.01567")
    assert proc.returncode == 2 and said in proc.stderr, proc.stderr
    assert str(harvest.config) in proc.stderr  # the file to fix
    assert not harvest.db_path.exists()


URLS = [
    ("ftp://api.crossref.org", "[crossref] url must start with http"),
    ("https://", "[crossref] url 'https://' is not a valid URL"),
    ("https://api.crossref.org:port", "is not a valid URL"),
    ("https://api crossref.org", "is not a valid URL"),
]


@pytest.mark.parametrize(("url", "said"), URLS)
def test_a_base_url_that_cannot_work_is_configuration_not_an_outage(harvest, url, said):
    harvest.env["HARVEST_CROSSREF_URL"] = url
    proc = harvest("doi", "10.7554/eLife.01567")
    assert proc.returncode == 2 and said in proc.stderr, proc.stderr
    assert not harvest.db_path.exists()


def test_an_unwritable_database_path_is_named(harvest, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the database's folder should be")
    harvest.env["HARVEST_DB"] = str(blocker / "harvest.db")
    proc = harvest("doi", "10.7554/eLife.01567")
    assert proc.returncode == 2
    assert str(blocker / "harvest.db") in proc.stderr


def test_a_database_from_a_newer_harvester_is_refused_untouched(harvest):
    harvest("doi", "10.7554/eLife.01567")
    conn = sqlite3.connect(harvest.db_path)
    conn.execute("INSERT INTO _migrations (name, applied_at) VALUES ('9999_future', 'x')")
    conn.commit()
    conn.close()
    before = fingerprint(harvest)
    for args in (("doi", "10.7554/eLife.01567"), ("run",), ("track", "10.1/x")):
        proc = harvest(*args)
        assert proc.returncode == 7 and "written by a newer harvester" in proc.stderr
    assert fingerprint(harvest) == before
