"""The review console's rules without a browser (issue 22), through Datasette's own test client
on the plugin as installed: who may act (the `harvester-review` permission, nobody by default),
Datasette's CSRF check, the writer lock, and that each action writes what the library writes
(history as `local`, a run naming who acted) or nothing at all. Also the search box and the pages'
404s, and that a built wheel carries the templates and static files."""

from __future__ import annotations

import asyncio
import copy
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from fakes import query
from review_site import BLOG, ESMO, FENNER_ORCID, build, serve_kept
from upstream import ReplayUpstream

from harvester.datasette_plugin.reading import marked, shown
from harvester.lock import WriterLock

datasette_app = pytest.importorskip("datasette.app", reason="datasette is not installed")

ROOT = Path(__file__).resolve().parents[1]
METADATA = yaml.safe_load((ROOT / "config" / "datasette.yml").read_text(encoding="utf-8"))
SECRET = "review-console-tests"


@pytest.fixture
def site(tmp_path, monkeypatch):
    """The database of review_site, and the environment pointing the harvester at its upstream."""
    with ReplayUpstream() as upstream:
        serve_kept(upstream)
        for name, value in upstream.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("HARVEST_MAILTO", "tests@example.org")
        monkeypatch.chdir(tmp_path)  # no config/harvester.toml of the checkout
        db = tmp_path / "harvest.db"
        ids = build(db, upstream.config())
        yield db, ids


def datasette(db: Path, allow: dict | None = None, **plugin):
    """Datasette on `db` with config/datasette.yml, and `allow` as plugins.harvester.review_allow
    (None: the plugin block left out, as a metadata file without one)."""
    metadata = copy.deepcopy(METADATA)
    metadata.pop("plugins", None)
    if allow is not None or plugin:
        metadata["plugins"] = {"harvester": {**plugin}}
        if allow is not None:
            metadata["plugins"]["harvester"]["review_allow"] = allow
    return datasette_app.Datasette([str(db)], metadata=metadata, secret=SECRET)


class Visitor:
    """A person at the console: their actor cookie (or none), the CSRF token the pages give."""

    def __init__(self, ds, actor_id: str | None) -> None:
        self.ds = ds
        self.cookies = {}
        if actor_id is not None:
            self.cookies["ds_actor"] = ds.sign({"a": {"id": actor_id}}, "actor")

    def get(self, path: str):
        return self._kept(asyncio.run(self.ds.client.get(path, cookies=self.cookies)))

    def _kept(self, response):
        """The cookies a browser keeps: the CSRF token, the message for the next page."""
        self.cookies.update(response.cookies)
        return response

    def post(self, kind: str, form: dict, *, token: bool = True):
        data = dict(form)
        if token:
            # The token of the page's form; one who may not act gets no form, so theirs is
            # made as Datasette makes it (a valid one: what a 403 then refuses is the actor).
            page = self.get("/-/harvester/review").text
            found = re.search(r'name="csrftoken" value="([^"]+)"', page)
            if found is None:
                self.cookies["ds_csrftoken"] = self.ds.sign("a token", "csrftoken")
            data["csrftoken"] = found.group(1) if found else self.cookies["ds_csrftoken"]
        return self._kept(
            asyncio.run(
                self.ds.client.post(f"/-/harvester/review/{kind}", data=data, cookies=self.cookies)
            )
        )


def claim_row(db: Path, claim: int) -> tuple:
    return query(db, "SELECT status, reason, settled_at FROM claims WHERE id = ?", claim)[0]


def test_read_only_by_default_an_action_is_refused_403_and_nothing_is_written(site):
    db, ids = site
    before = query(db, "SELECT count(*) FROM runs")
    for ds in (datasette(db), datasette(db, allow=None, lock_wait=1)):
        reviewer = Visitor(ds, "alice")
        page = reviewer.get("/-/harvester/review").text
        assert "Read-only" in page and ">Accept</button>" not in page
        response = reviewer.post("claim", {"claim_id": ids["claim"], "decision": "reject"})
        assert response.status_code == 403
        assert "harvester-review" in response.text
    assert claim_row(db, ids["claim"]) == ("pending", None, None)
    assert query(db, "SELECT count(*) FROM runs") == before


def test_a_database_the_visitor_may_not_view_is_not_shown_by_the_console_or_the_feed(site):
    """`allow` of the metadata hides the served database from Datasette's own pages: the
    console's pages, its actions and the change feed are refused alike (403)."""
    db, ids = site
    metadata = copy.deepcopy(METADATA)
    metadata["plugins"]["harvester"]["review_allow"] = {"id": "alice"}
    metadata["databases"] = {db.stem: {**metadata.get("databases", {}).get(db.stem, {}),
                                       "allow": {"id": "root"}}}  # fmt: skip
    ds = datasette_app.Datasette([str(db)], metadata=metadata, secret=SECRET)
    alice = Visitor(ds, "alice")
    assert alice.get(f"/{db.stem}").status_code == 403  # Datasette's own page
    for path in (
        "/-/harvester/review",
        f"/-/harvester/work/{ids['blog']}",
        "/-/harvester/search?q=newsletter",
        "/-/harvester/changes.json",
        "/-/harvester/changes.atom",
    ):
        assert alice.get(path).status_code == 403, path
    assert alice.post("claim", {"claim_id": ids["claim"], "decision": "reject"}).status_code == 403
    assert claim_row(db, ids["claim"]) == ("pending", None, None)
    assert Visitor(ds, "root").get("/-/harvester/review").status_code == 200


def test_a_crafted_form_cannot_choose_a_field_harvest_set_may_not_set(site):
    """ "Choose this value" takes only what `harvest set` may set: a form naming another field
    a source gives (its relations, its updates) is refused 400 and nothing is written."""
    db, ids = site
    reviewer = Visitor(datasette(db, allow={"id": "alice"}), "alice")
    before = query(db, "SELECT count(*) FROM runs")
    local = query(db, "SELECT * FROM local_fields ORDER BY work_id, field")
    for field in ("relations", "updates", "provenance"):
        response = reviewer.post(
            "conflict", {"work_id": ids["blog"], "field": field, "source": "crossref"}
        )
        assert response.status_code == 400, field
        assert "unknown field" in response.text
    assert query(db, "SELECT count(*) FROM runs") == before
    assert query(db, "SELECT * FROM local_fields ORDER BY work_id, field") == local


def test_the_shipped_metadata_lets_root_act_and_nobody_else(site):
    db, ids = site
    ds = datasette_app.Datasette([str(db)], metadata=copy.deepcopy(METADATA), secret=SECRET)
    assert (
        Visitor(ds, None)
        .post("claim", {"claim_id": ids["claim"], "decision": "reject"})
        .status_code
        == 403
    )
    assert (
        Visitor(ds, "alice")
        .post("claim", {"claim_id": ids["claim"], "decision": "reject"})
        .status_code
        == 403
    )
    assert claim_row(db, ids["claim"])[0] == "pending"
    response = Visitor(ds, "root").post("claim", {"claim_id": ids["claim"], "decision": "reject"})
    assert response.status_code == 302
    assert claim_row(db, ids["claim"])[0] == "rejected"


def test_a_post_without_the_csrf_token_is_refused_and_nothing_is_written(site):
    db, ids = site
    reviewer = Visitor(datasette(db, allow={"id": "alice"}), "alice")
    reviewer.get("/-/harvester/review")  # the cookie, but not the form's token
    response = reviewer.post("claim", {"claim_id": ids["claim"], "decision": "reject"}, token=False)
    assert response.status_code == 403
    assert "POST field did not match cookie" in response.text  # asgi-csrf's refusal
    assert claim_row(db, ids["claim"]) == ("pending", None, None)


def test_a_reviewer_rejects_a_claim_with_a_reason_in_a_run_that_names_them(site):
    db, ids = site
    reviewer = Visitor(datasette(db, allow={"id": ["alice", "bob"]}), "alice")
    response = reviewer.post(
        "claim",
        {"claim_id": ids["claim"], "decision": "reject", "reason": "another Fenner",
         "next": "/-/harvester/review"},
    )  # fmt: skip
    assert response.status_code == 302
    assert response.headers["location"] == "/-/harvester/review"
    status, reason, settled_at = claim_row(db, ids["claim"])
    assert (status, reason) == ("rejected", "another Fenner") and settled_at
    [(command, run_status)] = query(db, "SELECT command, status FROM runs ORDER BY id DESC LIMIT 1")
    assert command == f"datasette alice: claims reject {ids['claim']}" and run_status == "ok"
    page = reviewer.get("/-/harvester/review").text  # the message, and the queue emptied
    assert f"claim {ids['claim']} rejected" in page
    assert f'data-claim="{ids["claim"]}"' not in page


def test_choosing_a_sources_value_settles_the_conflict_as_harvest_set_would(site):
    db, ids = site
    work = ids["blog"]
    assert query(db, "SELECT source, value FROM conflicts WHERE work_id = ? AND field = 'year' "
                 "ORDER BY source", work) == [("crossref", "2023"), ("local", "2024"),
                                             ("openalex", "2023")]  # fmt: skip
    reviewer = Visitor(datasette(db, allow={"id": "alice"}), "alice")
    response = reviewer.post(
        "conflict",
        {"work_id": work, "field": "year", "source": "crossref",
         "next": f"/-/harvester/work/{work}"},
    )  # fmt: skip
    assert response.status_code == 302
    assert response.headers["location"] == f"/-/harvester/work/{work}"
    assert query(db, "SELECT year, json_extract(provenance, '$.year') FROM works WHERE id = ?",
                 work) == [(2023, "local")]  # fmt: skip
    [(old, new, source, command)] = query(
        db,
        """SELECT c.old_value, c.new_value, c.source, r.command FROM changes c
             JOIN runs r ON r.id = c.run_id
            WHERE c.work_id = ? AND c.field = 'year' ORDER BY c.id DESC LIMIT 1""",
        work,
    )
    assert (old, new, source) == ("2024", "2023", "local")
    assert command == f"datasette alice: set work {work} year from crossref"
    assert query(db, "SELECT count(*) FROM conflicts WHERE work_id = ? AND field = 'year'",
                 work) == [(0,)]  # fmt: skip


def test_a_reviewer_rejects_a_match_and_it_is_never_offered_again(site):
    db, ids = site
    reviewer = Visitor(datasette(db, allow={"id": "alice"}), "alice")
    response = reviewer.post("match", {"work_id": ids["record"], "doi": ESMO, "decision": "reject"})
    assert response.status_code == 302
    assert query(db, "SELECT decision, settled_by FROM match_candidates WHERE work_id = ?",
                 ids["record"]) == [("rejected", "local")]  # fmt: skip
    assert query(db, "SELECT doi FROM works WHERE id = ?", ids["record"]) == [(None,)]


def test_a_disputed_notice_leaves_the_queue_and_stays_on_record(site):
    db, ids = site
    [(retraction,)] = query(db, "SELECT id FROM integrity_notices WHERE kind = 'retraction'")
    notices = query(db, "SELECT * FROM integrity_notices ORDER BY id")
    reviewer = Visitor(datasette(db, allow={"id": "alice"}), "alice")
    assert f'data-notice="{retraction}"' in reviewer.get("/-/harvester/review").text
    response = reviewer.post(
        "notice", {"notice_id": retraction, "decision": "reject", "reason": "wrong paper"}
    )
    assert response.status_code == 302
    [(decision, reason, command)] = query(
        db,
        """SELECT r.decision, r.reason, runs.command FROM notice_reviews r
             JOIN runs ON runs.id = r.run_id WHERE r.kind = 'retraction'""",
    )
    assert (decision, reason) == ("disputed", "wrong paper")
    assert command == f"datasette alice: notice disputed {retraction}"
    assert query(db, "SELECT * FROM integrity_notices ORDER BY id") == notices  # kept as it was
    queue = reviewer.get("/-/harvester/review").text
    assert (
        f'data-notice="{retraction}"' not in queue
        and "Integrity notices not yet reviewed (1)" in queue
    )
    work = reviewer.get(f"/-/harvester/work/{ids['blog']}").text
    assert "disputed: wrong paper" in work  # the work's page says what you made of it
    absent = reviewer.post("notice", {"notice_id": 999, "decision": "accept"})
    assert absent.status_code == 409 and "no such notice: 999" in absent.text


def test_a_refused_decision_says_why_and_writes_nothing(site):
    db, ids = site
    reviewer = Visitor(datasette(db, allow={"id": "alice"}), "alice")
    before = query(db, "SELECT count(*) FROM runs")
    response = reviewer.post("match", {"work_id": ids["record"], "doi": BLOG, "decision": "accept"})
    assert response.status_code == 409
    assert f"{BLOG} is not a candidate of work {ids['record']}" in response.text
    assert query(db, "SELECT count(*) FROM runs") == before


def test_a_form_that_is_not_whole_or_names_nothing_is_refused(site):
    db, ids = site
    reviewer = Visitor(datasette(db, allow={"id": "alice"}), "alice")
    before = query(db, "SELECT count(*) FROM runs")
    lacking = reviewer.post("match", {"work_id": ids["record"], "decision": "accept"})
    assert lacking.status_code == 400 and "the form lacks &#39;doi&#39;" in lacking.text
    typo = reviewer.post("claim", {"claim_id": "twelve", "decision": "reject"})
    assert typo.status_code == 400
    absent = reviewer.post("claim", {"claim_id": 99, "decision": "reject"})
    assert absent.status_code == 409 and "no such claim: 99" in absent.text
    assert query(db, "SELECT count(*) FROM runs") == before


def test_an_action_waits_briefly_for_the_writer_lock_then_names_who_holds_it(site):
    db, ids = site
    reviewer = Visitor(datasette(db, allow={"id": "alice"}, lock_wait=0.3), "alice")
    with WriterLock(db, "harvest run"):
        response = reviewer.post("claim", {"claim_id": ids["claim"], "decision": "reject"})
    assert response.status_code == 409
    assert "another harvest is writing to harvest.db" in response.text
    assert "&#34;harvest run&#34;" in response.text or '"harvest run"' in response.text
    assert "Waited 0.3 s" in response.text
    assert claim_row(db, ids["claim"]) == ("pending", None, None)


def test_one_search_box_finds_works_people_and_identifiers(site):
    db, ids = site
    visitor = Visitor(datasette(db), None)

    def found(q: str, table: str) -> str:
        page = visitor.get(f"/-/harvester/search?q={q}").text
        return page.split(f'id="found-{table}"', 1)[1].split("</table>", 1)[0]

    assert f"/-/harvester/work/{ids['blog']}" in found("newsletter", "works")
    assert f"/-/harvester/work/{ids['blog']}" in found(f"https://doi.org/{BLOG.upper()}", "works")
    assert BLOG in found(f"doi:{BLOG}", "identifiers")
    assert "Martin Fenner" in found(f"https://orcid.org/{FENNER_ORCID}", "people")
    assert "1 claim(s) waiting" in found("fenner", "people")
    assert f"/-/harvester/work/{ids['record']}" in found("lenvatinib", "works")
    assert "none" in found("nothing-like-this", "works")


def test_pages_answer_404_for_what_is_not_there(site):
    db, _ = site
    visitor = Visitor(datasette(db), None)
    assert visitor.get("/-/harvester/work/999").status_code == 404
    assert visitor.get("/-/harvester/review?db=nope").status_code == 404


def test_the_build_carries_the_plugins_templates_and_static_files(tmp_path):
    """What setuptools puts in a wheel (build_py: packages with their package data), so that an
    installed harvester serves the pages with no checkout beside it."""
    proc = subprocess.run(
        [sys.executable, "-c", "import setuptools; setuptools.setup()", "-q", "build_py",
         "-d", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    package = tmp_path / "harvester" / "datasette_plugin"
    for name in (
        "__init__.py",
        "templates/row-harvest-works.html",
        "templates/harvester/work.html",
        "templates/harvester/review.html",
        "templates/harvester/search.html",
        "static/console.css",
    ):
        assert (package / name).is_file(), name


def test_the_timeline_marks_the_changed_words_and_not_the_rest():
    old, new = marked("The rise of the newsletter", "The rise of the science newsletter")
    assert old == [("The rise of the", False), ("newsletter", False)]
    assert new == [("The rise of the", False), ("science", True), ("newsletter", False)]
    assert marked("624-640", "624-40") == ([("624-640", True)], [("624-40", True)])
    assert marked(None, "10.1136/x") == ([], [("10.1136/x", True)])


def test_json_values_read_as_lines_of_text():
    funders = '[{"name": "AMED", "doi": "10.13039/100009619", "awards": ["JP18", "JP19"]}]'
    assert shown(funders) == "AMED · 10.13039/100009619 · JP18, JP19"
    assert shown('{"crossref": 0, "openalex": 2}') == "crossref: 0\nopenalex: 2"
    assert shown("[not json") == "[not json"
    assert shown(None) == "" and shown(2024) == "2024"
