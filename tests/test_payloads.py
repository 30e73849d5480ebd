"""Payloads as zstd frames (migration 0016, `harvester.store.payloads`): every form reads back
as the text that was stored, in Python, in SQL (`payload_text`) and in Datasette; a refresh
adds a small delta, not the payload again; an older database is converted a batch at a time
and a killed conversion goes on where it stopped. And the history's first values, left out of
their rows (migration 0017), are still shown as they were."""

from __future__ import annotations

import asyncio
import copy
import json
import sqlite3
from pathlib import Path

import pytest
import sqlite_utils
import yaml
from conftest import load_json
from datasette.app import Datasette

from harvester import jsontext
from harvester.merge import build_work
from harvester.models import Merged
from harvester.sources import crossref
from harvester.store import Answer, open_store
from harvester.store import payloads as payloads_module
from harvester.store.migrations import migrate
from harvester.store.payloads import DICT_SAMPLES, Payloads

ROOT = Path(__file__).resolve().parents[1]
METADATA = yaml.safe_load((ROOT / "config" / "datasette.yml").read_text(encoding="utf-8"))

ELIFE = "crossref/10.7554_elife.01567.json"


def message(n: int = 0, **changes) -> dict:
    """eLife's recorded Crossref record as the n-th DOI of a corpus, with `changes`."""
    data = copy.deepcopy(load_json(ELIFE)["message"])
    data["DOI"] = f"10.7554/elife.{n:05d}"
    data["title"] = [f"{data['title'][0]} ({n})"]
    return {**data, **changes}


def observed(data: dict) -> Merged:
    key = data["DOI"].lower()
    text = jsontext.canonical(data)
    record = crossref.parse(data)
    return Merged(
        source="crossref",
        key=key,
        display=key,
        work=build_work([record]),
        answers=(Answer("crossref", key, "ok", text, f"h{hash(text)}"),),
    )


def stored(store, key: str) -> list[tuple]:
    return store.conn.execute(
        """SELECT id, payload, length(payload_z), payload_dict, payload_base, payload_text(id)
           FROM source_records WHERE identifier = ? ORDER BY id""",
        (key,),
    ).fetchall()


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "h.db")
    yield s
    s.close()


def test_a_payload_is_kept_compressed_and_reads_back_whole(store):
    data = message()
    [outcome] = store.write_batch(store.runs.start("test"), [observed(data)])
    [(row_id, text, size, _, base, via_sql)] = stored(store, data["DOI"].lower())
    expected = jsontext.canonical(data)
    assert text is None and base is None and size < len(expected) / 3
    assert via_sql == expected
    latest = store.works.latest_answers([outcome.work_id], with_payload=True)
    assert latest[outcome.work_id]["crossref"].payload == expected
    snapshot = store.works.snapshot([("doi", data["DOI"].lower())])
    assert snapshot.answers[outcome.work_id]["crossref"].payload == expected
    assert store.conn.execute(
        "SELECT payload_text(NULL), payload_text(?)", (row_id + 99,)
    ).fetchone() == (None, None)


def test_a_source_gets_its_dictionary_once_it_has_enough_payloads(store):
    datas = [message(n) for n in range(DICT_SAMPLES + 20)]
    run = store.runs.start("test")
    for start in range(0, len(datas), 70):
        store.write_batch(run, [observed(d) for d in datas[start : start + 70]])
    [(dict_id, source, samples)] = store.conn.execute(
        "SELECT id, source, samples FROM payload_dicts"
    ).fetchall()
    assert (source, samples) == ("crossref", DICT_SAMPLES)
    rows = store.conn.execute(
        "SELECT payload_dict, length(payload_z), payload_text(id) FROM source_records ORDER BY id"
    ).fetchall()
    assert {r[0] for r in rows} == {dict_id}  # the first ones too, compressed again with it
    assert [r[2] for r in rows] == [jsontext.canonical(d) for d in datas]
    # The same corpus without the dictionary: its frames are much larger.
    plain = Payloads(sqlite3.connect(":memory:"))
    without = sum(
        len(plain._compressor(None).compress(jsontext.canonical(d).encode())) for d in datas
    )
    assert sum(r[1] for r in rows) < without / 2


def test_a_new_version_is_a_small_delta_and_both_read_back(store):
    first = message(7)
    changed = message(7, **{"is-referenced-by-count": 999, "volume": "4"})
    store.write_batch(store.runs.start("test"), [observed(first)])
    [outcome] = store.write_batch(store.runs.start("test"), [observed(changed)])
    assert outcome.status == "changed"
    old, new = stored(store, first["DOI"].lower())
    assert new[4] == old[0] and new[3] is None  # a delta against the whole first payload
    assert new[2] < 300 < old[2]
    assert (old[5], new[5]) == (jsontext.canonical(first), jsontext.canonical(changed))
    latest = store.works.latest_answers([outcome.work_id], with_payload=True)
    assert latest[outcome.work_id]["crossref"].payload == jsontext.canonical(changed)


def test_a_refresh_that_changes_every_work_adds_under_2_kb_a_work(store):
    """The issue's bound: a refresh of changed works (a citation count and a deposit date
    moved, as most refreshes find) adds at most 2 KB per work: payload delta, history rows
    and all."""
    count = 60
    store.write_batch(store.runs.start("test"), [observed(message(n)) for n in range(count)])
    store.conn.execute("VACUUM")
    used = "SELECT sum(pgsize - unused) FROM dbstat"
    before = store.conn.execute(used).fetchone()[0]
    refreshed = []
    for n in range(count):
        data = message(n, **{"is-referenced-by-count": 1000 + n})
        data["deposited"] = {"date-parts": [[2027, 1, 2]], "timestamp": 1798848000000 + n}
        refreshed.append(observed(data))
    outcomes = store.write_batch(store.runs.start("test"), refreshed)
    assert {o.status for o in outcomes} == {"changed"}
    store.conn.execute("VACUUM")
    added = store.conn.execute(used).fetchone()[0] - before
    assert 0 < added / count <= 2048, added / count


def _older_database(path: Path, rows: list[tuple[str, str, str]]) -> None:
    """A database as a harvester before 0016 left it: payloads as text."""
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(
        sqlite_utils.Database(conn), "2026-01-01T00:00:00Z", stop_before="0016_compressed_payloads"
    )
    conn.executemany(
        """INSERT INTO source_records (source, identifier, status, fetched_at, last_seen_at,
             payload, payload_hash) VALUES (?, ?, 'ok', 'now', 'now', ?, ?)""",
        [(source, identifier, text, f"h{i}") for i, (source, identifier, text) in enumerate(rows)],
    )
    conn.close()


def test_an_older_database_is_converted_and_a_killed_conversion_resumes(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    # Two versions of each record (the second a delta after conversion), 2 x 130 rows.
    texts = [
        (
            "crossref",
            f"10.7554/elife.{n % 130:05d}",
            jsontext.canonical(message(n % 130, volume=str(n // 130))),
        )
        for n in range(260)
    ]
    _older_database(path, texts)
    monkeypatch.setattr(payloads_module, "CONVERT_BATCH", 50)
    real = Payloads.encode
    seen = []

    def killed(self, *args, **kwargs):
        seen.append(args)
        if len(seen) == 120:  # a kill in the third batch
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Payloads, "encode", killed)
    with pytest.raises(KeyboardInterrupt):
        open_store(path)
    conn = sqlite3.connect(path)
    left = conn.execute("SELECT count(*) FROM source_records WHERE payload IS NOT NULL").fetchone()[
        0
    ]
    conn.close()
    assert left == 260 - 100  # two whole batches committed, the third rolled back
    # Half converted, it reads as a whole all the same.
    monkeypatch.setattr(Payloads, "encode", real)
    store = open_store(path)
    rows = store.conn.execute(
        "SELECT payload, payload_base, payload_text(id) FROM source_records ORDER BY id"
    ).fetchall()
    assert [r[2] for r in rows] == [t for _, _, t in texts]
    assert all(r[0] is None for r in rows)
    assert sum(r[1] is not None for r in rows) == 130  # the second versions: deltas
    assert store.conn.execute("SELECT count(*) FROM payload_dicts").fetchone()[0] == 1
    store.close()


def test_payload_text_and_source_payloads_in_datasette(tmp_path):
    store = open_store(tmp_path / "harvest.db")  # the metadata's database: harvest
    data = message(3)
    [outcome] = store.write_batch(store.runs.start("test"), [observed(data)])
    path = store.path
    store.close()

    async def go():
        ds = Datasette([path], metadata=copy.deepcopy(METADATA))
        await ds.invoke_startup()
        name = Path(path).stem
        sql = await ds.client.get(
            f"/{name}.json?sql=select+payload_text(id)+as+p+from+source_records&_shape=array"
        )
        canned = await ds.client.get(
            f"/{name}/source_payloads.json?work_id={outcome.work_id}&_shape=array"
        )
        return sql, canned

    sql, canned = asyncio.run(go())
    assert sql.status_code == 200, sql.text
    assert json.loads(sql.json()[0]["p"]) == data
    assert canned.status_code == 200, canned.text
    assert [json.loads(r["payload"]) for r in canned.json()] == [data]


def test_first_values_left_out_of_history_rows_are_shown_as_they_were(store):
    first = message(5)
    [created] = store.write_batch(store.runs.start("test"), [observed(first)])
    later = message(5, abstract="<jats:p>A shorter abstract.</jats:p>")
    later["reference"] = later["reference"][:3]
    store.write_batch(store.runs.start("test"), [observed(later)])
    rows = store.conn.execute(
        "SELECT field, new_value FROM changes WHERE kind = 'first'"
    ).fetchall()
    left_out = {f for f, v in rows if v is None}
    assert {"authors", "reference_list", "abstract"} <= left_out
    expected = {
        c.field: (str(c.new) if c.new is not None else None)
        for c in __import__("harvester.merge", fromlist=["diff"]).diff(
            {},
            __import__("harvester.merge", fromlist=["comparable"]).comparable(observed(first).work),
        )
    }
    history = store.works.history(created.work_id)
    shown = {h["field"]: h["new_value"] for h in history if h["run_id"] == 1}
    assert shown == expected
    view = dict(
        store.conn.execute(
            "SELECT field, new_value FROM change_log WHERE run_id = 1 AND work_id = ?",
            (created.work_id,),
        ).fetchall()
    )
    assert view == expected
    # A plain SQLite reader (no harvester function) reads the view too.
    plain = sqlite3.connect(store.path)
    assert (
        dict(plain.execute("SELECT field, new_value FROM change_log WHERE run_id = 1")) == expected
    )
    plain.close()
