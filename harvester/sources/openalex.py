"""OpenAlex REST API (api.openalex.org).

The parse section is pure: it turns the JSON OpenAlex answers with into the harvester's canonical
`Record`, and never does I/O, so the module imports without network access. Shapes were written
against the recorded responses in ../shared/fixtures/openalex/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from harvester.errors import BadPayload
from harvester.models import Author, Record
from harvester.sources.fields import (
    as_mapping,
    bare_orcid,
    date_number,
    date_parts_to_iso,
    describe_json,
    inline_text,
    is_generic_heading,
    objects_in,
    scalar_text,
    stripped_text,
    unique_issns,
    whole_number,
)

SOURCE = "openalex"

#: Concepts (the older, deprecated OpenAlex tagging) count as subjects only from this score up,
#: and only when a work has no topics.
CONCEPT_MIN_SCORE = 0.5


# --- parse (pure) ---


@dataclass(frozen=True, slots=True)
class WorkList:
    """One page of an OpenAlex list answer (`/works?filter=...`)."""

    items: list[dict]  # raw work objects, each for parse_work
    total: int  # meta.count: how many works match the whole query, not this page
    # meta.next_cursor when the request used cursor paging (cursor=*), else None. OpenAlex ends a
    # cursor walk with next_cursor null (and an empty results list).
    next_cursor: str | None


def parse_work_list(body: Any) -> WorkList:
    """A list answer {"meta": {"count", "next_cursor", ...}, "results": [...]} -> WorkList.

    Raises BadPayload when the answer is not an object, has no results list, holds a result that
    is not an object, or has no meta.count.
    """
    if not isinstance(body, Mapping):
        raise BadPayload(
            f"OpenAlex: expected a list object, got {describe_json(body)}", source=SOURCE
        )
    results = body.get("results")
    if not isinstance(results, list):
        detail = stripped_text(body.get("message")) or stripped_text(body.get("error"))
        raise BadPayload(
            f"OpenAlex: list answer has no results list (results is {describe_json(results)})"
            + (f": {detail[:200]}" if detail else ""),
            source=SOURCE,
        )
    for index, item in enumerate(results):
        if not isinstance(item, dict):
            raise BadPayload(
                f"OpenAlex: list result {index} is {describe_json(item)}, not a work object",
                source=SOURCE,
            )
    meta = as_mapping(body.get("meta")) or {}
    total = meta.get("count")
    if not isinstance(total, int) or isinstance(total, bool):
        raise BadPayload(
            f"OpenAlex: list meta.count is {describe_json(total)}, not a number", source=SOURCE
        )
    cursor = meta.get("next_cursor")
    next_cursor = cursor if isinstance(cursor, str) and cursor else None
    return WorkList(items=list(results), total=total, next_cursor=next_cursor)


def parse_work(work: Mapping[str, Any]) -> Record:
    """An OpenAlex work object (the answer of /works/{id}, or one list result) -> Record.

    Every field is optional and a field of the wrong type counts as missing; only a work that is
    not an object (or is a whole list answer) raises BadPayload.
    """
    if not isinstance(work, Mapping):
        raise BadPayload(
            f"OpenAlex: expected a work object, got {describe_json(work)}", source=SOURCE
        )
    if isinstance(work.get("results"), list) and "meta" in work:
        raise BadPayload(
            "OpenAlex: got a list answer, not a work (use parse_work_list)", source=SOURCE
        )
    ids = as_mapping(work.get("ids")) or {}
    primary = as_mapping(work.get("primary_location")) or {}
    best = as_mapping(work.get("best_oa_location")) or {}
    source = as_mapping(primary.get("source")) or {}
    biblio = as_mapping(work.get("biblio")) or {}
    open_access = as_mapping(work.get("open_access")) or {}
    abstract = abstract_from_inverted_index(work.get("abstract_inverted_index"))
    return Record(
        source=SOURCE,
        doi=bare_doi(work.get("doi")) or bare_doi(ids.get("doi")),
        type=stripped_text(work.get("type")),
        title=inline_text(work.get("title")) or inline_text(work.get("display_name")),
        container_title=inline_text(source.get("display_name")),
        issn=_issns(source),
        volume=scalar_text(biblio.get("volume")),
        issue=scalar_text(biblio.get("issue")),
        pages=_pages(biblio),
        issued=_iso_date(work.get("publication_date")) or _year(work.get("publication_year")),
        publisher=inline_text(source.get("host_organization_name")),
        authors=tuple(_authors(work.get("authorships"))),
        abstract=_drop_heading(abstract) if abstract else None,
        language=stripped_text(work.get("language")),
        license=stripped_text(best.get("license")) or stripped_text(primary.get("license")),
        url=stripped_text(primary.get("landing_page_url")),
        reference_count=_reference_count(work),
        cited_by_count=whole_number(work.get("cited_by_count")),
        subjects=_subjects(work),
        openalex_id=stripped_text(work.get("id")) or stripped_text(ids.get("openalex")),
        oa_status=stripped_text(open_access.get("oa_status")),
        oa_url=(
            stripped_text(best.get("pdf_url"))
            or stripped_text(best.get("landing_page_url"))
            or stripped_text(open_access.get("oa_url"))
        ),
    )


def abstract_from_inverted_index(index: Mapping[str, list[int]] | None) -> str | None:
    """Rebuild the text of an OpenAlex `abstract_inverted_index` ({"word": [positions]}).

    Each word is placed at each of its positions and the words are joined, in position order, by
    single spaces. Positions nobody claims (gaps) are skipped; when two words claim one position
    the first one given wins. Keys that are not strings or are blank, positions that are not
    non-negative integers, and position lists that are not lists are ignored. Returns None for a
    missing, empty or wholly unusable index.
    """
    if not isinstance(index, Mapping):
        return None
    placed: dict[int, str] = {}
    for word, positions in index.items():
        if not isinstance(word, str) or not word.strip():
            continue
        if not isinstance(positions, list):
            continue
        for position in positions:
            if isinstance(position, int) and not isinstance(position, bool) and position >= 0:
                placed.setdefault(position, word.strip())
    if not placed:
        return None
    return " ".join(placed[position] for position in sorted(placed))


_DOI_RESOLVER = re.compile(r"(?i)^(?:(?:https?://)?(?:www\.|dx\.)?doi\.org/|doi:\s*)")


def bare_doi(value: str | None) -> str | None:
    """ "https://doi.org/10.1/X" (or "doi:10.1/X", or already bare) -> "10.1/X".

    The DOI is otherwise kept exactly as given: no case folding, no percent-decoding, and SICI
    characters ([ ] ; ( ) :) stay. Anything that is not a string starting with "10." after the
    resolver prefix is taken off gives None.
    """
    if not isinstance(value, str):
        return None
    doi = _DOI_RESOLVER.sub("", value.strip(), count=1).strip()
    return doi if doi.startswith("10.") and "/" in doi else None


_ISO_DATE = re.compile(r"([0-9]{4})(?:-([0-9]{1,2})(?:-([0-9]{1,2}))?)?(?:T.*)?")


def _iso_date(value: Any) -> str | None:
    """publication_date "2014-02-11" -> the same; partial dates stay partial; junk -> None.

    A month or day out of range ends the date there, as in Crossref's date_parts_to_iso.
    """
    if not isinstance(value, str):
        return None
    match = _ISO_DATE.fullmatch(value.strip())
    if not match:
        return None
    parts = [int(part) for part in match.groups() if part is not None]
    return date_parts_to_iso({"date-parts": [parts]})


def _year(value: Any) -> str | None:
    return date_parts_to_iso({"date-parts": [[date_number(value)]]})


def _pages(biblio: Mapping) -> str | None:
    """first_page-last_page; the first page alone when there is no last page or it is the same."""
    first = scalar_text(biblio.get("first_page"))
    last = scalar_text(biblio.get("last_page"))
    if first is None:
        return None
    return f"{first}-{last}" if last and last != first else first


def _issns(source: Mapping) -> tuple[str, ...]:
    """issn_l first, then the source's issn list, deduplicated (case-insensitively, for the X)."""
    candidates = [source.get("issn_l")]
    listed = source.get("issn")
    if isinstance(listed, list):
        candidates.extend(listed)
    return unique_issns(candidates)


def _authors(value: Any) -> Iterator[Author]:
    """Authorships in byline order, as `name` only: OpenAlex does not split names.

    The name is author.display_name (raw_author_name when that is missing); affiliations are the
    institutions' display names, else the raw affiliation strings. Entries with neither a name nor
    an ORCID are skipped.
    """
    for entry in objects_in(value):
        author = as_mapping(entry.get("author")) or {}
        name = inline_text(author.get("display_name")) or inline_text(entry.get("raw_author_name"))
        orcid = bare_orcid(author.get("orcid"))
        if not (name or orcid):
            continue
        affiliations = _labels(
            institution.get("display_name") for institution in objects_in(entry.get("institutions"))
        )
        if not affiliations:
            raw = entry.get("raw_affiliation_strings")
            affiliations = _labels(raw if isinstance(raw, list) else ())
        yield Author(name=name, orcid=orcid, affiliations=affiliations)


def _labels(values: Any) -> tuple[str, ...]:
    out: list[str] = []
    for value in values:
        label = inline_text(value)
        if label and label not in out:
            out.append(label)
    return tuple(out)


def _reference_count(work: Mapping) -> int | None:
    count = whole_number(work.get("referenced_works_count"))
    if count is None and isinstance(work.get("referenced_works"), list):
        return len(work["referenced_works"])
    return count


def _subjects(work: Mapping) -> tuple[str, ...]:
    """Topics' display names in order; when there are none, concepts scoring >= 0.5."""
    subjects = _labels(topic.get("display_name") for topic in objects_in(work.get("topics")))
    if subjects:
        return subjects
    return _labels(
        concept.get("display_name")
        for concept in objects_in(work.get("concepts"))
        if _score(concept.get("score")) >= CONCEPT_MIN_SCORE
    )


def _score(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return -1.0


def _drop_heading(abstract: str) -> str:
    """OpenAlex keeps a leading "Abstract" heading as the first word ("Abstract This article
    ..."); drop it when a capitalised word follows, as the Crossref parser drops the heading."""
    head, _, rest = abstract.partition(" ")
    if rest and is_generic_heading(head) and not rest[0].islower():
        return rest
    return abstract
