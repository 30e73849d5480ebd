"""structlog set-up: readable lines on a terminal, JSON lines under cron, stdlib loggers rendered alike.

Logs go to stderr; stdout carries only the command's results, so `harvest doi ... > out.txt` and a
cron mail both stay clean.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

from harvester.secrets import mask_event

#: Library loggers that are chatty at INFO; they are shown only from -vv on.
_NOISY = ("urllib3", "apscheduler", "requests")


class _Stderr:
    """sys.stderr as it is when a line is written, not when logging was set up: a progress bar
    on the terminal routes stderr above itself while it is shown (harvester.terminal)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure_logging(fmt: str = "auto", verbosity: int = 0, stream: TextIO | None = None) -> str:
    """Configure structlog and the stdlib root logger once per process; returns the format chosen.

    `fmt` is "console", "json" or "auto" (console on a terminal, JSON otherwise). `verbosity` counts
    -v (positive) and -q (negative). The console shows warnings by default, because the command's own
    result lines already say what happened; JSON shows info, because under cron the log is the record.
    """
    stream = stream or _Stderr()
    if fmt == "auto":
        fmt = "console" if stream.isatty() else "json"
    base = logging.WARNING if fmt == "console" else logging.INFO
    level = max(logging.DEBUG, min(logging.CRITICAL, base - 10 * verbosity))

    shared: list = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=stream.isatty())
    # A traceback becomes text before masking, in both formats: the console renderer would
    # otherwise format the exception itself, after mask_event, quoting a key its message holds.
    shared.append(structlog.processors.format_exc_info)
    # Last before rendering, so that whatever any processor or logger put in is masked too.
    shared.append(mask_event)

    structlog.configure(
        processors=[
            # An event below the level is dropped first, before it is stamped, masked and
            # rendered only for the stdlib logger to throw away (debug lines per work).
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in _NOISY:
        logging.getLogger(name).setLevel(
            max(level, logging.INFO if verbosity >= 2 else logging.WARNING)
        )
    return fmt
