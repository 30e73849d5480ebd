"""A batch written per chunk: unchanged works on the fast path of `Works.write_many` (their keys
read in one query, their last-seen times moved in one statement), the rest one by one, and the
result the same as writing every observation alone."""

from __future__ import annotations

import pytest

from harvester.merge import build_work
from harvester.models import Author, Merged, Record, Unchanged
from harvester.store import Answer, open_store


class Clock:
    def __init__(self) -> None:
        self.t = 0

    def __call__(self) -> str:
        self.t += 1
        return f"2026-11-23T00:{self.t // 60:02d}:{self.t % 60:02d}Z"


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "h.db", now=Clock())
    yield s
    s.close()


def doi(n: int) -> str:
    return f"10.1000/batch.{n}"


def merged(n: int, *, title: str = "A title", cited: int = 3) -> Merged:
    rec = Record(
        source="crossref",
        doi=doi(n),
        type="journal-article",
        title=f"{title} {n}",
        issued="2015-08",
        cited_by_count=cited,
        authors=(Author(given="Ada", family="Lovelace"),),
    )
    return Merged(
        source="crossref",
        key=doi(n),
        display=doi(n),
        work=build_work([rec]),
        answers=(Answer("crossref", doi(n), "ok", "{}", f"hash {n} {title} {cited}"),),
    )


def unchanged(n: int, *, title: str = "A title", cited: int = 3) -> Unchanged:
    """What the DOI pipeline makes of an answer whose hash is the stored one: no work id (the
    store finds the work by its key)."""
    return Unchanged(
        source="crossref",
        key=doi(n),
        display=doi(n),
        answers=(Answer("crossref", doi(n), "ok", None, f"hash {n} {title} {cited}"),),
    )


def changes_count(store) -> int:
    return store.conn.execute("SELECT count(*) FROM changes").fetchone()[0]


def last_seen(store) -> dict[str, str]:
    return dict(store.conn.execute("SELECT identifier, last_seen_at FROM source_records"))


def test_an_unchanged_chunk_moves_every_last_seen_time_and_adds_no_history(store):
    first = store.write_batch(store.runs.start("t"), [merged(n) for n in range(50)])
    rows, before = changes_count(store), last_seen(store)

    again = store.write_batch(store.runs.start("t"), [unchanged(n) for n in range(50)])

    assert [o.status for o in again] == ["unchanged"] * 50
    assert [o.work_id for o in again] == [o.work_id for o in first]
    assert changes_count(store) == rows
    after = last_seen(store)
    assert len(after) == 50  # no answer stored twice
    assert all(after[doi(n)] > before[doi(n)] for n in range(50))
    assert store.conn.execute("SELECT max(version) FROM works").fetchone()[0] == 1


def test_a_chunk_of_new_changed_and_unchanged_works_writes_exactly_their_history(store):
    run = store.runs.start("t")
    store.write_batch(run, [merged(n) for n in range(6)])
    rows = changes_count(store)

    run2 = store.runs.start("t")
    chunk = [
        unchanged(0),
        merged(1, cited=4),  # a new citation count
        unchanged(2),
        merged(10),  # new
        unchanged(3),
        merged(4, title="Another title"),
        unchanged(5),
    ]
    outcomes = store.write_batch(run2, chunk)

    assert [o.status for o in outcomes] == [
        "unchanged",
        "changed",
        "unchanged",
        "created",
        "unchanged",
        "changed",
        "unchanged",
    ]
    history = store.conn.execute(
        "SELECT work_id, field, old_value, new_value, kind FROM changes WHERE run_id = ? ORDER BY id",
        (run2,),
    ).fetchall()
    ids = {o.identifier: o.work_id for o in outcomes}
    assert [h for h in history if h[0] == ids[doi(1)]] == [
        (ids[doi(1)], "cited_by_count", "3", "4", "update"),
        (ids[doi(1)], "citation_counts", '{"crossref":3}', '{"crossref":4}', "update"),
    ]
    assert [h for h in history if h[0] == ids[doi(4)]] == [
        (ids[doi(4)], "title", "A title 4", "Another title 4", "update")
    ]
    new_rows = [h for h in history if h[0] == ids[doi(10)]]
    assert {h[1] for h in new_rows} >= {"doi", "title", "year", "authors", "cited_by_count"}
    assert {h[4] for h in new_rows} == {"first"}
    # Nothing for the unchanged ones, and nothing else at all.
    assert len(history) == 3 + len(new_rows) == changes_count(store) - rows
    seen = last_seen(store)
    assert all(seen[doi(n)] == seen[doi(10)] for n in (0, 2, 3, 5))


class Counting:
    """A connection that counts the statements sent through it (an `executemany` is one)."""

    def __init__(self, conn) -> None:
        self.conn, self.sent = conn, []

    def execute(self, sql, *args):
        self.sent.append(sql)
        return self.conn.execute(sql, *args)

    def executemany(self, sql, rows):
        self.sent.append(sql)
        return self.conn.executemany(sql, rows)

    def __getattr__(self, name):
        return getattr(self.conn, name)


def test_an_unchanged_chunk_costs_the_same_few_statements_whatever_its_size(store):
    store.write_batch(store.runs.start("t"), [merged(n) for n in range(500)])
    conn = store.db.conn

    def statements(count: int) -> list[str]:
        run = store.runs.start("t")
        counting = Counting(conn)
        store.db.conn = store.works.payloads.conn = counting
        try:
            outcomes = store.write_batch(run, [unchanged(n) for n in range(count)])
        finally:
            store.db.conn = store.works.payloads.conn = conn
        assert [o.status for o in outcomes] == ["unchanged"] * count
        assert {o.work_id for o in outcomes} == set(range(1, count + 1))
        return counting.sent

    small, large = statements(5), statements(500)
    assert len(large) == len(small) <= 15
    assert sum("UPDATE source_records" in s and "last_seen_at" in s for s in large) == 1


def test_an_unchanged_answer_seen_under_another_identifier_is_kept_as_one_by_one(store):
    [work] = store.write_batch(store.runs.start("t"), [merged(1)])
    # The same work asked as an alias: its answer's identifier is new to the store.
    alias = Unchanged(
        source="crossref",
        key="10.1000/alias",
        display="10.1000/alias",
        aliases=(doi(1),),
        answers=(Answer("crossref", "10.1000/alias", "ok", "{}", "hash 1 A title 3"),),
    )
    outcomes = store.write_batch(store.runs.start("t"), [unchanged(1), alias])
    assert [o.work_id for o in outcomes] == [work.work_id, work.work_id]
    rows = store.conn.execute(
        "SELECT identifier, work_id FROM source_records ORDER BY identifier"
    ).fetchall()
    assert rows == [("10.1000/alias", work.work_id), (doi(1), work.work_id)]


def test_an_unchanged_work_whose_key_an_earlier_write_moved_is_found_where_it_went(store):
    [a, b] = store.write_batch(store.runs.start("t"), [merged(1), merged(2)])
    # One write of the batch makes DOI 2 an alias of DOI 1's work (it absorbs work 2); the
    # unchanged answer about DOI 2 after it belongs to the work that survives.
    absorbing = Merged(
        source="crossref",
        key=doi(2),
        display=doi(2),
        aliases=(doi(1),),
        work=merged(1).work,
        answers=merged(1).answers,
    )
    outcomes = store.write_batch(store.runs.start("t"), [absorbing, unchanged(2)])
    assert [o.work_id for o in outcomes] == [a.work_id, a.work_id]
    assert store.works.get(b.work_id) is None
