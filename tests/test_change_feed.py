"""The change feed (issue 20 item 3) as its subscribers read it: `harvest feed` and the Datasette
route `/-/harvester/changes.atom|.json`, on a database built by real commands (a Crossref
harvest through the local upstream replaying kept responses, `harvest import` of a CSV, a
correction at Crossref, the CSV imported again with a title changed), so every `changes` row
is one the harvester wrote.

The Atom feed is read by feedparser, as feed readers read it. feedparser 6.0 reads no JSON Feed,
so the JSON Feed is read by fastfeedparser (which does) and checked against a schema written
from the JSON Feed 1.1 spec, https://www.jsonfeed.org/version/1.1/ (its required fields, and
the types of the optional ones it names).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import fastfeedparser
import feedparser
import jsonschema
import pytest
from conftest import KEPT, QUICK_RETRIES, HarvestCommand
from datasette.app import Datasette
from upstream import ReplayUpstream

ESMO = "10.1136/esmoopen-2020-000776"  # Crossref; tracked; its title corrected at Crossref
BLOG = "10.53731/ybhah-9jy85"  # Crossref and OpenAlex
ESMO_TITLE = json.loads((KEPT / "crossref/10.1136_esmoopen-2020-000776.json").read_text())[
    "message"
]["title"][0]
CORRECTED = "Phase II study of lenvatinib for metastatic colorectal cancer (corrected)"

MINE = """doi,title,year,authors
10.5555/feed.one,Managers and their talent,2024,"Koren, Miklós; Orbán, Krisztina"
10.5555/feed.two,A second paper of ours,2023,"Doe, Jane"
10.5555/feed.three,A third paper of ours,2022,"Roe, Rick"
"""
RETITLED = "Managers and talent in the firm"

# https://www.jsonfeed.org/version/1.1/: "version (required, string)", "title (required,
# string)", "items (required, array)"; an item: "id (required, string)", and "content_html
# and content_text are each optional strings — but one or the other must be present"; the
# other keys each with the type the spec gives it. Keys starting with "_" are extensions.
_STRING = {"type": "string"}
_AUTHORS = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"name": _STRING, "url": _STRING, "avatar": _STRING},
        "anyOf": [{"required": ["name"]}, {"required": ["url"]}, {"required": ["avatar"]}],
    },
}
JSON_FEED_SCHEMA = {
    "type": "object",
    "required": ["version", "title", "items"],
    "properties": {
        "version": {"const": "https://jsonfeed.org/version/1.1"},
        "title": _STRING,
        "home_page_url": _STRING,
        "feed_url": _STRING,
        "description": _STRING,
        "user_comment": _STRING,
        "next_url": _STRING,
        "icon": _STRING,
        "favicon": _STRING,
        "authors": _AUTHORS,
        "language": _STRING,
        "expired": {"type": "boolean"},
        "hubs": {"type": "array"},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id"],
                "anyOf": [{"required": ["content_html"]}, {"required": ["content_text"]}],
                "properties": {
                    "id": _STRING,
                    "url": _STRING,
                    "external_url": _STRING,
                    "title": _STRING,
                    "content_html": _STRING,
                    "content_text": _STRING,
                    "summary": _STRING,
                    "image": _STRING,
                    "banner_image": _STRING,
                    "date_published": _STRING,
                    "date_modified": _STRING,
                    "authors": _AUTHORS,
                    "tags": {"type": "array", "items": _STRING},
                    "language": _STRING,
                    "attachments": {"type": "array"},
                },
                "patternProperties": {"^_[A-Za-z]": {}},
                "additionalProperties": False,
            },
        },
    },
    "patternProperties": {"^_[A-Za-z]": {}},
    "additionalProperties": False,
}


def check_json_feed(document: dict) -> None:
    """Valid JSON Feed 1.1: the schema, and what it cannot say: dates are RFC 3339, URLs
    absolute."""
    jsonschema.validate(document, JSON_FEED_SCHEMA)
    for item in document["items"]:
        for key in ("date_published", "date_modified"):
            assert datetime.fromisoformat(item[key]).tzinfo is not None
        for key in ("url", "external_url"):
            if key in item:
                assert urlsplit(item[key]).scheme in ("http", "https"), item[key]
    for key in ("feed_url", "next_url", "home_page_url"):
        if key in document:
            assert urlsplit(document[key]).scheme in ("http", "https"), document[key]


def build(folder: Path, upstream: ReplayUpstream) -> HarvestCommand:
    """Four runs: (1) a Crossref harvest of two DOIs, (2) an import of three own works, (3)
    Crossref corrects ESMO's title (tracked), (4) the CSV again with a title changed."""
    harvest = HarvestCommand(folder, upstream.env(), QUICK_RETRIES)
    (folder / "mine.csv").write_text(MINE, encoding="utf-8")
    (folder / "mine2.csv").write_text(
        MINE.replace("Managers and their talent", RETITLED), encoding="utf-8"
    )
    for args in (
        ("doi", ESMO, BLOG),
        ("import", "mine.csv"),
        ("track", ESMO),
    ):
        done = harvest(*args)
        assert done.returncode == 0, done.stderr
    upstream.change(ESMO, title=[CORRECTED])
    for args in (("doi", ESMO), ("import", "mine2.csv")):
        done = harvest(*args)
        assert done.returncode == 0, done.stderr
    return harvest


def serve(upstream: ReplayUpstream) -> None:
    upstream.add_crossref("10.53731_ybhah-9jy85", "10.1136_esmoopen-2020-000776")
    upstream.add_openalex("10.53731_ybhah-9jy85")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> HarvestCommand:
    """The database of `build`, read (never written) by the tests that take it."""
    with ReplayUpstream() as upstream:
        serve(upstream)
        return build(tmp_path_factory.mktemp("feed"), upstream)


@pytest.fixture
def fresh(tmp_path):
    """A database of `build` of its own, for a test that adds runs to it, and the upstream."""
    with ReplayUpstream() as upstream:
        serve(upstream)
        yield build(tmp_path, upstream), upstream


def feed(harvest: HarvestCommand, fmt: str, *args: str) -> str:
    done = harvest("feed", "--format", fmt, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def atom(harvest: HarvestCommand, *args: str):
    parsed = feedparser.parse(feed(harvest, "atom", *args))
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


def json_feed(harvest: HarvestCommand, *args: str) -> dict:
    document = json.loads(feed(harvest, "jsonfeed", *args))
    check_json_feed(document)
    return document


def rows(harvest: HarvestCommand, sql: str, *params) -> list[tuple]:
    conn = sqlite3.connect(harvest.db_path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def work_id(harvest: HarvestCommand, doi: str) -> int:
    [(found,)] = rows(harvest, "SELECT id FROM works WHERE doi = ? COLLATE NOCASE", doi)
    return found


def content(entry) -> str:
    return entry.content[0].value


# --- what an entry says ----------------------------------------------------------------------


def test_atom_has_one_entry_per_changed_work_per_run_newest_first(built):
    parsed = atom(built)
    assert parsed.version == "atom10"
    titles = [e.title for e in parsed.entries]
    blog = rows(built, "SELECT title FROM works WHERE doi = ?", BLOG)[0][0]
    # run 1 made two works, the newer (higher id) first, as within every run
    harvested = (
        [ESMO_TITLE, blog] if work_id(built, ESMO) > work_id(built, BLOG) else [blog, ESMO_TITLE]
    )
    # run 4: our title; run 3: Crossref's correction; run 2: our three works; run 1: two works.
    # An entry names the work as it was after its run: a new work by its first title.
    assert titles == [
        f"{RETITLED}: title changed",
        f"{CORRECTED}: title changed",
        "New work: A third paper of ours",
        "New work: A second paper of ours",
        "New work: Managers and their talent",
        *(f"New work: {title}" for title in harvested),
    ]

    ours, crossref = parsed.entries[0], parsed.entries[1]
    assert f"title: Managers and their talent → {RETITLED} (local)" in content(ours)
    assert f"title: {ESMO_TITLE} → {CORRECTED} (crossref)" in content(crossref)
    assert f"DOI: {ESMO}" in content(crossref)
    assert crossref.author == "crossref" and ours.author == "local"
    assert [t.term for t in crossref.tags] == ["title"]
    # the link: the work at doi.org (no Datasette named with --url)
    assert crossref.link == f"https://doi.org/{ESMO}"
    # what the run did, in words
    [(run,)] = rows(
        built, "SELECT max(run_id) FROM changes WHERE field = 'title' AND source = 'crossref'"
    )
    assert f"run {run} of " in content(crossref)


def test_a_new_work_is_one_entry_not_its_first_values(built):
    parsed = atom(built)
    new = next(e for e in parsed.entries if e.title == "New work: A second paper of ours")
    assert "New work, first values from local" in content(new)
    assert "→" not in content(new)  # no field-by-field first values
    assert new.summary == "New work, from local"


def test_feed_level_id_title_updated_and_self_link(built):
    url = "https://harvest.example.org/-/harvester/changes.atom"
    parsed = atom(built, "--url", url)
    assert parsed.feed.title == "harvester: changes"
    assert parsed.feed.id.startswith("urn:uuid:")
    [(newest,)] = rows(built, "SELECT max(changed_at) FROM changes")
    assert parsed.feed.updated == newest
    links = {link.rel: link.href for link in parsed.feed.links}
    assert links["self"] == url
    assert "next" not in links  # one page holds all seven


def test_entry_ids_are_stable_across_invocations_and_formats(built):
    first, second = feed(built, "atom"), feed(built, "atom")
    assert first == second  # byte for byte: nothing in it reads the clock
    atom_ids = [e.id for e in feedparser.parse(first).entries]
    assert len(set(atom_ids)) == 7 and all(i.startswith("urn:uuid:") for i in atom_ids)
    document = json_feed(built)
    assert [item["id"] for item in document["items"]] == atom_ids
    # an entry keeps its id in a feed limited to it
    esmo = json_feed(built, "--work", ESMO)
    assert {item["id"] for item in esmo["items"]} <= set(atom_ids)


def test_the_json_feed_is_valid_json_feed_1_1_and_read_by_a_json_feed_reader(built):
    text = feed(built, "jsonfeed", "--url", "https://harvest.example.org/-/harvester/changes.json")
    document = json.loads(text)
    check_json_feed(document)
    parsed = fastfeedparser.parse(text)
    assert parsed.feed.title == "harvester: changes"
    assert [e.id for e in parsed.entries] == [item["id"] for item in document["items"]]
    crossref = parsed.entries[1]
    assert crossref.title == f"{CORRECTED}: title changed"
    assert f"title: {ESMO_TITLE} → {CORRECTED} (crossref)" in crossref.content[0]["value"]
    assert crossref.link == f"https://doi.org/{ESMO}"
    # what a program reads: the change itself, the work and the run
    [change] = document["items"][1]["_harvester"]["changes"]
    assert (change["field"], change["old_value"], change["new_value"], change["source"]) == (
        "title",
        ESMO_TITLE,
        CORRECTED,
        "crossref",
    )
    assert document["items"][1]["_harvester"]["work_id"] == work_id(built, ESMO)


def test_the_schema_refuses_what_json_feed_1_1_does(built):
    """The check above can fail: an item with neither content, a feed without items."""
    document = json_feed(built)
    without_content = json.loads(json.dumps(document))
    del without_content["items"][0]["content_text"], without_content["items"][0]["content_html"]
    with pytest.raises(jsonschema.ValidationError):
        check_json_feed(without_content)
    with pytest.raises(jsonschema.ValidationError):
        check_json_feed({k: v for k, v in document.items() if k != "items"})


# --- limited to the watch list or a query --------------------------------------------------------


def test_tracked_limits_the_feed_to_works_of_tracked_identifiers(built):
    parsed = atom(built, "--tracked")
    assert parsed.feed.title == "harvester: changes to tracked works"
    assert [e.title for e in parsed.entries] == [
        f"{CORRECTED}: title changed",
        f"New work: {ESMO_TITLE}",
    ]


def test_field_work_and_since_limit_the_feed(built):
    years = atom(built, "--field", "year")  # every new work set its year; none changed it since
    assert all(e.title.startswith("New work: ") for e in years.entries) and len(years.entries) == 5
    titles = atom(built, "--field", "title", "--work", ESMO)
    assert [e.title for e in titles.entries] == [
        f"{CORRECTED}: title changed",
        f"New work: {ESMO_TITLE}",
    ]
    [(last_run_at,)] = rows(built, "SELECT started_at FROM runs ORDER BY id DESC LIMIT 1")
    recent = atom(built, "--since", last_run_at)
    assert recent.entries[0].title == f"{RETITLED}: title changed"
    assert all(e.updated >= last_run_at for e in recent.entries)
    assert atom(built, "--since", "2999-01-01").entries == []


def test_bad_input_is_one_line_and_exit_2(built):
    for args, said in (
        (("--before", "yesterday"), "--before"),
        (("--field", "titel"), "'titel' is not a field"),
        (("--work", "10.9999/not-stored"), "no such work"),
        (("--limit", "0"), "--limit"),
        (("--since", "a while ago"), "--since"),
    ):
        done = built("feed", "--format", "atom", *args)
        assert done.returncode == 2, (args, done.stderr)
        assert said in done.stderr and done.stdout == ""


def test_output_file_is_replaced_whole(built, tmp_path):
    target = tmp_path / "changes.atom"
    target.write_text("an older feed, much longer than the new one " * 1000)
    done = built("feed", "--format", "atom", "-o", str(target))
    assert done.returncode == 0, done.stderr
    assert target.read_text() == feed(built, "atom")
    assert [p.name for p in tmp_path.iterdir()] == ["changes.atom"]


# --- paging ---------------------------------------------------------------------------------------


def pages(harvest: HarvestCommand, *args: str) -> list[list[str]]:
    """Every page of the feed, following each page's next cursor as a subscriber follows its
    next link."""
    found, before = [], []
    while True:
        document = json_feed(harvest, *args, *before)
        found.append([item["id"] for item in document["items"]])
        cursor = document["_harvester"]["next_cursor"]
        if cursor is None:
            return found
        before = ["--before", cursor]


def test_pages_follow_each_other_without_overlap_and_a_new_run_does_not_move_them(fresh):
    harvest, _ = fresh
    whole = [item["id"] for item in json_feed(harvest)["items"]]
    paged = pages(harvest, "--limit", "2")
    assert [len(p) for p in paged] == [2, 2, 2, 1]
    assert [i for page in paged for i in page] == whole  # in order, nothing twice, nothing lost

    parsed = atom(harvest, "--limit", "2", "--url", "https://h.example/-/harvester/changes.atom")
    [next_url] = [link.href for link in parsed.feed.links if link.rel == "next"]
    cursor = parse_qs(urlsplit(next_url).query)["before"][0]
    assert parse_qs(urlsplit(next_url).query)["limit"] == ["2"]
    second = [e.id for e in atom(harvest, "--limit", "2", "--before", cursor).entries]
    assert second == paged[1]

    done = harvest("set", ESMO, "pages=e000777")  # a new run, a new change
    assert done.returncode == 0, done.stderr
    assert [e.id for e in atom(harvest, "--limit", "2", "--before", cursor).entries] == second
    newest = atom(harvest, "--limit", "2").entries[0]
    assert newest.title == f"{CORRECTED}: pages changed"
    assert "pages: " in content(newest) and "→ e000777 (local)" in content(newest)
    assert newest.id not in whole


def test_a_merge_is_an_entry_of_the_work_that_absorbed_the_other(fresh):
    harvest, _ = fresh
    keep, absorb = work_id(harvest, "10.5555/feed.two"), work_id(harvest, "10.5555/feed.three")
    done = harvest("merge", str(keep), str(absorb))
    assert done.returncode == 0, done.stderr
    [newest, *_] = atom(harvest).entries
    assert newest.title.startswith("A second paper of ours: ")
    assert f"merged with work {absorb}" in newest.title
    assert f"work {absorb} merged into work {keep}" in content(newest)


def test_a_title_with_terminal_escapes_is_a_well_formed_feed_without_them(fresh):
    harvest, _ = fresh
    (harvest.folder / "bad.csv").write_text(
        'doi,title\n10.5555/feed.bad,"Bold \x1b[1mclaims\x1b[0m\x07 here"\n', encoding="utf-8"
    )
    done = harvest("import", "bad.csv")
    assert done.returncode == 0, done.stderr
    newest = atom(harvest).entries[0]  # feedparser: not bozo, so well-formed XML
    assert newest.title == "New work: Bold claims here"
    assert json_feed(harvest)["items"][0]["title"] == "New work: Bold claims here"


# --- the Datasette route --------------------------------------------------------------------------


def browse(db: Path, *paths: str) -> list:
    async def go():
        ds = Datasette([str(db)])
        await ds.invoke_startup()
        try:
            return [await ds.client.get(path) for path in paths]
        finally:
            ds.databases["harvest"].close()

    return asyncio.run(go())


def follow(db: Path, path: str, read) -> list:
    """Every page of the route from `path`, following each page's next link."""
    got = []
    while path:
        (response,) = browse(db, path)
        assert response.status_code == 200, response.text
        page, path = read(response)
        got.append(page)
    return got


def test_the_datasette_route_serves_the_same_atom_pages(built):
    cli = [e.id for e in atom(built).entries]

    def read(response):
        assert response.headers["content-type"].startswith("application/atom+xml")
        parsed = feedparser.parse(response.text)
        assert not parsed.bozo, parsed.get("bozo_exception")
        links = {link.rel: link.href for link in parsed.feed.links}
        assert links["self"].startswith("http://localhost/-/harvester/changes.atom?limit=3")
        following = links.get("next")
        return parsed.entries, following and following.removeprefix("http://localhost")

    paged = follow(built.db_path, "/-/harvester/changes.atom?limit=3", read)
    assert [len(p) for p in paged] == [3, 3, 1]
    entries = [e for page in paged for e in page]
    assert [e.id for e in entries] == cli
    # each entry links to its work's page here, and that page is there
    crossref = entries[1]
    assert crossref.link == f"http://localhost/harvest/works/{work_id(built, ESMO)}"
    assert f"https://doi.org/{ESMO}" in [link.href for link in crossref.links]
    (page,) = browse(built.db_path, crossref.link.removeprefix("http://localhost"))
    assert page.status_code == 200 and CORRECTED in page.text


def test_the_datasette_route_serves_valid_json_feed_pages_with_the_same_parameters(built):
    cli = [item["id"] for item in json_feed(built, "--tracked", "--limit", "1")["items"]]

    def read(response):
        assert response.headers["content-type"].startswith("application/feed+json")
        document = response.json()
        check_json_feed(document)
        following = document.get("next_url")
        return document["items"], following and following.removeprefix("http://localhost")

    paged = follow(built.db_path, "/-/harvester/changes.json?tracked=1&limit=1", read)
    assert [len(p) for p in paged] == [1, 1]
    assert paged[0][0]["id"] == cli[0]
    assert [p[0]["title"] for p in paged] == [
        f"{CORRECTED}: title changed",
        f"New work: {ESMO_TITLE}",
    ]


def test_the_datasette_route_answers_a_bad_parameter_with_400(built):
    responses = browse(
        built.db_path,
        "/-/harvester/changes.atom?limit=lots",
        "/-/harvester/changes.json?field=titel",
        "/-/harvester/changes.json?before=1",
        "/-/harvester/changes.json?db=elsewhere",
    )
    assert [r.status_code for r in responses] == [400, 400, 400, 400]
    assert "'titel' is not a field" in responses[1].text


def test_a_reader_polling_the_route_is_told_nothing_changed_by_its_etag(fresh):
    harvest, _ = fresh
    path = "/-/harvester/changes.atom?tracked=1"
    (first,) = browse(harvest.db_path, path)
    etag = first.headers["etag"]

    async def conditional(tag: str):
        ds = Datasette([str(harvest.db_path)])
        await ds.invoke_startup()
        try:
            return await ds.client.get(path, headers={"If-None-Match": tag})
        finally:
            ds.databases["harvest"].close()

    unchanged = asyncio.run(conditional(etag))
    assert unchanged.status_code == 304 and unchanged.text == ""
    done = harvest("set", ESMO, "volume=6")
    assert done.returncode == 0, done.stderr
    changed = asyncio.run(conditional(etag))
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert feedparser.parse(changed.text).entries[0].title == f"{CORRECTED}: volume changed"
