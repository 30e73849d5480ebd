"""CSV with a header row whose columns are named as the `works` columns, with the stdlib csv module.

Written with every column (and `id` first), so a spreadsheet shows the whole store; read back with
the columns a person may edit. List columns (issn, subjects) are written as the JSON the store holds,
and read from that JSON or from plain text separated by ";". Authors are one cell,
"Family, Given; Family, Given"; an entry without a comma, or in braces, is an organisation.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from harvester.errors import BadInputFile
from harvester.formats import (
    LocalRecord,
    RecordError,
    bad_record,
    local_values,
    parse_person,
    person_text,
    record_label,
    split_outside_braces,
    work_authors,
)
from harvester.merge import WORK_FIELDS
from harvester.models import Author

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
)
#: Columns read: every works column a file may set, and the authors.
READ_COLUMNS = (*(name for name in WORK_FIELDS if name not in IGNORED_COLUMNS), "authors")
LIST_COLUMNS = frozenset({"issn", "subjects"})


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
    cells = {column: cell.strip() for column, cell in zip(header, row, strict=True) if cell.strip()}
    if "" in cells:
        raise BadInputFile(
            path, line, f"a cell under a column without a name: {cells['']!r}; name the column"
        )
    try:
        raw: dict[str, object] = {
            column: _list_cell(column, cell) if column in LIST_COLUMNS else cell
            for column, cell in cells.items()
            if column in READ_COLUMNS and column != "authors"
        }
        values = local_values(raw)
        authors = tuple(parse_authors(cells.get("authors", "")))
    except RecordError as exc:
        raise bad_record(path, line, None, exc) from None
    return LocalRecord(values, authors, line, record_label(None, values, line))


def _list_cell(column: str, cell: str) -> object:
    """The JSON list the store writes, or plain text ("0950-0170; 1469-8722", "a; b")."""
    if not cell.startswith("["):
        return cell
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


def write(works: Sequence[Mapping[str, Any]], stream: TextIO) -> None:
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(WRITE_COLUMNS)
    for work in works:
        row = [_cell(work.get(column)) for column in WRITE_COLUMNS[:-1]]
        writer.writerow([*row, authors_cell(work_authors(work))])


def _cell(value: object) -> str:
    return "" if value is None else str(value)


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
