"""The `harvest` command on a terminal, as a person sees it: it runs on a pseudo-terminal.

A progress bar counts the identifiers as they are done (and is never drawn when the output is
not a terminal). Ctrl-C is typed into the terminal, so its line discipline sends SIGINT as it
would: the first ^C says at once that the run stops after the batch in hand, stores that batch
and exits; a second aborts, losing nothing committed. Runs on the kept fixtures (a clone alone
runs it)."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import sqlite3
import sys
import termios
import time
from pathlib import Path

import pytest
from conftest import QUICK_RETRIES, HarvestCommand
from upstream import ReplayUpstream

#: DOIs under the kept Crossref prefix that Crossref does not know: each is a list request and
#: a single look-up, stored as not found; slowed down, forty of them take a while.
DOIS = [f"10.53731/stop-{n:02d}" for n in range(40)]
CONFIG = "chunk_size = 5\n" + QUICK_RETRIES + "[crossref]\nbatch_size = 5\n"
STOPPING = "stopping after this batch (Ctrl-C again to abort)"


@pytest.fixture
def upstream():
    with ReplayUpstream() as replay:
        replay.add_crossref("10.53731_ybhah-9jy85")
        replay.delay = 0.4  # every answer: a chunk of five takes a second or two
        yield replay


class Terminal:
    """`harvest ARGS` on a pseudo-terminal; `read_until` collects what it prints."""

    def __init__(
        self, folder: Path, env: dict[str, str], *args: str, stdout: Path | None = None
    ) -> None:
        self.output = ""
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the harvester, the terminal its controlling one
            os.chdir(folder)
            # A ^C makes the tty driver discard the output not yet read (unless NOFLSH): on a
            # loaded machine that is lines the harvester printed and this reader had not read
            # yet. What the tests check is what the harvester wrote, so nothing is discarded.
            attributes = termios.tcgetattr(0)
            attributes[3] |= termios.NOFLSH
            termios.tcsetattr(0, termios.TCSANOW, attributes)
            if stdout is not None:  # `harvest ... > file` typed at the terminal
                os.dup2(os.open(stdout, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 1)
            os.execve(sys.executable, [sys.executable, "-m", "harvester", *args], env)

    def read_until(self, done, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while not done(self.output) and time.monotonic() < end:
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:  # the child closed the terminal: it has exited
                    return done(self.output)
                if not chunk:
                    return done(self.output)
                self.output += chunk.decode(errors="replace")
        return done(self.output)

    def press_ctrl_c(self) -> None:
        os.write(self.fd, b"\x03")

    def wait(self, timeout: float) -> int:
        self.read_until(lambda _: False, timeout)  # drain until the child closes the terminal
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.05)
        os.kill(self.pid, signal.SIGKILL)
        raise AssertionError(f"still running after {timeout}s:\n{self.output}")


def harvest_on_a_terminal(
    tmp_path: Path, upstream: ReplayUpstream, stdout: Path | None = None
) -> Terminal:
    config = tmp_path / "harvester.toml"
    config.write_text(CONFIG)
    env = {
        **os.environ,
        "HARVEST_CONFIG": str(config),
        "HARVEST_DB": str(tmp_path / "harvest.db"),
        "HARVEST_MAILTO": "tests@example.org",
        "HARVEST_LOG_FORMAT": "console",
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        **upstream.env(),
    }
    return Terminal(tmp_path, env, "doi", *DOIS, stdout=stdout)


def stored(tmp_path: Path) -> tuple[int, str]:
    db = sqlite3.connect(tmp_path / "harvest.db")
    try:
        [(answers,)] = db.execute("SELECT count(*) FROM source_records WHERE status = 'not_found'")
        [(status,)] = db.execute("SELECT status FROM runs ORDER BY id DESC LIMIT 1")
        return answers, status
    finally:
        db.close()


#: What a terminal shows besides the text: colour and cursor codes (the progress bar redrawing
#: itself), carriage returns, and the ^C the terminal echoes where it was typed.
_NOT_TEXT = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r|\^C")


def outcome_lines(output: str) -> list[str]:
    """The DOIs of the outcome lines printed, as a person reads the screen."""
    return re.findall(r"not found  (10\.53731/stop-\d+)", _NOT_TEXT.sub("", output))


def test_ctrl_c_stops_after_the_batch_in_hand_and_keeps_it(tmp_path, upstream):
    terminal = harvest_on_a_terminal(tmp_path, upstream)
    assert terminal.read_until(lambda out: outcome_lines(out), timeout=30), terminal.output

    terminal.press_ctrl_c()
    pressed = time.monotonic()
    assert terminal.read_until(lambda out: STOPPING in out, timeout=2), terminal.output
    code = terminal.wait(timeout=30)
    took = time.monotonic() - pressed

    assert code == 130, terminal.output
    answers, status = stored(tmp_path)
    printed = outcome_lines(terminal.output)
    assert status == "interrupted"
    assert answers == len(printed)  # every DOI reported was stored...
    assert 5 <= answers < len(DOIS)  # ...a batch at least, and the run did stop
    assert answers % 5 == 0  # whole batches only
    assert "Traceback" not in terminal.output
    # Forty DOIs at 0.4 s an answer take well over ten seconds; the stop does not wait for them.
    assert took < 10, f"{took:.1f}s from Ctrl-C to exit:\n{terminal.output}"


def test_a_second_ctrl_c_aborts_at_once_and_loses_nothing_committed(tmp_path, upstream):
    terminal = harvest_on_a_terminal(tmp_path, upstream)
    assert terminal.read_until(lambda out: outcome_lines(out), timeout=30), terminal.output

    terminal.press_ctrl_c()
    assert terminal.read_until(lambda out: STOPPING in out, timeout=2), terminal.output
    terminal.press_ctrl_c()
    code = terminal.wait(timeout=30)

    assert code == 130, terminal.output
    answers, status = stored(tmp_path)
    assert status == "interrupted"
    assert answers >= 5 and answers % 5 == 0  # the batches committed before, whole
    assert "Traceback" not in terminal.output


def test_a_long_harvest_shows_a_progress_bar_on_a_terminal(tmp_path, upstream):
    upstream.delay = 0.05
    terminal = harvest_on_a_terminal(tmp_path, upstream)
    assert terminal.read_until(lambda out: re.search(r"harvest .*\d+/40", out), timeout=30), (
        terminal.output
    )
    assert terminal.wait(timeout=60) == 1  # not found: exit 1
    assert "━" in terminal.output  # the bar itself
    counts = [int(n) for n in re.findall(r"(\d+)/40", terminal.output)]
    assert counts == sorted(counts) and len(set(counts)) > 2  # it moved as DOIs were done
    assert "eta" in terminal.output
    assert "40 identifier(s): 0 created, 0 changed, 0 unchanged, 40 not found" in terminal.output
    assert len(outcome_lines(terminal.output)) == 40  # the lines a DOI each, above the bar


def test_no_progress_bar_when_the_output_is_not_a_terminal(tmp_path, upstream):
    upstream.delay = 0.0
    done = HarvestCommand(tmp_path, upstream.env(), CONFIG)("doi", *DOIS[:10])
    assert done.returncode == 1
    assert "━" not in done.stderr and "/10" not in done.stderr
    assert len(outcome_lines(done.stdout)) == 10


def test_results_redirected_to_a_file_go_there_while_the_bar_shows_on_the_terminal(
    tmp_path, upstream
):
    upstream.delay = 0.0
    results = tmp_path / "out.txt"
    terminal = harvest_on_a_terminal(tmp_path, upstream, stdout=results)
    assert terminal.wait(timeout=60) == 1
    written = results.read_text()
    assert len(outcome_lines(written)) == 40 and "━" not in written  # the results, whole
    assert outcome_lines(terminal.output) == []  # not drawn on the terminal instead
    assert written.splitlines()[-1].startswith("40 identifier(s): 0 created")


def test_a_big_import_shows_a_progress_bar_on_a_terminal(tmp_path, upstream):
    rows = "".join(f"10.5555/import-{n},Paper number {n},2020\n" for n in range(4000))
    (tmp_path / "mine.csv").write_text("doi,title,year\n" + rows, encoding="utf-8")
    config = tmp_path / "harvester.toml"
    config.write_text(CONFIG)
    env = {
        **os.environ,
        "HARVEST_CONFIG": str(config),
        "HARVEST_DB": str(tmp_path / "harvest.db"),
        "HARVEST_MAILTO": "tests@example.org",
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }
    terminal = Terminal(tmp_path, env, "import", "mine.csv")
    assert terminal.wait(timeout=120) == 0, terminal.output
    assert "━" in terminal.output
    counts = [int(n) for n in re.findall(r"(\d+)/4000", terminal.output)]
    assert counts == sorted(counts) and len(set(counts)) > 2, terminal.output[-500:]
    assert "4000 record(s) from mine.csv: 4000 new work(s), 0 changed, 0 unchanged; run 1" in (
        _NOT_TEXT.sub("", terminal.output)
    )
