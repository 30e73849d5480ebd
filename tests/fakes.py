"""Test doubles and small helpers shared by the test files (conftest.py keeps the fixtures)."""

from __future__ import annotations

import dataclasses
import random
import re
import sqlite3
import subprocess
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

import responses
from conftest import FIXTURES

from harvester.config import Config, HttpConfig, PoolLimit
from harvester.http import HttpClient, RateLimiter, make_session
from harvester.pipeline.common import RunResult
from harvester.sources import connect
from harvester.store import Outcome, Store

#: The retry policy of the tests that mock HTTP: three attempts, backoff from 1 s up to 8 s,
#: Retry-After capped at 30 s. Quick because every wait goes to a FakeClock. (The `harvest`
#: command's tests, which really wait, take conftest.QUICK_RETRIES, a [http] table.)
TEST_HTTP = HttpConfig(
    connect_timeout=1.0,
    read_timeout=2.0,
    max_attempts=3,
    backoff_initial=1.0,
    backoff_max=8.0,
    retry_after_cap=30.0,
)
#: Every pool's limit in the tests: 1,000 requests a second, 4 in flight, so pacing never holds a
#: test up (and what little it waits goes to the FakeClock too).
UNPACED = PoolLimit(1000, 4)

#: A mEDRA DOI's CSL-JSON: none is in the recorded corpus, so this minimal item is hand-built
#: after the CSL-JSON schema (plain CSL types, string title and container-title).
MEDRA_CSL = {
    "DOI": "10.1430/8105",
    "type": "article-journal",
    "title": "Un articolo di esempio",
    "container-title": "Rivista di esempio",
    "author": [{"given": "Maria", "family": "Rossi"}],
    "issued": {"date-parts": [["2003"]]},
}


class FakeClock:
    """Monotonic time that moves only when someone sleeps; every sleep is recorded.

    Give `clock` and `sleep` to HttpClient and RateLimiter so that retries and pacing are
    exercised without any real waiting. Thread-safe, for the fetchers' worker threads.
    """

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


class FakeWorksApi:
    """A `/works` API under `base` (Crossref's, OpenAlex's) served on `responses`: list requests
    (`/works?filter=...`) go to the subclass's `_list`, look-ups (`/works/...`) to its `_single`,
    each given the request and answering (status, headers, body)."""

    def __init__(self, rsps: responses.RequestsMock, base: str) -> None:
        self.rsps = rsps
        self.base = base
        self.path = urlsplit(base).path
        rsps.add_callback(responses.GET, f"{base}/works", callback=self._list)
        rsps.add_callback(
            responses.GET, re.compile(re.escape(base) + "/works/"), callback=self._single
        )

    def _list(self, request):
        raise NotImplementedError

    def _single(self, request):
        raise NotImplementedError

    def list_calls(self) -> list:
        return [c for c in self.rsps.calls if urlsplit(c.request.url).path == f"{self.path}/works"]

    def single_calls(self) -> list:
        return [
            c
            for c in self.rsps.calls
            if urlsplit(c.request.url).path.startswith(f"{self.path}/works/")
        ]


def harvester_pools(config: Config) -> list[str]:
    """The pools the harvester's own client paces, as `connect` registers them.

    Read off the client `connect` builds (HttpClient lists its pools to no one else), so that a
    pool the harvester adds or renames reaches every test without a list here to keep in step.
    """
    return list(connect(config)._limiters)


def fake_client(
    config: Config | None = None,
    pools: Mapping[str, PoolLimit] | None = None,
    *,
    clock: FakeClock | None = None,
    http: HttpConfig = TEST_HTTP,
    seed: int = 42,
) -> HttpClient:
    """The harvester's HTTP client for tests that mock HTTP (`responses`, a local server).

    Built as `connect(config)` builds it, one Session from `config` (its mailto in the
    User-Agent) and a limiter for each pool the harvester paces, with three differences: retries
    as `http` says (TEST_HTTP unless given), every pool at UNPACED, and every wait, retry or
    pacing, taken on `clock` (a new FakeClock unless given) with a jitter seeded by `seed`.
    `pools` adds pools the harvester registers elsewhere, with their limits (OAI-PMH's "oai").
    """
    config = dataclasses.replace(config or Config(), http=http)
    clock = clock or FakeClock()
    limits = dict.fromkeys(harvester_pools(config), UNPACED) | dict(pools or {})
    limiters = {
        pool: RateLimiter(pool, limit, clock=clock.clock, sleep=clock.sleep)
        for pool, limit in limits.items()
    }
    return HttpClient(
        make_session(config), config.http, limiters, sleep=clock.sleep, rng=random.Random(seed)
    )


def recorded_names(service: str) -> list[str]:
    """The recorded JSON answers of `service` (fixtures/crossref, ...), by file name, for a test
    parametrized over every one of them."""
    folder = FIXTURES / service
    names = sorted(p.name for p in folder.glob("*.json") if not p.name.endswith(".meta.json"))
    # An absent corpus must fail, not silently collect zero cases.
    return names or [f"<no {service} fixtures found>"]


def query(db: Path, sql: str, *params) -> list[tuple]:
    """The rows of one statement on the database file `db`, as a reader beside the harvester."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    """`proc`, once it is known to have exited 0 (else its stderr is the failure)."""
    assert proc.returncode == 0, proc.stderr
    return proc


def run_pipeline(
    entry: Callable,
    *args,
    store: Store,
    config: Config,
    command: str = "t",
    on_outcome: Callable[[Outcome], None] | None = None,
    **options,
) -> tuple[RunResult, list[Outcome]]:
    """`entry` (harvest, harvest_due, harvest_repec, harvest_oai, match_works, ...) run on
    `args` as the CLI runs it, with the run's client from `connect(config)`; the result, and the
    outcomes it reported in order (each also given to `on_outcome`, when there is one)."""
    outcomes: list[Outcome] = []

    def report(outcome: Outcome) -> None:
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    result = entry(
        *args,
        store=store,
        client=connect(config),
        config=config,
        command=command,
        on_outcome=report,
        **options,
    )
    return result, outcomes
