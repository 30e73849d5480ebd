"""BibTeX (and the biblatex fields people use in .bib files), through bibtexparser 2.x.

bibtexparser splits the syntax into blocks; this module evaluates the values (@string macros,
"#" concatenation, month names), maps entry types and fields, turns LaTeX into Unicode with
bibtexparser's LaTeX decoding middleware (pylatexenc) on read, and escapes what LaTeX would read as
markup on write, so that any text comes back as it went out. A block the splitter cannot parse,
and a value that is not a value (a missing comma), stops the import with its line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

import bibtexparser
from bibtexparser import model
from bibtexparser.library import Library
from bibtexparser.middlewares import LatexDecodingMiddleware
from bibtexparser.middlewares.names import (
    InvalidNameError,
    NameParts,
    parse_single_name_into_parts,
)
from bibtexparser.writer import BibtexFormat
from pylatexenc.latex2text import LatexNodes2Text, MacroTextSpec, get_default_latex_context_db

from harvester.errors import BadInputFile
from harvester.formats import (
    LocalRecord,
    RecordError,
    bad_record,
    clean_isbns,
    columns_of,
    date_from_parts,
    keys_for,
    local_values,
    notice_notes,
    split_outside_braces,
    work_authors,
    work_contributors,
    work_ids,
    work_list,
    work_rows,
    work_text,
    work_value,
)
from harvester.models import Author

log = logging.getLogger(__name__)

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
    "collection": "edited-book",
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

#: Fields read as text (LaTeX decoded): BibTeX field -> works column. `number` depends on the
#: entry type (see _number_column); `type` is a report's series or a thesis's degree.
TEXT_FIELDS = {
    "title": "title",
    "subtitle": "subtitle",
    "volume": "volume",
    "pages": "pages",
    "abstract": "abstract",
    "language": "language",
    "issn": "issn",
    "shortjournal": "container_short_title",  # biblatex
    "series": "series_title",
    "eventtitle": "event_name",  # biblatex, as biber's data model names the conference
    "venue": "event_place",
}
#: Fields that are identifiers, links or dates: read and written verbatim, as biblatex treats them.
VERBATIM_FIELDS = {"doi": "doi", "url": "url", "repec": "repec_handle", "eventdate": "event_date"}
#: Where the container title is on read, in order (journaltitle is biblatex's name for journal).
CONTAINER_FIELDS = ("journal", "journaltitle", "booktitle")
#: Where the publisher is on read: reports name an institution, theses a school.
PUBLISHER_FIELDS = ("publisher", "institution", "school", "organization")
#: Where the publisher's place is: BibTeX's address, biblatex's location.
PLACE_FIELDS = ("address", "location")
#: Name lists -> the role of a contributor (None: the authors); biblatex names both.
NAME_FIELDS = {"author": None, "editor": "editor", "translator": "translator"}
#: Entry types whose container is a book (booktitle), not a journal.
IN_BOOK = frozenset({"incollection", "inproceedings", "inbook"})
#: Entry types whose `number` is the report's own number (a working paper's, ReDIF Number).
REPORTS = frozenset({"techreport", "report"})
#: Entry types whose `type` field names the degree.
THESES = frozenset({"phdthesis", "mastersthesis", "thesis"})
#: biblatex's localisation keys for the `type` of a report or thesis (its manual, field `type`):
#: a kind of document, not a series; a thesis's key is read as the degree biblatex prints.
TYPE_KEYS = {
    "techreport": None,
    "resreport": None,
    "phdthesis": "PhD thesis",
    "mathesis": "MA thesis",
    "candthesis": "Candidate thesis",
}
#: Other identifiers other tools write as fields of their own (PubMed's): read, not written, as
#: biblatex's data model has no such fields.
ID_FIELDS = {"pmid": "pmid", "pmcid": "pmcid"}
#: biblatex's eprint (one per entry): what it holds, in order of preference, as
#: (eprinttype, where the value is). A RePEc handle first: without a DOI it is the work's
#: identifier. Read back by _ids and the `repec` verbatim field.
EPRINTS = (("repec", "repec_handle"), ("arxiv", "arxiv"), ("pubmed", "pmid"))

_BOOK = "author editor translator title subtitle series volume number pages publisher address isbn"
#: The fields biblatex's data model allows for each entry type we write, of those we write
#: (biber's default data model, biber-tool.conf <entryfields>, in BibTeX's names: journal is
#: journaltitle, address is location, school is institution, eventdate gives eventyear...).
#: `biber --tool --validate-datamodel` warns of any other (tests/test_exports.py).
BIBLATEX_FIELDS = {
    entry_type: frozenset(fields.split()) | {"language", "note"}
    for entry_type, fields in {
        "article": "author editor translator title subtitle journal series volume number pages issn",
        "book": _BOOK,
        "collection": _BOOK.removeprefix("author "),
        "inbook": f"{_BOOK} booktitle",
        "incollection": f"{_BOOK} booktitle",
        "inproceedings": f"{_BOOK} booktitle eventtitle venue eventdate organization".replace(
            " translator", ""
        ),
        "proceedings": f"{_BOOK} eventtitle venue eventdate organization".replace(
            "author editor translator", "editor"
        ),
        "techreport": "author title subtitle type number pages institution address",
        "phdthesis": "author title subtitle type pages school address",
        "unpublished": "author title subtitle eventtitle venue eventdate type address howpublished",
        "dataset": "author editor title subtitle series type number publisher address organization",
        "software": "author editor title subtitle type address howpublished organization",
        "misc": "author editor title subtitle type address howpublished organization",
    }.items()
}
#: What biblatex's data model requires of each entry type (biber-tool.conf <constraints>), beside
#: a title and a date, in terms of what a work has ("container": journal or book title).
REQUIRED = {
    "article": ("author", "container"),
    "book": ("author",),
    "collection": ("editor",),
    "inbook": ("author", "container"),
    "incollection": ("author", "editor", "container"),
    "inproceedings": ("author", "container"),
    "techreport": ("author", "publisher"),
    "phdthesis": ("author", "publisher"),
    "unpublished": ("author",),
}
#: The date of a work without one: EDTF's "year not known", which biblatex accepts for its
#: required date (a missing date is a data-model error, "n.d." an invalid year).
UNKNOWN_DATE = "XXXX"
#: Fields every entry type has in biblatex's data model.
ANY_TYPE_FIELDS = frozenset(
    [
        "year",
        "month",
        "date",
        "shortjournal",
        "doi",
        "eprint",
        "eprinttype",
        "url",
        "keywords",
        "abstract",
    ]
)
#: Entry types that have no publisher or journal field: where a work was published (a preprint
#: server, a repository such as Zenodo) is said in `howpublished`.
HOWPUBLISHED_TYPES = frozenset({"unpublished", "software", "misc"})

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
#: Field order on write, for a reader's eye.
FIELD_ORDER = (
    "author",
    "editor",
    "translator",
    "title",
    "subtitle",
    "journal",
    "shortjournal",
    "booktitle",
    "eventtitle",
    "venue",
    "eventdate",
    "series",
    "type",
    "year",
    "month",
    "date",
    "volume",
    "number",
    "pages",
    "publisher",
    "howpublished",
    "organization",
    "institution",
    "school",
    "address",
    "isbn",
    "issn",
    "doi",
    "eprint",
    "eprinttype",
    "url",
    "language",
    "keywords",
    "note",
    "abstract",
)


# --- LaTeX -> Unicode ---


def _decoder() -> LatexNodes2Text:
    """bibtexparser's own decoder (its default context, \\url kept bare), with the text
    macros of LaTeX's escapes meaning their characters: pylatexenc gives U+02C6 for
    \\textasciicircum and nothing for the braces and the straight double quote."""
    context = get_default_latex_context_db()
    context.add_context_category(
        "harvester-escapes",
        prepend=True,
        macros=[
            MacroTextSpec("url", simplify_repl="%s"),
            MacroTextSpec("textasciicircum", simplify_repl="^"),
            MacroTextSpec("textbraceleft", simplify_repl="{"),
            MacroTextSpec("textbraceright", simplify_repl="}"),
            MacroTextSpec("textquotedbl", simplify_repl='"'),
        ],
    )
    return LatexNodes2Text(latex_context=context, keep_braced_groups=False, math_mode="verbatim")


_LATEX_DECODING = LatexDecodingMiddleware(decoder=_decoder())


def decode_latex(values: Mapping[str, str | NameParts]) -> dict[str, Any]:
    """Field values (text or a name's parts) as Unicode, through bibtexparser's LaTeX decoding
    middleware; LaTeX's unbreakable space (~) becomes a space, and whitespace is what TeX makes
    of it: a run is one space, a blank line a paragraph break."""
    entry = model.Entry(
        "misc", "decode", [model.Field(key, value) for key, value in values.items()]
    )
    decoded = _LATEX_DECODING.transform(Library([entry]))
    [block] = decoded.blocks
    if isinstance(block, model.MiddlewareErrorBlock):
        raise RecordError(f"LaTeX that cannot be read: {block.error}")
    result: dict[str, Any] = {}
    for field in block.fields:
        if isinstance(field.value, NameParts):
            parts = field.value
            result[field.key] = NameParts(
                *(
                    [_tidy(text) for text in part]
                    for part in (parts.first, parts.von, parts.last, parts.jr)
                )
            )
        else:
            result[field.key] = _tidy(field.value)
    return result


def _tidy(text: str) -> str:
    text = text.replace("\xa0", " ")
    paragraphs = re.split(r"[ \t]*\n[ \t]*\n\s*", text.strip())
    return "\n\n".join(" ".join(paragraph.split()) for paragraph in paragraphs if paragraph.strip())


# --- read ---


def read(text: str, path: str) -> list[LocalRecord]:
    """Every entry of a .bib file; @string macros, "#" and the month names are evaluated."""
    library = bibtexparser.parse_string(text, parse_stack=[])
    strings: dict[str, str] = {}
    records = []
    for block in library.blocks:
        line = (block.start_line or 0) + 1
        if isinstance(block, model.DuplicateBlockKeyBlock):
            block = (
                block.ignore_error_block
            )  # the same key twice: both are records, as BibTeX has them
        if isinstance(block, model.ParsingFailedBlock):
            reason = getattr(block.error, "abort_reason", None) or str(block.error)
            kind = re.match(r"\s*@\s*(\w+)", block.raw or "")
            what = f"@{kind[1]} entry" if kind else "entry"
            raise BadInputFile(path, line, f"this {what} cannot be read: {reason}")
        if isinstance(block, model.String):
            try:
                strings[block.key.lower()] = _evaluate(block.value, strings)
            except RecordError as exc:
                raise BadInputFile(path, line, f"@string {block.key}: {exc}") from None
        elif isinstance(block, model.Entry):
            try:
                records.append(_record(block, line, strings))
            except RecordError as exc:
                where = getattr(exc, "line", None) or line
                raise bad_record(path, where, block.key, exc) from None
    if not records:
        raise BadInputFile(path, None, "no BibTeX entries (@article{...}, @book{...}, ...) found")
    return records


_TOKEN = re.compile(r'\s*(?:(\{)|(")|([0-9]+)|([^\s#{}"=,]+))\s*')


def _evaluate(raw: str, strings: Mapping[str, str]) -> str:
    """A field's value as written: {text}, "text", a number or a @string name (the month names
    are predefined, as in BibTeX), joined with #."""
    parts, position = [], 0
    while True:
        match = _TOKEN.match(raw, position)
        if match is None:
            raise RecordError(f"{raw.strip()!r} is not a value (a comma missing?)")
        if match[1] or match[2]:
            opener = match.start(1) if match[1] else match.start(2)
            end = _closing(raw, opener)
            parts.append(raw[opener + 1 : end])
            position = end + 1
        elif match[3]:
            parts.append(match[3])
            position = match.end()
        else:
            name = match[4].lower()
            if name in strings:
                parts.append(strings[name])
            elif name in MONTHS:
                parts.append(MONTH_NAMES[MONTHS.index(name)])
            else:
                raise RecordError(f"@string {match[4]!r} is used but not defined")
            position = match.end()
        rest = raw[position:].lstrip()
        if not rest:
            return "".join(parts)
        if not rest.startswith("#"):
            raise RecordError(f"{raw.strip()!r} is not a value (a comma missing?)")
        position = len(raw) - len(rest) + 1


def _closing(raw: str, start: int) -> int:
    """Where the brace group or quoted text opened at `start` closes."""
    depth = 0
    for index in range(start, len(raw)):
        char = raw[index]
        if raw[start] == '"' and index > start and char == '"' and depth == 0:
            return index
        if char == "{" and raw[index - 1 : index] != "\\":
            depth += 1
        elif char == "}" and raw[index - 1 : index] != "\\":
            depth -= 1
            if depth == 0 and raw[start] == "{":
                return index
    raise RecordError(f"{raw.strip()!r} has an unclosed brace or quote")


def _record(entry: model.Entry, line: int, strings: Mapping[str, str]) -> LocalRecord:
    if re.search(r"\s", entry.key):
        raise RecordError(f"the key {entry.key!r} holds a space; BibTeX keys cannot")
    fields: dict[str, str] = {}
    for field in entry.fields:
        name = field.key.lower()
        if name in fields:
            raise RecordError(f"field {name!r} appears twice")
        try:
            fields[name] = _evaluate(field.value, strings)
        except RecordError as exc:
            error = RecordError(f"{name}: {exc}")
            error.line = (field.start_line or 0) + 1  # type: ignore[attr-defined]
            raise error from None
    entry_type = entry.entry_type.lower()
    names, more_authors = _names(fields)
    keywords = _split_keywords(fields.get("keywords") or fields.get("keyword") or "")
    text_names = {
        **{name: name for name in TEXT_FIELDS},
        "number": "number",
        "type": "type",
        "container": next((n for n in CONTAINER_FIELDS if fields.get(n, "").strip()), ""),
        "publisher": next((n for n in PUBLISHER_FIELDS if fields.get(n, "").strip()), ""),
        "place": next((n for n in PLACE_FIELDS if fields.get(n, "").strip()), ""),
    }
    to_decode: dict[str, str | NameParts] = {
        key: fields[name] for key, name in text_names.items() if name in fields
    }
    to_decode.update({f"keyword#{i}": keyword for i, keyword in enumerate(keywords)})
    to_decode.update({key: parts for key, (_, parts) in names.items() if parts is not None})
    decoded = decode_latex(to_decode)

    raw: dict[str, object] = {column: decoded.get(name) for name, column in TEXT_FIELDS.items()}
    raw.update(
        {
            column: _verbatim(fields[name])
            for name, column in VERBATIM_FIELDS.items()
            if name in fields
        }
    )
    if (fields.get("eprinttype") or "").strip().lower() == "repec" and "repec" not in fields:
        raw["repec_handle"] = _verbatim(fields.get("eprint") or "")  # as our export writes it
    raw["type"] = ENTRY_TYPES.get(entry_type)
    raw["container_title"] = decoded.get("container")
    raw["publisher"] = decoded.get("publisher")
    raw["publisher_place"] = decoded.get("place")
    kind = decoded.get("type")
    if entry_type in REPORTS and kind and kind not in TYPE_KEYS and not raw.get("series_title"):
        raw["series_title"] = kind  # a working paper's series, as IDEAS writes it
    if entry_type in THESES and kind:
        raw["degree"] = TYPE_KEYS.get(kind, kind)
    if "number" in decoded:
        raw[_number_column(entry_type, fields)] = decoded["number"]
    raw["subjects"] = [decoded[f"keyword#{i}"] for i in range(len(keywords))]
    raw["year"], raw["published"] = _dates(fields)
    people = {
        key: _person(decoded.get(key), organisation) for key, (organisation, _) in names.items()
    }
    authors = tuple(a for key, a in people.items() if a and key.startswith("author#"))
    contributors = tuple(
        Author(**{**_as_dict(a), "role": NAME_FIELDS[key.split("#")[0]]})
        for key, a in people.items()
        if a and not key.startswith("author#")
    )
    isbns = clean_isbns(part for part in re.split(r"[,;\s]+", fields.get("isbn", "")) if part)
    values = local_values(raw)
    values.update(columns_of(contributors=contributors, isbn=tuple(isbns), other_ids=_ids(fields)))
    if more_authors:
        log.warning(
            '%s: the byline goes on ("and others"): only the %d listed authors are read',
            entry.key,
            len(authors),
        )
    return LocalRecord(values, authors, line, entry.key, more_authors=more_authors)


def _as_dict(author: Author) -> dict[str, Any]:
    return {"given": author.given, "family": author.family, "name": author.name}


def _number_column(entry_type: str, fields: Mapping[str, str]) -> str:
    """`number` is a report's own number, a book's number in its series, else the issue."""
    if entry_type in REPORTS:
        return "report_number"
    if entry_type != "article" and fields.get("series", "").strip():
        return "series_number"
    return "issue"


def _ids(fields: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    ids = [
        (scheme, _verbatim(fields[name]))
        for name, scheme in ID_FIELDS.items()
        if fields.get(name, "").strip()
    ]
    eprint_type = (fields.get("eprinttype") or fields.get("archiveprefix") or "").strip().lower()
    if fields.get("eprint", "").strip() and eprint_type in ("arxiv", "pubmed"):
        scheme = "arxiv" if eprint_type == "arxiv" else "pmid"
        if all(s != scheme for s, _ in ids):
            ids.append((scheme, _verbatim(fields["eprint"])))
    return tuple(ids)


def _split_keywords(text: str) -> list[str]:
    """Keywords separated by , or ; outside braces; one braced whole is one keyword with its
    commas ("{Shipping, Ports}"), which is how a keyword holding a separator is written."""
    return [part for part in split_outside_braces(text, ",;") if part != "{}"]


def _dates(fields: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(year, published): biblatex `date` (ISO) if given, else `year` and `month` combined."""
    year = fields.get("year", "").strip() or None
    date = fields.get("date", "").strip()
    if "X" in date.upper():  # EDTF unspecified digits ("XXXX", "19XX"): no date we can store
        date = ""
    if date:
        first = date.split("/")[0].strip()  # a range 2014-02-11/2014-02-12 starts a work
        return year, first or None
    if year is None:
        return None, None
    return year, date_from_parts(year, _month(fields.get("month", "")))


def _month(text: str) -> int | None:
    """ "August", "aug", "Aug." (the month macros, expanded) or "8"; anything else is no month."""
    word = text.strip().rstrip(".").lower()
    if word.isdigit():
        return int(word)
    return MONTHS.index(word[:3]) + 1 if word[:3] in MONTHS and len(word) >= 3 else None


def _names(
    fields: Mapping[str, str],
) -> tuple[dict[str, tuple[str | None, NameParts | None]], bool]:
    """Each name of the name lists, keyed "author#0", "editor#0", ...: (an organisation's raw
    name, None) for a name braced whole ("{World Health Organization}"), else (None, its parts).
    "others" at the end of the authors says the byline goes on; it is nobody's name."""
    names: dict[str, tuple[str | None, NameParts | None]] = {}
    more_authors = False
    for field, role in NAME_FIELDS.items():
        listed = _split_names(fields.get(field, ""))
        if listed and listed[-1].strip().lower() == "others":
            listed = listed[:-1]
            more_authors = more_authors or role is None
        for index, name in enumerate(listed):
            key = f"{field}#{index}"
            if _is_braced_whole(name):
                names[key] = (name[1:-1], None)
                continue
            try:
                names[key] = (None, parse_single_name_into_parts(name, strict=False))
            except (InvalidNameError, ValueError, IndexError):
                raise RecordError(f"{field} {name!r} is not a name BibTeX can read") from None
    for key, (organisation, _) in list(names.items()):
        if organisation is not None:
            names[key] = (organisation, NameParts(first=[], von=[], last=[organisation], jr=[]))
    return names, more_authors


def _split_names(field: str) -> list[str]:
    """Names split on "and" outside braces, as BibTeX does (bibtexparser's splitter loses a
    name that starts with a comma and holds an escape, ", \\&")."""
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


def _person(parts: NameParts | None, organisation: str | None) -> Author | None:
    if parts is None:
        return None
    if organisation is not None:
        name = " ".join(parts.last)
        return Author(name=name) if name else None
    family = " ".join(filter(None, [" ".join(parts.von), " ".join(parts.last)]))
    if parts.jr:
        family = f"{family}, {' '.join(parts.jr)}"
    given = " ".join(parts.first)
    return Author(given=given or None, family=family or None) if family or given else None


def _is_braced_whole(name: str) -> bool:
    """Whether one brace group spans the whole name: "{Statistique Canada}"."""
    name = name.strip()
    if not (name.startswith("{") and name.endswith("}")):
        return False
    depth = 0
    for index, char in enumerate(name):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth == 0:
            return index == len(name) - 1
    return False


def _verbatim(value: str) -> str:
    """DOI, URL, handle, date: taken as written, except for the LaTeX escapes some tools put in
    them (Mendeley writes 10.1000/a{\\_}b) and braces."""
    return re.sub(r"\{?\\([_%&#$~])\}?", r"\1", value).replace("{", "").replace("}", "").strip()


# --- write ---


def write(
    works: Sequence[Mapping[str, Any]], stream: TextIO, keys: Mapping[int, str] | None = None
) -> None:
    """Works as BibTeX entries, in the order given, UTF-8 text kept as it is (non-Latin too)."""
    keys = keys_for(works, keys)
    library = Library([_entry(work, key) for work, key in zip(works, keys, strict=True)])
    layout = BibtexFormat()
    layout.indent = "  "
    layout.block_separator = "\n\n"
    stream.write(bibtexparser.write_string(library, bibtex_format=layout))


def _entry(work: Mapping[str, Any], key: str) -> model.Entry:
    entry_type = _entry_type(work)
    values: dict[str, str] = {}
    values["author"] = _name_list(work_authors(work))
    for field, role in NAME_FIELDS.items():
        if role:
            values[field] = _name_list(work_contributors(work, role))
    for name, column in TEXT_FIELDS.items():
        values[name] = latex_escape(work_text(work, column))
    values["issn"] = next(iter(work_list(work, "issn")), "")  # biblatex's issn is one ISSN
    values["isbn"] = _one_isbn(work)
    values["pages"] = values["pages"].replace("-", "--")
    container = latex_escape(work_text(work, "container_title"))
    if entry_type == "techreport":
        # The series a working paper is in, as IDEAS writes it (RePEc's is its series_title).
        values["type"] = values.pop("series", "") or container
        values["number"] = latex_escape(work_text(work, "report_number"))
    else:
        values["booktitle" if entry_type in IN_BOOK else "journal"] = container
        in_series = entry_type != "article" and values["series"]
        values["number"] = latex_escape(work_text(work, "series_number" if in_series else "issue"))
    if entry_type == "phdthesis":
        values["type"] = latex_escape(work_text(work, "degree"))
    publisher_field = {"techreport": "institution", "phdthesis": "school"}.get(entry_type)
    values[publisher_field or "publisher"] = latex_escape(work_text(work, "publisher"))
    if entry_type in HOWPUBLISHED_TYPES:
        values["howpublished"] = container or values["publisher"]
    values["address"] = latex_escape(work_text(work, "publisher_place"))
    values["keywords"] = ", ".join(_keyword(subject) for subject in work_list(work, "subjects"))
    notes = [work_text(work, "publication_status"), *notice_notes(work)]
    values["note"] = latex_escape("; ".join(n for n in notes if n))
    for name, column in VERBATIM_FIELDS.items():
        values[name] = _verbatim_out(work_text(work, column))
    ids = {**work_ids(work), "repec_handle": work_text(work, "repec_handle")}
    eprint = next(((kind, ids[name]) for kind, name in EPRINTS if ids.get(name)), None)
    if eprint:
        values["eprinttype"], values["eprint"] = eprint[0], _verbatim_out(eprint[1])
    year = work_value(work, "year")
    parts = [int(part) for part in (work_text(work, "published") or "").split("-") if part]
    values["year"] = str(year) if year is not None else (f"{parts[0]:04d}" if parts else "")
    if not values["year"]:
        values["date"] = UNKNOWN_DATE
    allowed = BIBLATEX_FIELDS[entry_type] | ANY_TYPE_FIELDS
    fields = [
        model.Field(name, values[name])
        for name in FIELD_ORDER
        if values.get(name) and name in allowed
    ]
    if len(parts) >= 2:
        month = model.Field("month", MONTHS[parts[1] - 1], enclosing="no-enclosing")
        fields.insert(next(i for i, f in enumerate(fields) if f.key == "year") + 1, month)
    if len(parts) == 3:
        fields.insert(
            next(i for i, f in enumerate(fields) if f.key == "month") + 1,
            model.Field("date", work_text(work, "published")),
        )
    return model.Entry(entry_type, key, fields)


def _entry_type(work: Mapping[str, Any]) -> str:
    """The work's type in BibTeX's names (WRITE_TYPES), as biblatex's data model wants it: a
    chapter without editors is @inbook (@incollection requires an editor), and a book of
    editors without authors is a @collection."""
    entry_type = WRITE_TYPES.get(work_text(work, "type") or "", "misc")
    known = {
        "author": bool(work_authors(work)),
        "editor": bool(work_contributors(work, "editor")),
        "container": bool(work_text(work, "container_title")),
        "publisher": bool(work_text(work, "publisher")),
    }
    if entry_type == "incollection" and not known["editor"]:
        entry_type = "inbook"
    if entry_type == "book" and known["editor"] and not known["author"]:
        entry_type = "collection"
    # An entry without what its type requires is a @misc, which requires only a title.
    return "misc" if not all(known[part] for part in REQUIRED.get(entry_type, ())) else entry_type


def _one_isbn(work: Mapping[str, Any]) -> str:
    """biblatex's isbn holds one ISBN (biber refuses a list): the print one, else the first."""
    rows = [row for row in work_rows(work, "isbn") if row.get("isbn")]
    print_rows = [row for row in rows if row.get("kind") == "print"]
    return str((print_rows or rows or [{"isbn": ""}])[0]["isbn"])


def _verbatim_out(text: str | None) -> str:
    """Braces would unbalance the entry; percent-encoded they mean the same in a DOI or URL."""
    return (text or "").replace("{", "%7B").replace("}", "%7D")


def _name_list(people: Sequence[Author]) -> str:
    return " and ".join(name for name in map(_name, people) if name)


def _keyword(subject: str) -> str:
    """A keyword holding a separator (, or ;) is braced whole, so that it is read as one."""
    text = latex_escape(subject)
    return f"{{{text}}}" if re.search(r"[,;]", subject) else text


def _name(author: Author) -> str | None:
    """ "Family, Given" with parts braced where BibTeX would split them wrongly (a comma or an
    "and" inside); an organisation is braced whole, "{Statistique Canada}"."""
    if not (author.family or author.given):
        return f"{{{latex_escape(author.name)}}}" if author.name else None
    family = _protect(latex_escape(author.family))
    if not author.given and re.fullmatch(r"[^\s{}]+", family) and family.lower() != "others":
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
        "`": "{`}",
    }
)
#: What LaTeX (and so the decoder) reads as a ligature: "--" (a dash), "''" (a quote), "!`".
_LIGATURE = re.compile(r"(?<=-)(?=-)|(?<=')(?=')")


def latex_escape(text: str | None) -> str:
    """Text for a BibTeX field, LaTeX's special characters escaped and its ligatures broken
    ("-{}-"); everything else (accents, non-Latin scripts) stays as UTF-8, which biber and
    modern BibTeX read."""
    return _LIGATURE.sub("{}", text.translate(_LATEX_SPECIALS)) if text else ""


def _clean_key(identifier: str) -> str:
    """Keys must not hold spaces, braces, commas, quotes, #, %, ~, = or parentheses."""
    return re.sub(r"[^A-Za-z0-9._:/+-]", "_", identifier)
