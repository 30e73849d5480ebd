"""Users' bibliographic files in, stored works out: BibTeX, RIS, CSL-JSON and CSV.

Everything here is pure (text in, records out; works in, text out), so the CLI and the store decide
where files come from and where records go. A file is read and checked whole before anything is
returned: one bad record stops the import with its file and line, so nothing is half-imported.

Values are built with the conventions of the sources (`merge.record_values`), so that a value from a
user's file compares equal with the same value from Crossref or DataCite. Each format module has a
`read(text, path)` and a `write(works, stream)`; the helpers below are what they share.
"""

from __future__ import annotations

import calendar
import importlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from anyascii import anyascii

from harvester.errors import BadIdentifier, BadInputFile
from harvester.identifiers import Doi, RepecHandle, isbn13, parse_doi, parse_repec
from harvester.merge import WORK_FIELDS, Value, authors_from_rows, record_values, to_json
from harvester.models import Author, Isbn, Record

__all__ = [
    "FORMATS",
    "LocalRecord",
    "citation_keys",
    "detect_format",
    "read_records",
    "write_works",
]

FORMATS = ("bibtex", "ris", "csl-json", "csv")

#: File name endings that tell the format, for `detect_format`.
EXTENSIONS = {
    ".bib": "bibtex",
    ".bibtex": "bibtex",
    ".ris": "ris",
    ".json": "csl-json",
    ".csljson": "csl-json",
    ".csv": "csv",
}

_MODULES = {"bibtex": "bibtex", "ris": "ris", "csl-json": "csljson", "csv": "csvfile"}


@dataclass(frozen=True, slots=True)
class LocalRecord:
    """One record of a user's file, in the store's shape.

    `values` holds only what the file gives (keys from merge.WORK_FIELDS, never empty strings);
    `line` is where the record starts (1-based) and `label` how to name it to a person.
    """

    values: dict[str, Value]
    authors: tuple[Author, ...]
    line: int
    label: str
    # The file says the byline goes on past `authors` (BibTeX "and others"): the listed authors
    # are kept, never an author named "others", and the import should not take them for the
    # whole byline.
    more_authors: bool = False


class RecordError(ValueError):
    """A value of one record is wrong; the format module adds the file and line (BadInputFile)."""


def detect_format(path: str | Path, explicit: str | None = None) -> str:
    """The format of a file: `explicit` (from --format) if given, else from the file name ending."""
    if explicit is not None:
        if explicit not in FORMATS:
            raise BadInputFile(
                str(path), None, f"unknown format {explicit!r}; known formats: {', '.join(FORMATS)}"
            )
        return explicit
    fmt = EXTENSIONS.get(Path(path).suffix.lower())
    if fmt is None:
        raise BadInputFile(
            str(path),
            None,
            f"cannot tell the format from the file name; known endings are {', '.join(EXTENSIONS)}"
            f", or name the format with --format ({', '.join(FORMATS)})",
        )
    return fmt


def read_records(text: str, fmt: str, path: str = "<input>") -> list[LocalRecord]:
    """Every record of a file, or BadInputFile for the first problem; nothing is returned for a
    file with a bad record, so an import is all or nothing."""
    module = _module(fmt)
    text = text.removeprefix("\ufeff")  # a BOM that survived decoding is not content
    if not text.strip():
        raise BadInputFile(path, None, "the file is empty")
    records = module.read(text, path)
    if not records:
        raise BadInputFile(path, None, f"no {fmt} records in the file")
    return records


def write_works(
    works: Iterable[Mapping[str, Any]],
    fmt: str,
    stream: TextIO,
    keys: Mapping[int, str] | None = None,
) -> None:
    """Write works (as `store.works.get()` returns them) to `stream` in `fmt`; missing columns are
    empty. `keys`: the citation keys of the whole store (`citation_keys`), so that a work's key is
    the same in every export; without them the keys are made over these works."""
    _module(fmt).write(list(works), stream, keys)


def _module(fmt: str) -> Any:
    if fmt not in _MODULES:
        raise ValueError(f"unknown format {fmt!r}; known formats: {', '.join(FORMATS)}")
    return importlib.import_module(f"{__name__}.{_MODULES[fmt]}")


# --- reading: values as the store holds them ------------------------------------------------


def local_values(raw: Mapping[str, object]) -> dict[str, Value]:
    """The store's values from what one record says (field -> text, number or list of text).

    Empty values are left out; year and published are completed from each other as the sources do
    (merge.record_values). Raises RecordError naming the field and the value.
    """
    values: dict[str, Value] = {}
    for name, given in raw.items():
        if name not in WORK_FIELDS:
            raise AssertionError(f"not a works column: {name}")
        if given is None or given == "" or given == []:
            continue
        value = _CLEANERS.get(name, clean_text)(name, given)
        if value is not None:
            values[name] = value
    year, published = values.get("year"), values.get("published")
    if published is None and year is not None:
        values["published"] = f"{year:04d}"
    elif isinstance(published, str):
        if year is None:
            values["year"] = int(published[:4])
        elif year != int(published[:4]):
            raise RecordError(f"year {year} does not match the date {published}")
    return values


def clean_text(name: str, given: object) -> str | None:
    """Text, whitespace-trimmed; a whole number (CSL-JSON volumes) is taken as its digits."""
    if isinstance(given, int) and not isinstance(given, bool):
        return str(given)
    if not isinstance(given, str):
        raise RecordError(f"{name} must be text, not {kind_of(given)}")
    return given.strip() or None


def clean_doi(name: str, given: object) -> str | None:
    return _clean_identifier(name, given, parse_doi, "DOI")


def clean_repec(name: str, given: object) -> str | None:
    return _clean_identifier(name, given, parse_repec, "RePEc handle")


def _clean_identifier(
    name: str, given: object, parse: Callable[[str], Doi | RepecHandle], what: str
) -> str | None:
    """An identifier in its canonical form (None when empty), or the record's error saying why not."""
    text = clean_text(name, given)
    try:
        return parse(text).value if text else None
    except BadIdentifier as exc:
        raise RecordError(f"{what} {text!r}: {exc.reason}") from None


def clean_year(name: str, given: object) -> int:
    """A year is a number of up to four digits; 'in press' or 'n.d.' is an error, not a guess."""
    if isinstance(given, int) and not isinstance(given, bool) and 1 <= given <= 9999:
        return given
    text = given.strip() if isinstance(given, str) else repr(given)
    if not re.fullmatch(r"[0-9]{1,4}", text) or int(text) == 0:
        raise RecordError(f"year {text!r} is not a number")
    return int(text)


_ISO_DATE = re.compile(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?")


def clean_date(name: str, given: object) -> str | None:
    """An ISO date as precise as given: "2015", "2015-06" or "2015-06-01"."""
    text = clean_text(name, given)
    if text is None:
        return None
    match = _ISO_DATE.fullmatch(text)
    year, month, day = match.groups() if match else (None, None, None)
    if (
        year is None
        or int(year) == 0
        or (month is not None and not 1 <= int(month) <= 12)
        or (day is not None and not 1 <= int(day) <= calendar.monthrange(int(year), int(month))[1])
    ):
        raise RecordError(f"{name} {text!r} is not a date like 2015, 2015-06 or 2015-06-01")
    return text


def date_from_parts(year: object, month: object = None, day: object = None) -> str:
    """An ISO date from separate parts (BibTeX year and month, RIS 2015/06/01, CSL date-parts).

    The year must be a number; a month or day that is not a valid number ends the date there
    ("Spring", "13"), as the sources' date_parts_to_iso does, rather than being guessed at.
    """
    whole_year = clean_year("year", year)
    date = f"{whole_year:04d}"
    whole_month = _part(month, 12)
    if whole_month is None:
        return date
    date += f"-{whole_month:02d}"
    whole_day = _part(day, calendar.monthrange(whole_year, whole_month)[1])
    return date if whole_day is None else f"{date}-{whole_day:02d}"


def _part(value: object, limit: int) -> int | None:
    if isinstance(value, str) and re.fullmatch(r"\s*[0-9]{1,2}\s*", value):
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= limit:
        return value
    return None


def clean_count(name: str, given: object) -> int | None:
    if isinstance(given, int) and not isinstance(given, bool) and given >= 0:
        return given
    text = clean_text(name, given)
    if text is None:
        return None
    if not text.isascii() or not text.isdigit():
        raise RecordError(f"{name} {text!r} is not a whole number")
    return int(text)


_ISSN = re.compile(r"([0-9]{4})-?([0-9]{3}[0-9X])")


def clean_issns(name: str, given: object) -> str | None:
    """ISSNs as the sources write them, 0950-0170 with an upper-case X, as a JSON list."""
    issns: list[str] = []
    for text in text_list(name, given, r"[,;\s]+"):
        match = _ISSN.fullmatch(text.upper())
        if match is None:
            raise RecordError(f"ISSN {text!r} is not 8 digits (the last may be X), e.g. 0950-0170")
        issn = f"{match[1]}-{match[2]}"
        if issn not in issns:
            issns.append(issn)
    return to_json(issns)


def is_issn(text: str) -> bool:
    """Whether `text` looks like an ISSN (RIS SN also carries ISBNs, which are skipped)."""
    return _ISSN.fullmatch(text.strip().upper()) is not None


def clean_subjects(name: str, given: object) -> str | None:
    """Keywords as a JSON list, each once, in the order given; a list is kept whole, one text
    (a foreign file's "water; ice, steam") is split on , and ;."""
    subjects: list[str] = []
    for subject in text_list(name, given, r"[,;]"):
        if subject not in subjects:
            subjects.append(subject)
    return to_json(subjects)


def clean_codes(name: str, given: object) -> str | None:
    """Codes (JEL) as a JSON list, each once, in the order given; one text is split on ; and ,."""
    return to_json(list(dict.fromkeys(text_list(name, given, r"[,;]"))))


def text_list(name: str, given: object, separators: str) -> list[str]:
    """A list of texts from a list (kept whole) or from one text split on `separators`."""
    items = re.split(separators, given) if isinstance(given, str) else given
    if not isinstance(items, list):
        raise RecordError(f"{name} must be text or a list of text, not {kind_of(given)}")
    texts = [clean_text(name, item) for item in items]
    return [text for text in texts if text]


def clean_pages(name: str, given: object) -> str | None:
    """Page ranges with a plain hyphen, as the sources give them: 635--641 and 635–641 are 635-641."""
    text = clean_text(name, given)
    return re.sub(r"\s*(?:-{2,3}|–)\s*", "-", text) if text else None


def clean_isbns(texts: Iterable[str]) -> list[Isbn]:
    """ISBNs from a file's text, in their 13-digit form, each once; one that is not a valid ISBN
    (a wrong check digit) is an error, as a bad ISSN is."""
    isbns: list[Isbn] = []
    for text in texts:
        number = isbn13(text)
        if number is None:
            raise RecordError(f"ISBN {text!r} is not a valid ISBN (length or check digit)")
        if all(isbn.isbn != number for isbn in isbns):
            isbns.append(Isbn(number))
    return isbns


def split_outside_braces(text: str, separators: str) -> list[str]:
    """`text` cut at each of `separators` that is not inside braces, each part stripped, the
    empty ones left out: a braced whole ("{Shipping, Ports}", "{An Organisation; Ltd}") is
    one part, which is how a file writes a value holding a separator."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char == "{":
            depth += 1
        elif char == "}":
            depth = max(depth - 1, 0)
        elif char in separators and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return [part.strip() for part in parts if part.strip()]


def columns_of(**fields: Any) -> dict[str, Value]:
    """The works columns that `Record` fields make (contributors, isbn, other_ids, ...), built by
    `merge.record_values` so that a file's value compares equal with a source's; empty ones are
    left out."""
    values = record_values(Record(source="local", **fields))
    columns = {"references": "reference_list"}
    return {
        column: values[column]
        for name in fields
        if values[(column := columns.get(name, name))] is not None
    }


_CLEANERS: dict[str, Callable[[str, object], Value]] = {
    "doi": clean_doi,
    "repec_handle": clean_repec,
    "year": clean_year,
    "published": clean_date,
    "published_print": clean_date,
    "published_online": clean_date,
    "issn": clean_issns,
    "subjects": clean_subjects,
    "jel_codes": clean_codes,
    "pages": clean_pages,
    "reference_count": clean_count,
    "cited_by_count": clean_count,
}


def parse_person(text: str) -> Author | None:
    """ "Family, Given" is a person (", Given" and "Family," too); text without a comma is the name
    of an organisation, which is how RIS and the CSV authors column tell them apart."""
    text = text.strip()
    if "," not in text:
        return Author(name=text) if text else None
    family, _, given = text.partition(",")
    if not (family.strip() or given.strip()):
        return None
    return Author(given=given.strip() or None, family=family.strip() or None)


def record_label(given: object, values: Mapping[str, Value], line: int) -> str:
    """How to name a record to a person: its key or id in the file, else its title, else its line."""
    for candidate in (given, values.get("title")):
        if isinstance(candidate, str | int) and str(candidate).strip():
            return str(candidate).strip()
    return f"record at line {line}"


def bad_record(path: str, line: int | None, label: str | None, error: RecordError) -> BadInputFile:
    """The BadInputFile for a wrong value: where it is, which record, what is wrong."""
    named = f"{label}: " if label and not label.startswith("record at line") else ""
    return BadInputFile(path, line, f"{named}{error}")


def kind_of(value: object) -> str:
    """A value's JSON kind, for messages about files that hold JSON-like values."""
    kinds = {dict: "an object", list: "a list", str: "text", bool: "true/false"}
    kinds.update({int: "a number", float: "a number"})
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


# --- writing: works as `store.works.get()` returns them --------------------------------------------


def work_value(work: Mapping[str, Any], name: str) -> Value:
    """A column of a work; missing and empty are both None."""
    value = work.get(name)
    return None if value == "" else value


def work_text(work: Mapping[str, Any], name: str) -> str | None:
    value = work_value(work, name)
    return None if value is None else str(value)


def notice_notes(work: Mapping[str, Any]) -> list[str]:
    """The work's integrity notices (`notices`, as `store.integrity.by_work` gives them) as the
    lines an export's note carries, worst first: "Retraction: doi:10.1016/... (2010-02-06),
    asserted by retraction-watch". A published version is left out: `publication_status`
    says it already."""
    lines = []
    for notice in work.get("notices") or ():
        if notice.get("kind") == "published_version":
            continue
        text = str(notice.get("kind") or "other").replace("_", " ").capitalize()
        if notice.get("notice_doi"):
            text += f": doi:{notice['notice_doi']}"
        if notice.get("notice_date"):
            text += f" ({notice['notice_date']})"
        lines.append(f"{text}, asserted by {notice.get('asserted_by')}")
    return lines


def work_list(work: Mapping[str, Any], name: str) -> list[str]:
    """A JSON-list column (issn, subjects) as a list of text; anything else counts as empty."""
    value = work_value(work, name)
    try:
        items = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return []
    return [str(item) for item in items if item] if isinstance(items, list) else []


def work_authors(work: Mapping[str, Any]) -> list[Author]:
    """The author rows of a work as Authors; a row with no name and no ORCID is left out."""
    authors: list[Author] = []
    for row in work.get("authors") or ():
        affiliation = row.get("affiliation") or ""
        author = Author(
            given=row.get("given") or None,
            family=row.get("family") or None,
            name=row.get("name") or None,
            orcid=row.get("orcid") or None,
            affiliations=tuple(part for part in affiliation.split("; ") if part),
        )
        if author.given or author.family or author.name or author.orcid:
            authors.append(author)
    return authors


def work_json(work: Mapping[str, Any], name: str) -> Any:
    """A JSON column (contributors, isbn, other_ids, ...) as its list or object; None if empty
    or not JSON."""
    value = work_value(work, name)
    if not isinstance(value, str):
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def work_rows(work: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    """A JSON column of rows (isbn, files, titles, ...) as a list of objects."""
    rows = work_json(work, name)
    return [row for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []


def work_contributors(work: Mapping[str, Any], *roles: str) -> list[Author]:
    """The work's other contributors (editors, translators, ...), with their roles; only those
    of `roles` when given."""
    people = authors_from_rows(work_rows(work, "contributors"))
    return [person for person in people if not roles or person.role in roles]


def work_ids(work: Mapping[str, Any]) -> dict[str, str]:
    """The work's other identifiers, scheme -> value (pmid, pmcid, arxiv, ...)."""
    ids = work_json(work, "other_ids")
    return {str(k): str(v) for k, v in ids.items() if v} if isinstance(ids, dict) else {}


def work_isbns(work: Mapping[str, Any]) -> list[str]:
    return [str(row["isbn"]) for row in work_rows(work, "isbn") if row.get("isbn")]


def person_text(author: Author) -> str | None:
    """The reverse of `parse_person`: "Family, Given", "Family," or ", Given" for people."""
    if author.family or author.given:
        return f"{author.family or ''}, {author.given or ''}".strip()
    return author.name


def date_parts(work: Mapping[str, Any]) -> list[int]:
    """[year, month, day] as far as the work's date goes (published, else year); [] for none."""
    published = work_text(work, "published")
    if published and _ISO_DATE.fullmatch(published):
        return [int(part) for part in published.split("-")]
    year = work_value(work, "year")
    return (
        [int(year)] if isinstance(year, int) or (isinstance(year, str) and year.isdigit()) else []
    )


#: Words a citation key passes over in a title, as Better BibTeX's short title does: articles,
#: prepositions and conjunctions of the languages most titles are in.
KEY_SKIPPED_WORDS = frozenset((
    "a", "an", "the", "and", "or", "of", "on", "in", "at", "to", "for", "from", "by",
    "with", "without", "about", "as", "into", "over", "under", "is", "are", "was", "were",
    "do", "does", "not", "its", "their", "this", "that", "these", "those", "how", "what",
    "why", "when", "where", "which", "who", "le", "la", "les", "l", "un", "une", "des",
    "du", "de", "et", "en", "au", "aux", "der", "die", "das", "dem", "den", "des", "ein",
    "eine", "einer", "und", "im", "am", "zur", "zum", "von", "el", "los", "las", "lo",
    "una", "y", "del", "al", "il", "gli", "i", "di", "da", "e", "o", "os", "as", "um",
    "uma", "do", "dos", "das",
))  # fmt: skip
#: How long each part of a key may be: a long family name or a Thai title (no spaces between
#: words) would otherwise make a key nobody types.
KEY_PART_LENGTH = 20


def citation_key(work: Mapping[str, Any]) -> str:
    """The key a person types for a work: first author's family name, year, first word of the
    title that says something, in lower-case ASCII ("butler2015alone"); anyascii spells other
    scripts in Latin letters, as people do when they type them. "anon" when nothing is known."""
    people = work_authors(work) or work_contributors(work)
    who = ""
    if people:
        first = people[0]
        who = first.family or (first.name or first.given or "").split(" ")[0]
    published = work_text(work, "published") or ""
    year = work_text(work, "year") or published[:4]
    words = [_key_part(word) for word in (work_text(work, "title") or "").split()]
    word = next((w for w in words if w and w not in KEY_SKIPPED_WORDS), "")
    key = f"{_key_part(who)}{year if year.isdigit() else ''}{word}"
    return key or "anon"


def _key_part(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", anyascii(text).lower())[:KEY_PART_LENGTH]


def citation_keys(works: Iterable[Mapping[str, Any]]) -> dict[int, str]:
    """A unique key for each work (by id): its `citation_key`, and where two works share it,
    the older work (lower id) keeps it and the next get a, b, c, ... So given every work in
    the store, a key does not change with what else an export holds, nor as works are added."""
    keys: dict[int, str] = {}
    taken: dict[str, int] = {}
    for work in sorted(works, key=lambda work: work["id"]):
        base = citation_key(work)
        repeat = taken.get(base, 0)
        taken[base] = repeat + 1
        keys[work["id"]] = base + _suffix(repeat)
    return keys


def _suffix(repeat: int) -> str:
    """ "", then a ... z, aa, ab, ...: the letters people add to author-year keys."""
    letters = ""
    while repeat:
        repeat, letter = divmod(repeat - 1, 26)
        letters = chr(ord("a") + letter) + letters
    return letters


def keys_for(works: Sequence[Mapping[str, Any]], keys: Mapping[int, str] | None) -> list[str]:
    """Each work's key: from `keys` (made over the whole store) where given, else made over
    these works alone; a work without an id (a preview) is numbered in the list."""
    if keys is None:
        numbered = [
            {**work, "id": work.get("id") or -number} for number, work in enumerate(works, 1)
        ]
        mine = citation_keys(numbered)
        return [mine[work["id"]] for work in numbered]
    return [keys.get(work.get("id"), "") or citation_key(work) for work in works]
