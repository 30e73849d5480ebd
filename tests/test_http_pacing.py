"""Pacing a little under every announced limit, and a 429 slowing the whole pool (issue 19).

The limiter is driven on a fake clock (no real waiting); the 429 tests go through HttpClient
with `responses`, the 429 body being nginx's page as Crossref sends it.
"""

from __future__ import annotations

import bisect
import dataclasses
import random

import pytest
import responses
from fakes import TEST_HTTP, FakeClock
from structlog.testing import capture_logs

from harvester.config import Config, HttpConfig, PoolLimit, load_config
from harvester.errors import ConfigError
from harvester.http import (
    MIN_PACE,
    RECOVERY_SPELL,
    SLOWDOWN,
    HttpClient,
    RateLimiter,
    make_session,
)
from harvester.sources import connect

URL = "https://api.crossref.org/works"
POOL = "crossref:list"
OK_BODY = {"status": "ok", "message-type": "work-list", "message": {"items": []}}
HTML_429 = (
    "<html>\r\n<head><title>429 Too Many Requests</title></head>\r\n<body>\r\n"
    "<center><h1>429 Too Many Requests</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


def starts(limiter: RateLimiter, clock: FakeClock, n: int) -> list[float]:
    times = []
    for _ in range(n):
        with limiter.slot() as started:
            assert started == pytest.approx(clock.now)
            times.append(clock.now)
    return times


def busiest(times: list[float], window: float) -> int:
    """The most starts in any half-open window of `window` seconds."""
    return max(bisect.bisect_left(times, t + window - 1e-9) - i for i, t in enumerate(times))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def lists_limiter(clock: FakeClock, pace: float = 0.95) -> RateLimiter:
    """Crossref's polite list pool: 3 per second, 3 in flight."""
    return RateLimiter(
        POOL, PoolLimit(rate=3.0, concurrency=3), pace=pace, clock=clock.clock, sleep=clock.sleep
    )


# --- the window -------------------------------------------------------------------------------


def test_no_more_than_n_start_in_any_window_of_t_over_pace(clock):
    limiter = lists_limiter(clock)
    times = starts(limiter, clock, 300)
    window = 1.0 / 0.95
    assert busiest(times, window) == 3  # never 4 in any 1.053 s: a strict 1 s server sees <= 3
    assert busiest(times, 1.0) == 3
    # ...and no slower than that: 300 starts take 99 windows.
    assert times[-1] == pytest.approx(99 * window)
    assert times[:6] == pytest.approx([0.0, 0.0, 0.0, window, window, window])


def test_at_pace_one_the_window_is_the_servers_own(clock):
    limiter = lists_limiter(clock, pace=1.0)
    times = starts(limiter, clock, 9)
    assert times == pytest.approx([0.0] * 3 + [1.0] * 3 + [2.0] * 3)


def test_a_long_window_is_paced_too(clock):
    """DataCite's 1,000 per 5 minutes at pace 0.95: the 1,001st waits 300 / 0.95 s."""
    limit = PoolLimit(rate=10.0, concurrency=4, window=300.0, window_max=1000)
    limiter = RateLimiter("datacite:single", limit, pace=0.95, clock=clock.clock, sleep=clock.sleep)
    times = starts(limiter, clock, 1001)
    assert times[1000] == pytest.approx(300.0 / 0.95)
    assert busiest(times, 300.0 / 0.95) == 1000


def test_a_rate_below_one_per_second_is_one_start_per_window(clock):
    limiter = RateLimiter(
        "p", PoolLimit(rate=0.5, concurrency=1), pace=1.0, clock=clock.clock, sleep=clock.sleep
    )
    assert starts(limiter, clock, 3) == pytest.approx([0.0, 2.0, 4.0])


def test_the_configured_pace_reaches_every_pool():
    config = dataclasses.replace(Config(mailto="someone@example.org"), http=HttpConfig(pace=0.8))
    client = connect(config)
    assert {limiter.pace for limiter in client._limiters.values()} == {0.8}
    assert connect(Config())._limiters[POOL].pace == 0.95  # the default


@pytest.mark.parametrize("pace", ["0", "1.5", "-0.5"])
def test_a_pace_outside_0_to_1_is_a_config_error(tmp_path, pace):
    path = tmp_path / "harvester.toml"
    path.write_text(f"[http]\npace = {pace}\n")
    with pytest.raises(ConfigError, match="pace"):
        load_config(path, env={})


# --- a 429 slows the whole pool ---------------------------------------------------------------


@pytest.fixture
def mocked():
    with responses.RequestsMock() as rsps:
        yield rsps


def client_of(limiter: RateLimiter, clock: FakeClock) -> HttpClient:
    session = make_session(Config(mailto="someone@example.org"))
    http = dataclasses.replace(TEST_HTTP, max_attempts=4)
    return HttpClient(session, http, {POOL: limiter}, sleep=clock.sleep, rng=random.Random(7))


def test_a_429_slows_every_request_of_the_pool_not_only_its_retry(clock, mocked):
    limiter = lists_limiter(clock)
    client = client_of(limiter, clock)
    mocked.get(URL, status=429, body=HTML_429, content_type="text/html")
    mocked.get(URL, json=OK_BODY)
    with capture_logs() as logs:
        client.get_json(URL, pool=POOL, source="crossref")
    assert limiter.pace == pytest.approx(0.95 * SLOWDOWN)
    slowed = [e for e in logs if e["event"] == "fetch.slowed_down"]
    assert len(slowed) == 1 and slowed[0]["pool"] == POOL
    # Any other worker of the pool now starts at the slower pace: 3 in any 1 / (0.95 * 0.75) s.
    times = starts(limiter, clock, 7)
    span = 1.0 / (0.95 * SLOWDOWN)
    assert busiest(times, span) == 3
    assert times[6] - times[3] == pytest.approx(span)


def test_the_429s_of_requests_asked_at_the_old_pace_slow_the_pool_once(clock):
    limiter = lists_limiter(clock)
    with limiter.slot() as a, limiter.slot() as b, limiter.slot() as c:
        pass  # three requests in flight together, all answered 429
    clock.sleep(0.5)
    with capture_logs() as logs:
        assert [limiter.slowed(started) for started in (a, b, c)] == [True, False, False]
    assert limiter.pace == pytest.approx(0.95 * SLOWDOWN)
    assert [e["event"] for e in logs] == ["fetch.slowed_down"]
    # A request asked after the slowdown and still answered 429 slows the pool again.
    with limiter.slot() as after:
        pass
    assert limiter.slowed(after)
    assert limiter.pace == pytest.approx(0.95 * SLOWDOWN**2)


def test_the_pace_never_falls_below_its_floor(clock):
    limiter = lists_limiter(clock)
    for _ in range(30):
        clock.sleep(0.1)
        limiter.slowed(clock.now)
    assert limiter.pace == pytest.approx(MIN_PACE)
    times = starts(limiter, clock, 7)
    assert times[6] - times[3] == pytest.approx(1.0 / MIN_PACE)


def test_the_pace_recovers_five_percent_per_ten_seconds_without_a_429(clock):
    limiter = lists_limiter(clock)
    limiter.slowed(clock.now)
    slowed = 0.95 * SLOWDOWN
    clock.sleep(RECOVERY_SPELL - 0.01)
    assert limiter.pace == pytest.approx(slowed)
    clock.sleep(0.01)
    assert limiter.pace == pytest.approx(slowed * 1.05)
    clock.sleep(2 * RECOVERY_SPELL)
    assert limiter.pace == pytest.approx(slowed * 1.05**3)
    clock.sleep(100 * RECOVERY_SPELL)
    assert limiter.pace == pytest.approx(0.95)  # back to the configured pace, never above


def test_a_retry_after_holds_the_whole_pool_and_is_said_once(clock, mocked):
    limiter = lists_limiter(clock)
    client = client_of(limiter, clock)
    mocked.get(
        URL, status=429, body=HTML_429, content_type="text/html", headers={"Retry-After": "4"}
    )
    mocked.get(URL, json=OK_BODY)
    with capture_logs() as logs:
        with limiter.slot():  # another worker's request, in flight meanwhile
            pass
        client.get_json(URL, pool=POOL, source="crossref")
    assert [e["event"] for e in logs if e["event"] == "fetch.rate_limited"] == [
        "fetch.rate_limited"
    ]
    assert clock.now == pytest.approx(4.0)  # the retry waited the 4 s
    # The other workers' 429s in the same spell extend the hold without a line each.
    with capture_logs() as logs:
        limiter.hold(4.0)
        limiter.hold(4.0)
    assert [e["event"] for e in logs] == ["fetch.rate_limited"]
    with capture_logs() as logs:
        limiter.hold(5.0)
    assert logs == []
    (first,) = starts(limiter, clock, 1)
    assert first == pytest.approx(9.0)  # no request of the pool starts before the hold ends
