"""Pure functions that turn source records into the values of a work, and compare two versions.

A work is stored as flat column values (lists as JSON text), so that the same comparison serves every
field: a change is any field whose stored value differs, including to or from empty.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TypeVar

from harvester import jsontext
from harvester.models import Author, Record

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


@dataclass(frozen=True, slots=True)
class WorkValues:
    """What the harvester holds true about a work: column values, authors, and who said each."""

    values: dict[str, Value]
    authors: tuple[Author, ...]
    provenance: dict[str, str]  # field -> source whose value won


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
    }


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


def record_values(record: Record) -> dict[str, Value]:
    """The `works` column values that one source record gives, empty strings folded to None."""
    year = int(record.issued[:4]) if record.issued and record.issued[:4].isdigit() else None
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
        "published": record.issued,
        "published_print": record.published_print,
        "published_online": record.published_online,
        "publisher": record.publisher,
        "abstract": record.abstract,
        "language": record.language,
        "license": record.license,
        "url": record.url,
        "reference_count": record.reference_count,
        "cited_by_count": record.cited_by_count,
        "relations": to_json([asdict(r) for r in record.relations]),
        "updates": to_json([asdict(u) for u in record.updates]),
        "subjects": to_json(list(record.subjects)),
        "resource_version": record.resource_version,
        "openalex_id": record.openalex_id,
        "oa_status": record.oa_status,
        "oa_url": record.oa_url,
    }
    return {k: (None if v == "" else v) for k, v in values.items()}


@dataclass(frozen=True, slots=True)
class Contribution:
    """What one source says about a work, in `works` column terms. The user's own values (imported
    or set by hand) arrive in this form; a source's `Record` is turned into it by `contribution`."""

    source: str
    values: Mapping[str, Value]
    authors: tuple[Author, ...] = ()


def contribution(item: Record | Contribution) -> Contribution:
    if isinstance(item, Contribution):
        return item
    return Contribution(item.source, record_values(item), item.authors)


def build_work(
    records: Sequence[Record | Contribution],
    precedence: Sequence[str] = DEFAULT_PRECEDENCE,
    field_precedence: Mapping[str, Sequence[str]] | None = None,
) -> WorkValues:
    """Merge what the sources say, field by field, in order of precedence.

    Each field takes the first non-empty value in the order `field_precedence[field]` or else
    `precedence` gives (sources not named come after, in the order given), and the provenance
    says which source gave it. Authors are taken whole from the first source that has any, because
    mixing bylines from two sources would invent an author list nobody published.
    """
    said = [contribution(r) for r in records]
    field_precedence = field_precedence or {}
    values: dict[str, Value] = dict.fromkeys(WORK_FIELDS)
    provenance: dict[str, str] = {}
    for name in WORK_FIELDS:
        for item in by_precedence(said, field_precedence.get(name, precedence)):
            value = item.values.get(name)
            if value is not None and value != "":
                values[name] = value
                provenance[name] = item.source
                break
    authors: tuple[Author, ...] = ()
    for item in by_precedence(said, field_precedence.get("authors", precedence)):
        if item.authors:
            authors = item.authors
            provenance["authors"] = item.source
            break
    return WorkValues(values=values, authors=authors, provenance=provenance)


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


def find_conflicts(records: Sequence[Record]) -> list[Conflict]:
    """For each conflict field on which the records disagree once normalised, every source's value.

    Normalising first keeps case, punctuation, diacritics, dash styles and abbreviated page
    ranges (624-40 for 624-640) from being reported as disagreements: only real ones are.
    """
    conflicts: list[Conflict] = []
    for name in CONFLICT_FIELDS:
        said = [(r.source, v) for r in records if (v := record_values(r)[name]) is not None]
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
