"""The bench's simulator (bench/simulator.py) answers as the real services do where the
harvester's requests depend on it: doi.org's /ra per DOI, DataCite lists, and the strict
one-second window. No network: the Simulator's logic is called directly."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import skip_without_corpus

# The simulator's records are the recorded corpus's works with new DOIs and titles.
skip_without_corpus()

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))
records = pytest.importorskip("records")
simulator = pytest.importorskip("simulator")


@pytest.fixture
def sim():
    return simulator.Simulator(latency=0, item_latency=0)


def test_ra_answers_per_doi_and_says_an_unknown_doi_does_not_exist(sim):
    known = records.make_doi("crossref", 1)
    missing = records.make_doi("missing", 3)  # a real Crossref prefix, a DOI nobody registered
    prefix = known.partition("/")[0]
    answer = sim.answer(f"/doi/ra/{known},{missing},{prefix}", {})
    assert json.loads(answer.body) == [
        {"DOI": known, "RA": "Crossref"},
        {"DOI": missing, "status": "DOI does not exist"},
        {"DOI": prefix, "RA": "Crossref"},
    ]


@pytest.mark.parametrize(
    "query",
    [
        {"ids": ["{A},{B_UPPER},{MISSING}"]},
        {"query": ["doi:({A} OR {B_UPPER} OR {MISSING})"]},
        {"query": ['doi:"{A}" OR doi:{B_UPPER} OR doi:{MISSING}']},
    ],
)
def test_datacite_list_answers_the_known_dois_in_datacites_list_shape(sim, query):
    a, b = records.make_doi("datacite", 0), records.make_doi("datacite", 2)
    names = {"A": a, "B_UPPER": b.upper(), "MISSING": records.make_doi("missing", 3)}
    asked = {k: [v.format(**names) for v in vs] for k, vs in query.items()}
    body = json.loads(sim.answer("/datacite/dois", {**asked, "page[size]": ["3"]}).body)
    assert set(body) >= {"data", "meta", "links"}
    assert [item["id"] for item in body["data"]] == [a, b]  # lower-cased, unknown left out
    assert body["data"][0] == json.loads(records.render(a, "datacite"))["data"]
    assert body["meta"]["total"] == 2


def test_strict_window_refuses_a_fourth_start_within_one_second():
    pool = simulator.Pool(simulator.Limit(3, 1.0, 0), strict=True)
    assert [pool.admit()[0] for _ in range(3)] == [True, True, True]
    admitted, wait = pool.admit()
    assert not admitted and 0 < wait <= 1.0
    bucket = simulator.Pool(simulator.Limit(3, 1.0, 0))
    assert [bucket.admit()[0] for _ in range(4)] == [True, True, True, False]
    pool.starts = type(pool.starts)(t - 1.0 for t in pool.starts)  # a second later
    assert pool.admit()[0]


def test_strict_window_counts_starts_not_a_refilling_bucket():
    """A bucket refills continuously: 3 starts, then a 4th 0.34 s later is admitted; the strict
    window still holds the first three and refuses it."""
    for strict, expected in ((False, True), (True, False)):
        pool = simulator.Pool(simulator.Limit(3, 1.0, 0), strict=strict)
        for _ in range(3):
            pool.admit()
        pool.stamp -= 0.34
        pool.starts = type(pool.starts)(t - 0.34 for t in pool.starts)
        assert pool.admit()[0] is expected


def test_openalex_lists_without_a_key_stop_at_the_daily_allowance_and_singles_stay_free(sim):
    """OpenAlex's pricing: 100 list calls a day without a key (10,000 with a free one), single
    look-ups free; past the allowance a list is answered 429 ("daily limit exceeded")."""
    doi = records.make_doi("crossref", 1)
    keyless = {"filter": [f"doi:{doi}"], "per_page": ["1"]}
    allowed = simulator.OPENALEX_LISTS_PER_DAY["keyless"]
    assert allowed == 100
    statuses = [sim.answer("/openalex/works", keyless).status for _ in range(allowed)]
    assert statuses == [200] * allowed
    refused = sim.answer("/openalex/works", keyless)
    assert refused.status == 429 and b"Daily limit" in refused.body
    assert sim.answer(f"/openalex/works/doi:{doi}", {}).status == 200  # a single look-up
    keyed = {**keyless, "api_key": ["k"]}
    assert sim.answer("/openalex/works", keyed).status == 200  # a key has its own allowance
    assert sim.stats()["openalex_lists"] == {"keyless": allowed, "key:k": 1}
    sim.reset()  # the next measured run: a new day
    assert sim.answer("/openalex/works", keyless).status == 200
