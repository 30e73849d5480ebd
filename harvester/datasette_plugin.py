"""Datasette plugin (entry point `harvester` in pyproject.toml): the harvester's SQL function on
every connection Datasette opens, so that its pages, canned queries (`source_payloads`) and
users' own SQL read payloads as the harvester does: `payload_text(id)`, the text of a
`source_records` row however it is stored (zstd frames, deltas: `harvester.store.payloads`)."""

from __future__ import annotations

import sqlite3

from datasette import hookimpl

from harvester.store import register_functions


@hookimpl
def prepare_connection(conn: sqlite3.Connection) -> None:
    register_functions(conn)
