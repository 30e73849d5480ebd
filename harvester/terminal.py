"""What a person at a terminal sees while a long command runs: a progress bar on stderr with
the count, the rate and (when the total is known) the time left, redrawn as outcomes arrive.
Never shown when stderr is not a terminal (cron, a pipe, a file), with --json or -q. And
`echo`, the one way a command prints a line for people, with what a terminal would act on
taken out (`render.printable`).

rich draws it: it keeps the bar below what the command prints (the log, routed above it while
it is shown, and the result lines through `echo`), knows an unknown total (a RePEc series, an
OAI feed), and leaves nothing behind when done, so the summary line is the last thing on the
screen. Result lines stay on stdout: to a file or a pipe as they are, and drawn above the bar
only when stdout is the terminal too.
"""

from __future__ import annotations

import sys
from types import TracebackType

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from harvester.render import printable


def echo(text: str = "", *, err: bool = False) -> None:
    """A line for people on stdout (or stderr), as every command prints one: through
    `printable`, so that no title, name or error a source sent can drive the terminal."""
    click.echo(printable(text), err=err)


def wanted(as_json: bool, verbosity: int) -> bool:
    """Whether a bar is shown: on a terminal, for people (not --json), unless -q."""
    return not as_json and verbosity >= 0 and sys.stderr.isatty()


class ProgressBar:
    """`with ProgressBar("harvest", total, enabled) as bar: bar.advance()`; `total` None when
    the command cannot know it yet (`bar.update(done, total)` sets it later). Does nothing when
    not `enabled`."""

    def __init__(self, label: str, total: int | None = None, *, enabled: bool = True) -> None:
        self.label, self.total, self.enabled = label, total, enabled
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> ProgressBar:
        if self.enabled:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=Console(file=sys.stderr),
                transient=True,
                redirect_stdout=False,  # results stay on stdout: see `echo`
                redirect_stderr=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=self.total)
        return self

    def echo(self, text: str) -> None:
        """A result line on stdout; above the bar when stdout is the same terminal, so neither
        is drawn over the other."""
        if self._progress is not None and sys.stdout.isatty():
            self._progress.console.print(
                printable(text), markup=False, highlight=False, soft_wrap=True
            )
        else:
            echo(text)

    def advance(self, count: int = 1) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, count)

    def update(self, done: int, total: int | None) -> None:
        """Set the count and the total outright (`harvest run` reports both as it goes)."""
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=done, total=total)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
