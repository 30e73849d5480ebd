"""DataCite fetching: `/dois?ids=` lists (request shape, the recorded list answer, misses asked
singly, the URL bound, 500 halving, refusals), `/dois/{doi}` one by one (not found, failures,
path encoding, laziness), and what is stored (no base64 XML).

HTTP is answered by `responses` with the recorded DataCite bodies from ../shared/fixtures and the
recorded list answer kept in tests/fixtures; a list request is answered as DataCite answers one
(the known records asked for, case-insensitively, in no particular order, the unknown left out).
The client's and the rate limiter's sleeps go to a fake clock, so no test ever really waits.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import re
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import responses
from conftest import fixture_path, load_json
from fakes import TEST_HTTP, FakeClock, fake_client

from harvester.config import Config
from harvester.http import HttpClient
from harvester.identifiers import Doi, ascii_key, parse_doi, quote_doi
from harvester.sources import datacite as dc
from harvester.sources.datacite import (
    SOURCE,
    fetch_batch,
    fetch_record,
    fetch_records,
    list_url,
    parse_doi_list,
    plan_batches,
    stored_payload,
)
from harvester.sources.datacite import parse as parse_doi_record

BASE = "http://127.0.0.1:8080/datacite"
PREFIX = "/datacite"
NOT_FOUND = "errors/datacite_404_10.4124_05f6c379-dd68-4cdb-880d-33d3e9576d52_1.json"
NOT_FOUND_DOI = "10.4124/05f6c379-dd68-4cdb-880d-33d3e9576d52/1"
HTML_503 = (
    "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    "<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)

DRYAD = "10.5061_dryad.8515"
ARXIV = "10.48550_arxiv.2311.16162"
UUID = "10.4121_uuid_3926db30-f712-4394-aebc-75976070e91f"
TERRA = "10.5067_terra+aqua_ceres_cldtyphist_l3.004"
#: The recorded `/dois?ids=` answer: 4 DOIs asked, 3 answered (see tests/fixtures/PROVENANCE.tsv).
LIST = "datacite/list_ids_hydrate-linking-copies.json"
LIST_ASKED = (
    "10.1038/nature12373",
    "10.5061/DRYAD.8515",
    "10.9999/doesnotexist",
    "10.1126/science.1259855",
)
JSON_TYPE = {"Content-Type": "application/json; charset=utf-8"}
#: Recorded bodies of a 500 (an overload) and a 400 (a query DataCite cannot parse).
ERROR_500 = "datacite/error_500_no-server-available.json"
ERROR_400 = "datacite/error_400_parse-exception.json"


class FakeDataCite:
    """DataCite under BASE. `/dois/{doi}`: recorded bodies by DOI key, else the recorded 404
    errors body. `/dois?ids=A,B`: the list answer DataCite gives, built from the same records
    (their `data`, without the XML, which list answers do not carry), unless `list_answer` is
    set; `hidden` DOIs are left out of lists only (the search index has not caught up)."""

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.rsps = rsps
        self.bodies: dict[str, bytes] = {}
        self.hidden: set[str] = set()
        self.poisoned: set[str] = set()  # a list naming one is answered 500, as DataCite can
        self.always: tuple[int, dict[str, str], str | bytes] | None = None
        self.list_answer: tuple[int, dict[str, str], str | bytes] | None = None
        rsps.add_callback(
            responses.GET, re.compile(re.escape(BASE) + "/dois/"), callback=self._answer
        )
        rsps.add_callback(
            responses.GET, re.compile(re.escape(BASE) + r"/dois\?"), callback=self._list
        )

    def add(self, name: str) -> str:
        """Serve datacite/{name}.json as recorded; returns the DOI as DataCite spells it."""
        body = fixture_path(f"datacite/{name}.json").read_bytes()
        doi = load_json(f"datacite/{name}.json")["data"]["attributes"]["doi"]
        self.bodies[ascii_key(doi)] = body
        return doi

    def add_copies(self, name: str, count: int) -> list[Doi]:
        """`count` records shaped as datacite/{name}.json under DOIs of their own."""
        body = load_json(f"datacite/{name}.json")
        prefix = body["data"]["id"].split("/", 1)[0]
        dois = []
        for i in range(count):
            doi = f"{prefix}/copy.{i}"
            record = copy.deepcopy(body)
            record["data"]["id"] = record["data"]["attributes"]["doi"] = doi
            self.bodies[ascii_key(doi)] = json.dumps(record).encode()
            dois.append(parse_doi(doi))
        return dois

    def _answer(self, request):
        if self.always:
            return self.always
        path = urlsplit(request.url).path
        key = ascii_key(unquote(path.removeprefix(f"{PREFIX}/dois/")))
        if key in self.bodies:
            return 200, JSON_TYPE, self.bodies[key]
        return 404, JSON_TYPE, fixture_path(NOT_FOUND).read_bytes()

    def _list(self, request):
        if self.always:
            return self.always
        if self.list_answer:
            return self.list_answer
        query = parse_qs(urlsplit(request.url).query)
        keys = {ascii_key(v) for v in query["ids"][0].split(",")}
        if keys & self.poisoned:
            return 500, JSON_TYPE, fixture_path(ERROR_500).read_bytes()
        keys -= self.hidden
        size = int(query.get("page[size]", ["25"])[0])
        items = []
        for key in sorted(keys & set(self.bodies)):  # DataCite's order is not the order asked
            item = json.loads(self.bodies[key])["data"]
            item["attributes"].pop("xml", None)
            items.append(item)
        body = {"data": items[:size], "meta": {"total": len(items), "totalPages": 1, "page": 1}}
        return 200, JSON_TYPE, json.dumps(body)

    def paths(self) -> list[str]:
        return [urlsplit(c.request.url).path for c in self.rsps.calls]

    def lists(self) -> list[dict[str, list[str]]]:
        """The query of each list request, in the order sent."""
        return [
            parse_qs(urlsplit(c.request.url).query)
            for c in self.rsps.calls
            if urlsplit(c.request.url).path == f"{PREFIX}/dois"
        ]

    def singles(self) -> list[str]:
        """The DOI of each `/dois/{doi}` request, in the order sent."""
        return [
            unquote(p.removeprefix(f"{PREFIX}/dois/"))
            for p in self.paths()
            if p.startswith(f"{PREFIX}/dois/")
        ]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(clock: FakeClock) -> HttpClient:
    return fake_client(clock=clock)


@pytest.fixture
def datacite():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeDataCite(rsps)


@pytest.mark.parametrize(
    ("name", "asked", "title"),
    [
        (DRYAD, "10.5061/dryad.8515", "Data from: A new malaria agent in African hominids."),
        (
            ARXIV,
            "10.48550/arXiv.2311.16162",
            "Leveraging Artificial Intelligence Technology for Mapping Research to Sustainable "
            "Development Goals: A Case Study",
        ),
    ],
)
def test_recorded_record_is_fetched_whole(client, datacite, name, asked, title):
    datacite.add(name)
    doi = parse_doi(asked)

    result = fetch_record(doi, client, BASE)

    assert (result.source, result.status, result.error) == (SOURCE, "ok", None)
    assert result.identifier == doi.key == ascii_key(asked)
    assert result.resolved == doi.key
    recorded = load_json(f"datacite/{name}.json")
    assert result.payload == stored_payload(recorded)
    assert parse_doi_record(result.payload) == parse_doi_record(recorded)
    assert parse_doi_record(result.payload).title == title
    assert datacite.paths() == [f"{PREFIX}/dois/{asked}"]


def test_recorded_404_is_not_found(client, datacite):
    result = fetch_record(parse_doi(NOT_FOUND_DOI), client, BASE)

    assert (result.identifier, result.status, result.payload, result.error) == (
        NOT_FOUND_DOI,
        "not_found",
        None,
        None,
    )
    (call,) = datacite.rsps.calls
    assert call.response.status_code == 404
    assert urlsplit(call.request.url).path == f"{PREFIX}/dois/{NOT_FOUND_DOI}"


def test_errors_body_with_status_404_on_200_is_a_failed_answer_not_a_not_found(client, datacite):
    # A 200 is not DataCite's "not found" (that is a 404): an errors body with it is an answer
    # of the wrong shape, failed and asked again next run, never a not-found that would stand
    # for the record for `recheck_not_found_days` (issue 18).
    datacite.always = (
        200,
        {"Content-Type": "application/json"},
        fixture_path(NOT_FOUND).read_bytes(),
    )
    result = fetch_record(parse_doi("10.5061/dryad.8515"), client, BASE)
    assert (result.status, result.error_kind) == ("failed", "bad_answer")
    assert "errors body" in result.error


def test_503_forever_fails_after_max_attempts(client, datacite, clock):
    datacite.add(DRYAD)
    datacite.always = (503, {"Content-Type": "text/html"}, HTML_503)

    result = fetch_record(parse_doi("10.5061/dryad.8515"), client, BASE)

    assert result.status == "failed"
    assert "503" in result.error
    assert result.payload is None
    assert len(datacite.rsps.calls) == TEST_HTTP.max_attempts
    assert len([s for s in clock.sleeps if s >= 0.01]) <= TEST_HTTP.max_attempts - 1


def test_wrong_shape_is_failed_not_raised(client, datacite):
    datacite.always = (200, {"Content-Type": "application/json"}, b'{"data": []}')
    result = fetch_record(parse_doi("10.5061/dryad.8515"), client, BASE)
    assert result.status == "failed"
    assert "DataCite" in result.error


@pytest.mark.parametrize(("name", "encoded"), [(UUID, None), (TERRA, "%2B")])
def test_special_characters_are_encoded_in_the_path(client, datacite, name, encoded):
    value = datacite.add(name)
    doi = parse_doi(value)

    result = fetch_record(doi, client, BASE)

    assert (result.status, result.resolved) == ("ok", doi.key)
    (path,) = datacite.paths()
    assert path == f"{PREFIX}/dois/{quote_doi(value)}"
    assert unquote(path.removeprefix(f"{PREFIX}/dois/")) == value
    if encoded:
        assert encoded in path
        assert "+" not in path
    else:
        # quote_doi keeps ":" literal in paths, as real clients do (see identifiers._PATH_SAFE).
        assert ":" in path


def test_fetch_records_keeps_input_order(client, datacite):
    dryad, arxiv = parse_doi(datacite.add(DRYAD)), parse_doi(datacite.add(ARXIV))
    missing = parse_doi(NOT_FOUND_DOI)

    results = list(fetch_records([arxiv, missing, dryad], client, BASE))

    assert [(f.identifier, f.status) for f in results] == [
        (arxiv.key, "ok"),
        (missing.key, "not_found"),
        (dryad.key, "ok"),
    ]
    assert datacite.paths() == [
        f"{PREFIX}/dois/{arxiv.value}",
        f"{PREFIX}/dois/{missing.value}",
        f"{PREFIX}/dois/{dryad.value}",
    ]


def test_fetch_records_is_lazy(client, datacite):
    endless = (parse_doi(f"10.5555/endless-{i}") for i in itertools.count())
    gen = fetch_records(endless, client, BASE)
    first = next(gen)
    gen.close()
    assert (first.identifier, first.status) == ("10.5555/endless-0", "not_found")
    assert len(datacite.rsps.calls) == 1


def test_base_url_with_trailing_slash(client, datacite):
    datacite.add(DRYAD)
    result = fetch_record(Doi("10.5061/dryad.8515"), client, BASE + "/")
    assert result.status == "ok"
    assert datacite.paths() == [f"{PREFIX}/dois/10.5061/dryad.8515"]


# --- lists: /dois?ids=A,B,... ---


def config_for(**changes) -> Config:
    return dataclasses.replace(
        Config(), datacite=dataclasses.replace(Config().datacite, url=BASE, **changes)
    )


def fetched(dois, client, **changes) -> list:
    return [f for batch in dc.fetch(dois, client, config_for(**changes)) for f in batch]


def test_dois_are_asked_in_one_list_request_with_page_size_and_input_order(client, datacite):
    dryad, arxiv, terra = (parse_doi(datacite.add(n)) for n in (DRYAD, ARXIV, TERRA))

    results = fetched([arxiv, terra, dryad], client)

    assert [(f.identifier, f.status, f.resolved) for f in results] == [
        (d.key, "ok", d.key) for d in (arxiv, terra, dryad)
    ]
    assert datacite.paths() == [f"{PREFIX}/dois"]
    (query,) = datacite.lists()
    # ids: the DOIs as given, comma-separated ("+" sent as %2B, so it does not read as a space);
    # page[size]: as many as asked, as DataCite's default page is 25.
    assert query == {"ids": [f"{arxiv.value},{terra.value},{dryad.value}"], "page[size]": ["3"]}
    assert "%2B" in datacite.rsps.calls[0].request.url
    for f, name in zip(results, (ARXIV, TERRA, DRYAD), strict=True):
        assert parse_doi_record(f.payload) == parse_doi_record(load_json(f"datacite/{name}.json"))


def test_recorded_list_answer_parses_into_its_records():
    body = load_json(LIST)
    items = parse_doi_list(body)
    assert [i["id"] for i in items] == [
        "10.5061/dryad.8515",
        "10.1038/nature12373",
        "10.1126/science.1259855",
    ]
    records = [parse_doi_record({"data": i}) for i in items]
    assert [(r.doi, r.title, r.type, r.issued) for r in records] == [
        (
            "10.5061/dryad.8515",
            "Data from: A new malaria agent in African hominids.",
            "dataset",
            "2011",
        ),
        (
            "10.1038/nature12373",
            "Nanometre-scale thermometry in a living cell",
            "journal-article",
            "2013",
        ),
        (
            "10.1126/science.1259855",
            "Planetary boundaries: Guiding human development on a changing planet",
            "journal-article",
            "2015",
        ),
    ]
    assert [dc.check_answer({"data": i}) for i in items] == [r.doi for r in records]


@pytest.mark.parametrize(
    "body",
    [{"data": {"id": "10.5061/dryad.8515", "type": "dois", "attributes": {}}}, [], {"meta": {}}],
)
def test_an_answer_that_is_not_a_list_is_refused(body):
    with pytest.raises(dc.BadPayload):
        parse_doi_list(body)


def test_recorded_list_answer_the_missing_doi_is_asked_singly_and_is_not_found(client, datacite):
    datacite.list_answer = (200, JSON_TYPE, fixture_path(LIST).read_bytes())
    asked = [parse_doi(d) for d in LIST_ASKED]

    results = fetch_batch(asked, client, BASE)

    assert [(f.identifier, f.status) for f in results] == [
        ("10.1038/nature12373", "ok"),
        ("10.5061/dryad.8515", "ok"),  # asked upper-case, answered lower-case
        ("10.9999/doesnotexist", "not_found"),
        ("10.1126/science.1259855", "ok"),
    ]
    (query,) = datacite.lists()
    assert query["ids"] == [",".join(LIST_ASKED)]
    assert datacite.singles() == ["10.9999/doesnotexist"]
    dryad = results[1]
    assert dryad.payload == {"data": parse_doi_list(load_json(LIST))[0]}
    assert parse_doi_record(dryad.payload).title == (
        "Data from: A new malaria agent in African hominids."
    )


def test_a_doi_the_index_has_not_caught_up_with_is_found_singly(client, datacite):
    # A list miss is not authoritative (the index lags the registry): /dois/{doi} decides.
    dryad, arxiv = parse_doi(datacite.add(DRYAD)), parse_doi(datacite.add(ARXIV))
    datacite.hidden.add(arxiv.key)

    results = fetch_batch([dryad, arxiv], client, BASE)

    assert [(f.identifier, f.status) for f in results] == [(dryad.key, "ok"), (arxiv.key, "ok")]
    assert datacite.singles() == [arxiv.value]
    assert parse_doi_record(results[1].payload).doi == "10.48550/arxiv.2311.16162"


def test_a_thousand_dois_take_ten_list_requests(client, datacite):
    dois = datacite.add_copies(DRYAD, 1000)

    results = fetched(dois, client)

    assert [f.identifier for f in results] == [d.key for d in dois]
    assert {f.status for f in results} == {"ok"}
    assert len(datacite.rsps.calls) == 10  # the target: at most 25 per 1,000 DOIs
    assert [q["page[size]"] for q in datacite.lists()] == [["100"]] * 10


def test_batch_size_is_configurable(client, datacite):
    dois = datacite.add_copies(DRYAD, 7)
    results = fetched(dois, client, batch_size=3)
    assert [f.status for f in results] == ["ok"] * 7
    assert [len(q["ids"][0].split(",")) for q in datacite.lists()] == [3, 3, 1][:2]
    assert datacite.singles() == [dois[6].value]  # a batch of one is the single look-up


def test_list_urls_stay_under_max_url_bytes():
    dois = [parse_doi(f"10.5281/zenodo.{10**12 + i}") for i in range(300)]
    batches = list(plan_batches(dois, BASE, 100, 600))
    assert [d for b in batches for d in b] == dois
    assert len(batches) > 3  # the URL bound, not the batch size, cut them
    for batch in batches:
        assert len(list_url(BASE, batch)) <= 600
    assert len(list_url(BASE, batches[0] + batches[1][:1])) > 600  # each is as full as it can be


def test_a_doi_with_a_comma_travels_alone():
    plain = [parse_doi("10.5061/dryad.8515"), parse_doi("10.5061/dryad.234")]
    comma = parse_doi("10.1002/(sici)1097-4571(199806)49:8<693::aid-asi4>3.0.co;2-0,x")
    batches = list(plan_batches([plain[0], comma, plain[1]], BASE, 100, 4000))
    assert batches == [[plain[0]], [comma], [plain[1]]]


def test_a_500_on_a_list_splits_it_in_halves(client, datacite):
    dois = datacite.add_copies(DRYAD, 4)
    poisoned = dois[2].value
    datacite.poisoned.add(dois[2].key)
    results = fetch_batch(dois, client, BASE)

    assert [f.status for f in results] == ["ok", "ok", "ok", "ok"]  # the poisoned one singly
    assert [q["ids"][0].count(",") + 1 for q in datacite.lists()] == [4, 2, 2]
    assert datacite.singles() == [poisoned, dois[3].value]


def test_a_refused_list_falls_back_on_single_look_ups(client, datacite):
    dryad, arxiv = parse_doi(datacite.add(DRYAD)), parse_doi(datacite.add(ARXIV))
    datacite.list_answer = (400, JSON_TYPE, fixture_path(ERROR_400).read_bytes())
    results = fetch_batch([dryad, arxiv], client, BASE)
    assert [f.status for f in results] == ["ok", "ok"]
    assert datacite.singles() == [dryad.value, arxiv.value]


def test_a_list_failing_for_good_fails_the_batch_without_asking_each_doi(client, datacite):
    dois = datacite.add_copies(DRYAD, 3)
    datacite.list_answer = (503, {"Content-Type": "text/html"}, HTML_503)
    results = fetch_batch(dois, client, BASE)
    assert [f.status for f in results] == ["failed"] * 3
    assert datacite.singles() == []
    assert len(datacite.lists()) == TEST_HTTP.max_attempts


# --- what is stored: the JSON without its base64 XML copy ---


@pytest.mark.parametrize("name", [DRYAD, ARXIV, UUID, TERRA])
def test_the_base64_xml_is_not_stored_and_the_record_reads_the_same(client, datacite, name):
    recorded = load_json(f"datacite/{name}.json")
    assert recorded["data"]["attributes"]["xml"]
    value = datacite.add(name)

    result = fetch_record(parse_doi(value), client, BASE)

    assert result.status == "ok"
    assert "xml" not in result.payload["data"]["attributes"]
    assert set(result.payload["data"]["relationships"]) == {"client"}
    assert parse_doi_record(result.payload) == parse_doi_record(recorded)
    before, after = len(json.dumps(recorded)), len(json.dumps(result.payload))
    assert after < 0.75 * before


def test_the_xml_is_kept_when_the_json_holds_no_record():
    body = {
        "data": {
            "id": "10.5061/x",
            "type": "dois",
            "attributes": {
                "doi": "10.5061/x",
                "titles": [],
                "creators": [],
                "xml": "PHJlc291cmNlLz4=",
            },
        }
    }
    assert stored_payload(body) == body
    body["data"]["attributes"]["titles"] = [{"title": "T"}]
    assert "xml" not in stored_payload(body)["data"]["attributes"]
    assert body["data"]["attributes"]["xml"] == "PHJlc291cmNlLz4="  # the answer left unchanged


def test_stored_payload_leaves_other_shapes_to_check_answer():
    for body in ([], {"errors": []}, {"data": []}, "text"):
        assert stored_payload(body) is body


def test_parser_version_says_payloads_changed():
    assert dc.PARSER_VERSION >= 3
