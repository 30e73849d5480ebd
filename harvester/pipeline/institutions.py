"""Harvesting the institutions followed (issue 21): OpenAlex's listing of each institution's
works by ROR id, pulled page by page like any feed, its watermark moved here alone.

Every work of the institution is stored, as a feed's records are (with its agency's record). A
work is also a claim for a person of the institution (one whose ids carry its ROR id) only
where its byline names them beside the institution: their ORCID iD, or a name that fits theirs
(`sources.openalex.institution_pages`). Such a claim is never the person's own record, so it
waits for `harvest claims`; a rejected one is never offered again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import structlog

from harvester.config import Config
from harvester.errors import BadPayload, ConfigError, UpstreamError, failure_kind
from harvester.http import HttpClient
from harvester.models import Failed
from harvester.pipeline.common import Run, RunResult
from harvester.pipeline.dois import DoiResolver, resolve_due_links, resolving_run
from harvester.pipeline.feeds import pull_pages
from harvester.sources import openalex
from harvester.sources.base import Candidate, FeedPage, FeedState, FeedTarget
from harvester.store import Outcome, Store

log = structlog.get_logger(__name__)

#: The claims' `found_by` of what the institution feed offers.
FEED_NAME = "openalex"


def institution_feed_key(ror_key: str) -> str:
    """The `feeds` row of an institution's OpenAlex listing: "institution:openalex:05gq02987"."""
    return f"institution:{FEED_NAME}:{ror_key}"


def harvest_institutions(
    rors: Sequence[str] | None = None,
    *,
    store: Store,
    client: HttpClient,
    config: Config,
    command: str,
    on_outcome: Callable[[Outcome], None] | None = None,
    stop: threading.Event | None = None,
) -> RunResult:
    """`harvest institution harvest`: the listings of these institutions (their bare ROR ids;
    None: every one followed), in one run of their own."""
    with resolving_run(store, client, config, command, on_outcome) as (run, resolver):
        stopping = (lambda: False) if stop is None else stop.is_set
        resolve_due_links(run, resolver, config.chunk_size, stopping=stopping)
        listing = store.institutions.listing()
        if rors is not None:
            listing = [i for i in listing if i["key"] in set(rors)]
        for institution in listing:
            ended = harvest_institution(institution, run, resolver, client, config, stopping)
            if ended == "stopped":
                run.interrupt()
                break
    return run.result


def harvest_institution(
    institution: Mapping[str, Any],
    run: Run,
    resolver: DoiResolver,
    client: HttpClient,
    config: Config,
    stopping: Callable[[], bool] = lambda: False,
) -> str:
    """One institution's listing within a run: "complete" (the watermark moved), "stopped"
    (`stopping()` said so after a stored page) or "failed" (one failed outcome of the run)."""
    store = run.store
    key = institution_feed_key(institution["key"])
    target = FeedTarget(
        key=key,
        kind=f"institution:{FEED_NAME}",
        endpoint=config.openalex.url,
        params={"ror": institution["ror"]},
        display=f"institution {institution['ror']}",
    )
    row = {"kind": target.kind, "endpoint": target.endpoint, "params": target.params}
    state = store.feeds.get(key) or {}
    start = state.get("watermark")
    people = store.people.of_institution(institution["key"])
    log.info("institution.started", ror=institution["ror"], people=len(people))
    pages = openalex.institution_pages(
        institution, people, FeedState(start, state.get("cursor")), client, config
    )
    last: FeedPage | None = None
    records = claims = 0
    try:
        for page, matched in _as_feed_pages(pages):
            _, last, stored = pull_pages([page], run, resolver, config, target=target)
            records += stored
            claims += offer_claims(store, matched)
            if stopping():
                log.warning("institution.paused", ror=institution["ror"])
                return "stopped"
    except (UpstreamError, BadPayload, ConfigError) as exc:
        store.feeds.failed(key, **row, error=str(exc))
        failure = Failed(
            source=FEED_NAME,
            key="",
            scheme="feed",
            display=target.display,
            error=str(exc),
            error_kind=failure_kind(exc),
        )
        run.write([failure])
        return "failed"
    watermark = last.watermark if last is not None else start
    store.feeds.completed(
        key, **row, watermark=watermark, run_id=run.result.run_id, records=records
    )
    log.info("institution.completed", ror=institution["ror"], records=records, claims=claims)
    return "complete"


def _as_feed_pages(
    pages: Iterator[openalex.InstitutionPage],
) -> Iterator[tuple[FeedPage, list[tuple[int, Candidate]]]]:
    for listing in pages:
        page = listing.page
        yield (
            FeedPage(
                scheme="doi", answers=page.answers, resume=page.resume, watermark=page.watermark
            ),
            listing.claims,
        )


def offer_claims(store: Store, matched: Sequence[tuple[int, Candidate]]) -> int:
    """Offer each (person number, candidate) a page matched, in one transaction, once its work
    is stored (a work that could not be stored is offered when it is, on a later run). Returns
    how many claims are new."""
    new = 0
    with store.transaction():
        for person_id, candidate in matched:
            work_id = store.works.find_work_id("doi", candidate.identifier.key)
            if work_id is None:
                continue
            offered = store.claims.offer(person_id, work_id, FEED_NAME, candidate.evidence)
            new += offered.outcome == "new"
    return new
