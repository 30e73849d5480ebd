"""The user's own values: `harvest import` and `harvest set`/`unset` write them, and every
merge ranks them with the sources (first, by default). Also the rules of an edit (which fields,
which values, what an identifier may name) and how a person's text names a stored work.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from harvester.config import Config
from harvester.errors import BadEdit, BadIdentifier
from harvester.formats import RecordError, local_values
from harvester.formats.csvfile import parse_authors
from harvester.identifiers import Doi, ascii_key, parse_doi, parse_identifier, parse_repec
from harvester.merge import (
    WORK_FIELDS,
    Contribution,
    Value,
    authors_from_rows,
    authors_json,
)
from harvester.models import LocalEdit
from harvester.pipeline.common import (
    Run,
    merge_work,
)
from harvester.store import Outcome, Store, StoredAnswer
from harvester.store.works import FILL

log = structlog.get_logger(__name__)

#: What `harvest set` can correct: every `works` column from sources but the JSON lists of
#: relations and updates (which come from the agencies' link data), and the author list.
EDITABLE_FIELDS = (*(f for f in WORK_FIELDS if f not in ("relations", "updates")), "authors")


# --- which work a person means ----------------------------------------------------------------


def find_work(store: Store, text: str) -> int | None:
    """A work by database id, DOI or RePEc handle, as a person names it on the command line;
    None when it is not stored, a BadIdentifier when `text` is none of these."""
    if text.strip().isdigit():
        work_id = int(text)
        if work_id > 2**63 - 1:  # beyond SQLite's integers: certainly not stored
            return None
        return store.works.find_work_by_id(work_id)
    identifier = parse_identifier(text)
    scheme = "doi" if isinstance(identifier, Doi) else "repec"
    return store.works.find_work_id(scheme, identifier.key)


def find_works(store: Store, texts: Sequence[str]) -> list[int]:
    """The work ids of the works named (`find_work`), once each, in order; one that names no
    stored work is bad input, since the person asked about it."""
    found = []
    for text in texts:
        work_id = find_work(store, text)
        if work_id is None:
            raise BadIdentifier(text, "no such work in the database (see harvest show)")
        found.append(work_id)
    return list(dict.fromkeys(found))


# --- the rules of an edit -----------------------------------------------------------------------


def check_field(name: str) -> None:
    """A field a person may set or unset (`EDITABLE_FIELDS`); any other is a BadEdit that names
    the ones there are, so a typo is told how to spell it."""
    if name not in EDITABLE_FIELDS:
        raise BadEdit(f"unknown field {name!r}; fields are: {', '.join(EDITABLE_FIELDS)}")


def parse_edits(texts: Mapping[str, str]) -> dict[str, Value | None]:
    """The values a person typed (field -> text) as the store keeps them, checked like a CSV
    import's cells (the same words mean the same value wherever they are given); a BadEdit
    when a value is not one the field can hold."""
    for name in texts:
        check_field(name)
    try:
        edits: dict[str, Value | None] = dict(
            local_values({k: v for k, v in texts.items() if k != "authors"})
        )
    except RecordError as exc:
        raise BadEdit(str(exc)) from None
    if "authors" in texts:
        authors = parse_authors(texts["authors"])
        if not authors:
            raise BadEdit("authors: no author in the value")
        edits["authors"] = authors_json(authors)
    return edits


@dataclass(frozen=True)
class CheckedEdit:
    """An edit that may be made (`check_edit`): the edits to write, and the fields asked to be
    unset that hold no value of the user's (worth a note: the unset changes nothing there)."""

    edits: dict[str, Value | None]
    not_held: tuple[str, ...] = ()


def check_edit(store: Store, work_id: int, edits: Mapping[str, Value | None]) -> CheckedEdit:
    """The checks of `harvest set` / `unset` on a stored work, before anything is written: a DOI
    or RePEc handle that already names another work is a BadEdit (one identifier cannot name
    two works); and a year and a date the user set together are unset together."""
    for scheme, name, parse in (
        ("doi", "doi", parse_doi),
        ("repec", "repec_handle", parse_repec),
    ):
        value = edits.get(name)
        other = (
            store.works.find_work_id(scheme, parse(value).key) if isinstance(value, str) else None
        )
        if other not in (None, work_id):
            raise BadEdit(
                f"{name} {value} already identifies work {other}; one identifier cannot "
                "name two works"
            )
    unset = [k for k, v in edits.items() if v is None]
    held = store.works.local_values([work_id]).get(work_id)
    held_fields = set(held.values) | ({"authors"} if held.authors else set()) if held else set()
    not_held = tuple(name for name in unset if name not in held_fields)
    checked = dict(edits)
    if held and {"year", "published"} & set(unset):
        # `set year=` also sets the date to that year (and `set published=` the year): the
        # two go back to the sources together, or the work would hold two different years.
        year, published = held.values.get("year"), held.values.get("published")
        if year is not None and str(published or "")[:4] == f"{year:04d}":
            checked = {**checked, "year": None, "published": None}
    return CheckedEdit(checked, not_held)


def local_observation(
    store: Store,
    config: Config,
    edits: Mapping[str, Value | None],
    *,
    work_id: int | None = None,
    key: str = "",
    scheme: str = "doi",
    display: str = "",
    identifier_value: str = "",
    origin: str = "set",
) -> LocalEdit:
    """The work as it becomes with the user's `edits` (None unsets a field): rebuilt from every
    source's last answer and the user's values, so that an edit wins at once and an unset gives
    the field back to the sources. A work not stored yet is created from the edits alone.
    `authors`, if edited, is JSON text of author rows."""
    stored: Sequence[StoredAnswer] = ()
    current: dict[str, Value] = {}
    fills: frozenset[str] = frozenset()
    if work_id is not None:
        stored = list(
            store.works.latest_answers([work_id], with_payload=True).get(work_id, {}).values()
        )
        existing = store.works.local_values([work_id]).get(work_id)
        if existing:
            current, fills = dict(existing.values), existing.fills
            if existing.authors:
                current["authors"] = authors_json(existing.authors)
    merged = {k: v for k, v in {**current, **edits}.items() if v is not None}
    authors = merged.pop("authors", None)
    # What these edits set fills gaps only if they were imported so; the rest stays as it was.
    fills = (fills - set(edits)) | (set(edits) if origin == FILL else set())
    local = Contribution(
        "local",
        merged,
        authors_from_rows(json.loads(authors)) if isinstance(authors, str) else (),
        frozenset(fills),
    )
    work, conflicts = merge_work(stored, local if merged or local.authors else None, config)
    return LocalEdit(
        key=key,
        scheme=scheme,
        display=display,
        identifier_value=identifier_value,
        work=work,
        work_id=work_id,
        conflicts=conflicts if stored else None,
        local=dict(edits),
        origin=origin,
    )


def edit_work(
    work_id: int,
    edits: Mapping[str, Value | None],
    *,
    store: Store,
    config: Config,
    command: str,
    display: str = "",
) -> Outcome:
    """`harvest set` / `harvest unset`: one run, one transaction, the change history saying
    `local` for every field the edit changed."""
    with Run(store, command) as run:
        [outcome] = run.write(
            [local_observation(store, config, edits, work_id=work_id, display=display)]
        )
    return outcome


def merge_works(keep: int, absorb: int, *, store: Store, config: Config, command: str) -> Outcome:
    """`harvest merge A B`: B is the same work as A. B's identifiers, source answers and history
    move to A and B is gone; A is merged again from both works' answers (A's where both have
    one from the same source) and both works' values of yours (A's winning), in one
    transaction; A's history records the merge (`merged_work_id`)."""
    if keep == absorb:
        raise BadEdit(f"work {keep} cannot be merged with itself")
    latest = store.works.latest_answers([keep, absorb], with_payload=True)
    answers = {**latest.get(absorb, {}), **latest.get(keep, {})}
    ours = store.works.local_values([keep, absorb])
    theirs, mine = ours.get(absorb), ours.get(keep)
    values = {**(theirs.values if theirs else {}), **(mine.values if mine else {})}
    authors = (mine.authors if mine else ()) or (theirs.authors if theirs else ())
    local = Contribution("local", values, authors) if values or authors else None
    work, conflicts = merge_work(list(answers.values()), local, config)
    merged = LocalEdit(
        key="",
        scheme="work",
        display=f"work {keep}",
        work=work,
        local={},
        work_id=keep,
        conflicts=conflicts,
        absorbs=(absorb,),
    )
    with Run(store, command) as run:
        [outcome] = run.write([merged])
    return outcome


def delete_works(work_ids: Sequence[int], *, store: Store, command: str) -> list[dict]:
    """`harvest delete`: the works gone, in one run and one transaction, each kept in
    `deleted_works` as it was; the identifiers that named them are no longer tracked (a
    tracked one would bring the work back at the next run). Returns the deleted records."""
    with Run(store, command) as run, store.transaction():
        now = store.now()
        deleted = []
        for work_id in work_ids:
            work = store.works.get(work_id)
            if work is None:
                continue
            store.watch.forget_work(work_id)
            store.links.forget_work(work_id)
            record = store.works.delete(work_id, run.result.run_id, now)
            deleted.append(record)
            log.info("work.deleted", work_id=work_id, doi=work.get("doi"))
    return deleted


@dataclass
class ImportResult:
    run_id: int
    outcomes: list[Outcome]
    without_identifier: list[Any]  # the LocalRecords that name no DOI or RePEc handle


def import_records(
    records: Sequence[Any],
    *,
    store: Store,
    config: Config,
    command: str,
    fill_gaps: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """`harvest import`: the user's own records, matched to stored works by DOI or RePEc handle
    (a record with neither by what it says: see `record_key`), written in one transaction so
    that a file is imported whole or not at all. Records that name the same work are combined,
    later ones winning field by field. A value that only restates what the work holds already
    is not kept as the user's: it would pin the field against the sources' later corrections.

    With `fill_gaps` the records' values only fill what no source gives, now or later (origin
    `fill`), and a field that already holds a value of yours keeps it. `on_progress(done,
    total)` follows the writing of the works, the long part of a big file (matching the
    records to works before it is quick)."""
    combined: dict[tuple[str, str], tuple[Any, str, dict[str, Value | None]]] = {}
    without_identifier = []
    for record in records:
        edits: dict[str, Value | None] = dict(record.values)
        if edits.get("published") == f"{edits.get('year')}":
            # A file's bare year (BibTeX, RIS PY) says no more than `year`: it must not hide a
            # source's full date behind a local "2015".
            del edits["published"]
        doi, handle = record.values.get("doi"), record.values.get("repec_handle")
        cut_short = getattr(record, "more_authors", False) and (doi or handle)
        if record.authors and not cut_short:
            # A byline cut short ("and others") is not yours to win with: it would hide the
            # source's whole one. A record no source knows keeps what it lists.
            edits["authors"] = authors_json(record.authors)
        if isinstance(doi, str):
            ident, value = ("doi", parse_doi(doi).key), doi
        elif isinstance(handle, str):
            ident, value = ("repec", parse_repec(handle).key), handle
        else:
            without_identifier.append(record)
            ident, value = ("record", record_key(record)), record.label
        first, first_value, earlier = combined.get(ident, (record, value, {}))
        combined[ident] = (first, first_value, {**earlier, **edits})

    observations = []
    for (scheme, key), (record, value, edits) in combined.items():
        work_id = store.works.find_work_id(scheme, key)
        if work_id is not None:
            edits = _new_to(store.works.get(work_id) or {}, edits)
            if fill_gaps:
                held = store.works.local_values([work_id]).get(work_id)
                yours = (
                    set(held.values) | ({"authors"} if held.authors else set()) if held else set()
                )
                edits = {k: v for k, v in edits.items() if k not in yours}
        observations.append(
            local_observation(
                store,
                config,
                edits,
                work_id=work_id,
                key=key,
                scheme=scheme,
                display=record.label,
                identifier_value=value,
                origin=FILL if fill_gaps else "import",
            )
        )
    total = len(observations)
    written = None if on_progress is None else (lambda done: on_progress(done, total))
    with Run(store, command) as run:
        outcomes = run.write(observations, on_written=written)
        if on_progress is not None:
            on_progress(total, total)
    return ImportResult(run.result.run_id, outcomes, without_identifier)


def record_key(record: Any) -> str:
    """What finds a record without DOI or RePEc handle again when its file is imported again:
    a digest of its title, year and author names (of all its values if it has none of these),
    so that two editorials of one year by different people stay two works."""
    values = record.values
    names = [
        " ".join(p for p in (a.family, a.given, a.name) if p).casefold() for a in record.authors
    ]
    title = " ".join(str(values.get("title") or "").split()).casefold()
    said: Any = [title, values.get("year"), names]
    if not (title or values.get("year") or names):
        said = sorted((k, str(v)) for k, v in values.items())
    text = json.dumps(said, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _new_to(work: Mapping[str, Any], edits: Mapping[str, Value | None]) -> dict[str, Value | None]:
    """The edits that say something the stored work does not: a restated DOI (in any letter
    case), value or author list (by names: files rarely carry ORCIDs and affiliations) is left
    out."""
    new: dict[str, Value | None] = {}
    for name, value in edits.items():
        if name == "authors" and isinstance(value, str):
            if _names(json.loads(value)) == _names(work.get("authors") or []):
                continue
        elif name in ("doi", "repec_handle") and isinstance(value, str):
            if ascii_key(value) == ascii_key(str(work.get(name) or "")):
                continue
        elif work.get(name) == value:
            continue
        new[name] = value
    return new


def _names(rows: Sequence[Mapping[str, Any]]) -> list[tuple]:
    return [(r.get("given"), r.get("family"), r.get("name")) for r in rows]
