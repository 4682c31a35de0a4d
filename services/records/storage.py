"""Where import uploads and export files live.

The embedded default keeps them in a directory under ``settings.data_dir`` (``records-files/``).
Everything else talks to the small ``FileStore`` protocol, so an object store (S3, MinIO, OSS)
can replace the directory: it would upload on ``finish``, and ``local_copy`` would download to a
temporary file (openpyxl needs a seekable file).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Protocol

from shared.runtime import Runtime


class FileStore(Protocol):
    @contextmanager
    def create(self, key: str) -> Iterator[BinaryIO]:
        """A file to write ``key`` into; it exists under ``key`` only if the block ends without error."""
        ...

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        """A local, seekable path holding the file's bytes for the length of the block."""
        ...

    def size(self, key: str) -> int: ...

    def delete(self, key: str) -> None: ...

    def keys(self, prefix: str) -> list[str]:
        """Every stored file whose key starts with ``prefix`` (e.g. ``<tenant>/``)."""
        ...

    def delete_all(self, prefix: str) -> int:
        """Delete every file under ``prefix`` (a deleted tenant's); answers how many."""
        ...


class LocalFileStore:
    """Files under one directory; keys are relative paths made by ``new_key``."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise ValueError(f"file key outside the store: {key}")
        return path

    @contextmanager
    def create(self, key: str) -> Iterator[BinaryIO]:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".part")
        try:
            with open(partial, "wb") as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            partial.replace(path)  # atomic: readers see the whole file or none
        finally:
            partial.unlink(missing_ok=True)

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        yield self._path(key)

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def keys(self, prefix: str) -> list[str]:
        top = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        if not top.is_dir():
            return []
        return sorted(str(path.relative_to(self.root)) for path in top.rglob("*")
                      if path.is_file() and not path.name.endswith(".part"))

    def delete_all(self, prefix: str) -> int:
        if not prefix.strip("/"):
            raise ValueError("delete_all needs a prefix: it never empties the whole store")
        top = self._path(prefix.rstrip("/"))
        if not top.exists():
            return 0
        count = sum(1 for path in top.rglob("*") if path.is_file() and not path.name.endswith(".part"))
        shutil.rmtree(top)
        return count


def new_key(tenant_id: uuid.UUID, kind: str, job_id: uuid.UUID, suffix: str) -> str:
    """``<tenant>/<kind>/<job id>.<suffix>``: a tenant's files never share a name with another's."""
    return f"{tenant_id}/{kind}/{job_id}.{suffix}"


_stores: dict[Path, LocalFileStore] = {}


def file_store(runtime: Runtime) -> FileStore:
    """The process's store (one per data directory)."""
    root = Path(runtime.settings.data_dir) / "records-files"
    store = _stores.get(root)
    if store is None:
        store = _stores[root] = LocalFileStore(root)
    return store
