"""The `harvest` command: it parses the command line, calls the pipeline and echoes what
`render` makes of the result. `main` is the one place where errors become messages and exit codes
(`_Command` only gives the library's BadEdit the form of click's usage error first).

Exit codes, for cron wrappers: 0 everything resolved; 1 some identifiers not found or failed (or a
stored work not found); 2 bad input, usage or configuration; 3 another writer holds the lock; 4 the
database is damaged, 5 the disk is full, 6 the database cannot be written, 7 it is from a newer
harvester (errors.StoreError's kinds); 8 the digest could not be sent (kept for the next;
`run --digest` exits 8 so, else with the run's own code); 130 interrupted.
"""

from __future__ import annotations

import csv
import errno
import os
import re
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import click
import structlog

from harvester import __version__, digest, feed, mail, render, retraction_watch
from harvester.atomic import write_atomically
from harvester.config import LOG_FORMATS, Config, DigestConfig, FeedConfig, load_config
from harvester.due import parse_duration, parse_since
from harvester.errors import (
    BadEdit,
    BadIdentifier,
    BadInputFile,
    DigestNotSent,
    DiskFull,
    HarvesterError,
    LockHeld,
)
from harvester.formats import (
    FORMATS,
    citation_keys,
    detect_format,
    read_records,
    write_works,
)
from harvester.identifiers import (
    Doi,
    RepecHandle,
    parse_doi,
    parse_identifier,
    parse_repec_archive,
    parse_repec_series,
)
from harvester.lock import writer_lock
from harvester.log import configure_logging
from harvester.merge import Value
from harvester.people import SCHEMES, PersonId, PersonRefused, check_name, parse_person_id
from harvester.pipeline import (
    MatchResult,
    RunResult,
    connect,
    delete_works,
    edit_work,
    endpoint_url,
    harvest,
    harvest_due,
    harvest_oai,
    harvest_repec,
    import_records,
    match_works,
    merge_works,
    plan_run,
    reparse,
    settle_matches,
)
from harvester.pipeline.institutions import harvest_institutions
from harvester.pipeline.local import check_edit, check_field, find_work, find_works, parse_edits
from harvester.pipeline.match import Decisions, check_decisions, is_doi_harvest
from harvester.pipeline.people import harvest_people
from harvester.pipeline.retractions import LoadResult, load_retractions, notices_text
from harvester.pipeline.retractions import is_due as retraction_load_due
from harvester.scheduler import ScheduledJob, build_scheduler, next_runs, run_scheduler
from harvester.sources import SOURCES
from harvester.store import Outcome, Store, changefeed, open_store
from harvester.store.base import store_error
from harvester.terminal import ProgressBar, echo, wanted

log = structlog.get_logger(__name__)

EXIT_OK, EXIT_SOME_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130

T = TypeVar("T")


@dataclass
class App:
    """What every command needs, built lazily so that `--help` never touches the database."""

    config_path: str | None
    db_path: str | None
    log_format: str | None
    verbosity: int
    wait: float | None = None  # seconds a writer waits for the lock (None: not at all)
    _config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    def setup_logging(self) -> None:
        configure_logging(self.log_format or self.config.log_format, self.verbosity)

    def open_store(self, create: bool = True) -> Store:
        return open_store(self.database, create=create)

    @property
    def database(self) -> str:
        return self.db_path or self.config.database

    @contextmanager
    def writing(self, create: bool = True) -> Iterator[Store]:
        """The store, opened under the writer lock (one writer at a time: a second one exits 3
        naming the holder, or waits `--wait` seconds). Runs a killed writer left `running` are
        recovered first: holding the lock, no other writer can be alive."""
        if not create:
            open_store(self.database, create=False).close()  # a missing database: say so first
        with writer_lock(self.database, _command_line(), wait=self.wait):
            store = self.open_store(create=create)
            try:
                recovered = store.runs.recover_stale()
                if recovered:
                    log.warning(
                        "runs.recovered",
                        runs=recovered,
                        status="interrupted",
                        reason="left running by a writer that was killed",
                    )
                yield store
            finally:
                store.close()


def _also_after_the_command() -> list[click.Option]:
    """The group's options, accepted after the command too (`harvest doi X --db other.db -q`):
    people add them at the end of the line they just ran. Each sets what the group's would."""

    def setting(update: Callable[[App, Any], None]) -> Callable:
        def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
            if value not in (None, 0):
                update(ctx.find_object(App), value)

        return callback

    def config_file(app: App, value: str) -> None:
        app.config_path, app._config = value, None

    options = [
        (["--db"], {"metavar": "PATH"}, lambda app, v: setattr(app, "db_path", v)),
        (["--config"], {"metavar": "FILE"}, config_file),
        (["--log-format"], {"type": click.Choice(LOG_FORMATS)}, lambda a, v: setattr(a, "log_format", v)),
        (["--wait"], {"type": click.FloatRange(min=0), "metavar": "SECONDS"}, lambda a, v: setattr(a, "wait", v)),
        (["-v", "--verbose"], {"count": True}, lambda app, v: setattr(app, "verbosity", app.verbosity + v)),
        (["-q", "--quiet"], {"count": True}, lambda app, v: setattr(app, "verbosity", app.verbosity - v)),
    ]  # fmt: skip
    return [
        click.Option(
            names,
            expose_value=False,
            callback=setting(update),
            help="As before the command (see harvest --help).",
            hidden=True,
            **kwargs,
        )
        for names, kwargs, update in options
    ]


class _Command(click.Command):
    """A command whose edits the library's rules refuse (`BadEdit`) reads as click's usage error,
    naming the command and its help, as a wrong argument does: it is the command line to change.
    The group's options are accepted after the command as well."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.extend(_also_after_the_command())

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BadEdit as exc:
            raise click.UsageError(str(exc), ctx) from None
        except sqlite3.Error as exc:  # a damaged file, a full disk, whatever command met it
            error = store_error(exc, ctx.find_object(App).database)
            if error is None:
                raise
            raise error from None


class _Group(click.Group):
    command_class = _Command


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="harvester")
@click.option(
    "--db", "db_path", metavar="PATH", help="SQLite database [env HARVEST_DB; data/harvest.db]."
)
@click.option(
    "--config",
    "config_path",
    metavar="FILE",
    help="Config file [env HARVEST_CONFIG; config/harvester.toml].",
)
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    help="Log rendering [env HARVEST_LOG_FORMAT; auto: console on a terminal, JSON otherwise].",
)
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="When another harvest is writing, wait up to SECONDS for it (default: exit 3 at once).",
)
@click.option("-v", "--verbose", count=True, help="More log output (repeat for more).")
@click.option(
    "-q",
    "--quiet",
    count=True,
    help="Less output: no per-identifier lines, errors only in the log.",
)
@click.pass_context
def cli(ctx: click.Context, db_path, config_path, log_format, wait, verbose, quiet) -> None:
    """Resolve DOIs and RePEc handles against public metadata services into SQLite, keeping a full
    history of what changed, when, and according to which source."""
    ctx.obj = App(config_path, db_path, log_format, verbose - quiet, wait)


def _watched(identifier: Doi | RepecHandle) -> tuple[str, str, str]:
    scheme = "doi" if isinstance(identifier, Doi) else "repec"
    return scheme, identifier.key, identifier.value


#: `--track`, of the commands given identifiers to harvest.
_track_option = click.option(
    "--track",
    is_flag=True,
    help="Also put what is given on the watch list, so `harvest run` keeps it fresh.",
)


def _json_option(text: str = "Print one JSON document for machines instead of lines.") -> Any:
    """`--json`: what a command prints for people, as one JSON document for machines instead."""
    return click.option("--json", "as_json", is_flag=True, help=text)


def _from_file_option(what: str) -> Any:
    """`--from-file`: identifiers (`what` they may be) from a file or stdin, one a line."""
    return click.option(
        "--from-file",
        "from_file",
        type=click.File("rb"),
        help=f"Read {what} from FILE, one a line ('-' for stdin).",
    )


def _skip_invalid_option(text: str) -> Any:
    """`--skip-invalid`: go on without the identifiers that cannot be read."""
    return click.option("--skip-invalid", is_flag=True, help=text)


def _tracker(identifiers: list) -> Callable[[Store], None]:
    """`--track`: what to do with the store before the run, so the run moves the due times."""
    return lambda store: store.watch.track(_watched(i) for i in identifiers)


# --- harvest doi -----------------------------------------------------------------------------


@cli.command("doi")
@click.argument("identifiers", nargs=-1)
@_from_file_option("DOIs")
@_skip_invalid_option(
    "Report lines that are not DOIs and go on with the rest (default: stop, write nothing)."
)
@_json_option()
@click.option(
    "--refresh",
    is_flag=True,
    help="Ask again about DOIs found not to exist within recheck_not_found_days.",
)
@_track_option
@click.pass_obj
def doi_command(
    app: App,
    identifiers: tuple[str, ...],
    from_file: BinaryIO | None,
    skip_invalid: bool,
    as_json: bool,
    refresh: bool,
    track: bool,
) -> int:
    """Resolve DOIs and store them, with what changed since the last harvest.

    Each DOI is asked of the agency that registered it (Crossref, DataCite, or another agency
    through doi.org), then of OpenAlex, and merged with your own values (`harvest import`,
    `harvest set`); `harvest show` says which source gave each field.

    Prints a line per DOI (created, changed and which fields, unchanged, not found, failed and why)
    and a summary; with a single DOI, also the stored record. Exit 0 when all resolved, 1 when some
    were not found or failed, 2 on bad input (nothing is written).
    """
    app.setup_logging()
    dois = _read_identifiers(
        identifiers, from_file, parse_doi, skip_invalid, needed="at least one DOI"
    )
    if dois is None:
        return EXIT_BAD_INPUT
    return _run_and_report(
        app,
        as_json,
        harvest,
        dois,
        refresh=refresh,
        track=_tracker(dois) if track else None,
        total=len(dois),
    )


def _warn_without_mailto(config: Config) -> None:
    if not config.mailto:
        log.warning(
            "config.no_mailto",
            hint="set HARVEST_MAILTO or mailto in the config to use Crossref's polite pool "
            "(faster, and courteous)",
        )


def _run_and_report(
    app: App,
    as_json: bool,
    run: Callable[..., RunResult],
    *args: Any,
    lines: bool = True,
    stop: threading.Event | None = None,
    track: Callable[[Store], None] | None = None,
    total: int | None = None,
    bar: ProgressBar | None = None,
    **options: Any,
) -> int:
    """A harvest (`_write_run`): `run(*args, **options)` with the run's arguments, printing a line
    per outcome (unless not `lines`) and a summary (or one JSON document). `track` adds to the
    watch list first (`--track`), so the run moves due times. `stop` is the caller's stop event
    (a scheduled job's); else SIGTERM sets one. On a terminal a progress bar counts the
    outcomes against `total` (None: not known), unless the caller moves its own `bar`."""
    _warn_without_mailto(app.config)
    if bar is not None:  # the caller's, which it moves itself
        return _report_run(app, as_json, run, args, options, lines, stop, track, bar, False)
    with ProgressBar("harvest", total, enabled=wanted(as_json, app.verbosity)) as own:
        return _report_run(app, as_json, run, args, options, lines, stop, track, own, True)


def _report_run(
    app: App,
    as_json: bool,
    run: Callable[..., RunResult],
    args: tuple,
    options: dict[str, Any],
    lines: bool,
    stop: threading.Event | None,
    track: Callable[[Store], None] | None,
    bar: ProgressBar,
    counting: bool,
) -> int:
    outcomes: list[Outcome] = []  # for --json only: a nightly's are not held otherwise
    works: set[int | None] = set()  # up to two: is this run about one work?
    quiet = app.verbosity < 0

    def on_outcome(outcome: Outcome) -> None:
        if as_json:
            outcomes.append(outcome)
        elif len(works) < 2:
            works.add(outcome.work_id)
        if not as_json and not quiet and lines:
            bar.echo(render.outcome_line(outcome))
        if counting:
            bar.advance()

    def start(store: Store) -> Callable[..., RunResult]:
        if track is not None:
            track(store)
        return partial(run, *args, on_outcome=on_outcome, **options)

    def report(store: Store, result: RunResult) -> None:
        if as_json:
            echo(render.json_text(render.run_document(result, outcomes)))
            return
        single = next(iter(works)) if len(works) == 1 else None
        if single and not quiet and lines:
            bar.echo("")
            bar.echo(render.work_text(store.works.get(single)))
        bar.echo(render.summary_line(result, store.path, store.runs.failures(result.run_id)))

    return _write_run(app, start, report, stop=stop)


def _write_run(
    app: App,
    start: Callable[[Store], Callable[..., RunResult]],
    report: Callable[[Store, RunResult], None],
    *,
    create: bool = True,
    stop: threading.Event | None = None,
) -> int:
    """What every command that writes a run does: under the writer lock, `start(store)` does what
    comes first (the watch list of --track, finding the works to match, the checks of a
    settlement) and gives the pipeline entry point to call; that is called with the run's store,
    client, config and command line, and a stop event SIGTERM sets (or the caller's `stop`, a
    scheduled job's); `report(store, result)` prints what came of it, still under the lock.
    The result is the exit code: 130 when interrupted."""
    with app.writing(create=create) as store:
        run = start(store)
        with stop_on_signals() if stop is None else nullcontext(stop) as stop_event:
            client = connect(app.config)
            client.stop_when(stop_event)  # a request waiting on a hung server ends in seconds
            result = run(
                store=store,
                client=client,
                config=app.config,
                command=_command_line(),
                stop=stop_event,
            )
        report(store, result)
    if result.status == "interrupted":
        return EXIT_INTERRUPTED
    return result.exit_code


# --- harvest repec ---------------------------------------------------------------------------


@cli.command("repec")
@click.argument("handles", nargs=-1)
@click.option(
    "--series",
    multiple=True,
    metavar="RePEc:aaa:ssssss",
    help="Harvest a whole series (repeatable); a rerun reads only the files that changed.",
)
@click.option(
    "--archive",
    multiple=True,
    metavar="RePEc:aaa",
    help="Harvest every series of an archive (repeatable); incremental like --series.",
)
@_from_file_option("handles")
@_skip_invalid_option("Go on without the lines that are not handles.")
@_json_option()
@_track_option
@click.pass_obj
def repec_command(
    app: App,
    handles: tuple[str, ...],
    series: tuple[str, ...],
    archive: tuple[str, ...],
    from_file: BinaryIO | None,
    skip_invalid: bool,
    as_json: bool,
    track: bool,
) -> int:
    """Resolve RePEc handles (or IDEAS/EconPapers links), whole series and whole archives from
    the RePEc archive tree `[repec] url` names (a folder or an http(s) base), then the DOIs their
    records carry, so that a work has both identifiers.
    """
    app.setup_logging()
    parsed = _read_identifiers(handles, from_file, _parse_handle, skip_invalid)
    if parsed is None:
        return EXIT_BAD_INPUT
    try:
        series_names = [parse_repec_series(text) for text in series]
    except BadIdentifier as exc:
        raise click.BadParameter(str(exc), param_hint="--series") from None
    try:
        archive_codes = [parse_repec_archive(text) for text in archive]
    except BadIdentifier as exc:
        raise click.BadParameter(str(exc), param_hint="--archive") from None
    if not parsed and not series_names and not archive_codes:
        raise click.UsageError(
            "give at least one handle, --series RePEc:aaa:ssssss, --archive RePEc:aaa or --from-file"
        )
    return _run_and_report(
        app,
        as_json,
        harvest_repec,
        parsed,
        series_names,
        archive_codes,
        track=_tracker(parsed) if track else None,
        total=None if series_names or archive_codes else len(parsed),
    )


# --- harvest match --------------------------------------------------------------------------


@cli.command("match")
@click.argument("works", nargs=-1, metavar="[ID...]")
@click.option(
    "--all-unmatched",
    is_flag=True,
    help="Every work without a DOI, except those waiting for your review or whose candidates "
    "you rejected (name those by ID to ask again).",
)
@click.option(
    "--review",
    is_flag=True,
    help="List the candidates waiting for you (of the IDs given, or all); change nothing.",
)
@click.option(
    "--accept",
    "accepts",
    nargs=2,
    multiple=True,
    metavar="ID DOI",
    help="Link work ID to DOI, one of its candidates, and harvest the DOI onto it (repeatable).",
)
@click.option(
    "--reject",
    "rejects",
    nargs=2,
    multiple=True,
    metavar="ID DOI",
    help="Refuse a candidate: never offered for that work again (repeatable).",
)
@click.option(
    "--max", "max_items", type=click.IntRange(min=1), help="Search for at most N records."
)
@_json_option()
@click.pass_obj
def match_command(
    app: App,
    works: tuple[str, ...],
    all_unmatched: bool,
    review: bool,
    accepts: tuple[tuple[str, str], ...],
    rejects: tuple[tuple[str, str], ...],
    max_items: int | None,
    as_json: bool,
) -> int:
    """Find the DOI of records that have none (imported without one, RePEc papers): ask
    Crossref for candidates and score them on title, author surnames, year and container.

    Above [match] accept the work is linked to the DOI, whose record is then harvested onto
    it (one work); between review and accept the candidates wait for you: `--review` lists
    them, `--accept ID DOI` links one, `--reject ID DOI` refuses one. ID is a work's id (as
    `harvest show` and Datasette give it) or its RePEc handle.

    Exit 0 when every search (and linked DOI's harvest) went through, whatever was found;
    1 when some failed (those records are asked again next time); 2 on bad input.
    """
    app.setup_logging()
    settling = bool(accepts or rejects)
    searching = bool(all_unmatched or (works and not review))
    if sum((settling, searching, review)) != 1:
        raise click.UsageError(
            "give IDs or --all-unmatched (search), --review [ID...] (list), or --accept/--reject "
            "ID DOI (settle): one of these"
        )
    if all_unmatched and works:
        raise click.UsageError("give IDs or --all-unmatched, not both")
    if max_items is not None and not searching:
        raise click.UsageError("--max goes with IDs or --all-unmatched")
    if review:
        return _print_review(app, works, as_json)
    if settling:
        return _settle(app, accepts, rejects, as_json)
    return _match_run(app, works, max_items, as_json)


def _match_run(app: App, works: tuple[str, ...], max_items: int | None, as_json: bool) -> int:
    """`harvest match ID...` / `--all-unmatched`: a line per record, and per linked DOI's harvest."""
    _warn_without_mailto(app.config)
    lines = not as_json and app.verbosity >= 0
    records: list[MatchResult] = []
    outcomes: list[Outcome] = []
    bar = ProgressBar("match", enabled=wanted(as_json, app.verbosity))

    def on_match(result: MatchResult) -> None:
        records.append(result)
        bar.advance()
        if lines:
            bar.echo(render.match_line(result))

    def on_outcome(outcome: Outcome) -> None:
        outcomes.append(outcome)
        if lines and is_doi_harvest(outcome):
            bar.echo(render.outcome_line(outcome))

    def start(store: Store) -> Callable[..., RunResult]:
        ids = find_works(store, works) if works else store.matches.unmatched_work_ids(max_items)
        ids = ids[:max_items] if max_items else ids
        bar.update(0, len(ids))
        return partial(match_works, ids, on_outcome=on_outcome, on_match=on_match)

    def report(store: Store, result: RunResult) -> None:
        if as_json:
            echo(render.json_text(render.match_document(result, outcomes, records)))
        else:
            harvests = [o for o in outcomes if is_doi_harvest(o)]
            bar.echo(render.match_summary(records, harvests, result, store.path))

    with bar:
        return _write_run(app, start, report, create=False)  # no database: nothing to match


def _settle(
    app: App,
    accepts: tuple[tuple[str, str], ...],
    rejects: tuple[tuple[str, str], ...],
    as_json: bool,
) -> int:
    """`--accept ID DOI` / `--reject ID DOI`: every one checked before anything is written."""
    outcomes: list[Outcome] = []
    lines = not as_json and app.verbosity >= 0
    decisions = Decisions([], [])

    def on_outcome(outcome: Outcome) -> None:
        outcomes.append(outcome)
        if lines:
            echo(render.outcome_line(outcome))

    def start(store: Store) -> Callable[..., RunResult]:
        nonlocal decisions
        decisions = check_decisions(store, accepts, rejects)
        if lines:
            echo("\n".join(render.settled_lines(decisions)))

        def settle(*, stop: threading.Event, **run: Any) -> RunResult:
            # one batch, which a first SIGTERM lets finish: `stop` is not asked
            return settle_matches(
                decisions.accepts, decisions.rejects, on_outcome=on_outcome, **run
            )

        return settle

    def report(store: Store, result: RunResult) -> None:
        if as_json:
            echo(render.json_text(render.settle_document(result, outcomes, decisions)))
        elif decisions.accepts:
            echo(render.summary_line(result, store.path, store.runs.failures(result.run_id)))
        elif lines:
            echo(render.rejected_summary(len(decisions.rejects), result.run_id, store.path))

    return _write_run(app, start, report, create=False)


def _print_review(app: App, works: tuple[str, ...], as_json: bool) -> int:
    """`--review`: the pending candidates, each beside the record it may be."""
    store = app.open_store(create=False)
    try:
        ids = find_works(store, works) if works else None
        pending = store.matches.pending(ids)
    finally:
        store.close()
    echo(render.json_text(pending) if as_json else render.review_text(pending))
    return EXIT_OK


# --- the watch list: harvest track / untrack / tracked --------------------------------------------


@cli.command("track")
@click.argument("identifiers", nargs=-1)
@_from_file_option("DOIs and handles")
@_skip_invalid_option("Go on without the lines that are not valid.")
@_json_option()
@click.pass_obj
def track_command(
    app: App,
    identifiers: tuple[str, ...],
    from_file: BinaryIO | None,
    skip_invalid: bool,
    as_json: bool,
) -> int:
    """Put DOIs and RePEc handles on the watch list that `harvest run` keeps fresh. New ones are
    due at once; after that, each source is asked again by the intervals of [watch]."""
    app.setup_logging()
    parsed = _read_identifiers(
        identifiers,
        from_file,
        parse_identifier,
        skip_invalid,
        needed="at least one DOI or RePEc handle",
    )
    if parsed is None:
        return EXIT_BAD_INPUT
    with app.writing() as store:
        new = store.watch.track(_watched(i) for i in parsed)
    if as_json:
        echo(render.json_text({"identifiers": len(parsed), "new": new}))
    else:
        echo(render.track_summary(len(parsed), new))
    return EXIT_OK


@cli.command("untrack")
@click.argument("identifiers", nargs=-1, required=True)
@_json_option()
@click.pass_obj
def untrack_command(app: App, identifiers: tuple[str, ...], as_json: bool) -> int:
    """Take DOIs and RePEc handles off the watch list; their works stay in the database."""
    app.setup_logging()
    parsed = _read_identifiers(identifiers, None, parse_identifier, False)
    if parsed is None:
        return EXIT_BAD_INPUT
    with app.writing() as store:
        gone = store.watch.untrack((scheme, key) for scheme, key, _ in map(_watched, parsed))
    if as_json:
        echo(render.json_text({"identifiers": len(parsed), "untracked": gone}))
    else:
        echo(render.untrack_summary(len(parsed), gone))
    return EXIT_OK if gone == len(parsed) else EXIT_SOME_FAILED


@cli.command("tracked")
@_json_option("Print the watch list as JSON.")
@click.pass_obj
def tracked_command(app: App, as_json: bool) -> int:
    """List the watch list, the soonest due first: per source, when it is next due and how its
    last try ended."""
    store = app.open_store(create=False)
    try:
        watched = store.watch.tracked()
    finally:
        store.close()
    echo(render.json_text(watched) if as_json else render.tracked_text(watched))
    return EXIT_OK


# --- harvest run / schedule -------------------------------------------------------------------


@cli.command("run")
@click.option(
    "--max", "max_items", type=click.IntRange(min=1), help="Harvest at most N due identifiers."
)
@click.option(
    "--time-budget",
    metavar="DURATION",
    help="Start nothing new after DURATION (90m, 2h, 1h30m); the rest stays due.",
)
@click.option("--dry-run", is_flag=True, help="List what is due and the feeds; fetch nothing.")
@click.option(
    "--retry-failed",
    is_flag=True,
    help="Also ask now what failed and is waiting out its back-off.",
)
@_json_option()
@click.option(
    "--digest",
    "send_digest",
    is_flag=True,
    help="Then e-mail the digest (harvest digest --send); exit 8 if it could not be sent.",
)
@click.pass_obj
def run_command(
    app: App,
    max_items: int | None,
    time_budget: str | None,
    dry_run: bool,
    retry_failed: bool,
    as_json: bool,
    send_digest: bool,
) -> int:
    """The nightly harvest (the cron entry point): everything due on the watch list, the longest
    due first, then the feeds of the config (and, when `[retraction_watch] refresh_days` say so,
    the Retraction Watch data set, as a run of its own). One `runs` row and a one-line summary;
    exit 0 when all went well, 1 when some identifiers failed or were not found, 2 for bad
    configuration, 3 when another harvest holds the lock. With --digest, then the digest by
    e-mail: exit 8 when it could not be sent (kept for the next), else the run's own code."""
    app.setup_logging()
    try:
        budget = parse_duration(time_budget) if time_budget else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--time-budget") from None
    if dry_run:
        return _print_plan(app, max_items, as_json, retry_failed)
    secret = _digest_settings(app) if send_digest else None  # bad [digest]: before the run
    code = _harvest_run(
        app, max_items=max_items, budget=budget, as_json=as_json, retry_failed=retry_failed
    )
    return _digest_after_run(app, code, secret, as_json) if send_digest else code


def _harvest_run(
    app: App,
    *,
    max_items: int | None = None,
    budget: timedelta | None = None,
    as_json: bool = False,
    stop: threading.Event | None = None,
    retry_failed: bool = False,
) -> int:
    """What `harvest run` does, and each `harvest schedule` job: the lock, the run, the summary."""
    deadline = time.monotonic() + budget.total_seconds() if budget else None
    show_bar = wanted(as_json, app.verbosity) and stop is None  # not in a scheduled job
    with ProgressBar("harvest run", enabled=show_bar) as bar:
        code = _run_and_report(
            app,
            as_json,
            harvest_due,
            lines=app.verbosity > 0,
            stop=stop,
            bar=bar,
            max_items=max_items,
            deadline=deadline,
            on_progress=bar.update,
            retry_failed=retry_failed,
        )
    if code != EXIT_INTERRUPTED:  # then the Retraction Watch data set, when it is due
        code = max(code, _refresh_retractions(app, stop))
    return code


def _print_plan(app: App, max_items: int | None, as_json: bool, retry_failed: bool) -> int:
    """`harvest run --dry-run`: what is due, at which sources, and each feed from where (those
    of the people and institutions followed too)."""
    if not Path(app.database).exists():  # nothing harvested yet: every feed from the start
        plan_due, plan_feeds, followed = [], [(f, "", None) for f in app.config.feeds], []
    else:
        store = app.open_store(create=False)  # a broken database says so (its exit code)
        try:
            plan = plan_run(store, app.config, store.now(), max_items, retry_failed=retry_failed)
            plan_due, plan_feeds, followed = plan.due, plan.feeds, plan.followed
        finally:
            store.close()
    if as_json:
        echo(render.json_text(render.plan_document(plan_due, plan_feeds, followed)))
    else:
        echo(render.plan_text(plan_due, plan_feeds, followed))
    return EXIT_OK


@cli.command("schedule")
@click.option("--dry-run", is_flag=True, help="Print the jobs and their next run times; exit.")
@click.option("--now", "start_now", is_flag=True, help="Also run each job once now, then on time.")
@click.pass_obj
def schedule_command(app: App, dry_run: bool, start_now: bool) -> int:
    """Run `harvest run` on the cron expressions of [schedule.jobs] (default nightly at 03:00
    UTC), as a long-running worker; with `[schedule] digest = true`, each run then e-mails the
    digest as `harvest run --digest` does. SIGTERM or Ctrl-C finishes the batch in hand and
    exits."""
    app.setup_logging()
    config = app.config.schedule
    jobs = [ScheduledJob(name, cron, config.timezone) for name, cron in config.jobs.items() if cron]
    upcoming = next_runs(jobs)
    for job in jobs:
        echo(render.job_line(job, upcoming[job.id]))
    if dry_run:
        return EXIT_OK
    secret = _digest_settings(app) if config.digest else None  # bad [digest]: at start-up
    with stop_on_signals() as stop:

        def run_job(job_id: str) -> int:
            try:
                code = _harvest_run(app, stop=stop)
            except LockHeld as exc:
                log.warning("schedule.job_skipped", job=job_id, reason=str(exc))
                return exc.exit_code
            return _digest_after_run(app, code, secret, as_json=False) if config.digest else code

        run_scheduler(build_scheduler(jobs, run_job, start_now=start_now), stop)
    return EXIT_OK


# --- harvest oai -----------------------------------------------------------------------------

_OAI_DATESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}Z)?$")


def _oai_datestamp(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not _OAI_DATESTAMP.match(value):
        raise click.BadParameter(
            f"{value!r} is not an OAI-PMH datestamp (YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ)"
        )
    return value


@cli.command("oai")
@click.argument("endpoint")
@click.option("--set", "set_spec", metavar="SPEC", help="Harvest one set (RePEc: a series handle).")
@click.option(
    "--metadata-prefix",
    metavar="PREFIX",
    help="Metadata format to ask for: oai_dc, or datacite / oai_datacite where offered "
    "(default: [oai] metadata_prefix).",
)
@click.option(
    "--from",
    "from_",
    metavar="DATESTAMP",
    callback=_oai_datestamp,
    help="Ask from this datestamp instead of where the last complete harvest left off.",
)
@click.option("--full", is_flag=True, help="Ask for every record, ignoring the stored watermark.")
@click.option(
    "--resolve-dois/--no-resolve-dois",
    default=True,
    show_default=True,
    help="Also resolve the DOIs the records carry at their agency, in the same run.",
)
@_json_option()
@click.pass_obj
def oai_command(
    app: App,
    endpoint: str,
    set_spec: str | None,
    metadata_prefix: str | None,
    from_: str | None,
    full: bool,
    resolve_dois: bool,
    as_json: bool,
) -> int:
    """Harvest an OAI-PMH repository: ENDPOINT is its base URL or a name from [oai.endpoints]
    (repec, zenodo). Each run asks only for what changed since the last complete harvest of the
    same endpoint, format and set (kept in the `feeds` table); an incomplete one moves nothing.
    """
    app.setup_logging()
    if full and from_:
        raise click.UsageError("give --full or --from, not both")
    feed = FeedConfig(
        kind="oai",
        endpoint=endpoint_url(endpoint, app.config),  # a name it does not know: exit 2, here
        metadata_prefix=metadata_prefix or "",
        set=set_spec or "",
    )
    return _run_and_report(
        app, as_json, harvest_oai, feed, from_=from_, full=full, resolve_dois=resolve_dois
    )


def _read_lines(stream: BinaryIO) -> Iterator[tuple[str, str | BadIdentifier]]:
    """Lines of an identifier file, each decoded on its own as UTF-8 (BOM allowed). A line that
    is not UTF-8 is reported as bad, with the byte that is not, rather than guessed at: an
    identifier read in the wrong encoding would be another identifier. Blank lines and #
    comments are skipped."""
    name = getattr(stream, "name", "-")
    name = "stdin" if name in ("<stdin>", "-") else name
    for number, raw in enumerate(stream, start=1):
        where = f"{name}:{number}"
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            shown = raw.decode("cp1252", errors="replace").strip()
            yield (
                where,
                BadIdentifier(
                    shown[:80],
                    f"not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                    "save the file as UTF-8",
                ),
            )
            continue
        text = text.strip()
        if text and not text.startswith("#"):
            yield where, text


def _read_identifiers(
    arguments: tuple[str, ...],
    from_file: BinaryIO | None,
    parse: Any,
    skip_invalid: bool,
    *,
    needed: str | None = None,
) -> list | None:
    """The identifiers given as arguments and in --from-file, each parsed by `parse`. Every bad
    one is reported with its place; then None (nothing is harvested) unless `skip_invalid`.
    With `needed` (what must be given), giving nothing at all is a usage error."""
    lines = [(f"argument {i}", text) for i, text in enumerate(arguments, start=1)]
    if from_file is not None:
        lines += list(_read_lines(from_file))
    parsed, errors = [], []
    for where, text in lines:
        try:
            if isinstance(text, BadIdentifier):
                raise text
            parsed.append(parse(text))
        except BadIdentifier as exc:
            errors.append((where, str(exc)))
    for line in render.invalid_identifiers(errors, going_on=skip_invalid, valid=len(parsed)):
        echo(line, err=True)
    if errors and not (skip_invalid and parsed):
        return None
    if needed and not parsed:
        raise click.UsageError(f"give {needed}, or --from-file FILE")
    return parsed


def _parse_handle(text: str) -> RepecHandle:
    """A RePEc handle, or a web link to one; a DOI is pointed to `harvest doi`."""
    identifier = parse_identifier(text)
    if not isinstance(identifier, RepecHandle):
        raise BadIdentifier(text, "a DOI: harvest it with `harvest doi`")
    return identifier


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """SIGTERM (cron and systemd send it) and Ctrl-C ask the run to stop after the batch in
    hand, which is stored; the answers asked ahead of it are let go at once. A second one stops
    at once, the open transaction rolled back: nothing committed is lost."""
    stop = threading.Event()

    def on_signal(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        if signum == signal.SIGINT:
            # Said at once and without the logging machinery, which the interrupted code may
            # be in the middle of.
            os.write(2, render.STOPPING.encode())
        # Logged from a thread of its own: the handler runs inside whatever the main thread was
        # doing, perhaps half-way through printing a line under the console's (re-entrant)
        # lock, which a log line from here would enter again and print twice. The thread waits
        # for the line in hand to be done.
        threading.Thread(
            target=log.warning,
            args=("run.stopping",),
            kwargs={"reason": signal.Signals(signum).name, "hint": render.STOPPING.strip()},
            daemon=True,
        ).start()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# --- harvest show / history --------------------------------------------------------------------


def _stored_work_command(name: str, *, history: bool, about: str, json_help: str) -> click.Command:
    """`show` and `history`, which differ only in what they print of the work WORK names."""

    @cli.command(name, help=about)
    @click.argument("work")
    @_json_option(json_help)
    @click.pass_obj
    def command(app: App, work: str, as_json: bool) -> int:
        return _show(app, work, as_json, history=history)

    return command


show_command = _stored_work_command(
    "show",
    history=False,
    about="Show a stored work. WORK is its id in the database, a DOI or a RePEc handle.",
    json_help="Print the stored work as JSON.",
)
history_command = _stored_work_command(
    "history",
    history=True,
    about="List what changed in a stored work over time, field by field, with run and source.",
    json_help="Print the changes as JSON.",
)


def _show(app: App, text: str, as_json: bool, *, history: bool) -> int:
    """`show` (the work) and `history` (its changes) of the stored work named by `text`, as text
    or JSON; exit 1 after saying so when it is not stored."""
    app.setup_logging()
    store = app.open_store(create=False)
    try:
        work_id = find_work(store, text)
        if work_id is None:
            echo(render.not_stored(text), err=True)
            return EXIT_SOME_FAILED
        work, changes = store.works.get(work_id), store.works.history(work_id)
        if work is not None:
            work["notices"] = store.integrity.for_work(work_id)
    finally:
        store.close()
    if as_json:
        document = render.history_document(work, changes) if history else render.work_document(work)
        echo(render.json_text(document))
    else:
        echo(render.history_text(work, changes) if history else render.work_text(work))
    return EXIT_OK


@cli.command("works")
@click.option("--since", metavar="WHEN", help="Only works updated since WHEN (as export --since).")
@click.option(
    "--type", "types", multiple=True, metavar="TYPE", help="Only works of TYPE (repeatable)."
)
@click.option(
    "--source",
    type=click.Choice(sorted(SOURCES)),
    help="Only works with an answer from this source.",
)
@click.option("--conflicts", is_flag=True, help="Only works whose sources disagree on a field.")
@click.option(
    "--csv", "as_csv", is_flag=True, help="Print CSV (one row per work) instead of lines."
)
@_json_option()
@click.pass_obj
def works_command(
    app: App,
    since: str | None,
    types: tuple[str, ...],
    source: str | None,
    conflicts: bool,
    as_csv: bool,
    as_json: bool,
) -> int:
    """List the stored works, a line each (id, DOI or handle, year, type, title, conflicts),
    optionally filtered; `harvest show ID` shows one."""
    app.setup_logging()
    since_at = _since(since) if since else None
    store = app.open_store(create=False)
    try:
        rows = list(
            store.works.listing(since=since_at, types=types, source=source, conflicts=conflicts)
        )
    finally:
        store.close()
    if as_json:
        echo(render.json_text(rows))
    elif as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else ["id"])
        writer.writeheader()
        writer.writerows(rows)
    else:
        for row in rows:
            echo(render.works_line(row))
        echo(f"{len(rows)} work(s)")
    return EXIT_OK


# --- the user's own values: set, unset, import -------------------------------------------------


@cli.command("set")
@click.argument("work")
@click.argument("assignments", nargs=-1, required=True, metavar="FIELD=VALUE...")
@_json_option("Print what became of the work, and the work, as JSON.")
@click.pass_obj
def set_command(app: App, work: str, assignments: tuple[str, ...], as_json: bool) -> int:
    """Correct fields of a stored work by hand. Your values win over every source until
    `harvest unset`, and each change is in the history with source `local`.

    WORK is its id, DOI or RePEc handle. Lists: `issn=0950-0170,1469-8722`,
    `subjects=Labour; Wages`, `authors="Family, Given; {An Organisation}"`.
    """
    app.setup_logging()
    edits = _parse_assignments(assignments)
    return _edit(app, work, edits, as_json)


@cli.command("unset")
@click.argument("work")
@click.argument("fields", nargs=-1, required=True, metavar="FIELD...")
@_json_option("Print what became of the work, and the work, as JSON.")
@click.pass_obj
def unset_command(app: App, work: str, fields: tuple[str, ...], as_json: bool) -> int:
    """Drop your own value of fields of a stored work, giving them back to the sources."""
    app.setup_logging()
    for name in fields:
        check_field(name)
    return _edit(app, work, dict.fromkeys(fields), as_json)


def _edit(app: App, text: str, edits: dict[str, Value | None], as_json: bool = False) -> int:
    """`set` / `unset`: the edit checked by the library's rules (`check_edit`), then written."""
    with app.writing(create=False) as store:
        work_id = find_work(store, text)
        if work_id is None:
            echo(render.not_stored(text), err=True)
            return EXIT_SOME_FAILED
        checked = check_edit(store, work_id, edits)
        for name in checked.not_held:
            echo(render.unset_note(name), err=True)
        outcome = edit_work(
            work_id,
            checked.edits,
            store=store,
            config=app.config,
            command=_command_line(),
            display=text,
        )
        work = store.works.get(work_id)
        if as_json:
            echo(render.json_text(render.edit_document(outcome, work)))
        elif app.verbosity >= 0:
            echo(render.outcome_line(outcome))
            echo()
            echo(render.work_text(work))
    return EXIT_OK


def _parse_assignments(assignments: tuple[str, ...]) -> dict[str, Value | None]:
    """FIELD=VALUE pairs as the store's values (`parse_edits`), each checked in the order given."""
    texts: dict[str, str] = {}
    for assignment in assignments:
        name, equals, value = assignment.partition("=")
        name = name.strip()
        if not equals:
            raise click.UsageError(f"{assignment!r}: write FIELD=VALUE (to drop a value: unset)")
        check_field(name)
        if not value.strip():
            raise click.UsageError(f"{name}: empty value (to drop your value: harvest unset)")
        texts[name] = value
    return parse_edits(texts)


@cli.command("reparse")
@click.option(
    "--source",
    "only",
    multiple=True,
    type=click.Choice(sorted(SOURCES)),
    help="Only works with a stored answer from this source (repeatable).",
)
@click.option(
    "--all",
    "every",
    is_flag=True,
    help="Rebuild every work, not only those an older parser read.",
)
@_json_option()
@click.pass_obj
def reparse_command(app: App, only: tuple[str, ...], every: bool, as_json: bool) -> int:
    """Rebuild works from the payloads already stored, after a parser changed, asking no
    upstream. What changes is recorded in the history, in a run of its own (`reparse`); an
    interrupted reparse keeps what it wrote, and running it again does the rest."""
    app.setup_logging()
    return _run_and_report(app, as_json, reparse, only=only, every=every)


@cli.command("merge")
@click.argument("keep")
@click.argument("absorb")
@_json_option("Print what became of KEEP as JSON.")
@click.pass_obj
def merge_command(app: App, keep: str, absorb: str, as_json: bool) -> int:
    """Make two stored works one: ABSORB (its identifiers, source records, your values and
    history) goes into KEEP, which is merged again from both; ABSORB is gone. Each is an id,
    a DOI or a RePEc handle. Recorded in KEEP's history (merged_work_id)."""
    app.setup_logging()
    with app.writing(create=False) as store:
        ids = []
        for text in (keep, absorb):
            work_id = find_work(store, text)
            if work_id is None:
                echo(render.not_stored(text), err=True)
                return EXIT_SOME_FAILED
            ids.append(work_id)
        outcome = merge_works(*ids, store=store, config=app.config, command=_command_line())
    echo(render.json_text(asdict(outcome)) if as_json else render.outcome_line(outcome))
    return EXIT_OK


@cli.command("delete")
@click.argument("works", nargs=-1, required=True)
@click.option("--yes", is_flag=True, help="Delete them (without it, only say what would go).")
@_json_option("Print the deleted works, as they were, as JSON.")
@click.pass_obj
def delete_command(app: App, works: tuple[str, ...], yes: bool, as_json: bool) -> int:
    """Delete stored works (ids, DOIs or RePEc handles): each with its identifiers, source
    records, your values and history, kept as it was in `deleted_works` with the run that
    deleted it. Its identifiers are no longer tracked. Without --yes nothing is deleted."""
    app.setup_logging()
    with app.writing(create=False) as store:
        ids = []
        for text in works:
            work_id = find_work(store, text)
            if work_id is None:
                echo(render.not_stored(text), err=True)
                return EXIT_SOME_FAILED
            ids.append(work_id)
        if not yes:
            for work_id in ids:
                echo(f"would delete  {render.works_line(store.works.listing_row(work_id))}")
            echo("nothing deleted: add --yes to delete", err=True)
            return EXIT_BAD_INPUT
        deleted = delete_works(ids, store=store, command=_command_line())
    if as_json:
        echo(render.json_text({"deleted": deleted}))
        return EXIT_OK
    for record in deleted:
        echo(f"deleted  {render.work_name(record['work'])}  (work {record['work']['id']})")
    return EXIT_OK


@cli.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="The file's format [from its name: .bib, .ris, .json, .csv].",
)
@click.option(
    "--fill-gaps",
    is_flag=True,
    help="Your values only where no source has one (now or later), instead of winning.",
)
@_json_option()
@click.pass_obj
def import_command(app: App, file: str, fmt: str | None, fill_gaps: bool, as_json: bool) -> int:
    """Take your own records (BibTeX, RIS, CSL-JSON or CSV with columns named as in `works`)
    as values that win over every source, matched to works by DOI or RePEc handle.

    A file with a bad record is refused whole, naming the file and line: nothing is
    half-imported. Records with neither DOI nor RePEc handle are kept as works of their own
    and listed.
    """
    app.setup_logging()
    fmt = detect_format(file, fmt) if file != "-" or fmt else "csv"
    text = _read_text(file)
    records = read_records(text, fmt, file)
    bar = ProgressBar("import", len(records), enabled=wanted(as_json, app.verbosity))
    with app.writing() as store, bar:
        result = import_records(
            records,
            store=store,
            config=app.config,
            command=_command_line(),
            fill_gaps=fill_gaps,
            on_progress=bar.update,
        )
    if as_json:
        echo(render.json_text(render.import_document(result, len(records), file)))
        return EXIT_OK
    if app.verbosity >= 0:
        for outcome in result.outcomes:
            echo(render.outcome_line(outcome))
    echo(render.import_summary(result, len(records), file))
    return EXIT_OK


def _read_text(file: str) -> str:
    """A file's text: UTF-8 (with or without BOM); anything else is refused with the line of the
    first byte that is not UTF-8, rather than imported garbled."""
    try:
        data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        raise BadInputFile(file, None, f"cannot read: {exc.strerror}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise BadInputFile(file, line, "not UTF-8 text; save the file as UTF-8") from None


@cli.command("export")
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True, help="Output format.")
@click.option(
    "--since",
    metavar="WHEN",
    help="Only works created or updated since WHEN: 2026-11-01, an ISO time, today, "
    "yesterday, or back from now (7d, 12h).",
)
@click.option(
    "--changed",
    is_flag=True,
    help="Only works whose values changed after they were first stored (e.g. corrections).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Write to FILE (replaced whole when done) instead of stdout.",
)
@click.pass_obj
def export_command(app: App, fmt: str, since: str | None, changed: bool, output: str | None) -> int:
    """Write stored works as BibTeX, RIS, CSL-JSON or CSV."""
    app.setup_logging()
    since_at = _since(since) if since else None
    store = app.open_store(create=False)
    # A bar only when the export goes to a file: on stdout it would draw over what it writes.
    shown = wanted(False, app.verbosity) and output is not None
    try:
        total = store.works.count(since=since_at, changed=changed)
        keys = citation_keys(store.works.key_material())
        notices = store.integrity.by_work()
        with ProgressBar("export", total, enabled=shown) as bar:
            works = _counted(
                _with_notices(store.works.iter_works(since=since_at, changed=changed), notices),
                bar,
            )
            if output is None:
                write_works(works, fmt, sys.stdout, keys)
            else:
                _write_atomically(
                    Path(output), lambda stream: write_works(works, fmt, stream, keys)
                )
    finally:
        store.close()
    return EXIT_OK


def _with_notices(
    works: Iterator[dict[str, Any]], notices: Mapping[int, list[dict[str, Any]]]
) -> Iterator[dict[str, Any]]:
    """Each work with its integrity notices, which the formats put in its note."""
    for work in works:
        if work.get("id") in notices:
            work = {**work, "notices": notices[work["id"]]}
        yield work


def _counted(items: Iterator[T], bar: ProgressBar) -> Iterator[T]:
    for item in items:
        yield item
        bar.advance()


def _since(text: str) -> str:
    """`--since` as the *_at columns hold a moment (UTC, 'Z'), for comparing as text."""
    try:
        moment = parse_since(text, datetime.now(UTC))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_atomically(path: Path, write: Any) -> None:
    """`atomic.write_atomically`: a reader never sees half a file, and a failed export leaves
    the previous one in place and no temporary file behind."""
    try:
        write_atomically(path, write)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFull(f"{path}: the disk is full; the previous file is as it was") from None
        raise BadInputFile(str(path), None, f"cannot write: {exc.strerror or exc}") from None


def _command_line() -> str:
    return " ".join(["harvest", *sys.argv[1:]])[:500]


# --- harvest retractions: the Retraction Watch data set ----------------------------------------


@cli.group(
    "retractions",
    cls=_Group,
    invoke_without_command=True,
    params=_also_after_the_command(),
)
@_json_option()
@click.pass_context
def retractions_group(ctx: click.Context, as_json: bool) -> int | None:
    """The Retraction Watch data set (retractions, corrections, expressions of concern), as
    Crossref distributes it: `harvest retractions load` reads it and keeps a notice for every
    stored work it names (in `integrity_notices`). Without a command: the version loaded
    last, from where, and what it held."""
    if ctx.invoked_subcommand is not None:
        return None
    app: App = ctx.obj
    app.setup_logging()
    store = app.open_store(create=False)
    try:
        latest = store.retraction_sets.latest()
        kept = store.conn.execute(
            "SELECT count(*) FROM integrity_notices WHERE source = ?", (retraction_watch.SOURCE,)
        ).fetchone()[0]
    finally:
        store.close()
    if as_json:
        echo(render.json_text({"version": latest, "notices": kept}))
    elif latest is None:
        echo("No Retraction Watch data set loaded yet: harvest retractions load [PATH|URL].")
    else:
        echo(_retraction_set_text(latest, kept))
    return EXIT_OK


@retractions_group.command("load")
@click.argument("origin", required=False, metavar="[PATH|URL]")
@click.option(
    "--force",
    is_flag=True,
    help="Read it even when it is the version loaded last (to find works stored since).",
)
@click.pass_obj
def retractions_load_command(app: App, origin: str | None, force: bool) -> int:
    """Load the Retraction Watch data set from PATH or URL (default: [retraction_watch] url,
    Crossref's download) and keep a notice for every stored work whose DOI it names as an
    original paper. The file is read as it comes; a row that cannot be read is printed as
    FILE:LINE: why, and the rest are loaded. The version read is kept: the same file again
    is "unchanged" and not read (--force reads it).

    Exit 0 when every row was read (or the file is unchanged), 1 when some rows were broken,
    2 when the file is not the data set.
    """
    app.setup_logging()
    return _load_retractions(app, origin, force=force)


def _load_retractions(
    app: App,
    origin: str | None,
    *,
    force: bool = False,
    stop: threading.Event | None = None,
    only_when_due: bool = False,
) -> int:
    """A load of the data set as its own run, under the writer lock; with `only_when_due`
    (`harvest run`), only when `[retraction_watch] refresh_days` says the version on record is
    that old."""

    if retraction_watch.is_url(origin or app.config.retraction_watch.url):
        _warn_without_mailto(app.config)

    def broken(where: str, row: retraction_watch.BrokenRow) -> None:
        echo(f"{where}:{row.line}: {row.reason}", err=True)

    def start(store: Store) -> Callable[..., LoadResult]:
        if only_when_due and not retraction_load_due(store, app.config, store.now()):
            return lambda **_: LoadResult("not_due", "")
        return partial(load_retractions, origin, force=force, on_broken=broken)

    def report(store: Store, result: LoadResult) -> None:
        if result.status == "not_due":
            return
        if app.verbosity >= 0:
            for line in notices_text(result.new_notices):
                echo(line)
        echo(_retraction_load_text(result))

    return _write_run(app, start, report, stop=stop)


def _refresh_retractions(app: App, stop: threading.Event | None) -> int:
    """`harvest run`'s reload of the data set when it is due (after the nightly's own run, as a
    run of its own). A failure is one line and its exit code; the nightly's work stands."""
    if app.config.retraction_watch.refresh_days <= 0:
        return EXIT_OK
    try:
        return _load_retractions(app, None, stop=stop, only_when_due=True)
    except HarvesterError as exc:
        echo(render.error_line(exc), err=True)
        return exc.exit_code


def _retraction_set_text(row: dict[str, Any], kept: int) -> str:
    lines = [
        f"Retraction Watch data set loaded {row['loaded_at']} from {row['origin']} "
        f"(run {row['run_id']}); last found unchanged {row['checked_at']}",
        f"  sha256 {row['sha256']}, {row['bytes']:,} bytes"
        + (f", ETag {row['etag']}" if row["etag"] else "")
        + (f", Last-Modified {row['last_modified']}" if row["last_modified"] else ""),
        f"  {row['rows_read']:,} rows: {row['rows_broken']:,} broken, "
        f"{row['rows_without_doi']:,} without a paper DOI; {row['works']:,} stored works named, "
        f"{row['notices_new']:,} new notices",
        f"  {kept:,} notices from Retraction Watch on record",
    ]
    return "\n".join(lines)


def _retraction_load_text(result: LoadResult) -> str:
    if result.status == "unchanged" and result.previous is not None:
        p = result.previous
        return (
            f"retractions: {result.origin} unchanged since it was loaded {p['loaded_at']} "
            f"(sha256 {p['sha256'][:12]}...); nothing read (--force reads it again)"
        )
    v = result.version
    if result.status == "interrupted" or v is None:
        return (
            f"retractions: interrupted (run {result.run_id}); the notices written are kept, "
            "and the next load reads the file again"
        )
    return (
        f"retractions: {v.origin} ({v.bytes:,} bytes, sha256 {v.sha256[:12]}...) loaded in run "
        f"{result.run_id}: {v.rows_read:,} rows, {v.rows_broken:,} broken, "
        f"{v.rows_without_doi:,} without a paper DOI; {v.works:,} stored works named, "
        f"{v.notices_new:,} new notices"
    )


# --- the change feed (issue 20) ----------------------------------------------------------------


@cli.command("feed")
@click.option(
    "--format", "fmt", type=click.Choice(feed.FORMATS), required=True, help="atom or jsonfeed."
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Write to FILE (replaced whole when done) instead of stdout.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=feed.DEFAULT_LIMIT,
    show_default=True,
    help="Entries per page (one per changed work per run).",
)
@click.option(
    "--before",
    metavar="RUN-WORK",
    help="The page after this cursor (a page's next link, or the line printed on stderr).",
)
@click.option(
    "--tracked", is_flag=True, help="Only works of tracked identifiers (harvest tracked)."
)
@click.option("--since", metavar="WHEN", help="Only changes since WHEN (as export --since).")
@click.option(
    "--field",
    "fields",
    multiple=True,
    metavar="FIELD",
    help="Only works whose FIELD changed (repeatable).",
)
@click.option(
    "--work",
    "works",
    multiple=True,
    metavar="WORK",
    help="Only this work: its id, DOI or RePEc handle (repeatable).",
)
@click.option(
    "--url",
    metavar="URL",
    help="Where this feed is served (the Datasette route .../-/harvester/changes.atom or "
    ".json): the self, first and next links point there.",
)
@click.pass_obj
def feed_command(
    app: App,
    fmt: str,
    output: str | None,
    limit: int,
    before: str | None,
    tracked: bool,
    since: str | None,
    fields: tuple[str, ...],
    works: tuple[str, ...],
    url: str | None,
) -> int:
    """Write the change feed, Atom or JSON Feed: one entry per changed work per run, newest first."""
    app.setup_logging()
    try:
        cursor = changefeed.parse_cursor(before) if before else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--before") from None
    try:
        fields = changefeed.check_fields(fields)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--field") from None
    since_at = _since(since) if since else None
    store = app.open_store(create=False)
    try:
        work_ids = tuple(find_works(store, works))
        query = changefeed.FeedQuery(tracked, since_at, fields, work_ids, cursor, limit)
        page = changefeed.read_page(store.conn, query)
    finally:
        store.close()
    params = feed.query_params(
        tracked=tracked, since=since_at, fields=fields, works=work_ids, limit=limit
    )
    links = feed.paged_links(url, params, page) if url else feed.FeedLinks()
    text = feed.write_feed(page, fmt, links, feed.feed_title(tracked, fields, work_ids))
    if output is None:
        sys.stdout.write(text)
    else:
        _write_atomically(Path(output), lambda stream: stream.write(text))
    if page.next and app.verbosity >= 0:
        echo(f"next page: --before {changefeed.format_cursor(page.next)}", err=True)
    return EXIT_OK


# --- harvest digest ----------------------------------------------------------------------------

#: `harvest digest --send` (or `run --digest`) could not hand the digest to the SMTP server;
#: nothing was marked sent, so the next digest covers the same runs (errors.DigestNotSent).
EXIT_DIGEST_NOT_SENT = DigestNotSent.exit_code


@cli.command("digest")
@click.option(
    "--since",
    metavar="WHEN",
    help="Cover the runs from WHEN (as export --since) instead of those since the last digest.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(digest.FORMATS),
    default="text",
    show_default=True,
    help="How to print it (with --send: json prints the document, the others one line).",
)
@click.option(
    "--send",
    is_flag=True,
    help="E-mail it ([digest] in the config) and, once the server took it, move the point.",
)
@click.option(
    "--mark",
    is_flag=True,
    help="Print it and move the point, as if sent: the next digest starts after it.",
)
@click.pass_obj
def digest_command(app: App, since: str | None, fmt: str, send: bool, mark: bool) -> int:
    """What happened since the last digest: integrity notices (retractions, corrections)
    first, then changed fields of tracked works, new works from feeds, and failures that
    need a person.

    Without --send or --mark it only prints, and the next digest covers the same again. With
    --send, exit 8 when the SMTP server could not be reached or refused it: nothing is
    marked sent, the next digest includes it."""
    app.setup_logging()
    if send and mark:
        raise click.UsageError("--send and --mark: --send moves the point once sent")
    secret = _digest_settings(app) if send else None
    return _digest(
        app, since=_since(since) if since else None, fmt=fmt, send=send, mark=mark, secret=secret
    )


def _digest_settings(app: App) -> str | None:
    """Check `[digest]` before anything is done; the SMTP password (None without a login)."""
    mail.check_settings(app.config.digest)
    return mail.password(app.config.digest, os.environ)


def _digest(
    app: App,
    *,
    since: str | None = None,
    fmt: str = "text",
    send: bool = False,
    mark: bool = False,
    secret: str | None = None,
    report: bool = True,
) -> int:
    """Build the digest of the runs since the point (or `since`) and print, send or mark it.
    Sending and marking write (the `digests` row) under the writer lock; printing only reads."""
    settings = app.config.digest
    with app.writing(create=False) if send or mark else _reading(app) as store:
        since_run = store.digests.run_before(since) if since else store.digests.point()
        until_run = store.digests.covered_until()
        rows = store.digests.contents(since_run, until_run)
        made = digest.build(rows, since_run=since_run, until_run=until_run, made_at=store.now())

        def record(status: str, error: str | None = None) -> None:
            store.digests.record(
                status=status,
                since_run=since_run,
                until_run=until_run,
                counts=made.counts,
                recipients=settings.recipients if status in ("sent", "failed") else (),
                error=error,
            )

        if not send:
            echo(_digest_text(made, fmt))
            if mark:
                record("marked")
            return EXIT_OK
        try:
            status = _send_digest(made, settings, secret)
        except DigestNotSent as exc:
            record("failed", render.error_line(exc).removeprefix("error: "))
            log.warning("digest.not_sent", error=str(exc), kept_for="the next digest")
            echo(f"{render.error_line(exc)}; kept for the next digest", err=True)
            return EXIT_DIGEST_NOT_SENT
        record(status)
    if report and fmt == "json":
        echo(render.json_text({**digest.document(made), "status": status}))
    elif report:
        echo(digest.summary_line(made, sent_to=settings.recipients, status=status))
    return EXIT_OK


def _digest_text(made: digest.Digest, fmt: str) -> str:
    if fmt == "json":
        return render.json_text(digest.document(made))
    return digest.RENDERERS[fmt](made).rstrip("\n")


def _send_digest(made: digest.Digest, settings: DigestConfig, secret: str | None) -> str:
    """E-mail the digest, unless there is nothing in it (and `send_empty` is false): how it
    ended, `sent` or `empty`; DigestNotSent when the server did not take it."""
    if made.empty and not settings.send_empty:
        return "empty"
    subject = digest.subject(made, settings.subject)
    message = mail.compose(settings, subject, digest.text(made), digest.html(made))
    mail.send(message, settings, secret)
    return "sent"


@contextmanager
def _reading(app: App) -> Iterator[Store]:
    store = app.open_store(create=False)
    try:
        yield store
    finally:
        store.close()


def _digest_after_run(app: App, run_code: int, secret: str | None, as_json: bool) -> int:
    """`harvest run --digest`: the digest after the run, unless the run was interrupted (130:
    nothing sent, the next digest has it). The exit code is the digest's 8 when it could not
    be sent, whatever the run's (the e-mail that would have told of the run's failures did not
    go; the summary line still does), else the run's own. Its line follows the run's summary
    (with --json, only the log says it: stdout stays one JSON document)."""
    if run_code == EXIT_INTERRUPTED:
        log.warning("digest.skipped", reason="the run was interrupted", kept_for="the next digest")
        return run_code
    try:
        code = _digest(app, send=True, secret=secret, report=not as_json)
    except LockHeld as exc:  # another writer came in between: the digest waits for next time
        echo(f"{render.error_line(exc)}; the digest is kept for the next one", err=True)
        code = EXIT_DIGEST_NOT_SENT
    return code if code == EXIT_DIGEST_NOT_SENT else run_code


# --- people: harvest person add / set / list / show / remove (issue 21) --------------------------

#: The options that give a person's identifiers: (scheme, option, metavar, what it takes).
_PERSON_ID_OPTIONS = (
    ("orcid", "--orcid", "ID", "An ORCID iD: 0000-0002-1825-0097, or its https://orcid.org/ URL."),
    ("ras", "--ras", "SHORTID", "A RePEc author short-id (RAS): pbe27, or their IDEAS page."),
    ("openalex", "--openalex", "AUTHORID", "An OpenAlex author id: A5023888391, or its URL."),
    ("ror", "--ror", "ROR", "The ROR id of their institution: https://ror.org/05gq02987, or bare."),
)


def _person_id_options(command: Callable) -> Callable:
    """--orcid, --ras, --openalex and --ror, each repeatable (a person may carry several)."""
    for scheme, option, metavar, text in reversed(_PERSON_ID_OPTIONS):
        command = click.option(
            option, scheme, metavar=metavar, multiple=True, help=f"{text} Repeatable."
        )(command)
    return command


def _given_person_ids(given: Mapping[str, tuple[str, ...]]) -> list[PersonId]:
    """Every id given on the command line, checked before anything is opened (a bad one is
    one line and exit 2, nothing written)."""
    return [
        parse_person_id(scheme, text)
        for scheme, _, _, _ in _PERSON_ID_OPTIONS
        for text in given.get(scheme, ())
    ]


def _find_person(store: Store, text: str) -> int:
    """The person PERSON names (their number or any id they carry), or PersonRefused."""
    number = store.people.find(text)
    if number is None:
        raise PersonRefused(f"no such person: {text} (harvest person list shows who is on record)")
    return number


def _person_line(person: Mapping[str, Any]) -> str:
    ids = ", ".join(f"{i['scheme']} {i['value']}" for i in person["ids"]) or "no ids"
    return f"person {person['id']}  {person['name']}  ({ids})"


def _person_text(person: Mapping[str, Any]) -> str:
    lines = [
        f"person {person['id']}  {person['name']}",
        f"  added {person['created_at']}, last changed {person['updated_at']}",
    ]
    width = max((len(SCHEMES[i["scheme"]]) for i in person["ids"]), default=0)
    lines += [
        f"  {SCHEMES[i['scheme']]:<{width}}  {i['value']}  (added {i['added_at']})"
        for i in person["ids"]
    ]
    if not person["ids"]:
        lines.append(f"  no ids yet: harvest person set {person['id']} --orcid ID")
    return "\n".join(lines)


@cli.group("person", cls=_Group, params=_also_after_the_command())
def person_group() -> None:
    """The people the harvester follows (their works are harvested from their ids: a later
    step). A person has a name and any number of ids: ORCID iDs, RePEc author short-ids,
    OpenAlex author ids, the ROR id of their institution. No two people share an id
    but a ROR id (`harvest institution`).

    PERSON is a person's number (`harvest person list`) or any id they carry. To give an
    existing person another id: `harvest person set PERSON --orcid ID`."""


@person_group.command("add")
@click.argument("name")
@_person_id_options
@_json_option("Print the person added as JSON.")
@click.pass_obj
def person_add_command(app: App, name: str, as_json: bool, **given: tuple[str, ...]) -> int:
    """Follow a new person, NAME, with the ids given. An id another person holds is refused,
    naming them (add it to them with `harvest person set`); nothing is written."""
    app.setup_logging()
    name, ids = check_name(name), _given_person_ids(given)
    with app.writing() as store:
        person = store.people.get(store.people.add(name, ids))
    echo(render.json_text(person) if as_json else f"added  {_person_line(person)}")
    return EXIT_OK


@person_group.command("set")
@click.argument("person")
@click.option("--name", help="Their name, instead of the one on record.")
@_person_id_options
@_json_option("Print the person as JSON.")
@click.pass_obj
def person_set_command(
    app: App, person: str, name: str | None, as_json: bool, **given: tuple[str, ...]
) -> int:
    """Add ids to a person on record (PERSON: their number or an id they carry), or rename
    them. An id they hold already is left as it is; one another person holds is refused."""
    app.setup_logging()
    checked_name, ids = (check_name(name) if name is not None else None), _given_person_ids(given)
    if checked_name is None and not ids:
        raise click.UsageError(
            "nothing to set: give --name or an id (--orcid, --ras, --openalex, --ror)"
        )
    with app.writing(create=False) as store:
        number = _find_person(store, person)
        new = store.people.update(number, name=checked_name, ids=ids)
        record = store.people.get(number)
    if as_json:
        echo(render.json_text(record))
    else:
        added = ", ".join(f"{i.label} {i.value}" for i in new)
        said = (
            f"added {added} to" if added else "set" if checked_name else "unchanged (held already)"
        )
        echo(f"{said}  {_person_line(record)}")
    return EXIT_OK


@person_group.command("list")
@_json_option("Print every person, with their ids, as JSON.")
@click.pass_obj
def person_list_command(app: App, as_json: bool) -> int:
    """The people followed, in the order they were added, with their ids."""
    app.setup_logging()
    with _reading(app) as store:
        listing = store.people.listing()
    if as_json:
        echo(render.json_text({"people": listing}))
    elif not listing:
        echo("No people on record yet: harvest person add NAME --orcid ID")
    for person in [] if as_json else listing:
        echo(_person_line(person))
    return EXIT_OK


@person_group.command("show")
@click.argument("person")
@_json_option("Print the person, with their ids, as JSON.")
@click.pass_obj
def person_show_command(app: App, person: str, as_json: bool) -> int:
    """One person (PERSON: their number or any id they carry): name, ids, when each came."""
    app.setup_logging()
    with _reading(app) as store:
        record = store.people.get(_find_person(store, person))
    echo(render.json_text(record) if as_json else _person_text(record))
    return EXIT_OK


@person_group.command("remove")
@click.argument("people", nargs=-1, required=True, metavar="PERSON...")
@click.option("--yes", is_flag=True, help="Remove them (without it, only say who would go).")
@_json_option("Print the people removed, as they were, as JSON.")
@click.pass_obj
def person_remove_command(app: App, people: tuple[str, ...], yes: bool, as_json: bool) -> int:
    """Stop following people (each their number or an id they carry), with their ids. Without
    --yes nothing is removed (exit 2)."""
    app.setup_logging()
    with app.writing(create=False) as store:
        numbers = list(dict.fromkeys(_find_person(store, text) for text in people))
        if not yes:
            for number in numbers:
                echo(f"would remove  {_person_line(store.people.get(number))}")
            echo("nothing removed: add --yes to remove", err=True)
            return EXIT_BAD_INPUT
        removed = store.people.remove(numbers)
    if as_json:
        echo(render.json_text({"removed": removed}))
        return EXIT_OK
    for person in removed:
        echo(f"removed  {_person_line(person)}")
    return EXIT_OK


def _claim_line(claim: Mapping[str, Any]) -> str:
    work = claim["doi"] or claim["repec_handle"] or f"work {claim['work_id']} (deleted)"
    title = f"  {claim['title']}" if claim["title"] else ""
    settled = f"  reason: {claim['reason']}" if claim["reason"] else ""
    return (
        f"claim {claim['id']}  {claim['status']}  person {claim['person_id']} "
        f"({claim['person']})  {work}{title}  found by {', '.join(claim['found_by'])}{settled}"
    )


@cli.group(
    "claims",
    cls=_Group,
    invoke_without_command=True,
    params=_also_after_the_command(),
)
@click.option("--person", metavar="PERSON", help="Only the claims of PERSON (number or any id).")
@click.option("--all", "every", is_flag=True, help="Accepted and rejected claims too.")
@_json_option()
@click.pass_context
def claims_group(ctx: click.Context, person: str | None, every: bool, as_json: bool) -> int | None:
    """The claim queue: works found through a person, each waiting for you to accept or
    reject it (`harvest claims accept|reject CLAIM...`). One claim per person and work, with
    the evidence of every feed that found it; a rejected claim is never offered again.
    Without a command: the pending claims, oldest first."""
    if ctx.invoked_subcommand is not None:
        return None
    app: App = ctx.obj
    app.setup_logging()
    with _reading(app) as store:
        number = _find_person(store, person) if person is not None else None
        statuses = ("pending", "accepted", "rejected") if every else ("pending",)
        claims = store.claims.listing(person_id=number, statuses=statuses)
    if as_json:
        echo(render.json_text({"claims": claims}))
    elif not claims:
        echo("No claims " + ("on record." if every else "waiting (--all shows the settled ones)."))
    for claim in [] if as_json else claims:
        echo(_claim_line(claim))
    return EXIT_OK


def _settle_claims_command(name: str, status: str, verb: str) -> click.Command:
    """`harvest claims accept` / `reject`: the same command but for what it makes of them."""

    @click.argument(
        "claims", nargs=-1, required=True, type=click.IntRange(min=1), metavar="CLAIM..."
    )
    @click.option("--reason", metavar="TEXT", help="Why, kept with each claim.")
    @_json_option(f"Print the claims {status}, as they are now, as JSON.")
    @click.pass_obj
    def command(app: App, claims: tuple[int, ...], reason: str | None, as_json: bool) -> int:
        app.setup_logging()
        with app.writing(create=False) as store:
            settled = store.claims.settle(list(dict.fromkeys(claims)), status, reason)
        if as_json:
            echo(render.json_text({"claims": settled}))
        for claim in [] if as_json else settled:
            echo(_claim_line(claim))
        return EXIT_OK

    command.__doc__ = (
        f"{verb} claims (their numbers, from `harvest claims`), with --reason kept beside "
        "each. A claim not on record is refused and nothing is written."
        + (" A rejected claim is never offered again." if status == "rejected" else "")
    )
    return claims_group.command(name)(command)


_settle_claims_command("accept", "accepted", "Accept")
_settle_claims_command("reject", "rejected", "Reject")


@person_group.command("harvest")
@click.argument("people", nargs=-1, metavar="[PERSON]...")
@_json_option()
@click.pass_obj
def person_harvest_command(app: App, people: tuple[str, ...], as_json: bool) -> int:
    """Harvest what the people followed publish (PERSON: their number or an id they carry;
    none: everyone on record). Each id is read through its person feeds (their ORCID record,
    their RAS record); the works listed are harvested (a RePEc handle from [repec] url with the
    DOI it carries, a DOI at its agency), and each becomes a claim of the person in `harvest
    claims`. A claim their own record backs is accepted and its work tracked, unless [people]
    auto_accept_own is false. A rerun asks only what changed since the last complete one."""
    app.setup_logging()
    numbers: list[int] = []

    def find(store: Store) -> None:
        if not people and not store.people.listing():
            raise PersonRefused("no people on record yet: harvest person add NAME --orcid ID")
        numbers.extend(dict.fromkeys(_find_person(store, text) for text in people))

    code = _run_and_report(app, as_json, harvest_people, numbers if people else None, track=find)
    if not as_json and app.verbosity >= 0:
        with _reading(app) as store:
            for person in store.people.listing():
                if not people or person["id"] in numbers:
                    echo(_claims_summary(store, person))
    return code


def _claims_summary(store: Store, person: Mapping[str, Any]) -> str:
    """One line: where a person's claims stand after a harvest."""
    claims = store.claims.listing(
        person_id=person["id"], statuses=("pending", "accepted", "rejected")
    )
    counts = {
        status: sum(c["status"] == status for c in claims)
        for status in ("accepted", "pending", "rejected")
    }
    said = ", ".join(f"{n} {status}" for status, n in counts.items())
    return f"person {person['id']} ({person['name']}): {len(claims)} claim(s): {said}"


# --- harvest institution: the institutions followed by ROR id (issue 21) ---


def _institution_line(institution: Mapping[str, Any]) -> str:
    name = f"  {institution['name']}" if institution["name"] else ""
    people = institution["people"]
    return f"institution {institution['ror']}{name}  ({people} {'person' if people == 1 else 'people'})"


def _find_institution(store: Store, text: str) -> dict[str, Any]:
    """The institution followed under the ROR id `text` (checked first), or PersonRefused."""
    ror = parse_person_id("ror", text)
    found = store.institutions.get(ror.key)
    if found is None:
        raise PersonRefused(
            f"no such institution: {ror.value} (harvest institution list shows those followed)"
        )
    return found


@cli.group("institution", cls=_Group, params=_also_after_the_command())
def institution_group() -> None:
    """The institutions the harvester follows, by ROR id (https://ror.org/05gq02987 or bare).
    Their people are those whose ids carry that ROR id (`harvest person set PERSON --ror ID`);
    a work of the institution becomes a claim for one of them only when its byline names them
    (their ORCID iD, or their name beside the institution)."""


@institution_group.command("add")
@click.argument("ror", metavar="ROR")
@click.option("--name", help="What to call it (ROR's own name, if you like).")
@_json_option("Print the institution as JSON.")
@click.pass_obj
def institution_add_command(app: App, ror: str, name: str | None, as_json: bool) -> int:
    """Follow the institution ROR (its check digits checked first: a wrong one is refused and
    nothing is written). Added again, it is renamed to --name, if given."""
    app.setup_logging()
    checked, checked_name = parse_person_id("ror", ror), (check_name(name) if name else None)
    with app.writing() as store:
        institution, new = store.institutions.add(checked, checked_name)
    if as_json:
        echo(render.json_text(institution))
    else:
        echo(f"{'added' if new else 'already followed'}  {_institution_line(institution)}")
    return EXIT_OK


@institution_group.command("list")
@_json_option("Print every institution as JSON.")
@click.pass_obj
def institution_list_command(app: App, as_json: bool) -> int:
    """The institutions followed, in the order they were added, with how many people each."""
    app.setup_logging()
    with _reading(app) as store:
        listing = store.institutions.listing()
    if as_json:
        echo(render.json_text({"institutions": listing}))
    elif not listing:
        echo("No institutions followed yet: harvest institution add ROR --name NAME")
    for institution in [] if as_json else listing:
        echo(_institution_line(institution))
    return EXIT_OK


@institution_group.command("show")
@click.argument("ror", metavar="ROR")
@_json_option("Print the institution, with its people, as JSON.")
@click.pass_obj
def institution_show_command(app: App, ror: str, as_json: bool) -> int:
    """One institution followed, and its people (those whose ids carry its ROR id)."""
    app.setup_logging()
    with _reading(app) as store:
        institution = _find_institution(store, ror)
        people = store.people.of_institution(institution["key"])
    if as_json:
        echo(render.json_text({**institution, "members": people}))
        return EXIT_OK
    echo(f"{_institution_line(institution)}\n  followed since {institution['added_at']}")
    for person in people:
        echo(f"  {_person_line(person)}")
    if not people:
        echo(f"  no people yet: harvest person set PERSON --ror {institution['key']}")
    return EXIT_OK


@institution_group.command("harvest")
@click.argument("rors", nargs=-1, metavar="[ROR...]")
@_json_option()
@click.pass_obj
def institution_harvest_command(app: App, rors: tuple[str, ...], as_json: bool) -> int:
    """Harvest the works of institutions followed (ROR...; none given: every one) from
    OpenAlex's listing by ROR id, since the last complete harvest (with an API key; without
    one OpenAlex lists them whole). A work whose byline names one of its people beside it (by
    ORCID iD, or by name) is a claim for them, pending until accepted or rejected."""
    app.setup_logging()
    keys = [parse_person_id("ror", text).key for text in rors]
    if keys:
        with _reading(app) as store:
            for text in rors:
                _find_institution(store, text)
    return _run_and_report(app, as_json, harvest_institutions, keys or None)


@institution_group.command("remove")
@click.argument("rors", nargs=-1, required=True, metavar="ROR...")
@click.option("--yes", is_flag=True, help="Remove them (without it, only say which would go).")
@_json_option("Print the institutions removed, as they were, as JSON.")
@click.pass_obj
def institution_remove_command(app: App, rors: tuple[str, ...], yes: bool, as_json: bool) -> int:
    """Stop following institutions (their people, and their ROR ids, stay). Without --yes
    nothing is removed (exit 2)."""
    app.setup_logging()
    with app.writing(create=False) as store:
        found = list({i["key"]: i for i in (_find_institution(store, r) for r in rors)}.values())
        if not yes:
            for institution in found:
                echo(f"would remove  {_institution_line(institution)}")
            echo("nothing removed: add --yes to remove", err=True)
            return EXIT_BAD_INPUT
        removed = store.institutions.remove([i["key"] for i in found])
    if as_json:
        echo(render.json_text({"removed": removed}))
        return EXIT_OK
    for institution in removed:
        echo(f"removed  {_institution_line(institution)}")
    return EXIT_OK


# --- entry point -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; expected failures print one line to stderr and set the exit code, never a traceback."""
    try:
        code = cli.main(args=argv, prog_name="harvest", standalone_mode=False)
    except click.exceptions.Abort:  # click's form of Ctrl-C
        echo(render.INTERRUPTED, err=True)
        code = EXIT_INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except HarvesterError as exc:
        echo(render.error_line(exc), err=True)
        code = exc.exit_code
    sys.exit(code if isinstance(code, int) else EXIT_OK)
