"""Realistic generated records for the bench: the shapes of the real recorded corpus, new DOIs,
titles, authors and ORCIDs.

The simulator serves these records and the harness stores the very same ones locally (workload c,
and the database a nightly refreshes), so both sides must render a DOI identically: everything
here is a pure function of the DOI and the upstream "epoch".

DOIs encode what they are, so that nothing has to be stored per DOI (20,000 works would otherwise
cost the simulator ~200 MB):

    {prefix}/bench.{n}       a Crossref work shaped like Crossref template n % 20
    {prefix}/bench-dc.{n}    a DataCite record shaped like DataCite template n % 14
    {prefix}/bench-nf.{n}    a DOI with a Crossref prefix that no service knows (404)

The prefix is the real prefix of the template the record is made from, so doi.org's /ra answer
(Crossref or DataCite) is the one the real prefix gets. OpenAlex knows every existing DOI: its record
is shaped like OpenAlex template n % 14, with the same title and author names as the agency record.

Epochs model time passing upstream: at epoch e > 0 every record is re-stamped (Crossref `indexed`,
OpenAlex `updated_date`, DataCite `updated`: the fields the harvester leaves out of its hash), and
a fixed `changed` fraction of DOIs has new citation counts (a real, stored change).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

#: The real recorded responses, beside the clone (never copied into it), as tests/conftest.py has it.
FIXTURES = Path(
    os.environ.get("HARVEST_FIXTURES", Path(__file__).resolve().parents[2] / "shared" / "fixtures")
)

GIVEN = (
    "Anna", "José", "Wei", "Øyvind", "Fatima", "Hiroshi", "Olga", "Kwame", "Léa", "Rahul",
    "Ingrid", "Mateus", "Yuki", "Siobhán", "Tomasz", "Aylin", "Chen", "Amara", "Lars", "Noor",
    "Pierre", "Zsófia", "Ngozi", "Mikael", "Priya", "Ángel", "Dmitri", "Leilani", "Jürgen", "Mei",
)  # fmt: skip
FAMILY = (
    "Müller", "García", "Zhang", "Okafor", "Nakamura", "Kowalski", "Haddad", "Johansson",
    "Silva", "Novák", "O'Brien", "Petrova", "Dubois", "Kim", "Rossi", "Mensah", "Fernández",
    "Nguyen", "Schmidt", "Yılmaz", "Andersen", "Costa", "Ivanov", "Sato", "Moreau", "Patel",
    "van der Berg", "Łukasiewicz", "Hernández", "Björk",
)  # fmt: skip
TOPIC = (
    "wage rigidity", "monetary transmission", "labour market frictions", "trade liberalisation",
    "household saving", "carbon pricing", "bank capital", "informal employment", "tax evasion",
    "housing supply", "microbial diversity", "protein folding", "soil carbon", "neural coding",
    "river discharge", "deep learning", "query optimisation", "graphene transport",
)  # fmt: skip
FRAME = (
    "Evidence on {a} from {b}", "{A} and {b}: a panel study", "Does {a} shape {b}?",
    "Measuring {a} under {b}", "{A}, {b} and the business cycle", "A model of {a} with {b}",
    "Revisiting {a}: new data on {b}", "{A} in the shadow of {b}",
)  # fmt: skip

_SLOT = re.compile(r'"@@#(\w+)@@"|@@(\w+)(?::(\d+))?@@')
_SUFFIX = re.compile(r"^bench(-dc|-nf)?\.(\d+)$")


@dataclass(frozen=True, slots=True)
class Kind:
    """What a generated DOI stands for."""

    agency: str  # "crossref" | "datacite" | "missing"
    n: int


@dataclass(frozen=True)
class Template:
    """A recorded record turned into JSON text with slots (@@DOI@@, @@G:3@@, "@@#CITES@@", ...)."""

    name: str
    prefix: str
    text: str
    base_cites: int


def parse(doi: str) -> Kind | None:
    """The kind of a generated DOI, or None for a DOI this bench never made (answered 404)."""
    prefix, _, suffix = doi.strip().lower().partition("/")
    match = _SUFFIX.match(suffix)
    if not match:
        return None
    n = int(match.group(2))
    agency = {None: "crossref", "-dc": "datacite", "-nf": "missing"}[match.group(1)]
    pool = crossref_templates() if agency != "datacite" else datacite_templates()
    if pool[n % len(pool)].prefix != prefix:
        return None
    return Kind(agency, n)


def make_doi(agency: str, n: int) -> str:
    """The DOI of the n-th generated record of an agency ("crossref", "datacite", "missing")."""
    if agency == "datacite":
        return f"{datacite_templates()[n % len(datacite_templates())].prefix}/bench-dc.{n}"
    tag = "bench-nf" if agency == "missing" else "bench"
    return f"{crossref_templates()[n % len(crossref_templates())].prefix}/{tag}.{n}"


def mix(count: int, datacite: float = 0.05, missing: float = 0.05, start: int = 0) -> Iterator[str]:
    """`count` DOIs, lazily: a `datacite` share at DataCite, a `missing` share unknown anywhere,
    the rest at Crossref, interleaved evenly (every 20th DOI with the defaults) so that every
    chunk of a harvest sees the same mix."""
    dc_every = round(1 / datacite) if datacite else 0
    nf_every = round(1 / missing) if missing else 0
    for i in range(start, start + count):
        if dc_every and i % dc_every == dc_every - 1:
            yield make_doi("datacite", i)
        elif nf_every and i % nf_every == nf_every // 2:
            yield make_doi("missing", i)
        else:
            yield make_doi("crossref", i)


def prefixes() -> dict[str, str]:
    """Prefix -> agency as doi.org's /ra spells it, for every prefix this bench uses."""
    found = {t.prefix: "DataCite" for t in datacite_templates()}
    found.update({t.prefix: "Crossref" for t in crossref_templates()})
    return found


# --- rendering ---------------------------------------------------------------------------------


def changed(n: int, fraction: float) -> bool:
    """Whether DOI n is among the `fraction` whose citation counts move at every epoch (a fixed,
    well-spread set: Knuth's multiplicative hash)."""
    return (n * 2654435761 % 2**32) / 2**32 < fraction


def render(doi: str, service: str, epoch: int = 0, fraction: float = 0.1) -> str | None:
    """The JSON text `service` ("crossref", "datacite", "openalex") answers for `doi` at `epoch`,
    or None when it does not know the DOI. Crossref's text is the work object (the `message`,
    or a work-list item); DataCite's the whole JSON:API body; OpenAlex's the work object."""
    kind = parse(doi)
    if kind is None or kind.agency == "missing":
        return None
    if service in ("crossref", "datacite") and service != kind.agency:
        return None
    pool = {
        "crossref": crossref_templates,
        "datacite": datacite_templates,
        "openalex": openalex_templates,
    }[service]()
    template = pool[kind.n % len(pool)]
    doi_text = doi.lower() if service == "datacite" else doi  # DataCite lower-cases its DOIs
    bump = epoch if changed(kind.n, fraction) else 0
    values = {
        "DOI": _escape(doi_text),
        "SUFFIX": _escape(doi_text.partition("/")[2]),
        "TITLE": _escape(title(kind.n)),
        "W": str(4_000_000_000 + kind.n * 10 + (1 if kind.agency == "datacite" else 0)),
        "STAMP": f"2026-11-{1 + epoch % 28:02d}T03:{epoch // 28 % 60:02d}:00Z",
        "DATE": f"2026-11-{1 + epoch % 28:02d}",
    }
    numbers = {"CITES": str(template.base_cites + bump), "TS": str(1_793_500_000_000 + epoch)}

    def fill(match: re.Match) -> str:
        if match.group(1):
            return numbers[match.group(1)]
        slot, index = match.group(2), match.group(3)
        if index is None:
            return values[slot]
        return _escape(_person(kind.n, int(index), slot))

    return _SLOT.sub(fill, template.text)


def record(doi: str, service: str, epoch: int = 0, fraction: float = 0.1) -> dict | None:
    """`render` parsed: the payload as the harvester's HTTP layer hands it on."""
    text = render(doi, service, epoch, fraction)
    return None if text is None else json.loads(text)


def title(n: int) -> str:
    frame = FRAME[n % len(FRAME)]
    a, b = TOPIC[n * 7 % len(TOPIC)], TOPIC[(n * 11 + 5) % len(TOPIC)]
    return frame.format(a=a, b=b, A=a[:1].upper() + a[1:]) + f" ({n})"


def _person(n: int, i: int, slot: str) -> str:
    given = GIVEN[(n * 31 + i * 7) % len(GIVEN)]
    family = FAMILY[(n * 17 + i * 13 + n // 7) % len(FAMILY)]
    if slot == "G":
        return given
    if slot == "F":
        return family
    if slot == "N":
        return f"{given} {family}"
    if slot == "R":
        return f"{family}, {given}"
    if slot == "O":
        return orcid(n * 1000 + i)
    raise KeyError(slot)


def orcid(number: int) -> str:
    """A well-formed ORCID iD (ISO 7064 11,2 check digit) from a number."""
    digits = f"{2_000_000_000 + number % 10**9:015d}"
    total = 0
    for d in digits:
        total = (total + int(d)) * 2
    check = (12 - total % 11) % 11
    base = digits + ("X" if check == 10 else str(check))
    return "-".join(base[i : i + 4] for i in range(0, 16, 4))


def _escape(value: str) -> str:
    """A value as it sits inside a JSON string."""
    return json.dumps(value, ensure_ascii=False)[1:-1]


# --- templates -----------------------------------------------------------------------------------


def _recorded(service: str) -> list[Path]:
    return sorted(
        p for p in (FIXTURES / service).glob("10.*.json") if not p.name.endswith(".meta.json")
    )


def _slotted(data: Any, old_doi: str) -> str:
    """JSON text of `data` with every spelling of the recorded DOI turned into the @@DOI@@ slot."""
    text = json.dumps(data, ensure_ascii=False)
    return re.sub(re.escape(old_doi), "@@DOI@@", text, flags=re.IGNORECASE)


@cache
def crossref_templates() -> tuple[Template, ...]:
    """The recorded Crossref works (the `message` of /works/{doi}), with slots."""
    found = []
    for path in _recorded("crossref"):
        message = json.loads(path.read_bytes())["message"]
        old = message["DOI"]
        message["DOI"] = old  # replaced below with everything else that spells it
        message["URL"] = f"https://doi.org/{old}"
        if message.get("title"):
            message["title"] = ["@@TITLE@@", *message["title"][1:]]
        for i, author in enumerate(message.get("author") or []):
            if "family" in author:
                author["family"] = f"@@F:{i}@@"
            if "given" in author:
                author["given"] = f"@@G:{i}@@"
            if "ORCID" in author:
                author["ORCID"] = f"https://orcid.org/@@O:{i}@@"
        base = int(message.get("is-referenced-by-count") or 0)
        message["is-referenced-by-count"] = "@@#CITES@@"
        if isinstance(message.get("indexed"), dict):
            message["indexed"]["date-time"] = "@@STAMP@@"
            message["indexed"]["timestamp"] = "@@#TS@@"
        found.append(
            Template(path.stem, old.partition("/")[0].lower(), _slotted(message, old), base)
        )
    return tuple(found)


@cache
def datacite_templates() -> tuple[Template, ...]:
    """The recorded DataCite JSON:API bodies, with slots."""
    found = []
    for path in _recorded("datacite"):
        body = json.loads(path.read_bytes())
        attributes = body["data"]["attributes"]
        old = body["data"]["id"]
        titles = attributes.get("titles") or [{}]
        titles[0] = {**titles[0], "title": "@@TITLE@@"}
        attributes["titles"] = titles
        for i, creator in enumerate(attributes.get("creators") or []):
            if creator.get("nameType") == "Organizational" or "familyName" not in creator:
                continue  # organisations and unsplit names keep their recorded shape
            creator["name"] = f"@@R:{i}@@"
            creator["givenName"] = f"@@G:{i}@@"
            creator["familyName"] = f"@@F:{i}@@"
            for ident in creator.get("nameIdentifiers") or []:
                if "orcid" in str(ident.get("nameIdentifierScheme", "")).lower():
                    ident["nameIdentifier"] = f"https://orcid.org/@@O:{i}@@"
        base = int(attributes.get("citationCount") or 0)
        attributes["citationCount"] = "@@#CITES@@"
        attributes["updated"] = "@@STAMP@@"
        attributes["suffix"] = "@@SUFFIX@@"
        found.append(Template(path.stem, old.partition("/")[0].lower(), _slotted(body, old), base))
    return tuple(found)


@cache
def openalex_templates() -> tuple[Template, ...]:
    """The recorded OpenAlex works, with slots (same title and author names as the agency's)."""
    found = []
    for path in _recorded("openalex"):
        work = json.loads(path.read_bytes())
        old = work["doi"].removeprefix("https://doi.org/")
        work["id"] = "https://openalex.org/W@@W@@"
        work["ids"] = {**work.get("ids", {}), "openalex": work["id"], "doi": work["doi"]}
        work["title"] = work["display_name"] = "@@TITLE@@"
        for i, authorship in enumerate(work.get("authorships") or []):
            author = authorship.get("author") or {}
            author["display_name"] = f"@@N:{i}@@"
            if author.get("orcid"):
                author["orcid"] = f"https://orcid.org/@@O:{i}@@"
            if "raw_author_name" in authorship:
                authorship["raw_author_name"] = f"@@N:{i}@@"
        base = int(work.get("cited_by_count") or 0)
        work["cited_by_count"] = "@@#CITES@@"
        work["updated_date"] = "@@STAMP@@"
        found.append(Template(path.stem, old.partition("/")[0].lower(), _slotted(work, old), base))
    return tuple(found)
