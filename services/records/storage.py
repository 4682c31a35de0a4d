"""Where import uploads and export files live: in PostgreSQL, so every replica sees them.

An upload stored through one pod is processed by another, and an export written by one worker is
downloaded through any pod (ARCHITECTURE.md, "Files"). A file is a ``records.files`` row and its
bytes in ``records.file_chunks`` of ``CHUNK_BYTES``, both under the tenant's forced row-level
security. Files are written and read one chunk at a time, each chunk in its own short transaction:
a 100 MB file never sits whole in memory, and a slow client never holds a pooled connection.
Readers only see a file once its last chunk is committed (``complete``), so a writer that dies
midway publishes nothing; the hourly purge removes what it left (``expire_incomplete``).

Everything else talks to the small ``FileStore`` protocol, so an object store (S3, MinIO, OSS)
could replace PostgreSQL for large deployments; none is implemented yet.

Keys are ``<tenant>/<kind>/<id>.<suffix>`` (``new_key``): the tenant of a file is the first part of
its key, and every query runs in that tenant's unit of work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Protocol

from shared.db import ServiceDatabase, Unit
from shared.runtime import Runtime
from shared.tenancy import scope_for_system

log = logging.getLogger(__name__)

# One chunk a row: big enough that a 100 MB file is ~100 round trips, small enough to hold.
CHUNK_BYTES = 1_048_576


class FileSink(Protocol):
    async def write(self, data: bytes) -> None: ...


class FileStore(Protocol):
    def create(self, key: str) -> AbstractAsyncContextManager[FileSink]:
        """A sink to write ``key`` into; readers see it only if the block ends without error."""
        ...

    def read(self, key: str) -> AsyncIterator[bytes]:
        """The file's bytes, chunk by chunk (``FileNotFoundError`` when there is none)."""
        ...

    def local_copy(self, key: str) -> AbstractAsyncContextManager[Path]:
        """A local, seekable temporary file holding the bytes for the length of the block (openpyxl
        and the CSV sniffer need one); it is removed when the block ends."""
        ...

    async def size(self, key: str) -> int: ...

    async def delete(self, key: str) -> None: ...

    async def keys(self, prefix: str) -> list[str]:
        """Every complete file whose key starts with ``prefix`` (``<tenant>/...``)."""
        ...

    async def delete_all(self, prefix: str) -> int:
        """Delete every file under ``prefix`` (a deleted tenant's); answers how many."""
        ...


def tenant_of(key: str) -> uuid.UUID:
    """The tenant a key belongs to (its first part); ``ValueError`` for anything else."""
    return uuid.UUID(key.split("/", 1)[0])


class _Sink:
    """Buffers at most one chunk; each full chunk is committed on its own."""

    def __init__(self, store: PostgresFileStore, key: str) -> None:
        self.store, self.key = store, key
        self.buffer = bytearray()
        self.chunks = 0
        self.size = 0

    async def write(self, data: bytes) -> None:
        self.buffer.extend(data)
        self.size += len(data)
        while len(self.buffer) >= self.store.chunk_bytes:
            await self._put(bytes(self.buffer[: self.store.chunk_bytes]))
            del self.buffer[: self.store.chunk_bytes]

    async def _put(self, chunk: bytes) -> None:
        async with self.store._unit(self.key) as unit:
            await unit.execute(
                "INSERT INTO records.file_chunks (tenant_id, key, n, data) VALUES ($1, $2, $3, $4)",
                unit.tenant_id, self.key, self.chunks, chunk)
        self.chunks += 1

    async def finish(self) -> None:
        if self.buffer or self.chunks == 0:
            await self._put(bytes(self.buffer))
            self.buffer.clear()
        async with self.store._unit(self.key) as unit:
            await unit.execute("UPDATE records.files SET complete = true, size = $3 WHERE tenant_id = $1 AND key = $2",
                               unit.tenant_id, self.key, self.size)


class PostgresFileStore:
    """Files in records' own tables, chunked, under the tenant's row-level security."""

    def __init__(self, db: ServiceDatabase, *, chunk_bytes: int = CHUNK_BYTES, purging: bool = False) -> None:
        # ``purging``: the store of a tenant's purge, which reads and deletes the files of a tenant
        # every other unit of work already refuses (shared.tenant_purge).
        self.db, self.chunk_bytes, self.purging = db, chunk_bytes, purging

    def _unit(self, key: str) -> AbstractAsyncContextManager[Unit]:
        return self.db.tenant_unit(scope_for_system(tenant_of(key)), purging=self.purging)

    @asynccontextmanager
    async def create(self, key: str) -> AsyncIterator[FileSink]:
        async with self._unit(key) as unit:
            # A retried export writes its key again: the old attempt goes with its chunks.
            await unit.execute("DELETE FROM records.files WHERE tenant_id = $1 AND key = $2", unit.tenant_id, key)
            await unit.execute("INSERT INTO records.files (tenant_id, key) VALUES ($1, $2)", unit.tenant_id, key)
        sink = _Sink(self, key)
        try:
            yield sink
            await sink.finish()
        except BaseException:
            # Best effort: if the database is down, the hourly purge removes the incomplete file.
            with contextlib.suppress(Exception):
                await asyncio.shield(self.delete(key))
            raise

    async def _chunk_count(self, key: str) -> int:
        async with self._unit(key) as unit:
            complete = await unit.fetchval(
                "SELECT complete FROM records.files WHERE tenant_id = $1 AND key = $2", unit.tenant_id, key)
            if not complete:
                raise FileNotFoundError(key)
            return await unit.fetchval(
                "SELECT count(*) FROM records.file_chunks WHERE tenant_id = $1 AND key = $2", unit.tenant_id, key)

    async def read(self, key: str) -> AsyncIterator[bytes]:
        for n in range(await self._chunk_count(key)):
            async with self._unit(key) as unit:
                data = await unit.fetchval(
                    "SELECT data FROM records.file_chunks WHERE tenant_id = $1 AND key = $2 AND n = $3",
                    unit.tenant_id, key, n)
            if data is None:  # deleted while being read (retention, tenant purge)
                raise FileNotFoundError(key)
            yield data

    @asynccontextmanager
    async def local_copy(self, key: str) -> AsyncIterator[Path]:
        fd, name = tempfile.mkstemp(prefix="huike-", suffix=Path(key).suffix)
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as handle:
                async for chunk in self.read(key):
                    await asyncio.to_thread(handle.write, chunk)
            yield path
        finally:
            path.unlink(missing_ok=True)

    async def size(self, key: str) -> int:
        async with self._unit(key) as unit:
            size = await unit.fetchval(
                "SELECT size FROM records.files WHERE tenant_id = $1 AND key = $2 AND complete",
                unit.tenant_id, key)
        if size is None:
            raise FileNotFoundError(key)
        return size

    async def delete(self, key: str) -> None:
        if not key:
            return
        async with self._unit(key) as unit:
            await unit.execute("DELETE FROM records.files WHERE tenant_id = $1 AND key = $2", unit.tenant_id, key)

    async def keys(self, prefix: str) -> list[str]:
        async with self._unit(prefix) as unit:
            rows = await unit.fetch(
                "SELECT key FROM records.files WHERE tenant_id = $1 AND complete AND starts_with(key, $2) "
                "ORDER BY key", unit.tenant_id, prefix)
        return [r["key"] for r in rows]

    async def delete_all(self, prefix: str) -> int:
        if not prefix.strip("/"):
            raise ValueError("delete_all needs a prefix: it never empties the whole store")
        async with self._unit(prefix) as unit:
            status = await unit.execute(
                "DELETE FROM records.files WHERE tenant_id = $1 AND starts_with(key, $2)", unit.tenant_id, prefix)
        return int(status.split()[-1])

    async def expire_incomplete(self, tenant_id: uuid.UUID, *, older_than_hours: int = 24) -> int:
        """Remove files whose writer died midway (never completed, older than a day)."""
        async with self.db.tenant_unit(scope_for_system(tenant_id)) as unit:
            status = await unit.execute(
                "DELETE FROM records.files WHERE tenant_id = $1 AND NOT complete "
                "AND created_at < now() - make_interval(hours => $2)", unit.tenant_id, older_than_hours)
        return int(status.split()[-1])


def new_key(tenant_id: uuid.UUID, kind: str, job_id: uuid.UUID, suffix: str) -> str:
    """``<tenant>/<kind>/<job id>.<suffix>``: a tenant's files never share a name with another's."""
    return f"{tenant_id}/{kind}/{job_id}.{suffix}"


def file_store(runtime: Runtime) -> PostgresFileStore:
    """The process's store: records' tables in PostgreSQL."""
    return PostgresFileStore(runtime.db("records"))
