"""The harvester's figures beside the rate-limit ceiling and beside habanero, pyalex and a plain
`requests` loop, against one local upstream simulator (bench/simulator.py), in one run.

    python bench/run.py                  # every workload at the default scale (a few minutes)
    python bench/run.py --quick          # small counts, under a minute
    python bench/run.py --issue-scale    # the issue's counts: 2,000 / 20,000 / 50,000 (long)
    python bench/run.py --workload c --patched cow,lazy   # before/after of proposed changes
    python bench/run.py --latency 0.3 --item-latency 0.02 # a slower upstream

Workloads: (a) one-off DOIs (5% not found, 5% DataCite), (b) the nightly refresh of tracked works
(10% changed upstream), (c) the local pipeline only (parse, merge, store; then unchanged).
Each client of each workload runs in a fresh child process (`--child`), so its peak RSS is its
own; the simulator counts the requests it was sent and the 429s it answered.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import requests

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

import records  # noqa: E402

# --- scales and limits ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Scale:
    name: str
    a_dois: int  # workload (a): one-off DOIs
    b_works: int  # workload (b): tracked works refreshed by the nightly
    c_works: int  # workload (c): works through the local pipeline
    c_small: int  # (c) again at this size: peak memory must not grow with the count
    peer_sample: int  # DOIs each Crossref peer (one request per DOI) is measured on
    b_small: int = 0  # (b) again at this size, for memory (0: not run)


SCALES = {
    "quick": Scale("quick", a_dois=200, b_works=200, c_works=600, c_small=200, peer_sample=20),
    "default": Scale(
        "default", a_dois=2000, b_works=2000, c_works=5000, c_small=1000, peer_sample=150
    ),
    "issue": Scale(
        "issue",
        a_dois=2000,
        b_works=20000,
        c_works=50000,
        c_small=10000,
        peer_sample=300,
        b_small=5000,
    ),
}

#: What the simulator enforces (bench/simulator.py LIMITS): Crossref's polite pool.
LIST_RATE, SINGLE_RATE, CONCURRENCY, BATCH = 3.0, 10.0, 3, 50
DATACITE_BURST, DATACITE_RATE = 1000, 1000 / 300
OPENALEX_RATE, OPENALEX_BATCH = 100.0, 100
#: The issue's targets (figures, not tests).
TARGET_CEILING, TARGET_PEER_RATIO = 0.70, 10.0
TARGET_C_FIRST, TARGET_C_UNCHANGED = 2000.0, 10000.0
#: The `datacite` experiment: DataCite paced to use its 1,000-per-5-minutes allowance in bursts.
DATACITE_TUNED = {"rate": 20.0, "concurrency": 4}
#: Experiments that are settings a user can make today (the rest are proposed code changes).
CONFIG_EXPERIMENTS = ("datacite", "chunk1000")

# --- the simulator -------------------------------------------------------------------------------


class Upstream:
    """The simulator in its own process (so that its work never shares a GIL with a client)."""

    def __init__(self, latency: float, item_latency: float) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(BENCH / "simulator.py"),
                *("--latency", str(latency), "--item-latency", str(item_latency)),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://"):
            raise RuntimeError("the simulator did not start")

    def control(self, verb: str, **params: Any) -> dict:
        return requests.get(f"{self.url}/_sim/{verb}", params=params, timeout=10).json()

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def simulator_capacity(upstream: Upstream, seconds: float = 2.0) -> dict:
    """The simulator's own ceiling with no limits and no latency, with 4 client threads: single
    works per second and 50-work lists per second (each list renders 50 records)."""
    saved = upstream.control("stats")
    upstream.control("set", limits="off", latency=0, item_latency=0)
    found = {}
    dois = list(records.mix(50, 0, 0))
    for name, url in (
        ("single", f"{upstream.url}/crossref/works/{dois[0]}"),
        (
            "list50",
            f"{upstream.url}/crossref/works?filter="
            + ",".join(f"doi:{d}" for d in dois)
            + "&rows=50",
        ),
    ):
        done = [0]
        stop = time.monotonic() + seconds

        def hammer(url: str = url, stop: float = stop, done: list = done) -> None:
            session = requests.Session()
            while time.monotonic() < stop:
                session.get(url, timeout=10).content  # noqa: B018
                done[0] += 1

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        found[name] = done[0] / seconds
    upstream.control(
        "set", limits="on", latency=saved["latency"], item_latency=saved["item_latency"]
    )
    return found


# --- rows ----------------------------------------------------------------------------------------


@dataclass
class Row:
    workload: str
    client: str
    dois: int  # identifiers (or works, for c) handled
    wall: float  # seconds
    got: int | None = None  # records obtained
    requests: int | None = None
    r429: int | None = None
    ceiling: float | None = None  # DOIs/s the limits allow this way of asking
    rss_mb: float | None = None
    db_kb_per_1k: float | None = None
    rate: float | None = None  # DOIs/s (works/s); default dois / wall
    cpu_rate: float | None = None  # works/s per CPU second (c)
    note: str = ""
    pools: dict = field(default_factory=dict)

    @property
    def per_s(self) -> float:
        return self.rate if self.rate is not None else self.dois / self.wall

    @property
    def per_1k(self) -> float | None:
        return None if self.requests is None else self.requests * 1000 / self.dois

    @property
    def of_ceiling(self) -> float | None:
        return None if not self.ceiling else self.per_s / self.ceiling


def _fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "-"
    return format(value, spec)


def table(rows: list[Row]) -> str:
    head = (
        f"{'wl':<3} {'client':<26} {'DOIs':>6} {'got':>6} {'wall s':>7} {'req':>6} "
        f"{'req/1k':>7} {'429':>4} {'DOIs/s':>8} {'ceiling':>8} {'%ceil':>6} {'RSS MB':>7} "
        f"{'KB/1k w':>8}  note"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        pct = None if r.of_ceiling is None else 100 * r.of_ceiling
        lines.append(
            f"{r.workload:<3} {r.client:<26} {r.dois:>6} {_fmt(r.got):>6} {r.wall:>7.1f} "
            f"{_fmt(r.requests):>6} {_fmt(r.per_1k, '.0f'):>7} {_fmt(r.r429):>4} "
            f"{r.per_s:>8.1f} {_fmt(r.ceiling, '.0f'):>8} {_fmt(pct, '.0f'):>6} "
            f"{_fmt(r.rss_mb, '.0f'):>7} {_fmt(r.db_kb_per_1k, '.0f'):>8}  {r.note}"
        )
    return "\n".join(lines)


# --- ceilings ------------------------------------------------------------------------------------


def list_rate(latency: float, item_latency: float) -> float:
    """Crossref list requests per second the polite pool allows: its rate, or its concurrency
    over one list's latency when answers are slow."""
    seconds = latency + BATCH * item_latency
    return LIST_RATE if seconds <= 0 else min(LIST_RATE, CONCURRENCY / seconds)


def single_rate(latency: float, item_latency: float) -> float:
    seconds = latency + item_latency
    return SINGLE_RATE if seconds <= 0 else min(SINGLE_RATE, CONCURRENCY / seconds)


def harvester_ceiling(total: int, crossref: int, datacite: int, lat: float, ilat: float) -> float:
    """DOIs/s the limits allow a client that batches: Crossref lists of 50 at the list rate, and
    DataCite's single look-ups beyond its 1,000-request allowance at 1,000 per 5 minutes (both
    pools side by side). Bursts are not counted (a bucket's first tokens), so a perfect client
    would score a little over 100%."""
    seconds = max(
        crossref / (BATCH * list_rate(lat, ilat)),
        max(0, datacite - DATACITE_BURST) / DATACITE_RATE,
    )
    return total / seconds


# --- children ------------------------------------------------------------------------------------


def run_child(job: str, spec: dict, env: dict, cwd: str) -> dict:
    """`run.py --child JOB` in a fresh process; its last stdout line is its JSON result."""
    proc = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--child", job, "--spec", json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child {job} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def child_main(job: str, spec: dict) -> None:
    """In the child: quiet JSON logging (as under cron, to /dev/null), the job, its peak RSS."""
    from harvester.log import configure_logging

    configure_logging("json", 0, stream=open(os.devnull, "w"))  # noqa: SIM115
    if spec.get("patched"):
        import experiments

        experiments.apply(spec["patched"])
    started_cpu = time.process_time()
    if spec.get("profile"):
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001)
        with profiler:
            result = JOBS[job](spec)
        Path(spec["profile"] + ".html").write_text(profiler.output_html())
        Path(spec["profile"] + ".txt").write_text(hot_spots(profiler.last_session))
    else:
        result = JOBS[job](spec)
    result["cpu"] = time.process_time() - started_cpu
    result["rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(result))


def hot_spots(session: Any, top: int = 30) -> str:
    """The functions a pyinstrument session spent its time in: inclusive time of the harvester's
    own functions (and json, copy, sqlite), and self time of everything, as % of the run."""
    from collections import Counter

    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()

    def walk(frame: Any, above: frozenset) -> None:
        name = f"{frame.function} ({frame.file_path_short}:{frame.line_no})"
        own[name] += frame.time - sum(child.time for child in frame.children)
        if name not in above:
            inclusive[name] += frame.time
        for child in frame.children:
            walk(child, above | {name})

    root = session.root_frame()
    walk(root, frozenset())
    total = root.time or 1
    keep = ("harvester", "json", "copy.py", "sqlite", "Connection", "structlog")
    lines = [f"{total:.1f} s profiled; inclusive time of the harvester's functions:"]
    lines += [
        f"{100 * t / total:5.1f}%  {name}"
        for name, t in inclusive.most_common()
        if any(k in name for k in keep)
    ][:top]
    lines += ["", "self time, every function:"]
    lines += [f"{100 * t / total:5.1f}%  {name}" for name, t in own.most_common(top // 2)]
    return "\n".join(lines) + "\n"


def _job_one_off(spec: dict) -> dict:
    import workloads

    dois = records.mix(spec["count"], spec["datacite"], spec["missing"])
    return workloads.one_off(
        spec["url"], dois, spec["db"], spec.get("chunk_size"), **spec.get("services", {})
    )


def _job_prepare(spec: dict) -> dict:
    import workloads

    dois = list(records.mix(spec["count"], spec["datacite"], 0))
    return workloads.prepare_tracked(dois, spec["db"])


def _job_nightly(spec: dict) -> dict:
    import workloads

    return workloads.nightly(
        spec["url"], spec["db"], chunk_size=spec.get("chunk_size"), **spec.get("services", {})
    )


def _job_local(spec: dict) -> dict:
    import workloads

    return workloads.local_pipeline(spec["count"], spec["db"])


def _job_peer(spec: dict) -> dict:
    import peers

    dois = list(records.mix(spec["count"], spec["datacite"], spec["missing"]))
    client = {
        "habanero": peers.habanero_works,
        "requests": peers.requests_loop,
        "pyalex": peers.pyalex_works,
    }[spec["peer"]]
    started = time.perf_counter()
    got, not_found, lost = client(spec["url"], dois)
    return {"wall": time.perf_counter() - started, "got": got, "not_found": not_found, "lost": lost}


JOBS = {
    "one-off": _job_one_off,
    "prepare": _job_prepare,
    "nightly": _job_nightly,
    "local": _job_local,
    "peer": _job_peer,
}

# --- the parent: workloads -----------------------------------------------------------------------


@dataclass
class Bench:
    upstream: Upstream | None
    scale: Scale
    env: dict
    work: Path
    latency: float
    item_latency: float
    patched: list[str]
    profile: bool = False
    cli: bool = False
    ablation: bool = False
    timeline: bool = False
    rows: list[Row] = field(default_factory=list)
    timelines: list[tuple[str, list[str]]] = field(default_factory=list)
    #: (label, environment) of an earlier commit measured first, beside the one measured
    before: tuple[str, dict] | None = None

    @property
    def variants(self) -> list[tuple[str, list[str], dict]]:
        """(label, experiments, environment) of each harvester measured: the earlier commit
        (--before), as shipped, then as patched."""
        earlier = [(self.before[0], [], self.before[1])] if self.before else []
        shipped = [("harvester", [], self.env)]
        if self.ablation:  # one experiment more per row, in the order given
            return (
                earlier
                + shipped
                + [
                    (f"harvester +{i + 1} {name}", self.patched[: i + 1], self.env)
                    for i, name in enumerate(self.patched)
                ]
            )
        patched = [("harvester +patches", self.patched, self.env)] if self.patched else []
        return earlier + shipped + patched

    def measured(
        self,
        job: str,
        spec: dict,
        *,
        epoch: int = 0,
        patched: list[str] = (),
        env: dict | None = None,
    ) -> tuple[dict, dict]:
        """Run a child against a freshly reset simulator; (its result, the simulator's stats)."""
        stats: dict = {}
        if self.upstream:
            self.upstream.control("reset")
            self.upstream.control("set", epoch=epoch)
            spec = {"url": self.upstream.url, **spec}
        code = [p for p in patched if p not in CONFIG_EXPERIMENTS]
        if "datacite" in patched:  # configuration changes, not code changes
            spec = {**spec, "services": {"datacite": DATACITE_TUNED}}
        if "chunk1000" in patched:
            spec = {**spec, "chunk_size": 1000}
        if self.profile and job in ("one-off", "nightly", "local"):
            spec = {
                **spec,
                "profile": str(self.work / f"profile-{job}-{'+'.join(patched) or 'shipped'}"),
            }
        result = run_child(job, {"patched": code, **spec}, env or self.env, str(self.work))
        if self.upstream:
            stats = self.upstream.control("stats")
        return result, stats

    def row(self, workload: str, client: str, dois: int, result: dict, stats: dict, **kw) -> Row:
        statuses = stats.get("statuses", {})
        row = Row(
            workload,
            client,
            dois,
            result["wall"],
            requests=sum(stats.get("requests", {}).values()) if stats else None,
            r429=sum(s.get("429", 0) for s in statuses.values()) if stats else None,
            rss_mb=result.get("rss_kb", 0) / 1024 or None,
            pools=stats.get("requests", {}),
            **kw,
        )
        if result.get("works") and result.get("db_bytes"):
            row.db_kb_per_1k = result["db_bytes"] / 1024 / result["works"] * 1000
        self.rows.append(row)
        return row

    def db(self, name: str) -> str:
        return str(self.work / f"{name}.db")

    # (a)
    def one_off(self, with_peers: bool) -> None:
        n = self.scale.a_dois
        mix = {"datacite": 0.05, "missing": 0.05}
        kinds = [records.parse(d).agency for d in records.mix(n, **mix)]
        datacite = kinds.count("datacite")
        ceiling = harvester_ceiling(n, n - datacite, datacite, self.latency, self.item_latency)
        for i, (label, patched, env) in enumerate(self.variants):
            db = self.db(f"a-{i}")
            spec = {"count": n, "db": db, **mix}
            result, stats = self.measured("one-off", spec, patched=patched, env=env)
            if self.timeline and label in (self.variants[0][0], self.variants[-1][0]):
                self.timelines.append(
                    (f"(a) {label}", per_second(self.upstream.control("timeline")))
                )
            got = result["counts"]["created"] + result["counts"]["changed"]
            self.row(
                "a", label, n, result, stats, got=got, ceiling=ceiling, note=_pools_note(stats)
            )
        if self.cli:
            self.cli_one_off(n, mix, ceiling)
        if with_peers:
            self.peers("a", mix, self.scale.peer_sample, all_dois=n)

    def cli_one_off(self, n: int, mix: dict, ceiling: float) -> None:
        """`python -m harvester doi --from-file` end to end, as a user types it (start-up, the
        line printed per DOI, the summary)."""
        listing = self.work / "a-dois.txt"
        listing.write_text("\n".join(records.mix(n, **mix)) + "\n")
        db = self.db("a-cli")
        env = {
            **self.env,
            "HARVEST_DB": db,
            "HARVEST_MAILTO": "bench@example.org",
            "HARVEST_LOG_FORMAT": "json",
            "HARVEST_OPENALEX_API_KEY": "bench-key",
            **{
                f"HARVEST_{s.upper()}_URL": f"{self.upstream.url}/{s}"
                for s in ("crossref", "datacite", "openalex", "doi")
            },
        }
        self.upstream.control("reset")
        self.upstream.control("set", epoch=0)
        started = time.perf_counter()
        with open(self.work / "a-cli.out", "w") as out, open(self.work / "a-cli.err", "w") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "harvester", "doi", "--from-file", str(listing)],
                stdout=out,
                stderr=err,
                env=env,
                cwd=self.work,
            )
            _, _, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        stats = self.upstream.control("stats")
        works = _count_works(db)
        result = {"wall": wall, "rss_kb": usage.ru_maxrss, "works": works, "db_bytes": _size(db)}
        self.row(
            "a",
            "harvester CLI (harvest doi)",
            n,
            result,
            stats,
            got=works,
            ceiling=ceiling,
            note="wall includes start-up",
        )

    def peers(self, workload: str, mix: dict, sample: int, all_dois: int, epoch: int = 0) -> None:
        single = single_rate(self.latency, self.item_latency)
        for peer in ("habanero", "requests"):
            spec = {"peer": peer, "count": sample, **mix}
            result, stats = self.measured("peer", spec, epoch=epoch)
            label = "habanero" if peer == "habanero" else "requests loop"
            # DOIs lost (a swallowed 429) are not counted as done: DOIs/s counts answers only.
            lost = result["lost"]
            note = f"sample of {sample}; lost {lost}" + (" (not in DOIs/s)" if lost else "")
            self.row(
                workload,
                label,
                sample,
                result,
                stats,
                got=result["got"],
                ceiling=single,
                rate=(sample - lost) / result["wall"],
                note=note,
            )
        if workload == "a":
            spec = {"peer": "pyalex", "count": all_dois, **mix}
            result, stats = self.measured("peer", spec, epoch=epoch)
            self.row(
                workload,
                "pyalex (OpenAlex only)",
                all_dois,
                result,
                stats,
                got=result["got"],
                ceiling=OPENALEX_RATE * OPENALEX_BATCH,
                note="batched filter_or, 100 a request",
            )

    # (b)
    def nightly(self, with_peers: bool) -> None:
        for n in [self.scale.b_works] + ([self.scale.b_small] if self.scale.b_small else []):
            self.nightly_at(n, with_peers and n == self.scale.b_works)

    def nightly_at(self, n: int, with_peers: bool) -> None:
        mix = {"datacite": 0.05, "missing": 0.0}
        datacite = sum(1 for d in records.mix(n, **mix) if "bench-dc" in d)
        ceiling = harvester_ceiling(n, n - datacite, datacite, self.latency, self.item_latency)
        for i, (label, patched, env) in enumerate(self.variants):
            db = self.db(f"b-{n}-{i}")
            _copy_db(self.nightly_base(n, env, earlier=label.startswith("harvester at ")), db)
            result, stats = self.measured("nightly", {"db": db}, epoch=1, patched=patched, env=env)
            counts = result["counts"]
            got = counts["created"] + counts["changed"] + counts["unchanged"]
            note = f"{counts['changed']} changed; " + _pools_note(stats)
            self.row("b", label, n, result, stats, got=got, ceiling=ceiling, note=note)
        if with_peers:
            self.peers("b", mix, self.scale.peer_sample // 2, all_dois=n, epoch=1)

    def nightly_base(self, n: int, env: dict, earlier: bool) -> str:
        """The database last night's run left, built once per schema: an earlier commit
        (--before) cannot open a database a later one made."""
        base = self.db(f"b-{n}-base" + ("-before" if earlier else ""))
        if not Path(base).exists():
            spec = {"count": n, "db": base, "datacite": 0.05}
            prepared, _ = self.measured("prepare", spec, env=env)
            print(
                f"  (b) prepared {n} tracked works in {prepared['wall']:.0f} s "
                "(local pipeline, not timed in the table)",
                flush=True,
            )
        return base

    # (c)
    def local(self) -> None:
        sizes = [(self.scale.c_works, *variant) for variant in self.variants]
        sizes.append((self.scale.c_small, "harvester", [], self.env))
        for i, (n, label, patched, env) in enumerate(sizes):
            db = self.db(f"c-{n}-{i}")
            result, _ = self.measured("local", {"count": n, "db": db}, patched=patched, env=env)
            for p in result["passes"]:
                busy = p["wall"] - p["render"]
                self.row(
                    "c",
                    f"{label}, {p['pass']}",
                    n,
                    {**result, "wall": p["wall"]},
                    {},
                    got=p["counts"]["created"] + p["counts"]["changed"] + p["counts"]["unchanged"],
                    rate=n / busy,
                    cpu_rate=n / (p["cpu"] - p["render"]),
                    note=f"{n / (p['cpu'] - p['render']):.0f} works per CPU s; bench's own "
                    f"rendering {p['render']:.1f} s left out; target "
                    f"{TARGET_C_FIRST if p['pass'] == 'first' else TARGET_C_UNCHANGED:,.0f}",
                )


def per_second(timeline: list, seconds: int = 40) -> list[str]:
    """Requests started in each second, by pool, from the simulator's timeline."""
    from collections import Counter

    buckets: dict[int, Counter] = {}
    for start, _end, pool, _status, _items in timeline:
        buckets.setdefault(int(start), Counter())[_SHORT.get(pool, pool)] += 1
    last = min(max(buckets, default=0), seconds)
    return [
        f"{s:4d} s  "
        + ("  ".join(f"{p} {n}" for p, n in sorted(buckets[s].items())) if s in buckets else "-")
        for s in range(last + 1)
    ]


_SHORT = {
    "crossref:polite-list": "cr-list",
    "crossref:polite-single": "cr-single",
    "openalex": "oa",
    "datacite": "dc",
    "doi": "ra",
}


def _pools_note(stats: dict) -> str:
    pools = stats.get("requests", {})
    short = {
        "crossref:polite-list": "cr-list",
        "crossref:polite-single": "cr-single",
        "openalex": "oa",
        "datacite": "dc",
        "doi": "ra",
    }
    return " ".join(f"{short.get(k, k)} {v}" for k, v in sorted(pools.items()) if v)


def _size(db: str) -> int:
    return sum(os.path.getsize(p) for p in (db, f"{db}-wal") if os.path.exists(p))


def _count_works(db: str) -> int:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM works").fetchone()[0]


def _copy_db(source: str, target: str) -> None:
    """A byte copy of a closed database (the base a nightly starts from, reused per client)."""
    import shutil

    for suffix in ("-wal", "-shm", ""):
        if Path(target + suffix).exists():
            Path(target + suffix).unlink()
    shutil.copyfile(source, target)


# --- report --------------------------------------------------------------------------------------


def ratios(rows: list[Row]) -> list[str]:
    """Each harvester variant against the harvester as shipped and against each peer."""
    lines = []
    for ours in (r for r in rows if _is_harvester(r) and r.workload in ("a", "b")):
        sizes = {r.dois for r in rows if r.workload == ours.workload and _is_harvester(r)}
        wl = ours.workload if len(sizes) == 1 else f"{ours.workload}, {ours.dois:,}"
        if ours.client.startswith("harvester at "):
            shipped = _shipped(rows, ours.workload, ours.dois)
            lines.append(
                f"({wl}) harvester / {ours.client}: DOIs/s x{shipped.per_s / ours.per_s:.2f}, "
                f"% of the ceiling {100 * ours.of_ceiling:.0f} -> {100 * shipped.of_ceiling:.0f}"
            )
        elif ours.client != "harvester":
            shipped = _shipped(rows, ours.workload, ours.dois)
            lines.append(
                f"({wl}) {ours.client} / as shipped: DOIs/s x{ours.per_s / shipped.per_s:.2f}"
            )
        peers = (r for r in rows if r.workload == ours.workload and not _is_harvester(r))
        for peer in (p for p in peers if "CLI" not in p.client):
            if peer.client.startswith("pyalex"):
                oa = ours.pools.get("openalex", 0) * 1000 / ours.dois
                lines.append(
                    f"({wl}) {ours.client}: OpenAlex requests per 1,000 DOIs {oa:.0f}, pyalex "
                    f"{peer.per_1k:.0f}; DOIs/s (all sources) / pyalex's (OpenAlex alone) "
                    f"x{ours.per_s / peer.per_s:.2f}"
                )
                continue
            lines.append(
                f"({wl}) {ours.client} / {peer.client}: DOIs/s x{ours.per_s / peer.per_s:.1f}, "
                f"requests per 1,000 DOIs x{ours.per_1k / peer.per_1k:.2f}"
            )
    for row in rows:
        if row.workload == "c" and row.client.startswith(("harvester +", "harvester at ")):
            stage = row.client.rsplit(", ", 1)[1]
            shipped = next(
                r
                for r in rows
                if r.workload == "c" and r.dois == row.dois and r.client == f"harvester, {stage}"
            )
            if row.client.startswith("harvester at "):
                lines.append(
                    f"(c) harvester, {stage} / {row.client}: works/s "
                    f"x{shipped.per_s / row.per_s:.2f} (per CPU s "
                    f"x{shipped.cpu_rate / row.cpu_rate:.2f})"
                )
                continue
            lines.append(
                f"(c) {row.client} / as shipped: works/s x{row.per_s / shipped.per_s:.2f} "
                f"(per CPU s x{row.cpu_rate / shipped.cpu_rate:.2f})"
            )
    return lines


def _is_harvester(row: Row) -> bool:
    return row.client.startswith("harvester") and "CLI" not in row.client


def _shipped(rows: list[Row], workload: str, dois: int) -> Row:
    return next(
        r for r in rows if r.workload == workload and r.client == "harvester" and r.dois == dois
    )


def targets(rows: list[Row]) -> list[str]:
    """The issue's targets, for the harvester as shipped and (when measured) as patched."""
    lines = []

    def verdict(ok: bool) -> str:
        return "met   " if ok else "MISSED"

    def find(wl: str, client: str) -> Row | None:
        return next((r for r in rows if r.workload == wl and r.client == client), None)

    peers = [r for r in rows if r.workload == "a" and r.client in ("habanero", "requests loop")]
    best = max(peers, key=lambda r: r.per_s) if peers else None
    earlier = sorted({r.client.split(",")[0] for r in rows if r.client.startswith("harvester at ")})
    for who in (*earlier, "harvester", "harvester +patches"):
        a, b = find("a", who), find("b", who)
        first, again = find("c", f"{who}, first"), find("c", f"{who}, unchanged")
        if not any((a, b, first)):
            continue
        lines.append(f"{who}:")
        if a is not None:
            lines.append(
                f"  {verdict(a.of_ceiling >= TARGET_CEILING)} (a) >= 70% of the ceiling: "
                f"{100 * a.of_ceiling:.0f}% ({a.per_s:.0f} of {a.ceiling:.0f} DOIs/s)"
            )
            if best is not None:
                ratio = a.per_s / best.per_s
                lines.append(
                    f"  {verdict(ratio >= TARGET_PEER_RATIO)} (a) >= 10x the best Crossref "
                    f"peer: x{ratio:.1f} ({best.client}, {best.per_s:.1f} DOIs/s)"
                )
            lines.append(f"  {verdict(a.r429 == 0)} (a) zero 429s from our own pacing: {a.r429}")
        if b is not None:
            lines.append(
                f"  {verdict(b.of_ceiling >= TARGET_CEILING)} (b) >= 70% of the ceiling (as "
                f"for a): {100 * b.of_ceiling:.0f}% ({b.per_s:.0f} DOIs/s); 429s: {b.r429}"
            )
        if first is not None:
            lines.append(
                f"  {verdict(first.per_s >= TARGET_C_FIRST)} (c) >= 2,000 works/s stored "
                f"with history: {first.per_s:.0f}"
            )
            lines.append(
                f"  {verdict(again.per_s >= TARGET_C_UNCHANGED)} (c) >= 10,000 works/s "
                f"unchanged: {again.per_s:.0f}"
            )
    for wl in ("b", "c"):
        sizes = sorted(
            (r for r in rows if r.workload == wl and r.client in ("harvester", "harvester, first")),
            key=lambda r: r.dois,
        )
        if len(sizes) == 2 and all(r.rss_mb for r in sizes):
            small, big = sizes
            grew = big.rss_mb / small.rss_mb - 1
            lines.append(
                f"{verdict(grew < 0.15)} ({wl}) peak memory flat: {small.rss_mb:.0f} MB at "
                f"{small.dois:,} works, {big.rss_mb:.0f} MB at {big.dois:,} ({100 * grew:+.0f}%)"
            )
    return lines


def child_env(source: Path | None) -> dict:
    """The environment of a measuring child: the harvester from `source` (a snapshot), or from
    the checkout when None, and bench/ for the workloads."""
    paths = [str(source) if source else None, os.environ.get("PYTHONPATH"), str(BENCH)]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


def snapshot(rev: str, work: Path) -> Path:
    """The harvester package as committed at `rev`, unpacked under `work` (read-only for the
    repository: `git archive`), so that figures belong to a commit, not to a working tree that
    others may be editing during the run."""
    target = work / f"harvester-{rev}"
    if not target.exists():
        target.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "archive", rev, "harvester"], cwd=REPO, capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


def machine(rev: str | None = None) -> list[str]:
    def git(*args: str) -> str:
        try:
            out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
            return out.stdout.strip()
        except OSError:
            return "?"

    status = subprocess.run(
        ["git", "status", "--porcelain", "--", "harvester"],
        cwd=REPO,
        capture_output=True,
        text=True,
    ).stdout
    dirty = [line[3:] for line in status.splitlines() if line.strip()]
    load = os.getloadavg()
    where = (
        f"harvester as committed at {rev} (a snapshot: the working tree is not measured)"
        if rev
        else f"harvester at {git('rev-parse', '--short', 'HEAD')}"
        + (f" with uncommitted {', '.join(dirty)}" if dirty else "")
    )
    return [
        f"machine: {platform.uname().system} {platform.uname().release} "
        f"{platform.machine()}, {os.cpu_count()} CPUs, load {load[0]:.1f} {load[1]:.1f}",
        f"python {platform.python_version()}; {where}",
    ]


# --- main ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts, under a minute")
    parser.add_argument("--issue-scale", action="store_true", help="the issue's counts (long)")
    parser.add_argument("--workload", default="a,b,c", help="which of a,b,c (default: all)")
    parser.add_argument("--no-peers", action="store_true", help="the harvester alone")
    parser.add_argument(
        "--cli", action="store_true", help="(a) also through `python -m harvester doi` end to end"
    )
    parser.add_argument("--latency", type=float, default=0.1, help="upstream s per request")
    parser.add_argument("--item-latency", type=float, default=0.01, help="upstream s per record")
    parser.add_argument("--a-dois", type=int, help="override the scale's (a) count")
    parser.add_argument("--b-works", type=int, help="override the scale's (b) count")
    parser.add_argument("--c-works", type=int, help="override the scale's (c) count")
    parser.add_argument(
        "--patched",
        default="",
        help="also measure the harvester with these experiments (bench/experiments.py; "
        "datacite and chunk1000 are settings): a comma list, or all",
    )
    parser.add_argument(
        "--profile", action="store_true", help="run the harvester's children under pyinstrument"
    )
    parser.add_argument(
        "--ablation",
        action="store_true",
        help="with --patched: one row per experiment, each adding one to those before it",
    )
    parser.add_argument(
        "--timeline",
        action="store_true",
        help="(a): print the requests each harvester variant started per second, by pool",
    )
    parser.add_argument(
        "--at",
        metavar="REV",
        help="measure the harvester as committed at REV (git archive into the work folder), "
        "not the checkout's working tree",
    )
    parser.add_argument(
        "--before",
        metavar="REV",
        help="also measure the harvester as committed at REV, first, beside the one measured: "
        "before and after in one run",
    )
    parser.add_argument("--json", help="also write the rows as JSON to this file")
    parser.add_argument("--keep", help="work in this folder and keep it (databases, CLI output)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(args.child, json.loads(args.spec))
        return 0

    scale = SCALES["quick" if args.quick else "issue" if args.issue_scale else "default"]
    for name in ("a_dois", "b_works", "c_works"):
        if getattr(args, name) is not None:
            scale = replace(scale, **{name: getattr(args, name)})
    workloads = [w.strip() for w in args.workload.split(",") if w.strip()]
    import experiments

    every = [*experiments.ALL, *CONFIG_EXPERIMENTS]
    patched = every if args.patched == "all" else [p for p in args.patched.split(",") if p]
    unknown = sorted(set(patched) - set(every))
    if unknown:
        parser.error(f"unknown experiments {unknown}; known: {', '.join(every)}")
    work = Path(args.keep or tempfile.mkdtemp(prefix="harvester-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.at:  # one commit for the whole run, however HEAD moves meanwhile
        args.at = subprocess.run(
            ["git", "rev-parse", "--short", args.at], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
    source = snapshot(args.at, work) if args.at else None
    env = child_env(source)
    before = None
    if args.before:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", args.before], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        if not rev:
            parser.error(f"--before {args.before}: not a commit of this repository")
        before = (f"harvester at {rev}", child_env(snapshot(rev, work)))

    for line in machine(args.at):
        print(line)
    print(
        f"scale {scale.name}: (a) {scale.a_dois} DOIs, (b) {scale.b_works} tracked works, "
        f"(c) {scale.c_works} and {scale.c_small} works; Crossref peers on {scale.peer_sample} "
        f"DOIs; upstream latency {args.latency:g} s + {args.item_latency:g} s per record"
        + (f"; patched: {','.join(patched)}" if patched else ""),
        flush=True,
    )
    upstream = Upstream(args.latency, args.item_latency) if {"a", "b"} & set(workloads) else None
    started = time.perf_counter()
    try:
        if upstream:
            cap = simulator_capacity(upstream, 1.0 if args.quick else 2.0)
            print(
                f"simulator capacity (no limits, no latency, 4 client threads): "
                f"{cap['single']:.0f} single works/s, {cap['list50']:.0f} lists of 50/s "
                f"({cap['list50'] * 50:.0f} records/s); the limits need at most "
                f"{SINGLE_RATE + LIST_RATE:.0f} Crossref requests/s",
                flush=True,
            )
        bench = Bench(
            upstream,
            scale,
            env,
            work,
            args.latency,
            args.item_latency,
            patched,
            profile=args.profile,
            cli=args.cli or args.issue_scale,
            ablation=args.ablation,
            timeline=args.timeline,
            before=before,
        )
        steps = {
            "a": lambda: bench.one_off(not args.no_peers),
            "b": lambda: bench.nightly(not args.no_peers),
            "c": bench.local,
        }
        for wl in workloads:
            print(f"running ({wl}) ...", flush=True)
            steps[wl]()
    finally:
        if upstream:
            upstream.close()
    print()
    print(table(bench.rows))
    print()
    for line in [*ratios(bench.rows), "", *targets(bench.rows)]:
        print(line)
    for label, lines in bench.timelines:
        print(f"\ntimeline of {label}: requests started per second, by pool")
        print("\n".join(lines))
    if args.profile:
        print("\nprofiles (pyinstrument HTML and hot spots):")
        for path in sorted(work.glob("profile-*.txt")):
            print(f"  {path} (.html beside it)")
    print(f"\ntotal {time.perf_counter() - started:.0f} s; work folder {work}")
    if args.json:
        Path(args.json).write_text(
            json.dumps([{**vars(r), "per_s": r.per_s} for r in bench.rows], indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
