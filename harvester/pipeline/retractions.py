"""`harvest retractions load`: the Retraction Watch data set read as it comes, and a notice
kept for every stored work it names (`integrity_notices`, source `retraction-watch`), a batch
of rows per transaction, in one run. The version read is kept (`retraction_sets`), so the
same file read again is said to be unchanged instead of being loaded again.

Only works already stored are looked for: the data set names some 60,000 papers, and a
notice is news about what the user keeps, not a reason to fetch what they do not.
"""

from __future__ import annotations

import dataclasses
import tempfile
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import chain, islice
from typing import Any, BinaryIO

import structlog

from harvester import retraction_watch as rw
from harvester.config import Config
from harvester.errors import Abandoned
from harvester.http import HttpClient
from harvester.models import Notice, Outcome
from harvester.pipeline.common import Run
from harvester.secrets import redact_url
from harvester.store import Store
from harvester.store.retraction_sets import DataSetVersion

log = structlog.get_logger(__name__)

#: Rows looked up and written together, in one transaction.
BATCH_ROWS = 2000


@dataclass
class LoadResult:
    """What a load came to: `loaded`, `unchanged` (the version loaded last, found again;
    nothing read), `interrupted`, or `not_due` (`harvest run`: not asked, not yet due); the version read (for `unchanged`, the one on record),
    the works that got a notice they did not have, and the run (None when nothing was read)."""

    status: str
    origin: str
    version: DataSetVersion | None = None
    run_id: int | None = None
    previous: dict[str, Any] | None = None
    new_notices: list[tuple[int, str, Notice]] = field(default_factory=list)  # work, DOI, notice

    @property
    def exit_code(self) -> int:
        """1 when rows were broken (the rest loaded), as for identifiers that failed."""
        broken = self.version.rows_broken if self.version and self.status == "loaded" else 0
        return 1 if broken else 0


def load_retractions(
    origin: str | None = None,
    *,
    store: Store,
    client: HttpClient,
    config: Config,
    command: str,
    stop: threading.Event | None = None,
    force: bool = False,
    on_broken: Callable[[str, rw.BrokenRow], None] | None = None,
) -> LoadResult:
    """Load the data set from `origin` (a URL or a file; default `[retraction_watch] url`).
    The version loaded last, found again (the server's 304 to its ETag, or the same sha256),
    is not read again unless `force`. Each broken row goes to `on_broken(origin, row)` as it is
    met, and the rest are loaded."""
    origin = origin or config.retraction_watch.url
    shown = redact_url(origin) if rw.is_url(origin) else origin
    previous = store.retraction_sets.latest()
    same_origin = previous is not None and previous["origin"] == shown
    with ExitStack() as files:
        if rw.is_url(origin):
            binary: BinaryIO = files.enter_context(tempfile.TemporaryFile(prefix="harvest-rw-"))
            asked = previous if same_origin and not force else None
            try:
                answer = rw.download(
                    origin,
                    binary,
                    client,
                    config,
                    etag=asked and asked["etag"],
                    last_modified=asked and asked["last_modified"],
                )
            except Abandoned:
                if stop is None or not stop.is_set():
                    raise
                return LoadResult("interrupted", shown, previous=previous)  # nothing written
            if answer.status == 304 and previous is not None:
                return _unchanged(store, shown, previous)
            etag, modified = answer.headers.get("ETag"), answer.headers.get("Last-Modified")
        else:
            binary = files.enter_context(rw.open_file(origin))
            etag = modified = None
        sha256, size = rw.fingerprint(binary)
        if previous is not None and previous["sha256"] == sha256 and not force:
            return _unchanged(store, shown, previous)
        version = DataSetVersion(shown, sha256, size, etag, modified)
        rows = rw.read_rows(rw.open_text(binary), shown)
        # The header is read before the run starts: a file that is not the data set writes nothing.
        first = list(islice(rows, 1))
        return _load(chain(first, rows), version, previous, store, command, stop, on_broken)


def _unchanged(store: Store, origin: str, previous: dict[str, Any]) -> LoadResult:
    store.retraction_sets.checked(previous["id"], store.now())
    log.info("retractions.unchanged", origin=origin, loaded_at=previous["loaded_at"])
    return LoadResult("unchanged", origin, previous=previous)


def _load(
    rows: Iterator[rw.Row | rw.BrokenRow],
    version: DataSetVersion,
    previous: dict[str, Any] | None,
    store: Store,
    command: str,
    stop: threading.Event | None,
    on_broken: Callable[[str, rw.BrokenRow], None] | None,
) -> LoadResult:
    counts = {"rows_read": 0, "rows_broken": 0, "rows_without_doi": 0, "notices_new": 0}
    works: set[int] = set()
    result = LoadResult("loaded", version.origin, previous=previous)
    with Run(store, command) as run:
        result.run_id = run.result.run_id
        while batch := list(islice(rows, BATCH_ROWS)):
            counts["rows_read"] += len(batch)
            good: list[rw.Row] = []
            broken: list[rw.BrokenRow] = []
            for row in batch:
                if isinstance(row, rw.BrokenRow):
                    broken.append(row)
                elif row.doi is None:
                    counts["rows_without_doi"] += 1
                else:
                    good.append(row)
            for row in broken:
                if on_broken is not None:
                    on_broken(version.origin, row)
            counts["rows_broken"] += len(broken)
            outcomes = _write_batch(store, run, good, broken, version.origin, result)
            works.update(o.work_id for o in outcomes if o.work_id is not None)
            if stop is not None and stop.is_set():
                run.interrupt()
                break
        if run.result.status == "interrupted":
            result.status = "interrupted"
        else:
            counts["notices_new"] = len(result.new_notices)
            result.version = dataclasses.replace(version, **counts, works=len(works))
            with store.transaction():
                store.retraction_sets.loaded(result.version, run.result.run_id, store.now())
            log.info("retractions.loaded", origin=version.origin, works=len(works), **counts)
    return result


def _write_batch(
    store: Store,
    run: Run,
    rows: list[rw.Row],
    broken: list[rw.BrokenRow],
    origin: str,
    result: LoadResult,
) -> list[Outcome]:
    """One batch in one transaction: the notices of the rows naming stored works, and the
    batch's outcomes in the run's counts (a row with a new notice `changed`, one already kept
    `unchanged`, a broken row `failed`)."""
    found = store.works.find_work_ids("doi", sorted({row.doi.key for row in rows if row.doi}))
    by_work: dict[int, list[rw.Row]] = defaultdict(list)
    for row in rows:
        if row.doi and row.doi.key in found:
            by_work[found[row.doi.key]].append(row)
    outcomes: list[Outcome] = [
        Outcome(
            identifier=f"{origin}:{row.line}",
            status="failed",
            error=row.reason,
            source=rw.SOURCE,
            error_kind="bad_answer",
        )
        for row in broken
    ]
    with store.transaction():
        now = store.now()
        for work_id, work_rows in by_work.items():
            for row in work_rows:
                new = store.integrity.record(work_id, [row.notice], run.result.run_id, now)
                if new:
                    result.new_notices.append((work_id, row.doi.value, row.notice))
                outcomes.append(
                    Outcome(
                        identifier=row.doi.value,
                        status="changed" if new else "unchanged",
                        work_id=work_id,
                        fields=("integrity",) if new else (),
                        source=rw.SOURCE,
                    )
                )
        store.runs.add_outcomes(run.result.run_id, outcomes)
    for outcome in outcomes:
        run.result.counts.add(outcome)
    return outcomes


def is_due(store: Store, config: Config, now: str) -> bool:
    """`harvest run` loads the data set again when `[retraction_watch] refresh_days` is set and
    the version on record was last found longer ago than that (or none was ever loaded)."""
    days = config.retraction_watch.refresh_days
    if days <= 0:
        return False
    latest = store.retraction_sets.latest()
    if latest is None:
        return True
    checked = _when(latest["checked_at"])
    return _when(now) - checked >= timedelta(days=days)


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def notices_text(notices: Iterable[tuple[int, str, Notice]]) -> Iterator[str]:
    """A line per new notice: what, of which work, by which record and notice."""
    for work_id, doi, notice in notices:
        what = notice.kind.replace("_", " ")
        said = [f"record {notice.record_id}"]
        if notice.notice_doi:
            said.append(f"notice {notice.notice_doi}")
        if notice.date:
            said.append(notice.date)
        yield f"{what:<22} {doi} (work {work_id}): Retraction Watch {', '.join(said)}"
