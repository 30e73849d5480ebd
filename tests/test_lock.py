"""The writer lock: one writer at a time, the holder named, a killed holder's lock recovered."""

from __future__ import annotations

import json
import os
import re
import selectors
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from harvester.errors import HarvesterError, LockHeld
from harvester.lock import WriterLock, lock_path, writer_lock

REPO_ROOT = Path(__file__).resolve().parents[1]

#: A child that takes the lock as "harvest run", says so, holds it argv[2] seconds, then releases.
#: Its logs go to stderr, so that stdout carries only the "locked" line.
CHILD = """
import sys, time
import structlog
structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
from harvester.lock import WriterLock
lock = WriterLock(sys.argv[1], "harvest run")
lock.acquire()
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
lock.release()
"""


def start_holder(database: Path, hold: float) -> subprocess.Popen:
    """Start a child process holding the lock; return once it has it."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(database), str(hold)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(child.stdout, selectors.EVENT_READ)
            if not sel.select(timeout=10):
                pytest.fail("child did not take the lock within 10 s")
        line = child.stdout.readline()
        if line != "locked\n":
            child.wait(timeout=5)
            pytest.fail(f"child failed to lock: {line!r} {child.stderr.read()}")
    except BaseException:
        stop(child)
        raise
    return child


def stop(child: subprocess.Popen) -> None:
    if child.poll() is None:
        child.kill()
    child.wait(timeout=10)
    for stream in (child.stdout, child.stderr):
        if stream:
            stream.close()


@pytest.fixture
def far_timezone(monkeypatch):
    """A local zone 14 hours from UTC, so a local timestamp cannot pass for a UTC one."""
    monkeypatch.setenv("TZ", "KIT-14")  # POSIX form: UTC+14, no zoneinfo needed
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_acquire_writes_holder_beside_db_and_release_empties_it(tmp_path, far_timezone):
    database = tmp_path / "data" / "harvest.db"  # parent folder does not exist yet
    lock = WriterLock(database, "harvest run")
    assert lock_path(database) == tmp_path / "data" / "harvest.db.lock"

    before = datetime.now(UTC).replace(microsecond=0)
    lock.acquire()
    try:
        info = json.loads(lock_path(database).read_text())
        assert info["pid"] == os.getpid()
        assert info["command"] == "harvest run"
        assert isinstance(info["host"], str) and info["host"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", info["since"])
        since = datetime.strptime(info["since"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert before <= since <= datetime.now(UTC)
        assert lock.holder() == info
        lock.acquire()  # already ours: a no-op, not a self-deadlock
    finally:
        lock.release()
    assert lock_path(database).exists()
    assert lock_path(database).read_text() == ""
    assert lock.holder() is None
    lock.release()  # idempotent


def test_second_lock_in_same_process_is_refused_with_holder_named(tmp_path):
    database = tmp_path / "harvest.db"
    with WriterLock(database, "harvest run"):
        with pytest.raises(LockHeld) as info:
            WriterLock(database, "harvest doi").acquire()
        assert isinstance(info.value, HarvesterError)
        assert info.value.exit_code == 3
        message = str(info.value)
        assert message.startswith(
            f"another harvest is writing to {database}: pid {os.getpid()} on "
        )
        assert '"harvest run"' in message
        assert "since " in message
        assert "--wait" in message
    # released by the with block: the next writer gets it
    with writer_lock(database, "harvest doi") as lock:
        assert lock.holder()["command"] == "harvest doi"


def test_lock_of_killed_process_is_recovered(tmp_path):
    database = tmp_path / "harvest.db"
    child = start_holder(database, hold=60)
    try:
        with pytest.raises(LockHeld) as info:
            WriterLock(database, "harvest doi").acquire()
        assert f"pid {child.pid} " in str(info.value)
        assert '"harvest run"' in str(info.value)

        child.kill()  # SIGKILL: no release, the file still names the child
        child.wait(timeout=10)
        assert json.loads(lock_path(database).read_text())["pid"] == child.pid

        with writer_lock(database, "harvest doi") as lock:
            holder = lock.holder()
            assert holder["pid"] == os.getpid()
            assert holder["command"] == "harvest doi"
    finally:
        stop(child)


def test_wait_gets_the_lock_once_the_holder_releases(tmp_path):
    database = tmp_path / "harvest.db"
    child = start_holder(database, hold=0.5)
    try:
        started = time.monotonic()
        with writer_lock(database, "harvest doi", wait=5) as lock:
            waited = time.monotonic() - started
            assert lock.holder()["pid"] == os.getpid()
        assert 0.3 < waited < 5
        assert child.wait(timeout=10) == 0
    finally:
        stop(child)


def test_wait_gives_up_after_the_timeout(tmp_path):
    database = tmp_path / "harvest.db"
    with WriterLock(database, "harvest run"):
        started = time.monotonic()
        with capture_logs() as logs, pytest.raises(LockHeld) as info:
            WriterLock(database, "harvest doi").acquire(wait=0.5)
        waited = time.monotonic() - started
    assert 0.45 <= waited < 2
    assert f"pid {os.getpid()}" in str(info.value)
    assert "--wait" in str(info.value)
    waiting = [entry for entry in logs if entry["event"] == "lock.waiting"]
    assert len(waiting) == 1
    assert waiting[0]["holder"]["command"] == "harvest run"


@pytest.mark.parametrize("content", ["not json", "", "[1, 2]"])
def test_garbled_holder_file_still_gives_a_clear_message(tmp_path, content):
    database = tmp_path / "harvest.db"
    with WriterLock(database, "harvest run") as holder:
        lock_path(database).write_text(content)  # rewriting the file does not drop the flock
        assert holder.holder() is None
        with pytest.raises(LockHeld) as info:
            WriterLock(database, "harvest doi").acquire()
    assert (
        str(info.value) == f"another harvest is writing to {database} (use --wait to wait for it)"
    )


def test_memory_database_needs_no_lock(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with writer_lock(":memory:", "harvest run"), writer_lock(":memory:", "harvest doi"):
        pass
    assert list(tmp_path.iterdir()) == []
