"""RePEc archive trees: list and read the ReDIF files of a local folder or an http(s) base.

A RePEc archive `aaa` publishes `aaa/aaaarch.rdf`, `aaa/aaaseri.rdf` and one folder per series
(named by the series code, sub-folders allowed) holding the series' `.rdf` files. RePEc's own
harvester reads archives from their directory listings, and people keep rsync copies of the whole
tree, so both are read here behind one small interface, `ArchiveTree`:

- `files(under)` lists the ReDIF files below a folder, lazily and sorted by path;
- `read(path, known_version)` gives the bytes and a version string, or `None` when the file has not
  changed since `known_version`, so an incremental refresh neither downloads nor parses it again.

Folder names are matched case-insensitively when the exact name is missing: handles compare
case-insensitively, and archives do not all spell their folders the way their handles do.
Parsing the bytes is `harvester.redif`'s job; nothing here knows about ReDIF fields.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, unquote, urljoin, urlsplit

import structlog
from lxml import etree, html

from harvester.config import Config, FeedConfig, PoolLimit
from harvester.errors import (
    BadIdentifier,
    BadPayload,
    ConfigError,
    NotFound,
    UpstreamError,
    failure_kind,
)
from harvester.http import BodyTooLarge, HttpClient, redact_url
from harvester.identifiers import (
    RepecHandle,
    ascii_key,
    parse_repec,
    parse_repec_archive,
    parse_repec_series,
)
from harvester.models import Fetched, Record
from harvester.sources import redif
from harvester.sources.base import FeedPage, FeedState, FeedTarget, FileRead
from harvester.sources.redif import PARSER_VERSION as PARSER_VERSION  # its parser's version
from harvester.sources.redif import SOURCE

log = structlog.get_logger(__name__)

#: Its section of config/harvester.toml: `url` names the archive tree, `rate` paces it.
CONFIG_SECTION = "repec"
#: A template's payload holds nothing RePEc re-stamps.
VOLATILE_KEYS: tuple[str, ...] = ()
#: The rate-limiter pool every request for a RePEc tree goes through (the caller registers it).
POOL = "repec:files"
#: Largest ReDIF file read: the largest real series files are a few MB; a file far larger is
#: broken or hostile and is refused before it is read, so memory stays bounded.
MAX_FILE_BYTES = 64 * 2**20

#: ReDIF file endings (RePEc accepts `aaaseri.redif` as well as `aaaseri.rdf`).
REDIF_SUFFIXES = (".rdf", ".redif")
#: Folders deeper than this are not listed: a server-side symlink loop would otherwise give an
#: endless chain of ever longer URLs. Real trees are archive/series/one or two sub-folders.
MAX_DEPTH = 12

_Entry = tuple[str, bool]  # (name, is a folder)
_HANDLE = re.compile(r"(?i)repec:(?P<archive>[a-z0-9]{3})(?::(?P<series>[a-z0-9]{6})(?::.*)?)?")


@dataclass(frozen=True)
class TreeFile:
    path: str  # relative POSIX path below the tree root, e.g. "sae/woemps/woemps2015.rdf"


class ArchiveTree(Protocol):
    """What the harvest needs of a tree; `LocalTree` and `HttpTree` are the two there are."""

    def files(self, under: str = "") -> Iterator[TreeFile]: ...
    def read(self, path: str, known_version: str | None = None) -> tuple[bytes | None, str]: ...


class _Tree:
    """What both trees share: finding a folder (case-tolerant) and walking it in path order."""

    def _list(self, folder: tuple[str, ...]) -> list[_Entry] | None:
        """The folder's visible entries, or None when there is no such folder."""
        raise NotImplementedError

    def files(self, under: str = "") -> Iterator[TreeFile]:
        """Every ReDIF file below `under` ("" = the whole tree), recursively, sorted by path.

        Entries are visited by name, a folder as "name/", so the depth-first walk comes out in
        the order of the path strings without holding the whole list: the tree may be all of RePEc.
        """
        segments = _segments(under)
        if segments is None:
            return
        folder, entries = self._locate(segments)
        if entries is not None:
            yield from self._walk(folder, entries)

    def _locate(self, segments: tuple[str, ...]) -> tuple[tuple[str, ...], list[_Entry] | None]:
        """The folder as spelt in the tree and its entries; names are tried as given first."""
        entries = self._list(segments)
        if entries is not None or not segments:
            return segments, entries
        parent, siblings = self._locate(segments[:-1])
        wanted = segments[-1].casefold()
        names = sorted(n for n, is_dir in siblings or () if is_dir and n.casefold() == wanted)
        if not names:
            return segments, None
        folder = (*parent, names[0])
        return folder, self._list(folder)

    def _walk(self, folder: tuple[str, ...], entries: list[_Entry]) -> Iterator[TreeFile]:
        for name, is_dir in sorted(entries, key=lambda e: e[0] + "/" if e[1] else e[0]):
            path = (*folder, name)
            if not is_dir:
                if name.lower().endswith(REDIF_SUFFIXES):
                    yield TreeFile("/".join(path))
            elif len(path) > MAX_DEPTH:
                log.warning("repec.too_deep", source=SOURCE, folder="/".join(path))
            elif (sub := self._list(path)) is not None:
                yield from self._walk(path, sub)


class LocalTree(_Tree):
    """A tree in a local folder, e.g. an rsync copy of RePEc's ReDIF data.

    Hidden files and folders are skipped (rsync's temporary `.name.XXXX` files among them).
    Symlinked folders are not entered (no escape, no loops); a symlinked file counts only when it
    points to a file inside the root. The version is mtime and size: a stat, not a read.
    """

    def __init__(self, root: Path, max_bytes: int = MAX_FILE_BYTES) -> None:
        self.root = Path(root).resolve()
        self._max_bytes = max_bytes

    def _list(self, folder: tuple[str, ...]) -> list[_Entry] | None:
        try:
            with os.scandir(self.root.joinpath(*folder)) as it:
                found = list(it)
        except (FileNotFoundError, NotADirectoryError):
            return None
        entries: list[_Entry] = []
        for entry in found:
            if entry.name.startswith("."):
                continue
            if entry.is_symlink():
                if entry.is_file() and self._inside(Path(entry.path)):
                    entries.append((entry.name, False))
            elif entry.is_dir() or entry.is_file():
                entries.append((entry.name, entry.is_dir()))
        return entries

    def _inside(self, path: Path) -> bool:
        return path.resolve().is_relative_to(self.root)

    def read(self, path: str, known_version: str | None = None) -> tuple[bytes | None, str]:
        """(None, version) when mtime and size are those of `known_version`, else the bytes."""
        segments = _segments(path)
        full = self.root.joinpath(*segments) if segments else self.root
        if not segments or not self._inside(full) or not full.is_file():
            raise NotFound(f"{SOURCE}: no file {path!r} in {self.root}", source=SOURCE, url=path)
        stat = full.stat()
        version = f"{stat.st_mtime_ns}:{stat.st_size}"
        if version == known_version:
            return None, version
        if stat.st_size > self._max_bytes:
            raise BodyTooLarge(
                f"{SOURCE}: {path} is {stat.st_size} bytes, over the cap of {self._max_bytes}; "
                "not read (no ReDIF file of a real archive comes near it)",
                source=SOURCE,
                url=path,
            )
        return full.read_bytes(), version


class HttpTree(_Tree):
    """A tree on an http(s) server whose folders answer with HTML directory listings
    (Apache or nginx autoindex, Python's http.server), read the way RePEc's harvester reads them.

    Files are fetched with a conditional GET (If-None-Match / If-Modified-Since from the version
    last seen), so an unchanged file costs a 304 and no body.
    """

    def __init__(self, base_url: str, client: HttpClient, max_bytes: int = MAX_FILE_BYTES) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self._client = client
        self._max_bytes = max_bytes

    def _url(self, segments: tuple[str, ...], folder: bool = False) -> str:
        tail = "/".join(quote(s, safe="") for s in segments)
        return self.base_url + tail + ("/" if folder and segments else "")

    def _list(self, folder: tuple[str, ...]) -> list[_Entry] | None:
        url = self._url(folder, folder=True)
        try:
            answer = self._client.get_bytes(
                url,
                pool=POOL,
                source=SOURCE,
                headers={"Accept": "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"},
                max_bytes=self._max_bytes,
            )
        except NotFound:
            return None
        kind = answer.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if kind not in ("text/html", "application/xhtml+xml") and not (
            kind == "" and answer.content.lstrip()[:1] == b"<"
        ):
            where = f"{SOURCE} (GET {redact_url(url)})"
            got = f"{kind or 'no content type'} (HTTP {answer.status})"
            message = f"{where}: expected an HTML directory listing, got {got}"
            raise BadPayload(message, source=SOURCE, status=answer.status, url=redact_url(url))
        return _listing(answer.content, page_url=answer.url or url, folder_url=url)

    def read(self, path: str, known_version: str | None = None) -> tuple[bytes | None, str]:
        """(None, version) on a 304, or when the version of the answer is the one known."""
        segments = _segments(path)
        if not segments:
            raise NotFound(f"{SOURCE}: no file {path!r} below {self.base_url}", source=SOURCE)
        kind, _, value = (known_version or "").partition(":")
        header = {"etag": "If-None-Match", "modified": "If-Modified-Since"}.get(kind)
        headers = {"Accept": "*/*"}
        if header and value:
            headers[header] = value
        url = self._url(segments)
        answer = self._client.get_bytes(
            url,
            pool=POOL,
            source=SOURCE,
            headers=headers,
            answer_statuses=frozenset({304}),
            max_bytes=self._max_bytes,
        )
        if answer.status == 304:
            if known_version is None or header not in headers:  # a 304 we did not ask for
                where = f"{SOURCE} (GET {redact_url(url)})"
                message = f"{where}: 304 Not Modified to an unconditional request"
                raise BadPayload(message, source=SOURCE, status=304, url=redact_url(url))
            return None, known_version
        if etag := answer.headers.get("ETag"):
            version = f"etag:{etag.strip()}"
        elif modified := answer.headers.get("Last-Modified"):
            version = f"modified:{modified.strip()}"
        else:
            version = "sha256:" + hashlib.sha256(answer.content).hexdigest()
        if version == known_version:
            return None, version
        return answer.content, version


def _listing(content: bytes, *, page_url: str, folder_url: str) -> list[_Entry]:
    """The children a directory listing links to. Only links to a direct child of the folder
    count: not the parent ("..", "Parent Directory"), not other hosts, not the `?C=M;O=A` sort
    links, not hidden names. The HTML parser reads no DTD and fetches nothing."""
    parser = html.HTMLParser(no_network=True, huge_tree=False, remove_comments=True)
    try:
        doc = html.document_fromstring(content, parser=parser)
    except (etree.ParserError, ValueError):  # an empty page
        return []
    base = urlsplit(folder_url)
    base_path = unquote(base.path)
    entries: dict[str, bool] = {}
    for href in doc.xpath("//a/@href"):
        href = str(href).strip()
        if not href or href[0] in "?#":
            continue
        target = urlsplit(urljoin(page_url, href))
        if target.query or (target.scheme, target.netloc.lower()) != (
            base.scheme,
            base.netloc.lower(),
        ):
            continue
        path = unquote(target.path)
        if not path.startswith(base_path):
            continue
        rest = path[len(base_path) :]
        name = rest.removesuffix("/")
        if name and "/" not in name and not name.startswith(".") and "\x00" not in name:
            entries[name] = rest.endswith("/")
    return list(entries.items())


def _segments(path: str) -> tuple[str, ...] | None:
    """A POSIX path below the root as its names (a leading "/" still means the root); None for
    one that would leave the tree."""
    segments = tuple(s for s in path.split("/") if s and s != ".")
    return None if ".." in segments or "\x00" in path else segments


def open_tree(url: str, client: HttpClient | None) -> ArchiveTree:
    """The tree `[repec] url` (or HARVEST_REPEC_URL) names: http(s) base, file:// URL or folder."""
    url = url.strip()
    if not url:
        raise ConfigError(
            "[repec] url is not set: point it (or HARVEST_REPEC_URL) at a RePEc archive tree: "
            "a folder or an http(s) base"
        )
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if client is None:
            raise ValueError("an http(s) RePEc tree needs an HttpClient")
        return HttpTree(url, client)
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ConfigError(f"[repec] url {url!r}: a file:// URL must name a local folder")
        folder = Path(unquote(parts.path))
    elif len(scheme) > 1:  # one letter is a Windows drive, not a scheme
        raise ConfigError(
            f"[repec] url {url!r}: {scheme}:// is not supported; use a folder or an http(s) base"
        )
    else:
        folder = Path(url).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"[repec] url: the folder {str(folder)!r} does not exist")
    return LocalTree(folder)


def _handle_parts(handle: RepecHandle | str) -> tuple[str, str]:
    """(archive, series) of an item's, a series' ("RePEc:sae:woemps") or an archive's handle
    (series ""). The codes are checked to be letters and digits, so they are safe folder names."""
    if isinstance(handle, RepecHandle):
        return handle.archive, handle.series
    match = _HANDLE.fullmatch(handle.strip())
    if not match:
        raise BadIdentifier(handle, "not a RePEc handle (RePEc:archive[:series[:item]])")
    return match["archive"], match["series"] or ""


def archive_folder(handle: RepecHandle | str) -> str:
    """The archive's folder: "RePEc:sae:woemps:v:29" -> "sae" (RePEc spells folders lower case)."""
    return _handle_parts(handle)[0].lower()


def series_folder(handle: RepecHandle | str) -> str:
    """The series' folder: "RePEc:sae:woemps:v:29" or "RePEc:sae:woemps" -> "sae/woemps"."""
    archive, series = _handle_parts(handle)
    if not series:
        raise BadIdentifier(str(handle), "no series in this handle")
    return f"{archive}/{series}".lower()


def pools(config: Config) -> dict[str, PoolLimit]:
    return {POOL: config.repec.limit}


def parse(payload: Mapping[str, Any]) -> Record:
    """The record a stored template payload says (`redif.template_payload`)."""
    return redif.record_from_payload(payload)


# --- feed: the changed files of a series or a whole archive, pulled by the feed driver ---

#: The `[[feeds]] kind` of a RePEc series or archive.
FEED_KIND = "repec"


def feed_folder(feed: FeedConfig) -> str:
    """The folder a feed reads: "sae/woemps" for a series, "sae" for an archive."""
    if feed.series:
        archive, series = parse_repec_series(feed.series)
        return f"{archive}/{series}"
    return parse_repec_archive(feed.archive)


def feed_target(feed: FeedConfig, config: Config) -> FeedTarget:
    field = "series" if feed.series else "archive"
    return FeedTarget(
        key=f"{FEED_KIND} {field} {getattr(feed, field)}",
        kind=FEED_KIND,
        endpoint=config.repec.url,
        params={"folder": feed_folder(feed)},
        display=f"feed {feed.label}",
    )


def feed_pages(
    feed: FeedConfig,
    config: Config,
    client: HttpClient,
    state: FeedState,
) -> Iterator[FeedPage]:
    """The works of every file below the feed's folder that changed (see `folder_pages`). The
    files' versions are the feed's state: it has no watermark, and cannot resume mid-file."""
    tree = open_tree(config.repec.url, client)
    return folder_pages(tree, feed_folder(feed), config.chunk_size, state.read_before)


def folder_pages(
    tree: ArchiveTree,
    folder: str,
    chunk_size: int,
    read_before: Callable[[str], tuple[str | None, str | None]],
) -> Iterator[FeedPage]:
    """The works of each file below `folder` (a series' or a whole archive's) that changed since
    `read_before` says it was stored, `chunk_size` a page; a file's last page names the file, to
    be recorded as read once that page is stored, so a run stopped or killed inside a file reads
    it again next time rather than losing any of it. A file whose content is unchanged under a
    new version is named in a page of no works. One unreadable file (too large, gone, its server
    failing) is that file's failure, and the rest of the folder goes on."""
    names = SeriesNames(tree)
    for tree_file in tree.files(folder):
        version, content_hash = read_before(tree_file.path)
        try:
            data, new_version = tree.read(tree_file.path, version)
        except UpstreamError as exc:
            failure = Fetched(
                SOURCE,
                "",
                "failed",
                error=str(exc),
                error_kind=failure_kind(exc),
                display=tree_file.path,
            )
            yield FeedPage(scheme=SOURCE, answers=[failure], resume=None, watermark=None)
            continue
        if data is None:  # not modified since `version`
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest == content_hash:
            read = FileRead(tree_file.path, new_version, digest)
            yield FeedPage(scheme=SOURCE, answers=[], resume=None, watermark=None, files=(read,))
            continue
        parsed = redif.parse_file(data, tree_file.path)
        log_template_errors(parsed)
        works = [t for t in parsed.templates if t.type in redif.RECORD_TYPES]
        batches = [works[i : i + chunk_size] for i in range(0, len(works), chunk_size)] or [[]]
        for number, batch in enumerate(batches, start=1):
            # Made when the page is asked for, after the one before is stored.
            answers = [template_answer(t, names) for t in batch]
            last = number == len(batches)
            files = (file_read(parsed, new_version, digest),) if last else ()
            yield FeedPage(SOURCE, answers, resume=None, watermark=None, files=files)


def file_read(parsed: redif.RedifFile, version: str | None, digest: str | None) -> FileRead:
    """What the index keeps of a parsed file: its version, hash, encoding and handles."""
    return FileRead(
        parsed.path,
        version,
        digest,
        encoding=parsed.encoding,
        handles=tuple((ascii_key(t.handle), t.handle, t.type, t.line) for t in parsed.templates),
        errors=len(parsed.errors),
    )


def log_template_errors(parsed: redif.RedifFile) -> None:
    for error in parsed.errors:
        log.warning("repec.template_skipped", file=error.path, line=error.line, reason=error.reason)


def template_answer(template: redif.Template, names: SeriesNames) -> Fetched:
    """A work template as the driver stores it: its payload, with its series' name and
    Provider-Name (the series is read once per archive, not stored per work otherwise)."""
    handle = parse_repec(template.handle)
    series_key = ascii_key(f"RePEc:{handle.archive}:{handle.series}")
    archive = handle.archive.lower()
    payload = redif.template_payload(
        template,
        names.of(archive).get(series_key),
        names.providers_of(archive).get(series_key),
    )
    return Fetched(SOURCE, handle.key, "ok", payload=payload, display=handle.value)


class SeriesNames:
    """The series of each archive met, read once from its {archive}seri.rdf: a series' Name is a
    working paper's series title (an article's journal) when its template names none, and its
    Provider-Name the work's publisher."""

    def __init__(self, tree: ArchiveTree) -> None:
        self.tree = tree
        self._names: dict[str, dict[str, str]] = {}
        self._providers: dict[str, dict[str, str]] = {}

    def of(self, archive: str) -> dict[str, str]:
        """Series handle key -> Name, for the archive's series."""
        self._read(archive)
        return self._names[archive]

    def providers_of(self, archive: str) -> dict[str, str]:
        """Series handle key -> Provider-Name, for the archive's series."""
        self._read(archive)
        return self._providers[archive]

    def _read(self, archive: str) -> None:
        if archive in self._names:
            return
        path = f"{archive}/{archive}seri.rdf"
        try:
            data, _ = self.tree.read(path)
        except NotFound:
            self._names[archive], self._providers[archive] = {}, {}
            return
        templates = redif.parse_file(data or b"", path).templates
        self._names[archive] = redif.series_names(templates)
        self._providers[archive] = redif.series_providers(templates)
