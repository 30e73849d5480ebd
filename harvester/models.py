"""The records that flow between sources, merge and store: plain frozen dataclasses, no behaviour."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Author:
    """A contributor in byline order. `name` is set for organisations or names not split by the source."""

    given: str | None = None
    family: str | None = None
    name: str | None = None
    orcid: str | None = None  # bare form, 0000-0002-1825-0097
    affiliations: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Relation:
    """A typed link to another identifier, e.g. ("is-supplemented-by", "doi", "10.5061/dryad.b835k")."""

    type: str
    id_type: str
    id: str


@dataclass(frozen=True, slots=True)
class Update:
    """A correction, retraction or new version. `direction` is "update-to" or "updated-by"."""

    direction: str
    doi: str
    type: str  # correction, retraction, erratum, new_version, ... as the source spells it
    label: str | None = None
    date: str | None = None  # partial ISO date: "2020", "2020-01", "2020-01-30"


@dataclass(frozen=True, slots=True)
class Record:
    """What one source says about one work, in the harvester's canonical shape.

    Dates are partial ISO strings and stay as precise as the source is: "2015", "2015-08",
    "2015-08-04". Every field is optional because every source leaves some out.
    """

    source: str
    doi: str | None = None
    repec_handle: str | None = None
    type: str | None = None
    title: str | None = None
    subtitle: str | None = None
    container_title: str | None = None
    issn: tuple[str, ...] = ()
    volume: str | None = None
    issue: str | None = None
    pages: str | None = None
    issued: str | None = None
    published_print: str | None = None
    published_online: str | None = None
    publisher: str | None = None
    authors: tuple[Author, ...] = ()
    abstract: str | None = None
    language: str | None = None
    license: str | None = None
    url: str | None = None
    reference_count: int | None = None
    cited_by_count: int | None = None
    relations: tuple[Relation, ...] = ()
    updates: tuple[Update, ...] = ()
    # Carried by DataCite and OpenAlex records (works columns of the same names).
    subjects: tuple[str, ...] = ()  # keywords, subjects, OpenAlex topics' display names
    resource_version: str | None = None  # DataCite `version` (the dataset's, not our row version)
    openalex_id: str | None = None  # https://openalex.org/W...
    oa_status: str | None = (
        None  # OpenAlex open_access.oa_status: gold, green, hybrid, bronze, closed
    )
    oa_url: str | None = None  # best open-access location


@dataclass(frozen=True, slots=True)
class Fetched:
    """The outcome of asking one source about one identifier, before parsing.

    status is "ok" (payload holds the raw JSON object for the work), "not_found", or "failed"
    (error says why). `identifier` is the DOI key that was asked for; `resolved` is the identifier the
    source answered with, which differs for an alias.
    """

    source: str
    identifier: str
    status: str
    payload: dict | None = None
    error: str | None = None
    resolved: str | None = None
    extra: dict = field(default_factory=dict)
    error_kind: str | None = None  # for "failed": one of errors.FAILURE_KINDS
    display: str | None = None  # the identifier as a person would write it (a feed's record)
