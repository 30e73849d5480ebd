"""The registry of sources (harvester.sources): every source it lists is configured, documented,
described for Datasette and replayed by the test upstream, and the pipeline's look-ups of it
answer as the sources say."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest

from harvester import sources
from harvester.config import DEFAULT_PRECEDENCE, ENV_OVERRIDES, FEED_KINDS, Config, FeedConfig
from harvester.due import DuePolicy
from harvester.http import HttpClient

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
TOML = (ROOT / "config" / "harvester.toml").read_text(encoding="utf-8")
DATASETTE = (ROOT / "config" / "datasette.yml").read_text(encoding="utf-8")
UPSTREAM = (ROOT / "tests" / "upstream.py").read_text(encoding="utf-8")

NAMES = sorted(sources.SOURCES)


@pytest.mark.parametrize("name", NAMES)
def test_every_source_provides_what_base_describes(name):
    source = sources.SOURCES[name]
    assert name == source.SOURCE
    assert isinstance(source.PARSER_VERSION, int) and source.PARSER_VERSION >= 1
    assert isinstance(source.VOLATILE_KEYS, tuple)
    assert inspect.signature(source.parse).parameters  # parse(payload)
    pools = source.pools(Config())
    assert all(
        pool.startswith(f"{name.split('.')[0]}:") or pool.startswith("doi:") for pool in pools
    )
    if name in sources.DOI_SOURCES:
        assert source.ROLE in ("agency", "enrichment")
        assert list(inspect.signature(source.fetch).parameters) == ["dois", "client", "config"]


@pytest.mark.parametrize("name", NAMES)
def test_every_source_is_configured_documented_described_and_replayed(name):
    source = sources.SOURCES[name]
    section = source.CONFIG_SECTION
    assert hasattr(Config(), section), f"Config has no [{section}] section"
    assert f"\n[{section}]\n" in TOML, f"config/harvester.toml does not document [{section}]"
    if hasattr(getattr(Config(), section), "url"):
        assert f"HARVEST_{section.upper()}_URL" in ENV_OVERRIDES
    assert f"| `{name}` |" in README, f"README's table of sources has no row for {name}"
    assert name in DATASETTE, f"config/datasette.yml never names {name}"
    assert name in DEFAULT_PRECEDENCE, f"[merge] precedence does not rank {name}"
    # The test upstream replays every HTTP service under a path of its own; RePEc's archive
    # trees are replayed as folders (LocalTree) of recorded ReDIF files.
    assert f'"{section}": "/{section}"' in UPSTREAM or section == "repec"


def test_the_precedence_default_ranks_exactly_the_registered_sources():
    assert sorted(DEFAULT_PRECEDENCE) == sorted(["local", *sources.SOURCES])


@pytest.mark.parametrize("name", [n for n in NAMES if n != "oai"])
def test_every_source_asked_by_a_watch_list_has_a_refresh_interval(name):
    # OAI records come in through feeds, never a watch list, so they have no refresh interval.
    assert name in DuePolicy().refresh_days


def test_agency_routing_comes_from_the_registry():
    assert sources.agency_source("crossref").SOURCE == "crossref"
    assert sources.agency_source("datacite").SOURCE == "datacite"
    assert sources.agency_source("medra").SOURCE == "doi.org"  # every agency without a source
    assert [s.SOURCE for s in sources.enrichments()] == ["openalex"]
    assert sources.due_slots() == {"doi": ("agency", "openalex"), "repec": ("repec",)}


def test_connect_registers_every_pool_of_every_source():
    config = Config(mailto="tests@example.org")
    client = sources.connect(config)
    assert isinstance(client, HttpClient)
    for source in sources.SOURCES.values():
        for pool in source.pools(config):
            assert client.has_limiter(pool), pool


def test_every_feed_kind_the_config_accepts_is_a_registered_feed():
    assert set(sources.FEEDS) == set(FEED_KINDS)
    for kind, feed in sources.FEEDS.items():
        assert kind == feed.FEED_KIND
        parameters = list(inspect.signature(feed.feed_pages).parameters)
        assert parameters == ["feed", "config", "client", "state"]


@pytest.mark.parametrize(
    ("feed", "key"),
    [
        (FeedConfig(kind="crossref", issn="0950-0170"), "crossref issn 0950-0170"),
        (FeedConfig(kind="repec", series="RePEc:sae:woemps"), "repec series RePEc:sae:woemps"),
        (
            FeedConfig(kind="oai", endpoint="zenodo", set="user-rdmo"),
            "oai https://zenodo.org/oai2d oai_dc user-rdmo",
        ),
    ],
)
def test_a_feed_is_keyed_by_what_it_asks_for_not_its_name(feed, key):
    # The keys existing databases hold: a feed renamed keeps its watermark.
    assert sources.FEEDS[feed.kind].feed_target(feed, Config()).key == key
    named = dataclasses.replace(feed, name="my journal")
    assert sources.FEEDS[feed.kind].feed_target(named, Config()).key == key
