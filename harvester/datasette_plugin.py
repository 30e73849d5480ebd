"""Datasette plugin (entry point `harvester` in pyproject.toml): the harvester's SQL function on
every connection Datasette opens, so that its pages, canned queries (`source_payloads`) and
users' own SQL read payloads as the harvester does: `payload_text(id)`, the text of a
`source_records` row however it is stored (zstd frames, deltas: `harvester.store.payloads`).

And the change feed (issue 20) at `/-/harvester/changes.atom` and `/-/harvester/changes.json`:
the pages `harvest feed` writes, read from the served database by the same query, with the same
parameters (`limit`, `before`, `tracked`, `since`, `field`, `work`; `db` to pick one of several
harvest databases), each entry linking to its work's row page here."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import UTC, datetime

from datasette import hookimpl
from datasette.utils.asgi import Response

from harvester import feed
from harvester.due import parse_since
from harvester.store import changefeed, register_functions

#: The most entries one page of the route holds, whatever `limit` asks.
MAX_LIMIT = 500

#: The route's endings and the feed formats they serve.
_ENDINGS = {"atom": "atom", "json": "jsonfeed"}


@hookimpl
def prepare_connection(conn: sqlite3.Connection) -> None:
    register_functions(conn)


@hookimpl
def register_routes():
    return [(r"^/-/harvester/changes\.(?P<ending>atom|json)$", changes_feed)]


class _BadRequest(ValueError):
    """A parameter the route cannot use: answered 400 with its message."""


async def changes_feed(datasette, request) -> Response:
    """The change feed of the served harvest database, a page per request."""
    fmt = _ENDINGS[request.url_vars["ending"]]
    try:
        database = await _harvest_database(datasette, request.args.get("db"))
        query = _query(request.args)
    except _BadRequest as exc:
        return Response.text(f"{exc}\n", status=400)
    page = await database.execute_fn(lambda conn: changefeed.read_page(conn, query))
    base = datasette.absolute_url(request, request.path)
    params = feed.query_params(
        tracked=query.tracked,
        since=query.since,
        fields=query.fields,
        works=query.works,
        limit=query.limit,
    )
    if request.args.get("db"):
        params.insert(0, ("db", database.name))
    links = feed.paged_links(
        base,
        params,
        page,
        home_url=datasette.absolute_url(request, datasette.urls.table(database.name, "change_log")),
        work_urls={
            entry.work_id: datasette.absolute_url(
                request, datasette.urls.row(database.name, "works", str(entry.work_id))
            )
            for entry in page.entries
        },
    )
    title = feed.feed_title(query.tracked, query.fields, query.works)
    body = feed.write_feed(page, fmt, links, title)
    # A reader polling the feed is told "nothing new" without the page: the same page is the
    # same bytes (nothing in it reads the clock), so their hash is its version.
    etag = '"' + hashlib.sha256(body.encode("utf-8")).hexdigest()[:32] + '"'
    if etag in (request.headers.get("if-none-match") or ""):
        return Response("", status=304, headers={"ETag": etag})
    return Response(
        body, content_type=f"{feed.MEDIA_TYPES[fmt]}; charset=utf-8", headers={"ETag": etag}
    )


async def _harvest_database(datasette, name: str | None):
    """The database named `db`, else the first served one that a harvester wrote."""
    if name is not None:
        if name not in datasette.databases:
            raise _BadRequest(f"db={name!r}: no such database here")
        candidates = [datasette.databases[name]]
    else:
        candidates = [db for key, db in datasette.databases.items() if key != "_internal"]
    for database in candidates:
        if await database.table_exists("changes") and await database.table_exists("_migrations"):
            return database
    raise _BadRequest("no harvest database is served here (none has a changes table)")


def _query(args) -> changefeed.FeedQuery:
    """The feed the request asks for, from its parameters; a bad one is a _BadRequest."""
    try:
        limit = int(args.get("limit") or feed.DEFAULT_LIMIT)
    except ValueError:
        raise _BadRequest(f"limit={args.get('limit')!r}: a number of entries") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise _BadRequest(f"limit={limit}: from 1 to {MAX_LIMIT}")
    try:
        before = changefeed.parse_cursor(args["before"]) if args.get("before") else None
        fields = changefeed.check_fields(args.getlist("field"))
        works = changefeed.parse_work_ids(args.getlist("work"))
        since = _since(args["since"]) if args.get("since") else None
    except ValueError as exc:
        raise _BadRequest(str(exc)) from None
    tracked = (args.get("tracked") or "").lower() in ("1", "true", "yes", "on")
    return changefeed.FeedQuery(tracked, since, fields, works, before, limit)


def _since(text: str) -> str:
    """`since` as `harvest feed --since` takes it, as the *_at columns hold a moment."""
    moment = parse_since(text, datetime.now(UTC))
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
