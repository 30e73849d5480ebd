"""A local upstream for the bench: Crossref, OpenAlex, DataCite and doi.org on 127.0.0.1, answering
with generated records (bench/records.py), slowed by a configurable latency, and enforcing the
rate limits the real services publish.

    python bench/simulator.py --port 8765 --latency 0.1 --item-latency 0.01

The first line printed is the base URL. Services live under path prefixes of one server:

    /crossref/works/{doi}                   single work (polite pool: 10 req/s, 3 in flight)
    /crossref/works/{doi}/agency            the DOI's agency (same pool)
    /crossref/works?filter=doi:A,doi:B&rows=N
                                            a work-list (polite pool: 3 req/s, 3 in flight)
    /openalex/works/doi:{doi}, /openalex/works/https://doi.org/{doi}
    /openalex/works?filter=doi:A|B&per_page=N   (100 req/s, OpenAlex's hard cap; list calls
                                            100 a day without an api_key, 10,000 with one)
    /datacite/dois/{doi}                    JSON:API record (1,000 requests per 5 minutes)
    /datacite/dois?ids=A,B&page[size]=N, /datacite/dois?query=doi:(A OR B)
                                            a list of records (same pool)
    /doi/ra/{prefix-or-doi[,...]}           doi.org's registration agency look-up (no limit)

Crossref's pool is polite when the User-Agent or a `mailto` parameter carries a mailto, else
public (5 req/s and 1 in flight for single works, 1 req/s and 1 in flight for lists). Every
Crossref answer carries the headers Crossref sends to that pool (recorded in the corpus:
x-api-pool polite-single / polite-array, x-rate-limit-limit, x-rate-limit-interval 1s,
x-concurrency-limit). Exceeding a rate or the concurrency limit gets a 429 with Crossref's HTML body
(as quoted in CrossRef/rest-api-doc#159 and #237; no Retry-After, as reported in #226).

Rates are token buckets holding one interval's worth of requests (10 for Crossref's single pool,
1,000 for DataCite), so a client pacing itself at the announced rate never sees a 429 from timing
jitter. A request counts towards the concurrency limit from admission until its answer is about to
be written.

With `--strict-window` (or /_sim/set?window=strict) every rate is enforced as "no more than N
starts in any window of the interval" instead (a sliding log of request starts, no bucket): a
client pacing exactly at the announced rate then meets 429s from its own jitter, as it may
against the real services. Every 429 the simulator answers is self-caused by the client.

OpenAlex's daily allowance (developers.openalex.org, "Authentication & Pricing": $0.01 of usage a
day without an API key, $1 with a free one; a list or filter call costs $0.10 per 1,000, a single
look-up nothing) is modelled for list calls: 100 a day without an `api_key`, 10,000 per key, then a
429, which OpenAlex's errors page says means "daily limit exceeded". The day starts again at every
reset, so each measured client run has a whole day's allowance to itself.

Control endpoints (for the harness): /_sim/stats, /_sim/timeline, /_sim/reset, /_sim/set?latency=&item_latency=
&limits=on|off&epoch=&changed=&retry_after=&window=bucket|strict.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import records

#: Crossref's answer to a client over its limits (CrossRef/rest-api-doc#159, #237).
CROSSREF_429 = (
    b"<html><body><h1>429 Too Many Requests</h1>\n"
    b"You have sent too many requests in a given amount of time.\n</body></html>\n"
)
#: DataCite's 404 for an unknown DOI, as recorded (errors/datacite_404_*.json).
DATACITE_404 = (
    b'{"errors":[{"status":"404","title":"The resource you are looking for doesn\'t exist."}]}'
)
DATACITE_429 = b'{"errors":[{"status":"429","title":"Too many requests"}]}'
OPENALEX_429 = b'{"error":"Rate limit exceeded","message":"Rate limit exceeded: 100 requests/s"}'
#: No 429 of OpenAlex's is recorded: this has the {"error", "message"} form and the words of its
#: errors page (developers.openalex.org/api-reference/errors: 429, "Daily limit exceeded").
OPENALEX_DAILY_429 = b'{"error":"Rate limit exceeded","message":"Daily limit exceeded"}'
#: Crossref's 404 body is this text even for JSON routes (errors/crossref_404_works_*.txt).
CROSSREF_404 = b"Resource not found."


@dataclass(frozen=True)
class Limit:
    """One pool of one service: `count` requests per `interval` seconds, `concurrency` in flight
    (0: no concurrency limit), and the headers the service announces them with."""

    count: float
    interval: float
    concurrency: int = 0
    headers: dict[str, str] = field(default_factory=dict)


def _crossref_headers(pool: str, count: int, concurrency: int) -> dict[str, str]:
    return {
        "x-api-pool": pool,
        "x-rate-limit-limit": str(count),
        "x-rate-limit-interval": "1s",
        "x-concurrency-limit": str(concurrency),
    }


#: The published limits (api-notes.md: Crossref from 1 Dec 2025; OpenAlex's hard cap; DataCite's
#: 1,000 requests per 5 minutes). doi.org publishes none.
LIMITS: dict[str, Limit] = {
    "crossref:polite-single": Limit(10, 1.0, 3, _crossref_headers("polite-single", 10, 3)),
    "crossref:polite-list": Limit(3, 1.0, 3, _crossref_headers("polite-array", 3, 3)),
    "crossref:public-single": Limit(5, 1.0, 1, _crossref_headers("public", 5, 1)),
    "crossref:public-list": Limit(1, 1.0, 1, _crossref_headers("public", 1, 1)),
    "openalex": Limit(100, 1.0),
    "datacite": Limit(1000, 300.0),
}

#: OpenAlex list calls allowed a day: $0.01 without a key and $1 with a free one, at $0.10 per
#: 1,000 list calls (one copy of the pricing page says $0.10 a day without a key; the older
#: credit rules said 100 a day, 1 per list call: the lower figure is modelled). Single look-ups
#: are free and not counted.
OPENALEX_LISTS_PER_DAY = {"keyless": 100, "key": 10_000}


class Pool:
    """Admission control for one pool: a token bucket of `count` tokens refilled over `interval`,
    and a count of requests in flight. Thread-safe."""

    def __init__(self, limit: Limit, strict: bool = False) -> None:
        self.limit = limit
        self.strict = strict
        self.tokens = float(limit.count)
        self.stamp = time.monotonic()
        self.starts: deque[float] = deque()  # strict: admitted starts in the last interval
        self.in_flight = 0
        self.peak = 0
        self.lock = threading.Lock()

    def admit(self) -> tuple[bool, float]:
        """(admitted, seconds until a token is free)."""
        with self.lock:
            now = time.monotonic()
            if self.strict:
                return self._admit_strict(now)
            rate = self.limit.count / self.limit.interval
            self.tokens = min(self.limit.count, self.tokens + (now - self.stamp) * rate)
            self.stamp = now
            if self.limit.concurrency and self.in_flight >= self.limit.concurrency:
                return False, 0.0
            if self.tokens < 1:
                return False, (1 - self.tokens) / rate
            self.tokens -= 1
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            return True, 0.0

    def _admit_strict(self, now: float) -> tuple[bool, float]:
        """At most `count` admitted starts in any window of `interval` seconds (a refused
        request does not count, as a 429 costs the server nothing)."""
        while self.starts and self.starts[0] <= now - self.limit.interval:
            self.starts.popleft()
        if self.limit.concurrency and self.in_flight >= self.limit.concurrency:
            return False, 0.0
        if len(self.starts) >= self.limit.count:
            return False, self.starts[0] + self.limit.interval - now
        self.starts.append(now)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        return True, 0.0

    def release(self) -> None:
        with self.lock:
            self.in_flight -= 1


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]
    items: int = 0  # records in the answer, for the per-item latency


class Simulator:
    """The services' logic, separate from HTTP so that it can be read (and tested) on its own."""

    def __init__(
        self,
        latency: float = 0.1,
        item_latency: float = 0.01,
        limits: bool = True,
        changed: float = 0.1,
        retry_after: float | None = None,
        strict: bool = False,
    ) -> None:
        self.latency, self.item_latency = latency, item_latency
        self.limits_on, self.changed, self.retry_after = limits, changed, retry_after
        self.strict = strict
        self.epoch = 0
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget the counts and refill every bucket (a new client run starts)."""
        with self.lock:
            self.pools = {name: Pool(limit, self.strict) for name, limit in LIMITS.items()}
            self.counts: Counter[str] = Counter()
            self.items: Counter[str] = Counter()
            self.statuses: dict[str, Counter[str]] = defaultdict(Counter)
            self.started = time.monotonic()
            # OpenAlex list calls of this "day", by caller ("keyless", or "key:" + the key)
            self.openalex_lists: Counter[str] = Counter()
            # (start, end, pool, status, records) of each request, seconds since the reset
            self.timeline: deque[tuple[float, float, str, int, int]] = deque(maxlen=200_000)

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": dict(self.counts),
                "items": dict(self.items),
                "statuses": {k: dict(v) for k, v in self.statuses.items()},
                "peak_in_flight": {k: p.peak for k, p in self.pools.items() if p.peak},
                "seconds": time.monotonic() - self.started,
                "epoch": self.epoch,
                "latency": self.latency,
                "item_latency": self.item_latency,
                "limits": self.limits_on,
                "changed": self.changed,
                "window": "strict" if self.strict else "bucket",
                "openalex_lists": dict(self.openalex_lists),
            }

    def set(self, query: dict[str, list[str]]) -> None:
        for key, values in query.items():
            value = values[0]
            if key in ("latency", "item_latency", "changed"):
                setattr(self, key, float(value))
            elif key == "epoch":
                self.epoch = int(value)
            elif key == "limits":
                self.limits_on = value == "on"
            elif key == "retry_after":
                self.retry_after = float(value) if value else None
            elif key == "window":  # takes effect for the pools at the next reset
                self.strict = value == "strict"
                with self.lock:
                    for pool in self.pools.values():
                        pool.strict = self.strict
            else:
                raise KeyError(key)

    # --- routing ---

    def pool_of(self, path: str, query: dict[str, list[str]], agent: str) -> str | None:
        """The limit pool a request counts against, or None (doi.org, control)."""
        if path.startswith("/crossref/"):
            polite = "mailto" in agent.lower() or "mailto" in query
            kind = "list" if path.rstrip("/") == "/crossref/works" else "single"
            return f"crossref:{'polite' if polite else 'public'}-{kind}"
        if path.startswith("/openalex/"):
            return "openalex"
        if path.startswith("/datacite/"):
            return "datacite"
        return None

    def answer(self, path: str, query: dict[str, list[str]]) -> Answer:
        if path.startswith("/crossref/works"):
            return self._crossref(path[len("/crossref/works") :], query)
        if path.startswith("/openalex/works"):
            return self._openalex(path[len("/openalex/works") :], query)
        if path.rstrip("/") == "/datacite/dois":
            return self._datacite_list(query)
        if path.startswith("/datacite/dois/"):
            return self._datacite(unquote(path[len("/datacite/dois/") :]))
        if path.startswith("/doi/ra/"):
            return self._ra(unquote(path[len("/doi/ra/") :]))
        return Answer(404, b"Not found", {"Content-Type": "text/plain"})

    def refusal(self, pool: str, wait: float) -> Answer:
        """The 429 each service answers a client over its limit with."""
        headers: dict[str, str] = dict(LIMITS[pool].headers)
        if self.retry_after is not None:
            headers["Retry-After"] = f"{self.retry_after:g}"
        if pool.startswith("crossref:"):
            return Answer(429, CROSSREF_429, {**headers, "Content-Type": "text/html"})
        headers.setdefault("Retry-After", str(max(1, round(wait + 0.5))))
        body = DATACITE_429 if pool == "datacite" else OPENALEX_429
        return Answer(429, body, {**headers, "Content-Type": "application/json"})

    # --- Crossref ---

    def _crossref(self, rest: str, query: dict[str, list[str]]) -> Answer:
        if not rest.strip("/"):
            return self._crossref_list(query)
        doi = unquote(rest.lstrip("/"))
        if doi.endswith("/agency"):
            return self._crossref_agency(doi[: -len("/agency")])
        text = records.render(doi, "crossref", self.epoch, self.changed)
        if text is None:
            return Answer(404, CROSSREF_404, {"Content-Type": "text/plain"})
        body = '{"status":"ok","message-type":"work","message-version":"1.0.0","message":%s}'
        return _json(body % text, items=1)

    def _crossref_list(self, query: dict[str, list[str]]) -> Answer:
        rows = int(query.get("rows", ["20"])[0])
        wanted = [
            f[len("doi:") :]
            for f in ",".join(query.get("filter", [""])).split(",")
            if f.startswith("doi:")
        ]
        texts = [
            t for d in wanted if (t := records.render(d, "crossref", self.epoch, self.changed))
        ]
        texts = texts[:rows]
        body = (
            '{"status":"ok","message-type":"work-list","message-version":"1.0.0","message":'
            f'{{"facets":{{}},"total-results":{len(texts)},"items":[{",".join(texts)}],'
            f'"items-per-page":{rows},"query":{{"start-index":0,"search-terms":null}}}}}}'
        )
        return _json(body, items=len(texts))

    def _crossref_agency(self, doi: str) -> Answer:
        kind = records.parse(doi)
        if kind is None or kind.agency == "missing":
            return Answer(404, CROSSREF_404, {"Content-Type": "text/plain"})
        label = "Crossref" if kind.agency == "crossref" else "DataCite"
        message = {"DOI": doi.lower(), "agency": {"id": label.lower(), "label": label}}
        envelope = {"status": "ok", "message-type": "work-agency", "message-version": "1.0.0"}
        return _json(json.dumps({**envelope, "message": message}), items=1)

    # --- OpenAlex ---

    def _openalex(self, rest: str, query: dict[str, list[str]]) -> Answer:
        if not rest.strip("/"):
            return self._openalex_list(query)
        text = records.render(
            _bare(unquote(rest.lstrip("/"))), "openalex", self.epoch, self.changed
        )
        if text is None:
            body = json.dumps({"error": "Not Found", "message": "The work was not found."})
            return _json(body, status=404)
        return _json(text, items=1)

    def _openalex_list(self, query: dict[str, list[str]]) -> Answer:
        if (refused := self._openalex_daily(query)) is not None:
            return refused
        wanted: list[str] = []
        for part in ",".join(query.get("filter", [])).split(","):
            if part.startswith("doi:"):
                wanted += [_bare(v) for v in part[len("doi:") :].split("|") if v]
        if len(wanted) > 100:
            body = {
                "error": "Invalid query parameters error.",
                "message": "Maximum number of values exceeded for doi. Decrease values to 100 or below.",
            }
            return _json(json.dumps(body), status=400)
        per_page = int(query.get("per_page", query.get("per-page", ["25"]))[0])
        keys = list(dict.fromkeys(d.lower() for d in wanted))
        texts = [t for d in keys if (t := records.render(d, "openalex", self.epoch, self.changed))]
        meta = {"count": len(texts), "db_response_time_ms": 12, "page": 1, "per_page": per_page}
        results = ",".join(texts[:per_page])
        body = f'{{"meta":{json.dumps(meta)},"results":[{results}],"group_by":[]}}'
        return _json(body, items=min(len(texts), per_page))

    def _openalex_daily(self, query: dict[str, list[str]]) -> Answer | None:
        """Count one list call against its caller's allowance for the day; the 429 OpenAlex
        answers once it is spent, else None."""
        key = query.get("api_key", [""])[0]
        caller = f"key:{key}" if key else "keyless"
        allowed = OPENALEX_LISTS_PER_DAY["key" if key else "keyless"]
        with self.lock:
            if self.limits_on and self.openalex_lists[caller] >= allowed:
                return Answer(429, OPENALEX_DAILY_429, {"Content-Type": "application/json"})
            self.openalex_lists[caller] += 1
        return None

    # --- DataCite and doi.org ---

    def _datacite(self, doi: str) -> Answer:
        text = records.render(doi, "datacite", self.epoch, self.changed)
        if text is None:
            return Answer(404, DATACITE_404, {"Content-Type": "application/json; charset=utf-8"})
        return _json(text, items=1)

    def _datacite_list(self, query: dict[str, list[str]]) -> Answer:
        """`/dois?ids=A,B` or `/dois?query=doi:(A OR B)` (also `doi:A OR doi:B`, quoted or
        not): DataCite's list answer `{"data": [...], "meta": {...}, "links": {...}}`, each item
        what `/dois/{doi}` answers under `data`; matched case-insensitively, an unknown DOI
        left out, at most `page[size]` items (DataCite's default page is 25)."""
        wanted = _datacite_wanted(query)
        size = int(query.get("page[size]", ["25"])[0])
        items, included, seen = [], [], set()
        for doi in dict.fromkeys(d.lower() for d in wanted):
            text = records.render(doi, "datacite", self.epoch, self.changed)
            if text is None:
                continue
            document = json.loads(text)
            items.append(document["data"])
            for extra in document.get("included", []):
                if (extra.get("type"), extra.get("id")) not in seen:
                    seen.add((extra.get("type"), extra.get("id")))
                    included.append(extra)
        page = items[:size]
        body = {
            "data": page,
            "included": included,
            "meta": {"total": len(items), "totalPages": 1 if items else 0, "page": 1},
            "links": {"self": "https://api.datacite.org/dois?" + _query_text(query)},
        }
        return _json(json.dumps(body, ensure_ascii=False), items=len(page))

    def _ra(self, asked: str) -> Answer:
        """doi.org's "Which RA?": one entry per comma-separated name. A prefix is answered with
        its agency; a DOI with its agency only when the simulator knows that DOI, else
        "DOI does not exist", as doi.org answers a DOI nobody registered."""
        known = records.prefixes()
        entries = []
        for name in asked.split(","):
            prefix, slash, _ = name.strip().partition("/")
            agency = known.get(prefix.lower())
            if slash:
                kind = records.parse(name)
                agency = agency if kind is not None and kind.agency != "missing" else None
            entries.append(
                {"DOI": name, "RA": agency}
                if agency
                else {"DOI": name, "status": "DOI does not exist"}
            )
        return _json(json.dumps(entries))


def _json(text: str, status: int = 200, items: int = 0) -> Answer:
    return Answer(status, text.encode(), {"Content-Type": "application/json"}, items)


_QUERY_DOI = re.compile(r'doi:\s*(?:\(([^)]*)\)|"([^"]+)"|(\S+))', re.IGNORECASE)


def _datacite_wanted(query: dict[str, list[str]]) -> list[str]:
    """The DOIs a DataCite list request asks for: `ids=A,B`, and `query=doi:(A OR B)`,
    `doi:A OR doi:B`, `doi:"A"` (values may be quoted, lower or upper case)."""
    wanted = [v.strip() for ids in query.get("ids", []) for v in ids.split(",") if v.strip()]
    for text in query.get("query", []):
        for group, quoted, bare in _QUERY_DOI.findall(text):
            if group:
                parts = re.split(r"\s+OR\s+", group.strip(), flags=re.IGNORECASE)
            else:
                parts = [quoted or bare]
            wanted += [p.strip().strip('"').replace("\\", "") for p in parts if p.strip()]
    return wanted


def _query_text(query: dict[str, list[str]]) -> str:
    return "&".join(f"{k}={v}" for k, values in query.items() for v in values)


def _bare(value: str) -> str:
    """ "doi:10.1/x", "https://doi.org/10.1/x" -> "10.1/x" (how OpenAlex reads a DOI)."""
    value = value.strip()
    lowered = value.lower()
    for prefix in ("doi:", "https://doi.org/", "http://doi.org/", "https://dx.doi.org/"):
        if lowered.startswith(prefix):
            return value[len(prefix) :]
    return value


def make_server(sim: Simulator, port: int = 0) -> ThreadingHTTPServer:
    """A threaded HTTP/1.1 server (keep-alive, as Crossref's is) playing `sim` on 127.0.0.1."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: with Nagle's algorithm on, the body waits for
        # the client's delayed ACK (~40 ms a request), which would be the simulator's latency,
        # not the one configured.
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            if parts.path.startswith("/_sim/"):
                return self._control(parts.path[len("/_sim/") :], query)
            started = time.monotonic()
            pool_name = sim.pool_of(parts.path, query, self.headers.get("User-Agent", ""))
            pool = sim.pools.get(pool_name) if pool_name else None
            limit_headers = LIMITS[pool_name].headers if pool_name else {}
            if pool is not None and sim.limits_on:
                admitted, wait = pool.admit()
                if not admitted:
                    refusal = sim.refusal(pool_name, wait)
                    self._send(refusal, pool_name)
                    with sim.lock:
                        now = round(time.monotonic() - sim.started, 4)
                        sim.timeline.append((now, now, pool_name, 429, 0))
                    return
            try:
                answer = sim.answer(parts.path, query)
                answer.headers.update(limit_headers)
                delay = sim.latency + sim.item_latency * answer.items
                remaining = delay - (time.monotonic() - started)
                if remaining > 0:
                    time.sleep(remaining)
            finally:
                if pool is not None and sim.limits_on:
                    pool.release()  # before writing: the client cannot be faster than this
            self._send(answer, pool_name or _service(parts.path))
            with sim.lock:
                sim.timeline.append(
                    (
                        round(started - sim.started, 4),
                        round(time.monotonic() - sim.started, 4),
                        pool_name or _service(parts.path),
                        answer.status,
                        answer.items,
                    )
                )

        def _control(self, verb: str, query: dict[str, list[str]]) -> None:
            if verb == "timeline":
                body = json.dumps(list(sim.timeline)).encode()
                return self._send(Answer(200, body, {"Content-Type": "application/json"}), None)
            if verb == "reset":
                sim.reset()
            elif verb == "set":
                sim.set(query)
            body = json.dumps(sim.stats()).encode()
            self._send(Answer(200, body, {"Content-Type": "application/json"}), None)

        def _send(self, answer: Answer, counted: str | None) -> None:
            if counted is not None:
                with sim.lock:
                    sim.counts[counted] += 1
                    sim.items[counted] += answer.items
                    sim.statuses[counted][str(answer.status)] += 1
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 256

    return Server(("127.0.0.1", port), Handler)


def _service(path: str) -> str:
    return path.strip("/").partition("/")[0] or "other"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per request")
    parser.add_argument("--item-latency", type=float, default=0.01, help="seconds per record")
    parser.add_argument("--no-limits", action="store_true", help="enforce no rate limits")
    parser.add_argument("--changed", type=float, default=0.1, help="share that changes per epoch")
    parser.add_argument("--retry-after", type=float, default=None, help="Retry-After on 429s")
    parser.add_argument(
        "--strict-window",
        action="store_true",
        help="rates as no more than N starts in any window (no bucket)",
    )
    args = parser.parse_args(argv)
    sim = Simulator(
        args.latency,
        args.item_latency,
        not args.no_limits,
        args.changed,
        args.retry_after,
        args.strict_window,
    )
    records.crossref_templates(), records.datacite_templates(), records.openalex_templates()
    server = make_server(sim, args.port)
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
