"""What the console's pages show, read through the library's own queries (`Store` parts) and
a few of its views: a work as a record, the review queues, and one search over works, people and
identifiers. Pure functions of an open store (and, for the sources' values, the configuration
the merge reads them with); the pages only lay them out."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from harvester import jsontext, sources
from harvester.config import Config
from harvester.identifiers import ascii_key, parse_identifier
from harvester.merge import contribution
from harvester.models import NOTICE_KINDS
from harvester.people import read_person_id
from harvester.pipeline.local import EDITABLE_FIELDS
from harvester.store import Store

#: Columns of `works` that describe the record rather than say something of the work (its
#: `conflicts` are the side-by-side table).
_BOOKKEEPING = ("id", "provenance", "version", "created_at", "updated_at", "conflicts")

#: Worst first, as `harvest show` and the digest list notices.
_NOTICE_ORDER = (
    "CASE n.kind "
    + " ".join(f"WHEN '{kind}' THEN {rank}" for rank, kind in enumerate(NOTICE_KINDS))
    + f" ELSE {len(NOTICE_KINDS)} END"
)

#: The most rows one search answers per kind (works, people, identifiers).
SEARCH_LIMIT = 50


# --- pure: how values read --------------------------------------------------------------------


def shown(value: Any) -> str:
    """A value as a person reads it: JSON lists and objects as lines of text, not as JSON."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            value = json.loads(value)
        except ValueError:
            return value
    if isinstance(value, list):
        return "\n".join(
            " · ".join(_flat(v) for v in item.values() if v not in (None, "", [], {}))
            if isinstance(item, dict)
            else _flat(item)
            for item in value
        )
    if isinstance(value, dict):
        return "\n".join(f"{k}: {v}" for k, v in value.items())
    return str(value)


def _flat(value: Any) -> str:
    """A value inside a list's item, on its one line (award numbers, a byline's names)."""
    if isinstance(value, list):
        return ", ".join(_flat(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {_flat(v)}" for k, v in value.items() if v not in (None, ""))
    return str(value)


def marked(
    old: str | None, new: str | None
) -> tuple[list[tuple[str, bool]], list[tuple[str, bool]]]:
    """Old and new text cut into (text, changed) parts, word by word: what the timeline marks,
    so a corrected page range or one changed word stands out of a long title."""
    old_words = (old or "").split(" ") if old else []
    new_words = (new or "").split(" ") if new else []
    old_parts: list[tuple[str, bool]] = []
    new_parts: list[tuple[str, bool]] = []
    matcher = difflib.SequenceMatcher(a=old_words, b=new_words, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        same = op == "equal"
        if a1 > a0:
            old_parts.append((" ".join(old_words[a0:a1]), not same))
        if b1 > b0:
            new_parts.append((" ".join(new_words[b0:b1]), not same))
    return old_parts, new_parts


def citation(work: Mapping[str, Any]) -> str:
    """The work as one line a reader cites: byline, year, title, where it appeared, DOI."""
    names = []
    for author in work.get("authors") or []:
        if author.get("family"):
            given = " ".join(f"{part[0]}." for part in (author.get("given") or "").split() if part)
            names.append(f"{author['family']}, {given}".rstrip(", "))
        elif author.get("name"):
            names.append(author["name"])
    byline = "; ".join(names[:10]) + ("; et al." if len(names) > 10 else "")
    title = work.get("title") or "(no title)"
    if work.get("subtitle"):
        title += f": {work['subtitle']}"
    where = work.get("container_title") or work.get("publisher") or ""
    numbers = "".join(
        [
            f", {work['volume']}" if work.get("volume") else "",
            f"({work['issue']})" if work.get("issue") else "",
            f", {work['pages']}" if work.get("pages") else "",
        ]
    )
    parts = [
        f"{byline} ({work.get('year') or 'n.d.'}).",
        f"{title}.",
        f"{where}{numbers}." if where or numbers else "",
        f"https://doi.org/{work['doi']}" if work.get("doi") else work.get("repec_handle") or "",
    ]
    return " ".join(p for p in parts if p).strip()


# --- a work's page ----------------------------------------------------------------------------


def work_page(store: Store, work_id: int, config: Config) -> dict[str, Any] | None:
    """Everything a work's page shows, or None when no such work is stored."""
    work = store.works.get(work_id)
    if work is None:
        return None
    conn = store.conn
    reviews = store.notice_reviews
    provenance = json.loads(work.get("provenance") or "{}")
    conflicts = _rows(
        conn,
        "SELECT field, source, value, run_id, seen_at FROM conflicts WHERE work_id = ? "
        "ORDER BY field, source",
        (work_id,),
    )
    conflicted = {c["field"] for c in conflicts}
    said = said_by_source(store, work_id, config)
    fields = [
        {
            "name": name,
            "value": shown(work[name]),
            "from": provenance.get(name, ""),
            "conflict": name in conflicted,
            "editable": name in EDITABLE_FIELDS,
        }
        for name in work
        if name not in (*_BOOKKEEPING, "authors", "identifiers") and shown(work[name])
    ]
    side_by_side = sorted(
        {name for values in said.values() for name, value in values.items() if shown(value)}
        | (conflicted - {"authors"})
    )
    return {
        "work": work,
        "citation": citation(work),
        "fields": fields,
        "authors": _rows(
            conn,
            "SELECT position, given, family, name, orcid, affiliation, repec_id FROM authors "
            "WHERE work_id = ? ORDER BY position",
            (work_id,),
        ),
        "identifiers": work["identifiers"],
        "sources": _rows(
            conn,
            """SELECT source, identifier, status, fetched_at, last_seen_at FROM source_records s
                WHERE work_id = ? AND fetched_at = (
                  SELECT max(fetched_at) FROM source_records t
                   WHERE t.work_id = s.work_id AND t.source = s.source)
                ORDER BY source""",
            (work_id,),
        ),
        "compare": {
            "sources": list(said),
            "rows": [
                {
                    "field": name,
                    "won": provenance.get(name, ""),
                    "conflict": name in conflicted,
                    "values": {source: shown(values.get(name)) for source, values in said.items()},
                }
                for name in side_by_side
            ],
        },
        "conflicts": conflicts,
        "notices": [
            {**notice, "review": reviews.of(notice["id"])}
            for notice in store.integrity.for_work(work_id)
        ],
        "matches": store.matches.candidates([work_id]).get(work_id, []),
        "claims": [
            {**claim, "found_by": claim["found_by"].split(",")}
            for claim in _rows(
                conn,
                """SELECT c.id, c.person_id, p.name AS person, c.status, c.found_by, c.reason,
                          c.found_at, c.settled_at
                     FROM claims c JOIN people p ON p.id = c.person_id
                    WHERE c.work_id = ? ORDER BY c.id""",
                (work_id,),
            )
        ],
        "history": [
            {**row, "old_parts": parts[0], "new_parts": parts[1]}
            for row in _rows(
                conn,
                """SELECT id, changed_at, field, old_value, new_value, source, kind, run_id,
                          run_command, run_status
                     FROM change_log WHERE work_id = ? ORDER BY id""",
                (work_id,),
            )
            for parts in [marked(shown(row["old_value"]), shown(row["new_value"]))]
        ],
    }


def said_by_source(store: Store, work_id: int, config: Config) -> dict[str, dict[str, Any]]:
    """Field -> value, for each source's latest answer (parsed as the merge parses it) and for
    the user's own values (`local`): the columns of the side-by-side table."""
    said: dict[str, dict[str, Any]] = {}
    answers = store.works.latest_answers([work_id], with_payload=True).get(work_id, {})
    for source, answer in sorted(answers.items()):
        if answer.status != "ok" or source not in sources.SOURCES or not answer.payload:
            continue
        record = sources.SOURCES[source].parse(jsontext.loads(answer.payload))
        if record is not None:
            said[source] = dict(contribution(record, config.merge.dates).values)
    local = store.works.local_values([work_id]).get(work_id)
    if local is not None and local.values:
        said["local"] = dict(local.values)
    return said


# --- the queues -------------------------------------------------------------------------------


def review_queues(store: Store) -> dict[str, list[dict[str, Any]]]:
    """What waits for a person: DOI matches, claims, conflicts between sources, and the
    integrity notices nobody has reviewed yet (worst first)."""
    conn = store.conn
    conflicts: dict[tuple[int, str], dict[str, Any]] = {}
    for row in _rows(
        conn,
        """SELECT c.work_id, c.field, c.source, c.value, w.title, w.doi, w.provenance
             FROM conflicts c JOIN works w ON w.id = c.work_id
            ORDER BY c.work_id, c.field, c.source""",
    ):
        item = conflicts.setdefault(
            (row["work_id"], row["field"]),
            {
                "work_id": row["work_id"],
                "field": row["field"],
                "title": row["title"],
                "doi": row["doi"],
                "won": json.loads(row["provenance"] or "{}").get(row["field"], ""),
                "editable": row["field"] in EDITABLE_FIELDS,
                "values": [],
            },
        )
        item["values"].append(
            {"source": row["source"], "value": row["value"], "shown": shown(row["value"])}
        )
    return {
        "matches": store.matches.pending(),
        "claims": store.claims.listing(statuses=("pending",)),
        "conflicts": list(conflicts.values()),
        "notices": _rows(
            conn,
            f"""SELECT n.*, w.title, w.doi FROM integrity_notices n JOIN works w ON w.id = n.work_id
                 WHERE {store.notice_reviews.unreviewed_sql()}
                 ORDER BY {_NOTICE_ORDER}, coalesce(n.notice_date, '') DESC, n.id""",
        ),
    }


# --- search -----------------------------------------------------------------------------------


def search(store: Store, text: str) -> dict[str, list[dict[str, Any]]]:
    """Works, people and identifiers that `text` names, from one box: an identifier in any
    form people paste it (DOI, handle, ORCID), else words of a title, abstract or byline (the
    full-text index Datasette's own search uses), a person's name, or part of an identifier."""
    conn = store.conn
    text = text.strip()
    found: dict[str, list[dict[str, Any]]] = {"works": [], "people": [], "identifiers": []}
    if not text:
        return found
    like = f"%{text}%"
    try:
        identifier = parse_identifier(text)
    except ValueError:
        identifier = None
    keys = [ascii_key(text)]
    if identifier is not None:
        keys.insert(0, identifier.key)
    found["identifiers"] = _rows(
        conn,
        f"""SELECT i.scheme, i.value, i.work_id, w.title FROM identifiers i
              LEFT JOIN works w ON w.id = i.work_id
             WHERE i.key IN ({",".join("?" * len(keys))}) OR i.value LIKE ?
             ORDER BY i.key IN ({",".join("?" * len(keys))}) DESC, i.scheme, i.key LIMIT ?""",
        (*keys, like, *keys, SEARCH_LIMIT),
    )
    words = " ".join(f'"{w}"' for w in text.replace('"', " ").split())
    works = []
    if words:
        works = _rows(
            conn,
            """SELECT w.id, w.title, w.doi, w.repec_handle, w.year, w.container_title
                 FROM works_fts f JOIN works w ON w.id = f.rowid
                WHERE works_fts MATCH ? ORDER BY rank LIMIT ?""",
            (words, SEARCH_LIMIT),
        )
    named = {w["id"] for w in works}
    for row in found["identifiers"]:
        if row["work_id"] is not None and row["work_id"] not in named:
            named.add(row["work_id"])
            works.insert(0, {**store.works.get(row["work_id"]), "authors": None})
    found["works"] = works[:SEARCH_LIMIT]
    try:
        person_id = read_person_id(text)
    except ValueError:
        person_id = None
    person_keys = [*keys, *([person_id.key] if person_id is not None else [])]
    found["people"] = _rows(
        conn,
        """SELECT DISTINCT p.id, p.name,
                  (SELECT group_concat(value, ' · ') FROM person_ids WHERE person_id = p.id) AS ids,
                  (SELECT count(*) FROM claims c WHERE c.person_id = p.id
                     AND c.status = 'pending') AS pending
             FROM people p LEFT JOIN person_ids i ON i.person_id = p.id
            WHERE p.name LIKE ? OR i.value LIKE ? OR i.key IN (SELECT value FROM json_each(?))
            ORDER BY p.name LIMIT ?""",
        (like, like, json.dumps(person_keys), SEARCH_LIMIT),
    )
    return found


def _rows(conn, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    cursor = conn.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
