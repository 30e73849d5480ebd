"""Upstreams that misbehave on purpose or by accident, each played by a local server the test
starts: a batch one DOI poisons, redirects that leave the service, bodies that never end.
Whatever they do, the harvest fails only the identifiers concerned, with one line, and goes on."""

from __future__ import annotations

import dataclasses
import signal
import time

import pytest
from conftest import QUICK_RETRIES, HarvestCommand
from fakes import fake_client, run_pipeline
from upstream import ReplayUpstream

from harvester.identifiers import parse_doi
from harvester.pipeline import harvest
from harvester.sources import openalex
from harvester.store import open_store

ELIFE = "10.7554/eLife.01567"  # Crossref
DRYAD = "10.5061/dryad.8515"  # DataCite: one request of its own, which the server hangs
#: A body that would take a quarter of an hour at a byte a second.
SLOW_BODY = b'{"data": {"id": "10.5061/dryad.8515", "attributes": {' + b" " * 900 + b"}}}"

#: 10.5555/synthetic.49 is in no other synthetic DOI, so a fault on this text hits it alone.
POISONED = "10.5555/synthetic.49"


@pytest.fixture
def upstream():
    with ReplayUpstream() as server:
        server.add_crossref("10.7554_elife.01567")
        server.add_datacite("10.5061_dryad.8515")
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
    assert config.crossref.batch_size >= 50  # all fifty in one list request, as a nightly asks

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


def test_openalexs_daily_limit_reached_while_halving_still_answers_each_doi_once(upstream):
    dois = upstream.add_synthetic(50)
    upstream.fail(POISONED, 500, b"Internal Server Error", {"content-type": "text/plain"}, None)
    upstream.limit_openalex(3)  # spent halfway down the halving
    config = upstream.config()

    answers = [
        fetched
        for batch in openalex.fetch_works(
            [parse_doi(d) for d in dois], fake_client(config), config.openalex.url, "k3y"
        )
        for fetched in batch
    ]

    assert [f.identifier for f in answers] == [parse_doi(d).key for d in dois]  # once, in order
    answered = [f for f in answers if f.status == "not_found"]
    unasked = [f for f in answers if f.error == openalex.NOT_ASKED]
    assert answered and unasked and len(answered) + len(unasked) == 50


# --- a hung upstream: a body that trickles, a chunked body that never ends ----------------------


@pytest.mark.parametrize("hang", ["trickle", "endless"])
def test_a_hung_answer_fails_its_doi_at_the_deadline_and_the_run_goes_on(upstream, store, hang):
    upstream.fail("/datacite/dois/", hang, SLOW_BODY, times=None)
    config = upstream.config()
    # Bytes keep coming, so the read timeout never trips; only the deadline ends the request.
    config = dataclasses.replace(
        config, http=dataclasses.replace(config.http, read_timeout=5.0, deadline=2.0)
    )
    started = time.monotonic()
    result, outcomes = run_pipeline(
        harvest, [parse_doi(ELIFE), parse_doi(DRYAD)], store=store, config=config, command="t"
    )
    took = time.monotonic() - started

    status = {o.identifier: o for o in outcomes}
    assert status[ELIFE].status == "created"
    assert status[DRYAD].status == "failed"
    assert "no complete answer within 2 s" in status[DRYAD].error
    assert upstream.count("/datacite/dois/") == 1  # a hung server is not asked again at once
    assert took < 10, took
    assert result.counts.failed == 1


@pytest.mark.parametrize(
    ("sig", "times", "within"),
    [(signal.SIGTERM, 1, 10), (signal.SIGINT, 1, 10), (signal.SIGTERM, 2, 4)],
    ids=["SIGTERM", "SIGINT", "SIGTERM twice"],
)
def test_a_signal_ends_a_request_that_waits_on_a_hung_server_and_frees_the_lock(
    tmp_path, upstream, sig, times, within
):
    """Once: the batch in hand has its grace, then the hung request is cut and the batch is
    stored. Twice: the second aborts at once, the hung request let go with it."""
    upstream.fail("/datacite/dois/", "trickle", SLOW_BODY, times=None)
    # read_timeout 5 s, deadline 20 s: a stop must not wait for either, only its grace.
    harvest = HarvestCommand(tmp_path, upstream.env(), QUICK_RETRIES + "read_timeout = 5.0\n")
    proc = harvest.start("--log-format", "json", "doi", ELIFE, DRYAD)
    try:
        until = time.monotonic() + 30
        while upstream.count("/datacite/dois/") == 0 and time.monotonic() < until:
            time.sleep(0.05)
        assert upstream.count("/datacite/dois/") == 1, "the harvest never asked DataCite"
        time.sleep(0.5)  # the answer is trickling
        signalled = time.monotonic()
        for _ in range(times):
            proc.send_signal(sig)
            time.sleep(0.3)
        stdout, stderr = proc.communicate(timeout=15)
        took = time.monotonic() - signalled
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in stderr, stderr
    assert proc.returncode == 130, stderr
    assert took < within, took
    if times == 1:
        assert "1 failed" in stdout and "run 1" in stdout  # what it had is stored
    # The lock is free: the next harvest takes it at once, and finds eLife stored, or (the
    # batch rolled back by the abort) stores it now.
    again = harvest("doi", ELIFE)
    assert again.returncode == 0, again.stderr
    word = "unchanged" if times == 1 else "created"
    assert f"{word:<10} 10.7554/eLife.01567" in again.stdout


# --- redirects ---------------------------------------------------------------------------------


@pytest.fixture
def elsewhere():
    """Another service on another port: a redirect to it leaves the service asked."""
    with ReplayUpstream() as server:
        server.add_crossref("10.7554_elife.01567")
        yield server


@pytest.mark.parametrize(
    "target",
    ["other host", "file", "ftp", "loop"],
)
def test_a_redirect_off_the_service_fails_its_doi_with_one_line(upstream, store, elsewhere, target):
    location = {
        "other host": elsewhere.url_for("crossref") + "/works/10.7554/eLife.01567",
        "file": "file:///etc/passwd",
        "ftp": "ftp://127.0.0.1/works/10.7554/eLife.01567",
        "loop": upstream.url_for("crossref") + "/works?filter=doi:10.7554/eLife.01567",
    }[target]
    upstream.fail("/crossref/works", 302, b"", {"Location": location}, times=None)

    _result, outcomes = run_pipeline(
        harvest, [parse_doi(ELIFE), parse_doi(DRYAD)], store=store, config=upstream.config()
    )

    status = {o.identifier: o for o in outcomes}
    assert status[DRYAD].status == "created"  # the run goes on
    assert status[ELIFE].status == "failed"
    assert "\n" not in status[ELIFE].error and "redirect" in status[ELIFE].error
    assert elsewhere.count("/") == 0  # never asked
    # a loop is given up after a few hops, not thirty
    assert upstream.count("/crossref/works") <= 2 * (1 + 5)


def test_a_redirect_loop_ends_the_harvest_command_with_one_line_and_exit_1(tmp_path, upstream):
    loop = upstream.url_for("crossref") + "/works/10.7554/eLife.01567"
    upstream.fail("/crossref/works", 302, b"", {"Location": loop}, times=None)
    harvest = HarvestCommand(tmp_path, upstream.env(), QUICK_RETRIES)
    proc = harvest("doi", ELIFE, DRYAD)  # fails the test on a traceback
    assert proc.returncode == 1, proc.stderr
    [line] = [x for x in proc.stdout.splitlines() if x.startswith("failed")]
    assert ELIFE in line and "redirect" in line
    assert any(x.startswith("created") and DRYAD in x for x in proc.stdout.splitlines())


def test_the_agency_a_doiorg_redirect_points_to_is_followed(upstream, store):
    """doi.org's content negotiation is a redirect to the agency's CSL service: followed."""
    upstream.add_csl(
        "10.1126/science.169.3946.635", "10.1126_science.169.3946.635_habanero", agency="mEDRA"
    )
    _result, outcomes = run_pipeline(
        harvest, [parse_doi("10.1126/science.169.3946.635")], store=store, config=upstream.config()
    )
    assert [o.status for o in outcomes] == ["created"]
