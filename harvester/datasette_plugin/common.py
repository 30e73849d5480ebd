"""What every page of the plugin needs: the served harvest database, the harvester's
configuration, and the library's `Store` over a connection Datasette opened (reads) or over one
of the plugin's own under the writer lock (writes)."""

from __future__ import annotations

import sqlite3
from typing import Any

import sqlite_utils

from harvester.config import Config, load_config
from harvester.store import Store

#: The permission every action of the review console needs (`permission_allowed`).
REVIEW_PERMISSION = "harvester-review"


class BadRequest(ValueError):
    """A parameter a route cannot use: answered 400 with its message."""


async def harvest_database(datasette, name: str | None, actor: dict | None):
    """The database named `db`, else the first served one that a harvester wrote, once the
    actor may view it: the console and the feed show what its tables hold, so Datasette's
    `view-instance` and `view-database` rules apply to them as to its own pages (Forbidden,
    a 403, otherwise)."""
    database = await _harvest_database(datasette, name)
    await datasette.ensure_permissions(actor, [("view-database", database.name), "view-instance"])
    return database


async def _harvest_database(datasette, name: str | None):
    if name is not None:
        if name not in datasette.databases:
            raise BadRequest(f"db={name!r}: no such database here")
        candidates = [datasette.databases[name]]
    else:
        candidates = [db for key, db in datasette.databases.items() if key != "_internal"]
    for database in candidates:
        if await database.table_exists("changes") and await database.table_exists("_migrations"):
            return database
    raise BadRequest("no harvest database is served here (none has a changes table)")


def plugin_config(datasette) -> dict[str, Any]:
    """`plugins: harvester:` of the metadata (config/datasette.yml, or `-s plugins.harvester.…`)."""
    return datasette.plugin_config("harvester") or {}


def harvester_config(datasette) -> Config:
    """The harvester's configuration, as `harvest` reads it: the file `plugins.harvester.config`
    names, else `$HARVEST_CONFIG`, else config/harvester.toml (ConfigError when it is bad)."""
    return load_config(plugin_config(datasette).get("config"))


def reading_store(conn: sqlite3.Connection, path: str | None) -> Store:
    """The library's parts over a connection Datasette opened: the same queries `harvest show`
    reads with, on the served database as it stands. Nothing migrates or converts here."""
    return Store(db=sqlite_utils.Database(conn), path=path or ":memory:")
