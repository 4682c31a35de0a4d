"""Memory and speed of bulk files in PostgreSQL (services/records/storage.py).

Starts the embedded PostgreSQL and NATS in a temporary directory and the records service in this
process, then writes one file of ``--mb`` megabytes (default 100) through the store in 64 KiB
pieces (as an upload arrives), reads it back chunk by chunk (as a download is served) and makes a
local copy (as an import is read). Reports the seconds of each and the growth of this process's
resident memory over its value before the write (sampled after every piece): flat means the file
is never held whole.

    python -m bench.files_bench [--mb 100]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import tempfile
import time
import uuid
from pathlib import Path

import psutil


async def bench(megabytes: int) -> dict[str, float]:
    from services.records.storage import PostgresFileStore, new_key
    from services.registry import BY_NAME, migrate_all
    from shared.embedded import EmbeddedServers
    from shared.runtime import Runtime
    from shared.settings import load_settings

    process = psutil.Process()
    with tempfile.TemporaryDirectory(prefix="huike-files-bench-") as tmp:
        root = Path(tmp)
        servers = EmbeddedServers(root / "embedded")
        servers.start()
        try:
            settings = load_settings(
                data_dir=root / "data", database_url=servers.postgres.app_url,
                database_owner_url=servers.postgres.owner_url, nats_url=servers.nats.url,
                jwt_secret="bench-" + uuid.uuid4().hex, operator_token="operator-" + uuid.uuid4().hex,
                log_format="text", log_level="WARNING")
            # Records without its consumers and workers (they would wait for identity's stream).
            specs = (dataclasses.replace(BY_NAME["records"], starters=()),)
            await migrate_all(settings, specs)
            runtime = Runtime(settings, specs)
            await runtime.start()
            try:
                store = PostgresFileStore(runtime.db("records"))
                key = new_key(uuid.uuid4(), "imports", uuid.uuid4(), "upload")
                piece = os.urandom(65_536)  # random: PostgreSQL cannot compress it away
                base = process.memory_info().rss
                peak = base
                started = time.perf_counter()
                async with store.create(key) as sink:
                    for _ in range(megabytes * 16):
                        await sink.write(piece)
                        peak = max(peak, process.memory_info().rss)
                write_s, write_peak = time.perf_counter() - started, peak
                started, total = time.perf_counter(), 0
                async for chunk in store.read(key):
                    total += len(chunk)
                    peak = max(peak, process.memory_info().rss)
                read_s = time.perf_counter() - started
                assert total == megabytes * 1_048_576
                started = time.perf_counter()
                async with store.local_copy(key) as path:
                    assert path.stat().st_size == total
                    peak = max(peak, process.memory_info().rss)
                copy_s = time.perf_counter() - started
                return {"mb": megabytes, "write_s": round(write_s, 2), "read_s": round(read_s, 2),
                        "local_copy_s": round(copy_s, 2),
                        "rss_growth_write_mb": round((write_peak - base) / 1_048_576, 1),
                        "rss_growth_all_mb": round((peak - base) / 1_048_576, 1)}
            finally:
                await runtime.stop()
        finally:
            servers.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100)
    print(asyncio.run(bench(parser.parse_args().mb)))


if __name__ == "__main__":
    main()
