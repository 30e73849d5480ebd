"""`harvest run`, the cron entry point (and what each `harvest schedule` job calls): everything due
on the watch list, the longest due first, then the configured feeds, then the people followed
(their person feeds, into the claim queue) and the institutions followed (their OpenAlex
listing), all in one run.

Bounded by `max_items` (identifiers) and a deadline (`--time-budget`); what is not reached stays
due for the next run. A stop request (SIGTERM, Ctrl-C) ends the run after the batch in hand.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from harvester import sources
from harvester.config import Config, FeedConfig
from harvester.errors import ConfigError
from harvester.http import HttpClient
from harvester.identifiers import (
    parse_doi,
    parse_repec,
)
from harvester.models import Failed
from harvester.pipeline.common import RunResult, chunks
from harvester.pipeline.dois import resolve_due_links, resolving_run
from harvester.pipeline.feeds import feed_key, harvest_feed
from harvester.pipeline.institutions import FEED_NAME as INSTITUTION_FEED
from harvester.pipeline.institutions import harvest_institution, institution_feed_key
from harvester.pipeline.people import harvest_people_in
from harvester.pipeline.repec import RepecReader, harvest_repec_in
from harvester.sources import repec
from harvester.store import DueItem, Outcome, Store
from harvester.store.people import person_feed_key

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Plan:
    """What a run would do now: the identifiers due (longest due first) and the feeds."""

    due: list[DueItem]
    feeds: list[tuple[FeedConfig, str, str | None]]  # (feed, key in `feeds`, its watermark)
    #: The feeds of the people and institutions followed: (what it is, key in `feeds`, watermark).
    followed: list[tuple[str, str, str | None]] = field(default_factory=list)


def plan_run(
    store: Store,
    config: Config,
    now: str,
    max_items: int | None = None,
    *,
    retry_failed: bool = False,
) -> Plan:
    """`harvest run --dry-run` prints this; `harvest_due` does it."""
    feeds = []
    for feed in config.feeds:
        key = feed_key(feed, config)
        state = store.feeds.get(key) or {}
        feeds.append((feed, key, state.get("watermark")))
    due = store.watch.due_items(now, max_items, retry_failed=retry_failed)
    return Plan(due, feeds, followed_feeds(store))


def followed_feeds(store: Store) -> list[tuple[str, str, str | None]]:
    """Every person feed of every id of the people followed, then each institution's listing,
    as `harvest_due` pulls them: (what it is, its key in `feeds`, its watermark)."""
    followed: list[tuple[str, str]] = []
    for person in store.people.listing():
        for person_id in person["ids"]:
            for feed in sources.PERSON_FEEDS.values():
                if feed.scheme == person_id["scheme"]:
                    key = person_feed_key(feed.name, person_id["scheme"], person_id["key"])
                    what = (
                        f"person {person['id']} ({person['name']}) {feed.name} {person_id['value']}"
                    )
                    followed.append((what, key))
    for institution in store.institutions.listing():
        what = f"institution {institution['ror']} {INSTITUTION_FEED}"
        followed.append((what, institution_feed_key(institution["key"])))
    return [(what, key, (store.feeds.get(key) or {}).get("watermark")) for what, key in followed]


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
    retry_failed: bool = False,
) -> RunResult:
    """One `harvest run`: the watch list's due identifiers, then the feeds, then the people's
    feeds and the institutions', in one `runs` row.
    What failed waits out its back-off, and the result says how many so wait and until when;
    `retry_failed` asks them now."""
    now = store.now()
    waiting = (0, None) if retry_failed else store.watch.backing_off(now)
    # What is due now, frozen in the store (not in memory): the DOIs, then the handles.
    total, done = store.watch.freeze_due(now, max_items, retry_failed=retry_failed), 0
    dois, handles = store.watch.iter_due("doi"), store.watch.iter_due("repec")

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
    with resolving_run(store, client, config, command, on_outcome, refresh=True) as (
        run,
        resolver,
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
        # The DOIs RePEc and OAI records carry whose lookup failed or was killed before.
        resolve_due_links(run, resolver, config.chunk_size, by=store.now(), stopping=out_of_time)
        if not out_of_time():
            _due_handles(run, resolver, handles, client, config, stop, tree, out_of_time, advance)
        for feed in config.feeds:
            if out_of_time():
                break
            harvest_feed(feed, run, resolver, client, config, stopping=out_of_time)
        if not out_of_time():
            harvest_people_in(run, resolver, client, config, stopping=out_of_time, tree=tree)
        for institution in store.institutions.listing():
            if out_of_time():
                break
            harvest_institution(institution, run, resolver, client, config, out_of_time)
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
    run.result.backing_off, run.result.backing_off_until = waiting
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
            run.write([_config_failure(i, str(exc)) for i in chunk])
            advance(len(chunk))
        return
    for chunk in itertools.chain([first], todo):
        if out_of_time():
            return
        harvest_repec_in(run, resolver, reader, [parse_repec(i.value) for i in chunk], stop=stop)
        advance(len(chunk))


def _config_failure(item: DueItem, error: str) -> Failed:
    """A due handle that could not be asked: the RePEc source is not configured."""
    return Failed(
        source=repec.SOURCE, key=item.key, scheme=item.scheme, display=item.value, error=error
    )
