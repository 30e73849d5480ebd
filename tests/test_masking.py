"""Secrets are masked in one place (harvester.secrets): every log event, whoever logs it, and
every error text; the end-to-end check is test_secrets.py."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog

from harvester import secrets
from harvester.config import load_config
from harvester.errors import UpstreamError
from harvester.log import configure_logging
from harvester.render import error_line

KEY = "S3CRET-OPENALEX-KEY"


@pytest.fixture(autouse=True)
def clean_state():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    saved = structlog.get_config()
    yield
    secrets.forget_all()
    structlog.reset_defaults()
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)


def logged(fmt: str, emit) -> str:
    stream = io.StringIO()
    configure_logging(fmt, 1, stream=stream)
    emit()
    return stream.getvalue()


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_a_secret_parameter_in_any_field_of_any_event_is_masked(fmt):
    def emit():
        structlog.get_logger("harvester.anything").warning(
            "source.said",
            url=f"https://api.openalex.org/works?filter=doi:10.1/x&api_key={KEY}",
            nested={"request": [f"GET /works?api_key={KEY}"], "count": 3},
            error=ValueError(f"bad answer for token={KEY}"),
        )
        logging.getLogger("urllib3").warning("retrying GET /x?key=%s", KEY)

    text = logged(fmt, emit)
    assert KEY not in text
    assert "api_key=***" in text and "token=***" in text and "key=***" in text
    assert "doi:10.1/x" in text  # the rest stays as it was


def test_a_configured_secret_is_masked_wherever_it_appears(tmp_path):
    config_file = tmp_path / "harvester.toml"
    config_file.write_text(f'[openalex]\napi_key = "{KEY}"\n')
    config = load_config(config_file, env={})
    assert config.openalex.api_key == KEY

    def emit():
        # Not as a parameter: quoted bare, as a careless message or a server's echo might.
        structlog.get_logger("harvester.new_source").error("oops", detail=f"sent {KEY} to x")

    text = logged("json", emit)
    assert KEY not in text
    assert json.loads(text.splitlines()[0])["detail"] == "sent *** to x"
    assert secrets.redact_text(f"error: upstream echoed {KEY}") == "error: upstream echoed ***"


def test_a_key_from_the_environment_is_masked_too():
    load_config(env={"HARVEST_OPENALEX_API_KEY": KEY})
    assert KEY not in secrets.redact_text(f"https://x.test/?q={KEY}&api_key={KEY}")


def test_headers_named_as_credentials_are_masked_by_name():
    masked = secrets.mask({"Authorization": "Bearer abcdef", "Accept": "application/json"})
    assert masked == {"Authorization": "***", "Accept": "application/json"}


def test_exception_info_still_renders_its_traceback_masked():
    def emit():
        try:
            raise RuntimeError(f"failed at ?api_key={KEY}")
        except RuntimeError:
            structlog.get_logger("harvester.x").exception("crashed")

    text = logged("json", emit)
    assert KEY not in text
    assert "Traceback" in json.loads(text.splitlines()[0])["exception"]


def test_a_traceback_on_the_console_is_masked_by_pattern_and_by_value():
    secrets.remember([KEY])

    def emit():
        try:
            raise RuntimeError(f"the server said {KEY} is wrong (GET /works?token=abcdef)")
        except RuntimeError:
            structlog.get_logger("harvester.x").exception("crashed")

    text = logged("console", emit)
    assert "Traceback" in text and "the server said *** is wrong" in text
    assert KEY not in text and "abcdef" not in text


def test_the_error_line_a_person_reads_is_masked_too():
    secrets.remember([KEY])
    line = error_line(UpstreamError(f"GET https://x.test/works?api_key={KEY} failed ({KEY})"))
    assert KEY not in line and line.startswith("error: GET https://x.test/works?api_key=***")
