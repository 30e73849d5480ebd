"""The RePEc Author Service (RAS): a person's ReDIF-Person record, and the works they claimed.

RAS writes one ReDIF-Person 1.0 template a person: names, workplaces (EDIRC institution
handles), `Short-Id`, `Handle`, and one `author-paper:`, `author-article:`, `author-chapter:`,
`author-book:`, `author-software:` ... line per claimed work (the real files write these field
names in lower case; ReDIF field names are case-insensitive). `parse_person` is pure and reads
the template with `redif.py`'s reader; `fetch_person` reads the file from a copy of RePEc's
`per/pers` folder (`[ras] url` and `path`): a local folder, a file:// URL or an http(s) base.

Where a person's file sits below `per/pers` is configurable (`[ras] path`, by default
`{letter}/{short_id}.rdf`). That default was read from other projects' notes on the folder
(RePEc's rsync module `RePEc-ReDIF/per/pers/`, "one file per author under
per/pers/<letter>/<short_id>.rdf"), not from a listing of RePEc's own tree: set `path` to what
your copy holds. Written against tests/fixtures/redif/ras_*.redif (see PROVENANCE.tsv).
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from harvester.config import Config, PoolLimit
from harvester.errors import BadIdentifier, BadPayload, ConfigError, NotFound
from harvester.http import HttpClient, RateLimiter
from harvester.identifiers import Doi, RepecHandle, parse_doi, parse_repec
from harvester.sources import redif
from harvester.sources.base import Candidate, FeedState, PersonPage

SOURCE = "ras"
#: Its section of config/harvester.toml.
CONFIG_SECTION = "ras"
#: The rate-limiter pool of requests for person files over http(s).
POOL = "ras:files"
#: The evidence of a candidate the person claimed in RAS (sources.base.Candidate).
EVIDENCE = "ras-claimed"
#: Largest person file read: the real ones are a few KB (141 claims: 7 KB).
MAX_FILE_BYTES = 4 * 2**20

#: A Short-Id: "p", then letters, then digits ("pbe27", "pry2"); case-insensitive (ACIS).
_SHORT_ID = re.compile(r"(?i)p[a-z]{1,3}[0-9]+")
#: A claim field: author-paper, author-article, author-chapter, author-book, author-software...
_CLAIM = re.compile(r"author-([a-z]+)")
_WORKPLACE_FIELDS = {
    "workplace-name": "name",
    "workplace-institution": "institution",
    "workplace-share": "share",
}


def parse_short_id(text: str) -> str:
    """A RAS Short-Id in lower case ("pbe27"), or BadIdentifier."""
    cleaned = (text or "").strip()
    if not _SHORT_ID.fullmatch(cleaned):
        raise BadIdentifier(
            text, "not a RePEc author short-id: 'p', a few letters, then digits (e.g. pbe27)"
        )
    return cleaned.lower()


# --- parse (pure) ---


@dataclass(frozen=True, slots=True)
class Workplace:
    """One `Workplace-*` group: an EDIRC institution handle and/or a name, and its share."""

    institution: str | None  # "RePEc:edi:deprius"
    name: str | None  # "Princeton University / Department of Economics"
    share: int | None  # Workplace-Share, percent


@dataclass(frozen=True, slots=True)
class Claim:
    """A work the person claimed: its kind (the `author-` field's suffix), its RePEc handle,
    and the DOI when the handle's item is one ("repec:ucp:jpolec:doi:10.1086/684853")."""

    kind: str  # "paper", "article", "chapter", "book", "software", ...
    handle: str  # as harvester.identifiers spells it (and keys it)
    as_written: str  # the value in the file
    doi: Doi | None


@dataclass(frozen=True, slots=True)
class RasPerson:
    short_id: str | None  # lower case
    handle: str  # "RePEc:per:1958-01-07:roland_benabou"
    name_first: str | None
    name_middle: str | None
    name_last: str | None
    name_full: str | None
    workplaces: tuple[Workplace, ...]
    claims: tuple[Claim, ...]  # in file order, each handle once
    unreadable: tuple[tuple[str, str], ...]  # (kind, value) of claims that are no handle

    def claims_by_kind(self) -> dict[str, tuple[Claim, ...]]:
        kinds: dict[str, list[Claim]] = {}
        for claim in self.claims:
            kinds.setdefault(claim.kind, []).append(claim)
        return {kind: tuple(claims) for kind, claims in kinds.items()}


def parse_person(data: str | bytes, path: str) -> RasPerson:
    """The ReDIF-Person template of one RAS file. BadPayload when the file holds none (or more
    than one), naming the file and line. A claimed handle that does not parse is counted in
    `unreadable`, not fatal; a trailing "." (as RePEc writes some OUP handles) is dropped, as
    the handle of the work's own template is."""
    text = redif.decode_redif(data)[0] if isinstance(data, bytes) else data
    # The reader checks that a template's handle fits the folder it was read from; a person's
    # folder (per/pers/b) never names its handle's archive, so it reads the file name alone.
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    templates, errors = [], []
    for item in redif.iter_templates(io.StringIO(text), name):
        (templates if isinstance(item, redif.Template) else errors).append(item)
    people = [t for t in templates if t.type == "person"]
    if len(people) != 1:
        why = "; ".join(f"line {e.line}: {e.reason}" for e in errors[:3])
        found = f"{len(people)} ReDIF-Person templates" if people else "no ReDIF-Person template"
        raise BadPayload(f"ras: {path}: {found}" + (f" ({why})" if why else ""), source=SOURCE)
    return _person(people[0])


def _person(template: redif.Template) -> RasPerson:
    claims: dict[str, Claim] = {}
    unreadable: list[tuple[str, str]] = []
    for field, value in template.fields:
        if not (match := _CLAIM.fullmatch(field)) or field == "author-name":
            continue
        kind = match[1]
        try:
            handle = parse_repec(value)
        except BadIdentifier:
            unreadable.append((kind, value))
            continue
        claims.setdefault(handle.key, Claim(kind, handle.value, value, _doi_in(handle.item)))
    short_id = template.get("short-id")
    return RasPerson(
        short_id=short_id.lower() if short_id else None,
        handle=template.handle,
        name_first=template.get("name-first"),
        name_middle=template.get("name-middle"),
        name_last=template.get("name-last"),
        name_full=template.get("name-full"),
        workplaces=_workplaces(template.fields),
        claims=tuple(claims.values()),
        unreadable=tuple(unreadable),
    )


def _workplaces(fields: tuple[tuple[str, str], ...]) -> tuple[Workplace, ...]:
    """Workplace-* fields are not a ReDIF cluster with a key field: a group ends where a field
    it already has comes again (Name, Institution, Share; Name, Institution, Share; ...)."""
    groups: list[dict[str, str]] = []
    for field, value in fields:
        key = _WORKPLACE_FIELDS.get(field)
        if key is None:
            continue
        if not groups or key in groups[-1]:
            groups.append({})
        groups[-1][key] = value
    return tuple(
        Workplace(
            institution=_institution(g.get("institution")),
            name=g.get("name"),
            share=int(g["share"]) if g.get("share", "").isdigit() else None,
        )
        for g in groups
    )


def _institution(value: str | None) -> str | None:
    if not value:
        return None
    parts = value.split(":")
    return "RePEc:" + ":".join(parts[1:]) if parts[0].lower() == "repec" else value


def _doi_in(item: str) -> Doi | None:
    if not item.lower().startswith("doi:"):
        return None
    try:
        return parse_doi(item)
    except BadIdentifier:
        return None


# --- fetch (I/O) ---


def pools(config: Config) -> dict[str, PoolLimit]:
    return {POOL: config.ras.limit}


@dataclass(frozen=True, slots=True)
class PersonFile:
    """A person's file as read: where from, and its bytes (for `parse_person`)."""

    short_id: str
    location: str  # the file path or URL read
    content: bytes


def person_location(short_id: str, config: Config) -> str:
    """Where `[ras] url` and `path` put the file of `short_id` (already checked)."""
    root = config.ras.url.strip()
    if not root:
        raise ConfigError(
            "[ras] url is not set: point it (or HARVEST_RAS_URL) at a copy of RePEc's per/pers "
            "folder of author records: a folder, a file:// URL or an http(s) base"
        )
    relative = config.ras.path.format(short_id=short_id, letter=short_id[1])
    if root.lower().startswith(("http://", "https://")):
        return root.rstrip("/") + "/" + quote(relative.lstrip("/"), safe="/")
    return str(_local_root(root) / relative)


def fetch_person(short_id: str, client: HttpClient, config: Config) -> PersonFile:
    """The RAS file of `short_id`. Raises BadIdentifier (not a short-id: nothing is read),
    ConfigError ([ras] url unset or unusable), NotFound ("no such RAS person") and the
    HTTP layer's errors for an http(s) copy."""
    short_id = parse_short_id(short_id)
    location = person_location(short_id, config)
    missing = f"ras: no such RAS person {short_id} (no file {location})"
    if not location.lower().startswith(("http://", "https://")):
        file = Path(location)
        if not file.is_file():
            raise NotFound(missing, source=SOURCE, identifier=short_id, status=404)
        if file.stat().st_size > MAX_FILE_BYTES:
            raise BadPayload(
                f"ras: {location} is over {MAX_FILE_BYTES} bytes: not a person record",
                source=SOURCE,
                identifier=short_id,
            )
        return PersonFile(short_id, location, file.read_bytes())
    if not client.has_limiter(POOL):
        client.add_limiter(POOL, RateLimiter(POOL, config.ras.limit, pace=config.http.pace))
    try:
        answer = client.get_bytes(
            location,
            pool=POOL,
            source=SOURCE,
            identifier=short_id,
            headers={"Accept": "*/*"},
            max_bytes=MAX_FILE_BYTES,
        )
    except NotFound:
        raise NotFound(missing, source=SOURCE, identifier=short_id, status=404) from None
    return PersonFile(short_id, location, answer.content)


def read_person(short_id: str, client: HttpClient, config: Config) -> RasPerson:
    """`fetch_person`, then `parse_person`, checked to be the person asked (its Short-Id)."""
    return person_in(fetch_person(short_id, client, config))


def person_pages(
    short_id: str, config: Config, client: HttpClient, state: FeedState
) -> Iterator[PersonPage]:
    """The person feed of a RAS short-id: their file, read once, one page. Its watermark is the
    file's content hash: when that has not moved since `state.since`, the page holds no
    candidate and the file is not parsed. Otherwise each claimed handle is a candidate, and the
    DOI a handle's item names, evidence "ras-claimed", the person's own record."""
    file = fetch_person(short_id, client, config)
    digest = "sha256:" + hashlib.sha256(file.content).hexdigest()
    if state.since == digest:
        yield PersonPage(candidates=[], watermark=digest)
        return
    yield PersonPage(candidates=claim_candidates(person_in(file)), watermark=digest)


def claim_candidates(person: RasPerson) -> list[Candidate]:
    """A candidate for each handle the person claimed, then the DOI its item names, if any
    (pure; a work found by both is one claim)."""
    candidates = []
    for claim in person.claims:
        found: list[Doi | RepecHandle] = [parse_repec(claim.handle)]
        if claim.doi is not None:
            found.append(claim.doi)
        candidates += [Candidate(i, EVIDENCE, own=True) for i in found]
    return candidates


def person_in(file: PersonFile) -> RasPerson:
    """The person a file read holds, checked to be the one asked for (its Short-Id)."""
    person = parse_person(file.content, file.location)
    if person.short_id != file.short_id:
        raise BadPayload(
            f"ras: {file.location} holds the record of {person.short_id or 'no Short-Id'}, "
            f"not of {file.short_id}",
            source=SOURCE,
            identifier=file.short_id,
        )
    return person


def _local_root(url: str) -> Path:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ConfigError(f"[ras] url {url!r}: a file:// URL must name a local folder")
        folder = Path(unquote(parts.path))
    elif len(scheme) > 1:  # one letter is a Windows drive, not a scheme
        raise ConfigError(f"[ras] url {url!r}: {scheme}:// is not supported")
    else:
        folder = Path(url).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"[ras] url: the folder {str(folder)!r} does not exist")
    return folder
