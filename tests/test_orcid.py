"""ORCID's public API v3.0 (issue 21): the works of a record, parsed from the recorded answers
in fixtures/orcid/, and fetched through the harvester's HTTP client against `responses`."""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest
import responses
from conftest import KEPT
from fakes import UNPACED, fake_client

from harvester import sources
from harvester.config import Config, OrcidConfig, load_config
from harvester.errors import BadIdentifier, BadPayload, ConfigError, NotFound
from harvester.sources import orcid

WORKS = KEPT / "orcid" / "0000-0003-1444-9135_works_6-groups.json"
EMPTY = KEPT / "orcid" / "0000-0003-1620-1408_works_empty.json"
ERROR_404 = KEPT / "orcid" / "error_404_Asfaf_person.json"
JSON_TYPE = "application/json;charset=UTF-8"  # as the sidecars record it


def body(path):
    return json.loads(path.read_bytes())


# --- iDs ---


@pytest.mark.parametrize(
    "text",
    [
        "0000-0003-1444-9135",
        "0000000314449135",
        "https://orcid.org/0000-0003-1444-9135",
        " http://orcid.org/0000-0003-1444-9135/ ",
    ],
)
def test_an_orcid_id_is_read_from_its_usual_forms(text):
    assert orcid.parse_orcid(text) == "0000-0003-1444-9135"


def test_an_x_check_digit_is_upper_case():
    # An iD whose check digit is 10, written X.
    assert orcid.parse_orcid("0000-0002-1694-233x") == "0000-0002-1694-233X"


def test_a_wrong_check_digit_is_refused_saying_which_digit_was_expected():
    with pytest.raises(BadIdentifier) as caught:
        orcid.parse_orcid("0000-0003-1444-9136")
    assert "check digit is 6" in str(caught.value) and "give 5" in str(caught.value)


@pytest.mark.parametrize("text", ["", "0000-0003-1444-913", "0000-0003-1444-91355", "Asfaf"])
def test_what_is_not_an_orcid_id_is_refused(text):
    with pytest.raises(BadIdentifier, match="not an ORCID iD"):
        orcid.parse_orcid(text)


# --- parse: the 6-group record ---


def test_each_group_is_one_work_with_its_put_codes_sources_and_own_ids():
    works = orcid.parse_works(body(WORKS))
    summary = [(w.put_codes, w.sources, [d.value for d in w.dois], w.part_of) for w in works]
    assert summary == [
        ((44924450,), ("Crossref",), ["10.3897/biss.2.25589"], ()),
        ((47331250,), ("DataCite",), ["10.5281/ZENODO.1238947"], ()),
        (
            (13215475,),
            ("Crossref Metadata Search",),
            ["10.1111/ele.12279"],
            (("issn", "1461-023X"),),
        ),
        (
            (13215478, 21955246),
            ("Crossref Metadata Search", "Crossref"),
            ["10.1111/1365-2745.12293"],
            (("issn", "0022-0477"),),
        ),
        ((9011420,), ("figshare",), [], ()),
        ((9011431,), ("figshare",), [], ()),
    ]
    # Every put-code of the answer is in exactly one work.
    recorded = [s["put-code"] for g in body(WORKS)["group"] for s in g["work-summary"]]
    assert [code for w in works for code in w.put_codes] == recorded


def test_a_works_title_year_and_type_are_its_summaries():
    works = orcid.parse_works(body(WORKS))
    assert [(w.title, w.year, w.type) for w in works] == [
        ("Phylogeny Based Biodiversity Data Queries", 2018, "journal-article"),
        ("Ropensci/Suppdata: Submission To Joss", 2018, "other"),
        ("How context dependent are species interactions?", 2014, "journal-article"),
        (
            "Phylogenetic tree shape and the structure of mutualistic networks",
            2014,
            "journal-article",
        ),
        ("Correlations among network and community structure metrics", None, "journal-article"),
        ("species level modularity vis", None, "journal-article"),
    ]


def test_a_datacite_doi_in_capitals_has_the_key_of_its_lower_case_form():
    zenodo = orcid.parse_works(body(WORKS))[1]
    assert zenodo.dois[0].key == "10.5281/zenodo.1238947"


def test_the_issn_a_work_is_part_of_is_not_one_of_its_own_ids():
    ele = orcid.parse_works(body(WORKS))[2]
    assert ele.other_ids == () and ele.handles == () and ele.unreadable == ()
    assert ele.part_of == (("issn", "1461-023X"),)


def test_two_sources_of_one_doi_are_one_work_with_one_doi():
    tree = orcid.parse_works(body(WORKS))[3]
    assert len(tree.dois) == 1 and tree.sources == ("Crossref Metadata Search", "Crossref")


def test_the_record_and_each_group_carry_their_last_modified_date():
    record = body(WORKS)
    assert orcid.parse_last_modified(record) == "2018-08-10T20:50:43.573Z"  # 1533934243573 ms
    assert orcid.parse_works(record)[0].last_modified == "2018-05-21T07:37:31.009Z"


def test_a_doi_that_is_not_a_doi_is_skipped_and_counted():
    record = copy.deepcopy(body(WORKS))
    for holder in (record["group"][0], record["group"][0]["work-summary"][0]):
        holder["external-ids"]["external-id"][0]["external-id-value"] = "biss.2.25589"
    work = orcid.parse_works(record)[0]
    assert work.dois == () and work.unreadable == (("doi", "biss.2.25589"),)
    assert work.put_codes == (44924450,)  # the work itself is still there


def test_a_record_with_no_works_has_none_and_no_watermark():
    assert orcid.parse_works(body(EMPTY)) == []
    assert orcid.parse_last_modified(body(EMPTY)) is None


def test_the_error_body_says_what_orcid_said():
    error = orcid.parse_error(body(ERROR_404))
    assert error is not None
    assert (error.status, error.code) == (404, 9016)
    assert "ORCID iD Asfaf not found" in str(error) and str(error).endswith("(error 9016)")
    assert orcid.parse_error(body(WORKS)) is None


def test_an_error_body_is_not_a_works_list():
    with pytest.raises(BadPayload, match="ORCID iD Asfaf not found"):
        orcid.parse_works(body(ERROR_404))


def test_a_group_without_a_summary_is_a_bad_answer():
    record = copy.deepcopy(body(WORKS))
    record["group"][2]["work-summary"] = []
    with pytest.raises(BadPayload, match="group 2 holds no work-summary"):
        orcid.parse_works(record)


# --- fetch ---

ID = "0000-0003-1444-9135"
URL = f"https://pub.orcid.org/v3.0/{ID}/works"


def client(config: Config):
    return fake_client(config, pools={orcid.POOL: UNPACED})


@responses.activate
def test_fetch_asks_for_json_without_a_token_and_checks_the_answer():
    responses.get(URL, body=WORKS.read_bytes(), content_type=JSON_TYPE)
    answer = orcid.fetch_works(f"https://orcid.org/{ID}", client(Config()), Config())
    assert answer.orcid == ID and len(orcid.parse_works(answer.payload)) == 6
    sent = responses.calls[0].request.headers
    assert sent["Accept"] == "application/json" and "Authorization" not in sent
    assert "harvester" in sent["User-Agent"]  # through the house client, not a bare requests


@responses.activate
def test_a_configured_token_is_sent_as_a_bearer_token():
    responses.get(URL, body=WORKS.read_bytes(), content_type=JSON_TYPE)
    config = Config(orcid=OrcidConfig(token="member-token-1234"))
    orcid.fetch_works(ID, client(config), config)
    assert responses.calls[0].request.headers["Authorization"] == "Bearer member-token-1234"


@responses.activate
def test_the_base_url_is_the_configured_one():
    mirror = "http://127.0.0.1:8080/orcid"
    responses.get(f"{mirror}/v3.0/{ID}/works", body=WORKS.read_bytes(), content_type=JSON_TYPE)
    config = Config(orcid=OrcidConfig(url=mirror + "/"))
    assert orcid.fetch_works(ID, client(config), config).orcid == ID


@responses.activate
def test_a_404_is_not_found_with_orcids_message():
    responses.get(URL, status=404, body=ERROR_404.read_bytes(), content_type=JSON_TYPE)
    with pytest.raises(NotFound) as caught:
        orcid.fetch_works(ID, client(Config()), Config())
    assert f"no such ORCID record {ID}" in str(caught.value)
    assert "(error 9016)" in str(caught.value) and caught.value.status == 404


@responses.activate
def test_a_409_is_a_deactivated_record_not_a_retry():
    # No recorded body of a deactivated record was found (see the report): status 409 alone
    # must say it, and the request is not asked again.
    responses.get(URL, status=409, body=b"")
    with pytest.raises(orcid.RecordUnavailable) as caught:
        orcid.fetch_works(ID, client(Config()), Config())
    assert caught.value.deactivated and caught.value.status == 409
    assert f"ORCID record {ID} is deactivated" in str(caught.value)
    assert len(responses.calls) == 1


@responses.activate
def test_a_bad_check_digit_is_refused_before_any_request():
    with pytest.raises(BadIdentifier):
        orcid.fetch_works("0000-0003-1444-9136", client(Config()), Config())
    assert len(responses.calls) == 0


@responses.activate
def test_the_works_of_another_record_are_a_bad_answer():
    responses.get(URL, body=EMPTY.read_bytes(), content_type=JSON_TYPE)  # 0000-0003-1620-1408's
    with pytest.raises(BadPayload, match="answered with '/0000-0003-1620-1408/works'"):
        orcid.fetch_works(ID, client(Config()), Config())


@responses.activate
def test_a_client_from_connect_gets_the_orcid_pool_paced_as_configured():
    responses.get(URL, body=WORKS.read_bytes(), content_type=JSON_TYPE)
    config = Config()
    http = sources.connect(config)
    assert not http.has_limiter(orcid.POOL)
    orcid.fetch_works(ID, http, config)
    assert http.has_limiter(orcid.POOL)


# --- config ---


def test_the_defaults_pace_orcid_under_its_public_limit():
    default = Config().orcid
    assert default.url == "https://pub.orcid.org" and default.token == ""
    assert 0 < default.rate < 12  # ORCID's public API: 12 requests/s, burst 40


def test_the_url_and_the_token_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(
        env={"HARVEST_ORCID_URL": "http://127.0.0.1:9/orcid", "HARVEST_ORCID_TOKEN": "tok-5678"}
    )
    assert config.orcid == dataclasses.replace(
        OrcidConfig(), url="http://127.0.0.1:9/orcid", token="tok-5678"
    )


def test_an_orcid_url_that_cannot_work_is_a_config_error(tmp_path):
    path = tmp_path / "h.toml"
    path.write_text('[orcid]\nurl = "pub.orcid.org"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[orcid\] url must start with http"):
        load_config(path, env={})
