"""CSV with a header row whose columns are named as the `works` columns, with the stdlib csv module.

Written with every column (and `id` first), so a spreadsheet shows the whole store, and flat: a
list is one cell of items joined with "; " (an item holding ";" is braced whole), never JSON. What
a person may edit is read back: ISBNs ("9783662463697 (print)"), contributors ("Family, Given
(editor)"), other identifiers ("pmid: 123"), file links, ISSNs, keywords and JEL codes; the
sources' detail (funders, references, other titles and abstracts, relations, counts) is written
for reading only. Authors are one cell, "Family, Given; Family, Given"; an entry without a comma,
or in braces, is an organisation. A cell a spreadsheet would run as a formula (= + - @ first) is
written with a ' before it, which the reader drops again.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TextIO

from harvester.errors import BadInputFile
from harvester.formats import (
    LocalRecord,
    RecordError,
    bad_record,
    columns_of,
    local_values,
    parse_person,
    person_text,
    record_label,
    split_outside_braces,
    work_authors,
    work_json,
    work_list,
    work_value,
)
from harvester.identifiers import isbn13
from harvester.merge import WORK_FIELDS, authors_from_rows
from harvester.models import Author, FileLink, Isbn

#: Columns written, in order: the store's id, every works column, the authors.
WRITE_COLUMNS = ("id", *WORK_FIELDS, "authors")
#: Columns of an exported file that are the store's own bookkeeping, or each source's own
#: (citation_counts: a file's copy of Crossref's count is not Crossref saying it): accepted and
#: ignored on read.
IGNORED_COLUMNS = (
    "citation_counts",
    "id",
    "provenance",
    "version",
    "created_at",
    "updated_at",
    "relations",
    "updates",
    "titles",
    "abstracts",
    "funders",
    "reference_list",
)
#: Columns read: every works column a file may set, and the authors.
READ_COLUMNS = (*(name for name in WORK_FIELDS if name not in IGNORED_COLUMNS), "authors")
#: Columns holding a JSON list of text in the store, a "; " list in the file.
LIST_COLUMNS = frozenset({"issn", "subjects", "jel_codes"})
#: What starts a formula in Excel, LibreOffice and Google Sheets (OWASP's CSV injection list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: A contributor's or an ISBN's qualifier at the end of its entry: "Tran Van Nhieu, Guy (editor)".
_QUALIFIED = re.compile(r"^(.*?)\s*\(([\w -]+)\)$")


# --- read ---


def read(text: str, path: str) -> list[LocalRecord]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    records = []
    last_line = 0  # the line the previous row ended on: a row starts on the next one
    try:
        for row in reader:
            line, last_line = last_line + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = _header(row, path, line)
                continue
            if len(row) != len(header):
                raise BadInputFile(
                    path, line, f"{len(row)} cells, but the header has {len(header)} columns"
                )
            records.append(_row(header, row, path, line))
    except csv.Error as exc:
        raise BadInputFile(path, reader.line_num, f"not CSV: {exc}") from None
    if header is None:
        raise BadInputFile(path, None, "no header row")
    return records


def _header(row: list[str], path: str, line: int) -> list[str]:
    """Column names, trimmed and in lower case; unknown or repeated names are an error, and a
    column without a name is allowed only if it stays empty (spreadsheets add such columns)."""
    columns = [cell.strip().lower() for cell in row]
    for number, column in enumerate(columns, start=1):
        if column and column not in READ_COLUMNS and column not in IGNORED_COLUMNS:
            raise BadInputFile(
                path,
                line,
                f"unknown column {row[number - 1].strip()!r}; known columns: "
                f"{', '.join(READ_COLUMNS)} (and {', '.join(IGNORED_COLUMNS)}, which are ignored)",
            )
        if column and columns.index(column) != number - 1:
            raise BadInputFile(path, line, f"column {column!r} appears twice")
    return columns


def _row(header: list[str], row: list[str], path: str, line: int) -> LocalRecord:
    cells = {
        column: _unguarded(cell.strip())
        for column, cell in zip(header, row, strict=True)
        if cell.strip()
    }
    if "" in cells:
        raise BadInputFile(
            path, line, f"a cell under a column without a name: {cells['']!r}; name the column"
        )
    try:
        raw: dict[str, object] = {
            column: _list_cell(column, cell) if column in LIST_COLUMNS else cell
            for column, cell in cells.items()
            if column in READ_COLUMNS and column not in _STRUCTURED and column != "authors"
        }
        values = local_values(raw)
        values.update(_structured(cells))
        authors = tuple(parse_authors(cells.get("authors", "")))
    except RecordError as exc:
        raise bad_record(path, line, None, exc) from None
    return LocalRecord(values, authors, line, record_label(None, values, line))


def _unguarded(cell: str) -> str:
    """A cell as it was before `_guarded` put a ' before a formula's first character."""
    return cell[1:] if cell.startswith("'") and _formula(cell[1:]) else cell


def _formula(cell: str) -> bool:
    """Whether a spreadsheet would run `cell`, or it is one `_guarded` wrote (so that a value
    that starts with ' and a formula character comes back as it was)."""
    return cell.lstrip("'").startswith(FORMULA_STARTS)


def _structured(cells: Mapping[str, str]) -> dict[str, Any]:
    """The JSON columns from their flat cells (a file from before flat cells holds JSON: kept)."""
    isbns, contributors, ids, files = [], [], [], []
    for entry in _items(cells.get("isbn", "")):
        number, kind = _qualified(entry)
        isbn = isbn13(number)
        if isbn is None:
            raise RecordError(f"ISBN {number!r} is not a valid ISBN (length or check digit)")
        isbns.append(Isbn(isbn, kind))
    for entry in _items(cells.get("contributors", "")):
        name, role = _qualified(entry)
        person = parse_authors(name)
        if person:
            contributors.append(replace(person[0], role=role or "contributor"))
    for entry in _items(cells.get("other_ids", "")):
        scheme, _, value = entry.partition(":")
        if not value.strip():
            raise RecordError(f"other identifier {entry!r} is not scheme: value, e.g. pmid: 123")
        ids.append((scheme.strip().lower(), value.strip()))
    files = [FileLink(url) for url in _items(cells.get("files", ""))]
    json_cells = {
        column: cells[column] for column in _STRUCTURED if cells.get(column, "").startswith("[{")
    }
    values = columns_of(
        isbn=tuple(isbns),
        contributors=tuple(contributors),
        other_ids=tuple(ids),
        files=tuple(files),
    )
    values.update(json_cells)
    return values


#: The JSON columns read from flat cells by `_structured`.
_STRUCTURED = frozenset({"isbn", "contributors", "other_ids", "files"})


def _items(cell: str) -> list[str]:
    """The items of a "; " list, each without the braces `_joined` put around it."""
    return [_unbraced(item) for item in split_outside_braces(cell, ";")]


def _unbraced(item: str) -> str:
    depth = 0
    for index, char in enumerate(item):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth == 0:
            return item[1:-1] if index == len(item) - 1 and index > 0 else item
    return item


def _qualified(entry: str) -> tuple[str, str | None]:
    match = _QUALIFIED.match(entry)
    return (match[1], match[2].strip()) if match else (entry, None)


def _list_cell(column: str, cell: str) -> object:
    """A "; " list ("0950-0170; 1469-8722", "a; {b; c}"), or the JSON list older exports wrote."""
    if not cell.startswith("["):
        return _items(cell)
    try:
        items = json.loads(cell)
    except ValueError:
        raise RecordError(f"{column} starts with [ but is not a JSON list: {cell!r}") from None
    if not isinstance(items, list):
        raise RecordError(f"{column} is not a JSON list: {cell!r}")
    return items


def parse_authors(cell: str) -> list[Author]:
    """ "Family, Given; {Organisation, with a comma}; Organisation" -> Authors, in order."""
    authors = []
    for entry in split_outside_braces(cell, ";"):
        if entry.startswith("{") and entry.endswith("}"):
            author = Author(name=entry[1:-1].strip()) if entry[1:-1].strip() else None
        else:
            author = parse_person(entry)
        if author:
            authors.append(author)
    return authors


# --- write ---


def write(
    works: Sequence[Mapping[str, Any]], stream: TextIO, keys: Mapping[int, str] | None = None
) -> None:
    """Works as CSV rows under WRITE_COLUMNS; a row's `id` is the work's (`keys` is not used: a
    spreadsheet row needs none)."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(WRITE_COLUMNS)
    for work in works:
        row = [flat_cell(work, column) for column in WRITE_COLUMNS[:-1]]
        writer.writerow([_guarded(cell) for cell in (*row, authors_cell(work_authors(work)))])


def flat_cell(work: Mapping[str, Any], column: str) -> str:
    """A column's value as one cell of text: lists as "; "-joined items (FLAT_ITEMS says how
    each item of a JSON column reads)."""
    if column in LIST_COLUMNS:
        return _joined(work_list(work, column))
    if column in FLAT_ITEMS:
        value = work_json(work, column)
        if isinstance(value, dict):  # other_ids, citation_counts: scheme -> value
            return _joined(f"{key}: {item}" for key, item in value.items() if item is not None)
        rows = [row for row in value if isinstance(row, dict)] if isinstance(value, list) else []
        return _joined(text for text in map(FLAT_ITEMS[column], rows) if text)
    value = work_value(work, column)
    return "" if value is None else str(value)


def _guarded(cell: str) -> str:
    """A spreadsheet runs "=HYPERLINK(...)" from a title; a ' first makes it text."""
    return f"'{cell}" if _formula(cell) else cell


def _joined(items: Iterable[str]) -> str:
    return "; ".join(
        f"{{{item}}}" if ";" in item or item.startswith("{") else item for item in items
    )


def _with(text: object, qualifier: object) -> str | None:
    if not text:
        return None
    return f"{text} ({qualifier})" if qualifier else str(text)


def _person(row: Mapping[str, Any]) -> str | None:
    [person] = authors_from_rows([row])
    return _with(authors_cell([person]), person.role)


#: How each item of a JSON column of rows is written in its cell.
FLAT_ITEMS: dict[str, Callable[[Mapping[str, Any]], str | None]] = {
    "isbn": lambda row: _with(row.get("isbn"), row.get("kind")),
    "contributors": _person,
    "files": lambda row: row.get("url"),
    "other_ids": lambda row: None,  # an object: written by flat_cell
    "citation_counts": lambda row: None,  # an object: written by flat_cell
    "titles": lambda row: _with(row.get("title"), row.get("kind")),
    "abstracts": lambda row: _with(row.get("text"), row.get("language")),
    "funders": lambda row: _with(row.get("name"), ", ".join(row.get("awards") or ())),
    "reference_list": lambda row: row.get("doi") or row.get("unstructured"),
    "relations": lambda row: _with(row.get("id"), row.get("type")),
    "updates": lambda row: _with(row.get("doi"), row.get("type")),
}


def authors_cell(authors: Sequence[Author]) -> str:
    """The reverse of `parse_authors`; an organisation whose name a reader would split or take
    for a person (a comma or ";" in it) is braced whole."""
    entries = []
    for author in authors:
        text = person_text(author)
        if not text:
            continue
        if not (author.family or author.given) and any(char in text for char in ",;{"):
            text = f"{{{text}}}"
        entries.append(text)
    return "; ".join(entries)
