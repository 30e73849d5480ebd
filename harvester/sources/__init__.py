"""The registry: every upstream source, once, and the few look-ups the pipeline makes of them.

A source is one module (see `base.py` for what it provides). Adding one is writing the module,
naming it in `SOURCES` below, and giving it its config defaults; nothing else in the house spells
a source's name. `tests/test_registry.py` checks that each one is configured, documented,
described for Datasette and replayed by the test upstream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from harvester.config import Config
from harvester.http import HttpClient, RateLimiter, make_session
from harvester.sources import crossref, datacite, doiorg, oaipmh, openalex, orcid, ras, repec
from harvester.sources.base import DoiSource, Feed, FeedState, PersonPage, Source

#: Every source, in the order `[merge] precedence` ranks them by default (after `local`).
SOURCES: Mapping[str, Source] = {
    s.SOURCE: s for s in (crossref, datacite, doiorg, repec, oaipmh, openalex)
}

#: Every feed, by its `[[feeds]] kind`.
FEEDS: Mapping[str, Feed] = {f.FEED_KIND: f for f in (crossref, repec, oaipmh)}


@dataclass(frozen=True, slots=True)
class PersonFeed:
    """A feed of the works of a person (or institution) by one of their ids (issue 21):
    `pages(id value, config, client, state)` yields PersonPages lazily, as `Feed.feed_pages`
    does, pulled by `pipeline.people.harvest_person`, which alone moves its watermark (the
    last page's, once the listing ended and every page is stored). `name` is the claims'
    `found_by`; `scheme` the kind of id it follows (harvester.people.SCHEMES). A feed that
    cannot be read raises (UpstreamError, BadPayload)."""

    name: str
    scheme: str
    pages: Callable[[str, Config, HttpClient, FeedState], Iterator[PersonPage]]


#: Every person feed, by name; each follows one scheme of id, and a scheme may have several
#: (Crossref's filter=orcid beside ORCID's own record). A new one (OpenAlex by author id or by
#: ROR, Crossref by ORCID) is one line here.
PERSON_FEEDS: Mapping[str, PersonFeed] = {
    f.name: f
    for f in (
        PersonFeed("orcid", "orcid", orcid.person_pages),
        PersonFeed("ras", "ras", ras.person_pages),
        PersonFeed("openalex", "openalex", openalex.author_pages),
        PersonFeed("crossref", "orcid", crossref.orcid_id_pages),  # a second opinion
    )
}

#: Sources asked about DOIs, by name.
DOI_SOURCES: Mapping[str, DoiSource] = {
    name: s for name, s in SOURCES.items() if getattr(s, "ROLE", None) in ("agency", "enrichment")
}

#: The agency that answers for registration agencies no other source claims (mEDRA, JaLC, ...).
FALLBACK_AGENCY: DoiSource = doiorg

#: The source of RePEc handles, and what a tracked handle is due at.
HANDLE_SOURCE: Source = repec


#: The names of the agencies' sources and of the enrichments, for the per-work look-ups.
AGENCY_NAMES = frozenset(n for n, s in DOI_SOURCES.items() if s.ROLE == "agency")
ENRICHMENT_NAMES = tuple(n for n, s in DOI_SOURCES.items() if s.ROLE == "enrichment")


def agency_source(ra: str) -> DoiSource:
    """The source that answers for a registration agency (doi.org's RA name, lower case)."""
    return next(
        (s for s in agencies() if ra in s.AGENCIES),
        FALLBACK_AGENCY,
    )


def agencies() -> list[DoiSource]:
    """The sources that hold a DOI's own record, one per registration agency (and the fallback)."""
    return [s for s in DOI_SOURCES.values() if s.ROLE == "agency"]


def enrichments() -> list[DoiSource]:
    """The sources asked about every DOI after its agency, adding what the agency lacks."""
    return [s for s in DOI_SOURCES.values() if s.ROLE == "enrichment"]


def due_slots() -> dict[str, tuple[str, ...]]:
    """What each scheme of tracked identifier is due at: a DOI at its agency (whichever it is)
    and at each enrichment, a RePEc handle at RePEc."""
    return {
        "doi": ("agency", *(s.SOURCE for s in enrichments())),
        "repec": (HANDLE_SOURCE.SOURCE,),
    }


def connect(config: Config) -> HttpClient:
    """The one HTTP client of a run: one pooled Session, and a rate limiter for every pool of
    every source, starting from the configured limits (Crossref's then follow what it announces)."""
    client = HttpClient(make_session(config), config.http)
    for source in SOURCES.values():
        for pool, limit in source.pools(config).items():
            client.add_limiter(pool, RateLimiter(pool, limit, pace=config.http.pace))
    return client
