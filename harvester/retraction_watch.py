"""The Retraction Watch data set, as Crossref distributes it: one CSV of every retraction,
correction, expression of concern and reinstatement Retraction Watch recorded, a row each,
naming the original paper (`OriginalPaperDOI`) and the notice (`RetractionDOI`).

`read_rows` is pure: a text stream in, a `Row` (the paper's DOI and a `Notice`) or a
`BrokenRow` (its line and why) out for each record, read as it comes, so a file of tens of
megabytes is never held whole. `download` and `open_origin` are the I/O at its edge: the file
from an http(s) URL (through the run's `HttpClient`, into a temporary file) or a local path.

What the rows look like is kept in tests/fixtures/retractionwatch/ (a real header and row):
dates as `M/D/YYYY 0:00`, `;`-lists ending in `;`, reasons as `+Reason;`, and `unavailable`
where a paper or notice has no DOI (PubMed ids `0`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import BinaryIO, TextIO
from urllib.parse import urlsplit

from harvester.config import Config
from harvester.errors import BadIdentifier, BadInputFile
from harvester.http import BytesResponse, HttpClient, RateLimiter
from harvester.identifiers import Doi, parse_doi
from harvester.integrity import notice_kind
from harvester.models import Notice

#: Who asserts the notices, and the harvester source they are read from (the same name).
SOURCE = "retraction-watch"
#: The rate-limit pool of the download.
POOL = "retraction-watch:file"

#: The columns read; the others (Title, Subject, Institution, Journal, ...) are the paper's
#: metadata, which the stored work has from its own sources.
COLUMNS = (
    "Record ID",
    "OriginalPaperDOI",
    "RetractionDOI",
    "RetractionNature",
    "RetractionDate",
    "Reason",
)

#: What the data set writes where a paper or notice has no DOI.
_NO_DOI = frozenset({"", "unavailable"})

_US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ].*)?")


@dataclass(frozen=True, slots=True)
class Row:
    """One record of the data set: the original paper's DOI (None when it has none, so no
    work can be found by it) and what the record says of it."""

    line: int
    doi: Doi | None
    notice: Notice


@dataclass(frozen=True, slots=True)
class BrokenRow:
    """A record that could not be read, with the line it starts on and why."""

    line: int
    reason: str


def read_rows(stream: Iterable[str], where: str) -> Iterator[Row | BrokenRow]:
    """Each record of the CSV on `stream` (a text file opened with newline="", or any lines),
    as it is read. A record
    with the wrong number of columns, a paper DOI or a date that is not one, or no Record ID
    or RetractionNature is a BrokenRow and the rest go on; a file whose header lacks the
    columns read is not the data set (BadInputFile, naming `where`)."""
    reader = csv.reader(stream)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise BadInputFile(where, 1, f"not a CSV file: {exc}") from None
    if header is None:
        raise BadInputFile(where, None, "empty file: not the Retraction Watch data set")
    header = [name.strip() for name in header]
    missing = [name for name in COLUMNS if name not in header]
    if missing:
        raise BadInputFile(
            where,
            1,
            f"not the Retraction Watch data set: no column {', '.join(map(repr, missing))}",
        )
    index = {name: header.index(name) for name in COLUMNS}
    while True:
        line = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield BrokenRow(line, f"not CSV: {exc}")
            continue
        if not fields:  # a blank line
            continue
        if len(fields) != len(header):
            yield BrokenRow(line, f"{len(fields)} columns where the header has {len(header)}")
            continue
        yield read_row(line, {name: fields[i] for name, i in index.items()})


def read_row(line: int, values: dict[str, str]) -> Row | BrokenRow:
    """One record, from its columns of COLUMNS."""
    record_id = values["Record ID"].strip()
    if not record_id:
        return BrokenRow(line, "no Record ID")
    nature = " ".join(values["RetractionNature"].split())
    if not nature:
        return BrokenRow(line, f"record {record_id}: no RetractionNature")
    try:
        doi = _doi(values["OriginalPaperDOI"])
    except BadIdentifier as exc:
        return BrokenRow(line, f"record {record_id}: OriginalPaperDOI {exc}")
    try:
        notice_date = parse_date(values["RetractionDate"])
    except ValueError as exc:
        return BrokenRow(line, f"record {record_id}: RetractionDate {exc}")
    try:
        notice_doi = _doi(values["RetractionDOI"])
    except BadIdentifier:
        # The notice is still said of the paper: kept, without a DOI that is not one.
        notice_doi = None
    kind = notice_kind(nature)  # Retraction, Correction, Expression of concern, Reinstatement
    reasons = reason_text(values["Reason"])
    detail = reasons if kind != "other" else "; ".join(filter(None, (nature, reasons)))
    notice = Notice(
        kind=kind,
        asserted_by=SOURCE,
        source=SOURCE,
        # In the key's case, as Crossref writes it in `updated-by`: the same notice read there
        # (asserted by retraction-watch, with its record-id) is then one notice, not two.
        notice_doi=notice_doi.key if notice_doi else None,
        record_id=record_id,
        date=notice_date,
        detail=detail or None,
    )
    return Row(line, doi, notice)


def parse_date(text: str) -> str | None:
    """The data set's `M/D/YYYY 0:00` (or an ISO date) as an ISO date; None when empty.
    ValueError, saying what it is, for anything else or a day that does not exist."""
    text = text.strip()
    if not text:
        return None
    if match := _US_DATE.fullmatch(text):
        month, day, year = (int(g) for g in match.groups())
    elif match := _ISO_DATE.fullmatch(text):
        year, month, day = (int(g) for g in match.groups())
    else:
        raise ValueError(f"{text!r} is not a date (M/D/YYYY)")
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        raise ValueError(f"{text!r} is not a day of the calendar") from None


def reason_text(text: str) -> str:
    """`+Reason A;+Reason B;` as `Reason A; Reason B`."""
    return "; ".join(r.strip().lstrip("+").strip() for r in text.split(";") if r.strip())


def _doi(text: str) -> Doi | None:
    text = text.strip()
    return None if text.casefold() in _NO_DOI else parse_doi(text)


def open_text(binary: BinaryIO) -> TextIO:
    """The file's text for `read_rows`, decoded as it is read. Crossref says the data set has
    stray bytes that are not UTF-8 (in authors' names): they become U+FFFD rather than stop
    the load, since the columns read are ASCII."""
    return io.TextIOWrapper(binary, encoding="utf-8-sig", errors="replace", newline="")


def is_url(origin: str) -> bool:
    return origin.startswith(("http://", "https://"))


def fingerprint(binary: BinaryIO) -> tuple[str, int]:
    """The sha256 (hex) and size of a file, read from its start in pieces; left at its start."""
    binary.seek(0)
    digest, size = hashlib.sha256(), 0
    while chunk := binary.read(1024 * 1024):
        digest.update(chunk)
        size += len(chunk)
    binary.seek(0)
    return digest.hexdigest(), size


def open_file(path: str) -> BinaryIO:
    """A local copy of the data set, opened for reading; BadInputFile when it cannot be."""
    try:
        return open(path, "rb")  # the caller closes it
    except OSError as exc:
        raise BadInputFile(path, None, f"cannot read: {exc.strerror or exc}") from None


def download(
    url: str,
    sink: BinaryIO,
    client: HttpClient,
    config: Config,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
) -> BytesResponse:
    """GET the data set into `sink`, asking only for a change when an earlier load's ETag or
    Last-Modified is given (a 304 answer: nothing written). Crossref's Labs URL is given the
    configured mailto, as its documentation asks; the User-Agent carries it everywhere."""
    rw = config.retraction_watch
    if not client.has_limiter(POOL):
        client.add_limiter(POOL, RateLimiter(POOL, rw.limit, pace=config.http.pace))
    headers = {"Accept": "text/csv, */*"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    labs = urlsplit(url).hostname == "api.labs.crossref.org"
    params = {"mailto": config.mailto} if labs and config.mailto and "?" not in url else None
    return client.download(
        url,
        sink,
        pool=POOL,
        source=SOURCE,
        params=params,
        headers=headers,
        answer_statuses=frozenset({304}),
        max_bytes=rw.max_bytes,
        deadline=rw.deadline,
    )
