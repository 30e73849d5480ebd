"""Harvesting the people followed (issue 21): the feed driver of person feeds, the one place a
person feed's watermark moves.

Each id a person carries is followed by the person feeds of its scheme (`sources.PERSON_FEEDS`:
their ORCID record, their RAS record, ...). A feed lists candidates (the works it ties to them,
with the evidence) a page at a time. For each page the driver stores the records the page
carries whole, harvests the candidates' works that are not stored yet (a RePEc handle from the
archive tree, with the DOI its record carries; a DOI at its agency), then, in one transaction,
offers one claim per (person, work) and accepts those the person's own record backs
(`[people] auto_accept_own`), the accepted works on the watch list. A rejected claim is never
offered again. The watermark moves only once the listing has ended and every candidate's work
is stored or known not to exist: a lookup that failed leaves it, and the next run asks again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from harvester import sources
from harvester.config import Config
from harvester.errors import (
    BadIdentifier,
    BadPayload,
    ConfigError,
    NotFound,
    UpstreamError,
    failure_kind,
)
from harvester.http import HttpClient
from harvester.identifiers import Doi, RepecHandle
from harvester.models import Failed
from harvester.pipeline.common import Run, RunResult, chunks
from harvester.pipeline.dois import (
    DoiResolver,
    resolve_due_links,
    resolving_run,
    write_linked_dois,
)
from harvester.pipeline.feeds import observe_record
from harvester.pipeline.repec import RepecReader
from harvester.sources import repec
from harvester.sources.base import Candidate, FeedState, PersonPage
from harvester.store import Outcome, Store
from harvester.store.agencies import AGENCY_SOURCES
from harvester.store.people import followed, person_feed_key

log = structlog.get_logger(__name__)


def harvest_people(
    people: Sequence[int] | None = None,
    *,
    store: Store,
    client: HttpClient,
    config: Config,
    command: str,
    on_outcome: Callable[[Outcome], None] | None = None,
    stop: threading.Event | None = None,
    tree: repec.ArchiveTree | None = None,
) -> RunResult:
    """`harvest person harvest`: the feeds of these people (their numbers; None: everyone on
    record), in one run. A DOI a person's record lists that no agency knows is news about the
    record, not a failure of the command; a feed that could not be read is."""
    with resolving_run(store, client, config, command, on_outcome) as (run, resolver):
        stopping = (lambda: False) if stop is None else stop.is_set
        resolve_due_links(run, resolver, config.chunk_size, stopping=stopping)
        if not harvest_people_in(
            run, resolver, client, config, people, stopping=stopping, tree=tree
        ):
            run.interrupt()
    run.result.not_found_fails = False
    return run.result


def harvest_people_in(
    run: Run,
    resolver: DoiResolver,
    client: HttpClient,
    config: Config,
    people: Sequence[int] | None = None,
    *,
    stopping: Callable[[], bool] = lambda: False,
    tree: repec.ArchiveTree | None = None,
) -> bool:
    """Within a run (`harvest person harvest`, `harvest run`): every feed of every person (or
    of `people`). False when `stopping()` ended it between two pages."""
    listing = run.store.people.listing()
    if people is not None:
        wanted = set(people)
        listing = [p for p in listing if p["id"] in wanted]
    handles = HandleReader(run.store, client, config, tree)
    for person in listing:
        if stopping():
            return False
        ended = harvest_person(
            person, run, resolver, client, config, stopping=stopping, handles=handles
        )
        if ended == "stopped":
            return False
    return True


def harvest_person(
    person: Mapping[str, Any],
    run: Run,
    resolver: DoiResolver,
    client: HttpClient,
    config: Config,
    *,
    stopping: Callable[[], bool] = lambda: False,
    handles: HandleReader | None = None,
) -> str:
    """Every person feed of every id of one person (`People.get`'s shape): "complete",
    "stopped" (between two pages) or "failed" (some feed failed; the others went on). An id
    whose own record is refused (an ORCID iD deactivated, deprecated or unknown) is not
    followed by the feeds after it either (Crossref's second opinion on a dead iD is no news)."""
    handles = handles or HandleReader(run.store, client, config, None)
    ended = "complete"
    for person_id in person["ids"]:
        for feed in sources.PERSON_FEEDS.values():
            if feed.scheme != person_id["scheme"]:
                continue
            outcome = harvest_person_feed(
                person, feed, person_id, run, resolver, client, config, stopping, handles
            )
            if outcome == "stopped":
                return "stopped"
            if outcome in ("failed", "refused"):
                ended = "failed"
            if outcome == "refused":
                break
    return ended


def harvest_person_feed(
    person: Mapping[str, Any],
    feed: sources.PersonFeed,
    person_id: Mapping[str, Any],
    run: Run,
    resolver: DoiResolver,
    client: HttpClient,
    config: Config,
    stopping: Callable[[], bool],
    handles: HandleReader,
) -> str:
    """One feed of one id of a person, pulled page by page; its watermark moved here alone.
    "complete", "stopped", "failed", or "refused" (the id's record is not there to read)."""
    store = run.store
    key = person_feed_key(feed.name, person_id["scheme"], person_id["key"])
    row = {
        "kind": feed.name,
        "endpoint": followed(person_id["scheme"], person_id["key"]),
        "params": {"person": person["id"]},
    }
    state = store.feeds.get(key)
    start = state.get("watermark") if state else None
    display = f"person {person['id']} {feed.name} {person_id['value']}"
    log.info("person_feed.started", person=person["id"], feed=feed.name, id=person_id["value"])
    last: PersonPage | None = None
    complete, candidates = True, 0
    try:
        known = FeedState(start, state.get("cursor") if state else None)
        for page in feed.pages(person_id["value"], config, client, known):
            stored = store_person_page(run, resolver, handles, person, feed, page, config)
            complete = complete and stored.complete
            candidates += len(page.candidates)
            # Resume after a page only while every page so far is stored whole: a page with a
            # work that could not be harvested is read again on the next run.
            if page.resume is not None and complete:
                store.feeds.progress(key, **row, cursor=page.resume)
            last = page
            if stopping():
                log.warning("person_feed.paused", person=person["id"], feed=feed.name)
                return "stopped"
    except (UpstreamError, BadPayload, ConfigError, BadIdentifier) as exc:
        if state:  # a feed never read writes nothing but the run's failure
            store.feeds.failed(key, **row, error=str(exc))
        failure = Failed(
            source=feed.name,
            key="",
            scheme="feed",
            display=display,
            error=str(exc),
            error_kind=failure_kind(exc),
        )
        run.write([failure])
        return "refused" if isinstance(exc, NotFound) else "failed"
    if not complete:
        why = "a work it lists could not be harvested; asked again next run"
        store.feeds.failed(key, **row, error=why)
        log.warning("person_feed.incomplete", person=person["id"], feed=feed.name, reason=why)
        return "failed"
    watermark = last.watermark if last is not None else start
    store.feeds.completed(
        key, **row, watermark=watermark, run_id=run.result.run_id, records=candidates
    )
    log.info(
        "person_feed.completed",
        person=person["id"],
        feed=feed.name,
        candidates=candidates,
        watermark=watermark,
    )
    return "complete"


@dataclass(frozen=True, slots=True)
class PageStored:
    """What one page of a person feed made of the claim queue."""

    complete: bool  # every candidate's work stored, or known not to exist
    new: int = 0  # claims offered for the first time
    accepted: int = 0  # accepted now, backed by the person's own record
    rejected: int = 0  # found again, rejected before: not offered
    missing: int = 0  # candidates with no work (not found, or their lookup failed)


def store_person_page(
    run: Run,
    resolver: DoiResolver,
    handles: HandleReader,
    person: Mapping[str, Any],
    feed: sources.PersonFeed,
    page: PersonPage,
    config: Config,
) -> PageStored:
    """The records the page carries, the works of its candidates not yet stored, then its
    claims in one transaction."""
    store = run.store
    failed_before = run.result.counts.failed
    if page.answers:
        observed = (observe_record(store, config, "doi", fetched) for fetched in page.answers)
        observations = [o for o in observed if o is not None]
        write_linked_dois(run, resolver, observations, config.chunk_size)
    harvest_candidates(run, resolver, handles, page.candidates, config)
    complete = run.result.counts.failed == failed_before
    new = accepted = rejected = missing = 0
    auto = config.people.auto_accept_own
    with store.transaction():
        for candidate in page.candidates:
            scheme = scheme_of(candidate)
            work_id = store.works.find_work_id(scheme, candidate.identifier.key)
            if work_id is None:
                missing += 1
                continue
            offered = store.claims.offer(person["id"], work_id, feed.name, candidate.evidence)
            if offered.outcome == "rejected":
                rejected += 1
                continue
            new += offered.outcome == "new"
            if offered.status == "accepted":  # accepted before: what it gained is tracked too
                store.claims.watch_work(offered.claim_id, store.now())
            elif auto and candidate.own and offered.status == "pending":
                reason = f"auto-accepted: their own {feed.name} record ({candidate.evidence})"
                store.claims.accept_own(offered.claim_id, reason)
                accepted += 1
    stored = PageStored(complete, new, accepted, rejected, missing)
    log.info(
        "person_feed.page_stored",
        person=person["id"],
        feed=feed.name,
        candidates=len(page.candidates),
        claims_new=new,
        accepted=accepted,
        rejected_before=rejected,
        without_work=missing,
    )
    return stored


def harvest_candidates(
    run: Run,
    resolver: DoiResolver,
    handles: HandleReader,
    candidates: Iterable[Candidate],
    config: Config,
) -> None:
    """Store the works of the candidates not stored yet: RePEc handles first, from the archive
    tree (the DOIs their records carry resolved and linked with them), then the DOIs no
    agency has answered for yet, at their agency. A work already stored is left to the watch
    list and the other feeds: a rerun asks only for what is new."""
    candidates = list(candidates)
    store = run.store
    wanted_handles = _unique(
        c.identifier
        for c in candidates
        if isinstance(c.identifier, RepecHandle)
        and store.works.find_work_id("repec", c.identifier.key) is None
    )
    for chunk in chunks(wanted_handles, config.chunk_size):
        handles.harvest(run, resolver, chunk)
    wanted_dois = _unique(
        c.identifier
        for c in candidates
        if isinstance(c.identifier, Doi) and not agency_answered(store, c.identifier.key)
    )
    for chunk in chunks(wanted_dois, config.chunk_size):
        run.write(resolver.resolve(chunk, {d.key: d.value for d in chunk}))


class HandleReader:
    """The archive tree a run reads RePEc handles from, opened at the first handle: without
    `[repec] url`, each handle fails saying so (the person's other candidates go on)."""

    def __init__(
        self, store: Store, client: HttpClient, config: Config, tree: repec.ArchiveTree | None
    ) -> None:
        self.store, self.client, self.config, self.tree = store, client, config, tree
        self._reader: RepecReader | None = None

    def harvest(self, run: Run, resolver: DoiResolver, chunk: list[RepecHandle]) -> None:
        try:
            if self._reader is None:
                tree = self.tree or repec.open_tree(self.config.repec.url, self.client)
                self._reader = RepecReader(tree, self.store, self.config)
        except ConfigError as exc:
            run.write(
                [
                    Failed(
                        source=repec.SOURCE,
                        key=h.key,
                        scheme="repec",
                        display=h.value,
                        error=str(exc),
                    )
                    for h in chunk
                ]
            )
            return
        write_linked_dois(run, resolver, self._reader.handles(chunk), self.config.chunk_size)


def agency_answered(store: Store, key: str) -> bool:
    """Whether the DOI's agency has answered for it (its record stored): nothing to ask."""
    marks = ",".join("?" * len(AGENCY_SOURCES))
    row = store.conn.execute(
        f"SELECT 1 FROM source_records WHERE identifier = ? AND source IN ({marks}) LIMIT 1",
        (key, *AGENCY_SOURCES),
    ).fetchone()
    return row is not None


def scheme_of(candidate: Candidate) -> str:
    """The scheme a candidate's work is found by."""
    return "doi" if isinstance(candidate.identifier, Doi) else "repec"


def _unique(identifiers: Iterable[Any]) -> list[Any]:
    return list({i.key: i for i in identifiers}.values())
