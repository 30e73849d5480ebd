"""The person feeds of the OpenAlex and Crossref sources (issue 21), by the name the feed driver
keeps their watermarks under: one signature for all,

    (person, state, client, config) -> Iterator[PersonPage]

`person` as `Store.people.get` gives it ({"id", "name", "ids": [{"scheme", "key", ...}]}),
`state` the feed's FeedState (`since`: its watermark; `resume`: the cursor kept after the last
stored page), and every page lazily, one request each, so the driver stores a page before the
next is asked. A person without the identifier a feed needs (an OpenAlex author id, an ORCID
iD) gets no page. Neither feed's evidence is the person's own record (Candidate.own is False).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from harvester.config import Config
from harvester.http import HttpClient
from harvester.sources import crossref, openalex
from harvester.sources.base import FeedState, PersonPage

PersonPages = Callable[[Mapping[str, Any], FeedState, HttpClient, Config], Iterator[PersonPage]]

PERSON_PAGES: dict[str, PersonPages] = {
    # Works of their OpenAlex author ids; "orcid-in-authorship" or "openalex-author".
    "openalex": openalex.person_pages,
    # Works whose Crossref byline carries their ORCID iD; "crossref-orcid".
    "crossref": crossref.orcid_pages,
}
