"""The person feeds of the OpenAlex and Crossref sources (issue 21), in the two shapes a feed
driver may pull them in.

By the person (`PERSON_PAGES`), one signature for all:

    (person, state, client, config) -> Iterator[PersonPage]

`person` as `Store.people.get` gives it ({"id", "name", "ids": [{"scheme", "key", ...}]}): the
feed reads the ids it needs (their OpenAlex author ids, their ORCID iDs) and the others it
weighs the evidence with (their ORCID iD on an OpenAlex byline). By one id of theirs
(`ID_PAGES`: (name, scheme, pages)), as `sources.PERSON_FEEDS`'s PersonFeed takes a feed:

    (id value, config, client, state) -> Iterator[PersonPage]

the same walk for the person who carries only that id (so OpenAlex's evidence is then
"openalex-author": the person's ORCID iD is not known to it).

Either way `state` is the feed's FeedState (`since`: its watermark; `resume`: the cursor kept
after the last stored page), and the pages come lazily, one request each, so the driver stores
a page before the next is asked; a person without the id a feed needs gets no page. Neither
feed's evidence is the person's own record (Candidate.own is False): their claims wait.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from harvester.config import Config
from harvester.http import HttpClient
from harvester.sources import crossref, openalex
from harvester.sources.base import FeedState, PersonPage

PersonPages = Callable[[Mapping[str, Any], FeedState, HttpClient, Config], Iterator[PersonPage]]
IdPages = Callable[[str, Config, HttpClient, FeedState], Iterator[PersonPage]]

PERSON_PAGES: dict[str, PersonPages] = {
    # Works of their OpenAlex author ids: "orcid-in-authorship" or "openalex-author".
    "openalex": openalex.person_pages,
    # Works whose Crossref byline carries their ORCID iD: "crossref-orcid".
    "crossref": crossref.orcid_pages,
}


def _by_id(scheme: str, pages: PersonPages) -> IdPages:
    def id_pages(
        value: str, config: Config, client: HttpClient, state: FeedState
    ) -> Iterator[PersonPage]:
        person = {"id": 0, "name": "", "ids": [{"scheme": scheme, "key": value, "value": value}]}
        return pages(person, state, client, config)

    id_pages.__doc__ = f"{pages.__name__} for the person who carries only this {scheme} id."
    return id_pages


#: (feed name, the scheme of id it follows, its pages by one id): one PersonFeed each.
ID_PAGES: tuple[tuple[str, str, IdPages], ...] = (
    ("openalex", "openalex", _by_id("openalex", openalex.person_pages)),
    ("crossref", "orcid", _by_id("orcid", crossref.orcid_pages)),
)
