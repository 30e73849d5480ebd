"""DOIs and RePEc handles: parse what people paste, keep the value as given, compare by key;
ISBNs and ISSNs: checked and written one way.

Everything here is pure (no I/O), so the rest of the harvester can trust a `Doi` or
`RepecHandle` without re-checking it. Parsing is built so that the result is a fixed point:
parsing a parsed value gives the same value back, which keeps keys stable across runs.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, unquote, urlsplit

from stdnum import isbn as stdnum_isbn
from stdnum import issn as stdnum_issn
from stdnum.exceptions import ValidationError as StdnumError

from harvester.errors import BadIdentifier

__all__ = [
    "Doi",
    "RepecHandle",
    "doi_key",
    "isbn13",
    "issn",
    "parse_doi",
    "parse_identifier",
    "parse_repec",
    "parse_repec_series",
    "parse_repec_url",
    "quote_doi",
    "quote_doi_query",
]

#: Longest DOI accepted after cleaning; real ones are far shorter, longer input is a paste accident.
MAX_LENGTH = 1000
#: Raw input beyond this is refused before cleaning, so cleaning can never be slow.
_MAX_RAW_LENGTH = 4 * MAX_LENGTH

#: Only A-Z are folded: DOIs are case-insensitive for ASCII only (DOI Handbook 2.4), and Unicode
#: case folding would merge DOIs the registries keep apart (and is not stable, e.g. "ß" -> "ss").
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

#: Characters that web pages, PDFs and word processors slip into copied text; never part of a DOI.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)

#: Opening character -> its closer (quotes include the German and reversed French pairs).
_CLOSER_OF = {
    "(": ")",
    "[": "]",
    "<": ">",
    "{": "}",
    '"': '"',
    "'": "'",
    "“": "”",
    "‘": "’",
    "«": "»",
    "»": "«",
    "„": "“",
    "‚": "‘",
    "”": "”",
    "’": "’",
}
#: Closing character -> the opening one it must balance.
_OPENER_OF = {
    ")": "(",
    "]": "[",
    ">": "<",
    "}": "{",
    "”": "“",
    "’": "‘",
    "»": "«",
    "«": "»",
    "“": "„",
    "‘": "‚",
}
_SYMMETRIC_QUOTES = frozenset("\"'")
#: A DOI or handle never starts with these, so a leading one is always wrapping.
_LEADING_JUNK = frozenset(_CLOSER_OF) | frozenset(_OPENER_OF)
#: Sentence punctuation that follows an identifier in running text.
_TRAILING_PUNCT = ".,;:"

_DOI_PREFIXES = re.compile(
    r"""(?ix)
    (?:https?://)?(?:www\.|dx\.)?doi\.org/   # resolver URL, with or without scheme
    | urn:doi:
    | info:doi/
    | doi\s*:\s*                            # doi:10.1, DOI: 10.1
    | doi\s+                                # DOI 10.1
    """
)
_PERCENT_RUN = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
_REGISTRANT = re.compile(r"[0-9]+(?:\.[0-9]+)*")
_ALNUM = re.compile(r"[A-Za-z0-9]+")
_REPEC_WEB = re.compile(r"(?i)^(?:https?://)?(?:[a-z0-9-]+\.)*repec\.org/")


@dataclass(frozen=True, slots=True)
class Doi:
    """A parsed DOI. `value` is what the user gave (cleaned, NFC); `key` is for comparing."""

    value: str

    @property
    def key(self) -> str:
        """Canonical key: A-Z folded to lower case, so 10.1/ABC and 10.1/abc are one record."""
        return ascii_key(self.value)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class RepecHandle:
    """A parsed RePEc handle `RePEc:archive:series:item`, parts as first seen."""

    archive: str
    series: str
    item: str

    @property
    def value(self) -> str:
        """The handle as RePEc spells it, with the prefix normalised to "RePEc"."""
        return f"RePEc:{self.archive}:{self.series}:{self.item}"

    @property
    def key(self) -> str:
        """The value with A-Z folded to lower case: RePEc compares handles case-insensitively."""
        return ascii_key(self.value)

    def __str__(self) -> str:
        return self.value


def parse_doi(text: str) -> Doi:
    """Turn any pasted form of a DOI (URL, doi: prefix, quoted, percent-encoded) into a `Doi`.

    Percent-escapes are decoded once. Because the value must parse back to itself, a value that
    still holds an escape after that (it was encoded twice) is refused as ambiguous.
    """
    cleaned = _clean(_precheck(text), doi=True)
    if _PERCENT_RUN.search(cleaned):
        cleaned = _clean(_percent_decode(text, cleaned), doi=True)
        if _PERCENT_RUN.search(cleaned):
            raise BadIdentifier(text, "ambiguous percent-encoding (encoded twice?)")
    _check_characters(text, cleaned)
    if not cleaned.startswith("10."):
        raise BadIdentifier(text, "not a DOI: it must start with 10.")
    registrant, slash, suffix = cleaned[3:].partition("/")
    if not _REGISTRANT.fullmatch(registrant):
        raise BadIdentifier(text, "registrant code must be digits, e.g. 10.1000/")
    if not slash:
        raise BadIdentifier(text, "missing / between registrant code and suffix")
    if not suffix:
        raise BadIdentifier(text, "empty suffix")
    if any(ch.isspace() for ch in suffix):
        raise BadIdentifier(text, "whitespace inside the suffix")
    return Doi(cleaned)


def parse_repec(text: str) -> RepecHandle:
    """Turn a pasted RePEc handle into a `RepecHandle`; the prefix may be in any case."""
    cleaned = _clean(_precheck(text), doi=False)
    _check_characters(text, cleaned)
    parts = cleaned.split(":", 3)
    if parts[0].strip().lower() != "repec" or len(parts) < 2:
        raise BadIdentifier(text, "not a RePEc handle")
    parts += [""] * (4 - len(parts))
    archive, series, item = (part.strip() for part in parts[1:])
    if len(archive) != 3:
        raise BadIdentifier(text, "archive must be 3 characters")
    if not _ALNUM.fullmatch(archive):
        raise BadIdentifier(text, "archive must be letters and digits")
    if len(series) != 6:
        raise BadIdentifier(text, "series must be 6 characters")
    if not _ALNUM.fullmatch(series):
        raise BadIdentifier(text, "series must be letters and digits")
    if not item:
        raise BadIdentifier(text, "missing item")
    if any(ch.isspace() for ch in item):
        raise BadIdentifier(text, "whitespace inside the item")
    return RepecHandle(archive, series, item)


#: IDEAS page kinds: /a/ article, /p/ paper, /b/ book, /h/ chapter, /c/ software.
_IDEAS = re.compile(
    r"(?i)^(?:https?://)?(?:www\.)?ideas\.repec\.org/([a-z])/([a-z0-9]{3})/([a-z0-9]{6})/(.+?)\.html?$"
)
_ECONPAPERS_PAGE = re.compile(
    r"(?i)^(?:https?://)?(?:www\.)?econpapers\.repec\.org/"
    r"(?:article|paper|bookchap|software|book|chapter)/([a-z0-9]{3})([a-z0-9]{6})/(.+?)\.html?$"
)
#: The journal-article item convention: v:{volume}:y:{year}:i:{issue}:p:{pages}, colons dropped.
_IDEAS_JOURNAL_ITEM = re.compile(r"^v([^:]+?)y([0-9]{4})i([^:]+?)p([^:]+)$")


def parse_repec_series(text: str) -> tuple[str, str]:
    """(archive, series) of a series handle `RePEc:sae:woemps`, as `harvest repec --series` takes
    it; a whole item handle names its series too."""
    cleaned = _clean(_precheck(text), doi=False)
    parts = [part.strip() for part in cleaned.split(":", 3)]
    if parts[0].lower() != "repec" or len(parts) < 3:
        raise BadIdentifier(text, "not a RePEc series handle like RePEc:sae:woemps")
    archive, series = parts[1], parts[2]
    if len(archive) != 3 or not _ALNUM.fullmatch(archive):
        raise BadIdentifier(text, "archive must be 3 letters and digits")
    if len(series) != 6 or not _ALNUM.fullmatch(series):
        raise BadIdentifier(text, "series must be 6 letters and digits")
    return archive, series


def parse_repec_archive(text: str) -> str:
    """The archive code of an archive handle `RePEc:sae`, as `harvest repec --archive` takes it."""
    cleaned = _clean(_precheck(text), doi=False)
    parts = [part.strip() for part in cleaned.split(":")]
    if parts[0].lower() != "repec" or len(parts) != 2:
        raise BadIdentifier(text, "not a RePEc archive handle like RePEc:sae")
    if len(parts[1]) != 3 or not _ALNUM.fullmatch(parts[1]):
        raise BadIdentifier(text, "archive must be 3 letters and digits")
    return parts[1]


def parse_repec_url(text: str) -> RepecHandle:
    """The handle behind a RePEc web link people paste: EconPapers (`/RePEc:…` and
    `/article/{archive}{series}/{item, ":" as "_3a"}.htm`), NEP (`d.repec.org/n?u=RePEc:…`) and
    IDEAS (`ideas.repec.org/a/{archive}/{series}/{item without colons}.html`).

    IDEAS drops the item's colons, so its links map back only by convention: a journal article
    link whose item reads v…y…i…p… is taken as `v:…:y:…:i:…:p:…`, and an item without that
    shape as written. A link where neither reading is certain is refused, naming both readings.
    """
    cleaned = _clean(_precheck(text), doi=False)
    parts = urlsplit(cleaned if "://" in cleaned else f"https://{cleaned}")
    host, path = parts.netloc.lower(), unquote(parts.path)
    if host.endswith("econpapers.repec.org") and path[1:6].lower() == "repec":
        return _handle_in(text, path[1:])
    if host == "d.repec.org" or "u=" in parts.query:
        handles = parse_qs(parts.query).get("u", [])
        if handles and handles[0].lower().startswith("repec:"):
            return _handle_in(text, handles[0])
    page = _ECONPAPERS_PAGE.match(cleaned)
    if page:
        archive, series, item = page.groups()
        return _handle_in(
            text, f"RePEc:{archive}:{series}:{item.replace('_3a', ':').replace('_3A', ':')}"
        )
    ideas = _IDEAS.match(cleaned)
    if ideas:
        kind, archive, series, item = ideas.groups()
        journal = _IDEAS_JOURNAL_ITEM.match(item)
        if kind.lower() == "a" and journal:
            volume, year, issue, pages = journal.groups()
            return _handle_in(
                text, f"RePEc:{archive}:{series}:v:{volume}:y:{year}:i:{issue}:p:{pages}"
            )
        if journal:
            raise BadIdentifier(
                text,
                f"this IDEAS link may mean RePEc:{archive}:{series}:{item} or the journal form "
                f"RePEc:{archive}:{series}:v:{journal[1]}:y:{journal[2]}:i:{journal[3]}:p:{journal[4]}"
                "; give the handle",
            )
        return _handle_in(text, f"RePEc:{archive}:{series}:{item}")
    raise BadIdentifier(
        text, "a RePEc web link whose handle cannot be told; give the handle RePEc:…"
    )


def _handle_in(url: str, handle: str) -> RepecHandle:
    """The handle read out of a link, with any problem told about the link as given."""
    try:
        return parse_repec(handle)
    except BadIdentifier as exc:
        raise BadIdentifier(url, exc.reason) from None


def parse_identifier(text: str) -> Doi | RepecHandle:
    """Decide whether `text` is a RePEc handle or a DOI, so one input field can take either."""
    cleaned = _clean(_precheck(text), doi=False)
    if cleaned[:6].lower() == "repec:":
        return parse_repec(text)
    if _REPEC_WEB.match(cleaned):
        return parse_repec_url(text)
    try:
        return parse_doi(text)
    except BadIdentifier as error:
        if error.reason.startswith("not a DOI"):
            raise BadIdentifier(text, "not a DOI or RePEc handle") from None
        raise


def doi_key(text: str) -> str:
    """The canonical key of a pasted DOI, for lookups that only need to compare."""
    return parse_doi(text).key


#: Path: RFC 3986 allows more, but "(", ")" and ":" are all that real clients leave literal
#: (see the recorded Crossref and OpenAlex URLs); ";" can be cut off as a path parameter and
#: "[", "]", "<", ">", "+", "#", "?", "%" and spaces break or change URLs, so they are encoded.
_PATH_SAFE = "/():"
#: Query value: the same set. "/" and ":" are literal in query strings (Crossref's
#: `filter=doi:10.1/abc` works), while "&", "=", "+", ",", ";" and "#" would split or end the value.
_QUERY_SAFE = "/():"


def quote_doi(doi: str) -> str:
    """Percent-encode a DOI for a URL path, keeping "/" so that /works/10.1/abc reads naturally.

    Letters, digits, "-._~/():" stay; everything else, non-ASCII included, becomes UTF-8 %XX.
    """
    return quote(doi, safe=_PATH_SAFE)


def quote_doi_query(doi: str) -> str:
    """Percent-encode a DOI for use inside a query-string value (e.g. Crossref `filter=doi:`).

    Same set as the path today, but kept apart so a query-only need never changes the paths.
    """
    return quote(doi, safe=_QUERY_SAFE)


def ascii_key(value: str) -> str:
    """Fold A-Z to lower case and nothing else: the canonical comparison key of DOIs and handles."""
    # NFC again: lower-casing can make a pair composable (W + ring is not, w + ring is "ẘ"),
    # and the key must parse to itself. For any other text this changes nothing.
    return unicodedata.normalize("NFC", value.translate(_ASCII_LOWER))


def _precheck(text: str) -> str:
    """Refuse input that is empty or absurdly long before doing any work on it."""
    if not text or not text.strip():
        raise BadIdentifier(text, "empty input")
    if len(text) > _MAX_RAW_LENGTH:
        raise BadIdentifier(text, f"too long (more than {MAX_LENGTH} characters)")
    return text


def _check_characters(text: str, cleaned: str) -> None:
    if len(cleaned) > MAX_LENGTH:
        raise BadIdentifier(text, f"too long (more than {MAX_LENGTH} characters)")
    for ch in cleaned:
        if ch < "\x20" or "\x7f" <= ch <= "\x9f":
            raise BadIdentifier(text, "contains a control character")
        if "\ud800" <= ch <= "\udfff":
            raise BadIdentifier(text, "contains an unpaired surrogate")


def _percent_decode(text: str, cleaned: str) -> str:
    """Decode %XX runs as UTF-8; a lone "%" not followed by two hex digits stays as it is."""
    try:
        return _PERCENT_RUN.sub(lambda m: bytes.fromhex(m[0].replace("%", "")).decode(), cleaned)
    except UnicodeDecodeError:
        raise BadIdentifier(text, "percent-encoding is not valid UTF-8") from None


def _clean(text: str, *, doi: bool) -> str:
    """Peel off what surrounds an identifier in pasted text, until nothing more comes off."""
    while True:
        before = text
        text = _INVISIBLE.sub("", unicodedata.normalize("NFC", text)).strip()
        if len(text) >= 2 and text[-1] == _CLOSER_OF.get(text[0]):
            text = text[1:-1]
        elif text and text[-1] in _TRAILING_PUNCT:
            text = text[:-1]
        elif text and text[0] in _LEADING_JUNK:
            text = text[1:]
        elif text and _unbalanced_closer(text):
            text = text[:-1]
        elif doi and (prefix := _DOI_PREFIXES.match(text)):
            text = text[prefix.end() :]
        if text == before:
            return text


def _unbalanced_closer(text: str) -> bool:
    """A trailing ")" belongs to the DOI only when it closes a "(" inside it (SICI DOIs)."""
    last = text[-1]
    if last in _SYMMETRIC_QUOTES:
        return text.count(last) % 2 == 1
    opener = _OPENER_OF.get(last)
    return opener is not None and text.count(last) > text.count(opener)


# --- ISBN and ISSN: checked with python-stdnum, whose check-digit and range rules are the ----
# --- ISO standards' (and keep up with the ISBN agency's ranges), rather than our own copy ----


@functools.lru_cache(maxsize=4096)  # a journal's or a series' numbers recur in every work of it
def isbn13(text: str | None) -> str | None:
    """An ISBN as its 13 digits, or None when `text` is not a valid ISBN (wrong length or
    check digit): "0-306-40615-2" and "978-0-306-40615-7" both give "9780306406157"."""
    if not text:
        return None
    try:
        return stdnum_isbn.to_isbn13(stdnum_isbn.validate(text))
    except StdnumError:
        return None


@functools.lru_cache(maxsize=4096)
def issn(text: str | None) -> str | None:
    """An ISSN in its printed form ("0950-0170"), or None when `text` is not one (wrong length
    or check digit)."""
    if not text:
        return None
    try:
        return stdnum_issn.format(stdnum_issn.validate(text))
    except StdnumError:
        return None
