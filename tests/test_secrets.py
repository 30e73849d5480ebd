"""API keys never leave the process except in the requests that need them: not in logs (console or
JSON), not in the per-identifier lines, not in run records, error texts or anything stored."""

from __future__ import annotations

import dataclasses
import io
import logging
import sqlite3

import pytest
import structlog
from conftest import QUICK_RETRIES, HarvestCommand
from fakes import run_pipeline
from upstream import ReplayUpstream

from harvester import secrets
from harvester.identifiers import parse_doi
from harvester.log import configure_logging
from harvester.pipeline import harvest
from harvester.store import open_store

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


def _echoing_401(upstream: ReplayUpstream) -> None:
    """OpenAlex refuses the key and quotes it back bare, in its documented error shape (two DOIs
    make a list request, whose refusal is logged with the server's words)."""
    body = f'{{"error": "Invalid API key", "message": "The key {SECRET} is not valid."}}'
    upstream.fail(
        "/openalex/works", 401, body.encode(), {"content-type": "application/json"}, times=None
    )


def test_a_401_body_that_echoes_the_key_is_masked_in_the_log_and_the_database(tmp_path, upstream):
    harvest = HarvestCommand(tmp_path, upstream.env(), QUICK_RETRIES)
    harvest.env["HARVEST_OPENALEX_API_KEY"] = SECRET
    _echoing_401(upstream)
    proc = harvest("--log-format", "json", "doi", "10.7554/eLife.01567", "10.1/none")
    assert "The key *** is not valid" in proc.stderr  # the server's words, the key masked
    assert SECRET not in proc.stdout + proc.stderr
    assert SECRET not in everything_stored(harvest.db_path)


def test_a_key_set_in_code_not_read_from_a_file_is_masked_by_value_too(tmp_path, upstream):
    """A Config built in code (the pipeline as a library, the scheduler's tests) never passes
    through load_config: the key is still masked, because the client that sends it registers it."""
    _echoing_401(upstream)
    config = upstream.config()
    config = dataclasses.replace(
        config, openalex=dataclasses.replace(config.openalex, api_key=SECRET)
    )
    stream = io.StringIO()
    root = logging.getLogger()
    handlers, level, saved = root.handlers[:], root.level, structlog.get_config()
    store = open_store(tmp_path / "h.db")
    try:
        configure_logging("json", 0, stream=stream)
        run_pipeline(
            harvest,
            [parse_doi("10.7554/eLife.01567"), parse_doi("10.1/none")],
            store=store,
            config=config,
            command="t",
        )
    finally:
        store.close()
        secrets.forget_all()
        structlog.reset_defaults()
        structlog.configure(**saved)
        root.handlers[:] = handlers
        root.setLevel(level)
    assert "The key *** is not valid" in stream.getvalue()
    assert SECRET not in stream.getvalue()
    assert SECRET not in everything_stored(tmp_path / "h.db")
