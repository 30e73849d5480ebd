"""The integrity_notices table: a notice kept once however often it is said, worst first, and
what is new since a run; it follows a work merged into another and goes with a deleted one."""

from __future__ import annotations

from harvester.models import Notice
from harvester.store import open_store

RETRACTION = Notice(
    kind="retraction",
    asserted_by="retraction-watch",
    source="crossref",
    notice_doi="10.1000/notice.1",
    record_id="4036",
    date="2020-01-30",
)
CORRECTION = Notice(
    kind="correction", asserted_by="publisher", source="crossref", notice_doi="10.1000/c.2"
)


def _work(store, doi: str) -> int:
    return store.conn.execute(
        "INSERT INTO works (doi, title, version, created_at, updated_at) VALUES (?, 't', 1, 'x', 'x')",
        (doi,),
    ).lastrowid


def _run(store) -> int:
    return store.runs.start("test")


def test_a_notice_said_twice_is_kept_once_and_seen_again(tmp_path):
    store = open_store(tmp_path / "h.db")
    work = _work(store, "10.1000/a")
    first, second = _run(store), _run(store)
    assert (
        store.integrity.record(work, [RETRACTION, CORRECTION], first, "2026-12-01T00:00:00Z") == 2
    )
    assert store.integrity.record(work, [RETRACTION], second, "2026-12-02T00:00:00Z") == 0
    rows = store.integrity.for_work(work)
    assert [r["kind"] for r in rows] == ["retraction", "correction"]  # worst first
    assert rows[0]["first_seen_run"] == first and rows[0]["last_seen_run"] == second
    assert rows[0]["record_id"] == "4036" and rows[0]["notice_date"] == "2020-01-30"


def test_since_a_run_lists_only_what_is_new_with_its_work(tmp_path):
    store = open_store(tmp_path / "h.db")
    work = _work(store, "10.1000/a")
    first, second = _run(store), _run(store)
    store.integrity.record(work, [CORRECTION], first, "2026-12-01T00:00:00Z")
    store.integrity.record(work, [RETRACTION], second, "2026-12-02T00:00:00Z")
    assert [r["kind"] for r in store.integrity.since(None)] == ["retraction", "correction"]
    new = store.integrity.since(first)
    assert [(r["kind"], r["doi"]) for r in new] == [("retraction", "10.1000/a")]


def test_the_same_kind_from_two_asserters_is_two_notices(tmp_path):
    store = open_store(tmp_path / "h.db")
    work = _work(store, "10.1000/a")
    run = _run(store)
    openalex = Notice(kind="retraction", asserted_by="openalex", source="openalex")
    assert store.integrity.record(work, [RETRACTION, openalex, openalex], run, "now") == 2
    assert len(store.integrity.for_work(work)) == 2


def test_deleting_a_work_deletes_its_notices(tmp_path):
    store = open_store(tmp_path / "h.db")
    work = _work(store, "10.1000/a")
    run = _run(store)
    store.integrity.record(work, [RETRACTION], run, "now")
    with store.transaction():
        store.works.delete(work, run, "now")
    assert store.conn.execute("SELECT count(*) FROM integrity_notices").fetchone()[0] == 0


def test_a_review_follows_its_notice_into_the_merged_work_and_goes_with_a_deleted_one(tmp_path):
    """A notice reviewed in the console stays reviewed when its work is merged into another
    (it does not come back to the queue), and a deleted work leaves no review behind for a
    new work to inherit under a reused id."""
    store = open_store(tmp_path / "h.db")
    kept, absorbed = _work(store, "10.1000/a"), _work(store, "10.1000/b")
    run = _run(store)
    store.integrity.record(absorbed, [RETRACTION], run, "now")
    [(notice,)] = store.conn.execute("SELECT id FROM integrity_notices").fetchall()
    store.notice_reviews.review(notice, "disputed", "not this paper", run)
    with store.transaction():
        store.works._absorb(absorbed, kept, run, "local", "now")
    [(notice,)] = store.conn.execute("SELECT id FROM integrity_notices WHERE work_id = ?", (kept,))
    assert store.notice_reviews.of(notice)["decision"] == "disputed"
    with store.transaction():
        store.works.delete(kept, run, "now")
    assert store.conn.execute("SELECT count(*) FROM notice_reviews").fetchone()[0] == 0
