"""End to end: the user's own values through the `harvest` command, in a subprocess against the
local upstream (tests/upstream.py) replaying recorded Crossref and OpenAlex answers on 127.0.0.1.

`harvest import FILE` (BibTeX, RIS, CSL-JSON, CSV), `harvest set` / `harvest unset`,
`harvest export`, and what `harvest show` says about sources (`From:`, `Conflict:`). Each test
checks what a user would: the lines printed, the exit code, the rows in the database, the files.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from pathlib import Path

import bibtexparser
import pytest
import rispy
from conftest import QUICK_RETRIES, HarvestCommand, fixture_path, load_json
from fakes import ok, query
from upstream import ReplayUpstream

ELIFE = "10.7554/eLife.01567"
PLOS = "10.1371/journal.pone.0033693"
BOOK_CHAPTER = "10.1007/978-3-662-46370-3_13"

FORMATS = ("bibtex", "ris", "csl-json", "csv")
EXTENSIONS = {"bibtex": "bib", "ris": "ris", "csl-json": "json", "csv": "csv"}


def crossref_title(name: str) -> str:
    return load_json(f"crossref/{name}.json")["message"]["title"][0]


def recorded_repec_paper() -> tuple[str, str]:
    """Handle and title of the first paper of a recorded ReDIF file (Windows-1252 bytes)."""
    text = fixture_path("redif/epo_papers_2016.rdf").read_bytes().decode("cp1252")
    handle = re.search(r"^Handle: (.+?)\s*$", text, re.MULTILINE)[1]
    title = re.search(r"^Title: (.+?)\s*$", text, re.MULTILINE)[1]
    return handle, title


ELIFE_TITLE = crossref_title("10.7554_elife.01567")
PLOS_TITLE = crossref_title("10.1371_journal.pone.0033693")
REPEC_HANDLE, REPEC_TITLE = recorded_repec_paper()


# --- running the command ------------------------------------------------------------------------


@pytest.fixture
def upstream():
    with ReplayUpstream(prefix="/crossref") as replay:
        replay.add_crossref(
            "10.7554_elife.01567", "10.1371_journal.pone.0033693", "10.1007_978-3-662-46370-3_13"
        )
        yield replay


@pytest.fixture
def harvest(tmp_path, upstream):
    """Run `harvest ...` in a fresh working folder with the upstream configured by environment."""
    return HarvestCommand(
        tmp_path,
        upstream.env(),
        # the local upstream needs no pacing
        QUICK_RETRIES
        + "[openalex]\nrate = 1000.0\n[doi]\nrate = 1000.0\n[datacite]\nrate = 1000.0\n",
    )


# --- reading the database -------------------------------------------------------------------------


def count(db_path: Path, table: str) -> int:
    return query(db_path, f"SELECT count(*) FROM {table}")[0][0]


def work_by_doi(db_path: Path, doi: str) -> dict:
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    try:
        [row] = conn.execute("SELECT * FROM works WHERE doi = ? COLLATE NOCASE", (doi,)).fetchall()
        return dict(row)
    finally:
        conn.close()


def provenance(work: dict) -> dict[str, str]:
    return json.loads(work["provenance"])


def shown(stdout: str, label: str) -> str | None:
    """The value on a `harvest show` line such as "  Title:       ..."."""
    match = re.search(rf"^  {label}:\s+(.*)$", stdout, re.MULTILINE)
    return match[1] if match else None


def listed_lines(stdout: str) -> list[int]:
    """The line numbers an import lists under "without DOI or RePEc handle, kept:"."""
    return [int(n) for n in re.findall(r"^  line (\d+): ", stdout, re.MULTILINE)]


# --- writing a user's file in each format --------------------------------------------------------


def _bibtex(records: list[dict]) -> tuple[str, list[int]]:
    lines, starts = [], []
    for number, record in enumerate(records, start=1):
        starts.append(len(lines) + 1)
        lines.append(f"@article{{{record.get('key', f'record{number}')},")
        fields = {
            "title": record.get("title"),
            "author": " and ".join(f"{f}, {g}" for f, g in record.get("authors", [])),
            "journal": record.get("journal"),
            "year": record.get("year"),
            "volume": record.get("volume"),
            "doi": record.get("doi"),
            "repec": record.get("repec"),
        }
        lines += [f"  {name} = {{{value}}}," for name, value in fields.items() if value]
        lines += ["}", ""]
    return "\n".join(lines), starts


def _ris(records: list[dict]) -> tuple[str, list[int]]:
    lines, starts = [], []
    for record in records:
        starts.append(len(lines) + 1)
        lines.append("TY  - JOUR")
        if record.get("key"):
            lines.append(f"ID  - {record['key']}")
        lines.append(f"TI  - {record['title']}")
        lines += [f"AU  - {family}, {given}" for family, given in record.get("authors", [])]
        tags = {
            "T2": record.get("journal"),
            "PY": record.get("year"),
            "VL": record.get("volume"),
            "DO": record.get("doi"),
            "AN": record.get("repec"),
        }
        lines += [f"{tag}  - {value}" for tag, value in tags.items() if value]
        lines += ["ER  - ", ""]
    return "\n".join(lines), starts


def _csl_json(records: list[dict]) -> tuple[str, list[int]]:
    items = []
    for number, record in enumerate(records, start=1):
        item = {
            "id": record.get("key", f"item{number}"),
            "type": "article-journal",
            "title": record["title"],
            "author": [{"family": f, "given": g} for f, g in record.get("authors", [])],
            "container-title": record.get("journal"),
            "volume": record.get("volume"),
            "DOI": record.get("doi"),
        }
        if record.get("year"):
            item["issued"] = {"date-parts": [[int(record["year"])]]}
        if record.get("repec"):
            item["custom"] = {"repec": record["repec"]}
        items.append(json.dumps({k: v for k, v in item.items() if v}, indent=2))
    lines, starts = ["["], []
    for number, item in enumerate(items):
        starts.append(len(lines) + 1)
        item_lines = item.splitlines()
        if number < len(items) - 1:
            item_lines[-1] += ","
        lines += item_lines
    lines.append("]")
    return "\n".join(lines) + "\n", starts


def _csv(records: list[dict]) -> tuple[str, list[int]]:
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(
        ["doi", "repec_handle", "title", "container_title", "year", "volume", "authors"]
    )
    for record in records:
        authors = "; ".join(f"{f}, {g}" for f, g in record.get("authors", []))
        writer.writerow(
            [record.get(k) or "" for k in ("doi", "repec", "title", "journal", "year", "volume")]
            + [authors]
        )
    return stream.getvalue(), list(range(2, len(records) + 2))


WRITERS = {"bibtex": _bibtex, "ris": _ris, "csl-json": _csl_json, "csv": _csv}


def write_records(
    folder: Path, fmt: str, records: list[dict], name: str = "mine"
) -> tuple[Path, list[int]]:
    """A file of `records` (keys: key, doi, repec, title, journal, year, volume, authors as
    [(family, given)]) in `fmt`, and the line where each record starts in it."""
    text, starts = WRITERS[fmt](records)
    path = folder / f"{name}.{EXTENSIONS[fmt]}"
    path.write_text(text, encoding="utf-8")
    return path, starts


#: The user's record of a work Crossref knows, with values of their own.
OUR_ELIFE = {
    "key": "sankar2014",
    "doi": ELIFE,
    "title": "Our own title for the eLife paper",
    "journal": "Our Journal of Plant Biology",
    "volume": "99",
    "year": "2014",
}
OUR_PLOS = {"key": "sadasivan2012", "doi": PLOS, "title": "Our title for the PLOS paper"}
OUR_REPEC = {"key": "sawicky2016", "repec": REPEC_HANDLE, "title": REPEC_TITLE, "year": "2016"}
NO_IDENTIFIER = [
    {"key": "doe1999", "title": "A book with no identifier", "year": "1999"},
    {"key": "roe2003", "title": "Working notes", "year": "2003", "authors": [("Roe", "Richard")]},
]


# --- harvest import: matching, precedence, new works --------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_import_matches_a_stored_doi_and_the_imported_values_win(harvest, fmt):
    ok(harvest("doi", ELIFE))
    path, _ = write_records(harvest.folder, fmt, [OUR_ELIFE])

    proc = ok(harvest("import", str(path)))
    assert re.search(r"^changed .* work 1 v2: ", proc.stdout, re.MULTILINE), proc.stdout
    assert f"1 record(s) from {path}: 0 new work(s), 1 changed, 0 unchanged; run 2" in proc.stdout

    db = harvest.db_path
    assert count(db, "works") == 1
    show = ok(harvest("show", ELIFE)).stdout
    assert shown(show, "Title") == OUR_ELIFE["title"]
    assert shown(show, "In").startswith(OUR_ELIFE["journal"])
    assert shown(show, "Volume") == "99"
    work = work_by_doi(db, ELIFE)
    assert {provenance(work)[f] for f in ("title", "container_title", "volume")} == {"local"}
    assert provenance(work)["publisher"] == "crossref"  # what the file did not give
    changes = query(db, "SELECT field, source FROM changes WHERE run_id = 2 ORDER BY field")
    assert changes == [("container_title", "local"), ("title", "local"), ("volume", "local")]
    assert {origin for (origin,) in query(db, "SELECT origin FROM local_fields")} == {"import"}


def test_a_doi_in_another_letter_case_is_not_a_change_of_doi(harvest):
    ok(harvest("doi", ELIFE))
    stored_doi = work_by_doi(harvest.db_path, ELIFE)["doi"]
    path, _ = write_records(harvest.folder, "csv", [{**OUR_ELIFE, "doi": ELIFE.upper()}])
    ok(harvest("import", str(path)))
    assert work_by_doi(harvest.db_path, ELIFE)["doi"] == stored_doi
    assert query(harvest.db_path, "SELECT count(*) FROM changes WHERE field = 'doi'") == [(1,)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_imported_new_doi_is_completed_by_a_later_harvest_into_the_same_work(harvest, fmt):
    path, _ = write_records(harvest.folder, fmt, [OUR_PLOS])
    proc = ok(harvest("import", str(path)))
    assert re.search(r"^created .* work 1: Our title for the PLOS paper", proc.stdout, re.M)
    assert count(harvest.db_path, "works") == 1

    proc = ok(harvest("doi", PLOS))
    assert proc.stdout.startswith(f"changed    {PLOS}  work 1 v2: ")
    assert count(harvest.db_path, "works") == 1
    work = work_by_doi(harvest.db_path, PLOS)
    assert work["title"] == OUR_PLOS["title"] and provenance(work)["title"] == "local"
    assert work["container_title"] == "PLoS ONE"
    assert provenance(work)["container_title"] == "crossref"
    assert query(harvest.db_path, "SELECT DISTINCT work_id FROM identifiers") == [(1,)]


def test_the_bibtex_doi_org_serves_imports_as_a_new_work(harvest):
    recorded = fixture_path("csl/10.1126_science.169.3946.635.bib")
    proc = ok(harvest("import", str(recorded)))
    assert "1 new work(s)" in proc.stdout
    show = ok(harvest("show", "10.1126/science.169.3946.635")).stdout
    assert shown(show, "Title").startswith("The Structure of Ordinary Water")
    assert shown(show, "Authors") == "Henry S. Frank"
    assert shown(show, "Pages") == "635-641"  # the en dash of the file is a plain hyphen
    assert shown(show, "Published") == "1970-08"


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_record_with_a_repec_handle_only_is_found_by_its_handle(harvest, fmt):
    path, _ = write_records(harvest.folder, fmt, [OUR_REPEC])
    ok(harvest("import", str(path)))
    show = ok(harvest("show", REPEC_HANDLE)).stdout
    assert show.startswith(f"{REPEC_HANDLE}  (work 1, version 1")
    assert shown(show, "Title") == REPEC_TITLE
    assert ok(harvest("show", REPEC_HANDLE.lower())).stdout == show


@pytest.mark.parametrize("fmt", FORMATS)
def test_records_without_identifier_are_kept_listed_and_not_duplicated(harvest, fmt):
    path, starts = write_records(harvest.folder, fmt, [OUR_ELIFE, *NO_IDENTIFIER])
    first = ok(harvest("import", str(path)))
    assert "2 record(s) without DOI or RePEc handle, kept:" in first.stdout
    assert listed_lines(first.stdout) == starts[1:]
    assert count(harvest.db_path, "works") == 3

    again = ok(harvest("import", str(path)))
    assert "0 new work(s), 0 changed, 3 unchanged" in again.stdout
    assert listed_lines(again.stdout) == starts[1:]
    assert count(harvest.db_path, "works") == 3


def test_reimporting_two_records_with_the_same_title_and_year_keeps_them_apart(harvest):
    path = harvest.folder / "editorials.csv"
    path.write_text(
        'title,year,authors\nEditorial,2020,"Smith, Ann"\nEditorial,2020,"Jones, Bob"\n'
    )
    ok(harvest("import", str(path)))
    again = ok(harvest("import", str(path)))
    assert "0 new work(s), 0 changed, 2 unchanged" in again.stdout, again.stdout
    families = query(harvest.db_path, "SELECT work_id, family FROM authors ORDER BY work_id")
    assert families == [(1, "Smith"), (2, "Jones")]


def test_reimporting_a_record_without_title_or_identifier_creates_no_duplicate(harvest):
    path = harvest.folder / "untitled.csv"
    path.write_text('year,authors\n2019,"Nobody, No"\n')
    ok(harvest("import", str(path)))
    ok(harvest("import", str(path)))
    assert count(harvest.db_path, "works") == 1


def test_a_work_created_by_import_lists_its_doi_among_its_identifiers(harvest):
    path, _ = write_records(harvest.folder, "csv", [OUR_PLOS, OUR_REPEC])
    ok(harvest("import", str(path)))
    values = query(harvest.db_path, "SELECT scheme, value FROM identifiers ORDER BY scheme")
    assert values == [("doi", PLOS), ("repec", REPEC_HANDLE)]
    assert shown(ok(harvest("show", PLOS)).stdout, "Identifiers") == f"doi:{PLOS}"


# --- harvest import: bad files ------------------------------------------------------------------


def _non_utf8_csv() -> bytes:
    """A CSV whose line 3 holds a line of a recorded ReDIF file in its Windows-1252 bytes."""
    raw = fixture_path("redif/epo_papers_2016.rdf").read_bytes()
    line = next(line for line in raw.splitlines() if not line.isascii())
    return b'title,year\nFine title,2001\n"' + line.replace(b'"', b'""') + b'",2016\n'


BAD_FILES = {
    "broken-bibtex-entry": (
        "mine.bib",
        "@article{fine,\n  title = {A fine entry},\n  year = {2000},\n}\n\n"
        "@article{broken\n  title = {No comma after the key},\n  year = {2001},\n}\n",
        ":6: this @article entry cannot be read",
    ),
    "csv-unknown-column": (
        "mine.csv",
        "doi,title,colour\n10.1234/abc,A title,red\n",
        ":1: unknown column 'colour'",
    ),
    "csv-bad-doi-on-line-3": (
        "mine.csv",
        f"doi,title\n{PLOS},Fine\nnot-a-doi,Bad\n",
        ":3: DOI 'not-a-doi'",
    ),
    "not-utf-8": ("mine.csv", _non_utf8_csv(), ":3: not UTF-8 text"),
    "unknown-extension": (
        "mine.txt",
        "title\nA title\n",
        ": cannot tell the format from the file name",
    ),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_a_bad_file_is_refused_whole_naming_file_and_line(harvest, case):
    name, content, message = BAD_FILES[case]
    ok(harvest("doi", ELIFE))
    before = count(harvest.db_path, "works"), count(harvest.db_path, "runs")
    path = harvest.folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")

    proc = harvest("import", str(path))
    assert proc.returncode == 2
    assert f"error: {path}{message}" in proc.stderr
    assert proc.stdout == ""
    assert (count(harvest.db_path, "works"), count(harvest.db_path, "runs")) == before


def test_format_option_overrides_the_file_name(harvest):
    path, _ = write_records(harvest.folder, "ris", [OUR_PLOS])
    misnamed = path.rename(harvest.folder / "records.json")
    refused = harvest("import", str(misnamed))
    assert refused.returncode == 2 and "not valid JSON" in refused.stderr

    proc = ok(harvest("import", "--format", "ris", str(misnamed)))
    assert "1 new work(s)" in proc.stdout
    assert work_by_doi(harvest.db_path, PLOS)["title"] == OUR_PLOS["title"]


def test_import_reads_csv_from_stdin(harvest):
    proc = ok(harvest("import", "-", stdin=f"doi,title\n{PLOS},{OUR_PLOS['title']}\n"))
    assert "1 record(s) from -: 1 new work(s)" in proc.stdout
    assert work_by_doi(harvest.db_path, PLOS)["title"] == OUR_PLOS["title"]


def test_a_missing_file_is_a_clear_error_and_creates_no_database(harvest):
    proc = harvest("import", "no-such-file.bib")
    assert proc.returncode == 2
    assert "error: no-such-file.bib: cannot read: No such file or directory" in proc.stderr
    assert not harvest.db_path.exists()


# --- harvest set / unset ------------------------------------------------------------------------


def test_set_names_the_work_by_id_doi_or_repec_handle(harvest):
    ok(harvest("doi", ELIFE))
    path, _ = write_records(harvest.folder, "csv", [OUR_REPEC])
    ok(harvest("import", str(path)))

    ok(harvest("set", "1", "volume=7"))
    ok(harvest("set", f"https://doi.org/{ELIFE}", "pages=e1567"))
    proc = ok(harvest("set", REPEC_HANDLE, "title=A shorter title"))
    assert proc.stdout.startswith(f"changed    {REPEC_HANDLE}  work 2 v2: title")
    assert query(harvest.db_path, "SELECT id, volume, pages, title FROM works ORDER BY id") == [
        (1, "7", "e1567", ELIFE_TITLE),
        (2, None, None, "A shorter title"),
    ]
    origins = query(
        harvest.db_path,
        "SELECT DISTINCT origin FROM local_fields WHERE field IN ('volume', 'pages', 'title')",
    )
    assert origins == [("set",)]


def test_a_set_value_wins_over_a_reharvest_where_the_upstream_changed(harvest, upstream):
    ok(harvest("doi", ELIFE))
    proc = ok(harvest("set", ELIFE, "title=Our corrected title"))
    assert proc.stdout.startswith(f"changed    {ELIFE}  work 1 v2: title")
    assert "local: title" in shown(proc.stdout, "From")

    upstream.change(ELIFE, title=["Crossref corrected it differently"])
    ok(harvest("doi", ELIFE))
    work = work_by_doi(harvest.db_path, ELIFE)
    assert work["title"] == "Our corrected title" and provenance(work)["title"] == "local"

    history = ok(harvest("history", ELIFE)).stdout
    assert re.search(r"^  title\s+Automated .* -> Our corrected title  \[local\]$", history, re.M)
    assert query(harvest.db_path, "SELECT source FROM changes WHERE run_id = 2") == [("local",)]


def test_unset_gives_the_field_back_to_the_latest_source_value(harvest, upstream):
    ok(harvest("doi", ELIFE))
    ok(harvest("set", ELIFE, "title=Our corrected title"))
    upstream.change(ELIFE, title=["Crossref corrected it differently"])
    ok(harvest("doi", ELIFE))

    proc = ok(harvest("unset", ELIFE, "title"))
    assert proc.stdout.startswith(f"changed    {ELIFE}  work 1 v3: title")
    work = work_by_doi(harvest.db_path, ELIFE)
    assert work["title"] == "Crossref corrected it differently"
    assert provenance(work)["title"] == "crossref"
    assert count(harvest.db_path, "local_fields") == 0
    [last] = query(
        harvest.db_path, "SELECT new_value, source FROM changes ORDER BY id DESC LIMIT 1"
    )
    assert last == ("Crossref corrected it differently", "local")


def test_unset_of_a_field_without_a_value_of_yours_says_so(harvest):
    ok(harvest("doi", ELIFE))
    proc = ok(harvest("unset", ELIFE, "title"))
    assert "note: title has no value of yours to unset" in proc.stderr
    assert proc.stdout.startswith(f"unchanged  {ELIFE}  work 1")


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("colour=red", "unknown field 'colour'"),
        ("title", "'title': write FIELD=VALUE"),
        ("title=  ", "title: empty value"),
        ("year=in press", "year 'in press' is not a number"),
        ("issn=12345", "ISSN '12345' is not 8 digits"),
    ],
)
def test_set_refuses_a_bad_assignment_and_writes_nothing(harvest, assignment, message):
    proc = harvest("set", ELIFE, "volume=5", assignment)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert not harvest.db_path.exists()  # refused before the database was opened


@pytest.mark.parametrize(
    ("command", "work"),
    [
        (("set", "title=X"), "10.9999/not-stored"),
        (("unset", "title"), "42"),
        (("set", "title=X"), "RePEc:epo:papers:1999-99"),
    ],
)
def test_set_and_unset_of_an_unknown_work_exit_1(harvest, command, work):
    ok(harvest("doi", ELIFE))
    proc = harvest(command[0], work, command[1])
    assert proc.returncode == 1
    assert f"not in the database: {work}" in proc.stderr
    assert count(harvest.db_path, "runs") == 1


def test_unset_refuses_an_unknown_field(harvest):
    proc = harvest("unset", ELIFE, "colour")
    assert proc.returncode == 2 and "unknown field 'colour'" in proc.stderr


def test_set_authors_replaces_the_author_list(harvest):
    ok(harvest("doi", ELIFE))
    proc = ok(harvest("set", ELIFE, "authors=Family, Given; {Org Name}"))
    assert shown(proc.stdout, "Authors") == "Given Family; Org Name"
    rows = query(
        harvest.db_path,
        "SELECT given, family, name FROM authors WHERE work_id = 1 ORDER BY position",
    )
    assert rows == [("Given", "Family", None), (None, None, "Org Name")]


def test_set_issn_stores_a_json_list(harvest):
    ok(harvest("doi", ELIFE))
    proc = ok(harvest("set", ELIFE, "issn=0950-0170,1469-8722"))
    assert shown(proc.stdout, "In") == "eLife, ISSN 0950-0170, 1469-8722"
    [(issn,)] = query(harvest.db_path, "SELECT issn FROM works")
    assert json.loads(issn) == ["0950-0170", "1469-8722"]


def test_relations_and_updates_are_not_set_by_hand_and_show_keeps_working(harvest):
    ok(harvest("doi", ELIFE))
    refused = harvest("set", ELIFE, "updates=retracted")
    assert refused.returncode == 2 and "unknown field 'updates'" in refused.stderr
    ok(harvest("show", ELIFE))
    ok(harvest("show", "--json", ELIFE))


def test_setting_the_doi_of_another_stored_work_does_not_take_it_from_that_work(harvest):
    ok(harvest("doi", ELIFE, PLOS))
    refused = harvest("set", ELIFE, f"doi={PLOS}")
    assert refused.returncode == 2 and "already identifies work 2" in refused.stderr
    assert ok(harvest("show", PLOS)).stdout.startswith(f"{PLOS}  (work 2,")


# --- harvest export -----------------------------------------------------------------------------


def parse_export(fmt: str, text: str) -> list[tuple[str | None, str]]:
    """(DOI, title) of each work in an export, read with the format's own library."""
    if fmt == "bibtex":
        entries = bibtexparser.parse_string(text).entries
        return [(e.fields_dict.get("doi") and e["doi"], e["title"]) for e in entries]
    if fmt == "ris":
        return [(r.get("doi"), r["title"]) for r in rispy.loads(text)]
    if fmt == "csl-json":
        return [(item.get("DOI"), item["title"]) for item in json.loads(text)]
    return [(row["doi"] or None, row["title"]) for row in csv.DictReader(io.StringIO(text))]


def stored_works(db_path: Path) -> list[tuple[str | None, str]]:
    return query(db_path, "SELECT doi, title FROM works ORDER BY id")


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_writes_every_stored_work_in_a_format_its_library_reads(harvest, fmt):
    ok(harvest("doi", ELIFE, PLOS, BOOK_CHAPTER))
    proc = ok(harvest("export", "--format", fmt))
    assert parse_export(fmt, proc.stdout) == stored_works(harvest.db_path)
    assert len(stored_works(harvest.db_path)) == 3


def test_export_to_a_file_replaces_it_whole_and_leaves_no_partial_file(harvest):
    ok(harvest("doi", ELIFE, PLOS))
    target = harvest.folder / "works.ris"
    target.write_text("an older export\n")
    proc = ok(harvest("export", "--format", "ris", "-o", str(target)))
    assert proc.stdout == ""
    assert parse_export("ris", target.read_text(encoding="utf-8")) == stored_works(harvest.db_path)
    assert [p.name for p in harvest.folder.iterdir() if p.name.endswith(".partial")] == []


@pytest.mark.parametrize(("since", "works"), [("2000-01-01", 2), ("2999-01-01T00:00:00Z", 0)])
def test_export_since_keeps_works_updated_on_or_after_the_date(harvest, since, works):
    ok(harvest("doi", ELIFE, PLOS))
    proc = ok(harvest("export", "--format", "csl-json", "--since", since))
    assert len(json.loads(proc.stdout)) == works


def test_export_changed_keeps_only_works_changed_after_they_were_stored(harvest):
    ok(harvest("doi", ELIFE, PLOS, BOOK_CHAPTER))
    ok(harvest("set", PLOS, "title=Our corrected title"))
    proc = ok(harvest("export", "--format", "csl-json", "--changed"))
    assert [(item["DOI"], item["title"]) for item in json.loads(proc.stdout)] == [
        (PLOS, "Our corrected title")
    ]
    assert query(harvest.db_path, "SELECT doi FROM works WHERE version > 1") == [(PLOS,)]


def test_export_refuses_a_since_that_is_not_a_date(harvest):
    ok(harvest("doi", ELIFE))
    proc = harvest("export", "--format", "csv", "--since", "last week")
    assert proc.returncode == 2
    assert "'last week' is not a date like 2026-11-01" in proc.stderr
    assert proc.stdout == ""


def test_a_csv_export_imports_back_unchanged(harvest):
    ok(harvest("doi", PLOS, BOOK_CHAPTER))
    path, _ = write_records(harvest.folder, "csv", [OUR_REPEC, *NO_IDENTIFIER])
    ok(harvest("import", str(path)))
    exported = harvest.folder / "export.csv"
    ok(harvest("export", "--format", "csv", "-o", str(exported)))

    proc = ok(harvest("import", str(exported)))
    outcomes = proc.stdout.splitlines()[:5]
    assert [line.split()[0] for line in outcomes] == ["unchanged"] * 5, proc.stdout
    assert "5 record(s)" in proc.stdout and "0 new work(s), 0 changed, 5 unchanged" in proc.stdout
    assert count(harvest.db_path, "works") == 5


@pytest.mark.parametrize("fmt", ["bibtex", "ris", "csl-json", "csv"])
def test_an_export_of_authors_with_affiliations_imports_back_unchanged(harvest, fmt):
    """CSV, RIS and BibTeX carry no affiliations or ORCIDs: the same names must not replace
    Crossref's richer author list, nor pin it as the user's own."""
    ok(harvest("doi", ELIFE))
    assert query(harvest.db_path, "SELECT count(affiliation) FROM authors")[0][0] > 0
    exported = harvest.folder / f"export.{EXTENSIONS[fmt]}"
    ok(harvest("export", "--format", fmt, "-o", str(exported)))
    proc = ok(harvest("import", str(exported)))
    assert proc.stdout.startswith("unchanged"), proc.stdout
    assert query(harvest.db_path, "SELECT count(affiliation) FROM authors")[0][0] > 0
    assert query(harvest.db_path, "SELECT count(*) FROM local_fields")[0][0] == 0


# --- harvest show: where each field came from ----------------------------------------------------


def from_line(stdout: str) -> dict[str, list[str]]:
    """`From:        crossref: a, b; openalex: c` as {"crossref": ["a", "b"], "openalex": ["c"]}."""
    parts = (part.split(": ", 1) for part in shown(stdout, "From").split("; "))
    return {source: names.split(", ") for source, names in parts}


def test_show_names_the_source_of_each_field(harvest, upstream):
    upstream.add_openalex("10.7554_elife.01567")
    ok(harvest("doi", ELIFE))
    show = ok(harvest("show", ELIFE)).stdout
    sources = from_line(show)
    assert set(sources) == {"crossref", "openalex"}
    assert {"title", "volume", "authors"} <= set(sources["crossref"])
    assert "openalex_id" in sources["openalex"]
    by_field = {name: source for source, names in sources.items() for name in names}
    assert by_field == provenance(work_by_doi(harvest.db_path, ELIFE))
    assert "Conflict:" not in show  # the recorded OpenAlex work agrees with Crossref


def test_show_lists_a_conflict_when_sources_disagree(harvest, upstream):
    upstream.add_openalex("10.7554_elife.01567")
    openalex = load_json("openalex/10.7554_elife.01567.json")
    openalex["biblio"] = {**openalex["biblio"], "volume": "4"}
    upstream.fail(
        "/openalex/works/doi:",
        200,
        json.dumps(openalex).encode(),
        {"Content-Type": "application/json"},
    )
    ok(harvest("doi", ELIFE))
    show = ok(harvest("show", ELIFE)).stdout
    assert shown(show, "Volume") == "3"  # the registration agency wins
    assert shown(show, "Conflict") == "volume: crossref '3', openalex '4'"
    assert query(harvest.db_path, "SELECT field, source, value FROM conflicts ORDER BY source") == [
        ("volume", "crossref", "3"),
        ("volume", "openalex", "4"),
    ]
