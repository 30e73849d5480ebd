"""Harvesting an OAI-PMH repository (RePEc's gateway, a Pure portal, Zenodo) as a feed: every
record changed since the last complete harvest, each one a work linked by its DOI and RePEc handle
to what other sources say, and the `from` of the next harvest moved only once this one is stored.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass

import structlog

from harvester.config import Config
from harvester.errors import (
    BadIdentifier,
    BadPayload,
    ConfigError,
    UpstreamError,
    failure_kind,
)
from harvester.http import HttpClient, RateLimiter
from harvester.identifiers import parse_doi, parse_repec
from harvester.pipeline.common import (
    Run,
    RunResult,
    canonical_payload,
    observe_answers,
)
from harvester.pipeline.dois import DoiResolver, write_linked_dois
from harvester.sources import oaipmh
from harvester.store import Answer, Observation, Outcome, Store

log = structlog.get_logger(__name__)

#: A badResumptionToken restarts the listing from the harvest's `from`; this many times at most.
MAX_RESTARTS = 2


@dataclass(frozen=True)
class OaiFeed:
    """One incremental harvest target: a repository's base URL, a metadata format and a set."""

    endpoint: str
    metadata_prefix: str = "oai_dc"
    set: str | None = None

    @property
    def key(self) -> str:
        """The feed's name in the `feeds` table."""
        return f"oai {self.endpoint} {self.metadata_prefix} {self.set or '*'}"

    @property
    def params(self) -> dict[str, str | None]:
        return {"metadata_prefix": self.metadata_prefix, "set": self.set}


def endpoint_url(name_or_url: str, config: Config) -> str:
    """A base URL as given, or the one `[oai.endpoints]` names."""
    if name_or_url.startswith(("http://", "https://")):
        return name_or_url
    try:
        return config.oai.endpoints[name_or_url]
    except KeyError:
        known = ", ".join(sorted(config.oai.endpoints)) or "none"
        raise ConfigError(
            f"{name_or_url!r} is neither an http(s) base URL nor a name in [oai.endpoints] "
            f"(known: {known})"
        ) from None


class _Stopped(Exception):
    """Raised inside the page callback to leave the listing when a stop was asked for."""


def harvest_oai(
    feed: OaiFeed,
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
    """Harvest `feed` from where its last complete harvest left it (`from_` to choose, `full` for
    everything), one page per transaction; with `resolve_dois`, the DOIs the records carry are
    resolved at their agency in the same run, so each work also has its agency's record.

    The feed's watermark moves only when the list was read to its end and every page stored. A
    badResumptionToken restarts the listing from the same `from` (pages already stored come back
    unchanged). A repository that fails (HTTP errors, an HTML page, a broken answer) fails the
    run's one feed: the reason is kept in `feeds.error` and reported as a failed outcome.
    """
    with (
        Run(store, command, on_outcome, config.watch) as run,
        closing(DoiResolver(store, client, config, refresh=False)) as resolver,
    ):
        ended = harvest_oai_feed(
            feed,
            run,
            resolver,
            client=client,
            config=config,
            stop=stop,
            from_=from_,
            full=full,
            resolve_dois=resolve_dois,
        )
        if ended == "stopped":
            run.interrupt()
    return run.result


def harvest_oai_feed(
    feed: OaiFeed,
    run: Run,
    resolver: DoiResolver,
    *,
    client: HttpClient,
    config: Config,
    stop: threading.Event | None = None,
    from_: str | None = None,
    full: bool = False,
    resolve_dois: bool = True,
) -> str:
    """One feed's harvest within a run (`harvest oai`, or a feed of `harvest run`): "complete"
    (the watermark moved), "stopped" (a stop request, between pages) or "failed"."""
    store = run.store
    pool = f"oai:{feed.endpoint}"
    if not client.has_limiter(pool):
        client.add_limiter(pool, RateLimiter(pool, config.oai.limit))
    known = store.feed(feed.key)
    start = from_ if from_ is not None else None if full else (known or {}).get("watermark")
    reader = _OaiReader(store, config)

    def on_page(page: oaipmh.OaiPage) -> None:
        observations = [o for r in page.records if (o := reader.observe(r)) is not None]
        run.write(observations)
        if resolve_dois:
            write_linked_dois(run, resolver, observations, config.chunk_size)
        if stop is not None and stop.is_set():
            raise _Stopped

    try:
        granularity = oaipmh.identify(feed.endpoint, client, pool=pool).granularity
        state = _list_restarting(feed, client, pool, start, granularity, on_page)
    except _Stopped:
        return "stopped"
    except (UpstreamError, BadPayload) as exc:
        message = str(exc)
        store.feed_failed(
            feed.key, kind="oai", endpoint=feed.endpoint, params=feed.params, error=message
        )
        run.write([_feed_failure(feed, message, failure_kind(exc))])
        return "failed"
    store.feed_completed(
        feed.key,
        kind="oai",
        endpoint=feed.endpoint,
        params=feed.params,
        watermark=state.next_from,
        run_id=run.result.run_id,
        records=state.records,
    )
    log.info("oai.feed_completed", feed=feed.key, next_from=state.next_from)
    return "complete"


def _list_restarting(
    feed: OaiFeed,
    client: HttpClient,
    pool: str,
    start: str | None,
    granularity: str | None,
    on_page: Callable[[oaipmh.OaiPage], None],
) -> oaipmh.HarvestState:
    """One complete listing; a badResumptionToken (an expired or forgotten token) asks the whole
    list again from `start`, up to MAX_RESTARTS times."""
    for attempt in range(MAX_RESTARTS + 1):
        try:
            return oaipmh.harvest(
                feed.endpoint,
                client,
                on_page=on_page,
                metadata_prefix=feed.metadata_prefix,
                set=feed.set,
                from_=start,
                granularity=granularity,
                pool=pool,
            )
        except oaipmh.BadResumptionToken:
            if attempt == MAX_RESTARTS:
                raise
            log.warning("oai.restarting", feed=feed.key, from_=start, attempt=attempt + 1)
    raise AssertionError("unreachable")


class _OaiReader:
    """Turns OAI records into observations of the works they describe."""

    def __init__(self, store: Store, config: Config) -> None:
        self.store, self.config = store, config

    def observe(self, record: oaipmh.OaiRecord) -> Observation | None:
        """The work a record describes, keyed by its OAI identifier and linked to its DOI and
        RePEc handle. A deleted record of a known work keeps the work and records that the
        repository no longer has it; one never seen is skipped."""
        identifier = record.identifier
        if record.deleted:
            work_id = self.store.find_work_id("oai", identifier)
            log.info("oai.deleted", identifier=identifier, work_id=work_id)
            if work_id is None:
                return None
            return _about(
                identifier,
                status="unchanged",
                work_id=work_id,
                answers=(Answer(oaipmh.SOURCE, identifier, "not_found"),),
            )
        try:
            parsed = oaipmh.to_record(record)
        except (BadPayload, ValueError) as exc:
            return _about(identifier, status="failed", error=str(exc), error_kind="bad_answer")
        links = _links(parsed.doi, parsed.repec_handle)
        work_id = self.store.find_work_id("oai", identifier)
        for scheme, key in links:
            work_id = work_id or self.store.find_work_id(scheme, key)
        text, digest = canonical_payload(
            oaipmh.record_payload(record), oaipmh.VOLATILE_KEYS, oaipmh.PARSER_VERSION
        )
        before = self.store.latest_answers([work_id]).get(work_id, {}) if work_id else {}
        return observe_answers(
            self.store,
            self.config,
            (Answer(oaipmh.SOURCE, identifier, "ok", text, digest),),
            work_id=work_id,
            before=before,
            source=oaipmh.SOURCE,
            key=identifier,
            display=identifier,
            scheme="oai",
            links=links,
        )


def _links(doi: str | None, handle: str | None) -> tuple[tuple[str, str], ...]:
    links = []
    try:
        if doi:
            links.append(("doi", parse_doi(doi).key))
        if handle:
            links.append(("repec", parse_repec(handle).key))
    except BadIdentifier:
        pass  # the parsers hand over only identifiers they checked; nothing to link otherwise
    return tuple(links)


def _about(identifier: str, **fields) -> Observation:
    """An observation of the work an OAI identifier names, made without merging."""
    return Observation(
        source=oaipmh.SOURCE, key=identifier, scheme="oai", display=identifier, **fields
    )


def _feed_failure(feed: OaiFeed, message: str, kind: str) -> Observation:
    """The run's one failure when the feed itself could not be read to its end."""
    return Observation(
        source=oaipmh.SOURCE,
        key="",
        scheme="oai",
        display=feed.endpoint,
        status="failed",
        error=message,
        error_kind=kind,
    )
