"""A local Crossref on 127.0.0.1 that replays recorded responses, for end-to-end tests.

It serves the recorded work objects from ../shared/fixtures under a path prefix (as a mirror or proxy
would), answers `/works/{doi}` with the recorded envelope and headers, `/works?filter=doi:...` with a
work-list built from those same recorded items in the envelope Crossref uses, unknown DOIs with the
recorded 404 body, and lets a test change a record, alias a DOI or inject faults.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from conftest import FIXTURES, load_json, load_meta

from harvester.identifiers import ascii_key

#: Headers Crossref sends to the polite pool, as recorded (crossref/10.7554_elife.01567.meta.json).
POLITE_HEADERS = {
    "x-api-pool": "polite",
    "x-rate-limit-limit": "10",
    "x-rate-limit-interval": "1s",
    "x-concurrency-limit": "3",
}


def _key(doi: str) -> str:
    """Crossref matches DOIs case-insensitively for ASCII, as the harvester does."""
    return ascii_key(doi)


class CrossrefReplay:
    """Start with `with CrossrefReplay() as upstream:`; `upstream.url` is the base URL to configure."""

    def __init__(self, prefix: str = "/crossref") -> None:
        self.prefix = prefix
        self.works: dict[str, dict] = {}
        self.aliases: dict[str, str] = {}
        self.faults: list[
            tuple[str, int, dict, bytes]
        ] = []  # (path substring, status, headers, body)
        self.requests: list[str] = []
        self.delay = 0.0  # seconds added to every answer, to make a harvest take a while
        self.headers = dict(POLITE_HEADERS)  # announced limits, as Crossref sends them
        self.list_headers = {"x-rate-limit-limit": "3"}
        self.not_found_body = fixture_bytes("errors/crossref_404_works_10.1371_notarealdoi.txt")
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{self.prefix}"

    def __enter__(self) -> CrossrefReplay:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- what a test sets up -------------------------------------------------------------------

    def add_recorded(self, *names: str) -> None:
        """Serve recorded single-work responses, e.g. add_recorded("10.7554_elife.01567")."""
        for name in names:
            message = load_json(f"crossref/{name}.json")["message"]
            self.works[_key(message["DOI"])] = message

    def add_all_recorded(self) -> list[str]:
        """Serve every recorded single work; returns their DOIs."""
        names = sorted(
            p.name[: -len(".json")]
            for p in (FIXTURES / "crossref").glob("10.*.json")
            if not p.name.endswith(".meta.json")
        )
        self.add_recorded(*names)
        return [self.works[k]["DOI"] for k in sorted(self.works)]

    def add_synthetic(self, count: int, template: str = "10.7554_elife.01567") -> list[str]:
        """`count` works with the shape of a recorded one and new DOIs and titles
        (10.5555/synthetic.N; 10.5555 is Crossref's test prefix); returns their DOIs."""
        base = load_json(f"crossref/{template}.json")["message"]
        dois = []
        for n in range(count):
            message = copy.deepcopy(base)
            message["DOI"] = f"10.5555/synthetic.{n}"
            message["title"] = [f"Synthetic work {n}: {base['title'][0]}"]
            self.works[_key(message["DOI"])] = message
            dois.append(message["DOI"])
        return dois

    def change(self, doi: str, **fields) -> dict:
        """Change the upstream record of `doi` (keys as Crossref spells them); returns the new one."""
        with self._lock:
            message = copy.deepcopy(self.works[_key(doi)])
            message.update(fields)
            self.works[_key(doi)] = message
        return message

    def fail(
        self, path_part: str, status: int, body: bytes = b"", headers: dict | None = None
    ) -> None:
        """The next request whose path contains `path_part` gets this answer instead (once)."""
        self.faults.append((path_part, status, headers or {}, body))

    def count(self, path_part: str) -> int:
        return sum(path_part in r for r in self.requests)

    # --- the server ------------------------------------------------------------------------------

    def _handler(self):
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                upstream.requests.append(self.path)
                if upstream.delay:
                    time.sleep(upstream.delay)
                parts = urlsplit(self.path)
                for fault in list(upstream.faults):
                    if fault[0] in self.path:
                        upstream.faults.remove(fault)
                        return self._send(fault[1], fault[3], fault[2])
                if not parts.path.startswith(upstream.prefix + "/works"):
                    return self._send(404, b"Resource not found.", {"content-type": "text/plain"})
                rest = parts.path[len(upstream.prefix + "/works") :]
                if rest.startswith("/"):
                    return self._single(unquote(rest[1:]))
                return self._list(parse_qs(parts.query))

            def _single(self, doi: str) -> None:
                key = _key(doi)
                if key in upstream.aliases:
                    location = f"{upstream.prefix}/works/{upstream.aliases[key]}"
                    return self._send(301, b"", {"Location": location})
                message = upstream.works.get(key)
                if message is None:
                    return self._send(
                        404,
                        upstream.not_found_body,
                        {"content-type": "text/plain", **upstream.headers},
                    )
                envelope = {
                    "status": "ok",
                    "message-type": "work",
                    "message-version": "1.0.0",
                    "message": message,
                }
                self._json(envelope)

            def _list(self, query: dict[str, list[str]]) -> None:
                rows = int(query.get("rows", ["20"])[0])
                wanted = [
                    f[len("doi:") :]
                    for f in ",".join(query.get("filter", [""])).split(",")
                    if f.startswith("doi:")
                ]
                items = [upstream.works[_key(d)] for d in wanted if _key(d) in upstream.works]
                envelope = {
                    "status": "ok",
                    "message-type": "work-list",
                    "message-version": "1.0.0",
                    "message": {
                        "facets": {},
                        "total-results": len(items),
                        "items": items[:rows],
                        "items-per-page": rows,
                        "query": {"start-index": 0, "search-terms": None},
                    },
                }
                self._json(envelope, upstream.list_headers)

            def _json(self, body: dict, extra: dict | None = None) -> None:
                data = json.dumps(body).encode()
                headers = {"content-type": "application/json", **upstream.headers, **(extra or {})}
                self._send(200, data, headers)

            def _send(self, status: int, body: bytes, headers: dict) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


def fixture_bytes(relative: str) -> bytes:
    return (FIXTURES / relative).read_bytes()


def recorded_headers(relative: str) -> dict[str, str]:
    """The response headers recorded with a fixture, first value of each."""
    headers = load_meta(relative)["response"]["headers"]
    return {k: (v[0] if isinstance(v, list) else v) for k, v in headers.items()}
