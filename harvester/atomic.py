"""Replacing a file whole: what `harvest export -o FILE` writes, a reader (or a second export
running at the same time) sees either the previous file or the new one, never a mixture.

The new content goes to a temporary file of its own in the target's folder (`mkstemp`: a unique
name, so two exports never write into one file), is flushed to disk (`fsync`), then renamed over
the target (`os.replace`, atomic within one folder) and the folder synced, so the rename too
survives a power cut. Any failure, Ctrl-C or SIGTERM removes the temporary file. SIGKILL cannot
be caught: its temporary file stays behind, and the next write to the same target removes it,
knowing it dead because no process holds its lock any more (each writer holds a `flock` on its
temporary file while it writes; the kernel drops it when the writer dies, however it dies).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

#: What a temporary file's name ends with, after `.NAME.` and mkstemp's random part.
SUFFIX = ".tmp"


def temporary_prefix(path: Path) -> str:
    """The start of the name of every temporary file that will replace `path`."""
    return f".{path.name}."


def write_atomically(path: Path, write: Callable[[TextIO], None]) -> None:
    """Call `write(stream)` with a text stream (UTF-8, newlines as written) whose content
    replaces `path` whole once `write` returns; raise `OSError` (the previous file untouched,
    nothing left behind) when the folder cannot be written or the disk is full."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    _remove_dead_temporaries(path)
    with _terminated_raises():  # from before the temporary file exists: nothing left behind
        fd, temporary = -1, None
        try:
            fd, temporary = _locked_temporary(path, folder)
            _keep_mode(path, fd)
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as stream:
                fd = -1  # the stream owns it now
                write(stream)
                stream.flush()
                os.fsync(stream.fileno())
                os.replace(temporary, path)
            _sync_folder(folder)
        except BaseException as exc:
            if fd != -1:
                os.close(fd)
            if temporary is not None:
                temporary.unlink(missing_ok=True)
            # Interrupted half-way through a buffered write, closing the stream may fail in
            # turn: the interruption is what happened, not a folder that cannot be written.
            if not isinstance(exc, KeyboardInterrupt) and isinstance(
                exc.__context__, KeyboardInterrupt
            ):
                raise exc.__context__ from None
            raise


def _locked_temporary(path: Path, folder: Path) -> tuple[int, Path]:
    """A new temporary file for `path`, created and locked by us. Between `mkstemp` and
    `flock` a concurrent writer's clean-up may take the file for a dead one's and remove it;
    once we hold the lock nobody can, so we check the name still leads to our file and make
    another if it does not."""
    while True:
        fd, name = -1, ""
        try:
            with _signals_held():  # a Ctrl-C or SIGTERM lands once `fd` and `name` are known
                fd, name = tempfile.mkstemp(
                    prefix=temporary_prefix(path), suffix=SUFFIX, dir=folder
                )
            fcntl.flock(fd, fcntl.LOCK_EX)
            ours = os.fstat(fd)
            try:
                there = os.stat(name)
            except FileNotFoundError:
                there = None
        except BaseException:
            if fd != -1:
                os.close(fd)
                Path(name).unlink(missing_ok=True)
            raise
        if there is not None and (there.st_dev, there.st_ino) == (ours.st_dev, ours.st_ino):
            return fd, Path(name)
        os.close(fd)  # removed under us before we locked it: not ours any more


def _remove_dead_temporaries(path: Path) -> None:
    """Remove the temporary files a killed writer of `path` left: those whose lock nobody holds.
    A live writer's (a concurrent export) is locked, and left alone."""
    folder = path.parent if str(path.parent) else Path(".")
    for leftover in folder.glob(f"{glob_escape(temporary_prefix(path))}*{SUFFIX}"):
        try:
            fd = os.open(leftover, os.O_RDONLY)
        except OSError:
            continue  # gone already, or not ours to read
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # a writer is at work on it
        else:
            leftover.unlink(missing_ok=True)
        finally:
            os.close(fd)


def glob_escape(text: str) -> str:
    """`text` matched literally by `Path.glob` (a file name may hold `*`, `?` or `[`)."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def _keep_mode(path: Path, fd: int) -> None:
    """Give the new file the permissions the previous one had (mkstemp makes it 0600), or
    those a new file gets under the umask."""
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    os.fchmod(fd, mode)


def _sync_folder(folder: Path) -> None:
    """fsync the folder, so the rename is on disk too (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EBADF):  # filesystems that cannot sync a folder
            raise
    finally:
        os.close(fd)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM held back (delivered on leaving): between the file that `mkstemp`
    creates and the name it returns, an interruption would leave a file nobody knows of."""
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def _terminated_raises() -> Iterator[None]:
    """While writing, SIGTERM raises KeyboardInterrupt (as Ctrl-C does) instead of ending the
    process on the spot, so the temporary file is removed on the way out. Only the main thread
    can set a handler; elsewhere (a scheduled job's thread) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
