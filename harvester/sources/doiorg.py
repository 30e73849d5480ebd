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
from harvester.models import Fetched, Record, Title
from harvester.sources.base import fetch_one, in_order
from harvester.sources.fields import (
    as_mapping,
    csl_authors,
    date_parts_to_iso,
    describe_json,
    first_inline_text,
    first_text,
    funders_of,
    inline_text,
    jats_to_text,
    landing_page,
    objects_in,
    references_of,
    role_contributors,
    scalar_text,
    stripped_text,
    typed_isbns,
    valid_issns,
    whole_number,
)

SOURCE = "doi.org"
#: Its section of config/harvester.toml.
CONFIG_SECTION = "doi"

#: Agencies' CSL carries their index time (Crossref's `indexed`): left out of the payload hash.
VOLATILE_KEYS = ("indexed", "score")

#: Bump when parse reads something new: stored payloads are then parsed again.
PARSER_VERSION = 2

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

#: CSL item types -> the harvester's (Crossref's) type names. The CSL names are those of the
#: CSL 1.0.2 schema (citation-style-language/schema, csl-data.json); each maps to the Crossref type
#: a registration agency deposits such a work as (a blog post is Crossref `posted-content`, as
#: Rogue Scholar's are; a magazine or newspaper article is deposited as `journal-article`). A CSL
#: type without a Crossref counterpart (software, webpage, ...) and Crossref's own names, which
#: Crossref's CSL already carries ("journal-article"), are kept as sent.
CSL_TYPES = {
    "article": "posted-content",  # CSL: a preprint, working paper or other unpublished article
    "article-journal": "journal-article",
    "article-magazine": "journal-article",
    "article-newspaper": "journal-article",
    "book": "book",
    "chapter": "book-chapter",
    "dataset": "dataset",
    "entry": "reference-entry",
    "entry-dictionary": "reference-entry",
    "entry-encyclopedia": "reference-entry",
    "paper-conference": "proceedings-article",
    "periodical": "journal",
    "post": "posted-content",
    "post-weblog": "posted-content",
    "posted-content": "posted-content",
    "report": "report",
    "standard": "standard",
    "thesis": "dissertation",
}

#: CSL's name variables of contributors other than authors; the variable is the role.
CONTRIBUTOR_ROLES = (
    "editor",
    "collection-editor",
    "container-author",
    "translator",
    "chair",
    "compiler",
    "contributor",
    "curator",
    "organizer",
    "editorial-director",
    "illustrator",
    "original-author",
    "reviewed-author",
)

#: CSL's identifier variables beside the DOI -> Record.other_ids schemes.
OTHER_IDS = {"PMID": "pmid", "PMCID": "pmcid"}

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


#: Where doi.org's content negotiation sends a request for CSL-JSON: the services of the agencies
#: that support it (Crossref, DataCite, mEDRA: citation.crosscite.org/docs.html). A redirect
#: anywhere else (a publisher's landing page) is not metadata and is not followed.
CSL_HOSTS = frozenset(
    {
        "api.crossref.org",
        "data.crossref.org",
        "api.datacite.org",
        "data.datacite.org",
        "data.crosscite.org",
        "data.medra.org",
    }
)


def fetch_csl(doi: Doi, client: HttpClient, base_url: str) -> Fetched:
    """`GET {base_url}/{doi}` asking for CSL-JSON, following doi.org's redirect to the agency
    (`CSL_HOSTS`; a redirect elsewhere fails the DOI, RedirectRefused).

    doi.org's own 404 and 400 answers are HTML pages: HttpClient maps them by status and never
    parses them (a 200 that is not JSON, e.g. a landing page, fails as BadPayload).
    """

    url = f"{base_url.rstrip('/')}/{quote_doi(doi.value)}"
    return fetch_one(
        doi,
        SOURCE,
        lambda: client.get_json(
            url,
            pool=POOL,
            source=SOURCE,
            headers={"Accept": CSL_JSON},
            identifier=doi.value,
            redirect_hosts=CSL_HOSTS,
        ),
        lambda item: (item, check_answer(item)),
    )


# --- parse (pure) ---


def check_answer(item: Any) -> str:
    """The shape check of a CSL-JSON answer before it is stored: the item's own DOI.
    BadPayload when it is not an object or names no DOI (an agency's JSON error, a list);
    `answered_doi` then checks it is the DOI asked (doi.org always redirects, to the agency,
    so a redirect says nothing of an alias here)."""
    if not isinstance(item, Mapping):
        raise BadPayload(
            f"doi.org: expected a CSL-JSON item with a DOI, got {describe_json(item)}",
            source=SOURCE,
        )
    doi = stripped_text(item.get("DOI"))
    if doi is None:
        raise BadPayload("doi.org: CSL-JSON item without a DOI", source=SOURCE)
    return doi


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
    kind = CSL_TYPES.get(csl_type, csl_type) if csl_type else None
    number = scalar_text(item.get("number"))
    return Record(
        source=SOURCE,
        doi=doi,
        type=kind,
        title=_text(item.get("title")),
        subtitle=_text(item.get("subtitle")),  # not CSL; Crossref's CSL sends it
        container_title=_text(item.get("container-title")),
        issn=_issns(item),
        volume=scalar_text(item.get("volume")),
        issue=scalar_text(item.get("issue")),
        pages=scalar_text(item.get("page")),
        # A dissertation in Crossref's CSL, as in its JSON, may carry its date only in `approved`.
        issued=_date(item.get("issued")) or _date(item.get("approved")),
        published_print=_date(item.get("published-print")),
        published_online=_date(item.get("published-online")),
        publisher=_publisher(item.get("publisher")),
        authors=tuple(csl_authors(item.get("author"))),
        abstract=(jats_to_text(abstract) or None) if isinstance(abstract, str) else None,
        language=stripped_text(item.get("language")),
        license=_license(item.get("license")),
        # The landing page: Crossref's CSL gives it in resource.primary.URL and a doi.org link in
        # URL, which says nothing the DOI does not (so it is left out); DataCite's CSL gives the
        # landing page in URL.
        url=landing_page(item),
        reference_count=whole_number(item.get("references-count", item.get("reference-count"))),
        cited_by_count=whole_number(item.get("is-referenced-by-count")),
        container_short_title=first_text(item.get("container-title-short"))
        or first_text(item.get("journalAbbreviation"))
        or first_text(item.get("short-container-title")),
        titles=_titles(item),
        contributors=role_contributors(item, CONTRIBUTOR_ROLES),
        funders=funders_of(item.get("funder")),  # Crossref's CSL keeps Crossref's `funder`
        isbn=typed_isbns(item.get("isbn-type"), item.get("ISBN")),
        series_title=first_text(item.get("collection-title")),
        series_number=scalar_text(item.get("collection-number")),
        report_number=number if kind == "report" else None,
        event_name=first_text(item.get("event-title")) or _event_name(item.get("event")),
        event_place=first_text(item.get("event-place")),
        event_date=_date(item.get("event-date")),
        publisher_place=first_text(item.get("publisher-place")),
        degree=first_text(item.get("genre")) if kind == "dissertation" else None,
        references=references_of(item.get("reference")),
        other_ids=_other_ids(item),
    )


def _publisher(value: Any) -> str | None:
    """CSL `publisher` is a string; DataCite's CSL sends an object, {"name": "DataCite"}."""
    if isinstance(value, Mapping):
        return inline_text(value.get("name"))
    return inline_text(value)


def _event_name(value: Any) -> str | None:
    """CSL 1.0.1's `event` (the event's name, a string; 1.0.2 calls it event-title), or Crossref's
    event object {"name": ...}."""
    if isinstance(value, Mapping):
        return inline_text(value.get("name"))
    return inline_text(value)


def _titles(item: Mapping) -> tuple[Title, ...]:
    """`original-title` (CSL and Crossref's CSL, which sends a list), and the short title
    (`title-short`, or `shortTitle` as older CSL writers spell it)."""
    out: list[Title] = []
    for field, kind in (
        ("original-title", "original"),
        ("title-short", "short"),
        ("shortTitle", "short"),
        ("short-title", "short"),
    ):
        value = item.get(field)
        for text in value if isinstance(value, list) else [value]:
            title = inline_text(text)
            if title and Title(title, kind) not in out:
                out.append(Title(title, kind))
    return tuple(out)


def _other_ids(item: Mapping) -> tuple[tuple[str, str], ...]:
    out = []
    for field, scheme in OTHER_IDS.items():
        value = scalar_text(item.get(field))
        if value:
            out.append((scheme, value))
    return tuple(out)


def _text(value: Any) -> str | None:
    """CSL sends titles as a string; Crossref's CSL sometimes as a list of strings."""
    return first_inline_text(value) if isinstance(value, list) else inline_text(value)


def _issns(item: Mapping) -> tuple[str, ...]:
    """CSL `ISSN` (a string, or Crossref's list), print first when Crossref's `issn-type` says
    which is which; each checked, one with a wrong check digit dropped."""
    typed = list(objects_in(item.get("issn-type")))
    typed.sort(key=lambda entry: entry.get("type") != "print")  # stable: print first
    value = item.get("ISSN")
    plain = value if isinstance(value, list) else [value]
    return valid_issns([entry.get("value") for entry in typed] + plain)


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
