"""Harvesting RePEc: handles and whole series from an archive tree, incrementally, and the DOIs
their records carry, so that a work has both identifiers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

import structlog

from harvester import errors
from harvester.config import Config
from harvester.http import HttpClient
from harvester.identifiers import RepecHandle, ascii_key
from harvester.models import NotFound
from harvester.pipeline.common import (
    Run,
    RunResult,
    chunks,
)
from harvester.pipeline.dois import (
    DoiResolver,
    resolve_due_links,
    resolving_run,
    write_linked_dois,
)
from harvester.pipeline.feeds import keep_file, observe_record, pull_pages
from harvester.sources import redif, repec
from harvester.store import Answer, Observation, Outcome, Store

log = structlog.get_logger(__name__)


def harvest_repec(
    handles: Iterable[RepecHandle] = (),
    series: Iterable[tuple[str, str]] = (),
    archives: Iterable[str] = (),
    *,
    store: Store,
    client: HttpClient,
    config: Config,
    command: str,
    on_outcome: Callable[[Outcome], None] | None = None,
    stop: threading.Event | None = None,
    tree: repec.ArchiveTree | None = None,
) -> RunResult:
    """Resolve RePEc handles and harvest whole series (`(archive, series)` codes) and archives
    (archive codes) from the archive tree `[repec] url` names, and, after each batch, the DOIs
    its records carry, so that a work has both identifiers.

    A series or archive harvest reads only the files that changed since the last one (their
    version, else their content hash, says so). A file's works are written in transactions of
    `chunk_size` and the index records the file as read only after the last one, so a run killed
    in between reads the file again next time rather than losing any of it.
    """
    tree = tree or repec.open_tree(config.repec.url, client)
    folders = [*(f"{archive}/{name}" for archive, name in series), *archives]
    with resolving_run(store, client, config, command, on_outcome) as (run, resolver):
        reader = RepecReader(tree, store, config)
        stopping = (lambda: False) if stop is None else stop.is_set
        resolve_due_links(run, resolver, config.chunk_size, stopping=stopping)
        if not harvest_repec_in(run, resolver, reader, handles, folders, stop=stop):
            run.interrupt()
    return run.result


def harvest_repec_in(
    run: Run,
    resolver: DoiResolver,
    reader: RepecReader,
    handles: Iterable[RepecHandle] = (),
    folders: Iterable[str] = (),
    *,
    stop: threading.Event | None = None,
) -> bool:
    """Within a run: the folders (series "sae/woemps" or archives "sae"), each through the feed
    driver's page loop (`folder_pages`: only the files that changed), then the handles, each
    batch followed by the DOIs it carries. False when a stop request ended it early."""
    config = reader.config

    def stopped() -> bool:
        return stop is not None and stop.is_set()

    for folder in folders:
        pages = repec.folder_pages(reader.tree, folder, config.chunk_size, run.store.repec.file)
        ended, _, _ = pull_pages(pages, run, resolver, config, stopping=stopped)
        if ended == "stopped":
            return False
    for chunk in chunks(handles, config.chunk_size):
        if stopped():
            return False
        observations = reader.handles(chunk)
        write_linked_dois(run, resolver, observations, config.chunk_size)
    return not stopped()


class RepecReader:
    """Reads the templates of single handles from the files the index names."""

    def __init__(self, tree: repec.ArchiveTree, store: Store, config: Config) -> None:
        self.tree, self.store, self.config = tree, store, config
        self.names = repec.SeriesNames(tree)

    def handles(self, handles: list[RepecHandle]) -> list[Observation]:
        """One observation per handle: read from the file the index names (the series folder is
        indexed first when the handle is not yet known)."""
        observations = []
        for handle in handles:
            path = self.store.repec.path(handle.key)
            if path is None:
                self._index_folder(f"{handle.archive}/{handle.series}")
                path = self.store.repec.path(handle.key)
            template = self._template(path, handle) if path else None
            if template is None:
                observations.append(self._not_found(handle))
                continue
            answer = repec.template_answer(template, self.names)
            observations.append(observe_record(self.store, self.config, repec.SOURCE, answer))
        return observations

    # --- reading ---

    def _template(self, path: str, handle: RepecHandle) -> redif.Template | None:
        try:
            data, _ = self.tree.read(path)
        except errors.NotFound:  # the index names a file the tree no longer has
            return None
        parsed = redif.parse_file(data or b"", path)
        self._index(parsed, *self.store.repec.file(path))
        return next((t for t in parsed.templates if ascii_key(t.handle) == handle.key), None)

    def _index_folder(self, folder: str) -> None:
        """Index the handles of a folder's files without counting them as harvested: only a
        series harvest, having stored every work of a file, records the file's version."""
        for tree_file in self.tree.files(folder):
            version, content_hash = self.store.repec.file(tree_file.path)
            data, _ = self.tree.read(tree_file.path, version)
            if data is not None:
                parsed = redif.parse_file(data, tree_file.path)
                self._index(parsed, version, content_hash)

    def _index(self, parsed: redif.RedifFile, version: str | None, digest: str | None) -> None:
        repec.log_template_errors(parsed)
        keep_file(self.store, repec.file_read(parsed, version, digest))

    def _not_found(self, handle: RepecHandle) -> NotFound:
        return NotFound(
            source=redif.SOURCE,
            key=handle.key,
            scheme="repec",
            display=handle.value,
            answers=(Answer(redif.SOURCE, handle.key, "not_found"),),
            error=f"no template with this handle in the archive tree ({handle.archive}/{handle.series})",
        )
