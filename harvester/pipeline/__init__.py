"""The orchestrator: every entry point (`harvest doi`, `harvest repec`, `harvest import`,
`harvest set`, later `harvest run` and the scheduler) calls in here. It asks the sources, merges what
they say with the user's own values, and hands each chunk to the store as one transaction; it does no
I/O of its own beyond calling the sources and the store.

- `common`: the run record, payload hashing, and
  `observe_answers`, the one decision between "unchanged" and a new merge;
- `dois`: DOIs, routed to their registration agency, enriched from OpenAlex;
- `repec`: RePEc handles and series from an archive tree, and the DOIs they carry;
- `feeds`: the feed driver (Crossref journals, OAI-PMH repositories), the one place a
  watermark moves, and `harvest oai`;
- `people`: the people followed, their person feeds (ORCID, RAS) into the claim queue;
- `nightly`: `harvest run`, what the watch list has due, the configured feeds and the people,
  in one run;
- `local`: the user's own values (`import`, `set`, `unset`);
- `match`: the DOI of a record that has none, found at Crossref, linked or kept for review;
- `reparse`: works rebuilt from their stored payloads after a parser changed, asking nobody.
"""

from harvester.pipeline.common import (
    RunResult,
    answer_of,
    canonical_payload,
    merge_work,
    observe_answers,
    unique_dois,
)
from harvester.pipeline.dois import harvest
from harvester.pipeline.feeds import feed_key, harvest_feed, harvest_oai
from harvester.pipeline.local import (
    ImportResult,
    delete_works,
    edit_work,
    import_records,
    local_observation,
    merge_works,
    record_key,
)
from harvester.pipeline.match import MatchResult, match_works, refusal, settle_matches
from harvester.pipeline.nightly import Plan, harvest_due, plan_run
from harvester.pipeline.people import harvest_people
from harvester.pipeline.reparse import reparse
from harvester.pipeline.repec import harvest_repec
from harvester.sources import connect
from harvester.sources.oaipmh import endpoint_url

__all__ = [
    "ImportResult",
    "MatchResult",
    "Plan",
    "RunResult",
    "answer_of",
    "canonical_payload",
    "connect",
    "delete_works",
    "edit_work",
    "endpoint_url",
    "feed_key",
    "harvest",
    "harvest_due",
    "harvest_feed",
    "harvest_oai",
    "harvest_people",
    "harvest_repec",
    "import_records",
    "local_observation",
    "match_works",
    "merge_work",
    "merge_works",
    "observe_answers",
    "plan_run",
    "record_key",
    "refusal",
    "reparse",
    "settle_matches",
    "unique_dois",
]
