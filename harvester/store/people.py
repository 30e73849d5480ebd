"""The people the harvester follows (`people`, `person_ids`, migration 0021): who they are and
the identifiers they carry. Every write is one transaction that checks, inside it, that no
identifier is held by another person, so a refused command leaves the database as it was.
And their claim queue (`claims`, the same migration): the works found through a person, one
claim per (person, work), waiting to be accepted or rejected."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harvester.people import PersonId, PersonRefused, read_person_id
from harvester.store.base import Part
from harvester.store.watch import watch_rows

#: The identifiers several people may carry: their institution's ROR id (migration 0022).
SHARED_SCHEMES = frozenset({"ror"})


class People(Part):
    """The `people` and `person_ids` tables."""

    def add(self, name: str, ids: Sequence[PersonId]) -> int:
        """A new person with these identifiers; PersonRefused (nothing written) when another
        person holds one of them. Returns the new person's number."""
        with self.transaction() as conn:
            self._refuse_held(ids, person_id=None)
            now = self.now()
            cursor = conn.execute(
                "INSERT INTO people (name, created_at, updated_at) VALUES (?, ?, ?)",
                (name, now, now),
            )
            person_id = int(cursor.lastrowid)
            self._insert_ids(person_id, ids, now)
        return person_id

    def update(
        self, person_id: int, *, name: str | None = None, ids: Sequence[PersonId] = ()
    ) -> list[PersonId]:
        """Rename a person and/or give them more identifiers (one they hold already is left
        as it is); PersonRefused (nothing written) when another person holds one. Returns the
        identifiers that were new to them."""
        with self.transaction() as conn:
            self._refuse_held(ids, person_id=person_id)
            held = {(i["scheme"], i["key"]) for i in self._ids(person_id)}
            new = list(
                {(i.scheme, i.key): i for i in ids if (i.scheme, i.key) not in held}.values()
            )
            now = self.now()
            self._insert_ids(person_id, new, now)
            if new or (name is not None and name != self._name(person_id)):
                conn.execute(
                    "UPDATE people SET name = coalesce(?, name), updated_at = ? WHERE id = ?",
                    (name, now, person_id),
                )
        return new

    def remove(self, person_ids: Sequence[int]) -> list[dict[str, Any]]:
        """Remove people with their identifiers and claims, in one transaction; each as it was."""
        with self.transaction() as conn:
            removed = [self.get(person_id) for person_id in person_ids]
            for person_id in person_ids:
                # Their feeds' watermarks go with them: someone added again starts afresh.
                conn.executemany(
                    "DELETE FROM feeds WHERE feed LIKE 'person:%' AND endpoint = ?",
                    [(followed(i["scheme"], i["key"]),) for i in self._ids(person_id)],
                )
                conn.execute("DELETE FROM claims WHERE person_id = ?", (person_id,))
                conn.execute("DELETE FROM person_ids WHERE person_id = ?", (person_id,))
                conn.execute("DELETE FROM people WHERE id = ?", (person_id,))
        return [person for person in removed if person is not None]

    def find(self, text: str) -> int | None:
        """The person `text` names: their number, or any identifier they carry, in any form
        people paste it (BadIdentifier when it looks like an identifier with a wrong check
        digit). None when no one on record is so named."""
        cleaned = text.strip()
        if cleaned.isdigit() and not cleaned.startswith("0"):
            row = self.conn.execute("SELECT id FROM people WHERE id = ?", (int(cleaned),))
            found = row.fetchone()
            return found[0] if found else None
        person_id = read_person_id(cleaned)
        if person_id is None:
            return None
        holders = self.holders(person_id)
        if len(holders) > 1:  # a ROR id: the institution of several people
            raise PersonRefused(
                f"{len(holders)} people carry {person_id.label} {person_id.value} (people "
                f"{', '.join(map(str, holders))}): name one by their number"
            )
        return holders[0] if holders else None

    def holder(self, person_id: PersonId) -> int | None:
        """Who holds this identifier, if anyone (the first of them, for a ROR id)."""
        holders = self.holders(person_id)
        return holders[0] if holders else None

    def holders(self, person_id: PersonId) -> list[int]:
        """Who holds this identifier, in the order they were added: one person at most, but
        for a ROR id (their institution's, which many people share)."""
        return [
            row[0]
            for row in self.conn.execute(
                "SELECT person_id FROM person_ids WHERE scheme = ? AND key = ? ORDER BY person_id",
                (person_id.scheme, person_id.key),
            )
        ]

    def of_institution(self, ror_key: str) -> list[dict[str, Any]]:
        """The people whose ids carry the ROR id `ror_key` (bare), as `get` gives them."""
        numbers = self.holders(PersonId("ror", ror_key, ror_key))
        return [person for n in numbers if (person := self.get(n)) is not None]

    def get(self, person_id: int) -> dict[str, Any] | None:
        """A person as `harvest person show --json` gives them: their row and their ids."""
        cursor = self.conn.execute(
            "SELECT id, name, created_at, updated_at FROM people WHERE id = ?", (person_id,)
        )
        row = cursor.fetchone()
        if row is None:
            return None
        person = dict(zip([d[0] for d in cursor.description], row, strict=True))
        return {**person, "ids": self._ids(person_id)}

    def listing(self) -> list[dict[str, Any]]:
        """Every person on record, in the order they were added, with their ids."""
        numbers = [r[0] for r in self.conn.execute("SELECT id FROM people ORDER BY id")]
        return [person for n in numbers if (person := self.get(n)) is not None]

    def _ids(self, person_id: int) -> list[dict[str, Any]]:
        cursor = self.conn.execute(
            """SELECT scheme, value, key, added_at FROM person_ids WHERE person_id = ?
               ORDER BY added_at, scheme, key""",
            (person_id,),
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]

    def _name(self, person_id: int) -> str | None:
        row = self.conn.execute("SELECT name FROM people WHERE id = ?", (person_id,)).fetchone()
        return row[0] if row else None

    def _refuse_held(self, ids: Sequence[PersonId], person_id: int | None) -> None:
        """PersonRefused naming who holds the first of `ids` that a person other than
        `person_id` holds."""
        for wanted in ids:
            if wanted.scheme in SHARED_SCHEMES:
                continue
            holder = self.holder(wanted)
            if holder is not None and holder != person_id:
                raise PersonRefused(
                    f"{wanted.label} {wanted.value} is held by person {holder} "
                    f"({self._name(holder)}); two people may not share an id "
                    f"(to add ids to person {holder}: harvest person set {holder} ...)"
                )

    def _insert_ids(self, person_id: int, ids: Sequence[PersonId], now: str) -> None:
        self.conn.executemany(
            "INSERT OR IGNORE INTO person_ids (person_id, scheme, value, key, added_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [(person_id, i.scheme, i.value, i.key, now) for i in ids],
        )


def person_feed_key(feed: str, scheme: str, key: str) -> str:
    """The `feeds` row of a person feed (`sources.PERSON_FEEDS`) of one of their ids:
    "person:orcid:0000-0002-1825-0097"; its `endpoint` is what it follows (`followed`)."""
    return f"person:{feed}:{key}" if feed == scheme else f"person:{feed}:{scheme}:{key}"


def followed(scheme: str, key: str) -> str:
    """The `endpoint` of a person feed's row: the id it follows, "orcid:0000-..."."""
    return f"{scheme}:{key}"


#: What a claim can be: waiting for a person, or settled by one.
CLAIM_STATUSES = ("pending", "accepted", "rejected")


@dataclass(frozen=True, slots=True)
class Offered:
    """What became of a candidate offered to the queue: `new` (a claim now pending), `seen`
    (the claim was there; this feed's evidence added to it when it is a new feed), or
    `rejected` (a person rejected it: never offered again, nothing changed)."""

    claim_id: int
    status: str
    outcome: str


class Claims(Part):
    """The `claims` table: works found through a person, one claim per (person, work)."""

    def offer(self, person_id: int, work_id: int, feed: str, evidence: str) -> Offered:
        """A candidate: `work_id` found through `person_id` by `feed` (`orcid`, `ras`, ...)
        with `evidence` (what it saw). Written in the caller's transaction (a feed's batch),
        so a claim is on record only with the work it names. Found again by another feed, it
        is the same claim with both feeds' evidence; once rejected, it stays rejected."""
        row = self.conn.execute(
            "SELECT id, status, found_by, evidence FROM claims WHERE person_id = ? AND work_id = ?",
            (person_id, work_id),
        ).fetchone()
        if row is None:
            cursor = self.conn.execute(
                """INSERT INTO claims (person_id, work_id, status, found_by, evidence, found_at)
                   VALUES (?, ?, 'pending', ?, ?, ?)""",
                (person_id, work_id, feed, json.dumps({feed: evidence}), self.now()),
            )
            return Offered(int(cursor.lastrowid), "pending", "new")
        claim_id, status, found_by, said = row
        if status == "rejected":
            return Offered(claim_id, status, "rejected")
        feeds = found_by.split(",")
        if feed not in feeds:
            self.conn.execute(
                "UPDATE claims SET found_by = ?, evidence = ? WHERE id = ?",
                (
                    ",".join([*feeds, feed]),
                    json.dumps({**json.loads(said), feed: evidence}),
                    claim_id,
                ),
            )
        return Offered(claim_id, status, "seen")

    def settle(
        self, claim_ids: Sequence[int], status: str, reason: str | None
    ) -> list[dict[str, Any]]:
        """Accept or reject claims, with the reason kept, in one transaction; PersonRefused
        (nothing written) when one of them is not on record. Returns them as they are now."""
        if status not in ("accepted", "rejected"):
            raise ValueError(f"settle: {status!r} is not accepted or rejected")
        with self.transaction() as conn:
            missing = [c for c in claim_ids if self.get(c) is None]
            if missing:
                raise PersonRefused(
                    f"no such claim: {missing[0]} (harvest claims --all shows them)"
                )
            now = self.now()
            conn.executemany(
                "UPDATE claims SET status = ?, reason = ?, settled_at = ? WHERE id = ?",
                [(status, reason, now, c) for c in claim_ids],
            )
            if status == "accepted":
                for claim_id in claim_ids:
                    self.watch_work(claim_id, now)
            return [claim for c in claim_ids if (claim := self.get(c)) is not None]

    def accept_own(self, claim_id: int, reason: str) -> None:
        """Accept a pending claim the person's own record backs (`[people] auto_accept_own`),
        its work watched, in the caller's transaction (the feed's page)."""
        now = self.now()
        self.conn.execute(
            """UPDATE claims SET status = 'accepted', reason = ?, settled_at = ?
               WHERE id = ? AND status = 'pending'""",
            (reason, now, claim_id),
        )
        self.watch_work(claim_id, now)

    def watch_work(self, claim_id: int, now: str) -> None:
        """An accepted work is tracked and harvested like any other: its DOI and handle go on
        the watch list (again: an identifier it gained since, say its RePEc handle, joins),
        in the caller's transaction."""
        rows = self.conn.execute(
            """SELECT i.scheme, i.key, i.value FROM claims c
                 JOIN identifiers i ON i.work_id = c.work_id
                WHERE c.id = ? AND i.scheme IN ('doi', 'repec')""",
            (claim_id,),
        ).fetchall()
        watch_rows(self.conn, rows, now)

    def get(self, claim_id: int) -> dict[str, Any] | None:
        found = self.listing(claim_id=claim_id, statuses=CLAIM_STATUSES)
        return found[0] if found else None

    def listing(
        self,
        person_id: int | None = None,
        statuses: Sequence[str] = ("pending",),
        claim_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """Claims with their person's name and their work's DOI, handle and title (None when
        the work was deleted since), oldest first."""
        wanted = {f"s{n}": status for n, status in enumerate(statuses)}
        marks = ",".join(f":{name}" for name in wanted)
        cursor = self.conn.execute(
            f"""SELECT c.id, c.person_id, p.name AS person, c.work_id, w.doi, w.repec_handle,
                       w.title, c.status, c.found_by, c.evidence, c.found_at, c.reason,
                       c.settled_at
                  FROM claims c JOIN people p ON p.id = c.person_id
                  LEFT JOIN works w ON w.id = c.work_id
                 WHERE c.status IN ({marks}) AND (:person IS NULL OR c.person_id = :person)
                   AND (:claim IS NULL OR c.id = :claim)
                 ORDER BY c.id""",
            {**wanted, "person": person_id, "claim": claim_id},
        )
        names = [d[0] for d in cursor.description]
        claims = [dict(zip(names, row, strict=True)) for row in cursor]
        for claim in claims:
            claim["found_by"] = claim["found_by"].split(",")
            claim["evidence"] = json.loads(claim["evidence"])
        return claims


class Institutions(Part):
    """The `institutions` table (migration 0022): the institutions followed by ROR id. Their
    people are the people whose ids carry that ROR id (People.of_institution)."""

    def add(self, ror: PersonId, name: str | None) -> tuple[dict[str, Any], bool]:
        """Follow an institution (a name given again renames it); returns it and whether it
        is new."""
        with self.transaction() as conn:
            known = self.get(ror.key)
            if known is None:
                conn.execute(
                    "INSERT INTO institutions (key, ror, name, added_at) VALUES (?, ?, ?, ?)",
                    (ror.key, ror.value, name, self.now()),
                )
            elif name is not None and name != known["name"]:
                conn.execute("UPDATE institutions SET name = ? WHERE key = ?", (name, ror.key))
            found = self.get(ror.key)
        assert found is not None
        return found, known is None

    def get(self, key: str) -> dict[str, Any] | None:
        found = self.listing(key=key)
        return found[0] if found else None

    def listing(self, key: str | None = None) -> list[dict[str, Any]]:
        """Every institution followed, in the order added, with how many people carry its ROR."""
        cursor = self.conn.execute(
            """SELECT i.key, i.ror, i.name, i.added_at,
                      (SELECT count(*) FROM person_ids p
                        WHERE p.scheme = 'ror' AND p.key = i.key) AS people
                 FROM institutions i WHERE :key IS NULL OR i.key = :key
                ORDER BY i.added_at, i.key""",
            {"key": key},
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]

    def remove(self, keys: Sequence[str]) -> list[dict[str, Any]]:
        """Stop following institutions, each as it was; their people keep their ROR ids. Their
        listings' watermarks go with them ("institution:FEED:KEY" in `feeds`): one added again
        starts afresh, as a person does."""
        with self.transaction() as conn:
            removed = [found for key in keys if (found := self.get(key)) is not None]
            conn.executemany("DELETE FROM institutions WHERE key = ?", [(k,) for k in keys])
            conn.executemany(
                "DELETE FROM feeds WHERE feed GLOB 'institution:*:' || ?", [(k,) for k in keys]
            )
        return removed
