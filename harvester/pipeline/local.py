"""The user's own values: `harvest import` and `harvest set`/`unset` write them, and every
merge ranks them with the sources (first, by default).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from harvester.config import Config
from harvester.identifiers import ascii_key, parse_doi, parse_repec
from harvester.merge import (
    Contribution,
    Value,
    authors_from_rows,
    authors_json,
)
from harvester.pipeline.common import (
    Run,
    merge_work,
)
from harvester.store import Observation, Outcome, Store, StoredAnswer

log = structlog.get_logger(__name__)


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
) -> Observation:
    """The work as it becomes with the user's `edits` (None unsets a field): rebuilt from every
    source's last answer and the user's values, so that an edit wins at once and an unset gives
    the field back to the sources. A work not stored yet is created from the edits alone.
    `authors`, if edited, is JSON text of author rows."""
    stored: Sequence[StoredAnswer] = ()
    current: dict[str, Value] = {}
    if work_id is not None:
        stored = list(store.latest_answers([work_id], with_payload=True).get(work_id, {}).values())
        existing = store.local_values([work_id]).get(work_id)
        if existing:
            current = dict(existing.values)
            if existing.authors:
                current["authors"] = authors_json(existing.authors)
    merged = {k: v for k, v in {**current, **edits}.items() if v is not None}
    authors = merged.pop("authors", None)
    local = Contribution(
        "local", merged, authors_from_rows(json.loads(authors)) if isinstance(authors, str) else ()
    )
    work, conflicts = merge_work(stored, local if merged or local.authors else None, config)
    return Observation(
        source="local",
        key=key,
        scheme=scheme,
        display=display,
        identifier_value=identifier_value,
        status="ok",
        work=work,
        work_id=work_id,
        conflicts=conflicts if stored else None,
        local=dict(edits),
        local_origin=origin,
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


@dataclass
class ImportResult:
    run_id: int
    outcomes: list[Outcome]
    without_identifier: list[Any]  # the LocalRecords that name no DOI or RePEc handle


def import_records(
    records: Sequence[Any], *, store: Store, config: Config, command: str
) -> ImportResult:
    """`harvest import`: the user's own records, matched to stored works by DOI or RePEc handle
    (a record with neither by what it says: see `record_key`), written in one transaction so
    that a file is imported whole or not at all. Records that name the same work are combined,
    later ones winning field by field. A value that only restates what the work holds already
    is not kept as the user's: it would pin the field against the sources' later corrections."""
    combined: dict[tuple[str, str], tuple[Any, str, dict[str, Value | None]]] = {}
    without_identifier = []
    for record in records:
        edits: dict[str, Value | None] = dict(record.values)
        if edits.get("published") == f"{edits.get('year')}":
            # A file's bare year (BibTeX, RIS PY) says no more than `year`: it must not hide a
            # source's full date behind a local "2015".
            del edits["published"]
        if record.authors:
            edits["authors"] = authors_json(record.authors)
        doi, handle = record.values.get("doi"), record.values.get("repec_handle")
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
        work_id = store.find_work_id(scheme, key)
        if work_id is not None:
            edits = _new_to(store.work(work_id) or {}, edits)
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
                origin="import",
            )
        )
    with Run(store, command) as run:
        outcomes = run.write(observations)
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
