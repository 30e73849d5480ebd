"""Harvesting RePEc: handles and whole series from an archive tree, incrementally, and the DOIs
their records carry, so that a work has both identifiers.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing

import structlog

from harvester.config import Config
from harvester.errors import NotFound, UpstreamError, failure_kind
from harvester.http import HttpClient
from harvester.identifiers import RepecHandle, ascii_key, parse_doi, parse_repec
from harvester.pipeline.common import (
    Run,
    RunResult,
    canonical_payload,
    chunks,
    observe_answers,
)
from harvester.pipeline.dois import DoiResolver, write_linked_dois
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
    with (
        Run(store, command, on_outcome, config.watch) as run,
        closing(DoiResolver(store, client, config, refresh=False)) as resolver,
    ):
        reader = RepecReader(tree, store, config)
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
    """Within a run: the folders (series "sae/woemps" or archives "sae"), then the handles, each
    batch followed by the DOIs it carries. False when a stop request ended it early."""
    chunk_size = reader.config.chunk_size

    def stopped() -> bool:
        return stop is not None and stop.is_set()

    def write(observations: list[Observation]) -> None:
        run.write(observations)
        write_linked_dois(run, resolver, observations, chunk_size)

    for folder in folders:
        for observations, mark_read in reader.folder(folder):
            write(observations)
            if mark_read:
                mark_read()
            if stopped():
                return False
    for chunk in chunks(handles, chunk_size):
        if stopped():
            return False
        write(reader.handles(chunk))
    return not stopped()


class RepecReader:
    """Reads archive files into observations; keeps the series names of each archive it saw."""

    def __init__(self, tree: repec.ArchiveTree, store: Store, config: Config) -> None:
        self.tree, self.store, self.config = tree, store, config
        self._series_names: dict[str, dict[str, str]] = {}

    def folder(self, folder: str) -> Iterator[tuple[list[Observation], Callable[[], None] | None]]:
        """The works of each file below `folder` (a series' or a whole archive's) that changed,
        `chunk_size` at a time, each with what to call once they are stored: nothing, except
        after a file's last chunk, where it records the file as read.

        Observations are made one chunk at a time, after the chunk before was stored, so that
        two records of one file naming the same DOI find the work the first one made."""
        for tree_file in self.tree.files(folder):
            version, content_hash = self.store.repec_file(tree_file.path)
            try:
                data, new_version = self.tree.read(tree_file.path, version)
            except UpstreamError as exc:
                # One unreadable file (too large, gone, its server failing) is that file's
                # failure, reported and read again next time; the rest of the folder goes on.
                yield [_file_failed(tree_file.path, str(exc), failure_kind(exc))], None
                continue
            if data is None:
                continue
            digest = hashlib.sha256(data).hexdigest()
            if digest == content_hash:
                self.store.index_repec_file(
                    tree_file.path, version=new_version, content_hash=digest
                )
                continue
            parsed = redif.parse_file(data, tree_file.path)
            works = [t for t in parsed.templates if t.type in redif.RECORD_TYPES]
            batches = list(chunks(works, self.config.chunk_size)) or [[]]
            for batch in batches[:-1]:
                yield [self._observe_template(t) for t in batch], None
            yield (
                [self._observe_template(t) for t in batches[-1]],
                lambda p=parsed, v=new_version, d=digest: self._index(p, v, d),
            )

    def handles(self, handles: list[RepecHandle]) -> list[Observation]:
        """One observation per handle: read from the file the index names (the series folder is
        indexed first when the handle is not yet known)."""
        observations = []
        for handle in handles:
            path = self.store.repec_path(handle.key)
            if path is None:
                self._index_folder(f"{handle.archive}/{handle.series}")
                path = self.store.repec_path(handle.key)
            template = self._template(path, handle) if path else None
            if template is None:
                observations.append(self._not_found(handle))
                continue
            observations.append(self._observe_template(template))
        return observations

    # --- reading ---

    def _template(self, path: str, handle: RepecHandle) -> redif.Template | None:
        try:
            data, _ = self.tree.read(path)
        except NotFound:
            return None
        parsed = redif.parse_file(data or b"", path)
        self._index(parsed, *self.store.repec_file(path))
        return next((t for t in parsed.templates if ascii_key(t.handle) == handle.key), None)

    def _index_folder(self, folder: str) -> None:
        """Index the handles of a folder's files without counting them as harvested: only a
        series harvest, having stored every work of a file, records the file's version."""
        for tree_file in self.tree.files(folder):
            version, content_hash = self.store.repec_file(tree_file.path)
            data, _ = self.tree.read(tree_file.path, version)
            if data is not None:
                parsed = redif.parse_file(data, tree_file.path)
                self._index(parsed, version, content_hash)

    def _index(self, parsed: redif.RedifFile, version: str | None, digest: str | None) -> None:
        for error in parsed.errors:
            log.warning(
                "repec.template_skipped", file=error.path, line=error.line, reason=error.reason
            )
        self.store.index_repec_file(
            parsed.path,
            version=version,
            content_hash=digest,
            encoding=parsed.encoding,
            handles=[(ascii_key(t.handle), t.handle, t.type, t.line) for t in parsed.templates],
            errors=len(parsed.errors),
        )

    def _names(self, archive: str) -> dict[str, str]:
        """Series names of an archive, from its {archive}seri.rdf (for container titles)."""
        if archive not in self._series_names:
            try:
                data, _ = self.tree.read(f"{archive}/{archive}seri.rdf")
                parsed = redif.parse_file(data or b"", f"{archive}/{archive}seri.rdf")
                self._series_names[archive] = redif.series_names(parsed.templates)
            except NotFound:
                self._series_names[archive] = {}
        return self._series_names[archive]

    # --- observing ---

    def _observe_template(self, template: redif.Template) -> Observation:
        handle = parse_repec(template.handle)
        series_key = ascii_key(f"RePEc:{handle.archive}:{handle.series}")
        payload = redif.template_payload(
            template, self._names(handle.archive.lower()).get(series_key)
        )
        text, digest = canonical_payload(payload, (), redif.PARSER_VERSION)
        doi = redif.doi_of(template)
        links = (("doi", parse_doi(doi).key),) if doi else ()
        work_id = self.store.find_work_id("repec", handle.key)
        for _, key in links:
            work_id = work_id or self.store.find_work_id("doi", key)
        before = self.store.latest_answers([work_id]).get(work_id, {}) if work_id else {}
        return observe_answers(
            self.store,
            self.config,
            (Answer(redif.SOURCE, handle.key, "ok", text, digest),),
            work_id=work_id,
            before=before,
            source=redif.SOURCE,
            key=handle.key,
            display=handle.value,
            scheme="repec",
            links=links,
        )

    def _not_found(self, handle: RepecHandle) -> Observation:
        return Observation(
            source=redif.SOURCE,
            key=handle.key,
            scheme="repec",
            display=handle.value,
            status="not_found",
            answers=(Answer(redif.SOURCE, handle.key, "not_found"),),
            error=f"no template with this handle in the archive tree ({handle.archive}/{handle.series})",
        )


def _file_failed(path: str, error: str, kind: str) -> Observation:
    return Observation(
        source=redif.SOURCE,
        key="",
        scheme="file",
        display=path,
        status="failed",
        error=error,
        error_kind=kind,
    )
