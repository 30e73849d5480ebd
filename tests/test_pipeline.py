"""The orchestrator: payload hashing, and a run record that tells the truth however a run ends."""

from __future__ import annotations

import dataclasses

import pytest
from fakes import run_pipeline
from upstream import CrossrefReplay

from harvester.config import Config
from harvester.identifiers import parse_doi
from harvester.pipeline import canonical_payload, harvest
from harvester.store import open_store


def test_volatile_fields_do_not_change_the_hash_but_the_parser_version_does():
    record = {"DOI": "10.1/x", "title": ["T"], "indexed": {"timestamp": 1}, "score": 1.0}
    reindexed = {**record, "indexed": {"timestamp": 2}, "score": 0.5}
    volatile = ("indexed", "score")
    assert canonical_payload(record, volatile)[1] == canonical_payload(reindexed, volatile)[1]
    assert (
        canonical_payload(record, volatile)[1]
        != canonical_payload({**record, "title": ["U"]}, volatile)[1]
    )
    assert canonical_payload(record, volatile, 1)[1] != canonical_payload(record, volatile, 2)[1]


@pytest.fixture
def setup(tmp_path):
    with CrossrefReplay() as upstream:
        dois = [parse_doi(d) for d in upstream.add_synthetic(30)]
        base = Config()
        config = dataclasses.replace(
            base,
            mailto="tests@example.org",
            chunk_size=5,
            crossref=dataclasses.replace(base.crossref, url=upstream.url, batch_size=5),
            doi=dataclasses.replace(base.doi, url=upstream.url_for("doi")),
            openalex=dataclasses.replace(base.openalex, url=upstream.url_for("openalex")),
        )
        store = open_store(tmp_path / "h.db")
        yield dois, config, store
        store.close()


def test_a_run_that_dies_is_recorded_as_error_with_the_counts_it_committed(setup):
    dois, config, store = setup
    seen = []

    def broken_reporter(outcome):
        seen.append(outcome)
        if len(seen) == 7:
            raise BrokenPipeError("stdout went away")

    with pytest.raises(BrokenPipeError):
        run_pipeline(harvest, dois, store=store, config=config, on_outcome=broken_reporter)
    run = store.runs.get(1)
    assert run["status"] == "error" and run["finished_at"]
    assert run["created"] == store.conn.execute("SELECT count(*) FROM works").fetchone()[0] == 10


def test_a_stop_request_ends_the_run_after_the_batch_in_hand(setup):
    import threading

    dois, config, store = setup
    stop = threading.Event()

    def stop_after_first(outcome):
        stop.set()

    result, _ = run_pipeline(
        harvest, dois, store=store, config=config, on_outcome=stop_after_first, stop=stop
    )
    assert result.status == "interrupted"
    assert result.counts.created == 5 == store.runs.get(result.run_id)["created"]
    rerun, _ = run_pipeline(harvest, dois, store=store, config=config)
    assert rerun.status == "ok" and rerun.counts.created == 25 and rerun.counts.unchanged == 5
