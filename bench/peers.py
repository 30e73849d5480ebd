"""The clients people use today, driven the way their documentation shows, against the simulator.

- habanero (Crossref): `Crossref(base_url=..., mailto=...).works(ids=[...], warn=True)`. It sends
  one GET per DOI, sequentially, each on a new connection (`httpx2.get`, no client kept), and
  has no retry: with `warn=True` a 404 or a 429 both come back as `None` (without it, the first
  one raises and the rest of the list is lost).
- a plain `requests` loop: one GET per DOI to Crossref's `/works/{doi}` with a polite User-Agent on
  a kept-alive Session, retrying a 429 after its Retry-After (1 s when there is none, as with
  Crossref's).
- pyalex (OpenAlex): `Works().filter_or(doi=[... up to 100 ...]).get(per_page=100)`, its batched
  look-up (the strongest way to use it). pyalex 0.21 builds every work URL on
  "https://api.openalex.org" whatever `config.openalex_url` says (api.py, `BaseOpenAlex.url`), so
  the bench mounts an adapter on pyalex's own Session that sends those URLs to the simulator;
  pyalex's request logic (a new Session per request, `max_retries=0` by default) is untouched.

Each returns (records got, not found, lost): lost are DOIs that exist upstream but came back with
nothing (a 429 habanero swallowed, a request that failed for good).
"""

from __future__ import annotations

import contextlib
import threading
import time
import warnings
from collections.abc import Sequence

import requests

MAILTO = "bench@example.org"


def habanero_works(base_url: str, dois: Sequence[str]) -> tuple[int, int, int]:
    from habanero import Crossref

    cr = Crossref(base_url=f"{base_url}/crossref", mailto=MAILTO)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = cr.works(ids=list(dois), warn=True)
    if len(dois) == 1:
        results = [results]
    got = sum(1 for r in results if r)
    not_found = sum(1 for w in caught if str(w.message).startswith("404"))
    return got, not_found, len(dois) - got - not_found


def requests_loop(
    base_url: str, dois: Sequence[str], max_attempts: int = 10
) -> tuple[int, int, int]:
    session = requests.Session()
    session.headers["User-Agent"] = f"bench-loop/1.0 (mailto:{MAILTO})"
    got = not_found = lost = 0
    for doi in dois:
        for _ in range(max_attempts):
            response = session.get(f"{base_url}/crossref/works/{doi}", timeout=60)
            if response.status_code != 429:
                break
            time.sleep(float(response.headers.get("Retry-After", 1)))
        if response.status_code == 200:
            response.json()
            got += 1
        elif response.status_code == 404:
            not_found += 1
        else:
            lost += 1
    return got, not_found, lost


def pyalex_works(base_url: str, dois: Sequence[str], batch: int = 100) -> tuple[int, int, int]:
    import pyalex
    from pyalex import api

    pyalex.config.email = MAILTO
    pyalex.config.api_key = "bench-key"
    _redirect_pyalex(api, f"{base_url}/openalex")
    got = 0
    for start in range(0, len(dois), batch):
        part = list(dois[start : start + batch])
        # A 429 with pyalex's default max_retries=0 raises: that batch is lost.
        with contextlib.suppress(requests.HTTPError):
            got += len(pyalex.Works().filter_or(doi=part).get(per_page=len(part)))
    # OpenAlex lists simply leave out what they do not know: missing and lost look alike here.
    return got, len(dois) - got, 0


def _redirect_pyalex(api, target: str) -> None:
    """Make pyalex's per-request Session send api.openalex.org URLs to `target`."""
    original = getattr(api._get_requests_session, "__wrapped__", api._get_requests_session)

    class Redirect(requests.adapters.HTTPAdapter):
        def send(self, request, **kwargs):
            request.url = request.url.replace("https://api.openalex.org", target, 1)
            return super().send(request, **kwargs)

    def session() -> requests.Session:
        s = original()
        s.mount(
            "https://api.openalex.org", Redirect(max_retries=s.get_adapter("https://").max_retries)
        )
        return s

    session.__wrapped__ = original
    api._get_requests_session = session


# --- the bare batching script (issue 19: "a 40-line threaded filter=doi: script") -------------


def batch_script(
    base_url: str, dois: Sequence[str], size: int = 100, threads: int = 3, rate: float = 3.0
) -> tuple[int, int, int]:
    """What a person writes in 40 lines: Crossref `filter=doi:` lists of `size`, `threads` at a
    time, starts spaced 1/`rate` s apart (the announced 3/s, exactly), a 429 retried after 1 s.
    Crossref only: a DOI missing from a list is counted not found, never asked again."""
    from concurrent.futures import ThreadPoolExecutor

    lock, next_start = threading.Lock(), [time.monotonic()]
    local = threading.local()

    def pace() -> None:
        with lock:
            start = max(next_start[0], time.monotonic())
            next_start[0] = start + 1 / rate
        time.sleep(max(0.0, start - time.monotonic()))

    def one(batch: list[str]) -> tuple[int, int, int]:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.headers["User-Agent"] = f"bench-script/1.0 (mailto:{MAILTO})"
        url = f"{base_url}/crossref/works"
        params = {"filter": ",".join(f"doi:{d}" for d in batch), "rows": str(len(batch))}
        for _ in range(20):
            pace()
            response = local.session.get(url, params=params, timeout=60)
            if response.status_code != 429:
                break
            time.sleep(float(response.headers.get("Retry-After", 1)))
        if response.status_code != 200:
            return 0, 0, len(batch)
        items = response.json()["message"]["items"]
        return len(items), len(batch) - len(items), 0

    batches = [list(dois[i : i + size]) for i in range(0, len(dois), size)]
    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(one, batches))
    return tuple(sum(r[i] for r in results) for i in range(3))  # type: ignore[return-value]
