"""The HTTP layer: User-Agent, rate limiting, retry policy and error mapping, on recorded bodies."""

from __future__ import annotations

import bisect
import dataclasses
import gzip
import io
import random
import threading
import time

import pytest
import requests
import responses
from conftest import fixture_path, load_meta
from fakes import TEST_HTTP, FakeClock
from structlog.testing import capture_logs

from harvester import PROJECT_URL, __version__
from harvester.config import Config, HttpConfig, PoolLimit
from harvester.errors import (
    BadPayload,
    ClientError,
    NotFound,
    RateLimited,
    TransientError,
    UpstreamError,
)
from harvester.http import (
    BodyTooLarge,
    BytesResponse,
    HttpClient,
    JsonResponse,
    RateLimiter,
    RedirectRefused,
    make_session,
    redact_url,
    user_agent,
)

URL = "https://api.crossref.org/works/10.7554/elife.01567"
POOL = "crossref:single"
OK_BODY = {"status": "ok", "message-type": "work", "message": {"DOI": "10.7554/elife.01567"}}
#: The tests' retry policy (fakes.TEST_HTTP), with four attempts instead of three.
HTTP = dataclasses.replace(TEST_HTTP, max_attempts=4)
HTML_429 = (
    "<html>\r\n<head><title>429 Too Many Requests</title></head>\r\n"
    "<body>\r\n<center><h1>429 Too Many Requests</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


class SpyLimiter(RateLimiter):
    """A RateLimiter that also records `hold` calls and how many slots were taken."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.holds: list[float] = []
        self.slots = 0

    def hold(self, seconds: float) -> None:
        self.holds.append(seconds)
        super().hold(seconds)

    def slot(self):
        self.slots += 1
        return super().slot()


def flat_headers(meta: dict) -> dict[str, str]:
    """Recorded headers are a string or a list of strings; the limiter sees one string per name."""
    return {k: (v[0] if isinstance(v, list) else v) for k, v in meta["response"]["headers"].items()}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def limiter(clock: FakeClock) -> SpyLimiter:
    return SpyLimiter(
        POOL, PoolLimit(rate=1000.0, concurrency=3), clock=clock.clock, sleep=clock.sleep
    )


@pytest.fixture
def client(clock: FakeClock, waits: list[float], limiter: SpyLimiter) -> HttpClient:
    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.now += seconds

    session = make_session(Config(mailto="someone@example.org"))
    return HttpClient(session, HTTP, {POOL: limiter}, sleep=sleep, rng=random.Random(1234))


@pytest.fixture
def mocked():
    with responses.RequestsMock() as rsps:
        yield rsps


def get(client: HttpClient, url: str = URL, **kw) -> JsonResponse:
    return client.get_json(
        url, pool=POOL, source="crossref", identifier="10.7554/elife.01567", **kw
    )


# --- User-Agent and session ------------------------------------------------------------------


def test_user_agent_with_and_without_mailto():
    assert user_agent("someone@example.org") == (
        f"harvester/{__version__} ({PROJECT_URL}; mailto:someone@example.org)"
    )
    assert user_agent("") == f"harvester/{__version__} ({PROJECT_URL})"
    assert user_agent("").startswith("harvester/0.1.0 (https://")


def test_make_session_sets_headers_and_pool_without_urllib3_retries():
    session = make_session(Config(mailto="someone@example.org"))
    assert session.headers["User-Agent"] == user_agent("someone@example.org")
    assert session.headers["Accept"] == "application/json"
    adapter = session.get_adapter("https://api.crossref.org/works")
    assert adapter.max_retries.total == 0
    assert adapter._pool_maxsize >= 16


def test_request_carries_user_agent_and_timeout(client, mocked):
    mocked.get(URL, json=OK_BODY)
    result = get(client)
    assert result.status == 200
    assert result.data == OK_BODY
    assert result.redirected_from is None
    request = mocked.calls[0].request
    assert request.headers["User-Agent"] == user_agent("someone@example.org")
    assert request.headers["Accept"] == "application/json"
    assert request.req_kwargs["timeout"] == (1.0, 2.0)


def test_params_and_headers_are_sent(client, mocked):
    mocked.get(URL, json=OK_BODY)
    get(client, params={"select": "DOI"}, headers={"Accept": "application/vnd.test+json"})
    request = mocked.calls[0].request
    assert request.url == URL + "?select=DOI"
    assert request.headers["Accept"] == "application/vnd.test+json"


def test_unknown_pool_is_a_programming_error(client):
    with pytest.raises(KeyError, match="no rate limiter"):
        client.get_json(URL, pool="nope", source="crossref")


# --- 429 and Retry-After ---------------------------------------------------------------------


def test_429_with_retry_after_seconds_waits_that_long_and_holds_the_pool(
    client, mocked, waits, limiter
):
    mocked.get(
        URL, status=429, body=HTML_429, content_type="text/html", headers={"Retry-After": "3"}
    )
    mocked.get(URL, json=OK_BODY)
    with capture_logs() as logs:
        result = get(client)
    assert result.data == OK_BODY
    assert len(mocked.calls) == 2
    assert waits == [3.0]
    assert limiter.holds == [3.0]
    retry = [e for e in logs if e["event"] == "fetch.retry"]
    assert len(retry) == 1
    assert retry[0]["status"] == 429 and retry[0]["attempt"] == 1 and retry[0]["wait"] == 3.0
    assert retry[0]["log_level"] == "info"  # the service pacing us, as it says: not a warning


def test_retry_after_as_http_date_is_relative_to_the_date_header(client, mocked, waits, limiter):
    mocked.get(
        URL,
        status=429,
        headers={
            "Date": "Tue, 16 Jun 2026 13:35:01 GMT",
            "Retry-After": "Tue, 16 Jun 2026 13:35:11 GMT",
        },
    )
    mocked.get(URL, json=OK_BODY)
    get(client)
    assert waits == [10.0]
    assert limiter.holds == [10.0]


def test_retry_after_is_capped(client, mocked, waits, limiter):
    mocked.get(URL, status=429, headers={"Retry-After": "3600"})
    mocked.get(URL, json=OK_BODY)
    get(client)
    assert waits == [HTTP.retry_after_cap]
    assert limiter.holds == [HTTP.retry_after_cap]


def test_429_without_retry_after_backs_off_with_jitter(client, mocked, waits, limiter):
    mocked.get(URL, status=429)
    mocked.get(URL, status=429)
    mocked.get(URL, status=429)
    mocked.get(URL, json=OK_BODY)
    get(client)
    assert len(waits) == 3
    for attempt, wait in enumerate(waits, start=1):
        ceiling = min(HTTP.backoff_max, HTTP.backoff_initial * 2 ** (attempt - 1))
        assert 0 <= wait <= ceiling
    assert limiter.holds == []


def test_backoff_is_deterministic_with_a_seeded_rng(clock, limiter):
    def run() -> list[float]:
        recorded: list[float] = []
        c = HttpClient(
            make_session(Config()),
            HTTP,
            {POOL: limiter},
            sleep=recorded.append,
            rng=random.Random(7),
        )
        with responses.RequestsMock() as rsps:
            rsps.get(URL, status=503)
            with pytest.raises(TransientError):
                c.get_json(URL, pool=POOL, source="crossref")
        return recorded

    assert run() == run()


def test_429_with_html_body_is_retried_and_never_parsed(client, mocked, monkeypatch):
    mocked.get(URL, status=429, body=HTML_429, content_type="text/html")
    mocked.get(URL, json=OK_BODY)

    def no_json(self, **kw):
        raise AssertionError("response.json() must not be called")

    monkeypatch.setattr(requests.Response, "json", no_json)
    assert get(client).data == OK_BODY
    assert len(mocked.calls) == 2


def test_429_forever_raises_rate_limited_after_max_attempts(client, mocked, waits):
    mocked.get(URL, status=429, headers={"Retry-After": "2"})
    with pytest.raises(RateLimited) as info:
        get(client)
    assert len(mocked.calls) == HTTP.max_attempts
    assert waits == [2.0] * (HTTP.max_attempts - 1)
    err = info.value
    assert err.retry_after == 2.0
    assert err.status == 429
    assert err.source == "crossref"
    assert err.identifier == "10.7554/elife.01567"
    assert err.url == URL


# --- 5xx ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_are_retried(client, mocked, status):
    html = fixture_path("errors/crossref_504_members-98-works-facets.html").read_text()
    mocked.get(URL, status=status, body=html, content_type="text/html")
    mocked.get(URL, json=OK_BODY)
    assert get(client).data == OK_BODY
    assert len(mocked.calls) == 2


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_forever_raise_transient_error(client, mocked, waits, status):
    mocked.get(URL, status=status)
    with pytest.raises(TransientError) as info:
        get(client)
    assert not isinstance(info.value, RateLimited)
    assert info.value.status == status
    assert len(mocked.calls) == HTTP.max_attempts
    assert len(waits) == HTTP.max_attempts - 1


def test_503_with_retry_after_waits_that_long(client, mocked, waits, limiter):
    mocked.get(URL, status=503, headers={"Retry-After": "5"})
    mocked.get(URL, json=OK_BODY)
    get(client)
    assert waits == [5.0]
    assert limiter.holds == [5.0]


def test_500_is_not_retried(client, mocked, waits):
    body = fixture_path("errors/crossref_500_cursor-5.json").read_bytes()
    mocked.get(URL, status=500, body=body, content_type="application/json")
    with pytest.raises(UpstreamError) as info:
        get(client)
    assert type(info.value) is UpstreamError
    assert info.value.status == 500
    assert "Response Exception" in str(info.value)
    assert len(mocked.calls) == 1
    assert waits == []


def test_unexpected_status_is_upstream_error(client, mocked):
    mocked.get(URL, status=501)
    with pytest.raises(UpstreamError) as info:
        get(client)
    assert type(info.value) is UpstreamError
    assert len(mocked.calls) == 1


# --- transport failures and truncated bodies --------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "said"),
    [
        (requests.ConnectTimeout("connect timed out"), "timed out"),
        (requests.ReadTimeout("read timed out"), "did not answer in time"),
        (requests.ConnectionError("Connection reset by peer"), "reset"),
        (requests.exceptions.ChunkedEncodingError("connection broken"), "truncated body"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else None,
)
def test_transport_errors_are_retried_then_transient(client, mocked, waits, exc, said):
    mocked.get(URL, body=exc)
    with pytest.raises(TransientError) as info:
        get(client)
    assert said in str(info.value)  # one line a person can act on, not urllib3's nesting
    assert info.value.status is None
    assert len(mocked.calls) == HTTP.max_attempts
    assert len(waits) == HTTP.max_attempts - 1


def test_transport_error_then_success(client, mocked):
    mocked.get(URL, body=requests.ReadTimeout("read timed out"))
    mocked.get(URL, json=OK_BODY)
    assert get(client).data == OK_BODY
    assert len(mocked.calls) == 2


def test_body_shorter_than_content_length_is_retried(client, mocked):
    mocked.get(URL, body=b'{"status": "ok"}', headers={"Content-Length": "500"})
    mocked.get(URL, json=OK_BODY)
    assert get(client).data == OK_BODY
    assert len(mocked.calls) == 2


def test_json_cut_in_half_is_retried(client, mocked):
    mocked.get(URL, body=b'{"status":"ok","message-type":"wo', content_type="application/json")
    mocked.get(URL, json=OK_BODY)
    with capture_logs() as logs:
        assert get(client).data == OK_BODY
    assert len(mocked.calls) == 2
    assert [e["reason"] for e in logs if e["event"] == "fetch.retry"] == ["truncated JSON body"]


# --- not retried -------------------------------------------------------------------------------


def test_404_is_not_found_and_never_parsed(client, mocked, waits):
    body = fixture_path("errors/crossref_404_works_10.1371_notarealdoi.txt").read_bytes()
    assert body.strip() == b"Resource not found."
    url = "https://api.crossref.org/works/10.1371/notarealdoi"
    mocked.get(url, status=404, body=body, headers={"content-type": "application/json"})
    with pytest.raises(NotFound) as info:
        client.get_json(url, pool=POOL, source="crossref", identifier="10.1371/notarealdoi")
    err = info.value
    assert (err.status, err.source, err.identifier, err.url) == (
        404,
        "crossref",
        "10.1371/notarealdoi",
        url,
    )
    assert len(mocked.calls) == 1
    assert waits == []


def test_400_is_client_error_with_the_servers_message(client, mocked, waits):
    body = fixture_path("errors/crossref_400_sample-200.json").read_bytes()
    url = "https://api.crossref.org/works"
    mocked.get(url, status=400, body=body, content_type="application/json;charset=utf-8")
    with pytest.raises(ClientError) as info:
        client.get_json(url, pool=POOL, source="crossref", params={"sample": "200"})
    assert "must be a positive integer less than or equal to 100" in str(info.value)
    assert info.value.status == 400
    assert len(mocked.calls) == 1
    assert waits == []


def test_4xx_without_json_message_uses_the_status_line(client, mocked):
    mocked.get(URL, status=403, body="Forbidden", content_type="text/plain")
    with pytest.raises(ClientError, match="HTTP 403 Forbidden"):
        get(client)
    assert len(mocked.calls) == 1


def test_200_with_html_is_bad_payload(client, mocked, waits):
    html = fixture_path("errors/crossref_504_members-98-works-facets.html").read_text()
    mocked.get(URL, status=200, body=html, content_type="text/html")
    with pytest.raises(BadPayload, match="expected JSON, got text/html"):
        get(client)
    assert len(mocked.calls) == 1
    assert waits == []


def test_redirect_is_followed_and_reported(client, mocked):
    old = "https://api.crossref.org/works/10.1111/old"
    mocked.get(old, status=301, headers={"Location": URL})
    mocked.get(URL, json=OK_BODY)
    result = client.get_json(old, pool=POOL, source="crossref")
    assert result.url == URL
    assert result.redirected_from == old
    assert result.data == OK_BODY


def test_a_redirect_from_https_down_to_http_is_not_followed(client, mocked):
    old = "https://api.crossref.org/works/10.1111/old"
    mocked.get(old, status=301, headers={"Location": URL.replace("https:", "http:")})
    with pytest.raises(RedirectRefused, match="from https down to http"):
        client.get_json(old, pool=POOL, source="crossref")
    assert len(mocked.calls) == 1  # the http URL was never asked


def test_a_redirect_to_a_host_the_caller_names_is_followed_and_no_other(client, mocked):
    """doi.org's content negotiation hops to the agency's service, named by doiorg.py; a hop
    to a landing page on a publisher's host is not metadata and is not followed."""
    asked = "https://doi.org/10.1126/science.169.3946.635"
    agency = "https://api.crossref.org/v1/works/10.1126%2Fscience.169.3946.635/transform"
    mocked.get(asked, status=302, headers={"Location": agency})
    mocked.get(agency, json=OK_BODY)
    result = client.get_json(
        asked, pool=POOL, source="doi.org", redirect_hosts=("api.crossref.org",)
    )
    assert result.url == agency and result.redirected_from == asked
    with pytest.raises(RedirectRefused, match="another host"):
        client.get_json(asked, pool=POOL, source="doi.org")
    assert [c.request.url for c in mocked.calls] == [asked, agency, asked]


def test_limits_follow_response_headers(client, mocked, limiter):
    headers = flat_headers(load_meta("errors/crossref_404_works_10.1371_notarealdoi.txt"))
    mocked.get(URL, status=404, body="Resource not found.", headers=headers)
    with pytest.raises(NotFound):
        get(client)
    assert (limiter.rate, limiter.concurrency) == (5.0, 1)


# --- secrets -----------------------------------------------------------------------------------


def test_redact_url_masks_secret_params_only():
    url = "https://api.openalex.org/works?filter=doi:10.1/x&api_key=S3CRET&mailto=a%40b.org&Token=t"
    redacted = redact_url(url)
    assert "S3CRET" not in redacted and "a%40b.org" not in redacted and "=t" not in redacted
    assert redacted.startswith("https://api.openalex.org/works?filter=doi:10.1/x&api_key=***")
    assert redact_url("https://user:pw@host.test/p?key=k") == "https://user:***@host.test/p?key=***"


def test_secrets_never_appear_in_errors_or_logs(client, mocked):
    secret = "S3CRETKEY"
    mocked.get(URL, status=503)
    with capture_logs() as logs, pytest.raises(TransientError) as info:
        get(client, params={"api_key": secret, "mailto": "me@example.org"})
    assert logs, "retries should have been logged"
    for text in (str(info.value), info.value.url, repr(logs)):
        assert secret not in text
        assert "me@example.org" not in text and "me%40example.org" not in text
    assert "api_key=***" in str(info.value)


def test_secrets_are_masked_in_transport_error_text(client, mocked):
    secret = "S3CRETKEY"
    url = f"{URL}?api_key={secret}"
    mocked.get(URL, body=requests.ConnectionError(f"Max retries exceeded with url: {url}"))
    with capture_logs() as logs, pytest.raises(TransientError) as info:
        get(client, params={"api_key": secret})
    assert secret not in str(info.value)
    assert secret not in repr(logs)


# --- RateLimiter -------------------------------------------------------------------------------


def starts(limiter: RateLimiter, clock: FakeClock, n: int) -> list[float]:
    times = []
    for _ in range(n):
        with limiter.slot():
            times.append(clock.now)
    return times


def test_n_per_second_start_at_once_and_the_next_when_the_first_leaves_the_window(clock):
    """A service allowing 5 per second: 5 start at once, the 6th when the first is 1 s old
    (a sliding window of start times, not a 1/rate spacing)."""
    limiter = RateLimiter(
        "p", PoolLimit(rate=5.0, concurrency=1), clock=clock.clock, sleep=clock.sleep
    )
    times = starts(limiter, clock, 11)
    assert times == pytest.approx([0.0] * 5 + [1.0] * 5 + [2.0])


def test_hold_delays_the_next_start(clock):
    limiter = RateLimiter(
        "p", PoolLimit(rate=10.0, concurrency=3), clock=clock.clock, sleep=clock.sleep
    )
    starts(limiter, clock, 1)
    limiter.hold(5.0)
    times = starts(limiter, clock, 2)
    assert times == pytest.approx([5.0, 5.0])


def test_a_quiet_spell_lets_a_whole_window_start_at_once_and_no_more(clock):
    limiter = RateLimiter(
        "p", PoolLimit(rate=2.0, concurrency=1), clock=clock.clock, sleep=clock.sleep
    )
    assert starts(limiter, clock, 5) == pytest.approx([0.0, 0.0, 1.0, 1.0, 2.0])
    clock.sleep(10.0)
    assert starts(limiter, clock, 3) == pytest.approx([12.0, 12.0, 13.0])


def busiest(times: list[float], window: float) -> int:
    return max(bisect.bisect_left(times, t + window) - i for i, t in enumerate(times))


def test_a_window_limit_is_exact_and_costs_nothing_below_it(clock):
    """DataCite's 1,000 per 5 minutes: 1,000 go at the rate (10/s), the 1,001st waits until the
    first is 300 s old, and no 300 s ever sees more than 1,000."""
    limit = PoolLimit(rate=10.0, concurrency=4, burst=10, window=300.0, window_max=1000)
    limiter = RateLimiter("datacite:single", limit, clock=clock.clock, sleep=clock.sleep)
    times = starts(limiter, clock, 2500)
    assert times[999] == pytest.approx(99.0)  # the rate alone held the first thousand
    assert times[1000] == pytest.approx(300.0)  # then the window: when the first is 300 s old
    assert busiest(times, 300.0) == 1000
    assert busiest(times, 1.0) <= 10  # and the rate's own window


def test_after_a_hold_no_window_sees_more_than_the_rate(clock):
    limiter = RateLimiter(
        "p", PoolLimit(rate=3.0, concurrency=3), clock=clock.clock, sleep=clock.sleep
    )
    starts(limiter, clock, 1)
    limiter.hold(5.0)
    assert starts(limiter, clock, 7) == pytest.approx([5.0] * 3 + [6.0] * 3 + [7.0])


def test_hold_issued_while_waiting_is_respected(clock):
    limiter = RateLimiter(
        "p", PoolLimit(rate=1.0, concurrency=1), clock=clock.clock, sleep=clock.sleep
    )
    starts(limiter, clock, 1)  # next start is reserved at t=1

    def sleep(seconds: float) -> None:  # another thread sees a 429 while this one sleeps
        clock.sleep(seconds)
        if clock.now < 2:
            limiter.hold(10.0)

    limiter._sleep = sleep
    assert starts(limiter, clock, 1) == pytest.approx([11.0])


def test_concurrency_is_capped():
    limiter = RateLimiter("p", PoolLimit(rate=1e6, concurrency=3))
    cond = threading.Condition()
    release = threading.Event()
    state = {"in": 0, "max": 0, "done": 0}

    def work() -> None:
        with limiter.slot():
            with cond:
                state["in"] += 1
                state["max"] = max(state["max"], state["in"])
                cond.notify_all()
            release.wait(5)
            with cond:
                state["in"] -= 1
                state["done"] += 1

    threads = [threading.Thread(target=work) for _ in range(7)]
    for t in threads:
        t.start()
    with cond:
        assert cond.wait_for(lambda: state["in"] == 3, timeout=5)
    time.sleep(0.02)  # give a fourth thread the chance to (wrongly) get in
    with cond:
        assert state["in"] == 3
    release.set()
    for t in threads:
        t.join(5)
    assert state["max"] == 3
    assert state["done"] == 7


def test_update_from_headers_of_a_polite_response(clock):
    meta = load_meta("crossref/10.7554_elife.01567.json")
    limiter = RateLimiter("crossref:single", PoolLimit(rate=5.0, concurrency=1), clock=clock.clock)
    with capture_logs() as logs:
        limiter.update_from_headers(flat_headers(meta))
        limiter.update_from_headers(flat_headers(meta))  # same values: no second log line
    assert (limiter.rate, limiter.concurrency) == (10.0, 3)
    changed = [e for e in logs if e["event"] == "fetch.limits_changed"]
    assert len(changed) == 1
    assert changed[0]["rate"] == 10.0 and changed[0]["concurrency"] == 3


def test_update_from_headers_of_a_public_response(clock):
    meta = load_meta("errors/crossref_404_works_10.1371_notarealdoi.txt")
    limiter = RateLimiter("crossref:single", PoolLimit(rate=10.0, concurrency=3), clock=clock.clock)
    limiter.update_from_headers(flat_headers(meta))
    assert (limiter.rate, limiter.concurrency) == (5.0, 1)


@pytest.mark.parametrize(
    ("interval", "limit", "rate"),
    [("1s", "10", 10.0), ("1000ms", "10", 10.0), ("60s", "60", 1.0), ("1m", "120", 2.0)],
)
def test_interval_units(interval, limit, rate):
    limiter = RateLimiter("p", PoolLimit(rate=1.0, concurrency=1))
    limiter.update_from_headers({"X-Rate-Limit-Limit": limit, "X-Rate-Limit-Interval": interval})
    assert limiter.rate == pytest.approx(rate)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-rate-limit-limit": "abc", "x-rate-limit-interval": "soon", "x-concurrency-limit": "x"},
        {"x-rate-limit-limit": "0", "x-rate-limit-interval": "0s", "x-concurrency-limit": "0"},
        {"x-rate-limit-limit": "-5", "x-rate-limit-interval": "-1s", "x-concurrency-limit": "1.5"},
        {"x-rate-limit-limit": "nan", "x-rate-limit-interval": "1 fortnight"},
    ],
)
def test_invalid_limit_headers_are_ignored(headers):
    limiter = RateLimiter("p", PoolLimit(rate=3.0, concurrency=2))
    with capture_logs() as logs:
        limiter.update_from_headers(headers)
    assert (limiter.rate, limiter.concurrency) == (3.0, 2)
    assert logs == []


def test_slower_rate_from_headers_paces_the_next_requests(clock):
    limiter = RateLimiter(
        "p", PoolLimit(rate=100.0, concurrency=1), clock=clock.clock, sleep=clock.sleep
    )
    limiter.update_from_headers({"x-rate-limit-limit": "2", "x-rate-limit-interval": "1s"})
    times = starts(limiter, clock, 5)
    assert times == pytest.approx([0.0, 0.0, 1.0, 1.0, 2.0])


# --- get_bytes ---------------------------------------------------------------------------------

XML_URL = "https://repository.example.org/oai"
XML_BODY = b'<?xml version="1.0"?><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"/>'


def get_bytes(client: HttpClient, url: str = XML_URL, **kw) -> BytesResponse:
    return client.get_bytes(url, pool=POOL, source="oai", **kw)


class _Body(io.BufferedReader):
    """A response body that remembers how far it was read when it was closed."""

    read_to: int | None = None

    def close(self) -> None:
        if not self.closed:
            self.read_to = self.tell()
        super().close()


def test_get_bytes_hands_back_the_body_as_sent(client, mocked):
    mocked.get(XML_URL, body=XML_BODY, content_type="text/xml")
    result = get_bytes(client, params={"verb": "Identify"})
    assert result == BytesResponse(
        status=200,
        url=XML_URL + "?verb=Identify",
        headers=result.headers,
        content=XML_BODY,
        redirected_from=None,
    )
    assert result.headers["Content-Type"] == "text/xml"
    request = mocked.calls[0].request
    assert request.headers["Accept"] == "application/json"  # the session's, unless overridden
    assert request.req_kwargs["timeout"] == (1.0, 2.0)


def test_get_bytes_accept_header_overrides_the_sessions(client, mocked):
    mocked.get(XML_URL, body=XML_BODY, content_type="text/xml")
    get_bytes(client, headers={"Accept": "text/xml, application/xml;q=0.9"})
    request = mocked.calls[0].request
    assert request.headers["Accept"] == "text/xml, application/xml;q=0.9"
    assert request.headers["User-Agent"] == user_agent("someone@example.org")


def test_get_bytes_never_parses_the_body(client, mocked):
    mocked.get(XML_URL, body=b"<html>portal</html>", content_type="text/html")
    assert get_bytes(client).content == b"<html>portal</html>"  # get_json: BadPayload
    mocked.get(URL, body=b'{"cut', content_type="application/json")
    assert get_bytes(client, URL).content == b'{"cut'  # get_json: asked again
    assert len(mocked.calls) == 2


def test_get_bytes_hands_back_the_answer_statuses_and_raises_the_others(client, mocked, waits):
    error = b'<OAI-PMH><error code="badArgument">no</error></OAI-PMH>'
    mocked.get(XML_URL, status=422, body=error, headers={"Retry-After": "60"})
    answered = get_bytes(client, answer_statuses=frozenset({404, 422}))
    assert (answered.status, answered.content) == (422, error)
    with pytest.raises(ClientError) as info:
        get_bytes(client)  # not listed: the same ClientError get_json raises
    assert info.value.status == 422
    assert len(mocked.calls) == 2
    assert waits == []  # a Retry-After on a 422 is not a request to wait


def test_get_bytes_retries_a_listed_status_that_is_retried(client, mocked, waits):
    mocked.get(XML_URL, status=429, headers={"Retry-After": "1"})
    mocked.get(XML_URL, body=XML_BODY)
    assert get_bytes(client, answer_statuses=frozenset({429})).content == XML_BODY
    assert waits == [1.0]


def test_get_bytes_503_with_retry_after_then_success(client, mocked, waits, limiter):
    mocked.get(XML_URL, status=503, body="<html>busy</html>", headers={"Retry-After": "7"})
    mocked.get(XML_URL, body=XML_BODY, content_type="text/xml")
    with capture_logs() as logs:
        result = get_bytes(client)
    assert (result.status, result.content) == (200, XML_BODY)
    assert waits == [7.0]
    assert limiter.holds == [7.0]
    assert [(e["status"], e["wait"]) for e in logs if e["event"] == "fetch.retry"] == [(503, 7.0)]


def test_get_bytes_gives_up_like_get_json(client, mocked, waits):
    mocked.get(XML_URL, status=503, headers={"Retry-After": "2"})
    with pytest.raises(TransientError, match="gave up after 4 attempts: HTTP 503"):
        get_bytes(client)
    assert waits == [2.0] * (HTTP.max_attempts - 1)


def test_get_bytes_retries_a_truncated_answer(client, mocked):
    mocked.get(XML_URL, status=422, body=b"<OAI", headers={"Content-Length": "500"})
    mocked.get(XML_URL, status=422, body=XML_BODY)
    assert get_bytes(client, answer_statuses=frozenset({422})).content == XML_BODY
    assert len(mocked.calls) == 2


def test_get_bytes_refuses_a_declared_length_over_the_cap(client, mocked, waits):
    mocked.get(XML_URL, body=XML_BODY, headers={"Content-Length": str(len(XML_BODY))})
    assert get_bytes(client, max_bytes=len(XML_BODY)).content == XML_BODY  # at the cap: read
    with pytest.raises(BodyTooLarge, match="over the cap of 10 bytes") as info:
        get_bytes(client, max_bytes=10, params={"api_key": "S3CRET"})
    assert isinstance(info.value, BadPayload)
    assert (info.value.status, info.value.source) == (200, "oai")
    assert "S3CRET" not in str(info.value) and "api_key=***" in info.value.url
    assert len(mocked.calls) == 2  # not asked again
    assert waits == []


def test_get_bytes_cap_stops_reading_a_body_without_length(client, mocked):
    body = b"<a>" + b"x" * 300_000 + b"</a>"
    stream = _Body(io.BytesIO(body))
    mocked.get(XML_URL, body=stream)
    with pytest.raises(BodyTooLarge, match="over the cap of 4096 bytes"):
        get_bytes(client, max_bytes=4096)
    assert "Content-Length" not in mocked.calls[0].response.headers
    assert stream.read_to <= 4096 + 64 * 1024 < len(body)


def test_get_bytes_cap_counts_the_bytes_after_decompression(client, mocked):
    bomb = gzip.compress(b"\0" * 1_000_000)
    assert len(bomb) < 4096
    mocked.get(
        XML_URL,
        body=bomb,
        headers={"Content-Encoding": "gzip", "Content-Length": str(len(bomb))},
    )
    with pytest.raises(BodyTooLarge, match="over the cap of 4096 bytes"):
        get_bytes(client, max_bytes=4096)


def test_a_304_is_answered_at_once_whatever_its_content_length_says(client, mocked, waits):
    mocked.get(XML_URL, status=304, body=b"", headers={"Content-Length": "5120", "ETag": '"v1"'})
    answered = get_bytes(client, answer_statuses=frozenset({304}))
    assert (answered.status, answered.content) == (304, b"")
    assert len(mocked.calls) == 1 and waits == []  # not taken for a truncated body


def test_a_json_answer_over_the_configured_cap_is_refused_not_read(clock, waits, limiter, mocked):
    small = HttpClient(
        make_session(Config()), HttpConfig(max_body_bytes=1024), {POOL: limiter}, sleep=waits.append
    )
    mocked.get(URL, body=b'{"message": "' + b"x" * 4096 + b'"}', content_type="application/json")
    with pytest.raises(BodyTooLarge, match="over the cap of 1024 bytes"):
        small.get_json(URL, pool=POOL, source="crossref")
    assert len(mocked.calls) == 1 and waits == []


def test_close_closes_the_sessions_connections():
    """A client made per action in a long-lived process (the review console) is closed."""
    closed = []

    class Session(requests.Session):
        def close(self):
            closed.append(True)
            super().close()

    client = HttpClient(Session(), HttpConfig())
    client.close()
    assert closed == [True]
