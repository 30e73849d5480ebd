"""The kept fixtures (tests/fixtures) say where each came from, and are not copies of the corpus,
which may not be committed: a name in both would also make a lookup ambiguous."""

from __future__ import annotations

import csv
import hashlib
import json
import re

from conftest import KEPT

PROVENANCE = KEPT / "PROVENANCE.tsv"
COLUMNS = ["file", "repo", "path", "commit", "interaction", "request", "note"]


def rows() -> list[dict[str, str]]:
    with PROVENANCE.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f, delimiter="\t")
        assert reader.fieldnames == COLUMNS
        return list(reader)


def kept_files() -> list[str]:
    return sorted(
        str(p.relative_to(KEPT))
        for p in KEPT.rglob("*")
        if p.is_file() and p != PROVENANCE and not p.name.endswith(".meta.json")
    )


def test_every_kept_fixture_has_one_provenance_row_naming_its_source():
    table = rows()
    assert sorted(r["file"] for r in table) == kept_files()
    for row in table:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", row["repo"]), row
        assert row["path"] and row["note"], row
        assert re.fullmatch(r"[0-9a-f]{40}", row["commit"]), row


def test_sidecars_belong_to_a_kept_fixture_and_name_its_cassette():
    by_file = {r["file"]: r for r in rows()}
    sidecars = sorted(KEPT.rglob("*.meta.json"))
    assert sidecars
    for sidecar in sidecars:
        meta = json.loads(sidecar.read_bytes())
        stem = str(sidecar.relative_to(KEPT))[: -len(".meta.json")]
        [body] = [f for f in by_file if f.rsplit(".", 1)[0] == stem]
        row = by_file[body]
        assert meta["source"]["repo"] == row["repo"] and meta["source"]["path"] == row["path"]
        assert meta["source"]["commit"] == row["commit"]
        assert str(meta["source"]["interaction"]) == row["interaction"]
        assert row["request"].endswith(meta["request"]["url"])
        assert isinstance(meta["response"]["status"], int)


def test_kept_fixtures_are_not_copies_of_the_corpus(fixtures_dir):
    corpus = [p for p in fixtures_dir.rglob("*") if p.is_file()]
    names = {str(p.relative_to(fixtures_dir)) for p in corpus}
    digests = {hashlib.sha256(p.read_bytes()).hexdigest(): p for p in corpus}
    for name in kept_files():
        assert name not in names, f"{name} is also a corpus name"
        digest = hashlib.sha256((KEPT / name).read_bytes()).hexdigest()
        assert digest not in digests, f"{name} has the bytes of {digests.get(digest)}"
