"""The digest (`harvest digest`): what happened to what you keep since the last digest, made
from the rows `store.digests.contents` returns, worst news first: integrity notices
(retractions, corrections, ...), then the changed fields of tracked works (old -> new, by
source), the new works the feeds brought, and the failures that need a person.

Pure: `build` turns rows into a `Digest`, and `text`, `markdown`, `html` and `document` (JSON)
render one. Sending is `mail.py`'s; reading and keeping the point is the store's.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harvester.render import printable, shorten, value_change, work_name

FORMATS = ("text", "markdown", "html", "json")

#: The commands whose runs harvest feeds (`harvest run` and its scheduled jobs walk the
#: `[[feeds]]`; `harvest oai` is one; `harvest repec` with `--series` or `--archive`): the new
#: works of their runs came from a feed, not from an identifier someone asked for.
FEED_COMMANDS = ("run", "schedule", "oai")
_REPEC_FEED_OPTIONS = ("--series", "--archive")

#: How many items of a section the human formats list; the JSON document lists them all.
LIST_LIMIT = 100

#: A notice's kind as a person reads it.
_KIND_WORDS = {
    "retraction": "retraction",
    "partial_retraction": "partial retraction",
    "withdrawal": "withdrawal",
    "removal": "removal",
    "expression_of_concern": "expression of concern",
    "correction": "correction",
    "erratum": "erratum",
    "reinstatement": "reinstatement",
    "new_version": "new version",
    "published_version": "published version",
}


@dataclass(frozen=True)
class ChangedWork:
    """A tracked work and its changes in the digest's runs, in the order they were made."""

    work: dict[str, Any]
    changes: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class Digest:
    """What one digest reports: the runs after `since_run` up to `until_run` (None: from the
    first / no run yet), and the four sections."""

    since_run: int | None
    until_run: int | None
    since_at: str | None
    made_at: str
    notices: tuple[dict[str, Any], ...] = ()
    changed: tuple[ChangedWork, ...] = ()
    new_works: tuple[dict[str, Any], ...] = ()
    failed_runs: tuple[dict[str, Any], ...] = ()
    failing: tuple[dict[str, Any], ...] = ()
    failed_feeds: tuple[dict[str, Any], ...] = ()
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """Nothing to tell."""
        return not any(self.counts.values())


def is_feed_run(command: str | None) -> bool:
    """Whether a run's command line (`runs.command`: "harvest [options] NAME ...") harvested
    feeds: its command (the first word that is neither an option nor a global option's value)
    is one of FEED_COMMANDS, or `repec` with a series or an archive."""
    words = (command or "").split()[1:]
    position = 0
    while position < len(words) and words[position].startswith("-"):
        takes_value = words[position] in _GLOBAL_OPTIONS_WITH_VALUES
        position += 2 if takes_value else 1
    if position >= len(words):
        return False
    name, rest = words[position], words[position + 1 :]
    if name == "repec":
        return any(w.split("=")[0] in _REPEC_FEED_OPTIONS for w in rest)
    return name in FEED_COMMANDS


#: The options before a command that take a value (`harvest --db PATH run`).
_GLOBAL_OPTIONS_WITH_VALUES = frozenset({"--db", "--config", "--log-format", "--wait"})


def build(
    rows: Mapping[str, Any], *, since_run: int | None, until_run: int | None, made_at: str
) -> Digest:
    """A digest from `store.digests.contents(since_run, until_run)`."""
    by_work: dict[int, list[dict[str, Any]]] = {}
    for change in rows["changes"]:
        by_work.setdefault(change["work_id"], []).append(change)
    changed = tuple(
        ChangedWork(
            work={k: changes[0][k] for k in ("work_id", "doi", "repec_handle", "title")},
            changes=tuple(changes),
        )
        for changes in by_work.values()
    )
    new_works = tuple(w for w in rows["new_works"] if is_feed_run(w["command"]))
    seen: set[int] = set()
    unique_new = []
    for work in new_works:  # a work in two feed runs' rows: listed once, its first run
        if work["work_id"] not in seen:
            seen.add(work["work_id"])
            unique_new.append(work)
    failing = tuple(rows["failing"])
    counts = {
        "notices": len(rows["notices"]),
        "changed_works": len(changed),
        "changes": len(rows["changes"]),
        "new_works": len(unique_new),
        "failures": len(rows["failed_runs"]) + len(failing) + len(rows["failed_feeds"]),
    }
    return Digest(
        since_run=since_run,
        until_run=until_run,
        since_at=rows.get("since_at"),
        made_at=made_at,
        notices=tuple(rows["notices"]),
        changed=changed,
        new_works=tuple(unique_new),
        failed_runs=tuple(rows["failed_runs"]),
        failing=failing,
        failed_feeds=tuple(rows["failed_feeds"]),
        counts=counts,
    )


# --- the words every format shares ----------------------------------------------------------


def kind_words(kind: str) -> str:
    return _KIND_WORDS.get(kind, kind.replace("_", " "))


def covers(digest: Digest) -> str:
    """Which runs the digest covers, for its heading and subject."""
    if digest.until_run is None:
        return "no runs yet"
    first = 1 if digest.since_run is None else digest.since_run + 1
    if first > digest.until_run:
        return f"nothing since run {digest.since_run}"
    if first == digest.until_run:
        return f"run {first}"
    return f"runs {first}–{digest.until_run}"


def subject(digest: Digest, prefix: str = "harvester digest") -> str:
    """The e-mail's subject: the worst news first, then how much else."""
    c = digest.counts
    parts = []
    kinds: dict[str, int] = {}
    for notice in digest.notices:
        kinds[notice["kind"]] = kinds.get(notice["kind"], 0) + 1
    parts += [_plural(n, kind_words(kind)) for kind, n in kinds.items()]
    if c.get("changed_works"):
        parts.append(_plural(c["changed_works"], "changed work"))
    if c.get("new_works"):
        parts.append(_plural(c["new_works"], "new work"))
    if c.get("failures"):
        parts.append(_plural(c["failures"], "failure"))
    what = ", ".join(parts) if parts else "nothing new"
    return f"{prefix}: {what} ({covers(digest)})"


def summary_line(digest: Digest, *, sent_to: Sequence[str] = (), status: str = "") -> str:
    """The one line `harvest digest --send` prints: what went where."""
    c = digest.counts
    what = (
        f"{_plural(c['notices'], 'notice')}, {_plural(c['changed_works'], 'changed work')}, "
        f"{_plural(c['new_works'], 'new work')}, {_plural(c['failures'], 'failure')}"
    )
    if status == "empty":
        return f"digest: nothing new ({covers(digest)}); not sent"
    if status == "marked":
        return f"digest marked read: {what} ({covers(digest)})"
    return f"digest sent to {', '.join(sent_to)}: {what} ({covers(digest)})"


def _plural(n: int, word: str) -> str:
    if n == 1:
        return f"1 {word}"
    head, of, tail = word.partition(" of ")
    if of:  # "expressions of concern"
        return f"{_plural(n, head)}{of}{tail}"
    if word.endswith("y"):
        return f"{n} {word[:-1]}ies"
    if word.endswith(("s", "x", "ch", "sh")) or word == "erratum":
        return f"{n} {'errata' if word == 'erratum' else word + 'es'}"
    return f"{n} {word}s"


def _notice_lines(notice: Mapping[str, Any]) -> tuple[str, str]:
    """A notice's two lines: what and which work, then the notice itself and who said so."""
    head = f"{kind_words(notice['kind']).upper()}  {_name(notice)}  {_title(notice)}"
    said = [f"asserted by {notice['asserted_by']}"]
    if notice.get("source") and notice["source"] != notice["asserted_by"]:
        said.append(f"(read from {notice['source']})")
    about = []
    if notice.get("notice_doi"):
        about.append(f"notice {notice['notice_doi']}")
    if notice.get("notice_date"):
        about.append(f"dated {notice['notice_date']}")
    if notice.get("record_id"):
        about.append(f"record {notice['record_id']}")
    detail = f": {shorten(notice['detail'], 120)}" if notice.get("detail") else ""
    return head, f"{', '.join([*about, ' '.join(said)])}{detail}"


def _name(row: Mapping[str, Any]) -> str:
    """The work a row is about, named as everywhere (`render.work_name`)."""
    return work_name({**row, "id": row["work_id"]})


def _title(row: Mapping[str, Any]) -> str:
    return f'"{shorten(row.get("title") or "(no title)", 70)}"'


def _change_line(change: Mapping[str, Any]) -> str:
    kind = "" if change["kind"] == "update" else f", {change['kind']}"
    what = value_change(change["old_value"], change["new_value"])
    return f"{change['field']}: {what}  [{change['source']}, run {change['run_id']}{kind}]"


def _new_work_line(work: Mapping[str, Any]) -> str:
    where = ", ".join(x for x in (work.get("container_title"), str(work.get("year") or "")) if x)
    where = f" ({shorten(where, 50)})" if where else ""
    return f"{_name(work)}  {_title(work)}{where}  [{work['sources']}, run {work['run_id']}]"


def _failed_run_line(run: Mapping[str, Any]) -> str:
    kinds = ", ".join(f"{kind} {n}" for kind, n in run["failures"].items())
    failed = f": {run['failed']} failed" + (f" ({kinds})" if kinds else "") if run["failed"] else ""
    paused = f"; paused {run['paused']}" if run.get("paused") else ""
    return f"run {run['id']} {run['status']}{failed}{paused}  ({shorten(run['command'], 60)}, {run['started_at']})"


def _failing_line(item: Mapping[str, Any]) -> str:
    status = "not found" if item["last_status"] == "not_found" else "failed"
    times = f"{item['streak']} time{'s' if item['streak'] != 1 else ''} in a row"
    error = f": {shorten(item['last_error'], 100)}" if item.get("last_error") else ""
    return (
        f"{item['value']} at {item['source']}: {status} {times}, last {item['last_tried_at']}"
        f"{error}; next try {item['next_due_at']}"
    )


def _failed_feed_line(feed: Mapping[str, Any]) -> str:
    return (
        f"feed {feed['feed']}: {shorten(feed['error'], 100)} (tried {feed['tried_at']}; "
        f"asked again from {feed['watermark'] or 'the start'})"
    )


#: The sections in order: heading, the items, and how each item reads (lines).
def _sections(digest: Digest) -> list[tuple[str, list[list[str]]]]:
    notices = [list(_notice_lines(n)) for n in digest.notices]
    changed = [
        [f"{_name(c.work)}  {_title(c.work)}", *(_change_line(x) for x in c.changes)]
        for c in digest.changed
    ]
    new = [[_new_work_line(w)] for w in digest.new_works]
    failures = [
        *([_failed_run_line(r)] for r in digest.failed_runs),
        *([_failing_line(i)] for i in digest.failing),
        *([_failed_feed_line(f)] for f in digest.failed_feeds),
    ]
    return [
        (f"Integrity notices ({len(notices)})", notices),
        (f"Changed fields of tracked works ({len(changed)})", changed),
        (f"New works from feeds ({len(new)})", new),
        (f"Failures that need a person ({len(failures)})", failures),
    ]


def _heading(digest: Digest) -> str:
    since = f", since {digest.since_at}" if digest.since_at else ""
    return f"harvester digest: {covers(digest)}{since} (made {digest.made_at})"


def _more(items: list, limit: int) -> str | None:
    left = len(items) - limit
    return f"… and {left} more (harvest digest --format json lists them all)" if left > 0 else None


# --- the formats ------------------------------------------------------------------------------


def text(digest: Digest, limit: int = LIST_LIMIT) -> str:
    """For a terminal, and the e-mail's plain-text part."""
    out = [_heading(digest)]
    if digest.empty:
        out += ["", "Nothing new."]
    for heading, items in _sections(digest):
        if not items:
            continue
        out += ["", heading]
        for lines in items[:limit]:
            out.append(f"  {lines[0]}")
            out += [f"    {line}" for line in lines[1:]]
        if more := _more(items, limit):
            out.append(f"  {more}")
    return printable("\n".join(out))


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|~])")


def _md(text: str) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", printable(text))


def markdown(digest: Digest, limit: int = LIST_LIMIT) -> str:
    """For a wiki, an issue or a chat."""
    out = [f"# {_md(_heading(digest))}"]
    if digest.empty:
        out += ["", "Nothing new."]
    for heading, items in _sections(digest):
        if not items:
            continue
        out += ["", f"## {_md(heading)}", ""]
        for lines in items[:limit]:
            out.append(f"- {_md(lines[0])}")
            out += [f"  - {_md(line)}" for line in lines[1:]]
        if more := _more(items, limit):
            out.append(f"- {_md(more)}")
    return "\n".join(out) + "\n"


def _h(text: str) -> str:
    return html_lib.escape(printable(text), quote=True)


def html(digest: Digest, limit: int = LIST_LIMIT) -> str:
    """The e-mail's HTML part: one self-contained page, every value escaped."""
    title = _h(_heading(digest))
    body = [f"<h1>{title}</h1>"]
    if digest.empty:
        body.append("<p>Nothing new.</p>")
    for heading, items in _sections(digest):
        if not items:
            continue
        body += [f"<h2>{_h(heading)}</h2>", "<ul>"]
        for lines in items[:limit]:
            rest = "".join(f"<li>{_h(line)}</li>" for line in lines[1:])
            body.append(f"<li>{_h(lines[0])}" + (f"<ul>{rest}</ul>" if rest else "") + "</li>")
        if more := _more(items, limit):
            body.append(f"<li>{_h(more)}</li>")
        body.append("</ul>")
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{title}</title></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def document(digest: Digest) -> dict[str, Any]:
    """For machines: every item, whole (old and new values as stored)."""
    return {
        "since_run": digest.since_run,
        "until_run": digest.until_run,
        "since_at": digest.since_at,
        "made_at": digest.made_at,
        "counts": digest.counts,
        "notices": list(digest.notices),
        "changed_works": [
            {**c.work, "changes": [_change_document(x) for x in c.changes]} for c in digest.changed
        ],
        "new_works": list(digest.new_works),
        "failures": {
            "runs": list(digest.failed_runs),
            "tracked": list(digest.failing),
            "feeds": list(digest.failed_feeds),
        },
    }


def _change_document(change: Mapping[str, Any]) -> dict[str, Any]:
    """A change without its work's columns (they are the work's, given once)."""
    return {k: v for k, v in change.items() if k not in ("doi", "repec_handle", "title")}


#: The human formats by name (json is `document`, printed by `render.json_text`).
RENDERERS: Mapping[str, Callable[[Digest], str]] = {
    "text": text,
    "markdown": markdown,
    "html": html,
}
