"""Shared test fixtures: where the recorded corpus lives, and how to load one response of it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

#: The real recorded responses live beside the clone in ../shared/fixtures (never copied in here).
FIXTURES = Path(
    os.environ.get("HARVEST_FIXTURES", Path(__file__).resolve().parents[2] / "shared" / "fixtures")
)


def fixture_path(relative: str) -> Path:
    path = FIXTURES / relative
    if not path.exists():
        pytest.fail(f"recorded fixture missing: {path} (is ../shared beside the clone?)")
    return path


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
    if not FIXTURES.is_dir():
        pytest.fail(f"recorded corpus not found at {FIXTURES}; CI keeps ../shared beside the clone")
    return FIXTURES
