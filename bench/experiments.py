"""Proposed harvester changes, applied as monkeypatches so that `run.py --patched NAMES` can show
before and after in one run without editing the harvester (bench/ is all this work may touch).
Each keeps the harvester's results the same: same payload hashes, same rows, same history.

They were written against c7a2ed1 and have all landed in the harvester since (2 Dec 2026: the
token bucket for DataCite, the batched /ra, OpenAlex side by side and beside the agencies, the
look-ahead, the path copy, the lazy payload text, orjson, one index rebuild per byline). Use
them with `--at c7a2ed1` (or another commit from before) to reproduce the ablation; on a later
commit they would patch code that is no longer there. `run.py --before REV` compares commits.

- cow: `common._without` copies only the dicts on a volatile key's path instead of
  `copy.deepcopy`ing the whole payload (the profile's top hot spot: ~45% of an unchanged pass).
- lazy: the stored payload text is serialised only when it is stored (a new payload), not for
  every answer: `answer_of` returns an answer whose `payload` text is made on first use,
  `Store._keep_answer` first tries the UPDATE of an already-kept payload (no text needed), and
  `merge_work` parses the payload dict it already has instead of json.loads of that text.
- fts: one works_fts refresh per work written instead of one per author row (the uncommitted
  m0007 migration's `authors_fts_*` triggers fire for every author row the store inserts or
  deletes). Only takes effect on a database that has those triggers.
- oa-parallel: a chunk's OpenAlex batches in flight side by side (the "openalex:list" limiter
  still paces them: 10/s, 3 at once) instead of one after the other.
- ra-batch: the prefixes of a chunk that doi.org has not been asked about go in one
  `/ra/{p1},{p2},...` request (doi.org answers one entry per name) instead of one each.
- orjson: payloads parsed (the HTTP layer's json.loads) and canonicalised for their hash with
  orjson instead of the standard library; its sorted compact output is byte-identical to
  `json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)` on the whole recorded
  corpus, so stored hashes stay valid (orjson refuses integers beyond 64 bits: then json).
- prefetch: the network half of a chunk (routing, agency, OpenAlex) runs on a worker thread while
  the chunk before it is merged and written on the main thread, so Crossref's pool is not idle
  while the CPU works. The store is touched by the main thread only.
- oa-early (with prefetch): OpenAlex is asked about the chunk's DOIs at the same time as their
  agencies, not after them (the same number of OpenAlex requests: it batches 100 DOIs whatever
  their agency says); a DOI whose agency answers with another DOI (an alias) is asked after.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

ALL = ("cow", "lazy", "fts", "orjson", "oa-parallel", "ra-batch", "prefetch", "oa-early")


def apply(names: Iterable[str]) -> list[str]:
    """Apply the named experiments (in the child that measures; importing this module alone
    does not import the harvester, so the harness can list the names)."""
    global common, Store
    from harvester.pipeline import common
    from harvester.store import Store

    patches = {
        "cow": _cow,
        "lazy": _lazy,
        "fts": _fts,
        "orjson": _orjson,
        "oa-parallel": _oa_parallel,
        "ra-batch": _ra_batch,
        "prefetch": _prefetch,
        "oa-early": _oa_early,
    }
    applied = []
    for name in names:
        patches[name]()
        applied.append(name)
    return applied


# --- cow -------------------------------------------------------------------------------------------


def _without(payload: dict, paths: Iterable[str]) -> dict:
    """`payload` without the (dotted) volatile paths, sharing everything not on a path."""
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
            node[part] = node = dict(child)
        if isinstance(node, dict):
            node.pop(last, None)
    return stable


def _cow() -> None:
    common._without = _without


# --- lazy ------------------------------------------------------------------------------------------


#: The canonical text of a payload (the stored form, and what its hash is taken of).
def canonical(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


class LazyAnswer:
    """An `Answer` whose payload text is serialised on first use; `data` is the payload itself."""

    __slots__ = ("_text", "data", "identifier", "payload_hash", "source", "status")

    def __init__(self, source: str, identifier: str, data: dict, digest: str) -> None:
        self.source, self.identifier, self.status = source, identifier, "ok"
        self.payload_hash, self.data, self._text = digest, data, None

    @property
    def payload(self) -> str:
        if self._text is None:
            self._text = canonical(self.data)
        return self._text

    @property
    def fingerprint(self) -> str:
        return self.payload_hash


def _digest(payload: dict, volatile: Iterable[str], version: int) -> str:
    import hashlib

    stable = common._without(payload, volatile)
    return hashlib.sha256(f"{version}\n{canonical(stable)}".encode()).hexdigest()


def _lazy() -> None:
    original_answer_of = common.answer_of

    def answer_of(fetched):
        if fetched.status != "ok" or fetched.payload is None:
            return original_answer_of(fetched)
        parser = common.PARSERS[fetched.source]
        digest = _digest(fetched.payload, parser.volatile, parser.version)
        return LazyAnswer(fetched.source, fetched.identifier, fetched.payload, digest)

    def merge_work(answers, local, config):
        records = [
            common.PARSERS[a.source].parse(
                a.data if isinstance(a, LazyAnswer) else json.loads(a.payload)
            )
            for a in answers
            if a.status == "ok"
            and (isinstance(a, LazyAnswer) or a.payload)
            and a.source in common.PARSERS
        ]
        said = [*records, *([local] if local else [])]
        work = common.build_work(said, config.merge.precedence, config.merge.fields)
        return work, tuple(common.find_conflicts(records))

    original_keep = Store._keep_answer

    def keep_answer(self: Store, answer, work_id, now) -> None:
        """The upsert's DO UPDATE branch first: a payload kept before needs no text at all."""
        if answer.status == "ok":
            cur = self.conn.execute(
                """UPDATE source_records SET last_seen_at = ?, work_id = coalesce(?, work_id)
                   WHERE source = ? AND identifier = ? AND payload_hash = ?""",
                (now, work_id, answer.source, answer.identifier, answer.fingerprint),
            )
            if cur.rowcount:
                return
        original_keep(self, answer, work_id, now)

    common.answer_of = answer_of
    common.merge_work = merge_work
    Store._keep_answer = keep_answer
    # dois.py imported these names: rebind them there too.
    from harvester.pipeline import dois, nightly

    dois.answer_of = answer_of
    nightly.answer_of = answer_of


# --- fts -------------------------------------------------------------------------------------------

_AUTHOR_TRIGGERS = ("authors_fts_insert", "authors_fts_update", "authors_fts_delete")


def _fts() -> None:
    original = Store._replace_authors

    def replace_authors(self: Store, work_id: int, work) -> None:
        if not _has_author_triggers(self):
            return original(self, work_id, work)
        for name in _AUTHOR_TRIGGERS:
            self.conn.execute(f"DROP TRIGGER IF EXISTS {name}")
        original(self, work_id, work)
        self.conn.execute("DELETE FROM works_fts WHERE rowid = ?", (work_id,))
        self.conn.execute(
            """INSERT INTO works_fts (rowid, title, abstract, authors)
               SELECT w.id, w.title, w.abstract, (SELECT group_concat(author, '; ') FROM (
                   SELECT trim(ifnull(a.given, '') || ' ' || ifnull(a.family, '') || ' '
                               || ifnull(a.name, '')) AS author
                   FROM authors a WHERE a.work_id = w.id AND a.position <= 100
                   ORDER BY a.position))
               FROM works w WHERE w.id = ?""",
            (work_id,),
        )

    Store._replace_authors = replace_authors


def _has_author_triggers(store: Store) -> bool:
    """Whether this database has works_fts (the triggers are dropped on first use, inside the
    write transaction, and the refresh is then done here once per work)."""
    flag = getattr(store, "_bench_fts", None)
    if flag is None:
        flag = bool(
            store.conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'works_fts'"
            ).fetchone()
        )
        object.__setattr__(store, "_bench_fts", flag)
    return flag


# --- oa-parallel -------------------------------------------------------------------------------------


def _oa_parallel() -> None:
    from harvester.sources import openalex

    def fetch_works(dois, client, base_url, api_key=""):
        """openalex.fetch_works with the batches side by side (results in input order)."""
        base_url = base_url.rstrip("/")
        batches = list(openalex.plan_batches(dois, base_url, api_key=api_key))
        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="openalex") as pool:
            futures = [
                pool.submit(openalex.fetch_batch, batch, client, base_url, api_key)
                for batch in batches
            ]
            for batch, future in zip(batches, futures, strict=True):
                try:
                    yield future.result()
                except openalex.DailyLimitReached as exc:
                    yield exc.answered + openalex._not_asked(batch[len(exc.answered) :])

    openalex.fetch_works = fetch_works


# --- prefetch ----------------------------------------------------------------------------------------

#: Whether prefetch asks OpenAlex beside the agencies (the oa-early experiment).
_early = {"on": False}


def _oa_early() -> None:
    _early["on"] = True


#: The chunk after the one being resolved, as the patched `chunks` saw it (one generator at a time).
_upcoming: threading.local = threading.local()


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    """common.chunks, one chunk ahead: while chunk k is handed out, chunk k+1 is known."""
    iterator = iter(items)
    current = list(itertools.islice(iterator, size))
    while current:
        following = list(itertools.islice(iterator, size))
        _upcoming.chunk = following
        yield current
        current = following
    _upcoming.chunk = []


def _prefetch() -> None:
    from harvester.identifiers import Doi, parse_doi
    from harvester.pipeline import dois, nightly
    from harvester.store import DueItem

    resolver = dois.DoiResolver

    def work_of(items: list) -> tuple[list, set] | None:
        """(DOIs, openalex_only) of a chunk as harvest / harvest_due would pass it to resolve."""
        if items and all(isinstance(i, Doi) for i in items):
            return items, set()
        if items and all(isinstance(i, DueItem) and i.scheme == "doi" for i in items):
            return [parse_doi(i.value) for i in items], {
                i.key for i in items if "agency" not in i.sources
            }
        return None

    def network(self, chunk, openalex_only, skipped):
        """The part of resolve that only asks upstream (no store access: worker thread)."""
        refreshing = [d for d in chunk if d.key in openalex_only]
        chunk = [d for d in chunk if d.key not in openalex_only]
        asked = [d for d in chunk if d.key not in skipped]
        early = None
        if _early["on"]:
            if not hasattr(self, "_beside"):
                self._beside = ThreadPoolExecutor(max_workers=1, thread_name_prefix="openalex")
            early = self._beside.submit(self._in_context(self.enrichment.fetch), asked + refreshing)
        routes = self._route(asked)
        by_agency = self._fetch_agencies(routes)
        for fetched in by_agency.values():
            if fetched.source != dois.PAUSED:
                self.health.record(fetched.source, fetched.status == "failed")
        ok = [by_agency[d.key] for d in asked if by_agency[d.key].status == "ok"]
        if early is None:
            enriched = self.enrichment.fetch(
                [Doi(f.resolved or f.identifier) for f in ok] + refreshing
            )
        else:
            enriched = dict(early.result())
            aliases = [Doi(f.resolved) for f in ok if f.resolved and f.resolved not in enriched]
            enriched.update(self.enrichment.fetch(aliases) if aliases else {})
        return chunk, refreshing, by_agency, ok, enriched

    def start(self, chunk, openalex_only) -> Future:
        skipped = self._recently_not_found([d for d in chunk if d.key not in openalex_only])
        if not hasattr(self, "_ahead"):
            self._ahead = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch")
        future = self._ahead.submit(self._in_context(network), self, chunk, openalex_only, skipped)
        future.skipped = skipped
        return future

    def resolve(self, chunk, displays, *, openalex_only=()):
        key = tuple(d.key for d in chunk)
        pending = getattr(self, "_pending", {})
        self._pending = pending
        future = pending.pop(key, None) or start(self, chunk, set(openalex_only))
        upcoming = work_of(getattr(_upcoming, "chunk", []) or [])
        if upcoming is not None:
            following, following_only = upcoming
            pending[tuple(d.key for d in following)] = start(self, following, following_only)
        chunk, refreshing, by_agency, ok, enriched = future.result()
        skipped = future.skipped
        self.store.keep_agencies(self._newly_learned())
        keys = {d.key for d in chunk + refreshing} | {f.resolved for f in ok if f.resolved}
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
        for doi in refreshing:
            display = displays.get(doi.key, doi.value)
            observations.append(self._refresh_openalex(doi, display, enriched, work_ids, stored))
        return observations

    original_close = resolver.close

    def close(self) -> None:
        for pool in ("_ahead", "_beside"):
            if hasattr(self, pool):
                getattr(self, pool).shutdown(wait=True, cancel_futures=True)
        original_close(self)

    resolver.resolve = resolve
    resolver.close = close
    dois.chunks = _chunks
    nightly.chunks = _chunks


# --- ra-batch ----------------------------------------------------------------------------------------


def _ra_batch() -> None:
    from harvester.identifiers import quote_doi
    from harvester.pipeline import dois
    from harvester.sources import routing

    original = dois.DoiResolver._route

    def route(self, asked):
        cache = self.agencies
        with cache._lock:
            unknown = sorted({routing.prefix_of(d) for d in asked} - set(cache._known))
        base = self.config.doi.url.rstrip("/")
        for start in range(0, len(unknown), 50):
            group = unknown[start : start + 50]
            url = f"{base}/ra/{','.join(quote_doi(p) for p in group)}"
            try:
                body = self.client.get_json(url, pool=routing.POOL, source=routing.SOURCE).data
            except Exception:  # the one-by-one look-ups below say what failed
                continue
            with cache._lock:
                for prefix in group:
                    try:
                        agency = routing.parse_agency(body, prefix)
                    except Exception:
                        continue
                    cache._known[prefix] = cache._learned[prefix] = agency
        return original(self, asked)

    dois.DoiResolver._route = route


# --- orjson ------------------------------------------------------------------------------------------


def _orjson() -> None:
    import hashlib

    import orjson

    from harvester import http

    global canonical

    def fast(data: Any) -> str:
        try:
            return orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode()
        except TypeError:  # an integer beyond 64 bits
            return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))

    def canonical_payload(payload, volatile=(), parser_version=1):
        text = fast(payload)
        stable = fast(common._without(payload, volatile))
        return text, hashlib.sha256(f"{parser_version}\n{stable}".encode()).hexdigest()

    canonical = fast
    common.canonical_payload = canonical_payload
    http.json = _OrjsonModule(orjson)  # the HTTP layer's json.loads of every answer
    import workloads

    workloads.loads = orjson.loads  # the bench's stand-in for that HTTP layer


class _OrjsonModule:
    """`json` as harvester.http uses it (loads), backed by orjson."""

    def __init__(self, orjson: Any) -> None:
        self.loads = orjson.loads
        self.dumps = json.dumps
