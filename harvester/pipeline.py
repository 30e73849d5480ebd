"""The orchestrator: every entry point (`harvest doi`, later `harvest run` and the scheduler) calls
`harvest()`. It fetches in batches, parses, merges, and hands each batch to the store as one
transaction; it does no I/O of its own beyond calling the sources and the store.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import structlog

from harvester.config import Config
from harvester.http import HttpClient, RateLimiter, make_session
from harvester.identifiers import Doi
from harvester.merge import build_work
from harvester.models import Fetched
from harvester.sources import crossref
from harvester.store import Observation, Outcome, RunCounts, Store

log = structlog.get_logger(__name__)


@dataclass
class RunResult:
    run_id: int
    status: str  # ok | failures | interrupted | error (as in runs.status)
    counts: RunCounts = field(default_factory=RunCounts)

    @property
    def exit_code(self) -> int:
        """0 when every identifier resolved; 1 when some were not found or failed."""
        return 0 if self.counts.not_found == 0 and self.counts.failed == 0 else 1


def connect(config: Config) -> HttpClient:
    """The one HTTP client of a run: one pooled Session, and a rate limiter per upstream pool that
    starts from the configured limits and then follows what the service announces."""
    client = HttpClient(make_session(config), config.http)
    for pool, limit in config.crossref_limits().items():
        client.add_limiter(f"crossref:{pool}", RateLimiter(f"crossref:{pool}", limit))
    return client


def canonical_payload(
    payload: dict, volatile: Iterable[str] = (), parser_version: int = 1
) -> tuple[str, str]:
    """The payload as stored (deterministic JSON) and its hash.

    The hash leaves out fields the source re-stamps without the work changing (Crossref's `indexed`
    timestamp and query `score`), so a re-indexed but otherwise identical record counts as the same
    payload and is neither stored again nor parsed again. The parser version is part of the hash,
    so that a parser that learnt to read more parses every payload again once.
    """
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    leave_out = set(volatile)
    stable = {k: v for k, v in payload.items() if k not in leave_out}
    stable_text = json.dumps(stable, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(f"{parser_version}\n{stable_text}".encode()).hexdigest()
    return text, digest


def unique_dois(dois: Iterable[Doi]) -> Iterator[Doi]:
    """Each DOI once, by its canonical key, in the order first given."""
    seen: set[str] = set()
    for doi in dois:
        if doi.key not in seen:
            seen.add(doi.key)
            yield doi


def observe(
    fetched: Fetched, display: str, known: dict[str, tuple[str, int | None]]
) -> Observation:
    """Turn one fetch result into what the store writes: parse only payloads not seen before."""
    common = {"source": fetched.source, "key": fetched.identifier, "display": display}
    if fetched.status == "failed":
        return Observation(status="failed", error=fetched.error, **common)
    if fetched.status == "not_found" or fetched.payload is None:
        return Observation(status="not_found", **common)
    text, digest = canonical_payload(
        fetched.payload, crossref.VOLATILE_KEYS, crossref.PARSER_VERSION
    )
    aliases = (
        (fetched.resolved,) if fetched.resolved and fetched.resolved != fetched.identifier else ()
    )
    previous = known.get(fetched.identifier)
    if previous and previous[0] == digest and previous[1] is not None:
        return Observation(status="unchanged", payload=text, payload_hash=digest, **common)
    record = crossref.parse_work(fetched.payload)
    return Observation(
        status="ok",
        work=build_work([record]),
        payload=text,
        payload_hash=digest,
        aliases=aliases,
        **common,
    )


def harvest(
    dois: Iterable[Doi],
    *,
    store: Store,
    client: HttpClient,
    config: Config,
    command: str,
    on_outcome: Callable[[Outcome], None] | None = None,
    stop: threading.Event | None = None,
) -> RunResult:
    """Resolve DOIs at Crossref and store what changed; one `runs` row records the whole run.

    Batches are written as they arrive, each in one transaction, so an interrupted run keeps every
    batch it finished and a rerun does the rest. `stop` (set by SIGTERM or Ctrl-C in the CLI) ends the
    run after the batch in hand.
    """
    run_id = store.start_run(command)
    structlog.contextvars.bind_contextvars(run_id=run_id)
    result = RunResult(run_id=run_id, status="running")
    log.info("run.started", command=command)
    displays: dict[str, str] = {}

    def requested() -> Iterator[Doi]:
        for doi in unique_dois(dois):
            displays[doi.key] = doi.value
            yield doi

    concurrency = config.crossref_limits()["list"].concurrency
    batches = crossref.fetch_works(requested(), client, config.crossref, concurrency)
    try:
        for batch in batches:
            known = store.known_payloads(crossref.SOURCE, [f.identifier for f in batch])
            observations = [
                observe(f, displays.get(f.identifier, f.identifier), known) for f in batch
            ]
            for outcome in store.write_batch(run_id, observations):
                result.counts.add(outcome)
                _log_outcome(outcome)
                if on_outcome:
                    on_outcome(outcome)
            if stop is not None and stop.is_set():
                result.status = "interrupted"
                break
    except KeyboardInterrupt:
        result.status = "interrupted"
        raise
    except BaseException:
        result.status = "error"  # the run record must not say ok when the run died
        raise
    finally:
        if result.status == "running":
            result.status = "failures" if result.counts.failed else "ok"
        # Record the end before waiting for requests still in flight, so that a second signal
        # during that wait cannot leave the run marked as running.
        store.finish_run(run_id, result.status)
        result.counts = store.run_counts(run_id)  # what was committed, not what was counted
        log.info("run.finished", status=result.status, **vars(result.counts))
        structlog.contextvars.unbind_contextvars("run_id")
        batches.close()
    return result


def _log_outcome(outcome: Outcome) -> None:
    event = {
        "created": "work.created",
        "changed": "work.changed",
        "unchanged": "work.unchanged",
        "not_found": "work.not_found",
        "failed": "work.failed",
    }[outcome.status]
    details = {
        "identifier": outcome.identifier,
        "source": outcome.source,
        "work_id": outcome.work_id,
        "fields": list(outcome.fields) or None,
        "error": outcome.error,
    }
    level = log.warning if outcome.status == "failed" else log.info
    level(event, **{k: v for k, v in details.items() if v is not None})
