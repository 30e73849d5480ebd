"""What every harvest shares: the HTTP client of a run, payload hashing, the parsers that rebuild
records from stored payloads, and the one decision between "unchanged" and a new merge.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import structlog

from harvester import jsontext, sources
from harvester.config import Config
from harvester.due import DuePolicy
from harvester.identifiers import Doi
from harvester.integrity import notices_of
from harvester.merge import (
    Contribution,
    build_work,
    canonical_json,
    contribution,
    find_conflicts,
)
from harvester.models import Failed, Fetched, LocalEdit, Merged, NotFound, Record, Unchanged
from harvester.render import OUTCOME_STATUSES
from harvester.store import (
    Answer,
    Observation,
    Outcome,
    RunCounts,
    Store,
    StoredAnswer,
    Tried,
)

log = structlog.get_logger(__name__)


def _debug_logged() -> bool:
    return logging.getLogger(__name__).isEnabledFor(logging.DEBUG)


T = TypeVar("T")


@dataclass
class RunResult:
    run_id: int
    status: str  # ok | failures | interrupted | error (as in runs.status)
    counts: RunCounts = field(default_factory=RunCounts)
    left_due: int = 0  # `harvest run`: identifiers due but not reached (time budget, --max, stop)
    # A one-off look-up asked for these identifiers, so one not found is a failure of the
    # command; for `harvest run` it is news about the watch list, backed off, not a failure.
    not_found_fails: bool = True
    #: Sources paused for failing too often in this run (SourceHealth): what they were due for
    #: was left, and the summary names them.
    paused: tuple[str, ...] = ()
    #: `harvest run`: tracked identifiers not asked because they wait out a back-off after
    #: failing, and the earliest time one of them is due again (`--retry-failed` asks now).
    backing_off: int = 0
    backing_off_until: str | None = None
    #: DOIs stored from their agency without an enrichment's answer (its allowance for the day
    #: spent, paused, failing), by enrichment: asked of it again on a later run, and a tracked
    #: one stays due for it. Not a failure: the agency answered.
    not_enriched: dict[str, int] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 when every identifier resolved; 1 when some failed (or, with `not_found_fails`,
        were not found), or a source was paused so that what it was due for is left."""
        missing = self.counts.not_found if self.not_found_fails else 0
        return 0 if missing == 0 and self.counts.failed == 0 and not self.paused else 1


class Run:
    """One harvest as one `runs` row, from start to an end that tells the truth: `ok`, `failures`
    (some identifiers failed), `interrupted` or `error` (the run itself died), with the counts as
    committed, whatever happened in memory.

        with Run(store, command, on_outcome) as run:
            run.write(observations)        # one transaction; outcomes reported and counted
        run.result
    """

    def __init__(
        self,
        store: Store,
        command: str,
        on_outcome: Callable[[Outcome], None] | None = None,
        policy: DuePolicy | None = None,
        health: SourceHealth | None = None,
    ) -> None:
        self.store, self.command, self.on_outcome = store, command, on_outcome
        self.policy = policy or DuePolicy()  # when tracked identifiers are next due
        self.health = health or SourceHealth()  # shared with the run's resolver
        self.result = RunResult(run_id=0, status="running")

    def __enter__(self) -> Run:
        self.result.run_id = self.store.runs.start(self.command)
        structlog.contextvars.bind_contextvars(run_id=self.result.run_id)
        log.info("run.started", command=self.command)
        return self

    def write(
        self,
        observations: list[Observation],
        *,
        links_due: bool = False,
        on_written: Callable[[int], None] | None = None,
    ) -> list[Outcome]:
        """Write one batch in one transaction, moving the due times of what it tried that is
        tracked (and, with `links_due`, making the DOIs its records carry due at their agency);
        report, count and return its outcomes. `on_written(done)` follows a big batch."""
        tries = [t for obs in observations for t in tries_of(obs)]
        outcomes = self.store.write_batch(
            self.result.run_id,
            observations,
            tries,
            self.policy,
            links_due=links_due,
            on_written=on_written,
        )
        for outcome in outcomes:
            self.result.counts.add(outcome)
            log_outcome(outcome)
            if self.on_outcome:
                self.on_outcome(outcome)
        log_batch(outcomes)
        return outcomes

    def interrupt(self) -> None:
        """End the run as `interrupted` (a stop request) once the `with` block is left."""
        self.result.status = "interrupted"

    def __exit__(self, exc_type, exc, tb) -> None:
        result = self.result
        if exc_type is not None:
            # KeyboardInterrupt is Ctrl-C or a second SIGTERM; anything else killed the run, which
            # must then not say ok.
            result.status = "interrupted" if issubclass(exc_type, KeyboardInterrupt) else "error"
        result.paused = tuple(sorted(self.health.paused))
        if result.status == "running":
            # A paused source left what it was due for: not a night that went well.
            result.status = "failures" if result.counts.failed or result.paused else "ok"
        self.store.runs.finish(result.run_id, result.status, result.paused)
        result.counts = self.store.runs.counts(result.run_id)
        log.info("run.finished", status=result.status, **vars(result.counts))
        structlog.contextvars.unbind_contextvars("run_id")


class SourceHealth:
    """Crossref's published rule, kept for every source: once more than `max_error_rate` of a
    source's answers in a run are failures (after `min_tries` of them), the source is paused for
    the rest of the run and what it would have been asked is left for the next run."""

    def __init__(self, max_error_rate: float = 0.10, min_tries: int = 20) -> None:
        self.max_error_rate, self.min_tries = max_error_rate, min_tries
        self.tries: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.paused: set[str] = set()
        self._lock = threading.Lock()  # the agencies and OpenAlex report from their own threads

    def record(self, source: str, failed: bool) -> None:
        with self._lock:
            self.tries[source] += 1
            self.failures[source] += failed
            if source in self.paused or self.tries[source] < self.min_tries:
                return
            if self.failures[source] / self.tries[source] <= self.max_error_rate:
                return
            self.paused.add(source)
        log.error(
            "source.paused",
            source=source,
            failed=self.failures[source],
            tried=self.tries[source],
            hint="more than 10% of its answers failed; not asked again in this run, "
            "what it was due for stays due",
        )

    def is_paused(self, source: str) -> bool:
        return source in self.paused


def tries_of(obs: Observation) -> list[Tried]:
    """What an observation says about each due source of its identifier: a DOI's agency (and
    each enrichment, when it answered, or when the agency said the DOI does not exist), a
    handle's RePEc record. A remembered not-found (source "cache") and a user's edit asked
    nothing, so they move nothing."""
    if isinstance(obs, LocalEdit) or obs.source == "cache" or not obs.key:
        return []
    handles = sources.HANDLE_SOURCE.SOURCE
    error = obs.error if isinstance(obs, Failed | NotFound) else None
    if obs.scheme == "repec":
        status = {Failed: "failed", NotFound: "not_found"}.get(type(obs), "ok")
        return [Tried("repec", obs.key, handles, status, handles, error)]
    if obs.scheme != "doi":
        return []
    agencies, enrichments = sources.AGENCY_NAMES, sources.ENRICHMENT_NAMES
    if isinstance(obs, NotFound):
        return [
            Tried("doi", obs.key, "agency", "not_found", obs.source, error),
            *(Tried("doi", obs.key, e, "not_found", obs.source) for e in enrichments),
        ]
    if isinstance(obs, Failed):
        if obs.source not in agencies:
            return []
        return [Tried("doi", obs.key, "agency", "failed", obs.source, error)]
    answers = {a.source: a for a in obs.answers}
    tries = []
    agency = next((a for name, a in answers.items() if name in agencies), None)
    if agency is not None:
        tries.append(Tried("doi", obs.key, "agency", agency.status, agency.source))
    tries.extend(
        Tried("doi", obs.key, e, answers[e].status, e) for e in enrichments if e in answers
    )
    return tries


def canonical_payload(
    payload: dict, volatile: Iterable[str] = (), parser_version: int = 1
) -> tuple[str, str]:
    """The payload as stored (deterministic JSON) and its hash (`payload_hash`)."""
    return canonical_json(payload), payload_hash(payload, volatile, parser_version)


def payload_hash(payload: dict, volatile: Iterable[str] = (), parser_version: int = 1) -> str:
    """What tells one payload of a source from another.

    The hash leaves out what the source re-stamps without the work changing (Crossref's `indexed`
    timestamp, DataCite's view counters; dotted paths reach into nested objects), so a re-indexed
    but otherwise identical record counts as the same payload and is neither stored again nor
    parsed again. The parser version is part of the hash, so that a parser that learnt to read more
    parses every payload again once.
    """
    digest = hashlib.sha256(f"{parser_version}\n".encode())
    digest.update(jsontext.canonical_bytes(_without(payload, volatile)))  # canonical_json's bytes
    return digest.hexdigest()


def _without(payload: dict, paths: Iterable[str]) -> dict:
    """`payload` without the (dotted) `paths`, leaving `payload` itself untouched. Only the
    dicts on a path are copied; everything else is shared (a deep copy of a 12 KB Crossref
    work cost more than the rest of an unchanged harvest together)."""
    paths = list(paths)
    if not paths:
        return payload
    stable = dict(payload)
    for path in paths:
        *parents, last = path.split(".")
        node: Any = stable
        for part in parents:
            child = node.get(part) if isinstance(node, dict) else None
            if not isinstance(child, dict):
                node = None
                break
            node[part] = node = dict(child)  # a copy of this level, put in place of the shared one
        if isinstance(node, dict):
            node.pop(last, None)
    return stable


def unique_dois(dois: Iterable[Doi]) -> Iterator[Doi]:
    """Each DOI once, by its canonical key, in the order first given."""
    seen: set[str] = set()
    for doi in dois:
        if doi.key not in seen:
            seen.add(doi.key)
            yield doi


def answer_of(fetched: Fetched, record: Record | None = None) -> Answer | None:
    """What to keep of one fetch: its payload and hash, "not found", or nothing for a failure
    (a failure says nothing about the work, so the last answer stands). `record`: the payload
    already parsed, kept on the answer for the merge."""
    if fetched.status == "not_found":
        return Answer(fetched.source, fetched.identifier, "not_found")
    if fetched.status != "ok" or fetched.payload is None:
        return None
    source = sources.SOURCES[fetched.source]
    digest = payload_hash(fetched.payload, source.VOLATILE_KEYS, source.PARSER_VERSION)
    # The text is made by the store, and only if this payload is new to it.
    return Answer(
        fetched.source, fetched.identifier, "ok", None, digest, data=fetched.payload, record=record
    )


def merge_work(
    answers: Sequence[Answer | StoredAnswer],
    local: Contribution | None,
    config: Config,
) -> tuple[Any, tuple]:
    """The work as every source's latest answer and the user's own values make it, and the
    conflicts between the sources. Pure apart from parsing the payload texts."""
    records = []
    for answer in answers:
        if answer.status != "ok" or answer.source not in sources.SOURCES:
            continue
        record = getattr(answer, "record", None)  # parsed already: a feed's record
        if record is None and (payload := _payload_of(answer)) is not None:
            record = sources.SOURCES[answer.source].parse(payload)
        if record is not None:
            records.append(record)
    merge = config.merge
    # Each record in column terms once, for the merge and the conflict search alike.
    said = [contribution(r, merge.dates) for r in [*records, *([local] if local else [])]]
    work = build_work(said, merge.precedence, merge.fields, merge.dates)
    notices = notices_of(records)
    if notices:
        work = replace(work, notices=notices)
    # A local value that wins over a source saying otherwise is a conflict too. One source
    # cannot disagree with itself, so the search runs only when two or more said something.
    return work, tuple(find_conflicts(said, merge.dates)) if len(said) > 1 else ()


def _payload_of(answer: Answer | StoredAnswer) -> Any:
    """The payload itself: as this run fetched it, or parsed from its stored text."""
    data = getattr(answer, "data", None)
    if data is not None:
        return data
    return jsontext.loads(answer.payload) if answer.payload else None


#: What a merge needs of stored works: each work's latest answers with their payloads, and the
#: user's own values (by work id).
Stored = tuple[Mapping[int, Mapping[str, StoredAnswer]], Mapping[int, Contribution]]


def unchanged(
    answers: Sequence[Answer], work_id: int | None, before: Mapping[str, StoredAnswer]
) -> bool:
    """Whether every source said of a stored work what it said last time (nothing to merge)."""
    return bool(work_id) and all(
        a.source in before and before[a.source].payload_hash == a.fingerprint for a in answers
    )


def read_stored(store: Store, work_ids: Sequence[int]) -> Stored:
    """What merging these works needs, in two queries for all of them."""
    ids = sorted(set(work_ids))
    if not ids:
        return {}, {}
    return store.works.latest_answers(ids, with_payload=True), store.works.local_values(ids)


def observe_answers(
    store: Store,
    config: Config,
    answers: tuple[Answer, ...],
    *,
    work_id: int | None,
    before: Mapping[str, StoredAnswer],
    source: str,
    key: str,
    display: str,
    scheme: str = "doi",
    aliases: tuple[str, ...] = (),
    links: tuple[tuple[str, str], ...] = (),
    stored: Stored | None = None,
) -> Merged | Unchanged:
    """What this run's answers about one identifier make of its work: unchanged when every
    source said what it said last time (nothing is parsed), else the work merged from these
    answers, the other sources' last ones (those that failed or were not asked this time) and the
    user's own values. `stored` is what `read_stored` read for the chunk at once (else the work
    is read alone)."""
    common = {
        "source": source,
        "key": key,
        "display": display,
        "scheme": scheme,
        "aliases": aliases,
        "links": links,
        "answers": answers,
    }
    if unchanged(answers, work_id, before):
        return Unchanged(**common)
    answered = {a.source for a in answers}
    kept: list[StoredAnswer] = []
    local = None
    if work_id:
        if stored is None:
            stored = read_stored(store, [work_id])
        earlier, locals_ = stored
        kept = [a for name, a in earlier.get(work_id, {}).items() if name not in answered]
        local = locals_.get(work_id)
    work, conflicts = merge_work([*answers, *kept], local, config)
    return Merged(work=work, conflicts=conflicts, **common)


def linked_dois(observations: Iterable[Observation]) -> dict[str, Doi]:
    """The DOIs that the records of these observations carry (their `doi` links), by key: as
    the merged work spells its DOI, else as the record gave its key."""
    found = {}
    for obs in observations:
        if not isinstance(obs, Merged | Unchanged):
            continue
        for scheme, key in obs.links:
            if scheme == "doi":
                value = obs.work.values.get("doi") if isinstance(obs, Merged) else None
                spelled = Doi(value) if isinstance(value, str) else None
                found[key] = spelled if spelled is not None and spelled.key == key else Doi(key)
    return found


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """`items` in lists of `size`, lazily (the last one shorter)."""
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def log_batch(outcomes: Sequence[Outcome]) -> None:
    """One line at info per batch written, with the count of each outcome: under cron the log
    says what each batch did without a line per work (those are at debug, `-v`)."""
    if outcomes:
        counts = Counter(outcome.status for outcome in outcomes)
        log.info("batch.written", works=len(outcomes), **dict(sorted(counts.items())))


def log_outcome(outcome: Outcome) -> None:
    """A line per work: at debug, but a failure at warning, since it is the one to act on."""
    if outcome.status != "failed" and not _debug_logged():
        return  # no event built for a line nobody reads
    event = OUTCOME_STATUSES[outcome.status].event
    details = {
        "identifier": outcome.identifier,
        "source": outcome.source,
        "work_id": outcome.work_id,
        "fields": list(outcome.fields) or None,
        "error": outcome.error,
    }
    level = log.warning if outcome.status == "failed" else log.debug
    level(event, **{k: v for k, v in details.items() if v is not None})
