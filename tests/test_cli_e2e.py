"""End to end: the `harvest` command in a subprocess against a local Crossref replaying recorded
responses on 127.0.0.1, as a user would run it. Nothing here reaches the internet."""

from __future__ import annotations

import json

import pytest
from conftest import QUICK_RETRIES, HarvestCommand
from fakes import query
from upstream import CrossrefReplay

ELIFE = "10.7554/eLife.01567"
PLOS = "10.1371/journal.pone.0033693"
BOOK_CHAPTER = "10.1007/978-3-662-46370-3_13"


@pytest.fixture
def upstream():
    with CrossrefReplay(prefix="/crossref") as replay:
        replay.add_recorded(
            "10.7554_elife.01567",
            "10.1371_journal.pone.0033693",
            "10.1007_978-3-662-46370-3_13",
            "10.1136_jclinpath-2020-206745",
        )
        yield replay


@pytest.fixture
def harvest(tmp_path, upstream):
    """Run `harvest ...` in a fresh working folder with the upstream configured by environment."""
    return HarvestCommand(tmp_path, upstream.env(), QUICK_RETRIES)


def test_first_harvest_prints_and_stores_then_a_rerun_changes_nothing(harvest, upstream):
    first = harvest("doi", ELIFE, f"https://doi.org/{PLOS}", BOOK_CHAPTER)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0].startswith(f"created    {ELIFE}  work ")
    assert "Automated quantitative histology reveals vascular" in lines[0]
    assert lines[-1].startswith(
        "3 identifier(s): 3 created, 0 changed, 0 unchanged, 0 not found, 0 failed"
    )

    db = harvest.db_path
    assert query(db, "SELECT count(*) FROM works")[0][0] == 3
    [(container, version)] = query(
        db, "SELECT container_title, version FROM works WHERE doi = ? COLLATE NOCASE", ELIFE
    )
    assert container == "eLife" and version == 1
    authors = query(
        db,
        "SELECT given, family FROM authors JOIN works ON works.id = work_id "
        "WHERE doi = ? COLLATE NOCASE ORDER BY position",
        ELIFE,
    )
    assert authors[0] == ("Martial", "Sankar")
    [run] = query(
        db, "SELECT status, requested, created, changed, unchanged, not_found, failed FROM runs"
    )
    assert run == ("ok", 3, 3, 0, 0, 0, 0)
    # the three DOIs went out in one batched list request, not three single look-ups
    assert upstream.count("/crossref/works?") == 1 and upstream.count("/crossref/works/10.") == 0
    changes_after_first = query(db, "SELECT count(*) FROM changes")[0][0]

    second = harvest("doi", ELIFE, PLOS, BOOK_CHAPTER)
    assert second.returncode == 0, second.stderr
    assert all(line.startswith("unchanged") for line in second.stdout.splitlines()[:3])
    assert query(db, "SELECT count(*) FROM changes")[0][0] == changes_after_first
    assert query(db, "SELECT max(version) FROM works")[0][0] == 1
    # each answer kept once: three Crossref payloads, three "not found" from OpenAlex
    assert query(db, "SELECT source, status, count(*) FROM source_records GROUP BY 1, 2") == [
        ("crossref", "ok", 3),
        ("openalex", "not_found", 3),
    ]
    assert query(db, "SELECT unchanged FROM runs WHERE id = 2")[0][0] == 3


def test_a_changed_upstream_record_shows_and_stores_exactly_what_changed(harvest, upstream):
    assert harvest("doi", ELIFE).returncode == 0
    original = upstream.works["10.7554/elife.01567"]
    upstream.change(
        ELIFE,
        title=["A corrected title"],
        author=original["author"][:2],
        volume=None,
        page="e01567",
    )
    proc = harvest("doi", ELIFE)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith(f"changed    {ELIFE}")
    assert proc.stdout.splitlines()[0].endswith("v2: title, volume, pages, authors")

    rows = query(
        harvest.db_path,
        "SELECT field, old_value, new_value, source, run_id FROM changes WHERE run_id = 2 ORDER BY id",
    )
    assert [r[0] for r in rows] == ["title", "volume", "pages", "authors"]
    assert rows[0][2] == "A corrected title" and rows[0][3] == "crossref"
    assert rows[1][1:3] == ("3", None)  # a change to empty is recorded
    assert rows[2][1:3] == (None, "e01567")  # and a change from empty
    assert len(json.loads(rows[3][2])) == 2
    assert query(harvest.db_path, "SELECT version, title FROM works")[0] == (2, "A corrected title")
    assert query(harvest.db_path, "SELECT count(*) FROM authors")[0][0] == 2
    assert query(harvest.db_path, "SELECT changed FROM runs WHERE id = 2")[0][0] == 1

    history = harvest("history", ELIFE.lower())
    assert history.returncode == 0
    assert "A corrected title" in history.stdout and "run 2" in history.stdout


def test_a_single_doi_prints_the_stored_record(harvest):
    proc = harvest("doi", f"  doi:{PLOS}. ")
    assert proc.returncode == 0, proc.stderr
    assert "Methylphenidate Exposure Induces Dopamine Neuron Loss" in proc.stdout
    assert "In:          PLoS ONE" in proc.stdout
    # the correction notice shows on the work
    assert (
        "updated-by correction: 10.1371/annotation/c76da2c1-ccb8-4797-94c1-359d3ceceeda"
        in proc.stdout
    )


def test_not_found_is_reported_stored_and_exits_1(harvest, upstream):
    proc = harvest("doi", ELIFE, "10.1371/notarealdoi")
    assert proc.returncode == 1
    assert "not found  10.1371/notarealdoi" in proc.stdout
    assert "1 created, 0 changed, 0 unchanged, 1 not found, 0 failed" in proc.stdout
    assert query(
        harvest.db_path,
        "SELECT status FROM source_records WHERE identifier = '10.1371/notarealdoi'",
    ) == [("not_found",)]
    # the batch did not contain it, so it was asked for once more on its own before being called missing
    assert upstream.count("/works/10.1371/notarealdoi") == 1


def test_bad_input_names_the_input_and_writes_nothing(harvest):
    proc = harvest("doi", ELIFE, "not-a-doi", "10.1234/")
    assert proc.returncode == 2
    assert "'not-a-doi'" in proc.stderr and "'10.1234/'" in proc.stderr
    assert proc.stdout == ""
    assert not harvest.db_path.exists()


def test_skip_invalid_goes_on_with_the_rest(harvest):
    proc = harvest(
        "doi", "--skip-invalid", "--from-file", "-", stdin=f"{ELIFE}\nrubbish\n\n# note\n"
    )
    assert proc.returncode == 0
    assert "stdin:2" in proc.stderr and "created" in proc.stdout


def test_failures_are_reported_without_traceback_and_exit_1(harvest, upstream):
    for _ in range(2):  # both tries of the batch request (max_attempts = 2)
        upstream.fail(
            "/crossref/works",
            503,
            b"<html><body>Service Unavailable</body></html>",
            {"content-type": "text/html"},
        )
    proc = harvest("doi", ELIFE, PLOS)
    assert proc.returncode == 1
    assert [line.split()[0] for line in proc.stdout.splitlines()[:2]] == ["failed", "failed"]
    assert "503" in proc.stdout
    [run] = query(harvest.db_path, "SELECT status, failed FROM runs")
    assert run == ("failures", 2)
    # Crossref failing the batch is not a reason to ask it once per DOI as well
    assert upstream.count("/crossref/works?") == 2 and upstream.count("/crossref/works/10.") == 0
    again = harvest("doi", ELIFE, PLOS)  # a rerun finishes the work
    assert again.returncode == 0
    assert [line.split()[0] for line in again.stdout.splitlines()[:2]] == ["created", "created"]


def test_json_output_and_show(harvest):
    proc = harvest("doi", "--json", ELIFE, "10.1371/notarealdoi")
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert data["counts"]["created"] == 1 and data["counts"]["not_found"] == 1
    assert {r["status"] for r in data["results"]} == {"created", "not_found"}

    work_id = next(r["work_id"] for r in data["results"] if r["status"] == "created")
    shown = harvest("show", "--json", str(work_id))
    assert shown.returncode == 0
    work = json.loads(shown.stdout)
    assert work["doi"] == ELIFE.lower() and work["authors"][0]["family"] == "Sankar"
    by_url = harvest("show", f"https://doi.org/{ELIFE.upper()}")
    assert by_url.returncode == 0 and ELIFE in by_url.stdout
    missing = harvest("show", "10.9999/nothing")
    assert missing.returncode == 1 and "not in the database" in missing.stderr
    huge = harvest("show", "9" * 30)
    assert huge.returncode == 1 and "not in the database" in huge.stderr
    assert work["issn"] == ["2050-084X"]  # JSON columns are JSON values, not strings of JSON


def test_reading_commands_do_not_create_a_database(harvest, tmp_path):
    proc = harvest("--db", str(tmp_path / "typo" / "h.db"), "show", ELIFE)
    assert proc.returncode == 2 and "no such database" in proc.stderr
    assert not (tmp_path / "typo").exists()


def test_logs_are_json_lines_when_not_on_a_terminal(harvest):
    proc = harvest("doi", ELIFE)
    events = [json.loads(line) for line in proc.stderr.splitlines() if line.strip()]
    names = [e["event"] for e in events]
    assert "run.started" in names and "run.finished" in names and "work.created" not in names
    # At info, one line per batch with its counts; a line per work from -v (debug) on.
    batch = next(e for e in events if e["event"] == "batch.written")
    assert (batch["run_id"], batch["works"], batch["created"]) == (1, 1, 1)
    proc = harvest("-v", "doi", ELIFE)
    events = [json.loads(line) for line in proc.stderr.splitlines() if line.strip()]
    unchanged = next(e for e in events if e["event"] == "work.unchanged")
    assert unchanged["run_id"] == 2 and unchanged["source"] == "crossref"
    assert unchanged["identifier"] == ELIFE and unchanged["level"] == "debug"


def test_usage_errors_exit_2_without_traceback(harvest):
    assert harvest("doi").returncode == 2
    assert harvest("no-such-command").returncode == 2
    bad_config = harvest.db_path.parent.parent / "bad.toml"
    bad_config.write_text("[crossref]\nbatch_sise = 10\n")
    proc = harvest("--config", str(bad_config), "doi", ELIFE)
    assert proc.returncode == 2 and "batch_sise" in proc.stderr


def test_a_mixed_list_is_resolved_each_doi_at_its_own_agency(harvest, upstream):
    """The issue's own try-out: a DataCite preprint, a DataCite dataset, a Crossref article and a
    DOI no agency knows, in one command."""
    upstream.add_datacite("10.48550_arxiv.2311.16162", "10.5061_dryad.8515")
    upstream.add_openalex("10.7554_elife.01567")
    proc = harvest(
        "doi", "10.48550/arXiv.2311.16162", "10.5061/dryad.8515", ELIFE, "10.99999/nobody"
    )
    assert proc.returncode == 1, proc.stderr  # one was not found
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("created    10.48550/arXiv.2311.16162")
    assert lines[1].startswith("created    10.5061/dryad.8515  work 2: Data from: A new malaria")
    assert lines[2].startswith(f"created    {ELIFE}")
    assert (
        lines[3] == "not found  10.99999/nobody  doi.org knows no registration agency for 10.99999"
    )
    assert lines[4].startswith("4 identifier(s): 3 created, 0 changed, 0 unchanged, 1 not found")

    shown = harvest("show", "10.5061/dryad.8515").stdout
    assert "Type:        dataset" in shown and "From:        datacite: " in shown
    elife = harvest("show", ELIFE).stdout
    assert "crossref: " in elife and "openalex: " in elife and "Open access: gold" in elife

    again = harvest("doi", "10.99999/nobody")
    assert "asked again after 30 days, or now with --refresh" in again.stdout
    # doi.org was asked once, about every prefix at once; the rerun asks it nothing.
    assert [r for r in upstream.requests if r.startswith("/doi/ra/")] == [
        "/doi/ra/10.48550,10.5061,10.7554,10.99999"
    ]


def test_harvest_repec_resolves_a_handle_from_the_archive_tree(harvest, tmp_path):
    from conftest import fixture_path

    series = tmp_path / "repec" / "epo" / "papers"
    series.mkdir(parents=True)
    (series / "2016.rdf").write_bytes(fixture_path("redif/epo_papers_2016.rdf").read_bytes())
    harvest.env["HARVEST_REPEC_URL"] = str(tmp_path / "repec")

    proc = harvest("repec", "https://ideas.repec.org/p/epo/papers/2016-01.html")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("created    RePEc:epo:papers:2016-01  work 1: Low Visibility")
    assert "Type:        report" in proc.stdout
    shown = harvest("show", "RePEc:epo:papers:2016-01")
    assert "From:        repec: " in shown.stdout

    unset = harvest("repec", "--series", "RePEc:epo:papers")
    assert unset.returncode == 0 and "7 identifier(s): 6 created" in unset.stdout
    archive = harvest("repec", "--archive", "RePEc:epo")
    assert archive.returncode == 0 and "0 identifier(s)" in archive.stdout  # already read

    del harvest.env["HARVEST_REPEC_URL"]
    missing = harvest("repec", "RePEc:epo:papers:2016-01")
    assert missing.returncode == 2 and "[repec] url is not set" in missing.stderr
    bad = harvest("repec", "--series", "RePEc:epo")
    assert bad.returncode == 2 and "not a RePEc series handle" in bad.stderr
    bad_archive = harvest("repec", "--archive", "RePEc:epo:papers")
    assert bad_archive.returncode == 2 and "not a RePEc archive handle" in bad_archive.stderr


def test_harvest_oai_harvests_a_named_endpoint_incrementally(harvest, upstream, tmp_path):
    upstream.add_zenodo_list()
    config = tmp_path / "harvester.toml"
    config.write_text(
        config.read_text()
        + f'[oai]\nrate = 100.0\n\n[oai.endpoints]\nmirror = "{upstream.url_for("oai")}"\n'
    )
    first = harvest("oai", "mirror", "--no-resolve-dois")
    assert first.returncode == 0, first.stderr
    assert "created    oai:zenodo.org:8435696  work 1: PocketCoffea" in first.stdout
    assert "8 identifier(s): 8 created" in first.stdout

    again = harvest("oai", "mirror", "--no-resolve-dois", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["counts"]["requested"] == 0
    assert any("from=2026-08-13T17%3A56%3A48Z" in r for r in upstream.requests)

    unknown = harvest("oai", "nowhere")
    assert unknown.returncode == 2
    assert (
        "'nowhere' is neither an http(s) base URL nor a name in [oai.endpoints]" in unknown.stderr
    )
    assert "mirror" in unknown.stderr and "Traceback" not in unknown.stderr
    bad_from = harvest("oai", "mirror", "--from", "yesterday")
    assert bad_from.returncode == 2 and "not an OAI-PMH datestamp" in bad_from.stderr
