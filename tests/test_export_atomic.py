"""`harvest export -o FILE` replaces FILE whole, whatever else happens at the same moment: two
exports to one path at once, an export killed with SIGKILL or stopped with SIGTERM half-way.
Each test runs the command as a user would, in subprocesses, on a database of 3,000 works (so
that an export takes long enough to be caught in the middle), and checks the file on disk."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest
from conftest import HarvestCommand
from fakes import ok

WORKS = 3000
PREVIOUS = '[{"id": "an older export"}]\n'


@pytest.fixture(scope="module")
def stocked(tmp_path_factory) -> Path:
    """A database of WORKS imported works, made once and copied for each test."""
    folder = tmp_path_factory.mktemp("stock")
    rows = folder / "works.csv"
    with rows.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["doi", "title", "year", "container_title", "authors"])
        for n in range(WORKS):
            title = f"Work {n} on the long road of a title that makes the export take a while"
            writer.writerow([f"10.5555/export.{n}", title, 2000 + n % 25, "J. Tests", f"F{n}, G"])
    harvest = HarvestCommand(folder, {}, "")
    ok(harvest("-q", "import", str(rows)))
    return harvest.db_path


@pytest.fixture
def harvest(tmp_path, stocked) -> HarvestCommand:
    command = HarvestCommand(tmp_path, {}, "")
    command.db_path.parent.mkdir()
    shutil.copy(stocked, command.db_path)
    command.target = tmp_path / "out" / "works.json"
    command.target.parent.mkdir()
    command.target.write_text(PREVIOUS)
    return command


def export(harvest: HarvestCommand):
    return harvest.start("export", "--format", "csl-json", "-o", str(harvest.target))


def others(harvest: HarvestCommand) -> list[str]:
    """Whatever is in the export's folder besides the export itself: temporary files."""
    return sorted(p.name for p in harvest.target.parent.iterdir() if p != harvest.target)


def complete(harvest: HarvestCommand) -> bool:
    """The target holds one whole export: valid JSON, every work once, no NUL byte."""
    data = harvest.target.read_bytes()
    assert b"\x00" not in data
    items = json.loads(data)
    return sorted(item["DOI"] for item in items) == sorted(
        f"10.5555/export.{n}" for n in range(WORKS)
    )


def test_concurrent_exports_to_one_path_end_with_one_complete_file(harvest):
    for _ in range(3):
        running = [export(harvest) for _ in range(4)]
        for proc in running:
            _, stderr = proc.communicate(timeout=60)
            assert proc.returncode == 0, stderr
            assert "Traceback" not in stderr
        assert complete(harvest)
        assert others(harvest) == []


def kill_while_writing(harvest: HarvestCommand, signum: int):
    """Start an export, and send it `signum` once its own temporary file is there."""
    before = set(others(harvest))  # a killed export's, which this one may remove
    proc = export(harvest)
    deadline = time.monotonic() + 30
    while not set(others(harvest)) - before:
        assert proc.poll() is None, "the export ended before it was caught writing"
        assert time.monotonic() < deadline
        time.sleep(0.002)
    os.kill(proc.pid, signum)
    proc.communicate(timeout=30)
    return proc


def test_a_sigkilled_export_leaves_the_previous_file_and_the_next_export_no_leftover(harvest):
    for _ in range(3):
        proc = kill_while_writing(harvest, signal.SIGKILL)
        assert proc.returncode == -signal.SIGKILL
        text = harvest.target.read_text()
        assert text == PREVIOUS  # the previous file, untouched
    proc = export(harvest)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert complete(harvest)
    assert others(harvest) == []  # the killed exports' temporary files are gone too


def test_an_export_stopped_with_sigterm_keeps_the_previous_file_and_leaves_nothing(harvest):
    proc = kill_while_writing(harvest, signal.SIGTERM)
    assert proc.returncode == 130
    assert harvest.target.read_text() == PREVIOUS
    assert others(harvest) == []
