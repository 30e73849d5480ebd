"""The orchestrator: every entry point (`harvest doi`, `harvest import`, `harvest set`, later
`harvest run` and the scheduler) calls in here. It routes each DOI to the agency that registered it,
adds what OpenAlex knows, merges that with the user's own values, and hands each chunk to the store
as one transaction; it does no I/O of its own beyond calling the sources and the store.
"""

from __future__ import annotations

import contextvars
import copy
import hashlib
import itertools
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from harvester import redif
from harvester.config import Config
from harvester.errors import NotFound, UpstreamError
from harvester.http import HttpClient, RateLimiter, make_session
from harvester.identifiers import Doi, RepecHandle, ascii_key, parse_doi, parse_repec
from harvester.merge import (
    Contribution,
    Value,
    authors_from_rows,
    authors_json,
    build_work,
    find_conflicts,
)
from harvester.models import Fetched, Record
from harvester.routing import AgencyCache, fetch_agency, prefix_of
from harvester.sources import crossref, datacite, doiorg, openalex, repec
from harvester.store import Answer, Observation, Outcome, RunCounts, Store, StoredAnswer

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class SourceParser:
    """How to read what a source keeps in `source_records`, and what of it to leave out of the hash."""

    parse: Callable[[Mapping[str, Any]], Record]
    volatile: tuple[str, ...]
    version: int


PARSERS: dict[str, SourceParser] = {
    crossref.SOURCE: SourceParser(
        crossref.parse_work, crossref.VOLATILE_KEYS, crossref.PARSER_VERSION
    ),
    datacite.SOURCE: SourceParser(
        datacite.parse_doi_record, datacite.VOLATILE_KEYS, datacite.PARSER_VERSION
    ),
    doiorg.SOURCE: SourceParser(doiorg.parse_csl, doiorg.VOLATILE_KEYS, doiorg.PARSER_VERSION),
    openalex.SOURCE: SourceParser(
        openalex.parse_work, openalex.VOLATILE_KEYS, openalex.PARSER_VERSION
    ),
    redif.SOURCE: SourceParser(redif.record_from_payload, (), redif.PARSER_VERSION),
}


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
    starts from the configured limits (and, for Crossref, then follows what it announces)."""
    client = HttpClient(make_session(config), config.http)
    for pool, limit in config.crossref_limits().items():
        client.add_limiter(f"crossref:{pool}", RateLimiter(f"crossref:{pool}", limit))
    for pool, service in (
        ("datacite:single", config.datacite),
        ("openalex:list", config.openalex),
        ("openalex:single", config.openalex),
        ("doi:ra", config.doi),
        ("doi:csl", config.doi),
        ("repec:files", config.repec),
    ):
        client.add_limiter(pool, RateLimiter(pool, service.limit))
    return client


def canonical_payload(
    payload: dict, volatile: Iterable[str] = (), parser_version: int = 1
) -> tuple[str, str]:
    """The payload as stored (deterministic JSON) and its hash.

    The hash leaves out what the source re-stamps without the work changing (Crossref's `indexed`
    timestamp, DataCite's view counters; dotted paths reach into nested objects), so a re-indexed
    but otherwise identical record counts as the same payload and is neither stored again nor
    parsed again. The parser version is part of the hash, so that a parser that learnt to read more
    parses every payload again once.
    """
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    stable = _without(payload, volatile)
    stable_text = json.dumps(stable, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(f"{parser_version}\n{stable_text}".encode()).hexdigest()
    return text, digest


def _without(payload: dict, paths: Iterable[str]) -> dict:
    paths = list(paths)
    if not paths:
        return payload
    stable = copy.deepcopy(payload)
    for path in paths:
        *parents, last = path.split(".")
        node: Any = stable
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
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


def answer_of(fetched: Fetched) -> Answer | None:
    """What to keep of one fetch: its payload and hash, "not found", or nothing for a failure
    (a failure says nothing about the work, so the last answer stands)."""
    if fetched.status == "not_found":
        return Answer(fetched.source, fetched.identifier, "not_found")
    if fetched.status != "ok" or fetched.payload is None:
        return None
    parser = PARSERS[fetched.source]
    text, digest = canonical_payload(fetched.payload, parser.volatile, parser.version)
    return Answer(fetched.source, fetched.identifier, "ok", text, digest)


def merge_work(
    answers: Sequence[Answer | StoredAnswer],
    local: Contribution | None,
    config: Config,
) -> tuple[Any, tuple]:
    """The work as every source's latest answer and the user's own values make it, and the
    conflicts between the sources. Pure apart from parsing the payload texts."""
    records = [
        PARSERS[a.source].parse(json.loads(a.payload))
        for a in answers
        if a.status == "ok" and a.payload and a.source in PARSERS
    ]
    said: list[Record | Contribution] = [*records, *([local] if local else [])]
    work = build_work(said, config.merge.precedence, config.merge.fields)
    return work, tuple(find_conflicts(records))


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
) -> Observation:
    """What this run's answers about one identifier make of its work: "unchanged" when every
    source said what it said last time (nothing is parsed), else the work merged from these
    answers, the other sources' last ones (those that failed or were not asked this time) and the
    user's own values."""
    common = {
        "source": source,
        "key": key,
        "display": display,
        "scheme": scheme,
        "aliases": aliases,
        "links": links,
        "answers": answers,
    }
    if work_id and all(
        a.source in before and before[a.source].payload_hash == a.fingerprint for a in answers
    ):
        return Observation(status="unchanged", **common)
    answered = {a.source for a in answers}
    kept: list[StoredAnswer] = []
    local = None
    if work_id:
        earlier = store.latest_answers([work_id], with_payload=True).get(work_id, {})
        kept = [a for name, a in earlier.items() if name not in answered]
        local = store.local_values([work_id]).get(work_id)
    work, conflicts = merge_work([*answers, *kept], local, config)
    return Observation(status="ok", work=work, conflicts=conflicts, **common)


class _Enrichment:
    """OpenAlex for one run: says once what it skips, and stops asking once the day's allowance
    is gone (the rest of the run keeps each work's last OpenAlex answer)."""

    def __init__(self, client: HttpClient, config: Config) -> None:
        self.client, self.config = client, config
        self.exhausted = False
        if not config.openalex.api_key:
            log.warning(
                "openalex.no_api_key",
                skipped="batched look-ups",
                hint="set HARVEST_OPENALEX_API_KEY; asking OpenAlex one DOI at a time instead",
            )

    def fetch(self, dois: list[Doi]) -> dict[str, Fetched]:
        if self.exhausted or not dois:
            return {}
        results = itertools.chain.from_iterable(
            openalex.fetch_works(
                dois, self.client, self.config.openalex.url, self.config.openalex.api_key
            )
        )
        found = {f.identifier: f for f in results}
        if any(f.error == openalex.NOT_ASKED for f in found.values()):
            self.exhausted = True
            log.error(
                "openalex.skipped_for_this_run",
                reason="daily allowance reached",
                hint="works keep their last OpenAlex data; the next run asks again",
            )
        return found


class _Resolver:
    """Resolves chunks of DOIs for one run: routing, agency, enrichment, merge."""

    def __init__(self, store: Store, client: HttpClient, config: Config, refresh: bool) -> None:
        self.store, self.client, self.config, self.refresh = store, client, config, refresh
        # A prefix doi.org did not know is not asked about again until the recheck period is
        # over (or --refresh): a registrant may be new since.
        known = store.known_agencies(unknown_since=None if refresh else self._recheck_since())
        if refresh:
            known = {prefix: agency for prefix, agency in known.items() if agency is not None}
        self.agencies = AgencyCache(
            lambda prefix: fetch_agency(prefix, client, config.doi.url), known
        )
        self.kept_agencies: set[str] = set()
        self.enrichment = _Enrichment(client, config)
        workers = max(config.datacite.concurrency, config.doi.concurrency) + 1
        self.singles = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="singles")

    def _recheck_since(self) -> str:
        since = datetime.now(UTC) - timedelta(days=self.config.recheck_not_found_days)
        return since.strftime("%Y-%m-%dT%H:%M:%SZ")

    def close(self) -> None:
        self.singles.shutdown(wait=True, cancel_futures=True)

    def resolve(self, chunk: list[Doi], displays: Mapping[str, str]) -> list[Observation]:
        skipped = self._recently_not_found(chunk)
        asked = [d for d in chunk if d.key not in skipped]
        routes = self._route(asked)
        self.store.keep_agencies(self._newly_learned())

        by_agency = self._fetch_agencies(routes)
        ok = [by_agency[d.key] for d in asked if by_agency[d.key].status == "ok"]
        enriched = self.enrichment.fetch([Doi(f.resolved or f.identifier) for f in ok])

        keys = {d.key for d in chunk} | {f.resolved for f in ok if f.resolved}
        work_ids = self.store.find_work_ids("doi", sorted(keys))
        stored = self.store.latest_answers(sorted(set(work_ids.values())))
        observations = []
        for doi in chunk:
            display = displays.get(doi.key, doi.value)
            if doi.key in skipped:
                observations.append(self._cached_not_found(doi, display, skipped[doi.key]))
                continue
            fetched = by_agency[doi.key]
            extra = enriched.get(fetched.resolved or doi.key) if fetched.status == "ok" else None
            observations.append(self._observe(doi, display, fetched, extra, work_ids, stored))
        return observations

    # --- routing ---

    def _recently_not_found(self, chunk: list[Doi]) -> dict[str, str]:
        if self.refresh or self.config.recheck_not_found_days == 0:
            return {}
        return self.store.recently_not_found([d.key for d in chunk], self._recheck_since())

    def _route(self, dois: list[Doi]) -> list[tuple[Doi, str | UpstreamError | None]]:
        """The agency of each DOI's prefix; new prefixes are asked of doi.org side by side."""

        def agency(doi: Doi) -> str | UpstreamError | None:
            try:
                return self.agencies.agency(doi)
            except UpstreamError as exc:  # doi.org failing: these DOIs fail, the rest go on
                return exc

        return list(zip(dois, self.singles.map(self._in_context(agency), dois), strict=True))

    @staticmethod
    def _in_context(function: Callable) -> Callable:
        """`function` run with this thread's context (the run_id the log lines carry)."""
        context = contextvars.copy_context()
        return lambda *args: context.copy().run(function, *args)

    def _newly_learned(self) -> dict[str, str | None]:
        learned = self.agencies.learned()
        new = {p: a for p, a in learned.items() if p not in self.kept_agencies}
        self.kept_agencies.update(new)
        return new

    # --- fetching ---

    def _fetch_agencies(
        self, routes: list[tuple[Doi, str | UpstreamError | None]]
    ) -> dict[str, Fetched]:
        """Each DOI from its agency: Crossref in batches, DataCite and the other agencies (by
        doi.org content negotiation) one by one on the worker threads, all at the same time."""
        results: dict[str, Fetched] = {}
        to_crossref: list[Doi] = []
        singles = []
        for doi, agency in routes:
            key = doi.key
            if isinstance(agency, UpstreamError):
                results[key] = Fetched(
                    doiorg.SOURCE, key, "failed", error=f"cannot tell the agency: {agency}"
                )
            elif agency is None:
                results[key] = Fetched(
                    doiorg.SOURCE,
                    key,
                    "not_found",
                    error=f"doi.org knows no registration agency for {prefix_of(doi)}",
                )
            elif agency == "crossref":
                to_crossref.append(doi)
            elif agency == "datacite":
                fetch = self._in_context(datacite.fetch_record)
                singles.append(
                    self.singles.submit(fetch, doi, self.client, self.config.datacite.url)
                )
            else:
                fetch = self._in_context(doiorg.fetch_csl)
                singles.append(self.singles.submit(fetch, doi, self.client, self.config.doi.url))
        if to_crossref:
            concurrency = self.config.crossref_limits()["list"].concurrency
            batches = crossref.fetch_works(
                to_crossref, self.client, self.config.crossref, concurrency
            )
            for batch in batches:
                results.update((f.identifier, f) for f in batch)
        for future in singles:
            fetched = future.result()
            results[fetched.identifier] = fetched
        return results

    # --- observing ---

    def _observe(
        self,
        doi: Doi,
        display: str,
        fetched: Fetched,
        extra: Fetched | None,
        work_ids: Mapping[str, int],
        stored: Mapping[int, Mapping[str, StoredAnswer]],
    ) -> Observation:
        common = {"source": fetched.source, "key": doi.key, "display": display}
        if fetched.status == "failed":
            return Observation(status="failed", error=fetched.error, **common)
        if fetched.status == "not_found":
            answer = Answer(fetched.source, doi.key, "not_found")
            return Observation(status="not_found", answers=(answer,), error=fetched.error, **common)

        answers = tuple(a for a in (answer_of(fetched), extra and answer_of(extra)) if a)
        resolved = fetched.resolved or doi.key
        aliases = (resolved,) if resolved != doi.key else ()
        work_id = work_ids.get(resolved) or work_ids.get(doi.key)
        return observe_answers(
            self.store,
            self.config,
            answers,
            work_id=work_id,
            before=stored.get(work_id, {}) if work_id else {},
            aliases=aliases,
            **common,
        )

    def _cached_not_found(self, doi: Doi, display: str, seen: str) -> Observation:
        return Observation(
            source="cache",
            key=doi.key,
            display=display,
            status="not_found",
            error=f"not found when last asked ({seen}); asked again after "
            f"{self.config.recheck_not_found_days} days, or now with --refresh",
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
    refresh: bool = False,
) -> RunResult:
    """Resolve DOIs, each at its registration agency and at OpenAlex, merge, and store what
    changed; one `runs` row records the whole run.

    DOIs go in chunks (`config.chunk_size`), large enough for several Crossref and OpenAlex
    batches to run side by side. Each chunk is written in one transaction as soon as it is
    resolved, so an interrupted run keeps every chunk it finished and a rerun does the rest. `stop` (set by SIGTERM in the CLI) ends the
    run after the chunk in hand. `refresh` asks again about DOIs recently found not to exist.
    """
    run_id = store.start_run(command)
    structlog.contextvars.bind_contextvars(run_id=run_id)
    result = RunResult(run_id=run_id, status="running")
    log.info("run.started", command=command)
    displays: dict[str, str] = {}
    resolver = _Resolver(store, client, config, refresh)
    try:
        for chunk in _chunks(unique_dois(dois), config.chunk_size):
            displays = {d.key: d.value for d in chunk}
            observations = resolver.resolve(chunk, displays)
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
        resolver.close()
    return result


# --- RePEc ---------------------------------------------------------------------------------------


def harvest_repec(
    handles: Iterable[RepecHandle] = (),
    series: Iterable[tuple[str, str]] = (),
    *,
    store: Store,
    client: HttpClient,
    config: Config,
    command: str,
    on_outcome: Callable[[Outcome], None] | None = None,
    stop: threading.Event | None = None,
    tree: repec.ArchiveTree | None = None,
) -> RunResult:
    """Resolve RePEc handles and harvest whole series from the archive tree `[repec] url` names,
    then resolve the DOIs their records carry, so that a work has both identifiers.

    A series harvest reads only the files that changed since the last one (their version, else
    their content hash, says so). A file's works are written before the index records the file
    as read, so a run killed in between reads it again next time rather than losing it.
    """
    tree = tree or repec.open_tree(config.repec.url, client)
    run_id = store.start_run(command)
    structlog.contextvars.bind_contextvars(run_id=run_id)
    result = RunResult(run_id=run_id, status="running")
    log.info("run.started", command=command)
    harvester = _RepecHarvester(tree, store, config)
    linked: dict[str, Doi] = {}

    def write(observations: list[Observation]) -> bool:
        for outcome in store.write_batch(run_id, observations):
            result.counts.add(outcome)
            _log_outcome(outcome)
            if on_outcome:
                on_outcome(outcome)
        return stop is not None and stop.is_set()

    try:
        stopped = False
        for archive, name in series:
            for observations, finish in harvester.series(archive, name):
                stopped = write(observations)
                finish()
                linked.update(harvester.dois_of(observations))
                if stopped:
                    break
            if stopped:
                break
        for chunk in _chunks(handles, config.chunk_size):
            if stopped:
                break
            observations = harvester.handles(chunk)
            stopped = write(observations)
            linked.update(harvester.dois_of(observations))
        if linked and not stopped:
            resolver = _Resolver(store, client, config, refresh=False)
            try:
                for doi_chunk in _chunks(linked.values(), config.chunk_size):
                    displays = {d.key: d.value for d in doi_chunk}
                    if write(resolver.resolve(doi_chunk, displays)):
                        stopped = True
                        break
            finally:
                resolver.close()
        if stopped:
            result.status = "interrupted"
    except KeyboardInterrupt:
        result.status = "interrupted"
        raise
    except BaseException:
        result.status = "error"
        raise
    finally:
        if result.status == "running":
            result.status = "failures" if result.counts.failed else "ok"
        store.finish_run(run_id, result.status)
        result.counts = store.run_counts(run_id)
        log.info("run.finished", status=result.status, **vars(result.counts))
        structlog.contextvars.unbind_contextvars("run_id")
    return result


class _RepecHarvester:
    """Reads archive files into observations; keeps the series names of each archive it saw."""

    def __init__(self, tree: repec.ArchiveTree, store: Store, config: Config) -> None:
        self.tree, self.store, self.config = tree, store, config
        self._series_names: dict[str, dict[str, str]] = {}

    def series(
        self, archive: str, name: str
    ) -> Iterator[tuple[list[Observation], Callable[[], None]]]:
        """For each file of the series that changed: its works, and what to call once they are
        stored (recording the file as read)."""
        for tree_file in self.tree.files(f"{archive}/{name}"):
            version, content_hash = self.store.repec_file(tree_file.path)
            data, new_version = self.tree.read(tree_file.path, version)
            if data is None:
                continue
            digest = hashlib.sha256(data).hexdigest()
            if digest == content_hash:
                self.store.index_repec_file(
                    tree_file.path, version=new_version, content_hash=digest
                )
                continue
            parsed = redif.parse_file(data, tree_file.path)
            observations = self._observe_file(parsed)
            yield observations, lambda p=parsed, v=new_version, d=digest: self._index(p, v, d)

    def handles(self, handles: list[RepecHandle]) -> list[Observation]:
        """One observation per handle: read from the file the index names (the series folder is
        indexed first when the handle is not yet known)."""
        observations = []
        for handle in handles:
            path = self.store.repec_path(handle.key)
            if path is None:
                self._index_folder(f"{handle.archive}/{handle.series}")
                path = self.store.repec_path(handle.key)
            template = self._template(path, handle) if path else None
            if template is None:
                observations.append(self._not_found(handle))
                continue
            observations.append(self._observe_template(template))
        return observations

    def dois_of(self, observations: list[Observation]) -> dict[str, Doi]:
        """The DOIs the RePEc records of these observations carry, to resolve at their agency."""
        found = {}
        for obs in observations:
            for scheme, key in obs.links:
                if scheme == "doi" and obs.status == "ok":
                    value = obs.work.values.get("doi") if obs.work else None
                    found[key] = Doi(value if isinstance(value, str) else key)
        return found

    # --- reading ---

    def _template(self, path: str, handle: RepecHandle) -> redif.Template | None:
        try:
            data, _ = self.tree.read(path)
        except NotFound:
            return None
        parsed = redif.parse_file(data or b"", path)
        self._index(parsed, *self.store.repec_file(path))
        return next((t for t in parsed.templates if ascii_key(t.handle) == handle.key), None)

    def _index_folder(self, folder: str) -> None:
        """Index the handles of a folder's files without counting them as harvested: only a
        series harvest, having stored every work of a file, records the file's version."""
        for tree_file in self.tree.files(folder):
            version, content_hash = self.store.repec_file(tree_file.path)
            data, _ = self.tree.read(tree_file.path, version)
            if data is not None:
                parsed = redif.parse_file(data, tree_file.path)
                self._index(parsed, version, content_hash)

    def _index(self, parsed: redif.RedifFile, version: str | None, digest: str | None) -> None:
        for error in parsed.errors:
            log.warning(
                "repec.template_skipped", file=error.path, line=error.line, reason=error.reason
            )
        self.store.index_repec_file(
            parsed.path,
            version=version,
            content_hash=digest,
            encoding=parsed.encoding,
            handles=[(ascii_key(t.handle), t.handle, t.type, t.line) for t in parsed.templates],
            errors=len(parsed.errors),
        )

    def _names(self, archive: str) -> dict[str, str]:
        """Series names of an archive, from its {archive}seri.rdf (for container titles)."""
        if archive not in self._series_names:
            try:
                data, _ = self.tree.read(f"{archive}/{archive}seri.rdf")
                parsed = redif.parse_file(data or b"", f"{archive}/{archive}seri.rdf")
                self._series_names[archive] = redif.series_names(parsed.templates)
            except NotFound:
                self._series_names[archive] = {}
        return self._series_names[archive]

    # --- observing ---

    def _observe_file(self, parsed: redif.RedifFile) -> list[Observation]:
        return [self._observe_template(t) for t in parsed.templates if t.type in redif.RECORD_TYPES]

    def _observe_template(self, template: redif.Template) -> Observation:
        handle = parse_repec(template.handle)
        series_key = ascii_key(f"RePEc:{handle.archive}:{handle.series}")
        payload = redif.template_payload(
            template, self._names(handle.archive.lower()).get(series_key)
        )
        text, digest = canonical_payload(payload, (), redif.PARSER_VERSION)
        doi = redif.doi_of(template)
        links = (("doi", parse_doi(doi).key),) if doi else ()
        work_id = self.store.find_work_id("repec", handle.key)
        for _, key in links:
            work_id = work_id or self.store.find_work_id("doi", key)
        before = self.store.latest_answers([work_id]).get(work_id, {}) if work_id else {}
        return observe_answers(
            self.store,
            self.config,
            (Answer(redif.SOURCE, handle.key, "ok", text, digest),),
            work_id=work_id,
            before=before,
            source=redif.SOURCE,
            key=handle.key,
            display=handle.value,
            scheme="repec",
            links=links,
        )

    def _not_found(self, handle: RepecHandle) -> Observation:
        return Observation(
            source=redif.SOURCE,
            key=handle.key,
            scheme="repec",
            display=handle.value,
            status="not_found",
            answers=(Answer(redif.SOURCE, handle.key, "not_found"),),
            error=f"no template with this handle in the archive tree ({handle.archive}/{handle.series})",
        )


# --- the user's own values -----------------------------------------------------------------------


def local_observation(
    store: Store,
    config: Config,
    edits: Mapping[str, Value | None],
    *,
    work_id: int | None = None,
    key: str = "",
    scheme: str = "doi",
    display: str = "",
    identifier_value: str = "",
    origin: str = "set",
) -> Observation:
    """The work as it becomes with the user's `edits` (None unsets a field): rebuilt from every
    source's last answer and the user's values, so that an edit wins at once and an unset gives
    the field back to the sources. A work not stored yet is created from the edits alone.
    `authors`, if edited, is JSON text of author rows."""
    stored: Sequence[StoredAnswer] = ()
    current: dict[str, Value] = {}
    if work_id is not None:
        stored = list(store.latest_answers([work_id], with_payload=True).get(work_id, {}).values())
        existing = store.local_values([work_id]).get(work_id)
        if existing:
            current = dict(existing.values)
            if existing.authors:
                current["authors"] = authors_json(existing.authors)
    merged = {k: v for k, v in {**current, **edits}.items() if v is not None}
    authors = merged.pop("authors", None)
    local = Contribution(
        "local", merged, authors_from_rows(json.loads(authors)) if isinstance(authors, str) else ()
    )
    work, conflicts = merge_work(stored, local if merged or local.authors else None, config)
    return Observation(
        source="local",
        key=key,
        scheme=scheme,
        display=display,
        identifier_value=identifier_value,
        status="ok",
        work=work,
        work_id=work_id,
        conflicts=conflicts if stored else None,
        local=dict(edits),
        local_origin=origin,
    )


def edit_work(
    work_id: int,
    edits: Mapping[str, Value | None],
    *,
    store: Store,
    config: Config,
    command: str,
    display: str = "",
) -> Outcome:
    """`harvest set` / `harvest unset`: one run, one transaction, the change history saying
    `local` for every field the edit changed."""
    run_id = store.start_run(command)
    try:
        [outcome] = store.write_batch(
            run_id, [local_observation(store, config, edits, work_id=work_id, display=display)]
        )
    except BaseException:
        store.finish_run(run_id, "error")
        raise
    store.finish_run(run_id, "ok")
    _log_outcome(outcome)
    return outcome


@dataclass
class ImportResult:
    run_id: int
    outcomes: list[Outcome]
    without_identifier: list[Any]  # the LocalRecords that name no DOI or RePEc handle


def import_records(
    records: Sequence[Any], *, store: Store, config: Config, command: str
) -> ImportResult:
    """`harvest import`: the user's own records, matched to stored works by DOI or RePEc handle
    (a record with neither by what it says: see `record_key`), written in one transaction so
    that a file is imported whole or not at all. Records that name the same work are combined,
    later ones winning field by field. A value that only restates what the work holds already
    is not kept as the user's: it would pin the field against the sources' later corrections."""
    combined: dict[tuple[str, str], tuple[Any, str, dict[str, Value | None]]] = {}
    without_identifier = []
    for record in records:
        edits: dict[str, Value | None] = dict(record.values)
        if edits.get("published") == f"{edits.get('year')}":
            # A file's bare year (BibTeX, RIS PY) says no more than `year`: it must not hide a
            # source's full date behind a local "2015".
            del edits["published"]
        if record.authors:
            edits["authors"] = authors_json(record.authors)
        doi, handle = record.values.get("doi"), record.values.get("repec_handle")
        if isinstance(doi, str):
            ident, value = ("doi", parse_doi(doi).key), doi
        elif isinstance(handle, str):
            ident, value = ("repec", parse_repec(handle).key), handle
        else:
            without_identifier.append(record)
            ident, value = ("record", record_key(record)), record.label
        first, first_value, earlier = combined.get(ident, (record, value, {}))
        combined[ident] = (first, first_value, {**earlier, **edits})

    observations = []
    for (scheme, key), (record, value, edits) in combined.items():
        work_id = store.find_work_id(scheme, key)
        if work_id is not None:
            edits = _new_to(store.work(work_id) or {}, edits)
        observations.append(
            local_observation(
                store,
                config,
                edits,
                work_id=work_id,
                key=key,
                scheme=scheme,
                display=record.label,
                identifier_value=value,
                origin="import",
            )
        )
    run_id = store.start_run(command)
    try:
        outcomes = store.write_batch(run_id, observations)
    except BaseException:
        store.finish_run(run_id, "error")
        raise
    store.finish_run(run_id, "ok")
    for outcome in outcomes:
        _log_outcome(outcome)
    return ImportResult(run_id, outcomes, without_identifier)


def record_key(record: Any) -> str:
    """What finds a record without DOI or RePEc handle again when its file is imported again:
    a digest of its title, year and author names (of all its values if it has none of these),
    so that two editorials of one year by different people stay two works."""
    values = record.values
    names = [
        " ".join(p for p in (a.family, a.given, a.name) if p).casefold() for a in record.authors
    ]
    title = " ".join(str(values.get("title") or "").split()).casefold()
    said: Any = [title, values.get("year"), names]
    if not (title or values.get("year") or names):
        said = sorted((k, str(v)) for k, v in values.items())
    text = json.dumps(said, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _new_to(work: Mapping[str, Any], edits: Mapping[str, Value | None]) -> dict[str, Value | None]:
    """The edits that say something the stored work does not: a restated DOI (in any letter
    case), value or author list (by names: files rarely carry ORCIDs and affiliations) is left
    out."""
    new: dict[str, Value | None] = {}
    for name, value in edits.items():
        if name == "authors" and isinstance(value, str):
            if _names(json.loads(value)) == _names(work.get("authors") or []):
                continue
        elif name in ("doi", "repec_handle") and isinstance(value, str):
            if ascii_key(value) == ascii_key(str(work.get(name) or "")):
                continue
        elif work.get(name) == value:
            continue
        new[name] = value
    return new


def _names(rows: Sequence[Mapping[str, Any]]) -> list[tuple]:
    return [(r.get("given"), r.get("family"), r.get("name")) for r in rows]


def _chunks(items: Iterable[Doi], size: int) -> Iterator[list[Doi]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


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
