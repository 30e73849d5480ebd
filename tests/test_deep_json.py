"""A JSON answer nested 100,000 deep (a hostile or broken upstream) fails its identifier alone:
the rest of the batch is stored, the run ends with exit 1 and one line, never a RecursionError."""

from __future__ import annotations

import pytest
from conftest import QUICK_RETRIES, HarvestCommand
from fakes import query
from upstream import ReplayUpstream

from harvester import jsontext

ELIFE = "10.7554/eLife.01567"
PLOS = "10.1371/journal.pone.0033693"
BOOK_CHAPTER = "10.1007/978-3-662-46370-3_13"
DEPTH = 100_000


def nested(depth: int) -> bytes:
    """A JSON document of objects nested `depth` deep: {"message":{"message":...1...}}."""
    return b'{"message":' * depth + b"1" + b"}" * depth


@pytest.fixture
def upstream():
    with ReplayUpstream() as server:
        server.add_crossref(
            "10.7554_elife.01567", "10.1371_journal.pone.0033693", "10.1007_978-3-662-46370-3_13"
        )
        yield server


def test_a_deeply_nested_answer_fails_its_doi_alone_and_the_batch_is_stored(tmp_path, upstream):
    # Every Crossref request that names PLOS's DOI (the batch's list request, then its own
    # look-up) is answered 200 with a body nested 100,000 deep.
    body = nested(DEPTH)
    upstream.fail("journal.pone.0033693", 200, body, {"content-type": "application/json"}, None)
    harvest = HarvestCommand(tmp_path, upstream.env(), QUICK_RETRIES)

    proc = harvest("doi", ELIFE, PLOS, BOOK_CHAPTER)

    assert proc.returncode == 1, proc.stderr
    assert "RecursionError" not in proc.stderr
    [failed] = [line for line in proc.stdout.splitlines() if line.startswith("failed")]
    assert PLOS in failed and "nested" in failed
    assert proc.stdout.splitlines()[-1].startswith(
        "3 identifier(s): 2 created, 0 changed, 0 unchanged, 0 not found, 1 failed"
    )
    stored = {doi.lower() for (doi,) in query(harvest.db_path, "SELECT doi FROM works")}
    assert stored == {ELIFE.lower(), BOOK_CHAPTER.lower()}
    # Refused at once: not taken for a body cut short and asked again.
    assert upstream.count("/works/10.1371") == 1


@pytest.mark.parametrize("depth", [DEPTH, jsontext.MAX_DEPTH + 1])
def test_loads_refuses_what_is_nested_deeper_than_the_harvester_can_walk(depth):
    with pytest.raises(jsontext.TooDeep):
        jsontext.loads(nested(depth))
    with pytest.raises(jsontext.TooDeep):  # the exact path, taken for long numbers, too
        jsontext.loads(nested(depth).replace(b"1", b"1" * 25))


def test_what_loads_accepts_can_be_written_back_canonically():
    value = jsontext.loads(nested(jsontext.MAX_DEPTH))
    assert jsontext.loads(jsontext.canonical(value)) == value
