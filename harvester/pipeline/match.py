"""Finding the DOI of a record that has none (`harvest match`): ask Crossref for candidates, score
them (`harvester.matching`), link what is certain, keep what is doubtful for a person, and harvest
a linked DOI like any other DOI, onto the record's own work.

Linking is two steps, each its own transaction. First the decision is stored: the candidate as
`accepted` in `match_candidates`, the DOI as an identifier of the record's work, and a
`matched_doi` change in its history. Then the DOI is harvested through the one DOI pipeline
(`DoiResolver`), which finds the work by that identifier and merges the agency's record into it:
one work, the record's, never a second one for the DOI. A harvest that fails leaves the link in
place and the work without the agency's values; the next `harvest match` of the work asks the DOI
again (and `harvest doi` lands on the same work too).

Precision comes first (`matching`): a candidate is linked only when it alone clears the accept
threshold; a DOI that already identifies another work, or that another record claimed in this
run, is never linked automatically but kept for review.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field, replace
from typing import Any

import structlog

from harvester.config import Config
from harvester.errors import MatchRefused, UpstreamError, failure_kind
from harvester.http import HttpClient
from harvester.identifiers import Doi, ascii_key, parse_doi
from harvester.matching import Citation, Score, choose, decide, score, surnames
from harvester.models import Failed, Record, Unchanged
from harvester.pipeline.common import Run, RunResult, chunks
from harvester.pipeline.dois import DoiResolver, resolving_run
from harvester.pipeline.local import find_works
from harvester.sources import crossref
from harvester.store import MatchCandidate, MatchLink, Observation, Outcome, Store

log = structlog.get_logger(__name__)

#: Records asked about and stored per transaction. A search is one list request (3/s in the
#: polite pool), so a batch is a few seconds of work: a stopped run loses little.
BATCH = 20
#: The `source` of the outcome a record without a link gets (the run counts it as unchanged).
SOURCE = "match"
#: Who settled a candidate: the thresholds (`match`) or a person (`local`, as for `harvest set`).
AUTOMATIC, BY_HAND = "match", "local"


# --- pure: what to ask, and what to make of the answer ---------------------------------------


def citation_of(work: Mapping[str, Any]) -> Citation | None:
    """What a stored work says about itself, as a citation to find its DOI by; None without a
    title (nothing to search for)."""
    title = " ".join(str(work.get("title") or "").split())
    if not title:
        return None
    subtitle = " ".join(str(work.get("subtitle") or "").split())
    if subtitle and subtitle.casefold() not in title.casefold():
        title = f"{title}: {subtitle}"
    authors = []
    for row in work.get("authors") or []:
        family, given, name = row.get("family"), row.get("given"), row.get("name")
        if family:
            authors.append(f"{family}, {given}" if given else family)
        elif name:
            authors.append(name)
    year = work.get("year")
    return Citation(
        title=title,
        authors=tuple(authors),
        year=year if isinstance(year, int) else None,
        container=work.get("container_title") or None,
    )


def query_text(citation: Citation) -> str:
    """What Crossref's `query.bibliographic` gets: title, first author's surname and container,
    the way a reference reads. The year goes into the date filter instead."""
    first = surnames(citation.authors[:1])
    parts = [citation.title, *first[:1], citation.container or ""]
    return " ".join(" ".join(parts).split())


@dataclass(frozen=True)
class Candidate:
    """A Crossref work scored against a record."""

    record: Record
    score: Score
    decision: str  # matching.decide: accept | review | reject

    @property
    def doi(self) -> str:
        return self.record.doi or ""

    @property
    def reasons(self) -> str:
        """Why, in words a reviewer reads: the agreements, then what bars acceptance."""
        return "; ".join([*self.score.reasons, *(f"veto: {v}" for v in self.score.vetoes)])


@dataclass(frozen=True)
class Assessment:
    """What the candidates of one record come to: `accept` (link `chosen`), `review` (keep
    `kept` for a person) or `reject` (nothing worth keeping)."""

    decision: str
    chosen: Candidate | None = None
    kept: tuple[Candidate, ...] = ()
    asked: int = 0  # candidates Crossref gave (before the ones already rejected were dropped)


def assess(
    citation: Citation,
    records: Sequence[Record],
    *,
    rejected: Collection[str] = (),
    taken: Mapping[str, int] | None = None,
    accept: float,
    review: float,
) -> Assessment:
    """Score every candidate and decide (pure). Candidates a person rejected for this record
    (`rejected`, DOI keys) are never offered again. A DOI that already identifies another work
    (`taken`: DOI key -> work id) gets a veto, so it can reach review but never accept: linking
    it would make one identifier name two works."""
    taken = taken or {}
    seen: set[str] = set()
    candidates: list[Candidate] = []
    for record in records:
        key = ascii_key(record.doi or "")
        if not key or key in seen or key in rejected:
            continue
        seen.add(key)
        s = score(citation, record)
        if key in taken:
            s = replace(s, vetoes=(*s.vetoes, f"DOI already identifies work {taken[key]}"))
        candidates.append(Candidate(record, s, decide(s, accept, review)))
    index, decision = choose([c.score for c in candidates], accept, review)
    if decision == "accept" and index is not None:
        return Assessment("accept", candidates[index], (candidates[index],), len(records))
    kept = tuple(
        sorted(
            (c for c in candidates if c.decision != "reject"),
            key=lambda c: c.score.total,
            reverse=True,
        )
    )
    return Assessment("review" if kept else "reject", None, kept, len(records))


def candidate_row(work_id: int, candidate: Candidate, decision: str) -> MatchCandidate:
    """A candidate as `match_candidates` keeps it, with what a reviewer compares."""
    record = candidate.record
    title = record.title or ""
    if record.subtitle and record.subtitle.casefold() not in title.casefold():
        title = f"{title}: {record.subtitle}"
    issued = record.issued or record.published_print or record.published_online
    names = [a.family or a.name or "" for a in record.authors]
    byline = "; ".join(n for n in names[:3] if n) + ("; ..." if len(names) > 3 else "")
    return MatchCandidate(
        work_id=work_id,
        doi=candidate.doi,
        score=candidate.score.total,
        decision=decision,
        reasons=candidate.reasons,
        title=title or None,
        year=int(issued[:4]) if issued and issued[:4].isdigit() else None,
        authors=byline or None,
        container_title=record.container_title,
    )


# --- what a run reports per record ------------------------------------------------------------


@dataclass(frozen=True)
class MatchResult:
    """How one record fared: `linked` (to `doi`), `review` (`candidates` kept for a person),
    `no_match`, `failed` (the search failed: the record is left as it was, asked again next
    time) or `skipped` (nothing to match: it has a DOI, or no title)."""

    work_id: int
    status: str
    title: str = ""
    doi: str | None = None
    score: float | None = None
    reasons: str = ""
    candidates: tuple[Candidate, ...] = ()
    error: str | None = None
    asked: int = 0  # candidates Crossref gave

    def as_json(self) -> dict[str, Any]:
        return {
            "work_id": self.work_id,
            "status": self.status,
            "title": self.title,
            "doi": self.doi,
            "score": self.score,
            "reasons": self.reasons or None,
            "candidates": [
                {
                    "doi": c.doi,
                    "score": c.score.total,
                    "title": c.record.title,
                    "reasons": c.reasons,
                }
                for c in self.candidates
            ],
            "error": self.error,
        }


@dataclass
class _Plan:
    """One batch, worked out before anything is written."""

    results: list[MatchResult] = field(default_factory=list)
    rows: list[MatchCandidate] = field(default_factory=list)
    links: list[MatchLink] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    harvest: dict[str, Doi] = field(default_factory=dict)  # DOI key -> DOI, to harvest now


# --- the run ------------------------------------------------------------------------------------


def match_works(
    work_ids: Iterable[int],
    *,
    store: Store,
    client: HttpClient,
    config: Config,
    command: str,
    on_outcome: Callable[[Outcome], None] | None = None,
    on_match: Callable[[MatchResult], None] | None = None,
    stop: threading.Event | None = None,
) -> RunResult:
    """Find the DOI of each of these works (ids), as one run: a Crossref candidate search per
    record, scored and decided; candidates for review kept; a certain match linked and its DOI
    harvested onto the record's work. `BATCH` records are stored per transaction, so a stopped
    run keeps every batch it finished.

    The run counts one outcome per record: the DOI harvest of a linked one (`changed`), a failed
    search (`failed`, so the run ends `failures` and the record stays unmatched), and for the
    others `unchanged`. A work that already has an accepted candidate but no DOI yet (its
    harvest failed last time) is not searched again: its DOI is harvested again.
    """
    with (
        resolving_run(store, client, config, command, on_outcome) as (run, resolver),
        closing(_Matcher(store, client, config, resolver)) as matcher,
    ):
        for chunk in chunks(work_ids, max(1, min(BATCH, config.chunk_size))):
            matcher.match(run, chunk, on_match)
            if stop is not None and stop.is_set():
                run.interrupt()
                break
    return run.result


def settle_matches(
    accepts: Sequence[tuple[int, str]],
    rejects: Sequence[tuple[int, str]],
    *,
    store: Store,
    client: HttpClient,
    config: Config,
    command: str,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> RunResult:
    """A person's decisions on candidates, (work id, DOI) each, as one run (one batch: the
    links in one transaction, then the DOIs' harvest in the next): a rejected candidate is never
    offered for that work again; an accepted one is linked and its DOI harvested onto the work,
    exactly as an automatic match (history source `local`). The caller checks first that each
    is a candidate the work may take (`check_decisions`), one per work."""
    with resolving_run(store, client, config, command, on_outcome) as (run, resolver):
        for work_id, doi in rejects:
            store.matches.reject(work_id, doi)
            log.info("match.rejected", work_id=work_id, doi=doi)
        if accepts:
            known = store.matches.candidates(sorted({w for w, _ in accepts}))
            linked = {
                (work_id, ascii_key(row["doi"]))
                for work_id, rows in known.items()
                for row in rows
                if row["decision"] == "accepted"
            }
            # A link made before (whose harvest may have failed) is not made twice: its DOI is
            # only harvested again.
            links = [
                MatchLink(work_id, doi, BY_HAND)
                for work_id, doi in accepts
                if (work_id, ascii_key(doi)) not in linked
            ]
            store.matches.keep(run.result.run_id, [], links)
            for link in links:
                log.info("match.accepted", work_id=link.work_id, doi=link.doi, by="you")
            dois = {ascii_key(doi): Doi(doi) for _, doi in accepts}
            run.write(resolver.resolve(list(dois.values()), {k: d.value for k, d in dois.items()}))
    return run.result


def refusal(store: Store, work_id: int, doi: str, *, accept: bool) -> str | None:
    """Why a person's `--accept`/`--reject` of (work, DOI) cannot be done, or None. Only a DOI
    among the work's candidates can be settled (`harvest match --review` lists them); a DOI that
    identifies another work is never linked; an accepted link is not undone here."""
    work = store.works.get(work_id)
    if work is None:
        return f"no work {work_id} in the database"
    rows = {ascii_key(r["doi"]): r for r in store.matches.candidates([work_id]).get(work_id, [])}
    row = rows.get(ascii_key(doi))
    if row is None:
        listed = ", ".join(r["doi"] for r in rows.values() if r["decision"] == "pending")
        return (
            f"{doi} is not a candidate of work {work_id}"
            + (f" (its candidates: {listed})" if listed else " (it has no pending candidates)")
            + "; to give it a DOI you know: harvest set WORK doi=DOI, then harvest doi DOI"
        )
    if row["decision"] == "accepted":
        return None if accept else f"{doi} is already linked to work {work_id}; it stays linked"
    if accept:
        linked = [r["doi"] for r in rows.values() if r["decision"] == "accepted"]
        if linked:
            return f"work {work_id} is already linked to {linked[0]}; a work has one DOI"
        other = store.works.find_work_id("doi", ascii_key(doi))
        if other is not None and other != work_id:
            return f"{doi} already identifies work {other}; one DOI cannot name two works"
        if work.get("doi") and ascii_key(work["doi"]) != ascii_key(doi):
            return f"work {work_id} has a DOI already ({work['doi']})"
    return None


@dataclass(frozen=True)
class Decisions:
    """A person's `--accept` and `--reject` pairs, checked (`check_decisions`): (work id, DOI)."""

    accepts: list[tuple[int, str]]
    rejects: list[tuple[int, str]]


def check_decisions(
    store: Store,
    accepts: Iterable[tuple[str, str]],
    rejects: Iterable[tuple[str, str]],
) -> Decisions:
    """Every `--accept` and `--reject` (the work as a person names it, the DOI as given) checked
    before anything is written, so that a settlement is done whole or not at all: each must be a
    candidate the work may take or refuse (`refusal`), a work takes one DOI, and no pair is both
    accepted and rejected. The first that fails is a MatchRefused naming it (a work or DOI that
    cannot be read, a BadIdentifier)."""
    checked: dict[str, list[tuple[int, str]]] = {"accept": [], "reject": []}
    for option, pairs in (("accept", accepts), ("reject", rejects)):
        for work_text, doi_text in pairs:
            [work_id] = find_works(store, (work_text,))
            doi = parse_doi(doi_text).value
            why = refusal(store, work_id, doi, accept=option == "accept")
            if why is not None:
                raise MatchRefused(f"--{option} {work_text} {doi_text}: {why}")
            checked[option].append((work_id, doi))
    works = [w for w, _ in checked["accept"]]
    twice = sorted({w for w in works if works.count(w) > 1})
    if twice:
        raise MatchRefused(f"work {twice[0]}: --accept one DOI per work (a work has one DOI)")
    both = {(w, ascii_key(d)) for w, d in checked["accept"]} & {
        (w, ascii_key(d)) for w, d in checked["reject"]
    }
    if both:
        work_id, _ = sorted(both)[0]
        raise MatchRefused(f"work {work_id}: the same DOI given to --accept and --reject")
    return Decisions(checked["accept"], checked["reject"])


def is_doi_harvest(outcome: Outcome) -> bool:
    """Whether an outcome of a match run is the harvest of a linked DOI (news of its own, like
    `harvest doi`'s) rather than the count of a record's search (whose news is its MatchResult)."""
    return outcome.source != SOURCE


class _Paused(UpstreamError):
    """Not asked: Crossref failed too often in this run (SourceHealth), as for DOI look-ups."""


class _Matcher:
    """Searches, decides and stores one batch of records at a time, within a run."""

    def __init__(
        self, store: Store, client: HttpClient, config: Config, resolver: DoiResolver
    ) -> None:
        self.store, self.client, self.config, self.resolver = store, client, config, resolver
        self.base_url = config.crossref.url
        self.claimed: dict[str, int] = {}  # DOI key -> work linked to it in this run
        workers = max(1, config.crossref_limits()["list"].concurrency)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="match")

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def match(
        self,
        run: Run,
        work_ids: list[int],
        on_match: Callable[[MatchResult], None] | None = None,
    ) -> list[MatchResult]:
        """Search, decide and store one batch: the candidates and links in one transaction
        (then each record is reported), then the outcomes and the harvest of the linked DOIs in
        the run's next one."""
        plan = _Plan()
        works = {i: self.store.works.get(i) for i in work_ids}
        known = self.store.matches.candidates(work_ids)
        searches: list[tuple[int, dict, Citation]] = []
        for work_id in work_ids:
            work = works[work_id]
            rows = known.get(work_id, [])
            accepted = next((r for r in rows if r["decision"] == "accepted"), None)
            citation = citation_of(work) if work else None
            if work is None or work.get("doi"):
                why = "not in the database" if work is None else f"has a DOI ({work['doi']})"
                title = (work or {}).get("title") or ""
                plan.results.append(MatchResult(work_id, "skipped", title, error=why))
            elif accepted is not None:
                self._link_again(plan, work, accepted)
            elif citation is None:
                plan.results.append(MatchResult(work_id, "skipped", error="no title to search"))
            else:
                searches.append((work_id, work, citation))

        answers = self._search([(w, c) for w, _, c in searches])
        candidate_keys = sorted(
            {
                ascii_key(r.doi)
                for found in answers.values()
                if isinstance(found, list)
                for r in found
                if r.doi
            }
        )
        identified = self.store.works.find_work_ids("doi", candidate_keys)
        for work_id, work, citation in searches:
            found = answers[work_id]
            if isinstance(found, UpstreamError):
                self._failed(plan, work, found)
                continue
            rejected = {
                ascii_key(r["doi"]) for r in known.get(work_id, []) if r["decision"] == "rejected"
            }
            taken = {k: w for k, w in {**identified, **self.claimed}.items() if w != work_id}
            outcome = assess(
                citation,
                found,
                rejected=rejected,
                taken=taken,
                accept=self.config.match.accept,
                review=self.config.match.review,
            )
            self._decided(plan, work, outcome)

        self.store.matches.keep(run.result.run_id, plan.rows, plan.links)
        order = {work_id: i for i, work_id in enumerate(work_ids)}
        plan.results.sort(key=lambda r: order[r.work_id])
        for result in plan.results:
            if on_match is not None:
                on_match(result)
        if plan.harvest:
            dois = list(plan.harvest.values())
            plan.observations += self.resolver.resolve(dois, {d.key: d.value for d in dois})
        run.write(plan.observations)
        return plan.results

    def _search(self, asked: list[tuple[int, Citation]]) -> dict[int, list[Record] | UpstreamError]:
        """Each record's candidate search, side by side on the list pool's threads (its rate
        limiter decides how many are really in flight). Once Crossref is paused for the run
        (too many failures), the rest are not asked."""
        match_config = self.config.match
        context = contextvars.copy_context()

        def one(item: tuple[int, Citation]) -> list[Record] | UpstreamError:
            work_id, citation = item
            if self.resolver.health.is_paused(crossref.SOURCE):
                return _Paused(
                    "crossref is paused for the rest of this run (more than 10% of its answers "
                    "failed); left for the next run",
                    source=crossref.SOURCE,
                )
            params = crossref.bibliographic_params(
                query_text(citation),
                year=citation.year,
                year_window=match_config.year_window,
                rows=match_config.rows,
            )
            try:
                items = crossref.query_works(
                    self.client, self.base_url, params, identifier=f"work {work_id}"
                )
            except UpstreamError as exc:
                return exc
            return crossref.parse_candidates(items)

        results = list(self.pool.map(lambda item: context.copy().run(one, item), asked))
        found: dict[int, list[Record] | UpstreamError] = {}
        for (work_id, _), result in zip(asked, results, strict=True):
            if not isinstance(result, _Paused):
                self.resolver.health.record(crossref.SOURCE, isinstance(result, UpstreamError))
            found[work_id] = result
        return found

    # --- one record's outcome into the plan ---

    def _decided(self, plan: _Plan, work: dict, outcome: Assessment) -> None:
        work_id, title = work["id"], work.get("title") or ""
        if outcome.decision == "accept" and outcome.chosen is not None:
            chosen = outcome.chosen
            doi = Doi(chosen.doi)
            self.claimed[doi.key] = work_id
            plan.rows.append(candidate_row(work_id, chosen, "accepted"))
            plan.links.append(MatchLink(work_id, chosen.doi, AUTOMATIC))
            plan.harvest[doi.key] = doi
            plan.results.append(
                MatchResult(
                    work_id,
                    "linked",
                    title,
                    doi=chosen.doi,
                    score=chosen.score.total,
                    reasons=chosen.reasons,
                    candidates=(chosen,),
                    asked=outcome.asked,
                )
            )
            log.info("match.linked", work_id=work_id, doi=chosen.doi, score=chosen.score.total)
            return
        plan.rows += [candidate_row(work_id, c, "pending") for c in outcome.kept]
        status = "review" if outcome.kept else "no_match"
        best = outcome.kept[0] if outcome.kept else None
        plan.results.append(
            MatchResult(
                work_id,
                status,
                title,
                doi=best.doi if best else None,
                score=best.score.total if best else None,
                reasons=best.reasons if best else "",
                candidates=outcome.kept,
                asked=outcome.asked,
            )
        )
        plan.observations.append(_unchanged(work_id))
        log.info(f"match.{status}", work_id=work_id, candidates=len(outcome.kept))

    def _link_again(self, plan: _Plan, work: dict, accepted: Mapping[str, Any]) -> None:
        """A link stored by an earlier run whose DOI harvest did not complete: harvest it now."""
        doi = Doi(accepted["doi"])
        plan.harvest[doi.key] = doi
        plan.results.append(
            MatchResult(
                work["id"],
                "linked",
                work.get("title") or "",
                doi=accepted["doi"],
                score=accepted["score"],
                reasons="accepted earlier; its harvest is done now",
            )
        )

    def _failed(self, plan: _Plan, work: dict, exc: UpstreamError) -> None:
        work_id = work["id"]
        kind = "paused" if isinstance(exc, _Paused) else failure_kind(exc)
        plan.results.append(MatchResult(work_id, "failed", work.get("title") or "", error=str(exc)))
        plan.observations.append(
            Failed(
                source=SOURCE,
                key="",
                scheme="work",
                display=f"work {work_id}",
                error=f"crossref search failed: {exc}",
                error_kind=kind,
            )
        )


def _unchanged(work_id: int) -> Unchanged:
    """A record searched for that stays as it was: counted in the run, nothing written."""
    return Unchanged(
        source=SOURCE, key="", scheme="work", display=f"work {work_id}", work_id=work_id
    )
