"""Shared test fixtures: where the recorded corpus lives, and how to load one response of it."""

from __future__ import annotations

import inspect
import ipaddress
import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

#: The recorded corpus of real responses lives beside the clone in ../shared/fixtures and may not be
#: copied in here; HARVEST_FIXTURES points elsewhere (an empty value counts as unset). Where it is
#: absent, the tests that read it skip (`skip_without_corpus`) and the rest run on KEPT.
FIXTURES = Path(
    os.environ.get("HARVEST_FIXTURES")
    or Path(__file__).resolve().parents[2] / "shared" / "fixtures"
)
#: Real responses this repository keeps, in the corpus's layout (crossref/, datacite/, ...): fewer,
#: other records, each with its source in tests/fixtures/PROVENANCE.tsv. Always there.
KEPT = Path(__file__).resolve().parent / "fixtures"
CORPUS_PRESENT = FIXTURES.is_dir()
#: The one reason every such skip gives, raised from one line, so `pytest -ra` folds them into one.
CORPUS_ABSENT = "recorded corpus ../shared/fixtures absent (set HARVEST_FIXTURES): tests that read it are skipped"


def skip_without_corpus() -> None:
    """Skip the calling test (or, when called at import, its whole module) if the recorded corpus is
    absent; nothing when it is there."""
    if not CORPUS_PRESENT:
        pytest.skip(CORPUS_ABSENT, allow_module_level=True)


_SOURCE, _FIRST = inspect.getsourcelines(skip_without_corpus)
#: Where that skip is raised (file, line), as pytest reports a skip's place.
SKIP_SITE = (__file__, _FIRST + next(i for i, s in enumerate(_SOURCE) if "pytest.skip(" in s))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A skip raised in a fixture is reported at its test, not where it was raised: report every
    skip for the absent corpus at SKIP_SITE, so that `-ra` shows them on one line."""
    report = yield
    longrepr = report.longrepr
    if report.skipped and isinstance(longrepr, tuple) and longrepr[2].endswith(CORPUS_ABSENT):
        report.longrepr = (*SKIP_SITE, longrepr[2])
    return report


def fixture_path(relative: str) -> Path:
    """A recorded response by its path in the corpus, or else among the kept ones (the two never
    share a name). Missing from both: a skip when the corpus is absent, a failure when it is not."""
    path = FIXTURES / relative
    if path.exists():
        return path
    if (KEPT / relative).exists():
        return KEPT / relative
    skip_without_corpus()
    pytest.fail(f"recorded fixture missing: {path} (is ../shared beside the clone?)")


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
