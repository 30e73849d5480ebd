"""ReDIF, RePEc's metadata format: decode a file, read its templates, turn works into Records.

Pure (no I/O) and streaming: `iter_templates` holds one template at a time, so a file of any size
is read in flat memory. Written against the real files in ../shared/fixtures/redif (see
PROVENANCE.tsv) and the ReDIF 1 spec (openlib.org/acmes/root/docu/redif_1.html):

- A template starts at a `Template-Type:` line; field names are case-insensitive; a line that
  starts with whitespace continues the field above. Real files also wrap long values onto lines
  *without* indentation, so any line that is not `Name: value` continues the field above too.
  A single word before a colon counts as a field name only if ReDIF defines it, so a title
  wrapped at "Marburg: Metropolis Verlag" stays one title (the EconPapers FAQ quirk).
- Blank lines may fall inside a template (paragraphs of an abstract). Fields after a blank line
  that bring a second Handle are a template whose Template-Type line is missing or damaged
  ("late-Type: ..."): that block is reported and skipped, the template before it is kept.
- Clusters: `Author-Name`, `Editor-Name` and `File-URL` each open a new author, editor or file;
  the `Author-*` (`Editor-*`, `File-*`) fields after it belong to it. An empty key still opens its
  cluster, so `File-URL:` followed by `File-Format: text/html` does not give the file before it a
  second format; a cluster field with no key before it is kept in the template's warnings.
- A line starting with "#" is a comment. Text before the first Template-Type is reported once.
- A broken template (no Handle, a Handle that does not parse, two Handles, a Handle the file
  already used) is a `TemplateError` with file and line, and the rest of the file still counts.
"""

from __future__ import annotations

import codecs
import datetime
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from harvester.errors import BadIdentifier
from harvester.identifiers import ascii_key, parse_doi, parse_repec
from harvester.models import Author, FileLink, Record, Relation

__all__ = [
    "SOURCE",
    "Cluster",
    "RedifFile",
    "Template",
    "TemplateError",
    "decode_redif",
    "doi_of",
    "iter_templates",
    "parse_file",
    "series_names",
    "series_providers",
    "split_name",
    "to_record",
]

SOURCE = "repec"

#: Template types that describe a work, and the store's (Crossref's) name for each.
RECORD_TYPES = {
    "article": "journal-article",
    "paper": "report",  # working papers are report series (BibTeX techreport, RIS RPRT)
    "chapter": "book-chapter",
    "book": "book",
    "software": "software",
}

#: Cluster kind -> the field that opens a new cluster of that kind.
CLUSTER_KEYS = {"author": "Author-Name", "editor": "Editor-Name", "file": "File-URL"}

#: Fields naming another version of the work in RePEc, as Crossref relation types: in a Paper,
#: Article-/Book-/Chapter-Handle name the published version; in an Article, Paper-Handle the paper.
RELATION_FIELDS = {
    "article-handle": "is-preprint-of",
    "book-handle": "is-preprint-of",
    "chapter-handle": "is-preprint-of",
    "paper-handle": "has-preprint",
}

#: Single-word field names ReDIF defines (plus DOI and a few seen in the wild). Hyphenated names
#: (Author-Name, X-Foo, ...) are always fields; any other "Word:" at the start of a line is text
#: that wrapped, e.g. "Marburg: Metropolis Verlag" inside a title.
SINGLE_WORD_FIELDS = frozenset(
    re.findall(
        r"\w+",
        """abstract author availability chapter contents copyright date description doi edition
        editor email fax handle homepage institution isbn issn issue journal keywords language
        length license location maintainer month name note notification number orcid pages phone
        postal price provider publisher requires restriction series size status subject title
        type url version volume year""",
    )
)

_FIELD = re.compile(r"([A-Za-z][A-Za-z0-9_-]*)[ \t]*:")
_TEMPLATE_TYPE = re.compile(r"(?i)redif-([a-z]+)\b")
_COLLECTION_HANDLE = re.compile(r"(?i)repec:[a-z0-9]{3}(?::\S+)?")
_NEWLINE = re.compile(r"\r\n|\r|\n")
_KEYWORD_SEPARATOR = re.compile(r"[,;]")
_NOTE_DOI = re.compile(r"\b10\.[0-9]{4,9}/\S+")
_DOI_URL = re.compile(r"(?i)^(?:https?://)?(?:dx\.|www\.)?doi\.org/")
_DATE = re.compile(r"([0-9]{4})(?:-?([0-9]{1,2})(?:-?([0-9]{1,2}))?)?")
_YEAR = re.compile(r"[0-9]{4}")


# --- decoding ---

#: cp1252 for bytes 0x80-0x9F; the five it leaves undefined stay latin-1 C1 controls.
_CP1252_HIGH = {
    chr(byte): char
    for byte in range(0x80, 0xA0)
    if (char := bytes([byte]).decode("cp1252", "ignore"))
}
_FROM_CP1252 = str.maketrans(_CP1252_HIGH)
#: Each character that a cp1252 (or latin-1) decoder makes of one byte >= 0x80 -> that byte.
_BYTE_OF = {chr(b): b for b in range(0x80, 0x100)} | {
    ch: ord(c1) for c1, ch in _CP1252_HIGH.items()
}
#: A run of such characters; `\x{9D}` is how one archive's Perl export wrote an undefined byte.
_MOJIBAKE_RUN = re.compile(
    "(?:[" + "".join(map(re.escape, sorted(_BYTE_OF))) + r"]|\\x\{[89A-Fa-f][0-9A-Fa-f]\})+"
)
_MOJIBAKE_UNIT = re.compile(r"\\x\{([0-9A-Fa-f]{2})\}|(.)", re.DOTALL)
#: Well-formed UTF-8 multi-byte sequences (no overlongs, surrogates or values past U+10FFFF).
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
_LOST_NBSP = re.compile("Ã ")
#: What any repair needs somewhere in the text: a character standing for a UTF-8 lead byte
#: followed by one standing for a continuation byte (the least a multi-byte sequence is), an
#: escaped byte, or the "Ã " of a lost no-break space. A text without one is left unread by
#: `_repair_line` (most non-ASCII files: their "é" alone is no sequence).
_MAYBE_DOUBLE_ENCODED = re.compile(
    "["
    + "".join(re.escape(c) for c, b in sorted(_BYTE_OF.items()) if 0xC2 <= b <= 0xF4)
    + "]["
    + "".join(re.escape(c) for c, b in sorted(_BYTE_OF.items()) if 0x80 <= b <= 0xBF)
    + r"]|\\x\{|Ã "
)
#: What a repaired character may be: Latin, Greek, Cyrillic, punctuation, symbols, CJK, emoji.
#: Anything else means the text was right as it was: "groß“" would otherwise become NKo "gro\u07d3".
_PLAUSIBLE_REPAIRS = (
    (0x00A0, 0x024F),
    (0x0370, 0x04FF),
    (0x1E00, 0x1EFF),
    (0x2000, 0x22FF),
    (0x3000, 0x9FFF),
    (0xAC00, 0xD7AF),
    (0xFF00, 0xFFEF),
    (0x1F000, 0x1FAFF),
)


def decode_redif(data: bytes) -> tuple[str, str]:
    """The text of a ReDIF file and the encoding it was read in.

    RePEc files come in every encoding: UTF-8 with or without BOM, cp1252/latin-1 (what ReDIF-Perl
    assumes without a BOM), and UTF-8 that was encoded twice ("Ã©" for "é"). A file that is
    valid UTF-8 is read as UTF-8; otherwise each line is read as UTF-8 if it can be and as cp1252
    if not. Then double encoding is repaired where it is unambiguous (`_repair_line`). Line ends
    come back as "\\n". The encoding is "utf-8", "utf-8-sig", "utf-16", "cp1252" or
    "utf-8+cp1252 (mixed per line)", with " (repaired double encoding)" when a repair was made.
    """
    text, encoding = _decoded(data)
    text = "\n".join(_NEWLINE.split(text))
    if text.isascii() or not _MAYBE_DOUBLE_ENCODED.search(text):
        return text, encoding  # nothing a repair could change: no line is looked at
    repaired = _repair_line(text)
    if repaired != text:
        encoding += " (repaired double encoding)"
    return repaired, encoding


def _decoded(data: bytes) -> tuple[str, str]:
    """The text as its encoding reads it, before any repair, and that encoding."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace"), "utf-16"
    bom = data.startswith(codecs.BOM_UTF8)
    body = data[len(codecs.BOM_UTF8) :] if bom else data
    try:
        return body.decode("utf-8"), "utf-8-sig" if bom else "utf-8"
    except UnicodeDecodeError:
        return _decode_per_line(body)


def _decode_per_line(body: bytes) -> tuple[str, str]:
    """Bytes that are not UTF-8 as a whole: a file pasted together from parts can mix both."""
    lines, utf8_lines = [], 0
    for raw in body.split(b"\n"):
        try:
            line = raw.decode("utf-8")
            utf8_lines += not line.isascii()
        except UnicodeDecodeError:
            line = raw.decode("latin-1").translate(_FROM_CP1252)
        lines.append(line)
    return "\n".join(lines), "utf-8+cp1252 (mixed per line)" if utf8_lines else "cp1252"


def _repair_line(line: str) -> str:
    """Undo double encoding: runs of characters that cp1252/latin-1 made of single bytes, whose
    bytes are well-formed UTF-8 decoding to a plausible character ("â€™" -> "’"). Repeated
    while it changes something (text encoded three times), at most three times.

    Given a whole text, it does what it does to each line: a run never crosses a line end, "Ã "
    after a line end is left as at a line's start, and a line that stopped changing stays as
    it is in a later round."""
    for _ in range(3):
        if line.isascii():
            return line
        repaired = _MOJIBAKE_RUN.sub(_repair_run, _LOST_NBSP.sub(_restore_a_grave, line))
        if repaired == line:
            return line
        line = repaired
    return line


def _repair_run(match: re.Match[str]) -> str:
    units = [  # (the byte, the text it stands for)
        (int(escape, 16), f"\\x{{{escape}}}") if escape else (_BYTE_OF[char], char)
        for escape, char in _MOJIBAKE_UNIT.findall(match[0])
    ]
    raw = bytes(byte for byte, _ in units)
    pieces, done = [], 0
    for sequence in _UTF8_SEQUENCE.finditer(raw):
        decoded = sequence[0].decode("utf-8")
        if _plausible_repair(decoded):
            pieces.extend(text for _, text in units[done : sequence.start()])
            pieces.append(decoded)
            done = sequence.end()
    pieces.extend(text for _, text in units[done:])
    return "".join(pieces)


def _restore_a_grave(match: re.Match[str]) -> str:
    """Double-encoded "à" (C3 A0) reads as "Ã" + no-break space, and tools often turn that
    no-break space into a plain one ("UniversitÃ  del", "vis-Ã -vis"). After a lower-case letter
    or a hyphen, "Ã " cannot be a capital Ã ending a word, so it is repaired."""
    before = match.string[match.start() - 1] if match.start() else ""
    return "à" if before == "-" or before.islower() else match[0]


def _plausible_repair(text: str) -> bool:
    code = ord(text)
    return any(low <= code <= high for low, high in _PLAUSIBLE_REPAIRS) and (
        unicodedata.category(text) not in ("Cn", "Co", "Cc")
    )


# --- templates ---


@dataclass(frozen=True, slots=True)
class Cluster:
    """One author, editor or file of a template: the fields of the cluster in order, named without
    their prefix (`Author-Workplace-Name` -> "workplace-name"), empty values left out."""

    kind: str  # "author", "editor", "file"
    line: int  # the line of its key field (Author-Name, Editor-Name, File-URL)
    fields: tuple[tuple[str, str], ...]

    def get(self, name: str) -> str | None:
        """The first value of a field, or None."""
        return next((value for key, value in self.fields if key == name), None)

    def get_all(self, name: str) -> tuple[str, ...]:
        return tuple(value for key, value in self.fields if key == name)


@dataclass(frozen=True, slots=True)
class Template:
    """One ReDIF template as read: values stripped, continuation lines joined (a blank line inside a
    value becomes a paragraph break, "\\n\\n"), empty fields left out, names in lower case."""

    type: str  # "article", "paper", "chapter", "book", "software", "series", "archive", ...
    handle: str  # "RePEc:awu:journl:v:17:y:2023:i:2:p:145-148", as parse_repec spells it
    line: int  # the line of its Template-Type
    fields: tuple[tuple[str, str], ...]
    clusters: tuple[Cluster, ...] = ()
    warnings: tuple[str, ...] = ()  # lines read but not used, e.g. a File-Format with no File-URL

    def get(self, name: str) -> str | None:
        """The first value of a field (name in lower case), or None."""
        return next((value for key, value in self.fields if key == name), None)

    def get_all(self, name: str) -> tuple[str, ...]:
        return tuple(value for key, value in self.fields if key == name)

    def clusters_of(self, kind: str) -> tuple[Cluster, ...]:
        return tuple(cluster for cluster in self.clusters if cluster.kind == kind)


@dataclass(frozen=True, slots=True)
class TemplateError:
    """A template (or stray text) that was skipped, with where it is and why."""

    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


@dataclass(frozen=True, slots=True)
class RedifFile:
    """Everything read from one file: the good templates, the skipped ones, the encoding used."""

    path: str
    encoding: str
    templates: tuple[Template, ...]
    errors: tuple[TemplateError, ...]


def parse_file(data: bytes, path: str) -> RedifFile:
    """Decode and read one whole ReDIF file (the convenience over decode_redif + iter_templates)."""
    text, encoding = decode_redif(data)
    templates: list[Template] = []
    errors: list[TemplateError] = []
    for item in iter_templates(io.StringIO(text), path):
        (templates if isinstance(item, Template) else errors).append(item)
    return RedifFile(path, encoding, tuple(templates), tuple(errors))


def iter_templates(
    lines: Iterable[str], path: str = "<redif>"
) -> Iterator[Template | TemplateError]:
    """Read templates from lines of text, yielding each as soon as it is complete.

    Bad content never raises: a template that cannot be used is yielded as a TemplateError and
    reading goes on. A handle already used earlier in the file is an error too (the first template
    keeps it): two works under one handle would overwrite each other in the store.
    """
    seen: dict[str, tuple[int, int]] = {}  # handle key -> (line, hash of its fields)
    for item in _read_templates(lines, path):
        if isinstance(item, Template) and (foreign := handle_outside_folder(item.handle, path)):
            yield TemplateError(path, item.line, foreign)
            continue
        if isinstance(item, Template):
            key, digest = ascii_key(item.handle), hash(item.fields)
            if key in seen:
                first_line, first_digest = seen[key]
                what = "repeats" if digest == first_digest else "has the same Handle as"
                yield TemplateError(
                    path,
                    item.line,
                    f"{what} the template at line {first_line} ({item.handle}): skipped",
                )
                continue
            seen[key] = (item.line, digest)
        yield item


def handle_outside_folder(handle: str, path: str) -> str | None:
    """Why a template read from `path` (its place in the archive tree: "sae/woemps/x.rdf") may
    not claim `handle`, or None when it may. An archive publishes only its own handles, a series
    folder only its series' (the harvester finds a handle's file by that folder), so a template
    claiming another one is a record of the wrong identity: stored, it would overwrite another
    work. A bare file name (no folder) says nothing of its archive and passes."""
    folders = path.replace("\\", "/").split("/")[:-1][:2]
    parts = handle.split(":")
    claimed = [part.lower() for part in parts[1:3]]
    for level, (folder, own) in enumerate(zip(folders, claimed, strict=False)):
        if folder.lower() != own:
            where = "archive" if level == 0 else "series"
            return f"Handle {handle!r} is not of the {where} folder {folder!r} it is in: skipped"
    return None


def _read_templates(lines: Iterable[str], path: str) -> Iterator[Template | TemplateError]:
    """The line-by-line state machine behind iter_templates (duplicate handles aside)."""
    current: _Builder | None = None
    block: list[tuple[int, str, str | None]] = []  # lines after a blank line, not yet decided
    after_blank = False
    skipping = False  # inside stray or broken text, until the next Template-Type

    def decide_block() -> Iterator[TemplateError]:
        """Fields after a blank line join the template, unless they bring a second Handle."""
        nonlocal current, skipping
        if not block or current is None:
            block.clear()
            return
        if current.has_handle() and any(name == "handle" for _, _, name in block):
            number, text, _ = block[0]
            yield current.build(path)
            yield TemplateError(
                path,
                number,
                f"fields without a Template-Type (the line reads {_quote(text)}): "
                "skipped up to the next Template-Type",
            )
            current, skipping = None, True
        else:
            for index, (number, text, name) in enumerate(block):
                current.feed(number, text, name, paragraph=index == 0)
        block.clear()

    for number, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n")
        if number == 1:
            line = line.removeprefix("\ufeff")
        if line.startswith("#"):
            continue  # a comment line
        if not line.strip():
            yield from decide_block()
            after_blank = True
            continue
        name = _field_name(line)
        if name == "template-type":
            yield from decide_block()
            if current is not None:
                yield current.build(path)
            current, skipping, after_blank = None, False, False
            kind = _TEMPLATE_TYPE.match(_value_of(line))
            if kind:
                current = _Builder(number, kind[1].lower())
            else:
                skipping = True
                yield TemplateError(
                    path, number, f"unknown template type {_quote(_value_of(line))}: skipped"
                )
            continue
        if current is None:
            if not skipping:
                skipping = True
                yield TemplateError(
                    path,
                    number,
                    f"text outside any template (the line reads {_quote(line)}): "
                    "skipped up to the next Template-Type",
                )
            continue
        if after_blank or block:
            block.append((number, line, name))
            after_blank = False
            continue
        current.feed(number, line, name)
    yield from decide_block()
    if current is not None:
        yield current.build(path)


def _field_name(line: str) -> str | None:
    """The lower-case field name a line starts with, or None for a continuation line."""
    match = _FIELD.match(line)
    if not match:
        return None
    name = match[1].lower()
    return name if "-" in name or name in SINGLE_WORD_FIELDS else None


def _value_of(line: str) -> str:
    return line.partition(":")[2].strip()


def _quote(text: str, limit: int = 60) -> str:
    text = text.strip()
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


@dataclass
class _Field:
    name: str
    label: str  # the name as written, for messages
    line: int
    pieces: list[str]

    def value(self) -> str:
        return "".join(self.pieces).strip()


@dataclass
class _Builder:
    """A template being read: its fields in order, and which of them form each cluster."""

    line: int
    type: str
    fields: list[_Field] = field(default_factory=list)
    clusters: list[tuple[str, list[_Field]]] = field(default_factory=list)
    open_clusters: dict[str, list[_Field]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def has_handle(self) -> bool:
        return any(f.name == "handle" and f.value() for f in self.fields)

    def feed(self, number: int, line: str, name: str | None, paragraph: bool = False) -> None:
        if name is None:
            self._continue(number, line, paragraph)
            return
        label = line.partition(":")[0].strip()
        new = _Field(name, label, number, [_value_of(line)])
        self.fields.append(new)
        kind = name.partition("-")[0]
        if kind not in CLUSTER_KEYS or name == kind:
            return
        if name == CLUSTER_KEYS[kind].lower():
            self.open_clusters[kind] = [new]
            self.clusters.append((kind, self.open_clusters[kind]))
        elif kind in self.open_clusters:
            self.open_clusters[kind].append(new)
        elif new.value():
            self.warnings.append(
                f"line {number}: {label} with no {CLUSTER_KEYS[kind]} before it (ignored)"
            )

    def _continue(self, number: int, line: str, paragraph: bool) -> None:
        """A continuation line: one space for an indented line (the spec's folding); a paragraph
        break after a blank line; nothing after a hyphen at the end of an unindented line, where
        a word was split ("Univer-" + "sity" keeps its hyphen, but no space is made up)."""
        if not self.fields:
            self.warnings.append(f"line {number}: text before any field (ignored)")
            return
        current = self.fields[-1]
        text = line.strip()
        if not current.value():
            current.pieces = [text]
        elif paragraph:
            current.pieces.append("\n\n" + text)
        elif not line[0].isspace() and current.pieces[-1].rstrip().endswith("-"):
            current.pieces[-1] = current.pieces[-1].rstrip()
            current.pieces.append(text)
        else:
            current.pieces[-1] = current.pieces[-1].rstrip()
            current.pieces.append(" " + text)

    def build(self, path: str) -> Template | TemplateError:
        handles = list(dict.fromkeys(f.value() for f in self.fields if f.name == "handle"))
        handles = [h for h in handles if h]
        if not handles:
            return TemplateError(path, self.line, "template has no Handle: skipped")
        if len(handles) > 1:
            lines = ", ".join(str(f.line) for f in self.fields if f.name == "handle")
            return TemplateError(
                path,
                self.line,
                f"template has more than one Handle (lines {lines}); "
                "is a Template-Type line missing? skipped",
            )
        try:
            handle = _template_handle(handles[0], self.type)
        except BadIdentifier as error:
            return TemplateError(path, self.line, f"Handle {handles[0]!r}: {error.reason}: skipped")
        return Template(
            type=self.type,
            handle=handle,
            line=self.line,
            fields=tuple((f.name, v) for f in self.fields if (v := f.value())),
            clusters=tuple(
                Cluster(
                    kind,
                    members[0].line,
                    tuple((f.name.partition("-")[2], v) for f in members if (v := f.value())),
                )
                for kind, members in self.clusters
                if members[0].value()
            ),
            warnings=tuple(self.warnings),
        )


def _template_handle(text: str, template_type: str) -> str:
    """Works have item handles (parse_repec); series, archives and persons have shorter or
    differently shaped ones (RePEc:awu, RePEc:awu:journl, RePEc:per:1965-06-05:...)."""
    if template_type in RECORD_TYPES:
        return parse_repec(text).value
    if not _COLLECTION_HANDLE.fullmatch(text):
        raise BadIdentifier(text, "not a RePEc handle")
    return "RePEc" + text[5:]


# --- templates -> records ---


def to_record(
    template: Template,
    series: Mapping[str, str] | None = None,
    providers: Mapping[str, str] | None = None,
) -> Record | None:
    """A work template (Article, Paper, Chapter, Book, Software) as a Record; None for the others.

    `series` and `providers` map series handle keys to the series' Name and Provider-Name
    (`series_names` and `series_providers` of the archive's seri.rdf). An article's series is its
    journal (container_title); any other work's series is the collection it is numbered in
    (series_title: CSL's collection-title, Zotero's seriesTitle, the "type" of IDEAS' BibTeX
    @techreport). The Provider-Name, who "publishes" the series in the ReDIF spec's words, is the
    publisher of a work that names none: a working paper's institution.
    """
    record_type = RECORD_TYPES.get(template.type)
    if record_type is None:
        return None

    def text(name: str) -> str | None:
        return _one_line(template.get(name))

    pages = text("pages")
    if pages is None and (start := text("start-page")):
        end = text("end-page")
        pages = f"{start}-{end}" if end else start
    series_name = text("series") or _of_series(template, series)
    # Each Publication-Status is one statement ("Published in ..."); a repeated one is kept too.
    status = "\n".join(filter(None, map(_one_line, template.get_all("publication-status")))) or None
    files = _files(template)
    number = text("number")
    return Record(
        source=SOURCE,
        doi=(doi := doi_of(template)),
        repec_handle=template.handle,
        type=record_type,
        title=text("title"),
        container_title=(
            (text("journal") or series_name) if template.type == "article" else text("book-title")
        ),
        series_title=None if template.type == "article" else series_name,
        volume=text("volume"),
        issue=text("issue"),
        report_number=number if template.type == "paper" else None,
        series_number=number if template.type in ("book", "chapter", "software") else None,
        pages=pages,
        issued=_issued(template),
        revised=_latest_date(template.get_all("revision-date")),
        publisher=(
            text("publisher-name") or text("provider-name") or _of_series(template, providers)
        ),
        authors=tuple(_person(cluster) for cluster in template.clusters_of("author")),
        contributors=tuple(
            _person(cluster, role="editor") for cluster in template.clusters_of("editor")
        ),
        abstract=template.get("abstract"),
        language=_language(text("language")),
        url=files[0].url if files else None,
        files=files,
        relations=_relations(template, status, doi),
        subjects=_subjects(template.get_all("keywords")),
        jel_codes=_jel_codes(template.get_all("classification-jel")),
        publication_status=status,
    )


def series_names(templates: Iterable[Template]) -> dict[str, str]:
    """Series handle key -> series name, from the Series templates of an archive's seri.rdf."""
    return _series_field(templates, "name")


def series_providers(templates: Iterable[Template]) -> dict[str, str]:
    """Series handle key -> the series' Provider-Name (who publishes it), from a seri.rdf."""
    return _series_field(templates, "provider-name")


def _series_field(templates: Iterable[Template], name: str) -> dict[str, str]:
    return {
        ascii_key(t.handle): value
        for t in templates
        if t.type == "series" and (value := _one_line(t.get(name)))
    }


def doi_of(template: Template) -> str | None:
    """The work's DOI, from `DOI:`, from a DOI in a `Note:`, or from a doi.org `File-URL`.

    The first that parse_doi accepts wins; DOI fields often hold a URL or "doi:" form, which
    parse_doi cleans. A Note is searched for "10.<digits>/..." wherever it is in the text.
    """
    candidates = list(template.get_all("doi"))
    for note in template.get_all("note"):
        candidates.extend(match[0] for match in _NOTE_DOI.finditer(note))
    candidates.extend(
        url
        for cluster in template.clusters_of("file")
        if (url := cluster.get("url")) and _DOI_URL.match(url)
    )
    return next(_valid_dois(candidates), None)


def _valid_dois(candidates: Iterable[str]) -> Iterator[str]:
    """The candidates that are DOIs, cleaned; the punctuation of the sentence a DOI ends is not
    part of it ("... doi:10.1016/j.x.2015.01.002." and an unbalanced ")")."""
    for candidate in candidates:
        text = candidate.rstrip(".,;")
        while text.endswith(")") and text.count(")") > text.count("("):
            text = text[:-1].rstrip(".,;")
        try:
            yield parse_doi(text).value
        except BadIdentifier:
            continue


def _one_line(value: str | None) -> str | None:
    """A value as one line of text: paragraph breaks and runs of spaces folded."""
    if not value:
        return None
    return " ".join(value.split()) or None


def _of_series(template: Template, by_series: Mapping[str, str] | None) -> str | None:
    """What `by_series` (series handle key -> value) says of the template's series."""
    if not by_series:
        return None
    archive, series_code = template.handle.split(":")[1:3]
    return by_series.get(ascii_key(f"RePEc:{archive}:{series_code}"))


# --- persons ---

#: A RePEc short id (the RePEc Author Service's): "p", two letters of the surname, a number.
_SHORT_ID = re.compile(r"p[a-z]{1,3}[0-9]+")
#: Lower-case words that begin a family name: "Annelie van Niekerk", "Lorenzo Di Domenico".
_PARTICLES = frozenset(
    re.findall(r"\S+", "van von der den de di da del della dello dos das du des le la ten ter zu")
)
#: Words that say a name is an organisation's ("BER team") or a group's, never a person's.
_ORGANISATION_WORDS = frozenset(
    re.findall(
        r"\S+",
        """team group staff office department dept university universidad universita università
        université universität universitat institute institut instituto istituto centre center
        centro bank banco fund commission council committee ministry agency association foundation
        board bureau authority secretariat organisation organization society unit division program
        programme project network forum company corporation inc ltd llc school college faculty
        laboratory lab research services service et al and & of for the und""",
    )
)
_SUFFIXES = frozenset(("jr", "jr.", "sr", "sr.", "ii", "iii", "iv"))
_INITIALS = re.compile(r"(?:[^\W\d_]{1,2}\.)+|[^\W\d_]")  # "D.", "Th.", "J.F.", "A"
_NAME_WORD = re.compile(r"[^\W\d_][^\W\d_'’.-]*(?:['’.-][^\W\d_]+)*\.?")  # "Tracey-Lee"


def _person(cluster: Cluster, role: str | None = None) -> Author:
    """An author or editor cluster as an Author.

    Name-First (+ Name-Middle) and Name-Last, or their X- forms, give a split name: "Kimberly" +
    "Ann" is the given name "Kimberly Ann". A name given only as Author-Name is split where its
    form says how (`split_name`); otherwise it stays whole. Author-Person's short id is the
    author's identity in RePEc; e-mail addresses are never kept.
    """
    given = _joined(
        _one_line(cluster.get("x-name-first") or cluster.get("name-first")),
        _one_line(cluster.get("x-name-middle") or cluster.get("name-middle")),
    )
    family = _one_line(cluster.get("x-name-last") or cluster.get("name-last"))
    affiliations = tuple(
        dict.fromkeys(_one_line(place) for place in cluster.get_all("workplace-name"))
    )
    repec_id = _short_id(cluster.get("person"))
    name = None
    if not (given or family):
        name = _one_line(cluster.get("name"))
        if name and (split := split_name(name)):
            family, given = split
            name = None
    return Author(
        given=given,
        family=family,
        name=name,
        affiliations=affiliations,
        repec_id=repec_id,
        role=role,
    )


def _joined(first: str | None, middle: str | None) -> str | None:
    """First and middle names as one given name; a middle name already in the first is not
    written twice ("Christian A." + "A.")."""
    if not middle or (first and first.split()[-1] == middle):
        return first
    return f"{first} {middle}" if first else middle


def _short_id(value: str | None) -> str | None:
    """The RePEc short id of an Author-Person ("pba441"); a person handle or junk is dropped."""
    text = (value or "").strip().lower()
    return text if _SHORT_ID.fullmatch(text) else None


def split_name(name: str) -> tuple[str, str] | None:
    """(family, given) of a person's name written as one, or None when the name is an
    organisation's or its split is not certain.

    The ReDIF spec recommends "Lastname, Firstname" ("Sturm, J.F."), and direct order is common
    ("Dean Baker"). In direct order the family name is the last word when at most one full word
    comes before it ("Dean Baker", "Max B. Sawicky", "J. Scott Holladay"), or starts at a particle
    ("Annelie van Niekerk", "Lorenzo Di Domenico"). With two full given-or-family words before
    the last ("Marco Veronese Passarella" is Veronese Passarella, "Enrico Sergio Levrero" is
    Levrero) the form does not tell, and the name stays whole, as does anything with a word of an
    organisation ("BER team"), a digit, an all-capital acronym or a lower-case word.
    """
    words = name.split()
    if not words or any(_not_a_name_word(word) for word in words):
        return None
    if name.count(",") == 1:
        family, given = (part.split() for part in name.split(","))
        if not family or not given or " ".join(given).lower() in _SUFFIXES:
            return None
        if _is_family(family) and all(_is_given(word) for word in given):
            return " ".join(family), " ".join(given)
        return None
    if "," in name or len(words) < 2:
        return None
    particle = next((i for i, word in enumerate(words[1:], 1) if word.lower() in _PARTICLES), None)
    if particle is not None:
        given, family = words[:particle], words[particle:]
    else:
        given, family = words[:-1], words[-1:]
    full_words = [word for word in given if not _INITIALS.fullmatch(word)]
    if len(full_words) > 1 or not all(_is_given(word) for word in given):
        return None
    if not _is_family(family):
        return None
    return " ".join(family), " ".join(given)


def _not_a_name_word(word: str) -> bool:
    bare = word.strip(",").lower()
    return (
        bare in _ORGANISATION_WORDS
        or any(char.isdigit() for char in word)
        or (len(word) > 1 and word.isupper() and word.isalpha())  # an acronym: "BER", "IMF"
    )


def _is_given(word: str) -> bool:
    """A capitalised name or initials: "Dean", "Tracey-Lee", "B.", "J.F."."""
    return word[0].isupper() and bool(_INITIALS.fullmatch(word) or _NAME_WORD.fullmatch(word))


def _is_family(words: list[str]) -> bool:
    """Capitalised words, the particles before them in either case: "van der Wath", "Di
    Domenico", "O'Neil"; not initials ("Sturm, J.F." has its initials after the comma)."""
    last = words[-1]
    return (
        last[0].isupper()
        and bool(_NAME_WORD.fullmatch(last))
        and not _INITIALS.fullmatch(last)
        and all(word.lower() in _PARTICLES or _is_given(word) for word in words[:-1])
    )


# --- other fields ---


def _files(template: Template) -> tuple[FileLink, ...]:
    """Every File-URL with its File-Format (a media type, so lower-cased) and File-Function,
    in order, each URL once."""
    found: dict[str, FileLink] = {}
    for cluster in template.clusters_of("file"):
        url = "".join((cluster.get("url") or "").split())  # the spec: whitespace is ignored
        if url and url not in found:
            media_type = _one_line(cluster.get("format"))
            found[url] = FileLink(
                url=url,
                format=media_type.lower() if media_type else None,
                label=_one_line(cluster.get("function")),
            )
    return tuple(found.values())


_JEL_SEPARATOR = re.compile(r"[\s,;]+")
_JEL_CODE = re.compile(r"[A-Z](?:[0-9]{1,2})?")


def _jel_codes(values: Iterable[str]) -> tuple[str, ...]:
    """Classification-JEL codes split on spaces, commas and semicolons (the spec says ";", the
    files use all three), upper-cased ("j24" -> "J24"), each once; what is not a JEL code
    (a letter and up to two digits: "J", "J2", "J24") is dropped."""
    found: dict[str, None] = {}
    for value in values:
        for token in _JEL_SEPARATOR.split(value):
            code = token.strip(".").upper()
            if _JEL_CODE.fullmatch(code):
                found.setdefault(code)
    return tuple(found)


def _language(value: str | None) -> str | None:
    """ReDIF's Language is an ISO 639-1 code; written in any case."""
    return value.lower() if value else None


def _latest_date(values: Iterable[str]) -> str | None:
    """The latest of the dates (Revision-Date may repeat), as a partial ISO date."""
    dates = [date for value in values if (date := _partial_date(value))]
    return max(dates) if dates else None


def _issued(template: Template) -> str | None:
    """Year (with Month when it reads as one) for published works, else the Creation-Date."""
    year = (template.get("year") or "").strip()
    if _YEAR.fullmatch(year):
        month = _month_number(template.get("month"))
        return f"{year}-{month:02d}" if month else year
    created = template.get("creation-date")
    return _partial_date(created) if created else None


#: English month names and their abbreviations (not `calendar`'s, which follow the locale).
_MONTH_NAMES = re.findall(
    r"\w+", "january february march april may june july august september october november december"
)
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)} | {
    name[:3]: number for number, name in enumerate(_MONTH_NAMES, 1)
}
_MONTHS["sept"] = 9


def _month_number(text: str | None) -> int | None:
    """The month of "12", "December" or "Dec."; None for "Spring", "Jan-Feb" and the like."""
    if not text:
        return None
    word = text.strip().rstrip(".").lower()
    if word.isdigit():
        return int(word) if 1 <= int(word) <= 12 else None
    return _MONTHS.get(word)


def _partial_date(text: str) -> str | None:
    """ReDIF dates are yyyy-mm-dd, as precise as known; files also write 199603 and 20250101."""
    match = _DATE.fullmatch(text.strip())
    if not match:
        return None
    year, month, day = match[1], match[2], match[3]
    if month is None or not 1 <= int(month) <= 12:
        return year
    if day is None:
        return f"{year}-{int(month):02d}"
    try:
        return datetime.date(int(year), int(month), int(day)).isoformat()
    except ValueError:
        return f"{year}-{int(month):02d}"


def _subjects(values: Iterable[str]) -> tuple[str, ...]:
    """Keywords split on "," and ";", in order, each once (compared case-insensitively), a
    full stop ending the list dropped."""
    found: dict[str, str] = {}
    for value in values:
        for keyword in _KEYWORD_SEPARATOR.split(value):
            keyword = " ".join(keyword.split())
            if keyword.endswith(".") and keyword.count(".") == 1:
                keyword = keyword[:-1].rstrip()  # the sentence's full stop: "digital exposure."
            if keyword:
                found.setdefault(keyword.casefold(), keyword)
    return tuple(found.values())


def _relations(template: Template, status: str | None, own_doi: str | None) -> tuple[Relation, ...]:
    """Other versions of the work: the RePEc handles of Article-/Book-/Chapter-/Paper-Handle,
    and a DOI that Publication-Status names ("Published in ... doi:10.1016/...") as the published
    version. Crossref's "is-preprint-of" says exactly that of a working paper (DataCite's nearest,
    IsPreviousVersionOf, would also fit a superseded dataset); it is the type RELATION_FIELDS
    already gives an Article-Handle."""
    found: list[Relation] = []
    for name, relation_type in RELATION_FIELDS.items():
        for value in template.get_all(name):
            try:
                relation = Relation(relation_type, "repec", parse_repec(value).value)
            except BadIdentifier:
                continue
            if relation not in found:
                found.append(relation)
    if status and template.type == "paper":
        for doi in _valid_dois(match[0] for match in _NOTE_DOI.finditer(status)):
            relation = Relation("is-preprint-of", "doi", doi)
            if doi != own_doi and relation not in found:
                found.append(relation)
    return tuple(found)


# --- templates as stored payloads ---

#: Bump when to_record reads something new: stored RePEc payloads are then parsed again.
#: 2: middle names, split Author-Name, Author-Person ids, editors, the series' provider as
#: publisher, the series as series_title, Number as report number, JEL codes, files,
#: Publication-Status (and its DOI), Revision-Date.
PARSER_VERSION = 2

#: Fields that hold a person's e-mail address: not stored (the record needs none, and a
#: database of e-mail addresses is not what a harvest is for).
_EMAIL_FIELD = re.compile(r"(?:author|editor)-(?:.*-)?email|contact-email")


def template_payload(
    template: Template, series_name: str | None = None, series_provider: str | None = None
) -> dict:
    """A template as JSON for `source_records`: what the archive said, with the series' name and
    Provider-Name `to_record` falls back on, so that the stored payload alone rebuilds the
    record. E-mail addresses are left out, and so are the line numbers of the template and its
    clusters: they say where the template is in its file, not what it says, and in the hashed
    payload a template inserted above would make every template below it a new payload."""
    return {
        "type": template.type,
        "handle": template.handle,
        "fields": [list(pair) for pair in template.fields if not _EMAIL_FIELD.fullmatch(pair[0])],
        "clusters": [
            {
                "kind": c.kind,
                "fields": [
                    list(pair)
                    for pair in c.fields
                    if not _EMAIL_FIELD.fullmatch(f"{c.kind}-{pair[0]}")
                ],
            }
            for c in template.clusters
        ],
        "series_name": series_name,
        "series_provider": series_provider,
    }


def record_from_payload(payload: Mapping) -> Record:
    """The inverse of `template_payload`, read into a Record (the parser the pipeline stores by).
    A payload stored before version 2 has no series_provider: its record has no publisher
    unless the template names one. One stored before issue 19 has line numbers, read as given
    (no record uses them); a payload without them reads as line 0."""
    template = Template(
        type=payload["type"],
        handle=payload["handle"],
        line=payload.get("line", 0),
        fields=tuple((k, v) for k, v in payload.get("fields", [])),
        clusters=tuple(
            Cluster(c["kind"], c.get("line", 0), tuple((k, v) for k, v in c.get("fields", [])))
            for c in payload.get("clusters", [])
        ),
    )
    series_key = ascii_key(":".join(template.handle.split(":")[:3]))
    name, provider = payload.get("series_name"), payload.get("series_provider")
    record = to_record(
        template,
        {series_key: name} if name else None,
        {series_key: provider} if provider else None,
    )
    if record is None:
        raise ValueError(f"{template.handle}: a {template.type} template is not a work")
    return record
