"""Payload texts as the store keeps them: zstd frames, a quarter of the disk or less.

A payload of `source_records` is one of three forms (migration 0016):

- `payload` (TEXT): the text as is. Rows an older harvester wrote, until `convert` has
  compressed them (a batch at a time, resumable after a kill).
- `payload_z` with `payload_base` NULL: the whole text as one zstd frame, compressed with the
  source's dictionary (`payload_dicts`, trained on that source's first payloads; `payload_dict`
  names it) once the source has one, plain zstd before.
- `payload_z` with `payload_base` = the id of an earlier whole row of the same source and
  identifier: the text compressed with that row's whole text as the dictionary (a delta). A
  refresh that moved a count or a date adds a few hundred bytes instead of the whole payload
  again. A base is always a whole row, so reading any payload decodes at most two frames.

`payload_text(id)` (an SQL function on every harvester connection and in Datasette, through
`harvester.datasette_plugin`) gives any row's text whatever its form.
"""

from __future__ import annotations

import json
import sqlite3
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

import zstandard

#: How many payloads of a source its dictionary is trained on (the first ones stored).
DICT_SAMPLES = 200
#: The dictionary's size: about a hundredth of what it is trained on.
DICT_BYTES = 32 * 1024
#: zstd's level for whole payloads and deltas: 3 is zstd's default, fast on both sides.
LEVEL = 3
#: A delta larger than this share of its base's compressed frame is not worth a base lookup on
#: every read: the payload is stored whole instead, and becomes the base of the next versions.
DELTA_SHARE = 0.5
#: Rows per transaction when `convert` compresses the payloads of an older database.
CONVERT_BATCH = 500

_ROW = "SELECT payload, payload_z, payload_dict, payload_base FROM source_records WHERE id = ?"

#: The latest whole payload of each [source, identifier] of the JSON array bound to it (what
#: `encode` reads for one), for `encode_many`.
_BASES = """SELECT r.source, r.identifier, r.id, r.payload, r.payload_z, r.payload_dict
            FROM json_each(?) AS k
            JOIN source_records r ON r.id = (
              SELECT id FROM source_records
              WHERE source = json_extract(k.value, '$[0]')
                AND identifier = json_extract(k.value, '$[1]')
                AND payload_base IS NULL AND (payload_z IS NOT NULL OR payload IS NOT NULL)
              ORDER BY id DESC LIMIT 1)"""


class Payloads:
    """Encoding and decoding for one connection, with the dictionaries it has read cached.

    Dictionaries are immutable once stored, so they are cached by id for good; which source has
    which is read again at the start of every batch (`refresh`), since a rolled-back
    transaction may have trained one that no longer exists."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._dicts: dict[int, zstandard.ZstdCompressionDict] = {}
        self._compressors: dict[int | None, zstandard.ZstdCompressor] = {}
        self._decompressors: dict[int | None, zstandard.ZstdDecompressor] = {}
        self._by_source: dict[str, int] | None = None
        self._untrainable: set[str] = set()  # sources zstd could not train a dict for, here
        self._bases: OrderedDict[int, bytes] = OrderedDict()  # recently read base texts

    # --- dictionaries ----------------------------------------------------------------------

    def refresh(self) -> None:
        """Forget which source has which dictionary (read again when next needed)."""
        self._by_source = None
        self._bases.clear()

    def _source_dict(self, source: str) -> int | None:
        if self._by_source is None:
            self._by_source = dict(self.conn.execute("SELECT source, id FROM payload_dicts"))
        return self._by_source.get(source)

    def _dict(self, dict_id: int) -> zstandard.ZstdCompressionDict:
        found = self._dicts.get(dict_id)
        if found is None:
            row = self.conn.execute(
                "SELECT dict FROM payload_dicts WHERE id = ?", (dict_id,)
            ).fetchone()
            if row is None:
                raise sqlite3.DatabaseError(f"payload dictionary {dict_id} is missing")
            found = self._dicts[dict_id] = zstandard.ZstdCompressionDict(bytes(row[0]))
        return found

    def _compressor(self, dict_id: int | None) -> zstandard.ZstdCompressor:
        found = self._compressors.get(dict_id)
        if found is None:
            data = self._dict(dict_id) if dict_id is not None else None
            found = zstandard.ZstdCompressor(level=LEVEL, dict_data=data)
            self._compressors[dict_id] = found
        return found

    def _decompressor(self, dict_id: int | None) -> zstandard.ZstdDecompressor:
        found = self._decompressors.get(dict_id)
        if found is None:
            data = self._dict(dict_id) if dict_id is not None else None
            found = zstandard.ZstdDecompressor(dict_data=data)
            self._decompressors[dict_id] = found
        return found

    def train_when_due(self, sources: Iterable[str]) -> None:
        """Train the dictionary of each of `sources` that has none and has stored at least
        DICT_SAMPLES whole payloads, and compress those payloads again with it (inside the
        caller's transaction)."""
        for source in set(sources) - self._untrainable:
            if self._source_dict(source) is not None:
                continue
            stored = self.conn.execute(
                f"""SELECT count(*) FROM (
                      SELECT 1 FROM source_records
                      WHERE source = ? AND payload_base IS NULL
                        AND (payload_z IS NOT NULL OR payload IS NOT NULL)
                      LIMIT {DICT_SAMPLES})""",
                (source,),
            ).fetchone()[0]
            if stored >= DICT_SAMPLES:
                self.train(source)

    def train(self, source: str) -> int | None:
        """Train `source`'s dictionary on its first DICT_SAMPLES whole payloads and compress
        every whole payload of it that has no dictionary again with it; the dictionary's id,
        or None when zstd could not train one on these samples (too few, or too alike)."""
        rows = self.conn.execute(
            f"""SELECT id, payload, payload_z, payload_dict, payload_base FROM source_records
                WHERE source = ? AND payload_base IS NULL
                  AND (payload_z IS NOT NULL OR payload IS NOT NULL)
                ORDER BY id LIMIT {DICT_SAMPLES}""",
            (source,),
        ).fetchall()
        samples = [self.decode(*row[1:]).encode() for row in rows]
        try:
            trained = zstandard.train_dictionary(DICT_BYTES, samples, level=LEVEL)
        except zstandard.ZstdError:
            self._untrainable.add(source)  # not again in this process
            return None
        dict_id = trained.dict_id()
        self.conn.execute(
            """INSERT OR IGNORE INTO payload_dicts (id, source, dict, samples)
               VALUES (?, ?, ?, ?)""",
            (dict_id, source, trained.as_bytes(), len(samples)),
        )
        self._dicts[dict_id] = trained
        assert self._by_source is not None
        self._by_source[source] = dict_id
        self._recompress(source, dict_id)
        return dict_id

    def _recompress(self, source: str, dict_id: int) -> None:
        """Every whole payload of `source` without a dictionary, with `dict_id`."""
        rows = self.conn.execute(
            """SELECT id, payload, payload_z FROM source_records
               WHERE source = ? AND payload_base IS NULL AND payload_dict IS NULL
                 AND payload_z IS NOT NULL""",
            (source,),
        ).fetchall()
        compressor = self._compressor(dict_id)
        self.conn.executemany(
            "UPDATE source_records SET payload_z = ?, payload_dict = ? WHERE id = ?",
            [
                (compressor.compress(self.decode(payload, z, None, None).encode()), dict_id, i)
                for i, payload, z in rows
            ],
        )

    # --- encoding --------------------------------------------------------------------------

    def encode(
        self, source: str, identifier: str, text: str, *, before: int | None = None
    ) -> tuple[bytes, int | None, int | None]:
        """(payload_z, payload_dict, payload_base) of a new payload of `source` about
        `identifier`: a delta against the latest whole payload of the same (older than row
        `before`, when given), when there is one and the delta is small, else the whole text
        with the source's dictionary."""
        base = self.conn.execute(
            """SELECT id, payload, payload_z, payload_dict FROM source_records
               WHERE source = ? AND identifier = ? AND payload_base IS NULL
                 AND (payload_z IS NOT NULL OR payload IS NOT NULL) AND id < ?
               ORDER BY id DESC LIMIT 1""",
            (source, identifier, before if before is not None else 2**62),
        ).fetchone()
        return self._encoded(source, text.encode(), base)

    def encode_many(
        self, items: Sequence[tuple[str, str, str | None]]
    ) -> list[tuple[bytes | None, int | None, int | None]]:
        """`encode` of each (source, identifier, text), the bases of all of them read in one
        query (a text of None: no payload, three NULLs). The (source, identifier) pairs must
        be distinct: the new row of one is not the base of another."""
        pairs = sorted({(source, identifier) for source, identifier, text in items if text})
        bases: dict[tuple[str, str], tuple[Any, ...]] = {}
        if pairs:
            rows = self.conn.execute(_BASES, (json.dumps(pairs),))
            bases = {(source, identifier): base for source, identifier, *base in rows}
        return [
            (None, None, None)
            if text is None
            else self._encoded(source, text.encode(), bases.get((source, identifier)))
            for source, identifier, text in items
        ]

    def _encoded(
        self, source: str, data: bytes, base: Sequence[Any] | None
    ) -> tuple[bytes, int | None, int | None]:
        """`data` as a delta against `base` (id, payload, payload_z, payload_dict) when that is
        small, else whole with the source's dictionary."""
        if base is not None:
            base_id, base_text, base_z, base_dict = base
            reference = self._base_bytes(base_id, base_text, base_z, base_dict)
            prefix = zstandard.ZstdCompressionDict(
                reference, dict_type=zstandard.DICT_TYPE_RAWCONTENT
            )
            delta = zstandard.ZstdCompressor(level=LEVEL, dict_data=prefix).compress(data)
            whole_size = len(base_z) if base_z is not None else len(reference) / 4
            if len(delta) <= DELTA_SHARE * whole_size:
                return delta, None, base_id
        dict_id = self._source_dict(source)
        return self._compressor(dict_id).compress(data), dict_id, None

    # --- decoding --------------------------------------------------------------------------

    def decode(
        self,
        payload: str | None,
        payload_z: bytes | None,
        payload_dict: int | None,
        payload_base: int | None,
    ) -> str | None:
        """The text of a row from its four payload columns."""
        if payload is not None or payload_z is None:
            return payload
        if payload_base is None:
            return self._decompressor(payload_dict).decompress(payload_z).decode()
        row = self.conn.execute(_ROW, (payload_base,)).fetchone()
        if row is None:
            raise sqlite3.DatabaseError(f"payload base {payload_base} is missing")
        reference = self._base_bytes(payload_base, row[0], row[1], row[2])
        prefix = zstandard.ZstdCompressionDict(reference, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
        return zstandard.ZstdDecompressor(dict_data=prefix).decompress(payload_z).decode()

    def _base_bytes(
        self, base_id: int, text: str | None, z: bytes | None, dict_id: int | None
    ) -> bytes:
        found = self._bases.get(base_id)
        if found is None:
            whole = text.encode() if text is not None else None
            found = whole or self._decompressor(dict_id).decompress(z)
            self._bases[base_id] = found
            if len(self._bases) > 64:
                self._bases.popitem(last=False)
        return found

    def text_of(self, row_id: int | None) -> str | None:
        """The payload text of `source_records` row `row_id` (None for no such row, or a
        not_found answer): `payload_text(id)` in SQL."""
        if row_id is None:
            return None
        row = self.conn.execute(_ROW, (row_id,)).fetchone()
        return None if row is None else self.decode(*row)

    def materialize(self, row_ids: Iterable[int]) -> None:
        """Store these delta rows whole (their base is about to go: `Works.delete`)."""
        for row_id in row_ids:
            text = self.text_of(row_id)
            if text is None:
                continue
            source = self.conn.execute(
                "SELECT source FROM source_records WHERE id = ?", (row_id,)
            ).fetchone()[0]
            dict_id = self._source_dict(source)
            self.conn.execute(
                """UPDATE source_records SET payload_z = ?, payload_dict = ?, payload_base = NULL
                   WHERE id = ?""",
                (self._compressor(dict_id).compress(text.encode()), dict_id, row_id),
            )

    # --- an older database -----------------------------------------------------------------

    def convert(self, where: str, *, batch: int | None = None, limit: int | None = None) -> int:
        """Compress the payloads an older harvester stored as text, CONVERT_BATCH rows per
        transaction, oldest first, so that a kill loses at most the batch in hand and the next
        open goes on from there; each source's dictionary is trained on its first payloads
        before any is compressed. Returns how many rows were compressed (`limit`: at most
        about that many, for tests of an interrupted conversion)."""
        from harvester.store.base import transaction

        done, batch = 0, batch or CONVERT_BATCH
        if not self._pending():
            return 0
        with transaction(self.conn, where):
            self.refresh()
            sources = [row[0] for row in self.conn.execute(
                "SELECT DISTINCT source FROM source_records WHERE payload IS NOT NULL"
            )]  # fmt: skip
            for source in sources:
                if self._source_dict(source) is None:
                    self.train_when_due([source])
        last = 0
        while limit is None or done < limit:
            with transaction(self.conn, where):
                rows = self.conn.execute(
                    """SELECT id, source, identifier, payload FROM source_records
                       WHERE payload IS NOT NULL AND id > ? ORDER BY id LIMIT ?""",
                    (last, batch),
                ).fetchall()
                if not rows:
                    break
                for row_id, source, identifier, text in rows:
                    encoded = self.encode(source, identifier, text, before=row_id)
                    self.conn.execute(
                        """UPDATE source_records
                           SET payload = NULL, payload_z = ?, payload_dict = ?, payload_base = ?
                           WHERE id = ?""",
                        (*encoded, row_id),
                    )
                last = rows[-1][0]
                done += len(rows)
        return done

    def _pending(self) -> bool:
        """Whether any payload is still text (instant: the partial index `source_records_text`
        holds only those rows)."""
        row = self.conn.execute(
            "SELECT 1 FROM source_records INDEXED BY source_records_text "
            "WHERE payload IS NOT NULL LIMIT 1"
        ).fetchone()
        return row is not None


def attach(conn: sqlite3.Connection) -> Payloads:
    """The payloads of this connection, with `payload_text(id)` registered on it."""
    payloads = Payloads(conn)
    conn.create_function("payload_text", 1, payloads.text_of)
    return payloads
