"""The one HTTP layer: session factory, per-pool rate limiting, and one retry policy.

Every upstream source goes through `HttpClient`: `get_json` for JSON APIs, `get_bytes` for any
other body (OAI-PMH's XML), one on top of the other, so that pacing, retries, error mapping and
secret masking are decided here once instead of drifting apart in each source module.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import random
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, BinaryIO, TypeVar
from urllib.parse import urljoin, urlsplit

import requests
import structlog
import urllib3.connection
import urllib3.connectionpool
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from harvester import PROJECT_URL, __version__, jsontext
from harvester.config import Config, HttpConfig, PoolLimit
from harvester.errors import (
    Abandoned,
    BadPayload,
    ClientError,
    NotFound,
    RateLimited,
    TransientError,
    Unreachable,
    UpstreamError,
)
from harvester.secrets import config_secrets, redact_text, redact_url, remember

log = structlog.get_logger(__name__)

#: Connections kept per host. Crossref allows at most 3 in flight per pool and we run a handful of
#: pools, so 16 means a worker never waits for, or throws away, a pooled connection.
POOL_MAXSIZE = 16

# Statuses asked again after a pause. 429: the server wants us slower, it will answer later.
# 502/503/504: a gateway or overloaded backend in front of the API; these pass within seconds.
RETRY_STATUSES = frozenset({429, 502, 503, 504})

_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$", re.IGNORECASE)
_INTERVAL_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def user_agent(mailto: str) -> str:
    """Names us and where to read about us; a mailto also selects Crossref's polite pool."""
    if mailto:
        return f"harvester/{__version__} ({PROJECT_URL}; mailto:{mailto})"
    return f"harvester/{__version__} ({PROJECT_URL})"


#: Seconds the run has, once asked to stop (SIGTERM, Ctrl-C), to finish the batch in hand: what
#: it asks and waits for within them goes on; then every request still waiting is cut and
#: nothing more is asked. Enough for answers on their way, short of a hung server.
STOP_GRACE = 5.0
#: How often the watchdog looks at the requests in flight.
_WATCH_INTERVAL = 0.1


class _Watch:
    """One request in flight, as the watchdog sees it: when it must be done by, what would let
    it go early (its chunk abandoned, the run stopping), and the socket to cut then."""

    def __init__(
        self,
        deadline: float,
        abandon: threading.Event | None,
        stop_deadline: Callable[[], float | None],
    ) -> None:
        self.deadline = time.monotonic() + deadline
        self.abandon, self.stop_deadline = abandon, stop_deadline
        self.sock: socket.socket | None = None
        self.reason: str | None = None  # why it was cut: "deadline", "abandoned", "stopping"
        self._lock = threading.Lock()

    def due(self, now: float) -> str | None:
        """Why the request must end now, if it must."""
        if self.abandon is not None and self.abandon.is_set():
            return "abandoned"
        stop = self.stop_deadline()
        if stop is not None and now >= stop:
            return "stopping"
        return "deadline" if now >= self.deadline else None

    def attach(self, connection: urllib3.connection.HTTPConnection) -> None:
        """The socket this request goes out on, kept itself: http.client lets go of a
        connection's socket once the headers say it closes, while the body is still read
        from it. Cut at once if the request is already let go."""
        sock = getattr(connection, "sock", None)
        if sock is None:
            return  # not connected yet: connect() attaches again
        with self._lock:
            self.sock = sock
            cut = self.reason is not None
        if cut:
            _shut(sock)

    def cut(self, reason: str) -> None:
        """Wake the thread blocked reading this request's socket: the read ends, and the error
        it raises is read as `reason` (`HttpClient._cut_error`)."""
        with self._lock:
            self.reason = reason
            sock = self.sock
        if sock is not None:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread for the process that cuts the requests past their deadline or let go.

    A blocked socket read does not look at the clock: a body that trickles one byte a second
    never trips read_timeout, and a thread waiting in recv cannot be told to stop. Shutting the
    socket down from here ends the read at once, whatever phase the request is in."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._watches: set[_Watch] = set()
        self._thread: threading.Thread | None = None

    def add(self, watch: _Watch) -> None:
        with self._cond:
            self._watches.add(watch)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="http-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify()

    def remove(self, watch: _Watch) -> None:
        with self._cond:
            self._watches.discard(watch)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._watches:
                    self._cond.wait()
                now = time.monotonic()
                due = [(w, reason) for w in self._watches if (reason := w.due(now))]
                for watch, _ in due:
                    self._watches.discard(watch)
            for watch, reason in due:
                try:
                    watch.cut(reason)
                except Exception:  # never let one odd socket end the watch over every other
                    log.exception("fetch.watchdog_failed", reason=reason)
            time.sleep(_WATCH_INTERVAL)


_WATCHDOG = _Watchdog()
#: The request the current thread is sending, for the connection classes below to attach to.
_CURRENT: contextvars.ContextVar[_Watch | None] = contextvars.ContextVar(
    "http_request", default=None
)


def _attach_current(connection: urllib3.connection.HTTPConnection) -> None:
    watch = _CURRENT.get()
    if watch is not None:
        watch.attach(connection)


class _Watched:
    """Mixed into a urllib3 connection: it tells the request it carries which socket to cut."""

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        _attach_current(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _attach_current(self)
        super().request(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, urllib3.connection.HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, urllib3.connection.HTTPSConnection):
    pass


class _WatchedHTTPPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _WatchedAdapter(HTTPAdapter):
    """requests' adapter, its pools making connections the watchdog can cut."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _WatchedHTTPPool,
            "https": _WatchedHTTPSPool,
        }


def make_session(config: Config) -> requests.Session:
    """The one Session factory, so every source shares the same identity and connection pool.

    urllib3's own retries are switched off (`max_retries=0`): a second, hidden retry loop would
    multiply attempts and ignore Retry-After and our rate limiters.

    The config's secret values are registered for masking here, where the session that will send
    them is made: a Config built in code never passes `load_config`, and a server that quotes a
    key back bare (a 401 body) is then still masked in every log line and stored error.
    """
    remember(config_secrets(config))
    session = requests.Session()
    session.headers["User-Agent"] = user_agent(config.mailto)
    session.headers["Accept"] = "application/json"
    adapter = _WatchedAdapter(
        pool_connections=POOL_MAXSIZE, pool_maxsize=POOL_MAXSIZE, max_retries=0
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _unresolved(exc: requests.RequestException) -> bool:
    """Whether the server's name did not resolve (urllib3's NameResolutionError, or the
    resolver's own words for "no such name" and "cannot ask")."""
    text = str(exc)
    return any(
        words in text
        for words in (
            "NameResolutionError",
            "Name or service not known",
            "Temporary failure in name resolution",
            "nodename nor servname provided",
            "No address associated with hostname",
        )
    )


def describe_connection_error(exc: requests.RequestException) -> str:
    """One short line a person can act on, instead of urllib3's nested exception text."""
    request = getattr(exc, "request", None)
    url = request.url if request is not None else None
    host = (urlsplit(url).hostname if url else None) or "the server"
    text = str(exc)
    if isinstance(exc, requests.ConnectTimeout):
        return f"connection to {host} timed out"
    if isinstance(exc, requests.ReadTimeout):
        return f"{host} did not answer in time (read timeout)"
    if isinstance(
        exc, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError
    ):
        return f"connection to {host} dropped mid-answer (truncated body)"
    if _unresolved(exc):
        return f"cannot resolve {host} (no network or DNS?)"
    if "Connection refused" in text:
        return f"connection to {host} refused"
    if "Connection reset" in text or "RemoteDisconnected" in text:
        return f"connection to {host} reset"
    return f"cannot reach {host}: {type(exc).__name__}: {redact_text(text)[:200]}"


#: A 429 multiplies a pool's pace by this...
SLOWDOWN = 0.75
#: ...never below this pace (an eighth of the announced rate)...
MIN_PACE = 0.125
#: ...and every RECOVERY_SPELL seconds without a 429 give back RECOVERY of it, up to the pace
#: configured.
RECOVERY = 1.05
RECOVERY_SPELL = 10.0
#: Starts remembered for the rate's window: a service announcing more than this many per
#: interval is paced as this many per the same share of it.
_MAX_WINDOW_STARTS = 1000


class RateLimiter:
    """Paces one pool of one service (e.g. Crossref "single" or "list"): at most `concurrency`
    requests in flight and, where the service allows N requests per T seconds (`rate` = N / T,
    or what its headers announce), at most N started in any T / pace seconds; when the service
    also counts per window (DataCite's 1,000 per 5 minutes), at most `window_max` started in any
    `window` / pace seconds. Thread-safe (threading.Condition).

    Both limits are sliding windows of start times, not a 1/rate spacing: N may start at once
    after a quiet spell, which is what a server counting "N in any window" allows, and pace
    (`[http] pace`, below 1) keeps the window a little longer than the server's, so that timing
    jitter never puts N + 1 in one of its windows. Start times are reserved under the lock and
    slept for outside it.

    A 429 (`slowed`) holds the whole pool (`hold`, for the Retry-After) and multiplies its pace
    by SLOWDOWN, once per slowdown: the 429s of requests that started before it are what it
    answers, and do not slow the pool again. Each RECOVERY_SPELL seconds without a 429 give
    back 5% of the pace, up to the pace configured.
    """

    def __init__(
        self,
        name: str,
        limit: PoolLimit,
        *,
        pace: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit.rate <= 0 or limit.concurrency < 1:
            raise ValueError(f"{name}: rate must be > 0 and concurrency >= 1, not {limit}")
        if not 0 < pace <= 1:
            raise ValueError(f"{name}: pace must be above 0 and at most 1, not {pace}")
        self.name = name
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        # Kept as "count per interval" like the headers say, so that a header changing only one
        # of the two keeps the other.
        self._count = float(limit.rate)
        self._interval = 1.0
        self._concurrency = int(limit.concurrency)
        self._window = float(limit.window)
        self._starts: deque[float] = deque(maxlen=max(1, int(limit.window_max)))
        self._recent: deque[float] = deque()  # the last starts, for the rate's window
        self._in_flight = 0
        self._hold_until = -math.inf
        self._pace = float(pace)  # as configured: what recovery comes back to
        self._slow = 1.0  # the share of it a 429 left (1: not slowed)
        self._slowed_at = -math.inf  # when the last 429 slowed the pool
        self._recovered_at = -math.inf  # when recovery last gave some back (or the 429)

    @property
    def rate(self) -> float:
        """Requests per second the service allows (as announced or configured)."""
        with self._cond:
            return self._count / self._interval

    @property
    def concurrency(self) -> int:
        """Requests currently allowed in flight."""
        with self._cond:
            return self._concurrency

    @property
    def pace(self) -> float:
        """The share of `rate` requests now start at: the configured pace, less what 429s took."""
        with self._cond:
            return self._current_pace(self._clock())

    @contextmanager
    def slot(self) -> Iterator[float]:
        """Wait for a free concurrency slot and for this pool's next start time; gives the
        start time (for `slowed`)."""
        with self._cond:
            self._cond.wait_for(lambda: self._in_flight < self._concurrency)
            self._in_flight += 1
        try:
            yield self._wait_for_start()
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()

    def _current_pace(self, now: float) -> float:
        """(lock held) The pace now: each RECOVERY_SPELL since the last 429 gives back 5%."""
        if self._slow < 1.0:
            spells = int((now - self._recovered_at) // RECOVERY_SPELL)
            if spells > 0:
                self._slow = min(1.0, self._slow * RECOVERY**spells)
                self._recovered_at += spells * RECOVERY_SPELL
        return max(MIN_PACE, self._pace * self._slow)

    def _rate_window(self, now: float) -> tuple[int, float]:
        """(lock held) N and the window N starts must fit in: N per T announced, T / pace."""
        n = min(max(1, int(self._count)), _MAX_WINDOW_STARTS)
        return n, n * self._interval / self._count / self._current_pace(now)

    def _reserve(self) -> float:
        """Claim the next start time (lock held)."""
        now = self._clock()
        start = max(now, self._hold_until)
        n, span = self._rate_window(now)
        recent = self._recent
        if recent:
            start = max(start, recent[-1])  # start times stay in order
            if len(recent) >= n:
                start = max(start, recent[-n] + span)
        if self._window > 0 and len(self._starts) == self._starts.maxlen:
            start = max(start, self._starts[0] + self._window / self._current_pace(now))
        recent.append(start)
        while len(recent) > n:
            recent.popleft()
        if self._window > 0:
            self._starts.append(start)
        return start

    def _wait_for_start(self) -> float:
        with self._cond:
            start = self._reserve()
        while True:
            delay = start - self._clock()
            if delay > 0:
                self._sleep(delay)
            with self._cond:
                # A 429 elsewhere may have put the pool on hold while we slept: new turn after it.
                if self._hold_until <= start:
                    return start
                start = self._reserve()

    def update_from_headers(self, headers: Mapping[str, str]) -> None:
        """Follow the limits the service announces (x-rate-limit-*, x-concurrency-limit).

        The server's word beats our configured guess: Crossref changes pools and limits at run time.
        A header that is absent or not understood leaves the current value alone.
        """
        lowered = {str(k).lower(): str(v) for k, v in headers.items()}
        count = _positive_number(lowered.get("x-rate-limit-limit"))
        interval = _parse_interval(lowered.get("x-rate-limit-interval"))
        concurrency = _positive_number(lowered.get("x-concurrency-limit"))
        if concurrency is not None and concurrency != int(concurrency):
            concurrency = None
        with self._cond:
            old_rate, old_concurrency = self._count / self._interval, self._concurrency
            if count is not None:
                self._count = count
            if interval is not None:
                self._interval = interval
            if concurrency is not None:
                self._concurrency = int(concurrency)
            new_rate, new_concurrency = self._count / self._interval, self._concurrency
            if new_concurrency > old_concurrency:
                self._cond.notify_all()
        if (new_rate, new_concurrency) != (old_rate, old_concurrency):
            log.info(
                "fetch.limits_changed",
                pool=self.name,
                rate=new_rate,
                concurrency=new_concurrency,
                old_rate=old_rate,
                old_concurrency=old_concurrency,
            )

    def hold(self, seconds: float) -> None:
        """After a 429 with Retry-After: no request of this pool starts before now + seconds.

        All threads of the pool hit the same limit, so all wait, not only the one that saw it.
        Said once per hold: the 429s of the other requests in flight extend it silently.
        """
        if seconds <= 0:
            return
        with self._cond:
            now = self._clock()
            new = self._hold_until <= now
            self._hold_until = max(self._hold_until, now + seconds)
        if new:
            log.info("fetch.rate_limited", pool=self.name, hold=seconds)

    def slowed(self, started: float) -> bool:
        """A request of this pool that started at `started` was answered 429: the pool's pace
        is multiplied by SLOWDOWN (not below MIN_PACE), unless a 429 already slowed it since
        that request started. True when it slowed the pool (and said so, once)."""
        with self._cond:
            now = self._clock()
            if started < self._slowed_at and self._slow < 1.0:
                return False  # asked at the old pace: the slowdown already answers it
            before = self._current_pace(now)
            self._slow = max(MIN_PACE / self._pace, self._slow * SLOWDOWN)
            self._slowed_at = self._recovered_at = now
            after = self._current_pace(now)
        log.info(
            "fetch.slowed_down",
            pool=self.name,
            pace=round(after, 3),
            old_pace=round(before, 3),
            rate=round(after * self.rate, 3),
        )
        return True


def _positive_number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number > 0 else None


def _parse_interval(value: str | None) -> float | None:
    """Seconds in an x-rate-limit-interval: "1s", "1000ms", "60s", "1m"; bare number = seconds."""
    if value is None:
        return None
    match = _INTERVAL.match(value)
    if not match:
        return None
    seconds = float(match.group(1)) * _INTERVAL_UNITS[(match.group(2) or "s").lower()]
    return seconds if seconds > 0 else None


@dataclass(frozen=True)
class JsonResponse:
    """A successful JSON answer, with what a source needs to record where it came from."""

    status: int
    url: str  # final URL after redirects
    headers: Mapping[str, str]
    data: Any  # parsed JSON
    redirected_from: str | None  # the first requested URL when a redirect happened, else None


@dataclass(frozen=True)
class BytesResponse:
    """An answer as bytes: a 2xx, or one of the statuses the caller said it reads itself."""

    status: int
    url: str  # final URL after redirects
    headers: Mapping[str, str]
    content: bytes  # the body, decompressed
    redirected_from: str | None  # the first requested URL when a redirect happened, else None


#: Redirects followed for one request: an alias (Crossref's 301 to the prime DOI, OpenAlex's to
#: a merged work), an upgrade to https, doi.org's hop to the agency; more than this is a loop.
MAX_REDIRECTS = 5


class RedirectRefused(BadPayload):
    """A redirect that leaves the service (another host, another scheme, https down to http) or
    goes round in circles: not followed, and the identifier fails with one line."""


class BodyTooLarge(BadPayload):
    """The body passed the caller's `max_bytes`: refused, and not read any further."""


class _Retry(Exception):
    """Internal: this attempt failed in a way that may pass; tenacity asks again."""

    def __init__(self, reason: str, *, status: int | None, retry_after: float | None) -> None:
        self.reason = reason
        self.status = status
        self.retry_after = retry_after  # seconds the server asked for, uncapped; None if it did not
        super().__init__(reason)


_T = TypeVar("_T")
#: Reads one answer into what the caller gets (inside the attempt, so it may raise `_Retry`).
#: Given the answer, the error context and the status line ("HTTP 200 OK").
_Read = Callable[[BytesResponse, dict[str, Any], str], _T]


#: A piece of work the run may let go (a chunk asked ahead of time) runs with an event here:
#: once it is set, its requests start no more and its retry waits end at once, raising
#: Abandoned, so that a stopped run does not wait for answers it will not store.
ABANDON: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar(
    "abandon", default=None
)


def _check_abandoned(context: Mapping[str, Any]) -> None:
    event = ABANDON.get()
    if event is not None and event.is_set():
        raise Abandoned(f"{_where(context)}: not asked, the run is stopping", **context)


class HttpClient:
    """GET from an upstream service; pacing, retries and typed errors decided in one place."""

    def __init__(
        self,
        session: requests.Session,
        config: HttpConfig,
        limiters: Mapping[str, RateLimiter] | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._session = session
        self._config = config
        self._limiters: dict[str, RateLimiter] = dict(limiters or {})
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._stop: threading.Event | None = None
        self._stop_at: float | None = None
        self._stop_lock = threading.Lock()

    def close(self) -> None:
        """Close the connections of the session: a long-lived process (Datasette serving the
        review console) makes a client per action and must not keep each one's sockets."""
        self._session.close()

    def stop_when(self, stop: threading.Event) -> None:
        """Once `stop` is set (SIGTERM, Ctrl-C), the run has STOP_GRACE seconds more to finish
        the batch in hand; then whatever still waits is cut and nothing more is asked
        (Abandoned): the run stops in seconds, stores what it has and lets go of the lock,
        whatever a hung server does."""
        self._stop = stop

    def _stop_deadline(self) -> float | None:
        """When the requests of a stopping run are cut: STOP_GRACE after the stop was first
        seen (by the watchdog, within a tenth of a second), or None while it is not asked."""
        if self._stop is None or not self._stop.is_set():
            return None
        with self._stop_lock:
            if self._stop_at is None:
                self._stop_at = time.monotonic() + STOP_GRACE
            return self._stop_at

    def has_limiter(self, key: str) -> bool:
        return key in self._limiters

    def add_limiter(self, key: str, limiter: RateLimiter) -> None:
        """Register the limiter for pool `key` (e.g. "crossref:single")."""
        self._limiters[key] = limiter

    def get_json(
        self,
        url: str,
        *,
        pool: str,
        source: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        identifier: str | None = None,
        redirect_hosts: Collection[str] = (),
    ) -> JsonResponse:
        """GET `url` within pool `pool` and return its parsed JSON, or raise an `UpstreamError`.

        `get_bytes` (same pacing, retries and errors) and then the JSON check: a 2xx body that
        starts like JSON but does not parse was cut short and is asked again; a body that is not
        JSON at all (an HTML portal page, text, nothing) is a BadPayload.
        """
        return self._get(
            url,
            _read_json,
            pool=pool,
            source=source,
            params=params,
            headers=headers,
            identifier=identifier,
            redirect_hosts=redirect_hosts,
        )

    def get_bytes(
        self,
        url: str,
        *,
        pool: str,
        source: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        identifier: str | None = None,
        answer_statuses: frozenset[int] = frozenset(),
        max_bytes: int | None = None,
        redirect_hosts: Collection[str] = (),
    ) -> BytesResponse:
        """GET `url` within pool `pool` and return its body as bytes, or raise an `UpstreamError`.

        Retries 429/502/503/504, connection failures, timeouts and truncated bodies up to
        `max_attempts` in total, waiting the server's Retry-After (capped at `retry_after_cap`)
        or a jittered backoff; a Retry-After on any other status is ignored. Everything else is
        answered at once: the body of a 2xx, or of a status in `answer_statuses` (e.g. the 4xx
        whose bodies the caller reads itself; a status that is retried stays retried), else
        NotFound (404), ClientError (other 4xx), UpstreamError (500, other statuses).
        `max_bytes` caps the body after decompression: BodyTooLarge as soon as Content-Length or
        the bytes read so far pass it. Redirects are followed up to MAX_REDIRECTS hops on the
        host asked (or one of `redirect_hosts`), over http(s), never from https down to http;
        any other is RedirectRefused.
        """
        return self._get(
            url,
            _read_bytes,
            pool=pool,
            source=source,
            params=params,
            headers=headers,
            identifier=identifier,
            answer_statuses=answer_statuses,
            max_bytes=max_bytes,
            redirect_hosts=redirect_hosts,
        )

    def download(
        self,
        url: str,
        sink: BinaryIO,
        *,
        pool: str,
        source: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        answer_statuses: frozenset[int] = frozenset(),
        max_bytes: int | None = None,
        deadline: float | None = None,
    ) -> BytesResponse:
        """GET `url` as `get_bytes` does (pacing, retries, errors, redirects), its body written
        to `sink` as it comes instead of returned (`content` is empty): a data set of tens of
        megabytes is never held in memory. Each attempt starts `sink` again from its beginning.
        `deadline` (seconds) replaces `[http] deadline` for this request, which an API answer
        fits in and a big file may not."""
        return self._get(
            url,
            _read_bytes,
            pool=pool,
            source=source,
            params=params,
            headers=headers,
            identifier=None,
            answer_statuses=answer_statuses,
            max_bytes=max_bytes,
            sink=sink,
            deadline=deadline,
        )

    def _get(
        self,
        url: str,
        read: _Read[_T],
        *,
        pool: str,
        source: str,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        identifier: str | None,
        answer_statuses: frozenset[int] = frozenset(),
        max_bytes: int | None = None,
        redirect_hosts: Collection[str] = (),
        sink: BinaryIO | None = None,
        deadline: float | None = None,
    ) -> _T:
        """The one retry loop: `_attempt` until it returns, fails for good, or attempts run out;
        `read` turns the answer into what the caller gets (and may ask again, raising `_Retry`)."""
        try:
            limiter = self._limiters[pool]
        except KeyError:
            # A source without a limiter would hammer its service unpaced: a programming error.
            raise KeyError(
                f"no rate limiter for pool {pool!r} (known: {sorted(self._limiters)})"
            ) from None
        full_url = _full_url(url, params)
        context = {"source": source, "identifier": identifier, "url": redact_url(full_url)}
        if max_bytes is None:
            max_bytes = self._config.max_body_bytes

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            # A 429 asked again is the service pacing us, as it says it will: not a warning.
            # Only one that never gets through is (RateLimited, below).
            level = log.info if getattr(exc, "status", None) == 429 else log.warning
            level(
                "fetch.retry",
                **context,
                pool=pool,
                status=getattr(exc, "status", None),
                reason=getattr(exc, "reason", str(exc)),
                attempt=state.attempt_number,
                wait=round(state.next_action.sleep, 3) if state.next_action else None,
            )

        def pause(seconds: float) -> None:
            """The wait before a retry, cut short when the work is let go or the run stops."""
            event = ABANDON.get()
            if event is None and self._stop is None:
                self._sleep(seconds)
                return
            end = time.monotonic() + seconds
            while (left := end - time.monotonic()) > 0:
                self._check_stopping(context)
                if event is None:
                    time.sleep(min(left, _WATCH_INTERVAL))
                elif event.wait(min(left, _WATCH_INTERVAL)):
                    _check_abandoned(context)

        retrying = Retrying(
            stop=stop_after_attempt(self._config.max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_Retry),
            sleep=pause,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(
                self._attempt,
                url,
                limiter=limiter,
                params=params,
                headers=headers,
                answer_statuses=answer_statuses,
                max_bytes=max_bytes,
                context=context,
                read=read,
                redirect_hosts=frozenset(h.lower() for h in redirect_hosts),
                sink=sink,
                deadline=deadline or self._config.request_deadline,
            )
        except _Retry as exc:
            attempts = self._config.max_attempts
            where = _where(context)
            if exc.status == 429:
                raise RateLimited(
                    f"{where}: still rate limited after {attempts} attempts: {exc.reason}",
                    retry_after=exc.retry_after,
                    status=429,
                    **context,
                ) from None
            raise TransientError(
                f"{where}: gave up after {attempts} attempts: {exc.reason}",
                status=exc.status,
                **context,
            ) from None

    def _wait(self, state: RetryCallState) -> float:
        """Seconds before the next attempt: the server's Retry-After if it gave one, else backoff.

        Full jitter (uniform between 0 and an exponentially growing ceiling) keeps parallel workers
        that failed together from coming back together.
        """
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retry) and exc.retry_after is not None:
            return min(exc.retry_after, self._config.retry_after_cap)
        exponent = min(state.attempt_number - 1, 32)
        ceiling = min(self._config.backoff_max, self._config.backoff_initial * 2**exponent)
        return self._rng.uniform(0, ceiling)

    def _send(
        self,
        url: str,
        limiter: RateLimiter,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        max_bytes: int | None,
        context: dict[str, Any],
        redirect_hosts: frozenset[str],
        sink: BinaryIO | None = None,
    ) -> tuple[requests.Response, bytes, dict[str, Any], str | None]:
        """The GET itself, following redirects as `_redirect_refusal` allows: the response, its
        body, the context naming the final URL, and the first URL when a redirect was followed.
        The pool's limits follow what the service announces. A failure that may pass raises
        `_Retry`."""
        timeout = (self._config.connect_timeout, self._config.read_timeout)
        target, query, first = url, dict(params) if params else None, None
        try:
            for hops in range(MAX_REDIRECTS + 1):
                with self._session.get(
                    target,
                    params=query,
                    headers=dict(headers) if headers else None,
                    timeout=timeout,
                    stream=True,
                    allow_redirects=False,  # followed here, by our rules, not by requests'
                ) as response:
                    limiter.update_from_headers(response.headers)
                    context = {**context, "url": redact_url(response.url or context["url"])}
                    if not response.is_redirect:
                        body = _read_body(response, max_bytes, context, sink)
                        return response, body, context, first
                try:
                    next_url = urljoin(response.url, response.headers["Location"])
                    refusal = _redirect_refusal(response.url, next_url, hops, redirect_hosts)
                except ValueError:  # "http://[::1" and the like
                    next_url, refusal = response.headers["Location"], "not a URL"
                if refusal is not None:
                    raise RedirectRefused(
                        f"{_where(context)}: {response.status_code} redirect to "
                        f"{redact_url(next_url)[:200]} not followed: {refusal}",
                        status=response.status_code,
                        **context,
                    )
                first = first or response.url
                target, query = next_url, None
        except (
            requests.ConnectionError,  # refused, reset, DNS hiccup; includes ConnectTimeout
            requests.Timeout,  # read timeout: a slow backend, usually not slow the next time
            requests.exceptions.ChunkedEncodingError,  # connection dropped mid-body
            requests.exceptions.ContentDecodingError,  # gzip stream cut short
        ) as exc:
            if isinstance(exc, requests.ConnectionError) and _unresolved(exc):
                # Asking again cannot help within a run, and every request would wait its
                # retries (45 s for two DOIs): the run ends here instead, with one line.
                raise Unreachable(urlsplit(url).hostname or url, context["source"]) from None
            raise _Retry(describe_connection_error(exc), status=None, retry_after=None) from None
        raise AssertionError("unreachable: the last hop is refused above")  # pragma: no cover

    def _check_stopping(self, context: Mapping[str, Any]) -> None:
        """Once a stopping run's grace is over, nothing more is asked and no retry waits."""
        stop = self._stop_deadline()
        if stop is not None and time.monotonic() >= stop:
            raise Abandoned(f"{_where(context)}: not asked, the run is stopping", **context)

    def _cut_error(self, reason: str, context: Mapping[str, Any], deadline: float) -> UpstreamError:
        """What a request the watchdog cut fails with. Past its deadline it is not asked again:
        a server that trickles an answer will trickle it the next time too."""
        where = _where(context)
        if reason == "deadline":
            return TransientError(
                f"{where}: no complete answer within {deadline:g} s (the request deadline)",
                **context,
            )
        return Abandoned(f"{where}: cut short, the run is stopping", **context)

    def _attempt(
        self,
        url: str,
        *,
        limiter: RateLimiter,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        answer_statuses: frozenset[int],
        max_bytes: int | None,
        context: dict[str, Any],
        read: _Read[_T],
        redirect_hosts: frozenset[str],
        sink: BinaryIO | None,
        deadline: float,
    ) -> _T:
        """One request: returns, raises `_Retry` (tenacity asks again) or raises the final error."""
        _check_abandoned(context)
        self._check_stopping(context)
        with limiter.slot() as started:
            _check_abandoned(context)  # the wait for a slot may have been long
            watch = _Watch(deadline, ABANDON.get(), self._stop_deadline)
            token = _CURRENT.set(watch)
            _WATCHDOG.add(watch)
            try:
                response, body, context, redirected_from = self._send(
                    url, limiter, params, headers, max_bytes, context, redirect_hosts, sink
                )
            except Exception:
                if watch.reason is not None:  # cut by the watchdog: say why, not how it broke
                    raise self._cut_error(watch.reason, context, deadline) from None
                raise
            finally:
                _WATCHDOG.remove(watch)
                _CURRENT.reset(token)
            if watch.reason is not None:  # cut as the last byte came: cut all the same
                raise self._cut_error(watch.reason, context, deadline)

        status = response.status_code
        where = _where(context)
        status_line = f"HTTP {status} {response.reason or ''}".rstrip()

        if status in RETRY_STATUSES:
            retry_after = _retry_after(response.headers)
            if retry_after is not None:
                limiter.hold(min(retry_after, self._config.retry_after_cap))
            if status == 429:  # the whole pool goes slower, not only this request's retry
                limiter.slowed(started)
            # The body is not read as JSON: Crossref's 429/504 bodies are nginx HTML pages.
            raise _Retry(status_line, status=status, retry_after=retry_after)
        if 200 <= status < 300 or status in answer_statuses:
            # A 304 has no body whatever its Content-Length says (RFC 9110 §15.4.5).
            declared = _declared_length(response.headers) if status != 304 else None
            size = sink.tell() if sink is not None else len(body)
            if declared is not None and size < declared:
                raise _Retry(
                    f"truncated body ({size} of {declared} bytes)",
                    status=status,
                    retry_after=None,
                )
            answer = BytesResponse(
                status=status,
                url=response.url,
                headers=response.headers,
                content=body,
                redirected_from=redirected_from,
            )
            return read(answer, context, status_line)
        if status == 404:
            # Crossref's 404 body is "Resource not found." even when labelled JSON: never parse it.
            raise NotFound(f"{where}: not found ({status_line})", status=status, **context)
        if 400 <= status < 500:
            # Our request was wrong (bad filter, bad cursor, forbidden): asking again gives the same
            message = _server_message(body) or status_line
            raise ClientError(f"{where}: {status_line}: {message}", status=status, **context)
        if status == 500:
            # Crossref's 500 is a deterministic exception on a bad parameter: retrying only adds
            # load. A later run asks again.
            message = _server_message(body)
            detail = f": {message}" if message else ""
            raise UpstreamError(
                f"{where}: server error {status_line}{detail}", status=status, **context
            )
        # 501/505/..., or a 3xx requests could not follow: nothing we know how to recover from.
        raise UpstreamError(f"{where}: unexpected {status_line}", status=status, **context)


def _read_bytes(answer: BytesResponse, context: dict[str, Any], status_line: str) -> BytesResponse:
    return answer


def _read_json(answer: BytesResponse, context: dict[str, Any], status_line: str) -> JsonResponse:
    stripped = _strip(answer.content)
    if stripped[:1] not in (b"{", b"["):
        # HTML (a portal or error page served with 200), plain text, or nothing: not what we
        # asked for, and asking again would give the same page.
        kind = _media_type(answer.headers) or (
            "text/html" if stripped[:1] == b"<" else "no content type"
        )
        raise BadPayload(
            f"{_where(context)}: expected JSON, got {kind} ({status_line})",
            status=answer.status,
            **context,
        )
    try:
        data = jsontext.loads(answer.content)
    except jsontext.TooDeep as exc:
        # Well formed perhaps, but too deep to walk: asking again would give the same.
        raise BadPayload(f"{_where(context)}: {exc}", status=answer.status, **context) from None
    except ValueError:
        # Starts like JSON but does not parse: the connection dropped mid-body.
        raise _Retry("truncated JSON body", status=answer.status, retry_after=None) from None
    return JsonResponse(
        status=answer.status,
        url=answer.url,
        headers=answer.headers,
        data=data,
        redirected_from=answer.redirected_from,
    )


def _read_body(
    response: requests.Response,
    max_bytes: int | None,
    context: dict[str, Any],
    sink: BinaryIO | None = None,
) -> bytes:
    """The body, refused as soon as it is known to pass `max_bytes`: from Content-Length when the
    server declares it, else while reading (gzip undone, so a zip bomb stops too). With a
    `sink`, the body is written there from its start (an earlier attempt's bytes dropped) and
    nothing is returned."""
    if sink is not None:
        sink.seek(0)
        sink.truncate()
    if max_bytes is None and sink is None:
        return response.content
    declared = _declared_length(response.headers)
    too_big = (
        f"{_where(context)}: refused a body over the cap of {max_bytes} bytes "
        "(not read any further)"
    )
    if declared is not None and max_bytes is not None and declared > max_bytes:
        raise BodyTooLarge(too_big, status=response.status_code, **context)
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=64 * 1024):
        size += len(chunk)
        if max_bytes is not None and size > max_bytes:
            raise BodyTooLarge(too_big, status=response.status_code, **context)
        if sink is not None:
            sink.write(chunk)
        else:
            chunks.append(chunk)
    if sink is not None:
        return b""
    body = b"".join(chunks)
    response._content = body  # as `.content` would have kept it, for whoever reads it after
    return body


def _redirect_refusal(current: str, target: str, hops: int, hosts: frozenset[str]) -> str | None:
    """Why a redirect from `current` to `target` is not followed, or None when it is: within the
    host asked (http to https allowed) or one of `hosts`, over http(s), never from https down
    to http, at most MAX_REDIRECTS hops."""
    here, there = urlsplit(current), urlsplit(target)
    if there.scheme not in ("http", "https"):
        return f"a {there.scheme or 'schemeless'} URL is not a web service"
    if here.scheme == "https" and there.scheme == "http":
        return "it goes from https down to http"
    if hops >= MAX_REDIRECTS:
        return f"more than {MAX_REDIRECTS} redirects (a loop?)"
    host = (there.hostname or "").lower()
    same = host == (here.hostname or "").lower() and (
        there.port == here.port or (here.scheme, there.scheme) == ("http", "https")
    )
    if not same and host not in hosts:
        return f"{host or 'it'} is another host than the service asked"
    return None


def _full_url(url: str, params: Mapping[str, str] | None) -> str:
    """The URL requests will send, for error messages even when no response ever came back."""
    prepared = requests.models.PreparedRequest()
    try:
        prepared.prepare_url(url, dict(params) if params else None)
    except requests.RequestException:
        return url
    return prepared.url or url


def _where(context: Mapping[str, Any]) -> str:
    """The start of an error message: source, identifier and what was asked."""
    who = (
        context["source"]
        if not context.get("identifier")
        else f"{context['source']} {context['identifier']}"
    )
    return f"{who} (GET {context['url']})"


def _strip(body: bytes) -> bytes:
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    return body.lstrip()


def _media_type(headers: Mapping[str, str]) -> str:
    return headers.get("Content-Type", "").split(";", 1)[0].strip().lower()


def _declared_length(headers: Mapping[str, str]) -> int | None:
    """Content-Length, when it counts the bytes we read: only when the body was not compressed."""
    declared = headers.get("Content-Length", "").strip()
    encoding = headers.get("Content-Encoding", "identity").strip().lower()
    return int(declared) if declared.isdigit() and encoding in ("", "identity") else None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds asked for by Retry-After: delta-seconds, or an HTTP-date relative to `Date`."""
    value = headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    when = _http_date(value)
    if when is None:
        return None
    now = _http_date(headers.get("Date", "")) or datetime.now(UTC)
    return max((when - now).total_seconds(), 0.0)


def _http_date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _server_message(body: bytes) -> str | None:
    """The service's own explanation from a JSON error body, if it sent one.

    Crossref: {"message": [{"message": ...}]}; DataCite (JSON:API): {"errors": [{"title": ...}]}.
    """
    if _strip(body)[:1] not in (b"{", b"["):
        return None
    try:
        data = jsontext.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    texts: list[str] = []
    message = data.get("message")
    if isinstance(message, str):
        texts.append(message)
    elif isinstance(message, list):
        texts += [
            m["message"]
            for m in message
            if isinstance(m, dict) and isinstance(m.get("message"), str)
        ]
        texts += [m for m in message if isinstance(m, str)]
    elif isinstance(message, dict) and isinstance(message.get("message"), str):
        texts.append(message["message"])
    errors = data.get("errors")
    if isinstance(errors, list):
        for err in errors:
            if isinstance(err, dict):
                text = err.get("detail") or err.get("title")
                if isinstance(text, str):
                    texts.append(text)
    texts = [t.strip() for t in texts if t.strip()]
    return redact_text("; ".join(texts)) if texts else None
