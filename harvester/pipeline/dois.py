"""Harvesting DOIs: each at the agency that registered it (doi.org/ra says which), then at
OpenAlex, merged with the other sources' last answers and the user's own values.
"""

from __future__ import annotations

import contextvars
import itertools
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog

from harvester import sources
from harvester.config import Config
from harvester.errors import UpstreamError, failure_kind
from harvester.http import ABANDON, HttpClient
from harvester.identifiers import Doi
from harvester.models import Failed, Fetched, Merged, NotFound, Unchanged
from harvester.pipeline.common import (
    Run,
    RunResult,
    SourceHealth,
    Stored,
    answer_of,
    chunks,
    linked_dois,
    observe_answers,
    read_stored,
    unchanged,
    unique_dois,
)
from harvester.sources import routing
from harvester.sources.base import DoiSource
from harvester.sources.routing import RA_BATCH, AgencyCache, fetch_agencies, fetch_agency, prefix_of
from harvester.store import Answer, Observation, Outcome, Store, StoredAnswer

log = structlog.get_logger(__name__)


class _Enrichment:
    """One enrichment source (OpenAlex) for one run: says once what the configuration keeps it
    from doing, and stops asking once the source will not answer again this run (its day's
    allowance gone: the rest of the run keeps each work's last answer from it)."""

    def __init__(
        self, source: DoiSource, client: HttpClient, config: Config, health: SourceHealth
    ) -> None:
        self.source, self.client, self.config, self.health = source, client, config, health
        self.name = source.SOURCE
        #: The error of a DOI the source left unasked for the rest of the run, if it has one.
        self.not_asked = getattr(source, "NOT_ASKED", None)
        self.exhausted = False
        self.checked = False

    def fetch(self, dois: list[Doi]) -> dict[str, Fetched]:
        if self.exhausted or not dois or self.health.is_paused(self.name):
            return {}
        if not self.checked:
            self.checked = True
            preflight = getattr(self.source, "preflight", None)
            if preflight is not None:
                preflight(self.config)
        results = itertools.chain.from_iterable(self.source.fetch(dois, self.client, self.config))
        found = {f.identifier: f for f in results}
        abandon = ABANDON.get()
        if abandon is not None and abandon.is_set():
            return found  # a chunk let go: its failures say nothing of the source
        unasked = False
        for fetched in found.values():
            if self.not_asked and fetched.error == self.not_asked:
                unasked = True
            else:
                self.health.record(self.name, fetched.status == "failed")
        if unasked:
            self.exhausted = True
            log.error(
                f"{self.name}.skipped_for_this_run",
                reason="daily allowance reached",
                hint=f"works keep their last {self.name} data; the next run asks again",
            )
        return found


#: The source of a paused agency's DOIs: they asked nothing, so their due times do not move.
PAUSED = "paused"


def write_linked_dois(
    run: Run, resolver: DoiResolver, observations: list[Observation], chunk_size: int
) -> None:
    """Store these RePEc or OAI records with the DOIs they carry due at their agency (in the
    same transaction), then resolve those DOIs and store their works too: a record and its
    DOI's record become one work in the same run. A DOI whose lookup fails or is killed stays
    due (`linked_dois`), however the record looks to the next run; `resolve_due_links` asks it
    then. DOIs of changed records are asked again; those of unchanged ones only while due."""
    run.write(observations, links_due=True)
    carried = linked_dois(observations)
    merged = {
        key
        for obs in observations
        if isinstance(obs, Merged)
        for scheme, key in obs.links
        if scheme == "doi"
    }
    due = run.store.links.pending(sorted(carried), run.result.run_id)
    asking = [
        Doi(due.get(key, doi.value)) for key, doi in carried.items() if key in merged | set(due)
    ]
    for doi_chunk in chunks(asking, chunk_size):
        run.write(resolver.resolve(doi_chunk, {d.key: d.value for d in doi_chunk}))


def resolve_due_links(
    run: Run,
    resolver: DoiResolver,
    chunk_size: int,
    *,
    by: str | None = None,
    stopping: Callable[[], bool] = lambda: False,
) -> None:
    """Ask the agencies now for the linked DOIs that earlier runs left due (a lookup that failed
    or was killed, behind a record the next listing skips or sees unchanged): every one for a
    harvest a user started (`by` None), those due at `by` for the nightly, which keeps to the
    failure back-off. Each stays due until its agency answers."""
    due = run.store.links.due(run.result.run_id, by)
    if not due:
        return
    log.info("links.due", dois=len(due))
    todo = itertools.takewhile(lambda _: not stopping(), chunks(due, chunk_size))
    work = (([Doi(value) for _, value in c], dict(c), ()) for c in todo)
    for observations in resolver.resolve_chunks(work):
        run.write(observations)


@dataclass
class _Asked:
    """What upstream said about one chunk: the network half of `DoiResolver.resolve`."""

    chunk: list[Doi]  # asked at their agency, then merged with OpenAlex's answer
    refreshing: list[Doi]  # asked of the enrichments alone (only their refresh is due)
    skipped: dict[str, str]  # not found when last asked: not asked again (key -> when)
    by_agency: dict[str, Fetched] = field(default_factory=dict)
    #: Each enrichment's answers (source name -> DOI key -> answer).
    enriched: dict[str, dict[str, Fetched]] = field(default_factory=dict)
    #: Set when the run no longer wants this chunk (it stopped): its requests end at once.
    abandon: threading.Event = field(default_factory=threading.Event)


class DoiResolver:
    """Resolves chunks of DOIs for one run: routing, agency, enrichment, merge.

    Each chunk has a network half (`_ask`: doi.org, the agencies and OpenAlex, on worker
    threads, touching no database) and a store half (`_observe_chunk`: reading what is stored
    and merging, on the caller's thread). `resolve_chunks` runs the network half of the next
    chunk while the caller writes the one before, so the upstream pools never wait for SQLite.
    """

    def __init__(
        self,
        store: Store,
        client: HttpClient,
        config: Config,
        refresh: bool,
        health: SourceHealth | None = None,
    ) -> None:
        self.store, self.client, self.config, self.refresh = store, client, config, refresh
        # A prefix doi.org did not know is not asked about again until the recheck period is
        # over (or --refresh): a registrant may be new since.
        known = store.agencies.known(unknown_since=None if refresh else self._recheck_since())
        if refresh:
            known = {prefix: agency for prefix, agency in known.items() if agency is not None}
        self.agencies = AgencyCache(
            lambda prefix: fetch_agency(prefix, client, config.doi.url), known
        )
        self.kept_agencies: set[str] = set()
        self.health = health or SourceHealth()
        self.enrichments = [
            _Enrichment(source, client, config, self.health) for source in sources.enrichments()
        ]
        # doi.org's /ra look-ups of single prefixes, and the agencies of a chunk but its first,
        # each draining its own source's fetch (each source paces itself through its pools).
        workers = max(config.datacite.concurrency, config.doi.concurrency) + 1
        self.singles = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="singles")
        # Two chunks' network halves at a time, each with the enrichments beside it: while one
        # waits for its last look-ups (the single look-ups of DOIs missing from a list answer),
        # the other's list requests keep Crossref's list pool busy.
        self.ahead = ThreadPoolExecutor(max_workers=2, thread_name_prefix="chunk")
        self.beside = ThreadPoolExecutor(max_workers=2, thread_name_prefix="enrichment")
        self._learning = threading.Lock()  # one /ra look-up of a prefix, whichever chunk meets it
        self._in_flight: set[threading.Event] = set()  # chunks asked and not yet observed
        #: DOIs whose agency answered and an enrichment did not, by enrichment (RunResult's).
        self.not_enriched: Counter[str] = Counter()

    def _recheck_since(self) -> str:
        since = datetime.now(UTC) - timedelta(days=self.config.recheck_not_found_days)
        return since.strftime("%Y-%m-%dT%H:%M:%SZ")

    def close(self) -> None:
        """Let go of the chunks still being asked (a stopped run's look-ahead, or everything on
        a second Ctrl-C): their requests end at once, so closing takes seconds, not the minutes
        their retries could."""
        for event in list(self._in_flight):
            event.set()
        for pool in (self.ahead, self.beside, self.singles):
            pool.shutdown(wait=True, cancel_futures=True)

    def resolve(
        self,
        chunk: list[Doi],
        displays: Mapping[str, str],
        *,
        enrichment_only: Collection[str] = (),
    ) -> list[Observation]:
        """One observation per DOI of `chunk`: its agency's record and OpenAlex's, merged. DOIs
        whose key is in `enrichment_only` (their agency record is not due) are asked of the enrichments
        alone and merged with their stored agency record. A DOI whose agency is paused for this
        run (too many failures) fails with that reason and asks nothing."""
        return self._observe_chunk(self._start(chunk, enrichment_only), displays)

    def resolve_chunks(
        self, chunks: Iterable[tuple[list[Doi], Mapping[str, str], Collection[str]]]
    ) -> Iterator[list[Observation]]:
        """`resolve` for each (chunk, displays, enrichment_only), one chunk ahead: chunk k+1 is
        being asked (side by side with what is left of chunk k) while the caller writes chunk k.
        The next chunk is taken from `chunks` only then, so a lazy source that checks a stop or
        a deadline stops the look-ahead too. A source paused for failing (SourceHealth) is
        therefore asked at most one chunk more than it would be one chunk at a time."""
        pending: tuple[Future[_Asked], Mapping[str, str]] | None = None
        for chunk, displays, enrichment_only in chunks:
            asked = self._start(chunk, enrichment_only)
            if pending is not None:
                yield self._observe_chunk(*pending)
            pending = (asked, displays)
        if pending is not None:
            yield self._observe_chunk(*pending)

    def _start(self, chunk: list[Doi], enrichment_only: Collection[str]) -> Future[_Asked]:
        """Start a chunk's network half on the look-ahead thread (what the store remembers as
        not found is read here, on the caller's thread)."""
        only = set(enrichment_only)
        asked = _Asked(
            chunk=[d for d in chunk if d.key not in only],
            refreshing=[d for d in chunk if d.key in only],
            skipped={},
        )
        asked.skipped = self._recently_not_found(asked.chunk)
        self._in_flight.add(asked.abandon)
        context = contextvars.copy_context()  # the run_id the log lines carry, and...
        context.run(ABANDON.set, asked.abandon)  # ...what lets this chunk's requests go
        return self.ahead.submit(context.run, self._ask, asked)

    def _ask(self, asked: _Asked) -> _Asked:
        """The network half: each DOI at its agency, and at each enrichment. An enrichment that
        batches DOIs whatever their agency (OpenAlex, with an API key or without) is asked at the
        same time as the agencies, and a DOI the agency answered under another DOI (an alias) is
        asked of it afterwards; any other is asked once the agencies have answered, for the DOIs
        found."""
        dois = [d for d in asked.chunk if d.key not in asked.skipped]
        early = {
            e.name: self.beside.submit(self._in_context(e.fetch), dois + asked.refreshing)
            for e in self.enrichments
            if self._asked_early(e)
        }
        self._learn_prefixes(dois)
        asked.by_agency = self._fetch_agencies(self._route(dois))
        if asked.abandon.is_set():  # let go: its failures say nothing of the sources
            return asked
        for fetched in asked.by_agency.values():
            if fetched.source != PAUSED:
                self.health.record(fetched.source, fetched.status == "failed")
        ok = [asked.by_agency[d.key] for d in dois if asked.by_agency[d.key].status == "ok"]
        for enrichment in self.enrichments:
            if enrichment.name not in early:
                wanted = [Doi(f.resolved or f.identifier) for f in ok] + asked.refreshing
                asked.enriched[enrichment.name] = enrichment.fetch(wanted)
                continue
            found = early[enrichment.name].result()
            aliases = [Doi(f.resolved) for f in ok if f.resolved and f.resolved not in found]
            found.update(enrichment.fetch(aliases))
            asked.enriched[enrichment.name] = found
        return asked

    def _asked_early(self, enrichment: _Enrichment) -> bool:
        """Whether an enrichment is asked beside the agencies rather than after them."""
        batches = getattr(enrichment.source, "batches", None)
        return bool(batches and batches(self.config))

    def _observe_chunk(
        self, future: Future[_Asked], displays: Mapping[str, str]
    ) -> list[Observation]:
        """The store half: what each answer makes of its work, against what is stored now."""
        asked = future.result()
        self._in_flight.discard(asked.abandon)
        self.store.agencies.keep(self._newly_learned())
        by_agency, enriched = asked.by_agency, asked.enriched
        resolved = {f.resolved for f in by_agency.values() if f.status == "ok" and f.resolved}
        keys = {d.key for d in asked.chunk + asked.refreshing} | resolved
        work_ids = self.store.works.find_work_ids("doi", sorted(keys))
        stored = self.store.works.latest_answers(sorted(set(work_ids.values())))
        # Each answer hashed once; the works whose sources say something new read in one go.
        answers: dict[str, tuple[Answer, ...]] = {}
        merging: list[int] = []
        for doi in asked.chunk:
            fetched = by_agency.get(doi.key)
            if doi.key in asked.skipped or fetched is None or fetched.status != "ok":
                continue
            key = fetched.resolved or doi.key
            extras = [found[key] for found in enriched.values() if key in found]
            for enrichment in self.enrichments:
                said = enriched.get(enrichment.name, {}).get(key)
                if said is None or said.status == "failed":
                    self.not_enriched[enrichment.name] += 1
            answers[doi.key] = tuple(a for a in map(answer_of, [fetched, *extras]) if a)
            work_id = work_ids.get(key) or work_ids.get(doi.key)
            if work_id and not unchanged(answers[doi.key], work_id, stored.get(work_id, {})):
                merging.append(work_id)
        chunk_stored = read_stored(self.store, merging)
        observations = []
        for doi in asked.chunk:
            display = displays.get(doi.key, doi.value)
            if doi.key in asked.skipped:
                observations.append(self._cached_not_found(doi, display, asked.skipped[doi.key]))
                continue
            observations.append(
                self._observe(
                    doi,
                    display,
                    by_agency[doi.key],
                    answers.get(doi.key, ()),
                    work_ids,
                    stored,
                    chunk_stored,
                )
            )
        for doi in asked.refreshing:
            display = displays.get(doi.key, doi.value)
            observations.append(self._refresh(doi, display, enriched, work_ids, stored))
        return observations

    # --- routing ---

    def _recently_not_found(self, chunk: list[Doi]) -> dict[str, str]:
        if self.refresh or self.config.recheck_not_found_days == 0:
            return {}
        return self.store.agencies.recently_not_found([d.key for d in chunk], self._recheck_since())

    def _learn_prefixes(self, dois: list[Doi]) -> None:
        """Ask doi.org about the chunk's new prefixes in a few comma-list requests instead of
        one each (a fresh database meets dozens of prefixes in its first chunk)."""
        with self._learning:
            unknown = self.agencies.unknown(prefix_of(d) for d in dois)
            if len(unknown) < 2:
                return
            for start in range(0, len(unknown), RA_BATCH):
                group = unknown[start : start + RA_BATCH]
                self.agencies.remember(fetch_agencies(group, self.client, self.config.doi.url))

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
        """Each DOI from its agency's source (Crossref in batches, DataCite and the others one by
        one), every agency of the chunk at the same time."""
        results: dict[str, Fetched] = {}
        by_source: dict[str, tuple[DoiSource, list[Doi]]] = {}
        for doi, agency in routes:
            key = doi.key
            if isinstance(agency, UpstreamError):
                results[key] = Fetched(
                    routing.SOURCE,
                    key,
                    "failed",
                    error=f"cannot tell the agency: {agency}",
                    error_kind=failure_kind(agency),
                )
                continue
            if agency is None:
                results[key] = Fetched(
                    routing.SOURCE,
                    key,
                    "not_found",
                    error=f"doi.org knows no registration agency for {prefix_of(doi)}",
                )
                continue
            source = sources.agency_source(agency)
            if self.health.is_paused(source.SOURCE):
                results[key] = Fetched(
                    PAUSED,
                    key,
                    "failed",
                    error_kind="paused",
                    error=f"{source.SOURCE} is paused for the rest of this run (more than 10% of "
                    "its answers failed); left for the next run",
                )
                continue
            by_source.setdefault(source.SOURCE, (source, []))[1].append(doi)

        def drain(source: DoiSource, dois: list[Doi]) -> list[Fetched]:
            return list(itertools.chain.from_iterable(source.fetch(dois, self.client, self.config)))

        groups = list(by_source.values())
        others = [self.singles.submit(self._in_context(drain), *group) for group in groups[1:]]
        answered = [drain(*groups[0])] if groups else []
        answered += [future.result() for future in others]
        for fetched in itertools.chain.from_iterable(answered):
            results[fetched.identifier] = fetched
        return results

    # --- observing ---

    def _observe(
        self,
        doi: Doi,
        display: str,
        fetched: Fetched,
        answers: tuple[Answer, ...],
        work_ids: Mapping[str, int],
        stored: Mapping[int, Mapping[str, StoredAnswer]],
        chunk_stored: Stored,
    ) -> Observation:
        common = {"source": fetched.source, "key": doi.key, "display": display}
        if fetched.status == "failed":
            return Failed(error=fetched.error, error_kind=fetched.error_kind, **common)
        if fetched.status == "not_found":
            answer = Answer(fetched.source, doi.key, "not_found")
            return NotFound(answers=(answer,), error=fetched.error, **common)

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
            stored=chunk_stored,
            **common,
        )

    def _refresh(
        self,
        doi: Doi,
        display: str,
        enriched: Mapping[str, Mapping[str, Fetched]],
        work_ids: Mapping[str, int],
        stored: Mapping[int, Mapping[str, StoredAnswer]],
    ) -> Observation:
        """The enrichments' records of a stored work, merged with what its other sources said
        last (its agency's record is not due). A work no enrichment was asked about because its
        day's allowance is spent is as stored: unchanged, not a failure, and still due for it
        (it moves no due time), counted in `not_enriched`."""
        name = "+".join(e.name for e in self.enrichments) or "enrichment"
        common = {"source": name, "key": doi.key, "display": display}
        work_id = work_ids.get(doi.key)
        said = [found[doi.key] for found in enriched.values() if doi.key in found]
        answers = tuple(a for a in map(answer_of, said) if a)
        if work_id is not None and not answers and self._left_for_later(doi.key, enriched):
            for enrichment in self.enrichments:
                self.not_enriched[enrichment.name] += 1
            return Unchanged(work_id=work_id, **common)
        if work_id is None or not answers:
            fetched = said[0] if said else None
            reason = (
                "no stored work to enrich"
                if work_id is None
                else (fetched.error if fetched else f"{name} was not asked in this run")
            )
            kind = fetched.error_kind if fetched is not None else None
            return Failed(error=f"{name}: {reason}", error_kind=kind, **common)
        return observe_answers(
            self.store,
            self.config,
            answers,
            work_id=work_id,
            before=stored.get(work_id, {}),
            **common,
        )

    def _left_for_later(self, key: str, enriched: Mapping[str, Mapping[str, Fetched]]) -> bool:
        """Whether every enrichment left this DOI unasked for the rest of the run (its day's
        allowance spent), rather than failing on it."""
        for enrichment in self.enrichments:
            said = enriched.get(enrichment.name, {}).get(key)
            if said is None and not enrichment.exhausted:
                return False
            if said is not None and (
                not enrichment.not_asked or said.error != enrichment.not_asked
            ):
                return False
        return bool(self.enrichments)

    def _cached_not_found(self, doi: Doi, display: str, seen: str) -> NotFound:
        return NotFound(
            source="cache",
            key=doi.key,
            display=display,
            error=f"not found when last asked ({seen}); asked again after "
            f"{self.config.recheck_not_found_days} days, or now with --refresh",
        )


@contextmanager
def resolving_run(
    store: Store,
    client: HttpClient,
    config: Config,
    command: str,
    on_outcome: Callable[[Outcome], None] | None,
    *,
    refresh: bool = False,
) -> Iterator[tuple[Run, DoiResolver]]:
    """A run, and the resolver of the DOIs it meets, sharing one SourceHealth, so that the run
    can name a source paused for failing. The resolver is closed (letting go of what it still
    asks) only after the run has recorded its end, so that a second signal during that wait
    cannot leave the run `running`."""
    health = SourceHealth()
    with (
        closing(DoiResolver(store, client, config, refresh, health)) as resolver,
        Run(store, command, on_outcome, config.watch, health) as run,
    ):
        try:
            yield run, resolver
        finally:
            run.result.not_enriched = dict(resolver.not_enriched)
            if resolver.not_enriched:
                log.warning(
                    "enrichment.left_for_later",
                    dois=dict(resolver.not_enriched),
                    hint="stored from their agency; asked of the enrichment on a later run",
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
    with resolving_run(store, client, config, command, on_outcome, refresh=refresh) as (
        run,
        resolver,
    ):
        todo = chunks(unique_dois(dois), config.chunk_size)
        stopped = (lambda _: True) if stop is None else (lambda _: not stop.is_set())
        work = ((c, {d.key: d.value for d in c}, ()) for c in itertools.takewhile(stopped, todo))
        for observations in resolver.resolve_chunks(work):
            run.write(observations)
            if stop is not None and stop.is_set():
                run.interrupt()
                break
    return run.result
