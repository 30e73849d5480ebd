"""API keys never leave the process except in the requests that need them: not in logs (console or
JSON), not in the per-identifier lines, not in run records, error texts or anything stored."""

from __future__ import annotations

import sqlite3

import pytest
from conftest import QUICK_RETRIES, HarvestCommand
from upstream import ReplayUpstream

SECRET = "S3CRET-openalex-key-5f2c"


@pytest.fixture
def upstream():
    with ReplayUpstream() as server:
        server.add_crossref("10.7554_elife.01567")
        server.add_openalex("10.7554_elife.01567")
        yield server


def everything_stored(db) -> str:
    conn = sqlite3.connect(db)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_the_openalex_key_is_in_no_log_line_output_or_stored_text(tmp_path, upstream, log_format):
    harvest = HarvestCommand(tmp_path, upstream.env(), QUICK_RETRIES)
    harvest.env["HARVEST_OPENALEX_API_KEY"] = SECRET
    # OpenAlex fails every list request: the error texts and retry logs name its URL.
    upstream.fail(
        "/openalex/works", 503, b"<html>down</html>", {"content-type": "text/html"}, times=None
    )
    proc = harvest("-vv", "--log-format", log_format, "doi", "10.7554/eLife.01567", "10.1/none")
    assert any("api_key" in r for r in upstream.requests)  # the key was sent where it belongs
    assert "api_key=***" in proc.stderr  # and the log shows where it was, masked
    assert SECRET not in proc.stdout and SECRET not in proc.stderr
    assert SECRET not in everything_stored(harvest.db_path)
    shown = harvest("--log-format", log_format, "-vv", "show", "10.7554/eLife.01567", "--json")
    assert SECRET not in shown.stdout + shown.stderr
