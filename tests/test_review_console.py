"""The review console in a real browser (issue 22): Datasette with config/datasette.yml and the
harvester's plugin as installed, serving review_site's database, driven by headless Chromium
(Debian's chromium and chromium-driver, through selenium) as a librarian uses it: the work's
page, the queues, a match accepted (its DOI then harvested from the local upstream onto the
record's work) and a claim rejected, each change then read from the database with its history
row and its run; a visitor without the permission sees no actions and is refused. Skipped, with
one line, where no browser is installed; screenshots are kept in the test's folder and, with
`HARVEST_SCREENSHOTS=DIR`, copied there."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml
from browser import datasette, headless_chromium, require_browser
from fakes import query
from review_site import BLOG, ESMO, RETRACTION, build, serve_kept
from upstream import ReplayUpstream

ROOT = Path(__file__).resolve().parents[1]
require_browser("the review console's browser tests")
from datasette.app import Datasette  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

SECRET = "review-console-browser"
REVIEWER = "librarian"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Datasette serving review_site's database, `librarian` allowed to act; the upstream stays
    up for the DOI an accepted match harvests."""
    folder = tmp_path_factory.mktemp("console")
    db = folder / "harvest.db"
    metadata = yaml.safe_load((ROOT / "config" / "datasette.yml").read_text(encoding="utf-8"))
    metadata["plugins"]["harvester"]["review_allow"] = {"id": ["root", REVIEWER]}
    (folder / "datasette.yml").write_text(yaml.safe_dump(metadata), encoding="utf-8")
    with ReplayUpstream() as upstream:
        serve_kept(upstream)
        ids = build(db, upstream.config())
        extra = ["--secret", SECRET]
        env = {**os.environ, **upstream.env(), "HARVEST_MAILTO": "tests@example.org"}
        env.pop("HARVEST_CONFIG", None)
        with datasette(db, folder / "datasette.yml", extra=extra, cwd=folder, env=env) as base:
            yield {"base": base, "db": db, **ids}


@pytest.fixture(scope="module")
def browser():
    with headless_chromium() as driver:
        yield driver


def sign_in(browser, site, actor_id: str | None) -> None:
    """Be `actor_id` (Datasette's signed actor cookie, as a login plugin sets it), or nobody."""
    browser.get(f"{site['base']}/-/versions")
    browser.delete_all_cookies()
    if actor_id is not None:
        token = Datasette([], secret=SECRET).sign({"a": {"id": actor_id}}, "actor")
        browser.add_cookie({"name": "ds_actor", "value": token, "path": "/"})


def screenshot(browser, tmp_path: Path, name: str) -> Path:
    shot = tmp_path / name
    browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if keep := os.environ.get("HARVEST_SCREENSHOTS"):
        shutil.copy(shot, Path(keep) / shot.name)
    return shot


def texts(browser, selector: str) -> list[str]:
    return [e.text for e in browser.find_elements(By.CSS_SELECTOR, selector)]


def test_the_work_page_shows_the_record_its_sources_side_by_side_and_its_history(
    site, browser, tmp_path
):
    sign_in(browser, site, None)
    browser.get(f"{site['base']}/-/harvester/work/{site['blog']}")
    assert browser.find_element(By.TAG_NAME, "h1").text == "The rise of the (science) newsletter"
    citation = browser.find_element(By.ID, "citation").text
    assert citation.startswith("Fenner, M. (2024). The rise of the (science) newsletter.")
    assert citation.endswith(f"https://doi.org/{BLOG}")
    notices = texts(browser, "#notices .notice")
    assert notices[0].startswith(
        f"RETRACTION {RETRACTION} (2010-02-06), asserted by retraction-watch"
    )
    assert "record 4036" in notices[0] and notices[1].startswith("CORRECTION")
    assert texts(browser, "#authors tbody tr") == ["1 Martin Fenner 0000-0003-1419-2405"]
    assert texts(browser, "#identifiers tbody tr") == [f"doi {BLOG}"]
    assert [row.split()[:2] for row in texts(browser, "#sources tbody tr")] == [
        ["crossref", "ok"],
        ["openalex", "ok"],
    ]
    # side by side: each source's year, yours winning, the disagreement highlighted
    year = browser.find_element(By.CSS_SELECTOR, '#compare tr[data-field="year"]')
    assert "conflict" in year.get_attribute("class")
    cells = {
        c.get_attribute("data-source"): (c.text, "won" in c.get_attribute("class"))
        for c in year.find_elements(By.CSS_SELECTOR, "td")
    }
    assert cells == {
        "crossref": ("2023", False),
        "openalex": ("2023", False),
        "local": ("2024", True),
    }
    publisher = browser.find_element(By.CSS_SELECTOR, '#compare tr[data-field="publisher"]')
    assert "won" in publisher.find_element(
        By.CSS_SELECTOR, 'td[data-source="crossref"]'
    ).get_attribute("class")
    # the timeline: in run order, the correction last, the changed part marked
    entries = browser.find_elements(By.CSS_SELECTOR, "#history li")
    runs = [int(e.get_attribute("data-run")) for e in entries]
    assert runs == sorted(runs)
    last = entries[-1]
    assert (last.get_attribute("data-field"), last.get_attribute("data-source")) == (
        "year",
        "local",
    )
    assert last.find_element(By.CSS_SELECTOR, ".old del").text == "2023"
    assert last.find_element(By.CSS_SELECTOR, ".new ins").text == "2024"
    assert "(harvest set)" in last.text
    claims = texts(browser, "#claims tbody tr")
    assert claims == [f"{site['claim']} Martin Fenner pending orcid"]
    assert not browser.find_elements(By.CSS_SELECTOR, "form")  # a visitor reads only
    screenshot(browser, tmp_path, "console-work.png")


def test_a_visitor_without_the_permission_sees_no_actions_and_is_refused(site, browser, tmp_path):
    sign_in(browser, site, "someone-else")
    browser.get(f"{site['base']}/-/harvester/review")
    assert "Read-only" in browser.find_element(By.CSS_SELECTOR, ".readonly").text
    assert not browser.find_elements(By.CSS_SELECTOR, "#claim-queue form")
    # the form a reviewer would be shown, posted by this visitor with this page's own token
    claim = site["claim"]
    browser.execute_script(
        """const f = document.createElement("form"); f.method = "post";
           f.action = "/-/harvester/review/claim";
           for (const [k, v] of Object.entries(arguments[0])) {
             const i = document.createElement("input"); i.name = k; i.value = v; f.appendChild(i); }
           document.body.appendChild(f); f.submit();""",
        {"claim_id": str(claim), "decision": "reject", "csrftoken": csrf_token(browser, site)},
    )
    WebDriverWait(browser, 15).until(lambda b: b.find_elements(By.CSS_SELECTOR, "p.refused"))
    refused = browser.find_element(By.CSS_SELECTOR, "p.refused")
    assert refused.get_attribute("data-status") == "403"
    assert "harvester-review" in refused.text
    assert query(site["db"], "SELECT status FROM claims WHERE id = ?", claim) == [("pending",)]
    screenshot(browser, tmp_path, "console-refused.png")


def csrf_token(browser, site) -> str:
    """The CSRF token Datasette gave this browser (its ds_csrftoken cookie, which a form's
    `csrftoken` must equal)."""
    cookie = browser.get_cookie("ds_csrftoken")
    if cookie is None:  # no page has asked for one yet: the search page's does not
        token = Datasette([], secret=SECRET).sign("browser", "csrftoken")
        browser.add_cookie({"name": "ds_csrftoken", "value": token, "path": "/"})
        return token
    return cookie["value"]


def test_a_librarian_accepts_a_match_and_rejects_a_claim(site, browser, tmp_path):
    db, record, claim = site["db"], site["record"], site["claim"]
    sign_in(browser, site, REVIEWER)
    browser.get(f"{site['base']}/-/harvester/review")
    match_row = browser.find_element(By.CSS_SELECTOR, f'#match-queue tr[data-work="{record}"]')
    assert ESMO in match_row.text and "0.82" in match_row.text
    assert texts(browser, "#claim-queue tbody tr")[0].startswith(f"{claim} Martin Fenner")
    assert "year" in browser.find_element(By.ID, "conflict-queue").text
    assert RETRACTION in browser.find_element(By.ID, "notice-queue").text
    screenshot(browser, tmp_path, "console-queues.png")

    match_row.find_element(By.CSS_SELECTOR, 'button[value="accept"]').click()
    WebDriverWait(browser, 30).until(lambda b: "linked to work" in b.page_source)
    assert (
        f"{ESMO} linked to work {record}"
        in browser.find_element(By.CSS_SELECTOR, ".message-info").text
    )
    assert not browser.find_elements(By.CSS_SELECTOR, f'#match-queue tr[data-work="{record}"]')

    claim_row = browser.find_element(By.CSS_SELECTOR, f'#claim-queue tr[data-claim="{claim}"]')
    claim_row.find_element(By.NAME, "reason").send_keys("not this Fenner")
    claim_row.find_element(By.CSS_SELECTOR, 'button[value="reject"]').click()
    WebDriverWait(browser, 15).until(lambda b: f"claim {claim} rejected" in b.page_source)
    assert not browser.find_elements(By.CSS_SELECTOR, f'#claim-queue tr[data-claim="{claim}"]')

    [(correction,)] = query(db, "SELECT id FROM integrity_notices WHERE kind = 'correction'")
    notice_row = browser.find_element(
        By.CSS_SELECTOR, f'#notice-queue tr[data-notice="{correction}"]'
    )
    notice_row.find_element(By.CSS_SELECTOR, 'button[value="accept"]').click()
    WebDriverWait(browser, 15).until(lambda b: f"notice {correction} (correction" in b.page_source)
    assert not browser.find_elements(By.CSS_SELECTOR, f'tr[data-notice="{correction}"]')
    screenshot(browser, tmp_path, "console-settled.png")

    # the match: linked by you, its history row, and the DOI's record harvested onto the work
    assert query(db, "SELECT decision, settled_by FROM match_candidates WHERE work_id = ?",
                 record) == [("accepted", "local")]  # fmt: skip
    [(run, source)] = query(
        db,
        "SELECT run_id, source FROM changes WHERE work_id = ? AND field = 'matched_doi'",
        record,
    )
    assert source == "local"
    assert query(db, "SELECT command, status FROM runs WHERE id = ?", run) == [
        (f"datasette {REVIEWER}: accept match work {record} {ESMO}", "ok")
    ]
    assert query(db, "SELECT doi, container_title FROM works WHERE id = ?", record) == [
        (ESMO, "ESMO Open")
    ]
    assert query(db, "SELECT count(*) FROM works WHERE doi = ?", ESMO) == [(1,)]  # one work
    # the claim: rejected with the reason, in a run of its own naming who did it
    assert query(db, "SELECT status, reason FROM claims WHERE id = ?", claim) == [
        ("rejected", "not this Fenner")
    ]
    assert query(db, "SELECT status FROM runs WHERE command = ?",
                 f"datasette {REVIEWER}: claims reject {claim}") == [("ok",)]  # fmt: skip
    # the notice: acknowledged, off the queue, and still on record
    assert query(db, "SELECT decision FROM notice_reviews WHERE kind = 'correction'") == [
        ("acknowledged",)
    ]
    assert query(db, "SELECT count(*) FROM integrity_notices") == [(2,)]

    # and the work's page says so: the DOI's link in its history
    browser.get(f"{site['base']}/-/harvester/work/{record}")
    linked = browser.find_element(By.CSS_SELECTOR, '#history li[data-field="matched_doi"]')
    assert linked.get_attribute("data-source") == "local"
    assert linked.find_element(By.CSS_SELECTOR, ".new ins").text == ESMO
    screenshot(browser, tmp_path, "console-linked-work.png")


def test_the_search_box_finds_a_work_by_its_doi(site, browser):
    sign_in(browser, site, None)
    browser.get(f"{site['base']}/-/harvester/review")
    box = browser.find_element(By.NAME, "q")
    box.send_keys(f"https://doi.org/{BLOG}\n")
    WebDriverWait(browser, 15).until(lambda b: b.find_elements(By.ID, "found-works"))
    link = browser.find_element(By.CSS_SELECTOR, "#found-works a")
    assert link.text == "The rise of the (science) newsletter"
    link.click()
    WebDriverWait(browser, 15).until(lambda b: "/-/harvester/work/" in b.current_url)
    assert browser.current_url.endswith(f"/-/harvester/work/{site['blog']}")


def test_the_row_page_links_to_the_console(site, browser):
    sign_in(browser, site, None)
    browser.get(f"{site['base']}/harvest/works/{site['blog']}")
    link = browser.find_element(By.CSS_SELECTOR, "p.named a.console")
    assert link.get_attribute("href").endswith(f"/-/harvester/work/{site['blog']}")
