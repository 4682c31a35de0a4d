"""Background work runs at a lower CPU priority than the work of a person's request.

An import validates its rows and the bulk lane builds its documents in worker processes, each
able to keep a core busy for minutes. At the same priority as the process that answers HTTP and
runs every service's event loop (one process in the embedded default), they take their share of
two cores from it, and every await of a person's request waits longer for the CPU: during a
100,000-row import the loop fell a few hundred ms behind and a record written meanwhile took up
to 3 s to become searchable. At a niceness of 10 the kernel still gives them every idle cycle,
but gives way to the service when it has work.

The same holds for the PostgreSQL backends that serve background work (an import's batches, the
bulk lane's documents): on a tenant of a million customers they took most of the two cores, and
the service process waited for the CPU half of the time. Where PostgreSQL runs on this machine
(the embedded default), the connections of the background pool (``shared.db``) lower their own
backend's priority.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import asyncpg

BACKGROUND_NICENESS = 10


def lower_priority(niceness: int = BACKGROUND_NICENESS) -> None:
    """In a worker process (a pool initializer): run at ``niceness`` above the parent's."""
    if hasattr(os, "nice"):  # POSIX; elsewhere the worker keeps its priority
        with contextlib.suppress(OSError):
            os.nice(niceness)


async def lower_backend_priority(conn: asyncpg.Connection, niceness: int = BACKGROUND_NICENESS) -> bool:
    """Run the PostgreSQL backend serving ``conn`` at ``niceness`` above its own (a new connection's
    backend has the server's) when it is a process of this machine that we may renice; True when
    it now does. A server elsewhere has its own process ids: the process with the backend's pid
    is only taken for it when its title (``postgres: <user> <database> <client address>(<client
    port>) ...``) names this very connection."""
    if not hasattr(os, "setpriority"):
        return False
    row = await conn.fetchrow("SELECT pg_backend_pid() AS pid, host(inet_client_addr()) AS addr,"
                              " inet_client_port() AS port")
    if row is None or row["addr"] is None:  # a Unix socket: no address to tell connections apart
        return False
    try:
        title = Path(f"/proc/{row['pid']}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        if not title.startswith("postgres: ") or f" {row['addr']}({row['port']})" not in title:
            return False
        lowered = min(19, os.getpriority(os.PRIO_PROCESS, row["pid"]) + niceness)
        os.setpriority(os.PRIO_PROCESS, row["pid"], lowered)
    except OSError:  # no /proc, another machine's pid, or not ours to renice
        return False
    return True
