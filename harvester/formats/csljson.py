"""CSL-JSON (Zotero, citeproc, pandoc, doi.org content negotiation), with the json module.

Read: a list of items or one item, in the CSL-JSON 1.0.2 shape, plus what Crossref's flavour adds
(list-valued titles, `subtitle`, `published-print`, `references-count`, ...), read the way
`sources.doiorg` reads them. Write: valid CSL-JSON; fields CSL has no variable for go under `custom`,
the schema's place for extensions (`custom.repec` holds the RePEc handle).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from itertools import takewhile
from typing import Any, TextIO

from harvester.errors import BadInputFile
from harvester.formats import (
    LocalRecord,
    RecordError,
    bad_record,
    clean_isbns,
    columns_of,
    date_from_parts,
    date_parts,
    keys_for,
    kind_of,
    local_values,
    notice_notes,
    record_label,
    work_authors,
    work_contributors,
    work_ids,
    work_isbns,
    work_json,
    work_list,
    work_rows,
    work_text,
    work_value,
)
from harvester.merge import to_json
from harvester.models import Author, Title
from harvester.sources.doiorg import CSL_TYPES
from harvester.sources.fields import bare_orcid, jats_to_text, landing_page, references_of

#: CSL types -> the store's, as doi.org's are read (types not listed are kept as sent, as Crossref's
#: CSL sends its own names); "document", CSL's catch-all, says nothing and gives no type.
READ_TYPES = {**CSL_TYPES, "periodical": "journal", "entry": "reference-entry"}
NO_TYPE = frozenset({"document"})

#: The store's types -> CSL types on write. Others are written as they are if CSL has the type
#: (software, standard, collection, ...), else as "document".
WRITE_TYPES = {
    "journal-article": "article-journal",
    "proceedings-article": "paper-conference",
    "book-chapter": "chapter",
    "book-section": "chapter",
    "book-part": "chapter",
    "reference-entry": "entry",
    "book": "book",
    "monograph": "book",
    "edited-book": "book",
    "reference-book": "book",
    "proceedings": "book",
    "dissertation": "thesis",
    "posted-content": "article",
    "journal": "periodical",
    "peer-review": "review",
}
#: The item types of CSL 1.0.2 (csl-data.json).
CSL_ITEM_TYPES = frozenset(
    [
        "article",
        "article-journal",
        "article-magazine",
        "article-newspaper",
        "bill",
        "book",
        "broadcast",
        "chapter",
        "classic",
        "collection",
        "dataset",
        "document",
        "entry",
        "entry-dictionary",
        "entry-encyclopedia",
        "event",
        "figure",
        "graphic",
        "hearing",
        "interview",
        "legal_case",
        "legislation",
        "manuscript",
        "map",
        "motion_picture",
        "musical_score",
        "pamphlet",
        "paper-conference",
        "patent",
        "performance",
        "periodical",
        "personal_communication",
        "post",
        "post-weblog",
        "regulation",
        "report",
        "review",
        "review-book",
        "software",
        "song",
        "speech",
        "standard",
        "thesis",
        "treaty",
        "webpage",
    ]
)

#: Plain CSL variables -> works columns (CSL 1.0.2's names; `number` is a report's number).
TEXT_VARIABLES = {
    "volume": "volume",
    "issue": "issue",
    "page": "pages",
    "publisher": "publisher",
    "DOI": "doi",
    "URL": "url",
    "language": "language",
    "version": "resource_version",
    "container-title-short": "container_short_title",
    "collection-title": "series_title",
    "collection-number": "series_number",
    "number": "report_number",
    "event-title": "event_name",
    "event-place": "event_place",
    "publisher-place": "publisher_place",
    "genre": "degree",
}
#: Older or other names of the same variables, read when the CSL 1.0.2 name is absent.
VARIABLE_ALIASES = {"container-title-short": "journalAbbreviation", "event-title": "event"}
#: CSL's name variables other than author: a contributor's role is the variable's name.
NAME_VARIABLES = (
    "editor", "translator", "chair", "collection-editor", "compiler", "composer",
    "container-author", "contributor", "curator", "director", "editorial-director",
    "executive-producer", "guest", "host", "illustrator", "interviewer", "narrator", "organizer",
    "original-author", "performer", "producer", "recipient", "reviewed-author", "script-writer",
    "series-creator",
)  # fmt: skip
#: Other identifiers CSL has a variable for: variable -> scheme of `other_ids`.
ID_VARIABLES = {"PMID": "pmid", "PMCID": "pmcid"}
#: Columns kept whole in `custom` as the store holds them (rows, lists, objects), so that our own
#: export comes back exactly; CSL's own variables carry what they can beside them for others.
CUSTOM_JSON = (
    "titles",
    "abstracts",
    "contributors",
    "funders",
    "isbn",
    "reference_list",
    "other_ids",
    "jel_codes",
    "files",
)
#: Columns CSL has no variable for, kept in `custom` under their own names (and `repec`).
CUSTOM_FIELDS = (
    "subtitle",
    "published_print",
    "published_online",
    "reference_count",
    "cited_by_count",
    "openalex_id",
    "oa_status",
    "oa_url",
    "publication_status",
    "revised",
    "event_date",  # also CSL's event-date, which cannot hold a range
    "license",  # CSL 1.0's schema has no license variable (Crossref's CSL sends one)
)

#: CSL's rich-text markup (the spec's small HTML subset): dropped from titles on read.
_RICH_TEXT = re.compile(
    r"</?(?:i|b|sup|sub)>|<span (?:style=\"font-variant:\s*small-caps;?\"|class=\"nocase\")>|</span>"
)
#: Crossref's CSL abstracts are JATS (<jats:p>...), some others HTML paragraphs.
_ABSTRACT_MARKUP = re.compile(r"<(?:jats:)?(?:p|sec|title)\b[^>]*>")


# --- read ---


def read(text: str, path: str) -> list[LocalRecord]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInputFile(
            path, exc.lineno, f"not valid JSON: {exc.msg} (column {exc.colno})"
        ) from None
    lines = _item_lines(text)
    if isinstance(data, dict):
        items = [data]
    elif isinstance(data, list):
        items = data
    else:
        raise BadInputFile(
            path, 1, f"CSL-JSON is an item object or a list of them, not {kind_of(data)}"
        )
    records = []
    for number, (item, line) in enumerate(zip(items, lines, strict=True), start=1):
        if not isinstance(item, dict):
            raise BadInputFile(
                path, line, f"item {number} is {kind_of(item)}, not a CSL-JSON item object"
            )
        try:
            records.append(_record(item, line))
        except RecordError as exc:
            raise bad_record(path, line, _label(item), exc) from None
    return records


def _item_lines(text: str) -> list[int]:
    """The line of each item's opening brace (the json module gives no positions of its own,
    so the top-level array is walked with raw_decode; the text is known to be valid JSON)."""
    decoder = json.JSONDecoder()
    space = re.compile(r"[ \t\n\r]*")
    position = space.match(text).end()
    if not text.startswith("[", position):
        return [text.count("\n", 0, position) + 1]
    lines = []
    position = space.match(text, position + 1).end()
    while not text.startswith("]", position):
        lines.append(text.count("\n", 0, position) + 1)
        _, position = decoder.raw_decode(text, position)
        position = space.match(text, position).end()
        if text.startswith(",", position):
            position = space.match(text, position + 1).end()
    return lines


def _label(item: Mapping[str, Any]) -> str | None:
    label = item.get("id")
    return str(label) if isinstance(label, str | int) and str(label).strip() else None


def _record(item: Mapping[str, Any], line: int) -> LocalRecord:
    custom = item.get("custom") or {}
    if not isinstance(custom, dict):
        raise RecordError(f"custom must be an object, not {kind_of(custom)}")
    raw: dict[str, object] = {
        column: item.get(name, item.get(VARIABLE_ALIASES.get(name, ""), None))
        for name, column in TEXT_VARIABLES.items()
    }
    raw.update({name: custom.get(name) for name in CUSTOM_FIELDS})
    raw["event_date"] = custom.get("event_date") or _date(item, "event-date")
    if item.get("type") != "thesis":
        raw["degree"] = None  # Zotero's genre is also a report's or a map's kind
    raw["issn"] = item.get("ISSN")  # text or a list
    # Our own export keeps the list in custom (a keyword may hold a comma); a foreign file's
    # keyword is comma-separated text (or a list).
    raw["subjects"] = custom.get("subjects") or item.get("keyword")
    raw.update(
        {
            "type": _type(item.get("type")),
            "title": _title(item, "title"),
            "subtitle": _title(item, "subtitle") or custom.get("subtitle"),
            "container_title": _title(item, "container-title"),
            "published": _date(item, "issued"),
            "published_print": _date(item, "published-print") or custom.get("published_print"),
            "published_online": _date(item, "published-online") or custom.get("published_online"),
            "abstract": _abstract(item.get("abstract")),
            "license": _license(item.get("license")) or custom.get("license"),
            "repec_handle": custom.get("repec"),
            # As doi.org's CSL is read: the landing page, never the DOI's resolver link.
            "url": landing_page(item),
        }
    )
    for crossref_name, column in (
        ("references-count", "reference_count"),
        ("reference-count", "reference_count"),
        ("is-referenced-by-count", "cited_by_count"),
    ):
        if raw.get(column) is None:
            raw[column] = item.get(crossref_name)
    values = local_values(raw)
    values.update(_from_variables(item))
    values.update(_from_custom(custom))
    authors = _with_details(_authors(item.get("author")), custom.get("author_details"))
    return LocalRecord(values, authors, line, record_label(_label(item), values, line))


def _from_variables(item: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON columns from CSL's own variables: contributors, ISBN, PMID and PMCID, the
    original and short titles (`custom` overrides these: _from_custom)."""
    contributors = [
        Author(**{**_as_dict(person), "role": variable})
        for variable in NAME_VARIABLES
        for person in _authors(item.get(variable))
    ]
    isbn = item.get("ISBN")
    texts = re.split(r"[,;\s]+", isbn) if isinstance(isbn, str) else isbn or []
    if not isinstance(texts, list):
        raise RecordError(f"ISBN must be text or a list, not {kind_of(isbn)}")
    ids = []
    for variable, scheme in ID_VARIABLES.items():
        if isinstance(item.get(variable), str | int) and str(item[variable]).strip():
            ids.append((scheme, str(item[variable]).strip()))
    titles = []
    for variable, kind in (("original-title", "original"), ("title-short", "short")):
        title = _title(item, variable)
        if isinstance(title, str) and title.strip():
            titles.append(Title(title.strip(), kind))
    return columns_of(
        contributors=tuple(contributors),
        isbn=tuple(clean_isbns(text for text in texts if isinstance(text, str) and text.strip())),
        other_ids=tuple(ids),
        titles=tuple(titles),
        references=references_of(item.get("reference")),  # Crossref's CSL carries the list
    )


def _from_custom(custom: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON columns our export keeps whole in `custom`, as the store holds them."""
    values = {}
    for name in CUSTOM_JSON:
        given = custom.get(name)
        if given in (None, [], {}):
            continue
        if not isinstance(given, list | dict):
            raise RecordError(f"custom.{name} must be a list or an object, not {kind_of(given)}")
        values[name] = to_json(given)
    return values


def _as_dict(author: Author) -> dict[str, Any]:
    return {
        "given": author.given,
        "family": author.family,
        "name": author.name,
        "orcid": author.orcid,
        "affiliations": author.affiliations,
    }


def _type(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise RecordError(f"type must be text, not {kind_of(value)}")
    csl_type = value.strip()
    return None if not csl_type or csl_type in NO_TYPE else READ_TYPES.get(csl_type, csl_type)


def _title(item: Mapping[str, Any], name: str) -> object:
    """A title-like variable: text (Crossref's CSL sends a list: the first), markup dropped."""
    value = item.get(name)
    if isinstance(value, list):
        value = next((entry for entry in value if isinstance(entry, str) and entry.strip()), None)
    return _RICH_TEXT.sub("", value) if isinstance(value, str) else value


def _abstract(value: object) -> object:
    if isinstance(value, str) and _ABSTRACT_MARKUP.search(value):
        return jats_to_text(value)
    return value


def _license(value: object) -> object:
    """CSL `license` is text; Crossref's CSL sends a list of {"URL": ...}: the first URL."""
    if isinstance(value, list):
        urls = [entry.get("URL") for entry in value if isinstance(entry, dict)]
        return next((url for url in urls if isinstance(url, str) and url.strip()), None)
    return value


def _date(item: Mapping[str, Any], name: str) -> str | None:
    """A CSL date: {"date-parts": [[2015, 6, 1]]}, else an ISO-like "raw" or "literal" text."""
    value = item.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        value = {"raw": value}
    if not isinstance(value, dict):
        raise RecordError(f"{name} must be a date object, not {kind_of(value)}")
    parts = value.get("date-parts")
    if parts is not None:
        if not (isinstance(parts, list) and parts and isinstance(parts[0], list)):
            raise RecordError(f"{name} date-parts must be a list of lists, e.g. [[2015, 6, 1]]")
        given = list(takewhile(lambda part: part not in (None, ""), parts[0][:3]))
        return date_from_parts(*given) if given else None
    for key in ("raw", "literal"):
        text = value.get(key)
        if isinstance(text, str) and text.strip():
            match = re.match(r"\s*([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?", text)
            if match is None:
                raise RecordError(f"{name} {text!r} does not start with a year")
            return date_from_parts(*match.groups())
    return None


def _authors(value: object) -> list[Author]:
    """{"family", "given"} (particles joined to the family), {"literal"} for organisations and
    unsplit names (Crossref's CSL says "name"), with ORCID and affiliations where given."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise RecordError(f"author must be a list, not {kind_of(value)}")
    authors = []
    for entry in value:
        if not isinstance(entry, dict):
            raise RecordError(f"each author must be an object, not {kind_of(entry)}")
        text = {
            key: entry[key].strip() if isinstance(entry.get(key), str) else ""
            for key in ("family", "given", "literal", "name", "non-dropping-particle")
        }
        family = " ".join(filter(None, (text["non-dropping-particle"], text["family"])))
        author = Author(
            given=text["given"] or None,
            family=family or None,
            name=text["literal"] or text["name"] or None,
            orcid=bare_orcid(entry.get("ORCID")),
            affiliations=_affiliations(entry.get("affiliation")),
        )
        if author.given or author.family or author.name or author.orcid:
            authors.append(author)
    return authors


def _with_details(authors: list[Author], details: object) -> tuple[Author, ...]:
    """The authors with the ORCIDs and affiliations our export keeps in `custom.author_details`,
    by position, when there is one entry per author (else the list was edited: names only)."""
    if not isinstance(details, list) or len(details) != len(authors):
        return tuple(authors)
    return tuple(
        replace(
            author,
            orcid=author.orcid or bare_orcid(detail.get("ORCID")),
            affiliations=author.affiliations or _affiliations(detail.get("affiliation")),
        )
        if isinstance(detail, dict)
        else author
        for author, detail in zip(authors, details, strict=True)
    )


def _affiliations(value: object) -> tuple[str, ...]:
    """[{"name": ...}] as Crossref's CSL sends them (plain strings are taken too)."""
    names = []
    for entry in value if isinstance(value, list) else ():
        name = entry.get("name") if isinstance(entry, dict) else entry
        if isinstance(name, str) and name.strip():
            names.append(name.strip())
    return tuple(names)


# --- write ---


def write(
    works: Sequence[Mapping[str, Any]], stream: TextIO, keys: Mapping[int, str] | None = None
) -> None:
    """Works as a CSL-JSON list, UTF-8 (non-Latin text as it is), indented for reading."""
    keys = keys_for(works, keys)
    items = [_item(work, key) for work, key in zip(works, keys, strict=True)]
    json.dump(items, stream, ensure_ascii=False, indent=2)
    stream.write("\n")


def _item(work: Mapping[str, Any], key: str) -> dict[str, Any]:
    work_type = work_text(work, "type")
    csl_type = WRITE_TYPES.get(work_type or "") or (
        work_type if work_type in CSL_ITEM_TYPES else "document"
    )
    authors = work_authors(work)
    item: dict[str, Any] = {
        "id": key,
        "citation-key": key,
        "type": csl_type,
        "title": work_text(work, "title"),
        "author": [_author(author) for author in authors],
        "container-title": work_text(work, "container_title"),
    }
    parts = date_parts(work)
    if parts:
        item["issued"] = {"date-parts": [parts]}
    for name, column in TEXT_VARIABLES.items():
        item[name] = work_text(work, column)
    for person in work_contributors(work):
        if person.role in NAME_VARIABLES:
            item.setdefault(person.role, []).append(_author(person))
    event_date = work_text(work, "event_date")
    if event_date:
        item["event-date"] = {"raw": event_date}
    item["ISBN"] = ", ".join(work_isbns(work))
    ids = work_ids(work)
    item.update({variable: ids.get(scheme) for variable, scheme in ID_VARIABLES.items()})
    for row in work_rows(work, "titles"):
        variable = {"original": "original-title", "short": "title-short"}.get(row.get("kind"))
        if variable and variable not in item:
            item[variable] = row.get("title")
    item["ISSN"] = ", ".join(work_list(work, "issn"))  # CSL's ISSN is text (pandoc refuses a list)
    subjects = work_list(work, "subjects")
    item["keyword"] = ", ".join(subjects)
    item["abstract"] = work_text(work, "abstract")
    item["note"] = "; ".join(notice_notes(work))
    custom = {name: work_value(work, name) for name in CUSTOM_FIELDS}
    custom["author_details"] = _author_details(authors)
    custom["repec"] = work_text(work, "repec_handle")
    custom["subjects"] = subjects or None
    custom.update({name: work_json(work, name) for name in CUSTOM_JSON})
    item["custom"] = {name: value for name, value in custom.items() if value is not None}
    return {name: value for name, value in item.items() if value}


def _author(author: Author) -> dict[str, Any]:
    """A CSL name: its parts only, as the schema allows (ORCID and affiliations go in
    `custom.author_details`)."""
    if author.family or author.given:
        entry = {"family": author.family, "given": author.given}
    else:
        entry = {"literal": author.name}
    return {key: value for key, value in entry.items() if value}


def _author_details(authors: Sequence[Author]) -> list[dict[str, Any]] | None:
    """Each author's ORCID and affiliations, in byline order, for the authors CSL names without
    them; None when no author has any."""
    details = [
        {
            key: value
            for key, value in (("ORCID", author.orcid), ("affiliation", list(author.affiliations)))
            if value
        }
        for author in authors
    ]
    return details if any(details) else None
