"""Local upstreams on 127.0.0.1 that replay recorded responses, for end-to-end tests.

One threaded HTTP server (one port) plays five services, each under its own path prefix, with the
real recorded bodies and headers from ../shared/fixtures (see PROVENANCE.tsv there) and from the
fewer real responses this repository keeps in tests/fixtures (tests/fixtures/PROVENANCE.tsv), which
are looked up by the same names (`conftest.fixture_path`: the corpus first, the two share no name):

    /crossref    api.crossref.org: `/works/{doi}` answers the recorded envelope and polite-pool
                 headers; `/works?filter=doi:A,B` a work-list built from those same items; an unknown
                 DOI the recorded 404 text; `/works?filter=...&cursor=` a feed's recorded pages in
                 order (`add_crossref_feed`), a wrong cursor the recorded bad-cursor 404. A test can change a record, alias a DOI (301) or add
                 synthetic works.
    /datacite    api.datacite.org: `/dois/{doi}` answers the recorded JSON:API body with its recorded
                 headers; an unknown DOI the recorded 404 errors body. `/dois?ids=A,B&page[size]=N`
                 a list answer (shaped like the recorded datacite/list_ids_*.json) of the recorded
                 records asked for, matched case-insensitively, the unknown left out, without the
                 base64 XML (DataCite's list answers carry none).
    /openalex    api.openalex.org: `/works/doi:{doi}` answers the recorded work;
                 `/works?filter=doi:A|B&per_page=N[&api_key=K]` a list envelope (shaped like the
                 recorded `/works?sample=5`) holding the recorded works asked for, matched
                 case-insensitively. A test can require an api_key and spend the daily allowance (429).
    /doi         doi.org: `/ra/{prefix}` names the registration agency (from the recorded corpus a
                 prefix appears in, or set_agency); `/{doi}` with the CSL-JSON Accept answers 302 to
                 the agency, played by `/agency-csl/{agency}/{doi}` on this same server, which answers
                 the CSL item; a DOI without CSL gets doi.org's recorded 404 page.

    /orcid       pub.orcid.org: `/v3.0/{orcid}/works` answers the body registered for the iD
                 (`add_orcid`: a recorded works list as recorded, or a copy a test changed), or
                 an error answer registered for it (`orcid_error`); an iD nothing was registered
                 for gets ORCID's recorded 404 error body (orcid/error_404_Asfaf_person.json).
    /oai         an OAI-PMH repository: each request's query (verb, metadataPrefix, set, from,
                 resumptionToken, ...) answered with the recorded response registered for exactly
                 that query (`add_oai`), as Zenodo answered it; an unregistered query gets Zenodo's
                 recorded noRecordsMatch (HTTP 422), `add_zenodo_list()` sets up the recorded
                 three-page ListRecords chain and Identify.

Without the corpus (no ../shared, or HARVEST_FIXTURES elsewhere) the server still starts and serves
the kept fixtures; a test asking for a recorded response it does not have is skipped. The recorded
answers it falls back on by itself then come from the kept fixtures where one is kept (an OAI
noRecordsMatch), else carry the status alone with an empty body (Crossref's, DataCite's and
doi.org's not-found answers, doi.org's redirect): their real bodies are the same bytes whatever was
asked, so none is kept, and the harvester maps these answers by status without reading them.

Every request is kept in `requests` (path and query as sent), so `count("/openalex/works?")` counts
calls per service; `fail(...)` injects an answer and `delay` slows every answer down.

    with ReplayUpstream() as upstream:
        upstream.add_crossref("10.7554_elife.01567")
        env["HARVEST_CROSSREF_URL"] = upstream.url_for("crossref")

`CrossrefReplay` is the same class under its older name; its `url` is `url_for("crossref")`.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import html
import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from conftest import (
    CORPUS_PRESENT,
    FIXTURES,
    KEPT,
    fixture_path,
    load_json,
    load_meta,
    skip_without_corpus,
)

from harvester.config import Config
from harvester.identifiers import ascii_key

#: Headers Crossref sends to the polite pool, as recorded (crossref/10.7554_elife.01567.meta.json).
POLITE_HEADERS = {
    "x-api-pool": "polite",
    "x-rate-limit-limit": "10",
    "x-rate-limit-interval": "1s",
    "x-concurrency-limit": "3",
}

#: The services this server plays and the path prefix of each (Crossref's can be changed).
PREFIXES = {
    "crossref": "/crossref",
    "datacite": "/datacite",
    "openalex": "/openalex",
    "doi": "/doi",
    "oai": "/oai",
    "orcid": "/orcid",
}
#: Where doi.org's content-negotiation redirect points: the agency's CSL service, played here.
AGENCY_CSL = "/agency-csl"

CSL_JSON = "application/vnd.citationstyles.csl+json"
DATACITE_404 = "errors/datacite_404_10.4124_05f6c379-dd68-4cdb-880d-33d3e9576d52_1.json"
DOIORG_302 = "csl/doiorg-302_10.1126_science.169.3946.635.html"
DOIORG_404 = "errors/doiorg_404_10.1126_foo.html"
DOIORG_400 = "errors/doiorg_400_foo.html"
CROSSREF_404 = "errors/crossref_404_works_10.1371_notarealdoi.txt"
#: ORCID's answer for an iD it has no record of, as recorded (error-code 9016).
ORCID_404 = "orcid/error_404_Asfaf_person.json"
#: The answer to an OAI query nothing was registered for: Zenodo's recorded noRecordsMatch (HTTP
#: 422), or, without the corpus, arXiv's kept one.
OAI_NO_RECORDS = "oaipmh/zenodo_error_noRecordsMatch_HTTP422.xml"
OAI_NO_RECORDS_KEPT = "oaipmh/arxiv_error_noRecordsMatch.xml"
#: The recorded Crossref search answer whose envelope candidate lists are served in, and the
#: recorded answer to a search that found nothing.
QUERY_LIST = "crossref/list_works_query-global-state_filter-has-orcid_rows3.json"
QUERY_EMPTY = "crossref/list_works_query-adfaaf_empty.json"
#: The recorded list answer whose envelope (meta, group_by) OpenAlex list answers are built in.
OPENALEX_LIST = "openalex/list_works_sample-5.json"
#: The recorded envelope of a person's or an institution's listing (kept in tests/fixtures).
OPENALEX_AUTHOR_LIST = (
    "openalex/list_works_filter-author.id-A5017898742_select-display_name-id.json"
)
#: The filters of those listings (issue 21), answered by `_openalex_people_list`.
OPENALEX_PEOPLE_FILTERS = ("author.id:", "authorships.institutions.ror:")
#: The JSON doi.org's /ra answers are served as (csl/doiorg-ra_10.5061.meta.json).
RA_HEADERS = {"Content-Type": "application/json;charset=UTF-8"}
#: OpenAlex takes at most 100 values in one OR filter (as harvester.sources.openalex says).
OPENALEX_MAX_OR_VALUES = 100

#: Recorded headers that described the recorded transfer, not the answer: the bodies are stored
#: decoded (the sidecars' body_note), and this server sets its own length and date.
_TRANSFER_HEADERS = frozenset(
    {"content-encoding", "content-length", "transfer-encoding", "connection", "date", "server"}
)
_RESOLVER = re.compile(r"(?i)^(?:https?://)?(?:dx\.)?doi\.org/")


def _key(doi: str) -> str:
    """Crossref matches DOIs case-insensitively for ASCII, as the harvester does (and so do
    DataCite, OpenAlex and doi.org)."""
    return ascii_key(doi)


def _prefix(doi: str) -> str:
    return _key(doi).partition("/")[0]


class ReplayUpstream:
    """Start with `with ReplayUpstream() as upstream:`; `upstream.url_for(service)` is the base URL
    to configure for "crossref", "datacite", "openalex" or "doi"."""

    def __init__(self, prefix: str = "/crossref") -> None:
        self.prefix = prefix  # Crossref's path prefix (the only one a test has needed to choose)
        self.prefixes = {**PREFIXES, "crossref": prefix}
        # Crossref
        self.works: dict[str, dict] = {}  # DOI key -> the `message` of /works/{doi}
        self.aliases: dict[str, str] = {}  # DOI key -> the DOI a 301 points to
        self.headers = dict(POLITE_HEADERS)  # announced limits, as Crossref sends them
        self.list_headers = {"x-rate-limit-limit": "3"}
        self.not_found_body = fixture_bytes(CROSSREF_404) if available(CROSSREF_404) else b""
        # Crossref feeds: filter ("member:98") -> work-list pages of a cursor walk, in order
        self.feeds: dict[str, list[dict]] = {}
        # Crossref candidate searches (query.bibliographic): (text the query must contain, the
        # work-list envelope to answer with), first match wins; and the parameters of each
        # search received, one dict per request
        self.searches: list[tuple[str, dict]] = []
        self.queries: list[dict[str, str]] = []
        self.feed_steps: dict[str, int] = {}  # pages served of the walk in progress
        # DataCite and OpenAlex: DOI key -> recorded fixture (relative to FIXTURES)
        self.datacite: dict[str, str] = {}
        self.openalex: dict[str, str] = {}
        self.openalex_key: str | None = None  # when set, list requests must carry it
        self.openalex_key_status = 401
        self.openalex_allowance: int | None = None  # OpenAlex requests left before 429; None: any
        self.api_keys: list[str | None] = []  # api_key of each OpenAlex request, None: not given
        # doi.org
        self.agencies: dict[str, str] = {}  # prefix key -> agency as doi.org spells it (overrides)
        # DOI key -> (CSL item, headers to send it with, agency that serves it)
        self.csl: dict[str, tuple[dict, dict[str, str], str]] = {}
        # OAI-PMH: sorted query items -> recorded fixture (relative to FIXTURES)
        self.oai: dict[tuple[tuple[str, str], ...], str] = {}
        # ORCID: iD -> (status, body, headers) of /v3.0/{iD}/works
        self.orcid: dict[str, tuple[int, bytes, dict[str, str]]] = {}
        # every service
        self.faults: list[list] = []  # [path substring, status, headers, body, times left or None]
        self.requests: list[str] = []
        self.delay = 0.0  # seconds added to every answer, to make a harvest take a while
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base(self) -> str:
        """http://127.0.0.1:PORT, the server every service shares."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url_for(self, service: str) -> str:
        """The base URL of one service: http://127.0.0.1:PORT/crossref, .../datacite, ..."""
        if service not in self.prefixes:
            raise KeyError(f"no such service {service!r}; known: {sorted(self.prefixes)}")
        return self.base + self.prefixes[service]

    def env(self) -> dict[str, str]:
        """The environment that points a harvester at this server for every service."""
        return {
            "HARVEST_CROSSREF_URL": self.url_for("crossref"),
            "HARVEST_DATACITE_URL": self.url_for("datacite"),
            "HARVEST_OPENALEX_URL": self.url_for("openalex"),
            "HARVEST_DOI_URL": self.url_for("doi"),
            "HARVEST_ORCID_URL": self.url_for("orcid"),
        }

    def config(self, **changes) -> Config:
        """A harvester configuration pointing every service here, paced fast, with quick retries;
        `changes` replace top-level settings (e.g. chunk_size, or repec=... for an archive tree)."""
        base = Config()
        fast = {"rate": 1000.0}
        return dataclasses.replace(
            base,
            mailto="tests@example.org",
            crossref=dataclasses.replace(base.crossref, url=self.url_for("crossref")),
            datacite=dataclasses.replace(base.datacite, url=self.url_for("datacite"), **fast),
            openalex=dataclasses.replace(base.openalex, url=self.url_for("openalex"), **fast),
            doi=dataclasses.replace(base.doi, url=self.url_for("doi"), **fast),
            oai=dataclasses.replace(base.oai, **fast),
            orcid=dataclasses.replace(base.orcid, url=self.url_for("orcid"), **fast),
            http=dataclasses.replace(base.http, max_attempts=2, backoff_initial=0.01),
            **changes,
        )

    @property
    def url(self) -> str:
        """Crossref's base URL (the name CrossrefReplay tests use)."""
        return self.url_for("crossref")

    def __enter__(self) -> ReplayUpstream:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- what a test sets up: Crossref ---------------------------------------------------------

    def add_crossref(self, *names: str) -> None:
        """Serve recorded single-work responses, e.g. add_crossref("10.7554_elife.01567")."""
        for name in names:
            message = load_json(f"crossref/{name}.json")["message"]
            self.works[_key(message["DOI"])] = message

    add_recorded = add_crossref  # the older name

    def add_all_recorded(self) -> list[str]:
        """Serve every recorded Crossref single work; returns their DOIs."""
        self.add_crossref(*recorded_names("crossref"))
        return [self.works[k]["DOI"] for k in sorted(self.works)]

    def add_synthetic(self, count: int, template: str = "10.7554_elife.01567") -> list[str]:
        """`count` Crossref works with the shape of a recorded one and new DOIs and titles
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
        """Change the Crossref record of `doi` (keys as Crossref spells them); returns the new one."""
        with self._lock:
            message = copy.deepcopy(self.works[_key(doi)])
            message.update(fields)
            self.works[_key(doi)] = message
        return message

    # --- DataCite and OpenAlex -----------------------------------------------------------------

    def add_datacite(self, *names: str) -> list[str]:
        """Serve recorded DataCite records, e.g. add_datacite("10.5061_dryad.8515"); returns their
        DOIs as DataCite spells them."""
        dois = []
        for name in names:
            relative = f"datacite/{name}.json"
            doi = load_json(relative)["data"]["id"]
            self.datacite[_key(doi)] = relative
            dois.append(doi)
        return dois

    def add_openalex(self, *names: str) -> list[str]:
        """Serve recorded OpenAlex works, e.g. add_openalex("10.7554_elife.01567"); returns their
        DOIs, bare (OpenAlex writes them as https://doi.org/... URLs)."""
        dois = []
        for name in names:
            relative = f"openalex/{name}.json"
            doi = _bare(load_json(relative)["doi"])
            self.openalex[_key(doi)] = relative
            dois.append(doi)
        return dois

    def require_openalex_key(self, key: str, status: int = 401) -> None:
        """From now on an OpenAlex list request without this api_key is refused with `status`.
        Single look-ups stay free and keyless, as OpenAlex documents them."""
        self.openalex_key, self.openalex_key_status = key, status

    def limit_openalex(self, requests: int = 0) -> None:
        """After `requests` more OpenAlex requests, every OpenAlex request answers 429, as OpenAlex
        does once the day's allowance is spent (the harvester then stops asking for the run)."""
        self.openalex_allowance = requests

    # --- doi.org -------------------------------------------------------------------------------

    def set_agency(self, prefix: str, agency: str) -> None:
        """doi.org's /ra names `agency` (spelled as doi.org does: "mEDRA", "JaLC") for `prefix`."""
        self.agencies[_prefix(prefix)] = agency

    def agency_of(self, prefix: str) -> str | None:
        """The agency /ra names for a prefix (or DOI): set_agency, else the service it is served
        from here, else the recorded corpus it appears in; None when nothing places it."""
        key = _prefix(prefix)
        if key in self.agencies:
            return self.agencies[key]
        if any(_prefix(doi) == key for doi in list(self.works)):
            return "Crossref"
        if any(_prefix(doi) == key for doi in list(self.datacite)):
            return "DataCite"
        return recorded_agencies().get(key)

    def add_csl(self, doi: str, item: dict | str, agency: str | None = None) -> dict:
        """Let doi.org's content negotiation answer `doi` with a CSL-JSON item: a dict, or the name
        of a recorded one under csl/ (e.g. "10.1126_science.169.3946.635_habanero", served with
        its recorded headers). `agency` (e.g. "mEDRA") also becomes /ra's answer for the prefix;
        without it the prefix must be placed already (agency_of). Returns the item served."""
        headers = {"Content-Type": CSL_JSON}
        if isinstance(item, str):
            relative = f"csl/{item}.json"
            headers = {**headers, **replay_headers(relative)}
            item = load_json(relative)
        item = {**item, "DOI": item.get("DOI", doi)}
        if agency is not None:
            self.set_agency(doi, agency)
        placed = self.agency_of(doi)
        if placed is None:
            raise ValueError(f"no agency known for {doi}: pass agency=")
        self.csl[_key(doi)] = (item, headers, placed)
        return item

    # --- what a test sets up: Crossref feeds ---------------------------------------------------

    def add_crossref_feed(self, name: str, *fixtures: str) -> list[dict]:
        """Serve a cursor walk for the filter `name` ("member:98") from recorded work-list pages
        (e.g. crossref/list_members-98_works_rows5_cursor-page1.json, ...page2.json), then its
        end; returns the pages."""
        self.feeds[name] = [copy.deepcopy(load_json(f)) for f in fixtures]
        self.feed_steps[name] = 0
        return self.feeds[name]

    # --- what a test sets up: Crossref candidate searches ---------------------------------------

    def add_crossref_query(
        self, answer: str | list[str | dict], *, when: str = "", serve: bool = True
    ) -> list[dict]:
        """Answer a `/works?query.bibliographic=...` search whose text contains `when` (case
        ignored; "" answers any search) with a result list: a recorded list fixture
        ("crossref/list_works_query-global-state_filter-has-orcid_rows3.json", its items as
        recorded, in its recorded envelope), or items (names of recorded single works such as
        "10.7554_elife.01567", or work messages) wrapped in that same recorded envelope. As
        Crossref does, the answer keeps only the items published within the search's
        from-pub-date/until-pub-date filter (by `issued`) and at most `rows` of them. With
        `serve`, each item is also served as a work (`/works/{doi}`, `filter=doi:`), so a DOI
        found by a search can be harvested. A search nothing answers gets an empty list, as
        recorded (crossref/list_works_query-adfaaf_empty.json). Returns the items."""
        if isinstance(answer, str):
            envelope = copy.deepcopy(load_json(answer))
        else:
            envelope = copy.deepcopy(parsed(QUERY_LIST))
            envelope["message"]["items"] = [
                copy.deepcopy(load_json(f"crossref/{item}.json")["message"])
                if isinstance(item, str)
                else copy.deepcopy(item)
                for item in answer
            ]
        items = envelope["message"]["items"]
        envelope["message"]["total-results"] = len(items)
        if serve:
            for item in items:
                message = {k: v for k, v in item.items() if k != "score"}
                self.works.setdefault(_key(item["DOI"]), message)
        self.searches.append((when.casefold(), envelope))
        return items

    # --- what a test sets up: OAI-PMH -------------------------------------------------------------

    def add_oai(self, query: dict[str, str], fixture: str) -> None:
        """Answer the OAI request with exactly this query with a recorded response."""
        self.oai[tuple(sorted(query.items()))] = fixture

    def add_zenodo_list(self, metadata_prefix: str = "oai_dc") -> list[str]:
        """Zenodo's recorded Identify and ListRecords chain (three pages, each token leading to
        the next, as recorded); returns the tokens in order."""
        from harvester.sources.oaipmh import parse_response

        self.add_oai({"verb": "Identify"}, "oaipmh/zenodo_Identify.xml")
        query = {"verb": "ListRecords", "metadataPrefix": metadata_prefix}
        tokens = []
        for page in ("page1", "page2", "page3_last"):
            fixture = f"oaipmh/zenodo_ListRecords_oai_dc_{page}.xml"
            self.add_oai(query, fixture)
            token = parse_response(fixture_bytes(fixture), "http://replay/").resumption_token
            if token:
                tokens.append(token)
                query = {"verb": "ListRecords", "resumptionToken": token}
        return tokens

    # --- what a test sets up: ORCID ---------------------------------------------------------------

    def add_orcid(self, orcid: str, works: str | dict) -> dict:
        """Answer `/v3.0/{orcid}/works` with a recorded works list (its name under orcid/, e.g.
        "orcid/0000-0003-1444-9135_works_6-groups.json", sent with its recorded headers) or a
        body a test made from one; returns the body served. Registering again replaces it (the
        record changed)."""
        headers = {"Content-Type": "application/json;charset=UTF-8"}
        if isinstance(works, str):
            headers = {**headers, **replay_headers(works)}
            works = copy.deepcopy(load_json(works))
        self.orcid[orcid.upper()] = (200, json.dumps(works).encode(), headers)
        return works

    def orcid_error(self, orcid: str, status: int, body: dict, headers: dict | None = None) -> None:
        """Answer `/v3.0/{orcid}/works` with ORCID's error object `body` and `status` (e.g. 409
        for a deactivated record), or a redirect when `headers` carry a Location."""
        sent = {"Content-Type": "application/json;charset=UTF-8", **(headers or {})}
        self.orcid[orcid.upper()] = (status, json.dumps(body).encode(), sent)

    # --- faults and what was asked ----------------------------------------------------------------

    def fail(
        self,
        path_part: str,
        status: int | str,
        body: bytes = b"",
        headers: dict | None = None,
        times: int | None = 1,
    ) -> None:
        """The next request whose path (with query) contains `path_part` gets this answer instead;
        `times` requests in all, or every one from now on when None. `status` may also be
        "reset", "timeout" (`body`: seconds), "truncate" (`body`: what is sent of it),
        "trickle" (a 200 whose `body` comes one byte a second) or "endless" (a 200 whose
        chunked body never ends: a chunk of `body` every half second)."""
        self.faults.append([path_part, status, headers or {}, body, times])

    def count(self, path_part: str) -> int:
        """How many requests so far had `path_part` in their path and query, e.g. "/datacite/"."""
        return sum(path_part in r for r in list(self.requests))

    def _take_fault(self, path: str) -> list | None:
        with self._lock:
            for fault in self.faults:
                if fault[0] in path:
                    if fault[4] is not None:
                        fault[4] -= 1
                        if fault[4] <= 0:
                            self.faults.remove(fault)
                    return fault
        return None

    def _spend_openalex(self) -> bool:
        """Count one OpenAlex request against the allowance; False when it is spent."""
        with self._lock:
            if self.openalex_allowance is None:
                return True
            if self.openalex_allowance <= 0:
                return False
            self.openalex_allowance -= 1
            return True

    def _route(self, path: str) -> tuple[str | None, str]:
        """(service, rest of the path) for a request path; Crossref's prefix is tried last, so that
        a Crossref mounted at "" does not shadow the others."""
        for service in ("datacite", "openalex", "doi", "oai", "orcid", "agency-csl", "crossref"):
            prefix = AGENCY_CSL if service == "agency-csl" else self.prefixes[service]
            if path == prefix or path.startswith(prefix + "/"):
                return service, path[len(prefix) :]
        return None, path

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
                fault = upstream._take_fault(self.path)
                if fault is not None:
                    return self._fault(fault[1], fault[3], fault[2])
                parts = urlsplit(self.path)
                service, rest = upstream._route(parts.path)
                query = parse_qs(parts.query)
                if service == "crossref":
                    return self._crossref(rest, query)
                if service == "datacite":
                    if rest == "/dois" and "ids" in query:
                        return self._datacite_list(query)
                    return self._datacite(rest)
                if service == "openalex":
                    return self._openalex(rest, query)
                if service == "doi":
                    return self._doiorg(rest)
                if service == "agency-csl":
                    return self._agency_csl(rest)
                if service == "oai":
                    return self._oai(parse_qs(parts.query, keep_blank_values=True))
                if service == "orcid":
                    return self._orcid(rest)
                return self._send(404, b"Resource not found.", {"content-type": "text/plain"})

            # --- Crossref: /works/{doi}, /works?filter=doi:A,B&rows=N ---

            def _crossref(self, rest: str, query: dict[str, list[str]]) -> None:
                if not rest.startswith("/works"):
                    return self._send(404, b"Resource not found.", {"content-type": "text/plain"})
                rest = rest[len("/works") :]
                if not rest.startswith("/"):
                    return self._crossref_list(query)
                doi = unquote(rest[1:])
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
                self._json(envelope, {**upstream.headers})

            def _crossref_list(self, query: dict[str, list[str]]) -> None:
                if "cursor" in query:
                    return self._crossref_feed(query)
                if any(name == "query" or name.startswith("query.") for name in query):
                    return self._crossref_search(query)
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
                self._json(envelope, {**upstream.headers, **upstream.list_headers})

            def _crossref_search(self, query: dict[str, list[str]]) -> None:
                """A candidate search: the list registered for text the query contains, cut to
                the pub-date window and `rows`, as Crossref answers one."""
                params = {name: values[0] for name, values in query.items()}
                upstream.queries.append(params)
                text = " ".join(
                    v for k, v in params.items() if k == "query" or k.startswith("query.")
                ).casefold()
                found = next((e for when, e in upstream.searches if when in text), None)
                if found is None:
                    return self._recorded(QUERY_EMPTY)
                envelope = copy.deepcopy(found)
                window = _pub_date_window(params.get("filter", ""))
                items = [i for i in envelope["message"]["items"] if _published_within(i, window)]
                rows = int(params.get("rows", "20"))
                envelope["message"].update(
                    {"items": items[:rows], "total-results": len(items), "items-per-page": rows}
                )
                envelope["message"].setdefault("query", {})["search-terms"] = text
                self._json(envelope, {**upstream.headers, **upstream.list_headers})

            def _crossref_feed(self, query: dict[str, list[str]]) -> None:
                """A cursor walk: the registered pages in order, each asked with the cursor the
                page before gave; then the end of the walk (a page without items). A cursor
                that is not the one expected gets Crossref's recorded bad-cursor 404."""
                filters = query.get("filter", [""])[0].split(",")
                name = next(f for f in filters if not f.startswith("from-index-date:"))
                pages = upstream.feeds.get(name, [])
                cursor = query["cursor"][0]
                with upstream._lock:
                    step = upstream.feed_steps.get(name, 0) if cursor != "*" else 0
                    expected = "*" if step == 0 else pages[step - 1]["message"]["next-cursor"]
                    if cursor != expected:
                        return self._recorded("errors/crossref_404_bad-cursor.json")
                    upstream.feed_steps[name] = step + 1
                if step < len(pages):
                    return self._json(pages[step], {**upstream.headers, **upstream.list_headers})
                end = copy.deepcopy(pages[-1]) if pages else _empty_work_list()
                end["message"]["items"] = []
                self._json(end, {**upstream.headers, **upstream.list_headers})

            # --- DataCite: /dois/{doi} ---

            def _datacite(self, rest: str) -> None:
                relative = None
                if rest.startswith("/dois/"):
                    relative = upstream.datacite.get(_key(unquote(rest[len("/dois/") :])))
                if relative is None:
                    return self._recorded_or_bare(DATACITE_404, 404)
                self._recorded(relative)

            def _datacite_list(self, query: dict[str, list[str]]) -> None:
                """`/dois?ids=A,B`: the known records asked for (in the order they were added,
                not the order asked, as DataCite's answer is in an order of its own)."""
                wanted = {_key(d) for d in ",".join(query["ids"]).split(",") if d}
                size = int(query.get("page[size]", ["25"])[0])
                items = []
                for key, relative in list(upstream.datacite.items()):
                    if key in wanted:
                        item = copy.deepcopy(parsed(relative)["data"])
                        item.get("attributes", {}).pop("xml", None)
                        items.append(item)
                body = {
                    "data": items[:size],
                    "meta": {"total": len(items), "totalPages": 1, "page": 1},
                    "links": {"self": "/dois?" + urlencode(query, doseq=True, safe="/,:[]")},
                }
                self._json(body, {"content-type": "application/json; charset=utf-8"})

            # --- OpenAlex: /works?filter=doi:A|B&per_page=N, /works/doi:{doi} ---

            def _openalex(self, rest: str, query: dict[str, list[str]]) -> None:
                upstream.api_keys.append(query.get("api_key", [None])[0])
                if not upstream._spend_openalex():
                    # No 429 is recorded; OpenAlex documents 429 "daily limit exceeded" and this
                    # error shape ({"error", "message"}) on developers.openalex.org/api-reference/errors.
                    body = {"error": "Rate limit exceeded", "message": "Daily limit exceeded"}
                    limits = {"X-RateLimit-Remaining": "0", "X-RateLimit-Remaining-USD": "0"}
                    return self._json(body, limits, status=429)
                if rest == "/works":
                    return self._openalex_list(query)
                wanted = unquote(rest[len("/works/") :]) if rest.startswith("/works/") else ""
                relative = None
                if wanted.lower().startswith("doi:") or _RESOLVER.match(wanted):
                    relative = upstream.openalex.get(_key(_bare(wanted)))
                elif wanted:  # an OpenAlex id (W...), as a merged work's redirect points to
                    relative = next(
                        (
                            r
                            for r in upstream.openalex.values()
                            if _openalex_id(r) == wanted.upper()
                        ),
                        None,
                    )
                if relative is None:
                    # No OpenAlex 404 is recorded: a minimal body in OpenAlex's documented error
                    # shape. The harvester never reads a 404's body.
                    body = {"error": "Not Found", "message": f"{wanted} not found"}
                    return self._json(body, status=404)
                self._recorded(relative)

            def _openalex_list(self, query: dict[str, list[str]]) -> None:
                given = query.get("api_key", [None])[0]
                if upstream.openalex_key is not None and given != upstream.openalex_key:
                    # Neither recorded nor documented: what OpenAlex answers a list request with a
                    # missing or wrong key. The status is the test's choice (401 by default).
                    body = {"error": "API key required", "message": "Pass a valid api_key."}
                    return self._json(body, status=upstream.openalex_key_status)
                filters = ",".join(query.get("filter", [])).split(",")
                if any(f.startswith(OPENALEX_PEOPLE_FILTERS) for f in filters):
                    return self._openalex_people_list(query, filters)
                wanted: list[str] = []
                for part in filters:
                    if part.startswith("doi:"):
                        wanted += [_bare(v) for v in part[len("doi:") :].split("|") if v]
                if len(wanted) > OPENALEX_MAX_OR_VALUES:
                    body = {
                        "error": "Invalid query parameters error.",
                        "message": f"Maximum number of values exceeded for doi. Decrease values to "
                        f"{OPENALEX_MAX_OR_VALUES} or below.",
                    }
                    return self._json(body, status=400)
                per_page = int(query.get("per_page", query.get("per-page", ["25"]))[0])
                keys = list(dict.fromkeys(_key(d) for d in wanted))  # one result per work
                results = [parsed(upstream.openalex[k]) for k in keys if k in upstream.openalex]
                if available(OPENALEX_LIST):
                    body, headers = (
                        copy.deepcopy(parsed(OPENALEX_LIST)),
                        replay_headers(OPENALEX_LIST),
                    )
                else:
                    # Without the corpus: the list envelope as OpenAlex documents it (docs
                    # "Get lists of works": meta with count, db_response_time_ms, page,
                    # per_page; results), around the kept works asked for.
                    body = {"meta": {"db_response_time_ms": 0}, "results": [], "group_by": []}
                    headers = {"Content-Type": "application/json"}
                shown = {k: v for k, v in query.items() if k != "api_key"}
                body["meta"].update(
                    count=len(results),
                    page=1,
                    per_page=per_page,
                    x_query={"url": "/works?" + urlencode(shown, doseq=True, safe=":|/()")},
                )
                body["results"] = results[:per_page]
                self._json(body, headers)

            def _openalex_people_list(
                self, query: dict[str, list[str]], filters: list[str]
            ) -> None:
                """A person's or an institution's works (issue 21): `author.id:A1|A2` or
                `authorships.institutions.ror:R` over the served works' authorships, and
                `from_updated_date:D` over their `updated_date`, walked with `cursor=*`. The
                envelope is the recorded author listing's; the cursor (not recorded: OpenAlex's
                is opaque) is the offset of the next page, and null once the walk ends."""
                authors: set[str] = set()
                rors: set[str] = set()
                since = ""
                for part in filters:
                    name, _, value = part.partition(":")
                    if name == "author.id":
                        authors |= {v.rsplit("/", 1)[-1].upper() for v in value.split("|")}
                    elif name == "authorships.institutions.ror":
                        rors |= {v.rstrip("/").rsplit("/", 1)[-1].lower() for v in value.split("|")}
                    elif name == "from_updated_date":
                        since = value

                def listed(work: dict) -> bool:
                    for entry in work.get("authorships") or []:
                        author = (entry.get("author") or {}).get("id") or ""
                        if authors and author.rsplit("/", 1)[-1].upper() in authors:
                            return True
                        for institution in entry.get("institutions") or []:
                            ror = (institution.get("ror") or "").rsplit("/", 1)[-1].lower()
                            if rors and ror in rors:
                                return True
                    return False

                works = [
                    parsed(relative)
                    for relative in dict.fromkeys(upstream.openalex.values())
                    if listed(parsed(relative))
                    and str(parsed(relative).get("updated_date") or "")[:10] >= since[:10]
                ]
                per_page = int(query.get("per_page", query.get("per-page", ["25"]))[0])
                cursor = query.get("cursor", [None])[0]
                start = 0 if cursor in (None, "*") else int(cursor)
                shown = works[start : start + per_page]
                body = copy.deepcopy(parsed(OPENALEX_AUTHOR_LIST))
                body["meta"].update(count=len(works), per_page=per_page)
                if cursor is not None:
                    more = start + per_page < len(works)
                    body["meta"].update(
                        page=None, next_cursor=str(start + per_page) if more else None
                    )
                body["results"] = shown
                self._json(body, {"Content-Type": "application/json"})

            # --- doi.org: /ra/{prefix}, /{doi} (content negotiation) ---

            def _doiorg(self, rest: str) -> None:
                if rest.startswith("/ra/"):
                    return self._doiorg_ra(unquote(rest[len("/ra/") :]))
                doi = unquote(rest.lstrip("/"))
                if not doi.startswith("10."):
                    return self._recorded_or_bare(DOIORG_400, 400)  # doi.org: "Not a DOI"
                entry = upstream.csl.get(_key(doi))
                if entry is None and not available(DOIORG_404):
                    return self._send(404, b"", {})
                if entry is None:
                    status, headers, body = recorded(DOIORG_404)
                    body = body.replace(b"10.1126/foo", html.escape(doi).encode())
                    return self._send(status, body, headers)
                if CSL_JSON not in self.headers.get("Accept", ""):
                    # Not recorded: doi.org sends other Accept types to the landing page, which a
                    # local replay cannot serve; refuse instead of redirecting off this machine.
                    return self._send(406, b"Not Acceptable", {"Content-Type": "text/plain"})
                # As recorded: 302 to the agency's service, the DOI's "/" percent-encoded.
                slug = quote(entry[2].lower(), safe="")
                location = f"{upstream.base}{AGENCY_CSL}/{slug}/{quote(doi, safe='')}"
                if not available(DOIORG_302):
                    return self._send(302, b"", {"Location": location})
                status, headers, body = recorded(DOIORG_302)
                recorded_location = recorded_headers(DOIORG_302)["location"]
                body = body.replace(recorded_location.encode(), html.escape(location).encode())
                self._send(status, body, {**headers, "Location": location})

            def _doiorg_ra(self, asked: str) -> None:
                entries = []
                for name in asked.split(","):
                    agency = upstream.agency_of(name)
                    entries.append(
                        {"DOI": name, "RA": agency}
                        if agency
                        else {"DOI": name, "status": "DOI does not exist"}
                    )
                self._json(entries, RA_HEADERS)

            # --- the agency behind doi.org's redirect: /agency-csl/{agency}/{doi} ---

            def _agency_csl(self, rest: str) -> None:
                doi = unquote(rest.lstrip("/").partition("/")[2])
                entry = upstream.csl.get(_key(doi))
                if entry is None:
                    return self._send(404, b"Resource not found.", {"content-type": "text/plain"})
                self._json(entry[0], entry[1])

            # --- OAI-PMH: the recorded answer registered for this exact query ---

            def _oai(self, query: dict[str, list[str]]) -> None:
                asked = tuple(sorted((k, v[0]) for k, v in query.items()))
                fixture = upstream.oai.get(asked)
                default = OAI_NO_RECORDS if available(OAI_NO_RECORDS) else OAI_NO_RECORDS_KEPT
                self._recorded(fixture or default)

            # --- ORCID: /v3.0/{orcid}/works ---

            def _orcid(self, rest: str) -> None:
                match = re.fullmatch(r"/v3\.0/([0-9X-]{19})/works", rest, re.IGNORECASE)
                if match is None or match[1].upper() not in upstream.orcid:
                    return self._recorded(ORCID_404)
                status, body, headers = upstream.orcid[match[1].upper()]
                self._send(status, body, headers)

            # --- faults ---

            def _fault(self, status: int | str, body: bytes, headers: dict) -> None:
                """An injected answer: a status with a body, or a broken transfer: "reset"
                (the connection closed without an answer), "timeout" (no answer for `body`
                seconds, as bytes of a number), "truncate" (a 200 whose body stops short of its
                Content-Length)."""
                if status == "reset":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return None
                if status == "timeout":
                    time.sleep(float(body or b"2"))
                    self.close_connection = True
                    return None
                if status in ("trickle", "endless"):
                    return self._hang(status, body, headers)
                if status == "truncate":
                    self.send_response(200)
                    for name, value in {"content-type": "application/json", **headers}.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body) + 1000))
                    self.end_headers()
                    self.wfile.write(body)
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return None
                return self._send(int(status), body, headers)

            def _hang(self, status: str, body: bytes, headers: dict) -> None:
                """A server that never finishes its answer, until the client goes away (or two
                minutes pass): never a read timeout, since bytes keep coming."""
                endless = status == "endless"
                self.send_response(200)
                for name, value in {"content-type": "application/json", **headers}.items():
                    self.send_header(name, value)
                if endless:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.close_connection = True
                pieces = [body] if endless else [body[i : i + 1] for i in range(len(body))]
                give_up = time.monotonic() + 120
                try:
                    while time.monotonic() < give_up:
                        for piece in pieces:
                            chunk = b"%x\r\n%s\r\n" % (len(piece), piece) if endless else piece
                            self.wfile.write(chunk)
                            self.wfile.flush()
                            time.sleep(0.5 if endless else 1.0)
                        if not endless:
                            return None
                except OSError:  # the client hung up: what the harvester should do
                    return None
                return None

            # --- writing answers ---

            def _recorded(self, relative: str) -> None:
                status, headers, body = recorded(relative)
                self._send(status, body, headers)

            def _recorded_or_bare(self, relative: str, status: int) -> None:
                """A recorded default answer, or (the corpus absent) its status with no body."""
                if available(relative):
                    return self._recorded(relative)
                return self._send(status, b"", {})

            def _json(self, body: Any, headers: dict | None = None, status: int = 200) -> None:
                data = json.dumps(body).encode()
                self._send(status, data, {"content-type": "application/json", **(headers or {})})

            def _send(self, status: int, body: bytes, headers: dict) -> None:
                self.send_response(status)
                sent = {}
                for name, value in headers.items():
                    sent[name.lower()] = (name, value)  # the last spelling of a header wins
                for name, value in sent.values():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


#: The older name: the Crossref-only replay grew into all four services; tests using it run as before.
CrossrefReplay = ReplayUpstream


def available(relative: str) -> bool:
    """Whether a recorded response is at hand, in the corpus or kept (never skips)."""
    return (FIXTURES / relative).exists() or (KEPT / relative).exists()


def fixture_bytes(relative: str) -> bytes:
    return fixture_path(relative).read_bytes()


#: The content type a kept file without a sidecar is served with, by its suffix (XML: the one
#: OAI-PMH prescribes; other kinds: none, or what the caller adds, as add_csl does).
_UNRECORDED_TYPES = {".xml": "text/xml; charset=UTF-8"}


def _meta(relative: str) -> dict:
    """The sidecar of a recorded response. A kept file that a repository holds as a file, not a
    cassette, records no HTTP exchange and has none: it is served with 200 and its format's type."""
    path = fixture_path(relative)
    sidecar = path.with_name(path.name.rsplit(".", 1)[0] + ".meta.json")
    if path.is_relative_to(KEPT) and not sidecar.exists():
        content_type = _UNRECORDED_TYPES.get(path.suffix)
        return {
            "response": {
                "status": 200,
                "headers": {"Content-Type": [content_type]} if content_type else {},
            }
        }
    return load_meta(relative)


def recorded_headers(relative: str) -> dict[str, str]:
    """The response headers recorded with a fixture, first value of each."""
    headers = _meta(relative)["response"]["headers"]
    return {k: (v[0] if isinstance(v, list) else v) for k, v in headers.items()}


def replay_headers(relative: str) -> dict[str, str]:
    """The recorded headers fit to send again: without those of the recorded transfer (the body is
    stored decoded, so a replayed Content-Encoding: gzip would be a lie)."""
    return {
        k: v for k, v in recorded_headers(relative).items() if k.lower() not in _TRANSFER_HEADERS
    }


@functools.cache
def recorded(relative: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers to send and body of a recorded response."""
    status = _meta(relative)["response"]["status"]
    return status, replay_headers(relative), fixture_bytes(relative)


@functools.cache
def parsed(relative: str) -> Any:
    """load_json, read once per test session (callers must not change what it returns)."""
    return load_json(relative)


def recorded_names(service: str, folder: Path = FIXTURES) -> list[str]:
    """Names of the recorded single-record responses of crossref/, datacite/ or openalex/ (in the
    corpus, or another folder laid out as it is); skips without the corpus."""
    if folder == FIXTURES:
        skip_without_corpus()
    return sorted(
        p.name[: -len(".json")]
        for p in (folder / service).glob("10.*.json")
        if not p.name.endswith(".meta.json")
    )


@functools.cache
def recorded_agencies() -> dict[str, str]:
    """Prefix -> agency as doi.org spells it, from the recorded corpus: prefixes of crossref/ works
    are Crossref's, of datacite/ records DataCite's; Crossref's recorded /works/{doi}/agency
    answers (crossref/agency_*) and doi.org's recorded /ra answers (csl/doiorg-ra_*) say the rest.
    The kept fixtures place their own prefixes the same way; the corpus, when there, has the last word."""
    agencies = _agencies_in(KEPT)
    if CORPUS_PRESENT:
        agencies.update(_agencies_in(FIXTURES))
    return agencies


def _agencies_in(folder: Path) -> dict[str, str]:
    agencies: dict[str, str] = {}
    for name in recorded_names("crossref", folder):
        agencies[_prefix(load_json(f"crossref/{name}.json")["message"]["DOI"])] = "Crossref"
    for name in recorded_names("datacite", folder):
        agencies[_prefix(load_json(f"datacite/{name}.json")["data"]["id"])] = "DataCite"
    for path in sorted((folder / "crossref").glob("agency_*.json")):
        if not path.name.endswith(".meta.json"):
            message = load_json(f"crossref/{path.name}")["message"]
            agencies[_prefix(message["DOI"])] = message["agency"]["label"]
    for path in sorted((folder / "csl").glob("doiorg-ra_*.json")):
        if not path.name.endswith(".meta.json"):
            for entry in load_json(f"csl/{path.name}"):
                agencies[_prefix(entry["DOI"])] = entry["RA"]
    return agencies


def _bare(value: str) -> str:
    """ "https://doi.org/10.1/X" or "doi:10.1/X" -> "10.1/X", as OpenAlex reads a DOI it is given."""
    value = value.strip()
    if value.lower().startswith("doi:"):
        value = value[len("doi:") :]
    return _RESOLVER.sub("", value, count=1)


def _openalex_id(relative: str) -> str:
    """The W id of a recorded work ("https://openalex.org/W2121398592" -> "W2121398592")."""
    return parsed(relative)["id"].rsplit("/", 1)[-1].upper()


def _empty_work_list() -> dict:
    return {
        "status": "ok",
        "message-type": "work-list",
        "message-version": "1.0.0",
        "message": {"facets": {}, "total-results": 0, "items": [], "items-per-page": 0},
    }


def _pub_date_window(filters: str) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """(from, until) of a from-pub-date/until-pub-date filter as date tuples; None: no window."""
    bounds = {}
    for part in filters.split(","):
        name, _, value = part.partition(":")
        if name in ("from-pub-date", "until-pub-date"):
            bounds[name] = tuple(int(p) for p in value.split("-"))
    if not bounds:
        return None
    return bounds.get("from-pub-date", (0,)), bounds.get("until-pub-date", (9999, 12, 31))


def _published_within(item: dict, window: tuple[tuple[int, ...], tuple[int, ...]] | None) -> bool:
    """Whether a work's `issued` date falls in the window (a work without one never does, as a
    date filter leaves out what has no date)."""
    if window is None:
        return True
    parts = (item.get("issued") or {}).get("date-parts") or [[None]]
    issued = tuple(p for p in parts[0] if isinstance(p, int))
    if not issued:
        return False
    start, end = window
    return start[: len(issued)] <= issued and issued[: len(end)] <= end
