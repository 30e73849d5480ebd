"""A work's page in Datasette, as a person sees it in a browser: the real Datasette with
config/datasette.yml and the harvester's plugin as installed (its row template in the package,
no --template-dir), serving a database built by a harvest of the kept
fixtures, read by headless Chromium (Debian's chromium and chromium-driver, through selenium).
The page reads as a record: its fields with the source of each, the sources' disagreements, the
authors, identifiers, sources and the history in time order. Skipped, with one line, where no
browser is installed; `HARVEST_SCREENSHOTS=DIR` keeps the screenshot (docs/ has the README's)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from browser import datasette, headless_chromium, require_browser
from upstream import ReplayUpstream

from harvester.identifiers import parse_doi
from harvester.pipeline import connect, edit_work, harvest
from harvester.store import open_store

ROOT = Path(__file__).resolve().parents[1]
require_browser("the Datasette page tests")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

BLOG = "10.53731/ybhah-9jy85"  # Crossref and OpenAlex, kept


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Datasette serving a harvest of the kept blog post, which the user then corrected."""
    folder = tmp_path_factory.mktemp("site")
    db = folder / "harvest.db"
    with ReplayUpstream() as upstream:
        upstream.add_crossref("10.53731_ybhah-9jy85")
        upstream.add_openalex("10.53731_ybhah-9jy85")
        config = upstream.config()
        store = open_store(db)
        try:
            harvest(
                [parse_doi(BLOG)],
                store=store,
                client=connect(config),
                config=config,
                command="harvest doi",
            )
            edit_work(1, {"pages": "1-9"}, store=store, config=config, command="harvest set")
        finally:
            store.close()
    with datasette(db, ROOT / "config" / "datasette.yml") as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    with headless_chromium() as driver:
        yield driver


def rows_of(browser, table: str) -> list[str]:
    return [row.text for row in browser.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr")]


def test_a_works_page_reads_as_a_record(site, browser, tmp_path):
    browser.get(f"{site}/harvest/works/1")
    WebDriverWait(browser, 15).until(lambda b: len(rows_of(b, "history")) > 1)

    assert browser.find_element(By.TAG_NAME, "h1").text == "The rise of the (science) newsletter"
    named = browser.find_element(By.CSS_SELECTOR, "p.named").text
    assert named.startswith(f"doi:{BLOG} · work 1, version 2")
    fields = browser.find_element(By.ID, "fields").text
    assert "pages\n1-9\nfrom local" in fields  # your correction, said to be yours
    assert "publisher\nFront Matter\nfrom crossref" in fields
    assert "citation_counts\ncrossref: 0\nopenalex: 0" in fields  # JSON read as text
    assert rows_of(browser, "authors") == ["1 Martin Fenner 0000-0003-1419-2405"]
    assert rows_of(browser, "identifiers") == [f"doi {BLOG}"]
    assert [row.split()[:2] for row in rows_of(browser, "sources")] == [
        ["crossref", "ok"],
        ["openalex", "ok"],
    ]
    history = rows_of(browser, "history")
    runs = [int(row.split()[1]) for row in history]
    assert runs == sorted(runs)  # in time order...
    assert history[-1].split()[1:] == ["2", "pages", "1-9", "local"]  # ...the correction last
    shot = tmp_path / "datasette-work.png"
    browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if keep := os.environ.get("HARVEST_SCREENSHOTS"):
        shutil.copy(shot, Path(keep) / shot.name)


def test_the_plain_row_is_one_click_away(site, browser):
    browser.get(f"{site}/harvest/works/1")
    link = browser.find_element(By.CSS_SELECTOR, "p.raw a")
    assert link.get_attribute("href").endswith("/harvest/works?id=1")
