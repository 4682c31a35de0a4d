"""Files every replica sees: import uploads, export files and attachments (records), tenant-deletion
exports (identity). Stored in PostgreSQL by default, so an upload stored through one pod is
processed by another and a file written by one worker is read through any pod (ARCHITECTURE.md,
"Files").

A file is a ``<schema>.files`` row and its bytes in ``<schema>.file_chunks`` of ``CHUNK_BYTES``, in
the schema of the service that owns it (each service's own tables: records 0013, identity 0005),
both under the tenant's forced row-level security. Files are written and read one chunk at a time,
each chunk in its own short transaction: a 100 MB file never sits whole in memory, and a slow
client never holds a pooled connection. Readers only see a file once its last chunk is committed
(``complete``), so a writer that dies midway publishes nothing; an hourly purge removes what it
left (``expire_incomplete``).

Everything else talks to the small ``FileStore`` protocol. ``HUIKE_FILE_STORE=s3`` puts the bytes
in an S3-compatible object store instead (``S3FileStore``: AWS S3, MinIO, Ceph, Aliyun OSS, Tencent
COS), for deployments whose files would crowd the database. There the object store's own rules
apply: an object appears only when its upload completes (a multipart upload that fails is
aborted), and no row-level security guards it, so every read goes through a row of the tenant
(under RLS) that names the key, and keys still start with the tenant. Services share the bucket:
records' objects are named by their keys, every other service's are under ``<service>/`` (so
records' deletion of a tenant's files never takes identity's deletion export with it).

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
from typing import TYPE_CHECKING, Any, Protocol

from shared.db import ServiceDatabase, Unit
from shared.settings import Settings
from shared.tenancy import scope_for_system

if TYPE_CHECKING:
    from shared.runtime import Runtime

log = logging.getLogger(__name__)

# One chunk a row: big enough that a 100 MB file is ~100 round trips, small enough to hold.
CHUNK_BYTES = 1_048_576
# One part of an S3 multipart upload (S3's smallest part is 5 MiB): what an upload holds in memory.
S3_PART_BYTES = 5 * 1_048_576



@asynccontextmanager
async def _local_copy(chunks: AsyncIterator[bytes], suffix: str) -> AsyncIterator[Path]:
    """A stored file copied to a private temporary file for a library that wants a path (openpyxl),
    removed afterwards."""
    fd, name = tempfile.mkstemp(prefix="huike-", suffix=suffix)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            async for chunk in chunks:
                await asyncio.to_thread(handle.write, chunk)
        yield path
    finally:
        path.unlink(missing_ok=True)

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

    async def expire_incomplete(self, tenant_id: uuid.UUID, *, older_than_hours: int = 24) -> int:
        """Remove what writers that died midway left of the tenant's files; answers how many."""
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
                f"INSERT INTO {self.store.chunks} (tenant_id, key, n, data) VALUES ($1, $2, $3, $4)",
                unit.tenant_id, self.key, self.chunks, chunk)
        self.chunks += 1

    async def finish(self) -> None:
        if self.buffer or self.chunks == 0:
            await self._put(bytes(self.buffer))
            self.buffer.clear()
        async with self.store._unit(self.key) as unit:
            await unit.execute(f"UPDATE {self.store.files} SET complete = true, size = $3 WHERE tenant_id = $1 AND key = $2",
                               unit.tenant_id, self.key, self.size)


class PostgresFileStore:
    """Files in the service's own tables (``<schema>.files``, ``<schema>.file_chunks``), chunked,
    under the tenant's row-level security."""

    def __init__(self, db: ServiceDatabase, *, chunk_bytes: int = CHUNK_BYTES, purging: bool = False) -> None:
        # ``purging``: the store of a tenant's purge, which reads and deletes the files of a tenant
        # every other unit of work already refuses (shared.tenant_purge).
        self.db, self.chunk_bytes, self.purging = db, chunk_bytes, purging
        self.files, self.chunks = f"{db.schema}.files", f"{db.schema}.file_chunks"

    def _unit(self, key: str) -> AbstractAsyncContextManager[Unit]:
        return self.db.tenant_unit(scope_for_system(tenant_of(key)), purging=self.purging)

    @asynccontextmanager
    async def create(self, key: str) -> AsyncIterator[FileSink]:
        async with self._unit(key) as unit:
            # A retried export writes its key again: the old attempt goes with its chunks.
            await unit.execute(f"DELETE FROM {self.files} WHERE tenant_id = $1 AND key = $2", unit.tenant_id, key)
            await unit.execute(f"INSERT INTO {self.files} (tenant_id, key) VALUES ($1, $2)", unit.tenant_id, key)
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
                f"SELECT complete FROM {self.files} WHERE tenant_id = $1 AND key = $2", unit.tenant_id, key)
            if not complete:
                raise FileNotFoundError(key)
            return await unit.fetchval(
                f"SELECT count(*) FROM {self.chunks} WHERE tenant_id = $1 AND key = $2", unit.tenant_id, key)

    async def read(self, key: str) -> AsyncIterator[bytes]:
        for n in range(await self._chunk_count(key)):
            async with self._unit(key) as unit:
                data = await unit.fetchval(
                    f"SELECT data FROM {self.chunks} WHERE tenant_id = $1 AND key = $2 AND n = $3",
                    unit.tenant_id, key, n)
            if data is None:  # deleted while being read (retention, tenant purge)
                raise FileNotFoundError(key)
            yield data

    def local_copy(self, key: str) -> AbstractAsyncContextManager[Path]:
        return _local_copy(self.read(key), Path(key).suffix)

    async def size(self, key: str) -> int:
        async with self._unit(key) as unit:
            size = await unit.fetchval(
                f"SELECT size FROM {self.files} WHERE tenant_id = $1 AND key = $2 AND complete",
                unit.tenant_id, key)
        if size is None:
            raise FileNotFoundError(key)
        return size

    async def delete(self, key: str) -> None:
        if not key:
            return
        async with self._unit(key) as unit:
            await unit.execute(f"DELETE FROM {self.files} WHERE tenant_id = $1 AND key = $2", unit.tenant_id, key)

    async def keys(self, prefix: str) -> list[str]:
        async with self._unit(prefix) as unit:
            rows = await unit.fetch(
                f"SELECT key FROM {self.files} WHERE tenant_id = $1 AND complete AND starts_with(key, $2) "
                "ORDER BY key", unit.tenant_id, prefix)
        return [r["key"] for r in rows]

    async def delete_all(self, prefix: str) -> int:
        if not prefix.strip("/"):
            raise ValueError("delete_all needs a prefix: it never empties the whole store")
        async with self._unit(prefix) as unit:
            status = await unit.execute(
                f"DELETE FROM {self.files} WHERE tenant_id = $1 AND starts_with(key, $2)", unit.tenant_id, prefix)
        return int(status.split()[-1])

    async def expire_incomplete(self, tenant_id: uuid.UUID, *, older_than_hours: int = 24) -> int:
        """Remove files whose writer died midway (never completed, older than a day)."""
        async with self.db.tenant_unit(scope_for_system(tenant_id)) as unit:
            status = await unit.execute(
                f"DELETE FROM {self.files} WHERE tenant_id = $1 AND NOT complete "
                "AND created_at < now() - make_interval(hours => $2)", unit.tenant_id, older_than_hours)
        return int(status.split()[-1])


class _S3Sink:
    def __init__(self, writer: Any) -> None:
        self.writer = writer

    async def write(self, data: bytes) -> None:
        await self.writer.write(data)


class S3FileStore:
    """Files as objects of one bucket of an S3-compatible store (``obstore``, streamed both ways:
    uploads in multipart parts of ``part_bytes``, downloads in chunks of about ``CHUNK_BYTES``)."""

    def __init__(self, *, bucket: str, endpoint: str = "", region: str = "us-east-1", access_key_id: str = "",
                 secret_access_key: str = "", part_bytes: int = S3_PART_BYTES, prefix: str = "") -> None:
        from obstore.store import S3Store  # only deployments that use S3 load it

        config: dict[str, Any] = {"region": region}
        if endpoint:
            # MinIO and most self-hosted stores answer path-style requests at their own URL.
            config |= {"endpoint": endpoint, "virtual_hosted_style_request": False}
        if access_key_id:
            config |= {"access_key_id": access_key_id, "secret_access_key": secret_access_key}
        self.store = S3Store(bucket, client_options={"allow_http": endpoint.startswith("http://")}, **config)
        self.part_bytes = part_bytes
        self.prefix = prefix  # the service's part of a shared bucket ("" for records, "identity/", ...)

    @asynccontextmanager
    async def create(self, key: str) -> AsyncIterator[FileSink]:
        import obstore

        # Leaving the block with an error aborts the upload: no reader ever sees a partial object.
        async with obstore.open_writer_async(self.store, self.prefix + key, buffer_size=self.part_bytes) as writer:
            yield _S3Sink(writer)

    async def read(self, key: str) -> AsyncIterator[bytes]:
        import obstore

        answer = await obstore.get_async(self.store, self.prefix + key)  # FileNotFoundError when there is none
        async for chunk in answer.stream(min_chunk_size=CHUNK_BYTES):
            yield bytes(chunk)

    def local_copy(self, key: str) -> AbstractAsyncContextManager[Path]:
        return _local_copy(self.read(key), Path(key).suffix)

    async def size(self, key: str) -> int:
        import obstore

        return int((await obstore.head_async(self.store, self.prefix + key))["size"])

    async def delete(self, key: str) -> None:
        import obstore

        if key:
            await obstore.delete_async(self.store, self.prefix + key)  # a missing object is no error

    async def keys(self, prefix: str) -> list[str]:
        import obstore

        found: list[str] = []
        async for batch in obstore.list(self.store, prefix=self.prefix + prefix):
            found += [meta["path"][len(self.prefix):] for meta in batch]
        return sorted(found)

    async def delete_all(self, prefix: str) -> int:
        import obstore

        if not prefix.strip("/"):
            raise ValueError("delete_all needs a prefix: it never empties the whole store")
        keys = await self.keys(prefix)
        for start in range(0, len(keys), 1000):  # S3's DeleteObjects takes 1,000 keys a request
            await obstore.delete_async(self.store, [self.prefix + k for k in keys[start:start + 1000]])
        return len(keys)

    async def expire_incomplete(self, tenant_id: uuid.UUID, *, older_than_hours: int = 24) -> int:
        """Nothing to do: S3 never shows an incomplete object (parts of an upload whose writer
        died are removed by the bucket's AbortIncompleteMultipartUpload lifecycle rule)."""
        return 0


def new_key(tenant_id: uuid.UUID, kind: str, job_id: uuid.UUID, suffix: str) -> str:
    """``<tenant>/<kind>/<job id>.<suffix>``: a tenant's files never share a name with another's."""
    return f"{tenant_id}/{kind}/{job_id}.{suffix}"


_S3_STORES: dict[tuple[str, ...], S3FileStore] = {}


def store_for(settings: Settings, db: ServiceDatabase, *, purging: bool = False) -> FileStore:
    """The store of the service ``db`` belongs to (``HUIKE_FILE_STORE``): its own tables in
    PostgreSQL, or its part of the S3 bucket (one client per process and configuration: it keeps
    its connections). ``purging``: the store of a deleted tenant's purge (PostgreSQL only needs to
    know)."""
    if settings.file_store != "s3":
        return PostgresFileStore(db, purging=purging)
    prefix = "" if db.service == "records" else f"{db.service}/"  # records' objects predate sharing
    config = (settings.s3_bucket, settings.s3_endpoint, settings.s3_region, settings.s3_access_key_id,
              settings.s3_secret_access_key, prefix)
    store = _S3_STORES.get(config)
    if store is None:
        store = _S3_STORES[config] = S3FileStore(
            bucket=settings.s3_bucket, endpoint=settings.s3_endpoint, region=settings.s3_region,
            access_key_id=settings.s3_access_key_id, secret_access_key=settings.s3_secret_access_key, prefix=prefix)
    return store


def file_store(runtime: Runtime, service: str, *, purging: bool = False) -> FileStore:
    """The process's store of ``service`` (``store_for``)."""
    return store_for(runtime.settings, runtime.db(service), purging=purging)
