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
    k_dois: tuple[int, ...] = (400, 2000)  # (k): keyless one-off DOIs
    k_deadline: float = 60.0  # (k): no DOI handed on after this many seconds (a rate, not a wall)
    r_templates: int = 20000  # (r): RePEc templates of one series
    c_memory: tuple[int, ...] = ()  # (c) harvester first pass only, for memory at these sizes


SCALES = {
    "quick": Scale(
        "quick",
        a_dois=600,
        b_works=400,
        c_works=3000,
        c_small=1000,
        peer_sample=20,
        k_dois=(400,),
        k_deadline=15.0,
        r_templates=2000,
    ),
    "default": Scale(
        "default",
        a_dois=2000,
        b_works=2000,
        c_works=50000,
        c_small=10000,
        peer_sample=150,
        k_deadline=30.0,
    ),
    "issue": Scale(
        "issue",
        a_dois=2000,
        b_works=20000,
        c_works=50000,
        c_small=10000,
        peer_sample=300,
        b_small=5000,
        k_deadline=600.0,
        r_templates=50000,
        c_memory=(1000, 100000),
    ),
}

#: What the simulator enforces (bench/simulator.py LIMITS): Crossref's polite pool.
LIST_RATE, SINGLE_RATE, CONCURRENCY, BATCH = 3.0, 10.0, 3, 100
DATACITE_BURST, DATACITE_RATE = 1000, 1000 / 300
OPENALEX_RATE, OPENALEX_BATCH = 100.0, 100
#: Issue 19's targets (figures, not tests).
TARGET_CEILING, TARGET_PEER_RATIO, TARGET_SCRIPT_RATIO = 0.90, 10.0, 1.0
TARGET_KEYLESS = 100.0  # DOIs/s without an OpenAlex key
TARGET_C_FIRST, TARGET_C_UNCHANGED, TARGET_REPEC = 5000.0, 20000.0, 5000.0
TARGET_KB_PER_WORK, TARGET_KB_PER_CHANGE, TARGET_FLAT = 6.0, 2.0, 0.15
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
    window: str = "bucket"  # the simulator's rate model: bucket, or strict (any 1 s window)
    kb_per_change: float | None = None  # (b): KB the database grew by per changed work

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
    """DOIs/s the limits allow a client that batches: Crossref lists of 100 at the list rate, and
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
        spec["url"],
        dois,
        spec["db"],
        spec.get("chunk_size"),
        spec.get("deadline"),
        **spec.get("services", {}),
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


def _job_bare_writer(spec: dict) -> dict:
    import workloads

    return workloads.bare_writer(spec["count"], spec["db"])


def _job_repec(spec: dict) -> dict:
    import workloads

    return workloads.repec_series(spec["count"], spec["db"], spec["root"])


def _job_bare_redif(spec: dict) -> dict:
    import workloads

    return workloads.bare_redif(spec["count"], spec["db"], spec["root"])


def _job_peer(spec: dict) -> dict:
    import peers

    dois = list(records.mix(spec["count"], spec["datacite"], spec["missing"]))
    client = {
        "habanero": peers.habanero_works,
        "requests": peers.requests_loop,
        "pyalex": peers.pyalex_works,
        "script": peers.batch_script,
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
    "bare-writer": _job_bare_writer,
    "repec": _job_repec,
    "bare-redif": _job_bare_redif,
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
        window: str = "bucket",
    ) -> tuple[dict, dict]:
        """Run a child against a freshly reset simulator; (its result, the simulator's stats).
        `window`: the simulator's rate model, "bucket" or "strict" (any one-second window)."""
        stats: dict = {}
        if self.upstream:
            self.upstream.control("set", epoch=epoch, window=window)
            self.upstream.control("reset")
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
        ceiling = self.ceiling_of(n, mix)
        for window in ("bucket", "strict"):
            tag = "" if window == "bucket" else " [strict]"
            for i, (label, patched, env) in enumerate(self.variants):
                db = self.db(f"a-{window}-{i}")
                spec = {"count": n, "db": db, **mix}
                result, stats = self.measured(
                    "one-off", spec, patched=patched, env=env, window=window
                )
                if self.timeline and window == "bucket" and i in (0, len(self.variants) - 1):
                    self.timelines.append(
                        (f"(a) {label}", per_second(self.upstream.control("timeline")))
                    )
                got = result["counts"]["created"] + result["counts"]["changed"]
                self.row(
                    "a", label + tag, n, result, stats, got=got, ceiling=ceiling,
                    note=_pools_note(stats), window=window,
                )  # fmt: skip
            if with_peers:  # the bare batching script, under the same limits
                self.script_peer("a", mix, n, ceiling, window)
        if self.cli:
            self.cli_one_off(n, mix, ceiling)
        if with_peers:
            self.peers("a", mix, self.scale.peer_sample, all_dois=n)

    def ceiling_of(self, n: int, mix: dict) -> float:
        kinds = [records.parse(d).agency for d in records.mix(n, **mix)]
        datacite = kinds.count("datacite")
        return harvester_ceiling(n, n - datacite, datacite, self.latency, self.item_latency)

    def script_peer(self, workload: str, mix: dict, n: int, ceiling: float, window: str) -> None:
        spec = {"peer": "script", "count": n, **mix}
        result, stats = self.measured("peer", spec, window=window)
        self.row(
            workload,
            "bare batching script" + ("" if window == "bucket" else " [strict]"),
            n,
            result,
            stats,
            got=result["got"],
            ceiling=ceiling,
            rate=(n - result["lost"]) / result["wall"],
            note=f"Crossref only, lists of 100, 3 threads at 3/s; lost {result['lost']}",
            window=window,
        )

    # (k)
    def keyless(self) -> None:
        """(a)'s mix without an OpenAlex key (the default configuration), at each (k) size,
        under the strict window. A DOI is handed on only before the deadline, so a harvester
        that waits on per-DOI look-ups is measured as a rate without taking minutes."""
        mix = {"datacite": 0.05, "missing": 0.05}
        for n in self.scale.k_dois:
            ceiling = self.ceiling_of(n, mix)
            for i, (label, patched, env) in enumerate(self.variants):
                spec = {
                    "count": n,
                    "db": self.db(f"k-{n}-{i}"),
                    "deadline": self.scale.k_deadline,
                    "services": {"openalex": {"api_key": ""}},
                    **mix,
                }
                result, stats = self.measured(
                    "one-off", spec, patched=patched, env=env, window="strict"
                )
                asked = result.get("asked", n)
                got = result["counts"]["created"] + result["counts"]["changed"]
                note = _pools_note(stats) + (
                    f"; deadline {self.scale.k_deadline:.0f} s: {asked} of {n} asked"
                    if asked < n
                    else ""
                )
                self.row(
                    "k", f"{label}, no OpenAlex key", n, result, stats, got=got, ceiling=ceiling,
                    rate=asked / result["wall"], note=note, window="strict",
                )  # fmt: skip

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
            size_before = _size(db)
            result, stats = self.measured("nightly", {"db": db}, epoch=1, patched=patched, env=env)
            counts = result["counts"]
            got = counts["created"] + counts["changed"] + counts["unchanged"]
            grown = (result["db_bytes"] - size_before) / 1024 / max(1, counts["changed"])
            note = f"{counts['changed']} changed, +{grown:.1f} KB each; " + _pools_note(stats)
            self.row(
                "b", label, n, result, stats, got=got, ceiling=ceiling, note=note,
                kb_per_change=grown,
            )  # fmt: skip
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
        """The harvester and the bare writer at each size, first pass and unchanged; then the
        harvester's first pass alone at the memory sizes (issue scale)."""
        for n in (self.scale.c_small, self.scale.c_works):
            for i, (label, patched, env) in enumerate(self.variants):
                result, _ = self.measured(
                    "local", {"count": n, "db": self.db(f"c-{n}-{i}")}, patched=patched, env=env
                )
                self.pass_rows("c", label, n, result)
            result, _ = self.measured("bare-writer", {"count": n, "db": self.db(f"c-{n}-bare")})
            self.pass_rows("c", "bare writer", n, result)
        for n in self.scale.c_memory:
            result, _ = self.measured("local", {"count": n, "db": self.db(f"c-mem-{n}")})
            self.pass_rows("c", "harvester (memory)", n, result)

    def pass_rows(self, workload: str, label: str, n: int, result: dict) -> None:
        for p in result["passes"]:
            busy = p["wall"] - p["render"]
            cpu = max(1e-9, p["cpu"] - p["render"])
            target = {
                ("c", "first"): TARGET_C_FIRST,
                ("c", "unchanged"): TARGET_C_UNCHANGED,
                ("r", "first"): TARGET_REPEC,
            }.get((workload, p["pass"]))
            counts = p["counts"]
            self.row(
                workload,
                f"{label}, {p['pass']}",
                n,
                {**result, "wall": p["wall"]},
                {},
                got=counts["created"] + counts["changed"] + counts["unchanged"],
                rate=n / busy,
                cpu_rate=n / cpu,
                note=f"{n / cpu:.0f} per CPU s"
                + (f"; bench's rendering {p['render']:.1f} s left out" if p["render"] else "")
                + (f"; target {target:,.0f}" if target else ""),
            )

    # (r)
    def repec(self) -> None:
        n = self.scale.r_templates
        for i, (label, patched, env) in enumerate(self.variants):
            spec = {"count": n, "db": self.db(f"r-{i}"), "root": str(self.work / f"r-tree-{i}")}
            result, _ = self.measured("repec", spec, patched=patched, env=env)
            self.pass_rows("r", label, n, {**result, "passes": result["passes"][:1]})
        spec = {"count": n, "db": self.db("r-bare"), "root": str(self.work / "r-tree-bare")}
        result, _ = self.measured("bare-redif", spec)
        self.pass_rows("r", "naive split + SQLite", n, result)


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
    """Side by side, within this run: each harvester against the peers of its workload, and
    the harvester measured against the earlier commit (--before)."""
    lines = []

    def find(wl: str, client: str, dois: int | None = None) -> Row | None:
        return next(
            (r for r in rows if r.workload == wl and r.client == client and dois in (None, r.dois)),
            None,
        )

    labels = _labels(rows)
    for who in labels:
        for tag in ("", " [strict]"):
            ours, script = find("a", who + tag), find("a", "bare batching script" + tag)
            if ours and script:
                lines.append(
                    f"(a{tag}) {who} / bare batching script: DOIs/s "
                    f"x{ours.per_s / script.per_s:.2f}, requests per 1,000 DOIs "
                    f"{ours.per_1k:.0f} vs {script.per_1k:.0f}, 429s {ours.r429} vs {script.r429}"
                )
        ours = find("a", who)
        for peer in ("habanero", "requests loop"):
            other = find("a", peer)
            if ours and other:
                lines.append(
                    f"(a) {who} / {peer}: DOIs/s x{ours.per_s / other.per_s:.1f}, requests per "
                    f"1,000 DOIs x{ours.per_1k / other.per_1k:.2f}"
                )
        for r in (r for r in rows if r.workload == "c" and r.client.startswith(who + ", ")):
            stage = r.client.rsplit(", ", 1)[1]
            bare = find("c", f"bare writer, {stage}", r.dois)
            if bare:
                lines.append(
                    f"(c, {r.dois:,}) {who} / bare writer, {stage}: works/s "
                    f"x{r.per_s / bare.per_s:.2f} (per CPU s x{r.cpu_rate / bare.cpu_rate:.2f})"
                )
        ours, naive = find("r", f"{who}, first"), find("r", "naive split + SQLite, first")
        if ours and naive:
            lines.append(
                f"(r) {who} / naive split + SQLite: templates/s x{ours.per_s / naive.per_s:.2f}"
            )
    if len(labels) > 1:  # before and after, row by row
        before, after = labels[0], labels[-1]
        for r in rows:
            if not r.client.startswith(after) or r.client.startswith(before):
                continue
            twin = find(r.workload, before + r.client[len(after) :], r.dois)
            if twin and twin.per_s:
                lines.append(
                    f"({r.workload}, {r.dois:,}) {r.client} / {twin.client}: "
                    f"x{r.per_s / twin.per_s:.2f}"
                )
    return lines


def _labels(rows: list[Row]) -> list[str]:
    """The harvesters measured, the earlier commit first: "harvester at REV", "harvester"."""
    found = []
    for r in rows:
        if r.workload == "a" and r.client.startswith("harvester") and "CLI" not in r.client:
            label = r.client.removesuffix(" [strict]")
            if label not in found:
                found.append(label)
    for r in rows:
        if r.client.startswith("harvester") and "(memory)" not in r.client:
            label = r.client.split(",")[0].removesuffix(" [strict]")
            if "CLI" not in label and label not in found:
                found.append(label)
    return found


def targets(rows: list[Row]) -> list[str]:
    """Issue 19's targets, each with the figure measured in this run and PASS or MISS."""
    lines = []

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    def find(wl: str, client: str, dois: int | None = None) -> Row | None:
        return next(
            (r for r in rows if r.workload == wl and r.client == client and dois in (None, r.dois)),
            None,
        )

    for who in _labels(rows):
        lines.append(f"{who}:")
        for tag in ("", " [strict]"):
            a = find("a", who + tag)
            if a is None:
                continue
            window = "strict 1 s window" if tag else "simulator"
            lines.append(
                f"  {verdict(a.of_ceiling >= TARGET_CEILING)} (a, {window}) >= 90% of the "
                f"Crossref ceiling (3 lists/s x 100): {100 * a.of_ceiling:.0f}% "
                f"({a.per_s:.0f} of {a.ceiling:.0f} DOIs/s)"
            )
            lines.append(f"  {verdict(a.r429 == 0)} (a, {window}) 0 self-caused 429s: {a.r429}")
            script = find("a", "bare batching script" + tag)
            if script:
                ratio = a.per_s / script.per_s
                lines.append(
                    f"  {verdict(ratio >= TARGET_SCRIPT_RATIO)} (a, {window}) >= 1.0x the bare "
                    f"batching script: x{ratio:.2f} ({a.per_s:.0f} vs {script.per_s:.0f} DOIs/s)"
                )
        a = find("a", who)
        for peer in ("habanero", "requests loop"):
            other = find("a", peer)
            if a and other:
                ratio = a.per_s / other.per_s
                lines.append(
                    f"  {verdict(ratio >= TARGET_PEER_RATIO)} (a) >= 10x {peer}: x{ratio:.1f} "
                    f"({other.per_s:.1f} DOIs/s)"
                )
        for k in (r for r in rows if r.workload == "k" and r.client.startswith(who + ",")):
            lines.append(
                f"  {verdict(k.per_s >= TARGET_KEYLESS and k.r429 == 0)} (k, {k.dois:,} DOIs) "
                f"no OpenAlex key: >= 100 DOIs/s and 0 429s: {k.per_s:.1f} DOIs/s, {k.r429} 429s"
            )
        for c in (r for r in rows if r.workload == "c" and r.client.startswith(who + ", ")):
            stage = c.client.rsplit(", ", 1)[1]
            goal = TARGET_C_FIRST if stage == "first" else TARGET_C_UNCHANGED
            bare = find("c", f"bare writer, {stage}", c.dois)
            ahead = bare is None or c.per_s > bare.per_s
            lines.append(
                f"  {verdict(c.per_s >= goal and ahead)} (c, {c.dois:,} works) {stage} >= "
                f"{goal:,.0f} works/s and ahead of the bare writer: {c.per_s:,.0f}"
                + (f" vs {bare.per_s:,.0f}" if bare else "")
            )
        r = find("r", f"{who}, first")
        if r:
            lines.append(
                f"  {verdict(r.per_s >= TARGET_REPEC)} (r) RePEc >= 5,000 templates/s first: "
                f"{r.per_s:,.0f}"
            )
        if a and a.db_kb_per_1k:
            kb = a.db_kb_per_1k / 1000
            lines.append(
                f"  {verdict(kb <= TARGET_KB_PER_WORK)} (a) <= 6 KB per work for the corpus mix "
                f"(Crossref/DataCite works with OpenAlex): {kb:.1f} KB"
            )
        for b in (r for r in rows if r.workload == "b" and r.client == who):
            if b.kb_per_change is not None:
                lines.append(
                    f"  {verdict(b.kb_per_change <= TARGET_KB_PER_CHANGE)} (b, {b.dois:,}) "
                    f"<= 2 KB added per changed work on a refresh: {b.kb_per_change:.1f} KB"
                )
        for label in (f"{who}, first", "harvester (memory), first"):
            if label.startswith("harvester (memory)") and who != "harvester":
                continue
            sizes = sorted(
                (r for r in rows if r.workload == "c" and r.client == label and r.rss_mb),
                key=lambda r: r.dois,
            )
            if len(sizes) >= 2:
                small, big = sizes[0], sizes[-1]
                grew = big.rss_mb / small.rss_mb - 1
                lines.append(
                    f"  {verdict(grew < TARGET_FLAT)} (c) memory flat (< +15%): "
                    f"{small.rss_mb:.0f} MB at {small.dois:,} works, {big.rss_mb:.0f} MB at "
                    f"{big.dois:,} ({100 * grew:+.0f}%)"
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
    parser.add_argument("--workload", default="a,k,b,c,r", help="which of a,k,b,c,r (default: all)")
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
        f"(c) {scale.c_small} and {scale.c_works} works, (k) {scale.k_dois} DOIs keyless, (r) "
        f"{scale.r_templates} templates; Crossref peers on {scale.peer_sample} "
        f"DOIs; upstream latency {args.latency:g} s + {args.item_latency:g} s per record"
        + (f"; patched: {','.join(patched)}" if patched else ""),
        flush=True,
    )
    upstream = (
        Upstream(args.latency, args.item_latency) if {"a", "b", "k"} & set(workloads) else None
    )
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
            "k": bench.keyless,
            "b": lambda: bench.nightly(False),  # the one-request-per-DOI peers: see (a)
            "c": bench.local,
            "r": bench.repec,
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
