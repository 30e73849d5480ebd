"""A harvest database with something in every review queue, built through the library from the
kept fixtures (tests/fixtures): the blog post harvested from Crossref and OpenAlex, Crossref's
record carrying the Wakefield paper's real `updated-by` (kept; as test_digest.py replays a
retraction) so that the work has integrity notices, whose year the user then set to one the sources do not give (a conflict); a BibTeX record of the ESMO Open paper
without its DOI, with that DOI kept as a pending match candidate; Martin Fenner followed by his
ORCID iD, with a pending claim on the blog post. Used by test_review_console.py (the browser) and
test_review_actions.py (Datasette's test client)."""

from __future__ import annotations

import json
from pathlib import Path

from upstream import ReplayUpstream

from harvester.config import Config
from harvester.formats import read_records
from harvester.identifiers import parse_doi
from harvester.models import MatchCandidate
from harvester.people import read_person_id
from harvester.pipeline import connect, edit_work, harvest, import_records
from harvester.store import open_store

BLOG = "10.53731/ybhah-9jy85"  # Crossref and OpenAlex, kept
ESMO = "10.1136/esmoopen-2020-000776"  # Crossref, kept
ESMO_TITLE = (
    "Phase II study of lenvatinib for metastatic colorectal cancer refractory to standard "
    "chemotherapy: the LEMON study (NCCH1503)"
)
BIB = f"""@article{{iwasa2020,
  title = {{{ESMO_TITLE}}},
  author = {{Iwasa, Satoru and Okita, Natsuko}},
  journal = {{ESMO Open}},
  year = {{2020}},
}}
"""
FENNER_ORCID = "0000-0003-1419-2405"


WAKEFIELD = (
    Path(__file__).parent
    / "fixtures"
    / "crossref"
    / "updated-by_10.1016_s0140-6736-97-11096-0.jsonl"
)
RETRACTION = "10.1016/s0140-6736(10)60175-4"  # Retraction Watch's record 4036


def serve_kept(upstream: ReplayUpstream) -> None:
    """What the site's upstream answers: the two kept Crossref records (the blog's with the
    kept `updated-by`), OpenAlex's of the blog."""
    upstream.add_crossref("10.53731_ybhah-9jy85", "10.1136_esmoopen-2020-000776")
    upstream.add_openalex("10.53731_ybhah-9jy85")
    updates = [json.loads(line) for line in WAKEFIELD.read_text().splitlines()]
    upstream.change(BLOG, **{"updated-by": updates})


def build(db: Path, config: Config) -> dict[str, int]:
    """The database: returns the ids of the blog's work, the record without a DOI, the claim."""
    store = open_store(db)
    try:
        harvest(
            [parse_doi(BLOG)], store=store, client=connect(config), config=config,
            command="harvest doi",
        )  # fmt: skip
        blog = store.works.find_work_id("doi", BLOG)
        edit_work(blog, {"year": 2024}, store=store, config=config, command="harvest set")
        imported = import_records(
            read_records(BIB, "bibtex"), store=store, config=config, command="harvest import"
        )
        [record] = [o.work_id for o in imported.outcomes]
        run = store.runs.start("harvest match")
        store.matches.keep(
            run,
            [
                MatchCandidate(
                    work_id=record,
                    doi=ESMO,
                    score=0.82,
                    decision="pending",
                    reasons="title agrees; first author surname matches",
                    title=ESMO_TITLE,
                    year=2020,
                    authors="Iwasa; Okita",
                    container_title="ESMO Open",
                )
            ],
            [],
        )
        store.runs.finish(run, "ok")
        person = store.people.add("Martin Fenner", [read_person_id(FENNER_ORCID)])
        with store.transaction():
            claim = store.claims.offer(person, blog, "orcid", "put-code 1").claim_id
    finally:
        store.close()
    return {"blog": blog, "record": record, "claim": claim, "person": person}
