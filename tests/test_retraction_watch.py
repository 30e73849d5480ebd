"""The Retraction Watch data set: the reader on the real header and row Crossref's export had
(tests/fixtures/retractionwatch), `harvest retractions load` end to end on a database holding
the paper, and the download through the harvester's client (mocked with `responses`).

Rows other than the real one are DERIVED in this file by editing the real row (a column
dropped, a DOI or date spoiled, another nature, another stored paper's DOI); none of them is a
fixture, and each says what was changed.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import responses
from conftest import KEPT, Clock, HarvestCommand
from fakes import UNPACED, fake_client, ok, query

from harvester import retraction_watch as rw
from harvester.cli import main
from harvester.config import Config
from harvester.errors import BadInputFile, NotFound
from harvester.formats import read_records
from harvester.http import BodyTooLarge
from harvester.models import Notice
from harvester.pipeline import import_records
from harvester.pipeline.retractions import is_due, load_retractions
from harvester.store import open_store

RW_CSV = KEPT / "retractionwatch" / "egonw_labs-export-2023_1row.csv"
PAPER = "10.1155/2021/6907871"  # the real row's OriginalPaperDOI
NOTICE = "10.1155/2023/9804945"  # its RetractionDOI
REASONS = (
    "Concerns/Issues About Data; Concerns/Issues About Results; "
    "Concerns/Issues about Referencing/Attributions; Concerns/Issues with Peer Review; "
    "Investigation by Journal/Publisher; Investigation by Third Party; "
    "Randomly Generated Content; Unreliable Results"
)
#: A DOI of the recorded corpus with letters in it, to show a paper is found whatever the case.
ELIFE = "10.7554/eLife.01567"
LABS = "https://api.labs.crossref.org/data/retractionwatch"


def real() -> tuple[list[str], dict[str, str]]:
    """The real header, and the real row by column."""
    with RW_CSV.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        [row] = list(reader)
    return header, dict(zip(header, row, strict=True))


def derived(**changes: str) -> list[str]:
    """The real row with some columns changed: a DERIVED row, not a recorded one."""
    header, row = real()
    return [changes.get(name.replace(" ", "_"), row[name]) for name in header]


def csv_text(*rows: list[str]) -> str:
    header, _ = real()
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def read(text: str, where: str = "rw.csv") -> list[rw.Row | rw.BrokenRow]:
    return list(rw.read_rows(io.StringIO(text, newline=""), where))


# --- the reader -------------------------------------------------------------------------------


def test_the_real_row_is_a_retraction_of_its_paper_by_retraction_watch():
    with RW_CSV.open("rb") as binary:
        [row] = list(rw.read_rows(rw.open_text(binary), str(RW_CSV)))
    assert isinstance(row, rw.Row)
    assert (row.line, row.doi.key) == (2, PAPER)
    assert row.notice == Notice(
        kind="retraction",
        asserted_by="retraction-watch",
        source="retraction-watch",
        notice_doi=NOTICE,
        record_id="50438",
        date="2023-08-16",  # "8/16/2023 0:00"
        detail=REASONS,
    )


@pytest.mark.parametrize(
    ("nature", "kind"),
    [
        ("Retraction", "retraction"),
        ("Correction", "correction"),
        ("Expression of concern", "expression_of_concern"),
        ("Expression of Concern", "expression_of_concern"),
        ("Reinstatement", "reinstatement"),
    ],
)
def test_each_retraction_nature_is_a_notice_kind(nature, kind):
    [row] = read(csv_text(derived(RetractionNature=nature)))  # DERIVED: the nature changed
    assert row.notice.kind == kind and row.notice.detail == REASONS


def test_a_nature_of_no_known_kind_is_other_and_says_what_it_was():
    [row] = read(csv_text(derived(RetractionNature="Withdrawal notice")))  # DERIVED
    assert row.notice.kind == "other"
    assert row.notice.detail == f"Withdrawal notice; {REASONS}"


def test_the_notice_doi_is_kept_in_lower_case_as_crossref_writes_it_in_updated_by():
    # DERIVED: the notice DOI in the publisher's capitals (Crossref's `updated-by` for the same
    # Retraction Watch record says 10.1016/s0140-6736(10)60175-4).
    [row] = read(csv_text(derived(RetractionDOI="10.1016/S0140-6736(10)60175-4")))
    assert row.notice.notice_doi == "10.1016/s0140-6736(10)60175-4"


def test_a_paper_or_notice_without_a_doi_is_read_not_broken():
    # DERIVED: the data set writes "unavailable" where there is no DOI.
    [row] = read(csv_text(derived(OriginalPaperDOI="unavailable", RetractionDOI="unavailable")))
    assert isinstance(row, rw.Row)
    assert row.doi is None and row.notice.notice_doi is None and row.notice.record_id == "50438"


def test_broken_rows_are_reported_with_their_lines_and_the_rest_kept():
    header, _ = real()
    short = derived()[:-1]  # DERIVED: the last column (Notes) dropped
    rows = read(
        csv_text(
            derived(),  # line 2: the real row
            short,  # line 3
            derived(OriginalPaperDOI="10.1155 2021/6907871", Record_ID="50439"),  # line 4
            derived(RetractionDate="16/8/2023 0:00", Record_ID="50440"),  # line 5: day, month
            derived(RetractionNature="", Record_ID="50441"),  # line 6
            derived(Record_ID="50442"),  # line 7: fine
        )
    )
    broken = [(r.line, r.reason) for r in rows if isinstance(r, rw.BrokenRow)]
    assert broken == [
        (3, f"{len(header) - 1} columns where the header has {len(header)}"),
        (4, "record 50439: OriginalPaperDOI '10.1155 2021/6907871': registrant code must be digits, e.g. 10.1000/"),
        (5, "record 50440: RetractionDate '16/8/2023 0:00' is not a day of the calendar"),
        (6, "record 50441: no RetractionNature"),
    ]  # fmt: skip
    kept = [(r.line, r.notice.record_id) for r in rows if isinstance(r, rw.Row)]
    assert kept == [(2, "50438"), (7, "50442")]


def test_a_record_over_several_lines_counts_them_for_the_next_line_number():
    # DERIVED: the real row with a line break inside its (quoted) Notes.
    text = csv_text(derived(Notes="See also:\nhttps://pubpeer.com/"), derived()[:3])
    first, second = read(text)
    assert (first.line, second.line) == (2, 4)
    assert isinstance(second, rw.BrokenRow)


def test_a_file_that_is_not_the_data_set_is_refused_naming_the_missing_columns():
    with pytest.raises(BadInputFile) as refused:
        read("doi,title\n10.1155/2021/6907871,x\n", "works.csv")
    assert str(refused.value).startswith("works.csv:1: not the Retraction Watch data set: no ")
    assert "'OriginalPaperDOI'" in str(refused.value)


def test_the_file_is_read_as_it_comes_not_whole():
    lines_given = 0
    text = csv_text(*[derived(Record_ID=str(n)) for n in range(1000)])

    def lines():
        nonlocal lines_given
        for line in io.StringIO(text, newline=""):
            lines_given += 1
            yield line

    rows = rw.read_rows(lines(), "rw.csv")
    first = next(rows)
    assert first.notice.record_id == "0"
    assert lines_given == 2  # the header and the first record, not the 1,001 lines


def test_a_byte_order_mark_and_bytes_that_are_not_utf8_do_not_stop_the_reader():
    # DERIVED: a BOM before the header and a Latin-1 byte in the Author column.
    data = b"\xef\xbb\xbf" + csv_text(derived(Author="Zh\x00ng")).encode().replace(b"\x00", b"\xe4")
    [row] = list(rw.read_rows(rw.open_text(io.BytesIO(data)), "rw.csv"))
    assert row.notice.record_id == "50438" and row.doi.key == PAPER


@pytest.mark.parametrize(
    ("text", "iso"),
    [("8/16/2023 0:00", "2023-08-16"), ("1/2/2020", "2020-01-02"), ("2019-07-26", "2019-07-26")],
)
def test_dates(text, iso):
    assert rw.parse_date(text) == iso


# --- harvest retractions load, end to end -----------------------------------------------------


@pytest.fixture
def harvest(tmp_path) -> HarvestCommand:
    return HarvestCommand(tmp_path, {}, "")


def store_works(harvest: HarvestCommand, *dois: str) -> None:
    """Works stored as a user stores them without asking anyone: `harvest import` of a CSV."""
    path = harvest.folder / "works.csv"
    path.write_text("doi,title\n" + "".join(f"{d},A paper {d}\n" for d in dois))
    ok(harvest("import", str(path)))


def notices(db: Path) -> list[tuple]:
    return query(
        db,
        """SELECT w.doi, n.kind, n.asserted_by, n.source, n.notice_doi, n.record_id,
                  n.notice_date, n.first_seen_run
             FROM integrity_notices n JOIN works w ON w.id = n.work_id ORDER BY n.record_id""",
    )


def test_load_keeps_a_notice_for_each_stored_paper_and_reports_broken_rows(harvest):
    store_works(harvest, PAPER, ELIFE, "10.1000/not-in-the-data-set")
    data = harvest.folder / "retraction_watch.csv"
    data.write_text(
        csv_text(
            derived(),  # line 2: the real row, a stored paper
            derived()[:-1],  # line 3: DERIVED, a column short
            # line 4: DERIVED, another stored paper, its DOI in capitals, another nature
            derived(
                Record_ID="50500",
                OriginalPaperDOI=ELIFE.upper(),
                RetractionDOI="unavailable",
                RetractionNature="Expression of concern",
            ),
            derived(Record_ID="50501", OriginalPaperDOI="10.9999/nobody-stored-this"),  # line 5
            derived(Record_ID="50502", RetractionDate="8/32/2023 0:00"),  # line 6: no such day
        )
    )
    proc = harvest("retractions", "load", str(data))
    assert proc.returncode == 1, proc.stderr  # some rows failed, the rest loaded
    assert f"{data}:3: 19 columns where the header has 20" in proc.stderr
    assert f"{data}:6: record 50502: RetractionDate '8/32/2023 0:00'" in proc.stderr
    run = query(harvest.db_path, "SELECT max(id) FROM runs")[0][0]
    assert notices(harvest.db_path) == [
        (PAPER, "retraction", "retraction-watch", "retraction-watch", NOTICE, "50438",
         "2023-08-16", run),
        (ELIFE, "expression_of_concern", "retraction-watch", "retraction-watch", None, "50500",
         "2023-08-16", run),
    ]  # fmt: skip
    assert f"retraction             {PAPER} (work 1): Retraction Watch record 50438" in proc.stdout
    assert "5 rows, 2 broken, 0 without a paper DOI; 2 stored works named, 2 new notices" in (
        proc.stdout
    )
    [(status, failed, changed)] = query(
        harvest.db_path, "SELECT status, failed, changed FROM runs WHERE id = ?", run
    )
    assert (status, failed, changed) == ("failures", 2, 2)
    [version] = query(
        harvest.db_path,
        "SELECT origin, sha256, rows_read, rows_broken, works, notices_new, run_id "
        "FROM retraction_sets",
    )
    sha = hashlib.sha256(data.read_bytes()).hexdigest()
    assert version == (str(data), sha, 5, 2, 2, 2, run)


def test_the_same_file_again_is_unchanged_and_force_reads_it_seeing_the_notices_again(harvest):
    store_works(harvest, PAPER)
    ok(harvest("retractions", "load", str(RW_CSV)))
    runs = query(harvest.db_path, "SELECT count(*) FROM runs")[0][0]
    again = ok(harvest("retractions", "load", str(RW_CSV)))
    assert "unchanged since it was loaded" in again.stdout
    assert query(harvest.db_path, "SELECT count(*) FROM runs")[0][0] == runs  # nothing read
    forced = ok(harvest("retractions", "load", str(RW_CSV), "--force"))
    assert "1 stored works named, 0 new notices" in forced.stdout
    [(first, last)] = query(
        harvest.db_path, "SELECT first_seen_run, last_seen_run FROM integrity_notices"
    )
    assert last == first + 1  # seen again by the forced load, kept once
    shown = ok(harvest("retractions"))
    assert f"from {RW_CSV} (run {last})" in shown.stdout
    assert "1 rows: 0 broken" in shown.stdout and "1 notices from Retraction Watch" in shown.stdout


def test_a_file_that_is_not_the_data_set_exits_2_with_one_line(harvest):
    store_works(harvest, PAPER)
    works = harvest.folder / "works.csv"
    proc = harvest("retractions", "load", str(works))
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith(f"{works}:1: not the Retraction Watch data set: no "
                                        "column 'Record ID', 'OriginalPaperDOI', 'RetractionDOI', "
                                        "'RetractionNature', 'RetractionDate', 'Reason'")  # fmt: skip
    assert query(harvest.db_path, "SELECT count(*) FROM retraction_sets") == [(0,)]
    assert query(harvest.db_path, "SELECT count(*) FROM runs") == [(1,)]  # the import's alone


def test_nothing_loaded_yet_says_so(harvest):
    store_works(harvest, PAPER)
    assert "No Retraction Watch data set loaded yet" in ok(harvest("retractions")).stdout


# --- the download -----------------------------------------------------------------------------


def config(**changes) -> Config:
    base = Config(mailto="tests@example.org")
    return dataclasses.replace(
        base, retraction_watch=dataclasses.replace(base.retraction_watch, **changes)
    )


@pytest.fixture
def stored(tmp_path):
    store = open_store(tmp_path / "h.db")
    records = read_records(f"doi,title\n{PAPER},A paper\n", "csv", "works.csv")
    import_records(records, store=store, config=Config(), command="harvest import")
    yield store
    store.close()


def load(store, cfg: Config, **options):
    client = fake_client(cfg, pools={rw.POOL: UNPACED})
    return load_retractions(store=store, client=client, config=cfg, command="t", **options)


@responses.activate
def test_the_download_goes_through_the_client_and_an_unchanged_file_is_not_sent_again(stored):
    body = RW_CSV.read_bytes()
    responses.get(LABS, body=body, headers={"ETag": '"v1"', "Content-Type": "text/csv"})
    first = load(stored, config())
    assert first.status == "loaded" and first.exit_code == 0
    sent = responses.calls[0].request
    assert sent.url == f"{LABS}?mailto=tests%40example.org"  # as Crossref's docs ask
    assert "mailto:tests@example.org" in sent.headers["User-Agent"]
    assert [n.record_id for _, _, n in first.new_notices] == ["50438"]
    assert first.version.sha256 == hashlib.sha256(body).hexdigest()
    assert first.version.etag == '"v1"'

    responses.replace(responses.GET, LABS, status=304)
    second = load(stored, config())
    assert second.status == "unchanged"
    assert responses.calls[1].request.headers["If-None-Match"] == '"v1"'
    assert stored.conn.execute("SELECT count(*) FROM retraction_sets").fetchone() == (1,)

    # A new version (DERIVED: the real row now a reinstatement) is read, and kept beside it.
    changed = csv_text(derived(RetractionNature="Reinstatement")).encode()
    responses.replace(responses.GET, LABS, body=changed, headers={"ETag": '"v2"'})
    third = load(stored, config())
    assert third.status == "loaded"
    assert [n.kind for _, _, n in third.new_notices] == ["reinstatement"]
    kinds = stored.conn.execute("SELECT kind FROM integrity_notices ORDER BY id").fetchall()
    assert kinds == [("retraction",), ("reinstatement",)]


@responses.activate
def test_another_url_gets_no_mailto_parameter_and_a_404_is_an_error(stored):
    url = "https://gitlab.example/crossref/retraction-watch-data/-/raw/main/retraction_watch.csv"
    responses.get(url, status=404)
    with pytest.raises(NotFound, match="not found"):
        load(stored, config(url=url))
    assert responses.calls[0].request.url == url


@responses.activate
def test_a_download_cut_short_is_asked_again_and_the_file_holds_the_body_once(tmp_path):
    body = RW_CSV.read_bytes()
    cut = requests.exceptions.ChunkedEncodingError("connection dropped mid-body")
    responses.get(LABS, body=cut)
    responses.get(LABS, body=body)
    client = fake_client(config(), pools={rw.POOL: UNPACED})
    with (tmp_path / "rw.csv").open("w+b") as sink:
        answer = rw.download(LABS, sink, client, config())
        assert answer.status == 200 and answer.content == b""
        sink.seek(0)
        assert sink.read() == body
    assert len(responses.calls) == 2


@responses.activate
def test_a_download_over_max_bytes_is_refused(tmp_path):
    responses.get(LABS, body=RW_CSV.read_bytes())
    cfg = config(max_bytes=100)
    with (tmp_path / "rw.csv").open("w+b") as sink, pytest.raises(BodyTooLarge):
        rw.download(LABS, sink, fake_client(cfg, pools={rw.POOL: UNPACED}), cfg)


# --- when harvest run would load it again ------------------------------------------------------


def test_it_is_due_once_refresh_days_have_passed_since_it_was_last_found(tmp_path):
    clock = Clock(datetime(2026, 12, 1, 3, 0, tzinfo=UTC))
    store = open_store(tmp_path / "h.db", now=clock)
    daily = config(url=str(RW_CSV), refresh_days=1)
    assert not is_due(store, config(), clock())  # refresh_days 0: only when asked
    assert is_due(store, daily, clock())  # never loaded
    load(store, daily)
    clock.moment += timedelta(hours=23)
    assert not is_due(store, daily, clock())
    assert load(store, daily).status == "unchanged"  # found again: as fresh as now
    clock.moment += timedelta(hours=23)
    assert not is_due(store, daily, clock())
    clock.moment += timedelta(hours=1)
    assert is_due(store, daily, clock())
    store.close()


def test_a_missing_file_is_a_one_line_error(stored):
    with pytest.raises(BadInputFile, match="cannot read"):
        load(stored, config(url="/nonexistent/retraction_watch.csv"))


def test_harvest_run_loads_it_when_refresh_days_say_it_is_due_and_not_again(tmp_path):
    config_text = f'[retraction_watch]\nurl = "{RW_CSV}"\nrefresh_days = 1\n'
    harvest = HarvestCommand(tmp_path, {}, config_text)
    store_works(harvest, PAPER)
    first = ok(harvest("run"))
    assert f"retraction             {PAPER} (work 1)" in first.stdout
    assert "1 stored works named, 1 new notices" in first.stdout
    assert notices(harvest.db_path)[0][:2] == (PAPER, "retraction")
    runs = query(harvest.db_path, "SELECT command FROM runs ORDER BY id")
    assert runs == [("harvest import " + str(harvest.folder / "works.csv"),), ("harvest run",),
                    ("harvest run",)]  # fmt: skip
    second = ok(harvest("run"))  # a day has not passed: not asked
    assert "retractions:" not in second.stdout
    assert query(harvest.db_path, "SELECT count(*) FROM retraction_sets") == [(1,)]
    assert query(harvest.db_path, "SELECT count(*) FROM runs") == [(4,)]


def test_harvest_run_without_refresh_days_never_loads_it(harvest):
    store_works(harvest, PAPER)
    assert "retractions:" not in ok(harvest("run")).stdout
    assert query(harvest.db_path, "SELECT count(*) FROM retraction_sets") == [(0,)]


@responses.activate
def test_the_command_downloads_from_the_configured_url_and_exits_1_for_a_broken_row(
    tmp_path, monkeypatch, capsys
):
    (tmp_path / "h.toml").write_text(
        f'[http]\nmax_attempts = 2\n[retraction_watch]\nurl = "{LABS}"\nrate = 1000.0\n'
    )
    monkeypatch.setenv("HARVEST_CONFIG", str(tmp_path / "h.toml"))
    monkeypatch.setenv("HARVEST_DB", str(tmp_path / "harvest.db"))
    monkeypatch.setenv("HARVEST_MAILTO", "tests@example.org")
    monkeypatch.setenv("HARVEST_LOG_FORMAT", "json")
    works = tmp_path / "works.csv"
    works.write_text(f"doi,title\n{PAPER},A paper\n")
    with pytest.raises(SystemExit) as imported:
        main(["import", str(works)])
    assert imported.value.code == 0
    # DERIVED: after the real row, the real row a column short.
    responses.get(LABS, body=csv_text(derived(), derived()[:-1]), content_type="text/csv")
    capsys.readouterr()
    with pytest.raises(SystemExit) as loaded:
        main(["retractions", "load"])
    out, err = capsys.readouterr()
    assert loaded.value.code == 1
    assert f"{LABS}:3: 19 columns where the header has 20" in err.splitlines()
    assert "2 rows, 1 broken" in out and "1 new notices" in out
    assert responses.calls[0].request.params == {"mailto": "tests@example.org"}
    db = open_store(tmp_path / "harvest.db", create=False)
    try:
        [notice] = db.integrity.for_work(1)
        assert (notice["kind"], notice["record_id"]) == ("retraction", "50438")
        assert db.retraction_sets.latest()["origin"] == LABS
    finally:
        db.close()
