"""The records that flow between sources, merge and store: plain dataclasses, no I/O.

What a source says (Record, Author, Fetched), what the pipeline hands the store to write (an
Observation: Merged, Unchanged, NotFound, Failed or LocalEdit; Answer, Tried, MatchCandidate,
MatchLink) and what the store gives back (Outcome, RunCounts, StoredAnswer, DueItem, Snapshot)
live here, apart from the code that reads or writes
them, so that a module can name them without importing the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harvester import jsontext

if TYPE_CHECKING:  # merge imports this module: these names serve the annotations only
    from harvester.merge import Conflict, Contribution, Value, WorkValues


@dataclass(frozen=True, slots=True)
class Author:
    """A contributor in byline order. `name` is set for organisations or names not split by the source."""

    given: str | None = None
    family: str | None = None
    name: str | None = None
    orcid: str | None = None  # bare form, 0000-0002-1825-0097
    affiliations: tuple[str, ...] = ()
    repec_id: str | None = None  # the RePEc author's short id, e.g. "pya14" (ReDIF Author-Person)
    # None for an author of the work; for another contributor (Record.contributors) what they
    # did, in CSL's terms: editor, translator, chair, contributor, ...
    role: str | None = None


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
    source: str | None = None  # who asserted it: "publisher", "retraction-watch", ...
    record_id: str | None = None  # the asserting database's own id (a Retraction Watch record)


#: The kinds of integrity notice, in the order a digest shows them (worst first). Sources'
#: own words are folded into these by `harvester.integrity`.
NOTICE_KINDS = (
    "retraction",
    "partial_retraction",
    "withdrawal",
    "removal",
    "expression_of_concern",
    "correction",
    "erratum",
    "reinstatement",
    "new_version",
    "published_version",
    "other",
)


@dataclass(frozen=True, slots=True)
class Notice:
    """Something said about a work's standing: `kind` (one of NOTICE_KINDS), who asserted it
    (`asserted_by`: "publisher", "retraction-watch", "openalex", ...), the harvester source it
    was read from, the notice's own DOI and the asserting database's record id where there
    are, its date (partial ISO) and a line of detail (a reason, "Published in ...")."""

    kind: str
    asserted_by: str
    source: str
    notice_doi: str | None = None
    record_id: str | None = None
    date: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class Title:
    """Another title of a work: `kind` is "alternative", "translated", "original" or "short"."""

    title: str
    kind: str
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Funder:
    """Who paid for the work: a name, the funder's DOI (Open Funder Registry) or ROR id, and the
    award numbers."""

    name: str | None = None
    doi: str | None = None
    ror: str | None = None
    awards: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Isbn:
    """An ISBN in its 13-digit form, "print" or "electronic" (None when unsaid); for a chapter,
    the book's."""

    isbn: str
    kind: str | None = None


@dataclass(frozen=True, slots=True)
class Reference:
    """One entry of a work's reference list: its DOI when known, else the text as printed."""

    doi: str | None = None
    unstructured: str | None = None
    key: str | None = None  # the source's own label for the entry


@dataclass(frozen=True, slots=True)
class FileLink:
    """A link to the full text or a file of the work (ReDIF File-URL, an OAI dc:identifier)."""

    url: str
    format: str | None = None  # a media type, "application/pdf"
    label: str | None = None  # what the source calls it: "Full text", "Revised version"


@dataclass(frozen=True, slots=True)
class Abstract:
    """An abstract in a language; a record's own language's one is `Record.abstract`."""

    text: str
    language: str | None = None


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
    # OpenAlex `is_retracted`: an integrity notice (harvester.integrity), not a works column.
    retracted: bool | None = None
    # Carried by DataCite and OpenAlex records (works columns of the same names).
    subjects: tuple[str, ...] = ()  # keywords, subjects, OpenAlex topics' display names
    resource_version: str | None = None  # DataCite `version` (the dataset's, not our row version)
    openalex_id: str | None = None  # https://openalex.org/W...
    oa_status: str | None = (
        None  # OpenAlex open_access.oa_status: gold, green, hybrid, bronze, closed
    )
    oa_url: str | None = None  # best open-access location
    # What citing and cataloguing need beyond the basics (issue 16).
    container_short_title: str | None = None  # the journal's abbreviation
    titles: tuple[Title, ...] = ()  # alternative, translated, original titles
    abstracts: tuple[Abstract, ...] = ()  # in the other languages the source gives
    contributors: tuple[Author, ...] = ()  # editors, translators, chairs: each with its role
    funders: tuple[Funder, ...] = ()
    isbn: tuple[Isbn, ...] = ()
    series_title: str | None = None
    series_number: str | None = None
    report_number: str | None = None  # a working paper's number in its series
    event_name: str | None = None  # the conference of a proceedings paper
    event_place: str | None = None
    event_date: str | None = None
    publisher_place: str | None = None
    degree: str | None = None  # a thesis's degree; its institution is the publisher (CSL's way)
    references: tuple[Reference, ...] = ()
    other_ids: tuple[tuple[str, str], ...] = ()  # (scheme, value): pmid, pmcid, arxiv, urn, handle
    jel_codes: tuple[str, ...] = ()
    publication_status: str | None = None  # ReDIF Publication-Status: where it was published
    revised: str | None = None  # the date of the latest revision
    files: tuple[FileLink, ...] = ()


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


#: What became of one requested identifier (`Outcome.status`, a column each of `runs`).
OUTCOMES = ("created", "changed", "unchanged", "not_found", "failed")


@dataclass(frozen=True, slots=True)
class Answer:
    """What one source answered about one identifier: kept in `source_records`, once per distinct
    payload. status is "ok" (payload and its hash given) or "not_found"."""

    source: str
    identifier: str
    status: str
    payload: str | None = None
    payload_hash: str | None = None
    # The payload as parsed from the answer, when the text is not made yet: it is serialised
    # only if this payload is new to the store (`text`), and parsed by nobody.
    data: Any = field(default=None, compare=False, repr=False)
    # The record already parsed from `data` (a feed's record, parsed to find what it links
    # to), so that the merge does not parse it a second time.
    record: Any = field(default=None, compare=False, repr=False)

    @property
    def fingerprint(self) -> str:
        """What `source_records.payload_hash` holds for this answer."""
        return self.payload_hash or self.status

    def text(self) -> str | None:
        """The payload as stored: as given, or serialised from `data`."""
        if self.payload is None and self.data is not None:
            return jsontext.canonical(self.data)
        return self.payload


@dataclass(frozen=True, slots=True, kw_only=True)
class _About:
    """Which identifier an observation is about. `source` speaks for it (its registration
    agency, or "local", "cache"...) and is named in the outcome; `key` is the requested key
    (empty when the observation is about a stored work, a file or a feed, not an identifier)."""

    source: str
    key: str
    display: str = ""
    scheme: str = "doi"


@dataclass(frozen=True, slots=True, kw_only=True)
class Failed(_About):
    """The identifier could not be learned about this time: reported and counted, never stored.
    `error_kind` is one of errors.FAILURE_KINDS (None: "other")."""

    error: str | None
    error_kind: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NotFound(_About):
    """The source says the identifier does not exist (its answers are kept, the work is not)."""

    error: str | None = None
    answers: tuple[Answer, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Unchanged(_About):
    """Every source said what it said last time: only the answers' last-seen times move.
    `work_id` when the caller knows the work; `aliases`/`links` further keys that find it."""

    answers: tuple[Answer, ...] = ()
    work_id: int | None = None
    aliases: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Rekeyed:
    """A stored answer read again by a newer parser: its payload_hash becomes `new`, so that the
    next harvest of the same payload knows it (`harvest reparse`)."""

    source: str
    identifier: str
    old: str
    new: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Merged(_About):
    """The work as merged from this run's answers and what the store holds. `aliases` are
    further keys (the prime DOI an alias resolved to) that must find the same work; `links` are
    (scheme, key) of other identifiers the source names; `conflicts` None leaves the stored
    conflicts of the work as they are; `rekeyed` are stored answers a newer parser read, and
    `reparsed` says the work was rebuilt from stored payloads (its changes are the parsers')."""

    work: WorkValues
    answers: tuple[Answer, ...] = ()
    conflicts: tuple[Conflict, ...] | None = None
    work_id: int | None = None
    aliases: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = ()
    rekeyed: tuple[Rekeyed, ...] = ()
    reparsed: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalEdit(_About):
    """The user's own values (`local`, None unsets a field) set by hand or imported (`origin`),
    with the work as they make it. `identifier_value` is `key` as the identifiers table shows
    it (default: display). `absorbs`: works the user says are this one (`harvest merge`), moved
    into it with their identifiers, answers and history before it is written."""

    work: WorkValues
    local: Mapping[str, Value | None]
    source: str = "local"
    origin: str = "set"
    work_id: int | None = None
    conflicts: tuple[Conflict, ...] | None = None
    identifier_value: str = ""
    absorbs: tuple[int, ...] = ()


#: What this run learned about one requested identifier, ready to be written: one of five small
#: messages, each carrying only what its case needs (the store writes it with one `match`).
Observation = Merged | Unchanged | NotFound | Failed | LocalEdit


@dataclass(frozen=True, slots=True)
class Tried:
    """How one try at one source ended for an identifier, which moves its due time if tracked.

    `source` is the due source (`agency`, `openalex`, `repec`); `answered_by` the source that
    answered (`crossref`, `datacite`, ...), whose refresh interval applies."""

    scheme: str
    key: str
    source: str
    status: str  # ok | not_found | failed
    answered_by: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class DueItem:
    """A tracked identifier with the sources it is due at, and since when the earliest is due."""

    scheme: str
    key: str
    value: str
    sources: tuple[str, ...]
    due_at: str


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """The latest answer a source gave about a work, as `source_records` holds it."""

    source: str
    identifier: str
    status: str
    payload_hash: str
    payload: str | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result for one requested identifier, as reported to the user and counted in the run."""

    identifier: str
    status: str  # one of OUTCOMES
    work_id: int | None = None
    version: int | None = None
    fields: tuple[str, ...] = ()
    title: str | None = None
    error: str | None = None
    source: str | None = None
    error_kind: str | None = None


@dataclass
class RunCounts:
    """A run's tally by outcome, as its `runs` row keeps it."""

    requested: int = 0
    created: int = 0
    changed: int = 0
    unchanged: int = 0
    not_found: int = 0
    failed: int = 0

    def add(self, outcome: Outcome) -> None:
        """Count one more requested identifier, under what became of it."""
        self.requested += 1
        setattr(self, outcome.status, getattr(self, outcome.status) + 1)


@dataclass(frozen=True, slots=True)
class MatchCandidate:
    """A Crossref work that may be what a work without a DOI describes, as `match_candidates`
    keeps it: its score and the reasons, and what a reviewer compares (title, year, byline,
    container). `decision` is pending, accepted or rejected."""

    work_id: int
    doi: str
    score: float
    decision: str
    reasons: str = ""
    title: str | None = None
    year: int | None = None
    authors: str | None = None  # the first surnames, "Sankar; Nieminen; Ragni; ..."
    container_title: str | None = None


@dataclass(frozen=True, slots=True)
class MatchLink:
    """A decision to give a work a DOI: `source` is `match` (the thresholds decided) or `local`
    (a person did, `harvest match --accept`)."""

    work_id: int
    doi: str
    source: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the store holds about a chunk's identifiers, read at once (`Works.snapshot`): the
    work each (scheme, key) finds, the latest answer of every source about each of those works
    (payload included) and the user's own values of those that have any. Keys and works the
    store does not know are absent."""

    work_ids: Mapping[tuple[str, str], int]
    answers: Mapping[int, Mapping[str, StoredAnswer]]
    local: Mapping[int, Contribution]
