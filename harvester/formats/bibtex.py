"""BibTeX (and the biblatex fields people use in .bib files), through bibtexparser 1.x.

bibtexparser reads and writes the syntax; this module maps entry types and fields, turns LaTeX into
Unicode on read, and escapes LaTeX's special characters on write so that any text comes back as it
went out. bibtexparser 1.x quietly skips an entry it cannot parse (it becomes a "comment"), so every
entry start in the text is matched with a parsed entry, and the first one lost stops the import.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

import bibtexparser
from bibtexparser.bibdatabase import BibDatabase, BibDataString, UndefinedString
from bibtexparser.bibtexexpression import BibtexExpression
from bibtexparser.bparser import BibTexParser
from bibtexparser.bwriter import BibTexWriter, SortingStrategy
from bibtexparser.customization import InvalidName, splitname
from bibtexparser.latexenc import latex_to_unicode

from harvester.errors import BadInputFile
from harvester.formats import (
    LocalRecord,
    RecordError,
    bad_record,
    date_from_parts,
    local_values,
    unique_keys,
    work_authors,
    work_list,
    work_text,
    work_value,
)
from harvester.models import Author

#: Entry types (BibTeX and biblatex) -> the store's (Crossref's) type names. @misc and types not
#: listed say nothing about the kind of work, so they give no type (a source's type then stands).
ENTRY_TYPES = {
    "article": "journal-article",
    "book": "book",
    "inbook": "book-chapter",
    "incollection": "book-chapter",
    "inproceedings": "proceedings-article",
    "conference": "proceedings-article",
    "proceedings": "proceedings",
    "techreport": "report",
    "report": "report",
    "phdthesis": "dissertation",
    "mastersthesis": "dissertation",
    "thesis": "dissertation",
    "unpublished": "posted-content",
    "dataset": "dataset",
    "software": "software",
}

#: The store's types -> entry types on write; every other type is written as @misc.
WRITE_TYPES = {
    "journal-article": "article",
    "book": "book",
    "monograph": "book",
    "edited-book": "book",
    "reference-book": "book",
    "book-chapter": "incollection",
    "book-section": "incollection",
    "book-part": "incollection",
    "reference-entry": "incollection",
    "proceedings-article": "inproceedings",
    "proceedings": "proceedings",
    "report": "techreport",
    "report-component": "techreport",
    "dissertation": "phdthesis",
    "posted-content": "unpublished",
    "dataset": "dataset",
    "software": "software",
}

#: Fields read as text (LaTeX decoded): BibTeX field -> works column.
TEXT_FIELDS = {
    "title": "title",
    "subtitle": "subtitle",
    "volume": "volume",
    "number": "issue",
    "pages": "pages",
    "abstract": "abstract",
    "language": "language",
    "issn": "issn",
}
#: Fields that are identifiers or links: read and written verbatim, as biblatex treats them.
VERBATIM_FIELDS = {"doi": "doi", "url": "url", "repec": "repec_handle"}
#: Where the container title is on read, in order (journaltitle is biblatex's name for journal).
CONTAINER_FIELDS = ("journal", "journaltitle", "booktitle")
#: Where the publisher is on read: reports name an institution, theses a school.
PUBLISHER_FIELDS = ("publisher", "institution", "school", "organization")
#: Entry types whose container is a book (booktitle), not a journal.
IN_BOOK = frozenset({"incollection", "inproceedings", "inbook"})

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
#: Field order on write, for a reader's eye; bibtexparser writes the rest after these.
FIELD_ORDER = (
    "author",
    "title",
    "subtitle",
    "journal",
    "booktitle",
    "year",
    "month",
    "date",
    "volume",
    "number",
    "pages",
    "publisher",
    "institution",
    "school",
    "issn",
    "doi",
    "repec",
    "url",
    "language",
    "keywords",
    "abstract",
)


# --- read ---


def read(text: str, path: str) -> list[LocalRecord]:
    """Every entry of a .bib file; @string macros (and the month names) are expanded."""
    parser = BibTexParser(
        common_strings=True, ignore_nonstandard_types=False, interpolate_strings=True
    )
    try:
        database = bibtexparser.loads(text, parser)
    except UndefinedString as exc:
        name = exc.args[0] if exc.args else "?"
        where = re.search(rf"=\s*{re.escape(str(name))}\b", text, re.IGNORECASE)
        line = _line_at(text, where.start()) if where else None
        raise BadInputFile(path, line, f"@string {name!r} is used but not defined") from None
    except BibtexExpression.ParseException as exc:
        raise BadInputFile(path, exc.lineno, f"not BibTeX: {exc.msg}") from None

    starts = _entry_starts(text, database.entries)
    _check_nothing_lost(text, path, set(starts))
    if not database.entries:
        raise BadInputFile(path, None, "no BibTeX entries (@article{...}, @book{...}, ...) found")
    records = []
    for entry, start in zip(database.entries, starts, strict=True):
        line = _line_at(text, start)
        try:
            records.append(_record(entry, line))
        except RecordError as exc:
            raise bad_record(path, line, entry["ID"], exc) from None
    return records


def _record(entry: Mapping[str, str], line: int) -> LocalRecord:
    raw: dict[str, object] = {
        column: latex_text(entry[name]) for name, column in TEXT_FIELDS.items() if name in entry
    }
    raw.update(
        {column: verbatim(entry[name]) for name, column in VERBATIM_FIELDS.items() if name in entry}
    )
    entry_type = entry["ENTRYTYPE"].lower()
    raw["type"] = ENTRY_TYPES.get(entry_type)
    raw["container_title"] = _first(entry, CONTAINER_FIELDS)
    raw["publisher"] = _first(entry, PUBLISHER_FIELDS)
    keywords = entry.get("keywords") or entry.get("keyword")
    raw["subjects"] = latex_text(keywords) if keywords else None
    raw["year"], raw["published"] = _dates(entry)
    values = local_values(raw)
    return LocalRecord(values, tuple(_authors(entry.get("author", ""))), line, entry["ID"])


def _first(entry: Mapping[str, str], names: Sequence[str]) -> str | None:
    for name in names:
        if entry.get(name, "").strip():
            return latex_text(entry[name])
    return None


def _dates(entry: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(year, published): biblatex `date` (ISO) if given, else `year` and `month` combined."""
    year = entry.get("year", "").strip() or None
    date = entry.get("date", "").strip()
    if date:
        return year, date.split("/")[0].strip()  # a range 2014-02-11/2014-02-12 starts a work
    if year is None:
        return None, None
    return year, date_from_parts(year, _month(entry.get("month", "")))


def _month(text: str) -> int | None:
    """ "August", "aug", "Aug." (the month macros, expanded) or "8"; anything else is no month."""
    word = text.strip().rstrip(".").lower()
    if word.isdigit():
        return int(word)
    return MONTHS.index(word[:3]) + 1 if word[:3] in MONTHS and len(word) >= 3 else None


def _authors(field: str) -> list[Author]:
    """People as "Family, Given" or "Given Family" (with von and Jr parts) and organisations in
    braces, "{World Health Organization}", split on "and" outside braces as BibTeX does."""
    authors = []
    for name in _split_names(field):
        if _is_braced_whole(name):
            organisation = latex_text(name[1:-1])
            if organisation:
                authors.append(Author(name=organisation))
            continue
        try:
            parts = splitname(name, strict_mode=False)
        except (InvalidName, StopIteration):
            raise RecordError(f"author {name!r} is not a name BibTeX can read") from None
        if not parts:
            continue
        family = latex_text(" ".join(parts["von"] + parts["last"]))
        if parts["jr"]:
            family = f"{family}, {latex_text(' '.join(parts['jr']))}"
        given = latex_text(" ".join(parts["first"]))
        if family or given:
            authors.append(Author(given=given or None, family=family or None))
    return authors


def _split_names(field: str) -> list[str]:
    names, depth, start = [], 0, 0
    for match in re.finditer(r"[{}]|\s+and\s+", field, flags=re.IGNORECASE):
        token = match.group()
        if token == "{":
            depth += 1
        elif token == "}":
            depth = max(depth - 1, 0)
        elif depth == 0:
            names.append(field[start : match.start()])
            start = match.end()
    names.append(field[start:])
    return [name.strip() for name in names if name.strip()]


def _is_braced_whole(name: str) -> bool:
    """Whether one brace group spans the whole name: "{Statistique Canada}"."""
    if not (name.startswith("{") and name.endswith("}")):
        return False
    depth = 0
    for index, char in enumerate(name):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth == 0:
            return index == len(name) - 1
    return False


# LaTeX text -> Unicode. bibtexparser's latex_to_unicode does accents ({\"u} -> ü) but drops
# escaped braces and turns some plain text into symbols ('n -> ŉ, := -> ≔). So escapes and those
# characters are swapped for placeholders (Unicode noncharacters, never in real text) first.
_NAMED_ESCAPES = {
    "textbackslash": "\\",
    "textbraceleft": "{",
    "textbraceright": "}",
    "textasciitilde": "~",
    "textasciicircum": "^",
}
_NAMES = "|".join(_NAMED_ESCAPES)
_ESCAPE = re.compile(
    rf"\{{\\(?P<braced>{_NAMES})\}}|\\(?P<named>{_NAMES})(?:\{{\}}|(?![A-Za-z]) ?)|\\(?P<char>[&%$#_{{}}])"
)
_PROTECTED = "\\{}~^&%$#_',:="
_PLACEHOLDER = {char: chr(0xFDD0 + index) for index, char in enumerate(_PROTECTED)}
_RESTORE = str.maketrans({placeholder: char for char, placeholder in _PLACEHOLDER.items()})
#: Plain characters latex_to_unicode would combine with their neighbours ('n, ,, := =:).
_PLAIN_RISKY = re.compile(r"(?<!\\)[',:=]")


def latex_text(value: str) -> str:
    """A field value as plain Unicode text: LaTeX accents and escapes decoded, braces dropped."""

    def placeholder(match: re.Match[str]) -> str:
        name = match["braced"] or match["named"]
        return _PLACEHOLDER[_NAMED_ESCAPES[name] if name else match["char"]]

    text = _ESCAPE.sub(placeholder, value)
    text = _PLAIN_RISKY.sub(lambda m: _PLACEHOLDER[m.group()], text)
    text = re.sub(r"(?<!\\)~", " ", text)  # LaTeX's unbreakable space
    if "\\" in text or "{" in text or "}" in text:
        text = latex_to_unicode(text)
    return text.translate(_RESTORE).strip()


def verbatim(value: str) -> str:
    """DOI, URL, handle: taken as written, except for the LaTeX escapes some tools put in them
    (Mendeley writes 10.1000/a{\\_}b) and braces."""
    return re.sub(r"\{?\\([_%&#$~])\}?", r"\1", value).replace("{", "").replace("}", "").strip()


def _entry_starts(text: str, entries: Sequence[Mapping[str, str]]) -> list[int]:
    """Where each parsed entry starts in `text` (the offset of its @), in file order."""
    starts, position = [], 0
    for entry in entries:
        pattern = rf"@\s*{re.escape(entry['ENTRYTYPE'])}\s*[{{(]\s*{re.escape(entry['ID'])}\s*,"
        found = re.compile(pattern, re.IGNORECASE).search(text, position)
        start = found.start() if found else position
        starts.append(start)
        position = found.end() if found else position
    return starts


_ENTRY_START = re.compile(r"^[ \t]*(@)[ \t]*([A-Za-z]+)[ \t]*[{(]", re.MULTILINE)
_NOT_ENTRIES = frozenset({"comment", "string", "preamble"})


def _check_nothing_lost(text: str, path: str, parsed: set[int]) -> None:
    """An entry that starts a line but was not parsed is broken: say where, and why if the
    grammar can tell (a missing comma, an unclosed brace, a space in the key)."""
    for match in _ENTRY_START.finditer(text):
        if match.group(2).lower() in _NOT_ENTRIES or match.start(1) in parsed:
            continue
        line = _line_at(text, match.start(1))
        try:
            BibtexExpression().entry.parse_string(text[match.start(1) :])
        except BibtexExpression.ParseException as exc:
            found = getattr(exc, "found", None)
            detail = f"{exc.msg}{f', found {found}' if found else ''}"
            where = f"line {line + exc.lineno - 1}, column {exc.col}"
            raise BadInputFile(
                path, line, f"this @{match.group(2)} entry cannot be read: {detail} at {where}"
            ) from None
        raise BadInputFile(path, line, f"this @{match.group(2)} entry cannot be read")


def _line_at(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


# --- write ---


def write(works: Sequence[Mapping[str, Any]], stream: TextIO) -> None:
    """Works as BibTeX entries, in the order given, UTF-8 text kept as it is (non-Latin too)."""
    database = BibDatabase()
    keys = unique_keys(works, _clean_key)
    database.entries = [_entry(work, key, database) for work, key in zip(works, keys, strict=True)]
    writer = BibTexWriter()
    writer.indent = "  "
    writer.order_entries_by = None
    writer.display_order = list(FIELD_ORDER)
    writer.display_order_sorting = SortingStrategy.PRESERVE
    stream.write(bibtexparser.dumps(database, writer))


def _entry(work: Mapping[str, Any], key: str, database: BibDatabase) -> dict[str, Any]:
    entry_type = WRITE_TYPES.get(work_text(work, "type") or "", "misc")
    entry: dict[str, Any] = {"ENTRYTYPE": entry_type, "ID": key}
    names = [_name(author) for author in work_authors(work)]
    if any(names):
        entry["author"] = " and ".join(name for name in names if name)
    for name, column in TEXT_FIELDS.items():
        entry[name] = latex_escape(work_text(work, column))
    entry["issn"] = latex_escape(", ".join(work_list(work, "issn")))
    entry["pages"] = entry["pages"].replace("-", "--")
    entry["booktitle" if entry_type in IN_BOOK else "journal"] = latex_escape(
        work_text(work, "container_title")
    )
    publisher_field = {"techreport": "institution", "phdthesis": "school"}.get(entry_type)
    entry[publisher_field or "publisher"] = latex_escape(work_text(work, "publisher"))
    entry["keywords"] = latex_escape(", ".join(work_list(work, "subjects")))
    for name, column in VERBATIM_FIELDS.items():
        # Braces would unbalance the entry; percent-encoded they mean the same in a DOI or URL.
        entry[name] = (work_text(work, column) or "").replace("{", "%7B").replace("}", "%7D")
    year = work_value(work, "year")
    parts = [int(part) for part in (work_text(work, "published") or "").split("-") if part]
    entry["year"] = str(year) if year is not None else (f"{parts[0]:04d}" if parts else "")
    if len(parts) >= 2:
        entry["month"] = BibDataString(database, MONTHS[parts[1] - 1])
    if len(parts) == 3:
        entry["date"] = work_text(work, "published")
    return {name: value for name, value in entry.items() if value}


def _name(author: Author) -> str | None:
    """ "Family, Given" with parts braced where BibTeX would split them wrongly (a comma or an
    "and" inside); an organisation is braced whole, "{Statistique Canada}"."""
    if not (author.family or author.given):
        return f"{{{latex_escape(author.name)}}}" if author.name else None
    family = _protect(latex_escape(author.family))
    if not author.given and re.fullmatch(r"[^\s{}]+", family):
        return family  # one plain word: "Plato"
    # An empty given "{}" keeps a family alone from being read as "Given Family" or as a
    # braced organisation.
    return f"{family}, {_protect(latex_escape(author.given)) or '{}'}"


def _protect(part: str) -> str:
    if "," in part or re.search(r"(?:^|\s)and(?:\s|$)", part, re.IGNORECASE):
        return f"{{{part}}}"
    return part


_LATEX_SPECIALS = str.maketrans(
    {
        "\\": r"\textbackslash{}",
        "{": r"\textbraceleft{}",
        "}": r"\textbraceright{}",
        "&": r"\&",
        "%": r"\%",
        "$": r"\$",
        "#": r"\#",
        "_": r"\_",
        "~": r"\textasciitilde{}",
        "^": r"\textasciicircum{}",
    }
)


def latex_escape(text: str | None) -> str:
    """Text for a BibTeX field, LaTeX's special characters escaped; everything else (accents,
    non-Latin scripts) stays as UTF-8, which biber and modern BibTeX read."""
    return text.translate(_LATEX_SPECIALS) if text else ""


def _clean_key(identifier: str) -> str:
    """Keys must not hold spaces, braces, commas, quotes, #, %, ~, = or parentheses."""
    return re.sub(r"[^A-Za-z0-9._:/+-]", "_", identifier)
