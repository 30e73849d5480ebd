"""One writer at a time: the advisory lock every command that writes to the database takes.

A nightly `harvest run`, a scheduled job and a one-off command must never write to the same SQLite
file at once; readers (Datasette) never take the lock. The lock is a file beside the database
(`data/harvest.db` -> `data/harvest.db.lock`) held with `flock(LOCK_EX | LOCK_NB)`.

Why flock and not a PID file: the kernel drops a flock when the holding process dies, however it
dies (even `kill -9` or an OOM kill), so a lock left by a dead writer is recovered by the next writer
simply getting it. A PID file would need guessing whether the PID is stale (and PIDs get reused).
The JSON written into the file (pid, host, command, since) is only there to tell a waiting user who
holds the lock; the flock itself is the lock. The file is emptied, never deleted, on release:
deleting a flock'd file lets two processes lock two different inodes under the same name.

Caveat: flock is only reliable on local filesystems; keep the database off NFS.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import structlog

from harvester.errors import DatabaseReadOnly, DiskFull, LockHeld, StoreError

log = structlog.get_logger(__name__)

#: How often a waiting writer retries the lock, in seconds.
POLL_INTERVAL = 0.2

#: What a lock that cannot be created says of the database's folder (each its exit code);
#: anything else (a file where the folder should be) is a wrong path, StoreError.
_KINDS: dict[int, type[StoreError]] = {
    errno.EACCES: DatabaseReadOnly,
    errno.EPERM: DatabaseReadOnly,
    errno.EROFS: DatabaseReadOnly,
    errno.ENOSPC: DiskFull,
    errno.EDQUOT: DiskFull,
}


def lock_path(database: str | os.PathLike[str]) -> Path:
    """The lock file for `database`: beside the file itself, so every writer of that file finds
    the same lock. The path is resolved first: a writer reaching the database through a symlink
    (or `..`, or a symlinked folder) would otherwise lock another file and write beside the first."""
    path = Path(os.path.realpath(database))
    return path.with_name(path.name + ".lock")


def _is_memory(database: str | os.PathLike[str]) -> bool:
    # An in-memory database belongs to one connection; nobody else can write to it.
    return os.fspath(database) == ":memory:"


class WriterLock:
    """The writer lock of one database, held through an open fd (flock is per open file description).

    Two WriterLock objects on the same database conflict even within one process.
    """

    def __init__(self, database: str | os.PathLike[str], command: str) -> None:
        self.database = database
        self.command = command
        self.path = lock_path(database)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._fd is not None

    def acquire(self, wait: float | None = None) -> None:
        """Take the lock, or raise LockHeld naming the holder.

        `wait` None or 0 fails at once; a positive number of seconds polls until then; `math.inf`
        waits forever. Taking a lock this object already holds does nothing.
        """
        if self._fd is not None or _is_memory(self.database):
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            # The database's folder cannot be written (or the disk is full): the store would
            # fail the same way, so say it here, plainly, rather than with a traceback.
            raise _KINDS.get(exc.errno, StoreError)(
                f"{self.database}: cannot create the writer lock {self.path}: {exc.strerror or exc}"
            ) from None
        try:
            if not self._try_lock(fd):
                self._wait_for(fd, wait or 0.0)
            self._write_holder(fd)
        except BaseException:
            os.close(fd)  # closing also drops the flock if we had it
            raise
        self._fd = fd
        log.debug("lock.acquired", database=os.fspath(self.database), command=self.command)

    def release(self) -> None:
        """Empty the lock file and let the next writer in; safe to call when not held."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)  # so a stale reading never names a process that no longer writes
        finally:
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def holder(self) -> dict | None:
        """What the lock file says about its holder, or None when it is missing, empty or garbled.

        Only informative: the file may be emptied or rewritten at any moment by another process.
        """
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        try:
            info = json.loads(text)
        except ValueError:
            return None
        return info if isinstance(info, dict) else None

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    # -- internals -----------------------------------------------------------------------------

    @staticmethod
    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _wait_for(self, fd: int, wait: float) -> None:
        """Poll until the lock is ours or `wait` seconds passed (then raise LockHeld)."""
        if not wait > 0:
            raise LockHeld(self._held_message())
        log.warning(
            "lock.waiting",
            database=os.fspath(self.database),
            command=self.command,
            wait=wait,
            holder=self.holder(),
        )
        deadline = time.monotonic() + wait  # inf stays inf: wait forever
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LockHeld(self._held_message(waited=wait))
            time.sleep(min(POLL_INTERVAL, remaining))
            if self._try_lock(fd):
                return

    def _write_holder(self, fd: int) -> None:
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": self.command,
            "since": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(info) + "\n").encode("utf-8"), 0)
            os.fsync(fd)
        except OSError as exc:
            # Only a note for whoever waits (a full disk refuses it): the flock is the lock,
            # and the store says what is wrong with the disk when it is opened.
            log.debug("lock.holder_not_written", path=str(self.path), error=str(exc))

    def _held_message(self, waited: float | None = None) -> str:
        text = f"another harvest is writing to {os.fspath(self.database)}"
        info = self.holder()
        if info and "pid" in info:
            pid, host, command, since = (info.get(k) for k in ("pid", "host", "command", "since"))
            text += f": pid {pid}"
            if host:
                text += f" on {host}"
            if command:
                text += f', "{command}"'
            if since:
                text += f", since {since}"
        if waited is None:
            return text + " (use --wait to wait for it)"
        return text + f" (gave up after --wait {waited:g} s)"


@contextmanager
def writer_lock(
    database: str | os.PathLike[str], command: str, wait: float | None = None
) -> Iterator[WriterLock]:
    """Hold the writer lock of `database` for the block; raises LockHeld if another writer has it."""
    lock = WriterLock(database, command)
    lock.acquire(wait)
    try:
        yield lock
    finally:
        lock.release()
