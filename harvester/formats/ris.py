"""RIS files (EndNote, Zotero, Mendeley, databases' exports), through rispy.

rispy reads the tags; it silently drops a record without ER and tags outside a record, so the
structure (TY ... ER) is checked here first, with rispy's own line parser, and every record is
matched to the line of its TY.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

import rispy
from rispy.parser import RisParser
from rispy.writer import RisWriter

from harvester.errors import BadInputFile
from harvester.formats import (
    LocalRecord,
    RecordError,
    bad_record,
    columns_of,
    date_from_parts,
    is_issn,
    keys_for,
    local_values,
    notice_notes,
    parse_person,
    person_text,
    record_label,
    work_authors,
    work_contributors,
    work_isbns,
    work_list,
    work_rows,
    work_text,
    work_value,
)
from harvester.identifiers import isbn13
from harvester.models import Author, FileLink, Isbn

#: RIS reference types -> the store's (Crossref's) type names. GEN and types not listed say nothing
#: about the kind of work, so they give no type (a source's type then stands).
REFERENCE_TYPES = {
    "JOUR": "journal-article",
    "EJOUR": "journal-article",
    "BOOK": "book",
    "EBOOK": "book",
    "EDBOOK": "edited-book",
    "CHAP": "book-chapter",
    "ECHAP": "book-chapter",
    "CPAPER": "proceedings-article",
    "CONF": "proceedings-article",  # EndNote's and Zotero's conference papers
    "DATA": "dataset",
    "DBASE": "database",
    "RPRT": "report",
    "THES": "dissertation",
    "MANSCPT": "posted-content",  # Zotero's manuscript: what it reads a preprint as
    "UNPB": "posted-content",
    "UNPD": "posted-content",
    "COMP": "software",
    "STAND": "standard",
    "JFULL": "journal",
}

#: The store's types -> RIS types on write; every other type is written as GEN.
WRITE_TYPES = {
    "journal-article": "JOUR",
    "book": "BOOK",
    "monograph": "BOOK",
    "reference-book": "BOOK",
    "edited-book": "EDBOOK",
    "book-chapter": "CHAP",
    "book-section": "CHAP",
    "book-part": "CHAP",
    "reference-entry": "CHAP",
    "proceedings-article": "CPAPER",
    "proceedings": "CONF",
    "dataset": "DATA",
    "database": "DBASE",
    "report": "RPRT",
    "report-component": "RPRT",
    "dissertation": "THES",
    "posted-content": "MANSCPT",
    "software": "COMP",
    "standard": "STAND",
    "journal": "JFULL",
}

#: The Zotero item type each TY we write becomes in Zotero's RIS import (zotero/translators
#: RIS.js, importTypeMap): which tags Zotero reads, and as what, depends on it (its fieldMap), so
#: the writer puts each value under the tag Zotero reads it from for that type.
ZOTERO_TYPES = {
    "JOUR": "journalArticle",
    "JFULL": "journalArticle",
    "GEN": "journalArticle",
    "BOOK": "book",
    "EDBOOK": "book",
    "CHAP": "bookSection",
    "CPAPER": "conferencePaper",
    "CONF": "conferencePaper",
    "DATA": "dataset",
    "DBASE": "dataset",
    "RPRT": "report",
    "STAND": "report",
    "THES": "thesis",
    "MANSCPT": "manuscript",
    "COMP": "computerProgram",
}
#: Zotero types whose SP is the number of pages, not a page range (RIS.js fieldMap SP).
NUM_PAGES_TYPES = frozenset({"book", "thesis", "manuscript"})

#: rispy's names of the tags that may hold the container title, in order of preference:
#: T2, JF (full journal name), JO, BT (book title, kept by rispy as an unknown tag), JA, J2.
CONTAINER_KEYS = (
    "secondary_title",
    "alternate_title3",
    "journal_name",
    "BT",
    "alternate_title2",
    "alternate_title1",
)

#: SN may be repeated (print and electronic ISSN, ISBNs), and L1 (file links); rispy keeps only
#: the first unless told.
LIST_TAGS = [*rispy.LIST_TYPE_TAGS, "SN", "L1"]


# --- read ---


def read(text: str, path: str) -> list[LocalRecord]:
    """Every TY ... ER record. UR is not split on ";" (DOIs in URLs hold semicolons)."""
    starts = _record_lines(text, path)
    references = rispy.loads(text, list_tags=LIST_TAGS, delimiter_tags_mapping={})
    if len(references) != len(starts):  # _record_lines and rispy disagree: a bug, not bad input
        raise AssertionError(f"{path}: {len(starts)} TY lines but rispy read {len(references)}")
    records = []
    for reference, line in zip(references, starts, strict=True):
        label = reference.get("id")
        try:
            records.append(_record(reference, line))
        except RecordError as exc:
            raise bad_record(path, line, label or reference.get("title"), exc) from None
    return records


def _record_lines(text: str, path: str) -> list[int]:
    """The line of each record's TY, checking that records open with TY and close with ER."""
    parser = RisParser()
    starts: list[int] = []
    open_at: int | None = None
    for number, line in enumerate(text.split("\n"), start=1):
        tag, _ = parser.parse_line(line)
        if tag == "TY":
            if open_at is not None:
                raise BadInputFile(
                    path, open_at, f"record has no ER line before the next TY (line {number})"
                )
            open_at = number
            starts.append(number)
        elif tag == "ER":
            if open_at is None:
                raise BadInputFile(path, number, "ER line without a TY line before it")
            open_at = None
        elif tag is not None and open_at is None:
            raise BadInputFile(path, number, f"{tag} line outside a record (no TY line before it)")
    if open_at is not None:
        raise BadInputFile(path, open_at, "record has no ER line at its end")
    if not starts:
        raise BadInputFile(path, None, "no RIS records (TY  - ... ER  - ) found")
    return starts


def _record(reference: Mapping[str, Any], line: int) -> LocalRecord:
    year, published = _dates(reference)
    raw: dict[str, object] = {
        "type": REFERENCE_TYPES.get(str(reference.get("type_of_reference", "")).strip().upper()),
        "title": reference.get("title") or reference.get("primary_title"),
        "container_title": _container(reference),
        "volume": reference.get("volume"),
        "issue": reference.get("number"),
        "pages": _pages(reference.get("start_page"), reference.get("end_page")),
        "year": year,
        "published": published,
        "publisher": reference.get("publisher"),
        "doi": reference.get("doi"),
        "url": _first_url(reference.get("urls")),
        "abstract": reference.get("abstract") or reference.get("notes_abstract"),
        "issn": _issns(reference.get("issn", [])),
        "subjects": reference.get("keywords"),
        "language": reference.get("language"),
        "repec_handle": _repec(reference.get("accession_number")),
    }
    ris_type = str(reference.get("type_of_reference", "")).strip().upper()
    # J2 (or JA) is the journal's abbreviation, unless it is the only journal name there is.
    short = reference.get("alternate_title1") or reference.get("alternate_title2")
    unknown = reference.get("unknown_tag") or {}
    named = any(reference.get(k) for k in CONTAINER_KEYS[:3]) or unknown.get("BT")
    zotero = ZOTERO_TYPES.get(ris_type)
    raw.update(
        {
            "series_title": reference.get("tertiary_title"),
            "publisher_place": reference.get("place_published"),
            "container_short_title": short if named else None,
            # M3 means what the type makes it: a thesis's degree (else Zotero reads it as a DOI).
            "degree": reference.get("type_of_work") if zotero == "thesis" else None,
        }
    )
    if zotero in ("book", "report", "computerProgram") and reference.get("secondary_title"):
        # T2 is the series of a book, a report or a program (Zotero's fieldMap T2).
        raw["series_title"] = raw["series_title"] or reference["secondary_title"]
        raw["container_title"] = _container({**reference, "secondary_title": None})
    if zotero == "report":  # SN is the report's number (M1 in older files)
        numbers = [n for n in reference.get("issn", []) if not _issns([n]) and not _isbns([n])]
        raw["report_number"] = next(iter(numbers), None) or reference.get("note")
    if zotero == "conferencePaper":
        # T2 is the conference, C3 the proceedings (as Zotero reads them); C1 the place.
        if reference.get("custom3"):
            raw["container_title"] = reference["custom3"]
            raw["event_name"] = reference.get("secondary_title")
        raw["event_place"] = reference.get("custom1")
    values = local_values(raw)
    contributors = [
        Author(given=person.given, family=person.family, name=person.name, role=role)
        for key, role in [
            # A book's editors are A3 (its A2 are series editors), as Zotero reads them.
            ("tertiary_authors" if zotero == "book" else "secondary_authors", "editor"),
            ("subsidiary_authors", "translator"),
            ("ED", "editor"),
        ]
        for person in map(
            parse_person, unknown.get(key, []) if key.isupper() else reference.get(key) or []
        )
        if person
    ]
    values.update(
        columns_of(
            contributors=tuple(contributors),
            isbn=tuple(_isbns(reference.get("issn", []))),
            files=tuple(
                FileLink(url) for url in reference.get("file_attachments1") or [] if url.strip()
            ),
        )
    )
    names = reference.get("authors") or reference.get("first_authors") or []
    authors = tuple(author for author in map(parse_person, names) if author)
    return LocalRecord(values, authors, line, record_label(reference.get("id"), values, line))


def _dates(reference: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(year, published): PY is the year; DA (or the older Y1) is the date, "2015/06/01/" with
    slashes (some tools write 2015-06-01), a free-text fourth part after the day."""
    year_text = reference.get("year")
    year = re.split(r"[/-]", year_text.strip())[0] if year_text else None
    for key in ("date", "publication_year"):
        text = (reference.get(key) or "").strip()
        if text:
            year_part, month, day, *_ = [*re.split(r"[/-]", text), None, None]
            return year, date_from_parts(year_part, month, day)
    return year, None


def _pages(start: str | None, end: str | None) -> str | None:
    start, end = (start or "").strip(), (end or "").strip()
    return f"{start}-{end}" if start and end else start or end or None


def _container(reference: Mapping[str, Any]) -> str | None:
    unknown = reference.get("unknown_tag") or {}
    for key in CONTAINER_KEYS:
        value = unknown.get(key, [None])[0] if key.isupper() else reference.get(key)
        if value and value.strip():
            return value
    return None


def _first_url(urls: list[str] | None) -> str | None:
    """The first UR; one UR line listing several ("url1; url2") gives its first (URLs hold no
    spaces, so "; " only ever separates them)."""
    return re.split(r";\s+", urls[0])[0] if urls else None


def _issns(numbers: list[str]) -> list[str]:
    """SN also holds ISBNs (books, chapters): only what looks like an ISSN is kept."""
    parts = [part for text in numbers for part in re.split(r"[,;\s]+", text)]
    return [part for part in parts if is_issn(part)]


def _isbns(numbers: list[str]) -> list[Isbn]:
    """The ISBNs among SN's numbers (those that are valid ISBNs), each once, in 13 digits."""
    found: list[Isbn] = []
    for text in numbers:
        for part in [text, *re.split(r"[,;\s]+", text)]:
            number = None if is_issn(part) else isbn13(part.strip())
            if number and all(isbn.isbn != number for isbn in found):
                found.append(Isbn(number))
    return found


def _repec(accession: str | None) -> str | None:
    """AN is a database's accession number; only a RePEc handle there is ours (others, such as
    Web of Science's WOS:..., are left alone)."""
    if accession and accession.strip().lower().startswith("repec:"):
        return accession
    return None


# --- write ---


class _Writer(RisWriter):
    """rispy's writer without its "1." numbering lines, which are not RIS."""

    def set_header(self, count: int) -> str:
        return ""


def write(
    works: Sequence[Mapping[str, Any]], stream: TextIO, keys: Mapping[int, str] | None = None
) -> None:
    """Works as RIS records, in the order given; one line per value (line breaks become spaces)."""
    keys = keys_for(works, keys)
    references = [_reference(work, key) for work, key in zip(works, keys, strict=True)]
    stream.write(rispy.dumps(references, implementation=_Writer, list_tags=LIST_TAGS))


def _reference(work: Mapping[str, Any], key: str) -> dict[str, Any]:
    """One RIS record, each value under the tag Zotero's RIS import reads it from for the
    record's type (ZOTERO_TYPES)."""
    ris_type = WRITE_TYPES.get(work_text(work, "type") or "", "GEN")
    zotero = ZOTERO_TYPES.get(ris_type, "journalArticle")
    start, _, end = (work_text(work, "pages") or "").partition("-")
    parts = (work_text(work, "published") or "").split("-")
    year = work_value(work, "year")
    container = work_text(work, "container_title")
    series = work_text(work, "series_title")
    editors = [
        text for person in work_contributors(work, "editor") if (text := person_text(person))
    ]
    translators = [
        text for person in work_contributors(work, "translator") if (text := person_text(person))
    ]
    reference: dict[str, Any] = {
        "type_of_reference": ris_type,
        "id": key,
        "title": work_text(work, "title"),
        "authors": [text for author in work_authors(work) if (text := person_text(author))],
        "year": str(year) if year is not None else parts[0],
        "date": "/".join([*parts, "", ""][:3]) + "/" if len(parts) > 1 else None,
        "volume": work_text(work, "volume"),
        "file_attachments1": [row["url"] for row in work_rows(work, "files") if row.get("url")],
        "doi": work_text(work, "doi"),
        "urls": [url] if (url := work_text(work, "url")) else [],
        "accession_number": work_text(work, "repec_handle"),
        "language": work_text(work, "language"),
        "keywords": [_one_line(subject) for subject in work_list(work, "subjects")],
        "abstract": work_text(work, "abstract"),
        "notes": [
            *([status] if (status := work_text(work, "publication_status")) else []),
            *notice_notes(work),
        ],
    }
    if zotero not in NUM_PAGES_TYPES:
        reference.update(start_page=start, end_page=end)
    if zotero not in ("bookSection", "dataset"):  # IS is a number of volumes, or not read
        reference["number"] = work_text(work, "issue")
    # Editors: A2 (a book's A2 is its series editor, its editors A3); translators A4.
    if zotero in ("journalArticle", "bookSection", "conferencePaper"):
        reference["secondary_authors"] = editors
    elif zotero == "book":
        reference["tertiary_authors"] = editors
    if zotero not in ("conferencePaper", "dataset"):  # A4 is a contributor there
        reference["subsidiary_authors"] = translators
    # The container, the series and the event.
    if zotero in ("journalArticle", "bookSection"):
        reference["secondary_title"] = container
        reference["tertiary_title"] = series
    elif zotero == "conferencePaper":
        reference["secondary_title"] = work_text(work, "event_name")  # conferenceName
        reference["custom3"] = container  # proceedingsTitle
        reference["tertiary_title"] = series
        reference["custom1"] = work_text(work, "event_place")  # place
    elif zotero in ("book", "report", "computerProgram"):
        reference["secondary_title"] = series  # series, seriesTitle
    # (a thesis, a dataset or a manuscript has no container in Zotero: T2 would be a note)
    if zotero == "journalArticle":
        reference["alternate_title1"] = work_text(work, "container_short_title")  # J2
        reference["issn"] = [", ".join(work_list(work, "issn"))]
    else:
        if zotero != "manuscript":  # a manuscript has no publisher in Zotero
            reference["publisher"] = work_text(work, "publisher")  # institution, university...
        if zotero != "conferencePaper":
            reference["place_published"] = work_text(work, "publisher_place")
        numbers = [work_text(work, "report_number")] if zotero == "report" else []
        reference["issn"] = numbers or [", ".join(work_isbns(work))]  # reportNumber, ISBN
    if zotero == "thesis":
        reference["type_of_work"] = work_text(work, "degree")  # M3: thesisType
    return {
        name: _one_line(value) if isinstance(value, str) else value
        for name, value in reference.items()
        if value and value != [""]
    }


def _one_line(text: str) -> str:
    """RIS has one line per value: a line break inside would be read as a continuation."""
    return re.sub(r"\s*[\r\n]+\s*", " ", text).strip()
