"""Pure functions that turn source records into the values of a work, and compare two versions.

A work is stored as flat column values (lists as JSON text), so that the same comparison serves every
field: a change is any field whose stored value differs, including to or from empty.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from functools import cache
from typing import Any, TypeVar

from harvester import jsontext
from harvester.models import Author, Notice, Record

#: The columns of `works` that come from sources, in display order. `authors` is compared like a field
#: and stored in its own table.
WORK_FIELDS: tuple[str, ...] = (
    "doi",
    "repec_handle",
    "type",
    "title",
    "subtitle",
    "container_title",
    "issn",
    "volume",
    "issue",
    "pages",
    "year",
    "published",
    "published_print",
    "published_online",
    "publisher",
    "abstract",
    "language",
    "license",
    "url",
    "reference_count",
    "cited_by_count",
    "relations",
    "updates",
    "subjects",
    "resource_version",
    "openalex_id",
    "oa_status",
    "oa_url",
    # issue 16: what citing and cataloguing need
    "container_short_title",
    "titles",
    "abstracts",
    "contributors",
    "funders",
    "isbn",
    "series_title",
    "series_number",
    "report_number",
    "event_name",
    "event_place",
    "event_date",
    "publisher_place",
    "degree",
    "reference_list",
    "citation_counts",
    "other_ids",
    "jel_codes",
    "publication_status",
    "revised",
    "files",
)
COMPARED_FIELDS: tuple[str, ...] = (*WORK_FIELDS, "authors")

#: Who wins a field by default: the user's own edits, then the DOI's registration agency (whichever
#: of these answered), then RePEc, then a repository's OAI-PMH record, then OpenAlex, which
#: aggregates what the others say.
DEFAULT_PRECEDENCE: tuple[str, ...] = (
    "local",
    "crossref",
    "datacite",
    "doi.org",
    "repec",
    "oai",
    "openalex",
)

Value = str | int | None

#: The columns that hold whole numbers; every other column holds text (lists as JSON text).
INT_FIELDS = frozenset({"year", "reference_count", "cited_by_count"})

#: Fields that every source adds to instead of the first one winning: a JSON object by source
#: (Crossref's and OpenAlex's citation counts, each with its source).
GATHERED_FIELDS = frozenset({"citation_counts"})

#: How `year` and `published` are chosen from a record's dates (`[merge] dates`). "print": for a
#: work in a journal volume or issue, its print date when the source gives one (Zotero's rule,
#: and what the volume, the issue and the RePEc handle say), else the earliest; "earliest":
#: always the earliest date the source gives (Crossref's `issued`).
DATE_RULES = ("print", "earliest")


@dataclass(frozen=True, slots=True)
class WorkValues:
    """What the harvester holds true about a work: column values, authors, and who said each."""

    values: dict[str, Value]
    authors: tuple[Author, ...]
    provenance: dict[str, str]  # field -> source whose value won
    # What the sources say of its standing (harvester.integrity): kept apart from the values,
    # in integrity_notices, because a notice is never "won" by one source over another.
    notices: tuple[Notice, ...] = ()


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    old: Value
    new: Value


def canonical_json(value: object) -> str:
    """Deterministic JSON (sorted keys, no spaces, UTF-8 as is): equal content, equal text. The
    stored form of source payloads, and what their hashes are taken of."""
    return jsontext.canonical(value)


def to_json(value: object) -> str | None:
    """Deterministic JSON for list-valued fields, None for empty, so equal content compares equal."""
    if value in (None, (), [], {}):
        return None
    return canonical_json(value)


def author_row(author: Author) -> dict[str, str | None]:
    """An author as stored in the `authors` table: affiliations as one readable string."""
    return {
        "given": author.given,
        "family": author.family,
        "name": author.name,
        "orcid": author.orcid,
        "affiliation": "; ".join(author.affiliations) or None,
        "repec_id": author.repec_id,
    }


def contributor_row(person: Author) -> dict[str, str | None]:
    """A contributor other than an author (an editor, a translator) as the `contributors`
    column holds it: an author row with its role."""
    return {"role": person.role or "contributor", **author_row(person)}


def authors_json(authors: Sequence[Author]) -> str | None:
    """Authors as one comparable value, in the stored-row form so that the comparison with what the
    database holds is exact; empty parts are left out to keep change rows readable."""
    return rows_json([author_row(a) for a in authors])


def rows_json(rows: Sequence[Mapping[str, Value]]) -> str | None:
    """Author rows as one comparable value; empty parts left out to keep change rows readable.
    The store calls this on the rows it holds, so both sides of a comparison are built alike."""
    return to_json([{k: v for k, v in row.items() if v is not None} for row in rows])


def authors_from_rows(rows: Sequence[Mapping[str, Value]]) -> tuple[Author, ...]:
    """The inverse of `author_row`: stored (or imported) author rows back into `Author`s."""
    return tuple(
        Author(
            given=_text_or_none(row.get("given")),
            family=_text_or_none(row.get("family")),
            name=_text_or_none(row.get("name")),
            orcid=_text_or_none(row.get("orcid")),
            repec_id=_text_or_none(row.get("repec_id")),
            role=_text_or_none(row.get("role")),
            affiliations=tuple(
                part.strip()
                for part in str(row.get("affiliation") or "").split(";")
                if part.strip()
            ),
        )
        for row in rows
    )


def _text_or_none(value: Value) -> str | None:
    return None if value is None or value == "" else str(value)


def publication_date(record: Record, rule: str = "print") -> str | None:
    """The date a work is cited by, from a record's dates, by `rule` (one of DATE_RULES)."""
    in_an_issue = bool(record.volume or record.issue) or record.type == "journal-article"
    if rule == "print" and record.published_print and in_an_issue:
        return record.published_print
    return record.issued


@cache
def _field_names(kind: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(kind))


def _row(item: Any) -> dict[str, Any]:
    """A flat dataclass (scalars and tuples of text: Relation, Funder, Reference, ...) as a dict,
    as `dataclasses.asdict` makes it, without its deep copy (a tenth of a harvest's time went
    into asdict on references)."""
    return {name: getattr(item, name) for name in _field_names(type(item))}


def _json_rows(items: Sequence[object]) -> str | None:
    """Dataclass rows as JSON, their empty parts left out, so that change rows stay readable."""
    if not items:
        return None
    rows = [{k: v for k, v in _row(item).items() if v not in (None, (), "")} for item in items]
    return to_json(rows)


def record_values(record: Record, dates: str = "print") -> dict[str, Value]:
    """The `works` column values that one source record gives, empty strings folded to None;
    `dates` is the rule that picks `published` and `year` (DATE_RULES)."""
    published = publication_date(record, dates)
    year = int(published[:4]) if published and published[:4].isdigit() else None
    counts = {record.source: record.cited_by_count} if record.cited_by_count is not None else {}
    values: dict[str, Value] = {
        "doi": record.doi,
        "repec_handle": record.repec_handle,
        "type": record.type,
        "title": record.title,
        "subtitle": record.subtitle,
        "container_title": record.container_title,
        "issn": to_json(list(record.issn)),
        "volume": record.volume,
        "issue": record.issue,
        "pages": record.pages,
        "year": year,
        "published": published,
        "published_print": record.published_print,
        "published_online": record.published_online,
        "publisher": record.publisher,
        "abstract": record.abstract,
        "language": record.language,
        "license": record.license,
        "url": record.url,
        "reference_count": record.reference_count,
        "cited_by_count": record.cited_by_count,
        "relations": to_json([_row(r) for r in record.relations]),
        "updates": to_json([_row(u) for u in record.updates]),
        "subjects": to_json(list(record.subjects)),
        "resource_version": record.resource_version,
        "openalex_id": record.openalex_id,
        "oa_status": record.oa_status,
        "oa_url": record.oa_url,
        "container_short_title": record.container_short_title,
        "titles": _json_rows(record.titles),
        "abstracts": _json_rows(record.abstracts),
        "contributors": rows_json([contributor_row(a) for a in record.contributors]),
        "funders": _json_rows(record.funders),
        "isbn": _json_rows(record.isbn),
        "series_title": record.series_title,
        "series_number": record.series_number,
        "report_number": record.report_number,
        "event_name": record.event_name,
        "event_place": record.event_place,
        "event_date": record.event_date,
        "publisher_place": record.publisher_place,
        "degree": record.degree,
        "reference_list": _json_rows(record.references),
        "citation_counts": to_json(counts),
        "other_ids": to_json(dict(record.other_ids)),
        "jel_codes": to_json(list(record.jel_codes)),
        "publication_status": record.publication_status,
        "revised": record.revised,
        "files": _json_rows(record.files),
    }
    return {k: (None if v == "" else v) for k, v in values.items()}


@dataclass(frozen=True, slots=True)
class Contribution:
    """What one source says about a work, in `works` column terms. The user's own values (imported
    or set by hand) arrive in this form; a source's `Record` is turned into it by `contribution`."""

    source: str
    values: Mapping[str, Value]
    authors: tuple[Author, ...] = ()
    #: Fields whose value only fills a gap (`harvest import --fill-gaps`): taken when no source
    #: has the field, never winning over one ("authors" among them for the byline).
    fills: frozenset[str] = frozenset()


def contribution(item: Record | Contribution, dates: str = "print") -> Contribution:
    if isinstance(item, Contribution):
        return item
    return Contribution(item.source, record_values(item, dates), item.authors)


def build_work(
    records: Sequence[Record | Contribution],
    precedence: Sequence[str] = DEFAULT_PRECEDENCE,
    field_precedence: Mapping[str, Sequence[str]] | None = None,
    dates: str = "print",
) -> WorkValues:
    """Merge what the sources say, field by field, in order of precedence.

    Each field takes the first non-empty value in the order `field_precedence[field]` or else
    `precedence` gives (sources not named come after, in the order given), and the provenance
    says which source gave it. Authors are taken whole from the first source that has any, because
    mixing bylines from two sources would invent an author list nobody published. A gathered
    field (GATHERED_FIELDS) takes what every source says, each under its own name.
    """
    said = [contribution(r, dates) for r in records]
    if len(said) == 1:
        return _one_source(said[0])
    field_precedence = field_precedence or {}
    values: dict[str, Value] = dict.fromkeys(WORK_FIELDS)
    provenance: dict[str, str] = {}
    for name in WORK_FIELDS:
        if name in GATHERED_FIELDS:
            values[name] = _gathered(name, said)
            continue
        for item in _filling_last(
            by_precedence(said, field_precedence.get(name, precedence)), name
        ):
            value = item.values.get(name)
            if value is not None and value != "":
                values[name] = value
                provenance[name] = item.source
                break
    authors: tuple[Author, ...] = ()
    for item in _filling_last(
        by_precedence(said, field_precedence.get("authors", precedence)), "authors"
    ):
        if item.authors:
            authors = item.authors
            provenance["authors"] = item.source
            break
    return WorkValues(values=values, authors=authors, provenance=provenance)


def _one_source(item: Contribution) -> WorkValues:
    """`build_work` of a single contribution: every value it has is the work's, with no
    precedence to sort (most works have one source, and the sorting per field cost more than
    the rest of their merge)."""
    values: dict[str, Value] = {}
    provenance: dict[str, str] = {}
    for name in WORK_FIELDS:
        value = item.values.get(name)
        if name in GATHERED_FIELDS:
            value = _gathered(name, [item])
        elif value is not None and value != "":
            provenance[name] = item.source
        values[name] = None if value == "" else value
    if item.authors:
        provenance["authors"] = item.source
    return WorkValues(values=values, authors=item.authors, provenance=provenance)


def _filling_last(said: Sequence[Contribution], name: str) -> list[Contribution]:
    """`said` in order, but a contribution that only fills this field's gap after all others."""
    return sorted(said, key=lambda item: name in item.fills)


def _gathered(name: str, said: Sequence[Contribution]) -> str | None:
    """What every source says of a gathered field, under each one's name. Its value names its
    sources, so it takes no provenance (which names one source per field)."""
    gathered: dict[str, object] = {}
    for item in said:
        text = item.values.get(name)
        if isinstance(text, str):
            gathered.update(jsontext.loads(text))
    return to_json(gathered)


def diff(old: Mapping[str, Value], new: Mapping[str, Value]) -> list[FieldChange]:
    """Fields whose value differs, in COMPARED_FIELDS order; absent keys count as empty."""
    return [
        FieldChange(name, old.get(name), new.get(name))
        for name in COMPARED_FIELDS
        if old.get(name) != new.get(name)
    ]


def comparable(work: WorkValues) -> dict[str, Value]:
    """The values of a work plus its authors as one JSON value, ready for `diff`."""
    return {**work.values, "authors": authors_json(work.authors)}


# --- precedence and conflicts (issue 3) ---


#: Fields where two sources saying different things is worth a person's look.
CONFLICT_FIELDS: tuple[str, ...] = ("title", "year", "volume", "issue", "pages")


_Said = TypeVar("_Said", Record, Contribution)


@dataclass(frozen=True, slots=True)
class Conflict:
    field: str
    source: str
    value: str


def by_precedence(
    records: Sequence[_Said], precedence: Sequence[str] = DEFAULT_PRECEDENCE
) -> list[_Said]:
    """Records ordered for `build_work`: sources named in `precedence` first, in that order;
    others after them, in the order given."""
    rank = {source: i for i, source in enumerate(precedence)}
    return sorted(records, key=lambda r: rank.get(r.source, len(rank)))


def find_conflicts(
    records: Sequence[Record | Contribution], dates: str = "print"
) -> list[Conflict]:
    """For each conflict field on which the records disagree once normalised, every source's value.
    The user's own values (a "local" contribution) count: a local value that wins over a source
    saying otherwise is a disagreement a person should see.

    Normalising first keeps case, punctuation, diacritics, dash styles and abbreviated page
    ranges (624-40 for 624-640) from being reported as disagreements: only real ones are.
    """
    conflicts: list[Conflict] = []
    if len(records) < 2:
        return conflicts  # one source agrees with itself (and each says one value per field)
    said_by = [contribution(r, dates) for r in records]
    for name in CONFLICT_FIELDS:
        said = [
            (c.source, v)
            for c in said_by
            if (v := c.values.get(name)) not in (None, "") and name not in c.fills
        ]
        if len({normalised(name, v) for _, v in said}) > 1:
            conflicts.extend(Conflict(name, source, str(value)) for source, value in said)
    return conflicts


def normalised(field: str, value: Value) -> str:
    """The form in which two values of `field` are compared for a conflict."""
    text = str(value)
    if field == "title":
        return _title_key(text)
    if field == "pages":
        return _pages_key(text)
    return " ".join(text.split()).casefold().lstrip("0") or "0"


def _title_key(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    letters = (c for c in decomposed if not unicodedata.combining(c))
    return "".join(c for c in "".join(letters).casefold() if c.isalnum())


_PAGE_RANGE = re.compile(r"^\s*([A-Za-z]*)(\d+)\s*[-‐‑‒–—−]+\s*([A-Za-z]*)(\d+)\s*$")


def _pages_key(text: str) -> str:
    """'624–640', '624-40' and 'pp. 624 - 640' all become '624-640'."""
    text = re.sub(r"^\s*pp?\.?\s*", "", text, flags=re.IGNORECASE)
    match = _PAGE_RANGE.match(text)
    if not match:
        return " ".join(text.split()).casefold()
    prefix, first, _, last = match.groups()
    if len(last) < len(first):  # abbreviated end page: 624-40 means 624-640
        last = first[: len(first) - len(last)] + last
    return f"{prefix.casefold()}{int(first)}-{int(last)}"
