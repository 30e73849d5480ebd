"""Parsing of pasted DOIs and RePEc handles, and how DOIs are put into URLs."""

from __future__ import annotations

import json
from urllib.parse import quote, unquote, urlsplit

import pytest
from conftest import FIXTURES
from hypothesis import assume, example, given
from hypothesis import strategies as st

from harvester.errors import BadIdentifier
from harvester.identifiers import (
    Doi,
    RepecHandle,
    doi_key,
    isbn13,
    issn,
    parse_doi,
    parse_identifier,
    parse_repec,
    quote_doi,
    quote_doi_query,
)

SEED_DOI = "10.1177/0950017014538339"
SEED_HANDLE = "RePEc:sae:woemps:v:29:y:2015:i:4:p:624-640"
SICI_ASIS = "10.1002/(SICI)1097-4571(199806)49:8<693::AID-ASI4>3.0.CO;2-O"
SICI_ECOLOGY = "10.1890/0012-9658(2006)87[2832:TIOPMA]2.0.CO;2"
SICI_SPECIALS = "10.1002/(SICI)1521-3773(20000103)39:1<165::AID-ANIE165>3.0.CO;2-#+x"


def refusal(parse, text: str) -> BadIdentifier:
    """The BadIdentifier that `parse` raises for `text` (the test fails if it raises none)."""
    with pytest.raises(BadIdentifier) as caught:
        parse(text)
    return caught.value


# --------------------------------------------------------------------------- DOIs: accepted forms

ACCEPTED = [
    # bare and prefixed
    (SEED_DOI, SEED_DOI),
    (f"doi:{SEED_DOI}", SEED_DOI),
    (f"DOI: {SEED_DOI}", SEED_DOI),
    (f"DoI:{SEED_DOI}", SEED_DOI),
    (f"doi {SEED_DOI}", SEED_DOI),
    (f"DOI\u00a0{SEED_DOI}", SEED_DOI),
    (f"info:doi/{SEED_DOI}", SEED_DOI),
    (f"INFO:DOI/{SEED_DOI}", SEED_DOI),
    (f"urn:doi:{SEED_DOI}", SEED_DOI),
    (f"URN:DOI:{SEED_DOI}", SEED_DOI),
    # resolver URLs
    (f"https://doi.org/{SEED_DOI}", SEED_DOI),
    (f"http://doi.org/{SEED_DOI}", SEED_DOI),
    (f"http://dx.doi.org/{SEED_DOI}", SEED_DOI),
    (f"https://dx.doi.org/{SEED_DOI}", SEED_DOI),
    (f"https://www.doi.org/{SEED_DOI}", SEED_DOI),
    (f"HTTPS://DOI.ORG/{SEED_DOI}", SEED_DOI),
    (f"doi.org/{SEED_DOI}", SEED_DOI),
    (f"dx.doi.org/{SEED_DOI}", SEED_DOI),
    (f"doi.org/urn:doi:{SEED_DOI}", SEED_DOI),
    (f"https://doi.org/doi:{SEED_DOI}", SEED_DOI),
    # percent-encoding
    ("10.1000%2F182", "10.1000/182"),
    ("10.1000%2f182", "10.1000/182"),
    ("https://doi.org/10.1000%2F182", "10.1000/182"),
    ("https%3A%2F%2Fdoi.org%2F10.1000%2F182", "10.1000/182"),
    (
        "https://doi.org/10.1002%2F%28SICI%291097-4571%28199806%2949%3A8%3C693%3A%3AAID-ASI4%3E3.0.CO%3B2-O",
        SICI_ASIS,
    ),
    ("https://doi.org/10.1890/0012-9658(2006)87%5B2832:TIOPMA%5D2.0.CO;2", SICI_ECOLOGY),
    ("https://doi.org/10.1000/caf%C3%A9", "10.1000/café"),
    ("10.1000/100%", "10.1000/100%"),  # a "%" without two hex digits is part of the DOI
    ("10.1000/50%off", "10.1000/50%off"),
    ("10.1000/a%2", "10.1000/a%2"),
    # surrounding whitespace, quotes and brackets
    (f"  {SEED_DOI}\n", SEED_DOI),
    (f"\t{SEED_DOI}\r\n", SEED_DOI),
    (f'"{SEED_DOI}"', SEED_DOI),
    (f"'{SEED_DOI}'", SEED_DOI),
    (f"“{SEED_DOI}”", SEED_DOI),
    (f"‘{SEED_DOI}’", SEED_DOI),
    (f"«{SEED_DOI}»", SEED_DOI),
    (f"„{SEED_DOI}“", SEED_DOI),
    (f"({SEED_DOI})", SEED_DOI),
    (f"[{SEED_DOI}]", SEED_DOI),
    (f"<{SEED_DOI}>", SEED_DOI),
    (f"<https://doi.org/{SEED_DOI}>", SEED_DOI),
    (f'"doi:{SEED_DOI}"', SEED_DOI),
    (f"(doi:{SEED_DOI}).", SEED_DOI),
    (f'href="https://doi.org/{SEED_DOI}"'[6:], SEED_DOI),
    (f'{SEED_DOI}"', SEED_DOI),  # the tail of href="..."
    # trailing sentence punctuation
    (f"{SEED_DOI}.", SEED_DOI),
    (f"{SEED_DOI},", SEED_DOI),
    (f"{SEED_DOI};", SEED_DOI),
    (f"{SEED_DOI}:", SEED_DOI),
    (f"{SEED_DOI}).", SEED_DOI),
    (f"see doi:{SEED_DOI}."[4:], SEED_DOI),
    # invisible characters anywhere, Unicode spaces around
    (f"\u200b{SEED_DOI}\u200b", SEED_DOI),
    ("10.1177/\u200c0950017014538339", SEED_DOI),
    ("10.1177\u200d/0950017014538339", SEED_DOI),
    ("10.\u20601177/0950017014538339", SEED_DOI),
    (f"\ufeff{SEED_DOI}", SEED_DOI),
    ("10.1177/09500\u00ad17014538339", SEED_DOI),
    (f"\u00a0{SEED_DOI}\u00a0", SEED_DOI),
    (f"\u2003\u3000{SEED_DOI}\u202f", SEED_DOI),
    (f"https://doi.org/\u200b{SEED_DOI}", SEED_DOI),
    # registrant sub-parts, case and Unicode
    ("10.1000.10/123", "10.1000.10/123"),
    ("10.1000/ÄBC", "10.1000/ÄBC"),
    ("10.1000/cafe\u0301", "10.1000/café"),  # decomposed accent, NFC
    ("10.1000/abc(1)", "10.1000/abc(1)"),  # balanced ")" belongs to the DOI
    ("(10.1000/abc(1))", "10.1000/abc(1)"),
    ("10.1000/abc)", "10.1000/abc"),  # unbalanced ")" belongs to the sentence
    ("10.1000/a;b", "10.1000/a;b"),
    ("10.1000/a:b", "10.1000/a:b"),
    ("10.1000/a?b#c", "10.1000/a?b#c"),
    ("10.2210/pdb4hhb/pdb", "10.2210/pdb4hhb/pdb"),
    # SICI DOIs intact
    (SICI_ASIS, SICI_ASIS),
    (SICI_ECOLOGY, SICI_ECOLOGY),
    (SICI_SPECIALS, SICI_SPECIALS),
    (f"({SICI_ASIS})", SICI_ASIS),
    (f"[{SICI_ECOLOGY}]", SICI_ECOLOGY),
    (f"<{SICI_ASIS}>", SICI_ASIS),
    (f"doi:{SICI_ECOLOGY}.", SICI_ECOLOGY),
    (f"https://doi.org/{SICI_SPECIALS};", SICI_SPECIALS),
    ("10.1111/(ISSN)1442-9993", "10.1111/(ISSN)1442-9993"),
]


@pytest.mark.parametrize(("text", "value"), ACCEPTED)
def test_parse_doi_accepts_pasted_forms(text: str, value: str) -> None:
    doi = parse_doi(text)
    assert doi == Doi(value)
    assert doi.value == value
    assert str(doi) == value
    assert doi.key == value.translate(
        str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
    )
    assert parse_identifier(text) == doi
    assert doi_key(text) == doi.key


def test_seed_doi() -> None:
    doi = parse_doi(SEED_DOI)
    assert doi.value == doi.key == SEED_DOI


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("10.1000/ÄBC", "10.1000/Äbc"),  # only ASCII letters fold
        ("10.1000/ÉCOLE", "10.1000/École"),
        ("10.1000/STRASSE-ß", "10.1000/strasse-ß"),  # no Unicode case folding ("ß" stays)
        ("10.1000/İI", "10.1000/İi"),
        ("10.1000/ΣΑ", "10.1000/ΣΑ"),
        (SICI_ASIS, "10.1002/(sici)1097-4571(199806)49:8<693::aid-asi4>3.0.co;2-o"),
        (SICI_ECOLOGY, "10.1890/0012-9658(2006)87[2832:tiopma]2.0.co;2"),
    ],
)
def test_key_folds_only_ascii(value: str, key: str) -> None:
    assert parse_doi(value).key == key
    assert parse_doi(value).value == value


def test_doi_is_hashable_and_frozen() -> None:
    doi = parse_doi(SEED_DOI)
    assert {doi, parse_doi(f"doi:{SEED_DOI}")} == {doi}
    with pytest.raises(AttributeError):
        doi.value = "10.1/x"  # type: ignore[misc]


# --------------------------------------------------------------------------- DOIs: rejections

REJECTED = [
    ("", "empty input"),
    ("   ", "empty input"),
    ("\u00a0\n", "empty input"),
    ("hello", "not a DOI: it must start with 10."),
    ("11.1000/abc", "not a DOI: it must start with 10."),
    ("https://example.org/10.1000/abc", "not a DOI: it must start with 10."),
    ("https://doi.org/", "not a DOI: it must start with 10."),
    ('""', "not a DOI: it must start with 10."),
    ("\u200b", "not a DOI: it must start with 10."),
    ("10.1000/", "empty suffix"),
    ("doi:10.1000/", "empty suffix"),
    ("10.1000", "missing / between registrant code and suffix"),
    ("10./abc", "registrant code must be digits, e.g. 10.1000/"),
    ("10.abc/def", "registrant code must be digits, e.g. 10.1000/"),
    ("10.1000./abc", "registrant code must be digits, e.g. 10.1000/"),
    ("10.10 00/abc", "registrant code must be digits, e.g. 10.1000/"),
    ("10.1000/ab\x00c", "contains a control character"),
    ("10.1000/ab\x1fc", "contains a control character"),
    ("10.1000/ab\x7fc", "contains a control character"),
    ("10.1000/ab\tc", "contains a control character"),
    ("10.1000/ab%00c", "contains a control character"),
    ("10.1000/a\ud800", "contains an unpaired surrogate"),
    ("10.1000/ab c", "whitespace inside the suffix"),
    ("10.1000/ab\u00a0c", "whitespace inside the suffix"),
    ("10.1000/ab%20c", "whitespace inside the suffix"),
    ("10.1000/" + "x" * 1000, "too long (more than 1000 characters)"),
    (" " * 5000 + SEED_DOI, "too long (more than 1000 characters)"),
    ("10.1000/a%2541", "ambiguous percent-encoding (encoded twice?)"),
    ("10.1000/a%FF", "percent-encoding is not valid UTF-8"),
]


@pytest.mark.parametrize(("text", "reason"), REJECTED)
def test_parse_doi_rejects(text: str, reason: str) -> None:
    refused = refusal(parse_doi, text)
    assert refused.reason == reason
    assert refused.text == text
    assert str(refused) == f"{text!r}: {reason}"


def test_longest_doi_is_accepted() -> None:
    text = "10.1000/" + "x" * (1000 - len("10.1000/"))
    assert parse_doi(text).value == text


# --------------------------------------------------------------------------- quoting


@pytest.mark.parametrize(
    ("doi", "path", "query"),
    [
        (SEED_DOI, SEED_DOI, SEED_DOI),
        ("10.1111/(ISSN)1442-9993", "10.1111/(ISSN)1442-9993", "10.1111/(ISSN)1442-9993"),
        (
            SICI_ECOLOGY,
            "10.1890/0012-9658(2006)87%5B2832:TIOPMA%5D2.0.CO%3B2",
            "10.1890/0012-9658(2006)87%5B2832:TIOPMA%5D2.0.CO%3B2",
        ),
        (
            SICI_ASIS,
            "10.1002/(SICI)1097-4571(199806)49:8%3C693::AID-ASI4%3E3.0.CO%3B2-O",
            "10.1002/(SICI)1097-4571(199806)49:8%3C693::AID-ASI4%3E3.0.CO%3B2-O",
        ),
        ("10.1000/a+b#c?d&e=f,g h%", "10.1000/a%2Bb%23c%3Fd%26e%3Df%2Cg%20h%25", None),
        ("10.1000/café~_.-", "10.1000/caf%C3%A9~_.-", "10.1000/caf%C3%A9~_.-"),
    ],
)
def test_quote(doi: str, path: str, query: str | None) -> None:
    assert quote_doi(doi) == path
    assert quote_doi_query(doi) == (query if query is not None else path)
    assert unquote(quote_doi(doi)) == doi
    assert unquote(quote_doi_query(doi)) == doi


def test_query_value_cannot_split_the_query() -> None:
    quoted = quote_doi_query("10.1000/a&b=c,d+e#f;g")
    assert not set(quoted) & set("&=,+#; ")


# --------------------------------------------------------------------------- the recorded corpus


def _recorded_work_dois() -> list[tuple[str, str]]:
    """(fixture name, DOI as it appears in the request URL) for every recorded /works/{doi}."""
    found = []
    for source in ("crossref", "openalex"):
        for meta in sorted((FIXTURES / source).glob("*.meta.json")):
            url = json.loads(meta.read_bytes())["request"]["url"]
            parts = urlsplit(url)
            if parts.query or not parts.path.startswith("/works/") or url.endswith("/agency"):
                continue
            found.append((f"{source}/{meta.name}", url.split("/works/", 1)[1]))
    return found


RECORDED = _recorded_work_dois()


@pytest.mark.usefixtures("fixtures_dir")  # reads the shared corpus as a whole
def test_corpus_is_there() -> None:
    assert len(RECORDED) >= 30


@pytest.mark.parametrize(("name", "in_url"), RECORDED, ids=[name for name, _ in RECORDED])
def test_recorded_dois_parse_and_quote(name: str, in_url: str) -> None:
    doi = parse_doi(in_url)
    expected = unquote(in_url.removeprefix("https://doi.org/"))
    assert doi.value == expected
    assert unquote(quote_doi(doi.value)) == doi.value
    assert unquote(quote_doi_query(doi.value)) == doi.value
    assert unquote(quote_doi(doi.value)).lower() == unquote(in_url).lower().removeprefix(
        "https://doi.org/"
    )


# --------------------------------------------------------------------------- RePEc handles

HANDLES = [
    (SEED_HANDLE, ("sae", "woemps", "v:29:y:2015:i:4:p:624-640")),
    ("repec:sae:woemps:v:29:y:2015:i:4:p:624-640", ("sae", "woemps", "v:29:y:2015:i:4:p:624-640")),
    ("REPEC:nbr:nberwo:1234", ("nbr", "nberwo", "1234")),
    ("RePEc:hal:wpaper:hal-01234567", ("hal", "wpaper", "hal-01234567")),
    ("RePEc:eee:journl:v:1:y:2000:i:2:p:3-4", ("eee", "journl", "v:1:y:2000:i:2:p:3-4")),
    ("RePEc:cpr:ceprdp:12.3/4", ("cpr", "ceprdp", "12.3/4")),
    ("RePEc:Wbk:WBRWPS:4321", ("Wbk", "WBRWPS", "4321")),
    (f"  {SEED_HANDLE}\n", ("sae", "woemps", "v:29:y:2015:i:4:p:624-640")),
    (f"“{SEED_HANDLE}”", ("sae", "woemps", "v:29:y:2015:i:4:p:624-640")),
    (f"'{SEED_HANDLE}'.", ("sae", "woemps", "v:29:y:2015:i:4:p:624-640")),
    (f"\u200b{SEED_HANDLE}\ufeff", ("sae", "woemps", "v:29:y:2015:i:4:p:624-640")),
    ("RePEc:sae:\u200bwoemps:v:29", ("sae", "woemps", "v:29")),
    (f"\u00a0{SEED_HANDLE}\u00a0", ("sae", "woemps", "v:29:y:2015:i:4:p:624-640")),
]


@pytest.mark.parametrize(("text", "parts"), HANDLES)
def test_parse_repec(text: str, parts: tuple[str, str, str]) -> None:
    handle = parse_repec(text)
    assert handle == RepecHandle(*parts)
    assert handle.value == "RePEc:" + ":".join(parts)
    assert str(handle) == handle.value
    assert handle.key == handle.value.lower()
    assert parse_identifier(text) == handle
    assert parse_repec(handle.value) == handle


def test_seed_handle() -> None:
    handle = parse_repec(SEED_HANDLE)
    assert handle.value == SEED_HANDLE
    assert handle.key == "repec:sae:woemps:v:29:y:2015:i:4:p:624-640"
    assert parse_repec("REPEC:SAE:WOEMPS:V:29:Y:2015:I:4:P:624-640").key == handle.key


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty input"),
        (" \n", "empty input"),
        ("RePEc", "not a RePEc handle"),
        ("RePEc:", "not a RePEc handle"),
        ("ideas:sae:woemps:1", "not a RePEc handle"),
        (SEED_DOI, "not a RePEc handle"),
        ("RePEc:sa:woemps:1", "archive must be 3 characters"),
        ("RePEc:saee:woemps:1", "archive must be 3 characters"),
        ("RePEc::woemps:1", "archive must be 3 characters"),
        ("RePEc:s-e:woemps:1", "archive must be letters and digits"),
        ("RePEc:sae", "series must be 6 characters"),
        ("RePEc:sae:woemp:1", "series must be 6 characters"),
        ("RePEc:sae:woempss:1", "series must be 6 characters"),
        ("RePEc:sae:woe_ps:1", "series must be letters and digits"),
        ("RePEc:sae:woemps", "missing item"),
        ("RePEc:sae:woemps:", "missing item"),
        ("RePEc:sae:woemps: ", "missing item"),
        ("RePEc:sae:woemps:a b", "whitespace inside the item"),
        ("RePEc:sae:woemps:a\x00b", "contains a control character"),
    ],
)
def test_parse_repec_rejects(text: str, reason: str) -> None:
    refused = refusal(parse_repec, text)
    assert refused.reason == reason
    assert refused.text == text


# --------------------------------------------------------------------------- parse_identifier


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty input"),
        ("hello world", "not a DOI or RePEc handle"),
        ("https://example.org/paper", "not a DOI or RePEc handle"),
        ("isbn:978-3-16-148410-0", "not a DOI or RePEc handle"),
        ("10.1000/", "empty suffix"),  # clearly meant as a DOI: say what is wrong with it
        ("repec:sae:woemps", "missing item"),
        (
            "https://ideas.repec.org/e/pxx1.html",  # an author's page: no work behind it
            "a RePEc web link whose handle cannot be told; give the handle RePEc:…",
        ),
        (
            "https://ideas.repec.org/p/abc/wpaper/v1y2020i2p3.html",
            "this IDEAS link may mean RePEc:abc:wpaper:v1y2020i2p3 or the journal form "
            "RePEc:abc:wpaper:v:1:y:2020:i:2:p:3; give the handle",
        ),
        ("https://econpapers.repec.org/RePEc:sae:wo", "series must be 6 characters"),
    ],
)
def test_parse_identifier_rejects(text: str, reason: str) -> None:
    refused = refusal(parse_identifier, text)
    assert refused.reason == reason
    assert refused.text == text


def test_parse_identifier_decides() -> None:
    assert parse_identifier(f"doi:{SEED_DOI}") == Doi(SEED_DOI)
    assert isinstance(parse_identifier(f" {SEED_HANDLE.upper()} "), RepecHandle)


# --------------------------------------------------------------------------- properties

_SUFFIX_CHARS = st.one_of(
    st.sampled_from(list("abcXYZ0129-._;()/:<>[]+#%?'\"")),
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp", "Cf")),
)


@st.composite
def valid_dois(draw: st.DrawFn) -> str:
    """A DOI value that parsing leaves as it is (a fixed point), with SICI-ish characters."""
    registrant = draw(st.from_regex(r"[0-9]{1,6}(\.[0-9]{1,3})?", fullmatch=True))
    suffix = draw(st.text(_SUFFIX_CHARS, min_size=1, max_size=40))
    try:
        value = parse_doi(f"10.{registrant}/{suffix}").value
    except BadIdentifier:
        assume(False)
    return value


INVISIBLES = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
SPACES = [" ", "\t", "\n", "\u00a0", "\u2002", "\u2003", "\u202f", "\u3000"]
WRAPPERS = [
    ('"', '"'),
    ("'", "'"),
    ("“", "”"),
    ("‘", "’"),
    ("«", "»"),
    ("(", ")"),
    ("[", "]"),
    ("<", ">"),
    ("https://doi.org/", ""),
    ("http://dx.doi.org/", ""),
    ("doi:", ""),
    ("DOI: ", ""),
    ("info:doi/", ""),
    ("urn:doi:", ""),
    ("", "."),
    ("", ","),
]


@given(st.text(max_size=80))
@example(SICI_ASIS)
@example("10.1000/W\u030a")
def test_parse_is_idempotent(text: str) -> None:
    try:
        doi = parse_doi(text)
    except BadIdentifier:
        return
    assert parse_doi(doi.value) == doi
    assert parse_doi(str(doi)) == doi


@given(valid_dois())
@example(SICI_ECOLOGY)
@example("10.1000/W\u030a")
def test_key_is_stable(value: str) -> None:
    key = parse_doi(value).key
    assert doi_key(key) == key
    assert parse_doi(key).value == key


@given(
    valid_dois(),
    st.lists(st.sampled_from(WRAPPERS), max_size=3),
    st.lists(st.sampled_from(SPACES), max_size=2),
    st.lists(st.tuples(st.sampled_from(INVISIBLES), st.integers(0, 200)), max_size=3),
)
@example(SICI_ASIS, [("(", ")"), ("https://doi.org/", "")], [" "], [("\u200b", 0)])
def test_wrapping_gives_the_same_value(
    value: str,
    wrappers: list[tuple[str, str]],
    spaces: list[str],
    invisibles: list[tuple[str, int]],
) -> None:
    text = value
    for before, after in wrappers:
        text = before + text + after
    for space in spaces:
        text = space + text + space
    for char, position in invisibles:
        position %= len(text) + 1
        text = text[:position] + char + text[position:]
    assert parse_doi(text).value == value
    assert parse_identifier(text) == Doi(value)


@given(valid_dois())
@example(SICI_ASIS)
def test_quoted_forms_parse_back(value: str) -> None:
    assert parse_doi(quote_doi(value)).value == value
    assert parse_doi(quote_doi_query(value)).value == value
    assert parse_doi("https://doi.org/" + quote(value, safe="")).value == value
    assert unquote(quote_doi(value)) == value


_NOISY = st.text(
    st.one_of(
        st.sampled_from(list("10./%2FfDOIdoi:RePEc: \"'()<>[]“”.;,\u200b\u00a0")),
        st.characters(),
    ),
    max_size=60,
)


@given(st.one_of(st.text(), _NOISY, st.builds(lambda s: "10.1/" + s, _NOISY)))
def test_parsers_raise_only_bad_identifier(text: str) -> None:
    for parse in (parse_doi, parse_repec, parse_identifier, doi_key):
        try:
            parse(text)
        except BadIdentifier as error:
            assert error.text == text
            assert error.reason


@pytest.mark.parametrize(
    "url",
    [
        "https://ideas.repec.org/a/sae/woemps/v29y2015i4p624-640.html",
        "ideas.repec.org/a/sae/woemps/v29y2015i4p624-640.html",
        "https://econpapers.repec.org/article/saewoemps/v_3a29_3ay_3a2015_3ai_3a4_3ap_3a624-640.htm",
        "https://EconPapers.repec.org/RePEc:sae:woemps:v:29:y:2015:i:4:p:624-640",
        "http://d.repec.org/n?u=RePEc:sae:woemps:v:29:y:2015:i:4:p:624-640&r=lab",
        "<https://ideas.repec.org/a/sae/woemps/v29y2015i4p624-640.html>.",
    ],
)
def test_the_web_links_people_paste_lead_to_the_handle(url: str) -> None:
    assert parse_identifier(url) == parse_repec(SEED_HANDLE)


def test_an_ideas_paper_link_without_the_journal_shape_is_taken_as_written() -> None:
    assert parse_identifier("ideas.repec.org/p/nbr/nberwo/1234.html").value == (
        "RePEc:nbr:nberwo:1234"
    )
    assert parse_identifier("https://ideas.repec.org/p/hal/wpaper/hal-01234567.html").value == (
        "RePEc:hal:wpaper:hal-01234567"
    )


# --- ISBN and ISSN ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("0-306-40615-2", "9780306406157"),  # ISBN-10, hyphenated
        ("978-0-306-40615-7", "9780306406157"),
        ("9780306406157", "9780306406157"),
        ("978-0-306-40615-8", None),  # wrong check digit
        ("0-306-40615", None),  # too short
        ("", None),
        (None, None),
    ],
)
def test_an_isbn_is_checked_and_written_as_thirteen_digits(given, expected):
    assert isbn13(given) == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("0950-0170", "0950-0170"),  # Work, Employment and Society
        ("09500170", "0950-0170"),
        ("2050-084x", "2050-084X"),  # eLife: the check digit X, upper case
        ("0950-0171", None),  # wrong check digit
        ("950-0170", None),
        (None, None),
    ],
)
def test_an_issn_is_checked_and_written_in_its_printed_form(given, expected):
    assert issn(given) == expected
