"""The review console (issue 22): a work's page, the queues a person settles, and one search
box, at `/-/harvester/…` of the Datasette serving a harvest database.

Pages read through Datasette's own connection (`reading`). Actions are POST forms, checked by
Datasette's CSRF protection and the `harvester-review` permission (nobody has it unless
`plugins.harvester.review_allow` in the metadata names them), and written through the
harvester's library as `harvest match --accept`, `harvest claims reject` and `harvest set` write
them: the same rules, the same history (source `local`), a run recorded, under the writer lock
(waited for briefly, else refused naming who holds it). The library blocks, so it runs in a
thread, never on Datasette's event loop."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from contextlib import closing
from typing import Any

import structlog
from datasette.utils.asgi import NotFound, Response

from harvester.datasette_plugin import reading
from harvester.datasette_plugin.common import (
    REVIEW_PERMISSION,
    BadRequest,
    harvest_database,
    harvester_config,
    plugin_config,
    reading_store,
)
from harvester.errors import BadEdit, ConfigError, HarvesterError, LockHeld
from harvester.lock import WriterLock
from harvester.pipeline import connect, edit_work, settle_matches
from harvester.pipeline.common import Run
from harvester.pipeline.local import check_edit, check_field
from harvester.pipeline.match import check_decisions
from harvester.store import Store, open_store

log = structlog.get_logger(__name__)

#: How long an action waits for another writer (a nightly run) before it says who holds the
#: lock; `plugins.harvester.lock_wait` (seconds) changes it.
LOCK_WAIT = 5.0


class Refused(Exception):
    """An action that cannot be done, with the HTTP status and the sentence a person reads."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# --- pages ------------------------------------------------------------------------------------


async def work_page(datasette, request) -> Response:
    """`/-/harvester/work/ID`: a work as a record, its sources side by side, its history."""
    database = await _database(datasette, request)
    try:
        config = harvester_config(datasette)
    except HarvesterError as exc:  # a broken harvester.toml: said, as `harvest` says it
        return Response.text(f"{exc}\n", status=500)
    work_id = int(request.url_vars["work_id"])
    page = await database.execute_fn(
        lambda conn: reading.work_page(reading_store(conn, database.path), work_id, config)
    )
    if page is None:
        return Response.html(f"No work {work_id} in this database.", status=404)
    return await _render(datasette, request, "harvester/work.html", database, page)


async def review_page(datasette, request) -> Response:
    """`/-/harvester/review`: the pending matches, claims, conflicts and notices."""
    database = await _database(datasette, request)
    queues = await database.execute_fn(
        lambda conn: reading.review_queues(reading_store(conn, database.path))
    )
    return await _render(datasette, request, "harvester/review.html", database, queues)


async def search_page(datasette, request) -> Response:
    """`/-/harvester/search?q=`: works, people and identifiers from one box."""
    database = await _database(datasette, request)
    text = request.args.get("q") or ""
    found = await database.execute_fn(
        lambda conn: reading.search(reading_store(conn, database.path), text)
    )
    return await _render(
        datasette, request, "harvester/search.html", database, {"q": text, **found}
    )


async def _render(datasette, request, template: str, database, context: dict) -> Response:
    may_review = await datasette.permission_allowed(request.actor, REVIEW_PERMISSION)
    return Response.html(
        await datasette.render_template(
            template,
            {
                **context,
                "database": database.name,
                "may_review": may_review,
                "shown": reading.shown,
                "css": datasette.urls.static_plugins("harvester", "console.css"),
            },
            request=request,
        )
    )


async def _database(datasette, request):
    try:
        return await harvest_database(datasette, request.args.get("db"), request.actor)
    except BadRequest as exc:
        raise NotFound(str(exc)) from None


# --- actions ----------------------------------------------------------------------------------


async def action(datasette, request) -> Response:
    """POST `/-/harvester/review/{match,claim,conflict,notice}`: one decision, written by the library,
    then back to the page it was taken on (`next`), with what was done as a message."""
    if request.method != "POST":
        return Response.text("POST a form here (the review page has them)\n", status=405)
    form = await request.post_vars()
    try:
        if not await datasette.permission_allowed(request.actor, REVIEW_PERMISSION):
            raise Refused(
                403,
                "You may read here but not settle anything: actions need the "
                f"{REVIEW_PERMISSION} permission (plugins.harvester.review_allow in the "
                "metadata names who has it).",
            )
        database = await harvest_database(datasette, form.get("db") or None, request.actor)
        if not database.path:
            raise Refused(400, f"database {database.name} is not a file the harvester can write")
        who = (request.actor or {}).get("id", "someone")
        try:
            write, command = _ACTIONS[request.url_vars["kind"]](datasette, form, who)
        except KeyError as exc:
            raise Refused(400, f"the form lacks {exc}") from None
        except ValueError as exc:  # BadRequest, BadIdentifier, a claim that is no number
            raise Refused(400, f"bad form: {exc}") from None
        wait = float(plugin_config(datasette).get("lock_wait", LOCK_WAIT))
        done = await asyncio.to_thread(_locked, database.path, command, write, wait)
    except Refused as exc:
        return await _refused(datasette, request, exc)
    except BadRequest as exc:
        return await _refused(datasette, request, Refused(404, str(exc)))
    except ConfigError as exc:  # the harvester's configuration, not the form: the server's
        return await _refused(datasette, request, Refused(500, str(exc)))
    except HarvesterError as exc:
        return await _refused(datasette, request, Refused(409, str(exc)))
    datasette.add_message(request, done, datasette.INFO)
    return Response.redirect(_next(form, datasette))


def _next(form: dict[str, str], datasette) -> str:
    """Where to go back to: a page of the console, never another site."""
    target = form.get("next") or ""
    prefix = datasette.urls.path("/-/harvester/")
    return target if target.startswith(prefix) else datasette.urls.path("/-/harvester/review")


async def _refused(datasette, request, exc: Refused) -> Response:
    log.info("console.refused", status=exc.status, reason=str(exc), actor=request.actor)
    body = await datasette.render_template(
        "harvester/refused.html",
        {
            "message": str(exc),
            "status": exc.status,
            "back": datasette.urls.path("/-/harvester/review"),
        },
        request=request,
    )
    return Response.html(body, status=exc.status)


def _locked(path: str, command: str, write: Callable[[Store], str], wait: float) -> str:
    """`write` on the store, under the writer lock: one writer at a time, as every command.
    Runs a killed writer left `running` are recovered first, as `harvest` does."""
    lock = WriterLock(path, command)
    try:
        lock.acquire(wait)
    except LockHeld:
        raise Refused(409, held_message(lock, path, wait)) from None
    try:
        store = open_store(path, create=False)
        try:
            store.runs.recover_stale()
            return write(store)
        finally:
            store.close()
    finally:
        lock.release()


def held_message(lock: WriterLock, path: str, waited: float) -> str:
    """Who holds the writer lock, for the person whose action waited for it in vain."""
    text = f"Nothing was written: another harvest is writing to {os.path.basename(path)}"
    info = lock.holder() or {}
    if "pid" in info:
        text += f" (pid {info['pid']}"
        text += f" on {info['host']}" if info.get("host") else ""
        text += f', "{info["command"]}"' if info.get("command") else ""
        text += f", since {info['since']}" if info.get("since") else ""
        text += ")"
    return text + f". Waited {waited:g} s; try again when it is done."


def _match(datasette, form: dict[str, str], who: str) -> tuple[Callable[[Store], str], str]:
    """Accept (link, then harvest the DOI onto the work) or reject a DOI candidate."""
    work, doi, decision = form["work_id"], form["doi"], form["decision"]
    if decision not in ("accept", "reject"):
        raise BadRequest(f"decision={decision!r}: accept or reject")
    config = harvester_config(datasette)
    command = f"datasette {who}: {decision} match work {work} {doi}"

    def write(store: Store) -> str:
        pairs = [(work, doi)]
        decisions = check_decisions(
            store, pairs if decision == "accept" else [], pairs if decision == "reject" else []
        )
        with closing(connect(config)) as client:
            result = settle_matches(
                decisions.accepts,
                decisions.rejects,
                store=store,
                client=client,
                config=config,
                command=command,
            )
        verb = "linked to" if decision == "accept" else "rejected for"
        return f"{doi} {verb} work {work} (run {result.run_id}, {result.status})"

    return write, command


def _claim(datasette, form: dict[str, str], who: str) -> tuple[Callable[[Store], str], str]:
    """Accept or reject a claim, with the reason typed beside it."""
    claim, decision = int(form["claim_id"]), form["decision"]
    status = {"accept": "accepted", "reject": "rejected"}.get(decision)
    if status is None:
        raise BadRequest(f"decision={decision!r}: accept or reject")
    reason = (form.get("reason") or "").strip() or None
    command = f"datasette {who}: claims {decision} {claim}"

    def write(store: Store) -> str:
        if store.claims.get(claim) is None:  # refused before a run is recorded for it
            raise Refused(409, f"no such claim: {claim}; nothing was written")
        with Run(store, command) as run:
            [settled] = store.claims.settle([claim], status, reason)
        return (
            f"claim {claim} {status}: work {settled['work_id']} of {settled['person']} "
            f"(run {run.result.run_id})"
        )

    return write, command


def _conflict(datasette, form: dict[str, str], who: str) -> tuple[Callable[[Store], str], str]:
    """Choose one source's value of a field the sources disagree on: it becomes yours
    (`harvest set`), winning until you unset it."""
    work_id, field, source = int(form["work_id"]), form["field"], form["source"]
    try:
        check_field(field)  # what `harvest set` may set, and nothing a crafted form names
    except BadEdit as exc:
        raise Refused(400, f"bad form: {exc}") from None
    config = harvester_config(datasette)
    command = f"datasette {who}: set work {work_id} {field} from {source}"

    def write(store: Store) -> str:
        said = reading.said_by_source(store, work_id, config)
        if field not in said.get(source, {}):
            raise Refused(
                409, f"{source} gives no {field} for work {work_id} now; nothing was written"
            )
        checked = check_edit(store, work_id, {field: said[source][field]})
        outcome = edit_work(
            work_id,
            checked.edits,
            store=store,
            config=config,
            command=command,
            display=f"work {work_id}",
        )
        return f"work {work_id}: {field} is now {source}'s value, kept as yours ({outcome.status})"

    return write, command


def _notice(datasette, form: dict[str, str], who: str) -> tuple[Callable[[Store], str], str]:
    """Acknowledge a notice (seen, it stands) or dispute it, with the reason: it leaves the
    queue; the notice itself, what a source asserted, is kept as it was."""
    notice, decision = int(form["notice_id"]), form["decision"]
    verdict = {"accept": "acknowledged", "reject": "disputed"}.get(decision)
    if verdict is None:
        raise BadRequest(f"decision={decision!r}: accept or reject")
    reason = (form.get("reason") or "").strip() or None
    command = f"datasette {who}: notice {verdict} {notice}"

    def write(store: Store) -> str:
        reviews = store.notice_reviews
        if (
            store.conn.execute("SELECT 1 FROM integrity_notices WHERE id = ?", (notice,)).fetchone()
            is None
        ):
            raise Refused(409, f"no such notice: {notice}; nothing was written")
        with Run(store, command) as run:
            reviewed = reviews.review(notice, verdict, reason, run.result.run_id)
        return (
            f"notice {notice} ({reviewed['kind']} of work {reviewed['work_id']}) {verdict} "
            f"(run {run.result.run_id})"
        )

    return write, command


_ACTIONS: dict[str, Callable[..., tuple[Callable[[Store], str], str]]] = {
    "match": _match,
    "claim": _claim,
    "conflict": _conflict,
    "notice": _notice,
}


def routes() -> list[tuple[str, Any]]:
    return [
        (r"^/-/harvester/work/(?P<work_id>[0-9]{1,18})$", work_page),
        (r"^/-/harvester/review$", review_page),
        (r"^/-/harvester/review/(?P<kind>match|claim|conflict|notice)$", action),
        (r"^/-/harvester/search$", search_page),
    ]
