"""`harvest reparse`: rebuild works from the payloads already stored, after a parser learnt to
read more (or read something right), without asking any upstream.

Each source's `PARSER_VERSION` is part of its payloads' hashes. A stored answer whose hash the
current parser would give differently was read by an older parser: its work is merged again
from every source's latest payload and the user's own values, the changes land in the history
in a run of their own (command `reparse`), and the answer is re-keyed to its current hash in
the same transaction, so that the next harvest knows the payload and does not merge it again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping

import structlog

from harvester import jsontext, sources
from harvester.config import Config
from harvester.models import Merged, Rekeyed, StoredAnswer
from harvester.pipeline.common import Run, RunResult, chunks, merge_work, payload_hash, read_stored
from harvester.store import Outcome, Store

log = structlog.get_logger(__name__)


def reparse(
    *,
    store: Store,
    config: Config,
    command: str = "reparse",
    client: object = None,  # what every entry point is given; a reparse asks nobody
    only: Collection[str] = (),
    every: bool = False,
    on_outcome: Callable[[Outcome], None] | None = None,
    stop: threading.Event | None = None,
) -> RunResult:
    """Rebuild the works that an older parser read (`every`: all works with a stored payload),
    or only those with a payload from the sources named in `only`; one chunk per transaction,
    so an interrupted reparse keeps what it wrote and a second one does the rest."""
    with Run(store, command, on_outcome, config.watch) as run:
        for chunk in chunks(store.works.ids_with_payloads(only), config.chunk_size):
            answers, local = read_stored(store, chunk)
            run.write(list(_rebuilt(chunk, answers, local, config, only, every)))
            if stop is not None and stop.is_set():
                run.interrupt()
                break
    return run.result


def _rebuilt(
    work_ids: Iterable[int],
    answers: Mapping[int, Mapping[str, StoredAnswer]],
    local: Mapping,
    config: Config,
    only: Collection[str],
    every: bool,
) -> Iterator[Merged]:
    for work_id in work_ids:
        latest = answers.get(work_id, {})
        rekeyed = tuple(_rekeyed(latest.values()))
        stale = {r.source for r in rekeyed}
        if not every and not (stale & set(only) if only else stale):
            continue
        work, conflicts = merge_work(list(latest.values()), local.get(work_id), config)
        named = work.values.get("doi") or work.values.get("repec_handle")
        yield Merged(
            source="reparse",
            key="",
            scheme="work",
            display=str(named or f"work {work_id}"),
            work=work,
            conflicts=conflicts,
            work_id=work_id,
            rekeyed=rekeyed,
            reparsed=True,
        )


def _rekeyed(answers: Iterable[StoredAnswer]) -> Iterator[Rekeyed]:
    """The stored answers whose hash the current parser gives differently: read by an older one."""
    for answer in answers:
        source = sources.SOURCES.get(answer.source)
        if source is None or answer.status != "ok" or answer.payload is None:
            continue
        payload = jsontext.loads(answer.payload)
        current = payload_hash(payload, source.VOLATILE_KEYS, source.PARSER_VERSION)
        if current != answer.payload_hash:
            yield Rekeyed(answer.source, answer.identifier, answer.payload_hash, current)
