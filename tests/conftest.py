"""Shared test fixtures: where the recorded corpus lives, and how to load one response of it."""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

#: The larger corpus of recorded responses lives beside the clone in ../shared/fixtures: it came
#: from repository snapshots and is never copied in here. Where it is absent, the tests that read
#: it are skipped, and those on the fixtures this repository keeps still run.
FIXTURES = Path(
    os.environ.get("HARVEST_FIXTURES", Path(__file__).resolve().parents[2] / "shared" / "fixtures")
)
#: Real responses this repository keeps (read through the search index; PROVENANCE.tsv says
#: where each one is from).
KEPT = Path(__file__).resolve().parent / "fixtures"

#: The one reason every corpus test skips with, so that `pytest -ra` folds them into one line.
CORPUS_ABSENT = (
    "the recorded corpus ../shared/fixtures is absent (set HARVEST_FIXTURES to it): the tests "
    "that read it are skipped; those on tests/fixtures run"
)


def corpus_present() -> bool:
    return FIXTURES.is_dir()


CORPUS_PRESENT = corpus_present()


def skip_without_corpus() -> None:
    """Skip the test (or the module, while importing) when the shared corpus is absent."""
    if not corpus_present():
        pytest.skip(CORPUS_ABSENT, allow_module_level=True)


def fixture_path(relative: str) -> Path:
    """A recorded response: kept in tests/fixtures, else from the shared corpus (skipping the
    test where the corpus is absent)."""
    kept = KEPT / relative
    if kept.exists():
        return kept
    skip_without_corpus()
    path = FIXTURES / relative
    if not path.exists():
        pytest.fail(f"recorded fixture missing: {path}")
    return path


class HarvestCommand:
    """Runs `harvest ...` as a user would, in a subprocess, in a fresh working folder whose config
    (`harvester.toml` there) and environment point every service at a local upstream.

        harvest("doi", "10.7554/eLife.01567")    # a finished CompletedProcess, no traceback
        harvest.start("run")                     # a Popen, for tests that run two at once
    """

    def __init__(self, folder: Path, upstream_env: dict[str, str], config_text: str) -> None:
        self.folder = folder
        self.config = folder / "harvester.toml"
        self.config.write_text(config_text)
        self.db_path = folder / "data" / "harvest.db"
        self.env = {
            **os.environ,
            "HARVEST_CONFIG": str(self.config),
            "HARVEST_DB": str(self.db_path),
            **upstream_env,
            "HARVEST_MAILTO": "tests@example.org",
            "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        }

    def __call__(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [sys.executable, "-m", "harvester", *args],
            cwd=self.folder,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "harvester", *args],
            cwd=self.folder,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


class Clock:
    """A settable clock for `open_store(path, now=clock)`: tests move `moment` to make things due."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> str:
        return self.moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


#: Quick retries for tests: a failing upstream fails fast.
QUICK_RETRIES = "[http]\nmax_attempts = 2\nbackoff_initial = 0.01\nbackoff_max = 0.05\n"


def load_json(relative: str):
    """The parsed body of a recorded JSON response, e.g. load_json("crossref/10.7554_elife.01567.json")."""
    return json.loads(fixture_path(relative).read_bytes())


def load_meta(relative: str) -> dict:
    """The sidecar of a recorded response: request URL, status and headers as recorded."""
    path = fixture_path(relative)
    for suffix in (".json", ".txt", ".html", ".xml", ".bib", ".rdf"):
        if path.name.endswith(suffix) and not path.name.endswith(".meta.json"):
            return json.loads(path.with_name(path.name[: -len(suffix)] + ".meta.json").read_bytes())
    raise ValueError(relative)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    skip_without_corpus()
    return FIXTURES


#: The line (0-based) where fixture_path skips: what pytest reports for a module skipped on import.
_SKIP_LINE = next(
    number
    for number, line in enumerate(Path(__file__).read_text().splitlines())
    if "pytest.skip(CORPUS_ABSENT" in line
)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Every skip for the absent corpus is reported from here, so `-ra` says it in one line."""
    outcome = yield
    report = outcome.get_result()
    longrepr = report.longrepr
    if report.skipped and isinstance(longrepr, tuple) and CORPUS_ABSENT in str(longrepr[2]):
        report.longrepr = (__file__, _SKIP_LINE + 1, longrepr[2])


@pytest.fixture(autouse=True)
def no_internet(monkeypatch):
    """Fail any test that opens a connection beyond this machine: tests use `responses` or the
    local upstream on 127.0.0.1, never the real services."""
    real_connect = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        try:
            local = ipaddress.ip_address(host).is_loopback
        except ValueError:
            local = host in ("localhost",) or self.family == socket.AF_UNIX
        if not local:
            raise OSError(f"test tried to reach {address!r}: tests must not touch the network")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
