"""The identifiers of people and institutions the harvester follows (issue 21): ORCID iDs, RePEc
author short-ids (RAS), OpenAlex author ids and ROR ids. Pure: parse what people paste, refuse
what cannot be an identifier with a reason, and give one canonical form, so that the same person
is never stored twice under two spellings of one id.

Each identifier has a `value` (how it is written back to people) and a `key` (what two people
may not share). Parsing a value gives the same identifier back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stdnum.exceptions import ValidationError as StdnumError
from stdnum.iso7064 import mod_11_2

from harvester.errors import BadIdentifier, HarvesterError

__all__ = [
    "SCHEMES",
    "PersonId",
    "PersonRefused",
    "check_name",
    "parse_openalex_author",
    "parse_orcid",
    "parse_person_id",
    "parse_ras",
    "parse_ror",
    "read_person_id",
]

#: The schemes a person (or their institution) is followed by, with the name people know each by.
SCHEMES = {
    "orcid": "ORCID iD",
    "ras": "RePEc author short-id",
    "openalex": "OpenAlex author id",
    "ror": "ROR id",
}

#: Longest name accepted: a real one is far shorter, longer input is a paste accident.
MAX_NAME_LENGTH = 300
#: Raw identifier input beyond this is refused before it is read.
_MAX_ID_LENGTH = 200


class PersonRefused(HarvesterError):
    """A `harvest person` or `harvest claims` command the records rule out: a person or claim
    not on record, or an identifier another person holds. Exit 2, nothing written: it is the
    command line to change."""

    exit_code = 2


@dataclass(frozen=True, slots=True)
class PersonId:
    """One identifier of a person: its scheme (a key of SCHEMES), its canonical `value` and the
    `key` no two people may share."""

    scheme: str
    value: str
    key: str

    @property
    def label(self) -> str:
        return SCHEMES[self.scheme]


def _clean(text: str, what: str) -> str:
    """The text without the spaces around it; refused when it is empty, too long, or holds
    control characters (a paste that went wrong, or an attempt on the terminal)."""
    if len(text) > _MAX_ID_LENGTH:
        raise BadIdentifier(text[:40] + "...", f"too long for {what}")
    cleaned = text.strip()
    if not cleaned:
        raise BadIdentifier(text, f"empty: not {what}")
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in cleaned):
        raise BadIdentifier(text, f"holds control characters: not {what}")
    return cleaned


def _without_prefix(text: str, prefixes: tuple[str, ...]) -> str:
    lowered = text.lower()
    for prefix in prefixes:
        if lowered.startswith(prefix):
            return text[len(prefix) :]
    return text


# --- ORCID iD ----------------------------------------------------------------------------------

#: ORCID's identifier is an https URI; people also paste it without the scheme, or bare.
_ORCID_PREFIXES = ("https://orcid.org/", "http://orcid.org/", "orcid.org/", "orcid:")
_ORCID_FORM = re.compile(r"\d{4}-?\d{4}-?\d{4}-?\d{3}[\dX]", re.IGNORECASE)

#: The blocks ISNI reserved for ORCID, on the 15 digits before the check digit (ORCID's FAQ
#: "What is the relationship between ISNI and ORCID?", 2023): 0000-0001-5000-0007 to
#: 0000-0003-5000-0001 since 2012, and 0009-0000-0000-0000 to 0009-0010-0000-0000 since 2023.
#: An iD outside them is not one ORCID assigned. A new block would be added here.
ORCID_BLOCKS = (
    (int("000000015000000"), int("000000035000000")),
    (int("000900000000000"), int("000900100000000")),
)


def parse_orcid(text: str) -> PersonId:
    """An ORCID iD as `0000-0002-1825-0097`, from that, `https://orcid.org/...`, `orcid.org/...`
    or without hyphens, a lower-case x accepted; its ISO 7064 MOD 11-2 check digit checked
    (python-stdnum) and its number within the blocks ORCID assigns from."""
    what = "an ORCID iD (such as 0000-0002-1825-0097)"
    cleaned = _clean(text, what)
    bare = _without_prefix(cleaned, _ORCID_PREFIXES).rstrip("/")
    if not _ORCID_FORM.fullmatch(bare):
        raise BadIdentifier(text, f"not {what}")
    digits = bare.replace("-", "").upper()
    try:
        mod_11_2.validate(digits)
    except StdnumError:
        expected = mod_11_2.calc_check_digit(digits[:-1])
        raise BadIdentifier(
            text, f"wrong check digit for an ORCID iD (ISO 7064 MOD 11-2 gives {expected})"
        ) from None
    number = int(digits[:-1])
    if not any(low <= number <= high for low, high in ORCID_BLOCKS):
        raise BadIdentifier(
            text,
            "not in the blocks ORCID assigns iDs from (0000-0001-5000-0007 to "
            "0000-0003-5000-0001, 0009-0000-0000-0000 to 0009-0010-0000-0000)",
        )
    value = "-".join(digits[i : i + 4] for i in range(0, 16, 4))
    return PersonId("orcid", value, value)


# --- RePEc author short-id (RAS) ---------------------------------------------------------------

#: The RePEc Author Service's short-id: a p, the letters of the surname it began with, a number
#: (`Short-Id: pbe27`, `pry2`; IDEAS' pages /e/pbe27.html and /f/ppi320.html, EconPapers'
#: /RAS/psh494.htm). Not the person's handle (`repec:per:1958-01-07:roland_benabou`).
_RAS_FORM = re.compile(r"p[a-z]+[0-9]+")
_RAS_PAGES = re.compile(
    r"(?:https?://)?(?:ideas\.repec\.org/[a-z]/|econpapers\.repec\.org/ras/)(p[a-z]+[0-9]+)\.html?",
    re.IGNORECASE,
)


def parse_ras(text: str) -> PersonId:
    """A RePEc author short-id such as `pbe27` (any case; or the person's IDEAS or EconPapers
    page), in lower case as RAS writes it."""
    what = "a RePEc author short-id (such as pbe27)"
    cleaned = _clean(text, what)
    page = _RAS_PAGES.fullmatch(cleaned)
    short = (page[1] if page else cleaned).lower()
    if not _RAS_FORM.fullmatch(short):
        hint = " (that is a person's handle; give their Short-Id)" if "repec:per:" in short else ""
        raise BadIdentifier(text, f"not {what}{hint}")
    return PersonId("ras", short, short)


# --- OpenAlex author id ------------------------------------------------------------------------

#: OpenAlex's ID is `https://openalex.org/<key>`; an author's key is an A and digits
#: (`A5023888391`), not case-sensitive. The API's own URL of the author is accepted too.
_OPENALEX_PREFIXES = (
    "https://openalex.org/authors/",
    "https://openalex.org/",
    "http://openalex.org/",
    "openalex.org/",
    "https://api.openalex.org/authors/",
    "https://api.openalex.org/people/",
)
_OPENALEX_AUTHOR = re.compile(r"A[0-9]{1,20}", re.IGNORECASE)


def parse_openalex_author(text: str) -> PersonId:
    """An OpenAlex author id as `A5023888391`, from that or `https://openalex.org/A5023888391`."""
    what = "an OpenAlex author id (such as A5023888391)"
    cleaned = _clean(text, what)
    key = _without_prefix(cleaned, _OPENALEX_PREFIXES).rstrip("/")
    if not _OPENALEX_AUTHOR.fullmatch(key):
        kind = key[:1].upper()
        hint = (
            f" ({kind} is OpenAlex's letter of another kind of entity)"
            if kind in "WSICPFT" and key[1:].isdigit()
            else ""
        )
        raise BadIdentifier(text, f"not {what}{hint}")
    key = key.upper()
    return PersonId("openalex", key, key)


# --- ROR id ------------------------------------------------------------------------------------

_ROR_PREFIXES = ("https://ror.org/", "http://ror.org/", "ror.org/", "ror:")
#: Crockford's base 32, as ROR writes it: no i, l, o or u.
_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
_ROR_FORM = re.compile(r"0[0-9a-hjkmnp-tv-z]{6}[0-9]{2}")


def parse_ror(text: str) -> PersonId:
    """A ROR id, `https://ror.org/05gq02987` or bare: a 0, six characters of Crockford's base 32
    and two check digits, checked as ROR makes them (ISO 7064 MOD 97-10 of the number the six
    characters encode: 98 - number * 100 mod 97). Written back as ROR writes it, the URL."""
    what = "a ROR id (such as https://ror.org/05gq02987)"
    cleaned = _clean(text, what)
    bare = _without_prefix(cleaned, _ROR_PREFIXES).rstrip("/").lower()
    if not _ROR_FORM.fullmatch(bare):
        raise BadIdentifier(text, f"not {what}")
    number = 0
    for char in bare[1:7]:
        number = number * 32 + _CROCKFORD.index(char)
    expected = 98 - (number * 100) % 97
    if int(bare[7:]) != expected:
        raise BadIdentifier(text, f"wrong check digits for a ROR id (expected {expected:02d})")
    return PersonId("ror", f"https://ror.org/{bare}", bare)


_PARSERS = {
    "orcid": parse_orcid,
    "ras": parse_ras,
    "openalex": parse_openalex_author,
    "ror": parse_ror,
}


def parse_person_id(scheme: str, text: str) -> PersonId:
    """`text` as an identifier of `scheme` (a key of SCHEMES)."""
    return _PARSERS[scheme](text)


def read_person_id(text: str) -> PersonId | None:
    """Whichever identifier `text` is, told by its form (an ORCID iD's digits, a RAS p..., an
    OpenAlex A..., a ROR 0...) or by the URL it is written as; None when it looks like none of
    them. A wrong check digit is still an error: `text` looks like an iD, and is a broken one."""
    cleaned = text.strip()
    lowered = cleaned.lower()
    if lowered.startswith(_ORCID_PREFIXES) or _ORCID_FORM.fullmatch(cleaned):
        return parse_orcid(text)
    if lowered.startswith(_ROR_PREFIXES) or _ROR_FORM.fullmatch(lowered):
        return parse_ror(text)
    if lowered.startswith(_OPENALEX_PREFIXES) or _OPENALEX_AUTHOR.fullmatch(cleaned):
        return parse_openalex_author(text)
    if _RAS_PAGES.fullmatch(cleaned) or _RAS_FORM.fullmatch(lowered):
        return parse_ras(text)
    return None


def check_name(text: str) -> str:
    """A person's name as given (spaces around it dropped); refused when empty, too long or
    holding control characters."""
    name = " ".join(text.split())
    if not name:
        raise BadIdentifier(text, "a person needs a name")
    if len(name) > MAX_NAME_LENGTH:
        raise BadIdentifier(name[:40] + "...", f"a name longer than {MAX_NAME_LENGTH} characters")
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in text):
        raise BadIdentifier(text, "a name with control characters")
    return name
