"""`harvest run`, the cron entry point (and what each `harvest schedule` job calls): everything due
on the watch list, the longest due first, then the configured feeds, all in one run.

Bounded by `max_items` (identifiers) and a deadline (`--time-budget`); what is not reached stays
due for the next run. A stop request (SIGTERM, Ctrl-C) ends the run after the batch in hand.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from harvester.config import Config, FeedConfig
from harvester.errors import BadIdentifier, ConfigError, UpstreamError, failure_kind
from harvester.http import HttpClient
from harvester.identifiers import (
    Doi,
    parse_doi,
    parse_repec,
    parse_repec_archive,
    parse_repec_series,
)
from harvester.models import Fetched
from harvester.pipeline.common import Run, RunResult, answer_of, chunks, observe_answers
from harvester.pipeline.dois import DoiResolver
from harvester.pipeline.oai import OaiFeed, endpoint_url, harvest_oai_feed
from harvester.pipeline.repec import RepecReader, harvest_repec_in
from harvester.sources import crossref, repec
from harvester.store import DueItem, Observation, Outcome, Store

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Plan:
    """What a run would do now: the identifiers due (longest due first) and the feeds."""

    due: list[DueItem]
    feeds: list[tuple[FeedConfig, str, str | None]]  # (feed, key in `feeds`, its watermark)


def plan_run(store: Store, config: Config, now: str, max_items: int | None = None) -> Plan:
    """`harvest run --dry-run` prints this; `harvest_due` does it."""
    feeds = []
    for feed in config.feeds:
        key = feed_key(feed, config)
        state = store.feed(key) or {}
        feeds.append((feed, key, state.get("watermark")))
    return Plan(store.due_items(now, max_items), feeds)


def feed_key(feed: FeedConfig, config: Config) -> str:
    """The feed's row in the `feeds` table: what it asks for, not its display name, so renaming
    a feed keeps its watermark. An OAI feed shares its row with `harvest oai` of the same
    endpoint, format and set."""
    if feed.kind == "oai":
        return _oai_feed(feed, config).key
    field = next(f for f in ("issn", "prefix", "member", "series", "archive") if getattr(feed, f))
    return f"{feed.kind} {field} {getattr(feed, field)}"


def harvest_due(
    *,
    store: Store,
    client: HttpClient,
    config: Config,
    command: str,
    on_outcome: Callable[[Outcome], None] | None = None,
    stop: threading.Event | None = None,
    max_items: int | None = None,
    deadline: float | None = None,  # time.monotonic() after which nothing new is started
    on_progress: Callable[[int, int], None] | None = None,  # (identifiers done, due in all)
    tree: repec.ArchiveTree | None = None,
) -> RunResult:
    """One `harvest run`: the watch list's due identifiers, then the feeds, in one `runs` row."""
    # What is due now, frozen in the store (not in memory): the DOIs, then the handles.
    total, done = store.freeze_due(store.now(), max_items), 0
    dois, handles = store.iter_due("doi"), store.iter_due("repec")

    def out_of_time() -> bool:
        if stop is not None and stop.is_set():
            return True
        return deadline is not None and time.monotonic() >= deadline

    def advance(count: int) -> None:
        nonlocal done
        done += count
        if on_progress:
            on_progress(done, total)

    # The due back-off replaces the not-found memory for tracked DOIs (refresh=True): a DOI due
    # again after its back-off is asked.
    with (
        closing(DoiResolver(store, client, config, refresh=True)) as resolver,
        Run(store, command, on_outcome, config.watch) as run,
    ):
        # Taken lazily, so the look-ahead chunk is not started once time is up.
        todo = itertools.takewhile(lambda _: not out_of_time(), chunks(dois, config.chunk_size))
        work = (
            (
                [parse_doi(i.value) for i in chunk],
                {i.key: i.value for i in chunk},
                {i.key for i in chunk if "agency" not in i.sources},
            )
            for chunk in todo
        )
        for observations in resolver.resolve_chunks(work):
            run.write(observations)
            advance(len(observations))
        if not out_of_time():
            _due_handles(run, resolver, handles, client, config, stop, tree, out_of_time, advance)
        for feed in config.feeds:
            if out_of_time():
                break
            _harvest_feed(feed, run, resolver, client, config, stop, tree, out_of_time)
        left = total - done
        if left:
            log.warning(
                "run.left_due",
                identifiers=left,
                reason="stopped" if stop is not None and stop.is_set() else "time budget or --max",
            )
        if stop is not None and stop.is_set():
            run.interrupt()
    run.result.left_due = left
    run.result.not_found_fails = False
    return run.result


def _due_handles(run, resolver, handles, client, config, stop, tree, out_of_time, advance) -> None:
    """Tracked RePEc handles, from the archive tree; without one, each fails saying so."""
    todo = chunks(handles, config.chunk_size)
    first = next(todo, None)
    if first is None:
        return
    try:
        reader = RepecReader(tree or repec.open_tree(config.repec.url, client), run.store, config)
    except ConfigError as exc:
        for chunk in itertools.chain([first], todo):
            run.write([_failed(i, "repec", str(exc)) for i in chunk])
            advance(len(chunk))
        return
    for chunk in itertools.chain([first], todo):
        if out_of_time():
            return
        harvest_repec_in(run, resolver, reader, [parse_repec(i.value) for i in chunk], stop=stop)
        advance(len(chunk))


def _failed(item: DueItem, source: str, error: str) -> Observation:
    return Observation(
        source=source,
        key=item.key,
        scheme=item.scheme,
        display=item.value,
        status="failed",
        error=error,
    )


# --- feeds ---


def _oai_feed(feed: FeedConfig, config: Config) -> OaiFeed:
    return OaiFeed(
        endpoint_url(feed.endpoint, config),
        feed.metadata_prefix or config.oai.metadata_prefix,
        feed.set or None,
    )


def _harvest_feed(feed, run, resolver, client, config, stop, tree, out_of_time) -> None:
    """One configured feed; its failure is the run's (a failed outcome), never the end of it."""
    log.info("feed.started", feed=feed.label)
    try:
        if feed.kind == "oai":
            harvest_oai_feed(
                _oai_feed(feed, config), run, resolver, client=client, config=config, stop=stop
            )
        elif feed.kind == "repec":
            _repec_feed(feed, run, resolver, client, config, stop, tree)
        else:
            _crossref_feed(feed, run, client, config, out_of_time)
    except (ConfigError, BadIdentifier) as exc:
        run.write([_feed_failed(feed, str(exc))])


def _repec_feed(feed, run, resolver, client, config, stop, tree) -> None:
    reader = RepecReader(tree or repec.open_tree(config.repec.url, client), run.store, config)
    if feed.series:
        archive, series = parse_repec_series(feed.series)
        folder = f"{archive}/{series}"
    else:
        folder = parse_repec_archive(feed.archive)
    if harvest_repec_in(run, resolver, reader, folders=[folder], stop=stop):
        key = feed_key(feed, config)
        run.store.feed_completed(
            key,
            kind="repec",
            endpoint=config.repec.url,
            params={"folder": folder},
            watermark=None,
            run_id=run.result.run_id,
            records=0,
        )


def _crossref_feed(feed, run, client, config, out_of_time) -> None:
    """Works of a journal, prefix or member indexed since the day the last complete walk began,
    walked with a cursor; the cursor is kept after each stored page so that an interrupted walk
    resumes (Crossref forgets a cursor after about 5 minutes: then it starts again from the same
    from-index-date, and what was stored comes back unchanged)."""
    store = run.store
    key = feed_key(feed, config)
    query = crossref.FeedQuery(
        issn=feed.issn or None, prefix=feed.prefix or None, member=feed.member or None
    )
    params = {"filter": query.filter}
    state = store.feed(key) or {}
    since = state.get("watermark")
    began = datetime.now(UTC).strftime("%Y-%m-%d")
    cursor = state.get("cursor") or "*"
    records = 0
    while True:
        try:
            for page in crossref.iter_feed(
                client, config.crossref.url, query, from_index_date=since, cursor=cursor
            ):
                observed = [_crossref_observation(store, config, item) for item in page.items]
                run.write([o for o in observed if o is not None])
                records += len(page.items)
                store.feed_progress(
                    key,
                    kind="crossref",
                    endpoint=config.crossref.url,
                    params=params,
                    cursor=page.next_cursor,
                )
                if out_of_time():
                    log.warning("feed.paused", feed=feed.label, resumes_from="cursor")
                    return
            break
        except UpstreamError as exc:
            kind = failure_kind(exc)
            # A resume point from an earlier run is usually dead (Crossref forgets a cursor after
            # about 5 minutes), and a dead cursor may come back as a 404 or as a 500: walk again
            # from the start of the same from-index-date, once.
            if cursor != "*":
                log.info("feed.cursor_dropped", feed=feed.label, reason=str(exc), restart=since)
                cursor = "*"
                continue
            error = str(exc)
        store.feed_failed(
            key, kind="crossref", endpoint=config.crossref.url, params=params, error=error
        )
        run.write([_feed_failed(feed, error, kind)])
        return
    store.feed_completed(
        key,
        kind="crossref",
        endpoint=config.crossref.url,
        params=params,
        watermark=began,
        run_id=run.result.run_id,
        records=records,
    )
    log.info("feed.completed", feed=feed.label, records=records, next_from_index_date=began)


def _crossref_observation(store: Store, config: Config, item: dict) -> Observation | None:
    """A work of a Crossref feed page, observed as `harvest doi` would observe its record (None,
    logged, for an item without a usable DOI)."""
    try:
        doi: Doi = parse_doi(str(item.get("DOI", "")))
    except BadIdentifier as exc:
        log.warning("feed.item_skipped", reason=str(exc))
        return None
    answer = answer_of(Fetched(crossref.SOURCE, doi.key, "ok", payload=item))
    work_id = store.find_work_id("doi", doi.key)
    before = store.latest_answers([work_id]).get(work_id, {}) if work_id else {}
    return observe_answers(
        store,
        config,
        (answer,),
        work_id=work_id,
        before=before,
        source=crossref.SOURCE,
        key=doi.key,
        display=doi.value,
    )


def _feed_failed(feed: FeedConfig, error: str, kind: str = "other") -> Observation:
    return Observation(
        source=feed.kind,
        key="",
        scheme="feed",
        display=f"feed {feed.label}",
        status="failed",
        error=error,
        error_kind=kind,
    )
