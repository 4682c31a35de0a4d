"""A process that only runs an outbox relay (the tests kill it with SIGKILL mid-batch).

    python -m tests.shared.relay_process <database url> <nats url> <service> <schema>
"""

from __future__ import annotations

import asyncio
import sys

from shared.db import Database
from shared.events import Bus, OutboxRelay


async def main(database_url: str, nats_url: str, service: str, schema: str) -> None:
    db = await Database.connect(database_url, min_size=1, max_size=2)
    bus = await Bus.connect(nats_url, name="huike-test-relay-process")
    relay = OutboxRelay(db.for_service(service, schema=schema), bus, batch_size=100, standby_interval=0.1)
    await relay.start()
    print("started", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
