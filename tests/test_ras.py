"""The RePEc Author Service (issue 21): ReDIF-Person records parsed from the real RAS files in
fixtures/redif/, and read from a local copy of per/pers or over http (`responses`)."""

from __future__ import annotations

import re
import shutil

import pytest
import responses
from conftest import KEPT
from fakes import UNPACED, fake_client

from harvester.config import Config, RasConfig, load_config
from harvester.errors import BadIdentifier, BadPayload, ConfigError, NotFound
from harvester.identifiers import parse_repec
from harvester.sources import ras

PBE27 = KEPT / "redif" / "ras_pbe27.redif"
PRY2 = KEPT / "redif" / "ras_pry2.redif"
PAPERS = KEPT / "redif" / "ceu_econwp_2012_1.rdf"  # a series file: works, no person


def claim_lines(path) -> dict[str, int]:
    """The claims counted by reading the file as text, one `author-KIND:` line each."""
    counts: dict[str, int] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if match := re.match(r"(?i)author-([a-z]+)\s*:", line):
            counts[match[1].lower()] = counts.get(match[1].lower(), 0) + 1
    return counts


# --- parse ---


def test_a_person_has_its_short_id_handle_and_names():
    person = ras.parse_person(PBE27.read_bytes(), "per/pers/b/pbe27.redif")
    assert person.short_id == "pbe27"
    assert person.handle == "RePEc:per:1958-01-07:roland_benabou"
    assert (person.name_first, person.name_middle, person.name_last, person.name_full) == (
        "Roland",
        "J.",
        "Benabou",
        "Roland Benabou",
    )


def test_six_workplaces_each_with_its_institution_name_and_share():
    person = ras.parse_person(PBE27.read_bytes(), "pbe27.redif")
    assert [(w.institution, w.share) for w in person.workplaces] == [
        ("RePEc:edi:deprius", 21),
        ("RePEc:edi:nberrus", 21),
        ("RePEc:edi:cebruuk", 21),
        ("RePEc:edi:izaaade", 21),
        ("RePEc:edi:eciarca", 12),
        ("RePEc:edi:siciaca", 4),
    ]
    # A name wrapped onto a "/ ..." line is one name.
    assert person.workplaces[0].name == "Princeton University / Department of Economics"
    assert person.workplaces[4].name == (
        "Canadian Institute for Advanced Research (CIFAR) "
        "/ Program in Institutions, Organizations and Growth"
    )


def test_every_claim_is_read_by_kind_as_the_file_counts_them():
    person = ras.parse_person(PBE27.read_bytes(), "pbe27.redif")
    by_kind = {kind: len(claims) for kind, claims in person.claims_by_kind().items()}
    assert by_kind == claim_lines(PBE27) == {"paper": 99, "article": 38, "chapter": 3, "book": 1}
    assert len(person.claims) == 141 and person.unreadable == ()
    assert person.claims[0] == ras.Claim(
        "paper", "RePEc:cpm:cepmap:8622", "repec:cpm:cepmap:8622", None
    )


def test_the_doi_claim_is_a_handle_and_a_doi():
    person = ras.parse_person(PBE27.read_bytes(), "pbe27.redif")
    [claim] = [c for c in person.claims if c.doi is not None]
    assert claim.kind == "article" and claim.handle == "RePEc:ucp:jpolec:doi:10.1086/684853"
    assert claim.doi.value == "10.1086/684853"


def test_a_claimed_handle_ending_in_a_dot_has_the_key_of_the_works_own_handle():
    person = ras.parse_person(PBE27.read_bytes(), "pbe27.redif")
    dotted = [c for c in person.claims if c.as_written.endswith(".")]
    assert len(dotted) == 10 and all(c.kind == "article" for c in dotted)
    for claim in dotted:
        assert not claim.handle.endswith(".")
        # what redif.py makes of a work template's own Handle, so the two meet in the store
        assert claim.handle == parse_repec(claim.as_written).value
    assert "RePEc:oup:qjecon:v:117:y:2002:i:3:p:871-915" in [c.handle for c in dotted]


def test_a_person_without_a_workplace():
    person = ras.parse_person(PRY2.read_bytes(), "pry2.redif")
    assert (person.short_id, person.name_full, person.workplaces) == ("pry2", "John Ryding", ())
    by_kind = {kind: len(claims) for kind, claims in person.claims_by_kind().items()}
    assert by_kind == claim_lines(PRY2) == {"paper": 2, "article": 4, "book": 1}
    assert person.claims_by_kind()["book"][0].handle == "RePEc:fip:fednmo:1990triclit"


def test_text_and_bytes_read_alike():
    assert ras.parse_person(PRY2.read_text(encoding="utf-8"), "pry2.redif") == ras.parse_person(
        PRY2.read_bytes(), "pry2.redif"
    )


def test_a_claim_that_is_no_handle_is_counted_and_the_rest_kept():
    text = PRY2.read_text(encoding="utf-8") + "\nauthor-paper: repec:fip:fed\n"
    person = ras.parse_person(text, "pry2.redif")
    assert person.unreadable == (("paper", "repec:fip:fed"),)
    assert len(person.claims) == 7


def test_a_file_of_works_is_not_a_person():
    with pytest.raises(BadPayload, match="no ReDIF-Person template"):
        ras.parse_person(PAPERS.read_bytes(), "ceu/econwp/x.rdf")


@pytest.mark.parametrize("text", ["pbe27", "PBE27", " pry2 "])
def test_a_short_id_is_lower_case(text):
    assert ras.parse_short_id(text) in ("pbe27", "pry2")


@pytest.mark.parametrize("text", ["", "be27", "pbe", "p27", "pbe27/../x", "RePEc:per:1958"])
def test_what_is_not_a_short_id_is_refused(text):
    with pytest.raises(BadIdentifier, match="not a RePEc author short-id"):
        ras.parse_short_id(text)


# --- fetch ---


@pytest.fixture
def tree(tmp_path):
    """A copy of per/pers with the two real records, in the configured default layout."""
    for short_id, source in (("pbe27", PBE27), ("pry2", PRY2)):
        folder = tmp_path / "pers" / short_id[1]
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, folder / f"{short_id}.rdf")
    return tmp_path / "pers"


def local(url: str) -> Config:
    return Config(ras=RasConfig(url=url))


def test_a_person_is_read_from_a_local_folder(tree):
    config = local(str(tree))
    person = ras.read_person("PBE27", fake_client(config), config)
    assert person.short_id == "pbe27" and len(person.claims) == 141


def test_a_file_url_works_the_same(tree):
    config = local(tree.as_uri())
    assert ras.read_person("pry2", fake_client(config), config).name_full == "John Ryding"


def test_an_unknown_short_id_is_no_such_person(tree):
    config = local(str(tree))
    with pytest.raises(NotFound, match="no such RAS person pxx123"):
        ras.read_person("pxx123", fake_client(config), config)


def test_a_bad_short_id_is_refused_before_anything_is_read(tmp_path):
    config = local(str(tmp_path / "nowhere"))  # not even the folder exists
    with pytest.raises(BadIdentifier):
        ras.read_person("x123", fake_client(config), config)


def test_without_a_url_it_says_what_to_set():
    with pytest.raises(ConfigError, match=r"\[ras\] url is not set"):
        ras.read_person("pbe27", fake_client(Config()), Config())


def test_the_path_template_is_the_configured_one(tmp_path):
    (tmp_path / "pbe27.redif").write_bytes(PBE27.read_bytes())
    config = Config(ras=RasConfig(url=str(tmp_path), path="{short_id}.redif"))
    assert ras.read_person("pbe27", fake_client(config), config).short_id == "pbe27"


def test_a_file_holding_another_person_is_a_bad_answer(tree):
    (tree / "b" / "pbe27.rdf").write_bytes(PRY2.read_bytes())
    config = local(str(tree))
    with pytest.raises(BadPayload, match="holds the record of pry2, not of pbe27"):
        ras.read_person("pbe27", fake_client(config), config)


MIRROR = "http://127.0.0.1:8080/RePEc/per/pers"


def http_client(config: Config):
    return fake_client(config, pools={ras.POOL: UNPACED})


@responses.activate
def test_a_person_is_read_over_http():
    responses.get(f"{MIRROR}/b/pbe27.rdf", body=PBE27.read_bytes())
    config = local(MIRROR + "/")
    person = ras.read_person("pbe27", http_client(config), config)
    assert person.handle == "RePEc:per:1958-01-07:roland_benabou"
    assert [c.request.url for c in responses.calls] == [f"{MIRROR}/b/pbe27.rdf"]


@responses.activate
def test_a_404_over_http_is_no_such_person():
    responses.get(f"{MIRROR}/x/pxx123.rdf", status=404)
    config = local(MIRROR)
    with pytest.raises(NotFound, match="no such RAS person pxx123"):
        ras.read_person("pxx123", http_client(config), config)


# --- config ---


def test_the_ras_url_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(env={"HARVEST_RAS_URL": MIRROR})
    assert config.ras == RasConfig(url=MIRROR)


@pytest.mark.parametrize(
    ("path", "message"),
    [("{letter}/x.rdf", "must hold {short_id}"), ("{short_id}/{handle}.rdf", "only {short_id}")],
)
def test_a_path_that_cannot_name_a_person_is_a_config_error(tmp_path, path, message):
    file = tmp_path / "h.toml"
    file.write_text(f'[ras]\npath = "{path}"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(file, env={})
