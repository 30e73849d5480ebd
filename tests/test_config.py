"""Configuration: defaults, the shipped file, environment overrides and every way a file can be wrong."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

import pytest

from harvester.config import (
    DEFAULT_CONFIG_PATH,
    ENV_OVERRIDES,
    Config,
    PoolLimit,
    load_config,
)
from harvester.errors import ConfigError

SHIPPED = Path(__file__).resolve().parents[1] / "config" / "harvester.toml"


@pytest.fixture
def in_tmp(tmp_path, monkeypatch) -> Path:
    """Run in an empty folder, so the default `config/harvester.toml` is not the repository's."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(folder: Path, text: str, name: str = "harvester.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# --- defaults and the shipped file ---


def test_defaults_when_there_is_no_file(in_tmp):
    assert not (in_tmp / DEFAULT_CONFIG_PATH).exists()
    assert load_config(env={}) == Config()


def test_default_path_is_config_harvester_toml_in_the_working_folder(in_tmp):
    (in_tmp / "config").mkdir()
    write(in_tmp / "config", "[crossref]\nbatch_size = 10\n")
    config = load_config(env={})
    assert config.crossref.batch_size == 10
    assert config.crossref.max_url_bytes == 4000  # the rest of the section keeps its defaults


def test_shipped_file_loads_and_equals_the_defaults():
    assert load_config(SHIPPED, env={}) == Config()


def _config_sections() -> list[tuple[str | None, type]]:
    """(section or None for top level, dataclass) for every table the config file may hold."""
    sections: list[tuple[str | None, type]] = [(None, Config)]
    default = Config()
    for f in dataclasses.fields(Config):
        value = getattr(default, f.name)
        if dataclasses.is_dataclass(value):
            sections.append((f.name, type(value)))
    return sections


@pytest.mark.parametrize(
    ("section", "cls"), _config_sections(), ids=lambda v: v if isinstance(v, str) else None
)
def test_shipped_file_documents_every_key(section, cls):
    data = tomllib.loads(SHIPPED.read_text(encoding="utf-8"))
    table = data if section is None else data[section]
    default = Config() if section is None else getattr(Config(), section)
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(getattr(default, f.name)):
            assert isinstance(table.get(f.name), dict), f"[{f.name}] missing from {SHIPPED}"
        elif section is None and f.name == "feeds":
            # [[feeds]] tables come after every other table, so the file shows them as
            # examples to uncomment (a `feeds = []` here would make those an error).
            assert "# feeds: " in SHIPPED.read_text(encoding="utf-8")
        else:
            where = "top level" if section is None else f"[{section}]"
            assert f.name in table, f"{f.name} ({where}) missing from {SHIPPED}"


def uncommented(text: str) -> str:
    """The config file with every commented example table and key uncommented, as a person
    trying them would do (prose comments stay comments)."""
    example = re.compile(r"# (\[\[?[a-z_.]+\]\]?\s*(#.*)?|[a-z_]+ = \S.*)$")
    return "\n".join(line[2:] if example.match(line) else line for line in text.splitlines())


def test_the_shipped_examples_load_when_uncommented(in_tmp):
    text = uncommented(SHIPPED.read_text(encoding="utf-8"))
    assert "\n[[feeds]]" in text and "\nabstract = [" in text  # the examples were found
    config = load_config(write(in_tmp, text), env={})
    assert [f.kind for f in config.feeds] == ["crossref", "repec", "oai"]
    assert config.merge.fields["abstract"][:2] == ("local", "openalex")


def test_shipped_file_names_every_environment_variable():
    text = SHIPPED.read_text(encoding="utf-8")
    for var in [*ENV_OVERRIDES, "HARVEST_CONFIG"]:
        assert var in text


# --- environment ---


def _env_value(var: str) -> str:
    section, key = ENV_OVERRIDES[var]
    if key == "url":
        return f"http://127.0.0.1:8080/{section}-mirror/v1"
    return {
        "database": "/var/lib/harvester/nightly.db",
        "mailto": "someone@example.org",
        "log_format": "json",
        "api_key": "secret-key",
        "token": "secret-token",
    }[key]


@pytest.mark.parametrize("var", sorted(ENV_OVERRIDES))
def test_every_environment_override_takes_effect(var, in_tmp):
    section, key = ENV_OVERRIDES[var]
    value = _env_value(var)
    config = load_config(env={var: value})
    holder = config if section is None else getattr(config, section)
    assert getattr(holder, key) == value
    # Nothing else changed.
    default_holder = Config() if section is None else getattr(Config(), section)
    assert dataclasses.replace(holder, **{key: getattr(default_holder, key)}) == default_holder


def test_environment_beats_the_file(in_tmp):
    path = write(
        in_tmp, 'mailto = "file@example.org"\n[crossref]\nurl = "https://mirror.example"\n'
    )
    config = load_config(
        path, env={"HARVEST_MAILTO": "env@example.org", "HARVEST_CROSSREF_URL": "http://x/cr"}
    )
    assert config.mailto == "env@example.org"
    assert config.crossref.url == "http://x/cr"


def test_harvest_config_names_the_file(in_tmp):
    path = write(in_tmp, 'mailto = "someone@example.org"\n', name="other.toml")
    config = load_config(env={"HARVEST_CONFIG": str(path)})
    assert config.mailto == "someone@example.org"


def test_harvest_config_naming_a_missing_file_is_an_error(in_tmp):
    missing = in_tmp / "nowhere.toml"
    with pytest.raises(ConfigError, match=r"nowhere\.toml"):
        load_config(env={"HARVEST_CONFIG": str(missing)})


def test_explicit_missing_file_is_an_error_naming_it(in_tmp):
    missing = in_tmp / "missing.toml"
    with pytest.raises(ConfigError) as info:
        load_config(missing, env={})
    assert str(missing) in str(info.value)


# --- a wrong file stops with a message naming the key ---


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('databse = "x.db"\n', "databse"),
        ("[crossref]\nbatchsize = 10\n", "batchsize"),
        ("[http]\nread_timout = 5.0\n", "read_timout"),
        ("[openalex]\napi-key = 'k'\n", "api-key"),
        ("[nonsense]\nx = 1\n", "nonsense"),
    ],
)
def test_unknown_key_is_an_error_naming_it(in_tmp, text, named):
    with pytest.raises(ConfigError, match=f"unknown key '{named}'"):
        load_config(write(in_tmp, text), env={})


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[crossref]\nbatch_size = "50"\n', "batch_size"),
        ("[crossref]\nbatch_size = 50.0\n", "batch_size"),
        ("[crossref]\nbatch_size = true\n", "batch_size"),
        ("[http]\nread_timeout = true\n", "read_timeout"),
        ('[http]\nbackoff_max = "60"\n', "backoff_max"),
        ("mailto = 5\n", "mailto"),
        ('[openalex]\nurl = ["https://api.openalex.org"]\n', "url"),
        ("http = 5\n", "http"),
    ],
)
def test_wrong_type_is_an_error_naming_the_key(in_tmp, text, named):
    with pytest.raises(ConfigError, match=named):
        load_config(write(in_tmp, text), env={})


def test_int_is_accepted_for_a_float(in_tmp):
    config = load_config(write(in_tmp, "[http]\nread_timeout = 30\nbackoff_max = 0\n"), env={})
    assert config.http.read_timeout == 30.0
    assert isinstance(config.http.read_timeout, float)
    assert config.http.backoff_max == 0.0


def test_invalid_toml_is_an_error(in_tmp):
    path = write(in_tmp, "[crossref\nbatch_size = 10\n")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load_config(path, env={})
    assert str(path) in str(info.value)


def test_file_that_is_not_utf8_is_an_error(in_tmp):
    path = in_tmp / "latin1.toml"
    path.write_bytes('mailto = "jürgen@example.org"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path, env={})


@pytest.mark.parametrize(
    ("text", "env"),
    [
        ('log_format = "pretty"\n', {}),
        ("", {"HARVEST_LOG_FORMAT": "JSON"}),
    ],
)
def test_bad_log_format_is_an_error(in_tmp, text, env):
    with pytest.raises(ConfigError, match="log_format"):
        load_config(write(in_tmp, text), env=env)


@pytest.mark.parametrize(
    ("text", "env", "section"),
    [
        ('[crossref]\nurl = "api.crossref.org"\n', {}, "crossref"),
        ("", {"HARVEST_DOI_URL": "ftp://doi.org"}, "doi"),
        ("", {"HARVEST_OPENALEX_URL": "127.0.0.1:8080/openalex"}, "openalex"),
        ('[datacite]\nurl = ""\n', {}, "datacite"),
    ],
)
def test_url_without_http_scheme_is_an_error(in_tmp, text, env, section):
    with pytest.raises(ConfigError, match=rf"\[{section}\] url"):
        load_config(write(in_tmp, text), env=env)


@pytest.mark.parametrize("size", [0, 1001, -5])
def test_batch_size_out_of_range_is_an_error(in_tmp, size):
    with pytest.raises(ConfigError, match="batch_size"):
        load_config(write(in_tmp, f"[crossref]\nbatch_size = {size}\n"), env={})


def test_the_date_rule_is_one_of_the_documented_ones(in_tmp):
    assert load_config(write(in_tmp, '[merge]\ndates = "earliest"\n'), env={}).merge.dates == (
        "earliest"
    )
    with pytest.raises(ConfigError, match=r"\[merge\] dates must be one of print, earliest"):
        load_config(write(in_tmp, '[merge]\ndates = "online"\n'), env={})


def test_max_attempts_below_one_is_an_error(in_tmp):
    with pytest.raises(ConfigError, match="max_attempts"):
        load_config(write(in_tmp, "[http]\nmax_attempts = 0\n"), env={})


# --- Crossref pools ---


def test_crossref_limits_are_polite_with_a_mailto():
    assert Config(mailto="someone@example.org").crossref_limits() == {
        "single": PoolLimit(10.0, 3),
        "list": PoolLimit(3.0, 3),
    }


def test_crossref_limits_are_public_without_a_mailto():
    assert Config().crossref_limits() == {
        "single": PoolLimit(5.0, 1),
        "list": PoolLimit(1.0, 1),
    }


def test_crossref_limits_follow_the_file(in_tmp):
    path = write(in_tmp, 'mailto = "a@b.org"\n[crossref]\npolite_single_rate = 20\n')
    assert load_config(path, env={}).crossref_limits()["single"] == PoolLimit(20.0, 3)


@pytest.mark.parametrize(
    ("table", "line", "named"),
    [
        ("crossref", "polite_list_rate = 0", "polite_list_rate"),
        ("crossref", "public_concurrency = 0", "public_concurrency"),
        ("crossref", "max_url_bytes = 10", "max_url_bytes"),
        ("http", "read_timeout = -1", "read_timeout"),
        ("http", "backoff_max = -1", "backoff_max"),
        ("oai", "rate = 0", "rate"),
        ("oai", 'metadata_prefix = ""', "metadata_prefix"),
        ("oai.endpoints", 'pure = "ftp://example.org/oai"', "pure"),
    ],
)
def test_values_that_would_crash_later_are_refused_up_front(tmp_path, table, line, named):
    with pytest.raises(ConfigError, match=named):
        load_config(write(tmp_path, f"[{table}]\n{line}\n", "bad.toml"), env={})


def test_oai_endpoints_named_in_the_file_add_to_the_default_names(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[oai.endpoints]\npure = "https://research.example.org/ws/oai"\n')
    endpoints = load_config(path, env={}).oai.endpoints
    assert endpoints["pure"] == "https://research.example.org/ws/oai"
    assert endpoints["repec"] == "https://oai.repec.org/"  # still there


def test_feeds_are_read_from_arrays_of_tables(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('feeds = [{kind = "crossref", issn = "0950-0170"}]\n')
    [feed] = load_config(path, env={}).feeds
    assert feed.kind == "crossref" and feed.issn == "0950-0170"
    path.write_text(
        '[[feeds]]\nkind = "oai"\nendpoint = "zenodo"\nset = "user-rdmo"\n'
        '[[feeds]]\nkind = "repec"\nseries = "RePEc:sae:woemps"\n'
    )
    oai, repec = load_config(path, env={}).feeds
    assert (oai.endpoint, oai.set) == ("zenodo", "user-rdmo") and repec.series == "RePEc:sae:woemps"


@pytest.mark.parametrize(
    ("feed", "named"),
    [
        ('kind = "rss"', "kind must be one of crossref, repec, oai"),
        ('kind = "crossref"', "give exactly one of issn, prefix, member"),
        ('kind = "crossref"\nissn = "1"\nprefix = "10.1"', "give exactly one of issn, prefix"),
        ('kind = "oai"\nset = "x"', "give exactly one of endpoint"),
        ('kind = "repec"\nseries = "RePEc:a:b"\nset = "x"', "set is not a repec setting"),
        ('kind = "crossref"\nissn = "1"\nfrequency = "daily"', "unknown key 'frequency'"),
    ],
)
def test_a_bad_feed_is_refused_naming_what_is_wrong(tmp_path, feed, named):
    with pytest.raises(ConfigError, match=re.escape(named)):
        load_config(write(tmp_path, f"[[feeds]]\n{feed}\n", "c.toml"), env={})


def test_the_same_feed_twice_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="the same feed twice"):
        load_config(
            write(tmp_path, '[[feeds]]\nkind = "crossref"\nissn = "1"\n' * 2, "c.toml"), env={}
        )


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[watch]\nnot_found_factor = 0.5", "not_found_factor"),
        ("[watch.refresh_days]\ncrossref = 0", "refresh_days.crossref"),
        ("[watch]\nretry_first_minutes = -1", "retry_first_minutes"),
    ],
)
def test_bad_watch_intervals_are_refused(tmp_path, text, named):
    with pytest.raises(ConfigError, match=re.escape(named)):
        load_config(write(tmp_path, text + "\n", "c.toml"), env={})


@pytest.mark.parametrize(
    "text",
    [
        "[datacite]\nwindow = 300\nwindow_max = 0\n",
        "[openalex]\nwindow = 0\nwindow_max = 100\n",
        "[doi]\nwindow = -1\nwindow_max = 10\n",
        "[doi]\nburst = 0\n",
    ],
)
def test_a_window_needs_both_its_length_and_its_count(in_tmp, text):
    with pytest.raises(ConfigError, match=r"window|burst"):
        load_config(write(in_tmp, text), env={})


def test_datacite_is_paced_to_its_announced_window_by_default():
    limit = Config().datacite.limit
    assert (limit.window, limit.window_max) == (300.0, 1000) and limit.rate <= 10
