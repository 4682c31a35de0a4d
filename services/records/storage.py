"""Where records' import uploads, export files and attachments live: the shared file store
(``shared/files.py``) over records' own tables (``records.files``, ``records.file_chunks``,
migration 0013), or the S3 bucket when ``HUIKE_FILE_STORE=s3``. Every replica sees them."""

from __future__ import annotations

from shared.files import (
    CHUNK_BYTES,
    S3_PART_BYTES,
    FileSink,
    FileStore,
    PostgresFileStore,
    S3FileStore,
    new_key,
    store_for,
    tenant_of,
)
from shared.runtime import Runtime

__all__ = ["CHUNK_BYTES", "S3_PART_BYTES", "FileSink", "FileStore", "PostgresFileStore", "S3FileStore", "file_store",
           "new_key", "tenant_of"]


def file_store(runtime: Runtime, *, purging: bool = False) -> FileStore:
    """Records' store (``shared.files.store_for``)."""
    return store_for(runtime.settings, runtime.db("records"), purging=purging)
