"""Logging: JSON lines under cron, readable lines on a terminal, stdlib loggers rendered alike."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog

from harvester.log import _NOISY, configure_logging


@pytest.fixture(autouse=True)
def restore_logging():
    """configure_logging changes process-wide state: put it all back after each test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    noisy = {name: logging.getLogger(name).level for name in _NOISY}
    saved = structlog.get_config()
    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, noisy_level in noisy.items():
        logging.getLogger(name).setLevel(noisy_level)


def lines(stream: io.StringIO) -> list[str]:
    return [line for line in stream.getvalue().splitlines() if line.strip()]


def json_lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in lines(stream)]


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_json_renders_structlog_and_stdlib_events_as_json_lines():
    stream = io.StringIO()
    assert configure_logging("json", 0, stream=stream) == "json"

    structlog.get_logger("harvester.test").info("fetch.done", doi="10.7554/elife.01567", n=3)
    logging.getLogger("urllib3").warning("Connection pool is full, discarding connection: %s", "h")

    ours, theirs = json_lines(stream)
    for event in (ours, theirs):
        assert {"event", "level", "timestamp"} <= set(event)
        assert event["timestamp"].endswith("Z")  # ISO, UTC
    assert ours["event"] == "fetch.done"
    assert ours["level"] == "info"
    assert ours["doi"] == "10.7554/elife.01567"
    assert ours["n"] == 3
    assert ours["logger"] == "harvester.test"
    assert theirs["event"] == "Connection pool is full, discarding connection: h"
    assert theirs["level"] == "warning"
    assert theirs["logger"] == "urllib3"


def test_contextvars_appear_on_structlog_and_stdlib_lines():
    stream = io.StringIO()
    configure_logging("json", 0, stream=stream)
    structlog.contextvars.bind_contextvars(run_id=7)

    structlog.get_logger("harvester.test").info("run.start")
    logging.getLogger("urllib3").warning("Retrying")

    assert [event["run_id"] for event in json_lines(stream)] == [7, 7]


def test_json_renders_exceptions_as_text():
    stream = io.StringIO()
    configure_logging("json", 0, stream=stream)
    try:
        raise ValueError("boom")
    except ValueError:
        structlog.get_logger("harvester.test").exception("run.crashed")
    (event,) = json_lines(stream)
    assert event["event"] == "run.crashed"
    assert "ValueError: boom" in event["exception"]


def test_console_renders_a_readable_line():
    stream = io.StringIO()
    assert configure_logging("console", 0, stream=stream) == "console"

    structlog.get_logger("harvester.test").warning("fetch.retry", status=503)
    logging.getLogger("urllib3").warning("Retrying request")

    ours, theirs = lines(stream)
    for line in (ours, theirs):
        with pytest.raises(json.JSONDecodeError):
            json.loads(line)
        assert "\x1b[" not in line  # no colour codes when the stream is not a terminal
    assert "fetch.retry" in ours
    assert "status=503" in ours
    assert "warning" in ours
    assert "Retrying request" in theirs


def test_console_hides_info_by_default():
    stream = io.StringIO()
    configure_logging("console", 0, stream=stream)
    structlog.get_logger("harvester.test").info("fetch.done")
    assert lines(stream) == []


def test_auto_picks_json_when_not_a_terminal():
    stream = io.StringIO()
    assert configure_logging("auto", 0, stream=stream) == "json"
    structlog.get_logger("harvester.test").info("fetch.done")
    (event,) = json_lines(stream)
    assert event["event"] == "fetch.done"


def test_auto_picks_console_on_a_terminal():
    assert configure_logging("auto", 0, stream=FakeTty()) == "console"


def test_verbosity_minus_one_hides_info():
    stream = io.StringIO()
    configure_logging("json", -1, stream=stream)
    log = structlog.get_logger("harvester.test")
    log.info("fetch.done")
    log.warning("fetch.retry")
    assert [event["event"] for event in json_lines(stream)] == ["fetch.retry"]


def test_verbose_shows_debug():
    stream = io.StringIO()
    configure_logging("json", 1, stream=stream)
    structlog.get_logger("harvester.test").debug("fetch.request")
    assert [event["event"] for event in json_lines(stream)] == ["fetch.request"]


@pytest.mark.parametrize(("verbosity", "shown"), [(0, False), (1, False), (2, True)])
def test_noisy_library_info_only_from_double_verbose(verbosity, shown):
    stream = io.StringIO()
    configure_logging("json", verbosity, stream=stream)
    logging.getLogger("urllib3").info("Starting new HTTPS connection")
    assert bool(lines(stream)) is shown


def test_configuring_twice_does_not_duplicate_lines():
    first, second = io.StringIO(), io.StringIO()
    configure_logging("json", 0, stream=first)
    configure_logging("json", 0, stream=second)
    structlog.get_logger("harvester.test").info("fetch.done")
    assert first.getvalue() == ""
    assert len(json_lines(second)) == 1


def test_stdlib_exception_is_one_json_line_with_the_traceback():
    stream = io.StringIO()
    configure_logging("json", 0, stream=stream)
    try:
        raise ZeroDivisionError("division by zero")
    except ZeroDivisionError:
        logging.getLogger("apscheduler").exception("job failed")
    (event,) = json_lines(stream)
    assert (event["event"], event["level"], event["logger"]) == (
        "job failed",
        "error",
        "apscheduler",
    )
    assert "ZeroDivisionError: division by zero" in event["exception"]
