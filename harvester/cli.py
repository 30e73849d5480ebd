"""The `harvest` command. The one place where errors become messages and exit codes.

Exit codes, for cron wrappers: 0 everything resolved; 1 some identifiers not found or failed (or a
stored work not found); 2 bad input, usage or configuration; 130 interrupted.
"""

from __future__ import annotations

import json
import re
import signal
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import click
import structlog

from harvester import __version__
from harvester.config import LOG_FORMATS, Config, FeedConfig, load_config
from harvester.due import parse_duration
from harvester.errors import BadIdentifier, BadInputFile, HarvesterError, LockHeld
from harvester.formats import (
    FORMATS,
    RecordError,
    detect_format,
    local_values,
    read_records,
    write_works,
)
from harvester.formats.csvfile import parse_authors
from harvester.identifiers import (
    Doi,
    RepecHandle,
    ascii_key,
    parse_doi,
    parse_identifier,
    parse_repec,
    parse_repec_archive,
    parse_repec_series,
)
from harvester.lock import writer_lock
from harvester.log import configure_logging
from harvester.merge import WORK_FIELDS, Value, authors_json
from harvester.pipeline import (
    MatchResult,
    RunResult,
    connect,
    edit_work,
    endpoint_url,
    harvest,
    harvest_due,
    harvest_oai,
    harvest_repec,
    import_records,
    match_works,
    plan_run,
    refusal,
    settle_matches,
)
from harvester.pipeline.match import SOURCE as MATCH_SOURCE
from harvester.scheduler import ScheduledJob, build_scheduler, next_runs, run_scheduler
from harvester.store import Outcome, Store, open_store

log = structlog.get_logger(__name__)

EXIT_OK, EXIT_SOME_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


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
                recovered = store.recover_stale_runs()
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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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


def _track_option(function: Callable) -> Callable:
    return click.option(
        "--track",
        is_flag=True,
        help="Also put what is given on the watch list, so `harvest run` keeps it fresh.",
    )(function)


def _tracker(identifiers: list) -> Callable[[Store], None]:
    """`--track`: what to do with the store before the run, so the run moves the due times."""
    return lambda store: store.track(_watched(i) for i in identifiers)


# --- harvest doi -----------------------------------------------------------------------------


@cli.command("doi")
@click.argument("identifiers", nargs=-1)
@click.option(
    "--from-file",
    "from_file",
    type=click.File("rb"),
    help="Read DOIs from FILE, one a line ('-' for stdin).",
)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Report lines that are not DOIs and go on with the rest (default: stop, write nothing).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document for machines instead of lines."
)
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
    dois = _read_identifiers(identifiers, from_file, parse_doi, skip_invalid)
    if dois is None:
        return EXIT_BAD_INPUT
    if not dois:
        raise click.UsageError("give at least one DOI, or --from-file FILE")

    return _run_and_report(
        app, as_json, harvest, dois, refresh=refresh, track=_tracker(dois) if track else None
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
    **options: Any,
) -> int:
    """Run a harvest under the writer lock, `run(*args, store=, client=, config=, command=,
    on_outcome=, stop=, **options)` as every pipeline entry point takes them, printing a line per
    outcome (unless not `lines`) and a summary (or one JSON document), and turn its result into
    the exit code. `track` adds to the watch list first (`--track`), so the run moves due times.
    `stop` is the caller's stop event (a scheduled job's); else SIGTERM sets one."""
    config = app.config
    _warn_without_mailto(config)
    outcomes: list[Outcome] = []  # for --json only: a nightly's are not held otherwise
    works: set[int | None] = set()  # up to two: is this run about one work?
    quiet = app.verbosity < 0

    def report(outcome: Outcome) -> None:
        if as_json:
            outcomes.append(outcome)
        elif len(works) < 2:
            works.add(outcome.work_id)
        if not as_json and not quiet and lines:
            click.echo(format_outcome(outcome))

    with app.writing() as store:
        if track is not None:
            track(store)
        with stop_on_signals() if stop is None else nullcontext(stop) as stop_event:
            result = run(
                *args,
                store=store,
                client=connect(config),
                config=config,
                command=_command_line(),
                on_outcome=report,
                stop=stop_event,
                **options,
            )
        if as_json:
            click.echo(json.dumps(_result_json(result, outcomes), ensure_ascii=False, indent=2))
        else:
            single = next(iter(works)) if len(works) == 1 else None
            if single and not quiet and lines:
                click.echo()
                click.echo(format_work(store.work(single)))
            click.echo(format_summary(result, store.path, store.run_failures(result.run_id)))
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
@click.option(
    "--from-file",
    "from_file",
    type=click.File("rb"),
    help="Read handles from FILE, one a line ('-' for stdin).",
)
@click.option("--skip-invalid", is_flag=True, help="Go on without the lines that are not handles.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document for machines instead of lines."
)
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
    )


# --- harvest match --------------------------------------------------------------------------


class MatchRefused(HarvesterError):
    """An --accept or --reject that the stored candidates rule out: exit 2, nothing written."""

    exit_code = 2


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
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document for machines instead of lines."
)
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


def _work_ids(store: Store, texts: tuple[str, ...]) -> list[int]:
    """Work ids for the IDs given (a number, or a RePEc handle or DOI that finds the work);
    one that finds no work is bad input."""
    found = []
    for text in texts:
        work_id = _find_work(store, text)
        if work_id is None:
            raise BadIdentifier(text, "no such work in the database (see harvest show)")
        found.append(work_id)
    return list(dict.fromkeys(found))


def _match_run(app: App, works: tuple[str, ...], max_items: int | None, as_json: bool) -> int:
    """`harvest match ID...` / `--all-unmatched`: the lock, the run, a line per record."""
    config = app.config
    _warn_without_mailto(config)
    lines = not as_json and app.verbosity >= 0
    records: list[MatchResult] = []
    outcomes: list[Outcome] = []

    def on_match(result: MatchResult) -> None:
        records.append(result)
        if lines:
            click.echo(format_match(result))

    def on_outcome(outcome: Outcome) -> None:
        outcomes.append(outcome)
        if lines and outcome.source != MATCH_SOURCE:  # the harvest of a linked DOI
            click.echo(format_outcome(outcome))

    with app.writing(create=False) as store:  # nothing to match in a database not there
        ids = _work_ids(store, works) if works else store.unmatched_work_ids(max_items)
        ids = ids[:max_items] if max_items else ids
        with stop_on_signals() as stop:
            result = match_works(
                ids,
                store=store,
                client=connect(config),
                config=config,
                command=_command_line(),
                on_outcome=on_outcome,
                on_match=on_match,
                stop=stop,
            )
        if as_json:
            document = {
                **_result_json(result, outcomes),
                "records": [r.as_json() for r in records],
            }
            click.echo(json.dumps(document, ensure_ascii=False, indent=2))
        else:
            click.echo(format_match_summary(records, outcomes, result, store.path))
    if result.status == "interrupted":
        return EXIT_INTERRUPTED
    return result.exit_code


def _settle(
    app: App,
    accepts: tuple[tuple[str, str], ...],
    rejects: tuple[tuple[str, str], ...],
    as_json: bool,
) -> int:
    """`--accept ID DOI` / `--reject ID DOI`: every one checked before anything is written."""
    outcomes: list[Outcome] = []
    lines = not as_json and app.verbosity >= 0

    def on_outcome(outcome: Outcome) -> None:
        outcomes.append(outcome)
        if lines:
            click.echo(format_outcome(outcome))

    with app.writing(create=False) as store:
        checked: dict[str, list[tuple[int, str]]] = {"accept": [], "reject": []}
        for option, pairs in (("accept", accepts), ("reject", rejects)):
            for work_text, doi_text in pairs:
                [work_id] = _work_ids(store, (work_text,))
                doi = parse_doi(doi_text).value
                why = refusal(store, work_id, doi, accept=option == "accept")
                if why is not None:
                    raise MatchRefused(f"--{option} {work_text} {doi_text}: {why}")
                checked[option].append((work_id, doi))
        works = [w for w, _ in checked["accept"]]
        twice = sorted({w for w in works if works.count(w) > 1})
        if twice:
            raise MatchRefused(f"work {twice[0]}: --accept one DOI per work (a work has one DOI)")
        both = {(w, ascii_key(d)) for w, d in checked["accept"]} & {
            (w, ascii_key(d)) for w, d in checked["reject"]
        }
        if both:
            work_id, _ = sorted(both)[0]
            raise MatchRefused(f"work {work_id}: the same DOI given to --accept and --reject")
        for option in ("reject", "accept"):
            for work_id, doi in checked[option]:
                if lines:
                    click.echo(f"{option + 'ed':<10} work {work_id}  {doi}")
        with stop_on_signals():  # one batch: a first SIGTERM lets it finish
            result = settle_matches(
                checked["accept"],
                checked["reject"],
                store=store,
                client=connect(app.config),
                config=app.config,
                command=_command_line(),
                on_outcome=on_outcome,
            )
        if as_json:
            document = {
                **_result_json(result, outcomes),
                "accepted": [{"work_id": w, "doi": d} for w, d in checked["accept"]],
                "rejected": [{"work_id": w, "doi": d} for w, d in checked["reject"]],
            }
            click.echo(json.dumps(document, ensure_ascii=False, indent=2))
        elif checked["accept"]:
            click.echo(format_summary(result, store.path, store.run_failures(result.run_id)))
        elif lines:
            click.echo(
                f"{len(checked['reject'])} candidate(s) rejected; run {result.run_id} in "
                f"{store.path}"
            )
    if result.status == "interrupted":
        return EXIT_INTERRUPTED
    return result.exit_code


def _print_review(app: App, works: tuple[str, ...], as_json: bool) -> int:
    """`--review`: the pending candidates, each beside the record it may be."""
    store = app.open_store(create=False)
    try:
        ids = _work_ids(store, works) if works else None
        pending = store.pending_matches(ids)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(pending, ensure_ascii=False, indent=2))
        return EXIT_OK
    click.echo(format_review(pending))
    return EXIT_OK


def format_match(result: MatchResult) -> str:
    """One record's line: what was found, and why."""
    label = {
        "linked": "linked",
        "review": "review",
        "no_match": "no match",
        "failed": "failed",
        "skipped": "skipped",
    }[result.status]
    head = f"{label:<10} work {result.work_id}"
    if result.status == "linked":
        score = f"  score {result.score:.2f}" if result.score is not None else ""
        return f"{head}  {result.doi}{score} ({result.reasons})"
    if result.status == "review":
        return (
            f"{head}  {len(result.candidates)} candidate(s) (best {result.score:.2f} "
            f"{result.doi}): {_shorten(result.title, 50)}"
        )
    if result.status == "no_match":
        asked = f"no match among {result.asked} candidate(s)" if result.asked else "no match"
        return f"{head}  {asked}: {_shorten(result.title, 60)}"
    return f"{head}  {result.error}"


def format_match_summary(
    records: list[MatchResult], outcomes: list[Outcome], result: RunResult, db_path: str
) -> str:
    counts = Counter(r.status for r in records)
    searched = sum(n for status, n in counts.items() if status != "skipped")
    text = (
        f"{searched} record(s): {counts['linked']} linked, {counts['review']} for review, "
        f"{counts['no_match']} no match, {counts['failed']} failed"
    )
    if counts["skipped"]:
        text += f", {counts['skipped']} skipped"
    unharvested = sum(
        o.status in ("failed", "not_found") for o in outcomes if o.source != MATCH_SOURCE
    )
    if unharvested:
        text += f"; {unharvested} linked DOI(s) not harvested yet (the next harvest match asks)"
    text += f"; run {result.run_id} in {db_path}"
    if result.status == "interrupted":
        text += " (interrupted)"
    if counts["review"]:
        text += "\nharvest match --review lists the candidates waiting for you"
    return text


def format_review(pending: list[dict[str, Any]]) -> str:
    """The pending candidates by record: the record's title against each candidate's, the
    score and the reasons, and how to settle them."""
    out: list[str] = []
    work_id = None
    for row in pending:
        if row["work_id"] != work_id:
            work_id = row["work_id"]
            said = "; ".join(
                str(p) for p in (row["work_year"], row["work_authors"], row["work_container"]) if p
            )
            out.append(
                f"work {work_id}: {_shorten(row['work_title'], 90)}"
                + (f"  ({said})" if said else "")
            )
        said = "; ".join(str(p) for p in (row["year"], row["authors"], row["container_title"]) if p)
        out.append(
            f"  {row['score']:.2f}  {row['doi']}  {_shorten(row['title'], 80)}"
            + (f"  ({said})" if said else "")
        )
        out.append(f"        {row['reasons'] or ''}")
    works = len({row["work_id"] for row in pending})
    out.append(f"{len(pending)} candidate(s) for {works} record(s) waiting for review")
    if pending:
        out.append("settle each with: harvest match --accept ID DOI, or --reject ID DOI")
    return "\n".join(out)


# --- the watch list: harvest track / untrack / tracked --------------------------------------------


@cli.command("track")
@click.argument("identifiers", nargs=-1)
@click.option(
    "--from-file",
    "from_file",
    type=click.File("rb"),
    help="Read DOIs and handles from FILE, one a line ('-' for stdin).",
)
@click.option("--skip-invalid", is_flag=True, help="Go on without the lines that are not valid.")
@click.pass_obj
def track_command(
    app: App, identifiers: tuple[str, ...], from_file: BinaryIO | None, skip_invalid: bool
) -> int:
    """Put DOIs and RePEc handles on the watch list that `harvest run` keeps fresh. New ones are
    due at once; after that, each source is asked again by the intervals of [watch]."""
    app.setup_logging()
    parsed = _read_identifiers(identifiers, from_file, parse_identifier, skip_invalid)
    if parsed is None:
        return EXIT_BAD_INPUT
    if not parsed:
        raise click.UsageError("give at least one DOI or RePEc handle, or --from-file FILE")
    with app.writing() as store:
        new = store.track(_watched(i) for i in parsed)
    click.echo(
        f"{len(parsed)} identifier(s): {new} added to the watch list, "
        f"{len(parsed) - new} already on it; `harvest run` harvests what is due"
    )
    return EXIT_OK


@cli.command("untrack")
@click.argument("identifiers", nargs=-1, required=True)
@click.pass_obj
def untrack_command(app: App, identifiers: tuple[str, ...]) -> int:
    """Take DOIs and RePEc handles off the watch list; their works stay in the database."""
    app.setup_logging()
    parsed = _read_identifiers(identifiers, None, parse_identifier, False)
    if parsed is None:
        return EXIT_BAD_INPUT
    with app.writing() as store:
        gone = store.untrack((scheme, key) for scheme, key, _ in map(_watched, parsed))
    click.echo(f"{gone} of {len(parsed)} identifier(s) taken off the watch list")
    return EXIT_OK if gone == len(parsed) else EXIT_SOME_FAILED


@cli.command("tracked")
@click.option("--json", "as_json", is_flag=True, help="Print the watch list as JSON.")
@click.pass_obj
def tracked_command(app: App, as_json: bool) -> int:
    """List the watch list, the soonest due first: per source, when it is next due and how its
    last try ended."""
    store = app.open_store(create=False)
    try:
        watched = store.tracked()
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(watched, ensure_ascii=False, indent=2))
        return EXIT_OK
    for item in watched:
        work = f"work {item['work_id']}" if item["work_id"] else "not harvested yet"
        click.echo(f"{item['value']}  ({work})")
        for source, due in item["sources"].items():
            last = due["last_status"] or "never tried"
            if due["streak"] and due["streak"] > 1:
                last += f" {due['streak']} times in a row"
            error = f": {_shorten(due['last_error'], 60)}" if due["last_error"] else ""
            click.echo(f"  {source:<9} due {due['next_due_at']}  last: {last}{error}")
    click.echo(f"{len(watched)} identifier(s) on the watch list")
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
    "--json", "as_json", is_flag=True, help="Print one JSON document for machines instead of lines."
)
@click.pass_obj
def run_command(
    app: App, max_items: int | None, time_budget: str | None, dry_run: bool, as_json: bool
) -> int:
    """The nightly harvest (the cron entry point): everything due on the watch list, the longest
    due first, then the feeds of the config. One `runs` row and a one-line summary; exit 0 when
    all went well, 1 when some identifiers failed or were not found, 2 for bad configuration,
    3 when another harvest holds the lock."""
    app.setup_logging()
    try:
        budget = parse_duration(time_budget) if time_budget else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--time-budget") from None
    if dry_run:
        return _print_plan(app, max_items, as_json)
    return _harvest_run(app, max_items=max_items, budget=budget, as_json=as_json)


def _harvest_run(
    app: App,
    *,
    max_items: int | None = None,
    budget: timedelta | None = None,
    as_json: bool = False,
    stop: threading.Event | None = None,
) -> int:
    """What `harvest run` does, and each `harvest schedule` job: the lock, the run, the summary."""
    deadline = time.monotonic() + budget.total_seconds() if budget else None
    show_bar = not as_json and app.verbosity >= 0 and sys.stderr.isatty() and stop is None
    with _ProgressBar(show_bar) as bar:
        code = _run_and_report(
            app,
            as_json,
            harvest_due,
            lines=app.verbosity > 0,
            stop=stop,
            max_items=max_items,
            deadline=deadline,
            on_progress=bar.update,
        )
    return code


class _ProgressBar:
    """click's progress bar on a terminal (stderr), sized when the run knows how much is due."""

    def __init__(self, enabled: bool) -> None:
        self.enabled, self.bar, self.shown = enabled, None, 0

    def __enter__(self) -> _ProgressBar:
        return self

    def update(self, done: int, total: int) -> None:
        if not self.enabled or total == 0:
            return
        if self.bar is None:
            self.bar = click.progressbar(length=total, label="harvest", file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.shown)
        self.shown = done

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


def _print_plan(app: App, max_items: int | None, as_json: bool) -> int:
    """`harvest run --dry-run`: what is due, at which sources, and each feed from where."""
    try:
        store = app.open_store(create=False)
    except HarvesterError:
        plan_due, plan_feeds = [], [(f, "", None) for f in app.config.feeds]
    else:
        try:
            plan = plan_run(store, app.config, store.now(), max_items)
            plan_due, plan_feeds = plan.due, plan.feeds
        finally:
            store.close()
    if as_json:
        document = {
            "due": [asdict(d) for d in plan_due],
            "feeds": [
                {"feed": f.label, "key": key, "from": watermark} for f, key, watermark in plan_feeds
            ],
        }
        click.echo(json.dumps(document, ensure_ascii=False, indent=2))
        return EXIT_OK
    for item in plan_due:
        click.echo(f"due   {item.value}  at {', '.join(item.sources)}  (since {item.due_at})")
    for feed, _, watermark in plan_feeds:
        since = f"changed since {watermark}" if watermark else "everything (first harvest)"
        click.echo(f"feed  {feed.label}: {since}")
    click.echo(f"{len(plan_due)} identifier(s) due, {len(plan_feeds)} feed(s); nothing fetched")
    return EXIT_OK


@cli.command("schedule")
@click.option("--dry-run", is_flag=True, help="Print the jobs and their next run times; exit.")
@click.pass_obj
def schedule_command(app: App, dry_run: bool) -> int:
    """Run `harvest run` on the cron expressions of [schedule.jobs] (default nightly at 03:00
    UTC), as a long-running worker. SIGTERM or Ctrl-C finishes the batch in hand and exits."""
    app.setup_logging()
    config = app.config.schedule
    jobs = [ScheduledJob(name, cron, config.timezone) for name, cron in config.jobs.items() if cron]
    upcoming = next_runs(jobs)
    for job in jobs:
        times = ", ".join(t.strftime("%Y-%m-%d %H:%M %Z") for t in upcoming[job.id])
        click.echo(f"job {job.id}: {job.cron} ({job.timezone}); next: {times}")
    if dry_run:
        return EXIT_OK
    with stop_on_signals() as stop:

        def run_job(job_id: str) -> int:
            try:
                return _harvest_run(app, stop=stop)
            except LockHeld as exc:
                log.warning("schedule.job_skipped", job=job_id, reason=str(exc))
                return exc.exit_code

        run_scheduler(build_scheduler(jobs, run_job), stop)
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
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document for machines instead of lines."
)
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
) -> list | None:
    """The identifiers given as arguments and in --from-file, each parsed by `parse`. Every bad
    one is reported with its place; then None (nothing is harvested) unless `skip_invalid`."""
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
    for where, error in errors:
        click.echo(f"error: {where}: {error}", err=True)
    if errors and not skip_invalid:
        click.echo(
            f"{len(errors)} invalid identifier(s); nothing was harvested (use --skip-invalid to go on without them)",
            err=True,
        )
        return None
    if errors and not parsed:
        click.echo("no valid identifier to harvest", err=True)
        return None
    return parsed


def _parse_handle(text: str) -> RepecHandle:
    """A RePEc handle, or a web link to one; a DOI is pointed to `harvest doi`."""
    identifier = parse_identifier(text)
    if not isinstance(identifier, RepecHandle):
        raise BadIdentifier(text, "a DOI: harvest it with `harvest doi`")
    return identifier


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """SIGTERM asks the run to stop after the batch in hand (cron and systemd send it); a second
    one, like Ctrl-C, stops at once, the open transaction rolled back."""
    stop = threading.Event()

    def on_term(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        log.warning("run.stopping", reason="SIGTERM", hint="finishing the batch in hand")

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)


# --- harvest show / history --------------------------------------------------------------------


@cli.command("show")
@click.argument("work")
@click.option("--json", "as_json", is_flag=True, help="Print the stored work as JSON.")
@click.pass_obj
def show_command(app: App, work: str, as_json: bool) -> int:
    """Show a stored work. WORK is its id in the database, a DOI or a RePEc handle."""
    found = _stored_work(app, work)
    if found is None:
        return EXIT_SOME_FAILED
    record, _ = found
    if as_json:
        click.echo(json.dumps(_decoded(record), ensure_ascii=False, indent=2))
    else:
        click.echo(format_work(record))
    return EXIT_OK


@cli.command("history")
@click.argument("work")
@click.option("--json", "as_json", is_flag=True, help="Print the changes as JSON.")
@click.pass_obj
def history_command(app: App, work: str, as_json: bool) -> int:
    """List what changed in a stored work over time, field by field, with run and source."""
    found = _stored_work(app, work)
    if found is None:
        return EXIT_SOME_FAILED
    record, changes = found
    if as_json:
        output = {"work_id": record["id"], "changes": changes}
        click.echo(json.dumps(output, ensure_ascii=False, indent=2))
    else:
        click.echo(format_history(record, changes))
    return EXIT_OK


def _stored_work(app: App, text: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """The stored work named by `text` and its changes, or None after saying it is not stored."""
    app.setup_logging()
    store = app.open_store(create=False)
    try:
        work_id = _find_work(store, text)
        if work_id is None:
            click.echo(f"not in the database: {text}", err=True)
            return None
        return store.work(work_id), store.history(work_id)
    finally:
        store.close()


def _find_work(store: Store, text: str) -> int | None:
    """A work by database id, DOI or RePEc handle; a malformed identifier is a BadIdentifier."""
    if text.strip().isdigit():
        work_id = int(text)
        if work_id > 2**63 - 1:  # beyond SQLite's integers: certainly not stored
            return None
        return store.find_work_by_id(work_id)
    identifier = parse_identifier(text)
    scheme = "doi" if isinstance(identifier, Doi) else "repec"
    return store.find_work_id(scheme, identifier.key)


# --- the user's own values: set, unset, import -------------------------------------------------

#: What `harvest set` can correct: every `works` column from sources but the JSON lists of
#: relations and updates (which come from the agencies' link data), and the author list.
EDITABLE_FIELDS = (*(f for f in WORK_FIELDS if f not in ("relations", "updates")), "authors")


@cli.command("set")
@click.argument("work")
@click.argument("assignments", nargs=-1, required=True, metavar="FIELD=VALUE...")
@click.pass_obj
def set_command(app: App, work: str, assignments: tuple[str, ...]) -> int:
    """Correct fields of a stored work by hand. Your values win over every source until
    `harvest unset`, and each change is in the history with source `local`.

    WORK is its id, DOI or RePEc handle. Lists: `issn=0950-0170,1469-8722`,
    `subjects=Labour; Wages`, `authors="Family, Given; {An Organisation}"`.
    """
    app.setup_logging()
    edits = _parse_assignments(assignments)
    return _edit(app, work, edits)


@cli.command("unset")
@click.argument("work")
@click.argument("fields", nargs=-1, required=True, metavar="FIELD...")
@click.pass_obj
def unset_command(app: App, work: str, fields: tuple[str, ...]) -> int:
    """Drop your own value of fields of a stored work, giving them back to the sources."""
    app.setup_logging()
    for name in fields:
        _check_field(name)
    return _edit(app, work, dict.fromkeys(fields))


def _edit(app: App, text: str, edits: dict[str, Value | None]) -> int:
    with app.writing(create=False) as store:
        return _edit_in(app, store, text, edits)


def _edit_in(app: App, store: Store, text: str, edits: dict[str, Value | None]) -> int:
    work_id = _find_work(store, text)
    if work_id is None:
        click.echo(f"not in the database: {text}", err=True)
        return EXIT_SOME_FAILED
    for scheme, name, parse in (
        ("doi", "doi", parse_doi),
        ("repec", "repec_handle", parse_repec),
    ):
        value = edits.get(name)
        other = store.find_work_id(scheme, parse(value).key) if isinstance(value, str) else None
        if other not in (None, work_id):
            raise click.UsageError(
                f"{name} {value} already identifies work {other}; one identifier cannot "
                "name two works"
            )
    unset = [k for k, v in edits.items() if v is None]
    held = store.local_values([work_id]).get(work_id)
    held_fields = set(held.values) | ({"authors"} if held.authors else set()) if held else set()
    for name in unset:
        if name not in held_fields:
            click.echo(f"note: {name} has no value of yours to unset", err=True)
    if held and {"year", "published"} & set(unset):
        # `set year=` also sets the date to that year (and `set published=` the year): the
        # two go back to the sources together, or the work would hold two different years.
        year, published = held.values.get("year"), held.values.get("published")
        if year is not None and str(published or "")[:4] == f"{year:04d}":
            edits = {**edits, "year": None, "published": None}
    outcome = edit_work(
        work_id, edits, store=store, config=app.config, command=_command_line(), display=text
    )
    if app.verbosity >= 0:
        click.echo(format_outcome(outcome))
        click.echo()
        click.echo(format_work(store.work(work_id)))
    return EXIT_OK


def _check_field(name: str) -> None:
    if name not in EDITABLE_FIELDS:
        raise click.UsageError(f"unknown field {name!r}; fields are: {', '.join(EDITABLE_FIELDS)}")


def _parse_assignments(assignments: tuple[str, ...]) -> dict[str, Value | None]:
    """FIELD=VALUE pairs as the store's values, checked like a CSV import's cells."""
    raw: dict[str, str] = {}
    for assignment in assignments:
        name, equals, value = assignment.partition("=")
        name = name.strip()
        if not equals:
            raise click.UsageError(f"{assignment!r}: write FIELD=VALUE (to drop a value: unset)")
        _check_field(name)
        if not value.strip():
            raise click.UsageError(f"{name}: empty value (to drop your value: harvest unset)")
        raw[name] = value
    try:
        edits: dict[str, Value | None] = dict(
            local_values({k: v for k, v in raw.items() if k != "authors"})
        )
    except RecordError as exc:
        raise click.UsageError(str(exc)) from None
    if "authors" in raw:
        authors = parse_authors(raw["authors"])
        if not authors:
            raise click.UsageError("authors: no author in the value")
        edits["authors"] = authors_json(authors)
    return edits


@cli.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="The file's format [from its name: .bib, .ris, .json, .csv].",
)
@click.pass_obj
def import_command(app: App, file: str, fmt: str | None) -> int:
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
    with app.writing() as store:
        result = import_records(records, store=store, config=app.config, command=_command_line())
    if app.verbosity >= 0:
        for outcome in result.outcomes:
            click.echo(format_outcome(outcome))
    counts = Counter(o.status for o in result.outcomes)
    click.echo(
        f"{len(records)} record(s) from {file}: {counts['created']} new work(s), "
        f"{counts['changed']} changed, {counts['unchanged']} unchanged; run {result.run_id}"
    )
    if result.without_identifier:
        click.echo(f"{len(result.without_identifier)} record(s) without DOI or RePEc handle, kept:")
        for record in result.without_identifier:
            click.echo(f"  line {record.line}: {_shorten(record.label, 90)}")
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
    metavar="DATE",
    help="Only works created or updated on or after DATE (2026-11-01 or an ISO time).",
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
    try:
        works = store.iter_works(since=since_at, changed=changed)
        if output is None:
            write_works(works, fmt, sys.stdout)
        else:
            _write_atomically(Path(output), lambda stream: write_works(works, fmt, stream))
    finally:
        store.close()
    return EXIT_OK


def _since(text: str) -> str:
    """A date or ISO time as the *_at columns hold it (UTC, 'Z'), for comparing as text."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a date like 2026-11-01 or 2026-11-01T12:00:00Z", param_hint="--since"
        ) from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_atomically(path: Path, write: Any) -> None:
    """Write to a temporary file beside `path`, then rename: a reader never sees half a file, and
    a failed export leaves the previous one in place."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as stream:
            write(stream)
        partial.replace(path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise BadInputFile(str(path), None, f"cannot write: {exc.strerror}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


# --- formatting for people ---------------------------------------------------------------------

_LABELS = {
    "created": "created",
    "changed": "changed",
    "unchanged": "unchanged",
    "not_found": "not found",
    "failed": "failed",
}


def format_outcome(outcome: Outcome) -> str:
    label = f"{_LABELS[outcome.status]:<10} {outcome.identifier}"
    if outcome.status == "created":
        return f"{label}  work {outcome.work_id}: {_shorten(outcome.title or '(no title)', 70)}"
    if outcome.status == "changed":
        return f"{label}  work {outcome.work_id} v{outcome.version}: {', '.join(outcome.fields)}"
    if outcome.status == "unchanged":
        return f"{label}  work {outcome.work_id}" if outcome.work_id else label
    if outcome.status == "not_found":
        return f"{label}  {outcome.error or f'{outcome.source} has no record of it'}"
    return f"{label}  {outcome.error or 'unknown error'}"


def format_summary(
    result: RunResult, db_path: str, failure_kinds: dict[str, int] | None = None
) -> str:
    c = result.counts
    total = c.requested
    parts = f"{c.created} created, {c.changed} changed, {c.unchanged} unchanged, {c.not_found} not found, {c.failed} failed"
    if c.failed and failure_kinds:
        parts += f" ({', '.join(f'{kind} {n}' for kind, n in failure_kinds.items())})"
    tail = " (interrupted)" if result.status == "interrupted" else ""
    if result.left_due:
        tail += f"; {result.left_due} still due (time budget, --max or a stop)"
    return f"{total} identifier(s): {parts}; run {result.run_id} in {db_path}{tail}"


def format_work(work: dict[str, Any] | None) -> str:
    if work is None:
        return "(no such work)"
    out = [
        f"{work.get('doi') or work.get('repec_handle')}  (work {work['id']}, version {work['version']}, updated {work['updated_at']})"
    ]

    def line(label: str, value: Any) -> None:
        if value not in (None, "", [], ()):
            out.append(f"  {label + ':':<12} {value}")

    title = work.get("title")
    if work.get("subtitle"):
        title = f"{title}: {work['subtitle']}"
    line("Title", title or "(no title)")
    line("Type", work.get("type"))
    line("Authors", "; ".join(_author_text(a) for a in work.get("authors", [])))
    issn = ", ".join(json.loads(work["issn"])) if work.get("issn") else None
    line(
        "In",
        ", ".join(p for p in (work.get("container_title"), f"ISSN {issn}" if issn else None) if p),
    )
    line("Volume", work.get("volume"))
    line("Issue", work.get("issue"))
    line("Pages", work.get("pages"))
    line("Published", work.get("published"))
    line("Publisher", work.get("publisher"))
    line("Language", work.get("language"))
    line("License", work.get("license"))
    line("URL", work.get("url"))
    line("Version", work.get("resource_version"))
    line("Open access", " ".join(p for p in (work.get("oa_status"), work.get("oa_url")) if p))
    line("Subjects", "; ".join(json.loads(work["subjects"])) if work.get("subjects") else None)
    line("OpenAlex", work.get("openalex_id"))
    line("Cited by", work.get("cited_by_count"))
    for update in json.loads(work["updates"]) if work.get("updates") else []:
        line(
            "Update",
            f"{update['direction']} {update['type']}: {update['doi']}"
            + (f" ({update['date']})" if update.get("date") else ""),
        )
    if work.get("abstract"):
        out.append("  Abstract:")
        out.extend(
            textwrap.fill(p, 96, initial_indent="    ", subsequent_indent="    ")
            for p in work["abstract"].split("\n\n")
        )
    others = [f"{i['scheme']}:{i['value']}" for i in work.get("identifiers", [])]
    line("Identifiers", ", ".join(others))
    by_source: dict[str, list[str]] = {}
    for name, source in json.loads(work.get("provenance") or "{}").items():
        by_source.setdefault(source, []).append(name)
    line("From", "; ".join(f"{source}: {', '.join(names)}" for source, names in by_source.items()))
    disagreements: dict[str, list[str]] = {}
    for conflict in work.get("conflicts", []):
        said = f"{conflict['source']} {_shorten(conflict['value'], 40)!r}"
        disagreements.setdefault(conflict["field"], []).append(said)
    for name, said in disagreements.items():
        line("Conflict", f"{name}: {', '.join(said)}")
    return "\n".join(out)


def format_history(work: dict[str, Any], changes: list[dict[str, Any]]) -> str:
    title = _shorten(work.get("title") or "(no title)", 70)
    out = [f"{work.get('doi')}  work {work['id']}, version {work['version']}: {title}"]
    run = None
    for change in changes:
        if (change["run_id"], change["changed_at"]) != run:
            run = (change["run_id"], change["changed_at"])
            out.append(f"{change['changed_at']}  run {change['run_id']}")
        old, new = change["old_value"], change["new_value"]
        if old is None:
            what = f"set to {_shorten(new, 80)}"
        elif new is None:
            what = f"removed (was {_shorten(old, 60)})"
        else:
            what = f"{_shorten(old, 50)} -> {_shorten(new, 50)}"
        out.append(f"  {change['field']:<16} {what}  [{change['source']}]")
    if not changes:
        out.append("  no changes recorded")
    return "\n".join(out)


def _author_text(author: dict[str, Any]) -> str:
    name = author.get("name") or " ".join(
        p for p in (author.get("given"), author.get("family")) if p
    )
    extras = [f"ORCID {author['orcid']}"] if author.get("orcid") else []
    return f"{name} ({', '.join(extras)})" if extras else name


def _shorten(text: str | None, width: int) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


#: Columns stored as JSON text, shown as JSON values by `show --json`.
_JSON_COLUMNS = ("issn", "relations", "updates", "subjects", "provenance")


def _decoded(work: dict[str, Any]) -> dict[str, Any]:
    return {k: (json.loads(v) if k in _JSON_COLUMNS and v else v) for k, v in work.items()}


def _result_json(result: RunResult, outcomes: list[Outcome]) -> dict[str, Any]:
    return {
        "run_id": result.run_id,
        "status": result.status,
        "counts": asdict(result.counts),
        "results": [asdict(o) for o in outcomes],
    }


def _command_line() -> str:
    return " ".join(["harvest", *sys.argv[1:]])[:500]


# --- entry point -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; expected failures print one line to stderr and set the exit code, never a traceback."""
    try:
        code = cli.main(args=argv, prog_name="harvest", standalone_mode=False)
    except click.exceptions.Abort:  # click's form of Ctrl-C
        click.echo("interrupted; every finished batch is stored, a rerun does the rest", err=True)
        code = EXIT_INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except HarvesterError as exc:
        click.echo(f"error: {exc}", err=True)
        code = exc.exit_code
    sys.exit(code if isinstance(code, int) else EXIT_OK)
