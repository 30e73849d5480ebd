"""Which registration agency (Crossref, DataCite, mEDRA, ...) holds a DOI, asked of doi.org.

doi.org answers `GET {base}/ra/{prefix-or-doi}` with a JSON list, one entry per name asked:
`[{"DOI": "10.5061", "RA": "DataCite"}]`. The agency is a property of the prefix, so one question
per prefix per run is enough; `AgencyCache` makes sure of that, also across threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import structlog

from harvester.errors import BadPayload, NotFound, UpstreamError
from harvester.http import HttpClient
from harvester.identifiers import Doi, ascii_key, quote_doi
from harvester.sources.doiorg import RA_POOL as POOL
from harvester.sources.doiorg import SOURCE
from harvester.sources.fields import describe_json

log = structlog.get_logger(__name__)


#: The agencies doi.org names, in the lower-case form we keep. doi.org spells them "DataCite",
#: "mEDRA", "JaLC", ...; lower-casing is the whole normalisation, so a name not listed here (a new
#: agency) is kept lower-cased as given rather than refused.
AGENCIES = frozenset(
    {
        "crossref",
        "datacite",
        "medra",
        "jalc",
        "kisti",
        "cnki",
        "istic",
        "airiti",
        "op",
        "eidr",
        "public",
    }
)


def prefix_of(doi: Doi | str) -> str:
    """The prefix (registrant part) of a DOI: "10.5061/dryad.8515" -> "10.5061".

    A string without "/" is taken to be a prefix already and returned stripped.
    """
    text = doi.value if isinstance(doi, Doi) else str(doi).strip()
    return text.partition("/")[0]


def normalise_agency(name: str) -> str:
    """ "mEDRA" -> "medra"; an unknown name is lower-cased and otherwise kept as given."""
    return name.strip().lower()


def parse_agency(body: Any, asked: str) -> str | None:
    """The normalised agency doi.org names for `asked` (a prefix or a DOI) in its `/ra` answer.

    None when doi.org says it does not know `asked`. Raises `BadPayload` for a body that is not the
    documented list of `{"DOI": ..., "RA": ...}` / `{"DOI": ..., "status": ...}` entries, or that
    holds no entry for `asked`.
    """
    if not isinstance(body, list) or not body:
        raise BadPayload(
            f"doi.org /ra/{asked}: expected a non-empty JSON list, got {describe_json(body)}",
            source=SOURCE,
            identifier=asked,
        )
    entries = [e for e in body if isinstance(e, dict)]
    if len(entries) != len(body):
        raise BadPayload(
            f"doi.org /ra/{asked}: list entries must be objects", source=SOURCE, identifier=asked
        )
    key = ascii_key(asked.strip())
    matching = [e for e in entries if isinstance(e.get("DOI"), str) and ascii_key(e["DOI"]) == key]
    if not matching:
        raise BadPayload(
            f"doi.org /ra/{asked}: no entry for {asked!r} in the answer",
            source=SOURCE,
            identifier=asked,
        )
    entry = matching[0]
    ra = entry.get("RA")
    if isinstance(ra, str) and ra.strip():
        return normalise_agency(ra)
    # Not in the recorded corpus (only the success shape is recorded): doi.org documents entries
    # for DOIs/prefixes it cannot place as {"DOI": ..., "status": "DOI does not exist"}, likewise
    # "Invalid DOI" and "Unknown". Either way no agency is known for it, so the answer is None.
    status = entry.get("status")
    if isinstance(status, str) and status.strip():
        log.info("routing.unknown", asked=asked, status=status)
        return None
    raise BadPayload(
        f"doi.org /ra/{asked}: entry has neither RA nor status: {entry!r}"[:300],
        source=SOURCE,
        identifier=asked,
    )


def fetch_agency(prefix: str, client: HttpClient, base_url: str) -> str | None:
    """Ask doi.org which agency holds `prefix` (or a whole DOI); None when it does not know it.

    GET {base_url}/ra/{prefix} through pool "doi:ra". A 404 is taken as "unknown" like a
    "DOI does not exist" entry; every other failure propagates as the client's typed error.
    """
    url = f"{base_url.rstrip('/')}/ra/{quote_doi(prefix)}"
    try:
        response = client.get_json(url, pool=POOL, source=SOURCE, identifier=prefix)
    except NotFound:
        log.info("routing.unknown", asked=prefix, status=404)
        return None
    return parse_agency(response.data, prefix)


#: Prefixes asked of doi.org in one `/ra/{p1},{p2},...` request: a short URL whatever they are.
RA_BATCH = 50


def fetch_agencies(
    prefixes: Sequence[str], client: HttpClient, base_url: str
) -> dict[str, str | None]:
    """Ask doi.org about several prefixes in one request, `/ra/{p1},{p2},...` (the DOI
    Handbook's "Which RA?" service takes a comma-separated list and answers one entry each).

    Returns what doi.org said of each prefix it answered for. A prefix without a usable entry,
    or every prefix when the request itself fails, is left out: `fetch_agency` asks it alone
    and reports its own failure. A prefix holding a comma cannot be listed and is left out.
    """
    listed = [p for p in prefixes if "," not in p]
    if not listed:
        return {}
    url = f"{base_url.rstrip('/')}/ra/{','.join(quote_doi(p) for p in listed)}"
    try:
        body = client.get_json(url, pool=POOL, source=SOURCE).data
    except UpstreamError as exc:  # NotFound and BadPayload too
        log.info("routing.batch_refused", size=len(listed), error=str(exc))
        return {}
    found: dict[str, str | None] = {}
    for prefix in listed:
        try:
            found[prefix] = parse_agency(body, prefix)
        except BadPayload:
            continue
    return found


class AgencyCache:
    """Agency per prefix for one run: asks `lookup(prefix)` at most once per prefix. Thread-safe.

    `known` (e.g. loaded from the store) is answered without asking. Threads asking the same new
    prefix wait for the one lookup in progress; different prefixes are looked up in parallel. A
    lookup that raises is not remembered, so a later call asks again.
    """

    def __init__(
        self,
        lookup: Callable[[str], str | None],
        known: Mapping[str, str | None] | None = None,
    ) -> None:
        self._lookup = lookup
        self._known: dict[str, str | None] = dict(known or {})
        self._learned: dict[str, str | None] = {}
        self._lock = threading.Lock()
        self._prefix_locks: dict[str, threading.Lock] = {}

    def agency(self, doi: Doi) -> str | None:
        """The agency holding `doi`, or None when doi.org does not know its prefix."""
        prefix = prefix_of(doi)
        with self._lock:
            if prefix in self._known:
                return self._known[prefix]
            prefix_lock = self._prefix_locks.setdefault(prefix, threading.Lock())
        with prefix_lock:
            with self._lock:
                if prefix in self._known:  # another thread finished the lookup while we waited
                    return self._known[prefix]
            result = self._lookup(prefix)
            with self._lock:
                self._known[prefix] = result
                self._learned[prefix] = result
                self._prefix_locks.pop(prefix, None)
            return result

    def unknown(self, prefixes: Iterable[str]) -> list[str]:
        """Those of `prefixes` not known yet, sorted, each once."""
        with self._lock:
            return sorted(set(prefixes) - set(self._known))

    def remember(self, answers: Mapping[str, str | None]) -> None:
        """Agencies learnt elsewhere (a batched look-up): known from now on, and kept."""
        with self._lock:
            self._known.update(answers)
            self._learned.update(answers)

    def learned(self) -> dict[str, str | None]:
        """The prefixes looked up this run and their answers, for the store to keep."""
        with self._lock:
            return dict(self._learned)
