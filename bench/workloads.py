"""The harvester's side of each workload, run through its own public entry points.

(a) `harvester.pipeline.harvest(dois, ...)` against the simulator, as `harvest doi` calls it.
(b) `store.track(...)`, a database as an earlier nightly left it, then
    `harvester.pipeline.harvest_due(...)` 31 days later (every work due at its agency and at
    OpenAlex) while the simulator's records have moved on one epoch (10% changed).
(c) 50,000 Crossref payloads through the same `harvest(...)`, with only the fetch replaced:
    `RecordedResolver` is the harvester's `DoiResolver` whose `_fetch_agencies` and OpenAlex
    enrichment answer from generated payloads (parsed as the HTTP layer parses them)
    instead of the network. Routing, `answer_of`, `observe_answers` (hash, parse, merge, history),
    `Run.write` and `Store.write_batch` are the harvester's own code, unchanged.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import records

from harvester.config import Config
from harvester.identifiers import Doi, parse_doi
from harvester.models import Fetched
from harvester.pipeline import connect, harvest, harvest_due
from harvester.pipeline import dois as doi_pipeline
from harvester.store import Store, open_store

MAILTO = "bench@example.org"
#: What parses an answer's body: the harvester's own (harvester.jsontext, orjson, since 2 Dec
#: 2026), or json.loads as its HTTP layer used before.
try:
    from harvester.jsontext import loads
except ImportError:  # measuring a commit from before jsontext
    loads = json.loads
OPENALEX_KEY = "bench-key"


def bench_config(
    base_url: str, database: str, chunk_size: int | None = None, **services: dict
) -> Config:
    """The harvester's default configuration, pointed at the simulator: Crossref's polite limits
    (a mailto) and every other rate and concurrency as shipped (OpenAlex 10/s x 3, DataCite 3/s x 2,
    doi.org 5/s x 2); an OpenAlex key (openalex={"api_key": ""}: none, as shipped). `services`
    override one service's settings, e.g. datacite={"rate": 20.0, "concurrency": 4}."""
    base = Config()
    urls = {name: f"{base_url}/{name}" for name in ("crossref", "datacite", "openalex", "doi")}
    changed = {
        name: dataclasses.replace(getattr(base, name), url=urls[name], **services.get(name, {}))
        for name in urls
    }
    key = services.get("openalex", {}).get("api_key", OPENALEX_KEY)  # "": keyless, the default
    changed["openalex"] = dataclasses.replace(changed["openalex"], api_key=key)
    if chunk_size:
        changed["chunk_size"] = chunk_size
    return dataclasses.replace(base, database=database, mailto=MAILTO, log_format="json", **changed)


def db_size(path: str | Path) -> int:
    """Bytes on disk of a closed SQLite database (and its WAL, should one be left)."""
    return sum(
        os.path.getsize(p) for p in (f"{path}", f"{path}-wal", f"{path}-shm") if os.path.exists(p)
    )


def count_works(store: Store) -> int:
    return store.conn.execute("SELECT count(*) FROM works").fetchone()[0]


# --- (a) one-off DOIs ------------------------------------------------------------------------------


def one_off(
    base_url: str,
    dois: Iterable[str],
    database: str,
    chunk_size: int | None = None,
    deadline: float | None = None,
    **services: dict,
) -> dict:
    """`harvest` of `dois` into an empty database; returns the run's counts and timings. With a
    `deadline` (seconds), no DOI is handed on after it (those in flight finish): `asked` says
    how many were, and the rate is asked / wall."""
    config = bench_config(base_url, database, chunk_size, **services)
    store = open_store(database)
    started = time.perf_counter()
    asked = [0]

    def given():
        for d in dois:
            if deadline is not None and time.perf_counter() - started > deadline:
                return
            asked[0] += 1
            yield parse_doi(d)

    result = harvest(
        given(),
        store=store,
        client=connect(config),
        config=config,
        command="bench a",
    )
    wall = time.perf_counter() - started
    works = count_works(store)
    store.close()
    return {
        "wall": wall,
        "asked": asked[0],
        "counts": vars(result.counts),
        "works": works,
        "db_bytes": db_size(database),
    }


# --- (b) the nightly -----------------------------------------------------------------------------------


def part(store: Store, noun: str, old: str, new: str | None = None):
    """A store method by its name since issue 15 (`store.watch.track`) or before it
    (`store.track`): the bench measures commits from both sides of the split."""
    home = getattr(store, noun, None)
    return getattr(home, new or old) if home is not None else getattr(store, old)


def later(days: float) -> callable:
    """A store clock `days` ahead of the real one."""
    return lambda: (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def prepare_tracked(dois: list[str], database: str) -> dict:
    """A database as last night's `harvest run` left it: every DOI tracked and stored from its
    agency and OpenAlex (epoch 0), and each prefix's agency known. Built through the local
    pipeline (no HTTP: 20,000 works at Crossref's limits would take minutes just to set up)."""
    config = bench_config("http://127.0.0.1:9", database)
    store = open_store(database)
    part(store, "agencies", "keep_agencies", "keep")(
        {p: a.lower() for p, a in records.prefixes().items()}
    )
    part(store, "watch", "track")(("doi", parse_doi(d).key, d) for d in dois)
    started = time.perf_counter()
    result = local_harvest(store, config, dois, epoch=0, openalex=True)
    wall = time.perf_counter() - started
    store.close()
    return {"wall": wall, "counts": vars(result.counts), "db_bytes": db_size(database)}


def nightly(
    base_url: str,
    database: str,
    days: float = 31,
    chunk_size: int | None = None,
    **services: dict,
) -> dict:
    """`harvest run`'s engine on a prepared database, `days` later."""
    config = bench_config(base_url, database, chunk_size, **services)
    store = open_store(database, now=later(days))
    due = len(part(store, "watch", "due_items")(store.now()))
    started = time.perf_counter()
    result = harvest_due(store=store, client=connect(config), config=config, command="bench b")
    wall = time.perf_counter() - started
    works = count_works(store)
    store.close()
    return {
        "wall": wall,
        "due": due,
        "counts": vars(result.counts),
        "left_due": result.left_due,
        "works": works,
        "db_bytes": db_size(database),
    }


# --- (c) the local pipeline ---------------------------------------------------------------------------


class RecordedResolver(doi_pipeline.DoiResolver):
    """The harvester's DoiResolver with the network replaced by generated payloads.

    Only what would cross the network is replaced: each agency answer and each OpenAlex answer is
    rendered (time kept apart in `render_seconds`, as it is the bench's cost) and parsed as the
    harvester's HTTP layer parses it (the harvester's cost). Everything after is unchanged.
    """

    epoch = 0
    with_openalex = False
    render_seconds = 0.0

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # One enrichment before issue 15's registry (`enrichment`), a list of them since.
        for enrichment in getattr(self, "enrichments", None) or [self.enrichment]:
            enrichment.fetch = self._openalex  # type: ignore[method-assign]

    def _payload(self, doi: Doi, service: str) -> dict | None:
        started = time.perf_counter()
        text = records.render(doi.value, service, self.epoch)
        type(self).render_seconds += time.perf_counter() - started
        return None if text is None else loads(text)

    def _fetch_agencies(self, routes: list[tuple[Doi, object]]) -> dict[str, Fetched]:
        found = {}
        for doi, agency in routes:
            source = "datacite" if agency == "datacite" else "crossref"
            payload = self._payload(doi, source)
            found[doi.key] = (
                Fetched(source, doi.key, "ok", payload=payload, resolved=doi.key)
                if payload is not None
                else Fetched(source, doi.key, "not_found")
            )
        return found

    def _openalex(self, dois: list[Doi]) -> Mapping[str, Fetched]:
        if not self.with_openalex:
            return {}
        found = {}
        for doi in dois:
            payload = self._payload(doi, "openalex")
            if payload is not None:
                found[doi.key] = Fetched(
                    "openalex", doi.key, "ok", payload=payload, resolved=doi.key
                )
        return found


def local_harvest(store: Store, config: Config, dois: Iterable[str], *, epoch: int, openalex: bool):
    """`harvest(dois)` with RecordedResolver in place of DoiResolver."""
    resolver = type("Resolver", (RecordedResolver,), {"epoch": epoch, "with_openalex": openalex})
    saved = doi_pipeline.DoiResolver
    doi_pipeline.DoiResolver = resolver
    try:
        result = harvest(
            (parse_doi(d) for d in dois),
            store=store,
            client=connect(config),
            config=config,
            command="bench c",
        )
    finally:
        doi_pipeline.DoiResolver = saved
    result.render_seconds = resolver.render_seconds
    return result


def local_pipeline(count: int, database: str) -> dict:
    """Workload (c): `count` Crossref works into an empty database, then the same again."""
    config = bench_config("http://127.0.0.1:9", database)
    store = open_store(database)
    part(store, "agencies", "keep_agencies", "keep")(
        {p: a.lower() for p, a in records.prefixes().items()}
    )
    passes = []
    for name in ("first", "unchanged"):
        dois = (records.make_doi("crossref", n) for n in range(count))
        started, cpu = time.perf_counter(), time.process_time()
        result = local_harvest(store, config, dois, epoch=0, openalex=False)
        wall = time.perf_counter() - started
        passes.append(
            {
                "pass": name,
                "wall": wall,
                "cpu": time.process_time() - cpu,
                "render": result.render_seconds,
                "counts": vars(result.counts),
            }
        )
    works = count_works(store)
    history = store.conn.execute("SELECT count(*) FROM changes").fetchone()[0]
    store.close()
    return {
        "passes": passes,
        "works": works,
        "changes_rows": history,
        "db_bytes": db_size(database),
    }


# --- (c) beside it: a bare Python + SQLite writer of the same payloads ---------------------------

#: The fields the bare writer keeps a history row for, at creation and on change.
BARE_FIELDS = (
    "title", "container", "issued", "type", "publisher", "volume", "issue", "page",
    "authors", "cites", "references", "issn", "language", "url",
)  # fmt: skip


def _bare_fields(message: dict) -> dict[str, str]:
    def first(key: str) -> str:
        value = message.get(key)
        return (value[0] if value else "") if isinstance(value, list) else str(value or "")

    names = [f"{a.get('given', '')} {a.get('family', '')}" for a in message.get("author", [])]
    parts = message.get("issued", {}).get("date-parts", [[None]])[0]
    return {
        "title": first("title"),
        "container": first("container-title"),
        "issued": "-".join(str(p) for p in parts if p),
        "type": first("type"),
        "publisher": first("publisher"),
        "volume": first("volume"),
        "issue": first("issue"),
        "page": first("page"),
        "authors": "; ".join(names),
        "cites": str(message.get("is-referenced-by-count", 0)),
        "references": str(message.get("references-count", 0)),
        "issn": first("ISSN"),
        "language": first("language"),
        "url": first("URL"),
    }


def bare_writer(count: int, database: str, chunk: int = 200) -> dict:
    """What a person writes with the standard library and sqlite3: parse each Crossref payload,
    hash its text, and per chunk one `executemany` per table: works, source_records (the payload
    and its hash) and one history row per field of a new or changed work; an unchanged payload
    (same hash) only gets its `last_seen_at` updated. Rendering is timed apart, as in (c)."""
    import hashlib
    import sqlite3

    conn = sqlite3.connect(database)
    conn.executescript(
        """PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
        CREATE TABLE works (id INTEGER PRIMARY KEY, doi TEXT UNIQUE, title TEXT, authors TEXT,
            issued TEXT, container TEXT, updated_at TEXT);
        CREATE TABLE source_records (work_id INTEGER, source TEXT, payload TEXT, hash TEXT,
            fetched_at TEXT, last_seen_at TEXT, PRIMARY KEY (work_id, source, hash));
        CREATE TABLE changes (id INTEGER PRIMARY KEY, work_id INTEGER, field TEXT, old TEXT,
            new TEXT, at TEXT);
        CREATE INDEX changes_work ON changes (work_id);"""
    )
    passes = []
    for name in ("first", "unchanged"):
        started, cpu, render = time.perf_counter(), time.process_time(), 0.0
        created = unchanged = 0
        for start in range(0, count, chunk):
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            t0 = time.perf_counter()
            texts = [
                (d, records.render(d, "crossref"))
                for d in (
                    records.make_doi("crossref", n) for n in range(start, min(count, start + chunk))
                )
            ]
            render += time.perf_counter() - t0
            parsed = [(d, loads(t)) for d, t in texts]
            hashes = {d: hashlib.sha256(t.encode()).hexdigest() for d, t in texts}
            known = {
                doi: (work_id, digest)
                for doi, work_id, digest in conn.execute(
                    "SELECT w.doi, w.id, s.hash FROM works w JOIN source_records s "
                    f"ON s.work_id = w.id WHERE w.doi IN ({','.join('?' * len(texts))})",
                    [d for d, _ in texts],
                )
            }
            fresh = [(d, m) for d, m in parsed if known.get(d, (0, ""))[1] != hashes[d]]
            same = [d for d, _ in parsed if known.get(d, (0, ""))[1] == hashes[d]]
            with conn:
                conn.executemany(
                    "UPDATE source_records SET last_seen_at = ? "
                    "WHERE work_id = ? AND source = 'crossref' AND hash = ?",
                    [(now, known[d][0], hashes[d]) for d in same],
                )
                rows = [(d, _bare_fields(m)) for d, m in fresh]
                conn.executemany(
                    "INSERT INTO works (doi, title, authors, issued, container, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (doi) DO UPDATE SET "
                    "title=excluded.title, updated_at=excluded.updated_at",
                    [
                        (d, f["title"], f["authors"], f["issued"], f["container"], now)
                        for d, f in rows
                    ],
                )
                ids = dict(
                    conn.execute(
                        f"SELECT doi, id FROM works WHERE doi IN ({','.join('?' * len(rows))})",
                        [d for d, _ in rows],
                    )
                )
                conn.executemany(
                    "INSERT INTO source_records VALUES (?, 'crossref', ?, ?, ?, ?)",
                    [(ids[d], t, hashes[d], now, now) for d, t in texts if d in ids],
                )
                conn.executemany(
                    "INSERT INTO changes (work_id, field, old, new, at) VALUES (?, ?, NULL, ?, ?)",
                    [(ids[d], k, v, now) for d, f in rows for k, v in f.items()],
                )
            created += len(fresh)
            unchanged += len(same)
        passes.append(
            {
                "pass": name,
                "wall": time.perf_counter() - started,
                "cpu": time.process_time() - cpu,
                "render": render,
                "counts": {"created": created, "changed": 0, "unchanged": unchanged},
            }
        )
    conn.close()
    return {"passes": passes, "works": count, "db_bytes": db_size(database)}


# --- RePEc: a series of ReDIF files from a local archive tree ---------------------------------------


def redif_tree(root: Path, count: int, per_file: int = 200) -> int:
    """An archive tree `root/epo/` whose series `papers` holds `count` templates in files of
    `per_file`, made from the recorded templates of epo/papers (2005 and 2016) with new handles.
    Returns the number of templates written."""
    fixtures = records.FIXTURES / "redif"
    blocks = []
    for name in ("epo_papers_2005.rdf", "epo_papers_2016.rdf"):
        text = (fixtures / name).read_text(encoding="utf-8", errors="replace")
        blocks += [b.strip("\n") for b in text.split("\n\n") if "Handle:" in b]
    series = root / "epo" / "papers"
    series.mkdir(parents=True, exist_ok=True)
    (root / "epo" / "eposeri.rdf").write_bytes((fixtures / "epo_eposeri.rdf").read_bytes())
    for f in range(0, count, per_file):
        out = []
        for n in range(f, min(count, f + per_file)):
            block = blocks[n % len(blocks)].splitlines()
            out.append(
                "\n".join(
                    f"Handle: RePEc:epo:papers:b{n}" if line.startswith("Handle:") else line
                    for line in block
                )
            )
        (series / f"bench{f // per_file:05d}.rdf").write_text("\n\n".join(out) + "\n")
    return count


def repec_series(count: int, database: str, root: str) -> dict:
    """`harvest_repec` of the series epo/papers from a local tree of `count` templates, twice
    (first, then unchanged: nothing is read again)."""
    from harvester.pipeline import harvest_repec

    written = redif_tree(Path(root), count)
    base = bench_config("http://127.0.0.1:9", database)
    config = dataclasses.replace(base, repec=dataclasses.replace(base.repec, url=root))
    store = open_store(database)
    passes = []
    for name in ("first", "unchanged"):
        started, cpu = time.perf_counter(), time.process_time()
        result = harvest_repec(
            [], [("epo", "papers")], store=store, client=connect(config), config=config,
            command="bench r",
        )  # fmt: skip
        passes.append(
            {
                "pass": name,
                "wall": time.perf_counter() - started,
                "cpu": time.process_time() - cpu,
                "render": 0.0,
                "counts": vars(result.counts),
            }
        )
    works = count_works(store)
    store.close()
    return {"passes": passes, "works": works, "templates": written, "db_bytes": db_size(database)}


def bare_redif(count: int, database: str, root: str) -> dict:
    """The naive peer: read each file, split templates on blank lines, fields on ": ", store
    each template's text, hash and handle with one executemany per file."""
    import hashlib
    import sqlite3

    redif_tree(Path(root), count)
    conn = sqlite3.connect(database)
    conn.execute("CREATE TABLE t (handle TEXT PRIMARY KEY, hash TEXT, fields TEXT)")
    started, cpu = time.perf_counter(), time.process_time()
    done = 0
    for path in sorted((Path(root) / "epo" / "papers").glob("*.rdf")):
        rows = []
        for block in path.read_text(encoding="utf-8").split("\n\n"):
            fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line[:40])
            if "Handle" in fields:
                text = json.dumps(fields)
                rows.append((fields["Handle"], hashlib.sha256(text.encode()).hexdigest(), text))
        with conn:
            conn.executemany("INSERT OR REPLACE INTO t VALUES (?, ?, ?)", rows)
        done += len(rows)
    passes = [
        {
            "pass": "first",
            "wall": time.perf_counter() - started,
            "cpu": time.process_time() - cpu,
            "render": 0.0,
            "counts": {"created": done, "changed": 0, "unchanged": 0},
        }
    ]
    conn.close()
    return {"passes": passes, "works": done, "db_bytes": db_size(database)}
