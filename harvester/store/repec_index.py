"""The RePEc index: where each handle lives in the archive tree, and what each file was when
last read, so a single handle is found without walking the tree and an unchanged file is not
read again."""

from __future__ import annotations

from collections.abc import Sequence

from harvester.store.base import Part


class RepecIndex(Part):
    """The `repec_files` and `repec_handles` tables."""

    def file(self, path: str) -> tuple[str | None, str | None]:
        """(version, content hash) of an archive file when last read, or (None, None)."""
        row = self.conn.execute(
            "SELECT version, content_hash FROM repec_files WHERE path = ?", (path,)
        ).fetchone()
        return (row[0], row[1]) if row else (None, None)

    def path(self, handle_key: str) -> str | None:
        """The archive file that holds a handle, as last indexed."""
        row = self.conn.execute(
            "SELECT path FROM repec_handles WHERE key = ?", (handle_key,)
        ).fetchone()
        return row[0] if row else None

    def index(
        self,
        path: str,
        *,
        version: str | None,
        content_hash: str | None,
        encoding: str | None = None,
        handles: Sequence[tuple[str, str, str, int]] | None = None,
        errors: int = 0,
    ) -> None:
        """Record what a file was when its works were last stored (`version` and `content_hash`;
        None: never, so a series harvest reads it); with `handles` ((key, handle, type, line) of
        each template), also which handles it holds, replacing what it held before."""
        with self.transaction() as conn:
            if handles is not None:
                conn.execute("DELETE FROM repec_handles WHERE path = ?", (path,))
                conn.executemany(
                    """INSERT INTO repec_handles (key, handle, path, type, line)
                       VALUES (?, ?, ?, ?, ?)
                       ON CONFLICT (key) DO UPDATE SET handle = excluded.handle,
                         path = excluded.path, type = excluded.type, line = excluded.line""",
                    [(key, handle, path, kind, line) for key, handle, kind, line in handles],
                )
            conn.execute(
                """INSERT INTO repec_files
                     (path, version, content_hash, encoding, templates, errors, checked_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (path) DO UPDATE SET version = excluded.version,
                     content_hash = excluded.content_hash,
                     encoding = coalesce(excluded.encoding, encoding),
                     templates = coalesce(excluded.templates, templates),
                     errors = excluded.errors, checked_at = excluded.checked_at""",
                (
                    path,
                    version,
                    content_hash,
                    encoding,
                    None if handles is None else len(handles),
                    errors,
                    self.now(),
                ),
            )
