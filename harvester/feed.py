"""The change feed (issue 20), pure: a page of changed works (`store.changefeed.read_page`) as
Atom 1.0 (RFC 4287, paged as RFC 5005 says) or JSON Feed 1.1 (https://jsonfeed.org/version/1.1).

One entry per changed work per run: what changed, field by field (old → new, by which source),
the run, the work's title, DOI and handle, and a link to it. The same page gives the same
document byte for byte: nothing here reads the clock.

Atom is written with `xml.etree`, not feedgen: the document is a dozen kinds of element, feedgen
would add lxml-backed extension machinery and reorder entries (it prepends by default), and its
last release is from 2023.
"""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from harvester import PROJECT_URL, __version__
from harvester.render import printable
from harvester.store.changefeed import Change, ChangedWork, ChangePage, entry_id, format_cursor

FORMATS = ("atom", "jsonfeed")

#: What each format is served as.
MEDIA_TYPES = {"atom": "application/atom+xml", "jsonfeed": "application/feed+json"}

JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"

ATOM = "http://www.w3.org/2005/Atom"

#: A changed value is shown up to this many characters (an abstract's old and new would
#: otherwise fill a reader's screen; the work's history has them whole).
VALUE_WIDTH = 300

#: What XML 1.0 cannot hold at all (after `render.printable` took the controls a reader would
#: act on): lone surrogates and the two non-characters of the BMP.
_NOT_XML = re.compile("[\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class FeedLinks:
    """Where things are: the feed itself (`self_url`), the page after it and the first page
    (RFC 5005 `next`, `first`), a page about the whole (`home_url`), and each work's own page by
    work id (the harvester's Datasette); a work without one links to its DOI."""

    self_url: str | None = None
    next_url: str | None = None
    first_url: str | None = None
    home_url: str | None = None
    work_urls: Mapping[int, str] = field(default_factory=dict)


def write_feed(page: ChangePage, fmt: str, links: FeedLinks, title: str) -> str:
    """The page as `fmt` (one of FORMATS)."""
    if fmt == "atom":
        return atom(page, links, title)
    if fmt == "jsonfeed":
        return json_feed(page, links, title)
    raise ValueError(f"{fmt!r}: not a feed format ({', '.join(FORMATS)})")


def feed_title(tracked: bool, fields: tuple[str, ...], works: tuple[int, ...]) -> str:
    """The feed's title, saying what it is limited to."""
    title = "harvester: changes to tracked works" if tracked else "harvester: changes"
    if works:
        title += " of work " + ", ".join(str(w) for w in works)
    if fields:
        title += " (" + ", ".join(fields) + ")"
    return title


# --- what an entry says, in words ---------------------------------------------------------------


def work_name(entry: ChangedWork) -> str:
    """What names the work: its title, else its DOI, else its handle, else its number."""
    for name in (entry.title, entry.doi, entry.repec_handle):
        if name:
            return _clean(" ".join(name.split()))
    return f"work {entry.work_id}"


def entry_title(entry: ChangedWork) -> str:
    """ "New work: TITLE", or "TITLE: title, year changed"."""
    if entry.is_new:
        return f"New work: {work_name(entry)}"
    fields = [c.field for c in entry.changes if c.kind != "merge"]
    merged = [c for c in entry.changes if c.kind == "merge"]
    said = []
    if fields:
        said.append(", ".join(dict.fromkeys(fields)) + " changed")
    if merged:
        said.append("merged with work " + ", ".join(_clean(c.old_value or "?") for c in merged))
    return f"{work_name(entry)}: {'; '.join(said)}"


def change_line(change: Change) -> str:
    """One change: `field: old → new (source)`; a value set from nothing, or removed, says so."""
    source = _clean(change.source or "unknown")
    if change.kind == "merge":
        return (
            f"work {_clean(change.old_value or '?')} merged into work "
            f"{_clean(change.new_value or '?')} ({source})"
        )
    old, new = shown_value(change.old_value), shown_value(change.new_value)
    if change.old_value is None:
        return f"{change.field}: set to {new} ({source})"
    if change.new_value is None:
        return f"{change.field}: removed (was {old}) ({source})"
    return f"{change.field}: {old} → {new} ({source})"


def entry_lines(entry: ChangedWork) -> list[str]:
    """What the entry says, a line each: what happened, then the work's names and the run."""
    if entry.is_new:
        sources = dict.fromkeys(c.source for c in entry.changes if c.kind == "first")
        lines = [f"New work, first values from {', '.join(_clean(s) for s in sources)}"]
        lines += [change_line(c) for c in entry.changes if c.kind != "first"]
    else:
        lines = [change_line(c) for c in entry.changes]
    return [*lines, *_about_lines(entry)]


def _about_lines(entry: ChangedWork) -> list[str]:
    out = []
    if entry.title:
        out.append(f"Title: {_clean(' '.join(entry.title.split()))}")
    if entry.doi:
        out.append(f"DOI: {_clean(entry.doi)}")
    if entry.repec_handle:
        out.append(f"RePEc: {_clean(entry.repec_handle)}")
    out.append(f"Work {entry.work_id}; run {entry.run_id} of {entry.run_started_at}")
    return out


def entry_summary(entry: ChangedWork) -> str:
    """One line: what happened, and by which sources."""
    sources = ", ".join(_clean(s) for s in entry_sources(entry))
    if entry.is_new:
        return f"New work, from {sources}"
    count = len(entry.changes)
    return f"{count} change{'s' if count != 1 else ''} by {sources}"


def entry_sources(entry: ChangedWork) -> list[str]:
    return list(dict.fromkeys(c.source or "unknown" for c in entry.changes))


def entry_html(entry: ChangedWork) -> str:
    """The entry as HTML for a feed reader: the changes as a list, old and new apart."""
    items = []
    for line in entry_lines(entry):
        items.append(f"<li>{html.escape(line)}</li>")
    return "<ul>" + "".join(items) + "</ul>"


def work_link(entry: ChangedWork, links: FeedLinks) -> str | None:
    """The work's page: on the harvester's Datasette where the feed is served from there, else
    its DOI at doi.org, else the URL its sources give."""
    if entry.work_id in links.work_urls:
        return links.work_urls[entry.work_id]
    return doi_link(entry) or (_clean(entry.url) if entry.url else None)


def doi_link(entry: ChangedWork) -> str | None:
    return f"https://doi.org/{_clean(entry.doi)}" if entry.doi else None


def shown_value(value: str | None) -> str:
    """A value as a person reads it in one line: an author list as its names, another JSON
    list as its items, long text cut to VALUE_WIDTH."""
    if value is None:
        return "(none)"
    items = _json_list(value)
    if items is not None:
        value = "; ".join(_item_text(item) for item in items)
    text = " ".join(_clean(value).split())
    return text if len(text) <= VALUE_WIDTH else text[: VALUE_WIDTH - 1] + "…"


def _json_list(value: str) -> list | None:
    if not value.startswith("["):
        return None
    try:
        decoded = json.loads(value)
    except ValueError:
        return None
    return decoded if isinstance(decoded, list) else None


def _item_text(item: Any) -> str:
    """An author (`{"family", "given"}` or `{"name"}`) as `Family, Given`; anything else as
    its text."""
    if isinstance(item, dict):
        family, given, name = item.get("family"), item.get("given"), item.get("name")
        if family and given:
            return f"{family}, {given}"
        if family or given or name:
            return str(family or given or name)
        return json.dumps(item, ensure_ascii=False, sort_keys=True)
    return str(item)


def _clean(text: str) -> str:
    """Text as a feed may carry it: without the controls a reader would act on (a title may
    hold any, as its source sent it) and without what XML cannot hold."""
    return _NOT_XML.sub("", printable(text))


# --- Atom ---------------------------------------------------------------------------------------


def atom(page: ChangePage, links: FeedLinks, title: str) -> str:
    """The page as an Atom feed document (RFC 4287), with RFC 5005's `next` and `first`."""
    ET.register_namespace("", ATOM)
    root = ET.Element(_a("feed"))
    _text(root, "id", page.feed_id)
    _text(root, "title", title)
    _text(root, "updated", page.updated)
    author = ET.SubElement(root, _a("author"))
    _text(author, "name", "harvester")
    generator = _text(root, "generator", "harvester")
    generator.set("uri", PROJECT_URL)
    generator.set("version", __version__)
    for rel, href in (
        ("self", links.self_url),
        ("first", links.first_url),
        ("next", links.next_url),
    ):
        if href:
            ET.SubElement(root, _a("link"), rel=rel, type=MEDIA_TYPES["atom"], href=href)
    if links.home_url:
        ET.SubElement(root, _a("link"), rel="alternate", type="text/html", href=links.home_url)
    for entry in page.entries:
        root.append(_atom_entry(page, entry, links))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _atom_entry(page: ChangePage, entry: ChangedWork, links: FeedLinks) -> ET.Element:
    element = ET.Element(_a("entry"))
    _text(element, "id", entry_id(page.database, entry.work_id, entry.run_id))
    _text(element, "title", entry_title(entry))
    _text(element, "updated", entry.updated)
    _text(element, "published", entry.updated)
    for source in entry_sources(entry):
        author = ET.SubElement(element, _a("author"))
        _text(author, "name", _clean(source))
    link = work_link(entry, links)
    if link:
        ET.SubElement(element, _a("link"), rel="alternate", href=link)
    doi = doi_link(entry)
    if doi and doi != link:
        ET.SubElement(element, _a("link"), rel="related", href=doi)
    for name in dict.fromkeys(c.field for c in entry.changes):
        ET.SubElement(element, _a("category"), term=name, label=f"field {name}")
    _text(element, "summary", entry_summary(entry)).set("type", "text")
    _text(element, "content", entry_html(entry)).set("type", "html")
    return element


def _a(name: str) -> str:
    return f"{{{ATOM}}}{name}"


def _text(parent: ET.Element, name: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, _a(name))
    element.text = text
    return element


# --- JSON Feed 1.1 ------------------------------------------------------------------------------


def json_feed(page: ChangePage, links: FeedLinks, title: str) -> str:
    """The page as a JSON Feed 1.1 document; what a program wants beyond the spec's fields (the
    changes one by one, the work and run ids, the cursor) is in `_harvester`, the spec's way of
    extending it."""
    document: dict[str, Any] = {"version": JSON_FEED_VERSION, "title": title}
    if links.home_url:
        document["home_page_url"] = links.home_url
    if links.self_url:
        document["feed_url"] = links.self_url
    if links.next_url:
        document["next_url"] = links.next_url
    document["authors"] = [{"name": "harvester", "url": PROJECT_URL}]
    document["_harvester"] = {
        "about": PROJECT_URL,
        "id": page.feed_id,
        "updated": page.updated,
        "next_cursor": format_cursor(page.next) if page.next else None,
    }
    document["items"] = [_json_item(page, entry, links) for entry in page.entries]
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def _json_item(page: ChangePage, entry: ChangedWork, links: FeedLinks) -> dict[str, Any]:
    item: dict[str, Any] = {"id": entry_id(page.database, entry.work_id, entry.run_id)}
    link = work_link(entry, links)
    if link:
        item["url"] = link
    doi = doi_link(entry)
    if doi and doi != link:
        item["external_url"] = doi
    item.update(
        title=entry_title(entry),
        summary=entry_summary(entry),
        content_text="\n".join(entry_lines(entry)),
        content_html=entry_html(entry),
        date_published=entry.updated,
        date_modified=entry.updated,
        authors=[{"name": _clean(s)} for s in entry_sources(entry)],
        tags=list(dict.fromkeys(c.field for c in entry.changes)),
        _harvester={
            "work_id": entry.work_id,
            "run_id": entry.run_id,
            "cursor": format_cursor(entry.cursor),
            "doi": entry.doi,
            "repec_handle": entry.repec_handle,
            "new_work": entry.is_new,
            "changes": [
                {
                    "field": c.field,
                    "old_value": c.old_value,
                    "new_value": c.new_value,
                    "source": c.source,
                    "kind": c.kind,
                    "changed_at": c.changed_at,
                }
                for c in entry.changes
                if c.kind != "first"
            ],
        },
    )
    return item


# --- links --------------------------------------------------------------------------------------

#: `--limit` / `limit=` when not given.
DEFAULT_LIMIT = 50


def query_params(
    *,
    tracked: bool,
    since: str | None,
    fields: tuple[str, ...],
    works: tuple[int, ...],
    limit: int,
) -> list[tuple[str, str]]:
    """The query parameters that ask the Datasette route for the same feed (paging aside):
    what `harvest feed` and the route both put in their links."""
    params: list[tuple[str, str]] = []
    if tracked:
        params.append(("tracked", "1"))
    if since:
        params.append(("since", since))
    params += [("field", name) for name in fields]
    params += [("work", str(work)) for work in works]
    if limit != DEFAULT_LIMIT:
        params.append(("limit", str(limit)))
    return params


def paged_links(
    base: str, params: list[tuple[str, str]], page: ChangePage, **more: Any
) -> FeedLinks:
    """The self, first and next links of `page` at `base` (the route's address, no query): the
    next page is asked by the cursor of this page's last entry (`before=RUN-WORK`), so it holds
    the same entries however many runs come later."""

    def at(cursor: tuple[int, int] | None) -> str:
        query = params + ([("before", format_cursor(cursor))] if cursor else [])
        return f"{base}?{urlencode(query)}" if query else base

    return FeedLinks(
        self_url=at(page.query.before),
        first_url=at(None) if page.query.before else None,
        next_url=at(page.next) if page.next else None,
        **more,
    )
