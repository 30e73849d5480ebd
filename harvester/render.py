"""What the `harvest` commands print, made from what the pipeline and the store return: the lines
for people, and the JSON documents of `--json`.

Pure functions, no I/O and no click: `cli.py` echoes what they return, and tests/test_render.py
reads each one directly. Nothing here imports the pipeline at run time, so that the pipeline can
take `OUTCOME_STATUSES` from here without an import cycle.
"""

from __future__ import annotations

import difflib
import json
import re
import textwrap
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from harvester.secrets import redact_text

if TYPE_CHECKING:
    from harvester.config import FeedConfig
    from harvester.pipeline.common import RunResult
    from harvester.pipeline.local import ImportResult
    from harvester.pipeline.match import Decisions, MatchResult
    from harvester.scheduler import ScheduledJob
    from harvester.store import DueItem, Outcome


class StatusWords(NamedTuple):
    """How one outcome status reads: on its line for a person, and as the log's event."""

    label: str
    event: str


#: Every status an outcome can have (`store.OUTCOMES`), with its words and its log event: one
#: table for the line a person reads and the event the log gives, so the two cannot drift.
OUTCOME_STATUSES: Mapping[str, StatusWords] = {
    "created": StatusWords("created", "work.created"),
    "changed": StatusWords("changed", "work.changed"),
    "unchanged": StatusWords("unchanged", "work.unchanged"),
    "not_found": StatusWords("not found", "work.not_found"),
    "failed": StatusWords("failed", "work.failed"),
}

#: The words of each `MatchResult.status`, at the head of its line.
MATCH_LABELS: Mapping[str, str] = {
    "linked": "linked",
    "review": "review",
    "no_match": "no match",
    "failed": "failed",
    "skipped": "skipped",
}

#: What Ctrl-C leaves the user with.
INTERRUPTED = "interrupted; every finished batch is stored, a rerun does the rest"


#: What a terminal would act on instead of showing: escape sequences (CSI such as colours and
#: screen clears; OSC such as a window title, ended by BEL or ST; DCS, SOS, PM, APC strings;
#: two-character escapes), their 8-bit C1 forms, every other C0 control but newline and tab,
#: DEL and the C1 controls. A title or a name may hold any of them, as the source sent it.
_TERMINAL_CONTROLS = re.compile(
    r"""(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)
                                         # OSC, DCS, SOS, PM, APC: up to BEL or ST
    | (?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?     # CSI: parameters, then a final byte
    | \x1b[ -/]*[0-~]?                     # any other escape (or a lone ESC)
    | [\x00-\x08\x0b-\x1f\x7f-\x9f]           # C0 but tab and newline, DEL, C1
    """,
    re.VERBOSE,
)


def printable(text: str) -> str:
    """`text` as it may reach a terminal or a text output: without the control characters and
    escape sequences a terminal would act on (clear the screen, set the window title, move the
    cursor back over what was shown), the readable text left as it is. The database keeps
    the values as the sources sent them; this is applied once, where text is echoed."""
    return _TERMINAL_CONTROLS.sub("", text)


def shorten(text: str | None, width: int) -> str:
    """`text` on one line, cut to `width` characters with an ellipsis: titles and errors in a
    listing stay one line each."""
    text = " ".join(str(text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


# --- a harvest: a line per identifier, and the summary ------------------------------------------


#: What Ctrl-C (or SIGTERM) during a run answers at once.
STOPPING = "stopping after this batch (Ctrl-C again to abort)\n"


def outcome_line(outcome: Outcome) -> str:
    """One identifier's line: created (and its title), changed (and which fields), unchanged,
    not found or failed (and why)."""
    label = f"{OUTCOME_STATUSES[outcome.status].label:<10} {outcome.identifier}"
    if outcome.status == "created":
        return f"{label}  work {outcome.work_id}: {shorten(outcome.title or '(no title)', 70)}"
    if outcome.status == "changed":
        return f"{label}  work {outcome.work_id} v{outcome.version}: {', '.join(outcome.fields)}"
    if outcome.status == "unchanged":
        return f"{label}  work {outcome.work_id}" if outcome.work_id else label
    if outcome.status == "not_found":
        return f"{label}  {outcome.error or f'{outcome.source} has no record of it'}"
    return f"{label}  {outcome.error or 'unknown error'}"


def summary_line(
    result: RunResult, db_path: str, failure_kinds: Mapping[str, int] | None = None
) -> str:
    """A run in one line: the counts (the failures by kind), the run and the database, and
    whether it was interrupted or left something due."""
    c = result.counts
    total = c.requested
    parts = f"{c.created} created, {c.changed} changed, {c.unchanged} unchanged, {c.not_found} not found, {c.failed} failed"
    if c.failed and failure_kinds:
        parts += f" ({', '.join(f'{kind} {n}' for kind, n in failure_kinds.items())})"
    tail = " (interrupted)" if result.status == "interrupted" else ""
    if result.paused:
        tail += (
            f"; paused for failing too often: {', '.join(result.paused)} "
            "(what it was due for is left for the next run)"
        )
    if result.left_due:
        tail += f"; {result.left_due} still due (time budget, --max or a stop)"
    if result.backing_off:
        tail += (
            f"; {result.backing_off} backing off after failing, not asked before "
            f"{result.backing_off_until} (--retry-failed asks now)"
        )
    for source, dois in sorted(result.not_enriched.items()):
        tail += f"; {dois} not enriched by {source} this run (asked on a later run)"
    return f"{total} identifier(s): {parts}; run {result.run_id} in {db_path}{tail}"


# --- a stored work: show and history ------------------------------------------------------------


def work_text(work: Mapping[str, Any] | None) -> str:
    """A stored work (`store.works.get`) as `harvest show` prints it: a field a line, then which
    source gave which fields (`From:`) and where the sources disagree (`Conflict:`)."""
    if work is None:
        return "(no such work)"
    out = [
        f"{work_name(work)}  (work {work['id']}, version {work['version']}, updated {work['updated_at']})"
    ]

    def line(label: str, value: Any) -> None:
        if value not in (None, "", [], ()):
            out.append(f"  {label + ':':<12} {value}")

    title = work.get("title")
    if work.get("subtitle"):
        title = f"{title}: {work['subtitle']}"
    line("Title", title or "(no title)")
    # A retraction or a correction is what a reader must see first, before the fields.
    for notice in work.get("notices", []):
        line("Notice", notice_text(notice))
    for other in _json(work, "titles"):
        about = ", ".join(p for p in (other.get("kind"), other.get("language")) if p)
        line("Also titled", f"{other['title']} ({about})" if about else other["title"])
    line("Type", work.get("type"))
    line("Authors", "; ".join(author_text(a) for a in work.get("authors", [])))
    roles: dict[str, list[str]] = {}
    for person in _json(work, "contributors"):
        roles.setdefault(person.get("role") or "contributor", []).append(author_text(person))
    for role, names in roles.items():
        line(role.replace("-", " ").capitalize(), "; ".join(names))
    issn = ", ".join(json.loads(work["issn"])) if work.get("issn") else None
    short = work.get("container_short_title")
    container = work.get("container_title")
    if short and container and short != container:
        container = f"{container} ({short})"
    line("In", ", ".join(p for p in (container or short, f"ISSN {issn}" if issn else None) if p))
    line(
        "Series",
        ", no. ".join(p for p in (work.get("series_title"), work.get("series_number")) if p),
    )
    line("Volume", work.get("volume"))
    line("Issue", work.get("issue"))
    line("Number", work.get("report_number"))
    line("Pages", work.get("pages"))
    line("Published", work.get("published"))
    dates = [
        f"{kind} {work[name]}"
        for kind, name in (("print", "published_print"), ("online", "published_online"))
        if work.get(name)
    ]
    line("Dates", ", ".join(dates) if len(dates) > 1 else None)
    line("Revised", work.get("revised"))
    line("Status", work.get("publication_status"))
    line(
        "Event",
        ", ".join(p for p in (work.get(f"event_{x}") for x in ("name", "place", "date")) if p),
    )
    line("Publisher", work.get("publisher"))
    line("Place", work.get("publisher_place"))
    line("Degree", work.get("degree"))
    line("ISBN", ", ".join(_isbn_text(i) for i in _json(work, "isbn")))
    line("Language", work.get("language"))
    line("License", work.get("license"))
    line("URL", work.get("url"))
    for file in _json(work, "files"):
        about = ", ".join(p for p in (file.get("label"), file.get("format")) if p)
        line("File", f"{file['url']} ({about})" if about else file["url"])
    line("Version", work.get("resource_version"))
    line("Open access", " ".join(p for p in (work.get("oa_status"), work.get("oa_url")) if p))
    line("Subjects", "; ".join(json.loads(work["subjects"])) if work.get("subjects") else None)
    line("JEL", ", ".join(_json(work, "jel_codes")))
    for funder in _json(work, "funders"):
        awards = funder.get("awards") or []
        name = funder.get("name") or funder.get("doi") or funder.get("ror") or "(unnamed)"
        line("Funded by", f"{name} (award {', '.join(awards)})" if awards else name)
    line("OpenAlex", work.get("openalex_id"))
    others = _json(work, "other_ids", {})
    line("Other IDs", ", ".join(f"{scheme} {value}" for scheme, value in others.items()))
    line("Cited by", work.get("cited_by_count"))
    counts = _json(work, "citation_counts", {})
    if len(counts) > 1:
        line("Counts", ", ".join(f"{source} {n}" for source, n in counts.items()))
    references = _json(work, "reference_list")
    if references:
        with_doi = sum(1 for r in references if r.get("doi"))
        line("References", f"{len(references)} listed, {with_doi} with a DOI")
    for update in _json(work, "updates"):
        asserted = " ".join(p for p in (update.get("source"), update.get("record_id")) if p)
        line(
            "Update",
            f"{update['direction']} {update['type']}: {update['doi']}"
            + (f" ({update['date']})" if update.get("date") else "")
            + (f" [{asserted}]" if asserted else ""),
        )
    for label, text in [
        ("Abstract", work.get("abstract")),
        *((f"Abstract ({a.get('language') or '?'})", a["text"]) for a in _json(work, "abstracts")),
    ]:
        if not text:
            continue
        out.append(f"  {label}:")
        out.extend(
            textwrap.fill(p, 96, initial_indent="    ", subsequent_indent="    ")
            for p in text.split("\n\n")
        )
    others = [f"{i['scheme']}:{i['value']}" for i in work.get("identifiers", [])]
    line("Identifiers", ", ".join(others))
    by_source: dict[str, list[str]] = {}
    for name, source in json.loads(work.get("provenance") or "{}").items():
        by_source.setdefault(source, []).append(name)
    line("From", "; ".join(f"{source}: {', '.join(names)}" for source, names in by_source.items()))
    disagreements: dict[str, list[str]] = {}
    for conflict in work.get("conflicts", []):
        said = f"{conflict['source']} {shorten(conflict['value'], 40)!r}"
        disagreements.setdefault(conflict["field"], []).append(said)
    for name, said in disagreements.items():
        line("Conflict", f"{name}: {', '.join(said)}")
    return "\n".join(out)


def notice_text(notice: Mapping[str, Any]) -> str:
    """An integrity notice on one line: "RETRACTION 10.1016/... (2010-02-06), asserted by
    retraction-watch (record 4036), seen since run 3"; the worst kinds in capitals."""
    kind = str(notice.get("kind") or "other").replace("_", " ")
    serious = notice.get("kind") in ("retraction", "partial_retraction", "withdrawal", "removal")
    text = kind.upper() if serious else kind.capitalize()
    if notice.get("notice_doi"):
        text += f" {notice['notice_doi']}"
    if notice.get("notice_date"):
        text += f" ({notice['notice_date']})"
    text += f", asserted by {notice.get('asserted_by')}"
    if notice.get("record_id"):
        text += f" (record {notice['record_id']})"
    if notice.get("detail") and notice.get("kind") in ("published_version", "new_version", "other"):
        text += f": {shorten(str(notice['detail']), 80)}"
    if notice.get("first_seen_run"):
        text += f", seen since run {notice['first_seen_run']}"
    return text


def _json(work: Mapping[str, Any], column: str, empty: Any = ()) -> Any:
    """A JSON column's value, or `empty` when it holds none."""
    text = work.get(column)
    return json.loads(text) if text else empty


def _isbn_text(isbn: Mapping[str, Any]) -> str:
    return f"{isbn['isbn']} ({isbn['kind']})" if isbn.get("kind") else isbn["isbn"]


def author_text(author: Mapping[str, Any]) -> str:
    """An author row as a byline name, with the ORCID when there is one."""
    name = author.get("name") or " ".join(
        p for p in (author.get("given"), author.get("family")) if p
    )
    extras = [f"ORCID {author['orcid']}"] if author.get("orcid") else []
    if author.get("repec_id"):
        extras.append(f"RePEc {author['repec_id']}")
    return f"{name} ({', '.join(extras)})" if extras else name


def history_text(work: Mapping[str, Any], changes: Sequence[Mapping[str, Any]]) -> str:
    """`harvest history`: the changes (`store.works.history`) grouped by run, each field's old and new
    value and the source that said so."""
    title = shorten(work.get("title") or "(no title)", 70)
    out = [f"{work_name(work)}  work {work['id']}, version {work['version']}: {title}"]
    run = None
    for change in changes:
        if (change["run_id"], change["changed_at"]) != run:
            run = (change["run_id"], change["changed_at"])
            out.append(f"{change['changed_at']}  run {change['run_id']}")
        what = value_change(change["old_value"], change["new_value"])
        out.append(f"  {change['field']:<16} {what}  [{change['source'] or 'unknown'}]")
    if not changes:
        out.append("  no changes recorded")
    return "\n".join(out)


#: A change whose old and new values together are this short is shown whole.
_WHOLE = 100
#: Unchanged tokens (words, spaces, marks) kept around each changed part of a longer value.
_CONTEXT = 6


def value_change(old: str | None, new: str | None) -> str:
    """One change as `history` shows it: short values whole (`old -> new`); a longer value as
    the words that changed ([-removed-] {+added+}) among a few unchanged ones, so that two
    values alike at the start never print as two identical truncations."""
    if old is None:
        return f"set to {shorten(new, 80)}"
    if new is None:
        return f"removed (was {shorten(old, 60)})"
    old, new = " ".join(old.split()), " ".join(new.split())
    if len(old) + len(new) <= _WHOLE:
        return f"{old} -> {new}"
    before, after = _TOKEN.findall(old), _TOKEN.findall(new)
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    if matcher.ratio() < 0.5:  # mostly rewritten: both in full say it best
        return f"{old} -> {new}"
    parts: list[str] = []
    opcodes = matcher.get_opcodes()
    for i, (tag, a0, a1, b0, b1) in enumerate(opcodes):
        if tag == "equal":
            same = before[a0:a1]
            head = same[:_CONTEXT] if i > 0 else []
            tail = same[-_CONTEXT:] if i < len(opcodes) - 1 else []
            kept = same if len(same) <= len(head) + len(tail) else [*head, " … ", *tail]
            parts.append("".join(kept))
            continue
        if a1 > a0:
            parts.append(f"[-{''.join(before[a0:a1])}-]")
        if b1 > b0:
            parts.append(f"{{+{''.join(after[b0:b1])}+}}")
    return "".join(parts).strip()


#: Words, runs of spaces and single punctuation marks: what a change is counted in (JSON lists
#: of authors have no spaces, and must still show only the name that changed).
_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")


def works_line(row: Mapping[str, Any]) -> str:
    """One work of `harvest works`: its id, name, year, type and title, and its conflicts."""
    conflicts = f"  [{row['conflicts']} in conflict]" if row.get("conflicts") else ""
    year = row.get("year") or "----"
    kind = row.get("type") or "-"
    title = shorten(row.get("title") or "(no title)", 60)
    return f"{row['id']:>6}  {work_name(row):<40}  {year}  {kind:<16}  {title}{conflicts}"


def work_name(work: Mapping[str, Any]) -> str:
    """What names a stored work to a person: its DOI, else its RePEc handle, else another
    identifier it has, else its title, else its number."""
    for column in ("doi", "repec_handle"):
        if work.get(column):
            return str(work[column])
    for identifier in work.get("identifiers") or []:
        return f"{identifier['scheme']}:{identifier['value']}"
    if work.get("title"):
        return repr(shorten(work["title"], 60))
    return f"work {work['id']}"


def not_stored(text: str) -> str:
    """What a command says (on stderr) when the work it was given is not in the database."""
    return f"not in the database: {text}"


def unset_note(field: str) -> str:
    """`harvest unset` of a field that holds no value of the user's: a note, not an error."""
    return f"note: {field} has no value of yours to unset"


# --- harvest import -------------------------------------------------------------------------------


def import_document(result: ImportResult, records: int, file: str) -> dict[str, Any]:
    """An import for machines: the run, each outcome, and the records without an identifier."""
    return {
        "run_id": result.run_id,
        "file": file,
        "records": records,
        "results": [asdict(o) for o in result.outcomes],
        "without_identifier": [
            {"line": r.line, "label": r.label} for r in result.without_identifier
        ],
    }


def edit_document(outcome: Outcome, work: Mapping[str, Any] | None) -> dict[str, Any]:
    """`set` / `unset` for machines: what became of the work, and the work."""
    return {"result": asdict(outcome), "work": work_document(work) if work else None}


def import_summary(result: ImportResult, records: int, file: str) -> str:
    """What an import did: new, changed and unchanged works, and the records that named neither
    DOI nor RePEc handle (kept as works of their own), by line, so the user can find them."""
    counts = Counter(o.status for o in result.outcomes)
    out = [
        f"{records} record(s) from {file}: {counts['created']} new work(s), "
        f"{counts['changed']} changed, {counts['unchanged']} unchanged; run {result.run_id}"
    ]
    if result.without_identifier:
        out.append(f"{len(result.without_identifier)} record(s) without DOI or RePEc handle, kept:")
        out.extend(
            f"  line {record.line}: {shorten(record.label, 90)}"
            for record in result.without_identifier
        )
    return "\n".join(out)


# --- harvest match --------------------------------------------------------------------------------


def match_line(result: MatchResult) -> str:
    """One record's line: what was found, and why."""
    head = f"{MATCH_LABELS[result.status]:<10} work {result.work_id}"
    if result.status == "linked":
        score = f"  score {result.score:.2f}" if result.score is not None else ""
        return f"{head}  {result.doi}{score} ({result.reasons})"
    if result.status == "review":
        return (
            f"{head}  {len(result.candidates)} candidate(s) (best {result.score:.2f} "
            f"{result.doi}): {shorten(result.title, 50)}"
        )
    if result.status == "no_match":
        asked = f"no match among {result.asked} candidate(s)" if result.asked else "no match"
        return f"{head}  {asked}: {shorten(result.title, 60)}"
    return f"{head}  {result.error}"


def match_summary(
    records: Sequence[MatchResult],
    harvests: Sequence[Outcome],
    result: RunResult,
    db_path: str,
) -> str:
    """A match run in a line: the records by what became of them, the linked DOIs whose harvest
    is still to do (`harvests`: the outcomes of the linked DOIs' harvest), and where the
    candidates waiting for review are listed."""
    counts = Counter(r.status for r in records)
    searched = sum(n for status, n in counts.items() if status != "skipped")
    text = (
        f"{searched} record(s): {counts['linked']} linked, {counts['review']} for review, "
        f"{counts['no_match']} no match, {counts['failed']} failed"
    )
    if counts["skipped"]:
        text += f", {counts['skipped']} skipped"
    unharvested = sum(o.status in ("failed", "not_found") for o in harvests)
    if unharvested:
        text += f"; {unharvested} linked DOI(s) not harvested yet (the next harvest match asks)"
    text += f"; run {result.run_id} in {db_path}"
    if result.status == "interrupted":
        text += " (interrupted)"
    if counts["review"]:
        text += "\nharvest match --review lists the candidates waiting for you"
    return text


def review_text(pending: Sequence[Mapping[str, Any]]) -> str:
    """The pending candidates (`store.matches.pending`) by record: the record's title against
    each candidate's, the score and the reasons, and how to settle them."""
    out: list[str] = []
    work_id = None
    for row in pending:
        if row["work_id"] != work_id:
            work_id = row["work_id"]
            said = "; ".join(
                str(p) for p in (row["work_year"], row["work_authors"], row["work_container"]) if p
            )
            out.append(
                f"work {work_id}: {shorten(row['work_title'], 90)}"
                + (f"  ({said})" if said else "")
            )
        said = "; ".join(str(p) for p in (row["year"], row["authors"], row["container_title"]) if p)
        out.append(
            f"  {row['score']:.2f}  {row['doi']}  {shorten(row['title'], 80)}"
            + (f"  ({said})" if said else "")
        )
        out.append(f"        {row['reasons'] or ''}")
    works = len({row["work_id"] for row in pending})
    out.append(f"{len(pending)} candidate(s) for {works} record(s) waiting for review")
    if pending:
        out.append("settle each with: harvest match --accept ID DOI, or --reject ID DOI")
    return "\n".join(out)


def settled_lines(decisions: Decisions) -> list[str]:
    """A line per `--reject` and `--accept`, in the order they are done: rejections first."""
    return [
        f"{option + 'ed':<10} work {work_id}  {doi}"
        for option, pairs in (("reject", decisions.rejects), ("accept", decisions.accepts))
        for work_id, doi in pairs
    ]


def rejected_summary(rejected: int, run_id: int, db_path: str) -> str:
    """The summary of a settlement that only rejected (nothing harvested, so no counts)."""
    return f"{rejected} candidate(s) rejected; run {run_id} in {db_path}"


# --- the watch list, the nightly run's plan, the schedule -----------------------------------------


def track_summary(given: int, added: int) -> str:
    """`harvest track`: how many were new to the watch list."""
    return (
        f"{given} identifier(s): {added} added to the watch list, "
        f"{given - added} already on it; `harvest run` harvests what is due"
    )


def untrack_summary(given: int, removed: int) -> str:
    """`harvest untrack`: how many of those given were on the watch list."""
    return f"{removed} of {given} identifier(s) taken off the watch list"


def tracked_text(watched: Sequence[Mapping[str, Any]]) -> str:
    """The watch list (`store.watch.tracked`): each identifier, its work, and per source when it is
    next due and how its last try ended."""
    out = []
    for item in watched:
        work = f"work {item['work_id']}" if item["work_id"] else "not harvested yet"
        out.append(f"{item['value']}  ({work})")
        for source, due in item["sources"].items():
            last = due["last_status"] or "never tried"
            if due["streak"] and due["streak"] > 1:
                last += f" {due['streak']} times in a row"
            error = f": {shorten(due['last_error'], 60)}" if due["last_error"] else ""
            out.append(f"  {source:<9} due {due['next_due_at']}  last: {last}{error}")
    out.append(f"{len(watched)} identifier(s) on the watch list")
    return "\n".join(out)


def plan_text(
    due: Sequence[DueItem],
    feeds: Sequence[tuple[FeedConfig, str, str | None]],
    followed: Sequence[tuple[str, str, str | None]] = (),
) -> str:
    """`harvest run --dry-run`: what is due at which sources, each feed from where, and each
    feed of the people and institutions followed from where."""
    out = [
        f"due   {item.value}  at {', '.join(item.sources)}  (since {item.due_at})" for item in due
    ]
    for label, watermark in [(f.label, w) for f, _, w in feeds] + [(w, m) for w, _, m in followed]:
        since = f"changed since {watermark}" if watermark else "everything (first harvest)"
        out.append(f"feed  {label}: {since}")
    people = f", {len(followed)} of people and institutions" if followed else ""
    out.append(f"{len(due)} identifier(s) due, {len(feeds)} feed(s){people}; nothing fetched")
    return "\n".join(out)


def job_line(job: ScheduledJob, upcoming: Sequence[datetime]) -> str:
    """A scheduled job, and when it runs next."""
    times = ", ".join(t.strftime("%Y-%m-%d %H:%M %Z") for t in upcoming)
    return f"job {job.id}: {job.cron} ({job.timezone}); next: {times}"


# --- reading identifiers, errors ----------------------------------------------------------------


def invalid_identifiers(
    errors: Sequence[tuple[str, str]], *, going_on: bool, valid: int
) -> list[str]:
    """The lines (for stderr) about identifiers that cannot be read: each with its place, then
    why nothing is harvested when nothing is (not `going_on`, or no `valid` one left)."""
    lines = [f"error: {where}: {error}" for where, error in errors]
    if errors and not going_on:
        lines.append(
            f"{len(errors)} invalid identifier(s); nothing was harvested (use --skip-invalid to go on without them)"
        )
    elif errors and not valid:
        lines.append("no valid identifier to harvest")
    return lines


def error_line(error: Exception) -> str:
    """An expected error (`HarvesterError`) in one line, instead of a traceback; any secret it
    quotes (a URL's api_key, a configured key) masked."""
    return f"error: {redact_text(str(error))}"


# --- the JSON documents of --json ---------------------------------------------------------------

#: Columns stored as JSON text, shown as JSON values by `show --json`.
JSON_COLUMNS = ("issn", "relations", "updates", "subjects", "provenance")


def json_text(document: Any) -> str:
    """A document as `--json` prints it: indented, non-ASCII as it is, every control character
    escaped (json escapes C0; DEL and C1 too, here), so values keep what the source sent and a
    terminal shown the document acts on none of it."""
    text = json.dumps(document, ensure_ascii=False, indent=2)
    return _JSON_UNESCAPED.sub(lambda m: f"\\u{ord(m[0]):04x}", text)


#: Controls json.dumps leaves as they are with ensure_ascii=False: DEL and the C1 range.
_JSON_UNESCAPED = re.compile(r"[\x7f-\x9f]")


def run_document(result: RunResult, outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """A run for machines: its id, status and counts, and every outcome."""
    return {
        "run_id": result.run_id,
        "status": result.status,
        "counts": asdict(result.counts),
        "paused": list(result.paused),
        "backing_off": {"identifiers": result.backing_off, "until": result.backing_off_until},
        "not_enriched": dict(result.not_enriched),
        "results": [asdict(o) for o in outcomes],
    }


def match_document(
    result: RunResult, outcomes: Sequence[Outcome], records: Sequence[MatchResult]
) -> dict[str, Any]:
    """A match run for machines: the run, and what became of each record."""
    return {**run_document(result, outcomes), "records": [r.as_json() for r in records]}


def settle_document(
    result: RunResult, outcomes: Sequence[Outcome], decisions: Decisions
) -> dict[str, Any]:
    """A settlement for machines: the run, and the pairs accepted and rejected."""
    return {
        **run_document(result, outcomes),
        "accepted": [{"work_id": w, "doi": d} for w, d in decisions.accepts],
        "rejected": [{"work_id": w, "doi": d} for w, d in decisions.rejects],
    }


def work_document(work: Mapping[str, Any]) -> dict[str, Any]:
    """A stored work for machines: its JSON columns as JSON values, not text."""
    return {k: (json.loads(v) if k in JSON_COLUMNS and v else v) for k, v in work.items()}


def history_document(work: Mapping[str, Any], changes: Sequence[Mapping[str, Any]]) -> dict:
    """A work's changes for machines."""
    return {"work_id": work["id"], "changes": list(changes)}


def plan_document(
    due: Sequence[DueItem],
    feeds: Sequence[tuple[FeedConfig, str, str | None]],
    followed: Sequence[tuple[str, str, str | None]] = (),
) -> dict[str, Any]:
    """`harvest run --dry-run --json`: what is due, each feed from where, and each feed of the
    people and institutions followed."""
    return {
        "due": [asdict(d) for d in due],
        "feeds": [{"feed": f.label, "key": key, "from": watermark} for f, key, watermark in feeds],
        "followed": [{"feed": what, "key": key, "from": mark} for what, key, mark in followed],
    }
