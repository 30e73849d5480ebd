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


def _contents(store) -> dict[str, list]:
    """Every row a write leaves behind, table by table (the search index as its text)."""
    tables = {
        "works": "SELECT * FROM works ORDER BY id",
        "authors": "SELECT * FROM authors ORDER BY work_id, position",
        "identifiers": "SELECT * FROM identifiers ORDER BY scheme, key",
        "source_records": "SELECT * FROM source_records ORDER BY id",
        "changes": "SELECT * FROM changes ORDER BY id",
        "conflicts": "SELECT * FROM conflicts ORDER BY work_id, field, source",
        "local_fields": "SELECT * FROM local_fields ORDER BY work_id, field",
        "works_fts": "SELECT rowid, title, abstract, authors FROM works_fts ORDER BY rowid",
        "fts_deferred": "SELECT * FROM fts_deferred",
    }
    return {name: store.conn.execute(sql).fetchall() for name, sql in tables.items()}


def _new_works_chunk() -> list:
    from harvester.merge import Conflict
    from harvester.models import LocalEdit

    byline = tuple(Author(given=f"Given{i}", family=f"Family{i}") for i in range(120))
    big = Record(source="crossref", doi=doi(7), title="A collaboration", authors=byline)
    local = Record(source="local", doi=doi(8), title="My own record")
    return [
        merged(1),
        merged(2),
        # Asked as an alias of a DOI the chunk has just stored: written after the run before.
        Merged(
            source="crossref",
            key="10.1000/alias",
            display="10.1000/alias",
            aliases=(doi(1),),
            work=merged(1).work,
            answers=(Answer("crossref", "10.1000/alias", "ok", "{}", "hash alias"),),
        ),
        merged(3),
        Merged(
            source="crossref",
            key=doi(7),
            display=doi(7),
            work=build_work([big]),
            answers=(Answer("crossref", doi(7), "ok", '{"big": 1}', "hash 7"),),
            conflicts=(Conflict("title", "openalex", "Another title"),),
        ),
        LocalEdit(
            key=doi(8),
            display=doi(8),
            work=build_work([local]),
            local={"title": "My own record", "volume": None},
            origin="import",
        ),
        merged(2, title="Again"),  # the same DOI twice in one chunk: the second finds the first
        merged(9),
    ]


def test_a_chunk_of_new_works_is_stored_as_writing_each_alone_stores_it(tmp_path):
    """The fast path for new works (a table at a time) leaves every row, history, provenance
    and search text exactly as `Works.write` one observation at a time does."""
    batched = open_store(tmp_path / "batched.db", now=lambda: "2026-11-23T00:00:00Z")
    alone = open_store(tmp_path / "alone.db", now=lambda: "2026-11-23T00:00:00Z")
    chunk = _new_works_chunk()

    outcomes = batched.write_batch(batched.runs.start("t"), chunk)
    run = alone.runs.start("t")
    with alone.transaction():
        one_by_one = [alone.works.write(run, obs, "2026-11-23T00:00:00Z") for obs in chunk]

    assert outcomes == one_by_one
    assert [o.status for o in outcomes] == [
        "created", "created", "unchanged", "created", "created", "created", "changed", "created",
    ]  # fmt: skip
    assert _contents(batched) == _contents(alone)
    assert batched.conn.execute("PRAGMA foreign_key_check").fetchall() == []
    batched.close()
    alone.close()


def test_new_works_are_found_by_the_search_index_by_title_and_author(store):
    outcomes = store.write_batch(store.runs.start("t"), _new_works_chunk())
    ids = {o.identifier: o.work_id for o in outcomes}

    def search(query: str) -> list[int]:
        sql = "SELECT rowid FROM works_fts WHERE works_fts MATCH ? ORDER BY rowid"
        return [row[0] for row in store.conn.execute(sql, (query,))]

    assert search("lovelace") == sorted({ids[doi(n)] for n in (1, 2, 3, 9)})
    assert search("collaboration AND family99") == [ids[doi(7)]]
    assert search("family101") == []  # the index holds the first 100 authors of a byline


def test_each_new_work_of_a_chunk_is_indexed_for_search_once(store):
    """The byline goes in before the work, so the work's search row is made once, whole, not
    made with the title and made again with the authors (FTS5 says each row it writes)."""
    written: list[str] = []
    store.conn.set_trace_callback(written.append)
    try:
        outcomes = store.write_batch(store.runs.start("t"), [merged(n) for n in range(20)])
    finally:
        store.conn.set_trace_callback(None)
    assert [o.status for o in outcomes] == ["created"] * 20
    rows = [s for s in written if "INSERT INTO 'main'.'works_fts_content'" in s]
    assert len(rows) == 20
    assert not [s for s in written if "DELETE FROM 'main'.'works_fts_content'" in s]
