"""What the sources say of a work's standing, as integrity notices: pure functions from parsed
records to `Notice`s, which `Store.write_batch` keeps in `integrity_notices`.

Each source says it its own way, and none of them alone is enough (Crossref holds the
publishers' notices and, since 2023, Retraction Watch's; OpenAlex flags retractions it learnt
elsewhere; DataCite links a superseded version; RePEc says a working paper was published):

- Crossref `updated-by`: another DOI updates this one (`type` retraction, correction, ...;
  `source` publisher or retraction-watch, with its `record-id`). `update-to` is the other way
  round (this record *is* the notice) and says nothing against this work.
- OpenAlex `is_retracted`.
- DataCite `relatedIdentifiers` IsObsoletedBy or IsPreviousVersionOf: a newer version
  replaces this one.
- ReDIF `Publication-Status` and arXiv's `journal-ref` (OAI-PMH): the working paper or
  preprint was published (a version, not a retraction).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from harvester.models import NOTICE_KINDS, Notice, Record

#: Sources' words for a notice that are not already one of NOTICE_KINDS: Crossref's update
#: types (https://www.crossref.org/documentation/crossmark/participating-in-crossmark/) and
#: Retraction Watch's RetractionNature values, folded into the kinds a digest sorts by.
_SYNONYMS = {
    "corrigendum": "correction",
    "addendum": "correction",
    "clarification": "correction",
    "concern": "expression_of_concern",
    "eoc": "expression_of_concern",
    "new_edition": "new_version",
    "retracted": "retraction",
    "withdrawn": "withdrawal",
    "removed": "removal",
}

#: DataCite relation types that say a newer version replaces this one. IsVersionOf is not
#: one: every Zenodo version says it of its concept DOI, old or newest.
SUPERSEDED_BY = {
    "is-obsoleted-by": "obsoleted by",
    "is-previous-version-of": "a newer version is",
}

_DOI_IN_TEXT = re.compile(r"\b(10\.\d{4,9}/\S+[^\s.,;)\]])", re.IGNORECASE)


def notice_kind(text: str | None) -> str:
    """A source's word for a notice ("Retraction", "expression_of_concern", "Expression of
    concern", "corrigendum") as one of NOTICE_KINDS; "other" for one we do not know."""
    word = re.sub(r"[\s-]+", "_", (text or "").strip().casefold())
    word = _SYNONYMS.get(word, word)
    return word if word in NOTICE_KINDS else "other"


def notices_of(records: Iterable[Record]) -> tuple[Notice, ...]:
    """Every notice these records (one work's, from its sources) carry, each once."""
    found: list[Notice] = []
    for record in records:
        for notice in _notices_of(record):
            if notice not in found:
                found.append(notice)
    return tuple(found)


def _notices_of(record: Record) -> Iterable[Notice]:
    own = (record.doi or "").casefold()
    for update in record.updates:
        # A record that names itself as its own update (PLOS's new versions do) says nothing.
        if update.direction != "updated-by" or update.doi.casefold() == own:
            continue
        yield Notice(
            kind=notice_kind(update.type),
            asserted_by=update.source or "publisher",
            source=record.source,
            notice_doi=update.doi,
            record_id=update.record_id,
            date=update.date,
            detail=update.label,
        )
    if record.retracted:
        yield Notice(kind="retraction", asserted_by=record.source, source=record.source)
    for relation in record.relations:
        if relation.type in SUPERSEDED_BY:
            is_doi = relation.id_type == "doi"
            yield Notice(
                kind="new_version",
                asserted_by=record.source,
                source=record.source,
                notice_doi=relation.id if is_doi else None,
                detail=f"{SUPERSEDED_BY[relation.type]} {relation.id_type} {relation.id}",
            )
    if record.publication_status:  # ReDIF Publication-Status, arXiv's journal-ref (OAI)
        for statement in record.publication_status.split("\n"):
            doi = _DOI_IN_TEXT.search(statement)
            yield Notice(
                kind="published_version",
                asserted_by=record.source,
                source=record.source,
                notice_doi=doi.group(1) if doi else None,
                detail=statement,
            )
