"""Property tests (hypothesis): identifier normalisation is idempotent and stable, whatever
people paste around an identifier; the ReDIF parser never raises on arbitrary bytes and reads back
the fields it is given."""

from __future__ import annotations

import copy
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harvester.errors import BadIdentifier
from harvester.identifiers import parse_doi, parse_identifier, parse_repec
from harvester.pipeline import common
from harvester.sources import fields, redif

# --- identifiers ------------------------------------------------------------------------------

_SUFFIX_CHARS = string.ascii_letters + string.digits + "-._;()/:<>"
prefixes = st.from_regex(r"10\.[0-9]{4,6}(\.[0-9]{1,3})?", fullmatch=True)
suffixes = st.text(_SUFFIX_CHARS, min_size=1, max_size=40).filter(
    lambda s: s[-1] not in ".;:)>(" and s[0] not in "/" and "//" not in s
)
dois = st.builds(lambda p, s: f"{p}/{s}", prefixes, suffixes)
#: What people paste a DOI in: URLs and labels, spaces and the invisible characters of web pages.
wrappers = st.sampled_from(
    [
        "{}",
        " {} ",
        "doi:{}",
        "DOI: {}",
        "https://doi.org/{}",
        "http://dx.doi.org/{}",
        "info:doi/{}",
        "\ufeff{}",
        "{}\u200b",
        "\u00a0{}",
    ]
)


@given(dois, wrappers)
def test_a_pasted_doi_normalises_to_the_bare_doi_and_normalising_again_changes_nothing(
    doi, wrapper
):
    try:
        parsed = parse_doi(wrapper.format(doi))
    except BadIdentifier:
        return  # refused with a reason is a valid outcome; what is accepted must be stable
    assert parse_doi(parsed.value) == parsed  # idempotent
    assert parsed.key == parsed.key.lower() or not parsed.key.isascii()
    assert parse_doi(parsed.value.upper()).key == parsed.key  # case folds to one key


@given(dois)
def test_the_canonical_form_is_stable_across_every_wrapper(doi):
    try:
        bare = parse_doi(doi)
    except BadIdentifier:
        return
    for wrapper in ("doi:{}", "https://doi.org/{}", " {} ", "\ufeff{}"):
        assert parse_doi(wrapper.format(doi)).key == bare.key


handles = st.builds(
    lambda a, s, i: f"RePEc:{a}:{s}:{i}",
    st.text(string.ascii_lowercase + string.digits, min_size=3, max_size=3),
    st.text(string.ascii_lowercase + string.digits, min_size=6, max_size=6),
    st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9:._/-]{0,28}[A-Za-z0-9])?", fullmatch=True),
)


@given(handles, st.sampled_from(["{}", " {} ", "repec:{}", "\ufeff{}"]))
def test_a_repec_handle_normalises_idempotently(handle, wrapper):
    text = wrapper.format(handle[6:] if wrapper.startswith("repec:") else handle)
    parsed = parse_repec(text)
    assert parse_repec(parsed.value) == parsed
    assert parse_identifier(parsed.value) == parsed
    assert parsed.key == parse_repec(parsed.value.upper().replace("REPEC", "RePEc")).key


@given(st.text(max_size=200))
def test_any_text_is_an_identifier_or_a_clear_refusal(text):
    try:
        parse_identifier(text)
    except BadIdentifier as exc:
        assert str(exc)  # a reason, never an empty message


# --- ReDIF ------------------------------------------------------------------------------------


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_the_redif_parser_never_raises_on_arbitrary_bytes(data):
    parsed = redif.parse_file(data, "fuzz.rdf")
    assert parsed.path == "fuzz.rdf"
    for template in parsed.templates:
        assert template.type and template.handle


field_names = st.sampled_from(["Title", "Abstract", "Keywords", "Journal", "Volume", "Pages"])


def _continuation_lookalikes() -> str:
    """The characters whose Windows-1252 byte is a UTF-8 continuation byte (0x80-0xBF: NBSP,
    "¡".."¿", "€", "’", ...). Text holding them after a lead letter ("Ã", "Â") is exactly what UTF-8
    read as Windows-1252 looks like, which the parser repairs by design; values here leave them
    out so that what is written must come back unchanged."""
    found = []
    for byte in range(0x80, 0xC0):
        try:
            found.append(bytes([byte]).decode("cp1252"))
        except UnicodeDecodeError:
            continue
    return "".join(found)


values = (
    st.text(
        st.characters(
            blacklist_categories=("Cc", "Cs", "Zl", "Zp"),
            blacklist_characters=":" + _continuation_lookalikes(),
        ),
        min_size=1,
        max_size=80,
    )
    .map(str.strip)
    .filter(bool)
    # "Ã " after a lower-case letter or a hyphen is a lost "à" the parser repairs by design
    # (redif._restore_a_grave): what is written then is not meant to come back unchanged.
    .filter(lambda text: not _lost_a_grave(text))
)


def _lost_a_grave(text: str) -> bool:
    return any(
        text[i : i + 2] == "Ã " and (text[i - 1] == "-" or text[i - 1].islower())
        for i in range(1, len(text) - 1)
    )


@settings(max_examples=200)
@given(st.lists(st.tuples(field_names, values), min_size=1, max_size=6, unique_by=lambda f: f[0]))
def test_the_fields_written_into_a_template_are_the_fields_read_back(fields):
    lines = ["Template-Type: ReDIF-Article 1.0"]
    lines += [f"{name}: {value}" for name, value in fields]
    lines.append("Handle: RePEc:abc:defghi:v:1:y:2020:i:1:p:1-2")
    parsed = redif.parse_file(("\n".join(lines) + "\n").encode("utf-8"), "t.rdf")
    assert list(parsed.errors) == []
    [template] = parsed.templates
    assert template.handle == "RePEc:abc:defghi:v:1:y:2020:i:1:p:1-2"
    for name, value in fields:
        assert template.get(name.lower()) == value


# --- payload hashing: the volatile keys are left out without a deep copy -----------------------

_keys = st.sampled_from(["indexed", "score", "message", "date-time", "a", "b"])
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=20,
)
_paths = st.lists(st.lists(_keys, min_size=1, max_size=3).map(".".join), max_size=3, unique=True)


def _without_by_deep_copy(payload: dict, paths: list[str]) -> dict:
    """The obvious way, as the harvester did it before: deep-copy, then pop each path."""
    stable = copy.deepcopy(payload)
    for path in paths:
        *parents, last = path.split(".")
        node = stable
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return stable


@given(st.dictionaries(_keys, _json, max_size=5), _paths)
def test_volatile_keys_are_left_out_as_a_deep_copy_would_and_the_payload_stays(payload, paths):
    before = copy.deepcopy(payload)
    stable = common._without(payload, paths)
    assert stable == _without_by_deep_copy(payload, paths)
    assert payload == before  # what is stored is the payload as received


def _tidy_by_regex(text: str) -> str:
    """What `fields.tidy_text` gives plain text (no inline-tag boundary) by its general path."""
    return fields._RUN.sub(" ", text).strip()


@given(st.text(alphabet=st.sampled_from("ab \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u2028\u3000é")))
@settings(max_examples=500)
def test_plain_text_is_tidied_as_the_general_path_tidies_it(text):
    """The fast path for text without markup (`str.split`) collapses exactly the whitespace
    the regex does, Unicode's included."""
    assert fields.tidy_text(text) == _tidy_by_regex(text)
