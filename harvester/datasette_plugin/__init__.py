"""The harvester's Datasette plugin (entry point `harvester` in pyproject.toml), enabled by
installing the package: `datasette data/harvest.db -m config/datasette.yml` needs nothing else.

- the harvester's SQL function on every connection Datasette opens, so that its pages, canned
  queries (`source_payloads`) and users' own SQL read payloads as the harvester does:
  `payload_text(id)`, the text of a `source_records` row however it is stored (zstd frames,
  deltas: `harvester.store.payloads`);
- the change feed (`feed`) at `/-/harvester/changes.atom` and `.json`;
- the review console (`console`): `/-/harvester/work/ID`, `/-/harvester/review` with its
  actions, `/-/harvester/search?q=`; actions need the `harvester-review` permission, which
  `plugins.harvester.review_allow` (an allow block) grants; nobody has it otherwise;
- its templates (a work's row page among them) and static files, in this package, which
  Datasette finds beside the module."""

from __future__ import annotations

import sqlite3

from datasette import hookimpl
from datasette.utils import actor_matches_allow

from harvester.datasette_plugin import console
from harvester.datasette_plugin.common import REVIEW_PERMISSION, plugin_config
from harvester.datasette_plugin.feed import changes_feed
from harvester.store import register_functions


@hookimpl
def prepare_connection(conn: sqlite3.Connection) -> None:
    register_functions(conn)


@hookimpl
def register_routes():
    return [
        (r"^/-/harvester/changes\.(?P<ending>atom|json)$", changes_feed),
        *console.routes(),
    ]


@hookimpl
def permission_allowed(datasette, actor, action, resource):
    """`harvester-review` for whom `plugins.harvester.review_allow` allows (Datasette's allow
    block: `{id: [alice, bob]}`); without it, no one: the console is read-only by default."""
    if action != REVIEW_PERMISSION:
        return None
    allow = plugin_config(datasette).get("review_allow")
    if allow is None:
        return None
    return actor_matches_allow(actor, allow)


@hookimpl
def menu_links(datasette, actor):
    return [
        {"href": datasette.urls.path("/-/harvester/review"), "label": "Review queues"},
        {"href": datasette.urls.path("/-/harvester/search"), "label": "Search the harvest"},
    ]
