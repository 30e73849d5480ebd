"""The feed driver: the one place a feed's watermark moves.

A feed (`sources.FEEDS`: a Crossref journal, prefix or member; an OAI-PMH repository) lists
every record changed since its watermark, a page at a time. The driver pulls the pages, stores
each in one transaction (with the works of the DOIs its records carry, at their agency), keeps
the feed's resume point after each, and moves the watermark only once the listing has ended and
every page is stored. A feed that fails is one failed outcome of the run, never the end of it;
a stop request or the time budget leaves it between two pages, its watermark where it was.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

import structlog

from harvester import sources
from harvester.config import Config, FeedConfig
from harvester.errors import BadIdentifier, BadPayload, ConfigError, UpstreamError, failure_kind
from harvester.http import HttpClient
from harvester.identifiers import parse_doi, parse_repec
from harvester.models import Failed, Fetched, Record, Unchanged
from harvester.pipeline.common import Run, RunResult, answer_of, observe_answers
from harvester.pipeline.dois import (
    DoiResolver,
    resolve_due_links,
    resolving_run,
    write_linked_dois,
)
from harvester.sources.base import FeedPage, FeedState, FeedTarget, FileRead
from harvester.store import Answer, Observation, Outcome, Store

log = structlog.get_logger(__name__)

#: `since` when the feed's own watermark is to be used.
WATERMARK = object()


def harvest_feed(
    feed: FeedConfig,
    run: Run,
    resolver: DoiResolver,
    client: HttpClient,
    config: Config,
    *,
    stopping: Callable[[], bool] = lambda: False,
    since: str | object | None = WATERMARK,
    resolve_dois: bool = True,
) -> str:
    """One feed within a run: "complete" (the watermark moved), "stopped" (`stopping()` said so
    after a stored page) or "failed". `since` overrides the watermark (`harvest oai --from`,
    None for `--full`); with `resolve_dois`, the DOIs each page's records carry are resolved at
    their agency after the page is stored."""
    store = run.store
    failed = {"source": feed.kind, "key": "", "scheme": "feed"}  # the run's one failure, if any
    try:
        source = sources.FEEDS[feed.kind]
        target = source.feed_target(feed, config)
    except (ConfigError, BadIdentifier) as exc:
        run.write([Failed(display=f"feed {feed.label}", error=str(exc), **failed)])
        return "failed"
    state = store.feeds.get(target.key) or {}
    start = state.get("watermark") if since is WATERMARK else since
    log.info("feed.started", feed=feed.label)
    try:
        known = FeedState(start, state.get("cursor"), read_before=store.repec.file)
        pages = source.feed_pages(feed, config, client, known)
        ended, last, records = pull_pages(
            pages,
            run,
            resolver,
            config,
            stopping=stopping,
            resolve_dois=resolve_dois,
            target=target,
        )
    except (UpstreamError, BadPayload, ConfigError) as exc:
        store.feeds.failed(target.key, **_row(target), error=str(exc))
        kind = failure_kind(exc)
        run.write([Failed(display=target.display, error=str(exc), error_kind=kind, **failed)])
        return "failed"
    if ended == "stopped":
        resumes = "cursor" if last is not None and last.resume is not None else "watermark"
        log.warning("feed.paused", feed=feed.label, resumes_from=resumes)
        return "stopped"
    watermark = last.watermark if last is not None else start
    store.feeds.completed(
        target.key, **_row(target), watermark=watermark, run_id=run.result.run_id, records=records
    )
    log.info("feed.completed", feed=feed.label, records=records, watermark=watermark)
    return "complete"


def pull_pages(
    pages: Iterable[FeedPage],
    run: Run,
    resolver: DoiResolver,
    config: Config,
    *,
    stopping: Callable[[], bool] = lambda: False,
    resolve_dois: bool = True,
    target: FeedTarget | None = None,
) -> tuple[str, FeedPage | None, int]:
    """Store each page of a listing in one transaction, then the works of the DOIs its records
    carry (`resolve_dois`), then what the page finishes: the files it read to their end, and,
    for a feed (`target`), its resume point. Asks for the next page only then. Returns how it
    ended ("complete", or "stopped" when `stopping()` said so after a page), the last page and
    how many records were stored."""
    store, last, records = run.store, None, 0
    for page in pages:
        observations = observe_page(store, config, page)
        if resolve_dois:
            write_linked_dois(run, resolver, observations, config.chunk_size)
        else:
            run.write(observations)
        for read in page.files:
            keep_file(store, read)
        if target is not None and page.resume is not None:
            store.feeds.progress(target.key, **_row(target), cursor=page.resume)
        records += len(page.answers)
        last = page
        if stopping():
            return "stopped", last, records
    return "complete", last, records


def harvest_oai(
    feed: FeedConfig,
    *,
    store: Store,
    client: HttpClient,
    config: Config,
    command: str,
    on_outcome: Callable[[Outcome], None] | None = None,
    stop: threading.Event | None = None,
    from_: str | None = None,
    full: bool = False,
    resolve_dois: bool = True,
) -> RunResult:
    """`harvest oai`: one feed (an OAI-PMH repository's format and set), once, in a run of its
    own: from where its last complete harvest left it (`from_` to choose, `full` for
    everything), one page per transaction; with `resolve_dois`, the DOIs the records carry are
    resolved at their agency in the same run, so each work also has its agency's record."""
    since = from_ if from_ is not None else None if full else WATERMARK
    with resolving_run(store, client, config, command, on_outcome) as (run, resolver):
        stopping = (lambda: False) if stop is None else stop.is_set
        if resolve_dois:
            resolve_due_links(run, resolver, config.chunk_size, stopping=stopping)
        ended = harvest_feed(
            feed,
            run,
            resolver,
            client,
            config,
            stopping=stopping,
            since=since,
            resolve_dois=resolve_dois,
        )
        if ended == "stopped":
            run.interrupt()
    return run.result


def feed_key(feed: FeedConfig, config: Config) -> str:
    """The feed's row in the `feeds` table (`harvest run --dry-run` shows its watermark)."""
    return sources.FEEDS[feed.kind].feed_target(feed, config).key


def keep_file(store: Store, read: FileRead) -> None:
    """Record a file of an archive tree as read: its version, and the handles it holds."""
    store.repec.index(
        read.path,
        version=read.version,
        content_hash=read.content_hash,
        encoding=read.encoding,
        handles=read.handles,
        errors=read.errors,
    )


def _row(target: FeedTarget) -> dict:
    return {"kind": target.kind, "endpoint": target.endpoint, "params": target.params}


# --- observing ---


def observe_page(store: Store, config: Config, page: FeedPage) -> list[Observation]:
    """What each record of a page makes of its work (records whose work cannot be told are left
    out: a deleted record never seen)."""
    observed = (observe_record(store, config, page.scheme, fetched) for fetched in page.answers)
    return [o for o in observed if o is not None]


def observe_record(
    store: Store, config: Config, scheme: str, fetched: Fetched
) -> Observation | None:
    """The work a feed's record describes, found by the record's own identifier (`scheme`) or
    by the DOI and RePEc handle it carries, which it is linked to. A deleted record of a known
    work keeps the work and records that the source no longer has it; one never seen is
    skipped."""
    key, display = fetched.identifier, fetched.display or fetched.identifier
    about = {"source": fetched.source, "key": key, "scheme": scheme, "display": display}
    if fetched.status == "failed":  # a part of the listing that could not be read: a file
        return Failed(
            error=fetched.error, error_kind=fetched.error_kind, **{**about, "scheme": "file"}
        )
    if fetched.status == "not_found":
        work_id = store.works.find_work_id(scheme, key)
        log.info("feed.record_deleted", source=fetched.source, identifier=key, work_id=work_id)
        if work_id is None:
            return None
        answers = (Answer(fetched.source, key, "not_found"),)
        return Unchanged(work_id=work_id, answers=answers, **about)
    try:
        record = sources.SOURCES[fetched.source].parse(fetched.payload or {})
    except (BadPayload, ValueError) as exc:
        return Failed(error=str(exc), error_kind="bad_answer", **about)
    links = tuple(link for link in _links(record) if link[0] != scheme)
    work_id = store.works.find_work_id(scheme, key)
    for link_scheme, link_key in links:
        work_id = work_id or store.works.find_work_id(link_scheme, link_key)
    answer = answer_of(fetched, record)  # the merge takes this record, not a second parse
    before = store.works.latest_answers([work_id]).get(work_id, {}) if work_id else {}
    return observe_answers(
        store,
        config,
        (answer,) if answer else (),
        work_id=work_id,
        before=before,
        links=links,
        **about,
    )


def _links(record: Record) -> Iterable[tuple[str, str]]:
    """The identifiers a record carries, as (scheme, key); the parsers hand over only
    identifiers they checked, so one that does not parse is simply not linked."""
    try:
        if record.doi:
            yield ("doi", parse_doi(record.doi).key)
        if record.repec_handle:
            yield ("repec", parse_repec(record.repec_handle).key)
    except BadIdentifier:
        return
