"""doi.org content negotiation: CSL-JSON for DOIs registered with any agency.

Crossref, DataCite, mEDRA and JaLC each have their own API, but all of them answer
`GET https://doi.org/{doi}` with `Accept: application/vnd.citationstyles.csl+json`: doi.org
redirects to the registration agency's service, which answers with one CSL-JSON item. This is how
DOIs of agencies without a source of their own (mEDRA, JaLC, ...) are read.

The parse section is pure, so the module imports without network access. Shapes were written
against the recorded CSL bodies in ../shared/fixtures/csl/ (Crossref's flavour of CSL-JSON, which
keeps Crossref's type names and adds fields such as `ISSN` lists and `references-count`) and the
CSL-JSON schema (citation-style-language/schema, csl-data.json).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from harvester.config import Config, PoolLimit
from harvester.errors import BadPayload
from harvester.http import HttpClient
from harvester.identifiers import Doi, quote_doi
from harvester.models import Fetched, Record
from harvester.sources.base import fetch_one, in_order
from harvester.sources.fields import (
    as_mapping,
    csl_authors,
    date_parts_to_iso,
    describe_json,
    first_inline_text,
    inline_text,
    jats_to_text,
    objects_in,
    scalar_text,
    stripped_text,
    unique_issns,
    whole_number,
)

SOURCE = "doi.org"
#: Its section of config/harvester.toml.
CONFIG_SECTION = "doi"

#: Agencies' CSL carries their index time (Crossref's `indexed`): left out of the payload hash.
VOLATILE_KEYS = ("indexed", "score")

#: Bump when parse reads something new: stored payloads are then parsed again.
PARSER_VERSION = 1

#: The Accept type doi.org and every agency behind it understand for CSL-JSON.
CSL_JSON = "application/vnd.citationstyles.csl+json"

#: Rate-limiter pool of the content-negotiation requests.
POOL = "doi:csl"
#: Rate-limiter pool of the "which agency?" look-ups (`routing`).
RA_POOL = "doi:ra"

#: The agency of every DOI whose registration agency has no source of its own (mEDRA, JaLC, ...):
#: `harvester.sources.FALLBACK_AGENCY`, so it claims no agency by name.
ROLE = "agency"
AGENCIES: frozenset[str] = frozenset()

#: CSL item types -> the harvester's (Crossref's) type names. Anything else is kept as sent:
#: Crossref's CSL already carries its own names ("journal-article"), which pass through unchanged.
CSL_TYPES = {
    "article-journal": "journal-article",
    "paper-conference": "proceedings-article",
    "chapter": "book-chapter",
    "book": "book",
    "dataset": "dataset",
    "report": "report",
    "thesis": "dissertation",
    "posted-content": "posted-content",
    "article": "posted-content",
}

_LEADING_YEAR = re.compile(r"\s*([0-9]{4})(?![0-9])")


# --- fetch (I/O) ---


def pools(config: Config) -> dict[str, PoolLimit]:
    return {POOL: config.doi.limit, RA_POOL: config.doi.limit}


def fetch(dois: Iterable[Doi], client: HttpClient, config: Config) -> Iterator[list[Fetched]]:
    """One content-negotiation request a DOI, as many in flight as the pool allows."""
    settings = config.doi
    return in_order(
        lambda doi: [fetch_csl(doi, client, settings.url)], dois, settings.concurrency, SOURCE
    )


def fetch_csl(doi: Doi, client: HttpClient, base_url: str) -> Fetched:
    """`GET {base_url}/{doi}` asking for CSL-JSON; requests follows doi.org's redirect to the agency.

    doi.org's own 404 and 400 answers are HTML pages: HttpClient maps them by status and never
    parses them (a 200 that is not JSON, e.g. a landing page, fails as BadPayload).
    """

    def read(item: Any) -> tuple[Mapping[str, Any], str]:
        if not isinstance(item, Mapping) or stripped_text(item.get("DOI")) is None:
            raise BadPayload(
                f"doi.org: expected a CSL-JSON item with a DOI, got {describe_json(item)}"
                if not isinstance(item, Mapping)
                else "doi.org: CSL-JSON item without a DOI",
                source=SOURCE,
                identifier=doi.value,
            )
        return item, item["DOI"].strip()

    url = f"{base_url.rstrip('/')}/{quote_doi(doi.value)}"
    return fetch_one(
        doi,
        SOURCE,
        lambda: client.get_json(
            url, pool=POOL, source=SOURCE, headers={"Accept": CSL_JSON}, identifier=doi.value
        ),
        read,
    )


# --- parse (pure) ---


def parse(item: Mapping[str, Any]) -> Record:
    """A CSL-JSON item -> Record.

    Every field is optional and a field of the wrong type counts as missing; only an item that is
    not an object, or has no DOI, raises BadPayload.
    """
    if not isinstance(item, Mapping):
        raise BadPayload(
            f"doi.org: expected a CSL-JSON item, got {describe_json(item)}", source=SOURCE
        )
    doi = stripped_text(item.get("DOI"))
    if doi is None:
        raise BadPayload("doi.org: CSL-JSON item has no DOI", source=SOURCE)

    abstract = item.get("abstract")
    csl_type = stripped_text(item.get("type"))
    return Record(
        source=SOURCE,
        doi=doi,
        type=CSL_TYPES.get(csl_type, csl_type) if csl_type else None,
        title=_text(item.get("title")),
        subtitle=_text(item.get("subtitle")),  # not CSL; Crossref's CSL sends it
        container_title=_text(item.get("container-title")),
        issn=_issns(item.get("ISSN")),
        volume=scalar_text(item.get("volume")),
        issue=scalar_text(item.get("issue")),
        pages=scalar_text(item.get("page")),
        issued=_date(item.get("issued")),
        published_print=_date(item.get("published-print")),
        published_online=_date(item.get("published-online")),
        publisher=inline_text(item.get("publisher")),
        authors=tuple(csl_authors(item.get("author"))),
        abstract=(jats_to_text(abstract) or None) if isinstance(abstract, str) else None,
        language=stripped_text(item.get("language")),
        license=_license(item.get("license")),
        url=stripped_text(item.get("URL")),
        reference_count=whole_number(item.get("references-count", item.get("reference-count"))),
        cited_by_count=whole_number(item.get("is-referenced-by-count")),
    )


def _text(value: Any) -> str | None:
    """CSL sends titles as a string; Crossref's CSL sometimes as a list of strings."""
    return first_inline_text(value) if isinstance(value, list) else inline_text(value)


def _issns(value: Any) -> tuple[str, ...]:
    return unique_issns(value if isinstance(value, list) else [value])


def _date(value: Any) -> str | None:
    """A CSL date: "date-parts", else a leading year of "raw" or "literal" ("2019-03?", "Spring 2019"
    gives nothing: only a year that starts the text is trusted)."""
    date = as_mapping(value)
    if date is None:
        return None
    iso = date_parts_to_iso(date)
    if iso:
        return iso
    for key in ("raw", "literal"):
        text = date.get(key)
        match = _LEADING_YEAR.match(text) if isinstance(text, str) else None
        if match and int(match.group(1)) >= 1:
            return match.group(1)
    return None


def _license(value: Any) -> str | None:
    """CSL `license` is a string; Crossref's CSL sends a list of {"URL": ...}: the first URL."""
    if isinstance(value, str):
        return stripped_text(value)
    for entry in objects_in(value):
        url = stripped_text(entry.get("URL"))
        if url:
            return url
    return None
