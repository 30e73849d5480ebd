"""Pure helpers that read the loosely typed JSON every metadata service sends.

Shared by the source parsers: each treats a value of the wrong type as missing (a source that
sends a number where a list belongs must not crash a nightly run), and cleans text the same way,
so that a title from Crossref and the same title from DataCite compare equal.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator, Mapping
from html.parser import HTMLParser
from typing import Any

from harvester import identifiers
from harvester.models import Author, Funder, Isbn, Reference

#: Crossref's type names (https://api.crossref.org/types): the harvester's own vocabulary of
#: types, into which every parser maps its source's.
CROSSREF_TYPE_NAMES = frozenset(
    {
        "book",
        "book-chapter",
        "book-part",
        "book-section",
        "book-series",
        "book-set",
        "book-track",
        "component",
        "database",
        "dataset",
        "dissertation",
        "edited-book",
        "grant",
        "journal",
        "journal-article",
        "journal-issue",
        "journal-volume",
        "monograph",
        "other",
        "peer-review",
        "posted-content",
        "proceedings",
        "proceedings-article",
        "proceedings-series",
        "reference-book",
        "reference-entry",
        "report",
        "report-component",
        "report-series",
        "standard",
        "standard-series",
    }
)


def date_parts_to_iso(value: Mapping | None) -> str | None:
    """Crossref {"date-parts": [[2014, 2, 11]]} -> "2014-02-11"; partial dates stay partial.

    [[2014, 2]] -> "2014-02", [[2014]] -> "2014"; [[None]], [[]], a missing or malformed value ->
    None. A month or day out of range ends the date there rather than being guessed at.
    """
    if not isinstance(value, Mapping):
        return None
    parts = value.get("date-parts")
    if not isinstance(parts, list) or not parts or not isinstance(parts[0], list):
        return None
    numbers = [date_number(p) for p in parts[0][:3]]
    limits = (9999, 12, 31)
    out: list[int] = []
    for number, limit in zip(numbers, limits, strict=False):
        if number is None or not 1 <= number <= limit:
            break
        out.append(number)
    if not out:
        return None
    return "-".join([f"{out[0]:04d}", *(f"{n:02d}" for n in out[1:])])


def jats_to_text(markup: str) -> str:
    """A JATS (or HTML) abstract -> clean text.

    Tags are dropped, keeping their text; paragraphs, sections and section titles become blocks
    separated by a blank line; a title that is just "Abstract" or "Summary" is dropped. Inside a
    block whitespace is collapsed and entities are unescaped. Inline elements (italic, sup, sub,
    ...) stay inline; the line breaks Crossref's pretty-printer puts around them are layout, so
    they vanish next to brackets and punctuation ("(\\n<jats:italic>KRAS</jats:italic>\\n)" ->
    "(KRAS)") and become one space elsewhere. Text with no markup is split into paragraphs on
    blank lines.
    """
    if "<" not in markup:
        paragraphs = (tidy_text(p) for p in _BLANK_LINE.split(html.unescape(markup)))
        return "\n\n".join(p for p in paragraphs if p)
    blocks = _MarkupText.blocks_of(markup)
    return "\n\n".join(
        text for text, is_title in blocks if not (is_title and is_generic_heading(text))
    )


# Local names (after any "jats:" prefix) that start a new block; every other element is inline.
_BLOCK_TAGS = frozenset(
    {
        "abstract",
        "trans-abstract",
        "sec",
        "title",
        "p",
        "list",
        "list-item",
        "def-list",
        "def-item",
        "disp-quote",
        "boxed-text",
        "statement",
        "fig",
        "caption",
        "table-wrap",
        "table",
        "tr",
        "ack",
        "div",
        "section",
        "blockquote",
        "ul",
        "ol",
        "li",
        "br",
        "hr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
    }
)


_GENERIC_HEADINGS = frozenset({"abstract", "summary"})


_BOUNDARY = "\x00"  # marks where an inline tag was, until tidy_text has looked at it


_RUN = re.compile(r"[\s\x00]+")


_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")


_NO_SPACE_AFTER = frozenset("([{/")


_NO_SPACE_BEFORE = frozenset(")]},.;:!?/")


_ORCID = re.compile(r"(\d{4}-\d{4}-\d{4}-\d{3}[\dX])", re.IGNORECASE)


class _MarkupText(HTMLParser):
    """Collects the text of a markup string as blocks of (text, is_title)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, bool]] = []
        self._buffer: list[str] = []
        self._title_depth = 0

    @classmethod
    def blocks_of(cls, markup: str) -> list[tuple[str, bool]]:
        parser = cls()
        parser.feed(markup)
        parser.close()
        parser._flush()
        return parser.blocks

    def handle_starttag(self, tag: str, attrs: list) -> None:
        local = tag.rpartition(":")[2]
        if local in _BLOCK_TAGS:
            self._flush()
            if local == "title":
                self._title_depth += 1
        else:
            self._buffer.append(_BOUNDARY)

    def handle_endtag(self, tag: str) -> None:
        local = tag.rpartition(":")[2]
        if local in _BLOCK_TAGS:
            self._flush()
            if local == "title" and self._title_depth:
                self._title_depth -= 1
        else:
            self._buffer.append(_BOUNDARY)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        if tag.rpartition(":")[2] in _BLOCK_TAGS:
            self._flush()
        else:
            self._buffer.append(_BOUNDARY)

    def handle_data(self, data: str) -> None:
        self._buffer.append(data)

    def _flush(self) -> None:
        text = tidy_text("".join(self._buffer))
        self._buffer.clear()
        if text:
            self.blocks.append((text, self._title_depth > 0))


def tidy_text(text: str) -> str:
    """Collapse whitespace; drop inline-tag boundaries and the layout line breaks around them."""
    if _BOUNDARY not in text:
        # Plain text, most titles and references: str.split's whitespace is re's \s.
        return " ".join(text.split())

    def replace(match: re.Match[str]) -> str:
        run = match.group()
        if _BOUNDARY not in run:
            return " "
        if not any(c.isspace() for c in run):
            return ""  # a tag boundary inside a word: 10<sup>3</sup> -> 103
        if "\n" in run:  # pretty-printer layout around an inline element
            before = text[match.start() - 1] if match.start() else ""
            after = text[match.end()] if match.end() < len(text) else ""
            if before in _NO_SPACE_AFTER or after in _NO_SPACE_BEFORE:
                return ""
        return " "

    return _RUN.sub(replace, text).strip()


def is_generic_heading(heading: str) -> bool:
    return heading.strip(" :.").casefold() in _GENERIC_HEADINGS


def inline_text(value: Any) -> str | None:
    """A one-line clean text of a title-like string: markup dropped, entities unescaped."""
    if not isinstance(value, str):
        return None
    if "<" not in value and "&" not in value:
        return tidy_text(value) or None
    text = " ".join(text for text, _ in _MarkupText.blocks_of(value))
    return text or None


def first_inline_text(value: Any) -> str | None:
    if not isinstance(value, list):
        return None
    for item in value:
        text = inline_text(item)
        if text:
            return text
    return None


def stripped_text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return value.strip() or None


def scalar_text(value: Any) -> str | None:
    """Volume, issue, pages: strings as given; a bare number is taken as its string."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return stripped_text(value)


def whole_number(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def as_mapping(value: Any) -> Mapping | None:
    return value if isinstance(value, Mapping) else None


def objects_in(value: Any) -> Iterator[Mapping]:
    """The objects of a list of objects; a single object counts as a list of one."""
    if isinstance(value, dict | Mapping):  # dict first: Mapping's own check is slow
        value = [value]
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict | Mapping):
                yield item


def date_number(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,4}", value.strip()):
        return int(value)
    return None


def bare_orcid(value: Any) -> str | None:
    """http(s)://orcid.org/0000-0002-1825-0097 (or the bare form) -> 0000-0002-1825-0097."""
    if not isinstance(value, str):
        return None
    match = _ORCID.search(value)
    return match.group(1).upper() if match else None


def describe_json(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"a string ({value[:60]!r})"
    return f"a JSON {type(value).__name__}"


def unique_issns(candidates: Iterable[Any]) -> tuple[str, ...]:
    """ISSNs in the order given, each once (compared case-insensitively, for the check digit X)."""
    seen: set[str] = set()
    out: list[str] = []
    for candidate in candidates:
        issn = stripped_text(candidate)
        if issn and issn.upper() not in seen:
            seen.add(issn.upper())
            out.append(issn)
    return tuple(out)


_PARTIAL_DATE = re.compile(r"\s*([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?(?![0-9])")


def partial_iso_date(value: Any) -> str | None:
    """The leading calendar date of a text as partial ISO: "2011-02-01T17:22:41Z" -> "2011-02-01",
    "2023-12" and "2023" as they are; a month or day out of range ends the date there, and text
    that does not start with a year (info:eu-repo/date/embargoEnd/...) is None."""
    if not isinstance(value, str):
        return None
    match = _PARTIAL_DATE.match(value)
    if not match:
        return None
    year, month, day = match.groups()
    if int(year) < 1:
        return None
    out = year
    if month and 1 <= int(month) <= 12:
        out += f"-{month}"
        if day and 1 <= int(day) <= 31:
            out += f"-{day}"
    return out


def csl_authors(value: Any) -> Iterator[Author]:
    """Authors in byline order from CSL-shaped entries, the form Crossref's JSON and every
    agency's CSL-JSON share: given/family, an unsplit `literal` (CSL) or `name` (organisations),
    ORCID, affiliations. Entries with no name and no ORCID at all are skipped."""
    for entry in objects_in(value):
        given = inline_text(entry.get("given"))
        family = inline_text(entry.get("family"))
        name = inline_text(entry.get("literal")) or inline_text(entry.get("name"))
        orcid = bare_orcid(entry.get("ORCID"))
        if not (given or family or name or orcid):
            continue
        affiliations: list[str] = []
        raw = entry.get("affiliation")
        for affiliation in raw if isinstance(raw, list) else ():
            label = inline_text(
                affiliation.get("name") if isinstance(affiliation, Mapping) else affiliation
            )
            if label and label not in affiliations:
                affiliations.append(label)
        yield Author(
            given=given, family=family, name=name, orcid=orcid, affiliations=tuple(affiliations)
        )


# --- issue 16: what citing and cataloguing need, in the shapes Crossref's JSON and CSL share ---


def first_text(value: Any) -> str | None:
    """A one-line text given either as a string (CSL) or as a list of strings (Crossref)."""
    return first_inline_text(value) if isinstance(value, list) else inline_text(value)


def valid_issns(candidates: Iterable[Any]) -> tuple[str, ...]:
    """ISSNs in the order given, each once, in printed form ("2050-084X"); anything that is not
    an ISSN with the right check digit is dropped (identifiers.issn)."""
    out: list[str] = []
    for candidate in candidates:
        issn = identifiers.issn(candidate) if isinstance(candidate, str) else None
        if issn and issn not in out:
            out.append(issn)
    return tuple(out)


def typed_isbns(typed: Any, plain: Any) -> tuple[Isbn, ...]:
    """ISBNs from Crossref's `isbn-type` ([{"type": "print", "value": ...}]) in the order given,
    then any of the plain `ISBN` list (or CSL's string) the typed ones did not name, kind None.
    Each is checked and given as its 13 digits; one with a wrong check digit is dropped."""
    out: list[Isbn] = []
    seen: set[str] = set()
    for entry in objects_in(typed):
        number = identifiers.isbn13(stripped_text(entry.get("value")))
        if number and number not in seen:
            seen.add(number)
            kind = stripped_text(entry.get("type"))
            out.append(Isbn(number, kind if kind in ("print", "electronic") else None))
    for text in plain if isinstance(plain, list) else [plain]:
        for part in re.split(r"[\s,;]+", text) if isinstance(text, str) else ():
            number = identifiers.isbn13(part)
            if number and number not in seen:
                seen.add(number)
                out.append(Isbn(number))
    return tuple(out)


def role_contributors(item: Mapping, roles: Iterable[str]) -> tuple[Author, ...]:
    """The people of each name list in `roles` (editor, translator, chair, ...) with the list's
    name as their role, list by list in the order of `roles`."""
    out: list[Author] = []
    for role in roles:
        for person in csl_authors(item.get(role)):
            contributor = Author(
                given=person.given,
                family=person.family,
                name=person.name,
                orcid=person.orcid,
                affiliations=person.affiliations,
                role=role,
            )
            if contributor not in out:
                out.append(contributor)
    return tuple(out)


_FUNDER_DOI = re.compile(r"(?i)^(?:https?://(?:dx\.)?doi\.org/)?(10\.13039/\S+)$")


def funders_of(value: Any) -> tuple[Funder, ...]:
    """Crossref's `funder` list: name, Open Funder Registry DOI (from `DOI`, or an `id` of id-type
    DOI), ROR id (an `id` of id-type ROR) and the award numbers, each once."""
    out: list[Funder] = []
    for entry in objects_in(value):
        doi = _funder_doi(entry.get("DOI"))
        ror = None
        for identifier in objects_in(entry.get("id")):
            kind = (stripped_text(identifier.get("id-type")) or "").casefold()
            if kind == "doi":
                doi = doi or _funder_doi(identifier.get("id"))
            elif kind == "ror":
                ror = ror or stripped_text(identifier.get("id"))
        awards: list[str] = []
        for award in entry.get("award") if isinstance(entry.get("award"), list) else ():
            text = inline_text(award)
            if text and text not in awards:
                awards.append(text)
        funder = Funder(name=inline_text(entry.get("name")), doi=doi, ror=ror, awards=tuple(awards))
        if (funder.name or funder.doi or funder.ror) and funder not in out:
            out.append(funder)
    return tuple(out)


def _funder_doi(value: Any) -> str | None:
    match = _FUNDER_DOI.match(value.strip()) if isinstance(value, str) else None
    return match.group(1).lower() if match else None


def references_of(value: Any) -> tuple[Reference, ...]:
    """Crossref's `reference` list: each entry's DOI, its text as printed (markup dropped) and
    the publisher's key. An entry deposited only in parts (author, year, article-title, ...;
    a third of the recorded ones) gets those parts, in that order, as its text, so that no
    reference is lost; entries with neither DOI nor any text are dropped.

    The commonest entries (plain strings, no markup) are read inline: a work cites dozens, and
    this list was half of a Crossref record's parse."""
    out: list[Reference] = []
    for entry in objects_in(value):
        doi = entry.get("DOI")
        doi = (doi.strip() or None) if isinstance(doi, str) else None
        text = entry.get("unstructured")
        if isinstance(text, str) and "<" not in text and "&" not in text and _BOUNDARY not in text:
            text = " ".join(text.split()) or None  # inline_text's plain-text case
        else:
            text = inline_text(text)
        if not text and doi is None:
            text = _reference_parts(entry)
        if doi or text:
            key = entry.get("key")
            out.append(
                Reference(doi, text, (key.strip() or None) if isinstance(key, str) else None)
            )
    return tuple(out)


#: The parts of a structured Crossref reference, in the order a citation gives them.
_REFERENCE_PARTS = (
    "author",
    "year",
    "article-title",
    "volume-title",
    "series-title",
    "journal-title",
    "edition",
    "volume",
    "issue",
    "first-page",
)


def _reference_parts(entry: Mapping) -> str | None:
    """A structured reference without DOI or text as its parts: "LD Johnston, 2011, Monitoring
    the Future ..., 1"."""
    if stripped_text(entry.get("DOI")):
        return None
    texts = []
    for name in _REFERENCE_PARTS:
        part = entry.get(name)
        if part is None:
            continue
        if isinstance(part, str) and "<" not in part and "&" not in part and _BOUNDARY not in part:
            part = " ".join(part.split())  # scalar_text, then inline_text, of plain text
            if part:
                texts.append(part)
            continue
        part = scalar_text(part)
        if part:
            texts.append(inline_text(part) or "")
    return ", ".join(texts) or None


_DOI_LINK = re.compile(r"(?i)^https?://(?:dx\.)?doi\.org/")


def is_doi_link(url: str | None) -> bool:
    """Whether a URL is only a DOI resolver link (https://doi.org/..., http://dx.doi.org/...)."""
    return bool(url and _DOI_LINK.match(url))


def landing_page(item: Mapping) -> str | None:
    """The work's own page: Crossref's `resource.primary.URL` (which its CSL carries too), else
    a `URL` that is not just the DOI's resolver link, which the DOI gives anyway."""
    resource = as_mapping(item.get("resource"))
    primary = as_mapping(resource.get("primary")) if resource else None
    url = stripped_text(primary.get("URL")) if primary else None
    if url:
        return url
    url = stripped_text(item.get("URL"))
    return None if is_doi_link(url) else url
