"""Index on SQLite in WAL mode: one file, ``DATA/index.sqlite``.

Calls are synchronous.  Reads are point lookups the event loop makes
directly, on their own connection: in WAL mode they never wait for a writer.
Writes happen only when something was fetched from upstream, never on a
cache hit; they go through a second connection under a lock, so the engine
can hand a big one (a project page naming 15,000 files) to a worker thread
while the loop keeps reading.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import cast

import orjson

from pantry.errors import StorageError
from pantry.model import ArtifactKind, BlobId, CacheKey, Digest, Entry
from pantry.storage.index import Link, Usage

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    blob TEXT NOT NULL,
    size INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    fetched_at REAL NOT NULL,
    etag TEXT,
    last_modified TEXT,
    url TEXT NOT NULL,
    headers BLOB NOT NULL,
    last_access REAL
);
CREATE TABLE IF NOT EXISTS links (
    key TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    digest TEXT
);
"""

# Column types as SQLite returns them for the SELECTs below.
_EntryRow = tuple[str, str, int, str, float, str | None, str | None, str, bytes]
_LinkRow = tuple[str, str | None]


class SqliteIndex:
    """The index of one data directory."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()  # one write transaction at a time on self._db
        try:
            self._db = _connect(path)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
            self._read = _connect(path)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the index {path}: {exc}") from exc

    def entries(self) -> Iterator[Entry]:
        try:
            keys = [key for (key,) in self._read.execute("SELECT key FROM entries ORDER BY key")]
        except sqlite3.Error as exc:
            raise StorageError(f"cannot read the index: {exc}") from exc
        for key in keys:
            entry = self.get(CacheKey(key))
            if entry is not None:
                yield entry

    def get(self, key: CacheKey) -> Entry | None:
        row = cast(
            _EntryRow | None,
            self._query(
                "SELECT kind, blob, size, content_type, fetched_at, etag, last_modified, url, "
                "headers FROM entries WHERE key = ?",
                key,
            ),
        )
        if row is None:
            return None
        kind, blob, size, content_type, fetched_at, etag, last_modified, url, headers = row
        return Entry(
            key=key,
            kind=ArtifactKind(kind),
            blob=BlobId(blob),
            size=size,
            content_type=content_type,
            fetched_at=fetched_at,
            etag=etag,
            last_modified=last_modified,
            url=url,
            headers=orjson.loads(headers),
        )

    def put(self, entry: Entry, links: tuple[Link, ...] = ()) -> None:
        try:
            with self._lock, self._db:
                self._db.execute("BEGIN")
                self._db.execute(
                    "INSERT OR REPLACE INTO entries (key, kind, blob, size, content_type, "
                    "fetched_at, etag, last_modified, url, headers) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        entry.key,
                        entry.kind.value,
                        entry.blob,
                        entry.size,
                        entry.content_type,
                        entry.fetched_at,
                        entry.etag,
                        entry.last_modified,
                        entry.url,
                        orjson.dumps(entry.headers),
                    ),
                )
                self._insert_links(links)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot write the index: {exc}") from exc

    def put_links(self, links: tuple[Link, ...]) -> None:
        try:
            with self._lock, self._db:
                self._db.execute("BEGIN")
                self._insert_links(links)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot write the index: {exc}") from exc

    def _insert_links(self, links: tuple[Link, ...]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO links VALUES (?, ?, ?)",
            [(ln.key, ln.url, str(ln.digest) if ln.digest else None) for ln in links],
        )

    def touch(self, key: CacheKey, fetched_at: float) -> None:
        self._execute("UPDATE entries SET fetched_at = ? WHERE key = ?", fetched_at, key)

    def record_access(self, accessed: Mapping[CacheKey, float]) -> None:
        try:
            with self._lock, self._db:
                self._db.execute("BEGIN")
                self._db.executemany(
                    "UPDATE entries SET last_access = ? WHERE key = ?",
                    [(at, key) for key, at in accessed.items()],
                )
        except sqlite3.Error as exc:
            raise StorageError(f"cannot write the index: {exc}") from exc

    def usage(self) -> list[Usage]:
        try:
            rows = self._read.execute(
                "SELECT key, kind, blob, size, max(fetched_at, coalesce(last_access, 0)) "
                "FROM entries"
            ).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"cannot read the index: {exc}") from exc
        return [
            Usage(CacheKey(key), ArtifactKind(kind), BlobId(blob), size, used_at)
            for key, kind, blob, size, used_at in rows
        ]

    def delete(self, key: CacheKey) -> None:
        self._execute("DELETE FROM entries WHERE key = ?", key)

    def get_link(self, key: CacheKey) -> Link | None:
        row = cast(_LinkRow | None, self._query("SELECT url, digest FROM links WHERE key = ?", key))
        if row is None:
            return None
        url, digest = row
        if digest is None:
            return Link(key, url, None)
        algorithm, _, hexdigest = digest.partition("=")
        return Link(key, url, Digest(algorithm, hexdigest))

    def close(self) -> None:
        with self._lock:
            self._db.close()
        self._read.close()

    def _query(self, sql: str, *args: object) -> tuple[object, ...] | None:
        try:
            row: tuple[object, ...] | None = self._read.execute(sql, args).fetchone()
        except sqlite3.Error as exc:
            raise StorageError(f"cannot read the index: {exc}") from exc
        return row

    def _execute(self, sql: str, *args: object) -> None:
        try:
            with self._lock:
                self._db.execute(sql, args)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot write the index: {exc}") from exc


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA busy_timeout=5000")  # `pantry gc` beside a server
    return db
