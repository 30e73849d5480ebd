"""Upstreams that misbehave on purpose or by accident, each played by a local server the test
starts: a batch one DOI poisons, redirects that leave the service, bodies that never end.
Whatever they do, the harvest fails only the identifiers concerned, with one line, and goes on."""

from __future__ import annotations

import pytest
from fakes import fake_client, run_pipeline
from upstream import ReplayUpstream

from harvester.identifiers import parse_doi
from harvester.pipeline import harvest
from harvester.sources import openalex
from harvester.store import open_store

#: 10.5555/synthetic.49 is in no other synthetic DOI, so a fault on this text hits it alone.
POISONED = "10.5555/synthetic.49"


@pytest.fixture
def upstream():
    with ReplayUpstream() as server:
        yield server


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "h.db")
    yield s
    s.close()


# --- one poisoned DOI in a batch ---------------------------------------------------------------


def test_a_doi_that_makes_crossrefs_list_answer_500_fails_alone_not_its_batch(upstream, store):
    dois = upstream.add_synthetic(50)
    # Crossref's 500 is an exception on one bad value: every request naming it fails, list or not.
    upstream.fail(POISONED, 500, b"Internal Server Error", {"content-type": "text/plain"}, None)
    config = upstream.config()
    assert config.crossref.batch_size == 50  # all fifty in one list request, as a nightly asks

    result, outcomes = run_pipeline(
        harvest, [parse_doi(d) for d in dois], store=store, config=config, command="t"
    )

    status = {o.identifier: o.status for o in outcomes}
    assert status.pop(POISONED) == "failed"
    assert set(status.values()) == {"created"} and len(status) == 49
    assert result.counts.failed == 1
    poisoned = next(o for o in outcomes if o.identifier == POISONED)
    assert "500" in poisoned.error
    # Halving, not fifty singles: a few list requests more than the one that failed.
    assert upstream.count("/crossref/works?") <= 1 + 2 * 6


def test_a_doi_that_makes_openalexs_list_answer_500_fails_alone(upstream):
    dois = upstream.add_synthetic(50)
    upstream.add_openalex("10.7554_elife.01567")
    dois.append("10.7554/eLife.01567")
    upstream.fail(POISONED, 500, b"Internal Server Error", {"content-type": "text/plain"}, None)
    config = upstream.config()
    client = fake_client(config)

    answers = [
        fetched
        for batch in openalex.fetch_works(
            [parse_doi(d) for d in dois], client, config.openalex.url, api_key="k3y-for-lists"
        )
        for fetched in batch
    ]

    status = {f.identifier: f.status for f in answers}
    assert status.pop(parse_doi(POISONED).key) == "failed"
    assert status.pop(parse_doi("10.7554/eLife.01567").key) == "ok"
    assert set(status.values()) == {"not_found"} and len(status) == 49
