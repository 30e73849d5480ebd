"""The change feed (issue 20) at `/-/harvester/changes.atom` and `/-/harvester/changes.json`:
the pages `harvest feed` writes, read from the served database by the same query, with the same
parameters (`limit`, `before`, `tracked`, `since`, `field`, `work`; `db` to pick one of several
harvest databases), each entry linking to its work's row page here."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from datasette.utils.asgi import Response

from harvester import feed
from harvester.datasette_plugin.common import BadRequest, harvest_database
from harvester.due import parse_since
from harvester.store import changefeed

#: The most entries one page of the route holds, whatever `limit` asks.
MAX_LIMIT = 500

#: The route's endings and the feed formats they serve.
_ENDINGS = {"atom": "atom", "json": "jsonfeed"}


async def changes_feed(datasette, request) -> Response:
    """The change feed of the served harvest database, a page per request."""
    fmt = _ENDINGS[request.url_vars["ending"]]
    try:
        database = await harvest_database(datasette, request.args.get("db"), request.actor)
        query = _query(request.args)
    except BadRequest as exc:
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


def _query(args) -> changefeed.FeedQuery:
    """The feed the request asks for, from its parameters; a bad one is a BadRequest."""
    try:
        limit = int(args.get("limit") or feed.DEFAULT_LIMIT)
    except ValueError:
        raise BadRequest(f"limit={args.get('limit')!r}: a number of entries") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit={limit}: from 1 to {MAX_LIMIT}")
    try:
        before = changefeed.parse_cursor(args["before"]) if args.get("before") else None
        fields = changefeed.check_fields(args.getlist("field"))
        works = changefeed.parse_work_ids(args.getlist("work"))
        since = _since(args["since"]) if args.get("since") else None
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    tracked = (args.get("tracked") or "").lower() in ("1", "true", "yes", "on")
    return changefeed.FeedQuery(tracked, since, fields, works, before, limit)


def _since(text: str) -> str:
    """`since` as `harvest feed --since` takes it, as the *_at columns hold a moment."""
    moment = parse_since(text, datetime.now(UTC))
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
